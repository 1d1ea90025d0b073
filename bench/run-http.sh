#!/usr/bin/env bash
# bench/run-http.sh — the HTTP arena: weft's TechEmpower app (build/apps/tfb)
# against five peers (Go net/http, Go Fiber v2, Rust actix-web, axum and
# may_minihttp: bench/peers/http-go, bench/peers/http-rust), built and run in
# the same session, one after another, by the same method:
#
#  - every server pinned to CPU 0 and single-threaded as far as it allows
#    (GOMAXPROCS=1, workers(1), tokio current_thread, may 1 worker,
#    weft --workers 1); every load generator pinned to CPU 1;
#  - each server first answers a check (curl: body, Content-Type, Server,
#    Date on /plaintext and /json); one that fails it is n/a, with the reason;
#  - memory: VmRSS idle right after start (before any request), then with
#    BENCH_IDLE_CONNS (10000) idle keep-alive connections that each completed
#    one GET /plaintext (bench/tools/holdconns.c); KB per connection;
#  - throughput, closed loop: wrk -t1 -c256 for BENCH_DURATION (10) s after a
#    BENCH_WARMUP (3) s warm-up, on /plaintext, /json and /plaintext
#    pipelined x16 (bench/tools/pipeline.lua, as TechEmpower does); errors
#    and non-2xx counted; server CPU time (utime+stime, /proc/PID/stat) per
#    request, in microseconds; wrk's own CPU (per request, and as a share of
#    its one core: near 100% the load generator sets the pace, not the
#    server). BENCH_ROUNDS (5) rounds, each program on a fresh server once
#    per round; the order rotates by one program every round and every even
#    round runs it backwards, so no program always follows the same one or
#    always comes first. Tables: the median of the rounds, their min-max,
#    and "parity" wherever a program's min-max overlaps weft's (the
#    difference is inside the noise band; bench/tools/arena_report.py);
#  - latency, open loop, the primary result: bench/tools/openloop.c (one
#    thread, epoll, coordinated-omission corrected: latency counts from each
#    request's scheduled send time) at 50% and 90% of the best PEER's (not
#    weft's) /plaintext wrk rate of this run, on /plaintext and /json,
#    BENCH_LAT_CONNS (256) connections, BENCH_LAT_DURATION (10) s after a
#    BENCH_LAT_WARMUP (2) s warm-up; each run repeated BENCH_LAT_REPEAT (3)
#    times against the same server, reporting the MEDIAN of each percentile
#    (p50, p90, p99, p99.9) over the repeats, since single p99s on a shared
#    VM vary 2-3x;
#  - latency with oha (--latency-correction) at the same kind of rates, by
#    default at 50% only: oha pinned to one core tops out at ~35-45k req/s
#    here, below 90% of the best peer (BENCH_OHA_RATES="50 90" for both).
# Each phase (memory, throughput, openloop, oha) runs on a freshly started
# server.
#
# Writes a Markdown table per metric (one row per program, and its ratio to
# weft, program/weft) to bench/results/http-<date>.md, the raw numbers, the
# machine and the versions to bench/results/http-<date>.json.
#
# Works from any directory. Knobs (environment):
#   BENCH_ROUNDS=5         rounds of the throughput phase (>= 1)
#   BENCH_SMOKE=1          label the results a smoke run (busy machine, short
#                          runs: not for publishing); saved as http-<date>[-names]-smoke
#   BENCH_DURATION=10      seconds of each measured wrk run
#   BENCH_WARMUP=3         seconds of wrk warm-up before each measured run
#   BENCH_CONNS=256        wrk connections
#   BENCH_PIPELINE=16      pipeline depth of the pipelined run
#   BENCH_RUNS="plaintext json pipelined"  the throughput runs (commas or spaces; make bench-quick
#                          leaves out pipelined: the report's table has no row for it)
#   BENCH_IDLE_CONNS=10000 idle connections of the memory test (0: skip it)
#   BENCH_LAT_DURATION=10  seconds of each measured openloop run (0: skip them)
#   BENCH_LAT_WARMUP=2     seconds of openloop warm-up inside each run (not counted)
#   BENCH_LAT_REPEAT=3     openloop runs per path and rate (the median is reported)
#   BENCH_LAT_CONNS=256    openloop connections
#   BENCH_LAT_JSON=1       also the openloop runs on /json (0: /plaintext only)
#   BENCH_OHA_DURATION=10  seconds of each oha run (0: skip the oha runs;
#                          default BENCH_DURATION)
#   BENCH_OHA_RATES=50     oha rates, % of the best peer ("50 90": both)
#   BENCH_OHA_CONNS=256    oha connections
#   BENCH_OHA_JSON=1       also the oha runs on /json (0: /plaintext only)
#   BENCH_ONLY="a b"       run only these programs (weft nethttp fiber actix
#                          axum may_minihttp; commas or spaces); saved as
#                          http-<date>-<names>.{md,json}
#   BENCH_PORT=18080       first port; program i listens on BENCH_PORT+i
#   BENCH_SERVER_CPU=0     CPU of the servers; BENCH_CLIENT_CPU=1 the loaders'
# Needs wrk, curl, taskset, python3, a C compiler, go and cargo; installs oha
# (pinned, `cargo install --locked`) into ~/.cargo/bin when it is missing.
# A program that does not build, start or answer correctly shows as n/a and
# the script goes on; it exits 0 once the tables are written. Every server it
# started is killed at the end, even on failure.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
COMMAND_LINE="$0${*:+ $*}"

