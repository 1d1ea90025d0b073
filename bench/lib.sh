# bench/lib.sh — what the bench/run-*.sh scripts share: a work directory,
# logging, building a program (weft's or a peer's) with its log kept aside,
# CPU pinning, and the machine/version facts every results file records;
# and, further down, what the two arenas (run-http.sh, run-db.sh) share:
# selecting, building, starting, checking and stopping the servers, running
# and reading wrk, the machine facts they record (their Markdown tables come
# from bench/tools/arena_report.py).
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
    if [ "$COMMIT" != unknown ] && [ -n "$(git status --porcelain -- . ':!bench/results' 2>/dev/null)" ]; then
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

# ---- the arenas (run-http.sh, run-db.sh) -------------------------------------
# weft's TechEmpower app (build/apps/tfb) against the Go and Rust peers
# (bench/peers/http-go, bench/peers/http-rust), one server at a time, the
# server pinned to one CPU and the load generator to another. A script that
# uses these has WORK and the arrays BIN WHY PORT (declare -A), PROGS (the
# selected programs), SPID (the server now running, "" when none), CONNS (wrk
# connections), and defines log MSG, note MSG, result PROG METRIC VALUE,
# status PROG PHASE TEXT and server_cmd PROG (the command line of PROG, into
# the array SCMD).

ARENA_PROGS=(weft nethttp fiber actix axum may_minihttp)
declare -gA ARENA_LABEL=(
    [weft]="weft (tfb app)" [weft_pq18]="weft, libpq 18" [nethttp]="Go net/http" [fiber]="Go Fiber v2"
    [actix]="Rust actix-web" [axum]="Rust axum" [may_minihttp]="Rust may_minihttp"
    [nethttp_batch]="Go net/http, pgx Batch"
)
CLK_TCK=$(getconf CLK_TCK)
# the Accept headers TechEmpower's load generator sends
TFB_ACCEPT_TEXT='Accept: text/plain,text/html;q=0.9,application/xhtml+xml;q=0.9,application/xml;q=0.8,*/*;q=0.7'
TFB_ACCEPT_JSON='Accept: application/json,text/html;q=0.9,application/xhtml+xml;q=0.9,application/xml;q=0.8,*/*;q=0.7'
TFB_ACCEPT_HTML='Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8'

# PROGS from BENCH_ONLY (commas or spaces; all when unset), ONLY_TAG the
# names joined by "-" ("" for all): a partial run saves under its own name.
# The arena scripts' records in $WORK: results ("prog metric value"),
# notes, and each program's status per phase.
result() { echo "$1 $2 $3" >>"$WORK/results"; }
note() { echo "$*" >>"$WORK/notes"; log "note: $*"; }
status() { echo "$1 $2 $3" >>"$WORK/status"; }

need_tools() { # tool... : exit when one is missing
    local t
    for t in "$@"; do
        command -v "$t" >/dev/null 2>&1 || { log "$t is required"; exit 1; }
    done
}

