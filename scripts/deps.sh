#!/usr/bin/env bash
# Install the Debian packages weft needs, only those missing. A no-op (a few
# dpkg-query calls) when everything is present. Called by make test/run/bench.
set -euo pipefail
need=(make gcc libc6-dev liburing-dev clang libclang-rt-14-dev clang-format curl libsodium-dev
      valgrind libpq-dev libsqlite3-dev libmimalloc-dev postgresql sqlite3 python3 python3-pip
      zlib1g-dev libssl-dev python3-websockets chromium nodejs)
# `scripts/deps.sh bench`: also what the benchmarks drive the servers with
# (the Go and Rust toolchains for the peers come with the machine; oha is
# installed by bench/run-http.sh with cargo; simdjson is the C++ JSON peer;
# cmake builds snmalloc for the actix peer).
[ "${1:-}" = bench ] && need+=(wrk util-linux python3 g++ libsimdjson-dev cmake)
missing=()
for p in "${need[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "deps: installing ${missing[*]}"
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q >/dev/null
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
