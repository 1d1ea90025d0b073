"""Tests of the arena's report logic (arena_report.py), bench-ws's
(ws_report.py) and of the JSON
document generator (gen_json.py): the parts whose mistakes would silently
publish a wrong verdict or a wrong document. Run by scripts/test.sh:

    python3 -m unittest discover -s bench/tools -p 'test_*.py'
"""
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest
import unittest.mock

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import arena_report  # noqa: E402
import ws_report  # noqa: E402
import report  # noqa: E402


DIRS = []


def tearDownModule():
    for d in DIRS:
        shutil.rmtree(d, ignore_errors=True)


def work_dir(lines, meta=""):
    d = tempfile.mkdtemp(prefix="arena-test-")
    DIRS.append(d)
    with open(f"{d}/results.rounds", "w") as f:
        f.write("".join(l + "\n" for l in lines))
    for name in ("results", "status", "notes", "cmds", "crates", "gomods"):
        open(f"{d}/{name}", "w").close()
    with open(f"{d}/meta", "w") as f:
        f.write(meta)
    return d


def results(d):
    out = {}
    for line in open(f"{d}/results"):
        p, m, v = line.split()
        out[(p, m)] = float(v)
    return out


class Rounds(unittest.TestCase):
    def test_median_not_mean(self):
        d = work_dir(["1 weft wrk_json_rps 100", "2 weft wrk_json_rps 110", "3 weft wrk_json_rps 400"])
        arena_report.aggregate_rounds(d)
        self.assertEqual(results(d)[("weft", "wrk_json_rps")], 110.0)
        self.assertEqual(json.load(open(f"{d}/rounds.json"))["weft"]["wrk_json_rps"], [100.0, 110.0, 400.0])

    def verdict(self, weft, peer, higher_better=True):
        lines = [f"{i} weft m {v}" for i, v in enumerate(weft)] + [f"{i} peer m {v}" for i, v in enumerate(peer)]
        d = work_dir(lines)
        arena_report.aggregate_rounds(d)
        return arena_report.Arena(d, ["weft", "peer"]).verdict("peer", "m", higher_better)

    def test_overlapping_ranges_are_parity(self):
        self.assertEqual(self.verdict([100, 120, 110], [115, 130, 125]), "parity")

    def test_touching_ranges_are_parity(self):
        self.assertEqual(self.verdict([100, 120], [120, 140]), "parity")

    def test_separate_ranges(self):
        self.assertEqual(self.verdict([100, 110], [120, 130]), "faster")
        self.assertEqual(self.verdict([100, 110], [50, 60]), "slower")
        self.assertEqual(self.verdict([100, 110], [120, 130], higher_better=False), "more")
        self.assertEqual(self.verdict([100, 110], [50, 60], higher_better=False), "less")

    def test_one_round_has_no_verdict(self):
        self.assertIsNone(self.verdict([100], [200]))


class PoolSweep(unittest.TestCase):
    def test_each_test_at_its_best_pool(self):
        lines = []
        for r in (1, 2, 3):
            # db is best at pool 2, queries20 at pool 8
            lines += [f"{r} fiber@2 wrk_db_rps {100 + r}", f"{r} fiber@8 wrk_db_rps {90 + r}",
                      f"{r} fiber@2 wrk_queries20_rps {10 + r}", f"{r} fiber@8 wrk_queries20_rps {20 + r}",
                      f"{r} fiber@2 wrk_db_cpu_us_per_req 30", f"{r} fiber@8 wrk_db_cpu_us_per_req 40",
                      f"{r} fiber@2 pg_conns 2", f"{r} fiber@8 pg_conns 8"]
        d = work_dir(lines)
        sweep = arena_report.best_pool(d, ["db", "queries20"])
        res = results(d)
        self.assertEqual(res[("fiber", "best_pool_db")], 2)
        self.assertEqual(res[("fiber", "best_pool_queries20")], 8)
        self.assertEqual(res[("fiber", "wrk_db_rps")], 102)  # median of 101 102 103
        self.assertEqual(res[("fiber", "wrk_db_cpu_us_per_req")], 30)  # the best pool's, not pool 8's
        self.assertEqual(res[("fiber", "wrk_queries20_rps")], 22)
        self.assertIn(res[("fiber", "pg_conns")], (2, 8))
        self.assertEqual(sweep["fiber"][8]["wrk_db_rps"], 92)
        rounds = json.load(open(f"{d}/rounds.json"))
        self.assertEqual(rounds["fiber"]["wrk_queries20_rps"], [21.0, 22.0, 23.0])


class OldVsNew(unittest.TestCase):
    """bench/run-db.sh BASELINE_BIN: weft-old beside weft, the table that
    shows (or not) a regression. The verdict is from the new build's side
    and needs the ranges over the rounds apart."""

    def table(self, old_rps, new_rps, old_cpu, new_cpu):
        lines = []
        for r in range(len(old_rps)):
            lines += [f"{r + 1} weft-old@8 wrk_db_rps {old_rps[r]}", f"{r + 1} weft@8 wrk_db_rps {new_rps[r]}",
                      f"{r + 1} weft-old@8 wrk_db_cpu_us_per_req {old_cpu[r]}",
                      f"{r + 1} weft@8 wrk_db_cpu_us_per_req {new_cpu[r]}"]
        d = work_dir(lines)
        arena_report.best_pool(d, ["db"])
        a = arena_report.Arena(d, ["weft-old", "weft"])
        a.old_vs_new([("db", "/db")], "Old vs new weft", "explained")
        row = next(l for l in a.out if l.startswith("| /db |"))
        return [c.strip() for c in row.strip("|").split("|")]

    def test_regression_is_named_from_the_new_side(self):
        # the new build: fewer req/s and more CPU, both ranges apart from the old one's
        cells = self.table([100, 104, 102], [80, 84, 82], [10, 11, 10.5], [13, 14, 13.5])
        self.assertEqual(cells[:5], ["/db", "8 / 8", "82 (80–84)", "102 (100–104)",
                                     f"{82 / 102:.2f}× **new slower (regression)**"])
        self.assertEqual(cells[7], f"{13.5 / 10.5:.2f}× **new uses more (regression)**")

    def test_improvement_and_parity(self):
        cells = self.table([80, 84, 82], [100, 104, 102], [10, 12, 11], [10.5, 11.5, 11])
        self.assertEqual(cells[4], f"{102 / 82:.2f}× new faster")
        self.assertEqual(cells[7], "1.00× parity")  # overlapping ranges: no difference outside the noise

    def test_one_round_has_no_verdict(self):
        cells = self.table([100], [80], [10], [13])
        self.assertEqual(cells[4], f"{80 / 100:.2f}× (fewer than 2 rounds: no verdict)")


