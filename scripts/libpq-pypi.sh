#!/usr/bin/env bash
# A newer libpq than Debian bookworm's (15), for measuring and testing the
# path weft takes with libpq >= 17 (PQsendPipelineSync: a Sync that does not
# flush, so the statements of many tasks leave in one write). Bookworm and
# its backports have no libpq 17; the psycopg-binary wheel on PyPI bundles
# libpq 18 with its dependencies (RPATH $ORIGIN), so that is where it comes
# from. weft loads it when WEFT_LIBPQ names it (src/db/pg.c).
#
#   scripts/libpq-pypi.sh    prints the path of libpq.so (downloads once,
#                            into build/third_party/libpq-pypi)
set -euo pipefail
WHEEL_VERSION=3.3.9 # psycopg-binary; bundles libpq 18
root=$(cd "$(dirname "$0")/.." && pwd)
dir="$root/build/third_party/libpq-pypi"
find_lib() { ls "$dir"/x/psycopg_binary.libs/libpq-*.so.5* 2>/dev/null | head -1 || true; }
lib=$(find_lib)
if [ -z "$lib" ]; then
    rm -rf "$dir" && mkdir -p "$dir"
    python3 -m pip --version >/dev/null 2>&1 || { echo "libpq-pypi.sh: pip missing (apt install python3-pip)" >&2; exit 1; }
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.11 \
        --platform manylinux2014_x86_64 -d "$dir" "psycopg-binary==$WHEEL_VERSION" >&2 ||
        { echo "libpq-pypi.sh: could not download psycopg-binary $WHEEL_VERSION from PyPI" >&2; exit 1; }
    python3 -m zipfile -e "$dir"/psycopg_binary-*.whl "$dir/x" >/dev/null
    lib=$(find_lib)
    [ -n "$lib" ] || { echo "libpq-pypi.sh: no libpq in the psycopg-binary wheel" >&2; exit 1; }
fi
echo "$lib"
