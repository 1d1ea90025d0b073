#!/usr/bin/env bash
# bench/run-ws.sh — `make bench-ws`: weft's WebSocket server against Go
# (gorilla/websocket on net/http, GOMAXPROCS=1) and Rust (tokio-tungstenite on
# a tokio current_thread runtime), issue 10 part F. Every server serves the
# same routes (bench/ws/ws_server.c, bench/peers/ws-go, bench/peers/ws-rust),
# compression off on all three, one core each (taskset -c SERVER_CPU; weft
# with WEFT_WORKERS=1); the load generator (build/bench/ws/ws_load, C on
# weft's WebSocket client, one worker) runs on the other core and reads the
# server's CPU time and RSS from /proc itself, at the edges of its window.
#
#   echo    ECHO_CONNS connections, ECHO_SIZE-byte binary messages, one in
#           flight per connection: messages/s, server CPU us per message
#   fanout  SUBS subscribers, one publisher at RATE messages/s (FAN_SIZE
#           bytes, send time inside): delivered messages per server
#           CPU-second, publish-to-receive latency p50/p99 (one machine's
#           CLOCK_MONOTONIC), deliveries missing
#   idle    IDLE_CONNS silent connections after 100 warm ones: server RSS
#           delta / IDLE_CONNS
#
# Each measurement runs on a fresh server process. ROUNDS rounds; in each
# round every program takes its turn, and the order rotates from round to
# round (weft go rust, go rust weft, rust weft go) so no program always runs
# first or last on a busy machine. The report (bench/tools/ws_report.py) gives
# per program the median and min-max, weft's ratio against the best peer and
# the issue's goals. Results: bench/results/ws-<date>[-SLUG].{md,json}.
#
# Knobs (environment): ROUNDS=3 QUICK=1 (short windows, 2 rounds: a smoke
# run) ECHO_CONNS=256 ECHO_SIZE=128 ECHO_SECS=10 SUBS=10000 RATE=5
# FAN_SECS=10 FAN_SIZE=64 IDLE_CONNS=10000 WARMUP=2 PROGS="weft go rust"
# PORT=18200 (weft PORT, Go PORT+1, Rust PORT+2) SERVER_CPU=0 CLIENT_CPU=1
# LABEL="busy machine" (free text, into the report's heading and command line
# only) SLUG=short-name (the file name's tail: [a-z0-9-], default none).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
. bench/lib.sh
bench_init run-ws

QUICK=${QUICK:-0}
if [ "$QUICK" = 1 ]; then
    ROUNDS=${ROUNDS:-2} ECHO_SECS=${ECHO_SECS:-3} FAN_SECS=${FAN_SECS:-4} WARMUP=${WARMUP:-1}
fi
ROUNDS=${ROUNDS:-3}
ECHO_CONNS=${ECHO_CONNS:-256}
ECHO_SIZE=${ECHO_SIZE:-128}
ECHO_SECS=${ECHO_SECS:-10}
SUBS=${SUBS:-10000}
RATE=${RATE:-5}
FAN_SECS=${FAN_SECS:-10}
FAN_SIZE=${FAN_SIZE:-64}
IDLE_CONNS=${IDLE_CONNS:-10000}
SETTLE=${SETTLE:-3}
WARMUP=${WARMUP:-2}
PORT=${PORT:-18200}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
LABEL=${LABEL:-}
SLUG=${SLUG:-}
if [[ ! "$SLUG" =~ ^[a-z0-9-]*$ ]]; then
    log "SLUG='$SLUG': only a-z, 0-9 and '-' (it goes into the file name; LABEL is the free text)"
    exit 1
fi
read -r -a PROGS <<<"${PROGS:-weft go rust}"
OUT=${OUT:-bench/results/ws-$(date +%F)${SLUG:+-$SLUG}}
COMMAND="ROUNDS=$ROUNDS QUICK=$QUICK ECHO_CONNS=$ECHO_CONNS ECHO_SIZE=$ECHO_SIZE ECHO_SECS=$ECHO_SECS SUBS=$SUBS RATE=$RATE FAN_SECS=$FAN_SECS FAN_SIZE=$FAN_SIZE IDLE_CONNS=$IDLE_CONNS SETTLE=$SETTLE WARMUP=$WARMUP${LABEL:+ LABEL=\"$LABEL\"}${SLUG:+ SLUG=$SLUG} make bench-ws"

raise_nofile
need=$((SUBS > IDLE_CONNS ? SUBS : IDLE_CONNS))
if [ "$NOFILE" -lt $((need + 200)) ]; then
    log "ulimit -n is $NOFILE (hard $(ulimit -Hn)); $need connections need $((need + 200)): raise the hard limit"
    exit 1
fi
read -r lo hi </proc/sys/net/ipv4/ip_local_port_range
if [ $((hi - lo + 1)) -lt $((need + 200)) ]; then
    log "the ephemeral port range $lo-$hi has fewer than $((need + 200)) ports (net.ipv4.ip_local_port_range)"
    exit 1
fi
if [ $((PORT + 2)) -ge "$lo" ] && [ "$PORT" -le "$hi" ]; then
    log "ports $PORT-$((PORT + 2)) are inside the ephemeral range $lo-$hi: choose PORT below $lo"
    exit 1
fi

# ---- builds: weft's server and load generator (make), the peers
make -s -j2 build/bench/ws/ws_server build/bench/ws/ws_load
mkdir -p "$WORK/bin"
cp build/bench/ws/ws_server build/bench/ws/ws_load "$WORK/bin/"
BIN[weft]=$WORK/bin/ws_server
LOAD=$WORK/bin/ws_load
build_go_peer go bench/peers/ws-go ws-go
build_rust_peer rust bench/peers/ws-rust ws-rust

