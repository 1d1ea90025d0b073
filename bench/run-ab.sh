#!/usr/bin/env bash
# bench/run-ab.sh — weft against an older weft, side by side in one run:
# the runtime micro-benchmarks (build/bench/rt) and the TFB app's /plaintext
# and /json under wrk, old and new alternating round by round (odd rounds old
# first, even rounds new first), so that a busy machine's drift hits both.
# For a runtime change: is it faster, and did it slow the servers down?
#
#   bash bench/run-ab.sh                 # BASE=main against this checkout
#   BASE=a46a1c8 ROUNDS=7 bash bench/run-ab.sh
#
# "old" is BASE (a git ref) exported with `git archive` into a temporary
# directory and built there; "new" is this checkout's build/ (made here).
# The runtime benchmarks also run the Go peer (bench/peers/go, the same
# benchmarks and sizes) in the same rounds, for the issue's "x times Go"
# targets, when go is installed (GO=0 leaves it out).
# Each cell of the table: median (min–max) of the rounds; "parity" where the
# two ranges overlap (the difference is inside the noise band).
#
# Knobs (environment):
#   BASE=main          the old side (any git ref)
#   ROUNDS=5           alternating rounds (QUICK=1: 3 rounds, 3 s wrk runs)
#   PARTS="rt http"    which halves to run
#   RT_BENCHES="switch_ns spawn_ns pingpong_ns park1m"
#   GO=1               also run the Go peer in the runtime rounds
#   WRK_DURATION=8     seconds of each measured wrk run (after a 2 s warm-up)
#   WRK_CONNS=256      wrk connections (wrk -t1)
#   PORT=18500         the TFB app's port (the old and new server take turns)
#   BENCH_CPUS=0-1     runtime benchmarks: taskset CPUs; HTTP: server on the
#                      first, wrk on the second
#   SERVER_WORKERS=1   the TFB app's --workers; with 2 the server runs on all of
#                      BENCH_CPUS (wrk shares its last CPU): two workers with real work
#   LABEL="busy machine"  written into the title (say when the machine was shared)
#   OUT=bench/results/rt-ab-<date>   stem of the .md written (and printed)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

BASE=${BASE:-main}
QUICK=${QUICK:-0}
ROUNDS=${ROUNDS:-$([ "$QUICK" = 1 ] && echo 3 || echo 5)}
WRK_DURATION=${WRK_DURATION:-$([ "$QUICK" = 1 ] && echo 3 || echo 8)}
WRK_CONNS=${WRK_CONNS:-256}
PARTS=${PARTS:-rt http}
RT_BENCHES=${RT_BENCHES:-switch_ns spawn_ns pingpong_ns park1m}
PORT=${PORT:-18500}
CPUS=${BENCH_CPUS:-0-1}
LABEL=${LABEL:-}
SERVER_WORKERS=${SERVER_WORKERS:-1}
DATE=$(date +%Y-%m-%d)
OUT=${OUT:-bench/results/rt-ab-$DATE}
# The table's "Command:" line: every knob that shapes the table, so that it
# reproduces the run (ROUNDS and SERVER_WORKERS always, the rest when they
# differ from their defaults)
COMMAND="BASE=$BASE"
knob() { case $2 in *" "*) COMMAND+=" $1=\"$2\"" ;; *) COMMAND+=" $1=$2" ;; esac; }
[ "$QUICK" = 0 ] || knob QUICK "$QUICK"
knob ROUNDS "$ROUNDS"
[ "$PARTS" = "rt http" ] || knob PARTS "$PARTS"
[ "$RT_BENCHES" = "switch_ns spawn_ns pingpong_ns park1m" ] || knob RT_BENCHES "$RT_BENCHES"
[ "${GO:-1}" = 1 ] || knob GO "$GO"
[ "$WRK_DURATION" = "$([ "$QUICK" = 1 ] && echo 3 || echo 8)" ] || knob WRK_DURATION "$WRK_DURATION"
[ "$WRK_CONNS" = 256 ] || knob WRK_CONNS "$WRK_CONNS"
[ "$CPUS" = 0-1 ] || knob BENCH_CPUS "$CPUS"
knob SERVER_WORKERS "$SERVER_WORKERS"

