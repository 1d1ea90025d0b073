// vehmath.js — the pure parts of the live vehicle layer (vehlayer.js), no
// DOM and no Leaflet: gliding between fixes, the look of a cluster, hit
// testing what was drawn, rate limits and frame coalescing. Unit tests:
// tests/web/vehmath.test.mjs.

export const GLIDE_MS = 900;

// Where a vehicle is at time t (ms, same clock as v.t0): on its way from
// (v.fromLat, v.fromLng) to (v.lat, v.lng), which it reaches GLIDE_MS after
// v.t0. Returns [lat, lng, gliding] (gliding: not there yet).
export function glideAt(v, t) {
  const k = (t - v.t0) / GLIDE_MS;
  if (!(k < 1)) return [v.lat, v.lng, false];
  const c = k > 0 ? k : 0;
  return [v.fromLat + (v.lat - v.fromLat) * c, v.fromLng + (v.lng - v.fromLng) * c, true];
}

// A vehicle moves to (lat, lng) at time t: it glides there from wherever it
// is drawn now (so a fix that arrives mid-glide does not jump back). The
// first fix of a vehicle places it at once.
export function moveTo(v, lat, lng, t) {
  if (v.lat === undefined) {
    v.fromLat = v.lat = lat;
    v.fromLng = v.lng = lng;
    v.t0 = -Infinity;
    return false;
  }
  if (v.lat === lat && v.lng === lng) return false;
  const [a, b] = glideAt(v, t);
  v.fromLat = a;
  v.fromLng = b;
  v.lat = lat;
  v.lng = lng;
  v.t0 = t;
  return true;
}

// supercluster's options: a 50 px radius on Leaflet's 256 px tiles (as
// markercluster's maxClusterRadius), no clusters from unclusterZoom on.
export const clusterOptions = (unclusterZoom) => ({ radius: 50, extent: 256, maxZoom: unclusterZoom - 1, minPoints: 2 });

// The look of a cluster of n vehicles (leaflet.markercluster's default
// colours: green below 10, yellow below 100, orange above): radii in CSS
// pixels and fills.
export function clusterStyle(n) {
  const [halo, core] = n < 10 ? ['rgba(181,226,140,0.6)', 'rgba(110,204,57,0.6)']
    : n < 100 ? ['rgba(241,211,87,0.6)', 'rgba(240,194,12,0.6)']
      : ['rgba(253,156,115,0.6)', 'rgba(241,128,23,0.6)'];
  return { r: 20, rCore: 15, halo, core, label: n < 10000 ? String(n) : `${Math.floor(n / 1000)}k` };
}

// The item drawn at container point (x, y): items are {x, y, r, ...} in
// drawing order, so the last one that covers the point is on top. slop
// widens every item by that many pixels (fingers, small arrows). null if none.
export function hitTest(items, x, y, slop = 2) {
  for (let i = items.length - 1; i >= 0; i--) {
    const it = items[i], dx = it.x - x, dy = it.y - y, r = it.r + slop;
    if (dx * dx + dy * dy <= r * r) return it;
  }
  return null;
}

// Is (lat, lng) inside [west, south, east, north]? Longitudes may run past
// ±180 (Leaflet's bounds after panning around the world); the test wraps.
export function inBox(lat, lng, box) {
  const [w, s, e, n] = box;
  if (lat < s || lat > n) return false;
  if (e - w >= 360) return true;
  const x = ((lng - w) % 360 + 360) % 360;
  return x <= e - w;
}

// Calls run() at most once per minMs: request() asks for a run; the first
// request after a quiet period runs after `delay` ms, later ones wait
// until minMs has passed since the last run. timers = {set(fn, ms), clear(h)}
// and now() are injectable for tests.
export class RateLimit {
  constructor(run, minMs, { now = () => performance.now(), timers = { set: (f, ms) => setTimeout(f, ms), clear: (h) => clearTimeout(h) }, delay = 0 } = {}) {
    Object.assign(this, { run, minMs, now, timers, delay, last: -Infinity, handle: null });
  }
  request() {
    if (this.handle !== null) return;
    const wait = Math.max(this.delay, this.last + this.minMs - this.now());
    this.handle = this.timers.set(() => this.flush(), wait);
  }
  // run now if a run is pending (and forget the timer)
  flush() {
    if (this.handle === null) return;
    this.timers.clear(this.handle);
    this.handle = null;
    this.last = this.now();
    this.run();
  }
  cancel() {
    if (this.handle !== null) this.timers.clear(this.handle);
    this.handle = null;
  }
}

// Many requests between two animation frames, one call of fn in the frame.
// raf = {request(fn), cancel(h)} is injectable for tests.
export class FrameCoalescer {
  constructor(fn, raf = { request: (f) => requestAnimationFrame(f), cancel: (h) => cancelAnimationFrame(h) }) {
    Object.assign(this, { fn, raf, handle: 0 });
  }
  request() {
    if (!this.handle) this.handle = this.raf.request((t) => { this.handle = 0; this.fn(t); });
  }
  cancel() {
    if (this.handle) this.raf.cancel(this.handle);
    this.handle = 0;
  }
}
