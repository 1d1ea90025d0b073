"""What the arena scripts (bench/run-http.sh, bench/run-db.sh) share when they
write their results: reading the work directory the bash part filled (meta,
results, status, notes, cmds, crates, gomods, and rounds.json when the runs
were repeated in rounds) and Markdown tables with the ratio of every program
to weft.

Rounds and parity: a measurement repeated in R rounds is shown as its median
and its min-max over the rounds. Two programs whose min-max ranges overlap
are within each other's noise: the report calls that difference "parity"
instead of a ratio that the data cannot tell from chance. Imported with
PYTHONPATH=bench/tools.
"""
import json
import os
import statistics
from collections import Counter


def aggregate_rounds(work, stat="median"):
    """Read WORK/results.rounds ("round prog metric value" lines), append each
    (prog, metric)'s median (or mean) over the rounds to WORK/results, and
    write every round's values to WORK/rounds.json ({prog: {metric: [..]}})."""
    vals = {}
    path = f"{work}/results.rounds"
    if os.path.exists(path):
        for line in open(path):
            _, p, m, v = line.split(maxsplit=3)
            v = v.strip()
            try:
                v = float(v)
            except ValueError:
                pass
            vals.setdefault(p, {}).setdefault(m, []).append(v)
    with open(f"{work}/results", "a") as out:
        for p, ms in vals.items():
            for m, vs in ms.items():
                nums = [v for v in vs if isinstance(v, float)]
                if len(nums) == len(vs):
                    v = statistics.median(nums) if stat == "median" else sum(nums) / len(nums)
                else:
                    v = vs[-1]
                out.write(f"{p} {m} {v}\n")
    json.dump(vals, open(f"{work}/rounds.json", "w"))
    return vals

LABEL = {"weft": "weft (tfb app)", "weft_pq18": "weft, libpq 18", "nethttp": "Go net/http", "fiber": "Go Fiber v2",
         "actix": "Rust actix-web", "axum": "Rust axum", "may_minihttp": "Rust may_minihttp",
         "nethttp_batch": "Go net/http, pgx Batch", "weft-old": "weft, old build (BASELINE_BIN)"}


def best_pool(work, tests):
    """The pool-size sweep of bench/run-db.sh: WORK/results.rounds holds
    "round prog@pool metric value" lines. For each program and test, the pool
    with the highest median req/s (wrk_<test>_rps) is its best: that pool's
    medians of the test's metrics go to WORK/results with best_pool_<test>,
    its per-round values to WORK/rounds.json; the metrics that are not a
    test's (pg_conns, vacuum_s, ...) come from the pool most tests chose.
    The medians of every (program, pool) go to WORK/sweep.json."""
    vals = {}  # prog -> pool -> metric -> [per-round values]
    path = f"{work}/results.rounds"
    if os.path.exists(path):
        for line in open(path):
            _, pp, m, v = line.split(maxsplit=3)
            p, _, pool = pp.rpartition("@")
            v = v.strip()
            try:
                v = float(v)
            except ValueError:
                pass
            vals.setdefault(p, {}).setdefault(int(pool), {}).setdefault(m, []).append(v)

    def med(vs):
        nums = [v for v in vs if isinstance(v, float)]
        return statistics.median(nums) if nums and len(nums) == len(vs) else vs[-1]

    sweep = {p: {pool: {m: med(vs) for m, vs in ms.items()} for pool, ms in pools.items()}
             for p, pools in vals.items()}
    rounds = {}
    with open(f"{work}/results", "a") as out:
        for p, pools in vals.items():
            best = {}
            for t in tests:
                cands = [(sweep[p][pool][f"wrk_{t}_rps"], pool) for pool in pools
                         if isinstance(sweep[p][pool].get(f"wrk_{t}_rps"), float)]
                if not cands:
                    continue
                best[t] = max(cands)[1]
                out.write(f"{p} best_pool_{t} {best[t]}\n")
                for m, vs in pools[best[t]].items():
                    if m.startswith(f"wrk_{t}_"):
                        out.write(f"{p} {m} {med(vs)}\n")
                        rounds.setdefault(p, {})[m] = vs
            chosen = Counter(best.values()).most_common(1)
            pool = chosen[0][0] if chosen else min(pools)
            for m, vs in pools[pool].items():
                if not m.startswith("wrk_"):
                    out.write(f"{p} {m} {med(vs)}\n")
                    rounds.setdefault(p, {})[m] = vs
    json.dump(rounds, open(f"{work}/rounds.json", "w"))
    json.dump(sweep, open(f"{work}/sweep.json", "w"))
    return sweep


