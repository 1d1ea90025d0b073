#!/usr/bin/env bash
# tests/scripts/harness.sh — the test harness itself (tests/test_main.c) with
# tests/harness/dead_stack.c, a binary that fails on purpose: an ASSERT that
# fails while a server task the test started still runs ends that test at
# once (the old runner spun until the suite's timeout), a test killed by a
# signal fails alone, the tests after them still run, and the counts are
# exact. Builds the binary in the plain tree (build/).
# Ends with "harness: N passed, N failed" (the form scripts/test.sh counts).
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
unset MAKELEVEL MAKEFLAGS MFLAGS
. tests/scripts/lib/check.sh
bin=build/tests/harness/dead_stack
if ! out=$(make --no-print-directory -s -j2 "$bin" 2>&1); then
    check "build $bin" 1 "$out"
    check_end harness; exit 1
fi

t0=$(date +%s%N)
out=$(timeout 60 "$bin" 2>&1); rc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ $rc -eq 1 ]; check "a failing binary exits 1 (not 124: a hang)" $? "exit $rc after $ms ms: $out"
[ $ms -lt 10000 ]; check "it ends promptly (${ms} ms)" $?
[ "$(tail -1 <<<"$out")" = "dead_stack: 2 passed, 2 failed" ]
check "the counts are exact" $? "$out"
grep -qE '^  FAIL fails_with_a_server_running ' <<<"$out" &&
    grep -q 'FAIL tests/harness/dead_stack.c:[0-9]*: 1 + 1 == 3: 2 vs 3' <<<"$out"
check "the failed ASSERT is reported with the test's name" $? "$out"
grep -qE '^  FAIL dies_of_a_signal ' <<<"$out" && grep -q 'dies_of_a_signal: killed by signal 11' <<<"$out"
check "a test killed by a signal fails alone, saying so" $? "$out"
grep -qE '^  ok   passes_before ' <<<"$out" && grep -qE '^  ok   passes_after ' <<<"$out"
check "the tests before and after pass" $? "$out"

out=$(timeout 60 "$bin" passes_after fails_with_a_server_running 2>&1); rc=$?
[ $rc -eq 1 ] && [ "$(tail -1 <<<"$out")" = "dead_stack: 1 passed, 1 failed" ]
check "tests named on the command line: counted alone" $? "exit $rc: $out"
out=$(timeout 60 "$bin" --no-fork passes_before passes_after 2>&1); rc=$?
[ $rc -eq 0 ] && [ "$(tail -1 <<<"$out")" = "dead_stack: 2 passed, 0 failed" ]
check "--no-fork runs them in the process" $? "exit $rc: $out"
out=$(timeout 60 "$bin" no_such_test 2>&1); rc=$?
[ $rc -eq 2 ] && [ "$(tail -1 <<<"$out")" = "dead_stack: 0 passed, 1 failed" ]
check "an unknown name still fails (exit 2)" $? "exit $rc: $out"

check_end harness
