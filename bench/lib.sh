# bench/lib.sh — what the bench/run-*.sh scripts share: a work directory,
# logging, building a program (weft's or a peer's) with its log kept aside,
# CPU pinning, and the machine/version facts every results file records.
# Sourced, not run:  . "$ROOT/bench/lib.sh"; bench_init run-foo
#
# After bench_init: $WORK (removed on exit), log MSG..., and the arrays
# BIN[prog] (path of the built program) and WHY[prog] (why there is none).

bench_init() { # NAME
    BENCH_NAME=$1
    WORK=$(mktemp -d)
    trap 'rm -rf "$WORK"' EXIT
    declare -gA BIN WHY
}

log() { echo "$BENCH_NAME: $*" >&2; }

# Run a build command with its output in a log; on failure show the tail.
build() { # name logfile command...
    local name=$1 logf=$2
    shift 2
    log "building $name: $*"
    if "$@" >"$logf" 2>&1; then return 0; fi
    log "building $name failed (last lines of the log):"
    tail -n 15 "$logf" | sed 's/^/    /' >&2
    return 1
}

# weft's micro-benchmark build/bench/NAME (make benches builds them all).
build_weft_bench() { # prog name
    if build "$1" "$WORK/build-$1.log" make --no-print-directory benches && [ -x "build/bench/$2" ]; then
        BIN[$1]=$ROOT/build/bench/$2
    else
        WHY[$1]="build failed"
    fi
}

# A Go peer: `go build -o bin/OUT PKG` in DIR (module from the Go module proxy).
build_go_peer() { # prog dir out [pkg]
    if ! command -v go >/dev/null 2>&1; then
        WHY[$1]="go not installed"
    elif build "$1" "$WORK/build-$1.log" env -C "$2" GOFLAGS=-mod=mod GOTOOLCHAIN=local \
        go build -o "bin/$3" "${4:-.}"; then
        BIN[$1]=$ROOT/$2/bin/$3
    else
        WHY[$1]="build failed"
    fi
}

# A Rust peer: cargo build --release --locked of the package in DIR.
build_rust_peer() { # prog dir binary
    if ! command -v cargo >/dev/null 2>&1; then
        WHY[$1]="cargo not installed"
    elif build "$1" "$WORK/build-$1.log" cargo build --release --locked \
        --manifest-path "$2/Cargo.toml"; then
        BIN[$1]=$ROOT/$2/target/release/$3
    else
        WHY[$1]="build failed"
    fi
}

# PIN=(taskset -c CPUS) when that works, else empty; PINNED describes it.
pin_to() { # cpus
    PIN=()
    if command -v taskset >/dev/null 2>&1 && taskset -c "$1" true 2>/dev/null; then
        PIN=(taskset -c "$1")
        PINNED="taskset -c $1"
    else
        PINNED="not pinned (taskset missing or CPUs $1 unusable)"
        log "warning: $PINNED"
    fi
}

first_line() { "$@" 2>/dev/null | head -n 1 || true; }

# KERNEL CPU_MODEL NPROC GCC_V GO_V RUSTC_V COMMIT ("(dirty)" when the tree is).
machine_facts() {
    KERNEL=$(uname -r)
    CPU_MODEL=$(lscpu 2>/dev/null | awk -F: '/^Model name/ { sub(/^ +/, "", $2); print $2; exit }' || true)
    [ -n "$CPU_MODEL" ] || CPU_MODEL=$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//' || true)
    NPROC=$(nproc)
    GCC_V=$(first_line gcc --version)
    GO_V=$(first_line go version)
    RUSTC_V=$(first_line rustc --version)
    COMMIT=$(git rev-parse HEAD 2>/dev/null || echo unknown)
    if [ "$COMMIT" != unknown ] && [ -n "$(git status --porcelain 2>/dev/null)" ]; then
        COMMIT="$COMMIT (dirty)"
    fi
}

jstr() { # JSON string literal
    local s=$1
    s=${s//\\/\\\\}
    s=${s//\"/\\\"}
    s=${s//$'\t'/\\t}
    s=${s//$'\n'/\\n}
    s=${s//$'\r'/}
    printf '"%s"' "$s"
}
jnum() { [ -n "$1" ] && echo "$1" || echo null; }

# The notes file (one line each, duplicates dropped) as a JSON array.
jnotes() {
    local sep="" line
    echo -n "["
    while IFS= read -r line; do
        echo -n "$sep$(jstr "$line")"
        sep=", "
    done < <(awk '!seen[$0]++' "$1")
    echo "]"
}

# $WORK/table.md and $WORK/results.json to $MD and $JSON (under $OUTDIR).
save_results() {
    mkdir -p "$OUTDIR"
    cp "$WORK/table.md" "$MD"
    cp "$WORK/results.json" "$JSON"
    cat "$MD"
    echo
    log "saved $MD and $JSON"
}
