#!/usr/bin/env python3
"""Issue 11 part J in one table: every weft fleet figure, its target, what the
newest result measured (the median of the rounds and their range), met / NOT
met / parity band, and the result file it came from.

    python3 bench/tools/fleet_j.py                 the newest committed results
    python3 bench/tools/fleet_j.py A.json B.json   those files only
    python3 bench/tools/fleet_j.py --markdown      a Markdown table for docs/fleet.md

The figures come from four benches, each with its own result file:

    ingest   bench/run-fleet.sh PHASES=ingest  (bench/tools/fleet_report.py)   fleet-<date>.json
    history  bench/run-fleet.sh PHASES=history (bench/tools/fleet_history.py)  fleet-history-<date>.json
    memory   bench/run-fleet.sh PHASES=memory  (bench/tools/fleet_memory.py)   fleet-memory-<date>.json
    live     bench/run-fleet.sh PHASES=live = make bench-fleet-live
             (bench/run-tracking.sh, bench/tools/tracking_report.py)          fleet-live-<date>.json

A file's kind is read from its content, not its name (runs are often saved
under names such as fleet-ingest-...-quiet). Without file arguments the
candidates are bench/results/fleet*.json that git tracks; with arguments,
exactly those files (make bench-fleet passes the ones its run wrote). For each
figure the newest candidate that measured it is used: newest by the date in
the file name, then by the time of the commit that added the file (a file not
committed: its modification time), then by name. A file measures a figure
only in the issue's cell: Teltonika with 10-50 records a packet, live at
10,000 fixes/s to 500 viewers from the "fleet" program at the bench's
defaults (not fleet-old, the A/B's baseline, nor fleet-50ms and the like),
memory at 100,000 devices, trips over a database of at least 30 days (when
the result's .md says how many), history from the "chunks" server (the
stored database as the server writes it; "raw" and "baseline" are
comparisons). A figure no candidate measured says "not measured", with the
reason the newest candidate of its kind did not count, if there was one.

Verdicts: "met" when every round is on the target's side (a target value
itself counts as met), "NOT met" when every round is on the other side,
"parity band" when the rounds' range spans the target, whatever the median.
The ratio in brackets is the median over the target. The live socket's p99
is NOT met when any viewer failed (did not connect or was closed early),
whatever the latency of the others. History figures are judged on the wall
time of a request (the issue's figure is a response time); the server's CPU
time is shown beside it, the fairer reading on a busy machine. Memory is the
server's heap (RssAnon) per device once every device has reported, over the
same binary started on an empty database; the live table's own bytes are
shown beside it. Traccar's published capacity is an anchor, not a target: a
different machine and a different test, so no ratio is given.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RESULTS = os.path.join(ROOT, "bench", "results")


class NotJ(Exception):
    """The file is of the figure's kind but did not measure the issue's cell."""


class Measured:
    """A figure over the rounds: median, min, max (in the figure's unit)."""

    def __init__(self, values, extra="", failed=""):
        if not values:
            raise NotJ("no rounds")
        self.median = statistics.median(values)
        self.lo, self.hi, self.rounds = min(values), max(values), len(values)
        self.extra = extra    # shown after the range
        self.failed = failed  # a reason the target is not met whatever the values


# ---- reading result files -----------------------------------------------------------------------

def load(path):
    """The document in `path`: a JSON object, or a list of objects for a JSON-lines file.
    Raises ValueError (with the path) when it is neither."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        doc = json.loads(text)
        # a JSON-lines file of one line (one memory round) reads as a single object
        return [doc] if isinstance(doc, dict) and "server" in doc else doc
    except ValueError:
        pass
    try:
        return [json.loads(l) for l in text.splitlines() if l.strip()]
    except ValueError as e:
        raise ValueError(f"{path}: neither JSON nor JSON lines ({e})") from None


def kind(doc):
    """ingest, live, history, memory, or None for a document that is none of them."""
    if isinstance(doc, dict) and isinstance(doc.get("rows"), list) and doc["rows"]:
        first = doc["rows"][0]
        if isinstance(first, dict) and "workload" in first:
            return "ingest"
        if isinstance(first, dict) and {"program", "rate", "viewers"} <= first.keys():
            return "live"
    if isinstance(doc, list) and doc and all(isinstance(r, dict) for r in doc):
        if {"server", "report", "wall_ms"} <= doc[0].keys():
            return "history"
        if {"server", "devices", "reported", "empty"} <= doc[0].keys():
            return "memory"
    return None


def companion_md(path):
    """The text of the .md written beside a result .json ("" when there is none)."""
    md = os.path.splitext(path)[0] + ".md"
    try:
        with open(md, encoding="utf-8") as f:
            return f.read()
    except OSError:
        return ""


def provenance(path, doc):
    """What the file says about its run: commit, machine, label (each "" when not said)."""
    meta = doc.get("meta", {}) if isinstance(doc, dict) else {}
    md = companion_md(path)
    commit = str(meta.get("commit") or "")
    machine = str(meta.get("machine") or "")
    label = str(meta.get("label") or "")
    if not commit:
        m = re.search(r"^- Commit: ([0-9a-f]{7,40}(?: \(dirty tree\))?)", md, re.M)
        commit = m.group(1) if m else ""
    if not machine:
        m = re.search(r"^- Machine: ([^;\n]*)", md, re.M)
        machine = m.group(1).strip() if m else ""
    if not label:  # tracking_report.py's measured note, or the .md's title (fleet_memory.py's)
        m = re.match(r"(quiet|busy) machine", str(meta.get("note") or "")) or \
            re.search(r"\b(quiet|busy) machine", md.split("\n", 1)[0])
        label = m.group(0) if m else ""
    return commit, machine, label


# ---- the figures ----------------------------------------------------------------------------------

def ingest(workload):
    def extract(doc, path):
        rows = [r for r in doc["rows"] if r.get("workload") == workload]
        if not rows:
            raise NotJ(f"no {workload} rounds")
        if workload == "teltonika":
            m = re.search(r"\bRECORDS=(\d+)", str(doc.get("meta", {}).get("command", "")))
            if m and not 10 <= int(m.group(1)) <= 50:
                raise NotJ(f"{m.group(1)}-record packets (the issue's cell: 10-50)")
        cpu = [r["cpu_us_per_fix"] for r in rows if r.get("cpu_us_per_fix") is not None]
        return Measured([r["fixes_per_s"] for r in rows],
                        extra="%.2f us a fix" % statistics.median(cpu) if cpu else "")
    return extract


def live_is_fleet(program):
    """The fleet program at the bench's defaults: "fleet", or a row label that only
    names default settings (fleet/deflate=on, fleet/lv=20)."""
    parts = program.split("/")
    return parts[0] == "fleet" and all(p in ("deflate=on", "lv=20") for p in parts[1:])


def live_rows(doc):
    rows = [r for r in doc["rows"] if r.get("rate") == 10000 and r.get("viewers") == 500]
    if not rows:
        raise NotJ("no run at 10,000 fixes/s x 500 viewers")
    mine = [r for r in rows if live_is_fleet(str(r.get("program", "")))]
    if not mine:
        raise NotJ("no 'fleet' run at 10,000 x 500 (only %s)" % ", ".join(sorted({r["program"] for r in rows})))
    failures = sum(r["viewers"] - r["connected"] + r.get("closed_early", 0) for r in mine)
    return mine, failures


def live_p99(doc, path):
    rows, failures = live_rows(doc)
    return Measured([r["p99_ms"] for r in rows],
                    failed=f"{failures} viewer(s) failed" if failures else "")


def live_cpu(doc, path):
    rows, _ = live_rows(doc)
    return Measured([r["server_cpu_share"] for r in rows],
                    extra="%.1f us a fix" % statistics.median(r["cpu_us_per_fix"] for r in rows))


def history(report, min_days):
    def extract(doc, path):
        servers = [s for s in dict.fromkeys(r["server"] for r in doc) if s not in ("raw", "baseline")]
        server = "chunks" if "chunks" in servers else (servers[0] if servers else None)
        rows = [r for r in doc if r["server"] == server and r["report"] == report]
        if not rows:
            raise NotJ(f"no {report} report" + (f" from the {server} server" if server else ""))
        if min_days:
            m = re.search(r"\bHISTORY_DAYS=(\d+)", companion_md(path))
            if m and int(m.group(1)) < min_days:
                raise NotJ(f"a database of {m.group(1)} days (the issue's cell: a month)")
        wall = [v for r in rows for v in r["wall_ms"]]
        cpu = [v for r in rows for v in r.get("server_cpu_ms", [])]
        extra = ""
        if cpu:
            extra = "server CPU %.0f (%.0f-%.0f) ms" % (statistics.median(cpu), min(cpu), max(cpu))
        return Measured(wall, extra=extra)
    return extract


def memory(doc, path):
    servers = [s for s in dict.fromkeys(r["server"] for r in doc) if s != "baseline"]
    server = "weft" if "weft" in servers else (servers[0] if servers else None)
    rows = [r for r in doc if r["server"] == server]
    if not rows:
        raise NotJ("no run of the server under test (only a baseline)")
    if any(r["devices"] != 100000 for r in rows):
        raise NotJ("%s devices (the issue's cell: 100,000)" % "/".join(sorted({f"{r['devices']:,}" for r in rows})))
    if any(r.get("reporting", r["devices"]) != r["devices"] for r in rows):
        raise NotJ("not every device reported")
    heap = [(r["reported"]["RssAnon"] - r["empty"]["RssAnon"]) * 1024 / r["devices"] for r in rows]
    table = [(r["reported"]["live"] - r["empty"]["live"]) / r["devices"] for r in rows]
    short = sum(r["devices"] - r.get("acked", r["devices"]) for r in rows)
    return Measured(heap, extra="live table %.0f B" % statistics.median(table),
                    failed=f"{short} fix(es) not answered 200" if short else "")


# name, target text, target value, higher is better, kind, extract, format of a number, unit
FIGURES = [
    ("ingest: Teltonika, 10-50 records a packet", "≥ 200,000 fixes/s", 200000, True,
     "ingest", ingest("teltonika"), "{:,.0f}", "fixes/s"),
    ("ingest: OsmAnd, keep-alive HTTP", "≥ 50,000 fixes/s", 50000, True,
     "ingest", ingest("osmand"), "{:,.0f}", "fixes/s"),
    ("live: 10,000 devices x 500 viewers, p99", "≤ 50 ms", 50, False,
     "live", live_p99, "{:.1f}", "ms"),
    ("live: 10,000 devices x 500 viewers, CPU", "≤ 0.50 of its core", 0.5, False,
     "live", live_cpu, "{:.2f}", "of the core"),
    ("history: route of a day at 1 Hz", "≤ 50 ms", 50, False,
     "history", history("route_compact", 0), "{:.1f}", "ms"),
    ("history: trips of a month", "≤ 200 ms", 200, False,
     "history", history("trips", 30), "{:.1f}", "ms"),
    ("memory: a device, at 100,000", "≤ 1 KB (1,024 B)", 1024, False,
     "memory", memory, "{:,.0f}", "B"),
]
ANCHOR = ("anchor: Traccar, published", "8,000 msgs/s on 4 cores, 8 GB")


def verdict(m, target, higher):
    """met / NOT met / parity band (see the module's doc), with the median's ratio to the target."""
    ok = (lambda v: v >= target) if higher else (lambda v: v <= target)
    ratio = " (%.2fx)" % (m.median / target)
    if m.failed:
        return "NOT met: " + m.failed + ratio
    if ok(m.lo) and ok(m.hi):
        return "met" + ratio
    if not ok(m.lo) and not ok(m.hi):
        return "NOT met" + ratio
    return "parity band" + ratio


# ---- which files --------------------------------------------------------------------------------

def git_added(directory):
    """{file name in `directory`: unix time of the newest commit that added it}, and the set of
    names git tracks there; (None, None) outside a git work tree."""
    try:
        log = subprocess.run(["git", "-C", directory, "log", "--diff-filter=A", "--name-only", "--relative",
                              "--format=@%ct", "--", "."], capture_output=True, text=True, check=True).stdout
        tracked = subprocess.run(["git", "-C", directory, "ls-files", "--", "."], capture_output=True, text=True,
                                 check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None, None
    added, t = {}, 0
    for line in log.splitlines():
        if line.startswith("@"):
            t = int(line[1:])
        elif line.strip():
            added.setdefault(line.strip(), t)  # the log is newest first
    return added, set(tracked.split("\n")) - {""}


def rank_key(path, added):
    """Newest last: (the date in the name, when it was added to git or else modified, name)."""
    name = os.path.basename(path)
    m = re.search(r"\d{4}-\d{2}-\d{2}", name)
    t = (added or {}).get(name)
    if t is None:
        t = os.path.getmtime(path)
    return (m.group(0) if m else "", t, name)


def candidates(paths, results_dir):
    """[(path, doc, kind)] newest first, and warnings. `paths` empty: the fleet*.json git tracks
    in results_dir (every fleet*.json there outside git)."""
    warn = []
    cache = {}

    def git_of(d):
        if d not in cache:
            cache[d] = git_added(d)
        return cache[d]

    explicit = bool(paths)
    if not explicit:
        added, tracked = git_of(results_dir)
        names = sorted(n for n in os.listdir(results_dir) if n.startswith("fleet") and n.endswith(".json"))
        if tracked is not None:
            names = [n for n in names if n in tracked]
        paths = [os.path.join(results_dir, n) for n in names]
    found = []
    for p in paths:
        try:
            doc = load(p)
        except (OSError, ValueError) as e:
            warn.append(f"skipped {p}: {e}")
            continue
        k = kind(doc)
        if k is None:
            if explicit:  # a committed file of no kind (an empty run, say) is not news
                warn.append(f"skipped {p}: not a fleet ingest, history, memory or live result")
            continue
        found.append((rank_key(p, git_of(os.path.dirname(os.path.abspath(p)))[0]), p, doc, k))
    found.sort(key=lambda x: x[0], reverse=True)
    return [(p, doc, k) for _, p, doc, k in found], warn


def table(cands):
    """One row per figure: dict(figure, target, measured, verdict, path)."""
    rows = []
    for name, target_text, target, higher, k, extract, fmt, unit in FIGURES:
        row = {"figure": name, "target": target_text, "measured": "not measured", "verdict": "", "path": None}
        first_reason = None
        for p, doc, dk in cands:
            if dk != k:
                continue
            try:
                m = extract(doc, p)
            except NotJ as e:
                first_reason = first_reason or f"{os.path.basename(p)}: {e}"
                continue
            except (KeyError, TypeError, ValueError, ZeroDivisionError, AttributeError) as e:
                first_reason = first_reason or f"{os.path.basename(p)}: unreadable ({type(e).__name__} {e})"
                continue
            v = fmt.format(m.median)
            if m.rounds > 1:
                v += " (%s-%s)" % (fmt.format(m.lo), fmt.format(m.hi))
            v += f" {unit}, {m.rounds} round" + ("s" if m.rounds != 1 else "")
            if m.extra:
                v += "; " + m.extra
            row.update(measured=v, verdict=verdict(m, target, higher), path=p, doc=doc)
            break
        else:
            if first_reason:
                row["measured"] = f"not measured (newest {k} file: {first_reason})"
        rows.append(row)
    rows.append({"figure": ANCHOR[0], "target": ANCHOR[1], "measured": "their figure, not measured here",
                 "verdict": "anchor, not a target", "path": None})
    return rows


# ---- output ---------------------------------------------------------------------------------------

def rel(path):
    a = os.path.abspath(path)
    return os.path.relpath(a, ROOT) if a.startswith(ROOT + os.sep) else path


def sources(rows):
    seen = {}
    for r in rows:
        if r["path"] and r["path"] not in seen:
            seen[r["path"]] = provenance(r["path"], r["doc"])
    return seen


def plain(rows):
    head = ("figure", "target", "measured: median (min-max)", "verdict", "file")
    body = [(r["figure"], r["target"], r["measured"], r["verdict"], os.path.basename(r["path"]) if r["path"] else "")
            for r in rows]
    w = [max(len(x[i]) for x in [head] + body) for i in range(len(head))]
    out = ["  ".join(c.ljust(w[i]) for i, c in enumerate(x)).rstrip() for x in [head] + body]
    out.insert(1, "  ".join("-" * n for n in w))
    out += source_lines(rows, lambda p: "  " + rel(p))
    return "\n".join(out) + "\n"


def source_lines(rows, name):
    """The lines under a table: each result file (as name(path) shows it) with its commit, machine and label."""
    src = sources(rows)
    lines = [""] if src else []
    for p, (commit, machine, label) in src.items():
        lines.append("%s: %s" % (name(p), "; ".join(x for x in (
            "commit " + commit if commit else "", machine, label) if x) or "no provenance recorded"))
    return lines


def link(path):
    r = rel(path)
    if r.startswith("bench/results/"):
        return f"[{os.path.basename(r)}](../{r})"
    return f"`{r}`"


def markdown(rows):
    cell = lambda s: s.replace("|", "\\|")
    out = ["| figure | target | measured: median (min-max) | verdict | result file |",
           "| --- | --- | --- | --- | --- |"]
    for r in rows:
        verdict_md = r["verdict"]
        for word in ("NOT met", "parity band", "met"):
            if verdict_md.startswith(word):
                verdict_md = f"**{word}**" + verdict_md[len(word):]
                break
        out.append("| %s | %s | %s | %s | %s |" % (cell(r["figure"]), cell(r["target"]), cell(r["measured"]),
                                                   cell(verdict_md), link(r["path"]) if r["path"] else ""))
    out += source_lines(rows, lambda p: "- " + link(p))
    return "\n".join(out) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description="Issue 11 part J: every fleet figure in one table.")
    ap.add_argument("files", nargs="*", help="result files to read (default: the newest committed ones)")
    ap.add_argument("--markdown", action="store_true", help="a Markdown table for docs/fleet.md")
    ap.add_argument("--results", default=RESULTS, help=argparse.SUPPRESS)  # the tests' directory
    a = ap.parse_args(argv)
    missing = [f for f in a.files if not os.path.isfile(f)]
    if missing:
        print("fleet_j.py: no such file: " + ", ".join(missing), file=sys.stderr)
        return 2
    cands, warn = candidates(a.files, a.results)
    for w in warn:
        print("fleet_j.py: " + w, file=sys.stderr)
    rows = table(cands)
    sys.stdout.write(markdown(rows) if a.markdown else plain(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
