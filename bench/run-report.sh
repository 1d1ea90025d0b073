#!/usr/bin/env bash
# bench/run-report.sh — `make bench`: the articles' Go-vs-Rust table measured
# on this machine, as bench/results/report.md and report.html
# (bench/tools/report.py). It runs the per-area scripts, each writing its own
# result file, and then the report over exactly the files this run wrote:
#
#   1 build      bench/run-build.sh      the article's /health server in C on
#                                        weft, Go, Rust: clean build, binary
#                                        size, idle RSS and after a burst
#   2 binsearch  bench/run-binsearch.sh  10M sorted u64, 1M lookups
#   3 json       bench/run-json.sh       1 MB parse (and the other documents)
#   4 http       bench/run-http.sh       plaintext, json: req/s, CPU/request
#   5 db         bench/run-db.sh         db, fortunes on PostgreSQL
#   then the GC case (bench/run-gc.sh) and the tracking hot path
#   (bench/run-tracking.sh) when those scripts exist and BENCH_WITH names
#   them; otherwise the report reads their newest committed result files, or
#   says the row was not measured.
#
# QUICK=1 (make bench-quick): short runs, fewer rounds and programs, and no
# clean build (binary size and memory are measured; the clean-build row comes
# from the newest build file that timed one, with its date, and the report
# says so) — budget 10 minutes once the peers are built (the first run also
# builds the Rust peers, several minutes more; measured time in docs/arena.md).
# Full: about 60 minutes. One progress line per step with the elapsed time
# and an estimate of what is left; each
# step's own output goes to build/bench-logs/<step>.log.
# Knobs: QUICK=1, BENCH_LABEL="busy machine" (said at the top of the report;
# set automatically when other work keeps the CPUs > 10 % busy at the start),
# BENCH_WITH="gc tracking", BENCH_STEPS="build binsearch json http db"
# (a subset; the report then takes the other rows from the newest files),
# BENCH_DB_POOLS=2,4,8,16 (the db step's pool sweep; default 4,8, quick 4:
# every size is a full pass of the step, so its budget grows with them and
# the full run no longer fits 60 minutes; `make bench-db` sweeps 2,4,8,16 on
# its own, docs/arena.md).
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
QUICK=${QUICK:-0}
LOGDIR=$ROOT/build/bench-logs
mkdir -p "$LOGDIR"
. "$ROOT/bench/lib.sh"
STEPS=(${BENCH_STEPS:-build binsearch json http db})
for w in ${BENCH_WITH:-}; do [ -f "bench/run-$w.sh" ] && STEPS+=("$w"); done
LABEL=${BENCH_LABEL:-}
BUSY=$(busy_pct)
if [ -z "$LABEL" ] && [ "$BUSY" -gt 10 ]; then LABEL="busy machine"; fi
T0=$(date +%s)
declare -A ENVS EST FILE
TOOK="" # "step MmSSs, ..." for the report
OVER="" # the steps that took longer than their budget (EST)
FAILED="" # the steps that wrote no result file: their rows come from older files
if [ "$QUICK" = 1 ]; then
    MODE="quick (QUICK=1: short runs, few rounds; not for publishing)"
    SMOKE=1
    # no clean build in quick mode (the three took 469 s of the 15m39s busy run):
    # size and memory only; the report takes the clean-build row from the
    # newest build file that timed one and names it with its date
    ENVS[build]="BENCH_BUILD_ROUNDS=0 BENCH_BURST_SECONDS=3"
    ENVS[binsearch]="BENCH_REPEAT=2"
    ENVS[json]="BENCH_REPEAT=3 BENCH_DOCS=feed"
    # no pipelined runs: the report has no row for them (a third of the step)
    ENVS[http]="BENCH_ROUNDS=3 BENCH_DURATION=3 BENCH_WARMUP=1 BENCH_IDLE_CONNS=0 BENCH_LAT_DURATION=0 BENCH_OHA_DURATION=0 BENCH_RUNS=plaintext,json BENCH_ONLY=weft,nethttp,fiber,actix,axum"
    DB_POOLS=${BENCH_DB_POOLS:-4}
    ENVS[db]="BENCH_ROUNDS=2 BENCH_DURATION=3 BENCH_WARMUP=1 BENCH_TESTS=db,fortunes BENCH_ONLY=weft,nethttp,fiber,actix,axum"
    ENVS[gc]="QUICK=1"
    ENVS[tracking]="QUICK=1"
    # each step's budget, s (printed with the step; overruns are named at the end).
    # Measured 2026-12-06 on the busy 2-core VM: build 469 s (the Rust clean build alone
    # 290 s), binsearch 43, json 87, http 217 (with the pipelined runs, a third of it),
    # db 123: 15m39s in all. Budget now 450 s = 7m30s.
    EST=([build]=40 [binsearch]=45 [json]=90 [http]=150 [db]=125 [gc]=180 [tracking]=180)
    DB_EST_PER_POOL=125
