// tests/web/status.test.mjs — the dashboard's pure rules (node --test).
import test from 'node:test';
import assert from 'node:assert/strict';
import { vehicleStatus, ago, backoff } from '../../apps/fleet/web/src/status.js';
import { Coalescer, createStore } from '../../apps/fleet/web/src/live.js';

const NOW = Date.parse('2026-12-06T12:00:00Z');
const at = (s) => new Date(NOW - s * 1000).toISOString();
const dev = (o = {}) => ({ id: 1, status: 'online', ...o });
const pos = (o = {}) => ({ deviceId: 1, fixTime: at(5), speed: 0, attributes: {}, ...o });
const cfg = { movingSpeed: 1.5, offlineTimeout: 600000 };

test('status: moving at or above the moving speed', () => {
  assert.equal(vehicleStatus(dev(), pos({ speed: 1.5 }), NOW, cfg), 'moving');
  assert.equal(vehicleStatus(dev(), pos({ speed: 30 }), NOW, cfg), 'moving');
  assert.equal(vehicleStatus(dev(), pos({ speed: 1.49 }), NOW, cfg), 'stopped');
});

test('status: idle is not moving with the ignition on (device first, then the fix)', () => {
  assert.equal(vehicleStatus(dev({ ignition: true }), pos(), NOW, cfg), 'idle');
  assert.equal(vehicleStatus(dev(), pos({ attributes: { ignition: true } }), NOW, cfg), 'idle');
  assert.equal(vehicleStatus(dev({ ignition: false }), pos({ attributes: { ignition: true } }), NOW, cfg), 'stopped');
  assert.equal(vehicleStatus(dev({ ignition: true }), pos({ speed: 20 }), NOW, cfg), 'moving');
});

test('status: offline when the server says so or the last fix is too old', () => {
  assert.equal(vehicleStatus(dev({ status: 'offline' }), pos({ speed: 20 }), NOW, cfg), 'offline');
  assert.equal(vehicleStatus(dev({ status: 'unknown' }), null, NOW, cfg), 'offline');
  assert.equal(vehicleStatus(dev(), pos({ fixTime: at(601), speed: 20 }), NOW, cfg), 'offline');
  assert.equal(vehicleStatus(dev(), pos({ fixTime: at(599), speed: 20 }), NOW, cfg), 'moving');
  assert.equal(vehicleStatus(undefined, pos(), NOW, cfg), 'offline');
  assert.equal(vehicleStatus(dev(), pos({ fixTime: 'garbage' }), NOW, cfg), 'offline');
});

test('status: without a position the device fields decide', () => {
  assert.equal(vehicleStatus(dev({ lastUpdate: at(3), motion: 'moving' }), undefined, NOW, cfg), 'moving');
  assert.equal(vehicleStatus(dev({ lastUpdate: at(3), ignition: true }), undefined, NOW, cfg), 'idle');
  assert.equal(vehicleStatus(dev({ lastUpdate: at(3) }), undefined, NOW, cfg), 'stopped');
});

test('ago: seconds, minutes, hours, days, never', () => {
  assert.equal(ago(at(0), NOW), '0 s ago');
  assert.equal(ago(at(59), NOW), '59 s ago');
  assert.equal(ago(at(60), NOW), '1 min ago');
  assert.equal(ago(at(3599), NOW), '59 min ago');
  assert.equal(ago(at(7200), NOW), '2 h ago');
  assert.equal(ago(at(86400 * 3), NOW), '3 d ago');
  assert.equal(ago(NOW + 5000, NOW), '0 s ago'); // a clock ahead of ours is "now"
  assert.equal(ago(null, NOW), 'never');
  assert.equal(ago('not a time', NOW), 'never');
});

test('backoff: doubles from 0.5 s, capped at 30 s, jitter takes at most 25 %', () => {
  const none = () => 0, most = () => 0.999999;
  assert.deepEqual([0, 1, 2, 3, 4, 5, 6].map((n) => backoff(n, none)), [500, 1000, 2000, 4000, 8000, 16000, 30000]);
  assert.equal(backoff(100, none), 30000);
  assert.equal(backoff(0, most), 375);
  assert.equal(backoff(10, most), 22500);
  for (let n = 0; n < 20; n++) {
    const b = backoff(n);
    assert.ok(b >= 375 && b <= 30000, `attempt ${n}: ${b}`);
  }
});

test('coalescer: a device and a position once (the latest), events in order', () => {
  const c = new Coalescer();
  assert.equal(c.empty, true);
  c.push({ devices: [{ id: 1, name: 'a' }], positions: [{ deviceId: 1, fixTime: at(10), speed: 1 }], events: [{ id: 7 }] });
  c.push({ devices: [{ id: 1, name: 'b' }, { id: 2, name: 'c' }], positions: [{ deviceId: 1, fixTime: at(5), speed: 2 }], events: [{ id: 8 }] });
  c.push({ positions: [{ deviceId: 1, fixTime: at(8), speed: 3 }] }); // older, arrived late: ignored
  const b = c.take();
  assert.equal(b.devices.size, 2);
  assert.equal(b.devices.get(1).name, 'b');
  assert.equal(b.positions.size, 1);
  assert.equal(b.positions.get(1).speed, 2);
  assert.deepEqual(b.events.map((e) => e.id), [7, 8]);
  assert.equal(c.empty, true);
  assert.equal(c.take().devices.size, 0);
});

test('store: a batch updates state and tells listeners; a reset replaces the state', () => {
  const s = createStore(), seen = [];
  s.on('devices', (m) => seen.push(['devices', [...m.keys()]]));
  s.on('positions', (m) => seen.push(['positions', [...m.keys()]]));
  s.on('events', (e) => seen.push(['events', e.length]));
  s.on('reset', () => seen.push(['reset']));
  s.on('applied', () => seen.push(['applied']));
  const c = new Coalescer();
  c.push({ devices: [{ id: 1 }, { id: 2 }], positions: [{ deviceId: 1, fixTime: at(1) }] });
  s.apply(c.take(), true);
  assert.equal(s.devices.size, 2);
  c.push({ events: [{ id: 1, type: 'alarm' }] });
  s.apply(c.take(), false);
  c.push({ devices: [{ id: 3 }] });
  s.apply(c.take(), true);
  assert.deepEqual([...s.devices.keys()], [3]);
  assert.equal(s.positions.size, 0);
  assert.deepEqual(seen, [['reset'], ['devices', [1, 2]], ['positions', [1]], ['applied'], ['events', 1], ['applied'],
    ['reset'], ['devices', [3]], ['positions', []], ['applied']]);
  const fn = () => { throw new Error('removed listener called'); };
  s.on('events', fn); s.off('events', fn);
  c.push({ events: [{ id: 2 }] });
  s.apply(c.take(), false);
  assert.equal(s.events.length, 2);
});
