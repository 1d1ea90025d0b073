#!/usr/bin/env bash
# bench/run-db.sh — the database rows of the arena: TechEmpower's "db",
# "queries", "fortunes" and "updates" tests, weft's TechEmpower app
# (build/apps/tfb --db CONNINFO) against the peers of bench/run-http.sh (the
# same binaries: Go net/http and Fiber v2 on pgx v5, bench/peers/http-go;
# Rust actix-web and axum on tokio-postgres, bench/peers/http-rust), on one
# throw-away PostgreSQL 15 (scripts/pg.sh) that this script starts in a
# temporary directory and stops at the end. may_minihttp has no database
# rows: TFB's may-minihttp entry uses may_postgres, which is only on GitHub
# (not on crates.io); it shows as n/a with that reason.
#
#  - every server pinned to CPU 0 and single-threaded as far as it allows
#    (GOMAXPROCS=1, workers(1), tokio current_thread, weft --workers 1); wrk
#    pinned to CPU 1; PostgreSQL NOT pinned (both CPUs), as a database server
#    of its own would be;
#  - the peers get the conninfo in WEFT_BENCH_PG (key=value, TCP to
#    127.0.0.1), weft gets it as --db; each opens its own pool and the number
#    of connections it holds is recorded;
#  - pool sizes are swept (issue 13, item 6): every program runs at every
#    size of BENCH_DB_POOLS (2 4 8 16; weft --db-conns N, the peers
#    WEFT_BENCH_PG_POOL=N), and each program is reported at its best size per
#    test (the highest median req/s), with the whole sweep in its own table;
#  - "nethttp_batch" is Go net/http with pgx's pipeline mode: the reads of
#    a /queries or /updates request go out as one pgx.Batch on one
#    connection (WEFT_BENCH_PG_BATCH=1, bench/peers/http-go/internal/tfbdb);
#  - each server first answers a check (curl): /db is one {"id","randomNumber"}
#    object, /queries?queries=20 twenty of them, ?queries=abc, none and 0 one,
#    ?queries=1000 five hundred, /fortunes the 13 rows (the 12 of the table,
#    the <script> one escaped, and the one added at request time) sorted by
#    message, /updates?queries=20 twenty rows that are then in the table;
#    with Server, Date, Content-Length and the right Content-Type. One that
#    fails it is n/a with the reason (weft, whose --db is new, included);
#  - throughput, closed loop: wrk -t1 -c256 --latency for BENCH_DURATION (10)
#    s after a BENCH_WARMUP (3) s warm-up of the same, on /db,
#    /queries?queries=1, /queries?queries=20, /fortunes, /updates?queries=1,
#    /updates?queries=20, one server per program for all six; req/s, p50 and
#    p99 (wrk --latency), socket errors and non-2xx; server CPU per request
#    (utime+stime of the server process, /proc/PID/stat) and PostgreSQL CPU
#    per request (utime+stime of the postmaster and all its children, those
#    that ended included, over the same run): a program that makes the
#    database work harder shows it there;
#  - VACUUM ANALYZE world before the first program and after each program's
#    runs (the updates leave dead rows that would slow the next program);
#    its time and the dead rows it found are recorded. The world table is not
#    restored between programs (its values stay random).
#
# Writes a Markdown table per metric (one row per program, a column per test,
# each with its ratio to weft, program/weft) to bench/results/db-<date>.md,
# the raw numbers, the machine and the versions to bench/results/db-<date>.json.
# A default run takes about 80 minutes (two rounds x four pool sizes x seven
# programs x six tests of 3 + 10 s each) plus the builds (the first Rust
# build about 10 minutes); BENCH_DB_POOLS, BENCH_ONLY and BENCH_TESTS narrow it.
#
# Works from any directory. Knobs (environment):
#   BENCH_DURATION=10      seconds of each measured wrk run
#   BENCH_WARMUP=3         seconds of wrk warm-up before each measured run
#   BENCH_CONNS=256        wrk connections
#   BENCH_ROUNDS=2         rounds (every program, every pool size, every test;
#                          even rounds in the reverse program order); tables:
#                          the median, min-max, "parity" where ranges overlap
#   BENCH_DB_POOLS="2 4 8 16"  the pool sizes swept
#   BENCH_SMOKE=1          label the results a smoke run (busy machine, short
#                          runs: not for publishing); saved as db-<date>[-names]-smoke
#   BENCH_ONLY="a b"       run only these programs (weft weft_pq18 nethttp
#                          fiber actix axum may_minihttp; commas or spaces);
#                          saved as db-<date>-<names>.{md,json}. A full run
#                          has weft_pq18 (weft on libpq 18) right after weft
#                          and nethttp_batch right after nethttp.
#   BENCH_TESTS="db ..."   run only these tests (db queries1 queries20
#                          fortunes updates1 updates20)
#   BENCH_PORT=18180       first port; program i listens on BENCH_PORT+i
#   BENCH_PG_PORT=0        PostgreSQL's TCP port (0: a free one)
#   BENCH_DB_POOL=N        one pool size only (as BENCH_DB_POOLS=N)
#   BENCH_SERVER_CPU=0     CPU of the servers; BENCH_CLIENT_CPU=1 wrk's
#
# Old vs new (issue 14: "no regression in the DB arena, shown"), the
# BASELINE_BIN pattern of bench/run-fleet.sh:
#   BASELINE_BIN=path      a build/apps/tfb of an older commit, copied aside;
#                          it runs as program "weft-old" right before "weft"
#                          (this tree's build) on the same PostgreSQL, pool
#                          sizes and tests, so old is first in odd rounds and
#                          last in even ones. Without BENCH_ONLY only these two
#                          run (no weft_pq18); with it, weft-old joins the
#                          programs named there, which must include weft.
#   BASELINE_COMMIT=sha    what BASELINE_BIN was built from (recorded; letters,
#                          digits and ._/- only)
#   Both go into the result file's command line, with the two binaries'
#   sha256. Saved as db-ab-<date>[-names].{md,json}: the arena report
#   (bench/tools/report.py) never takes an A/B file for its database rows.
#   The Markdown opens with an "Old vs new" table (req/s and server CPU per
#   request per test, new/old, and whether the ranges over the rounds are
#   apart). For example, against a46a1c8 (main before the rt-speed passes):
#     git worktree add /tmp/weft-old a46a1c8 && make -C /tmp/weft-old -j2 build/apps/tfb &&
#         cp /tmp/weft-old/build/apps/tfb /tmp/tfb-a46a1c8
#     BASELINE_BIN=/tmp/tfb-a46a1c8 BASELINE_COMMIT=a46a1c8 BENCH_ROUNDS=4 \
#         BENCH_DB_POOLS=8 BENCH_TESTS=db,fortunes,queries20,updates20 bash bench/run-db.sh
# Needs wrk, curl, taskset, python3, PostgreSQL (Debian's postgresql: `make
# deps` / scripts/deps.sh), a C compiler, go and cargo. A program that does
# not build, start or answer correctly shows as n/a and the script goes on;
# it exits 0 once the tables are written. Every server it started, and the
# PostgreSQL, is stopped at the end, even on failure.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
COMMAND_LINE="$0${*:+ $*}"

