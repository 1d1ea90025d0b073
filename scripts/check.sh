#!/usr/bin/env bash
# `make check`: the one-minute loop. Builds the plain tree (make -j2 all) and
# runs every unit test (tests/unit) on io_uring and on epoll, the two backends
# side by side (one process each: this machine has 2 cores), and beside them,
# once, the Python checks (names, layers, bench/tools, doc-figures). No
# PostgreSQL (db_pg needs one: `make test T=db_pg`), no downloads, no
# sanitizers, no fuzz replay; `make test` stays the full suite. Ends with
# "N passed, N failed".
#
#   make check                 everything above
#   make check T=chan          one file;  make check T=chan:NAME  one test; no
#                              Python checks (they read the tree, not the file)
#   PYCHECKS=1 make check T=x  ... with them;  PYCHECKS=0 make check: without
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
T=${T:-}
# the Python checks: asked for (1) or not (0); unset, a full make check runs
# them and a T= run does not (seconds of CPU that say nothing about one file)
PY=${PYCHECKS:-}
[ -z "$PY" ] && { [ -n "$T" ] && PY=0 || PY=1; }
case $PY in
0 | 1) ;;
*) echo "PYCHECKS=$PY: 1 (run the Python checks), 0 (skip them); unset, make check runs them and make check T=... does not"; exit 2 ;;
esac
BACKENDS=${BACKENDS:-"uring epoll"}
if [ "$(cat /proc/sys/kernel/io_uring_disabled 2>/dev/null || echo 0)" = 2 ]; then
    BACKENDS=${BACKENDS//uring/}
fi
mkdir -p build/test-logs
WERR=""; [ -n "${CI:-}" ] && WERR="WERROR=1"
if ! make -s -j"${JOBS:-2}" $WERR all >build/test-logs/check-build.log 2>&1; then
    echo "BUILD FAILED (plain):"; tail -30 build/test-logs/check-build.log
    echo "0 passed, 1 failed"
    exit 1
fi
echo "== built plain in $(( $(date +%s) - t0 )) s"
if [ -n "$T" ] && { [ "${T%%:*}" = db_pg ] || [ ! -x "build/tests/unit/${T%%:*}" ]; }; then
    echo "T=$T: no unit test file named '${T%%:*}' that runs without PostgreSQL (make check runs"
    echo "tests/unit but db_pg; make test T=${T%%:*} runs any tier, with PostgreSQL when needed)"
    echo "0 passed, 1 failed"
    exit 1
fi
# several tests of a file at once (tests/test_main.c): most slow tests wait on
# windows and deadlines, not the CPU; `make test` (and CI) run one at a time
export WEFT_TEST_JOBS=${WEFT_TEST_JOBS:-3}
pids=()
for be in $BACKENDS; do
    CHECK=1 PYCHECKS=0 BACKENDS=$be LOG=build/test-logs/check-$be bash scripts/test.sh >build/test-logs/check-$be.out 2>&1 &
    pids+=($!)
done
# they read the tree, not a build: once, not once per backend (a few seconds
# of CPU each time, mostly bench/tools' unit tests)
parts=$BACKENDS
if [ "$PY" = 1 ]; then
    PYCHECKS=only LOG=build/test-logs/check-py bash scripts/test.sh >build/test-logs/check-py.out 2>&1 &
    pids+=($!)
    parts="$parts py"
else
    echo "== no Python checks (names, layers, bench/tools, doc-figures): PYCHECKS=1 runs them"
fi
for p in "${pids[@]}"; do wait "$p"; done
passed=0 failed=0
for part in $parts; do
    out=build/test-logs/check-$part.out
    grep -v -E '^[0-9]+ passed, [0-9]+ failed$|^== suite took' "$out"
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out" | tail -1)
    if [ -n "$line" ]; then
        passed=$((passed + ${line%% *})); f=${line#*, }; failed=$((failed + ${f%% *}))
    else
        echo "  check's $part part ended without a summary (log: $out)"; failed=$((failed + 1))
    fi
done
echo "== make check took $(( $(date +%s) - t0 )) s"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
