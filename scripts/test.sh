#!/usr/bin/env bash
# The whole test suite: builds plain, ASan+UBSan and TSan trees, runs every
# test binary of tests/unit, tests/stress and tests/protocol (real server
# processes over real sockets: the examples, the example server's notes, the
# TFB app) on both I/O backends (io_uring and epoll), the script-level tests of
# tests/scripts once, replays the fuzz corpora, and ends with one line
# "N passed, N failed". Exit status is non-zero on any failure.
# tests/README.md describes the tiers.
#
#   scripts/test.sh                 everything
#   FLAVORS="plain" scripts/test.sh only the plain build
#   BACKENDS="uring" scripts/test.sh
#   T=chan scripts/test.sh          one file (a test binary, a tests/scripts
#                                   script or a fuzz target), every flavor
#   T=chan:NAME scripts/test.sh     one test of it (make test T=chan:NAME)
#   CHECK=1 scripts/test.sh         make check: the plain tree (already built),
#                                   unit tests only, no PostgreSQL, no downloads,
#                                   no fuzz (scripts/check.sh)
#   PYCHECKS=0 scripts/test.sh      without the Python checks (names, bench/tools,
#                                   doc-figures); PYCHECKS=only: those alone (make
#                                   check runs them once, beside its backend runs)
set -uo pipefail
cd "$(dirname "$0")/.."

CHECK=${CHECK:-}
PYCHECKS=${PYCHECKS:-1}
case $PYCHECKS in
0 | 1) ;;
only) CHECK=1 T="" ;; # no build, no test binary, no PostgreSQL: the block below the flavors
*) echo "PYCHECKS=$PYCHECKS: 1 (run the Python checks; the default), 0 (skip them) or only"; exit 2 ;;
esac
T=${T:-}
T_FILE=${T%%:*} T_TEST=""
[ "$T_FILE" != "$T" ] && T_TEST=${T#*:}
FLAVORS=${FLAVORS:-"plain asan tsan"}
[ -n "$CHECK" ] && FLAVORS=plain
[ "$PYCHECKS" = only ] && FLAVORS=""
BACKENDS=${BACKENDS:-"uring epoll"}
# A kernel with io_uring switched off (kernel.io_uring_disabled=2) runs the
# suite on epoll only, and says so.
if [ "$(cat /proc/sys/kernel/io_uring_disabled 2>/dev/null || echo 0)" = 2 ]; then
    echo "note: io_uring is disabled on this kernel; running on epoll only"
    BACKENDS=${BACKENDS//uring/}
fi
JOBS=${JOBS:-$(nproc)}
LOG=${LOG:-build/test-logs}
mkdir -p "$LOG"
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
# atexit_sleep_ms=0: TSan sleeps 1 s in every exiting process by default (to
# catch races at exit); every test is a process of its own now (test_main.c),
# which made the TSan cells 5-25x slower (chan: 37.6 s against 2.6 s)
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1:atexit_sleep_ms=0}
WERR=""; [ -n "${CI:-}" ] && WERR="WERROR=1"

passed=0; failed=0; failures=()
t_start=$(date +%s)
t_matched=0 # files T named that were run

# Whether file (a path; .sh dropped) is selected by T; counts the match.
want() { # file
    [ -z "$T" ] && return 0
    local b
    b=$(basename "$1"); b=${b%.sh}; b=${b%.c}
    [ "$b" = "$T_FILE" ] || return 1
    t_matched=$((t_matched + 1))
}
# The test names to pass to a binary T selected (T=file:NAME), else the given defaults.
names() { if [ -n "$T_TEST" ]; then echo "$T_TEST"; else echo "$@"; fi; }
# Whether a run needs the suite's PostgreSQL.
needs_pg() {
    [ -n "$CHECK" ] && return 1
    [ -z "$T" ] && return 0
    case $T_FILE in db_pg | example_server_pg | tfb) return 0 ;; esac
    # a unit test file with PostgreSQL halves (fleet_api, fleet_ingest, ...)
    [ -f "tests/unit/$T_FILE.c" ] && grep -q WEFT_TEST_PG "tests/unit/$T_FILE.c" && return 0
    return 1
}

