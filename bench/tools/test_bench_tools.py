"""Tests of the arena's report logic (arena_report.py), bench-ws's
(ws_report.py) and of the JSON
document generator (gen_json.py): the parts whose mistakes would silently
publish a wrong verdict or a wrong document. Run by scripts/test.sh:

    python3 -m unittest discover -s bench/tools -p 'test_*.py'
"""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import arena_report  # noqa: E402
import ws_report  # noqa: E402


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


if __name__ == "__main__":
    unittest.main()