class GenJson(unittest.TestCase):
    TARGETS = {"twitter": 631_515, "citm": 1_727_000, "canada": 2_251_000}

    def gen(self, kind, path):
        subprocess.run([sys.executable, f"{HERE}/gen_json.py", kind, path], check=True)
        return open(path, "rb").read()

    def test_deterministic_valid_and_sized(self):
        with tempfile.TemporaryDirectory() as d:
            for kind, target in self.TARGETS.items():
                a = self.gen(kind, f"{d}/{kind}-a.json")
                b = self.gen(kind, f"{d}/{kind}-b.json")
                self.assertEqual(hashlib.sha256(a).hexdigest(), hashlib.sha256(b).hexdigest(), kind)
                json.loads(a)
                self.assertLess(abs(len(a) - target) / target, 0.02, f"{kind}: {len(a)} bytes")

    def test_shapes(self):
        with tempfile.TemporaryDirectory() as d:
            tw = json.loads(self.gen("twitter", f"{d}/t.json"))
            self.assertGreater(len(tw["statuses"]), 50)
            self.assertTrue(any(s["id"] > 2**53 for s in tw["statuses"]))
            raw = open(f"{d}/t.json", "rb").read()
            self.assertGreater(sum(1 for x in raw if x >= 0x80) / len(raw), 0.03)
            ca = json.loads(self.gen("canada", f"{d}/c.json"))
            ring = ca["features"][0]["geometry"]["coordinates"][0]
            self.assertTrue(all(isinstance(x, float) for pt in ring for x in pt))
            ci = json.loads(self.gen("citm", f"{d}/ci.json"))
            perf = ci["performances"]
            self.assertGreater(len(perf), 300)
            self.assertEqual({tuple(sorted(p)) for p in perf}.__len__(), 1)  # the same keys every time




class TrackingReport(unittest.TestCase):
    """tracking_report.py (bench-tracking): a run's row from fleet-sim's
    output and the median/min/max per program and cell."""

    SIM = ("[viewers] 2 connected\n"
           "viewers-json: {\"viewers\": 2, \"connected\": 2, \"closed_early\": 0, \"bad\": 0, "
           "\"positions\": 100, \"p50_ms\": 120.0, \"p99_ms\": 250.0, \"max_ms\": 260.0, "
           "\"push_p50_ms\": 2.0, \"push_p99_ms\": 4.0, \"msgs_per_viewer_s\": 4.0, \"positions_per_s\": 50.0}\n"
           "fleet-sim: done in 5.0 s: sent 5000, acknowledged 4000, failed 0\n")

    def test_row(self):
        import tracking_report as tr
        # 2.0 s of server CPU (200 ticks at 100/s) over 4000 fixes: 500 us a fix, over 5 s of wall: 0.4
        r = tr.make_row("weft", 1000, 2, 1, 10.0, 15.0, 100, 300, 0, 50, 100, 8000, self.SIM)
        self.assertEqual(r["fixes"], 4000)
        self.assertEqual(r["cpu_us_per_fix"], 500.0)
        self.assertEqual(r["server_cpu_share"], 0.4)
        self.assertEqual(r["gen_cpu_share"], 0.1)
        self.assertEqual(r["p99_ms"], 250.0)
        self.assertEqual(r["rss_kb"], 8000)

    def test_row_latency_split(self):
        """(live-tail) fleet's split: fleet-sim's serverTime halves and the
        script's feed-json line (from /metrics) join the row and the report;
        -1 (no serverTime: the arena's services) is left out."""
        import tracking_report as tr
        sim = self.SIM.replace("\"positions_per_s\": 50.0}",
                               "\"positions_per_s\": 50.0, \"to_server_p50_ms\": 1.5, \"to_server_p99_ms\": 9.0, "
                               "\"from_server_p50_ms\": 30.0, \"from_server_p99_ms\": 61.0}")
        sim += "feed-json: {\"feed_wait_p50_ms\": 22, \"feed_wait_p99_ms\": 48, \"resyncs\": 3}\n"
        r = tr.make_row("fleet", 1000, 2, 1, 10.0, 15.0, 100, 300, 0, 50, 100, 8000, sim)
        self.assertEqual((r["to_server_p99_ms"], r["from_server_p50_ms"], r["from_server_p99_ms"]), (9.0, 30.0, 61.0))
        self.assertEqual((r["feed_wait_p50_ms"], r["feed_wait_p99_ms"], r["resyncs"]), (22, 48, 3))
        arena = tr.make_row("go", 1000, 2, 1, 10.0, 15.0, 100, 300, 0, 50, 100, 8000,
                            self.SIM.replace("\"positions_per_s\": 50.0}",
                                             "\"positions_per_s\": 50.0, \"from_server_p99_ms\": -1.0}"))
        self.assertNotIn("from_server_p99_ms", arena)
        with tempfile.TemporaryDirectory() as d:
            tr.report(os.path.join(d, "x"), "t", "cmd", [r, arena])
            md = open(os.path.join(d, "x.md")).read()
        self.assertIn("| fleet | 1000 x 2 | 1.5 (1.5–1.5) / 9.0 (9.0–9.0) | 22 (22–22) / 48 (48–48) | "
                      "30.0 (30.0–30.0) / 61.0 (61.0–61.0) | 3 (3–3) |", md)
        self.assertNotIn("| go | 1000 x 2 | -", md.split("Latency split")[1].split("Every run")[0])

    def test_row_refuses_empty_runs(self):
        import tracking_report as tr
        with self.assertRaises(ValueError):
            tr.make_row("weft", 1, 1, 1, 0, 1, 0, 1, 0, 1, 100, 1, "fleet-sim: no totals\n")
        with self.assertRaises(ValueError):
            tr.make_row("weft", 1, 1, 1, 0, 1, 0, 1, 0, 1, 100, 1, self.SIM.replace("\"positions\": 100", "\"positions\": 0"))

    def test_summary(self):
        import tracking_report as tr
        base = {"program": "go", "rate": 1000, "viewers": 10, "connected": 10, "closed_early": 0}
        rows = [dict(base, cpu_us_per_fix=c, p99_ms=p, rss_kb=m) for c, p, m in ((3, 250, 10), (1, 270, 30), (2, 260, 20))]
        rows.append(dict(base, viewers=500, connected=499, closed_early=1, cpu_us_per_fix=9, p99_ms=1, rss_kb=1))
        s = tr.summarize(rows)
        self.assertEqual(list(s["go"]), ["1000x10", "1000x500"])
        self.assertEqual(s["go"]["1000x10"]["cpu_us_per_fix"], {"median": 2, "min": 1, "max": 3})
        self.assertEqual(s["go"]["1000x10"]["p99_ms"], {"median": 260, "min": 250, "max": 270})
        self.assertEqual(s["go"]["1000x10"]["rounds"], 3)
        self.assertEqual(s["go"]["1000x500"]["viewer_failures"], 2)
        # no backlog in the quiet cell; the one with a viewer closed early says so
        self.assertEqual(s["go"]["1000x10"]["backlog"], "")
        self.assertIn("closed early", s["go"]["1000x500"]["backlog"])

    def test_row_threads_and_other_processes(self):
        import tracking_report as tr
        # over 5 s at 100 ticks/s: main 150 ticks (0.3), sqlite-w 50 (0.1), a thread
        # started during the run 25 from 0 (0.05); the machine's 600 busy ticks less the
        # server's 200 and the generator's 50: 350 ticks of others, 0.7 cores
        th0 = "7:main:100,8:sqlite-w:10,"
        th1 = "7:main:250,8:sqlite-w:60,9:fleet:25,"
        r = tr.make_row("fleet", 1000, 2, 1, 10.0, 15.0, 100, 300, 0, 50, 100, 8000, self.SIM, th0, th1, 1000, 1600,
                        20, 120)
        self.assertEqual(r["server_threads"], {"main": 0.3, "sqlite-w": 0.1, "fleet": 0.05})
        self.assertEqual(r["other_cpu_cores"], 0.7)
        self.assertEqual(r["server_sys_share"], 0.2)  # 100 of the server's 200 ticks in the kernel
        s = tr.summarize([r])
        self.assertEqual(s["fleet"]["1000x2"]["server_threads"], {"main": 0.3, "sqlite-w": 0.1, "fleet": 0.05})

    def test_row_light_viewers_only(self):
        import tracking_report as tr
        sim = self.SIM.replace("\"positions\": 100", "\"positions\": 0, \"latency_viewers\": 0, \"messages\": 40")
        self.assertEqual(tr.make_row("fleet", 1000, 2, 1, 0, 5, 0, 1, 0, 1, 100, 1, sim)["latency_viewers"], 0)
        with self.assertRaises(ValueError):  # nothing at all arrived
            tr.make_row("fleet", 1000, 2, 1, 0, 5, 0, 1, 0, 1, 100, 1, sim.replace("\"messages\": 40", "\"messages\": 0"))

    def test_machine_note_is_measured(self):
        import tracking_report as tr
        rows = [{"other_cpu_cores": 0.05}, {"other_cpu_cores": 0.1}]
        env = {"BUSY_START": "3", "BUSY_END": "4", "LOAD_START": "0.1 0.2 0.3", "LOAD_END": "1.0 0.5 0.4"}
        with unittest.mock.patch.dict(os.environ, env):
            self.assertTrue(tr.machine_note(rows).startswith("quiet machine (measured: CPUs 3% busy"))
            self.assertTrue(tr.machine_note(rows + [{"other_cpu_cores": 0.9}]).startswith("busy machine"))
        with unittest.mock.patch.dict(os.environ, dict(env, BUSY_END="40")):
            self.assertTrue(tr.machine_note(rows).startswith("busy machine"))


