// tests/browser/pages.mjs — the dashboard's four pages end to end, in
// Debian's Chromium (playwright-core), against a real weft fleet server with
// a day of simulated history (fleet-sim --backfill):
//
//   history replay  the trip list fills, play moves the slider and the marker,
//                   a trip click seeks to it
//   geofences       a circle and a polygon drawn through the UI are in
//                   /api/geofences; a rename (PUT), a corner dragged to a
//                   new place (PUT), a delete (DELETE)
//   reports         a trips table, its CSV download (name and content), a
//                   group's summary, the empty and the error state
//   devices admin   create with one validation error shown at its field,
//                   edit, disable; a viewer has no devices admin
//
//   node tests/browser/pages.mjs      (build/apps/fleet and fleet-sim built)
//
// Screenshots of each page go to the harness's output directory
// (build/test-out/browser): replay.png, geofences.png, reports.png,
// devices.png, devices-error.png. Ends "pages: N passed, N failed".
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { startFleet, launch, login, shot, waitFor, suite, sleep, ROOT } from './fleet_harness.mjs';

const BUILD = resolve(ROOT, process.env.WEFT_BUILD ?? 'build');
const t = suite('pages');

// A day of history for the simulator's vehicles 1 and 2 (OsmAnd and
// Teltonika), one fix each 20 s; fleet-sim exits when it is all acknowledged.
function backfill(fleet) {
  const args = ['--host', '127.0.0.1', '--osmand-port', String(fleet.osmandPort), '--teltonika-port',
    String(fleet.teltonikaPort), '--vehicles', '2', '--interval-ms', '20000', '--backfill', '1',
    '--records-per-packet', '50', '--quiet'];
  return new Promise((res, rej) => {
    const c = spawn(join(BUILD, 'apps/fleet-sim'), args, { stdio: 'ignore' });
    const timer = setTimeout(() => { c.kill('SIGKILL'); rej(new Error('fleet-sim --backfill took over 180 s')); }, 180000);
    c.on('exit', (code) => { clearTimeout(timer); code === 0 ? res() : rej(new Error(`fleet-sim --backfill: exit ${code}`)); });
    c.on('error', rej);
  });
}

// datetime-local value for a Date (local time, minutes)
const local = (d) => {
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
};
const dayAgo = () => local(new Date(Date.now() - 24 * 3600e3 + 60e3));
const inAMinute = () => local(new Date(Date.now() + 60e3));

// the API from the page (its session cookie); GET only
const apiGet = (page, path) => page.evaluate(async (p) => {
  const r = await fetch(p, { credentials: 'same-origin' });
  return { status: r.status, body: await r.json() };
}, path);

async function go(page, hash, ready) {
  await page.evaluate((h) => { location.hash = h; }, hash);
  await page.waitForSelector(ready, { timeout: 10000 });
}

function assert(cond, what) {
  if (!cond) throw new Error(what);
}

