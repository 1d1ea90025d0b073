"""The arena report: the Go-vs-Rust table our users read (the articles in
/work/shared/articles, 001's benchmark table and the Discord and logistics
cases of 000 and 003), each row showing what the article claims next to what
this machine measured for weft (C), Go and Rust, as bench/results/report.md
and a self-contained bench/results/report.html (inline SVG charts drawn here,
no JavaScript, no external files).

It measures nothing itself: it reads the JSON files the bench/run-*.sh
scripts wrote (`make bench` runs them, bench/run-report.sh), by default the
newest of each kind in bench/results/, or the files named on the command line.
A row whose file is missing says "not measured in this run" and the command
that measures it; no figure is ever filled in from anywhere else.

Comparisons: each language is represented by its best program in the row
(the fastest Go server of net/http and Fiber, say), named in the row. A value
that was repeated (rounds, runs, passes) has a min-max; when weft's min-max
and a peer's overlap the difference is inside the noise band and the report
says "parity" instead of a ratio's verdict. Ratio = peer / weft always. A
figure that measured the load generator rather than the server (wrk at 0.9
of its core or more for a req/s column; a tracking cell whose generator was
that busy) gets no verdict, and the row says why.

    python3 bench/tools/report.py [--results DIR] [--out DIR] [--label TEXT]
        [--mode quick|full] [--http F] [--db F] [--json F] [--binsearch F]
        [--build F] [--gc F] [--tracking F] [--from-results]

--from-results (make bench-report) rewrites the report from the newest
committed file of each kind without running anything; `make bench` names
the files its steps wrote, and the report says which rows were measured in
that run and which come from committed files (with their dates).
"""
import argparse
import glob
import html
import json
import os
import re
import statistics
import subprocess
import sys

LANGS = ("weft", "go", "rust")
LANG_LABEL = {"weft": "weft (C)", "go": "Go", "rust": "Rust"}
COLOR = {"weft": "#1f6f8b", "go": "#00a0c0", "rust": "#b7410e"}
KINDS = ("http", "db", "json", "binsearch", "build", "gc", "tracking")
# how each kind is measured, for a row that has no file
MAKE_TARGET = {"http": "make bench-http", "db": "make bench-db", "json": "make bench-json",
               "binsearch": "make bench-binsearch", "build": "make bench-build",
               "gc": "make bench-gc", "tracking": "make bench-tracking"}

# program name -> (language, label); names the scripts write
PROGRAMS = {
    "weft": ("weft", "weft"), "c": ("weft", "C on weft's build"),
    "nethttp": ("go", "net/http"), "fiber": ("go", "Fiber v2"), "nethttp_batch": ("go", "net/http, pgx Batch"),
    "actix": ("rust", "actix-web"), "axum": ("rust", "axum"), "may_minihttp": ("rust", "may_minihttp"),
    "encoding_json": ("go", "encoding/json"), "go_json": ("go", "goccy/go-json"),
    "serde_json": ("rust", "serde_json"), "simd_json": ("rust", "simd-json"), "sonic_rs": ("rust", "sonic-rs"),
    "go": ("go", "Go"), "rust": ("rust", "Rust"),
    "fleet": ("weft", "weft fleet platform"), "go-gogc": ("go", "Go, GOGC=400"),
    "go-ptr": ("go", "Go, map of pointers"),
}


def lang_of(name):
    """The language of a program name, also for names other engineers' scripts
    choose (weft-min, go-nethttp, rust-axum, fleet...); None when unknown,
    and None for the old side of an A/B (weft-old, weft-base, fleet-old,
    baseline): an older build is no language's program, and in a language's
    column it could stand for weft whenever it measured better."""
    if name in PROGRAMS:
        return PROGRAMS[name][0]
    n = name.lower()
    if is_baseline(n):
        return None
    if "weft" in n or "fleet" in n or n.startswith("c_") or n == "c":
        return "weft"
    if n.startswith("go") or "nethttp" in n or "fiber" in n or "gorilla" in n:
        return "go"
    if "rust" in n or "axum" in n or "tokio" in n or "actix" in n:
        return "rust"
    return None


def is_baseline(name):
    return bool(re.search(r"(^|[-_])(old|base|baseline)$", name.lower()))


def label_of(name):
    return PROGRAMS[name][1] if name in PROGRAMS else name


# ---- values and comparisons ----------------------------------------------------

def cell(value, lo=None, hi=None, n=1, prog=None, unit_scale=1.0):
    """A measured value: its median, min-max (None when not repeated), how many
    measurements, and the program it comes from."""
    if value is None:
        return None
    s = unit_scale
    return {"value": value * s, "lo": None if lo is None else lo * s, "hi": None if hi is None else hi * s,
            "n": n, "prog": prog}


def from_runs(runs, prog=None, scale=1.0):
    nums = [float(v) for v in runs if isinstance(v, (int, float))]
    if not nums:
        return None
    return cell(statistics.median(nums), min(nums), max(nums), len(nums), prog, scale)


def from_stat(d, prog=None, scale=1.0):
    """{median|value, min, max, runs} or a bare number."""
    if isinstance(d, (int, float)):
        return cell(float(d), prog=prog, unit_scale=scale)
    if not isinstance(d, dict):
        return None
    v = d.get("median", d.get("value"))
    if not isinstance(v, (int, float)):
        return from_runs(d.get("runs", []), prog, scale)
    runs = [x for x in d.get("runs", []) if isinstance(x, (int, float))]
    lo, hi = d.get("min"), d.get("max")
    if lo is None and len(runs) > 1:
        lo, hi = min(runs), max(runs)
    if len(runs) == 1 or (lo is not None and lo == hi == v and not runs):
        lo = hi = None  # one measurement: no noise band
    return cell(float(v), lo, hi, max(len(runs), 2 if lo is not None else 1), prog, scale)


ONE_RUN_PARITY = 0.05


def verdict(weft, peer, higher_better):
    """weft against one peer: "parity" when both have a min-max and the ranges
    overlap (touching counts), else "ahead"/"behind" (from weft's side) when
    both were repeated and the ranges are apart, or when neither has a range
    the plain comparison with "(one run)"; None when either is missing."""
    if not weft or not peer:
        return None
    if weft["lo"] is not None and peer["lo"] is not None:
        if weft["lo"] <= peer["hi"] and peer["lo"] <= weft["hi"]:
            return "parity"
        ahead = weft["lo"] > peer["hi"] if higher_better else weft["hi"] < peer["lo"]
        return "ahead" if ahead else "behind"
    # one run has no noise band of its own: a difference under ONE_RUN_PARITY
    # (5 %) is called parity, not a win or a loss (docs/arena.md)
    a, b = float(weft["value"]), float(peer["value"])
    if a == b or (max(a, b) > 0 and abs(a - b) / max(a, b) < ONE_RUN_PARITY):
        return "parity (one run)"
    ahead = weft["value"] > peer["value"] if higher_better else weft["value"] < peer["value"]
    return ("ahead" if ahead else "behind") + " (one run)"


