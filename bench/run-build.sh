#!/usr/bin/env bash
# bench/run-build.sh — three rows of the article's table for the same
# program in C on weft, Go and Rust: the article's own /health server
# (examples/health.c, bench/peers/health-go: net/http + encoding/json,
# bench/peers/health-rust: axum + tokio "full" + serde):
#
#  - clean build time: wall-clock seconds of a build from nothing but the
#    sources and the already downloaded dependencies, with every dependency
#    compiled: weft `make -jNPROC B=<empty dir> <dir>/examples/health` (the
#    whole libweft.a and the program; the system libraries it links,
#    liburing, OpenSSL's libcrypto, zlib, SQLite, are Debian's prebuilt ones);
#    Go `go build` with an empty GOCACHE (the standard library it uses,
#    runtime and net/http included, is compiled too); Rust `cargo build
#    --release --locked` with an empty target directory (axum, tokio, hyper,
#    serde and the rest compiled; `cargo fetch` first, not timed). Downloads
#    are never timed. BENCH_BUILD_ROUNDS (3) rounds in rotating order;
#  - binary size: the file as built (weft's build keeps -g, Go its symbol
#    table, cargo's release profile strips debug info of std only) and after
#    `strip`, with the shared libraries each links (ldd);
#  - idle memory: VmRSS right after the server listens, then after a load
#    burst (wrk -t1 -c64 for BENCH_BURST_SECONDS (5) s on /health) and 2 s
#    later. Each program runs as the article's code runs it: its default
#    thread count, not pinned.
#
# Writes bench/results/build-<date>[-sizes][-smoke].{md,json}. Knobs:
#   BENCH_BUILD_ROUNDS=3  BENCH_BURST_SECONDS=5  BENCH_PORT=18610
#   BENCH_SMOKE=1 (busy machine, short runs: label it)
#   BENCH_BUILD_ROUNDS=0: no clean build is timed (make bench-quick: the
#     three clean builds alone take ~8 min on a busy 2-core VM); the binaries
#     are built untimed from the warm caches (weft's build/, Go's GOCACHE,
#     the peer's own target/) and only size and memory are measured. The
#     JSON then has no build_s and says so; the report takes the clean-build
#     row from the newest build file that has one, with that file's date.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
ROUNDS=${BENCH_BUILD_ROUNDS:-3}
BURST=${BENCH_BURST_SECONDS:-5}
BASE_PORT=${BENCH_PORT:-18610}
SMOKE=${BENCH_SMOKE:-0}
DATE=$(date +%Y-%m-%d)
# an untimed run (ROUNDS=0) gets its own name, so it never replaces the file
# of a run that timed the clean builds, which the report still reads
STEM=bench/results/build-$DATE$([ "$ROUNDS" = 0 ] && echo -sizes || :)$([ "$SMOKE" = 1 ] && echo -smoke || :)
NPROC=$(nproc)
PROGS=(weft go rust)

. "$ROOT/bench/lib.sh"
bench_init run-build
need_tools make go cargo wrk curl strip python3
: >"$WORK/results" # lines: prog metric value
: >"$WORK/notes"
SPID=""
trap 'stop_pid "$SPID"; rm -rf "$WORK"' EXIT

# the dependencies' sources, fetched before any timing
(cd bench/peers/health-rust && cargo fetch --locked >"$WORK/fetch-rust.log" 2>&1) ||
    { log "cargo fetch failed:"; tail -5 "$WORK/fetch-rust.log" >&2; }
(cd bench/peers/health-go && GOTOOLCHAIN=local go mod download >"$WORK/fetch-go.log" 2>&1) || true

clean_build() { # prog dir -> the binary at $dir/out, seconds on stdout
    local p=$1 d=$2 t0 t1
    rm -rf "$d"
    mkdir -p "$d"
    t0=$(date +%s.%N)
    case $p in
    weft) make --no-print-directory -j"$NPROC" B="$d/build" "$d/build/examples/health" >"$d/log" 2>&1 &&
        cp "$d/build/examples/health" "$d/out" ;;
    go) env -C bench/peers/health-go GOCACHE="$d/gocache" GOFLAGS=-mod=mod GOTOOLCHAIN=local \
        go build -o "$d/out" . >"$d/log" 2>&1 ;;
    rust) CARGO_TARGET_DIR="$d/target" cargo build --release --locked \
        --manifest-path bench/peers/health-rust/Cargo.toml >"$d/log" 2>&1 &&
        cp "$d/target/release/health" "$d/out" ;;
    esac || { log "$p: clean build failed:"; tail -n 10 "$d/log" >&2; return 1; }
    t1=$(date +%s.%N)
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f\n", b - a }'
}

