#!/usr/bin/env bash
# Instructions per message of a weft ws_server under callgrind (WEFT_IO=epoll):
# runs the load twice (SHORT and LONG seconds) and prints the marginal
# instructions per server-side send, (Ir_long - Ir_short) / (calls_long -
# calls_short), the calls counted from callgrind's call graph, so start-up and
# handshakes cancel out. System-call time is not in the counts.
# usage: bench/tools/ws_cg.sh SERVER [echo|fanout]   (PORT, SHORT=3, LONG=10,
#        CONNS=64 for echo, SUBS=1000 RATE=20 FAN_SIZE=64 for fanout, LOAD=ws_load binary,
#        KEEP=PREFIX keeps the long run's profile as PREFIX.callgrind for callgrind_annotate)
BIN=$1 MODE=${2:-echo}
LOAD=${LOAD:-$(dirname "$0")/../../build/bench/ws/ws_load}
PORT=${PORT:-18241} SHORT=${SHORT:-3} LONG=${LONG:-10}
FN=weft_ws_send_keyed; [ "$MODE" = fanout ] && FN=weft__ws_send_shared
ulimit -n 20000
tmp=$(mktemp -d /tmp/ws_cg.XXXXXX)
run() { # secs -> "Ir calls"
    WEFT_IO=epoll WEFT_WORKERS=1 valgrind --tool=callgrind --callgrind-out-file="$tmp/out" \
        "$BIN" --port "$PORT" >"$tmp/log" 2>&1 &
    local sp=$! i
    for i in $(seq 300); do grep -q listening "$tmp/log" && break; sleep 0.1; done
    if [ "$MODE" = fanout ]; then
        WEFT_WORKERS=1 timeout 300 "$LOAD" fanout "ws://127.0.0.1:$PORT" "${SUBS:-1000}" "${RATE:-20}" "$1" 1 $sp "${FAN_SIZE:-64}" >/dev/null
    else
        WEFT_WORKERS=1 timeout 300 "$LOAD" echo "ws://127.0.0.1:$PORT/echo" "${CONNS:-64}" 128 "$1" 1 $sp >/dev/null
    fi
    kill $sp; wait $sp
    [ -n "${KEEP:-}" ] && [ "$1" = "$LONG" ] && cp "$tmp/out" "$KEEP.callgrind"
    python3 - "$tmp/out" "$FN" <<'PY'
import re, sys
lines = open(sys.argv[1]).read().split('\n')
ids = {m.group(1) for m in (re.match(r'c?fn=\((\d+)\) (\S+)', l) for l in lines) if m and m.group(2) == sys.argv[2]}
total = calls = 0
pend = False
for l in lines:
    if l.startswith('cfn='):
        pend = re.match(r'cfn=\((\d+)\)', l).group(1) in ids
    elif l.startswith('calls=') and pend:
        calls += int(l.split()[0][6:])
        pend = False
    elif l.startswith(('summary:', 'totals:')):
        total = int(l.split()[1])
print(total, calls)
PY
}
read -r ia ca < <(run "$SHORT")
read -r ib cb < <(run "$LONG")
rm -rf "$tmp"
echo "$(basename "$BIN") $MODE: short Ir=$ia calls=$ca, long Ir=$ib calls=$cb, marginal Ir per $FN=$(((ib - ia) / (cb - ca)))"
