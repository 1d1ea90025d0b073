"""Tests of fleet_j.py, the table of issue 11 part J's figures: the verdicts,
what each figure reads from its kind of result file, which file is the
newest, and that the Markdown pastes into docs/ past scripts/check-doc-figures.py.
Run by scripts/test.sh:

    python3 -m unittest discover -s bench/tools -p 'test_*.py'
"""
import contextlib
import importlib.util
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import fleet_j  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(HERE))
_spec = importlib.util.spec_from_file_location("check_doc_figures", os.path.join(ROOT, "scripts", "check-doc-figures.py"))
check_doc_figures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_doc_figures)


def ingest_doc(rounds, command="RECORDS=50 bash bench/run-fleet.sh"):
    """A fleet_report.py file; rounds: {workload: [fixes/s per round]}."""
    rows = [{"workload": w, "round": i + 1, "fixes_per_s": v, "cpu_us_per_fix": 1e6 / v}
            for w, vs in rounds.items() for i, v in enumerate(vs)]
    return {"meta": {"command": command, "commit": "abc1234"}, "rows": rows, "summary": {}}


def live_row(program, p99, cpu, rate=10000, viewers=500, connected=500, closed_early=0):
    return {"program": program, "rate": rate, "viewers": viewers, "connected": connected,
            "closed_early": closed_early, "p99_ms": p99, "server_cpu_share": cpu, "cpu_us_per_fix": cpu * 100}


def history_rows(server, report, wall, cpu=None):
    return {"server": server, "report": report, "wall_ms": wall, "server_cpu_ms": cpu or wall, "bytes": 1}


def memory_row(server, devices, rss_anon_kb, live=0, empty_kb=4000, acked=None):
    return {"server": server, "round": 1, "devices": devices, "reporting": devices,
            "acked": devices if acked is None else acked,
            "empty": {"RssAnon": empty_kb, "live": 0}, "seeded": {"RssAnon": empty_kb, "live": live},
            "reported": {"RssAnon": rss_anon_kb, "live": live}}


FIG = {f[0]: f for f in fleet_j.FIGURES}
TELTONIKA, OSMAND, P99, LIVE_CPU, ROUTE, TRIPS, MEMORY = (f[0] for f in fleet_j.FIGURES)


def measure(name, doc, path="x.json"):
    f = FIG[name]
    m = f[5](doc, path)
    return m, fleet_j.verdict(m, f[2], f[3])


class Verdicts(unittest.TestCase):
    def v(self, values, target, higher, failed=""):
        return fleet_j.verdict(fleet_j.Measured(values, failed=failed), target, higher)

    def test_every_round_on_the_targets_side_is_met(self):
        self.assertEqual(self.v([210, 230, 220], 200, True), "met (1.10x)")
        self.assertEqual(self.v([30, 40, 35], 50, False), "met (0.70x)")

    def test_the_target_itself_is_met(self):
        self.assertTrue(self.v([200, 250], 200, True).startswith("met"))
        self.assertTrue(self.v([50, 40], 50, False).startswith("met"))

    def test_every_round_on_the_other_side_is_not_met(self):
        self.assertEqual(self.v([100, 110, 120], 200, True), "NOT met (0.55x)")
        self.assertEqual(self.v([60, 70, 55], 50, False), "NOT met (1.20x)")

    def test_a_range_across_the_target_is_the_parity_band_whatever_the_median(self):
        self.assertEqual(self.v([190, 250, 260], 200, True), "parity band (1.25x)")
        self.assertEqual(self.v([150, 160, 210], 200, True), "parity band (0.80x)")
        self.assertEqual(self.v([45, 48, 55], 50, False), "parity band (0.96x)")

    def test_a_failure_is_not_met_whatever_the_values(self):
        self.assertEqual(self.v([10, 11], 50, False, failed="3 viewer(s) failed"),
                         "NOT met: 3 viewer(s) failed (0.21x)")


