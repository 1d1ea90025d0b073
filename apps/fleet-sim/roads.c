/*
 * apps/fleet-sim/roads.c — the generated city grid (roads.h).
 */
#include "roads.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "simrand.h"

#define DEG (M_PI / 180.0)
#define EARTH_R 6371008.8

static uint32_t uf_find(uint32_t *parent, uint32_t x) {
    while (parent[x] != x) x = parent[x] = parent[parent[x]];
    return x;
}
static int uf_union(uint32_t *parent, uint32_t a, uint32_t b) {
    a = uf_find(parent, a), b = uf_find(parent, b);
    if (a == b) return 0;
    parent[a] = b;
    return 1;
}

static void to_latlon(const road_params *p, double x, double y, double *lat, double *lon) {
    *lat = p->lat + y / EARTH_R / DEG;
    *lon = p->lon + x / (EARTH_R * cos(p->lat * DEG)) / DEG;
}
static void to_xy(const road_params *p, double lat, double lon, double *x, double *y) {
    *y = (lat - p->lat) * DEG * EARTH_R;
    *x = (lon - p->lon) * DEG * EARTH_R * cos(p->lat * DEG);
}

uint32_t road_grid_node(const road_net *n, int col, int row) {
    int s = n->p.size;
    col = col < 0 ? 0 : col >= s ? s - 1 : col;
    row = row < 0 ? 0 : row >= s ? s - 1 : row;
    return (uint32_t)(row * s + col);
}

int road_net_build(const road_params *pin, road_net *out) {
    memset(out, 0, sizeof *out);
    road_params p = *pin;
    if (p.lat == 0 && p.lon == 0) p.lat = ROAD_DEFAULT_LAT, p.lon = ROAD_DEFAULT_LON;
    if (p.size == 0) p.size = 21;
    if (p.spacing_m == 0) p.spacing_m = 220;
    if (p.arterial_every == 0) p.arterial_every = 5;
    if (p.drop_share == 0) p.drop_share = 0.12;
    if (p.drop_share < 0) p.drop_share = 0;
    if (!(p.lat >= -80 && p.lat <= 80) || !(p.lon >= -179 && p.lon <= 179) || p.size < 3 ||
        p.size > 201 || !(p.spacing_m >= 20 && p.spacing_m <= 5000) || p.arterial_every < 1 ||
        p.drop_share > 0.5)
        return WEFT_EINVAL;
    int s = p.size;
    uint32_t nn = (uint32_t)(s * s), ne_max = (uint32_t)(2 * s * (s - 1));
    road_node *nodes = calloc(nn, sizeof *nodes);
    road_edge *edges = calloc(ne_max, sizeof *edges);
    uint8_t *dropped = calloc(ne_max, 1);
    uint32_t *parent = malloc(nn * sizeof *parent);
    if (!nodes || !edges || !dropped || !parent) goto nomem;

    uint64_t rng = p.seed ^ 0x5EEDC17Eull;
    int half = s / 2; /* the centre intersection is (half, half) */
    /* Arterials: the lines `arterial_every` apart through the centre, and the outer ring. */
#define IS_ART(i) (((i)-half) % p.arterial_every == 0 || (i) == 0 || (i) == s - 1)
    for (int r = 0; r < s; r++)
        for (int c = 0; c < s; c++) {
            road_node *nd = &nodes[r * s + c];
            int art_row = IS_ART(r), art_col = IS_ART(c);
            double x = (c - half) * p.spacing_m, y = (r - half) * p.spacing_m;
            double j = p.spacing_m * 0.12; /* local streets wander a little */
            double jx = sim_uniform(&rng, -j, j), jy = sim_uniform(&rng, -j, j);
            if (!art_col) x += jx; /* an arterial column keeps its x, a row its y */
            if (!art_row) y += jy;
            nd->x = x, nd->y = y;
            nd->arterial = art_row || art_col;
            to_latlon(&p, x, y, &nd->lat, &nd->lon);
        }
    uint32_t ne = 0;
    for (int r = 0; r < s; r++)
        for (int c = 0; c < s; c++) {
            for (int dir = 0; dir < 2; dir++) { /* 0: east, 1: north */
                int c2 = c + (dir == 0), r2 = r + (dir == 1);
                if (c2 >= s || r2 >= s) continue;
                road_edge *e = &edges[ne];
                e->a = (uint32_t)(r * s + c), e->b = (uint32_t)(r2 * s + c2);
                int art = dir == 0 ? IS_ART(r) : IS_ART(c);
                e->cls = art ? ROAD_ARTERIAL : ROAD_LOCAL;
                e->limit_kmh = art ? ROAD_ARTERIAL_KMH : ROAD_LOCAL_KMH;
                const road_node *na = &nodes[e->a], *nb = &nodes[e->b];
                e->len_m = hypot(na->x - nb->x, na->y - nb->y);
                dropped[ne] = !art && sim_rand01(&rng) < p.drop_share;
                ne++;
            }
        }
#undef IS_ART
    /* Keep the network connected: every left-out segment that joins two
     * parts of what remains is put back. */
    for (uint32_t i = 0; i < nn; i++) parent[i] = i;
    for (uint32_t i = 0; i < ne; i++)
        if (!dropped[i]) uf_union(parent, edges[i].a, edges[i].b);
    for (uint32_t i = 0; i < ne; i++)
        if (dropped[i] && uf_union(parent, edges[i].a, edges[i].b)) dropped[i] = 0;
    uint32_t k = 0;
    for (uint32_t i = 0; i < ne; i++)
        if (!dropped[i]) edges[k++] = edges[i];
    ne = k;

    uint32_t *adj_start = calloc(nn + 1, sizeof *adj_start), *adj = malloc(2 * ne * sizeof *adj);
    if (!adj_start || !adj) {
        free(adj_start), free(adj);
        goto nomem;
    }
    for (uint32_t i = 0; i < ne; i++) adj_start[edges[i].a + 1]++, adj_start[edges[i].b + 1]++;
    for (uint32_t i = 0; i < nn; i++) adj_start[i + 1] += adj_start[i];
    uint32_t *fill = parent; /* reuse as cursor */
    memcpy(fill, adj_start, nn * sizeof *fill);
    for (uint32_t i = 0; i < ne; i++) adj[fill[edges[i].a]++] = i, adj[fill[edges[i].b]++] = i;
    free(dropped), free(parent);
    out->p = p;
    out->nnodes = nn, out->nedges = ne;
    out->nodes = nodes, out->edges = edges;
    out->adj_start = adj_start, out->adj = adj;
    return 0;
nomem:
    free(nodes), free(edges), free(dropped), free(parent);
    return WEFT_ENOMEM;
}