WORK=$(mktemp -d)
SPID=""
cleanup() {
    if [ -n "$SPID" ]; then kill "$SPID" 2>/dev/null || true; wait "$SPID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT
log() { echo "run-ab: $*" >&2; }

# ---- build both sides ----------------------------------------------------------
OLD_SHA=$(git rev-parse --short "$BASE")
NEW_SHA=$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src include bench/micro apps/tfb || echo "+dirty")
log "old = $BASE ($OLD_SHA), new = this checkout ($NEW_SHA)"
mkdir -p "$WORK/old"
git archive "$BASE" | tar -x -C "$WORK/old"
# both sides run this checkout's benchmark program (the *_cpu_ns results are
# newer than some bases); only the library under it differs
cp bench/micro/rt.c "$WORK/old/bench/micro/rt.c"
TARGETS=(build/bench/rt build/apps/tfb)
log "building old in $WORK/old"
make -C "$WORK/old" --no-print-directory -j2 "${TARGETS[@]}" >"$WORK/build-old.log" 2>&1 ||
    { tail -n 20 "$WORK/build-old.log" >&2; exit 1; }
log "building new"
make --no-print-directory -j2 "${TARGETS[@]}" >"$WORK/build-new.log" 2>&1 ||
    { tail -n 20 "$WORK/build-new.log" >&2; exit 1; }
declare -A DIR=([old]="$WORK/old" [new]="$ROOT")
declare -A RTBIN=([old]="$WORK/old/build/bench/rt" [new]="$ROOT/build/bench/rt")
SIDES_RT="old new"
GO_V=""
if [ "${GO:-1}" = 1 ] && command -v go >/dev/null 2>&1; then
    log "building the Go peer"
    if env -C bench/peers/go GOFLAGS=-mod=mod GOTOOLCHAIN=local go build -o "$WORK/gobench" . \
        >"$WORK/build-go.log" 2>&1; then
        RTBIN[go]=$WORK/gobench
        SIDES_RT="old new go"
        GO_V=$(go version)
    else
        log "the Go peer did not build: $(tail -n 1 "$WORK/build-go.log")"
    fi
fi

: >"$WORK/results" # lines: side metric value

order() { # round [sides] -> the sides, reversed in even rounds
    local s=${2:-old new}
    if (($1 % 2)); then echo "$s"; else echo "$s" | awk '{ for (i = NF; i > 0; i--) printf "%s%s", $i, (i > 1 ? " " : "\n") }'; fi
}

# ---- runtime micro-benchmarks ----------------------------------------------------
if [[ " $PARTS " == *" rt "* ]]; then
    for ((r = 1; r <= ROUNDS; r++)); do
        for b in $RT_BENCHES; do
            for side in $(order "$r" "$SIDES_RT"); do
                log "round $r/$ROUNDS: rt $b ($side)"
                taskset -c "$CPUS" "${RTBIN[$side]}" "$b" >"$WORK/out" 2>"$WORK/err" ||
                    { log "rt $b ($side) failed: $(tail -n 1 "$WORK/err")"; continue; }
                awk -v s="$side" '$1 == "RESULT" { print s, $2, $3 }' "$WORK/out" >>"$WORK/results"
            done
        done
    done
fi

