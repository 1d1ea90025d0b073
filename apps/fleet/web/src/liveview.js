// liveview.js — the #/map page: the vehicle list (search, status and group
// filters, sort, keyboard), the selected vehicle's details and live trail
// (Escape closes), and the alert feed.

import { h, patchList } from './dom.js';
import { vehicleStatus, ago, STATUSES, knotsToKmh } from './status.js';
import { applyAcks, mergeEvents, openAlerts, ackLabel, alertDetail, ackAllQuery, acksOf, oneAtATime, syncQueries, ALERT_TYPES } from './alerts.js';

const TRAIL_MIN = 10;
const EVENT_LABEL = {
  deviceOverspeed: 'Overspeed', geofenceEnter: 'Entered', geofenceExit: 'Left', deviceOffline: 'Offline',
  deviceOnline: 'Online', alarm: 'Alarm', ignitionOn: 'Ignition on', ignitionOff: 'Ignition off',
  deviceMoving: 'Moving', deviceStopped: 'Stopped',
};
// one collator for every comparison: localeCompare with options builds a
// new one per call, which cost seconds per sort of 10,000 names
const byName = new Intl.Collator(undefined, { numeric: true }).compare;

export function mountLive(root, ctx) {
  const { store, fleetMap, server, L, map } = ctx;
  const now = () => Date.now();
  const statusOf = (id) => vehicleStatus(store.devices.get(id), store.positions.get(id), now(), server);

  // ---- list
  const search = h('input', { type: 'search', placeholder: 'Search vehicles', 'aria-label': 'Search vehicles' });
  const fStatus = h('select', { 'aria-label': 'Status' }, h('option', { value: '' }, 'All statuses'),
    STATUSES.map((s) => h('option', { value: s }, s)));
  const fGroup = h('select', { 'aria-label': 'Group' }, h('option', { value: '' }, 'All groups'));
  const sort = h('select', { 'aria-label': 'Sort' }, h('option', { value: 'name' }, 'Name'),
    h('option', { value: 'status' }, 'Status'), h('option', { value: 'speed' }, 'Speed'), h('option', { value: 'seen' }, 'Last seen'));
  const count = h('span', { class: 'count' });
  const list = h('ul', { class: 'vehicles', role: 'listbox', tabindex: '0', 'aria-label': 'Vehicles' });
  const details = h('div', { class: 'details', hidden: true });
  const feed = h('ul', { class: 'feed', 'aria-label': 'Alerts' });
  const fType = h('select', { 'aria-label': 'Alert type' }, h('option', { value: '' }, 'All alerts'),
    ALERT_TYPES.map((t) => h('option', { value: t }, EVENT_LABEL[t])));
  const unread = h('span', { class: 'unread', hidden: true });
  const sound = h('input', { type: 'checkbox', 'aria-label': 'Sound on alerts' });
  const ackAll = h('button', { class: 'link ack-all', hidden: true, title: 'Acknowledge every open alert the filter shows' }, 'Acknowledge all');
  root.append(
    h('div', { class: 'pane list-pane' },
      h('div', { class: 'filters' }, search, fStatus, fGroup, sort, count), list),
    details,
    h('div', { class: 'pane alerts-pane' },
      h('h2', {}, 'Alerts ', unread, h('span', { class: 'grow' }), ackAll, fType, h('label', { class: 'sound' }, sound, ' sound')),
      feed));

  let rows = [], cursor = -1, frame = 0;
  // every device's place in name order, sorted again only when a device
  // comes, goes or is renamed (the list redraws every second; comparing
  // 10,000 names with a collator each time was the page's largest cost)
  let ranks = new Map(), rankNames = new Map();
  const nameRanks = () => {
    let same = rankNames.size === store.devices.size;
    if (same) for (const d of store.devices.values()) if (rankNames.get(d.id) !== d.name) { same = false; break; }
    if (!same) {
      const ds = [...store.devices.values()].sort((a, b) => byName(a.name, b.name));
      ranks = new Map(ds.map((d, i) => [d.id, i]));
      rankNames = new Map(ds.map((d) => [d.id, d.name]));
    }
    return ranks;
  };
  const refreshGroups = () => {
    const v = fGroup.value;
    fGroup.replaceChildren(h('option', { value: '' }, 'All groups'),
      [...store.groups.values()].map((g) => h('option', { value: g.id }, g.name)));
    fGroup.value = v;
  };
  const render = () => {
    frame = 0;
    if (fGroup.options.length - 1 !== store.groups.size) refreshGroups();
    const q = search.value.trim().toLowerCase(), st = fStatus.value, gid = fGroup.value;
    const t = now();
    rows = [];
    for (const d of store.devices.values()) {
      if (q && !d.name.toLowerCase().includes(q) && !d.uniqueId.toLowerCase().includes(q)) continue;
      if (gid && String(d.groupId) !== gid) continue;
      const s = statusOf(d.id);
      if (st && s !== st) continue;
      rows.push({ d, s, p: store.positions.get(d.id) });
    }
    const by = sort.value;
    const order = { moving: 0, idle: 1, stopped: 2, offline: 3 };
    const rank = nameRanks();
    const name = (a, b) => rank.get(a.d.id) - rank.get(b.d.id);
    rows.sort((a, b) => by === 'speed' ? (b.p?.speed ?? -1) - (a.p?.speed ?? -1)
      : by === 'status' ? order[a.s] - order[b.s] || name(a, b)
      : by === 'seen' ? Date.parse(b.p?.fixTime ?? 0) - Date.parse(a.p?.fixTime ?? 0)
      : name(a, b));
    count.textContent = `${rows.length} of ${store.devices.size}`;
    const sel = fleetMap.selected;
    // the list shows the first 300 matches; search narrows it
    list.replaceChildren(...rows.slice(0, 300).map((r, i) => {
      const driver = r.p?.attributes?.driverUniqueId;
      return h('li', { role: 'option', 'data-id': r.d.id, 'aria-selected': r.d.id === sel ? 'true' : 'false',
        class: i === cursor ? 'cursor' : null, onclick: () => choose(r.d.id) },
      h('span', { class: `dot s-${r.s}`, title: r.s }),
      h('span', { class: 'name' }, r.d.name, driver ? h('small', {}, ` · ${driver}`) : null),
      h('span', { class: 'speed' }, r.p ? `${Math.round(knotsToKmh(r.p.speed))} km/h` : '—'),
      h('span', { class: 'seen' }, ago(r.p?.fixTime ?? r.d.lastUpdate, t)));
    }));
    if (sel) renderDetails(sel);
  };
  const schedule = () => { if (!frame) frame = requestAnimationFrame(render); };
  // live changes redraw the list at most once a second (sorting thousands of
  // rows on every frame would cost more than the map); user input at once
  let slow = 0;
  const scheduleSlow = () => { if (!slow) slow = setTimeout(() => { slow = 0; schedule(); }, 1000); };
  for (const el of [search, fStatus, fGroup, sort]) el.addEventListener('input', () => { cursor = -1; schedule(); });

  list.addEventListener('keydown', (e) => {
    const n = Math.min(rows.length, 300);
    if (!n) return;
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      cursor = Math.max(0, Math.min(n - 1, cursor + (e.key === 'ArrowDown' ? 1 : -1)));
      render();
      list.children[cursor]?.scrollIntoView({ block: 'nearest' });
      e.preventDefault();
    } else if (e.key === 'Enter' && cursor >= 0) {
      choose(rows[cursor].d.id);
    }
  });

  // ---- selection: details, follow, trail
  let trail = null, trailPts = [];
  const keydown = (e) => { if (e.key === 'Escape' && fleetMap.selected) choose(null); };
  document.addEventListener('keydown', keydown);
  function choose(id) {
    fleetMap.select(id);
  }
  const offSelect = fleetMap.onSelect(async (id) => {
    trail?.remove();
    trail = null;
    trailPts = [];
    if (!id) { details.hidden = true; schedule(); return; }
    details.hidden = false;
    trail = L.polyline([], { color: '#1f6feb', weight: 4, opacity: 0.8 }).addTo(map);
    const p = store.positions.get(id);
    if (p) map.setView([p.latitude, p.longitude], Math.max(map.getZoom(), 16));
    renderDetails(id);
    schedule();
    try {
      const to = new Date(), from = new Date(to - TRAIL_MIN * 60000);
      const hist = await ctx.api.get('/api/positions', { deviceId: id, from: from.toISOString(), to: to.toISOString() });
      if (fleetMap.selected !== id) return;
      trailPts = [...hist.map((x) => [x.latitude, x.longitude, Date.parse(x.fixTime)]), ...trailPts];
      drawTrail();
    } catch { /* the live part of the trail still grows */ }
  });
  const drawTrail = () => {
    const cut = now() - TRAIL_MIN * 60000;
    while (trailPts.length && trailPts[0][2] < cut) trailPts.shift();
    trail?.setLatLngs(trailPts.map(([a, b]) => [a, b]));
  };
  function renderDetails(id) {
    const d = store.devices.get(id), p = store.positions.get(id);
    if (!d) { details.hidden = true; return; }
    const a = p?.attributes ?? {};
    const row = (k, v) => [h('dt', {}, k), h('dd', {}, v ?? '—')];
    const extra = Object.entries(a).filter(([k]) => !['ignition', 'batteryLevel', 'odometer', 'totalDistance'].includes(k));
    details.replaceChildren(
      h('div', { class: 'details-head' }, h('span', { class: `dot s-${statusOf(id)}` }), h('h2', {}, d.name),
        h('button', { class: 'close', 'aria-label': 'Close details (Escape)', onclick: () => choose(null) }, '×')),
      h('dl', {},
        row('Status', statusOf(id)),
        row('Position', p ? `${p.latitude.toFixed(5)}, ${p.longitude.toFixed(5)}` : null),
        row('Speed', p ? `${knotsToKmh(p.speed).toFixed(0)} km/h` : null),
        row('Course', p ? `${Math.round(p.course)}°` : null),
        row('Ignition', (d.ignition ?? a.ignition) == null ? null : (d.ignition ?? a.ignition) ? 'on' : 'off'),
        row('Battery', a.batteryLevel != null ? `${a.batteryLevel} %` : a.battery != null ? `${a.battery} V` : null),
        row('Odometer', a.odometer ?? a.totalDistance ? `${((a.odometer ?? a.totalDistance) / 1000).toFixed(1)} km` : null),
        row('Today', d.distanceToday != null ? `${(d.distanceToday / 1000).toFixed(1)} km` : null),
        row('Last fix', p ? ago(p.fixTime, now()) : null),
        row('Device id', d.uniqueId),
        extra.map(([k, v]) => row(k, typeof v === 'object' ? JSON.stringify(v) : String(v)))),
      h('p', { class: 'details-links' }, h('a', { href: `#/replay?device=${d.id}` }, 'Replay its history')));
  }
  const onPositions = (changed) => {
    const sel = fleetMap.selected;
    if (sel && changed.has(sel)) {
      const p = changed.get(sel);
      trailPts.push([p.latitude, p.longitude, Date.parse(p.fixTime)]);
      drawTrail();
      if (!map.getBounds().pad(-0.2).contains([p.latitude, p.longitude])) map.panTo([p.latitude, p.longitude]);
    }
    scheduleSlow();
  };

  // ---- alerts: the unread marker counts the open (unacknowledged) ones;
  // an acknowledgement is shared by the team (alerts.js)
  const acknowledge = async (e, button) => {
    button.disabled = true;
    try {
      applyAcks(store.events, [await ctx.api.post(`/api/events/${e.id}/ack`)], store.acks);
    } catch (x) {
      ctx.toast(`Could not acknowledge: ${x.message}`, 'error');
      button.disabled = false;
    }
    renderFeed();
  };
  // "Acknowledge all": the open alerts of the filter's type(s), after a
  // confirmation, in one request (POST /api/events/ack, up to the newest
  // alert the page knows: ones that arrive meanwhile stay open); the other
  // dashboards hear of it over their live socket
  const feedTypes = () => (fType.value ? [fType.value] : ALERT_TYPES);
  ackAll.addEventListener('click', async () => {
    const q = ackAllQuery(store.events, feedTypes());
    if (!q) return;
    const what = fType.value ? `${EVENT_LABEL[fType.value]} alert` : 'alert';
    const { confirmDialog, ensureCss } = await import('./pages/dom.js'); // the pages' dialog, loaded when first needed
    ensureCss();
    if (!(await confirmDialog(`Acknowledge ${q.n === 1 ? `the open ${what}` : `all ${q.n} open ${what}s`}?`, 'Acknowledge'))) return;
    ackAll.disabled = true;
    try {
      const r = await ctx.api.post('/api/events/ack', undefined, q.query);
      applyAcks(store.events, acksOf(r), store.acks);
      ctx.toast(`${r.count} alert${r.count === 1 ? '' : 's'} acknowledged`);
    } catch (x) {
      ctx.toast(`Could not acknowledge: ${x.message}`, 'error');
    }
    ackAll.disabled = false;
    renderFeed();
  });
  // the newest open alerts of the last day and the acknowledged ones since
  // the oldest shown open (syncQueries: marks acks the socket did not
  // bring): on mount, at every
  // snapshot (a connect or reconnect: 'reset') and when the server resyncs
  // a page that fell behind ('resync'). The snapshot's sync is the one that
  // closes the gap: the socket carries alerts and acks from its snapshot on,
  // so a sync asked for after the snapshot arrived misses none (the one at
  // mount may have run before the socket was subscribed). One at a time; a
  // request during a sync runs another after it.
  const syncAlerts = oneAtATime(async () => {
    const [open, done] = await Promise.all(syncQueries(store.events, ALERT_TYPES).map((q) => ctx.api.get('/api/events', q)));
    mergeEvents(store.events, [...open, ...done], store.acks);
    renderFeed();
  });
  // the feed is patched, not redrawn: a batch of new alerts inserts their
  // rows at the top, an acknowledgement (or a vehicle's new name) changes its
  // row in place, rows that fall off the newest 200 or out of the filter go
  // (patchList in dom.js; tests/web/feed.test.mjs)
  const feedRows = new Map(); // event id -> {node, sig}
  const vehicleName = (e) => store.devices.get(e.deviceId)?.name ?? `device ${e.deviceId}`;
  // geofence names for "Entered City centre zone": fetched on mount and
  // after a reconnect, and again (at most every 5 s) when an alert names a
  // fence the page does not know yet (made since by someone else)
  const fences = new Map();
  let fencesAsked = 0;
  const loadFences = async () => {
    if (Date.now() - fencesAsked < 1000) return; // mount and the first snapshot's reset
    fencesAsked = Date.now();
    try {
      const fs = await ctx.api.get('/api/geofences');
      fences.clear();
      for (const f of fs) fences.set(f.id, f.name);
      renderFeed();
    } catch { /* the rows say "geofence <id>" meanwhile */ }
  };
  const fenceName = (id) => {
    if (!fences.has(id) && Date.now() - fencesAsked > 5000) loadFences();
    return fences.get(id);
  };
  const detail = (e) => alertDetail(e, fenceName);
  const ackPart = (e) => e.ackTime ? h('span', { class: 'ack-by' }, ackLabel(e))
    : h('button', { class: 'link', onclick: (x) => acknowledge(e, x.currentTarget) }, 'Acknowledge');
  const feedSpec = {
    key: (e) => e.id,
    sig: (e) => `${e.ackTime ?? ''}|${vehicleName(e)}|${detail(e)}`,
    create: (e) => h('li', { class: `ev ev-${e.type}${e.ackTime ? ' acked' : ''}`, 'data-id': e.id },
      h('b', {}, EVENT_LABEL[e.type] ?? e.type), ' ',
      h('a', { href: '#/map', onclick: (x) => { x.preventDefault(); choose(e.deviceId); } }, vehicleName(e)),
      h('span', { class: 'what' }, detail(e)),
      h('time', {}, new Date(e.eventTime).toLocaleTimeString()),
      ackPart(e)),
    update: (li, e) => {
      li.classList.toggle('acked', !!e.ackTime);
      li.querySelector('a').textContent = vehicleName(e);
      li.querySelector('.what').textContent = detail(e);
      const last = li.lastElementChild; // the Acknowledge button or who acknowledged
      if (last.classList.contains('ack-by') !== !!e.ackTime) last.replaceWith(ackPart(e));
    },
  };
  const renderFeed = () => {
    const t = fType.value;
    const evs = store.events.filter((e) => ALERT_TYPES.includes(e.type) && (!t || e.type === t)).slice(-200).reverse();
    patchList(feed, evs, feedSpec, feedRows);
    const open = openAlerts(store.events, ALERT_TYPES).length;
    unread.hidden = open === 0;
    unread.textContent = String(open);
    unread.title = `${open} unacknowledged`;
    ackAll.hidden = !openAlerts(store.events, feedTypes()).length;
  };
  fType.addEventListener('input', renderFeed);
  let audio = null;
  const onEvents = (evs) => {
    const alerts = evs.filter((e) => ALERT_TYPES.includes(e.type));
    if (!alerts.length) return;
    if (sound.checked) {
      audio ??= new AudioContext();
      const o = audio.createOscillator(), g = audio.createGain();
      o.frequency.value = 880; g.gain.value = 0.05;
      o.connect(g).connect(audio.destination); o.start(); o.stop(audio.currentTime + 0.12);
    }
    renderFeed();
  };

  store.on('positions', onPositions);
  store.on('devices', scheduleSlow);
  store.on('reset', schedule);
  store.on('events', onEvents);
  store.on('acks', renderFeed);
  store.on('reset', syncAlerts);
  store.on('resync', syncAlerts);
  store.on('reset', loadFences);
  const tick = setInterval(schedule, 5000);
  render();
  loadFences();
  renderFeed();
  syncAlerts();
  return {
    unmount() {
      store.off('positions', onPositions); store.off('devices', scheduleSlow); clearTimeout(slow); store.off('reset', schedule);
      store.off('events', onEvents); store.off('acks', renderFeed); store.off('reset', syncAlerts); store.off('resync', syncAlerts); store.off('reset', loadFences);
      document.removeEventListener('keydown', keydown);
      offSelect(); clearInterval(tick); if (frame) cancelAnimationFrame(frame);
      fleetMap.select(null);
    },
  };
}
