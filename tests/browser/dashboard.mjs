// tests/browser/dashboard.mjs — the live dashboard end to end in Debian's
// Chromium against a real weft fleet server and fleet-sim (fleet_harness.mjs):
// sign-in, vehicles appearing and moving, selection with trail and details,
// a geofence enter event in the alert feed, acknowledgements shared between
// dashboards (also one made while a dashboard joins), a viewer's narrower fleet, the
// reconnect banner across a server restart, sign-out. Screenshots of each
// view go to the harness OUT dir.
//
//   node tests/browser/dashboard.mjs      (after npm ci in apps/fleet/web and make)
import { readFileSync } from 'node:fs';
import { startFleet, startSim, launch, login, shot, waitFor, suite, sleep, ROOT, contrastProblems } from './fleet_harness.mjs';
import { servedFiles, precompress } from '../../apps/fleet/web/tools/precompress.mjs';
import { ALERT_TYPES } from '../../apps/fleet/web/src/alerts.js';

const VEHICLES = 30;
const WEB = ROOT + '/apps/fleet/web/';
const s = suite('dashboard');
const fleet = await startFleet();
const sim = await startSim(fleet, { vehicles: VEHICLES });
const browser = await launch();
const errors = [];
const cookieApi = async (page, method, path, body) => page.evaluate(async ([m, p, b]) => {
  const r = await fetch(p, { method: m, headers: { 'Content-Type': 'application/json', 'X-Requested-With': 'test' },
    body: b ? JSON.stringify(b) : undefined });
  return { status: r.status, body: await r.json().catch(() => null) };
}, [method, path, body]);
// Wait until the alert row `id` of page p (called `which` in the error) is
// marked acknowledged; on timeout the error names the page, the row and what
// the row showed then (missing, or its classes and text). 15 s as the
// harness's waitFor: an ack that never comes fails all the same, and a
// loaded machine's live feed may take seconds (it was 5 s).
const waitAcked = async (p, which, id, timeout = 15000) => {
  try {
    await p.waitForSelector(`.feed li[data-id="${id}"].acked`, { state: 'attached', timeout });
  } catch (e) {
    const row = await p.evaluate((i) => {
      const li = document.querySelector(`.feed li[data-id="${i}"]`);
      return li ? `class "${li.className}", text "${li.textContent}"` : 'no such row';
    }, id).catch((x) => `unreadable: ${x.message}`);
    throw new Error(`${which} page: alert ${id} not shown acknowledged within ${timeout} ms (${row}; socket ${
      await p.evaluate(() => document.body.dataset.live).catch(() => '?')}): ${e.message.split('\n')[0]}`);
  }
};
// the vehicles are drawn on one canvas (vehlayer.js): its pixels change when they move
const markerPositions = (page) => page.evaluate(() => document.querySelector('canvas.vehicles').toDataURL());

