#!/usr/bin/env bash
# tests/scripts/make_fuzz_deps.sh — the fuzz targets' dependencies: a fuzz
# target that #includes an app's .c file (fuzz/fleet_sim_watch.c includes
# apps/fleet-sim/watch.c) is rebuilt when that file changes, the others are
# not, and a library header rebuilds the fuzz tree's library objects. Asks
# make what it would do (-n, with -W: "as if this file changed"), after one
# `make fuzz-build` (which make test does anyway). Nothing is modified.
# Ends with "make_fuzz_deps: N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
unset MAKELEVEL MAKEFLAGS MFLAGS
. tests/scripts/lib/check.sh
if ! out=$(make --no-print-directory -s -j2 fuzz-build 2>&1); then
    check "make fuzz-build" 1 "$(tail -20 <<<"$out")"
    check_end make_fuzz_deps; exit 1
fi
bins=$(ls fuzz/*.c | sed -E 's|fuzz/(.*)\.c|build-fuzz/\1|')
# shellcheck disable=SC2086
make --no-print-directory -q $bins; check "after fuzz-build every target is up to date" $?
grep -q 'apps/fleet-sim/watch.c' build-fuzz/fleet_sim_watch.d
check "build-fuzz/fleet_sim_watch.d names apps/fleet-sim/watch.c" $?

# the fuzz targets make would relink if `changed` had changed. The .d files
# name a file as the #include spelled it ("fuzz/../apps/fleet/isotime.c",
# "apps/fleet/isotime.h"); a real edit changes every spelling at once, so -W
# is given for each spelling that is the same file.
relinked() { # changed
    local w=() sp
    for sp in $(cat build-fuzz/*.d | tr ' ' '\n' | grep -F "$(basename "$1")" | grep -v ':$' | sort -u); do
        [ "$(realpath -m "$sp")" = "$(realpath -m "$1")" ] && w+=(-W "$sp")
    done
    make --no-print-directory -n "${w[@]}" fuzz-build 2>&1 |
        grep -oE -- '-o build-fuzz/[a-z0-9_]+( |$)' | sed -E 's/-o build-fuzz\/([a-z0-9_]+) ?/\1/' | sort | tr '\n' ' '
}
got=$(relinked apps/fleet-sim/watch.c)
[ "$got" = "fleet_sim_frames fleet_sim_watch " ]
check "apps/fleet-sim/watch.c rebuilds fleet_sim_watch and fleet_sim_frames only" $? "got: $got"
got=$(relinked apps/fleet/isotime.c)
[ "$got" = "fleet_osmand fleet_sim_frames fleet_sim_watch " ]
check "apps/fleet/isotime.c rebuilds the three targets that include it" $? "got: $got"
got=$(relinked apps/fleet/isotime.h) # a header of an included .c: through the .d files too
grep -q fleet_osmand <<<"$got" && grep -q fleet_sim_watch <<<"$got" && ! grep -qw json <<<"$got"
check "apps/fleet/isotime.h rebuilds its includers, not the json target" $? "got: $got"
out=$(make --no-print-directory -n -W include/weft/json.h fuzz-build 2>&1)
grep -q -- '-o build-fuzz/src/json/parse.o' <<<"$out"
check "include/weft/json.h rebuilds the fuzz tree's library object src/json/parse.o" $? "$(head -5 <<<"$out")"

check_end make_fuzz_deps