warm_build() { # prog -> $WORK/bin/prog, untimed, from the caches a developer already has
    local p=$1
    mkdir -p "$WORK/bin"
    case $p in
    weft) make --no-print-directory -j"$NPROC" build/examples/health >"$WORK/warm-$p.log" 2>&1 &&
        cp build/examples/health "$WORK/bin/$p" ;;
    go) env -C bench/peers/health-go GOFLAGS=-mod=mod GOTOOLCHAIN=local \
        go build -o "$WORK/bin/$p" . >"$WORK/warm-$p.log" 2>&1 ;;
    rust) cargo build --release --locked --manifest-path bench/peers/health-rust/Cargo.toml >"$WORK/warm-$p.log" 2>&1 &&
        cp bench/peers/health-rust/target/release/health "$WORK/bin/$p" ;;
    esac || { log "$p: build failed:"; tail -n 10 "$WORK/warm-$p.log" >&2; echo "$p: build failed" >>"$WORK/notes"; }
}
if [ "$ROUNDS" = 0 ]; then
    for p in "${PROGS[@]}"; do
        log "building $p from the warm caches (untimed: BENCH_BUILD_ROUNDS=0)"
        warm_build "$p"
    done
fi
for ((r = 1; r <= ROUNDS; r++)); do
    for ((k = 0; k < 3; k++)); do
        p=${PROGS[$(((k + r - 1) % 3))]}
        log "clean build of $p, round $r/$ROUNDS"
        if s=$(clean_build "$p" "$WORK/b-$p"); then
            echo "$p build_s $s" >>"$WORK/results"
            log "$p: ${s}s"
            mkdir -p "$WORK/bin"
            cp "$WORK/b-$p/out" "$WORK/bin/$p"
        else
            echo "$p: clean build failed in round $r" >>"$WORK/notes"
        fi
        rm -rf "$WORK/b-$p"
    done
done

i=0
declare -A PORT
for p in "${PROGS[@]}"; do
    PORT[$p]=$((BASE_PORT + i))
    i=$((i + 1))
    b=$WORK/bin/$p
    [ -x "$b" ] || continue
    echo "$p size_bytes $(stat -c %s "$b")" >>"$WORK/results"
    strip -o "$WORK/stripped-$p" "$b"
    echo "$p stripped_bytes $(stat -c %s "$WORK/stripped-$p")" >>"$WORK/results"
    echo "$p shared_libs $(ldd "$b" 2>/dev/null | awk '$1 !~ /^(linux-vdso|\/lib64\/ld-linux)/ { printf "%s%s", s, $1; s = "," }')" >>"$WORK/results"

    case $p in
    weft) cmd=("$b" --port "${PORT[$p]}") ;;
    *) cmd=("$b" "${PORT[$p]}") ;;
    esac
    listening "${PORT[$p]}" && { echo "$p: port ${PORT[$p]} in use: no memory figures" >>"$WORK/notes"; continue; }
    "${cmd[@]}" >"$WORK/server-$p.log" 2>&1 &
    SPID=$!
    for ((t = 0; t < 100; t++)); do listening "${PORT[$p]}" && break; sleep 0.1; done
    sleep 0.5
    if ! out=$(curl -s --max-time 5 "http://127.0.0.1:${PORT[$p]}/health") ||
        [ "$(tr -d ' \n' <<<"$out")" != '{"message":"OK","status":200}' ]; then
        echo "$p: /health did not answer {\"message\":\"OK\",\"status\":200} (got '${out:0:80}'): no memory figures" >>"$WORK/notes"
        stop_pid "$SPID"; SPID=""; continue
    fi
    echo "$p rss_idle_kb $(rss_kb "$SPID")" >>"$WORK/results"
    echo "$p threads_idle $(awk '/^Threads:/ { print $2 }' "/proc/$SPID/status")" >>"$WORK/results"
    timeout $((BURST + 30)) wrk -t1 -c64 -d"${BURST}s" "http://127.0.0.1:${PORT[$p]}/health" >"$WORK/wrk-$p.out" 2>&1 || true
    echo "$p rss_after_burst_kb $(rss_kb "$SPID")" >>"$WORK/results"
    echo "$p burst_requests $(awk '/ requests in / { print $1 }' "$WORK/wrk-$p.out")" >>"$WORK/results"
    echo "$p burst_rps $(awk '/^Requests\/sec:/ { print $2 }' "$WORK/wrk-$p.out")" >>"$WORK/results"
    sleep 2
    echo "$p rss_after_burst_2s_kb $(rss_kb "$SPID")" >>"$WORK/results"
    echo "$p threads_after_burst $(awk '/^Threads:/ { print $2 }' "/proc/$SPID/status")" >>"$WORK/results"
    log "$p: $(awk -v p="$p" '$1 == p { printf "%s=%s ", $2, $3 }' "$WORK/results")"
    stop_pid "$SPID"
    SPID=""
done
machine_facts
CARGO_V=$(first_line cargo --version)
MAKE_V=$(first_line make --version)

python3 - "$WORK" "$STEM" "$ROUNDS" "$BURST" "$SMOKE" "$DATE" "$COMMIT" "$CPU_MODEL" "$NPROC" "$KERNEL" \
    "$GCC_V" "$GO_V" "$RUSTC_V" "$CARGO_V" "$MAKE_V" "$ROOT/bench/peers/health-rust/Cargo.lock" <<'PY'
