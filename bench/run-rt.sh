#!/usr/bin/env bash
# bench/run-rt.sh — runtime micro-benchmarks: weft (bench/micro/rt.c) against
# its Go (bench/peers/go) and Rust peers (bench/peers/rust: may, stackful like
# weft, and tokio, the Rust reference, in its current_thread scheduler and its
# multi_thread scheduler with 2 workers), built and run in the same session,
# each benchmark in a fresh process, every process pinned with the same
# taskset. Worker counts: weft, Go and may use 1 worker for switch_ns,
# spawn_ns and pingpong_ns and 2 for the others; tokio_ct always runs on one
# thread, tokio_mt always on 2 workers.
#
# wake_ns and wake_block are latency distributions: the table shows the
# median and the share of samples under 10 us, 100 us and 1 ms, and no ratio
# (a median that sits at the spinning sender's 2 ms give-up point says the
# runtime left the task queued, not how much slower it is). Prints a Markdown table and saves it, with the raw
# numbers and the machine's description, as bench/results/rt-<date>.{md,json}.
#
# Run by `make bench-rt`, which builds the benchmarks first (`make bench`,
# bench/run-report.sh, does not run this one); works from any directory.
# Knobs (environment):
#   BENCH_CPUS=0-1     CPUs for taskset (default 0-1; all CPUs when nproc < 2)
#   BENCH_REPEAT=3     runs of each benchmark; the table shows the median
#   BENCH_TIMEOUT=600  seconds one run may take before it is killed
#   BENCH_ONLY=name    run only this benchmark (switch_ns, spawn_ns, ...); saved
#                      as rt-<date>-<name>.{md,json}
#   BENCH_PROGS="..."  only these programs (weft go rust tokio_ct tokio_mt)
#   BENCH_SMOKE=1      label the results a smoke run (busy machine, few runs:
#                      not for publishing); saved as rt-<date>[-name]-smoke
# A program that does not build, or a run that fails, shows as n/a and the
# script goes on; it exits 0 once the table is written.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

REPEAT=${BENCH_REPEAT:-3}
TIMEOUT=${BENCH_TIMEOUT:-600}
if [ -n "${BENCH_CPUS:-}" ]; then
    CPUS=$BENCH_CPUS
elif [ "$(nproc)" -ge 2 ]; then
    CPUS=0-1
else
    CPUS=0
fi
DATE=$(date +%Y-%m-%d)
OUTDIR=bench/results
SMOKE=${BENCH_SMOKE:-0}
STEM=$OUTDIR/rt-$DATE${BENCH_ONLY:+-$BENCH_ONLY}$([ "$SMOKE" = 1 ] && echo -smoke || :) # a partial run keeps off the full table
MD=$STEM.md
JSON=$STEM.json

BENCHES=(switch_ns spawn_ns pingpong_ns chan_msgs_per_s park1m wake_ns wake_block)
if [ -n "${BENCH_ONLY:-}" ]; then read -r -a BENCHES <<<"${BENCH_ONLY//,/ }"; fi
METRICS=(switch_ns spawn_ns pingpong_ns chan_msgs_per_s park1m_spawn_ms
         park1m_rss_per_task_bytes
         wake_ns wake_lt10us_pct wake_lt100us_pct wake_lt1ms_pct
         wake_block_ns wake_block_lt10us_pct wake_block_lt100us_pct wake_block_lt1ms_pct)
ALL_PROGS=(weft go rust tokio_ct tokio_mt)
PROGS=("${ALL_PROGS[@]}")
if [ -n "${BENCH_PROGS:-}" ]; then read -r -a PROGS <<<"${BENCH_PROGS//,/ }"; fi
declare -A LABEL=([weft]="weft" [go]="Go" [rust]="Rust may" [tokio_ct]="Rust tokio current_thread"
    [tokio_mt]="Rust tokio multi_thread (2)")

. "$ROOT/bench/lib.sh"
bench_init run-rt
: >"$WORK/results" # lines: prog metric value unit
: >"$WORK/notes"   # lines: prog: note
: >"$WORK/status"  # lines: prog bench status...

