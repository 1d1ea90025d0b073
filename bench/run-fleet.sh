#!/usr/bin/env bash
# make bench-fleet: weft fleet's figures of issue 11 part J, measured end to end on this
# machine, in one command. PHASES (default ingest,history,memory,live; about 10 minutes on
# this 2-core machine, estimated from the committed runs' wall times) picks some of them; at
# the end bench/tools/fleet_j.py prints every J figure this run measured in one table, with
# its target and verdict (`python3 bench/tools/fleet_j.py [--markdown]` does the same for the
# newest committed results).
#
# PHASES=ingest: the server (build/apps/fleet, one worker, pinned to CPU 0, SQLite in a temp
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
#
# BASELINE_BIN=/path/to/fleet adds runs of that binary to every round (an
# A/B of a change's ingest cost; e.g. main's build): BASELINE_WORKLOADS
# (teltonika; or osmand, or teltonika,osmand), first in odd rounds and last
# in even ones.
#
# FENCES=10000 adds runs with that many geofences loaded (see "geofences"
# below): an A/B of the geofence cost per fix, the same binary with 0 and
# with FENCES fences, in every round.
#
# PHASES=history: one Teltonika
# device sends HISTORY_DAYS (30; QUICK=1: 3) days at 1 Hz in 255-record
# packets (the backfill, timed: fixes/s), and two servers on copies of that
# database answer the history reports side by side: "chunks" as stored
# (motion chunks kept by the writer) and "raw" with the motion_chunks table
# emptied (trips/stops/summary then scan every fix, as before the chunks).
# bench/tools/fleet_history.py takes HISTORY_ROUNDS (5) alternating rounds
# of route (one day, full JSON and compact=true) and trips/stops/summary (31
# days), server CPU per request from /proc. Results:
# bench/results/fleet-history-<date>.md and .json.
# HISTORY_DB=path/fleet.sqlite skips the backfill and uses a copy of that
# database (HISTORY_KEEP=path keeps a copy of a backfilled one for that);
# HISTORY_REPORTS picks reports (fleet_history.py --reports); with
# BASELINE_BIN a third server, "baseline", runs that binary on a copy of the
# same database (an A/B of a change's report cost).
#
# LABEL="busy machine" puts that label in the result files (how to read them).
#
# PHASES=memory: bench/tools/fleet_memory.py, the
# memory per device at MEM_DEVICES (100,000; QUICK=1: 10,000) devices seeded
# with a position each, then after each has sent a fix (the writer's motion
# map); with BASELINE_BIN side by side, MEM_ROUNDS (1) alternating rounds.
# Results: bench/results/fleet-memory-<date>.md and .json.
#
# PHASES=live (also `make bench-fleet-live`): bench/run-tracking.sh with the fleet server alone,
# RATES (10000) devices a fix a second over CONNS keep-alive connections to VIEWERS (500)
# viewers, live.tick_ms = TICK_MS (50), ROUNDS rounds of DURATION (20) s, latency counted after
# WARMUP (8) s; PROGRAMS (fleet; with BASELINE_BIN "fleet-old fleet") and run-tracking.sh's other
# knobs pass through. Results: LIVE_OUT (bench/results/fleet-live-<date>).md and .json.
#
# PHASES=retention (not in the default): the ingest workloads with and
# without a retention pass pruning a pre-filled backlog (its block, at the
# end, says how). Results: bench/results/fleet-retention-<date>.md and .json.
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
PHASES=${PHASES:-ingest,history,memory,live}
if [ "${QUICK:-0}" = 1 ]; then HISTORY_DAYS=${HISTORY_DAYS:-3}; HISTORY_ROUNDS=${HISTORY_ROUNDS:-3}; fi
HISTORY_DAYS=${HISTORY_DAYS:-30}
HISTORY_ROUNDS=${HISTORY_ROUNDS:-5}
HISTORY_OUT=${HISTORY_OUT:-bench/results/fleet-history-$(date +%F)}
if [ "${QUICK:-0}" = 1 ]; then MEM_DEVICES=${MEM_DEVICES:-10000}; fi
MEM_DEVICES=${MEM_DEVICES:-100000}
MEM_ROUNDS=${MEM_ROUNDS:-1}
MEM_OUT=${MEM_OUT:-bench/results/fleet-memory-$(date +%F)}
LIVE_OUT=${LIVE_OUT:-bench/results/fleet-live-$(date +%F)}
make -s -j"$(nproc)" build/apps/fleet build/apps/fleet-sim
tick=$(getconf CLK_TCK)
work=$(mktemp -d /tmp/weft-bench-fleet.XXXXXX)
pids=() # the servers this script started, stopped on the way out (never by name)
stop_all() {
    local p
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap stop_all EXIT
printf '{"ingest": {"auto_register": true, "host": "127.0.0.1"}, "positions": {"retention_days": 0}, "events": {"retention_days": 0}}\n' >"$work/fleet.json"
rows=()
run() { # workload round [server binary]
    local w=$1 r=$2 data="$work/data-$1-$2-${3:+b}" bin=${3:-build/apps/fleet}
    if [ -n "${run_seed:-}" ]; then cp -r "$run_seed" "$data"; fi # run_seed=dir: start on a copy of that data dir
    rm -f "$work/srv.log" # not the last run's log (its dead ports): the shell below truncates it only when it runs
    WEFT_WORKERS=1 taskset -c 0 "$bin" --config "$work/fleet.json" --data-dir "$data" --port 0 \
        --osmand-port 0 --teltonika-port 0 >"$work/srv.log" 2>&1 &
    local pid=$!
    pids+=("$pid")
    for _ in $(seq 1 100); do grep -q '^listening on' "$work/srv.log" && break; sleep 0.1; done
    local tp op
    tp=$(grep -o 'teltonika on tcp://[^ ]*' "$work/srv.log" | sed 's/.*://')
    op=$(grep -o 'osmand on http://[^ ]*' "$work/srv.log" | sed 's/.*://')
    local s0 s1 t0 t1 args
    if [[ $w == teltonika* ]]; then # teltonika, teltonika-baseline, teltonika-fences10000
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
# ---- geofences (FENCES) ---------------------------------------------------------------------
# FENCES=N (0: off) runs every workload of FENCE_WORKLOADS (teltonika,osmand) once more in each
# round with N geofences loaded, as "<workload>-fencesN": the same binary, simulator and
# arguments as the plain run, so the difference is the geofences' cost per fix (the index
# query, containment tests, enter/exit events and storing them). FENCE_ARMS=global,othergroup
# adds "<workload>-fencesN-othergroup": the same fences in a group no device is in, looked up
# and tested for every fix but never applied (no events), the lookup's cost alone.
# Order: odd rounds run the plain workloads, then the fenced ones (T O Tf Of), even rounds
# the mirror image (Of Tf O T), so drift falls on both sides alike.
# The fences: bench/tools/fleet_fences.py (FENCE_SEED, 1): mostly circles of 50 m-2 km,
# 15 % polygons of 4-40 vertices, N/2000 large zones (two of 10,000 are 300-450 km across),
# centres spread over a FENCE_REGION_KM (40) square around fleet-sim's city (see the tool:
# at 40 km no sampled fix in the city is inside more than the 16 fences a device tracks;
# FENCE_REGION_KM=5 crowds them all into the city, the index's worst case).
# They are written into the database a server created (its migrations, then stopped),
# not posted to /api/geofences: each POST reloads every fence and rebuilds the index,
# so 10,000 of them would take minutes, and the server reads stored fences at start
# through the same fleet_reload_geofences. Each fenced run starts on a copy; its log
# must not say a stored area was unreadable (the server skips those), and its row
# gets "geofence_events" (enter/exit events stored during the run, from its database).
FENCES=${FENCES:-0}
FENCE_WORKLOADS=${FENCE_WORKLOADS:-teltonika,osmand}
FENCE_ARMS=${FENCE_ARMS:-global}
FENCE_SEED=${FENCE_SEED:-1}
FENCE_REGION_KM=${FENCE_REGION_KM:-40}
fence_cmd=""
if [ "$FENCES" != 0 ] && [[ ",$PHASES," == *",ingest,"* ]]; then
    fence_cmd=" FENCES=$FENCES FENCE_WORKLOADS=$FENCE_WORKLOADS FENCE_ARMS=$FENCE_ARMS FENCE_SEED=$FENCE_SEED FENCE_REGION_KM=$FENCE_REGION_KM"
    WEFT_WORKERS=1 build/apps/fleet --config "$work/fleet.json" --data-dir "$work/fences-empty" --port 0 \
        --osmand-port 0 --teltonika-port 0 >"$work/fences-empty.log" 2>&1 &
    fence_pid=$!
    pids+=("$fence_pid")
    for _ in $(seq 1 100); do grep -q '^listening on' "$work/fences-empty.log" && break; sleep 0.1; done
    grep -q '^listening on' "$work/fences-empty.log" || { echo "server did not start:"; cat "$work/fences-empty.log"; exit 1; }
    kill -TERM "$fence_pid"; wait "$fence_pid" || true
    for arm in ${FENCE_ARMS//,/ }; do
        case $arm in
            global) group=() ;;
            othergroup) group=(--group "bench: a group no device is in") ;;
            *) echo "FENCE_ARMS: global or othergroup, not $arm"; exit 2 ;;
        esac
        cp -r "$work/fences-empty" "$work/fences-$arm"
        fence_json=$(python3 bench/tools/fleet_fences.py --count "$FENCES" --seed "$FENCE_SEED" \
            --region-km "$FENCE_REGION_KM" --sqlite "$work/fences-$arm/fleet.sqlite" ${group[@]+"${group[@]}"} --stats)
    done
    echo "== geofences: $fence_json"
    export REPORT_META="{\"fences\": ${fence_json#fences-json: }}" # into the result files' header
