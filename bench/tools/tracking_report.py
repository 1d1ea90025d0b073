"""bench/tools/tracking_report.py — bench-tracking / bench-fleet-live
(bench/run-tracking.sh).

  tracking_report.py row PROGRAM RATE VIEWERS ROUND T0 T1 S0 S1 G0 G1 TICK RSS_KB [TH0 TH1 M0 M1 [K0 K1]] < sim.log
      one run's JSON line, from fleet-sim's output (its "viewers-json:" line
      and its "acknowledged N") and the CPU ticks the script read in /proc
      (S: the server, G: the generator, over the run; TH: the server's
      threads as "tid:name:ticks," lists; M: all CPUs' busy ticks, for the
      other processes' share; K: the server's system time, the kernel's part
      of S); exits 1 when the run has no usable result (no
      acknowledged fix, no position seen).
  tracking_report.py report OUT TITLE COMMAND < rows
      OUT.json and OUT.md: per program and cell (rate x viewers) the median
      and min-max of every metric over the rounds, with the command, commit,
      machine and versions beside them.

The busy/quiet label comes from the environment the script sets: BUSY_START
and BUSY_END (% of the CPUs busy before the first and after the last run),
LOAD_START and LOAD_END (load averages), and from the rows' other_cpu_cores
(CPU the other processes used during each run).

OUT.json's "summary" is {program: {"<rate>x<viewers>": {metric: {"median",
"min", "max"}}}} with metrics cpu_us_per_fix, p99_ms, rss_kb (what the
arena's report reads) and p50_ms, max_ms, push_p99_ms, server_cpu_share,
gen_cpu_share, msgs_per_viewer_s.
"""
import json
import os
import platform
import re
import statistics
import subprocess
import sys

METRICS = ("cpu_us_per_fix", "p99_ms", "rss_kb", "p50_ms", "max_ms", "push_p99_ms",
           "server_cpu_share", "server_sys_share", "gen_cpu_share", "msgs_per_viewer_s", "other_cpu_cores")
# the latency split (fleet only): fixTime -> serverTime and serverTime -> viewer
# (fleet-sim, at the decoding viewers), serverTime -> the update's encoding
# (the server's /metrics, fleet_live_feed_wait_ms); resyncs: live sockets sent
# the snapshot again after their queue dropped updates
SPLIT = ("to_server_p50_ms", "to_server_p99_ms", "feed_wait_p50_ms", "feed_wait_p99_ms",
         "from_server_p50_ms", "from_server_p99_ms", "resyncs")

# the machine counts as busy above these (CPUs % busy without us; cores used
# by other processes while a run went on)
BUSY_PCT = 10
BUSY_OTHER_CORES = 0.2
# a cell's latency measures a backlog, not the live path, when a viewer was
# closed early (1008: it fell behind) or the push delay's p99 passes this
BACKLOG_PUSH_MS = 1000.0


def parse_threads(text):
    """ "tid:name:ticks,..." -> {tid: (name, ticks)} """
    out = {}
    for part in (text or "").split(","):
        f = part.split(":")
        if len(f) == 3 and f[0].isdigit() and f[2].isdigit():
            out[f[0]] = (f[1], int(f[2]))
    return out


def thread_shares(th0, th1, tick, wall):
    """Each thread name's share of a core over the run (threads of one name summed;
    a thread started during the run counts from 0)."""
    a, b = parse_threads(th0), parse_threads(th1)
    shares = {}
    for tid, (name, ticks) in b.items():
        d = ticks - a.get(tid, (name, 0))[1]
        shares[name] = shares.get(name, 0) + d
    return {n: round(t / tick / wall, 3) for n, t in sorted(shares.items(), key=lambda kv: -kv[1]) if t > 0}


