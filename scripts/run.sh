#!/usr/bin/env bash
# `make run`: the flagship. Today the example JSON API on the weft HTTP
# server (examples/http_server.c) at http://127.0.0.1:${PORT:-8080}; later the
# fleet platform. Ctrl-C (or SIGTERM) drains in-flight requests and exits 0.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${PORT:-8080}
cat <<MSG
weft example server — try:
  curl -s http://127.0.0.1:$PORT/health
  curl -s http://127.0.0.1:$PORT/hello/world
  curl -s 'http://127.0.0.1:$PORT/add?a=2&b=40'
  curl -s -d '{"vehicle":"bus-12","lat":52.52,"lon":13.405}' http://127.0.0.1:$PORT/echo
MSG
exec build/examples/http_server --host 127.0.0.1 --port "$PORT"
