// tests/web/precompress.test.mjs — apps/fleet/web/tools/precompress.mjs:
// which files it compresses, that the .gz holds the same bytes, that an
// up-to-date .gz is kept and a stale one rewritten (node --test).
import test from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, existsSync, utimesSync, rmSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { servedFiles, precompress } from '../../apps/fleet/web/tools/precompress.mjs';

test('precompress: the served files, same bytes, fresh kept, stale rewritten, tiny skipped', (t) => {
  const root = mkdtempSync(join(tmpdir(), 'weft-gz-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const big = 'const x = "' + 'fleet '.repeat(500) + '";\n';
  mkdirSync(join(root, 'src/pages'), { recursive: true });
  mkdirSync(join(root, 'node_modules/@s/lib/dist'), { recursive: true });
  mkdirSync(join(root, 'node_modules/other/dist'), { recursive: true });
  writeFileSync(join(root, 'index.html'), `<script src="/vendor/@s/lib@1.0.0/dist/lib.js"></script><script type="module" src="/src/app.js"></script>${' '.repeat(400)}`);
  writeFileSync(join(root, 'src/app.js'), big + "fetch('/vendor/other@2.0.0/dist/data.json');\n");
  writeFileSync(join(root, 'src/pages/p.js'), big);
  writeFileSync(join(root, 'src/tiny.js'), 'x');
  writeFileSync(join(root, 'src/pic.png'), big);
  writeFileSync(join(root, 'node_modules/@s/lib/dist/lib.js'), big);
  writeFileSync(join(root, 'node_modules/other/dist/data.json'), JSON.stringify({ a: big }));
  writeFileSync(join(root, 'node_modules/other/dist/unused.js'), big);

  const files = servedFiles(root).map((f) => f.slice(root.length + 1)).sort();
  assert.deepEqual(files, ['index.html', 'node_modules/@s/lib/dist/lib.js', 'node_modules/other/dist/data.json',
    'src/app.js', 'src/pages/p.js', 'src/tiny.js']);

  const r1 = precompress(servedFiles(root));
  assert.deepEqual([r1.written, r1.fresh, r1.skipped], [5, 0, 1]);
  assert.ok(r1.gzBytes < r1.bytes / 4, `${r1.gzBytes} of ${r1.bytes}`);
  for (const f of ['src/app.js', 'node_modules/@s/lib/dist/lib.js'])
    assert.deepEqual(gunzipSync(readFileSync(join(root, f + '.gz'))), readFileSync(join(root, f)));
  assert.ok(!existsSync(join(root, 'src/tiny.js.gz')), 'a .gz that is not smaller is not written');
  assert.ok(!existsSync(join(root, 'src/pic.png.gz')) && !existsSync(join(root, 'node_modules/other/dist/unused.js.gz')));

  const r2 = precompress(servedFiles(root));
  assert.deepEqual([r2.written, r2.fresh], [0, 5], 'a second run keeps every .gz');

  writeFileSync(join(root, 'src/app.js'), big + "fetch('/vendor/other@2.0.0/dist/data.json'); // edited\n");
  const old = new Date(Date.now() - 60000);
  utimesSync(join(root, 'src/app.js.gz'), old, old);
  const r3 = precompress(servedFiles(root));
  assert.deepEqual([r3.written, r3.fresh], [1, 4], 'the edited file is compressed again');
  assert.match(gunzipSync(readFileSync(join(root, 'src/app.js.gz'))).toString(), /edited/);
});
