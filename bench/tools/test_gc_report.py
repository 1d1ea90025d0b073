"""Tests of the GC case's report (gc_report.py): the field names other
reports read, the median round, and the verdict on weft's goal (p99.9 <= 1 ms
in every window). Run by scripts/test.sh with the other bench/tools tests."""
import json
import os
import shutil
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gc_report  # noqa: E402


def gcload_json(p999s, errors=0, cpu_s=0.5):
    wins = [{"t": i * 10, "count": 1000, "p50_us": 100, "p99_us": 300, "p999_us": v,
             "max_us": v + 50, "rss_kb": 5000} for i, v in enumerate(p999s)]
    return {"rate": 2000, "duration_s": 10 * len(p999s), "warmup_s": 5, "window_s": 10,
            "conns": 64, "users": 100, "update_pct": 10, "sent": 1000 * len(p999s),
            "completed": 1000 * len(p999s), "non2xx": 0, "errors": errors, "unanswered": 0,
            "achieved_rps": 2000.0, "rss_kb": {"start": 4000, "max": 5100},
            "server_cpu_s": cpu_s,
            "overall": {"count": 1000 * len(p999s), "p50_us": 100, "p99_us": 300,
                        "p999_us": max(p999s), "max_us": max(p999s) + 50},
            "windows": wins}


class GcReport(unittest.TestCase):
    def setUp(self):
        self.work = tempfile.mkdtemp(prefix="gc-test-")
        self.out = os.path.join(self.work, "out", "gc-test")
        with open(os.path.join(self.work, "meta"), "w") as f:
            f.write("date=2026-12-06\nbusy=\nmachine=m\ncommand=c\n")

    def tearDown(self):
        shutil.rmtree(self.work, ignore_errors=True)

    def put(self, prog, rnd, doc, rss=4000):
        base = os.path.join(self.work, "%s.r%d" % (prog, rnd))
        with open(base + ".json", "w") as f:
            json.dump(doc, f)
        with open(base + ".rss_after_load", "w") as f:
            f.write(str(rss))
        with open(base + ".cmd", "w") as f:
            f.write("srv")

    def test_fields_and_goal_met(self):
        self.put("weft", 1, gcload_json([400, 500, 900]))
        doc = gc_report.build(self.work, self.out, ["weft"])
        w = doc["programs"]["weft"]
        self.assertEqual(set(w["overall"]) >= {"p50_us", "p99_us", "p999_us", "max_us"}, True)
        self.assertEqual(w["rss_kb"], {"after_load": 4000, "max": 5100})
        self.assertEqual([x["t"] for x in w["windows"]], [0, 10, 20])
        self.assertAlmostEqual(w["server_cpu_us_per_req"], 0.5e6 / 3000, places=2)
        self.assertEqual(w["rounds"][0]["server_cpu_us_per_req"], w["server_cpu_us_per_req"])
        self.assertTrue(doc["goal"]["met"])
        with open(self.out + ".json") as f:
            self.assertEqual(json.load(f)["programs"]["weft"]["overall"]["p999_us"], 900)
        for ext in (".md", ".svg"):
            self.assertTrue(os.path.getsize(self.out + ext) > 100)
        # the chart has a panel for each of the per-window figures
        with open(self.out + ".svg") as f:
            chart = f.read()
        for title in ("p50 (ms", "p99 (ms", "p99.9 (ms", "max (ms"):
            self.assertIn(">" + title, chart)
        self.assertEqual(chart.count("<polyline"), 4)

    def test_one_spike_window_fails_the_goal(self):
        # overall p99.9 could hide one bad window: the verdict looks at each
        self.put("weft", 1, gcload_json([400, 1500, 400]))
        doc = gc_report.build(self.work, self.out, ["weft"])
        self.assertFalse(doc["goal"]["met"])
        self.assertIn("t = 10 s", doc["goal"]["why"])

    def test_errors_fail_the_goal(self):
        self.put("weft", 1, gcload_json([400, 400], errors=3))
        self.assertFalse(gc_report.build(self.work, self.out, ["weft"])["goal"]["met"])

    def test_cpu_per_request_per_round_and_its_range(self):
        for r, (p999, cpu) in enumerate(((400, 0.3), (500, 0.9), (600, 0.6)), 1):
            self.put("weft", r, gcload_json([p999], cpu_s=cpu))
        w = gc_report.build(self.work, self.out, ["weft"])["programs"]["weft"]
        self.assertEqual(w["server_cpu_us_per_req"], 900.0)  # the median round (by p99.9): round 2
        self.assertEqual(w["server_cpu_us_per_req_range"], [300.0, 900.0])
        self.assertEqual([x["server_cpu_us_per_req"] for x in w["rounds"]], [300.0, 900.0, 600.0])
        with open(self.out + ".md") as f:
            self.assertIn("| 900.0 (300.0–900.0) |", f.read())

    def test_median_round_and_range(self):
        self.put("go", 1, gcload_json([5000]))
        self.put("go", 2, gcload_json([700]))
        self.put("go", 3, gcload_json([900]))
        g = gc_report.build(self.work, self.out, ["go"])["programs"]["go"]
        self.assertEqual(g["overall"]["p999_us"], 900)
        self.assertEqual(g["median_round"], 3)
        self.assertEqual(g["overall_range"]["p999_us"], [700, 5000])

    def test_comparison_needs_rounds_and_a_quiet_machine(self):
        for r, (w, g, rs) in enumerate([(500, 3000, 580), (600, 3500, 650), (550, 4000, 900)], 1):
            self.put("weft", r, gcload_json([w]))
            self.put("go", r, gcload_json([g]))
            self.put("rust", r, gcload_json([rs]))
        c = gc_report.build(self.work, self.out, ["weft", "go", "rust"])["comparison"]
        self.assertEqual(c["go"]["p999_us"]["verdict"], "ahead")  # 3000-4000 vs weft's 500-600
        self.assertAlmostEqual(c["go"]["p999_us"]["ratio"], 3500 / 550)
        self.assertEqual(c["rust"]["p999_us"]["verdict"], "parity")  # 580-900 overlaps weft's 500-600
        with open(self.out + ".md") as f:
            self.assertIn("| Go net/http, map by value, GC defaults | 6.36× ahead |", f.read())
        # a busy machine: no verdict, the reason instead
        with open(os.path.join(self.work, "meta"), "w") as f:
            f.write("date=2026-12-06\nbusy=CPUs 80% busy at the start\nmachine=m\ncommand=c\n")
        c = gc_report.build(self.work, self.out, ["weft", "go"])["comparison"]
        self.assertIsNone(c["go"]["p999_us"]["verdict"])
        self.assertIn("busy machine", c["go"]["p999_us"]["why"])

    def test_comparison_with_too_few_rounds(self):
        self.put("weft", 1, gcload_json([500]))
        self.put("go", 1, gcload_json([3000]))
        c = gc_report.build(self.work, self.out, ["weft", "go"])["comparison"]
        self.assertIsNone(c["go"]["max_us"]["verdict"])
        self.assertEqual(c["go"]["max_us"]["why"], "1 clean round(s); a verdict needs 3")

    def test_failed_program_is_reported(self):
        with open(os.path.join(self.work, "rust.r1.fail"), "w") as f:
            f.write("did not start")
        doc = gc_report.build(self.work, self.out, ["rust"])
        self.assertEqual(doc["programs"]["rust"]["failures"], ["round 1: did not start"])
        self.assertIsNone(doc["goal"]["met"])


