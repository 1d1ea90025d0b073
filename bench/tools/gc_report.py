#!/usr/bin/env python3
"""The GC case's report (bench/run-gc.sh; docs/gc-case.md): reads the work
directory of a run (meta, and per program and round gcload's JSON plus the
RSS after loading) and writes OUT.json, OUT.md and OUT.svg (p50, p99, p99.9 and max
latency per 10 s window over time, one line per program).

    gc_report.py WORK OUT PROG...

OUT.json, per program: windows [{t, p50_us, p99_us, p999_us, max_us,
count, rss_kb}], overall {p50_us, p99_us, p999_us, max_us}, rss_kb
{after_load, max}; with several rounds, windows and overall are those of
the round whose overall p99.9 is the median, and overall_range holds each
figure's min and max over the rounds. Other reports read these names.

Per program also send_late and from_send (p50/p99/p99.9/max of the median
round, when gcload wrote them): how late the generator wrote each request
after its due time, and the time from that write to the answer. With the
"floor" program (bench/tools/gcfloor.c, a server that does no work) they
tell the generator's and the machine's share of a tail from the servers'.
The floor is not a peer: it has no comparison row.

"comparison" holds weft against each peer on p99.9, p99 and max: the ratio
of the medians (peer / weft) and a verdict from the min-max over the
rounds (the noise band): "parity" when the ranges overlap, "ahead" or
"behind" when they are apart; and no verdict at all (the reason instead)
when the run was on a busy machine or had fewer than MIN_ROUNDS clean
rounds, because then the figures are waits for a CPU or a single sample.
"""
import json
import os
import statistics
import sys

LABELS = {
    "weft": "weft (C, apps/readstates, 1 worker)",
    "go": "Go net/http, map by value, GC defaults",
    "go-ptr": "Go net/http, map of pointers, GC defaults",
    "go-gogc": "Go net/http, map by value, GOGC tuned",
    "rust": "Rust axum + tokio current_thread, sharded HashMap",
    "weft-base": "weft at BASE (the old side of an A/B, 1 worker)",
    "floor": "floor: a server that does no work (bench/tools/gcfloor.c)",
    "floor-spin": "floor-spin: the same, polling instead of sleeping (gcfloor --spin)",
}
NOT_PEERS = ("weft", "floor", "floor-spin")  # rows without a comparison against weft
COLORS = {"weft": "#1f77b4", "go": "#2ca02c", "go-ptr": "#98df8a", "go-gogc": "#bcbd22",
          "rust": "#d62728", "weft-base": "#9467bd", "floor": "#7f7f7f",
          "floor-spin": "#c7c7c7"}
FIELDS = ("p50_us", "p99_us", "p999_us", "max_us")
GOAL_US = 1000
MIN_ROUNDS = 3  # fewer clean rounds give no noise band to judge by


def read(path, default=None):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return default


def meta(work):
    m = {}
    for line in (read(os.path.join(work, "meta"), "") or "").splitlines():
        k, _, v = line.partition("=")
        m[k] = v
    return m


def rounds_of(work, prog):
    """[(round, gcload JSON, rss after load, note)] and failures."""
    out, fails, r = [], [], 1
    while True:
        base = os.path.join(work, "%s.r%d" % (prog, r))
        if not any(os.path.exists(base + s) for s in (".json", ".fail", ".cmd")):
            break
        fail = read(base + ".fail")
        if fail:
            fails.append("round %d: %s" % (r, fail))
        else:
            try:
                with open(base + ".json") as f:
                    o = json.load(f)
                o["_rss_after_load"] = int(read(base + ".rss_after_load", "0") or 0)
                o["_cmd"] = read(base + ".cmd", "")
                o["_note"] = read(base + ".note", "")
                o["_round"] = r
                out.append(o)
            except (OSError, ValueError) as e:
                fails.append("round %d: unreadable result (%s)" % (r, e))
        r += 1
    return out, fails


def cpu_cell(p, rounds):
    c, rg = p.get("server_cpu_us_per_req"), p.get("server_cpu_us_per_req_range")
    if c is None:
        return "n/a"
    return "%s (%s–%s)" % (c, rg[0], rg[1]) if rounds > 1 and rg else str(c)


def cpu_per_req(o):
    """Server CPU µs per request of one gcload run (its measured part)."""
    cpu, n = o.get("server_cpu_s", -1), o["overall"]["count"]
    return round(cpu * 1e6 / n, 2) if cpu is not None and cpu >= 0 and n else None


