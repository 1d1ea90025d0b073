#!/usr/bin/env bash
# A/B: echo on two weft ws_server binaries, alternating rounds, same load
# usage: bench/tools/ws_ab.sh ROUNDS SECS OLD NEW
R=$1 S=$2 A=$3 B=$4
LOAD=${LOAD:-$(dirname "$0")/../../build/bench/ws/ws_load}
ulimit -n 20000
for r in $(seq 1 $R); do
  for v in A B; do
    bin=$A; [ $v = B ] && bin=$B
    WEFT_WORKERS=1 taskset -c 0 $bin --port 18240 > /tmp/bws-ab-srv.log 2>&1 &
    sp=$!
    for i in $(seq 50); do grep -q listening /tmp/bws-ab-srv.log && break; sleep 0.1; done
    out=$(WEFT_WORKERS=1 timeout 120 taskset -c 1 $LOAD echo ws://127.0.0.1:18240/echo 256 128 $S 2 $sp)
    kill $sp; wait $sp 2>/dev/null
    echo "{\"variant\": \"$v\", \"round\": $r, ${out#\{}"
  done
done