record() { # name status(0/1)
    if [ "$2" -eq 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); failures+=("$1"); fi
}

build() { # flavor
    local san=""
    case $1 in asan) san="SAN=address" ;; tsan) san="SAN=thread" ;; esac
    local t0=$(date +%s)
    if ! make -s -j"$JOBS" $san $WERR all >"$LOG/build-$1.log" 2>&1; then
        echo "BUILD FAILED ($1):"; tail -30 "$LOG/build-$1.log"; return 1
    fi
    echo "== built $1 in $(( $(date +%s) - t0 )) s"
}

dir_of() { case $1 in plain) echo build ;; asan) echo build-asan ;; tsan) echo build-tsan ;; esac; }

# Run a test binary (or a tests/scripts script); its own "N passed, N failed"
# line is added to the totals. Test names after the tag: only those.
run_bin() { # flavor backend binary [tag: a second run of the same binary] [test names...]
    local name="$1/$2/$(basename "$3")${4:-}" out="$LOG/$1-$2-$(basename "$3")${4:-}.log" t0=$(date +%s)
    local only=("${@:5}")
    # sanitizer reports go to their own file: a test that redirects stderr
    # (to check a warning it prints) would otherwise swallow them
    rm -f "$out".san.*
    WEFT_IO=$2 TSAN_OPTIONS="$TSAN_OPTIONS:log_path=$out.san" \
        ASAN_OPTIONS="$ASAN_OPTIONS:log_path=$out.san" UBSAN_OPTIONS="$UBSAN_OPTIONS:log_path=$out.san" \
        timeout 600 "$3" "${only[@]}" >"$out" 2>&1
    local rc=$?
    local san
    for san in "$out".san.*; do [ -e "$san" ] && { echo "--- $san"; cat "$san"; } >>"$out"; done
    local line p f
    line=$(grep -E '^[A-Za-z0-9_.-]+: [0-9]+ passed, [0-9]+ failed$' "$out" | tail -1)
    if [ -n "$line" ]; then
        p=$(sed -E 's/.*: ([0-9]+) passed.*/\1/' <<<"$line"); f=$(sed -E 's/.* ([0-9]+) failed/\1/' <<<"$line")
    else
        p=0; f=1
    fi
    if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi # crashed after its summary (e.g. a leak report)
    passed=$((passed + p)); failed=$((failed + f))
    printf '  %-44s %3d passed %3d failed %4d s\n' "$name" "$p" "$f" $(( $(date +%s) - t0 ))
    if [ "$f" -ne 0 ]; then
        failures+=("$name (log: $out)")
        echo "      exit status $rc; the log ends:"
        grep -E 'FAIL|ERROR|WARNING: ThreadSanitizer|runtime error|Sanitizer|SUMMARY' "$out" | head -10 | sed 's/^/      /'
        tail -25 "$out" | sed 's/^/      | /'
    fi
}

# A real PostgreSQL for the database tests (tests/unit/db_pg.c, apps/tfb):
# initdb into a temp dir, unix socket there and a free 127.0.0.1 port.
# The protocol tests find it in WEFT_TEST_PG / WEFT_TFB_DB / WEFT_TEST_PG_DIR.
if needs_pg; then
PGDIR=$(mktemp -d /tmp/weft-test-pg.XXXXXX)
trap 'bash scripts/pg.sh stop "$PGDIR" >/dev/null 2>&1; rm -rf "$PGDIR"' EXIT
if WEFT_TEST_PG_UNIX=$(bash scripts/pg.sh start "$PGDIR" 2>"$LOG/pg-start.log" | tail -1) && [ -n "$WEFT_TEST_PG_UNIX" ]; then
    # TCP as in production and the arena (write coalescing is TCP-only);
    # the unix socket has a test of its own
    WEFT_TEST_PG=${WEFT_TEST_PG_UNIX/host=$PGDIR/host=127.0.0.1}
    echo "== PostgreSQL for the tests: $WEFT_TEST_PG (and $WEFT_TEST_PG_UNIX)"
    export WEFT_TEST_PG WEFT_TEST_PG_UNIX WEFT_TEST_PG_DIR=$PGDIR WEFT_TFB_DB=$WEFT_TEST_PG
