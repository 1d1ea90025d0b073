#!/usr/bin/env bash
# make bench-tracking (issue 13 part D) and make bench-fleet-live (issue 11
# part J): the live-tracking hot path — OsmAnd fixes over keep-alive HTTP in,
# the latest position per device, coalesced updates out to WebSocket viewers
# every tick — measured as fix-to-viewer latency, server CPU and RSS.
#
# Programs (PROGRAMS, any of):
#   weft   apps/tracking: the minimal service on weft, in memory only
#          (one worker: WEFT_WORKERS=1)
#   go     bench/peers/tracking-go: net/http + coder/websocket (GOMAXPROCS=1)
#   rust   bench/peers/tracking-rust: axum + tokio current_thread
#   fleet  the real weft fleet server (apps/fleet, one worker, SQLite in a
#          temp dir: every fix is stored and committed, auto-registration,
#          the Traccar-shaped feed, viewers signed in with an API token)
# All push every TICK_MS (250 ms; fleet: live.tick_ms = TICK_MS).
# fleet-<N>ms: fleet with live.tick_ms = N instead (e.g. PROGRAMS="fleet fleet-50ms").
# fleet-ring0: fleet with WEFT_WS_ASYNC_SEND=0 (hub messages to an idle
#          connection go through its writer task, not the worker's io_uring):
#          the ring send's share of the live CPU, in one run with "fleet".
# fleet-old: another fleet binary, FLEET_OLD_BIN (a build of an older commit
#          copied aside, for before/after in one run; configured with the
#          older live.max_flushes_per_s = 1000/TICK_MS). BASELINE_BIN is the
#          same setting (make bench-fleet-live then runs "fleet-old fleet").
#
# One cell = RATE fixes/s (RATE OsmAnd devices, a fix a second each, over
# CONNS keep-alive connections) x VIEWERS viewers. The server is pinned to
# CPU 0, fleet-sim (devices and viewers, build/apps/fleet-sim --viewers) to
# CPU 1. Each run lasts DURATION s; the viewers count positions after WARMUP
# s. Per run: server CPU (utime+stime from /proc over the whole run) per fix
# acknowledged, and its share of one core; p50/p99/max fix-to-viewer latency
# and the push delay (watch.h); server RSS at the end; the generator's CPU
# share (when it is near 1.0, the generator, not the server, limits).
# ROUNDS rounds; in each, the programs run in a rotated order.
#
# Viewers: LATENCY_VIEWERS (20) of them, spread over the connection order,
# (or "all"; a list such as "20 all" runs each setting as a row of its own,
# program/lv=N, for a before/after in one run) decode every position and
# measure latency; the others are light (they walk
# the frames and count messages and bytes: apps/fleet-sim/watch.h), so that
# 500 viewers of 10,000 devices fit the generator's one core. The server's CPU
# is also given per thread (the worker, fleet's SQLite writer, ...), and per
# run the other processes' share of the machine; the results file is labelled
# busy or quiet from what was measured (CPUs busy before the first run and
# after the last, other processes during the runs), not assumed.
#
# DEFLATE (on): the viewers offer permessage-deflate as Chromium does (off:
# fleet-sim --no-deflate); "on off" runs both, each a row of its own
# (program/deflate=on|off), alternating in rotated order like
# LATENCY_VIEWERS, for a with/without in one run. A server that does not
# agree it sends plain frames either way.
#
#   bash bench/run-tracking.sh                          (full matrix, ~25 min)
#   QUICK=1 bash bench/run-tracking.sh                  (<= 3 min)
#   PROGRAMS=fleet RATES=10000 VIEWERS=500 OUT=... bash bench/run-tracking.sh
#
# Results: $OUT.md and $OUT.json (bench/results/tracking-<date> by default).
# Ports: ephemeral for the servers (port 0), nothing fixed.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${QUICK:-}" ]; then
    : "${RATES:=1000 10000}" "${VIEWERS:=10 500}" "${DURATION:=6}" "${WARMUP:=2}" "${ROUNDS:=1}"
