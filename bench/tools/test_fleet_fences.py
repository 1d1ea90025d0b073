"""Tests of bench/tools/fleet_fences.py, the geofences of bench-fleet's
FENCES runs: the parts whose mistakes would silently measure something
else (other fences from run to run, shapes the server skips, a density
figure that does not match the index). Run by scripts/test.sh:

    python3 -m unittest discover -s bench/tools -p 'test_*.py'
"""
import json
import math
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import fleet_fences as ff  # noqa: E402

# the columns of apps/fleet/store.c's geofences table (SQLite flavour)
SCHEMA = ("CREATE TABLE groups (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, speed_limit_kn REAL NOT NULL "
          "DEFAULT 0, attributes TEXT NOT NULL DEFAULT '{}', created_ms INTEGER NOT NULL);\n"
          "CREATE TABLE geofences (id INTEGER PRIMARY KEY, name TEXT NOT NULL, description TEXT NOT NULL "
          "DEFAULT '', area TEXT NOT NULL, group_id INTEGER, attributes TEXT NOT NULL DEFAULT '{}', "
          "created_ms INTEGER NOT NULL)")


def crosses(p, q, r, s):
    """Segments pq and rs properly cross (share a point that is not an end of both)."""
    def side(a, b, c):
        v = (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
        return (v > 0) - (v < 0)
    return side(p, q, r) * side(p, q, s) < 0 and side(r, s, p) * side(r, s, q) < 0


class Fences(unittest.TestCase):
    FENCES = ff.make_fences(10000, seed=1)

    def test_same_seed_same_fences(self):
        self.assertEqual(ff.make_fences(300, seed=5), ff.make_fences(300, seed=5))
        self.assertNotEqual(ff.make_fences(300, seed=5), ff.make_fences(300, seed=6))

    def test_the_mix(self):
        kinds = {}
        for f in self.FENCES:
            kinds[f["kind"]] = kinds.get(f["kind"], 0) + 1
        self.assertEqual(kinds, {"zone": 3, "region": 2, "polygon": 1499, "circle": 8496})
        self.assertEqual([f["kind"] for f in ff.make_fences(1)], ["zone"])  # at least one zone
        self.assertEqual(len({f["name"] for f in self.FENCES}), 10000)

    def test_shapes_are_what_the_server_reads(self):
        half = 20000 + 1  # metres: --region-km 40, and a metre for the rounding
        for f in self.FENCES:
            a = f["area"]
            if f["kind"] == "circle":
                self.assertEqual(a["type"], "Point")
                self.assertTrue(50 <= a["radius"] <= 2000, f)
                lon, lat = a["coordinates"]
            else:
                self.assertEqual(a["type"], "Polygon")
                self.assertEqual(len(a["coordinates"]), 1)  # no holes
                ring = a["coordinates"][0]
                self.assertEqual(ring[0], ring[-1], f["name"] + ": ring not closed")
                self.assertEqual(len(set(map(tuple, ring[:-1]))), len(ring) - 1, f["name"] + ": repeated vertex")
                lo, hi = {"polygon": (4, 40), "zone": (8, 40), "region": (24, 40)}[f["kind"]]
                self.assertTrue(lo <= len(ring) - 1 <= hi, f["name"])
                lon = sum(p[0] for p in ring[:-1]) / (len(ring) - 1)
                lat = sum(p[1] for p in ring[:-1]) / (len(ring) - 1)
            if f["kind"] in ("circle", "polygon"):  # centres in the region (a polygon's mean is near its centre)
                self.assertLess(abs(lat - ff.CENTRE[0]) * ff.M_PER_DEG, half + 1500, f["name"])
                self.assertLess(abs(lon - ff.CENTRE[1]) * ff.M_PER_DEG * math.cos(math.radians(ff.CENTRE[0])),
                                half + 1500, f["name"])
            self.assertTrue(math.isfinite(lat) and math.isfinite(lon), f["name"])

    def test_polygons_never_cross_themselves(self):
        for f in self.FENCES[:400]:  # the 5 zones and 395 polygons (every pair of edges: seconds for all)
            if f["kind"] == "circle":
                continue
            ring = f["area"]["coordinates"][0]
            n = len(ring) - 1
            for i in range(n):
                for j in range(i + 2, n):
                    if i == 0 and j == n - 1:
                        continue  # neighbours through the closing edge
                    self.assertFalse(crosses(ring[i], ring[i + 1], ring[j], ring[j + 1]),
                                     "%s: edges %d and %d cross" % (f["name"], i, j))

    def test_grid_finds_what_a_full_scan_finds(self):
        """The figures of --stats come from Grid.query; it must agree with
        testing every fence, as apps/fleet's index_matches_brute_force_10k
        checks geo.c's."""
        fences = ff.make_fences(4000, seed=3, region_km=25)  # the 10,000's density; a full scan is slow
        grid = ff.Grid(fences)
        self.assertEqual(len(grid.big), 1)  # the regional zone: the short list
        rng = random.Random(9)
        found = 0
        for _ in range(150):
            lat, lon = ff.offset(ff.CENTRE[0], ff.CENTRE[1], (rng.random() - 0.5) * 25000, (rng.random() - 0.5) * 25000)
            n, nbox, ids = grid.query(lat, lon)
            full = [i for i, f in enumerate(fences) if ff.contains(f["area"], lat, lon)]
            self.assertEqual(ids, full, (lat, lon))
            self.assertTrue(len(ids) <= nbox <= n)
            found += len(full)
        self.assertGreater(found, 3 * 150)  # the points were inside fences, not only the regional zone

    def test_short_list_is_checked_everywhere(self):
        """50 km north of the city, beyond every other fence, a fix is in the
        two regional zones only, which no grid cell lists."""
        grid = ff.Grid(self.FENCES)
        regions = [i for i, f in enumerate(self.FENCES) if f["kind"] == "region"]
        self.assertEqual(grid.big, regions)
        n, nbox, ids = grid.query(*ff.offset(ff.CENTRE[0], ff.CENTRE[1], 50000, 0))
        self.assertEqual(ids, regions)

    def test_contains(self):
        circle = {"type": "Point", "coordinates": [16.0, 48.0], "radius": 100.0}
        self.assertTrue(ff.contains(circle, *ff.offset(48.0, 16.0, 99, 0)))
        self.assertFalse(ff.contains(circle, *ff.offset(48.0, 16.0, 0, 101)))
        square = {"type": "Polygon", "coordinates": [[[16, 48], [16.01, 48], [16.01, 48.01], [16, 48.01], [16, 48]]]}
        self.assertTrue(ff.contains(square, 48.005, 16.005))
        self.assertFalse(ff.contains(square, 48.005, 16.011))
        self.assertFalse(ff.contains(square, 48.011, 16.005))

    def test_stats(self):
        s = ff.stats(self.FENCES, samples=200)
        self.assertEqual((s["fences"], s["short_list"], s["samples"]), (10000, 2, 200))
        # every fix in the city is inside both regional zones; no sampled one beyond LIVE_GEOFENCES_MAX
        self.assertGreaterEqual(s["inside"]["min"], 2)
        self.assertLessEqual(s["inside"]["max"], 16)
        self.assertLess(s["candidates"]["max"], 1000)  # the prefilter leaves a few hundred of 10,000


class Sqlite(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.path = os.path.join(self.dir.name, "fleet.sqlite")

    def tearDown(self):
        self.dir.cleanup()

    def table(self):
        db = sqlite3.connect(self.path)
        db.executescript(SCHEMA)
        db.commit()
        db.close()

    def test_writes_global_fences(self):
        self.table()
        fences = ff.make_fences(50, seed=2)
        ff.write_sqlite(self.path, fences)
        db = sqlite3.connect(self.path)
        rows = db.execute("SELECT name, area, group_id FROM geofences ORDER BY id").fetchall()
        db.close()
        self.assertEqual([r[0] for r in rows], [f["name"] for f in fences])
        self.assertEqual([json.loads(r[1]) for r in rows], [f["area"] for f in fences])
        self.assertEqual({r[2] for r in rows}, {None})

    def test_writes_fences_of_a_new_group(self):
        self.table()
        ff.write_sqlite(self.path, ff.make_fences(20, seed=2), group="bench other group")
        db = sqlite3.connect(self.path)
        groups = db.execute("SELECT id, name FROM groups").fetchall()
        used = db.execute("SELECT DISTINCT group_id FROM geofences").fetchall()
        n = db.execute("SELECT COUNT(*) FROM geofences").fetchone()[0]
        db.close()
        self.assertEqual(len(groups), 1)
        self.assertEqual(groups[0][1], "bench other group")
        self.assertEqual(used, [(groups[0][0],)])
        self.assertEqual(n, 20)

    def test_refuses_a_table_with_fences(self):
        self.table()
        ff.write_sqlite(self.path, ff.make_fences(3))
        with self.assertRaises(SystemExit) as e:
            ff.write_sqlite(self.path, ff.make_fences(3))
        self.assertIn("already has 3 geofences", str(e.exception))

    def test_no_schema_says_how_to_make_it(self):
        with self.assertRaises(SystemExit) as e:
            ff.write_sqlite(self.path, ff.make_fences(3))
        self.assertIn("start the fleet server once", str(e.exception))

    def test_cli_geojson_and_bad_options(self):
        out = os.path.join(self.dir.name, "f.geojson")
        self.assertEqual(ff.main(["--count", "20", "--geojson", out]), 0)
        with open(out) as f:
            doc = json.load(f)
        self.assertEqual(doc["type"], "FeatureCollection")
        self.assertEqual(len(doc["features"]), 20)
        self.assertEqual(doc["features"][0]["geometry"], ff.make_fences(20)[0]["area"])
        with open(os.devnull, "w") as devnull:
            stderr, sys.stderr = sys.stderr, devnull
            try:
                for bad in (["--count", "0"], ["--count", "5", "--centre", "95,16"], ["--count", "5", "--centre", "x"],
                            ["--count", "5", "--region-km", "0"], ["--count", "5", "--group", "g"]):
                    with self.assertRaises(SystemExit, msg=bad):
                        ff.main(bad)
            finally:
                sys.stderr = stderr


class FleetReport(unittest.TestCase):
    """fleet_report.py with what the FENCES runs add: REPORT_META in the
    header, the suffixed workloads, geofence_events in the rows."""

    def test_fences_run(self):
        def row(w, us, **extra):
            return dict({"workload": w, "round": 1, "fixes": 100, "wall_s": 1.0, "fixes_per_s": 100,
                         "server_cpu_s": 0.5, "server_cpu_share": 0.5, "cpu_us_per_fix": us,
                         "server_peak_rss_kb": 1024}, **extra)
        rows = [row("teltonika", 4.0), row("teltonika-fences10000", 6.0, geofence_events=7)]
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "r")
            env = dict(os.environ, REPORT_META=json.dumps({"fences": {"fences": 10000}}))
            subprocess.run([sys.executable, os.path.join(HERE, "fleet_report.py"), out, "FENCES=10000 bash x"],
                           input="".join(json.dumps(r) + "\n" for r in rows), text=True, env=env, check=True)
            with open(out + ".md") as f:
                md = f.read()
            with open(out + ".json") as f:
                js = json.load(f)
        self.assertIn('- fences: {"fences": 10000}\n', md)
        self.assertEqual(js["meta"]["fences"], {"fences": 10000})
        self.assertIn("| teltonika | 100 (100-100) | 4.00 (4.00-4.00) |", md)
        self.assertIn("| teltonika-fences10000 | 100 (100-100) | 6.00 (6.00-6.00) |", md)
        self.assertEqual(js["rows"][1]["geofence_events"], 7)


if __name__ == "__main__":
    unittest.main()
