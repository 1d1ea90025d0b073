#!/usr/bin/env python3
"""Time weft fleet's history reports against one or more running servers.

    fleet_history.py --rounds 5 --email a@b.c --password PW --device 1 \
        before=http://127.0.0.1:18420,PID after=http://127.0.0.1:18421,PID

Each server must hold the same history (e.g. fleet-sim --backfill 30 for one
device at 1 Hz). Per round and per server, in alternating order, it asks for
  route: /api/reports/route of the day that ended 24 h ago (JSON, limit 100000)
  trips: /api/reports/trips of the last 31 days
and records the wall time of the request (urllib, one keep-alive-less request)
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
    q = {
        "route": f"/api/reports/route?deviceId={a.device}&from={day0}&to={day1}&limit=100000",
        "trips": f"/api/reports/trips?deviceId={a.device}&from={(now - 31 * 86400) * 1000}&to={now * 1000}",
    }
    res = {(s[0], k): [] for s in servers for k in q}
    for r in range(a.rounds):
        order = servers if r % 2 == 0 else servers[::-1]
        for label, url, pid, op in order:
            for k, path in q.items():
                c0, t0 = cpu_s(pid), time.perf_counter()
                n = len(op.open(url + path).read())
                t1, c1 = time.perf_counter(), cpu_s(pid)
                res[(label, k)].append((t1 - t0, c1 - c0, n))
                print(f"round {r + 1} {label} {k}: wall {(t1 - t0) * 1000:.0f} ms, server cpu "
                      f"{(c1 - c0) * 1000:.0f} ms, {n} bytes", flush=True)
    print("\n| server | report | wall ms, median (min-max) | server CPU ms, median (min-max) | bytes |")
    print("| --- | --- | ---: | ---: | ---: |")
    for (label, k), v in res.items():
        w = [x[0] * 1000 for x in v]
        c = [x[1] * 1000 for x in v]
        print(f"| {label} | {k} | {statistics.median(w):.0f} ({min(w):.0f}-{max(w):.0f}) | "
              f"{statistics.median(c):.0f} ({min(c):.0f}-{max(c):.0f}) | {v[0][2]} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