import json, statistics, sys
(work, stem, rounds, burst, smoke, date, commit, cpu, nproc, kernel, gcc, go, rustc, cargo, make, lock) = sys.argv[1:17]
res = {}
for line in open(f"{work}/results"):
    p, m, *v = line.split()
    v = v[0] if v else ""
    try:
        v = float(v)
    except ValueError:
        pass
    res.setdefault(p, {}).setdefault(m, []).append(v)
notes = [l.strip() for l in open(f"{work}/notes") if l.strip()]
crates = {}
name = None
for line in open(lock):
    if line.startswith("name = "):
        name = line.split('"')[1]
    elif line.startswith("version = ") and name:
        crates[name] = line.split('"')[1]
label = {"weft": "C on weft (examples/health.c)", "go": "Go net/http (the article's program)",
         "rust": "Rust axum (the article's program)"}
what = {"weft": f"make -j{nproc} B=<empty dir> <dir>/examples/health: libweft.a and the program "
                "(gcc -O2 -g); Debian's prebuilt liburing, libcrypto, zlib, SQLite are linked, not built",
        "go": "go build with an empty GOCACHE (the standard library it uses is compiled too); modules already downloaded",
        "rust": "cargo build --release --locked with an empty target dir (every crate compiled; sources fetched before, untimed)"}
out = {}
for p in ("weft", "go", "rust"):
    m = res.get(p, {})
    d = {"label": label[p], "build_what": what[p]}
    b = [v for v in m.get("build_s", []) if isinstance(v, float)]
    if b:
        d["build_s"] = {"median": statistics.median(b), "min": min(b), "max": max(b), "runs": b}
    for k in ("size_bytes", "stripped_bytes", "rss_idle_kb", "rss_after_burst_kb", "rss_after_burst_2s_kb",
              "threads_idle", "threads_after_burst", "burst_requests", "burst_rps"):
        if m.get(k) and isinstance(m[k][-1], float):
            d[k] = m[k][-1]
    if m.get("shared_libs"):
        d["shared_libs"] = [x for x in str(m["shared_libs"][-1]).split(",") if x]
    if int(rounds) == 0:
        d["build_what"] = "not timed in this run (BENCH_BUILD_ROUNDS=0): the binary was built from warm caches for its size and memory"
    out[p] = d
doc = {"date": date, "smoke": smoke == "1", "weft_commit": commit,
       "command": f"bash bench/run-build.sh (BENCH_BUILD_ROUNDS={rounds}, BENCH_BURST_SECONDS={burst})",
       "machine": {"cpu_model": cpu, "nproc": nproc, "kernel": kernel},
       "versions": {"gcc": gcc, "go": go, "rustc": rustc, "cargo": cargo, "make": make,
                    "crates": {k: crates[k] for k in ("axum", "tokio", "hyper", "serde", "serde_json") if k in crates}},
       "rounds": int(rounds), "build_timed": int(rounds) > 0, "burst": f"wrk -t1 -c64 -d{burst}s /health", "results": out, "notes": notes}
json.dump(doc, open(stem + ".json", "w"), indent=2)
mb = lambda v: "n/a" if v is None else f"{v / 1048576:.2f}"
kb = lambda v: "n/a" if v is None else f"{v / 1024:.1f}"
L = [f"# The article's /health server: clean build, binary size, idle memory, {date}"
     + (" — busy machine, not for publishing" if smoke == "1" else ""), "",
     (f"Build: {rounds} round(s), rotating order; median (min–max) wall-clock seconds." if int(rounds) else
      "Clean build: not timed in this run (BENCH_BUILD_ROUNDS=0); binaries built from warm caches, untimed."), "",
     "| program | clean build s | binary MB | stripped MB | shared libs | RSS idle MB | RSS after burst MB | 2 s later MB | burst req/s |",
     "|---|---:|---:|---:|---|---:|---:|---:|---:|"]
for p, d in out.items():
    b = d.get("build_s")
    bs = f"{b['median']:.1f} ({b['min']:.1f}–{b['max']:.1f})" if b else "n/a"
    L.append(f"| {d['label']} | {bs} | {mb(d.get('size_bytes'))} | {mb(d.get('stripped_bytes'))} | "
             f"{len(d.get('shared_libs', []))} | {kb(d.get('rss_idle_kb'))} | {kb(d.get('rss_after_burst_kb'))} | "
             f"{kb(d.get('rss_after_burst_2s_kb'))} | {d.get('burst_rps', 'n/a')} |")
L += ["", "What is timed:", ""] + [f"- {label[p]}: {out[p]['build_what']}" for p in out] + [""]
L += [f"- {cpu}; nproc {nproc}; kernel {kernel}", f"- {gcc}; {go}; {rustc}; {cargo}",
      "- crates: " + ", ".join(f"{k} {v}" for k, v in doc["versions"]["crates"].items()), f"- weft commit {commit}"]
L += [f"- note: {n}" for n in notes] + [""]
open(stem + ".md", "w").write("\n".join(L))
print("\n".join(L))
PY
log "saved $STEM.md and $STEM.json"
