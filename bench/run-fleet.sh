#!/usr/bin/env bash
# make bench-fleet: weft fleet's ingest, measured end to end on this machine.
#
# The server (build/apps/fleet, one worker, pinned to CPU 0, SQLite in a temp
# dir, auto-registration on, retention off) takes fixes from the simulator
# (build/apps/fleet-sim, pinned to CPU 1) as fast as it acknowledges them:
#   teltonika  VEHICLES Teltonika devices, each sending DAYS of history (a
#              fix every TLT_INTERVAL ms) in packets of RECORDS records (--backfill), one TCP
#              connection each, every packet acknowledged after its commit;
#   osmand     OSM_VEHICLES OsmAnd devices (OSM_DAYS of history, a fix every
#              OSM_INTERVAL ms) over CONNS keep-alive HTTP connections, one fix per request, each answered after its commit.
# Reported per run: fixes acknowledged, wall time, fixes/s, the server's CPU
# (utime + stime from /proc, all its threads: workers and SQLite's), CPU
# microseconds per fix, and the server's peak RSS. ROUNDS rounds alternate
# the two workloads. Results: bench/results/fleet-<date>.md and .json.
#
#   VEHICLES=100 DAYS=1 RECORDS=50 CONNS=256 ROUNDS=3 bash bench/run-fleet.sh
set -euo pipefail
cd "$(dirname "$0")/.."
VEHICLES=${VEHICLES:-100}
DAYS=${DAYS:-1}
RECORDS=${RECORDS:-50}
CONNS=${CONNS:-256}
TLT_INTERVAL=${TLT_INTERVAL:-2000}
OSM_VEHICLES=${OSM_VEHICLES:-500}
OSM_DAYS=${OSM_DAYS:-1}
OSM_INTERVAL=${OSM_INTERVAL:-120000}
ROUNDS=${ROUNDS:-3}
OUT=${OUT:-bench/results/fleet-$(date +%F)}
make -s -j"$(nproc)" build/apps/fleet build/apps/fleet-sim
tick=$(getconf CLK_TCK)
work=$(mktemp -d /tmp/weft-bench-fleet.XXXXXX)
trap 'pkill -TERM -f "apps/fleet --config $work" 2>/dev/null; rm -rf "$work"' EXIT
printf '{"ingest": {"auto_register": true, "host": "127.0.0.1"}, "positions": {"retention_days": 0}, "events": {"retention_days": 0}}\n' >"$work/fleet.json"
rows=()
run() { # workload round
    local w=$1 r=$2 data="$work/data-$1-$2"
    WEFT_WORKERS=1 taskset -c 0 build/apps/fleet --config "$work/fleet.json" --data-dir "$data" --port 0 \
        --osmand-port 0 --teltonika-port 0 >"$work/srv.log" 2>&1 &
    local pid=$!
    for _ in $(seq 1 100); do grep -q '^listening on' "$work/srv.log" && break; sleep 0.1; done
    local tp op
    tp=$(grep -o 'teltonika on tcp://[^ ]*' "$work/srv.log" | sed 's/.*://')
    op=$(grep -o 'osmand on http://[^ ]*' "$work/srv.log" | sed 's/.*://')
    local s0 s1 t0 t1 args
    if [ "$w" = teltonika ]; then
        args=(--protocol teltonika --vehicles "$VEHICLES" --backfill "$DAYS" --interval-ms "$TLT_INTERVAL"
              --records-per-packet "$RECORDS" --teltonika-port "$tp")
    else
        args=(--protocol osmand --vehicles "$OSM_VEHICLES" --backfill "$OSM_DAYS" --interval-ms "$OSM_INTERVAL"
              --connections "$CONNS" --osmand-port "$op")
    fi
    s0=$(awk '{print $14 + $15}' "/proc/$pid/stat"); t0=$(date +%s.%N)
    taskset -c 1 build/apps/fleet-sim "${args[@]}" --quiet >"$work/sim.log" 2>&1 || true
    t1=$(date +%s.%N); s1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    local rss; rss=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
    kill -TERM "$pid"; wait "$pid" || true
    local acked; acked=$(grep -o 'acknowledged [0-9]*' "$work/sim.log" | tail -1 | awk '{print $2}')
    local line
    line=$(python3 - "$w" "$r" "$acked" "$t0" "$t1" "$s0" "$s1" "$tick" "$rss" <<'PY'
import sys, json
w, r, acked, t0, t1, s0, s1, tick, rss = sys.argv[1:]
acked = int(acked or 0); wall = float(t1) - float(t0); cpu = (float(s1) - float(s0)) / int(tick)
print(json.dumps({"workload": w, "round": int(r), "fixes": acked, "wall_s": round(wall, 2),
                  "fixes_per_s": round(acked / wall), "server_cpu_s": round(cpu, 2),
                  "server_cpu_share": round(cpu / wall, 3),
                  "cpu_us_per_fix": round(cpu * 1e6 / acked, 2) if acked else None,
                  "server_peak_rss_kb": int(rss)}))
PY
)
    echo "  $line"
    rows+=("$line")
}
echo "== bench-fleet: $ROUNDS rounds, Teltonika $VEHICLES devices x $DAYS day(s), a fix every $TLT_INTERVAL ms, $RECORDS-record packets; OsmAnd $OSM_VEHICLES devices x $OSM_DAYS day(s), a fix every $OSM_INTERVAL ms, $CONNS connections"
for r in $(seq 1 "$ROUNDS"); do
    if [ $((r % 2)) -eq 1 ]; then run teltonika "$r"; run osmand "$r"; else run osmand "$r"; run teltonika "$r"; fi
done
printf '%s\n' "${rows[@]}" | python3 bench/tools/fleet_report.py "$OUT" \
    "VEHICLES=$VEHICLES DAYS=$DAYS TLT_INTERVAL=$TLT_INTERVAL RECORDS=$RECORDS CONNS=$CONNS OSM_VEHICLES=$OSM_VEHICLES OSM_DAYS=$OSM_DAYS OSM_INTERVAL=$OSM_INTERVAL ROUNDS=$ROUNDS bash bench/run-fleet.sh"
echo "== wrote $OUT.md and $OUT.json"
