#!/usr/bin/env bash
# bench/run-json.sh — JSON DOM parse/encode: weft (bench/micro/json.c) against
# Go encoding/json into interface{} (bench/peers/json-go) and Rust
# serde_json::Value (bench/peers/json-rust), built and run in the same
# session on the same documents, each run a fresh process pinned to one CPU.
# Prints a Markdown table and saves it, with the raw numbers and the
# machine's description, as bench/results/json-<date>.{md,json}.
#
# The documents (about 1 MiB each) are written by the weft program
# (`build/bench/json gen feed|numbers FILE`, deterministic) into a temporary
# directory, and all three programs read the same files:
#   feed     vehicle-tracking feed: objects, ints, short strings with escapes
#            and non-ASCII UTF-8, 6-7-decimal doubles, booleans, nulls
#   numbers  canada.json-like GeoJSON: arrays of 17-significant-digit doubles
#
# Works from any directory. Knobs (environment):
#   BENCH_CPU=0        the CPU for taskset (default 0)
#   BENCH_REPEAT=3     runs of each program on each document; medians shown
#   BENCH_TIMEOUT=300  seconds one run may take before it is killed
# A program that does not build, or a run that fails, shows as n/a and the
# script goes on; it exits 0 once the table is written.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

REPEAT=${BENCH_REPEAT:-3}
TIMEOUT=${BENCH_TIMEOUT:-300}
CPU=${BENCH_CPU:-0}
DATE=$(date +%Y-%m-%d)
OUTDIR=bench/results
MD=$OUTDIR/json-$DATE.md
JSON=$OUTDIR/json-$DATE.json
CMD="bash bench/run-json.sh${BENCH_REPEAT:+ (BENCH_REPEAT=$BENCH_REPEAT)}"

DOCS=(feed numbers)
METRICS=(parse_ms parse_mbps encode_ms encode_mbps)
PROGS=(weft go rust)

. "$ROOT/bench/lib.sh"
bench_init run-json
: >"$WORK/results" # lines: prog doc metric value
: >"$WORK/notes"   # lines: prog: note
: >"$WORK/status"  # lines: prog doc status...

for p in "${PROGS[@]}"; do BIN[$p]=""; WHY[$p]=""; done

# ---- build ------------------------------------------------------------------

build_weft_bench weft json
build_go_peer go bench/peers/json-go jsonbench
build_rust_peer rust bench/peers/json-rust jsonbench

# ---- documents --------------------------------------------------------------

declare -A DOCFILE DOCSIZE DOCSHA
for d in "${DOCS[@]}"; do
    DOCFILE[$d]=""
    DOCSIZE[$d]=""
    [ -n "${BIN[weft]}" ] || continue # the generator is the weft program
    if "${BIN[weft]}" gen "$d" "$WORK/$d.json" 2>"$WORK/gen.err"; then
        DOCFILE[$d]=$WORK/$d.json
        DOCSIZE[$d]=$(wc -c <"$WORK/$d.json" | tr -d ' ')
        DOCSHA[$d]=$(sha256sum "$WORK/$d.json" | cut -c1-16)
    else
        log "generating $d failed: $(tail -n 1 "$WORK/gen.err")"
    fi
done

# ---- run --------------------------------------------------------------------

pin_to "$CPU"

for d in "${DOCS[@]}"; do
    if [ -z "${DOCFILE[$d]}" ]; then
        for p in "${PROGS[@]}"; do echo "$p $d no document" >>"$WORK/status"; done
        continue
    fi
    for p in "${PROGS[@]}"; do
        [ -n "${BIN[$p]}" ] || { log "skipping $p: ${WHY[$p]}"; continue; }
        for ((r = 1; r <= REPEAT; r++)); do
            log "$p $d (run $r/$REPEAT)"
            rc=0
            timeout "$TIMEOUT" "${PIN[@]}" "${BIN[$p]}" "${DOCFILE[$d]}" >"$WORK/out" 2>"$WORK/err" || rc=$?
            awk -v p="$p" -v d="$d" '$1 == "RESULT" && NF >= 4 { print p, d, $2, $3 }' \
                "$WORK/out" >>"$WORK/results"
            { grep '^# ' "$WORK/out" || true; } | sed -e "s|$WORK/||g" -e "s/^# \($p: \)\{0,1\}/$p: /" >>"$WORK/notes"
            if [ "$rc" -eq 0 ]; then
                echo "$p $d ok" >>"$WORK/status"
                continue
            fi
            if [ "$rc" -eq 124 ]; then
                st="timed out after ${TIMEOUT}s"
            else
                st="exit $rc: $(tail -n 1 "$WORK/err" | cut -c1-200)"
            fi
            log "$p $d: $st"
            sed 's/^/    /' "$WORK/err" | tail -n 5 >&2
            echo "$p $d $st" >>"$WORK/status"
            break # no point repeating a failing run
        done
    done
