# tests/scripts/lib/check.sh — sourced by the script-level tests
# (tests/scripts/*.sh; this directory is not run by scripts/test.sh).
#   check NAME STATUS [DETAIL]  one line per check ("  ok   NAME" or
#                               "  FAIL NAME: DETAIL"), counted
#   check_end FILE              "FILE: N passed, N failed" (the form
#                               scripts/test.sh counts); non-zero if any failed
passed=0 failed=0
check() {
    if [ "$2" -eq 0 ]; then passed=$((passed + 1)); echo "  ok   $1"
    else failed=$((failed + 1)); echo "  FAIL $1${3:+: $3}"; fi
}
check_end() {
    echo "$1: $passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}