void road_net_free(road_net *n) {
    free(n->nodes), free(n->edges), free(n->adj_start), free(n->adj);
    memset(n, 0, sizeof *n);
}

/* ---- routing: Dijkstra on travel time with a binary heap -------------------- */

typedef struct heap_item {
    double t;
    uint32_t node;
} heap_item;

static void heap_push(heap_item *h, size_t *n, heap_item it) {
    size_t i = (*n)++;
    while (i > 0) {
        size_t up = (i - 1) / 2;
        if (h[up].t <= it.t) break;
        h[i] = h[up], i = up;
    }
    h[i] = it;
}
static heap_item heap_pop(heap_item *h, size_t *n) {
    heap_item top = h[0], last = h[--*n];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        if (l >= *n) break;
        m = l + 1 < *n && h[l + 1].t < h[l].t ? l + 1 : l;
        if (h[m].t >= last.t) break;
        h[i] = h[m], i = m;
    }
    if (*n) h[i] = last;
    return top;
}

int road_route(const road_net *n, uint32_t from, uint32_t to, uint32_t *path, size_t cap,
               size_t *len) {
    *len = 0;
    if (from >= n->nnodes || to >= n->nnodes || from == to) return WEFT_EINVAL;
    double *dist = malloc(n->nnodes * sizeof *dist);
    uint32_t *via = malloc(n->nnodes * sizeof *via); /* edge we came in by */
    /* each edge relaxes at most twice: the heap never holds more than 2E + 1 */
    heap_item *h = malloc((2 * (size_t)n->nedges + 1) * sizeof *h);
    int rc = WEFT_ENOENT;
    if (!dist || !via || !h) {
        rc = WEFT_ENOMEM;
        goto out;
    }
    for (uint32_t i = 0; i < n->nnodes; i++) dist[i] = INFINITY, via[i] = UINT32_MAX;
    size_t hn = 0;
    dist[from] = 0;
    heap_push(h, &hn, (heap_item){0, from});
    while (hn) {
        heap_item it = heap_pop(h, &hn);
        if (it.t > dist[it.node]) continue;
        if (it.node == to) break;
        for (uint32_t k = n->adj_start[it.node]; k < n->adj_start[it.node + 1]; k++) {
            const road_edge *e = &n->edges[n->adj[k]];
            uint32_t o = road_other(e, it.node);
            double t = it.t + e->len_m / (e->limit_kmh / 3.6) + 4.0; /* a few s per junction */
            if (t < dist[o]) {
                dist[o] = t, via[o] = n->adj[k];
                heap_push(h, &hn, (heap_item){t, o});
            }
        }
    }
    if (via[to] == UINT32_MAX) goto out;
    size_t k = 0;
    for (uint32_t x = to; x != from; x = road_other(&n->edges[via[x]], x)) k++;
    if (k > cap) {
        rc = WEFT_ELIMIT;
        goto out;
    }
    size_t i = k;
    for (uint32_t x = to; x != from; x = road_other(&n->edges[via[x]], x)) path[--i] = via[x];
    *len = k;
    rc = 0;
out:
    free(dist), free(via), free(h);
    return rc;
}