arena_select() { # script-name
    PROGS=()
    ONLY_TAG=""
    if [ -z "${BENCH_ONLY:-}" ]; then
        PROGS=("${ARENA_PROGS[@]}")
        return 0
    fi
    local p
    for p in ${BENCH_ONLY//,/ }; do
        if [ -n "${ARENA_LABEL[$p]+x}" ]; then PROGS+=("$p"); else
            echo "$1: unknown program '$p' (one of: ${ARENA_PROGS[*]})" >&2
            exit 2
        fi
    done
    ONLY_TAG=$(
        IFS=-
        echo "${PROGS[*]}"
    )
}

want() { [[ " ${PROGS[*]} " == *" $1 "* ]]; }

# SCPU LCPU PINNING SPIN LPIN: servers on BENCH_SERVER_CPU (0), load
# generators on BENCH_CLIENT_CPU (1); on one CPU both share it (noted).
arena_pinning() {
    if [ "$(nproc)" -ge 2 ]; then
        SCPU=${BENCH_SERVER_CPU:-0}
        LCPU=${BENCH_CLIENT_CPU:-1}
        PINNING="server on CPU $SCPU, load generator on CPU $LCPU (taskset -c)"
    else
        SCPU=${BENCH_SERVER_CPU:-0}
        LCPU=${BENCH_CLIENT_CPU:-0}
        PINNING="only $(nproc) CPU: server AND load generator both on CPU $SCPU (they compete; numbers are not comparable with 2-CPU runs)"
        note "$PINNING"
    fi
    SPIN=(taskset -c "$SCPU")
    LPIN=(taskset -c "$LCPU")
}

# A server port inside the kernel's ephemeral range can be taken, between
# two runs, by one of the load generator's own client sockets (bind then
# fails with "address already in use"): say so before it happens.
check_port_range() { # first last
    local lo hi
    read -r lo hi </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || return 0
    if [ "$2" -ge "$lo" ] && [ "$1" -le "$hi" ]; then
        note "ports $1-$2 overlap the ephemeral range $lo-$hi (net.ipv4.ip_local_port_range): a client socket of the load generator can hold one of them and a server then fails to start; choose BENCH_PORT below $lo"
    fi
}

raise_nofile() { # -> NOFILE, the soft limit after raising it to the hard one
    local hard
    hard=$(ulimit -Hn)
    [ "$hard" = unlimited ] && hard=1048576
    ulimit -Sn "$hard" 2>/dev/null || log "warning: could not raise ulimit -n to $hard"
    NOFILE=$(ulimit -Sn)
}

# Build the selected programs: weft's tfb (copied to $WORK/bin, so every
# phase runs the same build even if build/ is rebuilt meanwhile), the Go
# peers, the Rust peers (--locked). Sets BIN[p] or WHY[p] for every program.
arena_build() {
    local p
    for p in "${ARENA_PROGS[@]}"; do BIN[$p]=""; WHY[$p]="not selected"; done
    if want weft; then
        if build weft "$WORK/build-weft.log" make -C "$ROOT" --no-print-directory apps &&
            [ -x "$ROOT/build/apps/tfb" ] && mkdir -p "$WORK/bin" && cp "$ROOT/build/apps/tfb" "$WORK/bin/tfb"; then
            BIN[weft]=$WORK/bin/tfb
        else
            WHY[weft]="build failed (make apps / build/apps/tfb missing)"
        fi
    fi
    if want nethttp || want fiber || want nethttp_batch; then
        if ! command -v go >/dev/null 2>&1; then
            WHY[nethttp]="go not installed"
            WHY[fiber]="go not installed"
        elif build go "$WORK/build-go.log" env -C "$ROOT/bench/peers/http-go" GOTOOLCHAIN=local \
            go build -trimpath -o bin/ ./cmd/nethttp ./cmd/fiber; then
            BIN[nethttp]=$ROOT/bench/peers/http-go/bin/nethttp
            BIN[fiber]=$ROOT/bench/peers/http-go/bin/fiber
        else
            WHY[nethttp]="build failed"
            WHY[fiber]="build failed"
        fi
    fi
    if want actix || want axum || want may_minihttp; then
        if ! command -v cargo >/dev/null 2>&1; then
            for p in actix axum may_minihttp; do WHY[$p]="cargo not installed"; done
        elif build rust "$WORK/build-rust.log" cargo build --release --locked \
            --manifest-path "$ROOT/bench/peers/http-rust/Cargo.toml"; then
            for p in actix axum may_minihttp; do
                BIN[$p]=$ROOT/bench/peers/http-rust/target/release/$p
            done
        else
            for p in actix axum may_minihttp; do WHY[$p]="build failed"; done
        fi
    fi
}

# % of all CPUs busy over 2 s (from /proc/stat), while the caller idles
busy_pct() {
    local a b
    a=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6 }' /proc/stat)
    sleep 2
    b=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6 }' /proc/stat)
    awk -v a="$a" -v b="$b" 'BEGIN { split(a, x, " "); split(b, y, " "); u = y[1] - x[1]; i = y[2] - x[2];
        printf "%.0f", ((u + i) > 0 ? 100 * u / (u + i) : 0) }'
}