for p in "${ALL_PROGS[@]}"; do BIN[$p]=""; WHY[$p]="not selected"; done

# ---- build ------------------------------------------------------------------

build_weft_bench weft rt
build_go_peer go bench/peers/go gobench
build_rust_peer rust bench/peers/rust rustbench
# tokiobench is the same Cargo package's second binary: built with rustbench
declare -A PCMD=([weft]="${BIN[weft]}" [go]="${BIN[go]}" [rust]="${BIN[rust]}")
for f in tokio_ct:current_thread tokio_mt:multi_thread; do
    p=${f%%:*}
    BIN[$p]=""; WHY[$p]=${WHY[rust]}
    if [ -n "${BIN[rust]}" ] && [ -x "$ROOT/bench/peers/rust/target/release/tokiobench" ]; then
        BIN[$p]=$ROOT/bench/peers/rust/target/release/tokiobench
        PCMD[$p]="${BIN[$p]} ${f#*:}"
    fi
done

# ---- run --------------------------------------------------------------------

pin_to "$CPUS"

for p in "${PROGS[@]}"; do
    [ -n "${BIN[$p]}" ] || { log "skipping $p: ${WHY[$p]}"; continue; }
    for b in "${BENCHES[@]}"; do
        for ((r = 1; r <= REPEAT; r++)); do
            log "$p $b (run $r/$REPEAT)"
            rc=0
            read -r -a PC <<<"${PCMD[$p]}"
            timeout "$TIMEOUT" "${PIN[@]}" "${PC[@]}" "$b" >"$WORK/out" 2>"$WORK/err" || rc=$?
            awk -v p="$p" '$1 == "RESULT" && NF >= 4 { print p, $2, $3, $4 }' \
                "$WORK/out" >>"$WORK/results"
            { grep '^# ' "$WORK/out" || true; } | sed -e "s/^# \($p: \)\{0,1\}/$p: /" >>"$WORK/notes"
            if [ "$rc" -eq 0 ]; then
                echo "$p $b ok" >>"$WORK/status"
                continue
            fi
            if [ "$rc" -eq 124 ]; then
                st="timed out after ${TIMEOUT}s"
            elif [ "$rc" -eq 3 ] && [ "$p" != weft ] && [ "$p" != go ]; then
                st="skipped"
            else
                st="exit $rc: $(tail -n 1 "$WORK/err" | cut -c1-200)"
            fi
            log "$p $b: $st"
            sed 's/^/    /' "$WORK/err" | tail -n 5 >&2
            echo "$p $b $st" >>"$WORK/status"
            break # no point repeating a failing run
        done
    done
done

# ---- numbers ----------------------------------------------------------------

# median PROG METRIC -> value or empty
median() {
    awk -v p="$1" -v m="$2" '$1 == p && $2 == m { print $3 }' "$WORK/results" | sort -g |
        awk '{ v[NR] = $1 } END { if (NR) printf "%.6g\n", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
runs() { # comma-separated raw values
    awk -v p="$1" -v m="$2" '$1 == p && $2 == m { printf "%s%s", (n++ ? ", " : ""), $3 }' "$WORK/results"
}
unit_of() {
    case $1 in
    chan_msgs_per_s) echo "msgs/s" ;;
    park1m_spawn_ms) echo "ms" ;;
    park1m_rss_per_task_bytes) echo "B" ;;
    *_pct) echo "%" ;;
    *) echo "ns" ;;
    esac
}
higher_better() { [ "$1" = chan_msgs_per_s ] || [[ "$1" == *_pct ]]; }
no_ratio() { [[ "$1" == wake_* ]]; } # distributions: no ratio (see the header)
fmt() { # value metric -> display
    [ -n "$1" ] || { echo "n/a"; return; }
    if [[ "$2" == *_pct ]]; then
        awk -v v="$1" 'BEGIN { printf "%.1f %%", v }'
    elif higher_better "$2"; then
        awk -v v="$1" 'BEGIN { printf "%.2f M", v / 1e6 }'
    else
        awk -v v="$1" 'BEGIN { printf (v >= 100 ? "%.0f" : "%.1f"), v }'
    fi
}
# ratio PEER WEFT METRIC: > 1 means weft is better
ratio() {
    [ -n "$1" ] && [ -n "$2" ] || { echo ""; return; }
    if no_ratio "$3"; then echo ""; return; fi
    if higher_better "$3"; then
        awk -v p="$1" -v w="$2" 'BEGIN { if (p > 0) printf "%.4g", w / p }'
    else
        awk -v p="$1" -v w="$2" 'BEGIN { if (w > 0) printf "%.4g", p / w }'
    fi
}
fmt_ratio() { [ -n "$1" ] && awk -v v="$1" 'BEGIN { printf "%.2f×", v }' || echo "n/a"; }

