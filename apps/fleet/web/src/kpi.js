// kpi.js — the tiles in the top bar: vehicles moving / idle / stopped /
// offline, distance driven today, alerts today, and whether the view is live.

import { h } from './dom.js';
import { vehicleStatus, STATUSES } from './status.js';
import { RateLimit } from './vehmath.js';

const ALERTS = new Set(['deviceOverspeed', 'geofenceEnter', 'geofenceExit', 'deviceOffline', 'alarm']);

export function mountKpi(box, ctx) {
  const { store, server } = ctx;
  const tiles = {};
  for (const [k, label] of [...STATUSES.map((s) => [s, s]), ['km', 'km today'], ['alerts', 'alerts today']]) {
    tiles[k] = h('b', {}, '–');
    box.append(h('div', { class: `kpi kpi-${k}` }, tiles[k], h('span', {}, label)));
  }
  let alertsToday = 0, frame = 0;
  // today is the user's day: from local midnight (the browser's time zone),
  // not from midnight UTC
  const midnight = new Date();
  midnight.setHours(0, 0, 0, 0);
  // one request per alert type: all of today's events at 10,000 vehicles
  // (ignition, moving, stopped...) were megabytes of JSON on the first load
  const to = new Date().toISOString();
  Promise.all([...ALERTS].map((type) => ctx.api.get('/api/events', { type, from: midnight.toISOString(), to, limit: 10000 })))
    .then((lists) => { alertsToday = lists.reduce((n, evs) => n + evs.length, 0); draw(); })
    .catch(() => {});
  const draw = () => {
    frame = 0;
    const n = { moving: 0, idle: 0, stopped: 0, offline: 0 };
    let m = 0;
    const t = Date.now();
    for (const d of store.devices.values()) {
      n[vehicleStatus(d, store.positions.get(d.id), t, server)]++;
      m += d.distanceToday ?? 0;
    }
    for (const s of STATUSES) tiles[s].textContent = n[s];
    tiles.km.textContent = (m / 1000).toLocaleString(undefined, { maximumFractionDigits: 0 });
    tiles.alerts.textContent = alertsToday;
  };
  // at most twice a second: counting 10,000 statuses on every frame of live
  // updates would cost more than the tiles are worth
  const limit = new RateLimit(() => { if (!frame) frame = requestAnimationFrame(draw); }, 500);
  const later = () => limit.request();
  store.on('devices', later);
  store.on('positions', later);
  store.on('events', (evs) => { alertsToday += evs.filter((e) => ALERTS.has(e.type)).length; later(); });
  setInterval(later, 5000);
}