const fleet = await startFleet({ demo: true });
let browser, setupFailed = false;
try {
  await t.test('a day of history for vehicles 1 and 2 (fleet-sim --backfill 1)', () => backfill(fleet));
  browser = await launch();
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 }, acceptDownloads: true });
  const requested = []; // every URL the page asks for, in order
  page.on('request', (r) => requested.push(r.url()));
  await login(page, fleet, fleet.admin);

  await t.test('replay: from vehicle 2\'s details; a day of it, the trip list fills, play moves slider and marker, a trip click seeks', async () => {
    // the live view's details link opens the replay of that vehicle, loaded at once
    await page.click('.vehicles li[data-id="2"]');
    const first = page.waitForResponse((r) => new URL(r.url()).pathname === '/api/reports/route', { timeout: 20000 });
    await page.click('.details a[href="#/replay?device=2"]');
    await page.waitForSelector('section.wp-replay');
    assert(new URL((await first).url()).searchParams.get('deviceId') === '2', 'the details link replays vehicle 2');
    assert(await page.$eval('section.wp-replay select[name=device]', (s) => s.value) === '2', 'vehicle 2 chosen');
    await page.selectOption('section.wp-replay select[name=device]', '2');
    await page.fill('section.wp-replay input[name=from]', dayAgo());
    await page.fill('section.wp-replay input[name=to]', inAMinute());
    const routeAnswer = page.waitForResponse((r) => new URL(r.url()).pathname === '/api/reports/route', { timeout: 20000 });
    await page.click('section.wp-replay form button[type=submit]');
    // the compact route (time, position, speed, course): what the page draws, a tenth of the bytes
    const route = await routeAnswer;
    assert(new URL(route.url()).searchParams.get('compact') === 'true', `the route asked compact: ${route.url()}`);
    const [dev] = await route.json();
    assert(dev?.deviceId === 2 && dev.fields.join() === 'fixTime,latitude,longitude,speed,course' && dev.points.length > 1000,
      `a compact route of vehicle 2: ${JSON.stringify(dev).slice(0, 200)}`);
    await waitFor(async () => (await page.$$('.wp-trips li[data-index]')).length > 1, { timeout: 20000, what: 'two trips or more' });
    const said = await page.textContent('section.wp-replay .wp-status');
    assert(said.startsWith(`${dev.points.length} positions,`), `every point drawn: "${said}" for ${dev.points.length} points`);
    const nTrips = (await page.$$('.wp-trips li[data-index]')).length;
    const markerAt = () => page.$eval('.wp-replay-marker', (el) => el.style.transform);
    const slider = () => page.$eval('.wp-slider', (el) => Number(el.value));
    const s0 = await slider(), m0 = await markerAt();
    assert(s0 === 0, `slider starts at 0, is ${s0}`);
    await page.selectOption('section.wp-replay select[name=speed]', '300');
    await page.click('.wp-play');
    await waitFor(async () => (await slider()) > s0, { timeout: 15000, what: 'the slider to move' });
    await waitFor(async () => (await markerAt()) !== m0, { timeout: 15000, what: 'the marker to move' });
    await page.click('.wp-play'); // pause
    const held = await slider();
    await sleep(400);
    assert((await slider()) === held, 'paused: the slider holds');
    // the last trip: the slider jumps there, the trip is marked current
    const last = nTrips - 1;
    await page.click(`.wp-trips li[data-index="${last}"] button`);
    await waitFor(() => page.$(`.wp-trips li[data-index="${last}"].wp-current`), { timeout: 15000, what: 'the clicked trip to be current' });
    assert((await slider()) > held, 'the last trip lies after the paused time');
    await shot(page, 'replay');
    console.log(`       (${nTrips} trips)`);
  });

  await t.test('geofences: draw a circle and a polygon, both in /api/geofences; rename one, drag a corner of the other, delete it', async () => {
    // the drawing plugin is not part of the first load: it comes with this page
    const geoman = (u) => u.includes('/vendor/@geoman-io/');
    assert(!requested.some(geoman) && await page.evaluate(() => !window.L.PM), 'Leaflet-Geoman loaded before the geofence editor');
    await go(page, '#/geofences', 'section.wp-geofences');
    await waitFor(() => page.$('section.wp-geofences .wp-list li'), { what: 'the demo geofences listed' });
    await waitFor(() => page.evaluate(() => !!window.L.PM), { what: 'Leaflet-Geoman loaded by the geofence page' });
    assert(requested.filter(geoman).length === 2, `the plugin's script and stylesheet: ${requested.filter(geoman)}`);
    const box = await page.$eval('.leaflet-container', (el) => { const r = el.getBoundingClientRect(); return { x: r.x, y: r.y, w: r.width, h: r.height }; });
    const at = (fx, fy) => [box.x + box.w * fx, box.y + box.h * fy];
    // circle: centre, then a click for the radius
    await page.click('text=Draw circle');
    await page.mouse.click(...at(0.75, 0.3));
    await page.mouse.move(...at(0.8, 0.3), { steps: 4 });
    await page.mouse.click(...at(0.8, 0.3));
    await page.waitForSelector('.wp-geofences form input[name=name]', { timeout: 15000 });
    await page.fill('.wp-geofences form input[name=name]', 'E2E circle');
    await page.press('.wp-geofences form input[name=name]', 'Enter');
    const fenceNamed = async (name) => (await apiGet(page, '/api/geofences')).body.find((g) => g.name === name);
    const circle = await waitFor(() => fenceNamed('E2E circle'), { what: 'E2E circle in /api/geofences' });
    assert(circle.area.type === 'Point' && circle.area.radius > 10, `a circle: ${JSON.stringify(circle.area)}`);
    // polygon: four corners, then the first again
    await page.click('text=Draw polygon');
    const corners = [at(0.7, 0.6), at(0.85, 0.6), at(0.85, 0.8), at(0.7, 0.8)];
    for (const c of corners) { await page.mouse.click(...c); await sleep(150); }
    await page.mouse.click(...corners[0]);
    await page.waitForSelector('.wp-geofences form input[name=name]', { timeout: 15000 });
    await page.fill('.wp-geofences form input[name=name]', 'E2E polygon');
    await page.click('.wp-geofences form button[type=submit]');
    const poly = await waitFor(() => fenceNamed('E2E polygon'), { what: 'E2E polygon in /api/geofences' });
    assert(poly.area.type === 'Polygon' && poly.area.coordinates[0].length === 5, `a closed 4-corner ring: ${JSON.stringify(poly.area)}`);
    await shot(page, 'geofences');
    // rename the circle (PUT), keeping its shape
    await page.click(`.wp-geofences li[data-id="${circle.id}"] button[aria-label^="Edit"]`);
    await page.fill('.wp-geofences form input[name=name]', 'E2E circle renamed');
    await page.click('.wp-geofences form button[type=submit]');
    const renamed = await waitFor(() => fenceNamed('E2E circle renamed'), { what: 'the rename in the API' });
    assert(renamed.id === circle.id && renamed.area.type === 'Point', 'the same fence, still a circle');
    // move a corner of the polygon by dragging its handle (Edit, drag, Save: PUT)
    await page.click(`.wp-geofences li[data-id="${poly.id}"] button[aria-label^="Edit"]`);
    const handles = () => page.$$eval('.leaflet-marker-pane .marker-icon:not(.marker-icon-middle)', (l) => l.map((m) => {
      const r = m.getBoundingClientRect();
      return [Math.round(r.x + r.width / 2), Math.round(r.y + r.height / 2)];
    }));
    // the edit zooms to the fence: wait until the handles stop moving, and
    // for the toasts (bottom right, 4 s) to be gone so none covers a handle
    let last = '';
    const still = await waitFor(async () => {
      const hs = await handles(), key = JSON.stringify(hs);
      const same = hs.length === 4 && key === last;
      last = key;
      return same && !(await page.$('.toast')) && hs;
    }, { every: 400, timeout: 15000, what: "the polygon's four corner handles, at rest" });
    const [hx, hy] = still.reduce((a, b) => (b[0] + b[1] < a[0] + a[1] ? b : a)); // the top-left corner
    const onHandle = await page.evaluate(([x, y]) => document.elementFromPoint(x, y)?.classList.contains('marker-icon'), [hx, hy]);
    assert(onHandle, 'the top-left handle is uncovered');
    const [tx, ty] = [hx - 60, hy - 40];
    await page.mouse.move(hx, hy);
    await page.mouse.down();
    await page.mouse.move(hx - 10, hy - 5, { steps: 3 });
    await page.mouse.move(tx, ty, { steps: 12 });
    await page.mouse.up();
    await waitFor(async () => (await handles()).some(([x, y]) => Math.abs(x - tx) <= 3 && Math.abs(y - ty) <= 3),
      { timeout: 15000, what: 'the handle where it was dropped' });
    await page.click('.wp-geofences form button[type=submit]');
    const ring0 = poly.area.coordinates[0];
    const moved = await waitFor(async () => {
      const g = (await apiGet(page, '/api/geofences')).body.find((x) => x.id === poly.id);
      return g && JSON.stringify(g.area.coordinates[0]) !== JSON.stringify(ring0) && g;
    }, { what: 'the moved corner in the API' });
    const ring = moved.area.coordinates[0];
    assert(ring.length === 5 && ring[0][0] === ring[4][0] && ring[0][1] === ring[4][1], `still a closed 4-corner ring: ${JSON.stringify(ring)}`);
    const same = (a, b) => Math.abs(a[0] - b[0]) < 1e-9 && Math.abs(a[1] - b[1]) < 1e-9;
    const changed = ring.slice(0, 4).filter((c) => !ring0.slice(0, 4).some((o) => same(o, c)));
    assert(changed.length === 1, `exactly one corner moved: ${JSON.stringify(ring0)} -> ${JSON.stringify(ring)}`);
    const minLon = Math.min(...ring0.map((c) => c[0])), maxLat = Math.max(...ring0.map((c) => c[1]));
    assert(changed[0][0] < minLon && changed[0][1] > maxLat, `the corner went up and left: ${JSON.stringify(changed[0])}`);
    await shot(page, 'geofences-edited');
    // delete the polygon: a confirmation first
    await page.click(`.wp-geofences li[data-id="${poly.id}"] button[aria-label^="Delete"]`);
    await page.click('dialog.wp-dialog button[value=yes]');
    await waitFor(async () => !(await fenceNamed('E2E polygon')), { what: 'the polygon gone from the API' });
  });

  await t.test('reports: trips of vehicle 2 as a table and a CSV download; the empty and the error state', async () => {
    await go(page, '#/reports', 'section.wp-reports');
    await waitFor(() => page.$('section.wp-reports select[name=target] option[value="d:2"]'), { what: 'vehicle 2 in the list' });
    await page.selectOption('section.wp-reports select[name=kind]', 'trips');
    await page.selectOption('section.wp-reports select[name=target]', 'd:2');
    await page.fill('section.wp-reports input[name=from]', dayAgo());
    await page.fill('section.wp-reports input[name=to]', inAMinute());
    await page.click('section.wp-reports button[type=submit]');
    await page.waitForSelector('table.wp-report tbody tr', { timeout: 15000 });
    const rows = (await page.$$('table.wp-report tbody tr')).length;
    await shot(page, 'reports');
    const [dl] = await Promise.all([page.waitForEvent('download', { timeout: 15000 }), page.click('text=Download CSV')]);
    const name = dl.suggestedFilename();
    assert(/^trips_Vehicle-002_\d{4}-\d\d-\d\d(_\d{4}-\d\d-\d\d)?\.csv$/.test(name), `file name ${name}`);
    const csv = readFileSync(await dl.path(), 'utf8').trim().split('\n');
    assert(csv[0].startsWith('deviceId,deviceName,startTime,endTime,duration,distance'), `CSV header: ${csv[0]}`);
    assert(csv.length - 1 === rows, `CSV rows ${csv.length - 1} = table rows ${rows}`);
    assert(csv.slice(1).every((l) => l.startsWith('2,')), 'every CSV row is vehicle 2');
    // a group: the summary of North depot lists its vehicles with history
    await page.selectOption('section.wp-reports select[name=kind]', 'summary');
    await page.selectOption('section.wp-reports select[name=target]', { label: 'North depot' });
    await page.click('section.wp-reports button[type=submit]');
    await waitFor(async () => /Summary of North depot/.test((await page.getAttribute('table.wp-report', 'aria-label').catch(() => '')) ?? ''),
      { what: 'the group summary table' });
    const cells = await page.$$eval('table.wp-report tbody tr td:first-child', (tds) => tds.map((td) => td.textContent));
    assert(cells.includes('Vehicle 001') || cells.includes('Vehicle 002'), `the group's vehicles with history: ${cells.slice(0, 5)}`);
    await page.selectOption('section.wp-reports select[name=kind]', 'trips');
    // empty: a range long before the history
    await page.fill('section.wp-reports input[name=from]', '2020-01-01T00:00');
    await page.fill('section.wp-reports input[name=to]', '2020-01-02T00:00');
    await page.click('section.wp-reports button[type=submit]');
    await waitFor(async () => /No trips/.test(await page.textContent('section.wp-reports .wp-status')), { what: 'the empty state' });
    assert(!(await page.$('table.wp-report')), 'no table when empty');
    // error: the end before the start (said before asking)
    await page.fill('section.wp-reports input[name=to]', '2019-01-01T00:00');
    await page.click('section.wp-reports button[type=submit]');
    await waitFor(async () => /end must be after/.test(await page.textContent('section.wp-reports .wp-status')), { what: 'the error state' });
  });

  await t.test('devices: create (a validation error at its field first), edit, disable', async () => {
    await go(page, '#/devices', 'section.wp-devices table tbody tr');
    await page.click('section.wp-devices button.primary');
    const dlg = 'dialog.wp-dialog';
    await page.fill(`${dlg} input[name=name]`, 'E2E van');
    await page.fill(`${dlg} input[name=uniqueId]`, 'e2e-van-1');
    await page.fill(`${dlg} input[name=speedLimit]`, '-5');
    await page.press(`${dlg} input[name=name]`, 'Enter');
    const err = `${dlg} .wp-field-error[data-field=speedLimit]`;
    await waitFor(async () => /speedLimit must be from 0/.test(await page.textContent(err)), { what: 'the API message at speedLimit' });
    assert((await page.textContent(`${dlg} .wp-field-error[data-field=name]`)) === '', 'no message at name');
    assert((await page.getAttribute(`${dlg} input[name=speedLimit]`, 'aria-invalid')) === 'true', 'speedLimit marked invalid');
    await shot(page, 'devices-error');
    await page.fill(`${dlg} input[name=speedLimit]`, '40');
    await page.click(`${dlg} button[type=submit]`);
    await page.waitForSelector(dlg, { state: 'detached', timeout: 15000 });
    const dev = async () => (await apiGet(page, '/api/devices?uniqueId=e2e-van-1')).body[0];
    const d = await waitFor(dev, { what: 'the device in the API' });
    assert(d.name === 'E2E van' && d.speedLimit === 40 && !d.disabled, `created: ${JSON.stringify(d)}`);
    // edit the name
    await page.click(`section.wp-devices tr[data-id="${d.id}"] button[aria-label^="Edit"]`);
    await page.fill(`${dlg} input[name=name]`, 'E2E van two');
    await page.click(`${dlg} button[type=submit]`);
    await waitFor(async () => (await dev()).name === 'E2E van two', { what: 'the new name in the API' });
    // Escape closes the dialog without saving
    await page.click(`section.wp-devices tr[data-id="${d.id}"] button[aria-label^="Edit"]`);
    await page.fill(`${dlg} input[name=name]`, 'not saved');
    await page.keyboard.press('Escape');
    await page.waitForSelector(dlg, { state: 'detached', timeout: 15000 });
    assert((await dev()).name === 'E2E van two', 'Escape saved nothing');
    // disable
    await page.click(`section.wp-devices tr[data-id="${d.id}"] button[aria-label^="Disable"]`);
    await waitFor(async () => (await dev()).disabled === true, { what: 'disabled in the API' });
    await page.waitForSelector(`section.wp-devices tr[data-id="${d.id}"].wp-disabled`, { timeout: 15000 });
    await shot(page, 'devices');
  });

  await t.test('a viewer has no devices admin: no nav entry, the page says so, the API refuses a change', async () => {
    assert(fleet.viewer, 'the demo viewer (from the server log)');
    const ctx = await browser.newContext({ viewport: { width: 1024, height: 768 } }); // a tablet, landscape
    const vp = await ctx.newPage();
    await login(vp, fleet, fleet.viewer);
    assert((await vp.$$('a[href="#/devices"]')).length === 0, 'no link to #/devices');
    await go(vp, '#/devices', 'section.wp-devices');
    assert(/viewer/.test(await vp.textContent('section.wp-devices')), 'the page explains the role');
    assert(!(await vp.$('section.wp-devices table')), 'no device table or forms');
    const st = await vp.evaluate(async () => (await fetch('/api/devices/1', {
      method: 'PUT', credentials: 'same-origin', headers: { 'X-Requested-With': 'e2e', 'Content-Type': 'application/json' },
      body: '{"name":"hijacked"}' })).status);
    assert(st === 403 || st === 404, `the API refuses the viewer: ${st}`);
    await ctx.close();
  });
} catch (e) {
  console.log(`  FAIL setup: ${e.stack ?? e}`);
  setupFailed = true;
} finally {
  if (browser) await browser.close();
  await fleet.stop();
}
if (t.done() || setupFailed) process.exitCode = 1;