void road_point(const road_net *n, uint32_t e, uint32_t from, double s, double *lat, double *lon) {
    const road_edge *ed = &n->edges[e];
    const road_node *a = &n->nodes[from], *b = &n->nodes[road_other(ed, from)];
    double f = ed->len_m > 0 ? s / ed->len_m : 0;
    f = f < 0 ? 0 : f > 1 ? 1 : f;
    to_latlon(&n->p, a->x + (b->x - a->x) * f, a->y + (b->y - a->y) * f, lat, lon);
}

double road_bearing(const road_net *n, uint32_t e, uint32_t from) {
    const road_node *a = &n->nodes[from], *b = &n->nodes[road_other(&n->edges[e], from)];
    double deg = atan2(b->x - a->x, b->y - a->y) / DEG;
    return deg < 0 ? deg + 360 : deg;
}

double road_edge_distance_m(const road_net *n, uint32_t e, double lat, double lon) {
    const road_edge *ed = &n->edges[e];
    const road_node *a = &n->nodes[ed->a], *b = &n->nodes[ed->b];
    double x, y;
    to_xy(&n->p, lat, lon, &x, &y);
    double dx = b->x - a->x, dy = b->y - a->y, l2 = dx * dx + dy * dy;
    double t = l2 > 0 ? ((x - a->x) * dx + (y - a->y) * dy) / l2 : 0;
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    return hypot(x - (a->x + t * dx), y - (a->y + t * dy));
}

int road_net_geojson(const road_net *n, weft_buf *out) {
    int rc = weft_buf_appends(out, "{\"type\":\"FeatureCollection\",\"features\":[");
    for (uint32_t i = 0; i < n->nedges && rc == 0; i++) {
        const road_edge *e = &n->edges[i];
        const road_node *a = &n->nodes[e->a], *b = &n->nodes[e->b];
        rc = weft_buf_printf(
            out,
            "%s{\"type\":\"Feature\",\"properties\":{\"class\":\"%s\",\"maxspeed\":%.0f},"
            "\"geometry\":{\"type\":\"LineString\",\"coordinates\":[[%.6f,%.6f],[%.6f,%.6f]]}}",
            i ? "," : "", e->cls == ROAD_ARTERIAL ? "arterial" : "local", e->limit_kmh, a->lon,
            a->lat, b->lon, b->lat);
    }
    if (rc == 0) rc = weft_buf_appends(out, "]}\n");
    return rc < 0 ? rc : 0;
}