DURATION=${BENCH_DURATION:-10}
WARMUP=${BENCH_WARMUP:-3}
CONNS=${BENCH_CONNS:-256}
BASE_PORT=${BENCH_PORT:-18180}
PG_PORT=${BENCH_PG_PORT:-0}
DB_POOL=${BENCH_DB_POOL:-}
ROUNDS=${BENCH_ROUNDS:-2}
SMOKE=${BENCH_SMOKE:-0}
POOLS_IN=${BENCH_DB_POOLS:-2 4 8 16}
read -r -a POOLS <<<"${POOLS_IN//,/ }" # commas or spaces
[ -z "$DB_POOL" ] || POOLS=("$DB_POOL")
for n in "${POOLS[@]}"; do
    [[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "run-db: BENCH_DB_POOLS: '$n' is not a positive number" >&2; exit 2; }
done
POOL=${POOLS[0]}
ROUND=1
for v in DURATION WARMUP CONNS BASE_PORT PG_PORT ROUNDS; do
    [[ "${!v}" =~ ^[0-9]+$ ]] || { echo "run-db: $v must be a whole number, not '${!v}'" >&2; exit 2; }
done
[ -z "$DB_POOL" ] || [[ "$DB_POOL" =~ ^[1-9][0-9]*$ ]] || { echo "run-db: BENCH_DB_POOL must be a positive number" >&2; exit 2; }
BASELINE_BIN=${BASELINE_BIN:-}
BASELINE_COMMIT=${BASELINE_COMMIT:-}
if [ -n "$BASELINE_BIN" ]; then
    [ -f "$BASELINE_BIN" ] && [ -x "$BASELINE_BIN" ] ||
        { echo "run-db: BASELINE_BIN: '$BASELINE_BIN' is not an executable file (an older build/apps/tfb, copied aside)" >&2; exit 2; }
    BASELINE_BIN=$(realpath "$BASELINE_BIN")
    [[ "$BASELINE_COMMIT" =~ ^[0-9A-Za-z._/-]*$ ]] ||
        { echo "run-db: BASELINE_COMMIT: letters, digits and ._/- only, not '$BASELINE_COMMIT'" >&2; exit 2; }
    COMMAND_LINE="BASELINE_BIN=$(printf '%q' "$BASELINE_BIN")${BASELINE_COMMIT:+ BASELINE_COMMIT=$BASELINE_COMMIT} $COMMAND_LINE"
elif [ -n "$BASELINE_COMMIT" ]; then
    echo "run-db: BASELINE_COMMIT without BASELINE_BIN: nothing to compare with" >&2
    exit 2
fi
[ "$DURATION" -ge 1 ] || DURATION=1
[ "$ROUNDS" -ge 1 ] || ROUNDS=1
DATE=$(date +%Y-%m-%d)
OUTDIR=bench/results

. "$ROOT/bench/lib.sh" # build(), the arena helpers; its log() is replaced below
log() { echo "run-db: $(date +%H:%M:%S) $*" >&2; }

arena_select run-db # PROGS, ONLY_TAG from BENCH_ONLY
# old vs new: weft-old right before weft; alone with it unless BENCH_ONLY names more
if [ -n "$BASELINE_BIN" ]; then
    [ -n "${BENCH_ONLY:-}" ] || PROGS=(weft)
    want weft || { echo "run-db: BASELINE_BIN is compared with weft: BENCH_ONLY must include weft" >&2; exit 2; }
    P2=()
    for p in "${PROGS[@]}"; do [ "$p" = weft ] && P2+=(weft-old); P2+=("$p"); done
    PROGS=("${P2[@]}")
fi
# weft once more on libpq 18 (the psycopg-binary wheel's, scripts/libpq-pypi.sh):
# Debian bookworm's libpq 15 flushes at every Sync, libpq >= 17 lets weft
# send the statements of many tasks in one write. Right after weft.
if want weft && ! want weft_pq18 && [ -z "${BENCH_ONLY:-}" ] && [ -z "$BASELINE_BIN" ]; then
    P2=()
    for p in "${PROGS[@]}"; do P2+=("$p"); [ "$p" = weft ] && P2+=(weft_pq18); done
    PROGS=("${P2[@]}")
fi
# and Go net/http once more with pgx's pipeline mode, right after nethttp
if want nethttp && ! want nethttp_batch && [ -z "${BENCH_ONLY:-}" ] && [ -z "$BASELINE_BIN" ]; then
    P2=()
    for p in "${PROGS[@]}"; do P2+=("$p"); [ "$p" = nethttp ] && P2+=(nethttp_batch); done
    PROGS=("${P2[@]}")
fi
STEM=$OUTDIR/db-${BASELINE_BIN:+ab-}$DATE${ONLY_TAG:+-$ONLY_TAG}$([ "$SMOKE" = 1 ] && echo -smoke || :)
MD=$STEM.md
JSON=$STEM.json

# the tests: key, path, Accept header
ALL_TESTS=(db queries1 queries20 fortunes updates1 updates20)
declare -A TPATH=(
    [db]=/db [queries1]="/queries?queries=1" [queries20]="/queries?queries=20"
    [fortunes]=/fortunes [updates1]="/updates?queries=1" [updates20]="/updates?queries=20"
)
TESTS=()
BENCH_TESTS=${BENCH_TESTS:-${ALL_TESTS[*]}}
for t in ${BENCH_TESTS//,/ }; do
    [ -n "${TPATH[$t]+x}" ] || { echo "run-db: unknown test '$t' (one of: ${ALL_TESTS[*]})" >&2; exit 2; }
    TESTS+=("$t")
done

WORK=$(mktemp -d)
: >"$WORK/results" # lines: prog metric value
: >"$WORK/notes"   # lines: free text
: >"$WORK/status"  # lines: prog phase status text
: >"$WORK/cmds"    # lines: exact commands, one per kind
declare -A BIN WHY PORT
SPID="" # the server now running
DIED="" # why it died (set by died)
PGDIR=""

cleanup() {
    stop_server
    if [ -n "$PGDIR" ]; then
        bash "$ROOT/scripts/pg.sh" stop "$PGDIR" || true
        rm -rf "$PGDIR"
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

need_tools wrk curl taskset python3

arena_pinning # SCPU LCPU PINNING SPIN LPIN
PINNING="$PINNING; PostgreSQL not pinned (both CPUs)"
raise_nofile # NOFILE

# ---- build ----------------------------------------------------------------------

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
BUILD_T0=$(date +%s)
arena_build # BIN[p] or WHY[p]
if want may_minihttp; then
    BIN[may_minihttp]=""
    WHY[may_minihttp]="n/a: no database rows (TFB's may-minihttp entry uses may_postgres, which is only on GitHub, not on crates.io; no other client fits may's coroutines)"
fi
if want weft_pq18; then
    WHY[weft_pq18]="n/a: weft did not build"
    BIN[weft_pq18]=""
    if [ -n "${BIN[weft]:-}" ]; then
        if PQ18=$(bash "$ROOT/scripts/libpq-pypi.sh" 2>"$WORK/libpq-pypi.log"); then
            BIN[weft_pq18]=${BIN[weft]}
        else
            WHY[weft_pq18]="n/a: no libpq 18 ($(tail -1 "$WORK/libpq-pypi.log"))"
        fi
    fi
fi
if want nethttp_batch; then
    BIN[nethttp_batch]=${BIN[nethttp]:-}
    WHY[nethttp_batch]=${WHY[nethttp]:-"n/a: Go net/http did not build"}
fi
BASELINE_SHA="" WEFT_SHA=""
if want weft-old; then
    # copied aside like weft's own build (arena_build), so a rebuild or a
    # removed worktree cannot change what runs between two rounds
    BIN[weft-old]="" WHY[weft-old]="n/a: could not copy BASELINE_BIN ($BASELINE_BIN) to the work directory"
    if mkdir -p "$WORK/bin" && cp "$BASELINE_BIN" "$WORK/bin/tfb-old"; then BIN[weft-old]=$WORK/bin/tfb-old; fi
    BASELINE_SHA=$(sha256sum <"$BASELINE_BIN" | cut -d' ' -f1)
    [ -z "${BIN[weft]:-}" ] || WEFT_SHA=$(sha256sum <"${BIN[weft]}" | cut -d' ' -f1)
    echo "baseline: weft-old is BASELINE_BIN=$BASELINE_BIN (sha256 $BASELINE_SHA), built from ${BASELINE_COMMIT:-a commit not stated (BASELINE_COMMIT)}; weft is this tree's build/apps/tfb (sha256 ${WEFT_SHA:-none: it did not build})" >>"$WORK/cmds"
fi
BUILD_SECONDS=$(($(date +%s) - BUILD_T0))
log "builds took ${BUILD_SECONDS}s"
for p in "${PROGS[@]}"; do
    if [ -z "${BIN[$p]}" ]; then status "$p" build "${WHY[$p]}"; fi
done

# ---- PostgreSQL -------------------------------------------------------------------

PGDIR=$(mktemp -d /tmp/weft-run-db.XXXXXX)
chmod 755 "$PGDIR"
log "PostgreSQL in $PGDIR (scripts/pg.sh)"
if ! bash scripts/pg.sh start "$PGDIR" "$PG_PORT" >"$WORK/pg-start.out" 2>&1; then
    log "PostgreSQL did not start:"
    tail -n 15 "$WORK/pg-start.out" | sed 's/^/    /' >&2
    exit 1
fi
PGPORT=$(cat "$PGDIR/port")
PM_PID=$(head -n 1 "$PGDIR/data/postmaster.pid")
CONNINFO="host=127.0.0.1 port=$PGPORT dbname=hello_world user=benchmarkdbuser password=benchmarkdbpass"
PGURL="postgres://benchmarkdbuser:benchmarkdbpass@127.0.0.1:$PGPORT/hello_world"
pgq() { bash "$ROOT/scripts/pg.sh" psql "$PGDIR" -q -At -F $'\t' -c "$1"; }
PG_VERSION=$(pgq "SHOW server_version" 2>/dev/null || echo unknown)
echo "postgresql: scripts/pg.sh start DIR PORT (PostgreSQL $PG_VERSION, fsync off, max_connections 300, shared_buffers 256MB; not pinned); conninfo $CONNINFO" >>"$WORK/cmds"

pg_ticks() { # utime+stime of the postmaster and its children, and of its children that ended
    { cat /proc/[0-9]*/stat 2>/dev/null || true; } | sed 's/^\([0-9]*\) .*) /\1 /' |
        awk -v pm="$PM_PID" '$1 == pm { s += $13 + $14 + $15 + $16 } $3 == pm { s += $13 + $14 } END { printf "%d\n", s }'
}

vacuum() { # prog|"" (before the first program)
    local dead t0 t1
    dead=$(pgq "SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = 'world'" 2>/dev/null || echo "")
    t0=$(date +%s.%N)
    if pgq "VACUUM ANALYZE world" >/dev/null 2>"$WORK/vacuum.err"; then
        t1=$(date +%s.%N)
        if [ -n "$1" ]; then
            result "$1" vacuum_s "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')"
            [ -z "$dead" ] || result "$1" world_dead_tuples "$dead"
        fi
        log "VACUUM ANALYZE world ${1:+after $1 }($(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }') s; dead rows before: ${dead:-?})"
    else
        note "VACUUM ANALYZE world ${1:+after $1 }failed: $(tail -n 1 "$WORK/vacuum.err")"
    fi
}
echo "vacuum: scripts/pg.sh psql DIR -c 'VACUUM ANALYZE world' (before the first program and after each program's runs)" >>"$WORK/cmds"
vacuum ""
pgq "SELECT id, message FROM fortune" >"$WORK/fortunes.tsv"

# ---- the machine ----------------------------------------------------------------

LOAD_RUNS=$(cut -d' ' -f1-3 /proc/loadavg)
BUSY=$(busy_pct)
if [ "$BUSY" -gt 10 ]; then
    note "the machine was busy when the runs started ($BUSY% of the CPUs used by other processes; load average $LOAD_RUNS): they compete with the benchmark and the numbers are noisy"
fi

# ---- server control ---------------------------------------------------------------

i=0
for p in "${ARENA_PROGS[@]}" weft_pq18 nethttp_batch weft-old; do PORT[$p]=$((BASE_PORT + i)); i=$((i + 1)); done
check_port_range "$BASE_PORT" $((BASE_PORT + i - 1))

server_cmd() { # prog -> the command line, in the array SCMD (pool size $POOL)
    local p=$1 envs=(WEFT_BENCH_PG="$CONNINFO" WEFT_BENCH_PG_URL="$PGURL" WEFT_BENCH_PG_POOL="$POOL")
    case $p in
    weft | weft-old) SCMD=("${BIN[$p]}" --port "${PORT[$p]}" --workers 1 --db "$CONNINFO" --db-conns "$POOL") ;;
    weft_pq18) SCMD=(env WEFT_LIBPQ="$PQ18" "${BIN[$p]}" --port "${PORT[$p]}" --workers 1 --db "$CONNINFO" --db-conns "$POOL") ;;
    nethttp | fiber) SCMD=(env GOMAXPROCS=1 "${envs[@]}" "${BIN[$p]}" "${PORT[$p]}") ;;
    nethttp_batch) SCMD=(env GOMAXPROCS=1 WEFT_BENCH_PG_BATCH=1 "${envs[@]}" "${BIN[$p]}" "${PORT[$p]}") ;;
    *) SCMD=(env "${envs[@]}" "${BIN[$p]}" "${PORT[$p]}") ;;
    esac
}