if __name__ == "__main__":
    unittest.main()
    def test_floor_has_no_comparison_and_the_tail_split_is_reported(self):
        def split(doc, late, from_send):
            doc["send_late"] = {"count": 1, "p50_us": 5, "p99_us": late // 2, "p999_us": late,
                                "max_us": late + 1}
            doc["from_send"] = {"count": 1, "p50_us": 50, "p99_us": from_send // 2,
                                "p999_us": from_send, "max_us": from_send + 1}
            return doc
        for r in (1, 2, 3):
            self.put("weft", r, split(gcload_json([3000]), 2400, 800))
            self.put("floor", r, split(gcload_json([2900]), 2300, 700))
        doc = gc_report.build(self.work, self.out, ["weft", "floor"])
        self.assertNotIn("floor", doc["comparison"])
        self.assertEqual(doc["programs"]["floor"]["send_late"]["p999_us"], 2300)
        self.assertEqual(doc["programs"]["weft"]["from_send"]["p999_us"], 800)
        with open(self.out + ".md") as f:
            md = f.read()
        self.assertIn("| floor: a server that does no work (bench/tools/gcfloor.c) | 2.900 | "
                      "1.150 | 2.300 | 0.350 | 0.700 |", md)
        # old gcload output without the split: no table, no error
        self.put("weft", 1, gcload_json([3000]))
        self.put("weft", 2, gcload_json([3000]))
        self.put("weft", 3, gcload_json([3000]))
        doc = gc_report.build(self.work, self.out, ["weft"])
        self.assertNotIn("send_late", doc["programs"]["weft"])