DURATION=${BENCH_DURATION:-10}
WARMUP=${BENCH_WARMUP:-3}
CONNS=${BENCH_CONNS:-256}
PIPELINE=${BENCH_PIPELINE:-16}
IDLE_CONNS=${BENCH_IDLE_CONNS:-10000}
OHA_DURATION=${BENCH_OHA_DURATION:-$DURATION}
OHA_CONNS=${BENCH_OHA_CONNS:-256}
OHA_JSON=${BENCH_OHA_JSON:-1}
OHA_PCTS=${BENCH_OHA_RATES:-50}
LAT_DURATION=${BENCH_LAT_DURATION:-10}
LAT_WARMUP=${BENCH_LAT_WARMUP:-2}
LAT_REPEAT=${BENCH_LAT_REPEAT:-3}
LAT_CONNS=${BENCH_LAT_CONNS:-256}
LAT_JSON=${BENCH_LAT_JSON:-1}
ROUNDS=${BENCH_ROUNDS:-5}
SMOKE=${BENCH_SMOKE:-0}
for v in LAT_DURATION LAT_WARMUP LAT_REPEAT LAT_CONNS OHA_DURATION ROUNDS; do
    [[ "${!v}" =~ ^[0-9]+$ ]] || { echo "run-http: BENCH_$v must be a whole number, not '${!v}'" >&2; exit 2; }
done
[ "$LAT_REPEAT" -ge 1 ] || LAT_REPEAT=1
[ "$ROUNDS" -ge 1 ] || ROUNDS=1
read -r -a OHA_PCT_LIST <<<"${OHA_PCTS//,/ }"
for pct in "${OHA_PCT_LIST[@]}"; do
    if ! [[ "$pct" =~ ^[0-9]+$ ]] || [ "$pct" -lt 1 ] || [ "$pct" -gt 200 ]; then
        echo "run-http: BENCH_OHA_RATES: '$pct' is not a percentage" >&2
        exit 2
    fi
done
BASE_PORT=${BENCH_PORT:-18080}
OHA_VERSION=1.16.0
DATE=$(date +%Y-%m-%d)
OUTDIR=bench/results

. "$ROOT/bench/lib.sh" # build(), the arena helpers; its log() is replaced below
log() { echo "run-http: $(date +%H:%M:%S) $*" >&2; }

ALL_PROGS=("${ARENA_PROGS[@]}")
arena_select run-http # PROGS, ONLY_TAG from BENCH_ONLY
STEM=$OUTDIR/http-$DATE${ONLY_TAG:+-$ONLY_TAG}$([ "$SMOKE" = 1 ] && echo -smoke || :) # a partial run keeps off the full table
MD=$STEM.md
JSON=$STEM.json

WORK=$(mktemp -d)
: >"$WORK/results" # lines: prog metric value
: >"$WORK/notes"   # lines: free text
: >"$WORK/status"  # lines: prog phase status text
: >"$WORK/cmds"    # lines: exact commands, one per kind
: >"$WORK/olruns"  # lines: prog key {openloop's JSON of one repeat}
declare -A BIN WHY PORT
SPID=""    # the server now running
DIED=""    # why it died (set by died)
HOLDPID="" # the idle-connection holder now running

cleanup() {
    stop_pid "$HOLDPID"
    HOLDPID=""
    stop_pid "$SPID"
    SPID=""
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

need_tools wrk curl taskset python3

# ---- CPUs, file descriptors --------------------------------------------------

arena_pinning # SCPU LCPU PINNING SPIN LPIN
raise_nofile  # NOFILE
if [ "$IDLE_CONNS" -gt 0 ] && [ "$NOFILE" -lt $((IDLE_CONNS + 64)) ]; then
    IDLE_CONNS=$((NOFILE - 64))
    note "ulimit -n is $NOFILE: the memory test holds only $IDLE_CONNS connections"
fi

# ---- build -------------------------------------------------------------------

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
BUILD_T0=$(date +%s)
arena_build # BIN[p] or WHY[p]: weft's tfb, the Go peers, the Rust peers

HOLDCONNS=""
if [ "$IDLE_CONNS" -gt 0 ]; then
    CC=${CC:-cc}
    if build holdconns "$WORK/build-holdconns.log" "$CC" -O2 -std=c11 -Wall \
        -o "$WORK/holdconns" bench/tools/holdconns.c; then
        HOLDCONNS=$WORK/holdconns
    else
        note "bench/tools/holdconns.c did not build: no memory-per-connection numbers"
    fi
fi

OPENLOOP=""
if [ "$LAT_DURATION" -gt 0 ]; then
    CC=${CC:-cc}
    if build openloop "$WORK/build-openloop.log" "$CC" -O2 -std=c11 -Wall -Wextra \
        -o "$WORK/openloop" bench/tools/openloop.c; then
        OPENLOOP=$WORK/openloop
    else
        note "bench/tools/openloop.c did not build: no openloop latency numbers"
    fi
fi

OHA=""
if [ "$OHA_DURATION" -gt 0 ]; then
    for c in "$HOME/.cargo/bin/oha" "$(command -v oha 2>/dev/null || true)"; do
        if [ -n "$c" ] && [ -x "$c" ] && "$c" --version 2>/dev/null | grep -q " $OHA_VERSION\$"; then
            OHA=$c
            break
        fi
    done
    if [ -z "$OHA" ]; then
        if command -v cargo >/dev/null 2>&1 &&
            build oha "$WORK/build-oha.log" cargo install oha --version "$OHA_VERSION" --locked; then
            OHA=$HOME/.cargo/bin/oha
        else
            note "oha $OHA_VERSION could not be installed: no latency numbers"
        fi
    fi
fi
BUILD_SECONDS=$(($(date +%s) - BUILD_T0))
log "builds took ${BUILD_SECONDS}s"
# the runs need the machine to themselves: say so when something else is busy
LOAD_RUNS=$(cut -d' ' -f1-3 /proc/loadavg)
BUSY=$(busy_pct)
if [ "$BUSY" -gt 10 ]; then
    note "the machine was busy when the runs started ($BUSY% of the CPUs used by other processes; load average $LOAD_RUNS): they compete with the benchmark and the numbers are noisy"
fi

for p in "${PROGS[@]}"; do
    if [ -z "${BIN[$p]}" ]; then status "$p" build "${WHY[$p]}"; fi
done

# ---- server control ------------------------------------------------------------

i=0
for p in "${ALL_PROGS[@]}"; do PORT[$p]=$((BASE_PORT + i)); i=$((i + 1)); done
check_port_range "$BASE_PORT" $((BASE_PORT + i - 1))

server_cmd() { # prog -> the command line, in the array SCMD
    local p=$1
    case $p in
    weft) SCMD=("${BIN[$p]}" --port "${PORT[$p]}" --workers 1) ;;
    nethttp | fiber) SCMD=(env GOMAXPROCS=1 "${BIN[$p]}" "${PORT[$p]}") ;;
    *) SCMD=("${BIN[$p]}" "${PORT[$p]}") ;;
    esac
}

