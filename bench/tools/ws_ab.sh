#!/usr/bin/env bash
# A/B of two weft ws_server binaries, alternating rounds (A then B, B then A
# on odd rounds so neither always runs first), same load each time.
# usage: bench/tools/ws_ab.sh ROUNDS SECS OLD NEW
#   MODE=echo (default: 256 connections x 128 B) or MODE=fanout (SUBS
#   subscribers, RATE msg/s, FAN_SIZE B); PORT (default 18240), LOAD (the
#   ws_load binary). Prints one JSON row per run, with "variant" and "round".
R=$1 S=$2 A=$3 B=$4
LOAD=${LOAD:-$(dirname "$0")/../../build/bench/ws/ws_load}
MODE=${MODE:-echo} PORT=${PORT:-18240}
SUBS=${SUBS:-10000} RATE=${RATE:-5} FAN_SIZE=${FAN_SIZE:-64} WARMUP=${WARMUP:-2}
ulimit -n 20000
log=$(mktemp /tmp/bws-ab-srv.XXXXXX)
for r in $(seq 1 "$R"); do
  order="A B"; [ $((r % 2)) = 0 ] && order="B A"
  for v in $order; do
    bin=$A; [ "$v" = B ] && bin=$B
    : > "$log" # emptied before the start, so the wait below never sees the last run's line
    WEFT_WORKERS=1 taskset -c 0 "$bin" --port "$PORT" > "$log" 2>&1 &
    sp=$!
    for i in $(seq 50); do grep -q listening "$log" && break; sleep 0.1; done
    if [ "$MODE" = fanout ]; then
      args=(fanout "ws://127.0.0.1:$PORT" "$SUBS" "$RATE" "$S" "$WARMUP" "$sp" "$FAN_SIZE")
    else
      args=(echo "ws://127.0.0.1:$PORT/echo" 256 128 "$S" "$WARMUP" "$sp")
    fi
    out=$(WEFT_WORKERS=1 timeout $((S + 240)) taskset -c 1 "$LOAD" "${args[@]}" | tail -n 1)
    kill "$sp"; wait "$sp" 2>/dev/null
    echo "{\"variant\": \"$v\", \"round\": $r, ${out#\{}"
  done
done
rm -f "$log"
