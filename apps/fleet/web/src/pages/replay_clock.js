// apps/fleet/web/src/pages/replay_clock.js — the timing of a history replay,
// without the DOM, the map or real timers (so node's test runner drives it
// with a fake clock).
//
// A replay has a track (the route report's positions, oldest first) and a
// replay time t, in the track's own milliseconds (fix times). While playing,
// t advances `speed` times as fast as the wall clock the caller injects
// (`now()`, e.g. performance.now): t = t0 + (now() - wall0) * speed, where
// (t0, wall0) is re-anchored on every play, seek and speed change, so a
// change never makes the marker jump. Reaching the end pauses at the end.
// The page asks `time()` once per animation frame and draws `position()`.
//
// Between two fixes the position is interpolated linearly (a fix every few
// seconds: straight lines are what the road looks like at that scale); the
// course takes the shorter way round (350° -> 10° passes 0°).

export const MIN_SPEED = 1;
export const MAX_SPEED = 300;
/** the speeds offered in the speed menu */
export const SPEEDS = [1, 2, 5, 10, 30, 60, 120, 300];

/** ISO 8601 text or a number of ms -> ms since the epoch (NaN when neither). */
export function toMs(t) {
  if (typeof t === 'number') return t;
  if (typeof t !== 'string') return NaN;
  return Date.parse(t);
}

/** Clamp a speed to MIN_SPEED..MAX_SPEED; anything not a number is 1x. */
export function clampSpeed(x) {
  const n = Number(x);
  if (!Number.isFinite(n)) return MIN_SPEED;
  return Math.min(MAX_SPEED, Math.max(MIN_SPEED, n));
}

/**
 * The route report as a track: [{t, lat, lon, course, speed}] sorted by fix
 * time, positions without a valid time or coordinates left out. Takes either
 * the full report (Traccar's position objects) or the compact one
 * (`?compact=true`: one {deviceId, fields, points} per device, each point an
 * array in the order `fields` names; fixTime in ms).
 */
export function toTrack(route) {
  const out = [];
  const add = (t, la, lo, course, speed) => {
    const lat = Number(la), lon = Number(lo);
    if (!Number.isFinite(t) || !Number.isFinite(lat) || !Number.isFinite(lon)) return;
    out.push({t, lat, lon, course: Number(course) || 0, speed: Number(speed) || 0});
  };
  for (const p of route || []) {
    if (Array.isArray(p && p.points)) {
      const at = (name) => (p.fields || []).indexOf(name);
      const [ti, la, lo, co, sp] = ['fixTime', 'latitude', 'longitude', 'course', 'speed'].map(at);
      if (ti < 0 || la < 0 || lo < 0) continue; // not a route this page can draw
      for (const q of p.points) add(toMs(q[ti]), q[la], q[lo], co < 0 ? 0 : q[co], sp < 0 ? 0 : q[sp]);
    } else if (p) {
      add(toMs(p.fixTime), p.latitude, p.longitude, p.course, p.speed);
    }
  }
  out.sort((a, b) => a.t - b.t);
  return out;
}

/** Index of the last fix with time <= t (-1 before the first). Binary search. */
export function fixBefore(track, t) {
  let lo = 0, hi = track.length - 1, ans = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (track[mid].t <= t) ans = mid, lo = mid + 1;
    else hi = mid - 1;
  }
  return ans;
}

function lerpCourse(a, b, f) {
  let d = ((b - a) % 360 + 540) % 360 - 180; // -180..180: the shorter way
  return ((a + d * f) % 360 + 360) % 360;
}

/**
 * Where the vehicle is at time t: {lat, lon, course, speed, index} (index:
 * the fix at or before t), clamped to the first/last fix; null for an empty
 * track.
 */
export function positionAt(track, t) {
  if (!track.length) return null;
  const i = fixBefore(track, t);
  if (i < 0) return {...pick(track[0]), index: 0};
  if (i === track.length - 1) return {...pick(track[i]), index: i};
  const a = track[i], b = track[i + 1];
  const f = b.t > a.t ? (t - a.t) / (b.t - a.t) : 0;
  return {
    lat: a.lat + (b.lat - a.lat) * f,
    lon: a.lon + (b.lon - a.lon) * f,
    course: lerpCourse(a.course, b.course, f),
    speed: a.speed + (b.speed - a.speed) * f,
    index: i,
  };
}

function pick(p) {
  return {lat: p.lat, lon: p.lon, course: p.course, speed: p.speed};
}

/** Index of the trip whose [startTime, endTime] holds t, else -1. */
export function tripAt(trips, t) {
  for (let i = 0; i < (trips || []).length; i++) {
    const s = toMs(trips[i].startTime), e = toMs(trips[i].endTime);
    if (t >= s && t <= e) return i;
  }
  return -1;
}

/**
 * A replay over `positions` (route report) and `trips` (trips report).
 * opts.now: the wall clock in ms (default performance.now / Date.now).
 * opts.from/opts.to: the range asked for; the slider spans the track when it
 * has fixes, else this range.
 */
export function createReplay(positions, trips = [], opts = {}) {
  const now = opts.now || (() => (globalThis.performance ? performance.now() : Date.now()));
  const track = toTrack(positions);
  const start = track.length ? track[0].t : toMs(opts.from) || 0;
  const end = track.length ? track[track.length - 1].t : toMs(opts.to) || start;
  let playing = false, speed = clampSpeed(opts.speed ?? 60);
  let t0 = start, wall0 = now();

  function time() {
    if (!playing) return t0;
    const t = t0 + (now() - wall0) * speed;
    if (t >= end) { // the end: stop there
      playing = false;
      t0 = end;
      return end;
    }
    return t;
  }
  function anchor() {
    t0 = time();
    wall0 = now();
  }
  const r = {
    track, trips: trips || [], start, end,
    time,
    get playing() {
      time(); // may reach the end
      return playing;
    },
    get speed() { return speed; },
    play() {
      if (!track.length) return;
      anchor();
      if (t0 >= end) t0 = start; // play at the end: from the start again
      playing = true;
    },
    pause() {
      anchor();
      playing = false;
    },
    toggle() {
      if (r.playing) r.pause();
      else r.play();
    },
    setSpeed(x) {
      anchor();
      speed = clampSpeed(x);
    },
    /** seek to t (ms; clamped to the track); keeps playing if it was */
    seek(t) {
      anchor();
      const n = toMs(t);
      t0 = Math.min(end, Math.max(start, Number.isFinite(n) ? n : start));
    },
    /** seek to the start of trip i */
    seekTrip(i) {
      const trip = r.trips[i];
      if (trip) r.seek(toMs(trip.startTime));
    },
    /** 0..1 of the way through (the slider) */
    fraction() {
      return end > start ? (time() - start) / (end - start) : 0;
    },
    position() { return positionAt(track, time()); },
    tripIndex() { return tripAt(r.trips, time()); },
  };
  return r;
}

/** The default range of the page: from local midnight today to now. */
export function todayRange(nowMs = Date.now()) {
  const d = new Date(nowMs);
  d.setHours(0, 0, 0, 0);
  return {from: d.getTime(), to: nowMs};
}

/** ms -> the value of an <input type="datetime-local"> (local time, minutes). */
export function toLocalInput(ms) {
  const d = new Date(ms), p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

/** An <input type="datetime-local"> value (local time) -> ms; NaN if empty or bad. */
export function fromLocalInput(v) {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(v || '');
  if (!m) return NaN;
  return new Date(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +(m[6] || 0)).getTime();
}
