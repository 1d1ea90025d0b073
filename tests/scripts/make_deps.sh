#!/usr/bin/env bash
# tests/scripts/make_deps.sh — plain `make` on a machine without a build
# dependency (issue 14, part D: "liburing.h: No such file or directory") either
# installs it (scripts/deps.sh) or stops before compiling, naming the header,
# its Debian package and the command to run. A missing header is simulated
# with DEP_HEADERS (a header no package provides), so nothing is installed.
# Ends with "make_deps: N passed, N failed" (the form scripts/test.sh counts).
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
# run from `make test`, make's variables would reach these makes: the check
# runs in a top-level make only
unset MAKELEVEL MAKEFLAGS MFLAGS
. tests/scripts/lib/check.sh
fake=weft_test_no_such_header.h

out=$(make --no-print-directory check-deps 2>&1); rc=$?
[ $rc -eq 0 ] && grep -q 'build dependencies present' <<<"$out"
check "everything present: the check passes quietly" $? "exit $rc: $out"

# the check is cheap: it asks neither apt nor dpkg when everything is
# present (stand-ins first on PATH record any call; no timing asserted)
stubs=$(mktemp -d); trap 'rm -rf "$stubs"' EXIT
for tool in apt apt-get apt-cache dpkg dpkg-query; do
    printf '#!/bin/sh\necho "%s $*" >> "%s/called"\nexit 1\n' "$tool" "$stubs" > "$stubs/$tool"
    chmod +x "$stubs/$tool"
done
PATH="$stubs:$PATH" make --no-print-directory check-deps >/dev/null 2>&1; rc=$?
[ $rc -eq 0 ] && [ ! -e "$stubs/called" ]
check "the check runs neither apt nor dpkg" $? "exit $rc; called: $(cat "$stubs/called" 2>/dev/null)"

# a missing header, plain make (the default goal): scripts/deps.sh is run,
# then make stops before compiling anything, saying what to run
out=$(make --no-print-directory -n DEP_HEADERS="liburing.h $fake" DEP_PKG_$fake=weft-test-pkg 2>&1); rc=$?
[ $rc -ne 0 ]; check "plain make with a missing header stops" $? "exit $rc"
grep -q "missing $fake; installing what is missing with scripts/deps.sh" <<<"$out"
check "it runs scripts/deps.sh first" $? "$out"
grep -q "$fake not found (Debian: weft-test-pkg)" <<<"$out" &&
    grep -q 'Run: sudo bash scripts/deps.sh' <<<"$out" && grep -q 'apt-get install weft-test-pkg' <<<"$out"
check "then names the header, its package and the commands" $? "$out"
! grep -qE '^(gcc|cc|clang) ' <<<"$out"; check "and compiles nothing" $?

# DEPS_AUTO=0: only says what to run; the real headers map to their packages
out=$(make --no-print-directory -n DEPS_AUTO=0 DEP_HEADERS="$fake" 2>&1); rc=$?
[ $rc -ne 0 ] && ! grep -q 'installing what is missing' <<<"$out" && grep -q "$fake not found" <<<"$out"
check "DEPS_AUTO=0: no install, the message only" $? "exit $rc: $out"
for pair in liburing.h:liburing-dev sqlite3.h:libsqlite3-dev libpq-fe.h:libpq-dev; do
    h=${pair%%:*} p=${pair#*:}
    out=$(make --no-print-directory -n DEPS_AUTO=0 DEP_HEADERS="$h" \
        CC="sh -c 'exit 1' --" 2>&1) # a compiler that finds nothing: every header "missing"
    grep -q "$h not found (Debian: $p)" <<<"$out"; check "$h maps to $p" $? "$out"
done

check_end make_deps