# ---- HTTP: the TFB app, one worker, under wrk --------------------------------------
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }
SCPU=${CPUS%%[-,]*}
[ "$SERVER_WORKERS" = 1 ] || SCPU=$CPUS
LCPU=${CPUS##*[-,]}
if [[ " $PARTS " == *" http "* ]]; then
    command -v wrk >/dev/null || { log "wrk is not installed (scripts/deps.sh bench)"; exit 1; }
    if listening; then log "port $PORT is in use: set PORT"; exit 1; fi
    for ((r = 1; r <= ROUNDS; r++)); do
        for side in $(order "$r"); do
            taskset -c "$SCPU" "${DIR[$side]}/build/apps/tfb" --port "$PORT" --workers "$SERVER_WORKERS" \
                >"$WORK/server.log" 2>&1 &
            SPID=$!
            for _ in $(seq 150); do listening && break; sleep 0.1; done
            listening || { log "tfb ($side) did not start: $(tail -n 3 "$WORK/server.log")"; exit 1; }
            for path in plaintext json; do
                log "round $r/$ROUNDS: http /$path ($side)"
                url=http://127.0.0.1:$PORT/$path
                taskset -c "$LCPU" wrk -t1 -c"$WRK_CONNS" -d2s "$url" >/dev/null 2>&1 || true
                taskset -c "$LCPU" wrk -t1 -c"$WRK_CONNS" -d"${WRK_DURATION}s" "$url" >"$WORK/wrk" 2>&1 || true
                rps=$(awk '/^Requests\/sec:/ { print $2 }' "$WORK/wrk")
                bad=$(awk '/Non-2xx|Socket errors/ { print }' "$WORK/wrk")
                [ -z "$bad" ] || log "http /$path ($side): $bad"
                [ -n "$rps" ] && echo "$side http_${path}_rps $rps" >>"$WORK/results"
            done
            kill "$SPID"
            wait "$SPID" 2>/dev/null || true
            SPID=""
        done
    done
fi

# ---- table -------------------------------------------------------------------------
{
    echo "# weft old vs new, side by side, $DATE${LABEL:+ — $LABEL}"
    echo
    echo "old = \`$BASE\` ($OLD_SHA), new = $NEW_SHA. $ROUNDS alternating rounds (odd rounds old"
    echo "first, even rounds new first), each benchmark in a fresh process. Cells: median"
    echo "(min–max). Runtime benchmarks: \`taskset -c $CPUS build/bench/rt NAME\` (bench/micro/rt.c;"
    echo "lower is better except chan_msgs_per_s). HTTP: \`build/apps/tfb --workers $SERVER_WORKERS\` on CPU $SCPU,"
    echo "\`wrk -t1 -c$WRK_CONNS -d${WRK_DURATION}s\` on CPU $LCPU after a 2 s warm-up, requests/s (higher is"
    echo "better). \"parity\": the two ranges overlap. Both sides run this checkout's"
    echo "bench/micro/rt.c; only the library under it differs. *_cpu_ns: the process's CPU"
    echo "time per operation (a shared machine disturbs it less than the wall clock)."
    echo "Speed-ups: old/new (Go/new) for lower-is-better metrics, new/old (new/Go) for rates:"
    echo "> 1 means new is faster. The Go peer (bench/peers/go) prints *_cpu_ns too (getrusage)."
    echo "Command: \`$COMMAND bash bench/run-ab.sh\`."
    echo
    python3 - "$WORK/results" <<'EOF'
import sys, statistics
rows = {}
for line in open(sys.argv[1]):
    side, metric, value = line.split()
    rows.setdefault(metric, {}).setdefault(side, []).append(float(value))
def cell(v):
    f = lambda x: f"{x:,.0f}" if x >= 1000 else (f"{x:.0f}" if x >= 100 else f"{x:.1f}")
    return f"{f(statistics.median(v))} ({f(min(v))}–{f(max(v))})" if v else "n/a"
def speedup(m, base, new):  # > 1: new is faster
    if not base or not new:
        return None
    mb, mn = statistics.median(base), statistics.median(new)
    higher = m.endswith("_rps") or m.endswith("_per_s")
    return (mn / mb) if higher else (mb / mn if mn else None)
print("| metric | old | new | Go | old→new speed-up | verdict | Go/new speed-up |")
print("|---|---:|---:|---:|---:|---|---:|")
for m, s in rows.items():
    o, n, g = s.get("old", []), s.get("new", []), s.get("go", [])
    r = speedup(m, o, n)
    gr = speedup(m, g, n)
    if r is None:
        verdict = "n/a"
    elif max(min(o), min(n)) <= min(max(o), max(n)):
        verdict = "parity"
    else:
        verdict = "new better" if r > 1 else "new worse"
    f = lambda x: "n/a" if x is None else f"{x:.2f}×"
    print(f"| {m} | {cell(o)} | {cell(n)} | {cell(g)} | {f(r)} | {verdict} | {f(gr)} |")
print()
print(f"Runs per cell: {min(len(v) for s in rows.values() for v in s.values()) if rows else 0}.")
EOF
    echo
    echo "## Machine"
    echo
    echo "- $(uname -r); $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo); nproc $(nproc)"
    echo "- load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "- $(cc --version | head -n 1); $(wrk -v 2>&1 | head -n 1 || true)${GO_V:+; $GO_V}"
} >"$WORK/table.md"
mkdir -p "$(dirname "$OUT")"
cp "$WORK/table.md" "$OUT.md"
cat "$OUT.md"
log "wrote $OUT.md"