declare -A MED
for p in "${ALL_PROGS[@]}"; do
    for m in "${METRICS[@]}"; do MED[$p.$m]=$(median "$p" "$m"); done
done

# Targets for weft (issue 14 A): name | metric | op | bound. goratio: Go's
# median over weft's is at least bound (≤ 0.5× Go's time is a ratio ≥ 2).
TARGETS=(
    "switch ≤ 15 ns|switch_ns|le|15"
    "spawn+exit ≤ 50 ns|spawn_ns|le|50"
    "ping-pong ≤ 100 ns|pingpong_ns|le|100"
    "1M parked: spawn ≤ 1000 ms|park1m_spawn_ms|le|1000"
    "1M parked: ≤ 4 KB/task|park1m_rss_per_task_bytes|le|4096"
    "1M parked: spawn ≤ 0.5× Go's time|park1m_spawn_ms|goratio|2"
    "switch ≥ 5× faster than Go|switch_ns|goratio|5"
    "spawn ≥ 5× faster than Go|spawn_ns|goratio|5"
    "ping-pong ≥ 5× faster than Go|pingpong_ns|goratio|5"
)
target_eval() { # metric op bound -> "value|met" (met: met, not met, n/a)
    local m=$2 op=$3 bound=$4 v
    if [ "$op" = goratio ]; then
        v=$(ratio "${MED[go.$m]}" "${MED[weft.$m]}" "$m")
    else
        v=${MED[weft.$m]}
    fi
    if [ -z "$v" ]; then echo "|n/a"; return; fi
    if awk -v v="$v" -v b="$bound" -v op="$op" 'BEGIN { exit !(op == "le" ? v <= b : v >= b) }'; then
        echo "$v|met"
    else
        echo "$v|not met"
    fi
}

# ---- machine ----------------------------------------------------------------

machine_facts
MAX_MAPS=$(cat /proc/sys/vm/max_map_count 2>/dev/null || echo unknown)
# "name version" of every crate built into the Rust peer for this machine
# (cargo tree); failing that, every package in Cargo.lock.
CRATES=$(cargo tree --manifest-path bench/peers/rust/Cargo.toml --locked --offline \
    --prefix none -e normal,build 2>/dev/null |
    awk '$1 != "weft-bench-rust" && $2 ~ /^v[0-9]/ { print $1, substr($2, 2) }' | sort -u || true)
if [ -z "$CRATES" ]; then
    CRATES=$(awk '/^\[\[package\]\]/ { n = "" } /^name = / { gsub(/"/, "", $3); n = $3 }
        /^version = / && n != "" && n != "weft-bench-rust" { gsub(/"/, "", $3); print n, $3 }' \
        bench/peers/rust/Cargo.lock 2>/dev/null || true)
fi
MAY_V=$(awk '$1 == "may" { print $2 }' <<<"$CRATES")
TOKIO_V=$(awk '$1 == "tokio" { print $2 }' <<<"$CRATES")

# ---- Markdown ---------------------------------------------------------------

status_of() { # prog bench -> status text of the first failure, or ""
    awk -v p="$1" -v b="$2" '$1 == p && $2 == b && $3 != "ok" { $1 = ""; $2 = ""; sub(/^ +/, ""); print; exit }' "$WORK/status"
}
bench_of() { case $1 in park1m_*) echo park1m ;; wake_block_*) echo wake_block ;; wake_*) echo wake_ns ;; *) echo "$1" ;; esac; }

