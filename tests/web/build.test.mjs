// tests/web/build.test.mjs — the dashboard as shipped: the app's own
// JavaScript stays small (issue 12: <= 150 KB minified, measured with
// esbuild from apps/fleet/web's devDependencies), and index.html loads the
// library versions the lockfile installs (the server refuses any other).
import test from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const WEB = fileURLToPath(new URL('../../apps/fleet/web/', import.meta.url));
const req = createRequire(WEB + 'package.json');

test('the app JavaScript, bundled and minified, is at most 150 KB', async (t) => {
  let esbuild;
  try { esbuild = req('esbuild'); } catch { return t.skip('esbuild not installed (npm ci in apps/fleet/web)'); }
  const r = await esbuild.build({ entryPoints: [WEB + 'src/app.js'], bundle: true, minify: true, write: false,
    format: 'esm', logLevel: 'silent' });
  const bytes = r.outputFiles.reduce((n, f) => n + f.contents.length, 0);
  t.diagnostic(`app.js bundle: ${bytes} bytes minified`);
  assert.ok(bytes > 5000, `suspiciously small bundle: ${bytes}`);
  assert.ok(bytes <= 150 * 1024, `${bytes} bytes > 150 KB`);
});

test('index.html names the installed versions of its libraries', () => {
  const html = readFileSync(WEB + 'index.html', 'utf8');
  const lock = JSON.parse(readFileSync(WEB + 'package-lock.json', 'utf8'));
  const refs = [...html.matchAll(/\/vendor\/((?:@[^/]+\/)?[^/@]+)@([^/]+)\//g)];
  assert.ok(refs.length >= 4, `vendor URLs in index.html: ${refs.length}`);
  for (const [, name, ver] of refs) assert.equal(lock.packages[`node_modules/${name}`]?.version, ver, name);
  // and so does every module that loads one itself (map.js: world-atlas; app.js: the drawing plugin, on demand)
  let named = 0;
  for (const f of readdirSync(WEB + 'src', { recursive: true }).filter((f) => f.endsWith('.js'))) {
    for (const [, name, ver] of readFileSync(WEB + 'src/' + f, 'utf8').matchAll(/\/vendor\/((?:@[^/]+\/)?[^/@]+)@([^/]+)\//g)) {
      assert.equal(lock.packages[`node_modules/${name}`]?.version, ver, `${name} in src/${f}`);
      named++;
    }
  }
  assert.ok(named >= 3, `vendor URLs in src/: ${named}`);
});

test('index.html preloads every module app.js imports (no module waterfall on first load)', async (t) => {
  let esbuild;
  try { esbuild = req('esbuild'); } catch { return t.skip('esbuild not installed (npm ci in apps/fleet/web)'); }
  const r = await esbuild.build({ entryPoints: [WEB + 'src/app.js'], bundle: true, write: false, metafile: true,
    format: 'esm', logLevel: 'silent' });
  // the static imports reachable from app.js (pages/*.js load on their route, by import())
  const seen = new Set(), todo = Object.keys(r.metafile.inputs).filter((p) => p.endsWith('src/app.js'));
  while (todo.length) {
    const p = todo.pop();
    if (seen.has(p)) continue;
    seen.add(p);
    for (const i of r.metafile.inputs[p].imports) if (i.kind === 'import-statement' && !i.external) todo.push(i.path);
  }
  const imported = [...seen].map((p) => '/' + p.slice(p.indexOf('src/'))).sort();
  const html = readFileSync(WEB + 'index.html', 'utf8');
  const preloaded = [...html.matchAll(/<link rel="modulepreload" href="([^"]+)">/g)].map((m) => m[1]).sort();
  assert.ok(imported.length >= 8, `imports: ${imported}`);
  assert.deepEqual(preloaded, imported);
});