# the checker of the bodies: kind file [args] -> exit 0, or the reason on stdout
cat >"$WORK/check.py" <<'EOF'
import html.parser, json, subprocess, sys

kind, path = sys.argv[1], sys.argv[2]
body = open(path, encoding="utf-8", errors="replace").read()

def fail(msg):
    print(msg[:240])
    sys.exit(1)

def world(o, where):
    if not isinstance(o, dict) or sorted(o) != ["id", "randomNumber"]:
        fail(f"{where}: not an object of id and randomNumber: {json.dumps(o)[:100]}")
    for k in ("id", "randomNumber"):
        if type(o[k]) is not int or not 1 <= o[k] <= 10000:
            fail(f"{where}: {k} is {o[k]!r}, not a number 1..10000")

def load():
    try:
        return json.loads(body)
    except ValueError as e:
        fail(f"not JSON ({e}): {body[:100]!r}")

if kind == "world":
    world(load(), "the body")
elif kind in ("worlds", "updated"):
    want = int(sys.argv[3])
    a = load()
    if not isinstance(a, list):
        fail(f"not a JSON array: {body[:100]!r}")
    if len(a) != want:
        fail(f"{len(a)} rows, not {want}")
    for i, o in enumerate(a):
        world(o, f"row {i}")
    if kind == "updated":  # the rows are in the table now (ids drawn twice: either value)
        pg, pgdir = sys.argv[4], sys.argv[5]
        ids = sorted({o["id"] for o in a})
        out = subprocess.run(["bash", pg, "psql", pgdir, "-q", "-At", "-F", " ", "-c",
                              f"SELECT id, randomnumber FROM world WHERE id IN ({','.join(map(str, ids))})"],
                             capture_output=True, text=True, check=False).stdout
        stored = dict(tuple(map(int, l.split())) for l in out.splitlines() if l.strip())
        for o in a:
            if stored.get(o["id"]) not in [x["randomNumber"] for x in a if x["id"] == o["id"]]:
                fail(f"row id {o['id']}: answered randomNumber {o['randomNumber']}, the table has {stored.get(o['id'])}")
