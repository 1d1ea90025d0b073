// bench/dashboard/out_path.mjs — where run.mjs writes its result file
// (tests/web/bench_out.test.mjs).
//
// OUT=path: that file, with ".md" appended when it lacks it (OUT=x wrote a
// file named x before). Without OUT: bench/results/dashboard-<date>[-label].md,
// and when a file of that name exists already (an earlier run the same day),
// the first free one of -2.md, -3.md, ... : a run never overwrites another's
// result unless OUT names it.
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export function resultPath({ dir, date, out, label, exists = existsSync }) {
  if (out) return out.endsWith('.md') ? out : `${out}.md`;
  const slug = (label ?? '').toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
  const base = join(dir, `dashboard-${date.slice(0, 10)}${slug ? `-${slug}` : ''}`);
  if (!exists(`${base}.md`)) return `${base}.md`;
  for (let n = 2; ; n++) if (!exists(`${base}-${n}.md`)) return `${base}-${n}.md`;
}
