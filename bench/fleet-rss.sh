#!/usr/bin/env bash
# bench/fleet-rss.sh — whose is the Teltonika ingest bench's peak RSS, and
# what is it? Runs bench-fleet's Teltonika workload (the same fleet-sim
# arguments as bench/run-fleet.sh) against build/apps/fleet with
# storage.sqlite_mmap_mb at each value of MMAPS (default "1024 0": the
# default, and mapping off), and samples every SAMPLE_S seconds:
#   - the server's /proc/PID/smaps_rollup (Rss, Anonymous, and the file and
#     shmem parts: Rss - Anonymous - shmem) and the Rss of its mapping of
#     fleet.sqlite (from /proc/PID/smaps);
#   - the load generator's (fleet-sim) VmRSS.
# At the end of each run: each one's VmHWM, the peak of the samples, the
# database and WAL file sizes. Ports from PORT_BASE (default 30000: +80 web,
# +55 OsmAnd, +27 Teltonika), 127.0.0.1 only.
#
#   bash bench/fleet-rss.sh            # writes $OUT.md (OUT below)
set -euo pipefail
cd "$(dirname "$0")/.."
VEHICLES=${VEHICLES:-100} DAYS=${DAYS:-1} TLT_INTERVAL=${TLT_INTERVAL:-2000} RECORDS=${RECORDS:-50}
MMAPS=${MMAPS:-"1024 0"} ROUNDS=${ROUNDS:-1} SAMPLE_S=${SAMPLE_S:-0.5} PORT_BASE=${PORT_BASE:-30000}
LABEL=${LABEL:-busy machine}
OUT=${OUT:-bench/results/fleet-ingest-rss-$(date +%F)}
make -s -j2 build/apps/fleet build/apps/fleet-sim
work=$(mktemp -d /tmp/weft-fleet-rss.XXXXXX)
pids=() # what this script started, stopped on the way out (by pid, never by name)
stop_all() {
    local p
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap stop_all EXIT
rows=()
run() { # mmap_mb round
    local mb=$1 r=$2 data="$work/data-$1-$2"
    printf '{"ingest": {"auto_register": true, "host": "127.0.0.1"}, "positions": {"retention_days": 0}, "events": {"retention_days": 0}, "storage": {"sqlite_mmap_mb": %d}}\n' "$mb" >"$work/fleet.json"
    WEFT_WORKERS=1 taskset -c 0 build/apps/fleet --config "$work/fleet.json" --data-dir "$data" --host 127.0.0.1 \
        --port $((PORT_BASE + 80)) --osmand-port $((PORT_BASE + 55)) --teltonika-port $((PORT_BASE + 27)) \
        >"$work/srv.log" 2>&1 &
    local pid=$!
    pids+=("$pid")
    for _ in $(seq 1 100); do grep -q '^listening on' "$work/srv.log" && break; sleep 0.1; done
    taskset -c 1 build/apps/fleet-sim --protocol teltonika --vehicles "$VEHICLES" --backfill "$DAYS" \
        --interval-ms "$TLT_INTERVAL" --records-per-packet "$RECORDS" --teltonika-port $((PORT_BASE + 27)) \
        --quiet >"$work/sim.log" 2>&1 &
    local sim=$!
    pids+=("$sim")
    python3 - "$pid" "$sim" "$SAMPLE_S" >"$work/samples.json" <<'PY'
import json, os, sys, time
srv, sim, every = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
def kv(path):
    out = {}
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2 and parts[0].endswith(":") and parts[1].isdigit():
                out[parts[0][:-1]] = int(parts[1])
    return out
def db_map_rss(pid):
    rss, cur = 0, None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            first = line.split()[0]
            if "-" in first and not first.endswith(":"):
                cur = line.split()[-1] if len(line.split()) >= 6 else ""
            elif first == "Rss:" and cur and cur.endswith("/fleet.sqlite"):
                rss += int(line.split()[1])
    return rss
peak = {"rss": 0}
sim_peak = 0
samples = 0
while True:
    try:
        roll = kv(f"/proc/{srv}/smaps_rollup")
        db = db_map_rss(srv)
    except (FileNotFoundError, ProcessLookupError):
        break
    try:
        sim_rss = kv(f"/proc/{sim}/status").get("VmRSS", 0)
        sim_peak = max(sim_peak, sim_rss)
        sim_alive = True
    except (FileNotFoundError, ProcessLookupError):
        sim_alive = False
    samples += 1
    rss, anon = roll.get("Rss", 0), roll.get("Anonymous", 0)
    shmem = roll.get("Pss_Shmem", 0)
    if rss > peak["rss"]:
        peak = {"rss": rss, "anon": anon, "file": rss - anon - shmem, "shmem": shmem, "db_map": db}
    if not sim_alive:
        break
    time.sleep(every)
print(json.dumps({"peak": peak, "sim_peak_rss_kb": sim_peak, "samples": samples}))
PY
    wait "$sim" || true
    local hwm sim_hwm dbkb walkb acked
    hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
    dbkb=$(( $(stat -c %s "$data/fleet.sqlite") / 1024 ))
    walkb=$(( $(stat -c %s "$data/fleet.sqlite-wal" 2>/dev/null || echo 0) / 1024 ))
    acked=$(grep -o 'acknowledged [0-9]*' "$work/sim.log" | tail -1 | awk '{print $2}')
    kill -TERM "$pid"; wait "$pid" || true
    local line
    line=$(python3 - "$mb" "$r" "$hwm" "$dbkb" "$walkb" "${acked:-0}" "$work/samples.json" <<'PY'
import json, sys
mb, r, hwm, dbkb, walkb, acked, path = sys.argv[1:]
s = json.load(open(path))
p = s["peak"]
print(json.dumps({"sqlite_mmap_mb": int(mb), "round": int(r), "fixes": int(acked),
                  "server_vmhwm_kb": int(hwm), "server_peak_rss_kb": p.get("rss"),
                  "at_peak_anon_kb": p.get("anon"), "at_peak_file_kb": p.get("file"),
                  "at_peak_shmem_kb": p.get("shmem"), "at_peak_db_mapping_rss_kb": p.get("db_map"),
                  "sim_peak_rss_kb": s["sim_peak_rss_kb"], "db_file_kb": int(dbkb), "wal_file_kb": int(walkb),
                  "samples": s["samples"]}))
PY
)
    echo "  $line"
    rows+=("$line")
}
for r in $(seq 1 "$ROUNDS"); do
    for mb in $MMAPS; do run "$mb" "$r"; done
done
{
    echo "# weft fleet: the Teltonika ingest bench's peak RSS, whose and what"
    echo
    echo "- label: $LABEL"
    echo "- command: \`VEHICLES=$VEHICLES DAYS=$DAYS TLT_INTERVAL=$TLT_INTERVAL RECORDS=$RECORDS MMAPS=\"$MMAPS\" ROUNDS=$ROUNDS bash bench/fleet-rss.sh\`"
    echo "- commit: $(git rev-parse --short HEAD)"
    echo "- machine: $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(nproc) cores, $(uname -r)"
    echo "- loadavg_at_end: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo
    echo "Server (one worker, CPU 0) and fleet-sim (CPU 1) as in bench/run-fleet.sh's Teltonika workload."
    echo "At peak: the server's smaps_rollup sample with the largest Rss; file = Rss - Anonymous - shmem;"
    echo "db mapping = the Rss of its mapping of fleet.sqlite (SQLite's mmap, storage.sqlite_mmap_mb)."
    echo
    echo "| sqlite_mmap_mb | round | fixes | server VmHWM MB | peak Rss MB | anon MB | file MB | shmem MB | fleet.sqlite mapping MB | fleet-sim peak MB | db file MB |"
    echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    printf '%s\n' "${rows[@]}" | python3 -c '
import json, sys
mb = lambda k: "%.0f" % (k / 1024) if k is not None else "-"
for line in sys.stdin:
    r = json.loads(line)
    print("| %d | %d | %d | %s | %s | %s | %s | %s | %s | %s | %s |" % (r["sqlite_mmap_mb"], r["round"], r["fixes"],
          mb(r["server_vmhwm_kb"]), mb(r["server_peak_rss_kb"]), mb(r["at_peak_anon_kb"]), mb(r["at_peak_file_kb"]),
          mb(r["at_peak_shmem_kb"]), mb(r["at_peak_db_mapping_rss_kb"]), mb(r["sim_peak_rss_kb"]), mb(r["db_file_kb"])))
'
    echo
    echo "Every run:"
    echo
    printf -- '- %s\n' "${rows[@]}"
} >"$OUT.md"
echo "wrote $OUT.md"