stop_pid() { # pid: TERM, then KILL after 3 s
    local pid=$1 i
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 30; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

listening() { # port: is something listening on 127.0.0.1:port (no connection made)?
    if command -v ss >/dev/null 2>&1; then
        ss -Hltn "sport = :$1" 2>/dev/null | grep -q .
    else
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
    fi
}

start_server() { # prog phase -> SPID set, 0 if it listens within 15 s
    local p=$1 phase=$2 i
    server_cmd "$p"
    echo "server $p: ${SPIN[*]} ${SCMD[*]}" >>"$WORK/cmds"
    if listening "${PORT[$p]}"; then
        status "$p" "$phase" "port ${PORT[$p]} already in use by another process"
        return 1
    fi
    "${SPIN[@]}" "${SCMD[@]}" >>"$WORK/server-$p.log" 2>&1 &
    SPID=$!
    for ((i = 0; i < 150; i++)); do
        if ! kill -0 "$SPID" 2>/dev/null; then
            wait "$SPID" 2>/dev/null || true
            SPID=""
            status "$p" "$phase" "exited at start: $(tail -n 1 "$WORK/server-$p.log" | cut -c1-160)"
            return 1
        fi
        if listening "${PORT[$p]}"; then
            sleep 0.5 # let it settle
            return 0
        fi
        sleep 0.1
    done
    status "$p" "$phase" "not listening on 127.0.0.1:${PORT[$p]} after 15 s"
    stop_pid "$SPID"
    SPID=""
    return 1
}

stop_server() {
    stop_pid "$SPID"
    SPID=""
}

alive() { [ -n "$SPID" ] && kill -0 "$SPID" 2>/dev/null; }

died() { # prog -> DIED="server died (exit N|killed by SIGX): last lines of its log"; reaps it
    local rc=0 how
    wait "$SPID" 2>/dev/null || rc=$?
    SPID=""
    if [ "$rc" -gt 128 ]; then how="killed by SIG$(kill -l $((rc - 128)) 2>/dev/null || echo $((rc - 128)))"; else how="exit $rc"; fi
    DIED="server died ($how): $(tail -n 3 "$WORK/server-$1.log" 2>/dev/null | tr '\n' ' ' | cut -c1-240)"
}

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }
cpu_ticks() { # utime+stime of a pid (all its threads), in clock ticks (fields after the ')' of comm)
    sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | awk '{ print $12 + $13 }'
}