declare -A PPORT=([weft]=$PORT [go]=$((PORT + 1)) [rust]=$((PORT + 2)))
server_start() { # prog -> SPID, or fails
    local p=$1 i
    # emptied here, not by the child's redirection: a child that had not
    # opened it yet left the previous round's "listening on" for the loop
    # below to find, and the load dialled a server not yet listening
    : >"$WORK/server-$p.log"
    case $p in
    weft) WEFT_WORKERS=1 taskset -c "$SERVER_CPU" "${BIN[weft]}" --port "${PPORT[weft]}" >"$WORK/server-$p.log" 2>&1 & ;;
    go) GOMAXPROCS=1 taskset -c "$SERVER_CPU" "${BIN[go]}" --port "${PPORT[go]}" >"$WORK/server-$p.log" 2>&1 & ;;
    rust) taskset -c "$SERVER_CPU" "${BIN[rust]}" --port "${PPORT[rust]}" >"$WORK/server-$p.log" 2>&1 & ;;
    esac
    SPID=$!
    for ((i = 0; i < 100; i++)); do
        grep -q 'listening on' "$WORK/server-$p.log" 2>/dev/null && return 0
        kill -0 "$SPID" 2>/dev/null || break
        sleep 0.1
    done
    log "$p: server did not start: $(tail -n 2 "$WORK/server-$p.log" | tr '\n' ' ')"
    stop_pid "$SPID"
    return 1
}

ROWS=$WORK/rows.jsonl
: >"$ROWS"
measure() { # prog round mode
    local p=$1 r=$2 m=$3 url="ws://127.0.0.1:${PPORT[$1]}" args line limit
    case $m in
    echo) args=(echo "$url/echo" "$ECHO_CONNS" "$ECHO_SIZE" "$ECHO_SECS" "$WARMUP") limit=$((ECHO_SECS + WARMUP + 150)) ;;
    fanout) args=(fanout "$url" "$SUBS" "$RATE" "$FAN_SECS" "$WARMUP") limit=$((FAN_SECS + WARMUP + 200)) ;;
    idle) args=(idle "$url/idle" "$IDLE_CONNS" "$SETTLE") limit=$((SETTLE + 200)) ;;
    esac
    server_start "$p" || { echo "{\"prog\": \"$p\", \"round\": $r, \"mode\": \"$m\", \"failed\": \"server did not start\"}" >>"$ROWS"; return 0; }
    local a=("${args[@]}" "$SPID")
    [ "$m" = fanout ] && a+=("$FAN_SIZE")
    line=$(WEFT_WORKERS=1 timeout "$limit" taskset -c "$CLIENT_CPU" "$LOAD" "${a[@]}" 2>"$WORK/load.err" | tail -n 1) || true
    if ! kill -0 "$SPID" 2>/dev/null; then
        line="{\"mode\": \"$m\", \"failed\": \"server died: $(tail -n 1 "$WORK/server-$p.log" | tr -d '"\\' | cut -c1-160)\"}"
    elif [ "${line:0:1}" != "{" ]; then
        line="{\"mode\": \"$m\", \"failed\": \"load generator: $(tail -n 1 "$WORK/load.err" | tr -d '"\\' | cut -c1-160)\"}"
    fi
    stop_pid "$SPID"
    line="{\"prog\": \"$p\", \"round\": $r, ${line#\{}"
    echo "$line" >>"$ROWS"
    log "round $r $p: $line"
}

log "$ROUNDS rounds of ${PROGS[*]}: echo $ECHO_CONNS conns x ${ECHO_SIZE} B for ${ECHO_SECS}s; fan-out $SUBS subscribers at $RATE msg/s for ${FAN_SECS}s; $IDLE_CONNS idle"
n=${#PROGS[@]}
for ((r = 1; r <= ROUNDS; r++)); do
    for ((i = 0; i < n; i++)); do
        p=${PROGS[$(((i + r - 1) % n))]}
        if [ -z "${BIN[$p]:-}" ]; then
            echo "{\"prog\": \"$p\", \"round\": $r, \"mode\": \"all\", \"failed\": \"${WHY[$p]:-no binary}\"}" >>"$ROWS"
            continue
        fi
        for m in echo fanout idle; do measure "$p" "$r" "$m"; done
    done
done

GORILLA_V=$(awk '/gorilla\/websocket v/ { print $NF; exit }' bench/peers/ws-go/go.mod)
CRATES=$(awk '/^name = / { gsub(/"/, "", $3); n = $3 } /^version = / && (n == "tokio" || n == "tokio-tungstenite" || n == "tungstenite") { gsub(/"/, "", $3); printf "%s%s %s", s, n, $3; s = ", " }' bench/peers/ws-rust/Cargo.lock)
python3 bench/tools/ws_report.py "$OUT" "$ROWS" \
    --command "$COMMAND" --label "$LABEL" --pinning "server on CPU $SERVER_CPU, load generator on CPU $CLIENT_CPU (taskset -c)" \
    --version "gcc=$(first_line gcc --version)" --version "go=$(first_line go version)" \
    --version "gorilla/websocket=$GORILLA_V" --version "rustc=$(first_line rustc --version)" \
    --version "crates=$CRATES" --version "liburing=$(dpkg-query -W -f '${Version}' liburing-dev 2>/dev/null || echo '?')"
log "wrote $OUT.md and $OUT.json"
