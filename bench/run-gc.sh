#!/usr/bin/env bash
# bench/run-gc.sh — the GC case (issue 13 part C; docs/gc-case.md): Discord's
# "Read States" service in weft (apps/readstates), Go (bench/peers/gc-go,
# garbage collector at its defaults) and Rust (bench/peers/gc-rust, axum on
# tokio), each holding 10M read states in memory, driven at one fixed
# open-loop rate by bench/tools/gcload.c (coordinated omission corrected);
# latency per 10 s window, RSS after the load and during the run.
#
# Server pinned to CPU 0, generator to CPU 1 (taskset). Programs run one
# after another, in rotated order each round (round 1: weft go rust, round
# 2: go rust weft, ...), each on a freshly started server.
#
#   make bench-gc                 5 minutes per program, 1 round
#   QUICK=1 make bench-gc         30 s per program, 3 rounds in rotated order
#                                 (about 7 minutes): the min-max over the
#                                 rounds is the noise band the verdicts use
# Verdicts (weft against each peer, gc_report.py): only with >= 3 clean
# rounds and a quiet machine. The run is labelled busy when the CPUs are
# more than 10 % busy at the start (BUSY="why" forces the label, BUSY=""
# forces quiet); a busy run shows its figures without verdicts.
# Knobs (environment):
#   ROUNDS=1          rounds (alternating order; QUICK: 3)
#   DURATION=300      measured seconds per run (QUICK: 30); WARMUP=10 (QUICK: 5)
#   RATE=8000         requests/s (see docs/gc-case.md for how it was chosen)
#   USERS=10000000    entries loaded; UPDATE_PCT=10 (share of POST acks)
#   CONNS=64          generator connections (one request in flight on each)
#   PROGS="weft go rust"   also: go-ptr (entries by pointer), go-gogc (GOGC=$GO_GOGC, default 400),
#                     floor (bench/tools/gcfloor.c: a server that does no work —
#                     the latency of the generator, loopback and wake-ups alone),
#                     floor-spin (the same server polling instead of sleeping:
#                     no wake-up of an idle CPU in its latency)
#   OUT=bench/results/gc-DATE   (.md, .json, .svg)
#   BASE=<git ref>    with "weft-base" in PROGS: apps/readstates built from that ref
#                     (git archive into a temporary directory), run in the
#                     same rotated rounds as the others: an old/new A/B of a
#                     weft change, e.g. BASE=main PROGS="weft weft-base"
#   PORT0=18700       first port; the programs use PORT0..PORT0+6
#   SERVER_FIFO=N     run the servers at SCHED_FIFO priority N (chrt -f N): on
#                     a busy machine the server then runs whenever it has work
#                     and idles between requests as on a quiet one, so its CPU
#                     per request includes what it spends idling (a spinning
#                     idle loop shows); the result file says so
#   GEN_FIFO=N        the generator too at SCHED_FIFO priority N, sleeping
#                     until each request is due (gcload -S) instead of
#                     spinning (a spinning one is stopped 50 ms a second by
#                     the kernel's real-time throttling)
# Ports 18700..18706 by default.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
. "$ROOT/bench/lib.sh"
bench_init run-gc

QUICK=${QUICK:-0}
if [ "$QUICK" = 1 ]; then DEF_D=30 DEF_W=5 DEF_R=3; else DEF_D=300 DEF_W=10 DEF_R=1; fi
DURATION=${DURATION:-$DEF_D}
WARMUP=${WARMUP:-$DEF_W}
ROUNDS=${ROUNDS:-$DEF_R}
if [ -z "${BUSY+set}" ]; then # measured before anything of ours runs
    pct=$(busy_pct)
    BUSY=""
    [ "$pct" -gt 10 ] && BUSY="CPUs ${pct}% busy at the start: other work ran on the machine"
    log "CPUs ${pct}% busy at the start${BUSY:+: labelled busy machine, no verdicts}"
fi
RATE=${RATE:-8000}
USERS=${USERS:-10000000}
UPDATE_PCT=${UPDATE_PCT:-10}
CONNS=${CONNS:-64}
GO_GOGC=${GO_GOGC:-400}
read -r -a PROGS <<<"${PROGS:-weft go rust}"
DATE=$(date -u +%Y-%m-%d)
OUT=${OUT:-bench/results/gc-$DATE}
PORT0=${PORT0:-18700}
declare -A PORT=([weft]=$PORT0 [go]=$((PORT0 + 1)) [rust]=$((PORT0 + 2)) [go-ptr]=$((PORT0 + 3))
    [go-gogc]=$((PORT0 + 4)) [weft-base]=$((PORT0 + 5)) [floor]=$((PORT0 + 6))
    [floor-spin]=$((PORT0 + 7)))

# ---- build ------------------------------------------------------------------
if build weft "$WORK/build-weft.log" make --no-print-directory build/apps/readstates; then
    BIN[weft]=$ROOT/build/apps/readstates