class WsReport(unittest.TestCase):
    """bench-ws: medians over clean rounds only, ratios against the best peer
    in the metric's direction, goals met / not met / parity."""

    def row(self, prog, rnd, mode, **kw):
        base = {"prog": prog, "round": rnd, "mode": mode, "connected": 10, "dial_failed": 0,
                "errors": 0, "first_error": ""}
        base.update(kw)
        return base

    def rows(self, weft_cpu, go_cpu, rust_cpu, weft_del, go_del, rust_del, weft_idle=4000):
        out = []
        for i in range(3):
            for p, cpu, dl in (("weft", weft_cpu, weft_del), ("go", go_cpu, go_del), ("rust", rust_cpu, rust_del)):
                out.append(self.row(p, i + 1, "echo", msgs_per_s=1000 + i, server_cpu_us_per_msg=cpu[i]))
                out.append(self.row(p, i + 1, "fanout", expected=100, delivered=100, delivered_per_cpu_s=dl[i],
                                    latency_ms={"p50": 1.0, "p99": 2.0 + i}))
                out.append(self.row(p, i + 1, "idle", bytes_per_conn=weft_idle if p == "weft" else 9000))
        return out

    def test_unclean_rounds_are_left_out(self):
        rows = self.rows([5, 5, 5], [6, 6, 6], [7, 7, 7], [10, 10, 10], [5, 5, 5], [4, 4, 4])
        rows.append(self.row("weft", 4, "echo", msgs_per_s=1, server_cpu_us_per_msg=1, errors=3, first_error="wrong echo"))
        rows.append(self.row("weft", 4, "fanout", expected=100, delivered=90, delivered_per_cpu_s=1000))
        rows.append({"prog": "weft", "round": 5, "mode": "idle", "failed": "server died"})
        s = ws_report.summarize(rows)
        self.assertEqual(s["weft"]["server_cpu_us_per_msg"], {"median": 5, "min": 5, "max": 5, "n": 3})
        self.assertEqual(s["weft"]["delivered_per_cpu_s"]["max"], 10)
        self.assertEqual(s["weft"]["bytes_per_conn"]["n"], 3)
        self.assertIn("deliveries missing", ws_report.unclean(rows[-2]))
        self.assertEqual(s["weft"]["p99_ms"]["median"], 3.0)

    def test_best_peer_follows_direction(self):
        rows = self.rows([4, 4, 4], [6, 6, 6], [5, 5, 5], [30, 31, 32], [10, 10, 10], [20, 20, 20])
        s = ws_report.summarize(rows)
        r = ws_report.ratios(s)
        self.assertEqual(r["server_cpu_us_per_msg"]["best_peer"], "rust")  # lower CPU is better
        self.assertAlmostEqual(r["server_cpu_us_per_msg"]["ratio"], 0.8)
        self.assertEqual(r["delivered_per_cpu_s"]["best_peer"], "rust")  # higher delivered is better
        self.assertAlmostEqual(r["delivered_per_cpu_s"]["ratio"], 31 / 20)
        g = {x["metric"]: x["verdict"] for x in ws_report.goals(s, r)}
        self.assertEqual(g, {"delivered_per_cpu_s": "met", "bytes_per_conn": "met", "server_cpu_us_per_msg": "met"})

    def test_goals_not_met_and_parity(self):
        rows = self.rows([5, 6, 7], [6, 6.5, 8], [9, 9, 9], [10, 11, 12], [11, 12, 13], [1, 1, 1], weft_idle=9000)
        s = ws_report.summarize(rows)
        r = ws_report.ratios(s)
        g = {x["metric"]: x["verdict"] for x in ws_report.goals(s, r)}
        self.assertTrue(g["delivered_per_cpu_s"].startswith("not met (parity with go"))
        self.assertTrue(g["server_cpu_us_per_msg"].startswith("not met (parity"))  # 6/6.5 > 0.8, overlapping
        self.assertEqual(g["bytes_per_conn"], "not met")

    def test_goal_met_by_medians_inside_the_noise_is_not_established(self):
        # echo 7.0 (6-9) against rust 9.0 (8-10): 0.78 by the medians, ranges overlap
        rows = self.rows([6, 7, 9], [20, 20, 20], [8, 9, 10], [30, 31, 32], [10, 10, 10], [20, 20, 20])
        s = ws_report.summarize(rows)
        r = ws_report.ratios(s)
        self.assertLess(r["server_cpu_us_per_msg"]["ratio"], 0.8)
        g = {x["metric"]: x["verdict"] for x in ws_report.goals(s, r)}
        self.assertTrue(g["server_cpu_us_per_msg"].startswith("not established"), g)
        self.assertEqual(g["delivered_per_cpu_s"], "met")  # 31 (30-32) against 20: apart

    def test_missing_peer_and_files(self):
        rows = [r for r in self.rows([5] * 3, [6] * 3, [7] * 3, [1] * 3, [1] * 3, [1] * 3) if r["prog"] == "weft"]
        s = ws_report.summarize(rows)
        self.assertEqual(ws_report.ratios(s), {})
        self.assertEqual({x["verdict"] for x in ws_report.goals(s, {})}, {"no peer measured", "met"})
        with tempfile.TemporaryDirectory() as d:
            ws_report.write(f"{d}/ws", rows, {"command": "make bench-ws", "label": "test"})
            with open(f"{d}/ws.json") as f:
                doc = json.load(f)
            self.assertEqual(len(doc["rows"]), len(rows))
            with open(f"{d}/ws.md") as f:
                md = f.read()
            self.assertIn("make bench-ws", md)
            self.assertIn("no peer measured", md)
# ---- bench/tools/report.py: the make bench report ------------------------------

