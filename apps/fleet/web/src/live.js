// live.js — the live socket and the store the views read.
//
// The socket (/api/socket) sends Traccar's {"devices","positions","events"}:
// a snapshot first, then deltas. Messages are merged by a Coalescer and
// applied to the store once per animation frame, so a burst of messages
// costs one redraw. On close the socket reconnects with backoff(); the new
// snapshot replaces the state ('reset' then the usual events). An alert
// acknowledged anywhere, {"acks":[...]}, marks store.events and emits 'acks'
// (alerts.js). {"resync":true} comes before the snapshot the server sends
// again to a page that fell behind (feed.c): the batch with it emits
// 'resync', and the alert feed asks the API for what it may have missed.

import { backoff } from './status.js';
import { applyAcks } from './alerts.js';

// Merges messages between two frames: a device or position once (its
// latest), events in order.
export class Coalescer {
  constructor() { this.clear(); }
  clear() { this.devices = new Map(); this.positions = new Map(); this.events = []; this.acks = []; this.resync = false; this.count = 0; }
  push(msg) {
    if (msg.resync === true) this.resync = true;
    for (const d of msg.devices ?? []) this.devices.set(d.id, d);
    for (const p of msg.positions ?? []) {
      const old = this.positions.get(p.deviceId);
      if (!old || Date.parse(old.fixTime) <= Date.parse(p.fixTime)) this.positions.set(p.deviceId, p);
    }
    for (const e of msg.events ?? []) this.events.push(e);
    for (const a of msg.acks ?? []) this.acks.push(a);
    this.count++;
  }
  get empty() { return this.count === 0; }
  take() {
    const out = { devices: this.devices, positions: this.positions, events: this.events, acks: this.acks, resync: this.resync };
    this.clear();
    return out;
  }
}

export function createStore() {
  const handlers = new Map();
  const store = {
    devices: new Map(), positions: new Map(), groups: new Map(), events: [], acks: new Map(),
    on(type, fn) { (handlers.get(type) ?? handlers.set(type, new Set()).get(type)).add(fn); },
    off(type, fn) { handlers.get(type)?.delete(fn); },
    emit(type, arg) { for (const fn of handlers.get(type) ?? []) fn(arg); },
    // apply one coalesced batch; reset: the batch is a snapshot; batch.resync:
    // the server is sending the snapshot again (the page fell behind)
    apply(batch, reset) {
      if (reset) {
        this.devices.clear();
        this.positions.clear();
        this.emit('reset');
      }
      for (const [id, d] of batch.devices) this.devices.set(id, d);
      for (const [id, p] of batch.positions) this.positions.set(id, p);
      if (batch.devices.size || reset) this.emit('devices', batch.devices);
      if (batch.positions.size || reset) this.emit('positions', batch.positions);
      if (batch.events.length) {
        // an event the list has already (the alert feed's REST sync fetched
        // it between its commit and the tick that pushed it) is not added
        // twice: acknowledging marks one copy, and the feed would show the
        // other, still open. Listeners still hear it: it is live news.
        const have = new Map(this.events.map((e) => [e.id, e]));
        for (const e of batch.events) {
          const old = have.get(e.id);
          if (old) {
            if (e.ackTime && !old.ackTime) applyAcks([old], [e], this.acks);
            continue;
          }
          have.set(e.id, e);
          if (!e.ackTime && this.acks.has(e.id)) Object.assign(e, this.acks.get(e.id));
          this.events.push(e);
        }
        if (this.events.length > 1000) this.events.splice(0, this.events.length - 1000);
        this.emit('events', batch.events);
      }
      if (batch.acks?.length) { applyAcks(this.events, batch.acks, this.acks); this.emit('acks', batch.acks); }
      if (batch.resync && !reset) this.emit('resync'); // (a reset tells its listeners already)
      this.emit('applied'); // the batch is complete (listeners that gathered it act now)
    },
  };
  return store;
}

// Connects the store to /api/socket. onState('connecting'|'open'|'lost'|
// 'reconnecting'|'resync'). 'resync': the server closed the socket because
// the page fell behind (1008 "send queue full", docs/fleet.md): not an
// outage, the page reconnects to a fresh snapshot, so it is not reported as
// lost unless that reconnect fails too.
// Each applied batch is measured as performance.measure('live-update').
export function connectLive(store, onState, opts = {}) {
  const co = new Coalescer();
  let ws = null, attempt = 0, timer = 0, frame = 0, stopped = false, fresh = false, behind = false;
  const flush = () => {
    frame = 0;
    if (co.empty) return;
    performance.mark('live-start');
    const reset = fresh;
    fresh = false;
    store.apply(co.take(), reset);
    performance.measure('live-update', 'live-start');
  };
  const open = () => {
    onState(behind ? 'resync' : attempt ? 'reconnecting' : 'connecting');
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    ws = new WebSocket(`${proto}//${location.host}/api/socket`);
    ws.onopen = () => { attempt = 0; behind = false; fresh = true; co.clear(); onState('open'); performance.mark('live-open'); };
    ws.onmessage = (e) => {
      if (fresh && co.empty) performance.mark('live-snapshot'); // (first load timing: the bench reads these marks)
      let msg;
      try { msg = JSON.parse(e.data); } catch { return; }
      co.push(msg);
      if (!frame) frame = requestAnimationFrame(flush);
    };
    ws.onclose = (e) => {
      ws = null;
      if (stopped) return;
      behind = !behind && e.code === 1008 && /queue/.test(e.reason ?? ''); // once: a failed reconnect is lost
      onState(behind ? 'resync' : 'lost', e.code);
      if (e.code === 1008 && opts.onUnauthorized && e.reason?.includes('sign')) opts.onUnauthorized();
      timer = setTimeout(open, backoff(attempt++));
    };
  };
  open();
  return {
    close() { stopped = true; clearTimeout(timer); if (frame) cancelAnimationFrame(frame); ws?.close(1000); },
  };
}
