/*
 * tests/unit/fleet_geo.c — geofence geometry and the grid index
 * (apps/fleet/geo.c): distances against known values, GeoJSON in and out,
 * containment with holes, the memory a shape keeps, and the index checked
 * against a brute-force scan of 10,000 random fences.
 */
#include <math.h>
#include <stdlib.h>

#include "geo.h"
#include "test.h"

TEST_PLAIN(distance_known_values) {
    /* one degree of latitude on the mean sphere: 111,195 m */
    ASSERT(fabs(geo_distance_m(0, 0, 1, 0) - 111195.08) < 1);
    /* Paris (Notre-Dame) to London (Trafalgar Square): ~343.5 km */
    double d = geo_distance_m(48.8530, 2.3499, 51.5080, -0.1281);
    ASSERT(d > 342000 && d < 345000);
    ASSERT(geo_distance_m(10, 10, 10, 10) == 0);
    /* antipodes: half the circumference */
    ASSERT(fabs(geo_distance_m(0, 0, 0, 180) - M_PI * GEO_EARTH_R) < 1e-3);
}

static geo_shape shape(weft_arena *a, const char *json, int *rc, const char **why) {
    geo_shape s;
    *why = "";
    *rc = geo_shape_from_geojson(weft_str_c(json), a, &s, why);
    return s;
}

TEST_PLAIN(polygon_with_hole) {
    weft_arena a;
    weft_arena_init(&a, 0);
    int rc;
    const char *why;
    geo_shape s = shape(&a,
                        "{\"type\":\"Feature\",\"properties\":{},\"geometry\":{\"type\":\"Polygon\","
                        "\"coordinates\":[[[0,0],[10,0],[10,10],[0,10],[0,0]],"
                        "[[4,4],[6,4],[6,6],[4,6],[4,4]]]}}",
                        &rc, &why);
    ASSERT_EQ(rc, 0);
    ASSERT_EQ(s.kind, GEO_POLYGON);
    ASSERT_EQ(s.nring, 2);
    ASSERT(geo_contains(&s, 2, 2));
    ASSERT(!geo_contains(&s, 5, 5)); /* in the hole */
    ASSERT(!geo_contains(&s, 11, 5));
    ASSERT(!geo_contains(&s, -0.5, 5));
    /* GeoJSON out and back in gives the same shape */
    weft_buf b;
    weft_buf_init(&b, 0);
    ASSERT_EQ(geo_shape_to_geojson(&s, &b), 0);
    geo_shape t = shape(&a, b.data, &rc, &why);
    ASSERT_EQ(rc, 0);
    ASSERT_EQ(t.npts, s.npts);
    for (uint32_t i = 0; i < s.npts; i++) ASSERT(t.pts[i].lat == s.pts[i].lat && t.pts[i].lon == s.pts[i].lon);
    weft_buf_free(&b);
    weft_arena_free(&a);
}

TEST_PLAIN(circle) {
    weft_arena a;
    weft_arena_init(&a, 0);
    int rc;
    const char *why;
    geo_shape s = shape(&a, "{\"type\":\"Point\",\"coordinates\":[13.4,52.5],\"radius\":500}", &rc, &why);
    ASSERT_EQ(rc, 0);
    ASSERT_EQ(s.kind, GEO_CIRCLE);
    ASSERT(geo_contains(&s, 52.5, 13.4));
    ASSERT(geo_contains(&s, 52.5 + 400 / 111195.0, 13.4));
    ASSERT(!geo_contains(&s, 52.5 + 600 / 111195.0, 13.4));
    /* radius in a Feature's properties, as drawing tools write it */
    s = shape(&a, "{\"type\":\"Feature\",\"properties\":{\"radius\":50},\"geometry\":{\"type\":\"Point\","
                  "\"coordinates\":[0,0]}}", &rc, &why);
    ASSERT_EQ(rc, 0);
    ASSERT(s.radius_m == 50);
    weft_arena_free(&a);
}

/* The arena given keeps the shape and nothing of the parse: a circle takes
 * nothing from it, a polygon exactly its points and ring starts. Parsed in
 * that arena, a snapshot of 10,000 fences held every parse tree and the
 * parser's scratch: 40 MB more resident at start, about 4 KB a fence. */
TEST_PLAIN(shape_keeps_only_its_points) {
    weft_arena a;
    weft_arena_init(&a, 0);
    int rc;
    const char *why;
    shape(&a, "{\"type\":\"Feature\",\"properties\":{\"name\":\"depot\",\"radius\":300},"
              "\"geometry\":{\"type\":\"Point\",\"coordinates\":[16.37,48.2]}}", &rc, &why);
    ASSERT_EQ(rc, 0);
    ASSERT_EQ(a.used, 0);
    char json[4096];
    int n = snprintf(json, sizeof json, "{\"type\":\"Polygon\",\"coordinates\":[[");
    for (int i = 0; i <= 40; i++) { /* the 41st closes the ring on the first */
        double t = (i % 40) * 2 * M_PI / 40;
        n += snprintf(json + n, sizeof json - (size_t)n, "%s[%.6f,%.6f]", i ? "," : "", 16.37 + 0.01 * cos(t),
                      48.2 + 0.01 * sin(t));
    }
    snprintf(json + n, sizeof json - (size_t)n, "]]}");
    geo_shape s = shape(&a, json, &rc, &why);
    ASSERT_EQ(rc, 0);
    ASSERT_EQ(s.npts, 40);
    ASSERT_EQ(a.used, 40 * sizeof(geo_point) + 2 * sizeof(uint32_t));
    ASSERT(geo_contains(&s, 48.2, 16.37));
    /* a parse error leaves nothing behind either */
    shape(&a, "{\"type\":\"Point\",", &rc, &why);
    ASSERT_EQ(rc, WEFT_EPARSE);
    ASSERT_EQ(a.used, 40 * sizeof(geo_point) + 2 * sizeof(uint32_t));
    weft_arena_free(&a);
}

