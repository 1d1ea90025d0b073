#!/usr/bin/env bash
# The whole test suite: builds plain, ASan+UBSan and TSan trees, runs every
# unit and stress test binary on both I/O backends (io_uring and epoll), runs
# the examples and checks their output, replays the fuzz corpora, and ends
# with one line "N passed, N failed". Exit status is non-zero on any failure.
#
#   scripts/test.sh                 everything
#   FLAVORS="plain" scripts/test.sh only the plain build
#   BACKENDS="uring" scripts/test.sh
set -uo pipefail
cd "$(dirname "$0")/.."

FLAVORS=${FLAVORS:-"plain asan tsan"}
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
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}
WERR=""; [ -n "${CI:-}" ] && WERR="WERROR=1"

passed=0; failed=0; failures=()
t_start=$(date +%s)

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

# Run a test binary; its own "N passed, N failed" line is added to the totals.
run_bin() { # flavor backend binary [tag: a second run of the same binary]
    local name="$1/$2/$(basename "$3")${4:-}" out="$LOG/$1-$2-$(basename "$3")${4:-}.log" t0=$(date +%s)
    # sanitizer reports go to their own file: a test that redirects stderr
    # (to check a warning it prints) would otherwise swallow them
    rm -f "$out".san.*
    WEFT_IO=$2 TSAN_OPTIONS="$TSAN_OPTIONS:log_path=$out.san" \
        ASAN_OPTIONS="$ASAN_OPTIONS:log_path=$out.san" UBSAN_OPTIONS="$UBSAN_OPTIONS:log_path=$out.san" \
        timeout 600 "$3" >"$out" 2>&1
    local rc=$?
    local san
    for san in "$out".san.*; do [ -e "$san" ] && { echo "--- $san"; cat "$san"; } >>"$out"; done
    local line p f
    line=$(grep -E '^[a-z_]+: [0-9]+ passed, [0-9]+ failed$' "$out" | tail -1)
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

# Run an example and check its output with a regex.
run_example() { # flavor backend binary regex [args...]
    local fl=$1 be=$2 bin=$3 re=$4; shift 4
    local name="$fl/$be/example/$(basename "$bin")" out="$LOG/$fl-$be-ex-$(basename "$bin").log"
    WEFT_IO=$be timeout 300 "$bin" "$@" >"$out" 2>"$out.err"
    local rc=$?
    if [ $rc -eq 0 ] && grep -Eq "$re" "$out"; then
        record "$name" 0; printf '  %-44s ok\n' "$name"
    else
        record "$name" 1; printf '  %-44s FAILED (rc=%d)\n' "$name" $rc
        tail -5 "$out" "$out.err" | sed 's/^/      /'
    fi
}

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

# One request with curl -si (CRs removed) into $got. req is METHOD:TARGET or
# METHOD:TARGET:BODY (the body is sent as application/json), or just TARGET
# for a GET. In TARGET and BODY, @loc and @id stand for the Location header
# of the latest response that had one and its last segment (set here).
http_req() { # port req
    local req=$2 method=GET target body="" args=()
    if [[ $req =~ ^[A-Z]+: ]]; then
        method=${req%%:*}; req=${req#*:}
        target=${req%%:*}
        [ "$target" != "$req" ] && body=${req#*:}
    else
        target=$req
    fi
    target=${target//@loc/$last_loc}; target=${target//@id/$last_id}
    body=${body//@loc/$last_loc}; body=${body//@id/$last_id}
    [ -n "$body" ] && args=(-H 'Content-Type: application/json' --data-binary "$body")
    got=$(curl -si --max-time 10 -X "$method" "${args[@]}" "http://127.0.0.1:$1$target" | tr -d '\r')
    local loc
    loc=$(grep -aim1 '^Location: ' <<<"$got" | sed 's/^[^:]*: *//')
    if [ -n "$loc" ]; then last_loc=$loc; last_id=${loc##*/}; fi
    req_name="$method $target"
}

# Start a server on an ephemeral port, run curl checks against it, stop it
# with SIGTERM and require exit status 0. A check is "REQUEST|REGEX": REQUEST
# as http_req takes it, REGEX (PCRE, @loc/@id substituted after the request)
# must match the whole response of curl -si, CRs removed. Server arguments,
# if any, come before a "--"; the first one names the run (http_server-sqlite).
run_server() { # flavor backend binary [server args... --] checks...
    local fl=$1 be=$2 bin=$3; shift 3
    local sargs=() tag="" a
    for a in "$@"; do [ "$a" = -- ] && { tag=1; break; }; done
    if [ -n "$tag" ]; then
        while [ "$1" != -- ]; do sargs+=("$1"); shift; done
        shift; tag=-${sargs[0]#--}
    fi
    local base name out
    base=$(basename "$bin")$tag
    name="$fl/$be/server/$base" out="$LOG/$fl-$be-srv-$base.log"
    start_server "$out" "$be" "$bin" "${sargs[@]}"
    local pid=$srv_pid port=$srv_port ok=1 why=""
    if [ -z "$port" ]; then ok=0; why="did not start"; fi
    last_loc="" last_id=""
    for chk in "$@"; do
        [ $ok -eq 1 ] || break
        local re=${chk#*|}
        http_req "$port" "${chk%%|*}"
        re=${re//@loc/$last_loc}; re=${re//@id/$last_id}
        if ! grep -Pzq -- "$re" <<<"$got"; then
            ok=0; why="$req_name: no match for $re"
            printf '%s\n' "--- $req_name answered:" "$got" >>"$out"
        fi
    done
    local rc=0
    stop_server $pid || rc=$?
    if [ $rc -ne 0 ] && [ $ok -eq 1 ]; then ok=0; why="exit status $rc after SIGTERM"; fi
    server_result "$name" $ok "$why" "$out"
}

# A fresh SQLite file for one run of the example server (removed if left over).
fresh_sqlite() { # name
    local f="$LOG/$1.sqlite"
    rm -f "$f" "$f-wal" "$f-shm" "$f-journal"
    echo "$f"
}

# examples/http_server's notes, the same on SQLite and PostgreSQL. No id is
# assumed (the PostgreSQL table outlives a run); @id is the one just created.
TS='"created":"20[0-9]{2}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9]\.[0-9]{3}Z"'
JSON_HEAD='(?=(.*\n)*Content-Type: application/json\n)(.*\n)*\n' # any order, up to the body
LONG_TEXT=$(printf '%*s' 1001 '' | tr ' ' x)
NOTES_CHECKS=(
    'POST:/notes:{"text":"first"}|^HTTP/1.1 201 Created\n(?=(.*\n)*Location: /notes/@id\n)'"$JSON_HEAD"'\{"id":@id,"text":"first",'"$TS"'\}\n?\z'
    'POST:/notes:{"text":"second \"q\"\u00fc","extra":1}|^HTTP/1.1 201 Created\n(?=(.*\n)*Location: /notes/@id\n)'"$JSON_HEAD"'\{"id":@id,"text":"second \\"q\\"\x{fc}",'"$TS"'\}\n?\z'
    'GET:@loc|^HTTP/1.1 200 OK\n'"$JSON_HEAD"'\{"id":@id,"text":"second \\"q\\"\x{fc}",'"$TS"'\}\n?\z'
    '/notes?limit=2|^HTTP/1.1 200 OK\n'"$JSON_HEAD"'\[\{"id":@id,"text":"second \\"q\\"\x{fc}",'"$TS"'\},\{"id":[1-9][0-9]*,"text":"first",'"$TS"'\}\]\n?\z'
    '/notes?before=@id&limit=1|^HTTP/1.1 200 OK\n'"$JSON_HEAD"'\[\{"id":[1-9][0-9]*,"text":"first",'"$TS"'\}\]\n?\z'
    '/notes?limit=0|^HTTP/1.1 200 OK\n'"$JSON_HEAD"'\[\{"id":@id,"text":"second \\"q\\"\x{fc}",'"$TS"'\}\]\n?\z'
    '/notes?limit=abc|^HTTP/1.1 400 Bad Request\n'"$JSON_HEAD"'\{"error":"limit must be an integer"\}\n?\z'
    '/notes?before=-1|^HTTP/1.1 400 Bad Request\n'"$JSON_HEAD"'\{"error":"before must be a positive integer \(a note id\)"\}\n?\z'
    '/notes/abc|^HTTP/1.1 400 Bad Request\n'"$JSON_HEAD"'\{"error":"the note id must be a positive integer"\}\n?\z'
    '/notes/9223372036854775807|^HTTP/1.1 404 Not Found\n'"$JSON_HEAD"'\{"error":"no such note"\}\n?\z'
    'POST:/notes:{"text":|^HTTP/1.1 400 Bad Request\n'"$JSON_HEAD"'\{"error":"invalid JSON at byte 8: [^"]+"\}\n?\z'
    'POST:/notes:["text"]|^HTTP/1.1 400 Bad Request\n'"$JSON_HEAD"'\{"error":"the body must be a JSON object"\}\n?\z'
    'POST:/notes:{"txt":"hi"}|^HTTP/1.1 400 Bad Request\n'"$JSON_HEAD"'\{"error":"\\"text\\" is required"\}\n?\z'
    'POST:/notes:{"text":42}|^HTTP/1.1 400 Bad Request\n'"$JSON_HEAD"'\{"error":"\\"text\\" must be a string"\}\n?\z'
    'POST:/notes:{"text":" "}|^HTTP/1.1 400 Bad Request\n'"$JSON_HEAD"'\{"error":"\\"text\\" must not be empty"\}\n?\z'
    'POST:/notes:{"text":"'"$LONG_TEXT"'"}|^HTTP/1.1 400 Bad Request\n'"$JSON_HEAD"'\{"error":"\\"text\\" is longer than 1000 bytes"\}\n?\z'
    'DELETE:@loc|^HTTP/1.1 204 No Content\n([^\n]+\n)*\z'
    'GET:@loc|^HTTP/1.1 404 Not Found\n'"$JSON_HEAD"'\{"error":"no such note"\}\n?\z'
    'DELETE:@loc|^HTTP/1.1 404 Not Found\n'"$JSON_HEAD"'\{"error":"no such note"\}\n?\z'
    'DELETE:/notes/abc|^HTTP/1.1 400 Bad Request\n'"$JSON_HEAD"'\{"error":"the note id must be a positive integer"\}\n?\z'
    '/notes?limit=1|^HTTP/1.1 200 OK\n'"$JSON_HEAD"'\[\{"id":[1-9][0-9]*,"text":"first",'"$TS"'\}\]\n?\z'
)

# The example server's SQLite file survives a restart: a note created before
# SIGTERM reads back the same after; and ids are not reused (AUTOINCREMENT):
# after deleting the newest note, the next one gets a higher id.
notes_persist() { # flavor backend binary
    local name="$1/$2/server/notes-persist" out="$LOG/$1-$2-notes-persist.log" ok=1 why="" db
    db=$(fresh_sqlite "$1-$2-notes-persist")
    local before="" after="" rc=0 first_id=""
    last_loc="" last_id=""
    start_server "$out.1" "$2" "$3" --sqlite "$db"
    if [ -z "$srv_port" ]; then ok=0; why="did not start"
    else
        http_req "$srv_port" 'POST:/notes:{"text":"kept across restarts"}'
        before=${got##*$'\n'}; first_id=$last_id
        grep -q '^HTTP/1.1 201 ' <<<"$got" && [ -n "$first_id" ] || { ok=0; why="create answered: $got"; }
    fi
    stop_server $srv_pid || rc=$?
    [ $ok -eq 1 ] && [ $rc -ne 0 ] && { ok=0; why="exit status $rc after SIGTERM"; }
    if [ $ok -eq 1 ]; then
        start_server "$out.2" "$2" "$3" --sqlite "$db"
        if [ -z "$srv_port" ]; then ok=0; why="did not start again"
        else
            http_req "$srv_port" "GET:@loc"
            after=${got##*$'\n'}
            if ! grep -q '^HTTP/1.1 200 ' <<<"$got" || [ "$after" != "$before" ]; then
                ok=0; why="created $before, after the restart $after"
            else
                http_req "$srv_port" "DELETE:@loc"
                if ! grep -q '^HTTP/1.1 204 ' <<<"$got"; then ok=0; why="delete answered: $got"
                else
                    http_req "$srv_port" 'POST:/notes:{"text":"next"}'
                    [ "$last_id" -gt "$first_id" ] 2>/dev/null || { ok=0; why="id $first_id deleted, the next note got id $last_id"; }
                fi
            fi
        fi
        stop_server $srv_pid || rc=$?
        [ $ok -eq 1 ] && [ $rc -ne 0 ] && { ok=0; why="exit status $rc after the second SIGTERM"; }
    fi
    cat "$out.1" "$out.2" >"$out" 2>/dev/null; rm -f "$out.1" "$out.2"
    server_result "$name" $ok "$why" "$out"
}

# A real PostgreSQL for the database tests (tests/unit/db_pg.c, apps/tfb):
# initdb into a temp dir, unix socket there and a free 127.0.0.1 port.
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

# /updates must really change rows: what the app answered is what the table holds.
tfb_updates_persist() { # flavor backend binary
    local name="$1/$2/server/tfb-updates-persist" out="$LOG/$1-$2-tfb-upd.log" ok=1 why="" rc=0
    start_server "$out" "$2" "$3"
    local pid=$srv_pid port=$srv_port
    [ -n "$port" ] || { ok=0; why="did not start"; }
    for _ in 1 2 3 4 5; do
        [ $ok -eq 1 ] || break
        local got id num db
        got=$(curl -s --max-time 10 "http://127.0.0.1:$port/updates?queries=1")
        id=$(grep -oE '"id":[0-9]+' <<<"$got" | cut -d: -f2)
        num=$(grep -oE '"randomNumber":[0-9]+' <<<"$got" | cut -d: -f2)
        db=$(bash scripts/pg.sh psql "$PGDIR" -tAc "SELECT randomnumber FROM world WHERE id = ${id:-0}" 2>&1)
        if [ -z "$id" ] || [ "$db" != "$num" ]; then ok=0; why="answered $got, table holds '$db'"; fi
    done
    stop_server $pid || rc=$?
    if [ $rc -ne 0 ] && [ $ok -eq 1 ]; then ok=0; why="exit status $rc after SIGTERM"; fi
    server_result "$name" $ok "$why" "$out"
}

# PostgreSQL goes away under the TFB app: every database route answers 503
# with a reason (no hang, no crash) while /plaintext goes on; once it is back
# the app reconnects by itself and /db answers 200 again.
tfb_db_outage() { # flavor backend binary
    local name="$1/$2/server/tfb-db-outage" out="$LOG/$1-$2-tfb-outage.log" ok=1 why="" rc=0
    start_server "$out" "$2" "$3"
    local pid=$srv_pid port=$srv_port got code path
    [ -n "$port" ] || { ok=0; why="did not start"; }
    if [ $ok -eq 1 ]; then
        bash scripts/pg.sh stop "$PGDIR"
        for path in /db "/queries?queries=5" /fortunes "/updates?queries=5" /plaintext; do
            got=$(curl -s --max-time 20 -w '\n%{http_code}' "http://127.0.0.1:$port$path")
            code=${got##*$'\n'}
            if [ "$path" = /plaintext ]; then
                [ "$code" = 200 ] || { ok=0; why="$path with the database down: $code"; }
            elif [ "$code" != 503 ] || ! grep -q 'database error: ' <<<"$got"; then
                ok=0; why="$path with the database down: $code ${got%$'\n'*}"
            fi
            [ $ok -eq 1 ] || break
        done
        bash scripts/pg.sh start "$PGDIR" >/dev/null || { ok=0; why="PostgreSQL did not start again"; }
        code=""
        for _ in $(seq 1 100); do # the pool retries with back-off up to 2 s
            code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$port/db")
            [ "$code" = 200 ] && break
            sleep 0.1
        done
        if [ "$code" != 200 ] && [ $ok -eq 1 ]; then ok=0; why="/db answered $code 10 s after PostgreSQL came back"; fi
    fi
    stop_server $pid || rc=$?
    if [ $rc -ne 0 ] && [ $ok -eq 1 ]; then ok=0; why="exit status $rc after SIGTERM"; fi
    server_result "$name" $ok "$why" "$out"
}

# libpq >= 17 takes another path in src/db/pg.c (a Sync without a flush);
# Debian bookworm has 15, so db_pg runs once more (every flavor) on libpq 18 from
# the psycopg-binary wheel on PyPI (scripts/libpq-pypi.sh)
PQ18=$(bash scripts/libpq-pypi.sh 2>"$LOG/libpq-pypi.log") || PQ18=""

for fl in $FLAVORS; do
    if ! build "$fl"; then record "build/$fl" 1; continue; fi
    d=$(dir_of "$fl")
    fan=100000; [ "$fl" = tsan ] && fan=5000
    if [ "$fl" = plain ]; then # the apps allocate through mimalloc (Makefile MALLOC)
        out=$(MIMALLOC_VERBOSE=1 "$d/apps/tfb" --help 2>&1)
        grep -q '^mimalloc: ' <<<"$out"
        server_result "plain/tfb-uses-mimalloc" $((! $?)) "no mimalloc banner with MIMALLOC_VERBOSE=1: $(head -c 120 <<<"$out")"
    fi
    for be in $BACKENDS; do
        for t in "$d"/tests/unit/* "$d"/tests/stress/*; do
            [ -x "$t" ] && [ -f "$t" ] || continue
            case $t in *.d | *.o) continue ;; esac
            run_bin "$fl" "$be" "$t"
        done
        run_example "$fl" "$be" "$d/examples/worker_pool" '^sum=420 jobs=20$'
        run_example "$fl" "$be" "$d/examples/fanout" "^processed=$fan unique=$fan " "$fan"
        run_example "$fl" "$be" "$d/examples/fetch_timeout" 'slow: timed out after ~100 ms; fetcher cancelled'
        # the simulator's command line (its client code is tests/unit/fleet_sim_client)
        run_example "$fl" "$be" "$d/apps/fleet-sim" '^fleet-sim: 4 geofences written' \
            --export-roads "$LOG/$fl-$be-roads.geojson" --export-geofences "$LOG/$fl-$be-geofences.geojson"
        run_server "$fl" "$be" "$d/examples/http_server" --sqlite "$(fresh_sqlite "$fl-$be-notes")" -- \
            '/health|^HTTP/1.1 200 OK\n(.*\n)*Content-Type: application/json\n(.*\n)*\n\{"status":"ok"' \
            '/hello/w%C3%B6rld|X-Response-Time: [0-9.]+ms\n(.*\n)*\nHello, w\x{f6}rld!\n?\z' \
            '/add?a=2&b=40|\n\{"sum":42\}\n?\z' \
            '/add?a=x|^HTTP/1.1 400 Bad Request\n' \
            'POST:/echo:{"k":[1,2.5,"v"]}|\n\{"received":\{"k":\[1,2.5,"v"\]\},"bytes":17\}\n?\z' \
            '/nope|^HTTP/1.1 404 Not Found\n' \
            '/health|\n\{"status":"ok",[^\n]*"store":"sqlite"\}\n?\z' \
            "${NOTES_CHECKS[@]}"
        if [ -n "$PQ18" ]; then
            WEFT_LIBPQ=$PQ18 WEFT_TEST_LIBPQ_MIN=170000 run_bin "$fl" "$be" "$d/tests/unit/db_pg" -libpq18
        else
            record "$fl/$be/db_pg-libpq18" 1
            printf '  %-44s FAILED (no libpq 18: %s)\n' "$fl/$be/db_pg-libpq18" "$(tail -1 "$LOG/libpq-pypi.log")"
        fi
        if [ "$fl" = plain ]; then
            notes_persist "$fl" "$be" "$d/examples/http_server"
            [ -n "${WEFT_TEST_PG:-}" ] &&
                run_server "$fl" "$be" "$d/examples/http_server" --pg "$WEFT_TEST_PG" -- \
                    '/health|\n\{"status":"ok",[^\n]*"store":"postgresql"\}\n?\z' "${NOTES_CHECKS[@]}"
        fi
        run_server "$fl" "$be" "$d/apps/tfb" \
            '/plaintext|^HTTP/1.1 200 OK\nServer: weft\nDate: [A-Z][a-z]{2}, [0-9]{2} [A-Z][a-z]{2} [0-9]{4} [0-9:]{8} GMT\nContent-Type: text/plain\nContent-Length: 13\n\nHello, World!\n?\z' \
            '/json|^HTTP/1.1 200 OK\nServer: weft\nDate: [^\n]+GMT\nContent-Type: application/json\nContent-Length: 27\n\n\{"message":"Hello, World!"\}\n?\z' \
            '/db|^HTTP/1.1 200 OK\nServer: weft\nDate: [^\n]+GMT\nContent-Type: application/json\nContent-Length: [0-9]+\n\n\{"id":[0-9]+,"randomNumber":[0-9]+\}\n?\z' \
            '/queries?queries=20|\n\[(\{"id":[0-9]+,"randomNumber":[0-9]+\},){19}\{"id":[0-9]+,"randomNumber":[0-9]+\}\]\n?\z' \
            '/queries?queries=abc|\n\[\{"id":[0-9]+,"randomNumber":[0-9]+\}\]\n?\z' \
            '/queries?queries=0|\n\[\{"id":[0-9]+,"randomNumber":[0-9]+\}\]\n?\z' \
            '/queries|\n\[\{"id":[0-9]+,"randomNumber":[0-9]+\}\]\n?\z' \
            '/queries?queries=1000|\n\[(\{"id":[0-9]+,"randomNumber":[0-9]+\},){499}\{"id":[0-9]+,"randomNumber":[0-9]+\}\]\n?\z' \
            '/updates?queries=20|^HTTP/1.1 200 OK\n(.*\n)*\n\[(\{"id":[0-9]+,"randomNumber":[0-9]+\},){19}\{"id":[0-9]+,"randomNumber":[0-9]+\}\]\n?\z' \
            '/cached-queries?count=3|\n\[(\{"id":[0-9]+,"randomNumber":[0-9]+\},){2}\{"id":[0-9]+,"randomNumber":[0-9]+\}\]\n?\z' \
            '/fortunes|^HTTP/1.1 200 OK\nServer: weft\nDate: [^\n]+GMT\nContent-Type: text/html; charset=utf-8\nContent-Length: [0-9]+\n\n<!DOCTYPE html><html><head><title>Fortunes</title></head><body><table><tr><th>id</th><th>message</th></tr><tr><td>11</td><td>&lt;script&gt;alert\(&quot;This should not be displayed in a browser alert box.&quot;\);&lt;/script&gt;</td></tr><tr><td>4</td><td>A bad random number generator: 1, 1, 1, 1, 1, 4.33e\+67, 1, 1, 1</td></tr><tr><td>5</td>(.*)<tr><td>0</td><td>Additional fortune added at request time.</td></tr>(.*)<tr><td>12</td><td>\x{30d5}\x{30ec}\x{30fc}\x{30e0}\x{30ef}\x{30fc}\x{30af}\x{306e}\x{30d9}\x{30f3}\x{30c1}\x{30de}\x{30fc}\x{30af}</td></tr></table></body></html>\n?\z'
        if [ "$fl" = plain ] && [ -n "${WEFT_TEST_PG:-}" ]; then
            tfb_updates_persist "$fl" "$be" "$d/apps/tfb"
            tfb_db_outage "$fl" "$be" "$d/apps/tfb"
        fi
    done
done

# fuzz corpora, replayed under ASan+UBSan (libFuzzer build with clang)
if [ -d fuzz ] && ls fuzz/*.c >/dev/null 2>&1; then
    if make -s -j"$JOBS" fuzz-build >"$LOG/build-fuzz.log" 2>&1; then
        for f in fuzz/*.c; do
            n=$(basename "$f" .c)
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

echo "== suite took $(( $(date +%s) - t_start )) s"
if [ ${#failures[@]} -gt 0 ]; then
    echo "failures:"; printf '  %s\n' "${failures[@]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