def http_doc(rounds):
    """An http-/db- result file: {prog: {metric: [per-round values]}}."""
    return {"date": "2026-12-06", "weft_commit": "abc", "command": "bench/run-http.sh",
            "machine": {"cpu_model": "Test CPU", "nproc": 2, "kernel": "6.1"},
            "versions": {"go": "go1.26", "rustc": "rustc 1.95"},
            "rounds": rounds,
            "results": {p: {"metrics": {m: sorted(v)[len(v) // 2] for m, v in ms.items()}} for p, ms in rounds.items()}}


class Report(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="report-test-")
        DIRS.append(self.dir)

    def write(self, name, doc):
        path = os.path.join(self.dir, name)
        json.dump(doc, open(path, "w"))
        return path

    def rows(self, **paths):
        full = {k: paths.get(k) for k in report.KINDS}
        rows, windows = report.load(full)
        return {r.key: r for r in rows}, windows

    def test_best_per_language_ratio_and_parity(self):
        path = self.write("http-x.json", http_doc({
            "weft": {"wrk_plaintext_rps": [100, 110, 120], "wrk_plaintext_cpu_us_per_req": [10, 11, 12]},
            "nethttp": {"wrk_plaintext_rps": [40, 45, 50], "wrk_plaintext_cpu_us_per_req": [30, 31, 32]},
            "fiber": {"wrk_plaintext_rps": [60, 65, 70], "wrk_plaintext_cpu_us_per_req": [20, 21, 22]},
            "actix": {"wrk_plaintext_rps": [115, 130, 140], "wrk_plaintext_cpu_us_per_req": [5, 6, 7]},
        }))
        rows, _ = self.rows(http=path)
        r = rows["plaintext_rps"]
        self.assertEqual(r.cells["go"]["prog"], "fiber")  # Go's best program, not the first
        self.assertEqual(r.cells["go"]["value"], 65)
        self.assertEqual((r.cells["go"]["lo"], r.cells["go"]["hi"]), (60, 70))
        self.assertAlmostEqual(r.ratios()["go"], 65 / 110)
        self.assertAlmostEqual(r.ratios()["rust"], 130 / 110)
        self.assertEqual(r.verdicts(), {"go": "ahead", "rust": "parity"})  # 115-140 overlaps 100-120
        c = rows["plaintext_cpu"]
        self.assertEqual(c.cells["go"]["prog"], "fiber")  # lowest CPU is best
        self.assertEqual(c.verdicts(), {"go": "ahead", "rust": "behind"})
        self.assertEqual(c.loses(), ["rust"])
        md = report.render_md(list(rows.values()), "busy machine", "quick", "host", [])
        self.assertIn("busy machine", md.split("\n")[0])
        lost = md.split("## Where weft loses")[1].split("##")[0]
        self.assertIn("HTTP plaintext: server CPU per request: Rust (actix-web)", lost)
        self.assertNotIn("requests/s", lost)

    def test_generator_bound_req_s_gets_no_verdict(self):
        """wrk at >= 90 % of its core measured wrk, not the server: a req/s
        column whose program (or weft) saturated it has no verdict and no
        ratio; a column where neither did keeps its verdict, and the CPU per
        request rows keep theirs (http and db rows alike)."""
        def prog(rps, cpu, gen):
            return {"wrk_plaintext_rps": rps, "wrk_plaintext_cpu_us_per_req": cpu,
                    "wrk_plaintext_loadgen_cpu_pct": gen}
        rounds = {"weft": prog([100, 110, 120], [10, 11, 12], [50, 55, 60]),
                  "fiber": prog([40, 45, 50], [20, 21, 22], [91, 92, 93]),  # Go's best: wrk saturated
                  "nethttp": prog([30, 35, 40], [30, 31, 32], [40, 41, 42]),
                  "actix": prog([60, 65, 70], [5, 6, 7], [80, 85, 89])}  # Rust's best: under 0.9
        rows, _ = self.rows(http=self.write("http-x.json", http_doc(rounds)))
        r = rows["plaintext_rps"]
        self.assertEqual(r.cells["go"]["prog"], "fiber")
        self.assertEqual(r.verdicts(), {"go": "no verdict: " + report.GEN_BOUND_RPS, "rust": "ahead"})
        self.assertEqual(report.fmt_verdict(r, "go"), "no verdict: " + report.GEN_BOUND_RPS)  # no ratio either
        self.assertEqual(report.fmt_verdict(r, "rust"), f"{65 / 110:.2f}× ahead")
        self.assertTrue(any(n.startswith("load generator's share of its core") and "Fiber v2 0.92" in n
                            for n in r.notes))
        self.assertEqual(rows["plaintext_cpu"].verdicts(), {"go": "ahead", "rust": "behind"})
        self.assertTrue(any("compared here" in n for n in rows["plaintext_cpu"].notes))
        # weft's own wrk saturated: every column of the row is generator-bound
        rounds["weft"]["wrk_plaintext_loadgen_cpu_pct"] = [95, 97, 99]
        rows, _ = self.rows(db=self.write("db-x.json", http_doc({p: {k.replace("plaintext", "db"): v
                                                                        for k, v in m.items()}
                                                                    for p, m in rounds.items()})))
        self.assertEqual(set(rows["db_rps"].verdicts().values()), {"no verdict: " + report.GEN_BOUND_RPS})
        self.assertEqual(rows["db_rps"].loses(), [])
        md = report.render_md(list(rows.values()), "", "full", "host", [])
        self.assertRegex(md, r"\| HTTP db: requests/s \|.*\| no verdict: generator-bound[^|]*\| no verdict: generator-bound")

    def test_old_side_of_an_ab_is_no_language_column(self):
        """weft-old (run-db.sh BASELINE_BIN), weft-base, fleet-old: an older
        build of weft is not weft's column, even where it measured better."""
        path = self.write("db-x.json", http_doc({
            "weft": {"wrk_db_rps": [100, 110, 120]}, "weft-old": {"wrk_db_rps": [200, 210, 220]},
            "axum": {"wrk_db_rps": [150, 160, 170]}}))
        rows, _ = self.rows(db=path)
        r = rows["db_rps"]
        self.assertEqual(r.cells["weft"]["prog"], "weft")
        self.assertEqual(r.verdicts()["rust"], "behind")
        self.assertNotIn("weft-old", [name for name, _, _ in r.detail])
        for name in ("weft-old", "weft-base", "fleet-old", "baseline", "weft_old"):
            self.assertIsNone(report.lang_of(name), name)
        for name in ("weft", "weft_pq18", "fleet-ring0", "go-gogc", "fleet"):
            self.assertIsNotNone(report.lang_of(name), name)

    def test_verdict_rules(self):
        c = report.cell
        self.assertEqual(report.verdict(c(10, 9, 11), c(12, 11, 13), True), "parity")  # touching
        self.assertEqual(report.verdict(c(10, 9, 11), c(12, 11.5, 13), True), "behind")
        self.assertEqual(report.verdict(c(10, 9, 11), c(12, 11.5, 13), False), "ahead")
        self.assertEqual(report.verdict(c(10), c(12), True), "behind (one run)")
        # one run: under 5 % apart is parity (the GC row's 23.8 vs 23.6 us was "behind")
        self.assertEqual(report.verdict(c(23.75), c(23.62), False), "parity (one run)")
        self.assertEqual(report.verdict(c(100), c(95.1), True), "parity (one run)")
        self.assertEqual(report.verdict(c(100), c(94.9), True), "ahead (one run)")
        self.assertIsNone(report.verdict(c(10), None, True))

    def test_missing_files_are_not_measured_rows(self):
        rows, _ = self.rows()
        self.assertTrue(rows)
        for r in rows.values():
            self.assertIn("not measured in this run", r.missing)
            self.assertFalse(any(r.cells.values()))
        self.assertIn("run `make bench-gc`", rows["gc_p999_us"].missing)
        self.assertIn("run `make bench-tracking`", rows["tracking_cpu_us_per_fix"].missing)
        md = report.render_md(list(rows.values()), "", "quick", "host", [])
        gc_line = next(l for l in md.split("\n") if l.startswith("| GC read-states"))
        self.assertNotRegex(gc_line.split("not measured")[1], r"\d")  # no number after it

    def fixture(self, name):
        return os.path.join(HERE, "fixtures", name)

    def test_gc_file_as_gc_report_writes_it(self):
        """fixtures/gc-2026-12-06-quick-busy-trimmed.json: the committed quick run, two windows
        a program (bench/tools/gc_report.py's "programs" layout)."""
        rows, windows = self.rows(gc=self.fixture("gc-2026-12-06-quick-busy-trimmed.json"))
        g = rows["gc_p999_us"]
        self.assertEqual(g.cells["weft"]["value"], 450.559)  # overall p99.9, µs -> ms
        self.assertEqual(g.cells["go"]["value"], 311.295)
        self.assertEqual(g.cells["rust"]["value"], 868.351)
        self.assertIsNone(g.cells["weft"]["lo"])  # one round: no noise band (windows are not rounds)
        self.assertEqual(g.verdicts(), {"go": "no verdict: busy-machine run", "rust": "no verdict: busy-machine run"})
        self.assertEqual(g.loses(), [])
        self.assertTrue(any(n.startswith("goal (weft p99.9 <= 1 ms") and "not met" in n for n in g.notes))
        self.assertTrue(any("per 10-second window" in n and "weft 446–471" in n for n in g.notes))
        self.assertEqual(g.meta["date"], "2026-12-06")
        self.assertTrue(g.meta["smoke"])  # its "busy" key
        self.assertEqual(round(rows["gc_rss"].cells["go"]["value"]), 1089)  # rss_kb.max, MB
        self.assertEqual(rows["gc_rss"].verdicts()["go"], "ahead (one run)")  # memory keeps its verdict
        self.assertEqual(rows["gc_cpu"].cells["rust"]["value"], 15.17)
        self.assertEqual([w["t"] for w in windows["go"]], [0, 10])
        self.assertIn("30 s measured", " ".join(g.notes))

    def test_gc_rounds_give_the_noise_band_and_go_defaults_is_the_column(self):
        doc = json.load(open(self.fixture("gc-2026-12-06-quick-busy-trimmed.json")))
        del doc["busy"]
        w = doc["programs"]["weft"]
        w["rounds_ok"] = 3
        w["overall_range"]["p999_us"] = [400000, 500000]
        go = doc["programs"]["go"]
        go["rounds_ok"] = 3
        go["overall_range"]["p999_us"] = [300000, 320000]
        fast = json.loads(json.dumps(go))
        fast["overall"]["p999_us"], fast["overall_range"]["p999_us"] = 1000, [900, 1100]
        doc["programs"]["go-gogc"] = fast  # tuned: faster, but not the Go column
        doc["programs"]["rust"]["rounds_ok"] = 3
        rows, _ = self.rows(gc=self.write("gc-2026-12-07.json", doc))
        g = rows["gc_p999_us"]
        self.assertEqual((g.cells["weft"]["lo"], g.cells["weft"]["hi"]), (400, 500))
        self.assertEqual(g.cells["go"]["prog"], "go")
        self.assertEqual(g.verdicts()["go"], "behind")  # 300-320 below 400-500, quiet file, 3 rounds
        self.assertIn("Go, GOGC=400", [name for name, _, _ in g.detail])
        doc["programs"]["rust"]["rounds_ok"] = 2  # one program short of rounds: no verdict for the row
        rows, _ = self.rows(gc=self.write("gc-2026-12-08.json", doc))
        self.assertEqual(rows["gc_p999_us"].verdicts()["go"], "no verdict: fewer than 3 rounds")

    def test_tracking_file_as_tracking_report_writes_it(self):
        """fixtures/tracking-2026-12-06-trimmed.json: the committed run's summary (three
        cells) and its 1000x500 rows (bench/tools/tracking_report.py's layout)."""
        path = self.fixture("tracking-2026-12-06-trimmed.json")
        rows, _ = self.rows(tracking=path)
        t = rows["tracking_cpu_us_per_fix"]
        self.assertIn("1000x500", t.title)  # the heaviest cell fleet ran too
        self.assertEqual(t.cells["weft"]["prog"], "weft")  # apps/tracking beats the fleet platform
        self.assertEqual((t.cells["weft"]["value"], t.cells["weft"]["lo"], t.cells["weft"]["hi"]), (89.18, 85.01, 93.35))
        self.assertEqual(t.verdicts(), {"go": "ahead", "rust": "parity"})
        self.assertEqual(list(t.matrix["weft"]), ["1000x10", "1000x500", "10000x500"])  # one entry per cell
        self.assertEqual(set(t.matrix["fleet"]), {"1000x10", "1000x500"})
        self.assertIn("weft fleet platform", [name for name, _, _ in t.detail])
        self.assertAlmostEqual(rows["tracking_rss_kb"].cells["rust"]["value"], 97544 / 1024)
        self.assertEqual(rows["tracking_push_p99_ms"].cells["go"]["value"], 132.096)
        self.assertEqual(t.meta["commit"], "4da8a80")
        self.assertEqual(t.meta["date"], "2026-12-06")  # from the file name: the file has none
        self.assertTrue(t.meta["smoke"])  # meta.note says busy machine
        # without its summary the same figures come from the per-round rows
        doc = json.load(open(path))
        del doc["summary"]
        rows2, _ = self.rows(tracking=self.write("tracking-2026-12-07.json", doc))
        t2 = rows2["tracking_cpu_us_per_fix"]
        self.assertEqual(t2.cells["weft"], t.cells["weft"])
        self.assertEqual(t2.cells["rust"], t.cells["rust"])

    def test_tracking_headline_skips_cells_that_measured_the_generator(self):
        """A cell where the load generator used >= 90 % of its core measured
        the generator: the headline is the heaviest cell without one, and
        when every cell had one, the row has no verdict."""
        doc = json.load(open(self.fixture("tracking-2026-12-06-trimmed.json")))
        del doc["rows"]
        def gen(prog, cell, g):
            doc["summary"][prog][cell]["gen_cpu_share"] = {"median": g, "min": g, "max": g}
        for prog in ("weft", "go", "rust", "fleet"):
            for cell in doc["summary"][prog]:
                gen(prog, cell, 0.2)
        gen("go", "1000x500", 0.95)  # one program's generator saturated in the heaviest common cell
        rows, _ = self.rows(tracking=self.write("tracking-2026-12-07.json", doc))
        t = rows["tracking_cpu_us_per_fix"]
        self.assertIn("1000x10", t.title)
        self.assertNotIn("1000x500", t.title)
        self.assertEqual(t.cells["weft"]["value"], doc["summary"]["weft"]["1000x10"]["cpu_us_per_fix"]["median"])
        self.assertFalse(t.no_verdict)
        gen("weft", "1000x10", 0.91)  # now every common cell measured a generator
        rows, _ = self.rows(tracking=self.write("tracking-2026-12-08.json", doc))
        t = rows["tracking_cpu_us_per_fix"]
        self.assertIn("1000x500", t.title)
        self.assertIn("load generator", t.verdicts()["go"])

    def test_tracking_rows_say_when_some_programs_compressed(self):
        """DEFLATE=on: the servers that agree to permessage-deflate compress,
        the others send plain frames; the viewers count what came compressed
        ("deflated"), and the CPU-per-fix row says which did which."""
        doc = json.load(open(self.fixture("tracking-2026-12-06-trimmed.json")))
        for r in doc["rows"]:
            r["deflated"] = 0
        rows, _ = self.rows(tracking=self.write("tracking-2026-12-07.json", doc))
        self.assertFalse(any("compressed" in n for n in rows["tracking_cpu_us_per_fix"].notes))  # all plain
        for r in doc["rows"]:
            r["deflated"] = 1200 if r["program"] in ("fleet", "weft") else 0
        rows, _ = self.rows(tracking=self.write("tracking-2026-12-08.json", doc))
        note = [n for n in rows["tracking_cpu_us_per_fix"].notes if "compressed" in n]
        self.assertEqual(len(note), 1)
        self.assertRegex(note[0], r"weft, weft fleet platform compressed .* Go, Rust sent them plain")

    def test_tracking_matrix_columns_keep_one_order(self):
        """Cells of equal weight (1000x100, 10000x10, ...) came out in the
        order of a set of strings, which changes with Python's hash seed:
        every `make bench-report` reshuffled the committed tables."""
        doc = json.load(open(self.fixture("tracking-2026-12-06-trimmed.json")))
        del doc["rows"]
        for prog in doc["summary"]:
            one = doc["summary"][prog]["1000x10"]
            for name in ("100x1000", "1000x100", "10000x10", "100000x1"):
                doc["summary"][prog][name] = one
        path = self.write("tracking-2026-12-07.json", doc)
        code = ("import sys, report; rows, _ = report.load({k: (sys.argv[1] if k == 'tracking' else None) "
                "for k in report.KINDS}); md = report.render_md(rows, '', 'full', 'host', []); "
                "print(next(l for l in md.split(chr(10)) if l.startswith('| program |')))")
        heads = {subprocess.run([sys.executable, "-c", code, path], env=dict(os.environ, PYTHONHASHSEED=str(seed),
                                                                              PYTHONPATH=HERE),
                                capture_output=True, text=True, check=True).stdout for seed in range(1, 6)}
        self.assertEqual(len(heads), 1, heads)
        self.assertIn("| 100x1000 | 1000x100 | 10000x10 | 100000x1 |", heads.pop())

    def build_doc(self, date, build_s=None, smoke=False):
        res = {p: {"size_bytes": 1048576 * (i + 1), "rss_idle_kb": 2048} for i, p in enumerate(("weft", "go", "rust"))}
        for p, v in (build_s or {}).items():
            res[p]["build_s"] = {"median": v, "min": v, "max": v, "runs": [v]}
        return {"date": date, "smoke": smoke, "rounds": 1 if build_s else 0, "results": res}

    def test_quick_build_row_comes_from_the_newest_timed_file(self):
        self.write("build-2026-12-01.json", self.build_doc("2026-12-01", {"weft": 40, "go": 100, "rust": 300}))
        self.write("build-2026-12-05.json", self.build_doc("2026-12-05", {"weft": 30, "go": 120, "rust": 290}))
        quick = self.write("build-2026-12-06-smoke.json", self.build_doc("2026-12-06", smoke=True))
        rows, _ = report.load({k: (quick if k == "build" else None) for k in report.KINDS}, self.dir, {"build"})
        rows = {r.key: r for r in rows}
        b = rows["build_s"]
        self.assertIsNone(b.missing)
        self.assertEqual(b.cells["rust"]["value"], 290)  # the newest timed file, not the older one
        self.assertTrue(b.source.endswith("build-2026-12-05.json"))
        self.assertFalse(b.fresh)
        self.assertIn("taken from", b.notes[0])
        self.assertIn("2026-12-05", b.notes[0])
        self.assertTrue(rows["size_bytes"].fresh)  # measured by the quick run itself
        self.assertEqual(rows["size_bytes"].cells["go"]["value"], 2)
        md = report.render_md(list(rows.values()), "", "quick", "host", [])
        self.assertIn("measured in this run: `", md)
        self.assertIn("build-2026-12-05.json` (2026-12-05)", md.split("Sources: ")[1].split("\n")[0])
        # no timed build anywhere: the row says so instead of a figure
        os.remove(os.path.join(self.dir, "build-2026-12-01.json"))
        os.remove(os.path.join(self.dir, "build-2026-12-05.json"))
        rows, _ = report.load({k: (quick if k == "build" else None) for k in report.KINDS}, self.dir, {"build"})
        b = next(r for r in rows if r.key == "build_s")
        self.assertIn("no clean build timed", b.missing)
        self.assertFalse(any(b.cells.values()))

    def test_same_date_files_are_ordered_by_their_commit_not_mtime(self):
        # a repository with two commits a day apart; the result files name them
        def git(*args, date=None):
            env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t",
                       GIT_COMMITTER_EMAIL="t@t")
            if date:
                env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = date
            return subprocess.run(["git", "-C", self.dir, *args], env=env, check=True,
                                  capture_output=True, text=True).stdout.strip()
        git("init", "-q")
        git("commit", "-q", "--allow-empty", "-m", "old", date="2026-12-05T10:00:00Z")
        old = git("rev-parse", "HEAD")
        git("commit", "-q", "--allow-empty", "-m", "new", date="2026-12-06T10:00:00Z")
        new = git("rev-parse", "HEAD")
        doc = lambda sha, rust: dict(self.build_doc("2026-12-06", {"weft": 30, "go": 120, "rust": rust}),
                                     weft_commit=sha + " (dirty)")
        # "z" sorts after "a": the name alone would pick the older run
        newer = self.write("build-2026-12-06-a.json", doc(new, 200))
        older = self.write("build-2026-12-06-z.json", doc(old, 300))
        for mtimes in ((1000, 2000), (2000, 1000)):  # whatever the checkout left as mtimes
            os.utime(newer, (mtimes[0], mtimes[0]))
            os.utime(older, (mtimes[1], mtimes[1]))
            self.assertEqual(report.newest(self.dir, "build"), newer)
        # a commit git does not know counts as oldest; then the name decides
        json.dump(doc("0123abcd", 100), open(newer, "w"))
        self.assertEqual(report.newest(self.dir, "build"), older)
        json.dump(doc("0123abcd", 100), open(older, "w"))
        self.assertEqual(report.newest(self.dir, "build"), older)  # -z after -a

    def test_gc_row_comes_from_the_longest_comparison_of_the_day(self):
        """Several GC files of one day: the report takes a run that compares
        weft with a peer (not an A/B of weft, not the floor with weft alone),
        and of those the longest, whatever their names say."""
        def gc(progs, duration):
            return {"date": "2026-12-07", "busy": "", "duration_s": duration, "rounds": 3,
                    "programs": {p: {} for p in progs}}
        full = self.write("gc-2026-12-07-a-full.json", gc(("weft", "go", "rust"), 300))
        self.write("gc-2026-12-07-b-quick.json", gc(("weft", "go", "rust"), 30))
        self.write("gc-2026-12-07-c-ab.json", gc(("weft", "weft-base", "go"), 300))
        self.write("gc-2026-12-07-d-floor.json", gc(("floor", "weft"), 600))
        self.assertEqual(report.newest(self.dir, "gc", report.gc_comparison), full)
        self.assertTrue(report.newest(self.dir, "gc").endswith("d-floor.json"))  # without the filter

    def test_gc_row_skips_ab_and_quick_files(self):
        """gc-*.json globs the A/B files (gc-ab-*, or any file run with BASE=)
        and the QUICK=1 ones too: a later one of those must not displace the
        full comparison; a quick one is taken only when no full run exists."""
        def gc(date, cmd, progs=("weft", "go", "rust"), duration=300):
            return {"date": date, "busy": "", "duration_s": duration, "rounds": 3, "command": cmd,
                    "programs": {p: {} for p in progs}}
        full = self.write("gc-2026-12-07.json", gc("2026-12-07", "QUICK=0 ROUNDS=3 DURATION=300 make bench-gc"))
        quick = self.write("gc-2026-12-08-quick.json", gc("2026-12-08", "QUICK=1 ROUNDS=3 DURATION=30 make bench-gc",
                                                          duration=30))
        self.write("gc-ab-2026-12-09.json", gc("2026-12-09", "QUICK=0 make bench-gc"))  # an A/B by its name
        self.write("gc-2026-12-10-x.json", gc("2026-12-10", "QUICK=0 PROGS=\"weft go\" BASE=04f923b make bench-gc"))
        self.assertEqual(report.newest_of(self.dir, "gc"), full)
        os.remove(full)
        self.assertEqual(report.newest_of(self.dir, "gc"), quick)  # no full run: the quick one, not the A/Bs
        # the same rule for every kind: db-ab-* (run-db.sh BASELINE_BIN) is not the db rows' file
        db = self.write("db-2026-12-07.json", http_doc({"weft": {"wrk_db_rps": [1, 2]}}))
        self.write("db-ab-2026-12-08.json", http_doc({"weft": {"wrk_db_rps": [1, 2]}}))
        self.assertEqual(report.newest_of(self.dir, "db"), db)

    def test_from_results_is_a_view_of_the_committed_files(self):
        self.write("build-2026-12-05.json", self.build_doc("2026-12-05", {"weft": 30, "go": 120, "rust": 290}))
        shutil.copy(self.fixture("gc-2026-12-06-quick-busy-trimmed.json"), os.path.join(self.dir, "gc-2026-12-06.json"))
        out = os.path.join(self.dir, "out")
        self.assertEqual(report.main(["--results", self.dir, "--out", out, "--from-results"]), 0)
        with open(os.path.join(out, "report.md")) as f:
            md = f.read()
        # the GC file was a busy run, and the label says it was that file, not every row's
        self.assertIn("— busy machine (the gc rows' file)", md.split("\n")[0])
        self.assertIn("The figures of those rows were measured while other work ran", md)
        self.assertIn("no benchmark was run", md)
        self.assertIn("Sources: committed files, not re-measured in this run: `", md)
        self.assertNotIn("; measured in this run", md)
        self.assertIn("gc-2026-12-06.json` (2026-12-06)", md)
        self.assertIn("| Clean build of the article's /health server | s |", md)
        self.assertRegex(md, r"\| GC read-states service: p99\.9 latency \(whole run\) \|.*\| 451 \| 311 \| 868 \| "
                             r"no verdict: busy-machine run \|")
        self.assertTrue(os.path.exists(os.path.join(out, "report.html")))

    def test_html_is_well_formed_with_one_svg_per_chart(self):
        path = self.write("binsearch-x.json", {"date": "2026-12-06", "unit_of_work": "a < b & c", "results": {
            "c": {"status": "ok", "lookup_ns": {"median": 700, "min": 650, "max": 800}},
            "go": {"status": "ok", "lookup_ns": {"median": 600, "min": 550, "max": 700}},
            "rust": {"status": "checksum differs", "lookup_ns": {"median": 1, "min": 1, "max": 1}}}})
        rows, windows = report.load({k: (path if k == "binsearch" else None) for k in report.KINDS})
        charts = report.charts_for(rows, {"weft": [{"t": 10, "p999_us": 500}], "go": [{"t": 10, "p999_us": 900}]})
        self.assertEqual(len(charts), 2)  # the binary-search bars and the GC line chart
        b = next(r for r in rows if r.key == "binsearch")
        self.assertIsNone(b.cells["rust"])  # a failed checksum is not a figure
        self.assertTrue(any("checksum differs" in n for n in b.notes))
        md = report.render_md(rows, "busy machine", "quick", "host", charts)
        page = report.render_html(md, charts, "busy machine")
        self.assertTrue(page.startswith("<!DOCTYPE html>\n"))
        import xml.etree.ElementTree as ET
        root = ET.fromstring(page.split("\n", 1)[1])  # raises on a tag left open or a bare & or <
        svgs = root.findall(".//{http://www.w3.org/2000/svg}svg")
        self.assertEqual(len(svgs), len(charts))
        figs = root.findall(".//figure")
        self.assertEqual(len(figs), len(charts))
        for f in figs:
            self.assertEqual(len(f.findall("{http://www.w3.org/2000/svg}svg")), 1)
        self.assertNotIn("<script", page)
        self.assertNotRegex(page, r"(src|href)=\"(https?:)?//")  # nothing loaded from elsewhere


if __name__ == "__main__":
    unittest.main()


class ShellAssignments(unittest.TestCase):
    """Under `set -e` an assignment's status is its last command
    substitution's: `STEM=x$([ "$SMOKE" = 1 ] && echo -smoke)` ends the
    script silently whenever the test is false. That stopped every step of
    the full `make bench` (SMOKE=0) in 0 s, and the report then took its
    rows from older files."""
    ROOT = os.path.dirname(os.path.dirname(HERE))
    ASSIGN = re.compile(r'^\s*(?:local\s+|export\s+)?[A-Za-z_][A-Za-z0-9_]*=')
    TEST_AND = re.compile(r'\$\(\[\[? [^()]*?\]\]? && [^()]*?\)')

    def offenders(self, path):
        out = []
        with open(path) as f:
            text = f.read()
        if not re.search(r'^\s*set -[a-z]*e', text, re.M):
            return out
        for n, line in enumerate(text.splitlines(), 1):
            if not self.ASSIGN.match(line) or re.match(r'^\s*local\s', line):
                continue
            for m in self.TEST_AND.finditer(line):
                if '||' not in m.group(0):
                    out.append(f"{os.path.relpath(path, self.ROOT)}:{n}: {line.strip()}")
        return out

    def test_no_assignment_ends_in_a_failing_test(self):
        bad = []
        for d in ("bench", "scripts", ".ci"):
            for root, _, files in os.walk(os.path.join(self.ROOT, d)):
                if "peers" in root or "node_modules" in root:
                    continue
                for name in files:
                    if name.endswith(".sh") or name == "run":
                        bad += self.offenders(os.path.join(root, name))
        self.assertEqual(bad, [])

    def test_the_check_sees_the_bug(self):
        d = tempfile.mkdtemp(prefix="sh-test-")
        DIRS.append(d)
        p = os.path.join(d, "x.sh")
        with open(p, "w") as f:
            f.write('set -euo pipefail\nSTEM=a$([ "$SMOKE" = 1 ] && echo -smoke)\n'
                    'OK=a$([ "$SMOKE" = 1 ] && echo -smoke || :)\n')
        self.assertEqual(len(self.offenders(p)), 1)
        r = subprocess.run(["bash", p], env={"SMOKE": "0", "PATH": os.environ["PATH"]})
        self.assertNotEqual(r.returncode, 0)  # what the check guards against


class FleetRetention(unittest.TestCase):
    """fleet_retention.py (run-fleet.sh PHASES=retention): the pre-fill on
    the fleet's real schema (its migrations read from apps/fleet/store.c),
    and a run's row from fleet-sim's output and two /metrics scrapes."""
    ROOT = os.path.dirname(os.path.dirname(HERE))

    def schema_db(self):
        """An SQLite database with fleet's migrations applied, as the
        server makes it (store.c's dialect tokens replaced as for SQLite)."""
        import sqlite3
        with open(os.path.join(self.ROOT, "apps/fleet/store.c")) as f:
            src = f.read()
        block = src[src.index("static const char *const migrations[] = {"):]
        block = re.sub(r"/\*.*?\*/", "", block[:block.index("\n};")], flags=re.S)
        migrations, cur = [], ""
        for tok in re.finditer(r'"((?:[^"\\]|\\.)*)"|,', block.split("{", 1)[1]):
            if tok.group(0) == ",":
                migrations.append(cur)
                cur = ""
            else:
                cur += tok.group(1).encode().decode("unicode_escape")
        if cur:
            migrations.append(cur)
        self.assertGreaterEqual(len(migrations), 5)
        d = tempfile.mkdtemp(prefix="retention-test-")
        DIRS.append(d)
        path = os.path.join(d, "fleet.sqlite")
        db = sqlite3.connect(path)
        db.execute("PRAGMA journal_mode=WAL")
        for m in migrations:
            for a, b in (("@ID@", "INTEGER PRIMARY KEY"), ("@INT@", "INTEGER"), ("@REAL@", "REAL"),
                         ("@CLUSTERED@", " WITHOUT ROWID")):
                m = m.replace(a, b)
            db.executescript(m)
        db.close()
        return path

    def test_prefill_old_and_young_rows_of_devices_of_their_own(self):
        import sqlite3
        import fleet_retention as fr
        path = self.schema_db()
        now = 1_800_000_000_000
        # 3 devices: 100 old fixes each (one chunk of 60, two events), 30 young (none)
        s = fr.prefill(path, 3, 300, 90, 30, 1.5, now_ms=now)
        self.assertEqual(s["old"], {"positions": 300, "chunks": 3, "events": 6})
        self.assertEqual(s["young"], {"positions": 90, "chunks": 0, "events": 0})
        db = sqlite3.connect(path)
        q = lambda sql, *a: db.execute(sql, a).fetchone()[0]  # noqa: E731
        cut = now - 30 * fr.DAY_MS
        self.assertEqual(q("SELECT COUNT(*) FROM positions WHERE server_time < ?", cut), 300)
        self.assertEqual(q("SELECT MAX(server_time) FROM positions WHERE server_time < ?", cut) < cut - fr.DAY_MS, True)
        self.assertEqual(q("SELECT MIN(server_time) FROM positions WHERE server_time >= ?", cut) > cut + fr.DAY_MS // 2,
                         True)
        self.assertEqual(q("SELECT COUNT(*) FROM motion_chunks WHERE t0 < ? AND thr = 1.5", cut), 3)
        self.assertEqual(q("SELECT COUNT(*) FROM events WHERE event_time < ?", cut), 6)
        self.assertEqual(q("SELECT group_concat(unique_id) FROM devices"), "old-00001,old-00002,old-00003")
        self.assertEqual(q("SELECT COUNT(DISTINCT device_id) FROM positions"), 3)
        # time-major, as ingest writes: consecutive ids take turns among the devices
        self.assertEqual([r[0] for r in db.execute("SELECT device_id FROM positions ORDER BY id LIMIT 4")], [1, 2, 3, 1])
        self.assertEqual(q("PRAGMA journal_mode"), "wal")
        db.close()
        with self.assertRaises(ValueError):  # never over rows already there
            fr.prefill(path, 3, 300, 90, 30, 1.5, now_ms=now)

    M0 = ("# HELP fleet_commit_seconds x\n"
          'fleet_commit_seconds_bucket{le="0.001"} 100\nfleet_commit_seconds_bucket{le="0.025"} 150\n'
          'fleet_commit_seconds_bucket{le="0.1"} 160\nfleet_commit_seconds_bucket{le="+Inf"} 160\n'
          "fleet_commit_seconds_sum 0.5\nfleet_commit_seconds_count 160\n"
          'fleet_pruned_total{table="positions"} 2000\nfleet_pruned_total{table="events"} 0\n')
    # 1000 commits in the run: 900 within 1 ms, 80 within 25, 15 within 100, 5 over: p99 in the 100 ms bucket
    M1 = ('fleet_commit_seconds_bucket{le="0.001"} 1000\nfleet_commit_seconds_bucket{le="0.025"} 1130\n'
          'fleet_commit_seconds_bucket{le="0.1"} 1155\nfleet_commit_seconds_bucket{le="+Inf"} 1160\n'
          "fleet_commit_seconds_sum 4.5\nfleet_commit_seconds_count 1160\n"
          'fleet_pruned_total{table="positions"} 402000\nfleet_pruned_total{table="events"} 0\n')
    SIM = ("fleet-sim: 500 vehicles every 120000 ms, backfill\n"
           "[    1s] sent 10 acked 9 failed 0 | 9 acks/s | ack p50 1.00 ms p99 7.50 ms | connections 256\n"
           "[    2s] sent 20 acked 19 failed 0 | 10 acks/s | ack p50 1.00 ms p99 31.00 ms | connections 256\n"
           "fleet-sim: done in 2.1 s: sent 20000, acknowledged 20000, failed 0 (refused 0), resent 0, dropped 0, "
           "connect errors 0; ack latency p50 1.10 ms, p99 12.00 ms; 10000 acks/s\n")

    def test_row(self):
        import fleet_retention as fr
        # 20,000 fixes in 2 s, 100 ticks (1 s at 100/s) of server CPU: 50 us a fix
        r = fr.make_row("osmand-prune", 1, self.SIM, self.M0, self.M1, 10.0, 12.0, 500, 600, 100, 70000, 3000000)
        self.assertEqual((r["fixes"], r["fixes_per_s"], r["cpu_us_per_fix"], r["server_cpu_share"]),
                         (20000, 10000, 50.0, 0.5))
        self.assertEqual((r["ack_p50_ms"], r["ack_p99_ms"], r["ack_p99_worst_1s_ms"]), (1.1, 12.0, 31.0))
        self.assertEqual((r["commits"], r["commit_mean_ms"], r["commit_p99_le_ms"]), (1000, 4.0, 100.0))
        self.assertEqual((r["commits_over_25ms"], r["commits_over_100ms"]), (20, 5))
        self.assertEqual((r["pruned_before_run"], r["pruned_positions"], r["pruned_per_s"]), (2000, 400000, 200000))
        self.assertEqual(r["old_left_at_end"], 3000000 - 402000)
        # more than 1 % over 100 ms: the p99 is past the histogram's last bound
        m1 = self.M1.replace('{le="0.1"} 1155', '{le="0.1"} 1140')
        self.assertIsNone(fr.make_row("w", 1, self.SIM, self.M0, m1, 0, 1, 0, 1, 100, 1, 0)["commit_p99_le_ms"])

    def test_report_has_the_retention_table(self):
        import fleet_retention as fr
        rows = [fr.make_row(w, 1, self.SIM, self.M0, self.M1, 10.0, 12.0, 500, 600, 100, 70000, 3000000)
                for w in ("osmand-prune", "osmand-noprune")]
        d = tempfile.mkdtemp(prefix="retention-report-")
        DIRS.append(d)
        out = os.path.join(d, "r")
        p = subprocess.run([sys.executable, os.path.join(HERE, "fleet_report.py"), out, "cmd", "a note"],
                           input="".join(json.dumps(r) + "\n" for r in rows), text=True, cwd=self.ROOT)
        self.assertEqual(p.returncode, 0)
        with open(out + ".md") as f:
            md = f.read()
        self.assertIn("a note\n", md)
        self.assertIn("| osmand-prune | 1.10 (1.10-1.10) | 12.00 (12.00-12.00) | 31.0 (31.0-31.0) | 4.00 (4.00-4.00) "
                      "| 20 (20-20) | 5 (5-5) | 400000 (400000-400000) | 2598000 (2598000-2598000) |", md)
        with open(out + ".json") as f:
            self.assertEqual(json.load(f)["summary"]["osmand-noprune"]["ack_p99_ms"]["median"], 12.0)