def ratio(weft, peer):
    if not weft or not peer or not weft["value"]:
        return None
    return peer["value"] / weft["value"]


def best(cells, higher_better):
    """The best cell of a language's programs (None entries skipped)."""
    cs = [c for c in cells if c]
    if not cs:
        return None
    return (max if higher_better else min)(cs, key=lambda c: c["value"])


class Row:
    """One line of the table: what the article claims and what was measured."""

    def __init__(self, key, title, unit, higher_better, claim, kind):
        self.key, self.title, self.unit, self.higher_better = key, title, unit, higher_better
        self.claim = claim  # {"go": text, "rust": text, "go_range": (lo, hi) in unit, "rust_range": ...}
        self.kind = kind
        self.cells = {}  # lang -> cell
        self.detail = []  # (program label, lang, cell) for every program measured
        self.source = None  # path of the result file
        self.meta = {}  # date, commit, command, machine, versions, smoke
        self.missing = None  # why there is no measurement
        self.no_verdict = None  # why the figures are shown without a verdict
        self.no_verdict_for = {}  # lang -> why that column alone is shown without one
        self.fresh = False  # the file was written by this run (else: the newest committed one)
        self.notes = []

    def why_no_verdict(self, lang):
        return self.no_verdict or self.no_verdict_for.get(lang)

    def verdicts(self):
        out = {}
        for l in ("go", "rust"):
            why = self.why_no_verdict(l)
            if why:
                out[l] = f"no verdict: {why}" if self.cells.get("weft") and self.cells.get(l) else None
            else:
                out[l] = verdict(self.cells.get("weft"), self.cells.get(l), self.higher_better)
        return out

    def ratios(self):
        return {l: ratio(self.cells.get("weft"), self.cells.get(l)) for l in ("go", "rust")}

    def loses(self):
        """The languages weft is behind of, outside the noise band (or in one run)."""
        return [l for l, v in self.verdicts().items() if v and v.startswith("behind")]


# ---- reading the result files --------------------------------------------------

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def repo_path(path):
    """A result file's path as the repository names it (bench/results/...)."""
    return os.path.relpath(os.path.abspath(path), ROOT)


def newest(results_dir, kind, want=None):
    """The newest bench/results/<kind>-*.json (for which want(doc) holds, when
    given): the latest date in the file (or its name), a full run before a
    smoke or busy one, then the later commit the file records it ran at (its
    commit time in the repository), then the name. No modification times: a
    fresh clone gives every file the checkout's time, so that order was
    arbitrary (between two same-date files, possibly the older one).
    <kind>-ab-*.json, an old/new A/B of weft (gc-ab-, db-ab-), is never one:
    the glob matches it, and it compares weft with itself."""
    best_key, best_path = None, None
    for path in sorted(glob.glob(os.path.join(results_dir, f"{kind}-*.json"))):
        if os.path.basename(path).startswith(f"{kind}-ab-"):
            continue
        try:
            with open(path) as f:
                doc = json.load(f)
        except (OSError, ValueError):
            continue
        if want and not want(doc):
            continue
        # a full run beats a smoke or busy-machine run of the same day, and a
        # longer one (the GC case's 5 minutes) a shorter one
        key = (file_date(doc, path), not is_busy(doc, path), run_seconds(doc), commit_time(doc, results_dir),
               os.path.basename(path))
        if best_key is None or key > best_key:
            best_key, best_path = key, path
    return best_path


def run_seconds(doc):
    """How long each measurement of the file ran (the GC case's duration_s), 0 when it says not."""
    d = doc.get("duration_s")
    return d if isinstance(d, (int, float)) else 0


def gc_comparison(doc):
    """A GC file that compares weft with a peer: not an old/new A/B of weft
    (weft-base) and not a run of weft or the floor alone."""
    progs = doc.get("programs") or {}
    return "weft" in progs and "weft-base" not in progs and any(p in progs for p in ("go", "rust"))


def gc_headline(doc, quick_ok=False):
    """A GC file the report's rows can come from: a comparison (gc_comparison)
    that is not an A/B (BASE=, whatever the file is called) and, unless
    quick_ok, not a QUICK=1 run (30-second runs show that the case runs; they
    are not its measurement). Its command line (bench/run-gc.sh writes QUICK=
    and BASE= into it) says which."""
    cmd = str(doc.get("command") or "")
    if re.search(r"(^|\s)BASE=\S", cmd) or str(doc.get("base") or "").strip():
        return False
    return gc_comparison(doc) and (quick_ok or not re.search(r"(^|\s)QUICK=1(\s|$)", cmd))


def newest_of(results_dir, kind):
    """The file a kind's rows come from when the command line names none. The
    GC rows: the newest full run, a QUICK=1 one only when no full run was
    committed (its command line and "30 s measured" note then say so)."""
    if kind != "gc":
        return newest(results_dir, kind)
    return newest(results_dir, kind, gc_headline) or newest(results_dir, kind, lambda d: gc_headline(d, quick_ok=True))


_COMMIT_TIMES = {}


