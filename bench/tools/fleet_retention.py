"""bench/tools/fleet_retention.py — the retention phase of bench/run-fleet.sh
(PHASES=retention): ingest while a backlog of old rows is pruned.

  prefill DB --devices N --old M --recent K --days R --thr KN
      fills a migrated, empty fleet database (the server made its schema
      and stopped) with M positions older than the retention cutoff
      (R days) and K younger ones, of N devices of their own ("old-00001"...,
      never the simulator's), interleaved in time order as ingest writes
      them; one motion chunk per 60 fixes and one event per 50, old and
      young alike. All in SQL (a recursive CTE), in one transaction with
      the rollback journal, then back to WAL. Prints a "prefill: {json}"
      line with the counts, the seconds and the file's size.

  row --workload W --round R --sim-log F --metrics-before F --metrics-after F
      --t0 T --t1 T --cpu0 TICKS --cpu1 TICKS --tick HZ --rss KB --old M
      one run's JSON row for fleet_report.py: the ingest figures of the
      ingest phase (fixes, wall, fixes/s, server CPU, CPU us per fix, peak
      RSS), fleet-sim's ack latency (p50/p99 over the run, and the worst
      one-second p99), the group commits during the run from /metrics
      (count, mean, the histogram bucket holding their p99, how many took
      over 25 and over 100 ms: a commit waiting behind a prune statement on
      SQLite's writer thread is counted from before its BEGIN), and the rows
      pruned during the run (fleet_pruned_total, counted per batch) with the
      old positions left at its end: more than 0 means the prune was still
      going when the run ended, so it ran through all of it.
"""
import argparse
import json
import os
import re
import sqlite3
import sys
import time

DAY_MS = 86400000
MOTION_NONE = -(2 ** 63)
CHUNK_FIXES = 60  # fixes a pre-filled motion chunk covers
EVENT_EVERY = 50  # fixes per pre-filled event


# ---- prefill ---------------------------------------------------------------------------------

POS_SQL = """
WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i < :n - 1)
INSERT INTO positions (device_id, protocol, fix_time, server_time, latitude, longitude, speed, course,
                       altitude, accuracy, valid, attributes)
SELECT :d0 + i % :nd, 'teltonika', :t0 + (i / :nd) * :step, :t0 + (i / :nd) * :step + 1500,
       48.2082 + ((i * 7919) % 20000 - 10000) * 1e-5, 16.3738 + ((i * 104729) % 20000 - 10000) * 1e-5,
       (i % 41) * 0.9, (i * 37) % 360, 170 + i % 40, 4.5, 1,
       '{"ignition":' || CASE WHEN i % 9 = 0 THEN 'false' ELSE 'true' END ||
       ',"motion":true,"rssi":4,"power":12.61,"battery":4.05,"odometer":' || (i / :nd * 13) || ',"sat":9}'
FROM c
"""

CHUNK_SQL = """
WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i < :n - 1)
INSERT INTO motion_chunks (device_id, t0, t1, prev_t, n, moving, thr, lat0, lon0, speed0, ign0, lat1, lon1,
                           speed1, ign1, dist_m, speed_sum, max_speed, engine_ms)
SELECT :d0 + i % :nd, :t0 + (i / :nd) * :span, :t0 + (i / :nd) * :span + :span - :step,
       CASE WHEN i / :nd = 0 THEN :first_prev ELSE :t0 + (i / :nd) * :span - :step END,
       :per, (i / :nd) % 2, :thr, 48.2, 16.37, 10.0, 1, 48.21, 16.38, 12.0, 1, 900.0, 540.0, 30.0, :span - :step
FROM c
"""

EVENT_SQL = """
WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i < :n - 1)
INSERT INTO events (device_id, type, event_time, server_time, latitude, longitude, attributes,
                    ack_time, ack_user_id, ack_user_name)
SELECT :d0 + i % :nd, CASE i % 6 WHEN 0 THEN 'deviceMoving' WHEN 1 THEN 'deviceStopped'
       WHEN 2 THEN 'ignitionOn' WHEN 3 THEN 'ignitionOff' WHEN 4 THEN 'deviceOverspeed' ELSE 'deviceOnline' END,
       :t0 + (i / :nd) * :step, :t0 + (i / :nd) * :step + 1500, 48.2, 16.37, '{}',
       CASE WHEN i % 2 = 0 THEN :t0 + (i / :nd) * :step + 60000 END, CASE WHEN i % 2 = 0 THEN 1 END,
       CASE WHEN i % 2 = 0 THEN 'Bench' END
FROM c
"""


