// node --test: mapping the API's errors onto form fields, and the bodies
// the devices and geofences pages send (apps/fleet/web/src/pages/forms.js).
import test from 'node:test';
import assert from 'node:assert/strict';
import {fieldError, describeStatus, deviceBody, deviceValues, numberOrRaw, circleArea, polygonArea, areaShape,
  areaSummary, geofenceBody} from '../../src/pages/forms.js';

const DEV = ['name', 'uniqueId', 'groupId', 'category', 'speedLimit', 'disabled'];
const apiErr = (status, body) => Object.assign(new Error(body.error), {status, body});

test('an error that names a form field goes to that field, with the API message', () => {
  assert.deepEqual(fieldError(apiErr(422, {error: 'speedLimit must be from 0 to 1000', field: 'speedLimit'}), DEV),
    {field: 'speedLimit', message: 'speedLimit must be from 0 to 1000'});
  assert.deepEqual(fieldError(apiErr(409, {error: 'uniqueId van-7 is taken by another device', field: 'uniqueId'}), DEV),
    {field: 'uniqueId', message: 'uniqueId van-7 is taken by another device'});
});

test('an error naming no field, or a field the form lacks, is general and says its status', () => {
  assert.deepEqual(fieldError(apiErr(403, {error: 'this needs the manager role'}), DEV),
    {field: null, message: 'Not allowed: this needs the manager role'});
  assert.deepEqual(fieldError(apiErr(422, {error: 'area: ring not closed', field: 'area'}), DEV),
    {field: null, message: 'area: ring not closed'});
  assert.equal(fieldError(apiErr(404, {error: 'no such device'}), DEV).message, 'Not found: no such device');
  assert.equal(fieldError(apiErr(500, {error: 'database error'}), DEV).message, 'The server failed (500): database error');
  // not an API error at all (network): its own message
  assert.deepEqual(fieldError(new TypeError('Failed to fetch'), DEV), {field: null, message: 'Failed to fetch'});
  assert.equal(describeStatus(401, 'x'), 'Your session has ended: sign in again.');
});

test('the device body: trimmed strings, empty numbers are null, bad numbers go as typed', () => {
  assert.deepEqual(deviceBody({name: ' Van 7 ', uniqueId: 'van-7 ', groupId: '2', category: '', speedLimit: '45.5', disabled: false}),
    {name: 'Van 7', uniqueId: 'van-7', groupId: 2, speedLimit: 45.5, disabled: false});
  assert.deepEqual(deviceBody({name: 'x', uniqueId: 'y', groupId: '', speedLimit: 'fast', category: 'truck'}),
    {name: 'x', uniqueId: 'y', groupId: null, speedLimit: 'fast', category: 'truck'});
  assert.equal(numberOrRaw('  '), null);
  assert.equal(numberOrRaw('-5'), -5);
});

test('device values for editing round-trip through the body', () => {
  const d = {id: 3, name: 'Van', uniqueId: 'v-1', groupId: 1, category: 'van', speedLimit: 40, disabled: true};
  const v = deviceValues(d);
  assert.deepEqual(v, {name: 'Van', uniqueId: 'v-1', groupId: '1', category: 'van', speedLimit: '40', disabled: true});
  assert.deepEqual(deviceBody(v), {name: 'Van', uniqueId: 'v-1', groupId: 1, speedLimit: 40, category: 'van', disabled: true});
  assert.equal(deviceValues({name: 'x', groupId: null, speedLimit: 0}).speedLimit, '');
});

test('a circle is a GeoJSON Point with a radius; a polygon ring is closed and [lng, lat]', () => {
  assert.deepEqual(circleArea({lat: 48.2, lng: 16.37}, 150.04), {type: 'Point', coordinates: [16.37, 48.2], radius: 150});
  const open = [{lat: 48, lng: 16}, {lat: 48, lng: 16.1}, {lat: 48.1, lng: 16.1}];
  assert.deepEqual(polygonArea(open), {type: 'Polygon', coordinates: [[[16, 48], [16.1, 48], [16.1, 48.1], [16, 48]]]});
  const closed = [...open, {lat: 48, lng: 16}];
  assert.equal(polygonArea(closed).coordinates[0].length, 4);
});

test('areas read back as shapes to draw (a Feature unwrapped; rings open again)', () => {
  assert.deepEqual(areaShape({type: 'Point', coordinates: [16.37, 48.2], radius: 150}),
    {kind: 'circle', center: [48.2, 16.37], radius: 150});
  const poly = polygonArea([{lat: 48, lng: 16}, {lat: 48, lng: 16.1}, {lat: 48.1, lng: 16.1}]);
  assert.deepEqual(areaShape({type: 'Feature', properties: {}, geometry: poly}),
    {kind: 'polygon', rings: [[[48, 16], [48, 16.1], [48.1, 16.1]]]});
  assert.equal(areaShape({type: 'Point', coordinates: [1, 2]}), null); // no radius: not a fence
  assert.equal(areaShape(null), null);
  assert.equal(areaSummary({type: 'Point', coordinates: [1, 2], radius: 99.6}), 'circle, 100 m');
  assert.equal(areaSummary(poly), 'polygon, 3 corners');
  assert.equal(areaSummary({type: 'LineString', coordinates: []}), 'unknown shape');
});

test('the geofence body carries the area only when there is one (a rename keeps the shape)', () => {
  assert.deepEqual(geofenceBody({name: ' Yard ', description: '', groupId: ''}),
    {name: 'Yard', description: '', groupId: null});
  const area = circleArea({lat: 1, lng: 2}, 10);
  assert.deepEqual(geofenceBody({name: 'Y', groupId: '3'}, area), {name: 'Y', description: '', groupId: 3, area});
});
