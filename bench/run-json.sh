#!/usr/bin/env bash
# bench/run-json.sh — JSON DOM parse/encode: weft (bench/micro/json.c) against
# the field's parsers, built and run in the same session on the same
# documents, each run a fresh process pinned to one CPU:
#   simdjson       C++, Debian's libsimdjson-dev, DOM API (bench/peers/json-simdjson)
#   serde_json     Rust, serde_json::Value            (bench/peers/json-rust)
#   simd_json      Rust, simd_json::OwnedValue        (bench/peers/json-rust)
#   sonic_rs       Rust, sonic_rs::Value              (bench/peers/json-rust)
#   encoding_json  Go, encoding/json into interface{} (bench/peers/json-go)
#   go_json        Go, goccy/go-json into interface{} (bench/peers/json-go)
# Prints a Markdown table and saves it, with the raw numbers and the
# machine's description, as bench/results/json-<date>.{md,json}.
#
# What each side does with memory (item 1 of issue 13): weft parses into one
# arena reset before each parse; the Rust peers use mimalloc as the global
# allocator and drop each DOM after the timer stops; Go allocates from its
# garbage-collected heap (default GOGC), the collector runs when it decides;
# simdjson reuses one parser whose buffers are allocated on the first parse.
# How each DOM holds an object: weft a flat array of members in document
# order; simdjson a tape, also in document order; sonic-rs its own DOM, pairs
# in document order; serde_json a BTreeMap (sorted by key); simd-json and
# both Go decoders a hash map.
#
# Documents, all deterministic (the same bytes on every machine), written
# into a temporary directory, every program reading the same files:
#   twitter  shaped like twitter.json: nested objects, many strings, mostly
#            non-ASCII text (bench/tools/gen_json.py, ~630 KB)
#   citm     shaped like citm_catalog.json: many small objects repeating the
#            same keys, integers (bench/tools/gen_json.py, ~1.7 MB)
#   canada   shaped like canada.json: mostly floating-point coordinates
#            (bench/tools/gen_json.py, ~2.25 MB)
#   feed     weft's vehicle-tracking feed: objects, ints, short strings with
#            escapes and non-ASCII, 6-7-decimal doubles (`build/bench/json gen
#            feed`, ~1 MiB; the document of the 2026-11-22 results)
#   numbers  weft's canada-like GeoJSON (`build/bench/json gen numbers`)
#
# Works from any directory. Knobs (environment):
#   BENCH_CPU=0        the CPU for taskset (default 0)
#   BENCH_REPEAT=3     runs of each program on each document; medians shown
#   BENCH_TIMEOUT=300  seconds one run may take before it is killed
#   BENCH_DOCS="..."   the documents (default: twitter citm canada feed numbers)
#   BENCH_ONLY="..."   the programs (default: all; weft is always run, the
#                      ratios need it); a partial run is saved under its own name
#   BENCH_SMOKE=1      label the results a smoke run (a busy machine, few
#                      runs: not for publishing) and save as json-<date>-smoke
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
SMOKE=${BENCH_SMOKE:-0}
ALL_PROGS=(weft simdjson serde_json simd_json sonic_rs encoding_json go_json)
PROGS=("${ALL_PROGS[@]}")
ONLY_TAG=""
if [ -n "${BENCH_ONLY:-}" ]; then
    PROGS=(weft)
    for p in ${BENCH_ONLY//,/ }; do
        [[ " ${ALL_PROGS[*]} " == *" $p "* ]] || { echo "run-json: unknown program '$p' (one of: ${ALL_PROGS[*]})" >&2; exit 2; }
        [ "$p" = weft ] || PROGS+=("$p")
    done
    ONLY_TAG=$(IFS=-; echo "${PROGS[*]}")
fi
DOCS=(twitter citm canada feed numbers)
[ -z "${BENCH_DOCS:-}" ] || read -r -a DOCS <<<"${BENCH_DOCS//,/ }"
STEM=$OUTDIR/json-$DATE${ONLY_TAG:+-$ONLY_TAG}$([ "$SMOKE" = 1 ] && echo -smoke || :)
MD=$STEM.md
JSON=$STEM.json
CMD="bash bench/run-json.sh$( { env | grep -E '^BENCH_(REPEAT|DOCS|ONLY|SMOKE)=' || true; } | sort | tr '\n' ' ' | sed 's/ $//; s/^./ (&/; s/.$/&)/')"
METRICS=(parse_ms parse_mbps encode_ms encode_mbps)

. "$ROOT/bench/lib.sh"
bench_init run-json
: >"$WORK/results" # lines: prog doc metric value
: >"$WORK/notes"   # lines: prog: note
: >"$WORK/status"  # lines: prog doc status...

for p in "${ALL_PROGS[@]}" go rust; do BIN[$p]=""; WHY[$p]="not selected"; done

# ---- build ------------------------------------------------------------------

build_weft_bench weft json
# the peers' binaries, then each program's command line (PCMD[p], an array
# literal: the binary and the parser it runs)
build_go_peer go bench/peers/json-go jsonbench
build_rust_peer rust bench/peers/json-rust jsonbench
# rebuilt only when main.cpp is newer than the binary (the g++ -O3 build of
# simdjson's headers is most of this step's build time; go and cargo keep
# their own caches)
SJ=bench/peers/json-simdjson
if { [ "$SJ/bin/jsonbench" -nt "$SJ/main.cpp" ] && log "simdjson: $SJ/bin/jsonbench is up to date"; } ||
    { build simdjson "$WORK/build-simdjson.log" mkdir -p "$SJ/bin" &&
        build simdjson "$WORK/build-simdjson.log" "${CXX:-g++}" -O3 -std=c++17 -Wall -Wextra \
            -o "$SJ/bin/jsonbench" "$SJ/main.cpp" -lsimdjson; }; then
    BIN[simdjson]=$ROOT/bench/peers/json-simdjson/bin/jsonbench
else
    WHY[simdjson]="build failed (Debian libsimdjson-dev and g++: scripts/deps.sh bench)"
fi
declare -A PCMD
PCMD[weft]=${BIN[weft]}
PCMD[simdjson]=${BIN[simdjson]}
for p in serde_json simd_json sonic_rs; do
    BIN[$p]=${BIN[rust]}; WHY[$p]=${WHY[rust]}; PCMD[$p]="${BIN[rust]} $p"
done
for p in encoding_json go_json; do
    BIN[$p]=${BIN[go]}; WHY[$p]=${WHY[go]}; PCMD[$p]="${BIN[go]} $p"
done

# ---- documents --------------------------------------------------------------

declare -A DOCFILE DOCSIZE DOCSHA
for d in "${DOCS[@]}"; do
    DOCFILE[$d]=""
    DOCSIZE[$d]=""
    case $d in
    twitter | citm | canada) GEN=(python3 bench/tools/gen_json.py "$d") ;;
    feed | numbers)
        [ -n "${BIN[weft]}" ] || continue # the generator is the weft program
        GEN=("${BIN[weft]}" gen "$d") ;;
    *) log "unknown document '$d' (twitter citm canada feed numbers)"; exit 2 ;;
    esac
    if "${GEN[@]}" "$WORK/$d.json" 2>"$WORK/gen.err"; then
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
            read -r -a PC <<<"${PCMD[$p]}"
            timeout "$TIMEOUT" "${PIN[@]}" "${PC[@]}" "${DOCFILE[$d]}" >"$WORK/out" 2>"$WORK/err" || rc=$?
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
    TARGETS+=("$d: parse ≥ 2× faster than Rust serde_json::Value|$d|serde_json|2"
        "$d: parse ≥ 5× faster than Go encoding/json|$d|encoding_json|5")
