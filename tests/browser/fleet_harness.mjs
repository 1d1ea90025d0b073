// tests/browser/fleet_harness.mjs — what the dashboard's end-to-end tests
// share: a real weft fleet server and fleet-sim on free ports, Debian's
// Chromium driven by playwright-core (from apps/fleet/web's node_modules,
// `npm ci` there), sign-in and screenshot helpers, and a small test runner.
//
//   import { startFleet, startSim, launch, login, shot, waitFor, suite } from './fleet_harness.mjs';
//   const fleet = await startFleet({ demo: true });          // admin + demo users, own data dir
//   const sim = await startSim(fleet, { vehicles: 20 });
//   const browser = await launch();
//   const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
//   await login(page, fleet, fleet.admin);                    // waits for the live view
//   await shot(page, 'map');                                  // <out>/map.png
//   ... sim.stop(); await fleet.stop(); await browser.close();
//
// Output directory: $WEFT_TEST_OUT, else build/test-out/browser. Binaries:
// build/apps/fleet and build/apps/fleet-sim ($WEFT_BUILD overrides build/).
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdirSync, mkdtempSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const BUILD = resolve(ROOT, process.env.WEFT_BUILD ?? 'build');
export const OUT = resolve(ROOT, process.env.WEFT_TEST_OUT ?? 'build/test-out/browser');
const webRequire = createRequire(join(ROOT, 'apps/fleet/web/package.json'));
const { chromium } = webRequire('playwright-core');

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A free TCP port on 127.0.0.1 (bound then released).
export function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => res(port)); });
  });
}

// Poll fn until it returns a truthy value (returned) or timeout ms pass.
export async function waitFor(fn, { timeout = 15000, every = 100, what = 'condition' } = {}) {
  const end = Date.now() + timeout;
  let last;
  while (Date.now() < end) {
    try { const v = await fn(); if (v) return v; } catch (e) { last = e; }
    await sleep(every);
  }
  throw new Error(`timed out after ${timeout} ms waiting for ${what}${last ? ': ' + last.message : ''}`);
}

function spawnLogged(bin, args, env, logFile) {
  const child = spawn(bin, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const keep = (d) => { log += d; };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  child.on('exit', () => { if (logFile) writeFileSync(logFile, log); });
  return { child, log: () => log };
}

function stopChild(child, ms = 5000) {
  return new Promise((res) => {
    if (child.exitCode !== null || child.signalCode) return res();
    const t = setTimeout(() => child.kill('SIGKILL'), ms);
    child.once('exit', () => { clearTimeout(t); res(); });
    child.kill('SIGTERM');
  });
}

// A weft fleet server on free ports with its own data dir (SQLite).
// opts: demo (default true), settings (merged into fleet.json), overlays
// (default: the simulator's roads exported into <data>/overlays).
// Returns { base, port, osmandPort, teltonikaPort, dataDir, admin, manager,
// viewer, log(), stop(), restart() }.
export async function startFleet(opts = {}) {
  mkdirSync(OUT, { recursive: true });
  const dataDir = mkdtempSync(join(tmpdir(), 'weft-dash-'));
  const [port, osmandPort, teltonikaPort] = [await freePort(), await freePort(), await freePort()];
  const admin = { email: 'admin@example.com', password: 'dashboard-admin-pw' };
  const settings = { auth: { login_attempts_per_min: 1000 }, ...(opts.settings ?? {}) };
  writeFileSync(join(dataDir, 'fleet.json'), JSON.stringify(settings));
  if (opts.overlays !== false) {
    mkdirSync(join(dataDir, 'overlays'), { recursive: true });
    const roads = join(dataDir, 'overlays/roads.geojson');
    await run(join(BUILD, 'apps/fleet-sim'), ['--export-roads', roads]);
    writeFileSync(roads + '.gz', gzipSync(readFileSync(roads))); // as make run does (tools/precompress.mjs)
  }
  const env = {
    WEFT_FLEET_DEMO: opts.demo === false ? '0' : '1',
    WEFT_FLEET_ADMIN_EMAIL: admin.email, WEFT_FLEET_ADMIN_PASSWORD: admin.password,
  };
  const args = ['--config', join(dataDir, 'fleet.json'), '--data-dir', dataDir, '--port', String(port),
    '--osmand-port', String(osmandPort), '--teltonika-port', String(teltonikaPort)];
  const fleet = { base: `http://127.0.0.1:${port}`, port, osmandPort, teltonikaPort, dataDir, admin };
  let proc, n = 0;
  const boot = async () => {
    proc = spawnLogged(join(BUILD, 'apps/fleet'), args, env, join(OUT, `fleet-server-${n++}.log`));
    await waitFor(() => /^listening on /m.test(proc.log()) || (proc.child.exitCode !== null && Promise.reject(new Error(proc.log()))),
      { timeout: 15000, what: 'weft fleet to listen' });
  };
  await boot();
  for (const who of ['manager', 'viewer']) {
    const m = proc.log().match(new RegExp(`demo: ${who} (\\S+) password (\\S+)`));
    if (m) fleet[who] = { email: m[1], password: m[2] };
  }
  fleet.log = () => proc.log();
  fleet.stop = async ({ keep = false } = {}) => { await stopChild(proc.child); if (!keep) rmSync(dataDir, { recursive: true, force: true }); };
  fleet.restart = async (downMs = 0) => { await stopChild(proc.child); await sleep(downMs); await boot(); };
  return fleet;
}

function run(bin, args) {
  return new Promise((res, rej) => {
    const c = spawn(bin, args, { stdio: 'ignore' });
    c.on('exit', (code) => (code === 0 ? res() : rej(new Error(`${bin} ${args.join(' ')}: exit ${code}`))));
    c.on('error', rej);
  });
}

// fleet-sim against fleet: opts.vehicles (10), opts.args (more options).
export async function startSim(fleet, opts = {}) {
  const args = ['--host', '127.0.0.1', '--osmand-port', String(fleet.osmandPort), '--teltonika-port',
    String(fleet.teltonikaPort), '--vehicles', String(opts.vehicles ?? 10), '--duration', '0', '--quiet',
    ...(opts.args ?? [])];
  const p = spawnLogged(join(BUILD, 'apps/fleet-sim'), args, {}, join(OUT, 'fleet-sim.log'));
  return { log: p.log, stop: () => stopChild(p.child, 8000) };
}

// Debian's Chromium, headless, no sandbox, no background networking.
export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--headless=new', '--disable-background-networking', '--disable-component-update',
      '--disable-default-apps', '--no-first-run', '--disable-sync'],
  });
}

