// kpi.js — the tiles in the top bar: vehicles moving / idle / stopped /
// offline, distance driven today, alerts today, and whether the view is live.

import { h } from './dom.js';
import { vehicleStatus, STATUSES } from './status.js';
import { RateLimit } from './vehmath.js';
import { DayCount, ALERT_TYPES } from './alerts.js';

export function mountKpi(box, ctx) {
  const { store, server } = ctx;
  const tiles = {};
  for (const [k, label] of [...STATUSES.map((s) => [s, s]), ['km', 'km today'], ['alerts', 'alerts today']]) {
    tiles[k] = h('b', {}, '–');
    box.append(h('div', { class: `kpi kpi-${k}` }, tiles[k], h('span', {}, label)));
  }
  let frame = 0;
  const alerts = new DayCount(ALERT_TYPES); // the feed's alerts, no other list
  // today is the user's day: from local midnight (the browser's time zone),
  // not from midnight UTC. The server counts (GET /api/events/count, within
  // an index); live alerts add to it; a new day asks again.
  let day = 0;
  const countToday = () => {
    const midnight = new Date();
    midnight.setHours(0, 0, 0, 0);
    if (midnight.getTime() === day) return;
    day = midnight.getTime();
    alerts.reset();
    const to = new Date();
    ctx.api.get('/api/events/count', { type: ALERT_TYPES, from: midnight.toISOString(), to: to.toISOString() })
      .then((r) => { if (day === midnight.getTime()) { alerts.counted(r.total, to.getTime()); later(); } })
      .catch(() => { day = 0; }); // asked again at the next check
  };
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
    tiles.alerts.textContent = alerts.known ? alerts.n : '–';
  };
  // at most twice a second: counting 10,000 statuses on every frame of live
  // updates would cost more than the tiles are worth
  const limit = new RateLimit(() => { if (!frame) frame = requestAnimationFrame(draw); }, 500);
  const later = () => limit.request();
  store.on('devices', later);
  store.on('positions', later);
  store.on('events', (evs) => { alerts.live(evs); later(); });
  setInterval(() => { countToday(); later(); }, 5000);
  countToday();
}