TEST_PLAIN(bad_shapes_say_why) {
    static const struct {
        const char *json, *why;
    } bad[] = {
        {"{\"type\":\"Polygon\",\"coordinates\":[[[0,0],[1,0],[1,1],[0,1]]]}", "closed"},
        {"{\"type\":\"Polygon\",\"coordinates\":[[[0,0],[1,0],[0,0]]]}", "at least 4"},
        {"{\"type\":\"Polygon\",\"coordinates\":[[[0,0],[1,95],[1,1],[0,0]]]}", "latitude out of range"},
        {"{\"type\":\"Point\",\"coordinates\":[0,0]}", "radius"},
        {"{\"type\":\"Point\",\"coordinates\":[0,0],\"radius\":-5}", "radius"},
        {"{\"type\":\"LineString\",\"coordinates\":[[0,0],[1,1]]}", "Polygon, or a Point"},
        {"{\"type\":\"Polygon\",\"coordinates\":[[[179,0],[-179,0],[-179,1],[179,0]]]}", "antimeridian"},
        {"{\"coordinates\":[]}", "type"},
        {"[]", "GeoJSON object"},
        {"{", "not valid GeoJSON"},
    };
    weft_arena a;
    weft_arena_init(&a, 0);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc;
        const char *why;
        shape(&a, bad[i].json, &rc, &why);
        if (rc != WEFT_EPARSE || !strstr(why, bad[i].why)) {
            test__fail(__FILE__, __LINE__, "%s: rc %d why '%s'", bad[i].json, rc, why);
            break;
        }
    }
    weft_arena_free(&a);
}

static double rnd(unsigned *s) {
    *s = *s * 1103515245u + 12345u;
    return (double)(*s >> 8) / (double)(1u << 24);
}

/* The index answers exactly what a scan of every fence answers. */
TEST_PLAIN(index_matches_brute_force_10k) {
    enum { N = 10000 };
    const int Q = (int)test_scale(20000);
    geo_shape *sh = calloc(N, sizeof *sh);
    weft_arena a;
    weft_arena_init(&a, 0);
    unsigned seed = 7;
    char json[512];
    for (int i = 0; i < N; i++) {
        double lat = 48 + rnd(&seed) * 2, lon = 2 + rnd(&seed) * 3;
        int rc;
        const char *why;
        if (i % 3 == 0) {
            snprintf(json, sizeof json, "{\"type\":\"Point\",\"coordinates\":[%.6f,%.6f],\"radius\":%.0f}", lon,
                     lat, 50 + rnd(&seed) * 3000);
        } else if (i % 997 == 0) { /* a few very large zones: the short list */
            snprintf(json, sizeof json,
                     "{\"type\":\"Polygon\",\"coordinates\":[[[1,47],[6,47],[6,51],[1,51],[1,47]]]}");
        } else {
            double d = 0.002 + rnd(&seed) * 0.05;
            snprintf(json, sizeof json,
                     "{\"type\":\"Polygon\",\"coordinates\":[[[%f,%f],[%f,%f],[%f,%f],[%f,%f],[%f,%f]]]}", lon,
                     lat, lon + d, lat, lon + d * 1.5, lat + d, lon, lat + d * 0.7, lon, lat);
        }
        sh[i] = shape(&a, json, &rc, &why);
        ASSERT_EQ(rc, 0);
    }
    geo_index *ix = geo_index_new(sh, N, 0);
    ASSERT(ix != NULL);
    uint32_t got[256];
    size_t hits = 0;
    for (int qn = 0; qn < Q; qn++) {
        double lat = 47.9 + rnd(&seed) * 2.2, lon = 1.9 + rnd(&seed) * 3.2;
        size_t n = geo_index_query(ix, lat, lon, got, 256);
        ASSERT(n <= 256);
        size_t k = 0;
        for (uint32_t i = 0; i < N; i++) {
            if (!geo_contains(&sh[i], lat, lon)) continue;
            if (k >= n || got[k] != i) {
                test__fail(__FILE__, __LINE__, "query %d: fence %u missing or out of order", qn, i);
                goto out;
            }
            k++;
        }
        ASSERT_EQ(k, n);
        hits += n;
    }
    ASSERT(hits > (size_t)Q); /* the test exercised containment, not only misses */
out:
    geo_index_free(ix);
    weft_arena_free(&a);
    free(sh);
}