fi
fences() { # round: the fenced runs, reversed in even rounds
    local fw arm runs=() i
    [ "$FENCES" != 0 ] || return 0
    for fw in ${FENCE_WORKLOADS//,/ }; do for arm in ${FENCE_ARMS//,/ }; do runs+=("$fw $arm"); done; done
    if [ $(($1 % 2)) -eq 0 ]; then
        for ((i = ${#runs[@]} - 1; i >= 0; i--)); do fenced ${runs[i]} "$1"; done
    else
        for i in "${!runs[@]}"; do fenced ${runs[i]} "$1"; done
    fi
}
fenced() { # workload arm round
    local w="$1-fences$FENCES" n
    if [ "$2" != global ]; then w="$w-$2"; fi
    run_seed="$work/fences-$2" run "$w" "$3"
    if grep -q 'stored area unreadable' "$work/srv.log"; then
        echo "the server skipped fences:"; grep 'stored area unreadable' "$work/srv.log" | head -5; exit 1
    fi
    n=$(python3 -c 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute(
        "SELECT COUNT(*) FROM events WHERE geofence_id IS NOT NULL").fetchone()[0])' "$work/data-$w-$3-/fleet.sqlite")
    rm -rf "$work/data-$w-$3-" # a Teltonika run's database is hundreds of MB
    if [ "$n" = 0 ] && [ "$2" = global ]; then echo "  no geofence events in $w: were the fences loaded?"; fi
    rows[${#rows[@]} - 1]=$(python3 -c 'import json, sys; r = json.loads(sys.argv[1]); r["geofence_events"] = int(sys.argv[2])
print(json.dumps(r))' "${rows[${#rows[@]} - 1]}" "$n")
    echo "  geofence events: $n"
}

if [[ ",$PHASES," == *",ingest,"* ]]; then
    echo "== bench-fleet: $ROUNDS rounds, Teltonika $VEHICLES devices x $DAYS day(s), a fix every $TLT_INTERVAL ms, $RECORDS-record packets; OsmAnd $OSM_VEHICLES devices x $OSM_DAYS day(s), a fix every $OSM_INTERVAL ms, $CONNS connections"
    # BASELINE_BIN=path/to/another/fleet: its runs first in odd rounds, last in even ones
    baseline() { # round
        local bw
        [ -n "${BASELINE_BIN:-}" ] || return 0
        for bw in ${BASELINE_WORKLOADS//,/ }; do run "$bw-baseline" "$1" "$BASELINE_BIN"; done
    }
    BASELINE_WORKLOADS=${BASELINE_WORKLOADS:-teltonika}
    for r in $(seq 1 "$ROUNDS"); do
        if [ $((r % 2)) -eq 1 ]; then baseline "$r"; fi
        if [ $((r % 2)) -eq 0 ]; then fences "$r"; fi
        if [ $((r % 2)) -eq 1 ]; then run teltonika "$r"; run osmand "$r"; else run osmand "$r"; run teltonika "$r"; fi
        if [ $((r % 2)) -eq 1 ]; then fences "$r"; fi
        if [ $((r % 2)) -eq 0 ]; then baseline "$r"; fi
    done
    printf '%s\n' "${rows[@]}" | python3 bench/tools/fleet_report.py "$OUT" \
        "VEHICLES=$VEHICLES DAYS=$DAYS TLT_INTERVAL=$TLT_INTERVAL RECORDS=$RECORDS CONNS=$CONNS OSM_VEHICLES=$OSM_VEHICLES OSM_DAYS=$OSM_DAYS OSM_INTERVAL=$OSM_INTERVAL ROUNDS=$ROUNDS${BASELINE_BIN:+ BASELINE_BIN=$BASELINE_BIN BASELINE_WORKLOADS=$BASELINE_WORKLOADS}$fence_cmd bash bench/run-fleet.sh"
    echo "== wrote $OUT.md and $OUT.json"
fi

# ---- history ------------------------------------------------------------------------------------
start_server() { # data-dir log -> sets srv_pid, srv_url, srv_tlt
    WEFT_FLEET_ADMIN_EMAIL=bench@fleet.local WEFT_FLEET_ADMIN_PASSWORD=bench-password-1 WEFT_WORKERS=1 \
        taskset -c 0 "${srv_bin:-build/apps/fleet}" --config "$work/fleet.json" --data-dir "$1" --port 0 --osmand-port 0 \
        --teltonika-port 0 >"$2" 2>&1 &
    srv_pid=$!
    pids+=("$srv_pid")
    for _ in $(seq 1 600); do grep -q '^listening on' "$2" && break; sleep 0.1; done
    grep -q '^listening on' "$2" || { echo "server did not start:"; cat "$2"; exit 1; }
    srv_url=$(grep -o '^listening on http://[^ ]*' "$2" | sed 's/^listening on //')
    srv_tlt=$(grep -o 'teltonika on tcp://[^ ]*' "$2" | sed 's/.*://')
}
if [[ ",$PHASES," == *",history,"* ]]; then
    echo "== history: one device, $HISTORY_DAYS days at 1 Hz, then $HISTORY_ROUNDS rounds of reports, chunks vs raw"
    if [ -n "${HISTORY_DB:-}" ]; then
        mkdir -p "$work/hist" && cp "$HISTORY_DB" "$work/hist/fleet.sqlite"
        backfill="backfill: none, a copy of $HISTORY_DB (HISTORY_DB)"
    else
        start_server "$work/hist" "$work/hist.log"
        b0=$(date +%s.%N)
        taskset -c 1 build/apps/fleet-sim --protocol teltonika --vehicles 1 --backfill "$HISTORY_DAYS" --interval-ms 1000 \
            --records-per-packet 255 --teltonika-port "$srv_tlt" --quiet >"$work/hist-sim.log" 2>&1 || true
        b1=$(date +%s.%N)
        acked=$(grep -o 'acknowledged [0-9]*' "$work/hist-sim.log" | tail -1 | awk '{print $2}')
        kill -TERM "$srv_pid"; wait "$srv_pid" || true
        backfill="backfill: ${acked:-0} fixes acknowledged in $(python3 -c "print(round($b1 - $b0, 1))") s ($(python3 -c "print(round(${acked:-0} / ($b1 - $b0)))") fixes/s), one device, 255-record packets"
        if [ -n "${HISTORY_KEEP:-}" ]; then cp "$work/hist/fleet.sqlite" "$HISTORY_KEEP"; fi
    fi
    echo "  $backfill"
    cp -r "$work/hist" "$work/hist-raw"
    python3 - "$work/hist-raw/fleet.sqlite" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
print("  motion chunks in the copy, deleted:", db.execute("SELECT COUNT(*) FROM motion_chunks").fetchone()[0])
db.execute("DELETE FROM motion_chunks")
db.commit()
PY
    hist_servers=()
    if [ -n "${BASELINE_BIN:-}" ]; then # the same chunks database, served by another build
        cp -r "$work/hist" "$work/hist-base"
        srv_bin=$BASELINE_BIN start_server "$work/hist-base" "$work/hist-c.log"
        hist_servers+=("baseline=$srv_url,$srv_pid")
    fi
    start_server "$work/hist" "$work/hist-a.log"; a_pid=$srv_pid a_url=$srv_url
    start_server "$work/hist-raw" "$work/hist-b.log"; b_pid=$srv_pid b_url=$srv_url
    python3 bench/tools/fleet_history.py --rounds "$HISTORY_ROUNDS" --repeat 3 --email bench@fleet.local \
        --password bench-password-1 --device 1 --json "$HISTORY_OUT.json" \
        ${HISTORY_REPORTS:+--reports "$HISTORY_REPORTS"} \
        "chunks=$a_url,$a_pid" "raw=$b_url,$b_pid" ${hist_servers[@]+"${hist_servers[@]}"} | tee "$work/hist-table.txt"
    {
        echo "# weft fleet history reports: motion chunks vs raw fixes ($(date +%F))"
        echo
        echo "Written by \`make bench-fleet\` (bench/run-fleet.sh, history phase). Load average at the end:"
        echo "$(cut -d' ' -f1-3 /proc/loadavg). Wall times on a busy machine are mostly waiting for a core;"
        echo "the server CPU per request (utime + stime of all its threads, /proc) is the fairer figure."
        echo
        echo "- Command: \`PHASES=$PHASES HISTORY_DAYS=$HISTORY_DAYS HISTORY_ROUNDS=$HISTORY_ROUNDS${HISTORY_DB:+ HISTORY_DB=$HISTORY_DB}${HISTORY_REPORTS:+ HISTORY_REPORTS=$HISTORY_REPORTS}${BASELINE_BIN:+ BASELINE_BIN=$BASELINE_BIN} bash bench/run-fleet.sh\`"
        echo "- Commit: $(git rev-parse --short HEAD)$([ -n "$(git status --porcelain -uno)" ] && echo ' (dirty tree)')"
        echo "- Machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, $(uname -r);" \
             "SQLite $(python3 -c 'import sqlite3; print(sqlite3.sqlite_version)') (Python's; the server links Debian's libsqlite3), gcc $(gcc -dumpfullversion)"
        echo "- Servers: build/apps/fleet, WEFT_WORKERS=1, pinned to CPU 0, side by side on copies of one database."
        echo "- $backfill"
        echo "- route: one day (86,400 fixes at 1 Hz), full JSON and compact=true; trips/stops/summary: 31 days."
        echo "  Each figure: 3 requests back to back, divided by 3; $HISTORY_ROUNDS rounds, order alternating."
        echo
        grep '^|' "$work/hist-table.txt"
    } >"$HISTORY_OUT.md"
    echo "== wrote $HISTORY_OUT.md and $HISTORY_OUT.json"
fi

# ---- memory -------------------------------------------------------------------------------------
if [[ ",$PHASES," == *",memory,"* ]]; then
    echo "== memory: $MEM_DEVICES devices, seeded and then reporting, $MEM_ROUNDS round(s)"
    python3 bench/tools/fleet_memory.py --devices "$MEM_DEVICES" --rounds "$MEM_ROUNDS" --out "$MEM_OUT" \
        --command "PHASES=memory MEM_DEVICES=$MEM_DEVICES MEM_ROUNDS=$MEM_ROUNDS${BASELINE_BIN:+ BASELINE_BIN=$BASELINE_BIN} bash bench/run-fleet.sh" \
        "weft=build/apps/fleet" ${BASELINE_BIN:+"baseline=$BASELINE_BIN"}
fi

# ---- live ---------------------------------------------------------------------------------------
if [[ ",$PHASES," == *",live,"* ]]; then
    echo "== live: ${RATES:-10000} devices a fix a second to ${VIEWERS:-500} viewers, $ROUNDS rounds"
    PROGRAMS=${PROGRAMS:-${BASELINE_BIN:+fleet-old }fleet} TICK_MS=${TICK_MS:-50} RATES=${RATES:-10000} \
        VIEWERS=${VIEWERS:-500} CONNS=$CONNS LIVE_QUEUE_KB=${LIVE_QUEUE_KB:-1024} DURATION=${DURATION:-20} \
        WARMUP=${WARMUP:-8} ROUNDS=$ROUNDS TITLE=fleet-live OUT=$LIVE_OUT bash bench/run-tracking.sh
fi

# ---- retention ----------------------------------------------------------------------------------
# PHASES=retention (not in the default): ingest while retention prunes a
# backlog (issue 11 C3: pruned in small batches "without stalling ingest").
# A database is pre-filled once by bench/tools/fleet_retention.py (SQL only,
# no server in the loop): RET_OLD positions (3,000,000; QUICK=1: 300,000)
# older than the cutoff of RET_DAYS (30) days and RET_RECENT (1,000,000;
# QUICK=1: 100,000) younger ones, of RET_DEVICES (500) devices of their own
# ("old-00001"..., never the simulator's, so the writer's motion catch-up
# does not read them), interleaved in time order as ingest writes them, with
# a motion chunk per 60 fixes and an event per 50. Then each workload of
# RET_WORKLOADS (osmand,teltonika: the ingest phase's, with its VEHICLES,
# DAYS, OSM_* settings) runs RET_ROUNDS (2; QUICK=1: 1) rounds on a fresh
# copy of that database, twice a round: "prune" (positions and events
# retention_days RET_DAYS) and "noprune" (0), the order alternating by
# round. The server's first retention pass begins 2 s after it starts
# (fleet.c, background) and goes on in 2,000-row batches until nothing is
# due; the simulator starts once the pass has committed its first batch
# (fleet_pruned_total > 0), in "noprune" runs after the same 3 s.
# Per run: the ingest phase's figures; fleet-sim's ack latency p50/p99 and
# its worst one-second p99; the group commits during the run from /metrics
# (count, mean, the bucket of their p99, how many took over 25 and 100 ms:
# a commit queued behind a prune statement on SQLite's writer thread is
# timed from before its BEGIN); the rows pruned during the run, and the old
# positions left at its end (more than 0: the prune ran through the run).
# RET_DB=path/fleet.sqlite skips the pre-fill and uses a copy of that
# database (RET_KEEP=path keeps a copy of a pre-filled one for that); what
# is due is counted at the start either way. Results:
# bench/results/fleet-retention-<date>.md and .json (fleet_report.py).
if [[ ",$PHASES," == *",retention,"* ]]; then
    if [ "${QUICK:-0}" = 1 ]; then RET_OLD=${RET_OLD:-300000}; RET_RECENT=${RET_RECENT:-100000}; RET_ROUNDS=${RET_ROUNDS:-1}; fi
    RET_OLD=${RET_OLD:-3000000}
    RET_RECENT=${RET_RECENT:-1000000}
    RET_DEVICES=${RET_DEVICES:-500}
    RET_DAYS=${RET_DAYS:-30}
    RET_ROUNDS=${RET_ROUNDS:-2}
    RET_WORKLOADS=${RET_WORKLOADS:-osmand,teltonika}
    RET_OUT=${RET_OUT:-bench/results/fleet-retention-$(date +%F)}
    echo "== retention: $RET_ROUNDS round(s) of $RET_WORKLOADS, each with and without a prune of a backlog running"
    ret_cfg() { # file retention-days
        printf '{"ingest": {"auto_register": true, "host": "127.0.0.1"}, "status": {"moving_speed_kn": 1.5}, "positions": {"retention_days": %d}, "events": {"retention_days": %d}}\n' \
            "$2" "$2" >"$1"
    }
    ret_cfg "$work/ret-prune.json" "$RET_DAYS"
    ret_cfg "$work/ret-noprune.json" 0
    ret_start() { # config data-dir log -> sets ret_pid, ret_web, ret_tlt, ret_osm
        # the log of the run before must not be read as this one's: the
        # started shell truncates it only when it gets to run
        rm -f "$3"
        WEFT_WORKERS=1 taskset -c 0 "${ret_bin:-build/apps/fleet}" --config "$1" --data-dir "$2" --port 0 --osmand-port 0 \
            --teltonika-port 0 >"$3" 2>&1 &
        ret_pid=$!
        pids+=("$ret_pid")
        local polls=0
        for _ in $(seq 1 600); do
            polls=$((polls + 1))
            grep -qs '^listening on' "$3" && break
            kill -0 "$ret_pid" 2>/dev/null || break # it ended: its log says why
            sleep 0.1
        done
        if ! grep -qs '^listening on' "$3"; then
            local why=running
            kill -0 "$ret_pid" 2>/dev/null || { wait "$ret_pid" && why="exited 0" || why="exited $?"; }
            echo "server did not start ($why, after $polls polls of $3):"
            cat "$3" 2>/dev/null || true
            exit 1
        fi
        ret_web=$(grep -o '^listening on http://[^ ]*' "$3" | sed 's/^listening on //')
        ret_tlt=$(grep -o 'teltonika on tcp://[^ ]*' "$3" | sed 's/.*://')
        ret_osm=$(grep -o 'osmand on http://[^ ]*' "$3" | sed 's/.*://')
    }
    mkdir -p "$work/ret-template"
    if [ -n "${RET_DB:-}" ]; then
        cp "$RET_DB" "$work/ret-template/fleet.sqlite"
        prefill="prefill: none, a copy of $RET_DB (RET_DB)"
    else # the server makes the schema (its migrations), then the rows go in straight
        ret_start "$work/ret-noprune.json" "$work/ret-template" "$work/ret-template.log"
        kill -TERM "$ret_pid"; wait "$ret_pid" || true
        prefill=$(python3 bench/tools/fleet_retention.py prefill "$work/ret-template/fleet.sqlite" --devices "$RET_DEVICES" \
            --old "$RET_OLD" --recent "$RET_RECENT" --days "$RET_DAYS" --thr 1.5)
        if [ -n "${RET_KEEP:-}" ]; then cp "$work/ret-template/fleet.sqlite" "$RET_KEEP"; fi
    fi
    echo "  $prefill"
    # what a pass will find due: the old positions (a count through the
    # server_time index), and the size of what each run copies
    ret_due=$(python3 - "$work/ret-template/fleet.sqlite" "$RET_DAYS" <<'PY'
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1])
cut = int(time.time() * 1000) - int(sys.argv[2]) * 86400000
print(db.execute("SELECT COUNT(*) FROM positions WHERE server_time < ?", (cut,)).fetchone()[0],
      db.execute("SELECT COUNT(*) FROM positions").fetchone()[0])
PY
)
    ret_old=${ret_due% *}
    echo "  due at the start: $ret_old of ${ret_due#* } positions; database $(du -m "$work/ret-template/fleet.sqlite" | cut -f1) MB"
    ret_rows=()
    ret_metrics() { curl -s -m 10 "$ret_web/metrics" >"$1" || true; }
    ret_pruned() { curl -s -m 5 "$ret_web/metrics" | awk '/^fleet_pruned_total\{table="positions"\}/ {print $2}'; }
    ret_run() { # workload prune|noprune round [server binary]
        local w=$1 mode=$2 r=$3 d="$work/ret-data"
        rm -rf "$d"
        cp -r "$work/ret-template" "$d"
        sync "$d/fleet.sqlite" # the copy's pages on disk, not written back during the run
        ret_bin=${4:-} ret_start "$work/ret-$mode.json" "$d" "$work/ret-srv.log"
        local pid=$ret_pid args
        sleep 3 # the first pass begins 2 s after the start
        if [ "$mode" = prune ]; then
            local p=""
            for _ in $(seq 1 300); do p=$(ret_pruned); [ -n "$p" ] && [ "$p" != 0 ] && break; sleep 0.1; done
            [ -n "$p" ] && [ "$p" != 0 ] || echo "  (retention: no batch committed 33 s after the start)"
        fi
        if [ "$w" = teltonika ]; then
            args=(--protocol teltonika --vehicles "$VEHICLES" --backfill "$DAYS" --interval-ms "$TLT_INTERVAL"
                  --records-per-packet "$RECORDS" --teltonika-port "$ret_tlt")
        else
            args=(--protocol osmand --vehicles "$OSM_VEHICLES" --backfill "$OSM_DAYS" --interval-ms "$OSM_INTERVAL"
                  --connections "$CONNS" --osmand-port "$ret_osm")
        fi
        ret_metrics "$work/ret-m0.txt"
        local s0 s1 t0 t1 rss
        s0=$(awk '{print $14 + $15}' "/proc/$pid/stat"); t0=$(date +%s.%N)
        taskset -c 1 build/apps/fleet-sim "${args[@]}" --quiet >"$work/ret-sim.log" 2>&1 || true
        t1=$(date +%s.%N); s1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
        rss=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
        ret_metrics "$work/ret-m1.txt"
        kill -TERM "$pid"; wait "$pid" || true
        local line
        line=$(python3 bench/tools/fleet_retention.py row --workload "$w-$mode${4:+-baseline}" --round "$r" --sim-log "$work/ret-sim.log" \
            --metrics-before "$work/ret-m0.txt" --metrics-after "$work/ret-m1.txt" --t0 "$t0" --t1 "$t1" --cpu0 "$s0" \
            --cpu1 "$s1" --tick "$tick" --rss "$rss" --old "$([ "$mode" = prune ] && echo "$ret_old" || echo 0)")
        echo "  $line"
        ret_rows+=("$line")
        rm -rf "$d"
    }
    # BASELINE_BIN=path/to/another/fleet: a third run a round, "-prune-baseline",
    # that binary pruning (an A/B of a change to retention; its binary must
    # count fleet_pruned_total per batch, as since this phase, or the wait
    # for its first batch times out); first in odd rounds, last in even ones
    for r in $(seq 1 "$RET_ROUNDS"); do
        for w in ${RET_WORKLOADS//,/ }; do
            if [ $((r % 2)) -eq 1 ]; then
                if [ -n "${BASELINE_BIN:-}" ]; then ret_run "$w" prune "$r" "$BASELINE_BIN"; fi
                ret_run "$w" prune "$r"; ret_run "$w" noprune "$r"
            else
                ret_run "$w" noprune "$r"; ret_run "$w" prune "$r"
                if [ -n "${BASELINE_BIN:-}" ]; then ret_run "$w" prune "$r" "$BASELINE_BIN"; fi
            fi
        done
    done
    printf '%s\n' "${ret_rows[@]}" | python3 bench/tools/fleet_report.py "$RET_OUT" \
        "PHASES=retention RET_OLD=$RET_OLD RET_RECENT=$RET_RECENT RET_DEVICES=$RET_DEVICES RET_DAYS=$RET_DAYS RET_ROUNDS=$RET_ROUNDS RET_WORKLOADS=$RET_WORKLOADS${RET_DB:+ RET_DB=$RET_DB}${BASELINE_BIN:+ BASELINE_BIN=$BASELINE_BIN} VEHICLES=$VEHICLES DAYS=$DAYS TLT_INTERVAL=$TLT_INTERVAL RECORDS=$RECORDS CONNS=$CONNS OSM_VEHICLES=$OSM_VEHICLES OSM_DAYS=$OSM_DAYS OSM_INTERVAL=$OSM_INTERVAL bash bench/run-fleet.sh" \
        "Retention under load: each workload with a retention pass pruning a backlog (\"-prune\") and without (\"-noprune\"), on copies of one pre-filled database (${prefill#prefill: }); due at the start: $ret_old old positions."
    echo "== wrote $RET_OUT.md and $RET_OUT.json"
fi

# ---- issue 11 J: the figures of this run in one table (bench/tools/fleet_j.py) ------------------
j_files=()
for j in "ingest=$OUT" "history=$HISTORY_OUT" "memory=$MEM_OUT" "live=$LIVE_OUT"; do
    if [[ ",$PHASES," == *",${j%%=*},"* ]] && [ -f "${j#*=}.json" ]; then j_files+=("${j#*=}.json"); fi
done
if [ ${#j_files[@]} -gt 0 ]; then
    echo "== issue 11 J, this run's figures (the phases not run: not measured)"
    python3 bench/tools/fleet_j.py "${j_files[@]}"
fi
