"""bench/tools/ws_report.py — bench-ws's rows (JSON lines, one per program,
round and measurement, as bench/ws/ws_load.c prints them with "prog" and
"round" added by bench/run-ws.sh) into OUT.json and OUT.md: per program the
median and min-max of every metric over the rounds, weft's ratio against the
best peer, and the issue's goals (met / not met / parity inside the noise).

    python3 bench/tools/ws_report.py OUT ROWS.jsonl --command CMD [--label L]
        [--pinning TEXT] [--version name=value]...

A round that failed (server did not start or died, the load generator
failed) or that is not clean (dial failures, errors, missing deliveries) is
kept in the file with its reason and left out of the medians."""
import argparse
import json
import os
import platform
import statistics
import subprocess

PEERS = ("go", "rust")
LABELS = {"weft": "weft (hub, upgrade_go)", "go": "Go gorilla/websocket",
          "rust": "Rust tokio-tungstenite"}
# (mode, metric, unit, higher is better)
METRICS = [
    ("echo", "msgs_per_s", "messages/s", True),
    ("echo", "server_cpu_us_per_msg", "server CPU us/message", False),
    ("fanout", "delivered_per_cpu_s", "delivered messages per server CPU-s", True),
    ("fanout", "p99_ms", "publish-to-receive p99 ms", False),
    ("fanout", "p50_ms", "publish-to-receive p50 ms", False),
    ("idle", "bytes_per_conn", "server RSS bytes per idle connection", False),
]
# (mode, metric, kind, threshold, wording): kind "peer" = weft / best peer
# against threshold, "abs" = weft's median against it
GOALS = [
    ("fanout", "delivered_per_cpu_s", "peer", 1.5, ">= 1.5x the best peer's delivered messages per CPU-second"),
    ("idle", "bytes_per_conn", "abs", 8192, "<= 8 KB (8192 bytes) per idle connection"),
    ("echo", "server_cpu_us_per_msg", "peer", 0.8, "server CPU per echoed message <= 0.8x the best peer's"),
]


def unclean(r):
    """Why a row cannot count, or None."""
    if r.get("failed"):
        return r["failed"]
    if r.get("dial_failed"):
        return "%d dials failed (%s)" % (r["dial_failed"], r.get("first_error", ""))
    if r.get("errors"):
        return "%d errors (%s)" % (r["errors"], r.get("first_error", ""))
    if r.get("mode") == "fanout" and r.get("delivered", 0) < r.get("expected", 0):
        return "%d of %d deliveries missing" % (r["expected"] - r["delivered"], r["expected"])
    return None


def value(r, metric):
    if metric in ("p99_ms", "p50_ms"):
        return r.get("latency_ms", {}).get(metric[:-3])
    return r.get(metric)


def summarize(rows):
    """{prog: {metric: {median, min, max, n}}} over the clean rows."""
    out = {}
    for mode, metric, _, _ in METRICS:
        for r in rows:
            if r.get("mode") != mode or unclean(r):
                continue
            v = value(r, metric)
            if v is None or v < 0:
                continue
            out.setdefault(r["prog"], {}).setdefault(metric, []).append(v)
    return {p: {m: {"median": statistics.median(v), "min": min(v), "max": max(v), "n": len(v)}
                for m, v in ms.items()} for p, ms in out.items()}


def best_peer(summary, metric, higher):
    have = [(summary[p][metric]["median"], p) for p in PEERS if metric in summary.get(p, {})]
    if not have:
        return None
    return (max if higher else min)(have)[1]


def overlap(a, b):
    return a["min"] <= b["max"] and b["min"] <= a["max"]


def ratios(summary):
    """weft / best peer per metric: the ratio of medians, and whether the two
    min-max ranges overlap (then the difference is inside the noise)."""
    out = {}
    w = summary.get("weft", {})
    for _, metric, _, higher in METRICS:
        p = best_peer(summary, metric, higher)
        if p is None or metric not in w or summary[p][metric]["median"] == 0:
            continue
        a, b = w[metric], summary[p][metric]
        out[metric] = {"best_peer": p, "ratio": a["median"] / b["median"],
                       "ratio_min": a["min"] / b["max"] if b["max"] else None,
                       "ratio_max": a["max"] / b["min"] if b["min"] else None,
                       "overlap": overlap(a, b)}
    return out


