// bench/dashboard/run.mjs — issue 12's quality bar, measured in Debian's
// Chromium: fleet-sim with VEHICLES (10000) vehicles against a fresh fleet
// server (devices auto-registered), the dashboard signed in as admin with
// clustering on, then ROUNDS (3) windows of SECONDS (15) each:
//   - time per live update: the app's performance.measure('live-update')
//     entries (one per animation frame that applied socket messages):
//     median and p95 per round;
//   - first load: navigation start to the first live update applied
//     (a reload with the session cookie), once per round;
//   - the app's own JavaScript, bundled and minified with esbuild;
//   - also: frames the page rendered per second (a rAF counter), the map's
//     own draw time (performance.measure('map-draw')) and re-index time
//     ('cluster-index') where the page has them, the page's load event and
//     the bytes it transferred.
// BASE_ROOT=<dir>: a side-by-side run: dir is another dashboard web root
// (index.html, src/, node_modules/, e.g. a copy of an older commit's
// apps/fleet/web after npm ci); the server's web.root is a symlink switched
// between it and this checkout's apps/fleet/web before each window, in
// alternating order (A B, B A, ...), one server and one simulator for both.
// Writes bench/results/dashboard-<UTC date>[-<label>].md, -2.md, -3.md... when
// that exists (OUT=path overrides; .md appended when missing: out_path.mjs).
// LABEL="busy machine" (or any words) is written into the title and the
// file name; the busy/quiet measurement below stands beside it.
// The server runs with fleet's default settings (live.queue_kb too); the
// socket closes the page saw are counted in the file. The file says "busy
// machine" only when measured so (as bench/lib.sh's busy_pct): the CPUs were
// more than 10 % busy over 2 s before anything of ours started; the load
// average at the start and the end and the CPUs' busy share at the end are
// written beside it. BUSY="why" forces the label, BUSY="" forces quiet.
//   make bench-dashboard                  QUICK=1: 2000 vehicles, 1 round of 8 s
import { writeFileSync, readFileSync, readdirSync, mkdirSync, mkdtempSync, symlinkSync, renameSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { execSync } from 'node:child_process';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startFleet, startSim, launch, login, waitFor, ROOT, sleep } from '../../tests/browser/fleet_harness.mjs';
import { resultPath } from './out_path.mjs';

const QUICK = !!process.env.QUICK;
const VEHICLES = Number(process.env.VEHICLES ?? (QUICK ? 2000 : 10000));
const ROUNDS = Number(process.env.ROUNDS ?? (QUICK ? 1 : 3));
const SECONDS = Number(process.env.SECONDS ?? (QUICK ? 8 : 15));
const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))] : NaN; };
const f1 = (x) => (Number.isFinite(x) ? x.toFixed(1) : 'n/a');

// the share of the CPUs' time over `ms` spent on work (user, nice, system,
// irq, softirq, steal; idle and iowait are not), from /proc/stat
async function busyPct(ms = 2000) {
  const sample = () => {
    const v = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    return { work: v[0] + v[1] + v[2] + v[5] + v[6] + (v[7] || 0), idle: v[3] + v[4] };
  };
  const a = sample();
  await sleep(ms);
  const b = sample(), w = b.work - a.work, i = b.idle - a.idle;
  return w + i > 0 ? Math.round((100 * w) / (w + i)) : 0;
}
const loadavg = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
const loadStart = loadavg(), busyStart = await busyPct(); // before anything of ours runs
const busy = process.env.BUSY !== undefined ? process.env.BUSY
  : busyStart > 10 ? `the CPUs were ${busyStart} % busy with other work at the start` : '';
console.log(`load average ${loadStart}; CPUs ${busyStart} % busy at the start${busy ? ': labelled busy machine' : ''}`);

const req = createRequire(join(ROOT, 'apps/fleet/web/package.json'));
const esbuild = req('esbuild');
const bundle = await esbuild.build({ entryPoints: [join(ROOT, 'apps/fleet/web/src/app.js')], bundle: true, minify: true,
  write: false, format: 'esm', logLevel: 'silent' });
