#!/usr/bin/env bash
# tests/scripts/pg_anywhere.sh — scripts/pg.sh works from any checkout location
# and heals a half-made cluster (issue 14, part D).
#
#   1. a checkout the postgres user cannot enter: scripts/pg.sh and
#      apps/tfb/schema.sql copied into a fresh directory under a 0700 parent,
#      the cluster started from there (cwd inside it): the world table has
#      its 10,000 rows and fortune its 12;
#   2. a schema load that fails (the reported "relation world does not
#      exist" case): the start fails, and the next start, with a good schema,
#      rebuilds the cluster;
#   3. a cluster whose marker is gone and whose table was dropped: the next
#      start rebuilds it;
#   4. a cluster directory the postgres user cannot reach (as root only):
#      refused with a message that says why.
# Prints one line per check and ends with "pg_anywhere: N passed, N failed"
# (the form scripts/test.sh counts). Exit status 0 only if all passed.
set -uo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
passed=0 failed=0
check() { # name status [detail]
    if [ "$2" -eq 0 ]; then passed=$((passed + 1)); echo "  ok   $1"
    else failed=$((failed + 1)); echo "  FAIL $1${3:+: $3}"; fi
}

parent=$(mktemp -d /tmp/weft-pg-anywhere.XXXXXX)
chmod 700 "$parent"
clone=$parent/clone
mkdir -p "$clone/scripts" "$clone/apps/tfb"
cp "$repo/scripts/pg.sh" "$clone/scripts/"
cp "$repo/apps/tfb/schema.sql" "$clone/apps/tfb/"
cluster=$(mktemp -d /tmp/weft-pg-anywhere-db.XXXXXX)
cleanup() {
    (cd "$clone" && bash scripts/pg.sh stop "$cluster") >/dev/null 2>&1
    rm -rf "$parent" "$cluster"
}
trap cleanup EXIT
cd "$clone" || exit 1
if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- test -r "$clone/apps/tfb/schema.sql" &&
        echo "  note: the postgres user can read the 0700 checkout; the location check is moot"
fi

# one value from the cluster, or the error
q() { bash scripts/pg.sh psql "$cluster" -tAc "$1" 2>&1; }

# 1. from a checkout the postgres user cannot enter
out=$(bash scripts/pg.sh start "$cluster" 2>&1); rc=$?
check "start from a 0700 checkout" $rc "$(tail -3 <<<"$out")"
n=$(q 'SELECT count(*) FROM world'); [ "$n" = 10000 ]; check "world has 10000 rows" $? "$n"
n=$(q 'SELECT count(*) FROM fortune'); [ "$n" = 12 ]; check "fortune has 12 rows" $? "$n"
[ -f "$cluster/complete" ]; check "the complete marker is written" $?

# 2. a schema load that fails, then a start with the good schema
bash scripts/pg.sh stop "$cluster" >/dev/null 2>&1
rm -rf "$cluster"/*
cp apps/tfb/schema.sql "$parent/schema.good"
{ echo 'THIS IS NOT SQL;'; cat "$parent/schema.good"; } >apps/tfb/schema.sql
bash scripts/pg.sh start "$cluster" >"$parent/bad.log" 2>&1
bad_rc=$?
[ $bad_rc -ne 0 ] && [ ! -f "$cluster/complete" ]
check "a failing schema load fails the start, no marker" $? "exit $bad_rc"
cp "$parent/schema.good" apps/tfb/schema.sql
out=$(bash scripts/pg.sh start "$cluster" 2>&1); rc=$?
check "the next start succeeds" $rc "$(tail -3 <<<"$out")"
grep -q 'half-made cluster' <<<"$out"; check "it says it rebuilt a half-made cluster" $? "$(tail -2 <<<"$out")"
n=$(q 'SELECT count(*) FROM world'); [ "$n" = 10000 ]; check "world has 10000 rows after the rebuild" $? "$n"

# 3. marker gone and the table dropped (a cluster some earlier run left half-made)
q 'DROP TABLE world' >/dev/null
rm -f "$cluster/complete"
out=$(bash scripts/pg.sh start "$cluster" 2>&1); rc=$?
check "start on a cluster without marker" $rc "$(tail -3 <<<"$out")"
n=$(q 'SELECT count(*) FROM world'); [ "$n" = 10000 ]; check "world is back with 10000 rows" $? "$n"

# 4. a cluster directory the postgres user cannot reach (root only)
if [ "$(id -u)" -eq 0 ]; then
    out=$(bash scripts/pg.sh start "$parent/unreachable" 2>&1); rc=$?
    [ $rc -ne 0 ] && grep -q 'postgres user cannot write' <<<"$out"
    check "an unreachable cluster directory is refused, saying why" $? "exit $rc: $(tail -2 <<<"$out")"
fi

echo "pg_anywhere: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
