/* apps/fleet/geo.c — see geo.h. */
#include "geo.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "weft/json.h"

#define DEG2RAD (M_PI / 180.0)

double geo_distance_m(double lat1, double lon1, double lat2, double lon2) {
    double p1 = lat1 * DEG2RAD, p2 = lat2 * DEG2RAD;
    double dp = (lat2 - lat1) * DEG2RAD, dl = (lon2 - lon1) * DEG2RAD;
    double h = sin(dp / 2) * sin(dp / 2) + cos(p1) * cos(p2) * sin(dl / 2) * sin(dl / 2);
    if (h > 1) h = 1;
    return 2 * GEO_EARTH_R * asin(sqrt(h));
}

/* ---- GeoJSON in ------------------------------------------------------------ */

static int read_pos(const weft_json *v, geo_point *p, const char **why) {
    double lon, lat;
    if (!v || v->type != WEFT_JSON_ARRAY || v->len < 2 ||
        weft_json_double(weft_json_at(v, 0), &lon) != 0 ||
        weft_json_double(weft_json_at(v, 1), &lat) != 0)
        return *why = "a position must be [longitude, latitude]", WEFT_EPARSE;
    if (!(lat >= -90 && lat <= 90)) return *why = "latitude out of range", WEFT_EPARSE;
    if (!(lon >= -180 && lon <= 180)) return *why = "longitude out of range", WEFT_EPARSE;
    p->lat = lat, p->lon = lon;
    return 0;
}

static void box_add(geo_bbox *b, geo_point p) {
    if (p.lat < b->min_lat) b->min_lat = p.lat;
    if (p.lat > b->max_lat) b->max_lat = p.lat;
    if (p.lon < b->min_lon) b->min_lon = p.lon;
    if (p.lon > b->max_lon) b->max_lon = p.lon;
}

static int read_polygon(const weft_json *rings, weft_arena *a, geo_shape *s, const char **why) {
    if (!rings || rings->type != WEFT_JSON_ARRAY || rings->len == 0)
        return *why = "Polygon coordinates must be an array of rings", WEFT_EPARSE;
    if (rings->len > GEO_MAX_RINGS) return *why = "Polygon has too many rings (at most 64)", WEFT_EPARSE;
    size_t total = 0;
    for (uint32_t r = 0; r < rings->len; r++) {
        const weft_json *ring = weft_json_at(rings, r);
        if (!ring || ring->type != WEFT_JSON_ARRAY || ring->len < 4)
            return *why = "a Polygon ring needs at least 4 positions", WEFT_EPARSE;
        total += ring->len - 1; /* the closing repeat is not stored */
    }
    if (total > GEO_MAX_POINTS) return *why = "Polygon has too many vertices (at most 10000)", WEFT_EPARSE;
    s->pts = weft_arena_alloc(a, total * sizeof *s->pts);
    s->ring_start = weft_arena_alloc(a, (rings->len + 1) * sizeof *s->ring_start);
    if (!s->pts || !s->ring_start) return *why = "out of memory", WEFT_ENOMEM;
    s->kind = GEO_POLYGON;
    s->box = (geo_bbox){90, 180, -90, -180};
    uint32_t k = 0;
    for (uint32_t r = 0; r < rings->len; r++) {
        const weft_json *ring = weft_json_at(rings, r);
        s->ring_start[r] = k;
        geo_point first = {0, 0}, p = {0, 0};
        for (uint32_t i = 0; i < ring->len; i++) {
            int rc = read_pos(weft_json_at(ring, i), &p, why);
            if (rc < 0) return rc;
            if (i == 0) first = p;
            if (i + 1 < ring->len) {
                if (i > 0 && fabs(p.lon - s->pts[k - 1].lon) > 180)
                    return *why = "Polygon crosses the antimeridian (not supported)", WEFT_EPARSE;
                s->pts[k++] = p;
                if (r == 0) box_add(&s->box, p);
            }
        }
        if (p.lat != first.lat || p.lon != first.lon)
            return *why = "Polygon ring must be closed (last position equal to the first)", WEFT_EPARSE;
    }
    s->ring_start[rings->len] = k;
    s->nring = rings->len, s->npts = k;
    return 0;
}

int geo_shape_from_geojson(weft_str text, weft_arena *a, geo_shape *s, const char **why) {
    memset(s, 0, sizeof *s);
    /* The parse tree and the parser's scratch stacks go to an arena of their
     * own, freed here, so a keeps only the shape's points. Parsed into a,
     * a snapshot of 10,000 fences held every tree: 40 MB more resident at
     * start than an empty one, about 4 KB a fence (bench-fleet FENCES). */
    weft_arena scratch;
    weft_arena_init(&scratch, 0);
    weft_json *root;
    weft_json_error je;
    int rc = weft_json_parse(text.p, text.n, &scratch, 16, &root, &je);
    if (rc < 0) {
        *why = "area is not valid GeoJSON (JSON parse error)";
        rc = rc == WEFT_ENOMEM ? rc : WEFT_EPARSE;
    } else {
        rc = geo_shape_from_json(root, a, s, why);
    }
    weft_arena_free(&scratch);
    return rc;
}