elif kind == "fortunes":
    want = {}
    for l in open(sys.argv[3], encoding="utf-8"):
        i, _, m = l.rstrip("\n").partition("\t")
        want[int(i)] = m
    want[0] = "Additional fortune added at request time."
    if not body.lstrip().lower().startswith("<!doctype html><html><head><title>fortunes</title></head><body><table><tr><th>id</th><th>message</th></tr>"):
        fail(f"not the TFB page head: {body[:110]!r}")
    if not body.rstrip().endswith("</table></body></html>"):
        fail(f"not the TFB page end: {body[-40:]!r}")
    if "<script>" in body or "&lt;script&gt;" not in body:
        fail("the <script> fortune is not HTML-escaped")

    class Rows(html.parser.HTMLParser):
        def __init__(self):
            super().__init__(convert_charrefs=True)
            self.rows, self.cell = [], None
        def handle_starttag(self, tag, attrs):
            if tag == "tr":
                self.rows.append([])
            elif tag in ("td", "th"):
                self.cell = ""
        def handle_endtag(self, tag):
            if tag in ("td", "th") and self.cell is not None:
                self.rows[-1].append(self.cell)
                self.cell = None
        def handle_data(self, data):
            if self.cell is not None:
                self.cell += data

    r = Rows()
    r.feed(body)
    rows = r.rows[1:]
    if r.rows[:1] != [["id", "message"]]:
        fail(f"header row is {r.rows[:1]}")
    if len(rows) != len(want):
        fail(f"{len(rows)} rows, not {len(want)}")
    got = {}
    for row in rows:
        if len(row) != 2 or not row[0].strip().isdigit():
            fail(f"bad row {row}")
        got[int(row[0])] = row[1]
    if got != want:
        bad = sorted(k for k in set(got) | set(want) if got.get(k) != want.get(k))
        fail(f"rows differ from the table at ids {bad[:5]}: {got.get(bad[0])!r} vs {want.get(bad[0])!r}")
    msgs = [row[1] for row in rows]
    if msgs != sorted(msgs):
        fail("rows are not sorted by message")