def commit_time(doc, repo_dir):
    """Commit time (Unix seconds) of the commit a result file says it ran at
    (weft_commit or commit, "(dirty tree)" and the like ignored), looked up
    in the git repository holding repo_dir; 0 when the file names none or
    git does not know it."""
    m = doc.get("meta") if isinstance(doc.get("meta"), dict) else {}
    sha = str(doc.get("weft_commit") or doc.get("commit") or m.get("weft_commit") or m.get("commit") or "")
    sha = sha.split()[0] if sha.split() else ""
    if not re.fullmatch(r"[0-9a-fA-F]{4,40}", sha):
        return 0
    k = (os.path.abspath(repo_dir), sha)
    if k not in _COMMIT_TIMES:
        try:
            out = subprocess.run(["git", "-C", repo_dir, "log", "-1", "--format=%ct", sha + "^{commit}", "--"],
                                 capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            out = ""
        _COMMIT_TIMES[k] = int(out) if out.isdigit() else 0
    return _COMMIT_TIMES[k]


def file_date(doc, path):
    """The date a result file records, else the one in its name."""
    date = doc.get("date") or (doc.get("meta") or {}).get("date") or ""
    if not date and path:
        m = re.search(r"(\d{4}-\d{2}-\d{2})", os.path.basename(path))
        date = m.group(1) if m else ""
    return str(date)


def is_busy(doc, path=None):
    """A smoke run or one its file says ran on a busy machine: its figures
    compare programs within the run, they are not numbers to quote."""
    m = doc.get("meta") if isinstance(doc.get("meta"), dict) else {}
    said = " ".join(str(x) for x in (doc.get("busy"), doc.get("label"), m.get("note"), m.get("label"),
                                     os.path.basename(path or "")) if x)
    return bool(doc.get("smoke") or doc.get("busy") or m.get("smoke") or re.search(r"busy|smoke", said, re.I))


def doc_meta(doc, path=None):
    m = doc.get("meta") if isinstance(doc.get("meta"), dict) else {}
    g = lambda k: doc.get(k, m.get(k))
    machine = g("machine") or {}
    if not isinstance(machine, dict):
        machine = {"description": str(machine)}
    for k in ("cpu_model", "nproc", "uname_r", "kernel"):
        if g(k) is not None and k not in machine:
            machine[k] = g(k)
    versions = g("versions") or {k: (f"gcc {g(k)}" if k == "gcc" and "gcc" not in str(g(k)) else g(k))
                                  for k in ("gcc", "cc", "go", "rustc", "crates") if g(k)}
    return {"date": file_date(doc, path) or None, "commit": g("weft_commit") or g("commit"), "command": g("command"),
            "machine": machine, "versions": versions, "smoke": is_busy(doc, path),
            "pinning": g("pinning") or (f"server {g('server_pin')}, generator {g('generator_pin')}"
                                        if g("server_pin") else None)}


def metric_cell(doc, prog, metric, scale=1.0):
    """A metric of the arena files (http-, db-): the median over the rounds
    with its min-max when doc["rounds"] has them, else the single value."""
    runs = ((doc.get("rounds") or {}).get(prog) or {}).get(metric)
    if runs and len([r for r in runs if isinstance(r, (int, float))]) > 1:
        return from_runs(runs, prog, scale)
    v = (((doc.get("results") or {}).get(prog) or {}).get("metrics") or {}).get(metric)
    return cell(float(v), prog=prog, unit_scale=scale) if isinstance(v, (int, float)) else None


def fill(row, per_prog, columns=None):
    """per_prog: {prog: cell}; the detail list and each language's best, or
    for a language in `columns` ({lang: prog}) that program when present."""
    for p, c in per_prog.items():
        lang = lang_of(p)
        if c is not None and lang:
            row.detail.append((label_of(p), lang, c))
    for lang in LANGS:
        fixed = (columns or {}).get(lang)
        if fixed in per_prog:
            row.cells[lang] = per_prog[fixed]
        else:
            row.cells[lang] = best([c for p, c in per_prog.items() if lang_of(p) == lang], row.higher_better)


# ---- the load generator's share of its core -------------------------------------
# A run in which the load generator (wrk, fleet-sim) used this much of its one
# core or more measured the generator: its req/s is the generator's pace and
# its latencies the generator's queueing, whatever the server could do.

GEN_SATURATED = 0.9


def saturated(share):
    return share is not None and share >= GEN_SATURATED


def gen_share(cell):
    """The generator's share of its core in a tracking cell (median over the rounds)."""
    g = (cell.get("gen_cpu_share") or {}).get("median")
    return g if isinstance(g, (int, float)) else None


def gen_shares_note(shares, where):
    """{program: share or None} as the note under a row, "" when none was recorded."""
    shares = {p: g for p, g in shares.items() if g is not None}
    if not shares:
        return ""
    return (f"load generator's share of its core {where}: "
            + ", ".join(f"{label_of(p)} {g:.2f}" for p, g in shares.items())
            + f" (at {GEN_SATURATED:.2f} or more it, not the server, set the pace)")


GEN_BOUND_RPS = "generator-bound: req/s not comparable; see CPU per request"


def http_rows(doc, tests, kind):
    rows = []
    progs = [p for p in (doc.get("results") or {}) if lang_of(p)]
    if kind == "db":
        progs = [p for p in progs if p != "weft_pq18"]  # weft on a libpq build users do not have yet
    for t in tests:
        r = Row(f"{t}_rps", f"HTTP {t}: requests/s", "req/s", True, CLAIMS["http_rps"], kind)
        fill(r, {p: metric_cell(doc, p, f"wrk_{t}_rps") for p in progs})
        # wrk's CPU over the run as a share of its core (median over the rounds,
        # like the req/s): a column whose program, or weft, kept wrk's core
        # busy compares wrk against wrk, so that column gets no verdict
        gen = {p: metric_cell(doc, p, f"wrk_{t}_loadgen_cpu_pct", 1 / 100) for p in progs}
        gen = {p: c["value"] if c else None for p, c in gen.items()}
        weft = (r.cells.get("weft") or {}).get("prog")
        for lang in ("go", "rust"):
            peer = (r.cells.get(lang) or {}).get("prog")
            if saturated(gen.get(weft)) or saturated(gen.get(peer)):
                r.no_verdict_for[lang] = GEN_BOUND_RPS
        note = gen_shares_note(gen, "(wrk, median over the rounds)")
        if note:
            r.notes.append(note)
        rows.append(r)
        c = Row(f"{t}_cpu", f"HTTP {t}: server CPU per request", "µs", False, CLAIMS["cpu"], kind)
        fill(c, {p: metric_cell(doc, p, f"wrk_{t}_cpu_us_per_req") for p in progs})
        if r.no_verdict_for:
            c.notes.append(f"wrk was the limit of the req/s row ({', '.join(LANG_LABEL[l] for l in r.no_verdict_for)} "
                           f"column{'s' if len(r.no_verdict_for) > 1 else ''}): the servers are compared here, "
                           "by the CPU each spent per request")
        rows.append(c)
    return rows


def json_rows(doc):
    docs = doc.get("documents") or {}
    # the article's "1MB": weft's 1 MiB feed document, else the one closest to 1 MB
    name = "feed" if "feed" in docs else min(docs, key=lambda d: abs(((docs[d] or {}).get("bytes") or 1e12) - 1e6),
                                              default=None)
    size = (docs.get(name) or {}).get("bytes")
    r = Row("json_parse", f"JSON parse of a {size / 1e6:.2f} MB document ({name}) into a DOM" if size
            else f"JSON parse ({name})", "ms", False, CLAIMS["json"], "json")
    per = {}
    for p, res in (doc.get("results") or {}).items():
        d = (res or {}).get(name) or {}
        if lang_of(p) and isinstance(d, dict) and d.get("status", "ok") == "ok":
            per[p] = from_stat(d.get("parse_ms"), p)
    fill(r, per)
    simd = ((doc.get("results") or {}).get("simdjson") or {}).get(name) or {}
    if isinstance(simd, dict) and from_stat(simd.get("parse_ms")):
        r.notes.append(f"C++ simdjson (not a row: neither Go nor Rust): {fmt(from_stat(simd.get('parse_ms'))['value'], 'ms')} ms")
    r.notes.append("Each language's fastest parser is its column; every parser's figure is in the details. "
                   "The DOMs differ: weft keeps object members in document order, serde_json a sorted map, "
                   "simd-json and Go a hash map (bench/run-json.sh).")
    return [r]


def binsearch_rows(doc):
    r = Row("binsearch", "Binary search over 10M sorted u64: one lookup", "ns", False, CLAIMS["binsearch"], "binsearch")
    per = {}
    for p, d in (doc.get("results") or {}).items():
        if (d or {}).get("status", "ok") == "ok":
            per[p] = from_stat(d.get("lookup_ns"), p)
        else:
            r.notes.append(f"{label_of(p)}: {d.get('status')}")
    fill(r, per)
    if doc.get("unit_of_work"):
        r.notes.append("Unit of work: " + doc["unit_of_work"] + ".")
    return [r]


def build_rows(doc):
    res = doc.get("results") or {}
    rows = []
    spec = [("build_s", "Clean build of the article's /health server", "s", CLAIMS["build"], None),
            ("size_bytes", "Binary size of the /health server, as built", "MB", CLAIMS["size"], 1 / 1048576),
            ("stripped_bytes", "Binary size of the /health server, stripped", "MB", CLAIMS["size"], 1 / 1048576),
            ("rss_idle_kb", "Idle server memory (RSS after start)", "MB", CLAIMS["memory"], 1 / 1024),
            ("rss_after_burst_kb", "Server memory after a load burst (RSS)", "MB", CLAIMS["memory"], 1 / 1024)]
    for key, title, unit, claim, scale in spec:
        r = Row(key, title, unit, False, claim, "build")
        fill(r, {p: from_stat(d.get(key), p, scale or 1.0) for p, d in res.items() if d.get(key) is not None})
        if key == "build_s":
            r.notes += [f"{d.get('label', p)}: {d['build_what']}" for p, d in res.items() if d.get("build_what")]
        if key.startswith("rss"):
            r.notes.append(f"Each server as the article's code runs it (default threads); the burst: {doc.get('burst', '?')}.")
        rows.append(r)
    return rows


def gc_programs(doc):
    """{program: its dict} of a gc-*.json (bench/tools/gc_report.py writes
    "programs"; "results" is read too)."""
    progs = doc.get("programs") or doc.get("results") or {}
    return {p: d for p, d in progs.items() if isinstance(d, dict) and lang_of(p) and d.get("overall")}


# the GC case's Go column is Go with its collector at default settings (the
# issue's wording); tuned variants (go-gogc, go-ptr) are in the details only
GC_COLUMNS = {"go": "go"}


def gc_cell(d, key, prog, scale):
    """The whole-run figure of one program; its min-max over the rounds
    (gc_report.py's "overall_range") is the noise band when there were two
    or more clean rounds, none for a single round."""
    v = (d.get("overall") or {}).get(key)
    if not isinstance(v, (int, float)):
        return None
    rng = (d.get("overall_range") or {}).get(key)
    n = int(d.get("rounds_ok") or len(d.get("rounds") or []) or 1)
    if n > 1 and isinstance(rng, list) and len(rng) == 2:
        return cell(v, rng[0], rng[1], n, prog, scale)
    return cell(v, prog=prog, unit_scale=scale)


def gc_rows(doc):
    progs = gc_programs(doc)
    rows = []
    for key, title in (("p999_us", "GC read-states service: p99.9 latency (whole run)"),
                       ("p99_us", "GC read-states service: p99 latency (whole run)"),
                       ("max_us", "GC read-states service: max latency (whole run)")):
        r = Row(f"gc_{key}", title, "ms", False, CLAIMS["gc"], "gc")
        fill(r, {p: gc_cell(d, key, p, 1 / 1000) for p, d in progs.items()}, GC_COLUMNS)
        spread = []
        for p, d in progs.items():
            ws = [w[key] / 1000 for w in d.get("windows") or [] if isinstance(w.get(key), (int, float))]
            if len(ws) > 1:
                spread.append(f"{label_of(p)} {fmt(min(ws), 'ms')}–{fmt(max(ws), 'ms')}")
        if spread:
            r.notes.append(f"per 10-second window (how steady the run was, not a noise band): " + "; ".join(spread) + " ms")
        rows.append(r)
    r = Row("gc_rss", "GC read-states service: RSS, max during the run", "MB", False, CLAIMS["gc_rss"], "gc")
    fill(r, {p: from_stat((d.get("rss_kb") or {}).get("max"), p, 1 / 1024) for p, d in progs.items()}, GC_COLUMNS)
    rows.append(r)
    r = Row("gc_cpu", "GC read-states service: server CPU per request", "µs", False, CLAIMS["cpu"], "gc")
    fill(r, {p: from_stat(d.get("server_cpu_us_per_req"), p) for p, d in progs.items()}, GC_COLUMNS)
    rows.append(r)
    dur = doc.get("duration_s", doc.get("duration"))
    goal = doc.get("goal") if isinstance(doc.get("goal"), dict) else None
    for r in rows:
        r.notes.append(f"open-loop rate {doc.get('rate', '?')} req/s to {doc.get('users', '?')} users, "
                       f"{dur if dur is not None else '?'} s measured per program, {doc.get('rounds', '?')} round(s); "
                       "latency from each request's due time (coordinated omission corrected)")
        for p, d in progs.items():
            if lang_of(p) == "go" and p != "go":
                r.notes.append(f"{label_of(p)} ({d.get('label', p)}) is a tuned variant: in the details, not the Go column")
        if goal and r.key == "gc_p999_us":
            r.notes.append(f"goal ({goal.get('target')}): {'met' if goal.get('met') else 'not met'} — {goal.get('why', '')}")
        if doc.get("busy"):
            r.notes.append(f"busy machine: {doc['busy']}")
        if r.unit == "ms" and is_busy(doc):
            # open-loop latencies on a busy machine are waits for a CPU, not the services' own time
            r.no_verdict = "busy-machine run"
        elif r.unit == "ms" and min((int(d.get("rounds_ok") or 1) for d in progs.values()), default=0) < 3:
            r.no_verdict = "fewer than 3 rounds"  # gc_report.py's rule (MIN_ROUNDS)
    return rows, {p: d.get("windows") or [] for p, d in progs.items()}


def tracking_cells(doc):
    """{program: {"RATExVIEWERS": {metric: {median, min, max}}}} of a
    tracking-*.json (bench/tools/tracking_report.py): its "summary", or the
    same summary computed from its per-round "rows"."""
    s = doc.get("summary")
    if not isinstance(s, dict) or not s:
        import tracking_report
        rows = [r for r in doc.get("rows") or [] if isinstance(r, dict) and "program" in r and "rate" in r]
        s = tracking_report.summarize(rows) if rows else {}
    return {p: c for p, c in s.items() if lang_of(p) and isinstance(c, dict)}


def cell_weight(name):
    """The heaviest matrix cell sorts last: the product of the numbers in its name."""
    nums = [float(x) for x in re.findall(r"\d+(?:\.\d+)?", str(name))]
    w = 1.0
    for x in nums:
        w *= x
    return (len(nums), w)


def tracking_headline(cells):
    """(cell name, why no verdict or None): the heaviest cell every program
    ran in which no program's generator was saturated; when every common
    cell was, the heaviest one, shown without a verdict."""
    common = set.intersection(*(set(c) for c in cells.values())) if cells else set()
    if not common:
        return None, None
    fair = [k for k in common if not any(saturated(gen_share(c[k])) for c in cells.values())]
    if fair:
        return max(fair, key=cell_weight), None
    return max(common, key=cell_weight), f"the load generator used >= {GEN_SATURATED:.0%} of its core in every cell"


def deflate_note(doc, heavy):
    """Which programs compressed their frames in the headline cell (the
    viewers' "deflated" count, per round in the file's rows) and which sent
    them plain, when the run had both: their CPU per fix is not the same
    work. Measured, not assumed: which server agrees to permessage-deflate
    changes with the run's DEFLATE setting and with each server's code."""
    if not heavy:
        return ""
    seen = {}
    for r in doc.get("rows") or []:
        if not isinstance(r, dict) or not lang_of(str(r.get("program", ""))) or not isinstance(r.get("deflated"), int):
            continue
        if "%sx%s" % (r.get("rate"), r.get("viewers")) == heavy:
            seen[r["program"]] = seen.get(r["program"], 0) + r["deflated"]
    on = [label_of(p) for p, n in seen.items() if n > 0]
    off = [label_of(p) for p, n in seen.items() if n == 0]
    if not on or not off:
        return ""
    return (f"in that cell {', '.join(on)} compressed their frames (permessage-deflate agreed with the viewers) and "
            f"{', '.join(off)} sent them plain: the CPU per fix of the two groups includes different work")


def tracking_rows(doc):
    cells = tracking_cells(doc)
    heavy, gen_bound = tracking_headline(cells)
    deflate = deflate_note(doc, heavy)
    rows = []
    for metric, title, unit, scale in (("cpu_us_per_fix", "Tracking hot path: server CPU per fix", "µs", 1.0),
                                       ("p99_ms", "Tracking hot path: p99 fix-to-viewer latency", "ms", 1.0),
                                       ("push_p99_ms", "Tracking hot path: p99 push delay (beyond the tick)", "ms", 1.0),
                                       ("rss_kb", "Tracking hot path: server RSS", "MB", 1 / 1024)):
        r = Row(f"tracking_{metric}", title + (f" (cell {heavy} fixes/s × viewers)" if heavy else ""), unit, False,
                CLAIMS["tracking"], "tracking")
        fill(r, {p: from_stat(c[heavy].get(metric), p, scale) for p, c in cells.items() if heavy in c})
        r.matrix = {p: {k: from_stat(v.get(metric), p, scale) for k, v in sorted(c.items(), key=lambda kv: cell_weight(kv[0]))}
                    for p, c in cells.items()}
        if heavy is None and cells:
            r.notes.append("no matrix cell that every program ran")
        else:
            r.notes.append(f"the headline cell is the heaviest one every program in the file ran ({heavy}) "
                           f"with the load generator under {GEN_SATURATED:.0%} of its core (heavier cells measure "
                           "the generator); the table below has every cell, median (min–max) over the rounds")
            if gen_bound:
                r.no_verdict = gen_bound
            gen = gen_shares_note({p: gen_share(c[heavy]) for p, c in cells.items() if heavy in c}, "in that cell")
            if gen:
                r.notes.append(gen)
        if deflate and metric in ("cpu_us_per_fix", "push_p99_ms"):
            r.notes.append(deflate)
        if metric == "p99_ms":
            r.notes.append("every service pushes on a timer tick, so a fix waits up to one tick before any server "
                           "work: p99 ≈ the tick by design; the push-delay row is what the server adds")
        note = (doc.get("meta") or {}).get("note")
        if note:
            r.notes.append(note)
        rows.append(r)
    return rows


# ---- what the articles claim ---------------------------------------------------
# Their figures, as text, and where a number can be drawn, as a (lo, hi) range
# in the row's unit. Article 001's table unless said otherwise.

CLAIMS = {
    "http_rps": {"go": "150K–200K", "rust": "200K–300K", "go_range": (150e3, 200e3), "rust_range": (200e3, 300e3),
                 "src": "001: \"HTTP requests/sec\" (no test, machine or core count given)"},
    "cpu": {"go": "—", "rust": "—", "src": "no figure in the articles (003: Cloudflare −70 % CPU after moving to Rust)"},
    "json": {"go": "~2 ms", "rust": "~0.8 ms", "go_range": (2, 2), "rust_range": (0.8, 0.8),
             "src": "001: \"JSON parsing (1MB)\" (no document or library named)"},
    "binsearch": {"go": "~45 µs", "rust": "~20 µs",
                  "src": "001: \"Binary search (10M items)\": the unit of work is not stated (45 µs is ~40 lookups' "
                         "worth here), so no range is drawn"},
    "memory": {"go": "~15 MB", "rust": "~5 MB", "go_range": (15, 15), "rust_range": (5, 5),
               "src": "001: \"Memory (idle server)\""},
    "build": {"go": "~5 s", "rust": "~60 s", "go_range": (5, 5), "rust_range": (60, 60),
              "src": "001: \"Compile time (large project)\"; 000: \"Fast (~5s)\" / \"Slow (~60s)\""},
    "size": {"go": "5–15 MB", "rust": "small (optimized)", "go_range": (5, 15),
             "src": "001: \"Binary size\" in the feature table"},
    "gc": {"go": "GC pauses 1–2 ms; spikes", "rust": "no GC pauses",
           "src": "001: \"Occasional GC pauses (typically 1-2ms)\"; 000: Discord's Read States, tail latency "
                  "500 ms → 5 ms after moving from Go to Rust"},
    "gc_rss": {"go": "higher (GC headroom)", "rust": "minimal", "src": "000 and 003: memory with and without a GC"},
    "tracking": {"go": "the whole platform", "rust": "rebuild tracking in Rust if it strains",
                 "src": "003: the logistics client's live vehicle tracking"},
}


# ---- formatting ----------------------------------------------------------------

def fmt(v, unit):
    if v is None:
        return "n/a"
    if unit == "req/s":
        return f"{v / 1000:,.1f}k" if v >= 1000 else f"{v:,.0f}"
    a = abs(v)
    if a >= 100:
        return f"{v:,.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}"
    return f"{v:.3f}"


def fmt_cell(c, unit, with_prog=True):
    if not c:
        return "n/a"
    s = fmt(c["value"], unit)
    if c["lo"] is not None:
        s += f" ({fmt(c['lo'], unit)}–{fmt(c['hi'], unit)})"
    if with_prog and c.get("prog") and c["prog"] not in ("weft", "c", "go", "rust"):
        s += f" [{label_of(c['prog'])}]"
    return s


def fmt_verdict(row, lang):
    v = row.verdicts()[lang]
    r = row.ratios()[lang]
    if v is None:
        return "—"
    return f"{r:.2f}× {v}" if r is not None and not row.why_no_verdict(lang) else v


# ---- building the rows ---------------------------------------------------------

def has_build_time(doc):
    return any(isinstance(d, dict) and d.get("build_s") for d in (doc.get("results") or {}).values())


def timed_build_row(row, results_dir, current):
    """The clean-build row of a run that timed no build (make bench-quick):
    taken from the newest build file that timed one, named with its date."""
    path = newest(results_dir, "build", has_build_time) if results_dir else None
    if not path or os.path.abspath(path) == os.path.abspath(current or ""):
        row.missing = (f"no clean build timed in {os.path.basename(current)} and no earlier build file with one "
                       "— run `make bench-build`")
        return
    with open(path) as f:
        doc = json.load(f)
    taken = build_rows(doc)[0]
    row.cells, row.detail, row.notes = taken.cells, taken.detail, taken.notes
    row.source, row.meta, row.missing, row.fresh = path, doc_meta(doc, path), None, False
    row.notes.insert(0, f"not timed in this run ({os.path.basename(current)} has no clean build: quick mode); "
                        f"taken from {repo_path(path)} of {row.meta.get('date') or 'an unknown date'}")


def load(paths, results_dir=None, fresh=()):
    """paths: {kind: path or None}; the rows, in the article's order, and the
    GC windows for the chart. fresh: the kinds whose file this run wrote (the
    others are the newest committed files, said so in the report);
    results_dir: where a quick run's clean-build row is looked up."""
    docs = {}
    for k, p in paths.items():
        if p:
            try:
                with open(p) as f:
                    docs[k] = json.load(f)
            except (OSError, ValueError) as e:
                print(f"report: cannot read {p}: {e}", file=sys.stderr)
    rows, gc_windows = [], {}

    def add(kind, made, template):
        if kind in docs:
            for r in made:
                r.source = paths[kind]
                r.meta = doc_meta(docs[kind], paths[kind])
                r.fresh = kind in fresh
                if not any(r.cells.values()):
                    r.missing = f"the file {os.path.basename(paths[kind])} has no figure for this row"
            rows.extend(made)
        else:
            for key, title, unit, hb, claim in template:
                r = Row(key, title, unit, hb, CLAIMS[claim], kind)
                r.missing = f"not measured in this run — run `{MAKE_TARGET[kind]}`"
                rows.append(r)

    add("http", http_rows(docs["http"], ("plaintext", "json"), "http") if "http" in docs else [],
        [(f"{t}_{m}", f"HTTP {t}: " + ("requests/s" if m == "rps" else "server CPU per request"),
          "req/s" if m == "rps" else "µs", m == "rps", "http_rps" if m == "rps" else "cpu")
         for t in ("plaintext", "json") for m in ("rps", "cpu")])
    add("db", http_rows(docs["db"], ("db", "fortunes"), "db") if "db" in docs else [],
        [(f"{t}_{m}", f"HTTP {t}: " + ("requests/s" if m == "rps" else "server CPU per request"),
          "req/s" if m == "rps" else "µs", m == "rps", "http_rps" if m == "rps" else "cpu")
         for t in ("db", "fortunes") for m in ("rps", "cpu")])
    add("json", json_rows(docs["json"]) if "json" in docs else [],
        [("json_parse", "JSON parse of a 1 MB document into a DOM", "ms", False, "json")])
    add("binsearch", binsearch_rows(docs["binsearch"]) if "binsearch" in docs else [],
        [("binsearch", "Binary search over 10M sorted u64: one lookup", "ns", False, "binsearch")])
    add("build", build_rows(docs["build"]) if "build" in docs else [],
        [("build_s", "Clean build of the article's /health server", "s", False, "build"),
         ("size_bytes", "Binary size of the /health server, as built", "MB", False, "size"),
         ("stripped_bytes", "Binary size of the /health server, stripped", "MB", False, "size"),
         ("rss_idle_kb", "Idle server memory (RSS after start)", "MB", False, "memory"),
         ("rss_after_burst_kb", "Server memory after a load burst (RSS)", "MB", False, "memory")])
    if "build" in docs and not has_build_time(docs["build"]):
        timed_build_row(next(r for r in rows if r.key == "build_s"), results_dir, paths["build"])
    if "gc" in docs:
        made, gc_windows = gc_rows(docs["gc"])
    add("gc", made if "gc" in docs else [],
        [("gc_p999_us", "GC read-states service: p99.9 latency", "ms", False, "gc")])
    add("tracking", tracking_rows(docs["tracking"]) if "tracking" in docs else [],
        [("tracking_cpu_us_per_fix", "Tracking hot path: server CPU per fix", "µs", False, "tracking")])
    return rows, gc_windows


# ---- Markdown ------------------------------------------------------------------

def machine_line(meta):
    m = meta.get("machine") or {}
    parts = [str(m.get(k)) for k in ("cpu_model", "description") if m.get(k)]
    if m.get("nproc"):
        parts.append(f"{m['nproc']} CPUs")
    k = m.get("kernel") or m.get("uname_r")
    if k:
        parts.append(f"kernel {k}")
    return ", ".join(parts) or "machine not recorded"


KEY_DEPS = {"axum", "actix-web", "tokio", "hyper", "may_minihttp", "serde_json", "simd-json", "sonic-rs",
            "tokio-postgres", "mimalloc", "fiber", "fasthttp", "pgx", "go-json", "goccy/go-json", "serde",
            "libsimdjson-dev"}


def versions_line(meta):
    v = meta.get("versions") or {}
    flat = []
    for k, x in v.items():
        if isinstance(x, dict):  # crates / Go modules: the ones the rows are about
            flat.append(", ".join(f"{a} {b}" for a, b in x.items() if a in KEY_DEPS
                                  or any(seg in KEY_DEPS for seg in a.split("/"))))
        elif x:
            flat.append(f"{x}" if k in ("go", "rustc", "gcc", "cc", "cargo", "g++") else f"{k} {x}")
    return "; ".join(flat) or "versions not recorded"


def losses(rows):
    out = []
    for r in rows:
        for lang in r.loses():
            c, w = r.cells[lang], r.cells["weft"]
            out.append(f"{r.title}: {LANG_LABEL[lang]} ({label_of(c['prog']) if c.get('prog') else LANG_LABEL[lang]}) "
                       f"{fmt_cell(c, r.unit, False)} {r.unit} against weft's {fmt_cell(w, r.unit, False)} {r.unit} "
                       f"({'higher is better' if r.higher_better else 'lower is better'}; {r.verdicts()[lang]})")
    return out


def sources_line(rows):
    """Which files the rows come from: written by this run, or committed
    earlier (with their dates)."""
    now, old = [], []
    for r in rows:
        if r.missing or not r.source:
            continue
        name = f"`{repo_path(r.source)}`" + ("" if r.fresh else f" ({r.meta.get('date') or 'undated'})")
        lst = now if r.fresh else old
        if name not in lst:
            lst.append(name)
    out = []
    if now:
        out.append("measured in this run: " + ", ".join(now))
    if old:
        out.append("committed files, not re-measured in this run: " + ", ".join(old))
    return "; ".join(out) + "." if out else "no result file."


def render_md(rows, label, mode, host, charts, took=""):
    L = [f"# weft, Go and Rust: the articles' table measured on this machine"
         + (f" — {label}" if label else ""), ""]
    if label:
        which = "The figures of those rows were" if "rows'" in label else "The figures below were"
        L += [f"**{label}.** {which} measured while other work ran on the machine; "
              "they show what ran and how it compares within each run, not numbers to quote.", ""]
    L += [f"Mode: {mode or 'not stated'}. Report written on {host}. Each row's own machine, versions, "
          "command and result file are in the details below; `make bench` (or `make bench-quick`) rebuilds "
          "every figure. The articles' figures are their claims (/work/shared/articles, chiefly 001's "
          "benchmark table), not measurements of ours.", "",
          "How to read it: each language column is that language's best program in the row, named in "
          "brackets; a value with (min–max) was repeated and the range is its noise band. **vs weft** is "
          "peer ÷ weft with the verdict from weft's side: *ahead* / *behind* when the ranges are apart, "
          "*parity* when they overlap (the difference is inside the noise); \"(one run)\" when there is no "
          "range to judge by (then values less than 5 % apart are parity).", "",
          "Sources: " + sources_line(rows), ""]
    if took:
        L += [f"Wall time of this `make bench` run: {took}.", ""]
    L += ["| row | unit | article: Go | article: Rust | weft (C) | Go | Rust | Go vs weft | Rust vs weft |",
          "|---|---|---|---|---:|---:|---:|---|---|"]
    for r in rows:
        if r.missing:
            L.append(f"| {r.title} | {r.unit} | {r.claim['go']} | {r.claim['rust']} | {r.missing} | | | | |")
            continue
        L.append(f"| {r.title} | {r.unit} | {r.claim['go']} | {r.claim['rust']} | "
                 + " | ".join(fmt_cell(r.cells.get(l), r.unit) for l in LANGS)
                 + f" | {fmt_verdict(r, 'go')} | {fmt_verdict(r, 'rust')} |")
    L += ["", "## Where weft loses", ""]
    lost = losses(rows)
    L += [f"- {x}" for x in lost] if lost else ["- nowhere outside the noise band in this run's rows"]
    L += ["", "## Rows not measured", ""]
    miss = [r for r in rows if r.missing]
    L += [f"- {r.title}: {r.missing}" for r in miss] if miss else ["- none"]
    L += ["", "## Details", ""]
    seen = set()
    for r in rows:
        L.append(f"### {r.title}")
        L.append("")
        L.append(f"- the articles: {r.claim['src']}")
        if r.missing:
            L += [f"- {r.missing}", ""]
            continue
        m = r.meta
        L.append(f"- result file: `{repo_path(r.source)}` ({m.get('date') or 'undated'}"
                 + (", smoke/busy run" if m.get("smoke") else "") + f"), weft commit {m.get('commit') or 'not recorded'}; "
                 + ("measured in this run" if r.fresh else "a committed file, not re-measured in this run"))
        if r.source not in seen:
            L.append(f"- command: `{m.get('command') or 'not recorded'}`")
            L.append(f"- machine: {machine_line(m)}" + (f"; {m['pinning']}" if m.get("pinning") else ""))
            L.append(f"- versions: {versions_line(m)}")
            seen.add(r.source)
        else:
            L.append("- command, machine, versions: as above for this file")
        L.append("- every program: " + "; ".join(f"{name} ({LANG_LABEL[lang]}) {fmt_cell(c, r.unit, False)} {r.unit}"
                                               for name, lang, c in r.detail))
        for n in r.notes:
            L.append(f"- {n}")
        matrix = getattr(r, "matrix", None)
        if matrix:
            # in order of first appearance before the (stable) sort: cells of
            # equal weight (1000x100, 10000x10) keep one order from run to run,
            # which a set's string hashing did not
            cells = sorted(dict.fromkeys(k for c in matrix.values() for k in c), key=cell_weight)
            L += ["", "| program | " + " | ".join(cells) + " |", "|---" + "|---:" * len(cells) + "|"]
            for p, c in matrix.items():
                L.append(f"| {p} | " + " | ".join(fmt_cell(c.get(k), r.unit, False) for k in cells) + " |")
        L.append("")
    L += ["## Charts", "", "report.html draws these (one SVG each): " + ", ".join(t for t, _ in charts) + ".", ""]
    return "\n".join(L)


# ---- SVG and HTML --------------------------------------------------------------

def esc(s):
    return html.escape(str(s), quote=True)


def bar_chart(row, width=640):
    """Horizontal bars, one per language, with the min-max as a whisker and
    the article's claim as a shaded band (a line when it is one number)."""
    bars = [(LANG_LABEL[l], l, row.cells.get(l)) for l in LANGS]
    vals = [c["hi"] if c["hi"] is not None else c["value"] for _, _, c in bars if c]
    for l in ("go", "rust"):
        rg = row.claim.get(f"{l}_range")
        if rg:
            vals.append(rg[1])
    top = max(vals) * 1.1 if vals and max(vals) > 0 else 1.0
    left, bh, gap = 150, 22, 12
    claims = [(l, row.claim[f"{l}_range"]) for l in ("go", "rust") if row.claim.get(f"{l}_range")]
    h = 40 + len(bars) * (bh + gap) + 18 * len(claims) + 24
    x = lambda v: left + (width - left - 20) * v / top
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{h}" viewBox="0 0 {width} {h}" '
           f'role="img" aria-label="{esc(row.title)}">',
           f'<text x="4" y="16" font-size="13" font-weight="bold">{esc(row.title)} ({esc(row.unit)}, '
           f'{"higher" if row.higher_better else "lower"} is better)</text>']
    y = 30
    for name, l, c in bars:
        out.append(f'<text x="4" y="{y + 15}" font-size="12">{esc(name)}</text>')
        if c:
            out.append(f'<rect x="{left}" y="{y}" width="{x(c["value"]) - left:.1f}" height="{bh}" fill="{COLOR[l]}"/>')
            if c["lo"] is not None:
                out.append(f'<line x1="{x(c["lo"]):.1f}" y1="{y + bh / 2}" x2="{x(c["hi"]):.1f}" y2="{y + bh / 2}" '
                           'stroke="#000" stroke-width="1.5"/>')
            out.append(f'<text x="{x(c["value"]) + 4:.1f}" y="{y + 15}" font-size="11">{esc(fmt(c["value"], row.unit))}</text>')
        else:
            out.append(f'<text x="{left}" y="{y + 15}" font-size="11" fill="#777">n/a</text>')
        y += bh + gap
    for l, (lo, hi) in claims:
        if hi > lo:
            out.append(f'<rect x="{x(lo):.1f}" y="{y}" width="{x(hi) - x(lo):.1f}" height="10" fill="{COLOR[l]}" '
                       'fill-opacity="0.35"/>')
        else:
            out.append(f'<rect x="{x(lo) - 1:.1f}" y="{y}" width="3" height="10" fill="{COLOR[l]}"/>')
        out.append(f'<text x="4" y="{y + 9}" font-size="11">article, {esc(LANG_LABEL[l])}: {esc(row.claim[l])}</text>')
        y += 18
    out.append("</svg>")
    return "\n".join(out)