class Figures(unittest.TestCase):
    def test_ingest_reads_its_workload_only(self):
        doc = ingest_doc({"teltonika": [100, 300, 200], "teltonika-baseline": [999] * 3, "osmand": [7, 8, 9]})
        m, _ = measure(TELTONIKA, doc)
        self.assertEqual((m.median, m.lo, m.hi, m.rounds), (200, 100, 300, 3))
        m, _ = measure(OSMAND, doc)
        self.assertEqual((m.median, m.lo, m.hi), (8, 7, 9))

    def test_teltonika_outside_10_to_50_records_is_not_the_cell(self):
        doc = ingest_doc({"teltonika": [300000] * 3}, command="RECORDS=255 bash bench/run-fleet.sh")
        with self.assertRaisesRegex(fleet_j.NotJ, "255-record"):
            measure(TELTONIKA, doc)
        measure(OSMAND, ingest_doc({"osmand": [1]}, command="RECORDS=255"))  # OsmAnd has no packets

    def test_live_reads_fleet_at_10000_by_500_only(self):
        rows = [live_row("fleet-old", 90, 0.9), live_row("fleet", 30, 0.4), live_row("fleet", 34, 0.6),
                live_row("fleet", 5, 0.1, rate=1000), live_row("fleet-50ms", 1, 0.1),
                live_row("fleet/deflate=off", 1, 0.1), live_row("fleet/deflate=on", 32, 0.5)]
        m, v = measure(P99, {"rows": rows})
        self.assertEqual((m.median, m.lo, m.hi, m.rounds), (32, 30, 34, 3))
        self.assertTrue(v.startswith("met"))
        m, v = measure(LIVE_CPU, {"rows": rows})
        self.assertEqual((m.lo, m.hi), (0.4, 0.6))
        self.assertTrue(v.startswith("parity band"))
        with self.assertRaisesRegex(fleet_j.NotJ, "only fleet-old"):
            measure(P99, {"rows": [live_row("fleet-old", 30, 0.4)]})

    def test_live_viewers_that_failed_make_the_p99_not_met(self):
        rows = [live_row("fleet", 30, 0.4), live_row("fleet", 30, 0.4, connected=498, closed_early=1)]
        _, v = measure(P99, {"rows": rows})
        self.assertTrue(v.startswith("NOT met: 3 viewer(s) failed"), v)

    def test_history_reads_the_chunks_server_and_the_wall_time(self):
        doc = [history_rows("raw", "route_compact", [10, 10]), history_rows("chunks", "route_compact", [40, 60, 45],
                                                                            cpu=[30, 35, 31]),
               history_rows("chunks", "trips", [80, 90])]
        m, v = measure(ROUTE, doc)
        self.assertEqual((m.median, m.lo, m.hi), (45, 40, 60))
        self.assertEqual(v, "parity band (0.90x)")
        self.assertIn("server CPU 31 (30-35) ms", m.extra)

    def test_trips_over_fewer_than_30_days_is_not_the_cell(self):
        d = tempfile.mkdtemp(prefix="fleet-j-test-")
        self.addCleanup(shutil.rmtree, d)
        with open(os.path.join(d, "h.md"), "w") as f:
            f.write("- Command: `PHASES=history HISTORY_DAYS=3 HISTORY_ROUNDS=3 bash bench/run-fleet.sh`\n")
        doc = [history_rows("chunks", "route_compact", [40]), history_rows("chunks", "trips", [20])]
        with self.assertRaisesRegex(fleet_j.NotJ, "3 days"):
            measure(TRIPS, doc, os.path.join(d, "h.json"))
        measure(ROUTE, doc, os.path.join(d, "h.json"))  # a day is a day

    def test_memory_is_the_heap_over_an_empty_server_per_device(self):
        doc = [memory_row("baseline", 100000, 200000), memory_row("weft", 100000, 4000 + 75000, live=50_700_000)]
        m, v = measure(MEMORY, doc)
        self.assertEqual(m.median, 75000 * 1024 / 100000)  # 768 B
        self.assertIn("live table 507 B", m.extra)
        self.assertEqual(v, "met (0.75x)")
        with self.assertRaisesRegex(fleet_j.NotJ, "10,000 devices"):
            measure(MEMORY, [memory_row("weft", 10000, 9000)])
        _, v = measure(MEMORY, [memory_row("weft", 100000, 9000, acked=99990)])
        self.assertTrue(v.startswith("NOT met: 10 fix(es)"), v)


def git(d, *args, when=None):
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@t")
    if when:
        env.update(GIT_AUTHOR_DATE=when, GIT_COMMITTER_DATE=when)
    subprocess.run(["git", "-C", d, "-c", "commit.gpgsign=false", *args], check=True, capture_output=True, env=env)


