/*
 * apps/fleet-sim/roads.h — the simulator's road network: a city grid
 * generated from a seed around a centre point, as a graph of intersections
 * (nodes) and road segments (edges), with shortest-time routing and GeoJSON
 * export. Pure: no I/O, no globals; the same parameters give the same
 * network, byte for byte, on every machine.
 *
 * The grid has `size` x `size` intersections `spacing_m` apart. Every
 * `arterial_every`-th row and column is an arterial (faster, straight);
 * the rest are local streets whose intersections are nudged a little off
 * the grid and of which some segments are left out (never so many that the
 * network falls apart: a left-out segment that would disconnect it is put
 * back). Positions are WGS 84 degrees; distances come from the local
 * equirectangular projection around the centre, exact enough over a few km.
 */
#ifndef FLEET_SIM_ROADS_H
#define FLEET_SIM_ROADS_H

#include <stddef.h>
#include <stdint.h>

#include "weft/base.h"

typedef enum road_class { ROAD_LOCAL = 0, ROAD_ARTERIAL = 1 } road_class;

/* Speed limit of each class, km/h (a European city: 30 zones, 60 arterials). */
#define ROAD_LOCAL_KMH 30.0
#define ROAD_ARTERIAL_KMH 60.0

typedef struct road_node {
    double lat, lon; /* degrees */
    double x, y;     /* metres east / north of the centre */
    int arterial;    /* on an arterial */
} road_node;

typedef struct road_edge {
    uint32_t a, b; /* node ids */
    road_class cls;
    double len_m;
    double limit_kmh;
} road_edge;

typedef struct road_params {
    double lat, lon;    /* centre; 0,0 picks the default (Vienna, Stephansplatz) */
    int size;           /* intersections per side, 3..201; 0 = 21 */
    double spacing_m;   /* between grid lines; 0 = 220 */
    int arterial_every; /* every n-th grid line is an arterial; 0 = 5 */
    double drop_share;  /* share of local segments left out, 0..0.5; < 0 = none, 0 = 0.12 */
    uint64_t seed;
} road_params;

#define ROAD_DEFAULT_LAT 48.20849
#define ROAD_DEFAULT_LON 16.37308

typedef struct road_net {
    road_params p; /* with the defaults filled in */
    uint32_t nnodes, nedges;
    road_node *nodes;
    road_edge *edges;
    uint32_t *adj_start; /* nnodes + 1: node n's edges are adj[adj_start[n] .. adj_start[n + 1]) */
    uint32_t *adj;       /* edge ids */
} road_net;

/* Build the network for p (defaults filled in for zero fields). Returns 0,
 * WEFT_EINVAL (size or spacing out of range, a centre off the globe) or
 * WEFT_ENOMEM; on error *out holds nothing to free. */
int road_net_build(const road_params *p, road_net *out);
void road_net_free(road_net *n);

/* The node at the other end of edge e from node n. */
static inline uint32_t road_other(const road_edge *e, uint32_t n) {
    return e->a == n ? e->b : e->a;
}

/* Node id of grid intersection (col, row), clamped into the grid. */
uint32_t road_grid_node(const road_net *n, int col, int row);

/* Shortest route by travel time (at the speed limits) from node `from` to
 * node `to`: writes the edge ids in travel order to path[0..cap) and their
 * count to *len. Returns 0, WEFT_ENOENT (no way, which a built network never
 * gives), WEFT_ELIMIT (longer than cap edges), WEFT_ENOMEM, WEFT_EINVAL (a
 * node out of range, from == to). */
int road_route(const road_net *n, uint32_t from, uint32_t to, uint32_t *path, size_t cap,
               size_t *len);

/* The point s metres along edge e travelling away from node `from`, and the
 * bearing of that travel (degrees clockwise from north). */
void road_point(const road_net *n, uint32_t e, uint32_t from, double s, double *lat, double *lon);
double road_bearing(const road_net *n, uint32_t e, uint32_t from);

/* Metres from (lat, lon) to the nearest point of edge e (for tests: "on the road"). */
double road_edge_distance_m(const road_net *n, uint32_t e, double lat, double lon);

/* The network as a GeoJSON FeatureCollection appended to out: one LineString
 * Feature per edge with properties {"class": "arterial"|"local",
 * "maxspeed": km/h}. 0, WEFT_ENOMEM or out's WEFT_ELIMIT. */
int road_net_geojson(const road_net *n, weft_buf *out);

#endif