fi
PROGRAMS=${PROGRAMS:-weft go rust fleet}
RATES=${RATES:-1000 5000 10000}
VIEWERS=${VIEWERS:-10 100 500}
DURATION=${DURATION:-12}
WARMUP=${WARMUP:-4}
ROUNDS=${ROUNDS:-3}
TICK_MS=${TICK_MS:-250}
CONNS=${CONNS:-16}
LATENCY_VIEWERS=${LATENCY_VIEWERS:-20}
DEFLATE=${DEFLATE:-on}
# fleet's live.queue_kb (its default: 1024; the snapshot of 10,000 devices,
# larger than that, goes out in pieces outside the limit since fleet-live's
# change; an older binary closed every viewer with 1011 on connecting)
LIVE_QUEUE_KB=${LIVE_QUEUE_KB:-1024}
FLEET_OLD_BIN=${FLEET_OLD_BIN:-${BASELINE_BIN:-}} # (live-tail) BASELINE_BIN: the same
OUT=${OUT:-bench/results/tracking-$(date +%F)}
TITLE=${TITLE:-tracking}

. bench/lib.sh # busy_pct
# measured before anything of ours runs (2 s of /proc/stat)
BUSY_START=$(busy_pct) LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
make -s -j2 build/apps/tracking build/apps/fleet build/apps/fleet-sim
declare -A BIN
for p in $PROGRAMS; do
    case $p in
    go) (cd bench/peers/tracking-go && go build -o bin/tracking-go .) && BIN[go]=bench/peers/tracking-go/bin/tracking-go ;;
    rust) (cd bench/peers/tracking-rust && cargo build --release -q) &&
        BIN[rust]=bench/peers/tracking-rust/target/release/weft-bench-tracking-rust ;;
    weft) BIN[weft]=build/apps/tracking ;;
    fleet | fleet-*ms | fleet-ring0) BIN[$p]=build/apps/fleet ;;
    fleet-old) BIN[$p]=${FLEET_OLD_BIN:?fleet-old needs FLEET_OLD_BIN=path of an older build/apps/fleet} ;;
    *) echo "run-tracking: unknown program $p (weft go rust fleet fleet-<N>ms fleet-ring0 fleet-old)" >&2; exit 2 ;;
    esac
done
tick=$(getconf CLK_TCK)
# BENCH_TMP: where the servers' data dirs go (default /tmp; /dev/shm keeps a
# busy machine's disk out of fleet's commit latency)
work=$(mktemp -d "${BENCH_TMP:-/tmp}/weft-bench-tracking.XXXXXX")
srv=""
cleanup() { if [ -n "$srv" ]; then kill -TERM "$srv" 2>/dev/null || true; wait "$srv" 2>/dev/null || true; fi; rm -rf "$work"; }
trap cleanup EXIT
flushes=$((1000 / TICK_MS))
cpu_of() { awk '{print $14 + $15}' "/proc/$1/stat"; }
sys_of() { awk '{print $15}' "/proc/$1/stat"; } # the kernel's part (stime)
# every thread of pid $1 as "tid:name:ticks," (name "main" for the main thread)
threads_of() {
    local t
    for t in /proc/"$1"/task/*; do
        awk -v tid="${t##*/}" -v pid="$1" '{ n = $2; gsub(/[()]/, "", n); if (tid == pid) n = "main";
            printf "%s:%s:%d,", tid, n, $14 + $15 }' "$t/stat" 2>/dev/null || true
    done
}
# all CPUs' busy ticks (user nice system irq softirq steal), from /proc/stat
machine_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }

# fleet registers an unknown device with a commit of its own (a few hundred
# a second): a run that registered its devices would measure that, not the
# live path. So every fleet run starts from a copy of a data dir in which the
# fleet made its schema and first admin, and sqlite3 added sim-0001..sim-RATE
# (fleet-sim's ids) in one transaction.
fleet_template() { # rate
    local t="$work/template-$1"
    [ -d "$t" ] && return 0
    printf '{"ingest": {"host": "127.0.0.1"}}\n' >"$work/tpl.json"
    WEFT_WORKERS=1 WEFT_FLEET_ADMIN_EMAIL=bench@example.com WEFT_FLEET_ADMIN_PASSWORD=bench-password-1 \
        build/apps/fleet --config "$work/tpl.json" --data-dir "$t" --port 0 --osmand-port 0 \
        --teltonika-port 0 >"$work/tpl.log" 2>&1 &
    srv=$!
    for _ in $(seq 1 100); do grep -q 'listening on' "$work/tpl.log" && break; sleep 0.1; done
    kill -TERM "$srv"; wait "$srv" 2>/dev/null || true; srv=""
    sqlite3 "$t/fleet.sqlite" "BEGIN; WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1)
        INSERT INTO devices (unique_id, name, created_ms) SELECT printf('sim-%04d', i), printf('sim-%04d', i),
        CAST(strftime('%s', 'now') AS INTEGER) * 1000 FROM n; COMMIT;"
}