else WHY[weft]="build failed"; fi
wants() { [[ " ${PROGS[*]} " == *" $1 "* ]]; }
BASE=${BASE:-}
BASE_SHA=$([ -n "$BASE" ] && git rev-parse --short "$BASE" 2>/dev/null || echo "?")
if [ -n "$BASE" ] && wants weft-base; then # the old side of an A/B: the same app from BASE
    mkdir -p "$WORK/base"
    if git archive "$BASE" 2>"$WORK/build-base.log" | tar -x -C "$WORK/base" &&
        build weft-base "$WORK/build-base.log" make -C "$WORK/base" --no-print-directory -j2 build/apps/readstates; then
        BIN[weft-base]=$WORK/base/build/apps/readstates
    else WHY[weft-base]="build of $BASE failed"; fi
else WHY[weft-base]="BASE not set"; fi
build gcload "$WORK/build-gcload.log" "${CC:-cc}" -O2 -std=c11 -Wall -Wextra -o "$WORK/gcload" \
    bench/tools/gcload.c || { log "cannot build the load generator"; exit 1; }
if wants floor || wants floor-spin; then
    if build floor "$WORK/build-floor.log" "${CC:-cc}" -O2 -std=c11 -Wall -Wextra -o "$WORK/gcfloor" \
        bench/tools/gcfloor.c; then BIN[floor]=$WORK/gcfloor BIN[floor-spin]=$WORK/gcfloor
    else WHY[floor]="build failed" WHY[floor-spin]="build failed"; fi
else WHY[floor]="not selected" WHY[floor-spin]="not selected"; fi
if wants go || wants go-ptr || wants go-gogc; then build_go_peer go bench/peers/gc-go gc-go
else WHY[go]="not selected"; fi
if wants rust; then build_rust_peer rust bench/peers/gc-rust weft-bench-gc-rust
else WHY[rust]="not selected"; fi
[ -n "${BIN[go]:-}" ] && BIN[go-ptr]=${BIN[go]} && BIN[go-gogc]=${BIN[go]}
[ -n "${WHY[go]:-}" ] && WHY[go-ptr]=${WHY[go]} && WHY[go-gogc]=${WHY[go]}

pin_to 0
SERVER_PIN=("${PIN[@]}")
SERVER_PINNED=$PINNED
SERVER_FIFO=${SERVER_FIFO:-}
if [ -n "$SERVER_FIFO" ]; then
    if chrt -f "$SERVER_FIFO" true 2>/dev/null; then
        SERVER_PIN=(chrt -f "$SERVER_FIFO" "${SERVER_PIN[@]}")
        SERVER_PINNED="$SERVER_PINNED, at SCHED_FIFO priority $SERVER_FIFO (chrt -f $SERVER_FIFO)"
    else
        log "SERVER_FIFO=$SERVER_FIFO: chrt -f failed (no permission?); servers at normal priority"
        SERVER_FIFO=""
    fi
fi
pin_to 1
GEN_PIN=("${PIN[@]}")
GEN_PINNED=$PINNED
GEN_FIFO=${GEN_FIFO:-}
GEN_ARGS=()
if [ -n "$GEN_FIFO" ]; then
    if chrt -f "$GEN_FIFO" true 2>/dev/null; then
        GEN_PIN=(chrt -f "$GEN_FIFO" "${GEN_PIN[@]}")
        GEN_ARGS=(-S)
        GEN_PINNED="$GEN_PINNED, at SCHED_FIFO priority $GEN_FIFO, sleeping until each request is due (gcload -S)"
    else
        log "GEN_FIFO=$GEN_FIFO: chrt -f failed (no permission?); the generator at normal priority"
        GEN_FIFO=""
    fi
fi

server_cmd() { # prog -> SCMD
    local p=$1
    case $p in
    weft) SCMD=("${BIN[weft]}" --port "${PORT[weft]}" --workers 1 --users "$USERS") ;;
    weft-base) SCMD=("${BIN[weft-base]}" --port "${PORT[weft-base]}" --workers 1 --users "$USERS") ;;
    go) SCMD=(env -u GOGC -u GOMEMLIMIT "${BIN[go]}" -port "${PORT[go]}" -users "$USERS") ;;
    go-ptr) SCMD=(env -u GOGC -u GOMEMLIMIT "${BIN[go]}" -port "${PORT[go-ptr]}" -users "$USERS" -ptr) ;;
    go-gogc) SCMD=(env GOGC="$GO_GOGC" -u GOMEMLIMIT "${BIN[go]}" -port "${PORT[go-gogc]}" -users "$USERS") ;;
    rust) SCMD=("${BIN[rust]}" "${PORT[rust]}" "$USERS") ;;
    floor) SCMD=("${BIN[floor]}" "${PORT[floor]}") ;;
    floor-spin) SCMD=("${BIN[floor-spin]}" "${PORT[floor-spin]}" --spin) ;;
    esac
}

SPID=""
cleanup_server() { [ -n "$SPID" ] && stop_pid "$SPID"; SPID=""; }
trap 'cleanup_server; rm -rf "$WORK"' EXIT