try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  page.on('pageerror', (e) => errors.push(e.message));
  // the live socket's handshake as Chromium saw it (the offer it made, the answer it took)
  const wsHandshakes = [];
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Network.enable');
  cdp.on('Network.webSocketWillSendHandshakeRequest', (e) => wsHandshakes.push({ id: e.requestId, offer: e.request.headers }));
  cdp.on('Network.webSocketHandshakeResponseReceived', (e) => {
    const h = wsHandshakes.find((x) => x.id === e.requestId);
    if (h) { h.status = e.response.status; h.answer = e.response.headers; }
  });

  await s.test('a wrong password is refused with a message', async () => {
    await page.goto(fleet.base + '/');
    await page.fill('#email', fleet.admin.email);
    await page.fill('#password', 'not-the-password');
    await page.click('form.login button[type=submit]');
    await waitFor(async () => (await page.textContent('.login-error')).includes('Wrong email or password'), { what: 'the error' });
    await shot(page, 'login');
  });

  await s.test('sign in: name, role, navigation, KPI tiles', async () => {
    await login(page, fleet, fleet.admin);
    if ((await page.textContent('.user-name')) !== 'Administrator') throw new Error('user name');
    if ((await page.textContent('.role')) !== 'admin') throw new Error('role');
    const nav = await page.$$eval('nav a', (a) => a.map((x) => x.textContent));
    if (nav.join() !== 'Live,Replay,Geofences,Reports,Devices') throw new Error(`nav: ${nav}`);
  });

  await s.test('assets: precompressed gzip, ETag and 304, cache headers', async () => {
    precompress(servedFiles(WEB)); // as make run / make test do
    const get = (path, h = {}) => fetch(fleet.base + path, { headers: { 'Accept-Encoding': 'gzip', ...h } });
    for (const [path, cache] of [['/', 'no-cache'], ['/src/app.js', 'no-cache'], ['/src/vehlayer.js', 'no-cache'],
      ['/vendor/leaflet@1.9.4/dist/leaflet.js', 'immutable'], ['/vendor/supercluster@9.1.0/dist/supercluster.min.js', 'immutable'],
      ['/vendor/world-atlas@2.0.2/land-50m.json', 'immutable'], ['/overlays/roads.geojson', 'no-cache'],
      ['/vendor/@geoman-io/leaflet-geoman-free@2.17.0/dist/leaflet-geoman.min.js', 'immutable']]) { // loaded on demand
      const r = await get(path);
      const h = (k) => r.headers.get(k) ?? '';
      if (r.status !== 200 || h('content-encoding') !== 'gzip' || h('vary') !== 'Accept-Encoding' || !h('cache-control').includes(cache) || !h('etag'))
        throw new Error(`${path}: ${r.status} ${JSON.stringify(Object.fromEntries(r.headers))}`);
      await r.arrayBuffer();
      const again = await get(path, { 'If-None-Match': h('etag') });
      if (again.status !== 304) throw new Error(`${path}: If-None-Match gave ${again.status}`);
    }
    const gz = await (await get('/src/app.js')).text();
    const plain = await fetch(fleet.base + '/src/app.js', { headers: { 'Accept-Encoding': 'identity' } });
    if (plain.headers.get('content-encoding')) throw new Error('identity got an encoding');
    if ((await plain.text()) !== gz || gz !== readFileSync(WEB + 'src/app.js', 'utf8')) throw new Error('gzip and plain bodies differ');
  });

  await s.test('the simulated vehicles appear and move', async () => {
    await waitFor(async () => Number(await page.textContent('.kpi-moving b')) > 0, { timeout: 20000, what: 'a moving vehicle' });
    await waitFor(async () => (await page.$$('.vehicles li .seen')).length === 200, { what: '200 rows' });
    const before = await markerPositions(page);
    await waitFor(async () => (await markerPositions(page)) !== before, { timeout: 10000, what: 'markers to move' });
    const kpis = await page.$$eval('.kpi b', (b) => b.slice(0, 4).map((x) => Number(x.textContent)));
    if (kpis.reduce((a, b) => a + b, 0) !== 200) throw new Error(`status tiles do not add up to 200: ${kpis}`);
    await shot(page, 'map');
  });

  await s.test('the live socket is compressed: Chromium offers deflate, the server adds server_no_context_takeover', async () => {
    const header = (h, k) => Object.entries(h ?? {}).find(([n]) => n.toLowerCase() === k)?.[1] ?? '';
    const live = wsHandshakes.filter((x) => x.status === 101);
    if (!live.length) throw new Error(`no WebSocket handshake seen: ${JSON.stringify(wsHandshakes)}`);
    for (const x of live) {
      const offer = header(x.offer, 'sec-websocket-extensions'), answer = header(x.answer, 'sec-websocket-extensions');
      if (!offer.startsWith('permessage-deflate') || offer.includes('server_no_context_takeover'))
        throw new Error(`Chromium's offer is not the one this test assumes: "${offer}"`);
      if (answer !== 'permessage-deflate; server_no_context_takeover') throw new Error(`the answer: "${answer}"`);
    }
  });

  await s.test('select a vehicle: details, trail, Escape closes', async () => {
    await page.selectOption('.filters select[aria-label=Status]', 'moving');
    await page.click('.vehicles li:first-child');
    await page.waitForSelector('.details:not([hidden]) dl');
    const dl = await page.textContent('.details dl');
    for (const k of ['Position', 'Speed', 'Course', 'Ignition', 'Battery', 'Odometer']) if (!dl.includes(k)) throw new Error(`no ${k}`);
    await waitFor(() => page.$$eval('path.leaflet-interactive', (p) => p.some((x) => x.getAttribute('stroke') === '#1f6feb' && x.getAttribute('d')?.length > 10)),
      { timeout: 15000, what: 'the trail' });
    await shot(page, 'selected');
    await page.keyboard.press('Escape');
    await page.waitForSelector('.details[hidden]', { state: 'attached' });
    await page.selectOption('.filters select[aria-label=Status]', '');
  });

  await s.test('the map: a click on a vehicle selects it (ringed), on a cluster zooms in', async () => {
    // the vehicles are drawn on a canvas; canvas.hits lists what was drawn where (container pixels)
    const hits = () => page.evaluate(() => document.querySelector('canvas.vehicles').hits ?? []);
    const box = await (await page.$('#map')).boundingBox();
    const zoomOut = await page.$('.leaflet-control-zoom-out');
    for (let i = 0; i < 6 && !(await hits()).some((x) => x.cluster !== undefined); i++) { await zoomOut.click(); await sleep(400); }
    const cluster = (await hits()).find((x) => x.cluster !== undefined);
    if (!cluster) throw new Error('no cluster drawn when zoomed out');
    const before = JSON.stringify((await hits()).map((x) => [x.n, x.id]));
    await page.mouse.click(box.x + cluster.x, box.y + cluster.y);
    await waitFor(async () => JSON.stringify((await hits()).map((x) => [x.n, x.id])) !== before, { what: 'the cluster to open' });
    await waitFor(async () => (await hits()).some((x) => x.id !== undefined), { what: 'a single vehicle drawn' });
    // a vehicle that stands still (a moving one can leave the spot between reading and clicking on a busy machine)
    let v, opened = false;
    for (let i = 0; i < 5 && !opened; i++) {
      const a = await hits();
      await sleep(500);
      const b = await hits(), still = (x) => a.some((y) => y.id === x.id && Math.abs(y.x - x.x) < 1 && Math.abs(y.y - x.y) < 1);
      v = b.find((x) => x.id !== undefined && still(x)) ?? b.find((x) => x.id !== undefined);
      if (!v) continue;
      await page.mouse.click(box.x + v.x, box.y + v.y);
      opened = await page.waitForSelector('.details:not([hidden]) dl', { timeout: 3000 }).then(() => true, () => false);
    }
    if (!opened) throw new Error('five clicks on drawn vehicles selected none');
    const devs = (await cookieApi(page, 'GET', '/api/devices')).body;
    const name = devs.find((d) => d.id === v.id)?.name;
    if ((await page.textContent('.details h2')) !== name) throw new Error(`clicked ${name}, details show ${await page.textContent('.details h2')}`);
    await waitFor(async () => (await hits()).at(-1)?.id === v.id, { what: 'the selected vehicle drawn on top' });
    await page.keyboard.press('Escape');
    await page.waitForSelector('.details[hidden]', { state: 'attached' });
  });

  await s.test('keyboard: arrows move through the list, Enter selects', async () => {
    await page.focus('.vehicles');
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('Enter');
    await page.waitForSelector('.details:not([hidden])');
    const name = await page.textContent('.details h2');
    if (name !== 'Vehicle 002') throw new Error(`selected ${name}`);
    await page.keyboard.press('Escape');
  });

  await s.test('a geofence enter event arrives in the alert feed', async () => {
    // small circles a little ahead of each moving vehicle
    const moving = await page.evaluate(async () => {
      const ps = await (await fetch('/api/positions')).json();
      return ps.filter((p) => p.speed > 5).map((p) => ({ id: p.deviceId, lat: p.latitude, lon: p.longitude, course: p.course }));
    });
    if (!moving.length) throw new Error('no moving vehicle');
    for (const [i, v] of moving.slice(0, 15).entries()) {
      const r = (v.course * Math.PI) / 180, d = 150 / 111320;
      const lat = v.lat + d * Math.cos(r), lon = v.lon + (d * Math.sin(r)) / Math.cos((v.lat * Math.PI) / 180);
      const res = await cookieApi(page, 'POST', '/api/geofences',
        { name: `ahead ${i}`, area: { type: 'Point', coordinates: [lon, lat], radius: 70 } });
      if (res.status !== 201 && res.status !== 200) throw new Error(`geofence: ${res.status} ${JSON.stringify(res.body)}`);
    }
    await waitFor(async () => (await page.$$('.feed li.ev-geofenceEnter')).length > 0, { timeout: 40000, what: 'an Entered alert' });
    if (await page.isHidden('.unread')) throw new Error('no unread marker');
    // each row names the fence (made after the page loaded: it asks the API again for their names)
    const fences = new Set((await cookieApi(page, 'GET', '/api/geofences')).body.map((f) => f.name));
    const named = await waitFor(async () => {
      const rows = await page.$$eval('.feed li.ev-geofenceEnter .what', (l) => l.map((x) => x.textContent));
      return rows.every((r) => fences.has(r)) && rows.some((r) => /^ahead \d+$/.test(r)) && rows;
    }, { timeout: 40000, what: 'the Entered alerts naming their geofences, one of this test\'s' });
    console.log(`       (entered: ${[...new Set(named)].slice(0, 4).join(', ')})`);
  });

  await s.test('an acknowledgement is shared: acknowledged in one page, marked in another', async () => {
    // a second dashboard, signed in as the demo manager (both depots), open
    // before the acknowledgement: it must learn of it over its live socket
    if (!fleet.manager) throw new Error('no demo manager in the server log');
    const other = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    other.on('pageerror', (e) => errors.push(`second page: ${e.message}`));
    await login(other, fleet, fleet.manager);
    await waitFor(() => other.evaluate(() => document.body.dataset.live === 'open'), { what: 'the second socket' });
    await page.selectOption('.alerts-pane select', 'geofenceEnter');
    const id = await page.getAttribute('.feed li.ev-geofenceEnter:not(.acked)', 'data-id');
    const sel = `.feed li[data-id="${id}"]`;
    await other.waitForSelector(`${sel}:not(.acked) button`, { timeout: 15000 });
    await page.click(`${sel} button`);
    await page.waitForSelector(`${sel}.acked`);
    await waitAcked(other, 'second', id);
    const label = await other.textContent(`${sel} .ack-by`);
    if (!label.startsWith('Acknowledged by Administrator')) throw new Error(`second page says: ${label}`);
    // the unread marker counts the open alerts, no more (read in one go: new ones keep arriving)
    const [marker, openShown, shown] = await other.evaluate(() => [Number(document.querySelector('.unread').textContent),
      document.querySelectorAll('.feed li:not(.acked)').length, document.querySelectorAll('.feed li').length]);
    if (shown < 200 && marker !== openShown) throw new Error(`unread ${marker}, open alerts shown ${openShown}`);
    if (await other.$(`${sel} button`)) throw new Error('the second page still offers Acknowledge');
    // the server has it, with who; the list of open alerts no longer has it
    const [acked, open] = await other.evaluate(async () => [await (await fetch('/api/events?acknowledged=true')).json(),
      await (await fetch('/api/events?acknowledged=false')).json()]);
    const e = acked.find((x) => String(x.id) === id);
    if (!e || e.ackUserName !== 'Administrator' || !e.ackTime) throw new Error(`server: ${JSON.stringify(e)}`);
    if (open.some((x) => String(x.id) === id)) throw new Error('still listed as open');
    // a reload of the second page starts acknowledged too (REST, not the socket)
    await other.reload();
    await other.waitForSelector('.vehicles li');
    await other.selectOption('.alerts-pane select', 'geofenceEnter');
    await other.waitForSelector(`${sel}.acked`, { timeout: 10000 });
    await shot(page, 'alerts');
    await shot(other, 'alerts-second-page');
    await other.close();
  });

  await s.test('text contrast: header, panel, alerts (some acknowledged), toasts at least 4.5:1', async () => {
    await page.selectOption('.alerts-pane select', '');
    await page.click('.vehicles li:first-child'); // the details panel too
    await page.waitForSelector('.details:not([hidden]) dl');
    await page.evaluate(() => document.querySelector('.feed li button')?.focus());
    const bad = await contrastProblems(page, ['header', '.side', '.banner', '.toasts']);
    const checked = await page.$$eval('header *, .side *', (l) => l.length);
    if (checked < 100) throw new Error(`only ${checked} elements: the view is not there`);
    if (bad.length) throw new Error(`low contrast: ${JSON.stringify(bad.slice(0, 5))}`);
    await page.keyboard.press('Escape');
  });

  await s.test('after a reload the alerts-today tile counts the alerts of the day from the API, in one request', async () => {
    const types = [...ALERT_TYPES]; // the page's one definition of an alert (alerts.js)
    // the page's day: from midnight in its time zone
    const midnight = await page.evaluate(() => { const d = new Date(); d.setHours(0, 0, 0, 0); return d.toISOString(); });
    let want = 0; // counted from the list before the reload: the page's own count can only be higher
    for (const type of types) want += (await cookieApi(page, 'GET', `/api/events?type=${type}&from=${midnight}&limit=10000`)).body.length;
    if (!want) throw new Error('no alert today (the geofence test makes some)');
    const asks = [];
    const onReq = (r) => { if (r.url().includes('/api/events')) asks.push(r.url()); };
    page.on('request', onReq);
    await page.reload();
    await waitFor(async () => Number(await page.textContent('.kpi-alerts b')) >= want, { what: `the alerts-today tile to show ${want}` });
    page.off('request', onReq);
    const counts = asks.filter((u) => u.includes('/api/events/count?'));
    if (counts.length !== 1) throw new Error(`${counts.length} count requests: ${counts}`);
    const q = new URL(counts[0]).searchParams;
    if (q.getAll('type').sort().join() !== [...types].sort().join() || q.get('from') !== midnight) throw new Error(`asked ${counts[0]}`);
    if (asks.some((u) => u.includes('limit=10000'))) throw new Error('the page still downloads the events to count them');
    // "today" is the user's day: a browser at UTC+14 (Kiritimati, no daylight
    // saving) counts from its own midnight, not from midnight UTC
    const ctx14 = await browser.newContext({ timezoneId: 'Pacific/Kiritimati', viewport: { width: 1280, height: 800 } });
    const p14 = await ctx14.newPage();
    const asked = p14.waitForRequest((r) => r.url().includes('/api/events/count?'), { timeout: 15000 });
    const t0 = Date.now();
    await login(p14, fleet, fleet.admin);
    const from = Date.parse(new URL((await asked).url()).searchParams.get('from'));
    const DAY = 86400e3, off = 14 * 3600e3, localMidnight = (t) => Math.floor((t + off) / DAY) * DAY - off;
    if (from !== localMidnight(t0) && from !== localMidnight(Date.now())) throw new Error(`from ${new Date(from).toISOString()}, not midnight at UTC+14`);
    await ctx14.close();
  });

  // an SOS from a device of our own (not the simulator's): an alarm event, live
  const uniqueId = `e2e-alarm-${process.pid}`;
  // (an alarm event is a newly raised alarm: a fix without it clears it first)
  const fix = async (lat, alarm = '') => {
    const r = await fetch(`http://127.0.0.1:${fleet.osmandPort}/?id=${uniqueId}&lat=${lat}&lon=16.37&speed=0${alarm && `&alarm=${alarm}`}`);
    if (r.status !== 200) throw new Error(`osmand fix: ${r.status} ${await r.text()}`);
  };
  const sos = async (lat) => { await fix(lat - 0.001); await fix(lat, 'sos'); };

  await s.test('the alerts-today tile moves on a live alert without asking the server again', async () => {
    const made = await cookieApi(page, 'POST', '/api/devices', { name: 'E2E alarm van', uniqueId });
    if (made.status !== 200 && made.status !== 201) throw new Error(`device: ${made.status} ${JSON.stringify(made.body)}`);
    await waitFor(async () => (await page.textContent('.kpi-alerts b')) !== '–', { what: 'the tile counted' });
    const asks = [];
    const onReq = (r) => { if (r.url().includes('/api/events')) asks.push(r.url()); };
    page.on('request', onReq);
    const before = Number(await page.textContent('.kpi-alerts b'));
    await sos(48.2);
    await waitFor(() => page.evaluate(() => [...document.querySelectorAll('.feed li.ev-alarm a')].some((a) => a.textContent === 'E2E alarm van')),
      { what: 'the SOS in the feed' });
    await waitFor(async () => Number(await page.textContent('.kpi-alerts b')) >= before + 1, { what: `the tile past ${before}` });
    page.off('request', onReq);
    if (asks.some((u) => u.includes('/api/events/count'))) throw new Error(`the tile asked the server again: ${asks}`);
  });

  await s.test('acknowledge all: confirmed, every open alert shown acknowledged here, on the server and in another dashboard', async () => {
    const other = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    other.on('pageerror', (e) => errors.push(`second page: ${e.message}`));
    await login(other, fleet, fleet.admin);
    await waitFor(() => other.evaluate(() => document.body.dataset.live === 'open'), { what: 'the second socket' });
    await page.selectOption('.alerts-pane select', '');
    await page.waitForSelector('.ack-all:not([hidden])');
    const open = await page.$$eval('.feed li:not(.acked)', (l) => l.map((x) => x.dataset.id));
    if (!open.length) throw new Error('no open alert to acknowledge');
    // Cancel changes nothing
    await page.click('.ack-all');
    await page.click('dialog.wp-dialog button[value=no]');
    await page.waitForSelector('dialog.wp-dialog', { state: 'detached' });
    if ((await page.$$('.feed li.acked')).length && !(await page.$(`.feed li[data-id="${open[0]}"]:not(.acked)`))) throw new Error('cancel acknowledged');
    const text = await (async () => { await page.click('.ack-all'); return page.textContent('dialog.wp-dialog p'); })();
    if (!/^Acknowledge (all \d+ open alerts|the open alert)\?$/.test(text)) throw new Error(`dialog: ${text}`);
    const answer = page.waitForResponse((r) => r.url().includes('/api/events/ack?') && r.request().method() === 'POST');
    await page.click('dialog.wp-dialog button[value=yes]');
    const body = await (await answer).json();
    if (!(body.count >= open.length) || body.ackUserName !== 'Administrator') throw new Error(`answer ${JSON.stringify(body).slice(0, 200)}`);
    await page.waitForSelector('.toast');
    for (const id of open.slice(0, 50)) await waitAcked(page, 'first', id);
    // the other dashboard learns it over its live socket (no reload)
    const seen = await other.$$eval('.feed li', (l) => l.map((x) => x.dataset.id));
    const both = open.filter((id) => seen.includes(id));
    if (!both.length) throw new Error('the second page shows none of the acknowledged alerts');
    for (const id of both.slice(0, 50)) await waitAcked(other, 'second', id);
    // the server: none of them open
    const still = (await cookieApi(page, 'GET', '/api/events?acknowledged=false&limit=10000')).body.map((e) => String(e.id));
    const left = open.filter((id) => still.includes(id));
    if (left.length) throw new Error(`still open on the server: ${left.slice(0, 5)}`);
    // an alert after it stays open (the request named the newest the page knew)
    await sos(48.21);
    await waitFor(() => page.evaluate(() => [...document.querySelectorAll('.feed li.ev-alarm:not(.acked) a')].some((a) => a.textContent === 'E2E alarm van')),
      { what: 'a new open SOS' });
    await shot(page, 'alerts-acknowledged-all');
    await other.close();
  });

  await s.test('an acknowledgement made while another dashboard is joining reaches it (its alerts are fetched again at its snapshot)', async () => {
    // The CI failure of "acknowledge all", made to happen every time: the
    // second dashboard reads its alerts at mount, the alert is acknowledged,
    // and only then does its socket reach the server (held back here; on a
    // loaded machine the server's feed subscribes a new socket late). The
    // ack never comes over that socket: the page must fetch its alerts again
    // at its first snapshot (it used to skip that, within 1 s of the mount).
    await sos(48.22);
    const id = await waitFor(() => page.evaluate(() => [...document.querySelectorAll('.feed li.ev-alarm:not(.acked)')]
      .find((li) => li.querySelector('a')?.textContent === 'E2E alarm van')?.dataset.id), { what: 'a new open SOS' });
    const other = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    other.on('pageerror', (e) => errors.push(`joining page: ${e.message}`));
    let join;
    const acked = new Promise((r) => { join = r; });
    await other.routeWebSocket(/\/api\/socket$/, async (ws) => { await acked; ws.connectToServer(); });
    const mounted = other.waitForResponse((r) => r.url().includes('/api/events?') && r.url().includes('acknowledged=false'));
    await login(other, fleet, fleet.admin);
    await mounted;
    await other.waitForSelector(`.feed li[data-id="${id}"]:not(.acked)`, { state: 'attached' });
    const r = await cookieApi(page, 'POST', `/api/events/${id}/ack`);
    if (r.status !== 200) throw new Error(`ack: ${r.status} ${JSON.stringify(r.body)}`);
    join();
    await waitAcked(other, 'joining', id, 10000);
    await other.close();
  });

  await s.test('pages without a module say so; the map view comes back', async () => {
    await page.goto(fleet.base + '/#/nosuchpage');
    await page.waitForSelector('.side .empty');
    await page.goto(fleet.base + '/#/map');
    await page.waitForSelector('.vehicles li');
  });

  await s.test('the live socket: banner while the server restarts, then live again', async () => {
    await fleet.restart(1500);
    await waitFor(() => page.evaluate(() => document.body.dataset.live === 'open'), { timeout: 30000, what: 'the socket to reopen' });
    await page.waitForSelector('.banner[hidden]', { state: 'attached' });
  });

  await s.test('banner shows while the server is down', async () => {
    const p = fleet.restart(4000);
    await page.waitForSelector('.banner:not([hidden])', { timeout: 5000 });
    await shot(page, 'connection-lost');
    await p;
    await waitFor(() => page.evaluate(() => document.body.dataset.live === 'open'), { timeout: 30000, what: 'the socket to reopen' });
  });

  await s.test('sign out returns to the sign-in form', async () => {
    await page.click('header .user button');
    await page.waitForSelector('form.login');
    const r = await page.evaluate(async () => (await fetch('/api/session')).status);
    if (r !== 401) throw new Error(`session after sign-out: ${r}`);
  });

  await s.test("a viewer sees only their group's vehicles", async () => {
    if (!fleet.viewer) throw new Error('no demo viewer in the server log');
    const v = await browser.newPage({ viewport: { width: 1024, height: 768 } }); // tablet-sized
    await login(v, fleet, fleet.viewer);
    const devs = await v.evaluate(async () => (await fetch('/api/devices')).json());
    const groups = new Set(devs.map((d) => d.groupId));
    if (devs.length === 0 || devs.length >= 200 || groups.size !== 1) throw new Error(`viewer devices ${devs.length}, groups ${[...groups]}`);
    await waitFor(async () => (await v.textContent('.count')) === `${devs.length} of ${devs.length}`, { what: 'the list count' });
    const names = new Set(devs.map((d) => d.name));
    const shown = await v.$$eval('.vehicles li .name', (a) => a.map((x) => x.firstChild.textContent));
    if (shown.some((n) => !names.has(n))) throw new Error('a vehicle of another group is listed');
    if ((await v.textContent('.role')) !== 'viewer') throw new Error('role');
    if ((await v.$$('nav a[data-route=devices]')).length) throw new Error('viewer sees the devices admin link');
    await shot(v, 'viewer-tablet');
    // the tablet held upright: every listed name is shown whole (not cut to "Vehicle …")
    await v.setViewportSize({ width: 768, height: 1024 });
    const [rows, cut] = await v.$$eval('.vehicles li .name', (a) => [a.length, a.filter((x) => x.scrollWidth > x.clientWidth).map((x) => x.textContent)]);
    if (!rows || cut.length) throw new Error(`${cut.length} of ${rows} names cut at 768 px wide: ${cut.slice(0, 3)}`);
    await shot(v, 'viewer-tablet-portrait');
    await v.close();
  });

  await s.test('no uncaught errors in the page', async () => {
    if (errors.length) throw new Error(errors.join('; '));
  });
} finally {
  await browser.close();
  await sim.stop();
  await fleet.stop();
}
s.done();
