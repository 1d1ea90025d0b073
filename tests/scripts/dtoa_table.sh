#!/usr/bin/env bash
# tests/scripts/dtoa_table.sh — src/json/dtoa_pow10.c is what
# scripts/gen-pow10-128.py prints: the committed 128-bit powers of ten are
# regenerated (exact integer arithmetic, with the generator's proofs that
# src/json/dtoa.c's formulas and error bound hold for every double) and
# compared byte for byte. Ends with "dtoa_table: N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
. tests/scripts/lib/check.sh

out=$(mktemp); trap 'rm -f "$out"' EXIT
python3 scripts/gen-pow10-128.py >"$out" 2>&1; rc=$?
check "the generator runs and its proofs hold" $rc "exit $rc: $(tail -3 "$out")"
cmp -s "$out" src/json/dtoa_pow10.c
check "src/json/dtoa_pow10.c is what it prints" $? \
    "$(diff "$out" src/json/dtoa_pow10.c | head -5)"
check_end dtoa_table