int geo_shape_from_json(const weft_json *root, weft_arena *a, geo_shape *s, const char **why) {
    memset(s, 0, sizeof *s);
    if (!root || root->type != WEFT_JSON_OBJECT) return *why = "area must be a GeoJSON object", WEFT_EPARSE;
    const weft_json *geom = root, *props = NULL;
    weft_str type = weft_json_str(weft_json_get(root, "type"));
    if (weft_str_eq(type, WEFT_STR("Feature"))) {
        geom = weft_json_get(root, "geometry");
        props = weft_json_get(root, "properties");
        type = weft_json_str(weft_json_get(geom, "type"));
    }
    const weft_json *coords = weft_json_get(geom, "coordinates");
    if (weft_str_eq(type, WEFT_STR("Polygon"))) return read_polygon(coords, a, s, why);
    if (weft_str_eq(type, WEFT_STR("Point"))) {
        double r;
        const weft_json *rv = weft_json_get(geom, "radius");
        if (!rv) rv = weft_json_get(props, "radius");
        if (!rv || weft_json_double(rv, &r) != 0 || !(r > 0 && r <= 1e6))
            return *why = "a circle (Point) needs a radius in metres, > 0 and <= 1000 km", WEFT_EPARSE;
        int rc = read_pos(coords, &s->center, why);
        if (rc < 0) return rc;
        s->kind = GEO_CIRCLE;
        s->radius_m = r;
        double dlat = r / GEO_EARTH_R / DEG2RAD;
        double c = cos(s->center.lat * DEG2RAD);
        double dlon = c < 1e-6 ? 180 : dlat / c;
        if (s->center.lon - dlon < -180 || s->center.lon + dlon > 180)
            return *why = "circle crosses the antimeridian (not supported)", WEFT_EPARSE;
        s->box = (geo_bbox){s->center.lat - dlat, s->center.lon - dlon, s->center.lat + dlat,
                            s->center.lon + dlon};
        return 0;
    }
    if (!type.p) return *why = "area needs a GeoJSON \"type\"", WEFT_EPARSE;
    return *why = "area must be a Polygon, or a Point with a radius", WEFT_EPARSE;
}

int geo_shape_to_geojson(const geo_shape *s, weft_buf *out) {
    weft_json_enc e;
    weft_json_enc_init(&e, out);
    weft_json_enc_object(&e);
    weft_json_enc_key(&e, WEFT_STR("type"));
    if (s->kind == GEO_CIRCLE) {
        weft_json_enc_str(&e, WEFT_STR("Point"));
        weft_json_enc_key(&e, WEFT_STR("coordinates"));
        weft_json_enc_array(&e);
        weft_json_enc_double(&e, s->center.lon);
        weft_json_enc_double(&e, s->center.lat);
        weft_json_enc_end(&e);
        weft_json_enc_key(&e, WEFT_STR("radius"));
        weft_json_enc_double(&e, s->radius_m);
    } else {
        weft_json_enc_str(&e, WEFT_STR("Polygon"));
        weft_json_enc_key(&e, WEFT_STR("coordinates"));
        weft_json_enc_array(&e);
        for (uint32_t r = 0; r < s->nring; r++) {
            weft_json_enc_array(&e);
            for (uint32_t i = s->ring_start[r]; i <= s->ring_start[r + 1]; i++) {
                /* close the ring with its first point again */
                const geo_point *p = &s->pts[i < s->ring_start[r + 1] ? i : s->ring_start[r]];
                weft_json_enc_array(&e);
                weft_json_enc_double(&e, p->lon);
                weft_json_enc_double(&e, p->lat);
                weft_json_enc_end(&e);
            }
            weft_json_enc_end(&e);
        }
        weft_json_enc_end(&e);
    }
    weft_json_enc_end(&e);
    return weft_json_enc_finish(&e);
}

/* ---- containment ------------------------------------------------------------ */

static int in_ring(const geo_point *p, uint32_t n, double lat, double lon) {
    int in = 0;
    for (uint32_t i = 0, j = n - 1; i < n; j = i++) {
        if ((p[i].lat > lat) != (p[j].lat > lat) &&
            lon < (p[j].lon - p[i].lon) * (lat - p[i].lat) / (p[j].lat - p[i].lat) + p[i].lon)
            in = !in;
    }
    return in;
}

int geo_contains(const geo_shape *s, double lat, double lon) {
    if (lat < s->box.min_lat || lat > s->box.max_lat || lon < s->box.min_lon || lon > s->box.max_lon)
        return 0;
    if (s->kind == GEO_CIRCLE) return geo_distance_m(lat, lon, s->center.lat, s->center.lon) <= s->radius_m;
    if (!in_ring(s->pts, s->ring_start[1], lat, lon)) return 0;
    for (uint32_t r = 1; r < s->nring; r++)
        if (in_ring(s->pts + s->ring_start[r], s->ring_start[r + 1] - s->ring_start[r], lat, lon)) return 0;
    return 1;
}

/* ---- grid index --------------------------------------------------------------
 * An open-addressing hash from cell (row, col) to a run of shape ids in one
 * flat array: built once (geofences change rarely; the store rebuilds the
 * index on a change), read without locks by any number of ingest tasks. */