def summarise(prog, runs, fails):
    p = {"label": LABELS.get(prog, prog), "rounds_ok": len(runs), "failures": fails}
    if not runs:
        return p
    runs_by = sorted(runs, key=lambda o: o["overall"]["p999_us"])
    med = runs_by[(len(runs_by) - 1) // 2]
    p["server_cmd"] = med["_cmd"]
    p["windows"] = [{k: w[k] for k in ("t", "count") + FIELDS + ("rss_kb",)} for w in med["windows"]]
    p["overall"] = {k: med["overall"][k] for k in FIELDS}
    p["overall"]["count"] = med["overall"]["count"]
    p["overall_range"] = {k: [min(o["overall"][k] for o in runs), max(o["overall"][k] for o in runs)]
                          for k in FIELDS}
    p["rss_kb"] = {"after_load": med["_rss_after_load"], "max": med["rss_kb"]["max"]}
    p["server_cpu_us_per_req"] = cpu_per_req(med)
    cpus = [c for c in (cpu_per_req(o) for o in runs) if c is not None]
    # CPU time is less load-sensitive than latency: its own range over the rounds
    p["server_cpu_us_per_req_range"] = [min(cpus), max(cpus)] if cpus else None
    p["achieved_rps"] = med["achieved_rps"]
    p["errors"] = med["errors"]
    p["non2xx"] = med["non2xx"]
    p["unanswered"] = med["unanswered"]
    p["median_round"] = med["_round"]
    for k in ("send_late", "from_send"):
        if k in med:
            p[k] = {f: med[k][f] for f in FIELDS}
    p["rounds"] = [{"round": o["_round"], "overall": {k: o["overall"][k] for k in FIELDS},
                    "rss_kb": {"after_load": o["_rss_after_load"], "max": o["rss_kb"]["max"]},
                    "errors": o["errors"], "non2xx": o["non2xx"], "note": o["_note"],
                    "server_cpu_us_per_req": cpu_per_req(o)}
                   for o in runs]
    return p


def goal(progs):
    w = progs.get("weft")
    if not w or "overall" not in w:
        return {"target": "weft p99.9 <= 1 ms, no periodic spikes", "met": None,
                "why": "weft did not run"}
    bad = [x for x in w["windows"] if x["p999_us"] > GOAL_US]
    o = w["overall"]["p999_us"]
    met = o <= GOAL_US and not bad and not w["errors"]
    why = "overall p99.9 %.3f ms; %d of %d windows over 1 ms at p99.9" % (
        o / 1000, len(bad), len(w["windows"]))
    if bad:
        why += " (at t = %s s)" % ", ".join(str(int(x["t"])) for x in bad[:12])
    if w["errors"]:
        why += "; %d failed requests" % w["errors"]
    return {"target": "weft p99.9 <= 1 ms, no periodic spikes", "met": met, "why": why}


def comparison(programs, busy):
    """weft against each peer (lower latency is better); see the module doc."""
    w = programs.get("weft")
    out = {}
    if not w or "overall" not in w:
        return out
    for name, p in programs.items():
        if name in NOT_PEERS or "overall" not in p:
            continue
        c = {}
        for k in ("p999_us", "p99_us", "max_us"):
            r = {"ratio": p["overall"][k] / w["overall"][k] if w["overall"][k] else None}
            n = min(w["rounds_ok"], p["rounds_ok"])
            if busy:
                r["verdict"] = None
                r["why"] = "busy machine: the latencies are waits for a CPU"
            elif n < MIN_ROUNDS:
                r["verdict"] = None
                r["why"] = "%d clean round(s); a verdict needs %d" % (n, MIN_ROUNDS)
            else:
                (wl, wh), (pl, ph) = w["overall_range"][k], p["overall_range"][k]
                r["verdict"] = "parity" if wl <= ph and pl <= wh else ("ahead" if wh < pl else "behind")
            c[k] = r
        out[name] = c
    return out


def ms(us):
    return "%.3f" % (us / 1000.0)


def markdown(doc):
    m, L = doc, []
    L.append("# GC case: Discord's Read States service, %s" % m["date"])
    L.append("")
    L.append("**%s.** %s" % ("Busy machine" if m["busy"] else "Quiet machine", m["busy"] or ""))
    L.append("")
    L.append("%s users in memory; %s req/s open loop (coordinated omission corrected), %s %% "
             "acks (POST), the rest reads (GET); %s connections; %s s measured after %s s "
             "warm-up, %s round(s), windows of %s s. Server on one core (%s), generator on "
             "the other (%s)." % (m["users"], m["rate"], m["update_pct"], m["conns"],
                                  m["duration_s"], m["warmup_s"], m["rounds"], m["window_s"],
                                  m["server_pin"], m["generator_pin"]))
    L.append("")
    L.append("| program | p50 ms | p99 ms | p99.9 ms | max ms | worst window p99.9 ms | "
             "RSS after load MB | RSS max MB | server CPU µs/req | errors |")
    L.append("|---|---|---|---|---|---|---|---|---|---|")
    for name, p in m["programs"].items():
        if "overall" not in p:
            L.append("| %s | did not run: %s |||||||||" % (p["label"], "; ".join(p["failures"])))
            continue
        o, rg = p["overall"], p["overall_range"]

        def cell(k):
            s = ms(o[k])
            if m["rounds"] > 1:
                s += " (%s–%s)" % (ms(rg[k][0]), ms(rg[k][1]))
            return s
        worst = max(w["p999_us"] for w in p["windows"]) if p["windows"] else 0
        L.append("| %s | %s | %s | %s | %s | %s | %.0f | %.0f | %s | %d |" % (
            p["label"], cell("p50_us"), cell("p99_us"), cell("p999_us"), cell("max_us"),
            ms(worst), p["rss_kb"]["after_load"] / 1024, p["rss_kb"]["max"] / 1024,
            cpu_cell(p, m["rounds"]), p["errors"] + p["unanswered"]))
    L.append("")
    g = m["goal"]
    L.append("**Goal for weft (%s): %s** — %s." % (
        g["target"], {True: "met", False: "not met", None: "not measured"}[g["met"]], g["why"]))
    L.append("")
    if m.get("comparison"):
        L.append("weft against each peer (peer / weft, median of the rounds; the verdict from the min–max "
                 "over the rounds: ranges that overlap are parity):")
        L.append("")
        L.append("| peer | p99.9 | p99 | max |")
        L.append("|---|---|---|---|")
        for name, c in m["comparison"].items():
            cells = []
            for k in ("p999_us", "p99_us", "max_us"):
                r = c[k]
                ratio = "%.2f×" % r["ratio"] if r["ratio"] is not None else "n/a"
                cells.append("%s %s" % (ratio, r["verdict"] or "(no verdict: %s)" % r["why"]))
            L.append("| %s | %s |" % (m["programs"][name]["label"], " | ".join(cells)))
        L.append("")
    split = [(n, p) for n, p in m["programs"].items() if p.get("send_late") and p.get("from_send")]
    if split:
        L.append("Where the tail is (median round): the generator's delay in writing a request after "
                 "its due time, and the time from that write to the answer (kernel, server, and the "
                 "generator's delay in reading it). The floor row is a server that does no work.")
        L.append("")
        L.append("| program | p99.9 ms | generator late p99 ms | generator late p99.9 ms | "
                 "write to answer p99 ms | write to answer p99.9 ms |")
        L.append("|---|---|---|---|---|---|")
        for name, p in split:
            L.append("| %s | %s | %s | %s | %s | %s |" % (
                p["label"], ms(p["overall"]["p999_us"]), ms(p["send_late"]["p99_us"]),
                ms(p["send_late"]["p999_us"]), ms(p["from_send"]["p99_us"]),
                ms(p["from_send"]["p999_us"])))
        L.append("")
    L.append("Latency over time: %s (p50, p99, p99.9 and max per window)." % os.path.basename(m["chart"]))
    L.append("")
    L.append("## p99.9 per window (ms)")
    L.append("")
    names = [n for n, p in m["programs"].items() if "windows" in p]
    if names:
        L.append("| t (s) | " + " | ".join(names) + " |")
        L.append("|---" * (len(names) + 1) + "|")
        nwin = max(len(m["programs"][n]["windows"]) for n in names)
        for i in range(nwin):
            row = []
            for n in names:
                ws = m["programs"][n]["windows"]
                row.append("%s / max %s" % (ms(ws[i]["p999_us"]), ms(ws[i]["max_us"]))
                           if i < len(ws) else "")
            L.append("| %d | %s |" % (i * m["window_s"], " | ".join(row)))
    L.append("")
    L.append("## Setup")
    L.append("")
    for k in ("machine", "weft_commit", "base", "cc", "go", "rustc", "crates", "command"):
        if k != "base" or m.get(k):
            L.append("- %s: `%s`" % (k, m.get(k)))
    for name, p in m["programs"].items():
        if p.get("server_cmd"):
            L.append("- %s server: `%s`" % (name, p["server_cmd"]))
        for r in p.get("rounds", []):
            if r["note"]:
                L.append("- %s round %d: %s" % (name, r["round"], r["note"]))
    return "\n".join(L) + "\n"


def svg(doc):
    """Four panels (p50, p99, p99.9, max: the issue's per-window figures) of
    latency per window, one log scale for all, a line per program."""
    PANELS = (("p50_us", "p50"), ("p99_us", "p99"), ("p999_us", "p99.9"), ("max_us", "max"))
    W, PAD_L, PAD_R, PAD_T, PANEL, GAP = 760, 70, 230, 40, 150, 45
    H = PAD_T + len(PANELS) * (PANEL + GAP)
    progs = [(n, p) for n, p in doc["programs"].items() if p.get("windows")]
    vals = [w[k] for _, p in progs for w in p["windows"] for k, _ in PANELS if w.get(k, 0) > 0]
    lo = 10 ** int(__import__("math").floor(__import__("math").log10(min(vals)))) if vals else 10
    hi = 10 ** int(__import__("math").ceil(__import__("math").log10(max(vals)))) if vals else 10000
    hi = max(hi, lo * 10)
    tmax = max((p["windows"][-1]["t"] + doc["window_s"] for _, p in progs), default=doc["window_s"])
    import math
    pw = W - PAD_L - PAD_R
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" '
           'font-size="12">' % (W, H),
           '<rect width="100%" height="100%" fill="white"/>',
           '<text x="%d" y="20" font-size="14">GC case: latency per %s s window (%s req/s, %s)</text>'
           % (PAD_L, doc["window_s"], doc["rate"], "busy machine" if doc["busy"] else "quiet machine")]
    for pi, (key, title) in enumerate(PANELS):
        top = PAD_T + pi * (PANEL + GAP)

        def y(v):
            v = max(v, lo)
            return top + PANEL - (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo)) * PANEL

        def x(t):
            return PAD_L + t / tmax * pw
        out.append('<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#999"/>' % (PAD_L, top, pw, PANEL))
        out.append('<text x="%d" y="%d">%s (ms, log)</text>' % (PAD_L, top - 6, title))
        d = lo
        while d <= hi:
            out.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#eee"/>' % (PAD_L, PAD_L + pw, y(d), y(d)))
            out.append('<text x="%d" y="%.1f" text-anchor="end">%g</text>' % (PAD_L - 4, y(d) + 4, d / 1000))
            d *= 10
        if GOAL_US >= lo and GOAL_US <= hi:
            out.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#888" stroke-dasharray="4 3"/>'
                       % (PAD_L, PAD_L + pw, y(GOAL_US), y(GOAL_US)))
        for t in range(0, int(tmax) + 1, max(int(tmax // 6 // 10 * 10), 10)):
            out.append('<text x="%.1f" y="%d" text-anchor="middle">%d s</text>' % (x(t), top + PANEL + 14, t))
        for n, p in progs:
            pts = " ".join("%.1f,%.1f" % (x(w["t"] + doc["window_s"] / 2), y(w.get(key, 0))) for w in p["windows"])
            out.append('<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"/>' % (COLORS.get(n, "#555"), pts))
    for i, (n, p) in enumerate(progs):
        yy = PAD_T + 10 + i * 18
        out.append('<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="%s" stroke-width="3"/>' % (W - PAD_R + 10, W - PAD_R + 30, yy, yy, COLORS.get(n, "#555")))
        out.append('<text x="%d" y="%d">%s</text>' % (W - PAD_R + 34, yy + 4, n))
    out.append('<text x="%d" y="%d" fill="#666">dashed: 1 ms (the goal for weft\'s p99.9)</text>' % (W - PAD_R + 10, PAD_T + 10 + len(progs) * 18 + 10))
    out.append("</svg>")
    return "\n".join(out) + "\n"


def build(work, out, progs):
    m = meta(work)
    programs = {}
    first = None
    for prog in progs:
        runs, fails = rounds_of(work, prog)
        programs[prog] = summarise(prog, runs, fails)
        if runs and first is None:
            first = runs[0]
    g = first or {}
    doc = {
        "case": "gc", "date": m.get("date"), "busy": m.get("busy", ""),
        "machine": m.get("machine"), "server_pin": m.get("server_pin"),
        "generator_pin": m.get("generator_pin"), "weft_commit": m.get("weft_commit"),
        "versions": {k: m.get(k) for k in ("cc", "go", "rustc", "crates")},
        "cc": m.get("cc"), "go": m.get("go"), "rustc": m.get("rustc"), "crates": m.get("crates"),
        "command": m.get("command"), "base": m.get("base", ""),
        "rate": g.get("rate"), "duration_s": g.get("duration_s"), "warmup_s": g.get("warmup_s"),
        "window_s": g.get("window_s", 10), "users": g.get("users"), "update_pct": g.get("update_pct"),
        "conns": g.get("conns"), "rounds": max([len(p.get("rounds", [])) for p in programs.values()] + [0]),
        "chart": out + ".svg", "programs": programs,
    }
    doc["goal"] = goal(programs)
    doc["comparison"] = comparison(programs, doc["busy"])
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    with open(out + ".json", "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    with open(out + ".svg", "w") as f:
        f.write(svg(doc))
    with open(out + ".md", "w") as f:
        f.write(markdown(doc))
    return doc


if __name__ == "__main__":
    if len(sys.argv) < 4:
        sys.exit("usage: gc_report.py WORK OUT PROG...")
    build(sys.argv[1], sys.argv[2], sys.argv[3:])
