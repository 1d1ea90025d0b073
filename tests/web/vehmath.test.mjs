// tests/web/vehmath.test.mjs — the live vehicle layer's pure parts
// (apps/fleet/web/src/vehmath.js): gliding, cluster options with the real
// supercluster, the cluster look, hit testing, the view box, the rate limit
// on re-indexing and the frame coalescing of draws (node --test).
import test from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { GLIDE_MS, glideAt, moveTo, clusterOptions, clusterStyle, hitTest, inBox, RateLimit, FrameCoalescer }
  from '../../apps/fleet/web/src/vehmath.js';

const WEB = fileURLToPath(new URL('../../apps/fleet/web/', import.meta.url));

test('glide: from the old position to the new one in GLIDE_MS, then there', () => {
  const v = { fromLat: 48, fromLng: 16, lat: 49, lng: 18, t0: 1000 };
  assert.deepEqual(glideAt(v, 1000), [48, 16, true]);
  assert.deepEqual(glideAt(v, 1000 + GLIDE_MS / 2), [48.5, 17, true]);
  assert.deepEqual(glideAt(v, 1000 + GLIDE_MS), [49, 18, false]);
  assert.deepEqual(glideAt(v, 1e9), [49, 18, false]);
  assert.deepEqual(glideAt(v, 0), [48, 16, true], 'a clock before t0 stays at the start');
});

test('moveTo: the first fix places the vehicle, a new fix mid-glide starts where it is drawn', () => {
  const v = {};
  assert.equal(moveTo(v, 48, 16, 0), false);
  assert.deepEqual(glideAt(v, 0), [48, 16, false]);
  assert.equal(moveTo(v, 48, 16, 10), false, 'same place: no glide');
  assert.equal(moveTo(v, 50, 16, 100), true);
  const [mid] = glideAt(v, 100 + GLIDE_MS / 2);
  assert.equal(mid, 49);
  assert.equal(moveTo(v, 52, 16, 100 + GLIDE_MS / 2), true);
  assert.deepEqual(glideAt(v, 100 + GLIDE_MS / 2), [49, 16, true], 'no jump back or forward');
  assert.deepEqual(glideAt(v, 100 + GLIDE_MS * 1.5), [52, 16, false]);
});

test('clusters (real supercluster): near vehicles cluster when zoomed out, never from the uncluster zoom on', async (t) => {
  let Supercluster;
  try { Supercluster = (await import(WEB + 'node_modules/supercluster/index.js')).default; } catch {
    return t.skip('supercluster not installed (npm ci in apps/fleet/web)');
  }
  const pt = (id, lng, lat) => ({ type: 'Feature', properties: { id }, geometry: { type: 'Point', coordinates: [lng, lat] } });
  // two vehicles 20 m apart in Vienna, one 5 km away
  const idx = new Supercluster(clusterOptions(16)).load([pt(1, 16.3738, 48.2082), pt(2, 16.3740, 48.2083), pt(3, 16.44, 48.2082)]);
  const at = (z) => idx.getClusters([16, 48, 17, 49], z);
  const c12 = at(12);
  assert.equal(c12.length, 2);
  const cl = c12.find((f) => f.properties.cluster);
  assert.equal(cl.properties.point_count, 2);
  const ez = idx.getClusterExpansionZoom(cl.properties.cluster_id);
  assert.ok(ez > 12 && ez <= 16, `expansion zoom ${ez}`);
  for (const z of [16, 17, 19]) {
    const ids = at(z).map((f) => f.properties.id).sort();
    assert.deepEqual(ids, [1, 2, 3], `zoom ${z}: every vehicle on its own`);
  }
  assert.equal(at(12).concat().filter((f) => !f.properties.cluster)[0].properties.id, 3);
  assert.equal(idx.getClusters([-180, -85, 180, 85], 2).reduce((n, f) => n + (f.properties.point_count ?? 1), 0), 3);
});

