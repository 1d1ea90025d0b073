#!/usr/bin/env python3
"""weft fleet's memory per device: one command, one or more server builds side by side.

    fleet_memory.py --devices 100000 --out bench/results/fleet-memory-DATE new=build/apps/fleet [old=/path/to/fleet]

1. The first binary starts once on an empty data directory (it creates the
   schema) and stops.
2. Python's sqlite3 inserts DEVICES devices and one position each, with the
   123-byte attributes of a real Teltonika fix from the simulator.
3. Each binary starts on its own copy of that database (and once on an empty
   one, the baseline) with WEFT_WORKERS=1: at start every device is loaded into
   the live table and seeded with its latest position ("seeded").
4. REPORTING of the devices (default: all) then send one OsmAnd fix each over
   keep-alive HTTP, so the writer's motion map (one open chunk per device that
   reported) is in the figures too ("reported").
At each point: /proc/PID/status (RssAnon, RssFile, VmRSS, VmHWM) and /metrics
fleet_live_state_bytes. The binaries run in alternating order (--rounds).
"""
import argparse
import http.client
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ATTRS = ('{"priority":0,"sat":12,"event":0,"ignition":false,"motion":false,"rssi":4,"batteryLevel":100,'
         '"power":12.372,"odometer":11563597}')


def status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("RssAnon", "RssFile", "VmRSS", "VmHWM"):
                out[k] = int(v.split()[0])  # kB
    return out


def live_bytes(url):
    with urllib.request.urlopen(url + "/metrics", timeout=30) as r:
        for line in r.read().decode().splitlines():
            if line.startswith("fleet_live_state_bytes "):
                return int(float(line.split()[1]))
    return None


class Server:
    def __init__(self, binary, data, cfg, log):
        env = dict(os.environ, WEFT_WORKERS="1", WEFT_FLEET_ADMIN_EMAIL="bench@fleet.local",
                   WEFT_FLEET_ADMIN_PASSWORD="bench-password-1")
        self.logf = open(log, "w")
        self.p = subprocess.Popen([binary, "--config", cfg, "--data-dir", data, "--port", "0", "--osmand-port", "0",
                                   "--teltonika-port", "0"], stdout=self.logf, stderr=subprocess.STDOUT, env=env)
        self.url = self.osmand = None
        for _ in range(1800):  # 100,000 devices load in seconds; a busy machine is slower
            text = open(log).read()
            for line in text.splitlines():
                if line.startswith("listening on "):
                    self.url = line.split()[2]
                if "osmand on http://" in line:
                    self.osmand = int(line.rsplit(":", 1)[1].split()[0])
            if self.url or self.p.poll() is not None:
                break
            time.sleep(0.1)
        if not self.url:
            self.stop()
            raise SystemExit(f"{binary} did not start:\n{open(log).read()}")

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(60)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.logf.close()