def line_chart(title, series, unit, width=640, height=260):
    """series: {name: [(t, v), ...]}, one line per program."""
    pts = [p for s in series.values() for p in s]
    if not pts:
        return None
    tmax = max(t for t, _ in pts) or 1
    vmax = max(v for _, v in pts) * 1.1 or 1
    left, bottom = 60, 30
    X = lambda t: left + (width - left - 10) * t / tmax
    Y = lambda v: height - bottom - (height - bottom - 30) * v / vmax
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" role="img" aria-label="{esc(title)}">',
           f'<text x="4" y="16" font-size="13" font-weight="bold">{esc(title)}</text>',
           f'<line x1="{left}" y1="{height - bottom}" x2="{width - 10}" y2="{height - bottom}" stroke="#000"/>',
           f'<line x1="{left}" y1="30" x2="{left}" y2="{height - bottom}" stroke="#000"/>',
           f'<text x="4" y="34" font-size="11">{esc(fmt(vmax, unit))} {esc(unit)}</text>',
           f'<text x="{width - 60}" y="{height - 8}" font-size="11">{esc(fmt(tmax, "s"))} s</text>']
    for i, (name, s) in enumerate(series.items()):
        lang = lang_of(name) or "weft"
        d = " ".join(f"{X(t):.1f},{Y(v):.1f}" for t, v in s)
        out.append(f'<polyline fill="none" stroke="{COLOR[lang]}" stroke-width="1.5" points="{d}"/>')
        out.append(f'<text x="{left + 10 + 150 * i}" y="{height - 8}" font-size="11" fill="{COLOR[lang]}">{esc(name)}</text>')
    out.append("</svg>")
    return "\n".join(out)