def goals(summary, rat):
    out = []
    for mode, metric, kind, thr, words in GOALS:
        g = {"goal": words, "metric": metric}
        w = summary.get("weft", {}).get(metric)
        higher = next(h for _, m, _, h in METRICS if m == metric)
        if w is None:
            g["verdict"] = "not measured"
        elif kind == "abs":
            g["value"] = w["median"]
            ok = w["median"] >= thr if higher else w["median"] <= thr
            g["verdict"] = "met" if ok else "not met"
        elif metric not in rat:
            g["verdict"] = "no peer measured"
        else:
            r = rat[metric]
            g["value"] = r["ratio"]
            ok = r["ratio"] >= thr if higher else r["ratio"] <= thr
            g["verdict"] = "met" if ok else "not met"
            if not ok and r["overlap"]:
                g["verdict"] = "not met (parity with %s: the ranges overlap)" % r["best_peer"]
            elif ok and r["overlap"]:
                # the medians reach the ratio, but inside the noise it is parity
                g["verdict"] = "not established (met by the medians; the ranges overlap %s's)" % r["best_peer"]
        out.append(g)
    return out


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()
    except OSError:
        return ""


def fmt(v):
    if v is None:
        return "-"
    if abs(v) >= 1000:
        return "%.0f" % v
    if abs(v) >= 10:
        return "%.1f" % v
    return "%.3g" % v


def cell(s, p, metric):
    m = s.get(p, {}).get(metric)
    if not m:
        return "n/a"
    return "%s (%s-%s)" % (fmt(m["median"]), fmt(m["min"]), fmt(m["max"]))


def write(out, rows, meta):
    summary = summarize(rows)
    rat = ratios(summary)
    gl = goals(summary, rat)
    progs = [p for p in ("weft",) + PEERS if p in {r["prog"] for r in rows}]
    with open(out + ".json", "w") as f:
        json.dump({"meta": meta, "summary": summary, "ratios": rat, "goals": gl, "rows": rows}, f, indent=1)
    with open(out + ".md", "w") as f:
        f.write("# bench-ws: WebSocket echo, fan-out and idle memory, weft against Go and Rust%s\n\n"
                % (" (%s)" % meta["label"] if meta.get("label") else ""))
        for k in ("command", "commit", "machine", "pinning", "loadavg_at_end"):
            f.write("- %s: %s\n" % (k, meta.get(k)))
        for k, v in meta.get("versions", {}).items():
            f.write("- %s: %s\n" % (k, v))
        f.write("\nMedian (min-max) over the clean rounds; compression off on every server.\n\n")
        f.write("| metric | " + " | ".join(LABELS[p] for p in progs) + " | weft / best peer |\n")
        f.write("|---|" + "---:|" * (len(progs) + 1) + "\n")
        for _, metric, unit, higher in METRICS:
            r = rat.get(metric)
            rc = "-" if not r else "%.2f (%s-%s) vs %s%s" % (
                r["ratio"], fmt(r["ratio_min"]), fmt(r["ratio_max"]), r["best_peer"],
                ", ranges overlap" if r["overlap"] else "")
            f.write("| %s (%s) | %s | %s |\n" % (unit, "higher is better" if higher else "lower is better",
                                                 " | ".join(cell(summary, p, metric) for p in progs), rc))
        f.write("\nGoals (issue 10 F):\n\n")
        for g in gl:
            f.write("- %s: **%s**%s\n" % (g["goal"], g["verdict"],
                                           " (%s)" % fmt(g["value"]) if "value" in g else ""))
        bad = [(r, unclean(r)) for r in rows if unclean(r)]
        if bad:
            f.write("\nRounds left out of the medians:\n\n")
            for r, why in bad:
                f.write("- %s round %s %s: %s\n" % (r.get("prog"), r.get("round"), r.get("mode"), why))
        f.write("\nEvery round:\n\n")
        for r in rows:
            f.write("- %s\n" % json.dumps(r))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("rows")
    ap.add_argument("--command", required=True)
    ap.add_argument("--label", default="")
    ap.add_argument("--pinning", default="")
    ap.add_argument("--version", action="append", default=[])
    a = ap.parse_args()
    rows = [json.loads(l) for l in open(a.rows) if l.strip()]
    meta = {
        "label": a.label,
        "command": a.command,
        "commit": sh("git rev-parse --short HEAD") + (" (dirty tree)" if sh("git status --porcelain -uno") else ""),
        "machine": "%s, %s cores, Linux %s" % (sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").strip(),
                                               os.cpu_count(), platform.release()),
        "pinning": a.pinning,
        "loadavg_at_end": " ".join(open("/proc/loadavg").read().split()[:3]),
        "versions": dict(v.split("=", 1) for v in a.version if "=" in v),
    }
    write(a.out, rows, meta)
    print(open(a.out + ".md").read())


if __name__ == "__main__":
    main()
