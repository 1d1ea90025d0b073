// node --test: the replay timing (apps/fleet/web/src/pages/replay_clock.js),
// driven by a fake wall clock: no real timers.
import test from 'node:test';
import assert from 'node:assert/strict';
import {createReplay, positionAt, toTrack, tripAt, clampSpeed, fixBefore, todayRange, toLocalInput, fromLocalInput}
  from '../../src/pages/replay_clock.js';

const T0 = Date.parse('2026-12-06T08:00:00.000Z');
const iso = (s) => new Date(T0 + s * 1000).toISOString();
// a fix every 10 s moving north 0.001° per fix, a stop of 10 min, then east
function fixes() {
  const out = [];
  for (let i = 0; i <= 6; i++) out.push({fixTime: iso(i * 10), latitude: 48 + i * 0.001, longitude: 16, course: 0, speed: 20});
  out.push({fixTime: iso(660), latitude: 48.006, longitude: 16, course: 0, speed: 0});
  for (let i = 1; i <= 3; i++) out.push({fixTime: iso(660 + i * 10), latitude: 48.006, longitude: 16 + i * 0.001, course: 90, speed: 10});
  return out;
}
const trips = [
  {startTime: iso(0), endTime: iso(60)},
  {startTime: iso(660), endTime: iso(690)},
];
function fakeClock() {
  let t = 1000;
  const now = () => t;
  now.advance = (ms) => { t += ms; };
  return now;
}

test('the track is sorted by fix time and drops fixes without a time or coordinates', () => {
  const tr = toTrack([{fixTime: iso(20), latitude: 1, longitude: 2}, {fixTime: 'nonsense', latitude: 1, longitude: 2},
    {fixTime: iso(10), latitude: 3, longitude: 4}, {fixTime: iso(30), latitude: null, longitude: 'x'}]);
  assert.deepEqual(tr.map((p) => p.t), [T0 + 10000, T0 + 20000]);
  assert.equal(tr[0].lat, 3);
});

test('the compact route (?compact=true) gives the same track as the full one', () => {
  const full = [{fixTime: iso(20), latitude: 48.1, longitude: 16.2, speed: 12.5, course: 90},
    {fixTime: iso(10), latitude: 48, longitude: 16.1, speed: 0, course: 350}];
  const compact = [{deviceId: 2, deviceName: 'Vehicle 002', fields: ['fixTime', 'latitude', 'longitude', 'speed', 'course'],
    points: [[T0 + 10000, 48, 16.1, 0, 350], [T0 + 20000, 48.1, 16.2, 12.5, 90], [T0 + 30000, null, 'x', 1, 1]]}];
  assert.deepEqual(toTrack(compact), toTrack(full));
  assert.deepEqual(toTrack(compact)[1], {t: T0 + 20000, lat: 48.1, lon: 16.2, course: 90, speed: 12.5});
  // the fields are read by name (with &attributes=true a sixth one follows)
  const reordered = [{fields: ['latitude', 'longitude', 'fixTime', 'course', 'speed', 'attributes'],
    points: [[48.1, 16.2, T0 + 20000, 90, 12.5, {ignition: true}]]}];
  assert.deepEqual(toTrack(reordered), [{t: T0 + 20000, lat: 48.1, lon: 16.2, course: 90, speed: 12.5}]);
  // an answer without the fields a map needs draws nothing, rather than garbage
  assert.deepEqual(toTrack([{fields: ['fixTime', 'speed'], points: [[T0, 3]]}]), []);
});

test('fixBefore finds the fix at or before t', () => {
  const tr = toTrack(fixes());
  assert.equal(fixBefore(tr, T0 - 1), -1);
  assert.equal(fixBefore(tr, T0), 0);
  assert.equal(fixBefore(tr, T0 + 15000), 1);
  assert.equal(fixBefore(tr, T0 + 10 ** 9), tr.length - 1);
});

test('positions between two fixes are interpolated; before/after the track they are clamped', () => {
  const tr = toTrack(fixes());
  const p = positionAt(tr, T0 + 15000); // half way between fix 1 and 2
  assert.ok(Math.abs(p.lat - 48.0015) < 1e-9, String(p.lat));
  assert.equal(p.lon, 16);
  assert.equal(p.index, 1);
  assert.equal(positionAt(tr, T0 - 5000).lat, 48);
  assert.ok(Math.abs(positionAt(tr, T0 + 10 ** 9).lon - 16.003) < 1e-9);
  assert.equal(positionAt([], T0), null);
});