def parse_sim(text):
    """fleet-sim's output -> (acknowledged fixes, the viewers' JSON) or raises ValueError.
    A "feed-json: {...}" line (the script's, from fleet's /metrics) joins the viewers' JSON."""
    acked = re.findall(r"acknowledged (\d+)", text)
    vj = re.findall(r"^viewers-json: (\{.*\})$", text, re.M)
    if not acked or not vj:
        raise ValueError("fleet-sim printed no totals")
    v = json.loads(vj[-1])
    for fj in re.findall(r"^feed-json: (\{.*\})$", text, re.M):
        v.update(json.loads(fj))
    return int(acked[-1]), v


def make_row(program, rate, viewers, rnd, t0, t1, s0, s1, g0, g1, tick, rss_kb, sim_text,
             th0="", th1="", m0=None, m1=None, k0=None, k1=None):
    acked, v = parse_sim(sim_text)
    seen = v.get("positions", 0) > 0 or (v.get("latency_viewers") == 0 and v.get("messages", 0) > 0)
    if acked <= 0 or not seen:
        raise ValueError("no fix acknowledged or no position (no message, without latency viewers) seen")
    wall = t1 - t0
    cpu = (s1 - s0) / tick
    gen = (g1 - g0) / tick
    extra = {}
    if th1:
        extra["server_threads"] = thread_shares(th0, th1, tick, wall)
    if k0 is not None and k1 is not None:
        extra["server_sys_share"] = round((k1 - k0) / tick / wall, 3)
    if m0 is not None and m1 is not None:
        extra["other_cpu_cores"] = round(max(0.0, (m1 - m0) / tick - cpu - gen) / wall, 3)
    return dict({
        "program": program, "rate": rate, "viewers": viewers, "round": rnd,
        "fixes": acked, "wall_s": round(wall, 2),
        "server_cpu_s": round(cpu, 3), "server_cpu_share": round(cpu / wall, 3),
        "cpu_us_per_fix": round(cpu * 1e6 / acked, 2),
        "gen_cpu_share": round(gen / wall, 3),
        "rss_kb": rss_kb,
        "connected": v["connected"], "closed_early": v["closed_early"], "bad": v["bad"],
        "p50_ms": v["p50_ms"], "p99_ms": v["p99_ms"], "max_ms": v["max_ms"],
        "push_p50_ms": v.get("push_p50_ms"), "push_p99_ms": v.get("push_p99_ms"),
        "msgs_per_viewer_s": v["msgs_per_viewer_s"], "positions_per_s": v["positions_per_s"],
        "latency_viewers": v.get("latency_viewers", v["connected"]),
        "messages": v.get("messages"), "bytes": v.get("bytes"),
        "light_bytes": v.get("light_bytes"), "deflated": v.get("deflated"), "last_close_code": v.get("last_close_code"),
    }, **extra, **{k: v[k] for k in SPLIT if v.get(k) is not None and v[k] >= 0})


def summarize(rows):
    """{program: {"RATExVIEWERS": {metric: {median, min, max}}}} over the rounds."""
    out = {}
    for r in rows:
        cell = out.setdefault(r["program"], {}).setdefault("%dx%d" % (r["rate"], r["viewers"]), [])
        cell.append(r)
    summary = {}
    for p, cells in out.items():
        summary[p] = {}
        for c, rs in sorted(cells.items(), key=lambda kv: tuple(int(x) for x in kv[0].split("x"))):
            s = {"rounds": len(rs)}
            for k in METRICS + SPLIT:
                vals = [r[k] for r in rs if r.get(k) is not None]
                if vals:
                    s[k] = {"median": statistics.median(vals), "min": min(vals), "max": max(vals)}
            s["viewer_failures"] = sum(r["viewers"] - r["connected"] + r["closed_early"] for r in rs)
            s["latency_viewers"] = min(r.get("latency_viewers", r["connected"]) for r in rs)
            names = sorted({n for r in rs for n in r.get("server_threads", {})})
            th = {n: statistics.median([r.get("server_threads", {}).get(n, 0) for r in rs]) for n in names}
            s["server_threads"] = dict(sorted(th.items(), key=lambda kv: -kv[1]))
            why = []
            if any(r["closed_early"] for r in rs):
                codes = sorted({r.get("last_close_code") for r in rs if r["closed_early"]} - {None})
                why.append("viewers closed early (close %s): they fell behind" % "/".join(map(str, codes)))
            if any((r.get("push_p99_ms") or 0) > BACKLOG_PUSH_MS for r in rs):
                why.append("push delay p99 over %.0f ms" % BACKLOG_PUSH_MS)
            s["backlog"] = "; ".join(why)
            summary[p][c] = s
    return summary


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()
    except OSError:
        return ""