class Selection(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="fleet-j-test-")
        self.addCleanup(shutil.rmtree, self.dir)

    def put(self, name, doc, lines=False):
        with open(os.path.join(self.dir, name), "w") as f:
            if lines:
                f.write("".join(json.dumps(r) + "\n" for r in doc))
            else:
                json.dump(doc, f)

    def run_j(self, *args):
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = fleet_j.main(["--results", self.dir, *args])
        return rc, out.getvalue(), err.getvalue()

    def test_the_newest_committed_file_of_each_kind(self):
        git(self.dir, "init", "-q")
        # the same date in both names; "a" written first (older on disk) and earlier in the
        # alphabet, but committed last: the commit decides
        self.put("fleet-ingest-2026-12-07-a.json", ingest_doc({"teltonika": [160000]}))
        os.utime(os.path.join(self.dir, "fleet-ingest-2026-12-07-a.json"), (1, 1))
        self.put("fleet-2026-12-06.json", ingest_doc({"teltonika": [100000]}))
        self.put("fleet-2026-12-07-z.json", ingest_doc({"teltonika": [150000]}))
        git(self.dir, "add", "fleet-2026-12-06.json", "fleet-2026-12-07-z.json")
        git(self.dir, "commit", "-qm", "1", when="2026-12-07T10:00:00")
        git(self.dir, "add", ".")
        git(self.dir, "commit", "-qm", "2", when="2026-12-07T12:00:00")
        self.put("fleet-2026-12-08.json", ingest_doc({"teltonika": [300000]}))  # not committed
        rows = fleet_j.table(fleet_j.candidates([], self.dir)[0])
        self.assertEqual(os.path.basename(rows[0]["path"]), "fleet-ingest-2026-12-07-a.json")
        self.assertTrue(rows[0]["measured"].startswith("160,000 fixes/s"), rows[0]["measured"])
        # given on the command line, a file is read whether committed or not
        rows = fleet_j.table(fleet_j.candidates([os.path.join(self.dir, "fleet-2026-12-08.json"),
                                                 os.path.join(self.dir, "fleet-2026-12-06.json")], self.dir)[0])
        self.assertEqual(os.path.basename(rows[0]["path"]), "fleet-2026-12-08.json")

    def test_each_figure_from_the_newest_file_that_measured_it(self):
        self.put("fleet-2026-12-06.json", ingest_doc({"teltonika": [210000, 230000], "osmand": [20000]}))
        self.put("fleet-2026-12-07.json", ingest_doc({"osmand": [30000, 31000]}))
        self.put("fleet-memory-2026-12-07.json", [memory_row("weft", 10000, 9000)], lines=True)
        rc, out, _ = self.run_j()
        self.assertEqual(rc, 0)
        lines = out.splitlines()
        tlt = next(l for l in lines if l.startswith("ingest: Teltonika"))
        osm = next(l for l in lines if l.startswith("ingest: OsmAnd"))
        self.assertIn("fleet-2026-12-06.json", tlt)
        self.assertIn("met (1.10x)", tlt)
        self.assertIn("30,500 (30,000-31,000) fixes/s, 2 rounds", osm)
        self.assertIn("fleet-2026-12-07.json", osm)
        mem = next(l for l in lines if l.startswith("memory:"))
        self.assertIn("not measured (newest memory file: fleet-memory-2026-12-07.json: 10,000 devices", mem)

    def test_no_results_leaves_every_figure_not_measured(self):
        rc, out, _ = self.run_j()
        self.assertEqual(rc, 0)
        for name, *_ in fleet_j.FIGURES:
            self.assertRegex(out, "(?m)^%s +[^\n]*not measured" % re.escape(name))
        self.assertIn("anchor, not a target", out)

    def test_bad_files(self):
        rc, _, err = self.run_j(os.path.join(self.dir, "nothing.json"))
        self.assertEqual(rc, 2)
        self.assertIn("no such file", err)
        with open(os.path.join(self.dir, "bad.json"), "w") as f:
            f.write("{not json\n")
        self.put("other.json", {"rows": [{"x": 1}]})
        rc, out, err = self.run_j(os.path.join(self.dir, "bad.json"), os.path.join(self.dir, "other.json"))
        self.assertEqual(rc, 0)
        self.assertIn("neither JSON nor JSON lines", err)
        self.assertIn("not a fleet ingest, history, memory or live result", err)
        self.assertIn("not measured", out)
        # a file of the right kind with a field missing is a reason, not a crash
        self.put("fleet-2026-12-09.json", {"rows": [{"workload": "osmand"}]})
        rc, out, _ = self.run_j(os.path.join(self.dir, "fleet-2026-12-09.json"))
        self.assertIn("unreadable (KeyError", out)


class CommittedResults(unittest.TestCase):
    """The table of the files in bench/results/ as they are committed."""

    def test_every_figure_and_the_markdown_passes_the_doc_figures_check(self):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            self.assertEqual(fleet_j.main(["--markdown"]), 0)
        md = out.getvalue()
        for name, *_ in fleet_j.FIGURES:
            self.assertIn("| " + name + " |", md)
        # each measured row links its result file as seen from docs/
        links = re.findall(r"\]\((\.\./bench/results/[^)]+)\)", md)
        self.assertGreaterEqual(len(links), len(fleet_j.FIGURES))  # the table's and the sources' list
        for l in links:
            self.assertTrue(os.path.isfile(os.path.join(ROOT, "docs", l)), l)
        with tempfile.TemporaryDirectory() as d:
            for text in (md, fleet_j.markdown(fleet_j.table([]))):  # and with nothing measured
                with open(os.path.join(d, "fleet.md"), "w") as f:
                    f.write("# J\n\n" + text)
                self.assertEqual(check_doc_figures.check(os.path.join(d, "fleet.md"), ROOT), [])


if __name__ == "__main__":
    unittest.main()