# http_get port path -> RESP_HEAD, RESP_BODY (CRs dropped); on failure prints why
http_get() {
    local out
    out=$(curl -si --max-time "${HTTP_GET_TIMEOUT:-5}" "http://127.0.0.1:$1$2" 2>&1) || { echo "$2: curl failed: $(echo "$out" | tail -n 1)"; return 1; }
    out=${out//$'\r'/}
    RESP_HEAD=${out%%$'\n\n'*}
    RESP_BODY=${out#*$'\n\n'}
}

# check_head path want_ctype: RESP_HEAD is a 200 with that Content-Type (or
# it with parameters), Server, Date and a length; on failure prints why
check_head() {
    local path=$1 want_ctype=$2 ctype
    if ! grep -q '^HTTP/1\.[01] 200' <<<"$RESP_HEAD"; then echo "$path: status is not 200: $(head -n 1 <<<"$RESP_HEAD")"; return 1; fi
    ctype=$(grep -i '^content-type:' <<<"$RESP_HEAD" | head -n 1 | cut -d: -f2- | sed 's/^ *//') || true
    if ! [[ "${ctype,,}" == "$want_ctype" || "${ctype,,}" == "$want_ctype;"* ]]; then echo "$path: Content-Type is '$ctype', not $want_ctype"; return 1; fi
    grep -qi '^server: *[^ ]' <<<"$RESP_HEAD" || { echo "$path: no Server header"; return 1; }
    grep -qi '^date: *[^ ]' <<<"$RESP_HEAD" || { echo "$path: no Date header"; return 1; }
    grep -qiE '^(content-length|transfer-encoding):' <<<"$RESP_HEAD" || { echo "$path: neither Content-Length nor Transfer-Encoding"; return 1; }
    return 0
}

# wrk_run seconds outfile wrk-args...: wrk -t1 -cCONNS --latency on the load CPU
wrk_run() { # wrk's own CPU (user, system seconds) goes to OUT.cpu
    local secs=$1 out=$2 TIMEFORMAT='%3U %3S'
    shift 2
    { time timeout $((secs + 30)) "${LPIN[@]}" wrk -t1 -c"$CONNS" -d"$secs"s --latency "$@" >"$out" 2>&1; } 2>"$out.cpu"
}

# wrk_summary outfile -> "requests seconds req/s socket-errors non-2xx p50 p99"
# (the latencies as wrk prints them, e.g. 1.23ms)
wrk_summary() {
    awk '
        / requests in / { r = $1; s = $4; sub(/,$/, "", s);
            if (s ~ /ms$/) { sub(/ms$/, "", s); s /= 1000 } else if (s ~ /m$/) { sub(/m$/, "", s); s *= 60 } else sub(/s$/, "", s) }
        /^Requests\/sec:/ { q = $2 }
        /Socket errors:/ { gsub(/,/, ""); e = $4 + $6 + $8 + $10 }
        /Non-2xx or 3xx responses:/ { n = $5 }
        $1 == "50%" { l50 = $2 } $1 == "99%" { l99 = $2 }
        END { printf "%s %s %s %d %d %s %s\n", r, s, q, e, n, l50, l99 }' "$1"
}

# a wrk latency (800us, 1.23ms, 2.01s, 1.5m) in milliseconds
wrk_ms() {
    awk -v v="$1" 'BEGIN { f = 1; if (v ~ /us$/) { f = 0.001 } else if (v ~ /ms$/) { f = 1 } else if (v ~ /m$/) { f = 60000 } else if (v ~ /s$/) { f = 1000 }
        sub(/[a-z]+$/, "", v); if (v == "") exit; printf "%.3f", v * f }'
}

# wrk_record prog key outfile cpu-ticks: the standard numbers of one measured
# wrk run (result lines wrk_KEY_*); fails (no lines) when nothing completed
wrk_record() {
    local p=$1 key=$2 reqs secs rps serr non2xx p50 p99
    read -r reqs secs rps serr non2xx p50 p99 < <(wrk_summary "$3")
    [ -n "$reqs" ] && [ "$reqs" -gt 0 ] || return 1
    result "$p" "wrk_${key}_rps" "$rps"
    result "$p" "wrk_${key}_requests" "$reqs"
    result "$p" "wrk_${key}_seconds" "$secs"
    result "$p" "wrk_${key}_socket_errors" "$serr"
    result "$p" "wrk_${key}_non2xx" "$non2xx"
    result "$p" "wrk_${key}_latency_p50" "$p50"
    result "$p" "wrk_${key}_latency_p99" "$p99"
    result "$p" "wrk_${key}_server_cpu_s" "$(awk -v a="$4" -v t="$CLK_TCK" 'BEGIN { printf "%.2f", a / t }')"
    WRK_CPU_US=$(awk -v a="$4" -v t="$CLK_TCK" -v n="$reqs" 'BEGIN { printf "%.4f", a / t / n * 1e6 }')
    result "$p" "wrk_${key}_cpu_us_per_req" "$WRK_CPU_US"
    WRK_LOADGEN_US=$(awk -v n="$reqs" 'NF == 2 { printf "%.4f", ($1 + $2) / n * 1e6 }' "$3.cpu" 2>/dev/null)
    [ -z "$WRK_LOADGEN_US" ] || result "$p" "wrk_${key}_loadgen_cpu_us_per_req" "$WRK_LOADGEN_US"
    # wrk's CPU as a share of its one core over the run: near 100% the load
    # generator, not the server, sets the pace
    WRK_LOADGEN_PCT=$(awk -v s="$secs" 'NF == 2 && s > 0 { printf "%.1f", ($1 + $2) / s * 100 }' "$3.cpu" 2>/dev/null)
    [ -z "$WRK_LOADGEN_PCT" ] || result "$p" "wrk_${key}_loadgen_cpu_pct" "$WRK_LOADGEN_PCT"
    WRK_REQS=$reqs WRK_RPS=$rps WRK_SERR=$serr WRK_NON2XX=$non2xx WRK_P50=$p50 WRK_P99=$p99
}

# One measured wrk run of KEY against PROG's server (SPID), the arenas'
# shared step: the command into $WORK/cmds (the script's wrk_args KEY PORT
# fills WRK), a warm-up, the run with the server's CPU ticks around it, the
# checks, wrk_record. A script may define measure_hook before|after to
# sample more right around the run. Returns 0 when recorded, 1 when this
# run failed (status written: go on), 2 when the server died (status
# written: stop this program).
arena_wrk() { # prog key port
    local p=$1 k=$2 rc=0 c0 c1
    wrk_args "$k" PORT
    printf 'wrk %s: %s wrk -t1 -c%s -d%ss --latency' "$k" "${LPIN[*]}" "$CONNS" "$DURATION" >>"$WORK/cmds"
    printf ' %q' "${WRK[@]}" >>"$WORK/cmds"
    echo " (after a ${WARMUP}s warm-up of the same)" >>"$WORK/cmds"
    wrk_args "$k" "$3"
    alive || { died "$p"; status "$p" "wrk_$k" "$DIED"; return 2; }
    if [ "$WARMUP" -gt 0 ]; then wrk_run "$WARMUP" "$WORK/warm.out" "${WRK[@]}" || true; fi
    c0=$(cpu_ticks "$SPID")
    if declare -F measure_hook >/dev/null; then measure_hook before; fi
    wrk_run "$DURATION" "$WORK/wrk-$p-$k.out" "${WRK[@]}" || rc=$?
    c1=$(cpu_ticks "$SPID")
    if declare -F measure_hook >/dev/null; then measure_hook after; fi
    if ! alive; then
        died "$p"
        status "$p" "wrk_$k" "$DIED (wrk exit $rc)"
        return 2
    fi
    if [ "$rc" -ne 0 ]; then
        status "$p" "wrk_$k" "wrk exit $rc: $(tail -n 1 "$WORK/wrk-$p-$k.out" | cut -c1-160)"
        return 1
    fi
    wrk_record "$p" "$k" "$WORK/wrk-$p-$k.out" $((c1 - c0)) ||
        { status "$p" "wrk_$k" "no requests completed"; return 1; }
}

first_out() { "$@" 2>&1 | head -n 1 || true; }

# key=value lines of the machine and versions every arena records
arena_meta() {
    echo "date=$DATE"
    echo "cpu_model=$(lscpu 2>/dev/null | awk -F: '/^Model name/ { sub(/^ +/, "", $2); print $2; exit }')"
    echo "nproc=$(nproc)"
    echo "kernel=$(uname -srm)"
    echo "memory=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
    echo "pinning=$PINNING"
    echo "ulimit_n=$NOFILE"
    echo "go=$(first_out go version)"
    echo "rustc=$(first_out rustc --version)"
    echo "cargo=$(first_out cargo --version)"
    echo "cc=$(first_out "${CC:-cc}" --version)"
    echo "wrk=$(first_out wrk -v | sed 's/ Copyright.*//')"
    echo "weft_commit=$(git rev-parse HEAD 2>/dev/null || echo unknown)$([ -n "$(git status --porcelain -- . ':!bench/results' 2>/dev/null)" ] && echo ' (dirty)')"
    echo "command=$COMMAND_LINE"
    echo "env=$(env | grep '^BENCH_' | sort | tr '\n' ' ')"
    echo "clk_tck=$CLK_TCK"
}

# $WORK/crates (Cargo.lock) and $WORK/gomods (go list -m, else go.sum): the
# versions the peers were built with
arena_versions() {
    awk '/^\[\[package\]\]/ { n = "" } /^name = / { gsub(/"/, "", $3); n = $3 }
        /^version = / && n != "" && n != "weft-bench-http-rust" { gsub(/"/, "", $3); print n, $3 }' \
        "$ROOT/bench/peers/http-rust/Cargo.lock" >"$WORK/crates" 2>/dev/null || true
    (cd "$ROOT/bench/peers/http-go" && GOTOOLCHAIN=local go list -m all 2>/dev/null | tail -n +2) >"$WORK/gomods" || true
    [ -s "$WORK/gomods" ] || awk '$2 !~ /\/go.mod$/ { print $1, $2 }' "$ROOT/bench/peers/http-go/go.sum" 2>/dev/null | sort -u >"$WORK/gomods" || true
}