def fmt(s, k, f):
    if k not in s:
        return "-"
    m = s[k]
    return (f % m["median"]) + " (" + (f % m["min"]) + "–" + (f % m["max"]) + ")"


def machine_note(rows):
    """busy/quiet from what was measured, with the figures."""
    env = os.environ
    bs, be = env.get("BUSY_START"), env.get("BUSY_END")
    other = [r["other_cpu_cores"] for r in rows if r.get("other_cpu_cores") is not None]
    facts = []
    if bs is not None:
        facts.append("CPUs %s%% busy before the first run (load average %s)" % (bs, env.get("LOAD_START", "?")))
    if other:
        facts.append("other processes used %.2f–%.2f cores during the runs (median %.2f)" % (
            min(other), max(other), statistics.median(other)))
    if be is not None:
        facts.append("CPUs %s%% busy after the last run (load average %s)" % (be, env.get("LOAD_END", "?")))
    if not facts:
        return "not measured (run through bench/run-tracking.sh)"
    busy = (bs is not None and int(bs) > BUSY_PCT) or (be is not None and int(be) > BUSY_PCT) or \
        (other and max(other) > BUSY_OTHER_CORES)
    label = ("busy machine: other work ran beside the benchmark; compare rows within the run only"
             if busy else "quiet machine")
    return "%s (measured: %s)" % (label, "; ".join(facts))


