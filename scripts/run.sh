#!/usr/bin/env bash
# `make run`: the flagship, weft fleet, with a live demo.
#
# Starts the fleet server (apps/fleet) on embedded SQLite (build/run/fleet/,
# kept between runs) with demo data (groups, 200 devices, geofences, a
# manager and a viewer), and the simulator (apps/fleet-sim) driving 200
# vehicles through a generated city: half report over the OsmAnd protocol
# (HTTP, port 5055), half as Teltonika trackers (TCP, port 5027), exactly as
# real devices do. The web port is http://127.0.0.1:${PORT:-8080}.
#
# Other ports (a second checkout, a port taken): PORT (or
# WEFT_FLEET_HTTP_PORT) for the web and API, WEFT_FLEET_OSMAND_PORT and
# WEFT_FLEET_TELTONIKA_PORT for the devices; the simulator follows them.
#
# The first admin: WEFT_FLEET_ADMIN_EMAIL / WEFT_FLEET_ADMIN_PASSWORD when set,
# otherwise a generated password printed once below. WEFT_FLEET_PG (a libpq
# conninfo) puts the data in PostgreSQL instead. VEHICLES=n changes the fleet
# size. Ctrl-C stops the simulator, then the server (which commits what is
# queued and exits 0).
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${PORT:-${WEFT_FLEET_HTTP_PORT:-8080}} # the fleet's own variable works too, not overridden by a default
VEHICLES=${VEHICLES:-200}
mkdir -p build/run/fleet
# ---- the dashboard (issue 12): its browser libraries and the simulator's roads
if [ ! -f apps/fleet/web/node_modules/.package-lock.json ] ||
    [ apps/fleet/web/package-lock.json -nt apps/fleet/web/node_modules/.package-lock.json ]; then
    (cd apps/fleet/web && npm ci --no-audit --no-fund --loglevel=error) || echo "npm ci failed: the dashboard will lack its map libraries"
fi
mkdir -p build/run/fleet/overlays
build/apps/fleet-sim --export-roads build/run/fleet/overlays/roads.geojson >/dev/null
# precompressed .gz beside the served files (fleet sends them to gzip-accepting browsers)
node apps/fleet/web/tools/precompress.mjs apps/fleet/web build/run/fleet/overlays/roads.geojson ||
    echo "precompress failed: the dashboard is served uncompressed"
# ---- end of the dashboard block
export WEFT_FLEET_DEMO=1 WEFT_FLEET_HTTP_PORT=$PORT
log=build/run/fleet/server.log
: >"$log"
build/apps/fleet --data-dir build/run/fleet >"$log" 2>&1 &
srv=$!
sim=""
stop() { # the simulator first (it collects its last acks), then the server
    # Ctrl-C reaches the whole process group: the simulator and the server
    # may have ended already, and a failed kill or wait under set -e would
    # end this with status 1 (make's "Error 1" after every Ctrl-C)
    set +e
    if [ -n "$sim" ] && kill -TERM "$sim" 2>/dev/null; then
        for _ in $(seq 1 30); do kill -0 "$sim" 2>/dev/null || break; sleep 0.2; done
        kill -TERM "$sim" 2>/dev/null # a second signal ends it at once
        wait "$sim" 2>/dev/null
    fi
    kill -TERM "$srv" 2>/dev/null
    wait "$srv" 2>/dev/null
    exit 0
}
trap stop INT TERM
for _ in $(seq 1 100); do
    grep -q '^listening on ' "$log" && break
    kill -0 "$srv" 2>/dev/null || { cat "$log"; echo "weft fleet did not start"; exit 1; }
    sleep 0.1
done
grep -q '^listening on ' "$log" || { cat "$log"; echo "weft fleet did not start within 10 s"; kill "$srv"; exit 1; }
osm=$(grep -o 'osmand on http://[^ ]*' "$log" | sed 's/.*://')
tlt=$(grep -o 'teltonika on tcp://[^ ]*' "$log" | sed 's/.*://')
cat "$log"
# The admin is created (and a generated password shown) on the first run
# only; later runs reuse build/run/fleet, so say how to sign in then too.
admin=$(sed -n 's/^first admin: \([^ ]*\).*/\1/p' "$log")
pass=$(sed -n 's/^first admin: [^ ]* password \([^ ]*\) (generated.*/\1/p' "$log")
if [ -z "$admin" ]; then
    signin="the admin of the first make run
(the data stays in build/run/fleet: its password was printed then, or is the
WEFT_FLEET_ADMIN_PASSWORD you set; lost it? Ctrl-C, rm -rf build/run/fleet and
make run again for a new admin and new demo data)"
    admin=ADMIN_EMAIL pass=PASSWORD
else
    signin="the admin above"
    [ -n "$pass" ] || pass='$WEFT_FLEET_ADMIN_PASSWORD'
fi
cat <<MSG

weft fleet is running on http://127.0.0.1:$PORT with $VEHICLES simulated vehicles.
Open http://127.0.0.1:$PORT/ for the dashboard and sign in with $signin
(or the demo manager/viewer). From the command line, for example:
  curl -s -c /tmp/fleet.cookies -d "email=$admin&password=$pass" http://127.0.0.1:$PORT/api/session
  curl -s -b /tmp/fleet.cookies http://127.0.0.1:$PORT/api/devices
  curl -s -b /tmp/fleet.cookies http://127.0.0.1:$PORT/api/positions
  curl -sN -b /tmp/fleet.cookies http://127.0.0.1:$PORT/api/stream     # live updates (SSE)
The API: http://127.0.0.1:$PORT/api/openapi.json and docs/fleet-api.md. Metrics: /metrics.
A phone with the Traccar Client app: server URL http://<this machine>:$osm, and a
device identifier of a device you created (see the README).
Server log: $log. Ctrl-C stops everything.

MSG
build/apps/fleet-sim --vehicles "$VEHICLES" --osmand-port "$osm" --teltonika-port "$tlt" --duration 0 --quiet \
    >build/run/fleet/sim.log 2>&1 &
sim=$!
# the server ending on its own (not by Ctrl-C) stops the simulator too
wait "$srv" || echo "weft fleet exited with status $?: see $log"
stop
