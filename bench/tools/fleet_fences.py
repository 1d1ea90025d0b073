#!/usr/bin/env python3
"""bench/tools/fleet_fences.py: deterministic geofences for bench-fleet's
FENCES runs (bench/run-fleet.sh), written straight into a fleet database.

    fleet_fences.py --count 10000 --seed 1 --sqlite DATA_DIR/fleet.sqlite --stats
    fleet_fences.py --count 200 --geojson fences.geojson     (to look at them)

The same count and seed always give the same fences. The mix:
  - zones: count // 2000 large polygons (at least one; 5 of 10,000). Every
    second one is regional, 300-450 km across with 24-40 vertices: it spans
    more than GEO_INDEX_MAX_CELLS grid cells (at Vienna's latitude), so geo.c keeps it on
    the short list that every fix checks. The others are districts and
    low-emission zones, 8-25 km across with 8-40 vertices.
  - polygons: 15 % of the rest, 4-40 vertices at 100 m-1.5 km from a centre
    (yards, sites, car parks). Each vertex lies 60-100 % of that distance
    out at increasing angles, so the outline is star-shaped and never
    crosses itself.
  - circles: the rest, radius 50 m-2 km, most of them small (50 m x 40^(u^2)
    for u uniform in [0, 1): 82 % under 600 m): customer sites and depots.
Centres are uniform over a square of --region-km (40) around --centre, by
default fleet-sim's city centre (Vienna). The simulated city (21 x 21
junctions 220 m apart: a 4.4 km square) lies in the middle of that region
and sees the region's density. 40 km is the smallest of the squares tried
(20, 30, 40, 60 km) in which no sampled fix of the city is inside more than
LIVE_GEOFENCES_MAX (16) fences: with 10,000 a fix's cell lists about 190
fences and the fix is inside 4-15 of them (--stats). Crowding all 10,000
into the city itself (500 a square kilometre) puts every fix inside
hundreds of fences and its cell lists thousands, a case the index is not
built for and one no fleet has; --region-km 5 gives it anyway.

Every fence is global (no group), so it applies to every device: the
auto-registered devices of the benchmark have no group. With --group NAME
they all belong to a new group of that name instead, which no device is
in: every fix still looks them up and tests them (geo_index_query, then
pipeline.c's group filter), but none applies, so no enter/exit events are
made or stored. That separates the lookup's cost from the events'. --sqlite inserts
into the geofences table of a database the fleet server created (its own
migrations made the schema); the server reads the fences when it starts,
through the same fleet_reload_geofences as after a change through the API.
The area is stored as the API stores it: a GeoJSON geometry, a circle as a
Point with "radius" in metres.

--stats prints what a fix in the city meets, computed here the way
geo_index_query does it (cells of 0.05 degrees, bounding boxes as geo.c
makes them): the fences its grid cell lists plus the short list (each one a
bounding-box test), how many pass the box (an exact test each), and how
many contain the fix; over --samples points uniform in the city's square.
"""
import argparse
import json
import math
import random
import sqlite3
import statistics
import sys
import time

EARTH_R = 6371008.8  # metres, as GEO_EARTH_R
M_PER_DEG = EARTH_R * math.pi / 180
CELL_DEG = 0.05  # geo_index_new's default cell
MAX_CELLS = 1024  # GEO_INDEX_MAX_CELLS
CENTRE = (48.20849, 16.37308)  # fleet-sim's --centre default
CITY_KM = 4.4  # fleet-sim's default network: (21 - 1) x 220 m


def offset(lat, lon, north_m, east_m):
    """(lat, lon) moved north_m and east_m metres (flat: fine at these sizes)."""
    return lat + north_m / M_PER_DEG, lon + east_m / (M_PER_DEG * math.cos(math.radians(lat)))


def star(rng, lat, lon, radius_m, nvert):
    """A closed ring of nvert vertices around (lat, lon), [lon, lat] pairs
    rounded to 6 decimals (0.1 m), the first repeated at the end."""
    ring = []
    for i in range(nvert):
        a = (i + 0.8 * rng.random()) * 2 * math.pi / nvert  # increasing: star-shaped
        r = radius_m * (0.6 + 0.4 * rng.random())
        p = offset(lat, lon, r * math.sin(a), r * math.cos(a))
        ring.append([round(p[1], 6), round(p[0], 6)])
    return ring + [ring[0]]


