// bench/dashboard/run.mjs — issue 12's quality bar, measured in Debian's
// Chromium: fleet-sim with VEHICLES (10000) vehicles against a fresh fleet
// server (devices auto-registered), the dashboard signed in as admin with
// clustering on, then ROUNDS (3) windows of SECONDS (15) each:
//   - time per live update: the app's performance.measure('live-update')
//     entries (one per animation frame that applied socket messages):
//     median and p95 per round;
//   - first load: navigation start to the first live update applied
//     (a reload with the session cookie), once per round;
//   - the app's own JavaScript, bundled and minified with esbuild.
// Writes bench/results/dashboard-<UTC date>.md (OUT=path overrides).
//   make bench-dashboard                  QUICK=1: 2000 vehicles, 1 round of 8 s
import { writeFileSync, readFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { execSync } from 'node:child_process';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { startFleet, startSim, launch, login, waitFor, ROOT, sleep } from '../../tests/browser/fleet_harness.mjs';

const QUICK = !!process.env.QUICK;
const VEHICLES = Number(process.env.VEHICLES ?? (QUICK ? 2000 : 10000));
const ROUNDS = Number(process.env.ROUNDS ?? (QUICK ? 1 : 3));
const SECONDS = Number(process.env.SECONDS ?? (QUICK ? 8 : 15));
const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))] : NaN; };
const f1 = (x) => (Number.isFinite(x) ? x.toFixed(1) : 'n/a');

const req = createRequire(join(ROOT, 'apps/fleet/web/package.json'));
const esbuild = req('esbuild');
const bundle = await esbuild.build({ entryPoints: [join(ROOT, 'apps/fleet/web/src/app.js')], bundle: true, minify: true,
  write: false, format: 'esm', logLevel: 'silent' });
const jsBytes = bundle.outputFiles.reduce((n, f) => n + f.contents.length, 0);

const fleet = await startFleet({ demo: false, overlays: true, settings: { ingest: { auto_register: true }, live: { queue_kb: 65536 } } });
const sim = await startSim(fleet, { vehicles: VEHICLES, args: ['--connections', '16'] });
const browser = await launch();
const rounds = [];
try {
  const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  let frames = 0, closes = 0;
  page.on('websocket', (ws) => { ws.on('framereceived', () => frames++); ws.on('close', () => closes++); });
  await login(page, fleet, fleet.admin);
  await waitFor(() => page.evaluate((n) => document.querySelector('.count')?.textContent.endsWith(` of ${n}`), VEHICLES * 0.95 | 0)
    .then(() => page.evaluate(() => Number(document.querySelector('.count').textContent.split(' of ')[1]))).then((n) => n >= VEHICLES * 0.95),
  { timeout: 180000, every: 1000, what: `${VEHICLES} vehicles in the list` });
  for (let r = 0; r < ROUNDS; r++) {
    await page.reload();
    await page.waitForSelector('.user-name');
    const load = await waitFor(() => page.evaluate(() => {
      const m = performance.getEntriesByName('live-update')[0];
      return m ? m.startTime + m.duration : 0;
    }), { timeout: 60000, what: 'the first live update' });
    await sleep(2000); // the snapshot's own frames are not steady state
    await page.evaluate(() => performance.clearMeasures('live-update'));
    await sleep(SECONDS * 1000);
    const d = await page.evaluate(() => performance.getEntriesByName('live-update').map((m) => m.duration));
    const markers = await page.evaluate(() => document.querySelectorAll('.leaflet-marker-icon').length);
    console.log(`  socket frames so far ${frames}, socket closes ${closes}`);
    rounds.push({ load, n: d.length, median: pct(d, 0.5), p95: pct(d, 0.95), max: Math.max(...d), markers });
    console.log(`round ${r + 1}: first load ${f1(load)} ms, ${d.length} updates, median ${f1(pct(d, 0.5))} ms, p95 ${f1(pct(d, 0.95))} ms, ${markers} marker/cluster icons`);
  }
} finally {
  await browser.close();
  await sim.stop();
  await fleet.stop();
}
const med = (k) => pct(rounds.map((r) => r[k]), 0.5), lo = (k) => Math.min(...rounds.map((r) => r[k])), hi = (k) => Math.max(...rounds.map((r) => r[k]));
const chromium = 'chromium ' + execSync("dpkg-query -W -f='${Version}' chromium").toString().trim();
const date = new Date().toISOString();
const out = process.env.OUT ?? join(ROOT, `bench/results/dashboard-${date.slice(0, 10)}.md`);
mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
writeFileSync(out, `# Dashboard quality bar (issue 12) — busy machine

${date}. Command: \`make bench-dashboard\` (VEHICLES=${VEHICLES} ROUNDS=${ROUNDS} SECONDS=${SECONDS}${QUICK ? ' QUICK=1' : ''}).
Machine: ${cpus().length} × ${cpus()[0]?.model}, shared with other engineers' builds and tests at the
time (busy machine: figures are an upper bound). ${chromium}, headless, 1440×900; node ${process.version};
weft fleet (plain build) on SQLite and fleet-sim on the same machine; clustering on (markercluster, unclustered from zoom 16).

| | median over rounds | min–max |
| --- | --- | --- |
| time per live update, median (ms) | ${f1(med('median'))} | ${f1(lo('median'))}–${f1(hi('median'))} |
| time per live update, p95 (ms) | ${f1(med('p95'))} | ${f1(lo('p95'))}–${f1(hi('p95'))} |
| live updates per round | ${med('n')} | ${lo('n')}–${hi('n')} |
| first load to first live update (ms) | ${f1(med('load'))} | ${f1(lo('load'))}–${f1(hi('load'))} |

The app's own JavaScript, bundled and minified by esbuild ${esbuild.version}: ${jsBytes} bytes
(limit 150 KB; Leaflet, its plugins and the map data not included).

Per round: ${rounds.map((r, i) => `${i + 1}: ${r.n} updates, median ${f1(r.median)}, p95 ${f1(r.p95)}, max ${f1(r.max)} ms, load ${f1(r.load)} ms`).join('; ')}.

A "live update" is one animation frame that applied coalesced socket messages to the store and
everything listening (map markers, KPI tiles, the list's throttled redraw), measured by the app with
performance.measure('live-update') (apps/fleet/web/src/live.js).
`);
console.log(`wrote ${out}`);