{
    echo "# weft runtime micro-benchmarks, $DATE$([ "$SMOKE" = 1 ] && echo ' — SMOKE RUN, not for publishing')"
    echo
    if [ "$SMOKE" = 1 ]; then
        echo "**Smoke run (BENCH_SMOKE=1)**: it shows that every program builds and runs"
        echo "these benchmarks; the machine was shared with other work and the runs were"
        echo "few, so the figures below are not measurements to quote."
        echo
    fi
    echo "Each benchmark ran $REPEAT time(s) in a fresh process; values are medians. All"
    echo "processes: $PINNED. Ratios are peer/weft for lower-is-better metrics and"
    echo "weft/peer for msgs/s, so **a ratio > 1 means weft is faster**. Worker counts:"
    echo "weft, Go and may run switch_ns, spawn_ns and pingpong_ns on 1 worker and the"
    echo "rest on 2; tokio current_thread always on 1 thread, tokio multi_thread always on"
    echo "2 workers. Tokio has no rendezvous channel: where the others use an unbuffered"
    echo "channel it uses a bounded mpsc of capacity 1; may has no bounded channel (its"
    echo "notes below say how it emulates one)."
    echo
    echo "wake_ns / wake_block: the receiver is parked in a recv; the sender stamps the"
    echo "time and sends it; a sample is the receiver's clock on resume minus that stamp."
    echo "In wake_ns the sender then spins on its worker (after 2 ms it starts yielding,"
    echo "so the run ends), so only an idle second worker can run the receiver promptly;"
    echo "in wake_block the sender blocks on a reply, freeing its worker. Both are shown"
    echo "as distributions (median, share of samples under 10 µs / 100 µs / 1 ms), without"
    echo "ratios."
    echo
    hdr="| benchmark | unit |"; sep="|---|---|"
    for p in "${PROGS[@]}"; do hdr+=" ${LABEL[$p]} |"; sep+="---:|"; done
    for p in "${PROGS[@]}"; do [ "$p" = weft ] || { hdr+=" ${LABEL[$p]}/weft |"; sep+="---:|"; }; done
    echo "$hdr"
    echo "$sep"
    for m in "${METRICS[@]}"; do
        u=$(unit_of "$m")
        du=$u
        [ "$m" = chan_msgs_per_s ] && du="msgs/s (higher is better)"
        [[ "$m" == *_pct ]] && du="% of samples (higher is better)"
        row="| $m | $du |"
        for p in "${PROGS[@]}"; do row+=" $(fmt "${MED[$p.$m]}" "$m") |"; done
        for p in "${PROGS[@]}"; do
            [ "$p" = weft ] && continue
            if no_ratio "$m"; then row+=" — |"; else row+=" $(fmt_ratio "$(ratio "${MED[$p.$m]}" "${MED[weft.$m]}" "$m")") |"; fi
        done
        echo "$row"
    done
    echo
    echo "## Targets (weft)"
    echo
    echo "| target | weft | result |"
    echo "|---|---:|---|"
    for t in "${TARGETS[@]}"; do
        IFS='|' read -r name m op bound <<<"$t"
        IFS='|' read -r v met <<<"$(target_eval "$name" "$m" "$op" "$bound")"
        if [ "$op" = goratio ]; then shown=$(fmt_ratio "$v"); else shown=$(fmt "$v" "$m"); fi
        echo "| $name | $shown | $met |"
    done
    echo
    echo "## Runs that did not succeed"
    echo
    any=0
    for p in "${PROGS[@]}"; do
        if [ -z "${BIN[$p]}" ]; then echo "- $p: ${WHY[$p]} (all n/a)"; any=1; continue; fi
        for b in "${BENCHES[@]}"; do
            s=$(status_of "$p" "$b")
            if [ -n "$s" ]; then echo "- $p $b: $s"; any=1; fi
        done
    done
    [ "$any" -eq 1 ] || echo "- none"
    echo
    echo "## Notes from the programs"
    echo
    awk '!seen[$0]++ { print "- " $0 }' "$WORK/notes"
    echo
    echo "## Machine"
    echo
    echo "- kernel: $KERNEL; CPU: ${CPU_MODEL:-unknown}; nproc: $NPROC; vm.max_map_count: $MAX_MAPS"
    echo "- $GCC_V; $GO_V; $RUSTC_V; may $MAY_V; tokio $TOKIO_V"
    echo "- weft commit: $COMMIT"
} >"$WORK/table.md"