class Arena:
    def __init__(self, work, progs):
        self.work = work
        self.progs = progs
        self.meta = {}
        for line in open(f"{work}/meta"):
            k, _, v = line.rstrip("\n").partition("=")
            self.meta[k] = v
        self.res = {p: {} for p in progs}
        for line in open(f"{work}/results"):
            p, m, v = line.split(maxsplit=2)
            v = v.strip()
            try:
                v = float(v)
            except ValueError:
                pass
            self.res.setdefault(p, {})[m] = v
        self.status = {p: {} for p in progs}
        for line in open(f"{work}/status"):
            p, phase, why = (line.rstrip("\n").split(" ", 2) + ["", ""])[:3]
            self.status.setdefault(p, {})[phase] = why
        self.notes = list(dict.fromkeys(l.rstrip("\n") for l in open(f"{work}/notes") if l.strip()))
        self.cmds = list(dict.fromkeys(l.rstrip("\n") for l in open(f"{work}/cmds")))
        self.crates = dict(l.split()[:2] for l in open(f"{work}/crates") if l.strip())
        self.gomods = dict(l.split()[:2] for l in open(f"{work}/gomods") if len(l.split()) >= 2)
        self.rounds = json.load(open(f"{work}/rounds.json")) if os.path.exists(f"{work}/rounds.json") else {}
        self.out = []

    def w(self, line=""):
        self.out.append(line)

    def get(self, p, m):
        v = self.res.get(p, {}).get(m)
        return v if isinstance(v, float) else None

    def why_na(self, p, phase_prefix=""):
        st = self.status.get(p, {})
        for ph in ("build", "start", "check"):
            if ph in st:
                return st[ph]
        for ph, why in st.items():
            if ph.startswith(phase_prefix):
                return why
        return ""

    def not_measured(self):
        """The programs that failed before any measurement (build, start, check)."""
        return [p for p in self.progs if any(ph in self.status.get(p, {}) for ph in ("build", "start", "check"))]

    @staticmethod
    def fmt(v, kind):
        if v is None:
            return "n/a"
        if kind in ("rps", "int"):
            return f"{v:,.0f}"
        if kind == "mb":
            return f"{v / 1024:.1f}"
        if v >= 100:
            return f"{v:.0f}"
        if v >= 10:
            return f"{v:.1f}"
        return f"{v:.2f}" if v >= 1 else f"{v:.3f}"

    def ratio(self, p, m):
        a, b = self.get(p, m), self.get("weft", m)
        if a is None or b is None or b == 0:
            return None
        return a / b

    @staticmethod
    def fr(r):
        return "n/a" if r is None else f"{r:.2f}×"

    def heading(self, title, explain=None):
        self.w(f"## {title}")
        self.w()
        if explain:
            self.w(explain)
            self.w()

    def table(self, title, cols, explain=None):
        """cols: (header, metric, kind, with_ratio) tuples; one row per program."""
        w = self.w
        self.heading(title, explain)
        hdr = ["program"]
        for h, m, k, r in cols:
            hdr.append(h)
            if r:
                hdr.append(f"{h}: ratio to weft")
        w("| " + " | ".join(hdr) + " |")
        w("|---" + "|---:" * (len(hdr) - 1) + "|")
        for p in self.progs:
            row = [LABEL[p]]
            for h, m, k, r in cols:
                row.append(self.fmt(self.get(p, m), k))
                if r:
                    row.append(self.fr(self.ratio(p, m)))
            w("| " + " | ".join(row) + " |")
        w()

    def matrix(self, title, runs, metric, kind, explain=None, ratio=True):
        """One metric over several runs: a row per program, a column per run
        (runs: (key, header) pairs; the metric is metric.format(run=key)),
        each cell the value and, when ratio, its ratio to weft."""
        w = self.w
        self.heading(title, explain)
        w("| program | " + " | ".join(h for _, h in runs) + " |")
        w("|---" + "|---:" * len(runs) + "|")
        for p in self.progs:
            row = [LABEL[p]]
            for key, _ in runs:
                m = metric.format(run=key)
                cell = self.fmt(self.get(p, m), kind)
                if ratio and p != "weft" and self.get(p, m) is not None:
                    cell += f" ({self.fr(self.ratio(p, m))})"
                row.append(cell)
            w("| " + " | ".join(row) + " |")
        w()

    def runs_of(self, p, m):
        """The per-round values of p's metric m (floats), [] when not in rounds."""
        return [v for v in self.rounds.get(p, {}).get(m, []) if isinstance(v, float)]

    def verdict(self, p, m, higher_better=True):
        """p against weft on metric m over the rounds: "parity" when the two
        min-max ranges overlap (the difference is inside the noise band),
        else "faster"/"slower" (higher_better: req/s) or "less"/"more"
        (lower is better: CPU, latency); None without two rounds each."""
        a, b = self.runs_of(p, m), self.runs_of("weft", m)
        if len(a) < 2 or len(b) < 2:
            return None
        if min(a) <= max(b) and min(b) <= max(a):
            return "parity"
        above = min(a) > max(b)
        if higher_better:
            return "faster" if above else "slower"
        return "more" if above else "less"

    def rounds_matrix(self, title, runs, metric, kind, higher_better=True, explain=None):
        """Like matrix(), over rounds: each cell is the median, its min-max over
        the rounds, and against weft the ratio of medians with the verdict
        (parity when the ranges overlap)."""
        w = self.w
        self.heading(title, explain)
        w("| program | " + " | ".join(h for _, h in runs) + " |")
        w("|---" + "|---:" * len(runs) + "|")
        for p in self.progs:
            row = [LABEL[p]]
            for key, _ in runs:
                m = metric.format(run=key)
                v = self.get(p, m)
                cell = self.fmt(v, kind)
                rs = self.runs_of(p, m)
                if len(rs) > 1:
                    cell += f" ({self.fmt(min(rs), kind)}–{self.fmt(max(rs), kind)})"
                if p != "weft" and v is not None:
                    vd = self.verdict(p, m, higher_better)
                    r = self.ratio(p, m)
                    cell += f"; {self.fr(r)}" + (f" **{vd}**" if vd == "parity" else (f" {vd}" if vd else ""))
                row.append(cell)
            w("| " + " | ".join(row) + " |")
        w()

    def old_vs_new(self, runs, title, explain, old="weft-old", new="weft"):
        """An old/new A/B of one program (bench/run-db.sh BASELINE_BIN): per
        run, each side's best pool, req/s and server CPU per request with
        their min-max over the rounds, new/old, and the verdict from the new
        build's side. A verdict needs the two ranges apart (verdict()); a
        ratio alone is not one, and a regression is said in bold."""
        rps_words = {"faster": "**new slower (regression)**", "slower": "new faster", "parity": "parity"}
        cpu_words = {"more": "new uses less", "less": "**new uses more (regression)**", "parity": "parity"}

        def figure(p, m):
            kind = "rps" if m.endswith("_rps") else "f"
            rs = self.runs_of(p, m)
            return self.fmt(self.get(p, m), kind) + (
                f" ({self.fmt(min(rs), kind)}–{self.fmt(max(rs), kind)})" if len(rs) > 1 else "")

        def judged(m, words):
            a, b = self.get(new, m), self.get(old, m)
            if a is None or not b:
                return "n/a"
            vd = self.verdict(old, m, m.endswith("_rps"))  # old against new: the words turn it round
            return f"{a / b:.2f}× " + words.get(vd, "(fewer than 2 rounds: no verdict)")

        self.heading(title, explain)
        self.w("| test | pool new / old | req/s new | req/s old | new/old | CPU µs/req new | CPU µs/req old | new/old |")
        self.w("|---|---:|---:|---:|---|---:|---:|---|")
        for key, head in runs:
            rps, cpu = f"wrk_{key}_rps", f"wrk_{key}_cpu_us_per_req"
            pools = " / ".join(self.fmt(self.get(p, f"best_pool_{key}"), "int") for p in (new, old))
            self.w(f"| {head} | {pools} | {figure(new, rps)} | {figure(old, rps)} | {judged(rps, rps_words)} | "
                   f"{figure(new, cpu)} | {figure(old, cpu)} | {judged(cpu, cpu_words)} |")
        self.w()

    def failures(self):
        w = self.w
        w("## Runs that did not succeed")
        w()
        anyf = False
        for p in self.progs:
            for ph, why in self.status.get(p, {}).items():
                w(f"- {LABEL[p]} ({ph}): {why}")
                anyf = True
        if not anyf:
            w("- none")
        w()
        if self.notes:
            w("## Notes")
            w()
            for n in self.notes:
                w(f"- {n}")
            w()

    def versions(self, tools, crates, mods):
        """The machine and versions section: tools are meta keys (go, rustc, ...)."""
        m, w = self.meta, self.w
        w("## Machine and versions")
        w()
        w(f"- CPU: {m['cpu_model']}; nproc: {m['nproc']}; memory: {m['memory']}; kernel: {m['kernel']}; ulimit -n: {m['ulimit_n']}")
        w("- " + "; ".join(m[t] for t in tools if t in m))
        w("- crates (Cargo.lock): " + ", ".join(f"{c} {self.crates[c]}" for c in crates if c in self.crates))
        w("- Go modules (go.mod): " + ", ".join(f"{x} {self.gomods[x]}" for x in mods if x in self.gomods))
        w(f"- weft commit: {m['weft_commit']}")

    def commands(self):
        w = self.w
        w("## Exact commands")
        w()
        w("```")
        w(f"{self.meta['command']}   # environment: {self.meta['env'] or '(no BENCH_* knobs)'}")
        for c in self.cmds:
            w(c)
        w("```")

    def write_md(self, path):
        open(path, "w").write("\n".join(self.out) + "\n")