def charts_for(rows, gc_windows):
    charts = [(r.title, bar_chart(r)) for r in rows if not r.missing and any(r.cells.values())]
    series = {p: [(float(w.get("t", i * 10)), w["p999_us"] / 1000) for i, w in enumerate(ws)
                  if isinstance(w.get("p999_us"), (int, float))] for p, ws in gc_windows.items()}
    series = {p: s for p, s in series.items() if s}
    if series:
        c = line_chart("GC read-states service: p99.9 per 10-second window (ms)", series, "ms")
        if c:
            charts.append(("GC read-states: p99.9 over time", c))
    return charts


def md_inline(s):
    """The little Markdown the report uses (**bold**, *em*, `code`) as HTML."""
    s = esc(s)
    s = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", s)
    s = re.sub(r"\*(.+?)\*", r"<em>\1</em>", s)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", s)


def render_html(md, charts, label):
    """The Markdown (headings, paragraphs, lists, tables) as HTML, then the charts."""
    body = []
    lines = md.split("\n")
    i = 0
    while i < len(lines):
        ln = lines[i]
        if ln.startswith("#"):
            n = len(ln) - len(ln.lstrip("#"))
            body.append(f"<h{n}>{md_inline(ln[n:].strip())}</h{n}>")
        elif ln.startswith("| "):
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                if not re.match(r"^\|[-:|]+\|$", lines[i].replace(" ", "")):
                    rows.append([c.strip() for c in lines[i].strip("|").split(" | ")])
                i += 1
            body.append("<table>")
            for k, cells in enumerate(rows):
                tag = "th" if k == 0 else "td"
                body.append("<tr>" + "".join(f"<{tag}>{md_inline(c)}</{tag}>" for c in cells) + "</tr>")
            body.append("</table>")
            continue
        elif ln.startswith("- "):
            body.append("<ul>")
            while i < len(lines) and lines[i].startswith("- "):
                body.append(f"<li>{md_inline(lines[i][2:])}</li>")
                i += 1
            body.append("</ul>")
            continue
        elif ln.strip():
            body.append(f"<p>{md_inline(ln)}</p>")
        i += 1
    body.append('<h2 id="charts">Charts</h2>')
    for title, svg in charts:
        body.append(f'<figure class="chart">{svg}<figcaption>{esc(title)}</figcaption></figure>')
    title = "weft, Go and Rust: the articles' table measured" + (f" — {label}" if label else "")
    return ("<!DOCTYPE html>\n"
            '<html lang="en"><head><meta charset="utf-8"/>'
            f"<title>{esc(title)}</title>"
            "<style>body{font-family:sans-serif;max-width:1100px;margin:1em auto;padding:0 1em}"
            "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px}"
            "code{background:#f4f4f4}figure{margin:1em 0}</style></head><body>\n"
            + "\n".join(body) + "\n</body></html>\n")


