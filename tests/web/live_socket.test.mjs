// tests/web/live_socket.test.mjs — connectLive's states (apps/fleet/web/src/live.js)
// on a fake WebSocket and fake timers: a page the server dropped for falling
// behind (1008 "send queue full") resynchronises without being reported lost;
// any other close is lost, and so is a failed resync.
import test from 'node:test';
import assert from 'node:assert/strict';
import { connectLive, createStore } from '../../apps/fleet/web/src/live.js';

function fakeBrowser(t) {
  const sockets = [], timers = [];
  class FakeSocket {
    constructor(url) { this.url = url; sockets.push(this); }
    close() {}
  }
  const saved = {};
  const set = (k, v) => { saved[k] = Object.getOwnPropertyDescriptor(globalThis, k); Object.defineProperty(globalThis, k, { value: v, configurable: true, writable: true }); };
  set('WebSocket', FakeSocket);
  set('location', { protocol: 'http:', host: '127.0.0.1:1' });
  set('requestAnimationFrame', () => 1);
  set('cancelAnimationFrame', () => {});
  set('setTimeout', (fn) => { timers.push(fn); return timers.length; });
  set('clearTimeout', () => {});
  t.after(() => { for (const [k, d] of Object.entries(saved)) d ? Object.defineProperty(globalThis, k, d) : delete globalThis[k]; });
  return { sockets, runTimers: () => { while (timers.length) timers.shift()(); } };
}

test('a 1008 "send queue full" close resyncs without a lost state; other closes and a failed resync are lost', (t) => {
  const b = fakeBrowser(t), states = [];
  const live = connectLive(createStore(), (s) => states.push(s));
  const last = () => b.sockets.at(-1);
  assert.equal(last().url, 'ws://127.0.0.1:1/api/socket');
  last().onopen();
  last().onclose({ code: 1008, reason: 'send queue full' });
  b.runTimers();
  last().onopen();
  assert.deepEqual(states, ['connecting', 'open', 'resync', 'resync', 'open']);
  // dropped again, and this time the reconnect fails: from then on it is lost
  states.length = 0;
  last().onclose({ code: 1008, reason: 'send queue full' });
  b.runTimers();
  last().onclose({ code: 1006, reason: '' });
  b.runTimers();
  last().onopen();
  assert.deepEqual(states, ['resync', 'resync', 'lost', 'reconnecting', 'open']);
  // an outage, or a 1008 for another reason (signed out), is lost at once
  states.length = 0;
  last().onclose({ code: 1006, reason: '' });
  b.runTimers();
  last().onclose({ code: 1008, reason: 'signed out' });
  assert.deepEqual(states, ['lost', 'reconnecting', 'lost']);
  live.close();
  assert.equal(b.sockets.length, 5, "one socket per (re)connect");
});