const jsBytes = bundle.outputFiles.reduce((n, f) => n + f.contents.length, 0);

// the variants: this checkout's web root, and BASE_ROOT's when given
const variants = [{ name: 'this checkout', root: join(ROOT, 'apps/fleet/web') }];
if (process.env.BASE_ROOT) variants.unshift({ name: `base (${process.env.BASE_ROOT})`, root: resolve(process.env.BASE_ROOT) });
const linkDir = mkdtempSync(join(tmpdir(), 'weft-dash-bench-')), link = join(linkDir, 'web');
const useRoot = (dir) => { symlinkSync(dir, link + '.new'); renameSync(link + '.new', link); };
useRoot(variants.at(-1).root); // this checkout's page while the simulator registers its vehicles

const fleet = await startFleet({ demo: false, overlays: true,
  settings: { ingest: { auto_register: true }, web: { root: link } } });
const sim = await startSim(fleet, { vehicles: VEHICLES, args: ['--connections', '16'] });
const browser = await launch();
const rounds = variants.map(() => []);
// socket frames the page received, and the closes of its live socket it saw
// with their codes (1008 "send queue full": the server dropped a slow page);
// a reload's own close is not seen by the page it unloads, so not counted
let frames = 0;
const closes = [];
// CPU seconds used so far by the browser's processes (this process's
// descendants named chrom*; fleet and fleet-sim are not): on a busy machine
// frames/s says how much the page got, this how much it asked for
function browserCpu() {
  const hz = 100, kids = new Map();
  const procs = [];
  for (const pid of readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
    try {
      const st = readFileSync(`/proc/${pid}/stat`, 'utf8'), r = st.slice(st.lastIndexOf(')') + 2).split(' ');
      const comm = st.slice(st.indexOf('(') + 1, st.lastIndexOf(')'));
      procs.push({ pid: Number(pid), ppid: Number(r[1]), comm, cpu: (Number(r[11]) + Number(r[12])) / hz });
    } catch { /* gone */ }
  }
  for (const p of procs) (kids.get(p.ppid) ?? kids.set(p.ppid, []).get(p.ppid)).push(p);
  let sum = 0;
  const walk = (pid) => { for (const k of kids.get(pid) ?? []) { if (/chrom/i.test(k.comm)) sum += k.cpu; walk(k.pid); } };
  walk(process.pid);
  return sum;
}
const stats = (d) => ({ n: d.length, median: pct(d, 0.5), p95: pct(d, 0.95), max: d.length ? Math.max(...d) : NaN });
try {
  const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  page.on('websocket', (ws) => ws.on('framereceived', () => frames++));
  await page.exposeFunction('__benchSocketClosed', (code, reason) => closes.push(`${code}${reason ? ` ${reason}` : ''}`));
  await page.addInitScript(() => {
    const Native = window.WebSocket;
    window.WebSocket = class extends Native {
      constructor(...args) {
        super(...args);
        this.addEventListener('close', (e) => window.__benchSocketClosed(e.code, e.reason));
      }
    };
  });
  const cdp = await page.context().newCDPSession(page);
  for (let i = 0; ; i++) { // on a very busy machine the first sign-in can take longer than login()'s 15 s
    try { await login(page, fleet, fleet.admin); break; } catch (e) { if (i === 2) throw e; console.log(`sign-in retry: ${e.message.split('\n')[0]}`); }
  }
  await waitFor(() => page.evaluate(() => Number(document.querySelector('.count')?.textContent.split(' of ')[1] ?? 0))
    .then((n) => n >= VEHICLES * 0.95),
  { timeout: 300000, every: 1000, what: `${VEHICLES} vehicles in the list` });
  for (let r = 0; r < ROUNDS; r++) {
    const order = variants.map((_, i) => i);
    if (r % 2) order.reverse();
    for (const vi of order) {
      useRoot(variants[vi].root);
      const firstUpdate = async () => {
        await page.waitForSelector('.user-name');
        return waitFor(() => page.evaluate(() => {
          const m = performance.getEntriesByName('live-update')[0];
          return m ? m.startTime + m.duration : 0;
        }), { timeout: 60000, what: 'the first live update' });
      };
      await page.reload(); // settle: the previous page's teardown and socket are not this variant's cost
      await firstUpdate();
      await sleep(2000);
      await cdp.send('Network.clearBrowserCache'); // a cold load (the session cookie stays)
      await page.reload();
      const cold = await firstUpdate();
      await sleep(2000);
      await page.reload(); // then a warm one, which the window below measures
      const load = await firstUpdate();
      await sleep(2000); // the snapshot's own frames are not steady state
      const nav = await page.evaluate(() => {
        const first = performance.getEntriesByName('live-update')[0];
        const draw = performance.getEntriesByName('map-draw').find((m) => m.startTime >= first.startTime);
        const n = performance.getEntriesByType('navigation')[0];
        const res = performance.getEntriesByType('resource');
        return { drawn: draw ? draw.startTime + draw.duration : NaN, loadEvent: n.loadEventEnd,
          bytes: res.reduce((k, x) => k + x.transferSize, n.transferSize), files: res.length + 1 };
      });
      await page.evaluate(() => {
        for (const m of ['live-update', 'map-draw', 'cluster-index']) performance.clearMeasures(m);
        window.__benchFrames = 0;
        const tick = () => { window.__benchFrames++; requestAnimationFrame(tick); };
        requestAnimationFrame(tick);
      });
      const cpu0 = browserCpu();
      await sleep(SECONDS * 1000);
      const cpu = (browserCpu() - cpu0) / SECONDS;
      const m = await page.evaluate(() => Object.fromEntries(['live-update', 'map-draw', 'cluster-index']
        .map((k) => [k, performance.getEntriesByName(k).map((x) => x.duration)]).concat([['frames', window.__benchFrames]])));
      const one = { load, cold, ...nav, cpu, fps: m.frames / SECONDS, live: stats(m['live-update']), draw: stats(m['map-draw']), index: stats(m['cluster-index']) };
      rounds[vi].push(one);
      console.log(`round ${r + 1} ${variants[vi].name}: first live update cold ${f1(cold)} warm ${f1(load)} ms, vehicles drawn ${f1(nav.drawn)} ms, load event ${f1(nav.loadEvent)} ms, ` +
        `${nav.files} files ${nav.bytes} bytes; ${one.live.n} updates, median ${f1(one.live.median)} ms, p95 ${f1(one.live.p95)} ms; ` +
        `${f1(one.fps)} frames/s; browser CPU ${one.cpu.toFixed(2)} s/s; draw median ${f1(one.draw.median)} p95 ${f1(one.draw.p95)} ms (${one.draw.n}); index median ${f1(one.index.median)} ms (${one.index.n}); ` +
        `socket frames so far ${frames}, closes ${closes.length ? closes.join(', ') : 'none'}`);
    }
  }
} finally {
  await browser.close();
  await sim.stop();
  await fleet.stop();
  rmSync(linkDir, { recursive: true, force: true });
}
const get = (rs, k) => rs.map((x) => k.split('.').reduce((o, p) => o[p], x)).filter(Number.isFinite);
const cell = (rs, k) => {
  const xs = get(rs, k), f = k === 'cpu' ? (x) => x.toFixed(2) : f1;
  return xs.length ? `${f(pct(xs, 0.5))} (${f(Math.min(...xs))}–${f(Math.max(...xs))})` : 'n/a';
};
const rows = [
  ['time per live update, median (ms)', 'live.median'], ['time per live update, p95 (ms)', 'live.p95'],
  ['live updates per round', 'live.n'], ['frames rendered per second', 'fps'],
  ['browser CPU time per second of the window (s)', 'cpu'],
  ['map draw per frame, median (ms) (canvas layer only)', 'draw.median'], ['map draw per frame, p95 (ms)', 'draw.p95'],
  ['cluster re-index, median (ms) (canvas layer only)', 'index.median'],
  ['first load, cold cache: navigation start to first live update (ms)', 'cold'],
  ['first load, warm cache: navigation start to first live update (ms)', 'load'], ['first load, warm: to the vehicles drawn (ms) (canvas layer only)', 'drawn'],
  ['load event, warm (ms)', 'loadEvent'], ['bytes transferred, warm reload', 'bytes'], ['files, warm reload', 'files'],
];
const loadEnd = loadavg(), busyEnd = await busyPct();
const closeCounts = Object.entries(closes.reduce((m, c) => ({ ...m, [c]: (m[c] ?? 0) + 1 }), {}))
  .map(([c, n]) => `${n} × ${c}`).join(', ');
