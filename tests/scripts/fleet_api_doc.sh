#!/usr/bin/env bash
# tests/scripts/fleet_api_doc.sh — docs/fleet-api.md's curl session, run
# verbatim (its ports replaced) against a fleet started from this tree, on a
# fresh SQLite data directory with the demo data, exactly as the doc says to
# start it: every command must print what the doc shows (the rules of
# tests/scripts/lib/doc_session.py: "..." elides, the server's clock,
# tokens and Retry-After seconds vary). A change to the API that the doc
# does not follow fails here, naming the command. Builds build/apps/fleet
# in the plain tree. Ends with "fleet_api_doc: N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
unset MAKELEVEL MAKEFLAGS MFLAGS
. tests/scripts/lib/check.sh
bin=build/apps/fleet
if ! out=$(make --no-print-directory -s -j2 "$bin" 2>&1); then
    check "build $bin" 1 "$out"
    check_end fleet_api_doc; exit 1
fi
tmp=$(mktemp -d /tmp/weft-fleet-doc.XXXXXX)
srv=""
cleanup() {
    [ -n "$srv" ] && kill -TERM "$srv" 2>/dev/null && wait "$srv" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
mkdir "$tmp/data" "$tmp/work"
# the doc's settings (docs/fleet-api.md, Examples), ports chosen by the kernel
WEFT_FLEET_DEMO=1 WEFT_FLEET_ADMIN_EMAIL=admin@example.com WEFT_FLEET_ADMIN_PASSWORD=change-me-now \
    "$bin" --data-dir "$tmp/data" --port 0 --osmand-port 0 --teltonika-port 0 >"$tmp/log" 2>&1 &
srv=$!
for _ in $(seq 1 100); do
    grep -q '^listening on ' "$tmp/log" && break
    kill -0 "$srv" 2>/dev/null || break
    sleep 0.1
done
web=$(grep -o '^listening on http://[^ ]*' "$tmp/log" | sed 's/.*://')
osm=$(grep -o '^osmand on http://[^ ]*' "$tmp/log" | sed 's/.*://')
[ -n "$web" ] && [ -n "$osm" ]; check "fleet started" $? "$(tail -5 "$tmp/log")"
if [ -n "$web" ] && [ -n "$osm" ]; then
    # The sign-in limiter counts per minute of the clock, and the doc shows
    # the session's sign-ins in one minute: start it early in one (the
    # session takes about a second; this is not a timed assertion).
    while [ "$(date +%S | sed 's/^0//')" -gt 45 ]; do sleep 1; done
    out=$(python3 tests/scripts/lib/doc_session.py docs/fleet-api.md \
        '<!-- session checked by tests/scripts/fleet_api_doc.sh -->' "$tmp/work" \
        "127.0.0.1:18931=127.0.0.1:$web" "127.0.0.1:18932=127.0.0.1:$osm" 2>&1)
    rc=$?
    echo "$out"
    passed=$((passed + $(grep -c '^  ok ' <<<"$out")))
    failed=$((failed + $(grep -c '^  FAIL ' <<<"$out")))
    [ $rc -eq 0 ] || grep -q '^  FAIL ' <<<"$out" || check "the session ran" 1 "$out"
fi
kill -TERM "$srv" 2>/dev/null
wait "$srv"; rc=$?
srv=""
[ $rc -eq 0 ]; check "fleet exits 0 on SIGTERM" $? "exit $rc: $(tail -3 "$tmp/log")"
check_end fleet_api_doc
