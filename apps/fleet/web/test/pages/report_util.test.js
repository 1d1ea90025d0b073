// node --test: the reports page's requests, columns and CSV file names
// (apps/fleet/web/src/pages/report_util.js).
import test from 'node:test';
import assert from 'node:assert/strict';
import {reportRequest, csvFileName, fmtSpeed, fmtDistance, fmtDuration, fmtTime, COLUMNS, KINDS} from '../../src/pages/report_util.js';

const from = Date.parse('2026-12-06T00:00:00Z'), to = Date.parse('2026-12-06T18:00:00Z');

test('a device or a group selection becomes the API request; format=csv when asked', () => {
  assert.deepEqual(reportRequest({kind: 'trips', deviceId: 7, from, to}),
    {path: '/api/reports/trips', query: {deviceId: '7', from: '2026-12-06T00:00:00.000Z', to: '2026-12-06T18:00:00.000Z'}});
  const r = reportRequest({kind: 'summary', groupId: 2, from, to}, 'csv');
  assert.equal(r.path, '/api/reports/summary');
  assert.equal(r.query.groupId, '2');
  assert.equal(r.query.format, 'csv');
  assert.equal(r.query.deviceId, undefined);
});

test('an incomplete selection is refused before asking, naming the input', () => {
  assert.deepEqual(reportRequest({kind: 'stops', from, to}), {error: 'choose a vehicle or a group', field: 'target'});
  assert.equal(reportRequest({kind: 'stops', deviceId: 1, from: NaN, to}).field, 'from');
  assert.equal(reportRequest({kind: 'stops', deviceId: 1, from, to: NaN}).field, 'to');
  assert.deepEqual(reportRequest({kind: 'stops', deviceId: 1, from: to, to: from}), {error: 'the end must be after the start', field: 'to'});
  assert.equal(reportRequest({kind: 'route', deviceId: 1, from, to}).field, 'kind');
});

test('CSV file names: kind, what, dates; nothing unsafe in a file name', () => {
  const a = new Date(2026, 11, 6, 0, 0).getTime(), b = new Date(2026, 11, 6, 18, 0).getTime(), c = new Date(2026, 11, 8, 9, 0).getTime();
  assert.equal(csvFileName('trips', 'Van 7', a, b), 'trips_Van-7_2026-12-06.csv');
  assert.equal(csvFileName('stops', 'North depot', a, c), 'stops_North-depot_2026-12-06_2026-12-08.csv');
  assert.equal(csvFileName('summary', '../../etc/passwd', a, b), 'summary_..-..-etc-passwd_2026-12-06.csv');
  assert.equal(csvFileName('trips', '///', a, b), 'trips_x_2026-12-06.csv');
});

test('values read in the units dispatchers use', () => {
  assert.equal(fmtSpeed(10), '19 km/h');
  assert.equal(fmtSpeed('x'), '');
  assert.equal(fmtDistance(555.97), '556 m');
  assert.equal(fmtDistance(12345), '12.3 km');
  assert.equal(fmtDuration(300000), '5 min');
  assert.equal(fmtDuration(3 * 3600e3 + 5 * 60e3), '3 h 05 min');
  assert.equal(fmtDuration(-1), '');
  assert.equal(fmtTime('nonsense'), '');
  assert.match(fmtTime('2026-12-06T05:00:00.000Z'), /^2026-12-06 \d\d:00:00$/);
});

test('every kind has columns that render an API row without throwing', () => {
  const row = {deviceId: 1, deviceName: 'Van 7', startTime: '2026-12-06T05:00:00.000Z', endTime: '2026-12-06T05:05:00.000Z',
    duration: 300000, distance: 555.9, averageSpeed: 3.6, maxSpeed: 20, startLat: 48.2, startLon: 16.37, endLat: 48.205,
    endLon: 16.37, latitude: 48.2, longitude: 16.37, engineHours: 300000};
  for (const k of KINDS) {
    const cells = COLUMNS[k].map(([, f]) => f(row));
    assert.equal(cells[0], 'Van 7');
    assert.ok(cells.every((c) => typeof c === 'string'));
  }
  assert.equal(COLUMNS.trips[7][1](row), '48.20000, 16.37000');
});