// Sign in through the form; resolves when the live view is there.
export async function login(page, fleet, who) {
  await page.goto(fleet.base + '/');
  await page.fill('#email', who.email);
  await page.fill('#password', who.password);
  await page.click('form.login button[type=submit]');
  await page.waitForSelector('header.top .user-name', { timeout: 15000 });
}

export async function shot(page, name) {
  mkdirSync(OUT, { recursive: true });
  const file = join(OUT, `${name}.png`);
  await page.screenshot({ path: file });
  return file;
}

// A tiny runner: suite(name) gives test(name, fn) and done() which prints
// "<name>: N passed, N failed" and sets the exit code.
export function suite(name) {
  let passed = 0, failed = 0;
  return {
    async test(title, fn) {
      const t0 = Date.now();
      try { await fn(); passed++; console.log(`  ok   ${title} (${Date.now() - t0} ms)`); }
      catch (e) { failed++; console.log(`  FAIL ${title}: ${e.stack ?? e}`); }
    },
    done() { console.log(`${name}: ${passed} passed, ${failed} failed`); process.exitCode = failed ? 1 : 0; return failed; },
  };
}


// Text whose contrast with its background is below WCAG 2's minimum (4.5:1,
// 3:1 for large text: 24 px, or 18.66 px bold), among the visible elements
// under the selectors' roots that hold text themselves. The background is
// every ancestor's background colour composited from the root down (white
// under all); opacity along the way fades the text into it. Background
// images and the map are not looked at. Returns [{text, ratio, need, fg, bg}].
export function contrastProblems(page, selectors) {
  return page.evaluate((sel) => {
    const rgba = (c) => {
      const m = /rgba?\(([^)]+)\)/.exec(c);
      if (!m) return null;
      const [r, g, b, a = 1] = m[1].split(/[\s,/]+/).filter(Boolean).map(Number);
      return [r, g, b, a];
    };
    const over = (top, under, a = top[3]) => [0, 1, 2].map((i) => top[i] * a + under[i] * (1 - a)).concat(1);
    const lum = (c) => {
      const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
      return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]);
    };
    const out = [];
    for (const root of document.querySelectorAll(sel.join(','))) {
      for (const el of [root, ...root.querySelectorAll('*')]) {
        if (![...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim())) continue;
        if (el.tagName === 'OPTION' || el.closest('[disabled],[hidden]')) continue;
        const box = el.getBoundingClientRect();
        const cs = getComputedStyle(el);
        if (!box.width || !box.height || cs.visibility !== 'visible') continue;
        const chain = [];
        for (let e = el; e; e = e.parentElement) chain.unshift(e);
        let bg = [255, 255, 255, 1], opacity = 1;
        for (const e of chain) {
          const s = getComputedStyle(e), c = rgba(s.backgroundColor);
          opacity *= Number(s.opacity);
          if (c && c[3] > 0) bg = over(c, bg);
        }
        const fg = over(rgba(cs.color), bg, rgba(cs.color)[3] * opacity);
        const [hi, lo] = [lum(fg), lum(bg)].sort((a, b) => b - a);
        const ratio = (hi + 0.05) / (lo + 0.05);
        const px = parseFloat(cs.fontSize), bold = Number(cs.fontWeight) >= 700;
        const need = px >= 24 || (bold && px >= 18.66) ? 3 : 4.5;
        if (ratio < need) out.push({ text: el.textContent.trim().slice(0, 40), ratio: Math.round(ratio * 100) / 100, need, fg: fg.slice(0, 3).map(Math.round).join(','), bg: bg.slice(0, 3).map(Math.round).join(',') });
      }
    }
    return out;
  }, selectors);
}