# check PROG: curl each endpoint; prints the reason of the first failure
check_endpoint() { # port path want_body want_ctype
    local port=$1 path=$2 want_body=$3 want_ctype=$4
    http_get "$port" "$path" || return 1
    if [ "$(tr -d ' \n\t' <<<"$RESP_BODY")" != "$(tr -d ' \n\t' <<<"$want_body")" ]; then echo "$path: body is '$(head -c 80 <<<"$RESP_BODY")', not '$want_body'"; return 1; fi
    check_head "$path" "$want_ctype"
}
check_server() { # prog -> 0 or prints the reason
    local port=${PORT[$1]} why
    why=$(check_endpoint "$port" /plaintext "Hello, World!" text/plain) || { echo "$why"; return 1; }
    why=$(check_endpoint "$port" /json '{"message":"Hello, World!"}' application/json) || { echo "$why"; return 1; }
    return 0
}

# ---- phase 1: correctness check and memory -------------------------------------

declare -A OK
for p in "${PROGS[@]}"; do
    OK[$p]=0
    [ -n "${BIN[$p]}" ] || { log "skipping $p: ${WHY[$p]}"; continue; }
    log "$p: start, idle memory, check"
    start_server "$p" start || { log "$p: $(awk -v p="$p" '$1 == p { $1 = $2 = ""; s = $0 } END { print s }' "$WORK/status")"; continue; }
    idle=$(rss_kb "$SPID")
    result "$p" rss_idle_kb "$idle"
    result "$p" threads_idle "$(awk '/^Threads:/ { print $2 }' "/proc/$SPID/status")"
    if ! why=$(check_server "$p"); then
        log "$p fails the check: $why"
        status "$p" check "fails the check: $why"
        stop_server
        continue
    fi
    OK[$p]=1
    if [ -n "$HOLDCONNS" ]; then
        log "$p: $IDLE_CONNS idle keep-alive connections"
        echo "holder: ${LPIN[*]} holdconns 127.0.0.1 PORT $IDLE_CONNS /plaintext 60 120" >>"$WORK/cmds"
        : >"$WORK/hold.out"
        t0=$(date +%s.%N)
        "${LPIN[@]}" "$HOLDCONNS" 127.0.0.1 "${PORT[$p]}" "$IDLE_CONNS" /plaintext 60 120 >"$WORK/hold.out" 2>&1 &
        HOLDPID=$!
        for ((i = 0; i < 700; i++)); do
            grep -q '^READY' "$WORK/hold.out" && break
            kill -0 "$HOLDPID" 2>/dev/null || break
            sleep 0.1
        done
        setup_s=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
        read -r _ held _ failed rest < <(grep '^held' "$WORK/hold.out" || echo "held 0 failed $IDLE_CONNS")
        sleep 1 # let the server finish any lazy allocation
        if alive && [ "${held:-0}" -gt 0 ]; then
            with=$(rss_kb "$SPID")
            fds=$(find "/proc/$SPID/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
            result "$p" rss_conns_kb "$with"
            result "$p" conns_held "$held"
            result "$p" conns_failed "$failed"
            result "$p" conns_setup_s "$setup_s"
            result "$p" server_fds_with_conns "$fds"
            result "$p" threads_with_conns "$(awk '/^Threads:/ { print $2 }' "/proc/$SPID/status")"
            result "$p" kb_per_conn "$(awk -v a="$idle" -v b="$with" -v n="$held" 'BEGIN { printf "%.3f", (b - a) / n }')"
            [ "$failed" -eq 0 ] || note "$p: $failed of $IDLE_CONNS idle connections failed (${rest:-no reason given}); KB/connection is over the $held held"
        else
            DIED=""
            alive || { died "$p"; DIED="; $DIED"; }
            status "$p" memory "idle-connection test failed: $(head -n 1 "$WORK/hold.out" | cut -c1-160)$DIED"
        fi
        stop_pid "$HOLDPID"
        HOLDPID=""
        pc=$(awk '/^closed/ { print $4 }' "$WORK/hold.out")
        [ -z "$pc" ] || [ "$pc" -eq 0 ] || note "$p: the server had closed $pc of the idle connections by the end of the memory test"
    fi
    stop_server
done

# ---- phase 2: throughput (wrk, closed loop) -------------------------------------

BENCH_RUNS=${BENCH_RUNS:-plaintext json pipelined}
read -r -a RUNS <<<"${BENCH_RUNS//,/ }"
for run in "${RUNS[@]}"; do
    case $run in plaintext | json | pipelined) ;; *) echo "run-http: BENCH_RUNS: no run '$run' (plaintext json pipelined)" >&2; exit 2 ;; esac
done

wrk_args() { # run port -> WRK array
    local run=$1 port=$2
    case $run in
    plaintext) WRK=(-H "Host: localhost" -H "$TFB_ACCEPT_TEXT" -H "Connection: keep-alive" "http://127.0.0.1:$port/plaintext") ;;
    json) WRK=(-H "Host: localhost" -H "$TFB_ACCEPT_JSON" -H "Connection: keep-alive" "http://127.0.0.1:$port/json") ;;
    pipelined) WRK=(-H "Host: localhost" -H "$TFB_ACCEPT_TEXT" -H "Connection: keep-alive" -s "$ROOT/bench/tools/pipeline.lua" "http://127.0.0.1:$port/plaintext" -- "$PIPELINE") ;;
    esac
}
run_wrk() { # seconds run port outfile
    wrk_args "$2" "$3"
    wrk_run "$1" "$4" "${WRK[@]}"
}

