#!/usr/bin/env bash
# tests/scripts/harness.sh — the test harness itself (tests/test_main.c) with
# tests/harness/dead_stack.c, a binary that fails on purpose: an ASSERT that
# fails while a server task the test started still runs ends that test at
# once (the old runner spun until the suite's timeout), a test killed by a
# signal fails alone, the tests after them still run, and the counts are
# exact. And the per-test time limit with tests/harness/hangs.c, whose tests
# hang on purpose without failing: under WEFT_TEST_TIMEOUT=2 each fails
# "timed out after 2 s" (with a task dump when it ran in a runtime), a
# process it forked dies with it, the next test still runs and passes.
# Builds the binaries in the plain tree (build/).
# Ends with "harness: N passed, N failed" (the form scripts/test.sh counts).
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
unset MAKELEVEL MAKEFLAGS MFLAGS
. tests/scripts/lib/check.sh
bin=build/tests/harness/dead_stack hangs=build/tests/harness/hangs
if ! out=$(make --no-print-directory -s -j2 "$bin" "$hangs" 2>&1); then
    check "build $bin $hangs" 1 "$out"
    check_end harness; exit 1
fi

# both binaries have a test that passes before the failing ones and one after
check_before_and_after() {
    grep -qE '^  ok   passes_before ' <<<"$1" && grep -qE '^  ok   passes_after ' <<<"$1"
    check "the tests before and after pass" $? "$1"
}

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
check_before_and_after "$out"

out=$(timeout 60 "$bin" passes_after fails_with_a_server_running 2>&1); rc=$?
[ $rc -eq 1 ] && [ "$(tail -1 <<<"$out")" = "dead_stack: 1 passed, 1 failed" ]
check "tests named on the command line: counted alone" $? "exit $rc: $out"
out=$(timeout 60 "$bin" --no-fork passes_before passes_after 2>&1); rc=$?
[ $rc -eq 0 ] && [ "$(tail -1 <<<"$out")" = "dead_stack: 2 passed, 0 failed" ]
check "--no-fork runs them in the process" $? "exit $rc: $out"
out=$(timeout 60 "$bin" no_such_test 2>&1); rc=$?
[ $rc -eq 2 ] && [ "$(tail -1 <<<"$out")" = "dead_stack: 0 passed, 1 failed" ]
check "an unknown name still fails (exit 2)" $? "exit $rc: $out"

# ---- the per-test time limit
pidf=$(mktemp /tmp/weft-harness-pid.XXXXXX)
# pid $1 has died (gone, or a zombie its new parent has not reaped yet),
# waiting up to 2 s: an orphan is reaped by whoever inherits it
gone() {
    local i
    for i in $(seq 20); do
        kill -0 "$1" 2>/dev/null || return 0
        grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}
t0=$(date +%s%N)
out=$(HANGS_PID_FILE=$pidf WEFT_TEST_TIMEOUT=2 timeout 60 "$hangs" 2>&1); rc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ $rc -eq 1 ]; check "a binary with hanging tests exits 1 (not 124: the old hang)" $? "exit $rc after $ms ms: $out"
[ $ms -lt 20000 ]; check "two 2 s limits end it promptly (${ms} ms)" $?
[ "$(tail -1 <<<"$out")" = "hangs: 2 passed, 2 failed" ]
check "the counts are exact" $? "$out"
grep -qE '^  FAIL hangs_in_a_task ' <<<"$out" &&
    grep -q 'FAIL hangs_in_a_task: timed out after 2 s; killed' <<<"$out" &&
    grep -qE '^  FAIL hangs_with_a_child_process ' <<<"$out" &&
    grep -q 'FAIL hangs_with_a_child_process: timed out after 2 s; killed' <<<"$out"
check "each hanging test fails, named, 'timed out after 2 s'" $? "$out"
grep -q 'weft: task dump' <<<"$out" && grep -q 'weft: end of dump' <<<"$out"
check "the runtime test's tasks are dumped before the kill" $? "$out"
check_before_and_after "$out"
gpid=$(cat "$pidf" 2>/dev/null)
[ -n "$gpid" ] && gone "$gpid"
check "a process the hanging test forked is killed with it (pid ${gpid:-none})" $? "$out"

: >"$pidf"
out=$(HANGS_PID_FILE=$pidf WEFT_TEST_TIMEOUT=0 timeout 3 "$hangs" hangs_with_a_child_process 2>&1); rc=$?
gpid=$(cat "$pidf" 2>/dev/null)
[ $rc -eq 124 ]; check "WEFT_TEST_TIMEOUT=0: no limit (timeout(1) ends it, exit 124)" $? "exit $rc: $out"
[ -n "$gpid" ] && gone "$gpid"
check "SIGTERM to the runner kills the test's process group (pid ${gpid:-none})" $? "$out"
[ -n "$gpid" ] && kill -KILL "$gpid" 2>/dev/null
rm -f "$pidf"

out=$(WEFT_TEST_TIMEOUT=1 timeout 60 "$hangs" --no-fork passes_before passes_after 2>&1); rc=$?
[ $rc -eq 0 ] && [ "$(tail -1 <<<"$out")" = "hangs: 2 passed, 0 failed" ]
check "--no-fork: no limit, the tests run in the process" $? "exit $rc: $out"

# ---- several tests at once (WEFT_TEST_JOBS, make check): the same results,
# each test's output printed whole beside its result line, in list order
results() { grep -E '^  (ok  |FAIL) [a-z_]+ ' <<<"$1" | awk '{print $1, $2}'; }
serial=$(timeout 60 "$bin" 2>&1)
out=$(WEFT_TEST_JOBS=3 timeout 60 "$bin" 2>&1); rc=$?
[ $rc -eq 1 ] && [ "$(tail -1 <<<"$out")" = "dead_stack: 2 passed, 2 failed" ] &&
    [ "$(results "$out")" = "$(results "$serial")" ] && [ -n "$(results "$out")" ]
check "WEFT_TEST_JOBS=3: the same results in the same order" $? "exit $rc: $out"
awk '/FAIL tests\/harness\/dead_stack.c:[0-9]*: 1 \+ 1 == 3/ { seen = 1 } /^  FAIL fails_with_a_server_running / { print seen + 0; exit }' <<<"$out" | grep -qx 1
check "WEFT_TEST_JOBS=3: a failed test's own output comes before its result line" $? "$out"
pidf=$(mktemp /tmp/weft-harness-pid.XXXXXX)
out=$(HANGS_PID_FILE=$pidf WEFT_TEST_JOBS=3 WEFT_TEST_TIMEOUT=2 timeout 60 "$hangs" 2>&1); rc=$?
[ $rc -eq 1 ] && [ "$(tail -1 <<<"$out")" = "hangs: 2 passed, 2 failed" ] &&
    grep -q 'FAIL hangs_in_a_task: timed out after 2 s; killed' <<<"$out" &&
    grep -q 'weft: end of dump' <<<"$out"
check "WEFT_TEST_JOBS=3: hanging tests time out, dumped, counted" $? "exit $rc: $out"
gpid=$(cat "$pidf" 2>/dev/null)
[ -n "$gpid" ] && gone "$gpid"
check "WEFT_TEST_JOBS=3: a process the hanging test forked is killed with it (pid ${gpid:-none})" $? "$out"
rm -f "$pidf"

check_end harness