# ---- JSON -------------------------------------------------------------------


{
    echo "{"
    echo "  \"date\": $(jstr "$DATE"),"
    echo "  \"uname_r\": $(jstr "$KERNEL"),"
    echo "  \"cpu_model\": $(jstr "$CPU_MODEL"),"
    echo "  \"nproc\": $NPROC,"
    echo "  \"pinning\": $(jstr "$PINNED"),"
    echo "  \"repeat\": $REPEAT,"
    echo "  \"vm_max_map_count\": $(jstr "$MAX_MAPS"),"
    echo "  \"weft_commit\": $(jstr "$COMMIT"),"
    echo "  \"smoke\": $([ "$SMOKE" = 1 ] && echo true || echo false),"
    echo "  \"versions\": {"
    echo "    \"gcc\": $(jstr "$GCC_V"),"
    echo "    \"go\": $(jstr "$GO_V"),"
    echo "    \"rustc\": $(jstr "$RUSTC_V"),"
    echo -n "    \"crates\": {"
    sep=""
    while read -r n v; do
        [ -n "$n" ] || continue
        echo -n "$sep$(jstr "$n"): $(jstr "$v")"
        sep=", "
    done <<<"$CRATES"
    echo "}"
    echo "  },"
    echo "  \"ratio_convention\": \"peer/weft for lower-is-better metrics, weft/peer for msgs/s; > 1 means weft is faster\","
    echo "  \"results\": {"
    psep=""
    for p in "${PROGS[@]}"; do
        echo -n "$psep    $(jstr "$p"): {"
        echo -n "\"label\": $(jstr "${LABEL[$p]}"), \"built\": $([ -n "${BIN[$p]}" ] && echo true || echo false)"
        for m in "${METRICS[@]}"; do
            s=$(status_of "$p" "$(bench_of "$m")")
            [ -n "${BIN[$p]}" ] || s=${WHY[$p]}
            [[ " ${BENCHES[*]} " == *" $(bench_of "$m") "* ]] || s="not run"
            echo -n ", $(jstr "$m"): {\"unit\": $(jstr "$(unit_of "$m")"), \"median\": $(jnum "${MED[$p.$m]}"), \"runs\": [$(runs "$p" "$m")], \"status\": $(jstr "${s:-ok}")}"
        done
        echo -n "}"
        psep=$',\n'
    done
    echo
    echo "  },"
    echo "  \"ratios\": {"
    msep=""
    for m in "${METRICS[@]}"; do
        echo -n "$msep    $(jstr "$m"): {"
        rsep=""
        for p in "${PROGS[@]}"; do
            [ "$p" = weft ] && continue
            echo -n "$rsep$(jstr "${p}_over_weft"): $(jnum "$(ratio "${MED[$p.$m]}" "${MED[weft.$m]}" "$m")")"
            rsep=", "
        done
        echo -n "}"
        msep=$',\n'
    done
    echo
    echo "  },"
    echo "  \"targets\": ["
    tsep=""
    for t in "${TARGETS[@]}"; do
        IFS='|' read -r name m op bound <<<"$t"
        IFS='|' read -r v met <<<"$(target_eval "$name" "$m" "$op" "$bound")"
        echo -n "$tsep    {\"target\": $(jstr "$name"), \"value\": $(jnum "$v"), \"result\": $(jstr "$met")}"
        tsep=$',\n'
    done
    echo
    echo "  ],"
    echo "  \"notes\": $(jnotes "$WORK/notes")"
    echo "}"
} >"$WORK/results.json"

save_results
