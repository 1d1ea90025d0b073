// tools/precompress.mjs — writes <file>.gz beside each file the dashboard
// serves, so weft fleet answers a gzip-accepting browser with it
// (weft_http_static_gz; a .gz older than its file is ignored there). Run by
// `make run`, `make test` and `make bench-dashboard` after npm ci; the
// outputs are build products (.gitignore), never committed.
//
//   node apps/fleet/web/tools/precompress.mjs [web root] [extra files...]
//
// Files: index.html, src/**/*.{js,css,html,json}, and every
// /vendor/<pkg>@<version>/<path> that index.html or src/ names (served from
// node_modules/<pkg>/<path>), plus the extra files (e.g. the roads overlay).
// A .gz that is newer than its file is kept; one that would not be smaller
// is not written (and a stale one removed).
import { readFileSync, writeFileSync, readdirSync, statSync, renameSync, rmSync, existsSync } from 'node:fs';
import { gzipSync, constants } from 'node:zlib';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const TEXT = /\.(js|mjs|css|html|json|geojson|svg)$/;

function walk(dir, out = []) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else if (TEXT.test(e.name)) out.push(p);
  }
  return out;
}

// The files under root the dashboard serves (see the header).
export function servedFiles(root) {
  const own = [join(root, 'index.html'), ...(existsSync(join(root, 'src')) ? walk(join(root, 'src')) : [])];
  const vendor = new Set();
  for (const f of own) {
    for (const [, pkg, path] of readFileSync(f, 'utf8').matchAll(/\/vendor\/((?:@[^/"'`\s]+\/)?[^/@"'`\s]+)@[^/"'`\s]+\/([^"'`\s)]+)/g)) {
      const p = join(root, 'node_modules', pkg, path);
      if (TEXT.test(p) && existsSync(p)) vendor.add(p);
    }
  }
  return [...own.filter((f) => existsSync(f)), ...vendor];
}

// Compress each file whose .gz is missing or older. Returns counts and bytes.
export function precompress(files) {
  const r = { written: 0, fresh: 0, skipped: 0, bytes: 0, gzBytes: 0 };
  for (const f of files) {
    const gz = f + '.gz', st = statSync(f);
    if (existsSync(gz) && statSync(gz).mtimeMs >= st.mtimeMs) { r.fresh++; continue; }
    const data = readFileSync(f), z = gzipSync(data, { level: constants.Z_BEST_COMPRESSION });
    if (z.length >= data.length * 0.95) { rmSync(gz, { force: true }); r.skipped++; continue; }
    writeFileSync(gz + '.tmp', z);
    renameSync(gz + '.tmp', gz);
    r.written++;
    r.bytes += data.length;
    r.gzBytes += z.length;
  }
  return r;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = resolve(process.argv[2] ?? fileURLToPath(new URL('..', import.meta.url)));
  const r = precompress([...servedFiles(root), ...process.argv.slice(3).filter((f) => existsSync(f))]);
  console.log(`precompress: ${r.written} written (${r.bytes} -> ${r.gzBytes} bytes), ${r.fresh} up to date, ${r.skipped} not worth it`);
}
