#!/usr/bin/env bash
# `make run`: the flagship. Until the HTTP server lands this runs the seed
# examples (worker pool, fan-out, fetch with deadline) and shows their output.
set -euo pipefail
cd "$(dirname "$0")/.."
for ex in worker_pool fanout fetch_timeout; do
    echo "== examples/$ex.c"
    build/examples/$ex
    echo
done
