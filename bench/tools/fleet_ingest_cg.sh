#!/usr/bin/env bash
# Instructions per OsmAnd fix of weft fleet under callgrind (WEFT_IO=epoll,
# one worker, SQLite in a temp dir, auto-registration on): the counters are
# zeroed once the server listens, fleet-sim backfills VEH devices x 1 day at
# IVL ms over CONNS keep-alive connections (64 x 720 = 46,080 fixes by
# default: the bench's 2-minute interval, so the events are the bench's), the
# profile is dumped when the sim is done, and the server's parts are printed
# per fix from callgrind_annotate's inclusive counts. The counts do not
# depend on the machine's load; the batch sizes (fixes a commit) do a little.
# System calls are not in the counts.
# usage: bench/tools/fleet_ingest_cg.sh [FLEET_BIN] [OUT.cg]
#        (VEH=64 CONNS=64 IVL=120000 MODE=get|post|json; PAGE_SIZE=N: storage.sqlite_page_size)
#        TABLE=PROFILE FIXES=N: only the table, of a profile kept from a run
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${1:-build/apps/fleet} OUT=${2:-/tmp/fleet-ingest.cg}
table() { # profile fixes
    local prof=$1 n=$2
    callgrind_annotate --inclusive=yes --threshold=100 "$prof" 2>/dev/null >"$prof.incl"
    local tot sq
    tot=$(grep 'PROGRAM TOTALS' "$prof.incl" | awk '{gsub(",","",$1); print $1}')
    # the largest inclusive count of a function (callgrind names cycle members NAME'2)
    get() { { grep -E "$1" "$prof.incl" || true; } | awk '{gsub(",","",$1); if ($1+0 > s) s=$1+0} END {printf "%.0f\n", s}'; }
    row() { printf '| %s | %s | %.0f |\n' "$1" "$2" "$(echo "$2 / $n" | bc -l)"; }
    echo "profile $prof, $n fixes acknowledged"
    echo "| part (inclusive) | instructions | per fix |"
    echo "| --- | ---: | ---: |"
    sq=$(get ' [^ ]*src/db/sqlite.c:conn_main ')
    row "all threads, after zeroing (start-up excluded)" "$tot"
    row "SQLite connection threads (sqlite.c conn_main)" "$sq"
    row "the rest: the worker (HTTP, parse, pipeline, writer and syncer tasks, feed)" $((tot - sq))
    row "SQLite: sqlite3_prepare_v3 (statement cache filling, once)" "$(get '\?\?\?:sqlite3_prepare_v3 ')"
    row "SQLite: sqlite3BtreeInsert (rows and index entries)" "$(get '\?\?\?:sqlite3BtreeInsert ')"
    row "SQLite: sqlite3WalFrames (WAL frames: checksum, copy)" "$(get '\?\?\?:sqlite3WalFrames ')"
    row "SQLite: sqlite3WalCheckpoint" "$(get '\?\?\?:sqlite3WalCheckpoint ')"
    row "HTTP request parse (weft_http_parse_request)" "$(get 'parse.c:weft_http_parse_request ')"
    row "OsmAnd parameters (osmand_parse_form)" "$(get 'osmand.c:osmand_parse_form ')"
    row "  of which split and decode (collect)" "$(get 'osmand.c:collect ')"
    row "  of which numbers (osmand_number)" "$(get 'osmand.c:osmand_number ')"
    row "  of which attribute keys (weft_json_enc_key)" "$(get 'encode.c:weft_json_enc_key ')"
    row "device lookup (ingest_device)" "$(get 'ingest_device ')"
    row "event rules (events_on_fix)" "$(get 'events.c:events_on_fix ')"
    row "motion chunks (motion_add)" "$(get 'motion.c:motion_add ')"
}
if [ -n "${TABLE:-}" ]; then table "$TABLE" "${FIXES:?FIXES=N with TABLE}"; exit 0; fi
VEH=${VEH:-64} CONNS=${CONNS:-64} IVL=${IVL:-120000} MODE=${MODE:-get}
w=$(mktemp -d /tmp/fleet_ingest_cg.XXXXXX)
# storage.sqlite_page_size only when asked: a build from before it refuses the key
ps=""
[ -n "${PAGE_SIZE:-}" ] && ps="\"storage\": {\"sqlite_page_size\": $PAGE_SIZE}, "
printf '{"ingest": {"auto_register": true, "host": "127.0.0.1"}, %s"positions": {"retention_days": 0}, "events": {"retention_days": 0}}\n' "$ps" >"$w/fleet.json"
WEFT_IO=epoll WEFT_WORKERS=1 valgrind --tool=callgrind --callgrind-out-file="$OUT" "$BIN" --config "$w/fleet.json" \
    --data-dir "$w/data" --port 0 --osmand-port 0 --teltonika-port 0 >"$w/srv.log" 2>&1 &
pid=$!
trap 'kill -TERM $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$w"' EXIT
for _ in $(seq 1 900); do grep -q '^listening on' "$w/srv.log" && break; kill -0 $pid || break; sleep 0.2; done
grep -q '^listening on' "$w/srv.log" || { cat "$w/srv.log" >&2; exit 1; }
op=$(grep -o 'osmand on http://[^ ]*' "$w/srv.log" | sed 's/.*://')
callgrind_control -z $pid >/dev/null
timeout 900 build/apps/fleet-sim --protocol osmand --osmand-mode "$MODE" --vehicles "$VEH" --backfill 1 \
    --interval-ms "$IVL" --connections "$CONNS" --osmand-port "$op" --ack-timeout-ms 60000 --quiet >"$w/sim.log" 2>&1 || true
callgrind_control -d $pid >/dev/null
sleep 1
n=$(grep -o 'acknowledged [0-9]*' "$w/sim.log" | tail -1 | awk '{print $2}')
tail -1 "$w/sim.log"
[ "${n:-0}" -gt 0 ] || exit 1
table "$OUT.1" "$n" # the dump after the sim; $OUT itself is written at exit
