#!/usr/bin/env bash
# `make run`: the flagship. Today the example JSON API on the weft HTTP
# server (examples/http_server.c) at http://127.0.0.1:${PORT:-8080}; later the
# fleet platform. Its notes live in SQLite (build/run/example.sqlite, kept
# between runs) unless WEFT_PG names a PostgreSQL (a libpq conninfo or URI).
# Ctrl-C (or SIGTERM) drains in-flight requests and exits 0.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${PORT:-8080}
store=()
if [ -z "${WEFT_PG:-}" ]; then
    mkdir -p build/run
    store=(--sqlite build/run/example.sqlite)
fi
cat <<MSG
weft example server — try:
  curl -s http://127.0.0.1:$PORT/health
  curl -s http://127.0.0.1:$PORT/hello/world
  curl -s 'http://127.0.0.1:$PORT/add?a=2&b=40'
  curl -s -d '{"vehicle":"bus-12","lat":52.52,"lon":13.405}' http://127.0.0.1:$PORT/echo
  curl -si -H 'Content-Type: application/json' -d '{"text":"buy milk"}' http://127.0.0.1:$PORT/notes
  curl -s 'http://127.0.0.1:$PORT/notes?limit=5'
  curl -s http://127.0.0.1:$PORT/notes/1
  curl -si -X DELETE http://127.0.0.1:$PORT/notes/1
MSG
exec build/examples/http_server --host 127.0.0.1 --port "$PORT" "${store[@]}"