def plan_span(rows, devices, t_from, t_to):
    """Rows of `devices` devices spread evenly over [t_from, t_to): the
    fixes each device gets and the step between them (ms, at least 1)."""
    per = max(1, rows // devices)
    return per, max(1, (t_to - t_from) // per)


def fill_span(db, d0, devices, rows, t_from, t_to, thr, first):
    """One time span of `rows` positions of devices d0.. (time-major, as
    ingest writes them), with their chunks and events. Returns the counts."""
    per, step = plan_span(rows, devices, t_from, t_to)
    n = per * devices
    db.execute(POS_SQL, {"n": n, "d0": d0, "nd": devices, "t0": t_from, "step": step})
    nchunks = per // CHUNK_FIXES
    if nchunks:
        db.execute(CHUNK_SQL, {"n": nchunks * devices, "d0": d0, "nd": devices, "t0": t_from,
                               "span": CHUNK_FIXES * step, "step": step, "per": CHUNK_FIXES, "thr": thr,
                               "first_prev": MOTION_NONE if first else t_from - step})
    nev = per // EVENT_EVERY
    if nev:
        db.execute(EVENT_SQL, {"n": nev * devices, "d0": d0, "nd": devices, "t0": t_from,
                               "step": EVENT_EVERY * step})
    return {"positions": n, "chunks": nchunks * devices, "events": nev * devices}


def prefill(path, devices, old, recent, days, thr, now_ms=None):
    """Fill the database at path (see the module's docstring); returns the
    summary printed on the "prefill:" line."""
    now_ms = now_ms if now_ms is not None else int(time.time() * 1000)
    if devices < 1 or old < devices or recent < 0 or days < 2:
        raise ValueError("need devices >= 1, old >= devices, recent >= 0, days >= 2")
    started = time.monotonic()
    db = sqlite3.connect(path, isolation_level=None)
    if db.execute("SELECT COUNT(*) FROM positions").fetchone()[0]:
        db.close()
        raise ValueError("%s: positions is not empty" % path)
    # the rollback journal of empty tables is small, and nothing here must
    # survive a crash (leaving WAL needs the only connection: the server
    # has stopped)
    db.execute("PRAGMA journal_mode=DELETE")
    db.execute("PRAGMA synchronous=OFF")
    db.execute("PRAGMA cache_size=-262144")  # 256 MiB: the indexes' pages stay in memory
    db.execute("BEGIN")
    d0 = db.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM devices").fetchone()[0]
    db.executemany("INSERT INTO devices (id, unique_id, name, created_ms) VALUES (?, ?, ?, ?)",
                   [(d0 + k, "old-%05d" % (k + 1), "Old %d" % (k + 1), now_ms - (days + 40) * DAY_MS)
                    for k in range(devices)])
    # old: from days + 31 to days + 1 days ago, a day clear of the cutoff so
    # that the bench's clock moving on changes nothing; young: from days - 1
    # days to an hour ago
    a = fill_span(db, d0, devices, old, now_ms - (days + 31) * DAY_MS, now_ms - (days + 1) * DAY_MS, thr, True)
    b = fill_span(db, d0, devices, recent, now_ms - (days - 1) * DAY_MS, now_ms - 3600000, thr, False) \
        if recent >= devices else {"positions": 0, "chunks": 0, "events": 0}
    db.execute("COMMIT")
    db.execute("PRAGMA journal_mode=WAL")
    db.close()
    return {"devices": devices, "old": a, "young": b, "retention_days": days,
            "seconds": round(time.monotonic() - started, 1), "file_mb": round(os.path.getsize(path) / 2 ** 20)}


# ---- one run's row ----------------------------------------------------------------------------

SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)$")


def parse_metrics(text):
    """Prometheus text: {"name{labels}": value} for every sample line."""
    out = {}
    for line in text.splitlines():
        m = SAMPLE.match(line.strip())
        if m and not line.startswith("#"):
            try:
                out[m.group(1)] = float(m.group(2))
            except ValueError:
                pass
    return out


def commit_buckets(m):
    """fleet_commit_seconds' cumulative buckets as [(le in ms, or inf; count)]."""
    out = []
    for k, v in m.items():
        g = re.match(r'^fleet_commit_seconds_bucket\{le="([^"]+)"\}$', k)
        if g:
            le = float("inf") if g.group(1) == "+Inf" else round(float(g.group(1)) * 1000, 3)
            out.append((le, v))
    return sorted(out)


def commit_stats(m0, m1):
    """The group commits between two scrapes: count, mean ms, the upper
    bound (ms; None: over the last finite one) of the bucket holding their
    p99, and how many took over 25 and over 100 ms."""
    b0, b1 = dict(commit_buckets(m0)), commit_buckets(m1)
    cum = [(le, c - b0.get(le, 0)) for le, c in b1]
    n = m1.get("fleet_commit_seconds_count", 0) - m0.get("fleet_commit_seconds_count", 0)
    secs = m1.get("fleet_commit_seconds_sum", 0) - m0.get("fleet_commit_seconds_sum", 0)
    p99 = None
    for le, c in cum:
        if n and c >= 0.99 * n:
            p99 = None if le == float("inf") else le
            break

    def over(ms):
        below = [c for le, c in cum if le == ms]
        return int(n - below[0]) if below else None

    return {"commits": int(n), "commit_mean_ms": round(secs * 1000 / n, 2) if n else None,
            "commit_p99_le_ms": p99, "commits_over_25ms": over(25.0), "commits_over_100ms": over(100.0)}


FINAL = re.compile(r"fleet-sim: done in .*acknowledged (\d+).*ack latency p50 ([\d.]+) ms, p99 ([\d.]+) ms")
TICK = re.compile(r"^\[\s*\d+s\] .*\| ack p50 ([\d.]+) ms p99 ([\d.]+) ms \|")


def parse_sim(text):
    """fleet-sim's output: fixes acknowledged, ack p50/p99 over the run
    (its last line) and the worst p99 of its one-second lines."""
    out = {"acked": 0, "ack_p50_ms": None, "ack_p99_ms": None, "ack_p99_worst_1s_ms": None}
    worst = None
    for line in text.splitlines():
        m = TICK.match(line)
        if m:
            worst = max(worst or 0.0, float(m.group(2)))
        m = FINAL.search(line)
        if m:
            out.update(acked=int(m.group(1)), ack_p50_ms=float(m.group(2)), ack_p99_ms=float(m.group(3)))
    out["ack_p99_worst_1s_ms"] = worst
    return out


def make_row(workload, rnd, sim_text, m0_text, m1_text, t0, t1, cpu0, cpu1, tick, rss_kb, old):
    sim, m0, m1 = parse_sim(sim_text), parse_metrics(m0_text), parse_metrics(m1_text)
    wall = t1 - t0
    cpu = (cpu1 - cpu0) / tick
    acked = sim["acked"]
    pos = 'fleet_pruned_total{table="positions"}'
    ev = 'fleet_pruned_total{table="events"}'
    pruned = int(m1.get(pos, 0) - m0.get(pos, 0))
    row = {"workload": workload, "round": rnd, "fixes": acked, "wall_s": round(wall, 2),
           "fixes_per_s": round(acked / wall) if wall > 0 else 0, "server_cpu_s": round(cpu, 2),
           "server_cpu_share": round(cpu / wall, 3) if wall > 0 else None,
           "cpu_us_per_fix": round(cpu * 1e6 / acked, 2) if acked else None, "server_peak_rss_kb": int(rss_kb),
           "ack_p50_ms": sim["ack_p50_ms"], "ack_p99_ms": sim["ack_p99_ms"],
           "ack_p99_worst_1s_ms": sim["ack_p99_worst_1s_ms"]}
    row.update(commit_stats(m0, m1))
    row.update({"pruned_before_run": int(m0.get(pos, 0)), "pruned_positions": pruned,
                "pruned_events": int(m1.get(ev, 0) - m0.get(ev, 0)),
                "pruned_per_s": round(pruned / wall) if wall > 0 else 0,
                "old_left_at_end": int(old - m1.get(pos, 0))})
    return row


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prefill")
    p.add_argument("db")
    p.add_argument("--devices", type=int, required=True)
    p.add_argument("--old", type=int, required=True)
    p.add_argument("--recent", type=int, required=True)
    p.add_argument("--days", type=int, required=True)
    p.add_argument("--thr", type=float, required=True)
    r = sub.add_parser("row")
    for k in ("workload", "sim-log", "metrics-before", "metrics-after"):
        r.add_argument("--" + k, required=True)
    for k in ("round", "tick", "old"):
        r.add_argument("--" + k, type=int, required=True)
    for k in ("t0", "t1", "cpu0", "cpu1", "rss"):
        r.add_argument("--" + k, type=float, required=True)
    a = ap.parse_args(argv)
    if a.cmd == "prefill":
        print("prefill: " + json.dumps(prefill(a.db, a.devices, a.old, a.recent, a.days, a.thr)))
        return 0

    def text(path):
        try:
            with open(path) as f:
                return f.read()
        except OSError:
            return ""

    print(json.dumps(make_row(a.workload, a.round, text(a.sim_log), text(a.metrics_before), text(a.metrics_after),
                              a.t0, a.t1, a.cpu0, a.cpu1, a.tick, a.rss, a.old)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
