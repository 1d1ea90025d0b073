// alerts.js — the shared acknowledgement of alerts, as pure functions over
// the store's event list (unit tests: tests/web/alerts.test.mjs).
//
// An event carries ackTime / ackUserId / ackUserName (null while open). The
// server records the acknowledgement (POST /api/events/{id}/ack) and tells
// every open dashboard of the device's audience with a live message
// {"acks":[{id, deviceId, ackTime, ackUserId, ackUserName}]}. The page keeps
// the acks it has heard of in a Map, so an ack that arrives before its event
// (or an event fetched later over REST) still ends up marked.

import { knotsToKmh } from './status.js';

const KEEP = 2000; // acks remembered for events not in the list yet

// What the dashboard calls an alert: the event types the feed shows, its
// unread marker and "Acknowledge all" count, and the "alerts today" tile
// counts (issue 12: overspeed, geofence, offline, alarm, ignition). One
// list, so the tile never disagrees with the feed beside it
// (tests/web/alert_types.test.mjs).
export const ALERT_TYPES = Object.freeze(['deviceOverspeed', 'geofenceEnter', 'geofenceExit', 'deviceOffline', 'alarm',
  'ignitionOn', 'ignitionOff']);

// Record acks (from the socket or a POST's answer) and mark the events they
// name. Returns how many events changed.
export function applyAcks(events, acks, known) {
  let changed = 0;
  for (const a of acks) {
    if (!a?.ackTime) continue;
    known.set(a.id, a);
    if (known.size > KEEP) known.delete(known.keys().next().value);
    const e = events.find((x) => x.id === a.id);
    if (e && !e.ackTime) {
      e.ackTime = a.ackTime;
      e.ackUserId = a.ackUserId ?? null;
      e.ackUserName = a.ackUserName ?? null;
      changed++;
    }
  }
  return changed;
}

// Add the events of `more` (a REST answer) that the list lacks, in event
// time order, each marked when an ack for it is known; an acknowledged one
// of `more` also marks the list's copy (an ack missed while disconnected).
// Keeps the newest `cap`. Returns how many were added.
export function mergeEvents(events, more, known, cap = 1000) {
  applyAcks(events, more, known);
  const have = new Set(events.map((e) => e.id));
  let added = 0;
  for (const e of more) {
    if (have.has(e.id)) continue;
    have.add(e.id);
    events.push({ ...e });
    added++;
  }
  if (added) {
    events.sort((a, b) => Date.parse(a.eventTime) - Date.parse(b.eventTime) || a.id - b.id);
    if (events.length > cap) events.splice(0, events.length - cap);
    applyAcks(events, [...known.values()], new Map());
  }
  return added;
}

// The open (unacknowledged) events of the given types.
export const openAlerts = (events, types) => events.filter((e) => types.includes(e.type) && !e.ackTime);

// The query parameters of the alert feed's two REST asks (GET /api/events)
// when it syncs: the newest open alerts, and the acknowledged ones since the
// oldest alert the page still shows open, up to the page's own cap, so that
// an "acknowledge all" the socket did not bring (a page that joined or fell
// behind meanwhile) marks every row it covered, not only the newest 200.
export function syncQueries(events, types, cap = 1000) {
  const open = openAlerts(events, types);
  let from = Infinity;
  for (const e of open) from = Math.min(from, Date.parse(e.eventTime));
  const base = { type: types, order: 'desc' };
  const done = open.length ? { ...base, acknowledged: true, from: new Date(from).toISOString(), limit: cap }
    : { ...base, acknowledged: true, limit: 200 };
  return [{ ...base, acknowledged: false, limit: 500 }, done];
}

// "Acknowledged by Ann at 14:03" (time in the page's locale).
export function ackLabel(e, fmt = (d) => d.toLocaleTimeString()) {
  if (!e.ackTime) return '';
  return `Acknowledged${e.ackUserName ? ` by ${e.ackUserName}` : ''} at ${fmt(new Date(e.ackTime))}`;
}

// What an alert is about, for its row in the feed: the geofence entered or
// left (its name by fenceName(id), which may not know it yet), the speed
// against the limit in km/h (the API sends knots), the alarm's kind.
export function alertDetail(e, fenceName = () => undefined) {
  const a = e.attributes ?? {};
  if (e.type === 'geofenceEnter' || e.type === 'geofenceExit') {
    if (a.geofenceName) return a.geofenceName;
    return e.geofenceId ? fenceName(e.geofenceId) ?? `geofence ${e.geofenceId}` : '';
  }
  if (e.type === 'deviceOverspeed' && Number.isFinite(a.speed)) {
    const kmh = (kn) => `${Math.round(knotsToKmh(kn))} km/h`;
    return Number.isFinite(a.speedLimit) ? `${kmh(a.speed)}, limit ${kmh(a.speedLimit)}` : kmh(a.speed);
  }
  if (e.type === 'alarm' && a.alarm) return String(a.alarm);
  return '';
}

// "Acknowledge all" of what the feed shows: the request for the open alerts
// of `types` in `events` (POST /api/events/ack), or null when none is open.
// maxId is the newest event the page knows and `to` its time, so alerts
// that arrive while the dispatcher confirms stay open; `from` is the oldest
// open one's time. n is how many the page expects to be acknowledged (the
// server's count may be larger: alerts of the range the page never loaded).
export function ackAllQuery(events, types) {
  const open = openAlerts(events, types);
  if (!open.length) return null;
  let maxId = 0, from = Infinity, to = -Infinity;
  for (const e of events) {
    maxId = Math.max(maxId, e.id);
    to = Math.max(to, Date.parse(e.eventTime));
  }
  for (const e of open) from = Math.min(from, Date.parse(e.eventTime));
  return { n: open.length, query: { type: types, from: new Date(from).toISOString(), to: new Date(to).toISOString(), maxId } };
}

// The answer of POST /api/events/ack ({count, ids, ackTime, ackUserId,
// ackUserName}) as acks for applyAcks.
export const acksOf = (r) => (r?.ids ?? []).map((id) => ({ id, ackTime: r.ackTime, ackUserId: r.ackUserId, ackUserName: r.ackUserName }));

// A sync (an async function) run one at a time: asked for while one runs,
// it runs once more after it, however often it was asked meanwhile (the
// running one's request may have left before what made the page ask again:
// a snapshot, a resync). Returns the function to call; its promise settles
// when a run that started after the call ends. run's errors are its own.
export function oneAtATime(run) {
  let running = null, again = false;
  const loop = async () => {
    do {
      again = false;
      try { await run(); } catch { /* the next request tries again */ }
    } while (again);
    running = null;
  };
  return () => {
    if (running) { again = true; return running; }
    return (running = loop());
  };
}

// The "alerts today" tile: the server's count of today's alerts (GET
// /api/events/count, up to `to`), plus the live ones. Live alerts that
// arrive before the count's answer are added only when they are newer
// than its `to` (older ones are in the count already).
export class DayCount {
  constructor(types) { this.types = new Set(types); this.reset(); }
  reset() { this.n = 0; this.known = false; this.early = []; }
  live(evs) {
    for (const e of evs) {
      if (!this.types.has(e.type)) continue;
      if (this.known) this.n++;
      else this.early.push(e);
    }
  }
  counted(total, toMs) {
    this.n = total + this.early.filter((e) => Date.parse(e.eventTime) > toMs).length;
    this.early = [];
    this.known = true;
  }
}
