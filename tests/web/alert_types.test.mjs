// tests/web/alert_types.test.mjs — one definition of "alert" in the page:
// the "alerts today" tile (kpi.js) counts the types the alert feed
// (liveview.js) shows, both from ALERT_TYPES in alerts.js. They used to
// keep a list each, and the tile left out the ignition events the feed
// showed.
import test from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { ALERT_TYPES } from '../../apps/fleet/web/src/alerts.js';

const SRC = new URL('../../apps/fleet/web/src/', import.meta.url);

test('ALERT_TYPES: overspeed, geofence, offline, alarm and ignition (issue 12), fixed', () => {
  assert.deepEqual([...ALERT_TYPES].sort(),
    ['alarm', 'deviceOffline', 'deviceOverspeed', 'geofenceEnter', 'geofenceExit', 'ignitionOff', 'ignitionOn']);
  assert.ok(Object.isFrozen(ALERT_TYPES), 'no page can change what an alert is for the others');
});

test('no other module keeps a list of alert types of its own', () => {
  const own = readdirSync(SRC, { recursive: true })
    .filter((f) => f.endsWith('.js') && f !== 'alerts.js')
    .filter((f) => /\[\s*'deviceOverspeed'\s*,/.test(readFileSync(new URL(f, SRC), 'utf8')));
  assert.deepEqual(own, []);
  for (const f of ['kpi.js', 'liveview.js'])
    assert.match(readFileSync(new URL(f, SRC), 'utf8'), /import \{[^}]*\bALERT_TYPES\b[^}]*\} from '\.\/alerts\.js'/, f);
});

// The smallest DOM mountKpi needs: elements that take attributes, children
// and text.
function fakeDom() {
  const el = (tag) => ({
    tag, attrs: {}, kids: [], textContent: '',
    setAttribute(k, v) { this.attrs[k] = v; },
    addEventListener() {},
    append(...k) { this.kids.push(...k); },
  });
  return { createElement: el };
}

test('the tile asks the server for the feed\'s types and counts a live ignition event', async () => {
  const saved = { document: globalThis.document, raf: globalThis.requestAnimationFrame, si: globalThis.setInterval };
  const draws = [];
  globalThis.document = fakeDom();
  globalThis.requestAnimationFrame = (f) => { draws.push(f); return 1; };
  globalThis.setInterval = () => 0; // the tile's 5 s re-check: not in a unit test
  try {
    const { mountKpi } = await import('../../apps/fleet/web/src/kpi.js');
    const handlers = {}, asked = [];
    let answer;
    const ctx = {
      server: { movingSpeed: 1.5, offlineTimeout: 600000 },
      store: { devices: new Map(), positions: new Map(), on: (k, f) => { handlers[k] = f; } },
      api: { get: (path, q) => { asked.push({ path, q }); return new Promise((r) => { answer = r; }); } },
    };
    const box = document.createElement('div');
    mountKpi(box, ctx);
    assert.equal(asked.length, 1);
    assert.equal(asked[0].path, '/api/events/count');
    assert.deepEqual([...asked[0].q.type].sort(), [...ALERT_TYPES].sort());
    answer({ total: 4 });
    // the answer's redraw asks for a frame through a 0 ms timer
    for (let i = 0; i < 20 && !draws.length; i++) await new Promise((r) => setTimeout(r, 0));
    const now = new Date().toISOString();
    handlers.events([{ id: 9, type: 'ignitionOn', eventTime: now }, { id: 10, type: 'deviceMoving', eventTime: now }]);
    assert.ok(draws.length, 'a frame is asked for since the count came');
    draws.splice(0).forEach((f) => f()); // the frame: it draws what is counted now
    const tile = box.kids.find((k) => k.attrs.class === 'kpi kpi-alerts').kids[0];
    assert.equal(String(tile.textContent), '5', 'the ignition event counts, the moving one does not');
  } finally {
    globalThis.document = saved.document;
    globalThis.setInterval = saved.si;
    // the tile's rate limit may still ask for a frame after the test
    globalThis.requestAnimationFrame = saved.raf ?? (() => 1);
  }
});