done

# ---- numbers ----------------------------------------------------------------

median() { # PROG DOC METRIC -> value or empty
    awk -v p="$1" -v d="$2" -v m="$3" '$1 == p && $2 == d && $3 == m { print $4 }' "$WORK/results" |
        sort -g |
        awk '{ v[NR] = $1 } END { if (NR) printf "%.6g\n", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
runs() { # comma-separated raw values
    awk -v p="$1" -v d="$2" -v m="$3" '$1 == p && $2 == d && $3 == m { printf "%s%s", (n++ ? ", " : ""), $4 }' "$WORK/results"
}
# ratio PEER_MS WEFT_MS: peer time / weft time, > 1 means weft is faster
ratio() {
    [ -n "$1" ] && [ -n "$2" ] || { echo ""; return; }
    awk -v p="$1" -v w="$2" 'BEGIN { if (w > 0) printf "%.4g", p / w }'
}
fmt() { [ -n "$1" ] && awk -v v="$1" 'BEGIN { printf (v >= 100 ? "%.0f" : "%.2f"), v }' || echo "n/a"; }
fmt_ratio() { [ -n "$1" ] && awk -v v="$1" 'BEGIN { printf "%.2f×", v }' || echo "n/a"; }

declare -A MED
for p in "${PROGS[@]}"; do
    for d in "${DOCS[@]}"; do
        for m in "${METRICS[@]}"; do MED[$p.$d.$m]=$(median "$p" "$d" "$m"); done
    done
done

# Targets (issue): parse to DOM >= 2x faster than serde_json::Value and >= 5x
# faster than Go encoding/json into interface{}, on each document.
# lines: name | doc | peer | bound
TARGETS=()
for d in "${DOCS[@]}"; do
    TARGETS+=("$d: parse ≥ 2× faster than Rust serde_json::Value|$d|rust|2"
        "$d: parse ≥ 5× faster than Go encoding/json|$d|go|5")
done
target_eval() { # doc peer bound -> "value|met"
    local v
    v=$(ratio "${MED[$2.$1.parse_ms]}" "${MED[weft.$1.parse_ms]}")
    if [ -z "$v" ]; then echo "|n/a"; return; fi
    if awk -v v="$v" -v b="$3" 'BEGIN { exit !(v >= b) }'; then echo "$v|met"; else echo "$v|not met"; fi
}

# ---- machine ----------------------------------------------------------------

machine_facts
SERDE_V=$(awk '/^\[\[package\]\]/ { n = "" } /^name = / { gsub(/"/, "", $3); n = $3 }
    /^version = / && n == "serde_json" { gsub(/"/, "", $3); print $3; exit }' \
    bench/peers/json-rust/Cargo.lock 2>/dev/null || true)

# ---- Markdown ---------------------------------------------------------------

status_of() { # prog doc -> status text of the first failure, or ""
    awk -v p="$1" -v d="$2" '$1 == p && $2 == d && $3 != "ok" { $1 = ""; $2 = ""; sub(/^ +/, ""); print; exit }' "$WORK/status"
}
declare -A NAMES=([weft]="weft" [go]="Go encoding/json" [rust]="Rust serde_json ${SERDE_V:-?}")

{
    echo "# weft JSON DOM benchmark, $DATE"
    echo
    echo "Command: \`$CMD\`. Each program ran $REPEAT time(s) per document in a fresh"
    echo "process ($PINNED); values are medians of the per-run medians. Parse: bytes"
    echo "to a DOM (weft: arena reset per parse; Go: \`json.Unmarshal\` into"
    echo "\`interface{}\`; Rust: \`serde_json::from_slice::<Value>\`). Encode: the DOM back"
    echo "to bytes (weft: \`weft_json_enc_value\` into a cleared \`weft_buf\`; Go:"
    echo "\`json.Marshal\`; Rust: \`serde_json::to_vec\`). MB/s = 10^6 bytes of the input"
    echo "document per second, for both. **Ratio = peer time / weft time: > 1 means"
    echo "weft is faster.**"
    echo
    for d in "${DOCS[@]}"; do
        echo "## $d (${DOCSIZE[$d]:-?} bytes, sha256 ${DOCSHA[$d]:-?}…)"
        echo
        echo "| program | parse ms | parse MB/s | parse ratio | encode ms | encode MB/s | encode ratio |"
        echo "|---|---:|---:|---:|---:|---:|---:|"
        for p in "${PROGS[@]}"; do
            if [ "$p" = weft ]; then
                pr="1.00×"; er="1.00×"
            else
                pr=$(fmt_ratio "$(ratio "${MED[$p.$d.parse_ms]}" "${MED[weft.$d.parse_ms]}")")
                er=$(fmt_ratio "$(ratio "${MED[$p.$d.encode_ms]}" "${MED[weft.$d.encode_ms]}")")
            fi
            echo "| ${NAMES[$p]} | $(fmt "${MED[$p.$d.parse_ms]}") | $(fmt "${MED[$p.$d.parse_mbps]}") | $pr |" \
                "$(fmt "${MED[$p.$d.encode_ms]}") | $(fmt "${MED[$p.$d.encode_mbps]}") | $er |"
        done
        echo
    done
    echo "## Targets (weft parse)"
    echo
    echo "| target | ratio | result |"
    echo "|---|---:|---|"
    for t in "${TARGETS[@]}"; do
        IFS='|' read -r name d peer bound <<<"$t"
        IFS='|' read -r v met <<<"$(target_eval "$d" "$peer" "$bound")"
        echo "| $name | $(fmt_ratio "$v") | $met |"
    done
    echo
    echo "## Runs that did not succeed"
    echo
    any=0
    for p in "${PROGS[@]}"; do
        if [ -z "${BIN[$p]}" ]; then echo "- $p: ${WHY[$p]} (all n/a)"; any=1; continue; fi
        for d in "${DOCS[@]}"; do
            s=$(status_of "$p" "$d")
            if [ -n "$s" ]; then echo "- $p $d: $s"; any=1; fi
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
    echo "- CPU: ${CPU_MODEL:-unknown}; nproc: $NPROC; kernel: $KERNEL"
    echo "- $GCC_V; $GO_V; $RUSTC_V; serde_json ${SERDE_V:-unknown} (Cargo.lock)"
    echo "- weft commit: $COMMIT"
} >"$WORK/table.md"

# ---- JSON -------------------------------------------------------------------


{
    echo "{"
    echo "  \"date\": $(jstr "$DATE"),"
    echo "  \"command\": $(jstr "$CMD"),"
    echo "  \"uname_r\": $(jstr "$KERNEL"),"
    echo "  \"cpu_model\": $(jstr "$CPU_MODEL"),"
    echo "  \"nproc\": $NPROC,"
    echo "  \"pinning\": $(jstr "$PINNED"),"
    echo "  \"repeat\": $REPEAT,"
    echo "  \"weft_commit\": $(jstr "$COMMIT"),"
    echo "  \"versions\": {\"gcc\": $(jstr "$GCC_V"), \"go\": $(jstr "$GO_V"), \"rustc\": $(jstr "$RUSTC_V"), \"serde_json\": $(jstr "$SERDE_V")},"
    echo -n "  \"documents\": {"
    dsep=""
    for d in "${DOCS[@]}"; do
        echo -n "$dsep$(jstr "$d"): {\"bytes\": $(jnum "${DOCSIZE[$d]}"), \"sha256_prefix\": $(jstr "${DOCSHA[$d]:-}")}"
        dsep=", "
    done
    echo "},"
    echo "  \"ratio_convention\": \"peer ms / weft ms; > 1 means weft is faster\","
    echo "  \"results\": {"
    psep=""
    for p in "${PROGS[@]}"; do
        echo -n "$psep    $(jstr "$p"): {\"built\": $([ -n "${BIN[$p]}" ] && echo true || echo false)"
        for d in "${DOCS[@]}"; do
            s=$(status_of "$p" "$d")
            [ -n "${BIN[$p]}" ] || s=${WHY[$p]}
            echo -n ", $(jstr "$d"): {\"status\": $(jstr "${s:-ok}")"
            for m in "${METRICS[@]}"; do
                echo -n ", $(jstr "$m"): {\"median\": $(jnum "${MED[$p.$d.$m]}"), \"runs\": [$(runs "$p" "$d" "$m")]}"
            done
            if [ "$p" != weft ]; then
                echo -n ", \"parse_ratio\": $(jnum "$(ratio "${MED[$p.$d.parse_ms]}" "${MED[weft.$d.parse_ms]}")")"
                echo -n ", \"encode_ratio\": $(jnum "$(ratio "${MED[$p.$d.encode_ms]}" "${MED[weft.$d.encode_ms]}")")"
            fi
            echo -n "}"
        done
        echo -n "}"
        psep=$',\n'
    done
    echo
    echo "  },"
    echo "  \"targets\": ["
    tsep=""
    for t in "${TARGETS[@]}"; do
        IFS='|' read -r name d peer bound <<<"$t"
        IFS='|' read -r v met <<<"$(target_eval "$d" "$peer" "$bound")"
        echo -n "$tsep    {\"target\": $(jstr "$name"), \"ratio\": $(jnum "$v"), \"result\": $(jstr "$met")}"
        tsep=$',\n'
    done
    echo
    echo "  ],"
    echo "  \"notes\": $(jnotes "$WORK/notes")"
    echo "}"
} >"$WORK/results.json"

save_results
