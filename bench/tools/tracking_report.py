"""bench/tools/tracking_report.py — bench-tracking / bench-fleet-live
(bench/run-tracking.sh).

  tracking_report.py row PROGRAM RATE VIEWERS ROUND T0 T1 S0 S1 G0 G1 TICK RSS_KB < sim.log
      one run's JSON line, from fleet-sim's output (its "viewers-json:" line
      and its "acknowledged N") and the CPU ticks the script read in /proc
      (S: the server, G: the generator, over the run); exits 1 when the run
      has no usable result (no acknowledged fix, no position seen).
  tracking_report.py report OUT TITLE COMMAND < rows
      OUT.json and OUT.md: per program and cell (rate x viewers) the median
      and min-max of every metric over the rounds, with the command, commit,
      machine and versions beside them.

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
           "server_cpu_share", "gen_cpu_share", "msgs_per_viewer_s")


def parse_sim(text):
    """fleet-sim's output -> (acknowledged fixes, the viewers' JSON) or raises ValueError."""
    acked = re.findall(r"acknowledged (\d+)", text)
    vj = re.findall(r"^viewers-json: (\{.*\})$", text, re.M)
    if not acked or not vj:
        raise ValueError("fleet-sim printed no totals")
    return int(acked[-1]), json.loads(vj[-1])


def make_row(program, rate, viewers, rnd, t0, t1, s0, s1, g0, g1, tick, rss_kb, sim_text):
    acked, v = parse_sim(sim_text)
    if acked <= 0 or v.get("positions", 0) <= 0:
        raise ValueError("no fix acknowledged or no position seen")
    wall = t1 - t0
    cpu = (s1 - s0) / tick
    gen = (g1 - g0) / tick
    return {
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
    }


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
            for k in METRICS:
                vals = [r[k] for r in rs if r.get(k) is not None]
                if vals:
                    s[k] = {"median": statistics.median(vals), "min": min(vals), "max": max(vals)}
            s["viewer_failures"] = sum(r["viewers"] - r["connected"] + r["closed_early"] for r in rs)
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


def report(out, title, command, rows):
    meta = {
        "command": command,
        "commit": sh("git rev-parse --short HEAD") + (" (dirty tree)" if sh("git status --porcelain -uno") else ""),
        "machine": "%s, %s cores, %s" % (sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").strip(),
                                        os.cpu_count(), platform.release()),
        "note": "busy machine: other engineers compiled and tested during the run; compare rows within the run only",
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
                "generator limits). Median (min–max) over the rounds.\n\n")
        f.write("| program | fixes/s x viewers | CPU us/fix | server CPU share | p50 ms | p99 ms | max ms | "
                "push p99 ms | msgs/s per viewer | RSS MB | gen CPU | viewer failures |\n")
        f.write("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
        for p, cells in summary.items():
            for c, s in cells.items():
                rss = s.get("rss_kb", {}).get("median", 0) / 1024
                f.write("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %.1f | %s | %d |\n" % (
                    p, c.replace("x", " x "), fmt(s, "cpu_us_per_fix", "%.2f"), fmt(s, "server_cpu_share", "%.2f"),
                    fmt(s, "p50_ms", "%.1f"), fmt(s, "p99_ms", "%.1f"), fmt(s, "max_ms", "%.1f"),
                    fmt(s, "push_p99_ms", "%.1f"), fmt(s, "msgs_per_viewer_s", "%.2f"), rss,
                    fmt(s, "gen_cpu_share", "%.2f"), s["viewer_failures"]))
        f.write("\nEvery run:\n\n")
        for r in rows:
            f.write("- %s\n" % json.dumps(r))


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "row" and len(sys.argv) == 14:
        a = sys.argv[2:]
        try:
            row = make_row(a[0], int(a[1]), int(a[2]), int(a[3]), float(a[4]), float(a[5]), float(a[6]),
                           float(a[7]), float(a[8]), float(a[9]), int(a[10]), int(a[11] or 0), sys.stdin.read())
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
