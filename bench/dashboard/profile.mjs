// bench/dashboard/profile.mjs — where the dashboard's main thread spends its
// time: fleet-sim with VEHICLES (2000) vehicles, the dashboard in Chromium,
// then the V8 CPU profiler for SECONDS (8) of steady state (or, with
// LOAD=1, from a reload to SECONDS later). Prints the top functions by self
// time and by URL. A tool for finding costs, not a benchmark (no figures
// from it go to docs/).
//   node bench/dashboard/profile.mjs     (after make build/apps/fleet build/apps/fleet-sim)
import { startFleet, startSim, launch, login, waitFor, sleep } from '../../tests/browser/fleet_harness.mjs';

const VEHICLES = Number(process.env.VEHICLES ?? 2000), SECONDS = Number(process.env.SECONDS ?? 8);
const fleet = await startFleet({ demo: false, overlays: true, settings: { ingest: { auto_register: true }, live: { queue_kb: 65536 } } });
const sim = await startSim(fleet, { vehicles: VEHICLES, args: ['--connections', '16'] });
const browser = await launch();
try {
  const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  const cdp = await page.context().newCDPSession(page);
  await login(page, fleet, fleet.admin);
  await waitFor(() => page.evaluate(() => Number(document.querySelector('.count')?.textContent.split(' of ')[1] ?? 0))
    .then((n) => n >= VEHICLES * 0.95), { timeout: 180000, every: 1000, what: 'the vehicles' });
  if (process.env.TRACE) { // the renderer's own work (style, layout, paint, raster) by event name
    await sleep(2000);
    await browser.startTracing(page, { categories: ['devtools.timeline', 'disabled-by-default-devtools.timeline'] });
    await sleep(SECONDS * 1000);
    const ev = JSON.parse((await browser.stopTracing()).toString()).traceEvents;
    const byName = new Map(), threads = new Map();
    for (const e of ev) if (e.ph === 'M' && e.name === 'thread_name') threads.set(`${e.pid}:${e.tid}`, e.args.name);
    for (const e of ev) {
      if (e.ph !== 'X' || !e.dur) continue;
      const k = `${threads.get(`${e.pid}:${e.tid}`) ?? e.tid} ${e.name}`;
      byName.set(k, (byName.get(k) ?? 0) + e.dur / 1000);
    }
    console.log([...byName].sort((a, b) => b[1] - a[1]).slice(0, 30).map(([n, ms]) => `  ${ms.toFixed(0).padStart(7)} ms  ${n}`).join('\n'));
    process.exit(0);
  }
  if (process.env.TIMELINE) { // a warm reload: when each file, request and step finished
    await page.reload();
    await sleep(SECONDS * 1000);
    console.log(await page.evaluate(() => [...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource'),
      ...performance.getEntriesByType('mark'), ...performance.getEntriesByName('live-update').slice(0, 1)]
      .sort((a, b) => a.startTime - b.startTime)
      .map((e) => `${e.startTime.toFixed(0).padStart(6)} → ${(e.startTime + e.duration).toFixed(0).padStart(6)} ms  ${e.entryType} ${e.name.replace(location.origin, '')} ${e.transferSize ?? ''}`)
      .join('\n')));
    process.exit(0);
  }
  await cdp.send('Profiler.enable');
  await cdp.send('Profiler.setSamplingInterval', { interval: 200 });
  if (process.env.LOAD) {
    await cdp.send('Profiler.start');
    await page.reload();
  } else {
    await sleep(2000);
    await cdp.send('Profiler.start');
  }
  await sleep(SECONDS * 1000);
  const { profile } = await cdp.send('Profiler.stop');
  const dt = new Map(); // node id -> sampled ms
  for (let i = 0; i < profile.samples.length; i++) dt.set(profile.samples[i], (dt.get(profile.samples[i]) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
  const byFn = new Map(), byUrl = new Map();
  for (const n of profile.nodes) {
    const ms = dt.get(n.id) ?? 0, cf = n.callFrame;
    const url = cf.url.replace(/^https?:\/\/[^/]+/, '') || `(${cf.functionName || 'native'})`;
    const fn = `${cf.functionName || '(anonymous)'} ${url}:${cf.lineNumber + 1}`;
    byFn.set(fn, (byFn.get(fn) ?? 0) + ms);
    byUrl.set(url, (byUrl.get(url) ?? 0) + ms);
  }
  const top = (m, k) => [...m].sort((a, b) => b[1] - a[1]).slice(0, k).map(([n, ms]) => `  ${ms.toFixed(0).padStart(7)} ms  ${n}`).join('\n');
  console.log(`${VEHICLES} vehicles, ${SECONDS} s${process.env.LOAD ? ' from a reload' : ''}; self time by function:\n${top(byFn, 25)}\nby URL:\n${top(byUrl, 12)}`);
} finally {
  await browser.close();
  await sim.stop();
  await fleet.stop();
}
