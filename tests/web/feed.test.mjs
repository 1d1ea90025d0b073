// tests/web/feed.test.mjs — the alert feed is patched, not redrawn
// (patchList in apps/fleet/web/src/dom.js, used by liveview.js): the DOM
// work per change is counted on a small fake of the node calls it makes.
import test from 'node:test';
import assert from 'node:assert/strict';
import { patchList } from '../../apps/fleet/web/src/dom.js';

// the calls patchList makes: parent.firstChild, insertBefore; node.nextSibling, parentNode, remove()
class FakeList {
  constructor() { this.kids = []; this.inserts = 0; this.removes = 0; }
  get firstChild() { return this.kids[0] ?? null; }
  insertBefore(node, ref) {
    if (node.parentNode) node.parentNode.kids.splice(node.parentNode.kids.indexOf(node), 1);
    const i = ref ? this.kids.indexOf(ref) : this.kids.length;
    assert.ok(i >= 0, 'insertBefore a node of this parent');
    this.kids.splice(i, 0, node);
    node.parentNode = this;
    this.inserts++;
  }
  get ids() { return this.kids.map((n) => n.id); }
}
class FakeNode {
  constructor(e) { this.id = e.id; this.acked = !!e.ackTime; this.parentNode = null; }
  get nextSibling() { const k = this.parentNode.kids; return k[k.indexOf(this) + 1] ?? null; }
  remove() { this.parentNode.removes++; this.parentNode.kids.splice(this.parentNode.kids.indexOf(this), 1); this.parentNode = null; }
}
const spec = (log) => ({
  key: (e) => e.id,
  sig: (e) => e.ackTime ?? '',
  create: (e) => { log.created++; return new FakeNode(e); },
  update: (node, e) => { log.updated++; node.acked = !!e.ackTime; },
});
const events = (from, to) => Array.from({ length: to - from + 1 }, (_, i) => ({ id: from + i, ackTime: null }));
// what the feed shows: the newest 200, newest first
const newest = (evs, n = 200) => evs.slice(-n).reverse();

test('a batch of new alerts inserts their rows at the top and drops the oldest, nothing else', () => {
  const ul = new FakeList(), shown = new Map(), log = { created: 0, updated: 0 };
  let evs = events(1, 250);
  patchList(ul, newest(evs), spec(log), shown);
  assert.equal(ul.kids.length, 200);
  assert.equal(ul.ids[0], 250);
  const before = new Set(ul.kids);
  Object.assign(log, { created: 0, updated: 0 }); ul.inserts = 0;
  evs = [...evs, ...events(251, 255)];
  const r = patchList(ul, newest(evs), spec(log), shown);
  assert.deepEqual(r, { created: 5, updated: 0, moved: 0, removed: 5 });
  assert.equal(log.created, 5);
  assert.equal(ul.inserts, 5, 'one insert per new row');
  assert.equal(ul.removes, 5, 'one removal per row that fell off');
  assert.deepEqual(ul.ids, newest(evs).map((e) => e.id));
  assert.equal(ul.kids.filter((n) => before.has(n)).length, 195, 'the other rows are the same nodes');
});

test('an acknowledgement patches its row in place', () => {
  const ul = new FakeList(), shown = new Map(), log = { created: 0, updated: 0 };
  const evs = events(1, 50);
  patchList(ul, newest(evs), spec(log), shown);
  const node = ul.kids.find((n) => n.id === 20);
  ul.inserts = 0;
  evs[19].ackTime = '2026-12-06T13:00:00Z';
  const r = patchList(ul, newest(evs), spec(log), shown);
  assert.deepEqual(r, { created: 0, updated: 1, moved: 0, removed: 0 });
  assert.equal(ul.inserts, 0);
  assert.equal(ul.kids.find((n) => n.id === 20), node);
  assert.equal(node.acked, true);
  // nothing changed: no work at all
  assert.deepEqual(patchList(ul, newest(evs), spec(log), shown), { created: 0, updated: 0, moved: 0, removed: 0 });
});

test('a filter, an older alert fetched late, duplicates: the rows always equal the items, in order', () => {
  const ul = new FakeList(), shown = new Map(), log = { created: 0, updated: 0 };
  const all = events(1, 40).map((e) => ({ ...e, type: e.id % 3 ? 'alarm' : 'deviceOverspeed' }));
  patchList(ul, newest(all), spec(log), shown);
  const over = newest(all.filter((e) => e.type === 'deviceOverspeed'));
  patchList(ul, over, spec(log), shown);
  assert.deepEqual(ul.ids, over.map((e) => e.id));
  patchList(ul, newest(all), spec(log), shown);
  assert.deepEqual(ul.ids, newest(all).map((e) => e.id));
  // an event that the REST sync found after newer ones were shown lands in the middle
  const late = [...all.slice(0, 10), { id: 100, ackTime: null }, ...all.slice(10)];
  const r = patchList(ul, newest(late), spec(log), shown);
  assert.equal(r.created, 1);
  assert.equal(r.moved, 0);
  assert.deepEqual(ul.ids, newest(late).map((e) => e.id));
  // the same event twice (socket and REST) is one row
  patchList(ul, [all[5], all[5], all[4]], spec(log), shown);
  assert.deepEqual(ul.ids, [6, 5]);
  // random changes against the expected order (a fixed seed)
  let seed = 7;
  const rnd = (n) => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n; };
  for (let round = 0; round < 200; round++) {
    const items = all.filter(() => rnd(3) > 0);
    if (rnd(4) === 0) items.reverse();
    for (const e of items) if (rnd(10) === 0) e.ackTime = e.ackTime ? null : 'x';
    patchList(ul, items, spec(log), shown);
    assert.deepEqual(ul.ids, items.map((e) => e.id), `round ${round}`);
    assert.deepEqual(ul.kids.map((n) => n.acked), items.map((e) => !!e.ackTime), `round ${round}: ack state`);
    assert.equal(shown.size, items.length);
  }
});