# ---- main ----------------------------------------------------------------------

def host_line():
    model, n = "", os.cpu_count()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model or 'unknown CPU'}, {n} CPUs, kernel {os.uname().release}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--results", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "results"))
    ap.add_argument("--out", default=None, help="where report.md and report.html go (default: --results)")
    ap.add_argument("--label", default="")
    ap.add_argument("--mode", default="")
    for k in KINDS:
        ap.add_argument(f"--{k}", default=None, help=f"the {k} result file (default: the newest {k}-*.json)")
    ap.add_argument("--took", default="", help="the run's wall time and per step (bench/run-report.sh)")
    ap.add_argument("--from-results", action="store_true",
                    help="a view of the committed result files: no file is taken as this run's; the label says "
                         "busy machine when any file used was a smoke or busy-machine run")
    a = ap.parse_args(argv)
    paths = {k: getattr(a, k) or newest_of(a.results, k) for k in KINDS}
    fresh = set() if a.from_results else {k for k in KINDS if getattr(a, k)}
    rows, gc_windows = load(paths, a.results, fresh)
    if a.from_results:
        a.mode = a.mode or "from committed result files (`make bench-report`: no benchmark was run)"
        busy = sorted({r.kind for r in rows if not r.missing and r.meta.get("smoke")})
        if not a.label and busy:
            # name the files: one busy file must not read as if every row were
            a.label = "busy machine (the %s rows' file%s)" % (", ".join(busy), "s" if len(busy) > 1 else "")
    charts = charts_for(rows, gc_windows)
    md = render_md(rows, a.label, a.mode, host_line(), charts, a.took)
    out = a.out or a.results
    os.makedirs(out, exist_ok=True)
    open(os.path.join(out, "report.md"), "w").write(md)
    open(os.path.join(out, "report.html"), "w").write(render_html(md, charts, a.label))
    for k in KINDS:
        print(f"report: {k}: {paths[k] or 'no file (not measured)'}", file=sys.stderr)
    print(f"report: wrote {os.path.join(out, 'report.md')} and report.html ({len(charts)} charts)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
