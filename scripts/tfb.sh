#!/usr/bin/env bash
# `make tfb`: the TechEmpower app on 127.0.0.1:${PORT:-8080}. With WEFT_TFB_DB
# set (a libpq conninfo) it uses that database; otherwise it starts a local
# PostgreSQL with the TFB schema and data (scripts/pg.sh, kept in
# ${TFB_PGDIR:-/tmp/weft-tfb-pg} between runs) and stops it on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${PORT:-8080}
if [ -z "${WEFT_TFB_DB:-}" ]; then
    dir=${TFB_PGDIR:-/tmp/weft-tfb-pg}
    WEFT_TFB_DB=$(bash scripts/pg.sh start "$dir" | tail -1)
    export WEFT_TFB_DB
    trap 'bash scripts/pg.sh stop "$dir"' EXIT
    echo "tfb: local PostgreSQL: $WEFT_TFB_DB"
fi
cat <<MSG
tfb: try /plaintext /json /db /queries?queries=20 /fortunes /updates?queries=20 /cached-queries?count=20
MSG
build/apps/tfb --host 127.0.0.1 --port "$PORT" "$@"
