#!/usr/bin/env bash
# bench/run-rt.sh — runtime micro-benchmarks: weft (bench/micro/rt.c) against
# its Go (bench/peers/go) and Rust/may (bench/peers/rust) peers, built and run
# in the same session, each benchmark in a fresh process, every process pinned
# with the same taskset. Prints a Markdown table and saves it, with the raw
# numbers and the machine's description, as bench/results/rt-<date>.{md,json}.
#
# Run by `make bench` (after scripts/deps.sh and `make benches`); works from
# any directory. Knobs (environment):
#   BENCH_CPUS=0-1     CPUs for taskset (default 0-1; all CPUs when nproc < 2)
#   BENCH_REPEAT=3     runs of each benchmark; the table shows the median
#   BENCH_TIMEOUT=600  seconds one run may take before it is killed
#   BENCH_ONLY=name    run only this benchmark (switch_ns, spawn_ns, ...); saved
#                      as rt-<date>-<name>.{md,json}
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
STEM=$OUTDIR/rt-$DATE${BENCH_ONLY:+-$BENCH_ONLY} # a partial run keeps off the full table
MD=$STEM.md
JSON=$STEM.json

BENCHES=(switch_ns spawn_ns pingpong_ns chan_msgs_per_s park1m wake_ns)
if [ -n "${BENCH_ONLY:-}" ]; then BENCHES=("$BENCH_ONLY"); fi
METRICS=(switch_ns spawn_ns pingpong_ns chan_msgs_per_s park1m_spawn_ms
         park1m_rss_per_task_bytes wake_ns)
PROGS=(weft go rust)

. "$ROOT/bench/lib.sh"
bench_init run-rt
: >"$WORK/results" # lines: prog metric value unit
: >"$WORK/notes"   # lines: prog: note
: >"$WORK/status"  # lines: prog bench status...

for p in "${PROGS[@]}"; do BIN[$p]=""; WHY[$p]=""; done

# ---- build ------------------------------------------------------------------

build_weft_bench weft rt
build_go_peer go bench/peers/go gobench
build_rust_peer rust bench/peers/rust rustbench

# ---- run --------------------------------------------------------------------

pin_to "$CPUS"

for p in "${PROGS[@]}"; do
    [ -n "${BIN[$p]}" ] || { log "skipping $p: ${WHY[$p]}"; continue; }
    for b in "${BENCHES[@]}"; do
        for ((r = 1; r <= REPEAT; r++)); do
            log "$p $b (run $r/$REPEAT)"
            rc=0
            timeout "$TIMEOUT" "${PIN[@]}" "${BIN[$p]}" "$b" >"$WORK/out" 2>"$WORK/err" || rc=$?
            awk -v p="$p" '$1 == "RESULT" && NF >= 4 { print p, $2, $3, $4 }' \
                "$WORK/out" >>"$WORK/results"
            { grep '^# ' "$WORK/out" || true; } | sed -e "s/^# \($p: \)\{0,1\}/$p: /" >>"$WORK/notes"
            if [ "$rc" -eq 0 ]; then
                echo "$p $b ok" >>"$WORK/status"
                continue
            fi
            if [ "$rc" -eq 124 ]; then
                st="timed out after ${TIMEOUT}s"
            elif [ "$rc" -eq 3 ] && [ "$p" = rust ]; then
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
    *) echo "ns" ;;
    esac
}
higher_better() { [ "$1" = chan_msgs_per_s ]; }
fmt() { # value metric -> display
    [ -n "$1" ] || { echo "n/a"; return; }
    if higher_better "$2"; then
        awk -v v="$1" 'BEGIN { printf "%.2f M", v / 1e6 }'
    else
        awk -v v="$1" 'BEGIN { printf (v >= 100 ? "%.0f" : "%.1f"), v }'
    fi
}
# ratio PEER WEFT METRIC: > 1 means weft is better
ratio() {
    [ -n "$1" ] && [ -n "$2" ] || { echo ""; return; }
    if higher_better "$3"; then
        awk -v p="$1" -v w="$2" 'BEGIN { if (p > 0) printf "%.4g", w / p }'
    else
        awk -v p="$1" -v w="$2" 'BEGIN { if (w > 0) printf "%.4g", p / w }'
    fi
}
fmt_ratio() { [ -n "$1" ] && awk -v v="$1" 'BEGIN { printf "%.2f×", v }' || echo "n/a"; }

declare -A MED
for p in "${PROGS[@]}"; do
    for m in "${METRICS[@]}"; do MED[$p.$m]=$(median "$p" "$m"); done
done

# Targets for weft: name | metric | op | bound
TARGETS=(
    "switch ≤ 10 ns|switch_ns|le|10"
    "spawn+exit ≤ 50 ns|spawn_ns|le|50"
    "ping-pong ≤ 100 ns|pingpong_ns|le|100"
    "1M parked: spawn ≤ 1000 ms|park1m_spawn_ms|le|1000"
    "1M parked: ≤ 8192 B/task|park1m_rss_per_task_bytes|le|8192"
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

# ---- Markdown ---------------------------------------------------------------

status_of() { # prog bench -> status text of the first failure, or ""
    awk -v p="$1" -v b="$2" '$1 == p && $2 == b && $3 != "ok" { $1 = ""; $2 = ""; sub(/^ +/, ""); print; exit }' "$WORK/status"
}
bench_of() { case $1 in park1m_*) echo park1m ;; *) echo "$1" ;; esac; }

{
    echo "# weft runtime micro-benchmarks, $DATE"
    echo
    echo "Each benchmark ran $REPEAT time(s) in a fresh process; values are medians. All"
    echo "processes: $PINNED. Ratios are peer/weft for lower-is-better metrics and"
    echo "weft/peer for msgs/s, so **a ratio > 1 means weft is faster**."
    echo
    echo "| benchmark | unit | weft | Go | Rust (may) | Go/weft | Rust/weft |"
    echo "|---|---|---:|---:|---:|---:|---:|"
    for m in "${METRICS[@]}"; do
        u=$(unit_of "$m")
        du=$u
        higher_better "$m" && du="msgs/s (higher is better)"
        echo "| $m | $du | $(fmt "${MED[weft.$m]}" "$m") | $(fmt "${MED[go.$m]}" "$m") |" \
            "$(fmt "${MED[rust.$m]}" "$m") |" \
            "$(fmt_ratio "$(ratio "${MED[go.$m]}" "${MED[weft.$m]}" "$m")") |" \
            "$(fmt_ratio "$(ratio "${MED[rust.$m]}" "${MED[weft.$m]}" "$m")") |"
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
    echo "- $GCC_V; $GO_V; $RUSTC_V; may $MAY_V"
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
        echo -n "\"built\": $([ -n "${BIN[$p]}" ] && echo true || echo false)"
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
        echo -n "$msep    $(jstr "$m"): {\"go_over_weft\": $(jnum "$(ratio "${MED[go.$m]}" "${MED[weft.$m]}" "$m")"), \"rust_over_weft\": $(jnum "$(ratio "${MED[rust.$m]}" "${MED[weft.$m]}" "$m")")}"
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