# Rounds: each round every program once, on a fresh server; round r starts
# (r-1) programs further down the list and even rounds run the list
# backwards. result() records the round; the medians go to $WORK/results
# after the last round (bench/tools/arena_report.py: aggregate_rounds).
result_plain() { echo "$1 $2 $3" >>"$WORK/results"; }
result() { echo "$ROUND $1 $2 $3" >>"$WORK/results.rounds"; }
: >"$WORK/results.rounds"
NP=${#PROGS[@]}
for ((ROUND = 1; ROUND <= ROUNDS; ROUND++)); do
    ORDER=()
    for ((k = 0; k < NP; k++)); do ORDER+=("${PROGS[$(((k + ROUND - 1) % NP))]}"); done
    if [ $((ROUND % 2)) -eq 0 ]; then
        REV=()
        for ((k = NP - 1; k >= 0; k--)); do REV+=("${ORDER[$k]}"); done
        ORDER=("${REV[@]}")
    fi
    echo "round $ROUND: ${ORDER[*]}" >>"$WORK/order"
    log "throughput round $ROUND of $ROUNDS: ${ORDER[*]}"
    for p in "${ORDER[@]}"; do
        [ "${OK[$p]}" = 1 ] || continue
        log "$p: throughput (wrk), round $ROUND"
        start_server "$p" throughput || continue
        for run in "${RUNS[@]}"; do
            arena_wrk "$p" "$run" "${PORT[$p]}" || { [ $? -eq 2 ] && break; continue; }
            log "$p $run: $WRK_RPS req/s, errors $WRK_SERR, non-2xx $WRK_NON2XX, wrk CPU ${WRK_LOADGEN_PCT:-?}% of its core"
        done
        stop_server
    done
done
PYTHONPATH="$ROOT/bench/tools" python3 -c 'import sys, arena_report; arena_report.aggregate_rounds(sys.argv[1])' "$WORK"
result() { result_plain "$@"; }

# ---- phase 3: latency (openloop, open loop at 50% and 90% of the best peer) ---

BEST_PEER=""
BEST_RPS=""
read -r BEST_PEER BEST_RPS < <(awk '$2 == "wrk_plaintext_rps" && $1 != "weft" && $3 > best { best = $3; who = $1 }
    END { if (who != "") print who, best }' "$WORK/results") || true
pct_rate() { awk -v r="$BEST_RPS" -v p="$1" 'BEGIN { printf "%d", r * p / 100 }'; }
if [ -z "$BEST_RPS" ] && { [ -n "$OPENLOOP" ] || [ -n "$OHA" ]; }; then
    note "no peer's /plaintext wrk rate in this run (none ran): no latency runs"
fi
LAT_RATES=()
if [ -n "$OPENLOOP" ] && [ -n "$BEST_RPS" ]; then
    LAT_RATES=("50:$(pct_rate 50)" "90:$(pct_rate 90)")
fi
LAT_PATHS=(plaintext)
[ "$LAT_JSON" = 1 ] && LAT_PATHS+=(json)

if [ "${#LAT_RATES[@]}" -gt 0 ]; then
    for p in "${PROGS[@]}"; do
        [ "${OK[$p]}" = 1 ] || continue
        log "$p: latency (openloop at ${LAT_RATES[*]} req/s, ${LAT_REPEAT}x each)"
        start_server "$p" openloop || continue
        # the same warm-up as before the wrk and oha runs
        [ "$WARMUP" -gt 0 ] && { run_wrk "$WARMUP" plaintext "${PORT[$p]}" "$WORK/warm.out" || true; }
        # the lower rate first on both paths: an overloaded run at 90% leaves some
        # servers slower for a while, and must not colour the 50% runs
        for pr in "${LAT_RATES[@]}"; do
            for path in "${LAT_PATHS[@]}"; do
                pct=${pr%%:*}
                rate=${pr#*:}
                key=openloop_${path}_$pct
                [ -n "$SPID" ] || { status "$p" "$key" "not run: the server had died"; continue; }
                [ "$p" != "${PROGS[0]}" ] || [ "$path" != plaintext ] || [ "$pct" != 50 ] ||
                    echo "openloop: ${LPIN[*]} openloop 127.0.0.1 PORT /$path RATE $LAT_DURATION $LAT_CONNS $LAT_WARMUP (RATE 50% and 90% of the best peer; /plaintext$([ "$LAT_JSON" = 1 ] && echo " and /json"); $LAT_REPEAT run(s) of each against the same server, the median reported)" >>"$WORK/cmds"
                for ((rep = 1; rep <= LAT_REPEAT; rep++)); do
                    alive || { died "$p"; status "$p" "$key" "$DIED (before run $rep of $LAT_REPEAT)"; break; }
                    sleep 1 # let the server settle after the previous run
                    rc=0
                    timeout $((LAT_DURATION + LAT_WARMUP + 30)) "${LPIN[@]}" "$OPENLOOP" 127.0.0.1 "${PORT[$p]}" "/$path" \
                        "$rate" "$LAT_DURATION" "$LAT_CONNS" "$LAT_WARMUP" >"$WORK/ol.json" 2>"$WORK/ol.err" || rc=$?
                    if [ "$rc" -ne 0 ] || ! python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$WORK/ol.json" 2>/dev/null; then
                        status "$p" "$key" "openloop run $rep exit $rc: $(cat "$WORK/ol.err" "$WORK/ol.json" | tail -n 1 | cut -c1-160)"
                        continue
                    fi
                    echo "$p $key $(head -n 1 "$WORK/ol.json")" >>"$WORK/olruns"
                    log "$p openloop /$path at $pct% ($rate req/s), run $rep/$LAT_REPEAT: $(head -n 1 "$WORK/ol.json")"
                done
                # the median of each number over the repeats that ran
                python3 - "$WORK/olruns" "$p" "$key" "$LAT_REPEAT" >>"$WORK/results" <<'EOF'
import json, statistics, sys
f, prog, key, want = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
runs = []
for line in open(f):
    p, k, j = line.split(" ", 2)
    if p == prog and k == key:
        runs.append(json.loads(j))
if not runs:
    sys.exit(0)
def put(m, v):
    print(prog, f"{key}_{m}", v)
med = lambda n: round(statistics.median(r[n] for r in runs), 3)
put("target_rps", runs[0]["target_rps"])
put("p50_ms", med("p50_ms"))
put("p90_ms", med("p90_ms"))
put("p99_ms", med("p99_ms"))
put("p99.9_ms", med("p999_ms"))
put("max_ms", max(r["max_ms"] for r in runs))
put("achieved_rps", med("achieved_rps"))
put("achieved_rps_min", min(r["achieved_rps"] for r in runs))
put("errors", sum(r["errors"] for r in runs))
put("non2xx", sum(r["non2xx"] for r in runs))
put("measured", sum(r["measured"] for r in runs))
put("repeats", len(runs))
if len(runs) < want:
    put("repeats_missing", want - len(runs))
EOF
                log "$p openloop /$path at $pct% ($rate req/s), median of the runs: $(awk -v p="$p" -v k="${key}_" '$1 == p && index($2, k) == 1 { sub(k, "", $2); printf "%s=%s ", $2, $3 }' "$WORK/results")"
            done
        done
        stop_server
    done
fi

# ---- phase 4: latency (oha, open loop, by default at 50% of the best peer) -----

OHA_RATES=()
if [ -n "$OHA" ] && [ -n "$BEST_RPS" ]; then
    for pct in "${OHA_PCT_LIST[@]}"; do OHA_RATES+=("$pct:$(pct_rate "$pct")"); done
fi
OHA_PATHS=(plaintext)
[ "$OHA_JSON" = 1 ] && OHA_PATHS+=(json)
OHA_FMT=()
if [ -n "$OHA" ]; then
    if "$OHA" --help 2>&1 | grep -q -- '--output-format'; then OHA_FMT=(--output-format json); else OHA_FMT=(-j); fi
fi

if [ "${#OHA_RATES[@]}" -gt 0 ]; then
    for p in "${PROGS[@]}"; do
        [ "${OK[$p]}" = 1 ] || continue
        log "$p: latency (oha at ${OHA_RATES[*]} req/s)"
        start_server "$p" oha || continue
        # the same warm-up as before the wrk and openloop runs
        [ "$WARMUP" -gt 0 ] && { run_wrk "$WARMUP" plaintext "${PORT[$p]}" "$WORK/warm.out" || true; }
        for pr in "${OHA_RATES[@]}"; do # the lower rate first, as for openloop
            for path in "${OHA_PATHS[@]}"; do
                pct=${pr%%:*}
                rate=${pr#*:}
                [ -n "$SPID" ] || { status "$p" "oha_${path}_$pct" "not run: the server had died"; continue; }
                alive || { died "$p"; status "$p" "oha_${path}_$pct" "$DIED"; continue; }
                OHA_CMD=("$OHA" --no-tui "${OHA_FMT[@]}" --latency-correction -q "$rate" -z "${OHA_DURATION}s"
                    -c "$OHA_CONNS" "http://127.0.0.1:${PORT[$p]}/$path")
                [ "$p" != "${PROGS[0]}" ] || [ "$path" != plaintext ] || [ "$pr" != "${OHA_RATES[0]}" ] ||
                    echo "oha: ${LPIN[*]} ${OHA_CMD[*]/${PORT[$p]}/PORT} (rate ${OHA_PCT_LIST[*]/%/%} of the best peer)" >>"$WORK/cmds"
                rc=0
                timeout $((OHA_DURATION + 60)) "${LPIN[@]}" "${OHA_CMD[@]}" >"$WORK/oha.json" 2>"$WORK/oha.err" || rc=$?
                if [ "$rc" -ne 0 ]; then
                    status "$p" "oha_${path}_$pct" "oha exit $rc: $(tail -n 1 "$WORK/oha.err" | cut -c1-160)"
                    continue
                fi
                if ! python3 - "$WORK/oha.json" "$p" "oha_${path}_$pct" >>"$WORK/results" 2>"$WORK/oha.parse" <<'EOF'; then
import json, sys
f, prog, key = sys.argv[1:4]
d = json.load(open(f))
s = d.get("summary", {})
lp = d.get("latencyPercentiles", {})
def put(m, v):
    if v is not None:
        print(prog, key + "_" + m, v)
ms = lambda v: None if v is None else round(v * 1000, 4)
put("p50_ms", ms(lp.get("p50")))
put("p99_ms", ms(lp.get("p99")))
put("p99.9_ms", ms(lp.get("p99.9")))
put("achieved_rps", round(s.get("requestsPerSec", 0), 1))
codes = d.get("statusCodeDistribution", {}) or {}
put("responses", sum(codes.values()))
put("non2xx", sum(v for k, v in codes.items() if not str(k).startswith("2")))
put("errors", sum((d.get("errorDistribution", {}) or {}).values()))
put("success_rate", s.get("successRate"))
errs = d.get("errorDistribution", {}) or {}
if errs:
    top = max(errs, key=errs.get)
    put("top_error", f"{errs[top]}x " + " ".join(str(top).split())[:120])
EOF
                    status "$p" "oha_${path}_$pct" "could not read oha's JSON: $(tail -n 1 "$WORK/oha.parse")"
                    continue
                fi
                result "$p" "oha_${path}_${pct}_target_rps" "$rate"
                log "$p oha $path at $pct% ($rate req/s): $(awk -v p="$p" -v k="oha_${path}_${pct}_" '$1 == p && index($2, k) == 1 { sub(k, "", $2); printf "%s=%s ", $2, $3 }' "$WORK/results")"
            done
        done
        stop_server
    done
fi
RUN_SECONDS=$(($(date +%s) - BUILD_T0 - BUILD_SECONDS))
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- machine, versions ----------------------------------------------------------

{
    arena_meta # date, machine, pinning, go/rustc/cargo/cc/wrk, commit, command, env, clk_tck
    echo "oha=$([ -n "$OHA" ] && first_out "$OHA" --version || echo "not installed")"
    echo "openloop=$([ -n "$OPENLOOP" ] && echo "bench/tools/openloop.c (built here with ${CC:-cc} -O2 -std=c11 -Wall -Wextra)" || echo "not built")"
    echo "duration=$DURATION"
    echo "warmup=$WARMUP"
    echo "conns=$CONNS"
    echo "pipeline=$PIPELINE"
    echo "runs=${RUNS[*]}"
    echo "idle_conns=$IDLE_CONNS"
    echo "oha_duration=$OHA_DURATION"
    echo "oha_conns=$OHA_CONNS"
    echo "oha_rates=${OHA_PCT_LIST[*]}"
    echo "lat_duration=$LAT_DURATION"
    echo "lat_warmup=$LAT_WARMUP"
    echo "lat_repeat=$LAT_REPEAT"
    echo "lat_conns=$LAT_CONNS"
    echo "rounds=$ROUNDS"
    echo "smoke=$SMOKE"
    echo "round_order=$(tr '\n' ';' <"$WORK/order" 2>/dev/null | sed 's/;$//')"
    echo "best_peer=$BEST_PEER"
    echo "best_peer_rps=$BEST_RPS"
    echo "build_seconds=$BUILD_SECONDS"
    echo "run_seconds=$RUN_SECONDS"
    echo "loadavg=at start $LOAD_START; when the runs started $LOAD_RUNS (CPUs ${BUSY}% busy with other work); at the end $LOAD_END (CPUs $(busy_pct)% busy)"
} >"$WORK/meta"
arena_versions # crates (Cargo.lock) and Go modules actually used: $WORK/crates, $WORK/gomods

# ---- tables ---------------------------------------------------------------------

mkdir -p "$OUTDIR"
PYTHONPATH="$ROOT/bench/tools" python3 - "$WORK" "$MD" "$JSON" "${PROGS[*]}" <<'EOF'
import json, sys
from arena_report import Arena, LABEL
work, md_path, json_path, progs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split()
A = Arena(work, progs)
meta, res, status, notes, cmds, crates, gomods = A.meta, A.res, A.status, A.notes, A.cmds, A.crates, A.gomods
get, fmt, ratio, fr, table, w = A.get, A.fmt, A.ratio, A.fr, A.table, A.w
olruns = {}
for l in open(f"{work}/olruns"):
    p, k, j = l.split(" ", 2)
    olruns.setdefault(p, {}).setdefault(k[len("openloop_"):], []).append(json.loads(j))

w(f"# weft HTTP arena, {meta['date']}" + (" — SMOKE RUN, not for publishing" if meta.get("smoke") == "1" else ""))
w("")
if meta.get("smoke") == "1":
    w("**Smoke run (BENCH_SMOKE=1)**: it shows that every program builds, passes the check and "
      "runs every phase; the machine was shared with other work and the runs were short, so the "
      "figures below are not measurements to quote.")
    w("")
w("weft's TechEmpower app against five peers, built and run in the same session by "
  "`bench/run-http.sh`, one program after another, each single-threaded as far as it "
  f"allows. {meta['pinning']}. Every phase (memory, throughput, latency) starts a fresh server.")
w("")
w("**Ratio to weft = program / weft** in every table. For throughput (req/s) a ratio "
  "> 1 means the program is *faster* than weft; for CPU per request, latency and memory "
  "a ratio > 1 means the program *uses more* (weft is better).")
w("")
na = A.not_measured()
if na:
    w("Not measured (n/a everywhere):")
    w("")
    for p in na:
        w(f"- {LABEL[p]}: {A.why_na(p)}")
    w("")

D, C, PL = meta["duration"], meta["conns"], meta["pipeline"]
R = int(meta["rounds"])
THR = [("plaintext", "/plaintext"), ("json", "/json"), ("pipelined", f"/plaintext pipelined ×{PL}")]
THR = [t for t in THR if t[0] in meta.get("runs", "plaintext json pipelined").split()]  # BENCH_RUNS
w(f"**Throughput: {R} round(s)** (BENCH_ROUNDS). Each round runs every program once on a fresh server; "
  "the order rotates by one program per round and even rounds run it backwards "
  f"({meta.get('round_order', '')}). Each cell: the median of the rounds, (min–max) over the rounds, "
  "and against weft the ratio of the medians. **parity**: the program's min–max overlaps weft's, so "
  "the difference is inside the noise band of this run and no ratio should be quoted for it; "
  "faster/slower (less/more for CPU): the ranges do not overlap."
  + ("" if R >= 2 else " With one round there is no noise band: no verdicts."))
w("")
A.rounds_matrix(f"Throughput, req/s (wrk -t1 -c{C}, {D} s, closed loop)", THR, "wrk_{run}_rps", "rps", True,
                "Higher is better; ratio > 1: the program is faster than weft.")
A.rounds_matrix("Server CPU per request, µs (during the wrk runs above)", THR, "wrk_{run}_cpu_us_per_req", "f", False,
                f"utime+stime of the server process (/proc/PID/stat, CLK_TCK={meta['clk_tck']}) over the "
                "run, divided by the requests wrk completed. Lower is better; ratio > 1: the program "
                "spends more CPU per request than weft.")
A.rounds_matrix("Load generator: wrk's own CPU, % of its one core", THR, "wrk_{run}_loadgen_cpu_pct", "f", False,
                "user+system time of the wrk process over the run (bash's time) / the run's length. wrk -t1 "
                "has one core: near 100% it, not the server, sets the pace, and the req/s of the fastest "
                "servers then say more about wrk than about them.")
A.rounds_matrix("Load generator: wrk's own CPU per request, µs", THR, "wrk_{run}_loadgen_cpu_us_per_req", "f", False)
A.matrix("Socket errors (median over the rounds)", THR, "wrk_{run}_socket_errors", "int", ratio=False)
A.matrix("Non-2xx answers (median over the rounds)", THR, "wrk_{run}_non2xx", "int", ratio=False)

def lat_key_order(k):
    path, pct = k.split("_")
    return (path != "plaintext", int(pct))

ol_keys = sorted({m.split("_")[1] + "_" + m.split("_")[2] for p in res for m in res[p] if m.startswith("openloop_")},
                 key=lat_key_order)
REP = meta["lat_repeat"]
RUNS_TXT = f"median of {REP} runs" if REP != "1" else "one run (BENCH_LAT_REPEAT=1: no median)"
for k in ol_keys:
    path, pct = k.split("_")
    target = next((get(p, f"openloop_{k}_target_rps") for p in progs if get(p, f"openloop_{k}_target_rps")), None)
    table(f"Latency (openloop): /{path} at {pct}% of the best peer ({fmt(target, 'rps')} req/s, open loop, {RUNS_TXT})",
          [("p50 ms", f"openloop_{k}_p50_ms", "f", True),
           ("p90 ms", f"openloop_{k}_p90_ms", "f", True),
           ("p99 ms", f"openloop_{k}_p99_ms", "f", True),
           ("p99.9 ms", f"openloop_{k}_p99.9_ms", "f", True),
           ("achieved req/s", f"openloop_{k}_achieved_rps", "rps", False),
           ("errors", f"openloop_{k}_errors", "int", False),
           ("non-2xx", f"openloop_{k}_non2xx", "int", False)],
          f"`openloop 127.0.0.1 PORT /{path} {fmt(target, 'int').replace(',', '')} {meta['lat_duration']} {meta['lat_conns']} {meta['lat_warmup']}` "
          f"(bench/tools/openloop.c: one thread, epoll, {meta['lat_conns']} keep-alive connections with one request in flight each; "
          f"{meta['lat_duration']} s measured after {meta['lat_warmup']} s of warm-up; each latency counts from the request's "
          "*scheduled* send time, so a stall is charged to every request that should have gone out meanwhile). "
          f"The rate is {pct}% of the best peer's (not weft's) /plaintext wrk rate in this run "
          f"({LABEL.get(meta['best_peer'], meta['best_peer'])}, {fmt(float(meta['best_peer_rps'] or 0), 'rps')} req/s). "
          + (f"**Each run is repeated {REP} times against the same server; every percentile and the achieved rate are the "
             f"MEDIAN over the {REP} runs** (single p99s on this shared VM vary 2-3×); errors and non-2xx are summed over "
             "the runs (warm-up included). The per-run numbers are in the JSON file (openloop_runs). "
             if REP != "1" else
             "**One run only (BENCH_LAT_REPEAT=1)**: single p99s on this shared VM vary 2-3×, so these percentiles are "
             "noisy (the default is the median of 3 runs); errors and non-2xx include the warm-up. ")
          + "Lower is better; ratio > 1: the program's latency is higher than weft's.")
    behind = []
    for p in progs:
        lo = get(p, f"openloop_{k}_achieved_rps_min")
        if target and lo is not None and lo < 0.95 * target:
            n = sum(1 for r in olruns.get(p, {}).get(k, []) if r["achieved_rps"] < 0.95 * target)
            behind.append(f"{LABEL[p]} (lowest run {lo / target:.0%}; {n} of {fmt(get(p, f'openloop_{k}_repeats'), 'int')} runs)")
    if behind:
        w("**Below 95% of the target rate** in at least one run (achieved/target; those runs' percentiles "
          "include queueing in the server or in the load generator and are not comparable): " + ", ".join(behind) + ".")
        w("")
    short = [f"{LABEL[p]} ({fmt(get(p, f'openloop_{k}_repeats'), 'int')} of {REP})" for p in progs
             if get(p, f"openloop_{k}_repeats_missing")]
    if short:
        w("**Fewer runs than asked** (the median is over those that ran): " + ", ".join(short) + ".")
        w("")
if not ol_keys:
    w("## Latency (openloop)")
    w("")
    w("No openloop latency runs (openloop did not build, BENCH_LAT_DURATION=0, or no peer rate to base them on).")
    w("")

oha_keys = sorted({m.split("_")[1] + "_" + m.split("_")[2] for p in res for m in res[p] if m.startswith("oha_")},
                  key=lat_key_order)
oha_pcts = meta["oha_rates"].split()
for k in oha_keys:
    path, pct = k.split("_")
    target = next((get(p, f"oha_{k}_target_rps") for p in progs if get(p, f"oha_{k}_target_rps")), None)
    table(f"Latency (oha): /{path} at {pct}% of the best peer ({fmt(target, 'rps')} req/s, oha open loop, one run)",
          [("p50 ms", f"oha_{k}_p50_ms", "f", True),
           ("p99 ms", f"oha_{k}_p99_ms", "f", True),
           ("p99.9 ms", f"oha_{k}_p99.9_ms", "f", True),
           ("achieved req/s", f"oha_{k}_achieved_rps", "rps", False),
           ("errors", f"oha_{k}_errors", "int", False),
           ("non-2xx", f"oha_{k}_non2xx", "int", False)],
          f"oha --latency-correction -q {fmt(target, 'int')} -z {meta['oha_duration']}s -c {meta['oha_conns']}: "
          f"the rate is {pct}% of the best peer's (not weft's) /plaintext wrk rate in this run "
          f"({LABEL.get(meta['best_peer'], meta['best_peer'])}, {fmt(float(meta['best_peer_rps'] or 0), 'rps')} req/s). "
          "Lower is better; ratio > 1: the program's latency is higher than weft's. "
          "An achieved rate well below the target means the server (or oha) could not keep up. "
          "A secondary check on the openloop tables above, which are the primary latency result: oha pinned to "
          "one core tops out at ~35-45k req/s on this machine, below 90% of the best peer's rate. "
          + ("So by default it runs only at 50% (BENCH_OHA_RATES=\"50 90\" adds 90%)." if oha_pcts == ["50"] else
             f"It ran at {' and '.join(x + '%' for x in oha_pcts)} here (BENCH_OHA_RATES); where its achieved rate "
             "falls short of the target, its rows measure oha's own queue rather than the server's latency."))
    behind = [f"{LABEL[p]} ({get(p, f'oha_{k}_achieved_rps') / target:.0%})" for p in progs
              if target and get(p, f"oha_{k}_achieved_rps") is not None
              and get(p, f"oha_{k}_achieved_rps") < 0.95 * target]
    if behind:
        w("**Below 95% of the target rate** (achieved/target; these percentiles include "
          "queueing in the server or in oha and are not comparable): " + ", ".join(behind) + ".")
        w("")
if not oha_keys:
    w("## Latency (oha)")
    w("")
    w("No oha latency runs (oha missing, BENCH_OHA_DURATION=0, or no peer rate to base them on).")
    w("")

table(f"Memory: idle, and with {meta['idle_conns']} idle keep-alive connections",
      [("threads", "threads_idle", "int", False),
       ("RSS idle MB", "rss_idle_kb", "mb", True),
       ("RSS with conns MB", "rss_conns_kb", "mb", False),
       ("KB/connection", "kb_per_conn", "f", True),
       ("connections held", "conns_held", "int", False),
       ("server fds", "server_fds_with_conns", "int", False)],
      "VmRSS (/proc/PID/status) right after start, before any request; then with the "
      "connections open, each having completed one GET /plaintext (bench/tools/holdconns.c). "
      "KB/connection = (RSS with − RSS idle) / connections held. Lower is better; ratio > 1: "
      "the program uses more memory than weft.")

A.failures()
A.versions(["go", "rustc", "cc", "wrk", "oha"],
           ["actix-web", "actix-http", "actix-server", "actix-rt", "axum", "hyper", "hyper-util", "tokio",
            "may", "may_minihttp", "yarte", "serde", "serde_json", "simd-json-derive", "mimalloc", "snmalloc-rs"],
           ["github.com/gofiber/fiber/v2", "github.com/valyala/fasthttp", "github.com/goccy/go-json"])
w(f"- load average (1, 5, 15 min): {meta['loadavg']}")
w(f"- builds took {meta['build_seconds']} s, the runs {meta['run_seconds']} s")
w("")
A.commands()
A.write_md(md_path)

doc = {
    "date": meta["date"],
    "machine": {k: meta[k] for k in ("cpu_model", "nproc", "kernel", "memory", "ulimit_n")},
    "pinning": meta["pinning"],
    "versions": {k: meta[k] for k in ("go", "rustc", "cargo", "cc", "wrk", "oha", "openloop")} |
                {"crates": crates, "go_modules": gomods},
    "weft_commit": meta["weft_commit"],
    "loadavg": meta["loadavg"],
    "command": meta["command"],
    "environment": meta["env"],
    "commands": cmds,
    "smoke": meta.get("smoke") == "1",
    "rounds": A.rounds,
    "round_order": meta.get("round_order", ""),
    "parity": {p: {m: A.verdict(p, m, m.endswith("_rps")) for m in A.rounds.get(p, {})
                   if m.endswith(("_rps", "_us_per_req", "_pct")) and A.verdict(p, m, m.endswith("_rps"))}
               for p in progs if p != "weft"},
    "settings": {k: meta[k] for k in ("rounds", "duration", "warmup", "conns", "pipeline", "idle_conns",
                                      "oha_duration", "oha_conns", "oha_rates", "lat_duration", "lat_warmup",
                                      "lat_repeat", "lat_conns", "clk_tck")},
    "oha_rate_basis": {"best_peer": meta["best_peer"], "plaintext_rps": meta["best_peer_rps"]},
    "latency_rate_basis": {"best_peer": meta["best_peer"], "plaintext_rps": meta["best_peer_rps"],
                           "openloop_percent": [50, 90], "oha_percent": [int(x) for x in oha_pcts]},
    "openloop_method": "metrics openloop_<path>_<pct>_*: p50/p90/p99/p99.9 and achieved_rps are the median over "
                       "the repeats (same server), max_ms the max, achieved_rps_min the lowest, errors/non2xx/measured "
                       "summed; openloop_runs holds every run's own numbers",
    "openloop_runs": {p: olruns.get(p, {}) for p in progs},
    "ratio_convention": "program/weft for every metric: for req/s > 1 means the program is faster than weft; "
                        "for CPU per request, latency and memory > 1 means the program uses more than weft",
    "results": {p: {"label": LABEL[p], "metrics": res.get(p, {}), "failures": status.get(p, {})} for p in progs},
    "ratios_to_weft": {p: {m: ratio(p, m) for m in res.get(p, {}) if ratio(p, m) is not None} for p in progs},
    "notes": list(dict.fromkeys(notes)),
    "build_seconds": int(meta["build_seconds"]),
    "run_seconds": int(meta["run_seconds"]),
}
json.dump(doc, open(json_path, "w"), indent=2)
EOF
cat "$MD"
echo
log "saved $MD and $JSON (builds ${BUILD_SECONDS}s, runs ${RUN_SECONDS}s)"