def make_fences(count, seed=1, centre=CENTRE, region_km=40.0):
    """count fences as dicts {name, kind, area}; area is a GeoJSON geometry."""
    rng = random.Random(seed)
    nzones = min(count, max(1, count // 2000))
    npoly = (count - nzones) * 15 // 100
    half = region_km * 500.0  # metres from the centre to the region's edge

    def where():
        return offset(centre[0], centre[1], (2 * rng.random() - 1) * half, (2 * rng.random() - 1) * half)

    out = []
    for i in range(count):
        lat, lon = where()
        if i < nzones:
            if i % 2:
                kind, across, nv = "region", 300e3 + 150e3 * rng.random(), 24 + int(17 * rng.random())
            else:
                kind, across, nv = "zone", 8e3 + 17e3 * rng.random(), 8 + int(33 * rng.random())
            area = {"type": "Polygon", "coordinates": [star(rng, lat, lon, across / 2, nv)]}
        elif i < nzones + npoly:
            kind, nv = "polygon", 4 + int(37 * rng.random())
            area = {"type": "Polygon", "coordinates": [star(rng, lat, lon, 100 * 15 ** rng.random(), nv)]}
        else:
            kind = "circle"
            area = {"type": "Point", "coordinates": [round(lon, 6), round(lat, 6)],
                    "radius": round(50 * 40 ** (rng.random() ** 2), 1)}
        out.append({"name": "bench %s %05d" % (kind, i + 1), "kind": kind, "area": area})
    return out


def bbox(area):
    """(min_lat, min_lon, max_lat, max_lon) as geo.c computes it."""
    if area["type"] == "Point":
        lon, lat = area["coordinates"]
        dlat = area["radius"] / EARTH_R * 180 / math.pi
        dlon = dlat / math.cos(math.radians(lat))
        return lat - dlat, lon - dlon, lat + dlat, lon + dlon
    ring = area["coordinates"][0]
    lats, lons = [p[1] for p in ring], [p[0] for p in ring]
    return min(lats), min(lons), max(lats), max(lons)


def contains(area, lat, lon):
    if area["type"] == "Point":
        clon, clat = area["coordinates"]
        p1, p2 = math.radians(lat), math.radians(clat)
        dp, dl = p2 - p1, math.radians(clon - lon)
        h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
        return 2 * EARTH_R * math.asin(math.sqrt(min(h, 1))) <= area["radius"]
    ring = area["coordinates"][0][:-1]  # geo.c's in_ring on the outline (no holes here)
    inside, j = False, len(ring) - 1
    for i in range(len(ring)):
        (xi, yi), (xj, yj) = ring[i], ring[j]
        if (yi > lat) != (yj > lat) and lon < (xj - xi) * (lat - yi) / (yj - yi) + xi:
            inside = not inside
        j = i
    return inside


class Grid:
    """geo_index_new's grid over the fences' bounding boxes: a fence is listed
    in every cell its box overlaps, or on the short list when that is more
    than MAX_CELLS cells."""

    def __init__(self, fences):
        self.fences, self.cells, self.big = fences, {}, []
        self.boxes = [bbox(f["area"]) for f in fences]
        for i, (la0, lo0, la1, lo1) in enumerate(self.boxes):
            r0, r1 = math.floor(la0 / CELL_DEG), math.floor(la1 / CELL_DEG)
            c0, c1 = math.floor(lo0 / CELL_DEG), math.floor(lo1 / CELL_DEG)
            if (r1 - r0 + 1) * (c1 - c0 + 1) > MAX_CELLS:
                self.big.append(i)
                continue
            for r in range(r0, r1 + 1):
                for c in range(c0, c1 + 1):
                    self.cells.setdefault((r, c), []).append(i)

    def query(self, lat, lon):
        """(fences looked at, fences whose box holds the point, ids of those containing it, ascending)"""
        ids = self.cells.get((math.floor(lat / CELL_DEG), math.floor(lon / CELL_DEG)), []) + self.big
        b = self.boxes
        hit = [i for i in ids if b[i][0] <= lat <= b[i][2] and b[i][1] <= lon <= b[i][3]]
        return len(ids), len(hit), sorted(i for i in hit if contains(self.fences[i]["area"], lat, lon))


def stats(fences, centre=CENTRE, city_km=CITY_KM, samples=2000, seed=2):
    """What a fix in the city meets in geo_index_query, over samples points."""
    grid = Grid(fences)
    rng = random.Random(seed)
    half = city_km * 500.0
    cand, boxed, inside = [], [], []
    for _ in range(samples):
        lat, lon = offset(centre[0], centre[1], (2 * rng.random() - 1) * half, (2 * rng.random() - 1) * half)
        n, nbox, ids = grid.query(lat, lon)
        cand.append(n)
        boxed.append(nbox)
        inside.append(len(ids))
    kinds = {}
    for f in fences:
        kinds[f["kind"]] = kinds.get(f["kind"], 0) + 1

    def summ(v):
        return {"mean": round(statistics.mean(v), 1), "min": min(v), "max": max(v)}

    return {"fences": len(fences), "kinds": kinds, "short_list": len(grid.big), "samples": samples,
            "candidates": summ(cand), "box_hits": summ(boxed), "inside": summ(inside)}


def write_sqlite(path, fences, group=None):
    """Insert the fences into the geofences table of a fleet database; the
    table must exist (the server's migrations) and be empty. group: a name,
    the fences then belong to a new group of that name (else: global)."""
    db = sqlite3.connect(path)
    try:
        try:
            have = db.execute("SELECT COUNT(*) FROM geofences").fetchone()[0]
        except sqlite3.OperationalError as e:
            raise SystemExit("%s: %s (start the fleet server once on this data directory to create the schema)"
                             % (path, e))
        if have:
            raise SystemExit("%s: already has %d geofences; refusing to add more" % (path, have))
        now = int(time.time() * 1000)
        with db:
            gid = None
            if group is not None:
                gid = db.execute("INSERT INTO groups (name, created_ms) VALUES (?, ?)", (group, now)).lastrowid
            db.executemany("INSERT INTO geofences (name, description, area, group_id, created_ms) "
                           "VALUES (?, '', ?, ?, ?)",
                           [(f["name"], json.dumps(f["area"], separators=(",", ":")), gid, now) for f in fences])
    finally:
        db.close()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--centre", default="%s,%s" % CENTRE, help="LAT,LON (fleet-sim's default city)")
    ap.add_argument("--region-km", type=float, default=40.0, help="side of the square the centres fill (40)")
    ap.add_argument("--city-km", type=float, default=CITY_KM, help="side of the square --stats samples (4.4)")
    ap.add_argument("--samples", type=int, default=2000)
    ap.add_argument("--sqlite", help="a fleet database: insert the fences")
    ap.add_argument("--group", help="with --sqlite: the fences belong to a new group of this name (else global)")
    ap.add_argument("--geojson", help="write them as a GeoJSON FeatureCollection")
    ap.add_argument("--stats", action="store_true", help="print what a fix in the city meets (one JSON line)")
    a = ap.parse_args(argv)
    try:
        centre = tuple(float(x) for x in a.centre.split(","))
    except ValueError:
        centre = ()
    if len(centre) != 2 or not (-80 <= centre[0] <= 80 and -170 <= centre[1] <= 170):
        ap.error("--centre must be LAT,LON within +-80, +-170 (fences near the poles or the antimeridian: not here)")
    if a.group is not None and not (a.sqlite and a.group.strip()):
        ap.error("--group needs --sqlite and a name")
    if not 1 <= a.count <= 1000000:
        ap.error("--count must be 1..1000000")
    if not 0.1 <= a.region_km <= 1000 or not 0.1 <= a.city_km <= 1000 or not 1 <= a.samples <= 1000000:
        ap.error("--region-km and --city-km must be 0.1..1000, --samples 1..1000000")
    fences = make_fences(a.count, a.seed, centre, a.region_km)
    if a.sqlite:
        write_sqlite(a.sqlite, fences, a.group)
    if a.geojson:
        feats = [{"type": "Feature", "properties": {"name": f["name"], "kind": f["kind"]}, "geometry": f["area"]}
                 for f in fences]
        with open(a.geojson, "w") as out:
            json.dump({"type": "FeatureCollection", "features": feats}, out, separators=(",", ":"))
            out.write("\n")
    if a.stats:
        print("fences-json: " + json.dumps(stats(fences, centre, a.city_km, a.samples)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