# start program $1 (fleet: $2 = the rate); sets srv (pid), port (the OsmAnd port), url (viewers), hdr
start() {
    local p=$1 log="$work/srv.log"
    : >"$log"
    hdr=()
    case $p in
    weft) WEFT_WORKERS=1 taskset -c 0 "${BIN[weft]}" --port 0 --tick-ms "$TICK_MS" >"$log" 2>&1 & ;;
    go) GOMAXPROCS=1 TICK_MS=$TICK_MS taskset -c 0 "${BIN[go]}" 0 >"$log" 2>&1 & ;;
    rust) TICK_MS=$TICK_MS taskset -c 0 "${BIN[rust]}" 0 >"$log" 2>&1 & ;;
    fleet*)
        rm -rf "$work/data"
        fleet_template "$2"
        cp -r "$work/template-$2" "$work/data"
        local live
        case $p in
        fleet-old) live=$(printf '"max_flushes_per_s": %d' "$flushes") ;;
        fleet-*ms) live=$(printf '"tick_ms": %d' "${p//[!0-9]/}") ;;
        *) live=$(printf '"tick_ms": %d' "$TICK_MS") ;;
        esac
        printf '{"ingest": {"auto_register": true, "host": "127.0.0.1"}, "live": {%s, "queue_kb": %d}, "positions": {"retention_days": 0}, "events": {"retention_days": 0}}\n' \
            "$live" "$LIVE_QUEUE_KB" >"$work/fleet.json"
        local ring=1
        [ "$p" = fleet-ring0 ] && ring=0
        WEFT_WS_ASYNC_SEND=$ring WEFT_WORKERS=1 WEFT_FLEET_ADMIN_EMAIL=bench@example.com WEFT_FLEET_ADMIN_PASSWORD=bench-password-1 \
            taskset -c 0 ${SRV_WRAP:-} "${BIN[$p]}" --config "$work/fleet.json" --data-dir "$work/data" --port 0 \
            --osmand-port 0 --teltonika-port 0 >"$log" 2>&1 &
        ;;
    esac
    srv=$!
    # START_WAIT_S: how long a server may take to listen (10 s; more for a profiler wrapper)
    for _ in $(seq 1 $((${START_WAIT_S:-10} * 10))); do grep -q 'listening on' "$log" && break; sleep 0.1; done
    if [[ $p == fleet* ]]; then
        local web; web=$(grep -o 'listening on http://[^ ]*' "$log" | sed 's/.*://')
        port=$(grep -o 'osmand on http://[^ ]*' "$log" | sed 's/.*://')
        url="ws://127.0.0.1:$web/api/socket"
        metrics_url="http://127.0.0.1:$web/metrics"
        curl -s -c "$work/cookie" -o /dev/null --data-urlencode email=bench@example.com \
            --data-urlencode password=bench-password-1 "http://127.0.0.1:$web/api/session"
        local tok
        tok=$(curl -s -b "$work/cookie" -H "X-Requested-With: XMLHttpRequest" -X POST "http://127.0.0.1:$web/api/session/token" |
            python3 -c 'import sys, json; t = sys.stdin.read().strip(); print(json.loads(t)["token"] if t.startswith("{") else t)')
        hdr=(--socket-header "Authorization: Bearer $tok")
    else
        port=$(grep -o 'listening on [^ ]*' "$log" | sed 's/.*://')
        url="ws://127.0.0.1:$port/socket"
    fi
    [ -n "$port" ] || { echo "run-tracking: $p did not start:" >&2; cat "$log" >&2; exit 1; }
}

# (live-tail) fleet's side of the latency split and its resyncs, from its
# /metrics (read with the bench token), as a "feed-json:" line for the report
metrics_url=""
feed_json() {
    curl -s -m 5 -H "${hdr[1]}" "$metrics_url" 2>/dev/null | awk '
        /^fleet_live_feed_wait_ms\{quantile="0.5"\}/ { p50 = $2 }
        /^fleet_live_feed_wait_ms\{quantile="0.99"\}/ { p99 = $2 }
        /^fleet_live_resyncs_total / { rs = $2 }
        END { if (p50 != "") printf "feed-json: {\"feed_wait_p50_ms\": %s, \"feed_wait_p99_ms\": %s, \"resyncs\": %s}\n", p50, p99, rs + 0 }'
}