test('cluster look: colours by size as markercluster, short labels', () => {
  assert.match(clusterStyle(2).core, /110,204,57/);
  assert.match(clusterStyle(9).core, /110,204,57/);
  assert.match(clusterStyle(10).core, /240,194,12/);
  assert.match(clusterStyle(99).core, /240,194,12/);
  assert.match(clusterStyle(100).core, /241,128,23/);
  assert.equal(clusterStyle(9999).label, '9999');
  assert.equal(clusterStyle(12345).label, '12k');
  assert.ok(clusterStyle(5).r > clusterStyle(5).rCore);
});

test('hit test: the topmost item under the point, with slop; null when nothing', () => {
  const items = [{ x: 10, y: 10, r: 11, id: 1 }, { x: 18, y: 10, r: 11, id: 2 }, { x: 100, y: 100, r: 20, cluster: 7 }];
  assert.equal(hitTest(items, 14, 10).id, 2, 'overlap: the later (drawn on top) wins');
  assert.equal(hitTest(items, 0, 10).id, 1);
  assert.equal(hitTest(items, 10 - 12.5, 10).id, 1, 'within the 2 px slop');
  assert.equal(hitTest(items, 10 - 13.5, 10), null);
  assert.equal(hitTest(items, 115, 100).cluster, 7);
  assert.equal(hitTest(items, 60, 60), null);
  assert.equal(hitTest([], 0, 0), null);
});

test('view box: lat/lng inside, longitudes wrapping past ±180, a world-wide view', () => {
  const box = [16, 48, 17, 49];
  assert.ok(inBox(48.5, 16.5, box));
  assert.ok(!inBox(47.9, 16.5, box));
  assert.ok(!inBox(48.5, 17.1, box));
  assert.ok(inBox(48.5, 16.5 + 360, box), 'a copy of the world');
  const across = [170, -10, 190, 10]; // panned over the antimeridian
  assert.ok(inBox(0, -175, across));
  assert.ok(inBox(0, 175, across));
  assert.ok(!inBox(0, 0, across));
  assert.ok(inBox(0, 0, [-200, -90, 200, 90]));
});

function fakeTimers() {
  const q = new Map();
  let n = 0, now = 0;
  return {
    now: () => now,
    timers: { set: (fn, ms) => { q.set(++n, { fn, at: now + ms }); return n; }, clear: (h) => q.delete(h) },
    advance(ms) {
      now += ms;
      for (const [h, x] of [...q].sort((a, b) => a[1].at - b[1].at)) if (x.at <= now) { q.delete(h); x.fn(); }
    },
    pending: () => q.size,
  };
}

test('rate limit: many requests, at most one run per minMs', () => {
  const ft = fakeTimers();
  let runs = 0;
  const rl = new RateLimit(() => runs++, 1000, ft);
  rl.request(); rl.request(); rl.request();
  assert.equal(ft.pending(), 1, 'requests coalesce');
  ft.advance(0);
  assert.equal(runs, 1, 'the first runs at once');
  rl.request();
  ft.advance(500);
  assert.equal(runs, 1, 'not within minMs of the last run');
  rl.request();
  ft.advance(499);
  assert.equal(runs, 1);
  ft.advance(1);
  assert.equal(runs, 2, 'runs when minMs has passed');
  ft.advance(5000);
  assert.equal(runs, 2, 'no request, no run');
  rl.request();
  rl.cancel();
  ft.advance(5000);
  assert.equal(runs, 2, 'cancelled');
  rl.request();
  rl.flush();
  assert.equal(runs, 3, 'flush runs a pending request now');
  rl.flush();
  assert.equal(runs, 3, 'flush without a request does nothing');
});

test('frame coalescing: any number of requests between frames, one draw per frame', () => {
  const frames = [];
  const raf = { request: (f) => { frames.push(f); return frames.length; }, cancel: (h) => { frames[h - 1] = null; } };
  let draws = 0;
  const fc = new FrameCoalescer(() => draws++, raf);
  for (let i = 0; i < 100; i++) fc.request();
  assert.equal(frames.length, 1);
  frames[0](16);
  assert.equal(draws, 1);
  fc.request();
  assert.equal(frames.length, 2, 'a request after the frame asks for the next one');
  fc.cancel();
  assert.equal(frames[1], null);
  fc.request();
  frames[2](32);
  assert.equal(draws, 2);
});