else
    MODE="full"
    SMOKE=0
    ENVS[build]="BENCH_BUILD_ROUNDS=3"
    ENVS[binsearch]="BENCH_REPEAT=5"
    ENVS[json]="BENCH_REPEAT=5"
    ENVS[http]="BENCH_ROUNDS=5 BENCH_LAT_DURATION=0 BENCH_OHA_DURATION=0"
    DB_POOLS=${BENCH_DB_POOLS:-4,8}
    ENVS[db]="BENCH_ROUNDS=3 BENCH_TESTS=db,fortunes"
    EST=([build]=300 [binsearch]=120 [json]=400 [http]=1500 [db]=1200 [gc]=1000 [tracking]=600)
    DB_EST_PER_POOL=600
fi
# the db step's pool sizes (commas or spaces in BENCH_DB_POOLS), passed on
# with commas (ENVS is split into words); the step runs every program and
# test once per size, so its budget is the per-size one above times the sizes
read -r -a db_pools <<<"${DB_POOLS//,/ }"
[ "${#db_pools[@]}" -gt 0 ] || { echo "run-report: BENCH_DB_POOLS is empty" >&2; exit 2; }
for n in "${db_pools[@]}"; do
    [[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "run-report: BENCH_DB_POOLS: '$n' is not a positive number" >&2; exit 2; }
done
ENVS[db]+=" BENCH_DB_POOLS=$(IFS=,; echo "${db_pools[*]}")"
EST[db]=$((DB_EST_PER_POOL * ${#db_pools[@]}))
for s in "${STEPS[@]}"; do
    [ -f "bench/run-$s.sh" ] || { echo "run-report: no step '$s' (bench/run-$s.sh)" >&2; exit 2; }
    [ -n "${EST[$s]:-}" ] || EST[$s]=300
done
left() { local s t=0; for s in "$@"; do t=$((t + EST[$s])); done; echo "$t"; }
mmss() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }
echo "make bench: $MODE; steps: ${STEPS[*]}; ${LABEL:+label: $LABEL; }CPUs ${BUSY}% busy at the start; estimate $(mmss "$(left "${STEPS[@]}")")"

n=${#STEPS[@]}
for ((i = 0; i < n; i++)); do
    s=${STEPS[$i]}
    el=$(($(date +%s) - T0))
    echo "[$((i + 1))/$n] $s: bench/run-$s.sh ${ENVS[$s]:-} (budget $(mmss "${EST[$s]}"); elapsed $(mmss $el), ETA $(mmss "$(left "${STEPS[@]:$i}")") left)"
    ts=$(date +%s)
    touch "$LOGDIR/.mark-$s"
    # shellcheck disable=SC2086 # ENVS holds VAR=value words
    env BENCH_SMOKE=$SMOKE BENCH_PORT=$((18610 + 12 * i)) ${ENVS[$s]:-} bash "bench/run-$s.sh" >"$LOGDIR/$s.log" 2>&1
    rc=$?
    # the result file this step wrote: the newest <step>-*.json after the mark
    FILE[$s]=$(find bench/results -maxdepth 1 -name "$s-*.json" -newer "$LOGDIR/.mark-$s" -printf '%T@ %p\n' |
        sort -n | tail -n 1 | cut -d' ' -f2-)
    took=$(($(date +%s) - ts))
    TOOK+="${TOOK:+, }$s $(mmss $took)"
    over=""
    [ "$took" -gt "${EST[$s]}" ] && over=", over its budget of $(mmss "${EST[$s]}")" && OVER+="${OVER:+, }$s"
    if [ -n "${FILE[$s]}" ]; then
        echo "      $s done in $(mmss $took)$over (exit $rc): ${FILE[$s]}"
    else
        FAILED+="${FAILED:+, }$s"
        echo "      $s wrote no result file (exit $rc, $(mmss $took)); last lines of $LOGDIR/$s.log:"
        tail -n 5 "$LOGDIR/$s.log" | sed 's/^/        /'
    fi
done

ARGS=()
for s in "${STEPS[@]}"; do [ -n "${FILE[$s]:-}" ] && ARGS+=("--$s" "${FILE[$s]}"); done
python3 bench/tools/report.py --mode "$MODE" --label "$LABEL" \
    --took "$(mmss $(($(date +%s) - T0))) on $(date -u +%F) ($TOOK; CPUs $BUSY % busy at the start${FAILED:+; FAILED, rows from older result files: $FAILED})" "${ARGS[@]}"
echo "make bench: done in $(mmss $(($(date +%s) - T0))) (budget $(mmss "$(left "${STEPS[@]}")")${OVER:+; over budget: $OVER}): bench/results/report.md, bench/results/report.html"
# a step that wrote nothing fails the run: its rows are older files' (the
# report says which), never this run's
if [ -n "$FAILED" ]; then
    echo "make bench: FAILED: $FAILED wrote no result file (logs in $LOGDIR)" >&2
    exit 1
fi