else
    echo "PostgreSQL did not start:"; tail -20 "$LOG/pg-start.log"; record "postgres/start" 1
fi
fi

# libpq >= 17 takes another path in src/db/pg.c (a Sync without a flush);
# Debian bookworm has 15, so db_pg runs once more (every flavor) on libpq 18 from
# the psycopg-binary wheel on PyPI (scripts/libpq-pypi.sh)
PQ18=""
if [ -z "$CHECK" ] && { [ -z "$T" ] || [ "$T_FILE" = db_pg ]; }; then
    PQ18=$(bash scripts/libpq-pypi.sh 2>"$LOG/libpq-pypi.log") || PQ18=""
fi

# Script-level tests (tests/scripts/*.sh), once, before the builds: they
# check the scripts and the Makefile themselves (pg.sh from a checkout the
# postgres user cannot enter, plain make without a build dependency).
if [ -z "$CHECK" ]; then
    for sc in tests/scripts/*.sh; do
        want "$sc" && run_bin scripts any "$sc"
    done
fi

if [ -z "$CHECK" ]; then
# Interop and example checks still driven from here (examples/ws_echo and the
# WebSocket interop clients): a server process, a client we did not write.
# Start a server on an ephemeral port and wait for its "listening on" line.
# Sets srv_pid, and srv_port (empty when it did not start within 10 s).
start_server() { # log backend binary [server args...]
    local out=$1 be=$2 bin=$3; shift 3
    WEFT_IO=$be "$bin" --port 0 "$@" >"$out" 2>&1 &
    srv_pid=$! srv_port=""
    for _ in $(seq 1 100); do
        srv_port=$(grep -aoE 'listening on http://127.0.0.1:[0-9]+' "$out" | head -1 | sed 's/.*://')
        [ -n "$srv_port" ] && break
        sleep 0.1
    done
}

# The outcome of a server check: ok, or FAILED with why (and the end of its log).
server_result() { # name ok why [log]
    if [ "$2" -eq 1 ]; then record "$1" 0; printf '  %-44s ok\n' "$1"; return; fi
    record "$1" 1; printf '  %-44s FAILED (%s)\n' "$1" "$3"
    [ -z "${4:-}" ] || tail -5 "$4" | sed 's/^/      /'
}

# SIGTERM a server started by start_server; returns its exit status (124 when
# it was still running 20 s later and had to be killed).
stop_server() { # pid
    kill -TERM "$1" 2>/dev/null
    timeout 20 tail --pid="$1" -f /dev/null || { kill -KILL "$1" 2>/dev/null; wait "$1" 2>/dev/null; return 124; }
    wait "$1" 2>/dev/null
}

# examples/ws_echo: started on a free port, checked by its own client mode
# (--check: /echo text and binary with permessage-deflate, /chat between two
# clients through the hub, /events as SSE), stopped with SIGTERM (exit 0).
ws_echo_check() { # flavor backend binary
    local name="$1/$2/server/ws_echo" out="$LOG/$1-$2-ws_echo.log" ok=1 why="" rc=0 got
    start_server "$out" "$2" "$3"
    local pid=$srv_pid port=$srv_port
    if [ -z "$port" ]; then ok=0; why="did not start"
    else
        got=$(WEFT_IO=$2 timeout 60 "$3" --check "$port" 2>&1)
        grep -q '^ws_echo check: echo ok, chat ok, events ok$' <<<"$got" || { ok=0; why="check said: $(tr '\n' ' ' <<<"$got")"; }
    fi
    stop_server $pid || rc=$?
    [ $ok -eq 1 ] && [ $rc -ne 0 ] && { ok=0; why="exit status $rc after SIGTERM"; }
    server_result "$name" $ok "$why" "$out"
}

# Interop with an implementation we did not write: the Python websockets
# library (Debian python3-websockets, hence /usr/bin/python3) as a client of
# ws_echo and as the echo server for our client (tests/interop/ws_python.py).
ws_python_interop() { # flavor backend binary
    local name="$1/$2/interop/ws_python" out="$LOG/$1-$2-ws_python.log" ok=1 why="" rc=0 got
    start_server "$out" "$2" "$3"
    local pid=$srv_pid port=$srv_port
    if [ -z "$port" ]; then ok=0; why="did not start"
    else
        got=$(WEFT_IO=$2 timeout 120 /usr/bin/python3 tests/interop/ws_python.py "$port" "$3" 2>&1)
        printf '%s\n' "$got" >>"$out"
        grep -Eq '^ws_python: [0-9]+ passed, 0 failed$' <<<"$got" ||
            { ok=0; why="$(grep -E 'FAIL|ws_python:|Error' <<<"$got" | head -3 | tr '\n' ' ')"; }
    fi
    stop_server $pid || rc=$?
    [ $ok -eq 1 ] && [ $rc -ne 0 ] && { ok=0; why="exit status $rc after SIGTERM"; }
    server_result "$name" $ok "$why" "$out"
}

# ... and a Go client (github.com/coder/websocket, tests/interop/go), built once
# into build/interop/ws_go before the flavors run.
ws_go_interop() { # flavor backend binary
    local name="$1/$2/interop/ws_go" out="$LOG/$1-$2-ws_go.log" ok=1 why="" rc=0 got
    if [ ! -x build/interop/ws_go ]; then
        server_result "$name" 0 "the Go client did not build (log: $LOG/build-ws_go.log)"; return
    fi
    start_server "$out" "$2" "$3"
    local pid=$srv_pid port=$srv_port
    if [ -z "$port" ]; then ok=0; why="did not start"
    else
        got=$(timeout 60 build/interop/ws_go "$port" 2>&1)
        printf '%s\n' "$got" >>"$out"
        grep -Eq '^ws_go: [0-9]+ passed, 0 failed$' <<<"$got" ||
            { ok=0; why="$(grep -E 'FAIL|ws_go:' <<<"$got" | head -3 | tr '\n' ' ')"; }
    fi
    stop_server $pid || rc=$?
    [ $ok -eq 1 ] && [ $rc -ne 0 ] && { ok=0; why="exit status $rc after SIGTERM"; }
    server_result "$name" $ok "$why" "$out"
}
mkdir -p build/interop
rm -f build/interop/ws_go
(cd tests/interop/go && go build -o ../../../build/interop/ws_go .) >"$LOG/build-ws_go.log" 2>&1

# ... and Debian's Chromium (playwright-core from npm drives /usr/bin/chromium;
# tests/interop/browser, installed once with npm ci).
ws_chromium_interop() { # flavor backend binary
    local name="$1/$2/interop/ws_chromium" out="$LOG/$1-$2-ws_chromium.log" ok=1 why="" rc=0 got
    if [ ! -d tests/interop/browser/node_modules/playwright-core ] || [ ! -x /usr/bin/chromium ]; then
        server_result "$name" 0 "no playwright-core or no /usr/bin/chromium (log: $LOG/npm-browser.log)"; return
    fi
    start_server "$out" "$2" "$3"
    local pid=$srv_pid port=$srv_port
    if [ -z "$port" ]; then ok=0; why="did not start"
    else
        got=$(timeout 120 node tests/interop/browser/ws_chromium.mjs "$port" 2>&1)
        printf '%s\n' "$got" >>"$out"
        grep -Eq '^ws_chromium: [0-9]+ passed, 0 failed$' <<<"$got" ||
            { ok=0; why="$(grep -E 'FAIL|ws_chromium:|Error' <<<"$got" | head -3 | tr '\n' ' ')"; }
    fi
    stop_server $pid || rc=$?
    [ $ok -eq 1 ] && [ $rc -ne 0 ] && { ok=0; why="exit status $rc after SIGTERM"; }
    server_result "$name" $ok "$why" "$out"
}
[ -d tests/interop/browser/node_modules/playwright-core ] ||
    (cd tests/interop/browser && npm ci --no-audit --no-fund) >"$LOG/npm-browser.log" 2>&1

fi

for fl in $FLAVORS; do
    if [ -n "$CHECK" ]; then
        [ -d build/tests/unit ] || { echo "no plain build (scripts/check.sh builds it)"; record "build/plain" 1; continue; }
    fi
    if [ -z "$CHECK" ] && ! build "$fl"; then record "build/$fl" 1; continue; fi
    d=$(dir_of "$fl")
    for be in $BACKENDS; do
        # unit and stress: every test; in make check, the unit tier without PostgreSQL
        tiers="$d/tests/unit/* $d/tests/stress/*"
        [ -n "$CHECK" ] && tiers="$d/tests/unit/*"
        for t in $tiers; do
            [ -x "$t" ] && [ -f "$t" ] || continue
            case $t in *.d | *.o) continue ;; esac
            if [ -n "$CHECK" ] && [ "$(basename "$t")" = db_pg ]; then continue; fi
            want "$t" || continue
            run_bin "$fl" "$be" "$t" "" $(names)
        done
        [ -n "$CHECK" ] && continue
        if want db_pg; then
            if [ -n "$PQ18" ]; then
                WEFT_LIBPQ=$PQ18 WEFT_TEST_LIBPQ_MIN=170000 run_bin "$fl" "$be" "$d/tests/unit/db_pg" -libpq18 $(names)
            else
                record "$fl/$be/db_pg-libpq18" 1
                printf '  %-44s FAILED (no libpq 18: %s)\n' "$fl/$be/db_pg-libpq18" "$(tail -1 "$LOG/libpq-pypi.log")"
            fi
        fi
        # protocol: real server processes over sockets (tests/protocol)
        want examples && run_bin "$fl" "$be" "$d/tests/protocol/examples" "" $(names)
        if want example_server; then
            if [ "$fl" = plain ]; then
                run_bin "$fl" "$be" "$d/tests/protocol/example_server" "" $(names)
            else # the restart test runs on the plain build only
                run_bin "$fl" "$be" "$d/tests/protocol/example_server" "" $(names \
                    example_routes_health_hello_add_echo_404 example_notes_on_sqlite)
            fi
        fi
        if [ "$fl" = plain ] && [ -n "${WEFT_TEST_PG:-}" ] && want example_server_pg; then
            run_bin "$fl" "$be" "$d/tests/protocol/example_server_pg" "" $(names)
        fi
        if want fleet-sim; then # the simulator's command line (its client code: tests/unit/fleet_sim_client)
            out="$LOG/$fl-$be-fleet-sim.log"
            WEFT_IO=$be timeout 120 "$d/apps/fleet-sim" --export-roads "$LOG/$fl-$be-roads.geojson" \
                --export-geofences "$LOG/$fl-$be-geofences.geojson" >"$out" 2>&1
            rc=$?
            grep -q '^fleet-sim: 4 geofences written' "$out" && [ $rc -eq 0 ]
            server_result "$fl/$be/fleet-sim/export" $((! $?)) "exit status $rc" "$out"
        fi
        if want ws_echo; then
            ws_echo_check "$fl" "$be" "$d/examples/ws_echo"
            ws_python_interop "$fl" "$be" "$d/examples/ws_echo"
            ws_go_interop "$fl" "$be" "$d/examples/ws_echo"
            ws_chromium_interop "$fl" "$be" "$d/examples/ws_echo"
        fi
        if want tfb; then
            if [ "$fl" = plain ]; then
                run_bin "$fl" "$be" "$d/tests/protocol/tfb" "" $(names)
            else # /updates persisting and the outage run on the plain build only
                run_bin "$fl" "$be" "$d/tests/protocol/tfb" "" $(names \
                    tfb_plaintext_and_json_heads_exact tfb_db_queries_updates_cached_bodies \
                    tfb_fortunes_escaped_sorted_utf8 tfb_allocator_is_the_one_the_build_chose)
            fi
        fi
    done
done

# The Python checks read the tree, not a build: once per run, whatever the
# flavors and backends (make check: once, in a run of their own)
if [ "$PYCHECKS" != 0 ]; then
# every weft_/weft__ name in docs/*.md, README.md and code comments exists
if python3 scripts/check-names.py >"$LOG/names.log" 2>&1; then
    record "names" 0; printf '  %-44s ok\n' "names"
else
    record "names" 1; printf '  %-44s FAILED\n' "names"; grep -v '^pending' "$LOG/names.log" | sed 's/^/      /'
fi

# the include rules between layers (src/rt/'s private headers, base/ at the
# bottom, no module reaching into another's *_int.h), then the checker's tests
if python3 scripts/check-layers.py >"$LOG/layers.log" 2>&1 &&
    python3 -m unittest discover -s scripts -p 'test_check_layers.py' >>"$LOG/layers.log" 2>&1; then
    record "layers" 0; printf '  %-44s ok\n' "layers"
else
    record "layers" 1; printf '  %-44s FAILED\n' "layers"; grep -v '^\.*$' "$LOG/layers.log" | tail -20 | sed 's/^/      /'
fi

# the benchmarks' report logic and document generator (bench/tools/test_*.py)
if python3 -m unittest discover -s bench/tools -p 'test_*.py' >"$LOG/bench-tools.log" 2>&1; then
    record "bench/tools" 0; printf '  %-44s ok (%s)\n' "bench/tools" "$(grep -o 'Ran [0-9]* tests' "$LOG/bench-tools.log")"
else
    record "bench/tools" 1; printf '  %-44s FAILED\n' "bench/tools"; tail -20 "$LOG/bench-tools.log" | sed 's/^/      /'
fi

# ---- doc figures (issue 13 A.7; arena-fill) ------------------------------------
# every measured figure in docs/*.md links a committed bench/results/ file;
# a setting or design constant carries <!-- not measured: FIG = why --> in
# its paragraph (scripts/check-doc-figures.py's head); then the checker's tests
if python3 scripts/check-doc-figures.py >"$LOG/doc-figures.log" 2>&1 &&
    python3 -m unittest discover -s scripts -p 'test_check_doc_figures.py' >>"$LOG/doc-figures.log" 2>&1; then
    record "doc-figures" 0; printf '  %-44s ok\n' "doc-figures"
else
    record "doc-figures" 1; printf '  %-44s FAILED\n' "doc-figures"; grep -v '^\.*$' "$LOG/doc-figures.log" | tail -20 | sed 's/^/      /'
fi
# ---- end doc figures -----------------------------------------------------------
fi # PYCHECKS

# ---- the fleet dashboard (issue 12; apps/fleet/web) ----------------------------
# Front-end logic with node's test runner (tests/web), then the end-to-end
# tests in Debian's Chromium (tests/browser/*.mjs, not the harness) against
# the plain build's fleet server and simulator. npm ci in apps/fleet/web
# installs the served libraries, esbuild (size check) and playwright-core.
if [ -z "$CHECK" ] && { [ -z "$T" ] || [ "$T_FILE" = web ] || [ -f "tests/browser/$T_FILE.mjs" ]; }; then
    if [ ! -f apps/fleet/web/node_modules/.package-lock.json ] ||
        [ apps/fleet/web/package-lock.json -nt apps/fleet/web/node_modules/.package-lock.json ]; then
        (cd apps/fleet/web && npm ci --no-audit --no-fund) >"$LOG/npm-web.log" 2>&1
    fi
    node apps/fleet/web/tools/precompress.mjs >>"$LOG/npm-web.log" 2>&1 # .gz beside the served files
    if want tests/web/web; then
        if node --test tests/web/ $(ls -d apps/fleet/web/test 2>/dev/null) >"$LOG/web.log" 2>&1; then
            record "web" 0; printf '  %-44s ok (%s tests)\n' "web" "$(grep -oP '^# pass \K[0-9]+' "$LOG/web.log")"
        else
            record "web" 1; printf '  %-44s FAILED\n' "web"; grep -E '^not ok|Error|expected|actual' "$LOG/web.log" | head -20 | sed 's/^/      /'
        fi
    fi
    for f in tests/browser/*.mjs; do
        n=$(basename "$f" .mjs)
        [ "$n" = fleet_harness ] && continue
        want "tests/browser/$n" || continue
        out="$LOG/browser-$n.log"
        if [ ! -d apps/fleet/web/node_modules/playwright-core ] || [ ! -x /usr/bin/chromium ]; then
            record "browser/$n" 1; printf '  %-44s FAILED (no playwright-core or no /usr/bin/chromium; %s)\n' "browser/$n" "$LOG/npm-web.log"
            continue
        fi
        WEFT_TEST_OUT="$LOG/browser" timeout 600 node "$f" >"$out" 2>&1
        if grep -Eq "^$n: [0-9]+ passed, 0 failed$" "$out"; then
            record "browser/$n" 0; printf '  %-44s ok (%s; screenshots in %s)\n' "browser/$n" "$(tail -1 "$out")" "$LOG/browser"
        else
            record "browser/$n" 1; printf '  %-44s FAILED\n' "browser/$n"; grep -E 'FAIL|passed' "$out" | head -10 | sed 's/^/      /'
        fi
    done
fi
# ---- end of the fleet dashboard block ----------------------------------------

# fuzz corpora, replayed under ASan+UBSan (libFuzzer build with clang)
if [ -z "$CHECK" ] && { [ -z "$T" ] || [ -f "fuzz/$T_FILE.c" ]; } && ls fuzz/*.c >/dev/null 2>&1; then
    if make -s -j"$JOBS" fuzz-build >"$LOG/build-fuzz.log" 2>&1; then
        for f in fuzz/*.c; do
            n=$(basename "$f" .c)
            want "$f" || continue
            out="$LOG/fuzz-$n.log"
            if build-fuzz/$n -runs=0 fuzz/corpus/$n >"$out" 2>&1; then
                record "fuzz/$n" 0; printf '  %-44s ok (%s inputs)\n' "fuzz/$n" "$(ls fuzz/corpus/$n | wc -l)"
            else
                record "fuzz/$n" 1; printf '  %-44s FAILED\n' "fuzz/$n"; tail -20 "$out" | sed 's/^/      /'
            fi
        done
    else
        echo "fuzz build failed:"; tail -20 "$LOG/build-fuzz.log"; record "fuzz/build" 1
    fi
fi

if [ -n "$T" ] && [ "$t_matched" -eq 0 ]; then
    if [ -n "$CHECK" ]; then
        echo "T=$T: no unit test file named '$T_FILE' (make check runs tests/unit; make test runs every tier)"
    else
        echo "T=$T: no test file named '$T_FILE' (tests/unit, tests/stress, tests/protocol, tests/scripts, fuzz)"
    fi
    record "T=$T" 1
fi
echo "== suite took $(( $(date +%s) - t_start )) s"
if [ ${#failures[@]} -gt 0 ]; then
    echo "failures:"; printf '  %s\n' "${failures[@]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