def report(out, title, command, rows):
    meta = {
        "command": command,
        "commit": sh("git rev-parse --short HEAD") + (" (dirty tree)" if sh("git status --porcelain -uno") else ""),
        "machine": "%s, %s cores, %s" % (sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").strip(),
                                        os.cpu_count(), platform.release()),
        "note": machine_note(rows),
        # LABEL: what the person running it says of the machine (the note above is measured)
        **({"label": os.environ["LABEL"]} if os.environ.get("LABEL") else {}),
        "loadavg_at_end": open("/proc/loadavg").read().split()[:3],
        "gcc": sh("gcc -dumpfullversion"),
        "go": sh("go version"),
        "rustc": sh("rustc --version"),
    }
    summary = summarize(rows)
    with open(out + ".json", "w") as f:
        json.dump({"meta": meta, "rows": rows, "summary": summary}, f, indent=1)
    with open(out + ".md", "w") as f:
        f.write("# bench-%s: OsmAnd fixes in, coalesced live updates out to WebSocket viewers\n\n" % title)
        for k, v in meta.items():
            f.write("- %s: %s\n" % (k, v))
        f.write("\nServer pinned to CPU 0 (one worker / GOMAXPROCS=1 / tokio current_thread); fleet-sim "
                "(OsmAnd devices, a fix a second each, and the viewers) pinned to CPU 1. Latency: a "
                "position's fixTime (the sender's wall clock when it sent the fix) to the whole message's "
                "arrival at a viewer, every position at every viewer; it includes the wait for the "
                "server's next tick (up to one tick by design). Push delay: per message, its freshest "
                "position's latency (the tick-to-viewer time). CPU: the server's utime+stime over the "
                "run per fix acknowledged; gen CPU: fleet-sim's share of CPU 1 (near 1.0: the "
                "generator limits; it is the whole run's average, and falls when viewers are closed). "
                "Latency viewers: of the viewers, how many decoded every position and measured latency "
                "(the others counted messages and bytes, checking the frames). Server threads: each "
                "thread's share of its core (main: the worker; sqlite-w: fleet's SQLite writer); "
                "of the server's share, sys: the kernel's part (socket reads and writes). "
                "Backlog: when viewers were closed early or the push delay's p99 passed 1 s, the latency "
                "columns measure a backlog, not the live path. Median (min–max) over the rounds.\n\n")
        f.write("| program | fixes/s x viewers | CPU us/fix | server CPU share | p50 ms | p99 ms | max ms | "
                "push p99 ms | msgs/s per viewer | RSS MB | gen CPU | latency viewers | viewer failures | "
                "server threads | backlog |\n")
        f.write("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|\n")
        for p, cells in summary.items():
            for c, s in cells.items():
                rss = s.get("rss_kb", {}).get("median", 0) / 1024
                ths = ", ".join("%s %.2f" % kv for kv in s["server_threads"].items()) or "-"
                f.write("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %.1f | %s | %d | %d | %s | %s |\n" % (
                    p, c.replace("x", " x "), fmt(s, "cpu_us_per_fix", "%.2f"), fmt(s, "server_cpu_share", "%.2f") + (" (sys " + fmt(s, "server_sys_share", "%.2f") + ")" if "server_sys_share" in s else ""),
                    fmt(s, "p50_ms", "%.1f"), fmt(s, "p99_ms", "%.1f"), fmt(s, "max_ms", "%.1f"),
                    fmt(s, "push_p99_ms", "%.1f"), fmt(s, "msgs_per_viewer_s", "%.2f"), rss,
                    fmt(s, "gen_cpu_share", "%.2f"), s["latency_viewers"], s["viewer_failures"], ths,
                    ("latency measures a backlog: " + s["backlog"]) if s["backlog"] else "no"))
        split = [(p, c, s) for p, cells in summary.items() for c, s in cells.items() if "from_server_p99_ms" in s]
        if split:
            f.write("\nLatency split (fleet; ms, p50 / p99, median (min–max) of the rounds): device to server "
                    "(fixTime to serverTime: the sender's connection and the server's read), server to "
                    "encoding (serverTime to the update's encoding, the server's fleet_live_feed_wait_ms: "
                    "the commit and the feed's window), server to viewer (serverTime to the message's "
                    "arrival: the same plus the send and the viewer's read). Resyncs: live sockets sent the "
                    "snapshot again because their queue dropped updates.\n\n")
            f.write("| program | fixes/s x viewers | device to server p50 / p99 | server to encoding p50 / p99 | "
                    "server to viewer p50 / p99 | resyncs |\n|---|---|---|---|---|---:|\n")
            for p, c, s in split:
                f.write("| %s | %s | %s / %s | %s / %s | %s / %s | %s |\n" % (
                    p, c.replace("x", " x "), fmt(s, "to_server_p50_ms", "%.1f"), fmt(s, "to_server_p99_ms", "%.1f"),
                    fmt(s, "feed_wait_p50_ms", "%.0f"), fmt(s, "feed_wait_p99_ms", "%.0f"),
                    fmt(s, "from_server_p50_ms", "%.1f"), fmt(s, "from_server_p99_ms", "%.1f"),
                    fmt(s, "resyncs", "%.0f")))
        f.write("\nEvery run:\n\n")
        for r in rows:
            f.write("- %s\n" % json.dumps(r))


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "row" and len(sys.argv) in (14, 18, 20):
        a = sys.argv[2:]
        more = {}
        if len(a) >= 16:
            more = {"th0": a[12], "th1": a[13], "m0": float(a[14]), "m1": float(a[15])}
        if len(a) == 18:
            more.update(k0=float(a[16]), k1=float(a[17]))
        try:
            row = make_row(a[0], int(a[1]), int(a[2]), int(a[3]), float(a[4]), float(a[5]), float(a[6]),
                           float(a[7]), float(a[8]), float(a[9]), int(a[10]), int(a[11] or 0), sys.stdin.read(),
                           **more)
        except ValueError as e:
            print("tracking_report: %s" % e, file=sys.stderr)
            sys.exit(1)
        print(json.dumps(row))
    elif len(sys.argv) == 5 and sys.argv[1] == "report":
        rows = [json.loads(l) for l in sys.stdin if l.strip()]
        report(sys.argv[2], sys.argv[3], sys.argv[4], rows)
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