else:
    fail(f"unknown check {kind}")
EOF

check_db() { # prog -> 0, or prints the reason of the first failure
    local port=${PORT[$1]} spec path ctype kind arg why
    for spec in \
        "/db|application/json|world|" \
        "/queries?queries=20|application/json|worlds|20" \
        "/queries?queries=abc|application/json|worlds|1" \
        "/queries|application/json|worlds|1" \
        "/queries?queries=0|application/json|worlds|1" \
        "/queries?queries=1000|application/json|worlds|500" \
        "/fortunes|text/html|fortunes|$WORK/fortunes.tsv" \
        "/updates?queries=20|application/json|updated|20" \
        "/updates?queries=abc|application/json|updated|1"; do
        IFS='|' read -r path ctype kind arg <<<"$spec"
        HTTP_GET_TIMEOUT=15 http_get "$port" "$path" || return 1
        check_head "$path" "$ctype" || return 1
        if [ "$kind" = fortunes ] && ! grep -qi '^content-type: *text/html; *charset=utf-8 *$' <<<"$RESP_HEAD"; then
            echo "$path: Content-Type is not 'text/html; charset=utf-8'"
            return 1
        fi
        printf '%s' "$RESP_BODY" >"$WORK/body"
        if [ "$kind" = updated ]; then
            why=$(python3 "$WORK/check.py" "$kind" "$WORK/body" "$arg" "$ROOT/scripts/pg.sh" "$PGDIR") || { echo "$path: $why"; return 1; }
        else
            why=$(python3 "$WORK/check.py" "$kind" "$WORK/body" ${arg:+"$arg"}) || { echo "$path: $why"; return 1; }
        fi
    done
}

pg_conns() { # client connections of the benchmark user now open
    pgq "SELECT count(*) FROM pg_stat_activity WHERE usename = 'benchmarkdbuser' AND pid <> pg_backend_pid()" 2>/dev/null || echo ""
}

wrk_args() { # test port -> WRK array
    local accept=$TFB_ACCEPT_JSON
    [ "$1" = fortunes ] && accept=$TFB_ACCEPT_HTML
    WRK=(-H "Host: localhost" -H "$accept" -H "Connection: keep-alive" "http://127.0.0.1:$2${TPATH[$1]}")
}

# ---- per program: start, check, the six runs, VACUUM --------------------------------

measure_hook() { # arena_wrk: PostgreSQL's CPU around each run, into d0 / d1
    case $1 in before) d0=$(pg_ticks) ;; after) d1=$(pg_ticks) ;; esac
}

