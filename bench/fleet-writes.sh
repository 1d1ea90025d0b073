#!/usr/bin/env bash
# bench/fleet-writes.sh — what weft fleet's SQLite writer writes per fix:
# bytes and write calls a fix, by file (WAL, database, SQLite's temporary
# files, sockets), and the fsyncs, counted with strace over a window of an
# OsmAnd load (the bench's workload: OSM_VEHICLES devices, a fix every
# OSM_INTERVAL ms, CONNS keep-alive connections). Each binary named runs in
# turn, ROUNDS rounds alternating; the server has one worker on CPU 0, the
# simulator CPU 1, as in bench/run-fleet.sh.
#
#   bash bench/fleet-writes.sh build/apps/fleet /path/to/main/fleet
#
# A diagnostic (strace slows the server while it counts): read the bytes and
# calls a fix, not the rate. Prints a markdown table; PORT_BASE (28040) and
# the next two ports are used.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { echo "usage: $0 fleet-binary..." >&2; exit 2; }
ROUNDS=${ROUNDS:-2}
OSM_VEHICLES=${OSM_VEHICLES:-500}
OSM_INTERVAL=${OSM_INTERVAL:-120000}
CONNS=${CONNS:-256}
WARM_S=${WARM_S:-4}
WINDOW_S=${WINDOW_S:-4}
PORT_BASE=${PORT_BASE:-28040}
command -v strace >/dev/null || { echo "$0: strace is needed (apt-get install strace)" >&2; exit 2; }
make -s -j2 build/apps/fleet-sim
work=$(mktemp -d /tmp/weft-fleet-writes.XXXXXX)
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    [ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
printf '{"ingest": {"auto_register": true, "host": "127.0.0.1"}, "positions": {"retention_days": 0}, "events": {"retention_days": 0}}\n' >"$work/fleet.json"
fixes() { curl -s "http://127.0.0.1:$PORT_BASE/metrics" | awk -F' ' '/^fleet_fixes_total\{protocol="osmand"\}/ {print $2}'; }
echo "| binary | round | fixes in window | KB a fix: WAL | database | temp files | socket | write calls a fix | fsyncs a fix |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
for r in $(seq 1 "$ROUNDS"); do
    for bin in "$@"; do
        rm -rf "$work/data"
        WEFT_WORKERS=1 taskset -c 0 "$bin" --config "$work/fleet.json" --data-dir "$work/data" --port "$PORT_BASE" \
            --osmand-port $((PORT_BASE + 1)) --teltonika-port $((PORT_BASE + 2)) >"$work/srv.log" 2>&1 &
        pid=$!
        pids+=("$pid")
        for _ in $(seq 1 100); do grep -q '^listening on' "$work/srv.log" && break; sleep 0.1; done
        taskset -c 1 build/apps/fleet-sim --protocol osmand --vehicles "$OSM_VEHICLES" --backfill 1 \
            --interval-ms "$OSM_INTERVAL" --connections "$CONNS" --osmand-port $((PORT_BASE + 1)) \
            --duration $((WARM_S + WINDOW_S + 4)) --quiet >"$work/sim.log" 2>&1 &
        sim=$!
        sleep "$WARM_S"
        f0=$(fixes)
        for fd in /proc/"$pid"/fd/*; do echo "${fd##*/} $(readlink "$fd")"; done >"$work/fds.txt" 2>/dev/null || true
        timeout "$WINDOW_S" strace -f -e trace=pwrite64,write,writev,openat,fdatasync,fsync -p "$pid" \
            -o "$work/strace.txt" 2>/dev/null || true
        f1=$(fixes)
        wait "$sim" || true
        kill -TERM "$pid"; wait "$pid" || true
        python3 - "$work/strace.txt" "$bin" "$r" "$((f1 - f0))" "$work/fds.txt" <<'PY'
import collections, re, sys
path, binary, rnd, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
names, kb, calls, syncs = {}, collections.Counter(), 0, 0
for line in open(sys.argv[5]):
    fd, _, target = line.strip().partition(" ")
    names[fd] = target
for line in open(path):
    m = re.search(r'openat\(AT_FDCWD, "([^"]*)".*= (\d+)$', line)
    if m:
        names[m.group(2)] = m.group(1)
        continue
    m = re.search(r'\b(pwrite64|write|writev)\((\d+),.*= (\d+)$', line)
    if m:
        calls += 1
        name = names.get(m.group(2), "")
        kind = ("temp" if "etilqs_" in name else "wal" if name.endswith("-wal") else
                "db" if name.endswith(".sqlite") else "socket" if m.group(1) != "pwrite64" else "db")
        kb[kind] += int(m.group(3)) / 1024
        continue
    if re.search(r'\b(fdatasync|fsync)\(', line) and "resumed" not in line:
        syncs += 1
if n <= 0:
    print(f"| {binary} | {rnd} | 0 | | | | | | |")
else:
    print(f"| {binary} | {rnd} | {n} | {kb['wal']/n:.1f} | {kb['db']/n:.1f} | {kb['temp']/n:.1f} | "
          f"{kb['socket']/n:.2f} | {calls/n:.2f} | {syncs/n:.3f} |")
PY
    done
done