typedef struct cell {
    int64_t key; /* row << 32 | col, INT64_MIN when empty */
    uint32_t start, count;
} cell;

struct geo_index {
    const geo_shape *shapes;
    double cell_deg;
    cell *cells;
    size_t ncells_cap; /* power of two */
    uint32_t *ids;
    uint32_t *big; /* shapes over GEO_INDEX_MAX_CELLS cells */
    size_t nbig;
};

static int64_t cell_key(int64_t row, int64_t col) { return (int64_t)((uint64_t)row << 32 | (uint32_t)col); }
static size_t cell_hash(int64_t key, size_t mask) {
    uint64_t h = (uint64_t)key * 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 17) & mask;
}
static cell *cell_find(const geo_index *ix, int64_t key, int insert) {
    size_t mask = ix->ncells_cap - 1;
    for (size_t i = cell_hash(key, mask);; i = (i + 1) & mask) {
        cell *c = &ix->cells[i];
        if (c->key == key) return c;
        if (c->key == INT64_MIN) {
            if (!insert) return NULL;
            c->key = key;
            return c;
        }
    }
}

static void span(const geo_index *ix, const geo_bbox *b, int64_t *r0, int64_t *r1, int64_t *c0, int64_t *c1) {
    *r0 = (int64_t)floor(b->min_lat / ix->cell_deg), *r1 = (int64_t)floor(b->max_lat / ix->cell_deg);
    *c0 = (int64_t)floor(b->min_lon / ix->cell_deg), *c1 = (int64_t)floor(b->max_lon / ix->cell_deg);
}

geo_index *geo_index_new(const geo_shape *shapes, size_t n, double cell_deg) {
    geo_index *ix = calloc(1, sizeof *ix);
    if (!ix) return NULL;
    ix->shapes = shapes;
    ix->cell_deg = cell_deg > 0 ? cell_deg : 0.05;
    /* pass 1: count cell entries */
    size_t entries = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t r0, r1, c0, c1;
        span(ix, &shapes[i].box, &r0, &r1, &c0, &c1);
        int64_t k = (r1 - r0 + 1) * (c1 - c0 + 1);
        if (k > GEO_INDEX_MAX_CELLS) ix->nbig++;
        else entries += (size_t)k;
    }
    ix->ncells_cap = 16;
    while (ix->ncells_cap < entries * 2) ix->ncells_cap <<= 1;
    ix->cells = malloc(ix->ncells_cap * sizeof *ix->cells);
    ix->ids = malloc((entries ? entries : 1) * sizeof *ix->ids);
    ix->big = malloc((ix->nbig ? ix->nbig : 1) * sizeof *ix->big);
    if (!ix->cells || !ix->ids || !ix->big) {
        geo_index_free(ix);
        return NULL;
    }
    for (size_t i = 0; i < ix->ncells_cap; i++) ix->cells[i] = (cell){INT64_MIN, 0, 0};
    /* pass 2: count per cell; pass 3: prefix sums; pass 4: fill (ids ascend) */
    ix->nbig = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < n; i++) {
            int64_t r0, r1, c0, c1;
            span(ix, &shapes[i].box, &r0, &r1, &c0, &c1);
            if ((r1 - r0 + 1) * (c1 - c0 + 1) > GEO_INDEX_MAX_CELLS) {
                if (pass == 0) ix->big[ix->nbig++] = (uint32_t)i;
                continue;
            }
            for (int64_t r = r0; r <= r1; r++)
                for (int64_t c = c0; c <= c1; c++) {
                    cell *ce = cell_find(ix, cell_key(r, c), 1);
                    if (pass == 0) ce->count++;
                    else ix->ids[ce->start + ce->count++] = (uint32_t)i;
                }
        }
        if (pass == 0) {
            uint32_t at = 0;
            for (size_t i = 0; i < ix->ncells_cap; i++) {
                if (ix->cells[i].key == INT64_MIN) continue;
                ix->cells[i].start = at;
                at += ix->cells[i].count;
                ix->cells[i].count = 0;
            }
        }
    }
    return ix;
}

void geo_index_free(geo_index *ix) {
    if (!ix) return;
    free(ix->cells);
    free(ix->ids);
    free(ix->big);
    free(ix);
}

size_t geo_index_query(const geo_index *ix, double lat, double lon, uint32_t *out, size_t cap) {
    size_t found = 0;
    const cell *c = cell_find(ix, cell_key((int64_t)floor(lat / ix->cell_deg), (int64_t)floor(lon / ix->cell_deg)), 0);
    size_t a = 0, an = c ? c->count : 0, b = 0;
    /* merge the cell's ids and the big list, both ascending */
    while (a < an || b < ix->nbig) {
        uint32_t id;
        if (b >= ix->nbig || (a < an && ix->ids[c->start + a] < ix->big[b])) id = ix->ids[c->start + a++];
        else id = ix->big[b++];
        if (geo_contains(&ix->shapes[id], lat, lon)) {
            if (found < cap) out[found] = id;
            found++;
        }
    }
    return found;
}