const chromium = 'chromium ' + execSync("dpkg-query -W -f='${Version}' chromium").toString().trim();
const date = new Date().toISOString();
const LABEL = process.env.LABEL ?? '';
const out = resultPath({ dir: join(ROOT, 'bench/results'), date, out: process.env.OUT, label: LABEL });
mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
writeFileSync(out, `# Dashboard quality bar (issue 12) — ${busy ? 'busy machine' : 'quiet machine'}${LABEL ? ` (label: ${LABEL})` : ''}

${date}. Command: \`make bench-dashboard\` (VEHICLES=${VEHICLES} ROUNDS=${ROUNDS} SECONDS=${SECONDS}${QUICK ? ' QUICK=1' : ''}${process.env.BASE_ROOT ? ` BASE_ROOT=${process.env.BASE_ROOT}` : ''}${process.env.BUSY !== undefined ? ` BUSY="${process.env.BUSY}"` : ''}${LABEL ? ` LABEL="${LABEL}"` : ''}).
Machine: ${cpus().length} × ${cpus()[0]?.model}. ${busy ? `Busy machine: ${busy} (figures are an upper bound).` : 'Quiet machine by the measurement below.'}
Load average (1, 5, 15 min) ${loadStart} at the start, ${loadEnd} at the end; the CPUs ${busyStart} % busy over 2 s
before the run started (the run's own processes not yet there), ${busyEnd} % after it stopped (its processes gone).
${chromium}, headless, 1440×900; node ${process.version};
weft fleet (plain build, its default settings: live.queue_kb not set, 1024) on SQLite and fleet-sim on the same machine; clustering on (unclustered from zoom 16).
The page's live socket: ${frames} frames received; closed under the page (not by its own reloads) ${closes.length ? `${closes.length} times in the whole run (close code and reason: ${closeCounts})` : 'never in the whole run'}.
${variants.length > 1 ? `Side by side: one server and simulator, the web root switched before each window, alternating order per round.\n` : ''}
Each cell: median over ${ROUNDS} round(s) (min–max).

| | ${variants.map((v) => v.name).join(' | ')} |
| --- | ${variants.map(() => '---').join(' | ')} |
${rows.map(([label, k]) => `| ${label} | ${variants.map((_, i) => cell(rounds[i], k)).join(' | ')} |`).join('\n')}

The app's own JavaScript (this checkout), bundled and minified by esbuild ${esbuild.version}: ${jsBytes} bytes
(limit 150 KB; Leaflet, its plugins and the map data not included).

Per window: ${variants.map((v, i) => `${v.name}: ${rounds[i].map((x, j) => `${j + 1}: ${x.live.n} updates, median ${f1(x.live.median)}, p95 ${f1(x.live.p95)}, max ${f1(x.live.max)} ms, ${f1(x.fps)} frames/s, first live update ${f1(x.load)} ms`).join('; ')}`).join('. ')}.

A "live update" is one animation frame that applied coalesced socket messages to the store and
everything listening (the map layer, KPI tiles, the list's throttled redraw), measured by the app with
performance.measure('live-update') (apps/fleet/web/src/live.js). The canvas layer draws in its own
animation frame ('map-draw', apps/fleet/web/src/vehlayer.js) and re-indexes clusters at most once a
second ('cluster-index'); those are listed separately. "Frames rendered per second" counts
requestAnimationFrame callbacks during the window (60 is the display rate). "Browser CPU time" is
user+system time of every Chromium process the bench started (/proc), per second of the window:
on a busy machine it shows what the page asked for, frames/s what it got.
`);
console.log(`wrote ${out}`);