run_one() { # prog round
    local p=$1 r=$2 i res="$WORK/$p.r$2"
    server_cmd "$p"
    echo "${SERVER_PIN[*]} ${SCMD[*]}" >"$res.cmd"
    if listening "${PORT[$p]}"; then
        echo "port ${PORT[$p]} already in use" >"$res.fail"
        return
    fi
    : >"$res.server.log"
    "${SERVER_PIN[@]}" "${SCMD[@]}" >>"$res.server.log" 2>&1 &
    SPID=$!
    # loading 10M entries takes seconds: wait for the "listening" line (3 min at most)
    for ((i = 0; i < 1800; i++)); do
        grep -q "listening on" "$res.server.log" && break
        kill -0 "$SPID" 2>/dev/null || break
        sleep 0.1
    done
    if ! grep -q "listening on" "$res.server.log" || ! kill -0 "$SPID" 2>/dev/null; then
        echo "did not start: $(tail -n 2 "$res.server.log" | tr '\n' ' ')" >"$res.fail"
        cleanup_server
        return
    fi
    sleep 1
    rss_kb "$SPID" >"$res.rss_after_load"
    log "round $r: $p (pid $SPID, RSS $(cat "$res.rss_after_load") kB after load): $RATE req/s for ${WARMUP}+${DURATION} s"
    local rc=0
    "${GEN_PIN[@]}" "$WORK/gcload" "${GEN_ARGS[@]}" -P "${PORT[$p]}" -r "$RATE" -d "$DURATION" -w "$WARMUP" \
        -c "$CONNS" -u "$USERS" -U "$UPDATE_PCT" -p "$SPID" >"$res.json" 2>"$res.gen.log" || rc=$?
    [ $rc = 0 ] || echo "generator exit $rc (3: errors or unanswered requests; see counts)" >>"$res.note"
    kill -0 "$SPID" 2>/dev/null || echo "server died during the run: $(tail -n 2 "$res.server.log" | tr '\n' ' ')" >>"$res.fail"
    cleanup_server
    python3 -c 'import json,sys; o=json.load(open(sys.argv[1])); print("   p50 %s us  p99 %s us  p99.9 %s us  max %s us  (%s done, %s errors)" % (o["overall"]["p50_us"], o["overall"]["p99_us"], o["overall"]["p999_us"], o["overall"]["max_us"], o["completed"], o["errors"]))' "$res.json" >&2 || true
}

for ((r = 1; r <= ROUNDS; r++)); do
    n=${#PROGS[@]}
    for ((k = 0; k < n; k++)); do
        p=${PROGS[$(((k + r - 1) % n))]}
        if [ -z "${BIN[$p]:-}" ]; then
            echo "${WHY[$p]:-not built}" >"$WORK/$p.r$r.fail"
            continue
        fi
        run_one "$p" "$r"
    done
done

# ---- report -------------------------------------------------------------------
{
    echo "date=$DATE"
    echo "machine=$(lscpu 2>/dev/null | awk -F: '/^Model name/ { sub(/^ +/, "", $2); print $2; exit }'), $(nproc) CPUs, $(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo), $(uname -srm)"
    echo "busy=$BUSY"
    echo "server_pin=$SERVER_PINNED"
    echo "generator_pin=$GEN_PINNED"
    echo "weft_commit=$(git rev-parse HEAD 2>/dev/null || echo unknown)$([ -n "$(git status --porcelain -- . ':!bench/results' 2>/dev/null)" ] && echo ' (dirty)')"
    echo "cc=$(first_out "${CC:-cc}" --version)"
    echo "go=$(first_out go version)"
    echo "rustc=$(first_out rustc --version)"
    echo "crates=$(awk '/^name = / { gsub(/"/, "", $3); n = $3 } /^version = / && (n == "axum" || n == "tokio" || n == "hyper" || n == "serde_json") { gsub(/"/, "", $3); printf "%s %s, ", n, $3 }' bench/peers/gc-rust/Cargo.lock | sed 's/, $//')"
    echo "command=QUICK=$QUICK ROUNDS=$ROUNDS DURATION=$DURATION WARMUP=$WARMUP RATE=$RATE USERS=$USERS UPDATE_PCT=$UPDATE_PCT CONNS=$CONNS PROGS=\"${PROGS[*]}\"$(wants go-gogc && echo " GO_GOGC=$GO_GOGC")${BASE:+ BASE=$BASE}${SERVER_FIFO:+ SERVER_FIFO=$SERVER_FIFO}${GEN_FIFO:+ GEN_FIFO=$GEN_FIFO} make bench-gc"
    if [ -n "$BASE" ]; then echo "base=$BASE ($BASE_SHA)"; fi
} >"$WORK/meta"
python3 bench/tools/gc_report.py "$WORK" "$OUT" "${PROGS[@]}"
log "wrote $OUT.md, $OUT.json, $OUT.svg"
