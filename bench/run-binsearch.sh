#!/usr/bin/env bash
# bench/run-binsearch.sh — the article's "binary search over 10M items" row:
# bench/micro/binsearch.c (C, weft's build: make benches) against its Go peer
# (slices.BinarySearch, bench/peers/binsearch-go) and Rust peer
# (slice::binary_search, bench/peers/binsearch-rust). The unit of work is
# written at the top of binsearch.c: 1,000,000 lookups of splitmix64 keys
# (half present) in 10,000,000 sorted u64; ns per lookup = µs per 1,000
# lookups. Each program prints its median pass and min-max over 5 passes and
# a checksum; a checksum that differs from C's marks that program's result
# as failed. Every program runs BENCH_REPEAT (3) times as a fresh process
# pinned to BENCH_CPU (0), in rotating order; the table shows the median of
# the runs' medians and the min-max over every pass of every run.
#
# Writes bench/results/binsearch-<date>[-smoke].{md,json}. Knobs:
#   BENCH_REPEAT=3  BENCH_CPU=0  BENCH_SMOKE=1 (busy machine: label it)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
REPEAT=${BENCH_REPEAT:-3}
CPU=${BENCH_CPU:-0}
SMOKE=${BENCH_SMOKE:-0}
DATE=$(date +%Y-%m-%d)
OUTDIR=bench/results
STEM=$OUTDIR/binsearch-$DATE$([ "$SMOKE" = 1 ] && echo -smoke || :)
MD=$STEM.md
JSON=$STEM.json
PROGS=(c go rust)

. "$ROOT/bench/lib.sh"
bench_init run-binsearch
: >"$WORK/results" # lines: prog run metric value

build_weft_bench c binsearch
build_go_peer go bench/peers/binsearch-go binsearch
build_rust_peer rust bench/peers/binsearch-rust binsearch
pin_to "$CPU"
machine_facts

for ((r = 1; r <= REPEAT; r++)); do
    for ((k = 0; k < 3; k++)); do
        p=${PROGS[$(((k + r - 1) % 3))]}
        [ -n "${BIN[$p]:-}" ] || continue
        log "$p run $r/$REPEAT"
        if timeout 300 "${PIN[@]}" "${BIN[$p]}" >"$WORK/out" 2>"$WORK/err"; then
            awk -v p="$p" -v r="$r" '$1 == "RESULT" { print p, r, $2, $3 }' "$WORK/out" >>"$WORK/results"
        else
            log "$p run $r failed: $(tail -n 1 "$WORK/err")"
            WHY[$p]="run $r failed: $(tail -n 1 "$WORK/err" | cut -c1-160)"
        fi
    done
done

python3 - "$WORK/results" "$MD" "$JSON" "$REPEAT" "$SMOKE" "$PINNED" "$DATE" "$COMMIT" \
    "$CPU_MODEL" "$NPROC" "$KERNEL" "$GCC_V" "$GO_V" "$RUSTC_V" \
    "c=${WHY[c]:-}" "go=${WHY[go]:-}" "rust=${WHY[rust]:-}" <<'PY'
import json, statistics, sys
(res, md, js, repeat, smoke, pinned, date, commit, cpu, nproc, kernel, gcc, go, rustc) = sys.argv[1:15]
why = dict(a.split("=", 1) for a in sys.argv[15:])
runs = {}
for line in open(res):
    p, r, m, v = line.split()
    runs.setdefault(p, {}).setdefault(m, []).append(float(v))
label = {"c": "C (weft's build, gcc -O2)", "go": "Go slices.BinarySearch", "rust": "Rust slice::binary_search"}
ref = runs.get("c", {}).get("checksum", [None])[0]
out = {}
for p in ("c", "go", "rust"):
    m = runs.get(p, {})
    d = {"label": label[p], "status": why[p] or "ok"}
    if m.get("lookup_ns"):
        d["lookup_ns"] = {"median": statistics.median(m["lookup_ns"]), "min": min(m["lookup_ns_min"]),
                          "max": max(m["lookup_ns_max"]), "runs": m["lookup_ns"]}
        d["checksum"] = m["checksum"][0]
        d["found"] = m["found"][0]
        if any(c != ref for c in m["checksum"]) or len(set(m["checksum"])) != 1:
            d["status"] = f"checksum {m['checksum']} differs from C's {ref}: result not valid"
    elif d["status"] == "ok":
        d["status"] = "no result"
    out[p] = d
doc = {"date": date, "smoke": smoke == "1", "weft_commit": commit,
       "command": "bash bench/run-binsearch.sh" + (f" (BENCH_REPEAT={repeat})" if repeat != "3" else ""),
       "machine": {"cpu_model": cpu, "nproc": nproc, "kernel": kernel}, "pinning": pinned,
       "versions": {"gcc": gcc, "go": go, "rustc": rustc}, "repeat": int(repeat),
       "unit_of_work": "one lookup of a splitmix64 key (seed 42, modulo 20,000,002: about half present) in "
                       "10,000,000 sorted u64 (a[i] = 2i+1, 80 MB); a pass = 1,000,000 lookups, 5 passes per "
                       "process; ns per lookup = µs per 1,000 lookups",
       "results": out}
json.dump(doc, open(js, "w"), indent=2)
f = lambda v: f"{v:,.1f}"
lines = [f"# Binary search over 10M sorted u64, {date}" + (" — busy machine, not for publishing" if smoke == "1" else ""), "",
         doc["unit_of_work"] + ".", "",
         "| program | ns per lookup, median (min–max) | found | checksum | status |", "|---|---:|---:|---:|---|"]
for p, d in out.items():
    if "lookup_ns" in d:
        l = d["lookup_ns"]
        lines.append(f"| {d['label']} | {f(l['median'])} ({f(l['min'])}–{f(l['max'])}) | {d['found']:.0f} | {d['checksum']:.0f} | {d['status']} |")
    else:
        lines.append(f"| {d['label']} | n/a | | | {d['status']} |")
lines += ["", f"- {cpu}; nproc {nproc}; kernel {kernel}; {pinned}", f"- {gcc}; {go}; {rustc}", f"- weft commit {commit}", ""]
open(md, "w").write("\n".join(lines))
print("\n".join(lines))
PY
log "saved $MD and $JSON"