# Rounds: every program runs every test once per round, round 2 in the
# reverse order (4 like 1, ...), so a drift of the machine or the database
# over the run does not favour whoever comes first. The tables give the mean
# of the rounds; the JSON keeps each round's value.
result() { echo "$ROUND $1@$POOL $2 $3" >>"$WORK/results.rounds"; }
RUN_T0=$(date +%s)
for ((ROUND = 1; ROUND <= ROUNDS; ROUND++)); do
ORDER=("${PROGS[@]}")
if [ $((ROUND % 2)) -eq 0 ]; then
    ORDER=()
    for ((k = ${#PROGS[@]} - 1; k >= 0; k--)); do ORDER+=("${PROGS[$k]}"); done
fi
for POOL in "${POOLS[@]}"; do
log "round $ROUND of $ROUNDS, pool size $POOL: ${ORDER[*]}"
for p in "${ORDER[@]}"; do
    [ -n "${BIN[$p]}" ] || { log "skipping $p: ${WHY[$p]}"; continue; }
    log "$p: start, check"
    start_server "$p" start || { log "$p: $(awk -v p="$p" '$1 == p { $1 = $2 = ""; s = $0 } END { print s }' "$WORK/status")"; continue; }
    if ! why=$(check_db "$p"); then
        alive || { died "$p"; why="$why; $DIED"; }
        log "$p fails the check: $why"
        status "$p" check "fails the check: $why"
        stop_server
        continue
    fi
    n=$(pg_conns)
    [ -z "$n" ] || result "$p" pg_conns "$n"
    log "$p: passes the check; holds ${n:-?} PostgreSQL connections"
    for t in "${TESTS[@]}"; do
        arena_wrk "$p" "$t" "${PORT[$p]}" || { [ $? -eq 2 ] && break; continue; }
        result "$p" "wrk_${t}_p50_ms" "$(wrk_ms "$WRK_P50")"
        result "$p" "wrk_${t}_p99_ms" "$(wrk_ms "$WRK_P99")"
        result "$p" "wrk_${t}_db_cpu_s" "$(awk -v a=$((d1 - d0)) -v t="$CLK_TCK" 'BEGIN { printf "%.2f", a / t }')"
        db_us=$(awk -v a=$((d1 - d0)) -v t="$CLK_TCK" -v n="$WRK_REQS" 'BEGIN { printf "%.4f", a / t / n * 1e6 }')
        result "$p" "wrk_${t}_db_cpu_us_per_req" "$db_us"
        [ -z "$WRK_LOADGEN_US" ] ||
            result "$p" "wrk_${t}_all_cpu_us_per_req" "$(awk -v a="$WRK_CPU_US" -v b="$db_us" -v c="$WRK_LOADGEN_US" 'BEGIN { printf "%.4f", a + b + c }')"
        [ "$WRK_NON2XX" -eq 0 ] || note "$p ${TPATH[$t]}: $WRK_NON2XX non-2xx answers (server log: $(grep -v listening "$WORK/server-$p.log" | tail -n 1 | cut -c1-160))"
        log "$p $t: $WRK_RPS req/s, p50 $WRK_P50, p99 $WRK_P99, errors $WRK_SERR, non-2xx $WRK_NON2XX"
    done
    stop_server
    vacuum "$p"
done
done
done
RUN_SECONDS=$(($(date +%s) - RUN_T0))
# Each program at its best pool size, per test: for every (program, pool)
# the median of each metric over the rounds; per test the pool with the
# highest median req/s; that pool's medians into $WORK/results (what the
# report reads, with best_pool_<test>), that pool's per-round values into
# $WORK/rounds.json (the min-max and parity of the tables), and the whole
# sweep into $WORK/sweep.json.
touch "$WORK/results.rounds"
PYTHONPATH="$ROOT/bench/tools" python3 -c 'import sys, arena_report; arena_report.best_pool(sys.argv[1], sys.argv[2].split())' "$WORK" "${TESTS[*]}"
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- machine, versions, tables -------------------------------------------------------

{
    arena_meta # date, machine, pinning, go/rustc/cargo/cc/wrk, commit, command, env, clk_tck
    echo "postgresql=PostgreSQL $PG_VERSION"
    echo "duration=$DURATION"
    echo "warmup=$WARMUP"
    echo "conns=$CONNS"
    echo "db_pool=${POOLS[*]}"
    echo "smoke=$SMOKE"
    echo "tests=${TESTS[*]}"
    echo "build_seconds=$BUILD_SECONDS"
    echo "run_seconds=$RUN_SECONDS"
    echo "rounds=$ROUNDS"
    echo "baseline_bin=$BASELINE_BIN"
    echo "baseline_commit=$BASELINE_COMMIT"
    echo "baseline_sha256=$BASELINE_SHA"
    echo "weft_sha256=$WEFT_SHA"
    echo "loadavg=at start $LOAD_START; when the runs started $LOAD_RUNS (CPUs ${BUSY}% busy with other work); at the end $LOAD_END (CPUs $(busy_pct)% busy)"
} >"$WORK/meta"
arena_versions # $WORK/crates, $WORK/gomods

mkdir -p "$OUTDIR"
PYTHONPATH="$ROOT/bench/tools" python3 - "$WORK" "$MD" "$JSON" "${PROGS[*]}" <<'EOF'
import json, sys
from arena_report import Arena, LABEL
work, md_path, json_path, progs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split()
A = Arena(work, progs)
meta, w = A.meta, A.w
NAMES = {"db": "/db", "queries1": "/queries?queries=1", "queries20": "/queries?queries=20",
         "fortunes": "/fortunes", "updates1": "/updates?queries=1", "updates20": "/updates?queries=20"}
RUNS = [(t, NAMES[t]) for t in meta["tests"].split()]
D, C, W = meta["duration"], meta["conns"], meta["warmup"]

AB = "weft-old" in progs
w(f"# weft database arena{', old vs new weft' if AB else ''}, {meta['date']}"
  + (" — SMOKE RUN, not for publishing" if meta.get("smoke") == "1" else ""))
w()
if meta.get("smoke") == "1":
    w("**Smoke run (BENCH_SMOKE=1)**: it shows that every program builds, passes the check and runs "
      "every test at every pool size; the machine was shared with other work and the runs were short, "
      "so the figures below are not measurements to quote.")
    w()
w("TechEmpower's db, queries, fortunes and updates tests: weft's TechEmpower app against the "
  "peers of the HTTP arena (the same binaries, database routes on), built and run in the same "
  "session by `bench/run-db.sh`, one program after another, each single-threaded as far as it "
  f"allows, all on one {meta['postgresql']} (scripts/pg.sh: a throw-away cluster, fsync off). {meta['pinning']}.")
w()
w(f"Every test: wrk -t1 -c{C} --latency, {D} s (closed loop) after a {W} s warm-up of the same; "
  "the six tests run one after another on one server per program. `VACUUM ANALYZE world` runs "
  "before the first program and after each program's runs, so the dead rows that one program's "
  "updates leave do not slow the next one.")
w()
R = int(meta.get("rounds", "1"))
if R > 1:
    rounds = json.load(open(f"{work}/rounds.json"))
    spread = []
    for p in progs:
        for t, _ in RUNS:
            vs = rounds.get(p, {}).get(f"wrk_{t}_rps", [])
            if len(vs) > 1 and min(vs) > 0:
                spread.append((max(vs) / min(vs) - 1) * 100)
    w(f"**{R} rounds**: every program ran every test once per round and pool size, the even rounds in the reverse "
      "program order (so a drift over the run does not favour whoever comes first). Each cell is "
      "the median of the rounds at the program's best pool size for that test, with the min–max over the "
      "rounds; **parity** marks a program whose min–max overlaps weft's (the difference is inside the "
      "noise band). Each round's value is in the JSON (`rounds`)."
      + (f" Between rounds the same program's req/s differed by {sorted(spread)[len(spread) // 2]:.0f}% "
         f"(median over cells), at most {max(spread):.0f}%." if spread else ""))
    w()
if AB:  # old vs new first: what issue 14 asks to see
    A.old_vs_new(RUNS, "Old vs new weft",
                 f"weft-old is `{meta['baseline_bin']}` (sha256 {meta['baseline_sha256'][:16]}…), built from "
                 f"{meta['baseline_commit'] or 'a commit not stated (BASELINE_COMMIT)'}; weft is this tree's "
                 f"build/apps/tfb at {meta['weft_commit']} (sha256 {(meta['weft_sha256'] or 'none')[:16]}…). Both ran "
                 "with the same flags, PostgreSQL, pool sizes and tests in every round, old first in odd rounds and "
                 "last in even ones. Each figure is the median over the rounds at the program's best pool size for "
                 "that test (the pool column), its min–max in brackets. **new/old** > 1 means more req/s or more "
                 "CPU per request for the new build; the verdict says whether the two ranges are apart "
                 "(*parity*: they overlap, no difference outside the noise).")
w("**Cells: value (ratio to weft = program / weft).** For req/s a ratio > 1 means the program "
  "is *faster* than weft; for latency and CPU per request a ratio > 1 means it *takes more*.")
w()
na = A.not_measured()
if na:
    w("Not measured (n/a everywhere):")
    w()
    for p in na:
        w(f"- {LABEL[p]}: {A.why_na(p)}")
    w()
POOLS = meta["db_pool"].split()
w(f"**Pool sizes swept: {', '.join(POOLS)}** (weft --db-conns N, the peers WEFT_BENCH_PG_POOL=N). Every "
  "program ran every test at every size; the tables below show each program at its best size for each "
  "test (the highest median req/s), and the last tables the size chosen and the whole sweep.")
w()
w("How each program talks to PostgreSQL (connections: held at the end of its check, from pg_stat_activity, at the pool size most of its tests chose):")
w()
HOW = {
    "weft": "weft's own database layer (tfb --db CONNINFO) on Debian's libpq 15: each Sync is a write of its own, TCP_CORK merges them",
    "weft_pq18": "the same binary with WEFT_LIBPQ naming libpq 18 (scripts/libpq-pypi.sh, from the psycopg-binary wheel): a Sync without a flush, the statements of many tasks leave in one write",
    "nethttp": "pgx v5 pgxpool, statements prepared per connection (AfterConnect), one query per row in turn, one UPDATE ... unnest per /updates",
    "fiber": "the same pgx v5 code as net/http (bench/peers/http-go/internal/tfbdb)",
    "actix": "tokio-postgres, prepared statements, the queries of a request pipelined on one connection (round-robin), one UPDATE ... unnest per /updates",
    "axum": "the same tokio-postgres code as actix (bench/peers/http-rust/src/db.rs)",
    "may_minihttp": "none (may_postgres is not on crates.io)",
    "nethttp_batch": "the net/http binary with WEFT_BENCH_PG_BATCH=1: pgx's pipeline mode, the reads of a /queries or /updates request sent as one pgx.Batch on one connection",
    "weft-old": "weft's database layer as it was at the older commit (BASELINE_BIN, the same flags as weft)",
}
for p in progs:
    n = A.get(p, "pg_conns")
    w(f"- {LABEL[p]}: {HOW[p]}" + (f"; connections: {n:.0f}" if n is not None else ""))
w()
A.rounds_matrix(f"Throughput, req/s (wrk -t1 -c{C}, {D} s), each program at its best pool size", RUNS,
                "wrk_{run}_rps", "rps", True, "Higher is better; ratio > 1: the program is faster than weft.")
A.matrix("Latency p50, ms (wrk --latency, closed loop)", RUNS, "wrk_{run}_p50_ms", "f",
         "Closed loop: latency here is mostly queueing behind the 256 connections; lower is better.")
A.matrix("Latency p99, ms (wrk --latency, closed loop)", RUNS, "wrk_{run}_p99_ms", "f",
         "Lower is better.")
A.rounds_matrix("Server CPU per request, µs", RUNS, "wrk_{run}_cpu_us_per_req", "f", False,
                f"utime+stime of the server process only (/proc/PID/stat, CLK_TCK={meta['clk_tck']}) over the run, "
                "divided by the requests wrk completed, at the pool size of the throughput table. Lower is better.")
A.matrix("PostgreSQL CPU per request, µs (db CPU µs/req)", RUNS, "wrk_{run}_db_cpu_us_per_req", "f",
         "utime+stime of the postmaster and all its processes (backends, autovacuum, ...; those that "
         "ended during the run included) over the same run, divided by the requests wrk completed: "
         "what the program's way of querying costs the database. Lower is better.")
A.matrix("wrk's own CPU per request, µs", RUNS, "wrk_{run}_loadgen_cpu_us_per_req", "f",
         "user+system time of the wrk process (bash's time) over the run, divided by the requests it "
         "completed: the load generator shares the machine with the server and PostgreSQL. Lower is better.")
A.matrix("Server + PostgreSQL + wrk CPU per request, µs", RUNS, "wrk_{run}_all_cpu_us_per_req", "f",
         f"The server, PostgreSQL and wrk rows added up. All three share the {meta['nproc']} CPUs, so "
         f"req/s can not exceed {meta['nproc']} CPU-seconds per second divided by this sum, and while the "
         "CPUs are saturated the req/s ratios follow the inverse ratios of these sums: the server's own "
         "share moves only its part. Lower is better.")
A.matrix("Server CPU, s (during each run)", RUNS, "wrk_{run}_server_cpu_s", "f", ratio=False)
A.matrix("PostgreSQL CPU, s (during each run; it has both CPUs)", RUNS, "wrk_{run}_db_cpu_s", "f", ratio=False)
A.matrix("Socket errors (connect, read, write, timeout)", RUNS, "wrk_{run}_socket_errors", "int", ratio=False)
A.matrix("Non-2xx answers", RUNS, "wrk_{run}_non2xx", "int", ratio=False)
A.matrix("Pool size at each program's best", RUNS, "best_pool_{run}", "int",
         "The pool size (of the sweep) at which the program had its highest median req/s in that test.", ratio=False)
sweep = json.load(open(f"{work}/sweep.json"))
A.heading("The whole sweep: median req/s by pool size",
          "One row per program and pool size; the best of each program per test is the one in the tables above.")
w("| program | pool | " + " | ".join(h for _, h in RUNS) + " |")
w("|---|---:" + "|---:" * len(RUNS) + "|")
for p in progs:
    for pool in sorted(sweep.get(p, {}), key=int):
        cells = [A.fmt(sweep[p][pool].get(f"wrk_{t}_rps") if isinstance(sweep[p][pool].get(f"wrk_{t}_rps"), float) else None, "rps")
                 for t, _ in RUNS]
        w(f"| {LABEL[p]} | {pool} | " + " | ".join(cells) + " |")
w()
A.table("VACUUM ANALYZE world after each program",
        [("dead rows before", "world_dead_tuples", "int", False), ("VACUUM s", "vacuum_s", "f", False)],
        "Dead rows as pg_stat_user_tables counted them (autovacuum may have removed some already).")
A.failures()
A.versions(["go", "rustc", "cc", "wrk", "postgresql"],
           ["actix-web", "actix-http", "actix-rt", "axum", "hyper", "tokio", "tokio-postgres",
            "postgres-protocol", "futures-util", "serde_json", "mimalloc"],
           ["github.com/gofiber/fiber/v2", "github.com/valyala/fasthttp", "github.com/jackc/pgx/v5",
            "github.com/jackc/puddle/v2"])
w(f"- load average (1, 5, 15 min): {meta['loadavg']}")
w(f"- builds took {meta['build_seconds']} s, the runs {meta['run_seconds']} s")
w()
A.commands()
A.write_md(md_path)

doc = {
    "date": meta["date"],
    "machine": {k: meta[k] for k in ("cpu_model", "nproc", "kernel", "memory", "ulimit_n")},
    "pinning": meta["pinning"],
    "versions": {k: meta[k] for k in ("go", "rustc", "cargo", "cc", "wrk", "postgresql")} |
                {"crates": A.crates, "go_modules": A.gomods},
    "weft_commit": meta["weft_commit"],
    "loadavg": meta["loadavg"],
    "command": meta["command"],
    "environment": meta["env"],
    "commands": A.cmds,
    "settings": {k: meta[k] for k in ("duration", "warmup", "conns", "db_pool", "tests", "clk_tck")},
    "tests": {t: NAMES[t] for t, _ in RUNS},
    "db_access": {p: HOW[p] for p in progs},
    "metric_names": "per test T: wrk_T_rps, _requests, _seconds, _socket_errors, _non2xx, _latency_p50/_p99 "
                    "(as wrk prints them), _p50_ms, _p99_ms, _server_cpu_s, _cpu_us_per_req (the server "
                    "process), _db_cpu_s, _db_cpu_us_per_req (all PostgreSQL processes); pg_conns; "
                    "world_dead_tuples and vacuum_s (the VACUUM ANALYZE world after the program)",
    "ratio_convention": "program/weft for every metric: for req/s > 1 means the program is faster than weft; "
                        "for latency and CPU per request > 1 means the program takes more than weft",
    "results": {p: {"label": LABEL[p], "metrics": A.res.get(p, {}), "failures": A.status.get(p, {})} for p in progs},
    "rounds": json.load(open(f"{work}/rounds.json")),
    "pool_sweep": json.load(open(f"{work}/sweep.json")),
    "smoke": meta.get("smoke") == "1",
    "parity": {p: {m: A.verdict(p, m, m.endswith("_rps")) for m in A.rounds.get(p, {})
                   if m.startswith("wrk_") and m.endswith(("_rps", "_us_per_req", "_ms", "_pct"))
                   and A.verdict(p, m, m.endswith("_rps"))} for p in progs if p != "weft"},
    "ratios_to_weft": {p: {m: A.ratio(p, m) for m in A.res.get(p, {}) if A.ratio(p, m) is not None} for p in progs},
    "notes": A.notes,
    "build_seconds": int(meta["build_seconds"]),
    "run_seconds": int(meta["run_seconds"]),
}
if AB:
    doc["baseline"] = {"program": "weft-old", "bin": meta["baseline_bin"], "commit": meta["baseline_commit"] or None,
                       "sha256": meta["baseline_sha256"], "weft_sha256": meta["weft_sha256"] or None}
json.dump(doc, open(json_path, "w"), indent=2)
EOF
cat "$MD"
echo
log "saved $MD and $JSON (builds ${BUILD_SECONDS}s, runs ${RUN_SECONDS}s)"