def report_fixes(port, uids, threads=32):
    """One OsmAnd fix per device, over `threads` keep-alive connections (each request waits for its
    commit; concurrent ones share a group commit); the count answered 200."""
    ok = [0] * threads
    now = int(time.time())

    def run(k):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for i, uid in enumerate(uids[k::threads]):
            c.request("GET", f"/?id={uid}&lat={48.2 + (i % 1000) * 1e-4:.6f}&lon=16.37&timestamp={now}"
                             f"&speed=12.5&bearing=90&altitude=180&accuracy=5&batt=90")
            r = c.getresponse()
            r.read()
            ok[k] += r.status == 200
        c.close()

    ts = [threading.Thread(target=run, args=(k,)) for k in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return sum(ok)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--devices", type=int, default=100000)
    ap.add_argument("--reporting", type=int, help="devices that send a fix (default: all)")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--settle", type=float, default=5.0, help="seconds between a phase and its reading")
    ap.add_argument("--out", help="write OUT.md and OUT.json")
    ap.add_argument("--command", default="", help="the command line to print in the result file")
    ap.add_argument("servers", nargs="+", help="label=path/to/fleet")
    a = ap.parse_args()
    bins = [s.split("=", 1) for s in a.servers]
    reporting = a.devices if a.reporting is None else min(a.reporting, a.devices)
    work = tempfile.mkdtemp(prefix="weft-fleet-memory.")
    try:
        cfg = os.path.join(work, "fleet.json")
        with open(cfg, "w") as f:
            json.dump({"ingest": {"host": "127.0.0.1"}, "positions": {"retention_days": 0},
                       "events": {"retention_days": 0}}, f)
        seed = os.path.join(work, "seed")
        Server(bins[0][1], seed, cfg, os.path.join(work, "schema.log")).stop()
        db = sqlite3.connect(os.path.join(seed, "fleet.sqlite"))
        now_ms = int(time.time() * 1000) - 3600 * 1000
        uids = [f"{356100000000000 + i}" for i in range(a.devices)]
        db.executemany("INSERT INTO devices (id, unique_id, name, category, created_ms) VALUES (?, ?, ?, 'default', 0)",
                       ((i + 1, uids[i], f"Vehicle {i + 1}") for i in range(a.devices)))
        db.executemany("INSERT INTO positions (device_id, protocol, fix_time, server_time, latitude, longitude, speed, "
                       "course, altitude, accuracy, valid, attributes) VALUES (?, 'teltonika', ?, ?, 48.2, 16.37, 0, "
                       "0, 180, 0, 1, ?)", ((i + 1, now_ms, now_ms, ATTRS) for i in range(a.devices)))
        db.commit()
        db.close()
        rows = []
        for r in range(a.rounds):
            order = bins if r % 2 == 0 else bins[::-1]
            for label, binary in order:
                empty = os.path.join(work, f"empty-{label}-{r}")
                s = Server(binary, empty, cfg, os.path.join(work, f"{label}-{r}-empty.log"))
                time.sleep(a.settle)
                base = dict(status(s.p.pid), live=live_bytes(s.url))
                s.stop()
                data = os.path.join(work, f"data-{label}-{r}")
                shutil.copytree(seed, data)
                s = Server(binary, data, cfg, os.path.join(work, f"{label}-{r}.log"))
                time.sleep(a.settle)
                seeded = dict(status(s.p.pid), live=live_bytes(s.url))
                t0 = time.time()
                acked = report_fixes(s.osmand, uids[:reporting])
                t1 = time.time()
                time.sleep(a.settle)
                rep = dict(status(s.p.pid), live=live_bytes(s.url))
                s.stop()
                shutil.rmtree(data, ignore_errors=True)
                shutil.rmtree(empty, ignore_errors=True)
                row = {"server": label, "round": r + 1, "devices": a.devices, "reporting": reporting, "acked": acked,
                       "report_s": round(t1 - t0, 1), "empty": base, "seeded": seeded, "reported": rep}
                rows.append(row)
                per = lambda ph, k: (row[ph][k] - base[k]) * (1 if k == "live" else 1024) / a.devices
                print(f"round {r + 1} {label}: live {per('seeded', 'live'):.0f} / {per('reported', 'live'):.0f} B, "
                      f"RssAnon {per('seeded', 'RssAnon'):.0f} / {per('reported', 'RssAnon'):.0f} B a device "
                      f"(seeded / reported; {acked} of {reporting} fixes answered 200), "
                      f"VmHWM {rep['VmHWM'] / 1024:.1f} MB", flush=True)
        lines = ["| server | phase | live table B/device | RssAnon B/device | VmRSS MB | VmHWM MB (peak so far) |",
                 "| --- | --- | ---: | ---: | ---: | ---: |"]
        for label, _ in bins:
            mine = [x for x in rows if x["server"] == label]
            for ph in ("seeded", "reported"):
                def fig(k, scale):
                    v = [(x[ph][k] - x["empty"][k]) * scale / a.devices for x in mine]
                    m = statistics.median(v)
                    return f"{m:,.0f}" if len(v) == 1 else f"{m:,.0f} ({min(v):,.0f}-{max(v):,.0f})"
                mb = lambda k: f"{statistics.median(x[ph][k] for x in mine) / 1024:.1f}"
                lines.append(f"| {label} | {ph} | {fig('live', 1)} | {fig('RssAnon', 1024)} | {mb('VmRSS')} | "
                             f"{mb('VmHWM')} |")
        table = "\n".join(lines)
        print("\n" + table)
        if a.out:
            with open(a.out + ".json", "w") as f:
                for x in rows:
                    f.write(json.dumps(x) + "\n")
            load = open("/proc/loadavg").read().split()[:3]
            cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
            try:
                commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
                dirty = subprocess.run(["git", "status", "--porcelain", "-uno"], capture_output=True, text=True).stdout.strip()
            except OSError:
                commit, dirty = "?", ""
            with open(a.out + ".md", "w") as f:
                # LABEL="busy machine" or "quiet machine" (bench/run-fleet.sh): the title said
                # "busy machine" on every run before, quiet ones too
                label = os.environ.get("LABEL", "")
                f.write(f"# weft fleet: memory at {a.devices:,} devices ({time.strftime('%Y-%m-%d')}"
                        f"{', ' + label if label else ''})\n\n"
                        f"Written by `{a.command or 'bench/tools/fleet_memory.py'}` (bench/tools/fleet_memory.py). "
                        f"Load average at the end: {' '.join(load)}; memory figures do not depend on CPU load the "
                        f"way times do.\n\n"
                        f"- Commit: {commit}{' (dirty tree)' if dirty else ''}; servers: "
                        f"{', '.join(f'{l} = {b}' for l, b in bins)}.\n"
                        f"- Machine: {cpu}, {os.cpu_count()} cores, {os.uname().release}; SQLite, WEFT_WORKERS=1.\n"
                        f"- {a.devices:,} devices, each with one stored position carrying a real Teltonika fix's "
                        f"123-byte attributes; the server starts on that database and loads and seeds them all "
                        f"(\"seeded\"), then {reporting:,} of them send one OsmAnd fix each (\"reported\": the "
                        f"writer's motion map holds an open chunk for each).\n"
                        f"- Per device: (figure - the same binary started on an empty database) / devices. "
                        f"{a.rounds} round(s), order alternating.\n\n{table}\n")
            print(f"wrote {a.out}.md and {a.out}.json")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