rows=()
run() { # program rate viewers round latency-viewers deflate
    local p=$1 rate=$2 v=$3 r=$4 lv=$5 z=$6 name=$1 zopt=()
    # several LATENCY_VIEWERS (DEFLATE) settings: each is a row of its own, named so
    [ "${#lvs[@]}" -gt 1 ] && name="$name/lv=$lv"
    [ "${#zs[@]}" -gt 1 ] && name="$name/deflate=$z"
    case $z in on) ;; off) zopt=(--no-deflate) ;; *) echo "run-tracking: DEFLATE: on or off, not '$z'" >&2; exit 2 ;; esac
    start "$p" "$rate"
    local s0 s1 t0 t1 rss th0 th1 m0 m1 k0 k1
    s0=$(cpu_of "$srv"); k0=$(sys_of "$srv"); th0=$(threads_of "$srv"); m0=$(machine_ticks); t0=$(date +%s.%N)
    # SIM_WRAP (SRV_WRAP for fleet): a command put before fleet-sim (the fleet
    # server), e.g. a profiler: "env WEFT_IO=epoll valgrind --tool=callgrind"
    taskset -c 1 ${SIM_WRAP:-} build/apps/fleet-sim --protocol osmand --vehicles "$rate" --interval-ms 1000 \
        --connections "$CONNS" --osmand-port "$port" --duration "$DURATION" --drain-ms 2000 \
        --viewers "$v" --latency-viewers "$lv" --socket-url "$url" "${hdr[@]}" "${zopt[@]}" \
        --warmup "$WARMUP" --quiet \
        >"$work/sim.log" 2>"$work/sim.err" &
    local sim=$!
    local g0; g0=$(cpu_of "$sim" 2>/dev/null || echo 0)
    local g1=$g0
    while kill -0 "$sim" 2>/dev/null; do g1=$(cpu_of "$sim" 2>/dev/null || echo "$g1"); sleep 0.5; done
    wait "$sim" || true
    t1=$(date +%s.%N); s1=$(cpu_of "$srv"); k1=$(sys_of "$srv"); th1=$(threads_of "$srv"); m1=$(machine_ticks)
    rss=$(awk '/VmRSS/ {print $2}' "/proc/$srv/status")
    if [[ $p == fleet* ]]; then feed_json >>"$work/sim.log" || true; fi
    kill -TERM "$srv"; wait "$srv" 2>/dev/null || true; srv=""
    local line
    line=$(python3 bench/tools/tracking_report.py row "$name" "$rate" "$v" "$r" "$t0" "$t1" "$s0" "$s1" \
        "$g0" "$g1" "$tick" "$rss" "$th0" "$th1" "$m0" "$m1" "$k0" "$k1" <"$work/sim.log") || {
        echo "run-tracking: $p rate $rate viewers $v: no result" >&2; tail -n 5 "$work/sim.log" "$work/sim.err" "$work/srv.log" >&2; return 0; }
    echo "  $line"
    rows+=("$line")
}

read -r -a progs <<<"$PROGRAMS"
read -r -a lvs <<<"$LATENCY_VIEWERS"
read -r -a zs <<<"$DEFLATE"
echo "== bench-$TITLE: programs ${progs[*]}; rates $RATES fixes/s x viewers $VIEWERS; $DURATION s runs ($WARMUP s warm-up); tick $TICK_MS ms; $ROUNDS round(s)"
for r in $(seq 1 "$ROUNDS"); do
    for rate in $RATES; do
        for v in $VIEWERS; do
            n=${#progs[@]}
            for i in $(seq 0 $((n - 1))); do
                m=${#lvs[@]} # their order rotates with the rounds too
                for j in $(seq 0 $((m - 1))); do
                    nz=${#zs[@]}
                    for k in $(seq 0 $((nz - 1))); do
                        run "${progs[$(((i + r - 1) % n))]}" "$rate" "$v" "$r" "${lvs[$(((j + r - 1) % m))]}" \
                            "${zs[$(((k + r - 1) % nz))]}"
                    done
                done
            done
        done
    done
done
export BUSY_START LOAD_START BUSY_END LOAD_END
BUSY_END=$(busy_pct) LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
printf '%s\n' "${rows[@]}" | python3 bench/tools/tracking_report.py report "$OUT" "$TITLE" \
    "PROGRAMS='$PROGRAMS' RATES='$RATES' VIEWERS='$VIEWERS' LATENCY_VIEWERS='$LATENCY_VIEWERS' DEFLATE='$DEFLATE' DURATION=$DURATION WARMUP=$WARMUP ROUNDS=$ROUNDS TICK_MS=$TICK_MS CONNS=$CONNS LIVE_QUEUE_KB=$LIVE_QUEUE_KB bash bench/run-tracking.sh"
echo "== wrote $OUT.md and $OUT.json"
