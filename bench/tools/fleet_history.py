#!/usr/bin/env python3
"""Time weft fleet's history reports against one or more running servers.

    fleet_history.py --rounds 5 --email a@b.c --password PW --device 1 \
        before=http://127.0.0.1:18420,PID after=http://127.0.0.1:18421,PID

Each server must hold the same history (e.g. fleet-sim --backfill 30 for one
device at 1 Hz). Per round and per server, in alternating order, it asks for
  route:         /api/reports/route of the day that ended 24 h ago (JSON, limit 100000)
  route_compact: the same with compact=true (what a map draws, no attributes)
  trips:         /api/reports/trips of the last 31 days
  stops:         /api/reports/stops of the last 31 days
  summary:       /api/reports/summary of the last 31 days
(--reports picks some) and records the wall time of the request (urllib, one keep-alive-less request;
with --repeat N, N of them back to back, divided by N)
and the server's CPU time for it (utime + stime of all its threads from
/proc/PID/stat). Prints median and min-max per server and report.
"""
import argparse
import http.cookiejar
import json
import os
import statistics
import sys
import time
import urllib.request


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--email", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--device", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=1,
                    help="requests per measurement, back to back, the times divided by it (/proc CPU counts in 10 ms ticks)")
    ap.add_argument("--reports", default="route,route_compact,trips,stops,summary")
    ap.add_argument("--json", help="also write the rows here, one JSON object a line")
    ap.add_argument("servers", nargs="+", help="label=URL,PID")
    a = ap.parse_args()
    servers = []
    for s in a.servers:
        label, rest = s.split("=", 1)
        url, pid = rest.rsplit(",", 1)
        jar = http.cookiejar.CookieJar()
        op = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        body = json.dumps({"email": a.email, "password": a.password}).encode()
        op.open(urllib.request.Request(url + "/api/session", body, {"Content-Type": "application/json"})).read()
        servers.append((label, url, int(pid), op))
    now = int(time.time())
    day0, day1 = (now - 2 * 86400) * 1000, (now - 86400) * 1000
    month = f"deviceId={a.device}&from={(now - 31 * 86400) * 1000}&to={now * 1000}"
    day = f"deviceId={a.device}&from={day0}&to={day1}&limit=100000"
    every = {
        "route": f"/api/reports/route?{day}",
        "route_compact": f"/api/reports/route?{day}&compact=true",
        "trips": f"/api/reports/trips?{month}",
        "stops": f"/api/reports/stops?{month}",
        "summary": f"/api/reports/summary?{month}",
    }
    q = {k: every[k] for k in a.reports.split(",")}
    res = {(s[0], k): [] for s in servers for k in q}
    for r in range(a.rounds):
        order = servers if r % 2 == 0 else servers[::-1]
        for label, url, pid, op in order:
            for k, path in q.items():
                c0, t0 = cpu_s(pid), time.perf_counter()
                for _ in range(a.repeat):
                    n = len(op.open(url + path).read())
                t1, c1 = time.perf_counter(), cpu_s(pid)
                res[(label, k)].append(((t1 - t0) / a.repeat, (c1 - c0) / a.repeat, n))
                print(f"round {r + 1} {label} {k}: wall {(t1 - t0) * 1000:.0f} ms, server cpu "
                      f"{(c1 - c0) * 1000:.0f} ms, {n} bytes", flush=True)
    print("\n| server | report | wall ms, median (min-max) | server CPU ms, median (min-max) | bytes |")
    print("| --- | --- | ---: | ---: | ---: |")
    out = open(a.json, "w") if a.json else None
    for (label, k), v in res.items():
        w = [x[0] * 1000 for x in v]
        c = [x[1] * 1000 for x in v]
        print(f"| {label} | {k} | {statistics.median(w):.0f} ({min(w):.0f}-{max(w):.0f}) | "
              f"{statistics.median(c):.0f} ({min(c):.0f}-{max(c):.0f}) | {v[0][2]} |")
        if out:
            out.write(json.dumps({"server": label, "report": k, "wall_ms": w, "server_cpu_ms": c,
                                  "bytes": v[0][2]}) + "\n")
    if out:
        out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
