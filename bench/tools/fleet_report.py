"""bench/tools/fleet_report.py — bench-fleet's rows (JSON lines on stdin) into
<out>.json and <out>.md: per workload the median and min-max of every round,
with the command, commit, machine and versions beside them.

    fleet_report.py OUT COMMAND [NOTE]

NOTE, when given, is a paragraph under the title (what the workloads are).
Rows with the retention phase's figures (fleet_retention.py row: ack
latency, group commits, rows pruned) get a second table of those."""
import json, os, platform, statistics, subprocess, sys


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()
    except OSError:
        return ""


# the retention phase's figures (fleet_retention.py row), with their
# column heads and formats
RETENTION_COLS = (
    ("ack_p50_ms", "ack p50 ms", "%.2f"),
    ("ack_p99_ms", "ack p99 ms", "%.2f"),
    ("ack_p99_worst_1s_ms", "worst 1-s ack p99 ms", "%.1f"),
    ("commit_mean_ms", "commit mean ms", "%.2f"),
    ("commits_over_25ms", "commits > 25 ms", "%.0f"),
    ("commits_over_100ms", "commits > 100 ms", "%.0f"),
    ("pruned_positions", "positions pruned in the run", "%.0f"),
    ("old_left_at_end", "old positions left at its end", "%.0f"),
)
RETENTION_KEYS = tuple(k for k, _, _ in RETENTION_COLS)


def retention_table(summary):
    """The second table: per workload, median (min-max) of each figure."""
    out = "Ack latency (fleet-sim, send to acknowledgement), the group commits during the run (/metrics: a " \
          "commit is timed from before its BEGIN, so one queued behind a prune statement counts its wait), " \
          "and the prune (fleet_pruned_total, per batch):\n\n"
    out += "| workload | " + " | ".join(h for _, h, _ in RETENTION_COLS) + " |\n"
    out += "|---|" + "---:|" * len(RETENTION_COLS) + "\n"
    for w, s in summary.items():
        cells = []
        for k, _, fmt in RETENTION_COLS:
            m = s.get(k)
            cells.append("-" if m is None else (fmt % m["median"]) + " (" + (fmt % m["min"]) + "-" + (fmt % m["max"]) + ")")
        out += "| %s | %s |\n" % (w, " | ".join(cells))
    return out


def main():
    out, command = sys.argv[1], sys.argv[2]
    note = sys.argv[3] if len(sys.argv) > 3 else ""
    rows = [json.loads(l) for l in sys.stdin if l.strip()]
    meta = {
        "command": command,
        "commit": sh("git rev-parse --short HEAD") + (" (dirty tree)" if sh("git status --porcelain -uno") else ""),
        "machine": "%s, %s cores, %s" % (sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").strip(),
                                        os.cpu_count(), platform.release()),
        "loadavg_at_end": open("/proc/loadavg").read().split()[:3],
        "sqlite": sh("sqlite3 --version | cut -d' ' -f1"),
        "gcc": sh("gcc -dumpfullversion"),
    }
    if os.environ.get("LABEL"):  # e.g. LABEL="busy machine": how to read the figures
        meta = {"label": os.environ["LABEL"], **meta}
    if os.environ.get("REPORT_META"):  # a JSON object of the run's own facts (FENCES: the fences' mix)
        meta.update(json.loads(os.environ["REPORT_META"]))
    summary = {}
    for w in sorted({r["workload"] for r in rows}):
        rs = [r for r in rows if r["workload"] == w]
        s = {}
        for k in ("fixes_per_s", "cpu_us_per_fix", "server_cpu_share", "server_peak_rss_kb") + RETENTION_KEYS:
            v = [r[k] for r in rs if r.get(k) is not None]
            if v:
                s[k] = {"median": statistics.median(v), "min": min(v), "max": max(v)}
        summary[w] = s
    with open(out + ".json", "w") as f:
        json.dump({"meta": meta, "rows": rows, "summary": summary}, f, indent=1)
    with open(out + ".md", "w") as f:
        f.write("# bench-fleet: weft fleet ingest, acknowledged and durable (SQLite)\n\n")
        if note:
            f.write(note + "\n\n")
        for k, v in meta.items():
            f.write("- %s: %s\n" % (k, json.dumps(v) if isinstance(v, dict) else v))
        f.write("\nServer: one worker pinned to CPU 0 (its SQLite writer thread shares that CPU); "
                "simulator pinned to CPU 1. CPU = the server's utime+stime over the run.\n\n")
        f.write("| workload | fixes/s median (min-max) | server CPU us/fix | server CPU share | peak RSS MB |\n")
        f.write("|---|---:|---:|---:|---:|\n")
        for w, s in summary.items():
            def cell(k, fmt):
                if k not in s:
                    return "-"
                m = s[k]
                return (fmt % m["median"]) + " (" + (fmt % m["min"]) + "-" + (fmt % m["max"]) + ")"
            rss = s.get("server_peak_rss_kb", {}).get("median", 0) / 1024
            f.write("| %s | %s | %s | %s | %.0f |\n" % (w, cell("fixes_per_s", "%.0f"), cell("cpu_us_per_fix", "%.2f"),
                                                       cell("server_cpu_share", "%.2f"), rss))
        if any(k in r for r in rows for k in RETENTION_KEYS):
            f.write("\n" + retention_table(summary))
        f.write("\nEvery round:\n\n")
        for r in rows:
            f.write("- %s\n" % json.dumps(r))


if __name__ == "__main__":
    main()
