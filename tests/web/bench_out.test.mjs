// tests/web/bench_out.test.mjs — bench/dashboard/out_path.mjs: where
// `make bench-dashboard` writes its result (never over an earlier run's
// file unless OUT names it; .md always).
import test from 'node:test';
import assert from 'node:assert/strict';
import { resultPath } from '../../bench/dashboard/out_path.mjs';

const DATE = '2026-12-07T03:10:00.000Z';
const fsWith = (...names) => (p) => names.includes(p);

test('the default is the date, then -2, -3... when a same-day file exists', () => {
  assert.equal(resultPath({ dir: 'r', date: DATE, exists: fsWith() }), 'r/dashboard-2026-12-07.md');
  assert.equal(resultPath({ dir: 'r', date: DATE, exists: fsWith('r/dashboard-2026-12-07.md') }), 'r/dashboard-2026-12-07-2.md');
  assert.equal(resultPath({ dir: 'r', date: DATE, exists: fsWith('r/dashboard-2026-12-07.md', 'r/dashboard-2026-12-07-2.md') }),
    'r/dashboard-2026-12-07-3.md');
});

test('a label goes into the name, as a slug', () => {
  assert.equal(resultPath({ dir: 'r', date: DATE, label: 'busy machine', exists: fsWith() }), 'r/dashboard-2026-12-07-busy-machine.md');
  assert.equal(resultPath({ dir: 'r', date: DATE, label: ' Busy: 2 cores! ', exists: fsWith('r/dashboard-2026-12-07-busy-2-cores.md') }),
    'r/dashboard-2026-12-07-busy-2-cores-2.md');
});

test('OUT names the file; .md is appended when it lacks it', () => {
  assert.equal(resultPath({ dir: 'r', date: DATE, out: 'bench/results/x', exists: fsWith() }), 'bench/results/x.md');
  assert.equal(resultPath({ dir: 'r', date: DATE, out: '/tmp/y.md', exists: fsWith('/tmp/y.md') }), '/tmp/y.md');
});