test('the course turns the shorter way round', () => {
  const tr = toTrack([{fixTime: iso(0), latitude: 0, longitude: 0, course: 350}, {fixTime: iso(10), latitude: 0, longitude: 0, course: 10}]);
  assert.ok(Math.abs(positionAt(tr, T0 + 5000).course - 0) < 1e-9 || Math.abs(positionAt(tr, T0 + 5000).course - 360) < 1e-9);
  assert.ok(Math.abs(positionAt(tr, T0 + 2500).course - 355) < 1e-9);
});

test('play advances replay time speed times the wall clock; pause holds it', () => {
  const now = fakeClock();
  const r = createReplay(fixes(), trips, {now, speed: 10});
  assert.equal(r.time(), T0);
  assert.equal(r.playing, false);
  now.advance(5000);
  assert.equal(r.time(), T0, 'paused: no movement');
  r.play();
  now.advance(1000); // 1 s wall at 10x = 10 s replay
  assert.equal(r.time(), T0 + 10000);
  assert.equal(r.position().lat, 48.001);
  r.pause();
  now.advance(60000);
  assert.equal(r.time(), T0 + 10000);
  r.toggle(); // plays again
  now.advance(500);
  assert.equal(r.time(), T0 + 15000);
});

test('changing speed re-anchors: no jump, then the new rate', () => {
  const now = fakeClock();
  const r = createReplay(fixes(), trips, {now, speed: 1});
  r.play();
  now.advance(4000);
  assert.equal(r.time(), T0 + 4000);
  r.setSpeed(300);
  assert.equal(r.time(), T0 + 4000, 'the change itself does not move the marker');
  now.advance(100);
  assert.equal(r.time(), T0 + 4000 + 30000);
  r.setSpeed(100000);
  assert.equal(r.speed, 300);
  r.setSpeed(0);
  assert.equal(r.speed, 1);
  r.setSpeed('fast');
  assert.equal(r.speed, 1);
  assert.equal(clampSpeed(30), 30);
});

test('reaching the end pauses at the end; play again starts over', () => {
  const now = fakeClock();
  const r = createReplay(fixes(), trips, {now, speed: 300});
  r.play();
  now.advance(10 * 1000); // 3000 s of replay > the 690 s track
  assert.equal(r.time(), r.end);
  assert.equal(r.playing, false);
  assert.equal(r.fraction(), 1);
  now.advance(1000);
  assert.equal(r.time(), r.end);
  r.play();
  assert.equal(r.time(), r.start);
  assert.equal(r.playing, true);
});

test('seek moves to a time (clamped) and keeps playing if it was', () => {
  const now = fakeClock();
  const r = createReplay(fixes(), trips, {now, speed: 2});
  r.seek(iso(30));
  assert.equal(r.time(), T0 + 30000);
  assert.ok(Math.abs(r.fraction() - 30 / 690) < 1e-12);
  r.seek(T0 - 10 ** 6);
  assert.equal(r.time(), r.start);
  r.seek(T0 + 10 ** 9);
  assert.equal(r.time(), r.end);
  r.seek(T0);
  r.play();
  now.advance(1000);
  r.seek(T0 + 100000);
  assert.equal(r.playing, true);
  now.advance(1000);
  assert.equal(r.time(), T0 + 102000);
});

test('the current trip follows the replay time; seekTrip jumps to a trip start', () => {
  const now = fakeClock();
  const r = createReplay(fixes(), trips, {now, speed: 60});
  assert.equal(r.tripIndex(), 0);
  r.seek(T0 + 300000); // in the stop
  assert.equal(r.tripIndex(), -1);
  r.seekTrip(1);
  assert.equal(r.time(), T0 + 660000);
  assert.equal(r.tripIndex(), 1);
  r.seekTrip(7); // no such trip: stays
  assert.equal(r.time(), T0 + 660000);
  assert.equal(tripAt([], T0), -1);
});

test('an empty track does not play and spans the asked range', () => {
  const now = fakeClock();
  const r = createReplay([], [], {now, from: iso(0), to: iso(3600)});
  r.play();
  assert.equal(r.playing, false);
  assert.equal(r.start, T0);
  assert.equal(r.end, T0 + 3600000);
  assert.equal(r.position(), null);
  assert.equal(r.fraction(), 0);
});

test('today: local midnight to now; datetime-local values round-trip', () => {
  const now = new Date(2026, 11, 6, 15, 42, 10).getTime();
  const {from, to} = todayRange(now);
  assert.equal(to, now);
  assert.equal(from, new Date(2026, 11, 6, 0, 0, 0).getTime());
  assert.equal(toLocalInput(from), '2026-12-06T00:00');
  assert.equal(fromLocalInput('2026-12-06T15:42'), new Date(2026, 11, 6, 15, 42).getTime());
  assert.ok(Number.isNaN(fromLocalInput('')));
  assert.ok(Number.isNaN(fromLocalInput('6 Dec')));
});