done
target_eval() { # doc peer bound -> "value|met"
    local v
    v=$(ratio "${MED[$2.$1.parse_ms]}" "${MED[weft.$1.parse_ms]}")
    if [ -z "$v" ]; then echo "|n/a"; return; fi
    if awk -v v="$v" -v b="$3" 'BEGIN { exit !(v >= b) }'; then echo "$v|met"; else echo "$v|not met"; fi
}

# ---- machine ----------------------------------------------------------------

machine_facts
crate_v() { # crate -> its version in the Rust peer's Cargo.lock
    awk -v c="$1" '/^\[\[package\]\]/ { n = "" } /^name = / { gsub(/"/, "", $3); n = $3 }
        /^version = / && n == c { gsub(/"/, "", $3); print $3; exit }' bench/peers/json-rust/Cargo.lock 2>/dev/null || true
}
SERDE_V=$(crate_v serde_json)
SIMDJSON_RS_V=$(crate_v simd-json)
SONIC_V=$(crate_v sonic-rs)
MIMALLOC_V=$(crate_v mimalloc)
GOJSON_V=$(awk '$1 == "github.com/goccy/go-json" && $2 !~ /go.mod$/ { print $2; exit }' bench/peers/json-go/go.sum 2>/dev/null || true)
SIMDJSON_V=$(dpkg-query -W -f='${Version}' libsimdjson-dev 2>/dev/null || true)
GXX_V=$(first_line "${CXX:-g++}" --version)

# ---- Markdown ---------------------------------------------------------------

status_of() { # prog doc -> status text of the first failure, or ""
    awk -v p="$1" -v d="$2" '$1 == p && $2 == d && $3 != "ok" { $1 = ""; $2 = ""; sub(/^ +/, ""); print; exit }' "$WORK/status"
}
declare -A NAMES=([weft]="weft" [simdjson]="C++ simdjson ${SIMDJSON_V:-?} (DOM)"
    [serde_json]="Rust serde_json ${SERDE_V:-?}" [simd_json]="Rust simd-json ${SIMDJSON_RS_V:-?}"
    [sonic_rs]="Rust sonic-rs ${SONIC_V:-?}" [encoding_json]="Go encoding/json"
    [go_json]="Go goccy/go-json ${GOJSON_V:-?}")
# how each DOM holds an object's members, shown beside the figures
declare -A OBJREP=([weft]="flat array, document order" [simdjson]="tape, document order"
    [serde_json]="BTreeMap (sorted by key)" [simd_json]="hash map" [sonic_rs]="own DOM, document order"
    [encoding_json]="map[string]interface{} (hash map)" [go_json]="map[string]interface{} (hash map)")
# where its memory comes from
declare -A MEMORY=([weft]="one arena, reset before each parse"
    [simdjson]="one reused parser (buffers from the first parse)"
    [serde_json]="mimalloc; DOM dropped after the timer" [simd_json]="mimalloc; DOM dropped after the timer; input copied (untimed) before each parse, it parses in place"
    [sonic_rs]="mimalloc; DOM dropped after the timer" [encoding_json]="Go GC heap, default GOGC"
    [go_json]="Go GC heap, default GOGC")

{
    echo "# weft JSON DOM benchmark, $DATE$([ "$SMOKE" = 1 ] && echo ' — SMOKE RUN, not for publishing')"
    echo
    if [ "$SMOKE" = 1 ]; then
        echo "**Smoke run (BENCH_SMOKE=1)**: it shows that every program builds, parses the"
        echo "same documents and reports; the machine was shared with other work and the"
        echo "runs were few, so the figures below are not measurements to quote."
        echo
    fi
    echo "Command: \`$CMD\`. Each program ran $REPEAT time(s) per document in a fresh"
    echo "process ($PINNED); values are medians of the per-run medians (each run times"
    echo "20-2000 parses one by one and reports their median). Parse: bytes to a DOM"
    echo "(weft: \`weft_json_parse\`; simdjson: \`dom::parser::parse\`; serde_json:"
    echo "\`from_slice::<Value>\`; simd-json: \`to_owned_value\`; sonic-rs:"
    echo "\`from_slice::<Value>\`; Go: \`Unmarshal\` into \`interface{}\`). Encode: the DOM"
    echo "back to compact bytes (weft: \`weft_json_enc_value\` into a cleared \`weft_buf\`;"
    echo "simdjson: \`minify\`; Rust: \`to_vec\` / simd-json \`encode\`; Go: \`Marshal\`)."
    echo "MB/s = 10^6 bytes of the input document per second, for both. **Ratio = peer"
    echo "time / weft time: > 1 means weft is faster.**"
    echo
    echo "The DOMs differ, and so does the work they do: how each keeps an object's"
    echo "members, and where its memory comes from (serde_json sorts every object's"
    echo "keys into a BTreeMap and the Go decoders hash them, which weft's flat array,"
    echo "simdjson's tape and sonic-rs do not; a lookup by key then costs a scan in"
    echo "those three):"
    echo
    echo "| program | object members | memory |"
    echo "|---|---|---|"
    for p in "${PROGS[@]}"; do echo "| ${NAMES[$p]} | ${OBJREP[$p]} | ${MEMORY[$p]} |"; done
    echo
    echo "Documents: twitter, citm and canada are generated by \`bench/tools/gen_json.py\`"
    echo "(fixed seed) in the shape of the field's twitter.json, citm_catalog.json and"
    echo "canada.json (see the script's header for what each keeps of its model); feed"
    echo "and numbers by \`build/bench/json gen\` (the documents of earlier runs)."
    echo
    echo "What the documents hold, counted in this run (values by kind; non-ASCII and"
    echo "whitespace as shares of the bytes), beside the model each imitates. The models'"
    echo "sizes are those of the files in the field's benchmark suites (simdjson's"
    echo "jsonexamples/, nativejson-benchmark's data/); twitter.json's shape was read from"
    echo "simdjson's copy (pretty-printed with a 2-space indent, statuses nesting a user,"
    echo "entities and retweets, mostly Japanese text); the other two are described from"
    echo "their published descriptions, not re-read here."
    echo
    echo "| document | bytes | model | objects | arrays | strings | integers | floats | true/false/null | non-ASCII | whitespace |"
    echo "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    for d in "${DOCS[@]}"; do
        [ -n "${DOCFILE[$d]}" ] || continue
        python3 - "${DOCFILE[$d]}" "$d" <<'EOF'
import json, sys
path, name = sys.argv[1], sys.argv[2]
b = open(path, "rb").read()
c = dict(o=0, a=0, s=0, i=0, f=0, k=0)
def walk(v):
    if isinstance(v, dict):
        c["o"] += 1
        for x in v.values(): walk(x)
    elif isinstance(v, list):
        c["a"] += 1
        for x in v: walk(x)
    elif isinstance(v, str): c["s"] += 1
    elif isinstance(v, bool) or v is None: c["k"] += 1
    elif isinstance(v, int): c["i"] += 1
    else: c["f"] += 1
walk(json.loads(b))
model = {"twitter": "twitter.json, 631,515 B", "citm": "citm_catalog.json, ~1.7 MB",
         "canada": "canada.json, ~2.25 MB", "feed": "(weft's own)", "numbers": "canada-like (weft's own)"}.get(name, "")
na = sum(1 for x in b if x >= 0x80) / len(b) * 100
ws = sum(1 for x in b if x in b" \n\r\t") / len(b) * 100
print(f"| {name} | {len(b):,} | {model} | {c['o']:,} | {c['a']:,} | {c['s']:,} | {c['i']:,} | {c['f']:,} | {c['k']:,} | {na:.1f}% | {ws:.1f}% |")
EOF
    done
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
    echo "- $GCC_V; $GXX_V; $GO_V; $RUSTC_V"
    echo "- serde_json ${SERDE_V:-unknown}, simd-json ${SIMDJSON_RS_V:-unknown}, sonic-rs ${SONIC_V:-unknown}, mimalloc ${MIMALLOC_V:-unknown} (Cargo.lock); goccy/go-json ${GOJSON_V:-unknown} (go.sum); libsimdjson-dev ${SIMDJSON_V:-unknown} (Debian)"
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
    echo "  \"smoke\": $([ "$SMOKE" = 1 ] && echo true || echo false),"
    echo "  \"versions\": {\"gcc\": $(jstr "$GCC_V"), \"g++\": $(jstr "$GXX_V"), \"go\": $(jstr "$GO_V"), \"rustc\": $(jstr "$RUSTC_V"), \"serde_json\": $(jstr "$SERDE_V"), \"simd-json\": $(jstr "$SIMDJSON_RS_V"), \"sonic-rs\": $(jstr "$SONIC_V"), \"mimalloc\": $(jstr "$MIMALLOC_V"), \"goccy/go-json\": $(jstr "$GOJSON_V"), \"libsimdjson-dev\": $(jstr "$SIMDJSON_V")},"
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
        echo -n "$psep    $(jstr "$p"): {\"built\": $([ -n "${BIN[$p]}" ] && echo true || echo false), \"label\": $(jstr "${NAMES[$p]}"), \"object_members\": $(jstr "${OBJREP[$p]}"), \"memory\": $(jstr "${MEMORY[$p]}")"
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
