/*
 * tests/unit/fleet_sim_model.c — the simulator's world: the generated road
 * network (apps/fleet-sim/roads.c), the demo geofences (fences.c) and the
 * vehicle model (vehicle.c), run over simulated hours.
 */
#include <math.h>
#include <stdlib.h>

#include "test.h"
#include "fences.h"
#include "geo.h"
#include "roads.h"
#include "vehicle.h"
#include "weft/json.h"

#define CHECK(call)                                                                                \
    do {                                                                                           \
        call;                                                                                      \
        if (test__failed()) return;                                                                \
    } while (0)

/* Nodes reachable from node 0. */
static uint32_t reachable(const road_net *n) {
    uint8_t *seen = calloc(n->nnodes, 1);
    uint32_t *stack = malloc(n->nnodes * sizeof *stack), sp = 0, count = 0;
    stack[sp++] = 0, seen[0] = 1;
    while (sp) {
        uint32_t x = stack[--sp];
        count++;
        for (uint32_t k = n->adj_start[x]; k < n->adj_start[x + 1]; k++) {
            uint32_t o = road_other(&n->edges[n->adj[k]], x);
            if (!seen[o]) seen[o] = 1, stack[sp++] = o;
        }
    }
    free(seen), free(stack);
    return count;
}

TEST_PLAIN(road_network_is_connected_for_every_seed_and_size) {
    int sizes[] = {3, 7, 21, 41};
    for (int si = 0; si < 4; si++)
        for (uint64_t seed = 0; seed < 20; seed++) {
            road_params p = {
                .size = sizes[si], .seed = seed, .drop_share = 0.5}; /* the most left out */
            road_net n;
            ASSERT_EQ(road_net_build(&p, &n), 0);
            ASSERT_EQ(n.nnodes, (uint32_t)(sizes[si] * sizes[si]));
            ASSERT_EQ(reachable(&n), n.nnodes);
            ASSERT_LT(n.nedges, (uint32_t)(2 * sizes[si] * (sizes[si] - 1)) +
                                    (sizes[si] == 3)); /* some were left out */
            road_net_free(&n);
        }
    road_params bad = {.size = 2};
    road_net n;
    ASSERT_ERR(road_net_build(&bad, &n), WEFT_EINVAL);
    bad = (road_params){.lat = 91, .lon = 10};
    ASSERT_ERR(road_net_build(&bad, &n), WEFT_EINVAL);
}

static void geojson_of(uint64_t seed, weft_buf *out) {
    road_params p = {.seed = seed};
    road_net n;
    if (road_net_build(&p, &n) == 0) {
        road_net_geojson(&n, out);
        road_net_free(&n);
    }
}

TEST_PLAIN(road_network_is_deterministic_for_a_seed) {
    weft_buf a, b, c;
    weft_buf_init(&a, 0), weft_buf_init(&b, 0), weft_buf_init(&c, 0);
    geojson_of(7, &a), geojson_of(7, &b), geojson_of(8, &c);
    ASSERT_GT(a.len, 10000);
    ASSERT_EQ(a.len, b.len);
    ASSERT_MEMEQ(a.data, b.data, a.len);
    ASSERT(c.len != a.len || memcmp(a.data, c.data, a.len) != 0);
    weft_buf_free(&a), weft_buf_free(&b), weft_buf_free(&c);
}

TEST_PLAIN(road_network_geojson_parses) {
    road_params p = {.seed = 3};
    road_net n;
    ASSERT_EQ(road_net_build(&p, &n), 0);
    weft_buf b;
    weft_buf_init(&b, 0);
    ASSERT_EQ(road_net_geojson(&n, &b), 0);
    weft_arena a;
    weft_arena_init(&a, 0);
    weft_json *root;
    ASSERT_EQ(weft_json_parse(b.data, b.len, &a, 0, &root, NULL), 0);
    ASSERT(weft_str_eq(weft_json_str(weft_json_get(root, "type")), WEFT_STR("FeatureCollection")));
    const weft_json *fs = weft_json_get(root, "features");
    ASSERT(fs && fs->type == WEFT_JSON_ARRAY);
    ASSERT_EQ(fs->len, n.nedges);
    int arterial = 0, local = 0;
    for (uint32_t i = 0; i < fs->len; i++) {
        const weft_json *f = weft_json_at(fs, i), *g = weft_json_get(f, "geometry");
        ASSERT(weft_str_eq(weft_json_str(weft_json_get(g, "type")), WEFT_STR("LineString")));
        const weft_json *co = weft_json_get(g, "coordinates");
        ASSERT(co && co->len == 2);
        double lon, lat;
        ASSERT_EQ(weft_json_double(weft_json_at(weft_json_at(co, 0), 0), &lon), 0);
        ASSERT_EQ(weft_json_double(weft_json_at(weft_json_at(co, 0), 1), &lat), 0);
        ASSERT(fabs(lat - n.nodes[n.edges[i].a].lat) < 1e-6 &&
               fabs(lon - n.nodes[n.edges[i].a].lon) < 1e-6);
        weft_str cls = weft_json_str(weft_json_get(weft_json_get(f, "properties"), "class"));
        int64_t maxspeed;
        ASSERT_EQ(
            weft_json_int(weft_json_get(weft_json_get(f, "properties"), "maxspeed"), &maxspeed), 0);
        if (weft_str_eq(cls, WEFT_STR("arterial"))) {
            arterial++;
            ASSERT_EQ(maxspeed, 60);
        } else {
            ASSERT(weft_str_eq(cls, WEFT_STR("local")));
            local++;
            ASSERT_EQ(maxspeed, 30);
        }
    }
    ASSERT_GT(arterial, 50);
    ASSERT_GT(local, arterial);
    weft_arena_free(&a);
    weft_buf_free(&b);
    road_net_free(&n);
}

TEST_PLAIN(routes_chain_from_start_to_destination) {
    road_params p = {.seed = 5};
    road_net n;
    ASSERT_EQ(road_net_build(&p, &n), 0);
    uint32_t *path = malloc(n.nnodes * sizeof *path);
    for (uint32_t from = 0; from < n.nnodes; from += 37)
        for (uint32_t to = 5; to < n.nnodes; to += 53) {
            if (from == to) continue;
            size_t len = 0;
            ASSERT_EQ(road_route(&n, from, to, path, n.nnodes, &len), 0);
            ASSERT_GT(len, 0);
            uint32_t at = from;
            for (size_t i = 0; i < len; i++) {
                const road_edge *e = &n.edges[path[i]];
                ASSERT(e->a == at || e->b == at);
                at = road_other(e, at);
            }
            ASSERT_EQ(at, to);
        }
    size_t len;
    ASSERT_ERR(road_route(&n, 0, 0, path, n.nnodes, &len), WEFT_EINVAL);
    ASSERT_ERR(road_route(&n, 0, n.nnodes - 1, path, 3, &len), WEFT_ELIMIT);
    free(path);
    road_net_free(&n);
}

/* The demo geofences, read back the way the server reads geofences. */
static void load_fences(const road_net *n, geo_shape *shapes, int *count, weft_arena *a) {
    sim_fences f;
    sim_fences_make(n, &f);
    weft_buf b;
    weft_buf_init(&b, 0);
    ASSERT_EQ(sim_fences_geojson(&f, &b), 0);
    weft_json *root;
    ASSERT_EQ(weft_json_parse(b.data, b.len, a, 0, &root, NULL), 0);
    const weft_json *fs = weft_json_get(root, "features");
    ASSERT(fs && fs->len == SIM_DEPOTS + 1);
    for (uint32_t i = 0; i < fs->len; i++) {
        const char *why = "";
        int rc = geo_shape_from_json(weft_json_at(fs, i), a, &shapes[i], &why);
        if (rc) printf("geofence %u: %s\n", i, why);
        ASSERT_EQ(rc, 0);
    }
    for (int i = 0; i < SIM_DEPOTS; i++) {
        ASSERT_EQ(shapes[i].kind, GEO_CIRCLE);
        ASSERT(
            geo_contains(&shapes[i], n->nodes[f.depot[i].node].lat, n->nodes[f.depot[i].node].lon));
    }
    ASSERT_EQ(shapes[SIM_DEPOTS].kind, GEO_POLYGON);
    *count = (int)fs->len;
    weft_buf_free(&b);
}

TEST_PLAIN(demo_geofences_parse_as_geofences) {
    road_params p = {.seed = 1};
    road_net n;
    ASSERT_EQ(road_net_build(&p, &n), 0);
    weft_arena a;
    weft_arena_init(&a, 0);
    geo_shape shapes[SIM_DEPOTS + 1];
    int count = 0;
    CHECK(load_fences(&n, shapes, &count, &a));
    const road_node *c = &n.nodes[road_grid_node(&n, n.p.size / 2, n.p.size / 2)];
    ASSERT(geo_contains(&shapes[SIM_DEPOTS], c->lat, c->lon)); /* the zone holds the centre */
    weft_arena_free(&a);
    road_net_free(&n);
}

#define NVEH 16

/* Sixteen vehicles (four overspeeders) over three simulated hours, a fix a
 * second: on the road, within their speed class, accelerating no faster
 * than the model allows, stopping, switching the ignition, crossing the
 * geofences. */
TEST_PLAIN(vehicles_drive_on_roads_within_limits_stop_and_cross_geofences) {
    road_params p = {.seed = 11};
    road_net n;
    ASSERT_EQ(road_net_build(&p, &n), 0);
    sim_fences f;
    sim_fences_make(&n, &f);
    weft_arena a;
    weft_arena_init(&a, 0);
    geo_shape shapes[SIM_DEPOTS + 1];
    int nshapes = 0;
    CHECK(load_fences(&n, shapes, &nshapes, &a));
    static vehicle v[NVEH];
    for (int i = 0; i < NVEH; i++)
        ASSERT_EQ(vehicle_init(&v[i], &n, (uint32_t)(i * 29) % n.nnodes,
                               f.depot[i % SIM_DEPOTS].node, 1000 + (uint64_t)i, i % 4 == 0,
                               i % 2 == 0),
                  0);
    long samples = test_scale_min(3 * 3600, 3600);
    int ign_off[NVEH] = {0}, ign_on[NVEH] = {0}, stops[NVEH] = {0}, alarms = 0;
    int zone_changes = 0, depot_visits = 0, over_arterial = 0;
    double max_local = 0, max_arterial = 0, max_km = 0;
    for (int i = 0; i < NVEH; i++) {
        sim_fix prev;
        vehicle_sample(&v[i], 0, &prev);
        int in_zone = geo_contains(&shapes[SIM_DEPOTS], prev.lat, prev.lon), in_depot = 0;
        for (long t = 1; t <= samples; t++) {
            vehicle_step(&v[i], 1.0);
            sim_fix s;
            vehicle_sample(&v[i], t * 1000, &s);
            /* on the road: on the edge it drives, or at a junction */
            uint32_t e = vehicle_edge(&v[i]);
            if (e != UINT32_MAX) {
                ASSERT(road_edge_distance_m(&n, e, s.lat, s.lon) < 0.5);
                double lim = vehicle_limit_kmh(&v[i]);
                int art = n.edges[e].cls == ROAD_ARTERIAL;
                double allowed = v[i].overspeeder && art ? lim * 1.35 : lim;
                ASSERT(s.speed_kmh <= allowed + 1e-6);
                if (art)
                    max_arterial = fmax(max_arterial, s.speed_kmh);
                else
                    max_local = fmax(max_local, s.speed_kmh);
                if (art && s.speed_kmh > lim * 1.1) {
                    over_arterial++;
                    ASSERT(v[i].overspeeder);
                }
            } else {
                const road_node *nd = &n.nodes[v[i].node];
                ASSERT(s.lat == nd->lat && s.lon == nd->lon);
                ASSERT_EQ((int)s.speed_kmh, 0);
            }
            /* acceleration within the model's 1.6 m/s^2 (5.76 km/h a second) */
            ASSERT(s.speed_kmh - prev.speed_kmh <= VEH_ACCEL * 3.6 + 1e-6);
            if (s.speed_kmh == 0 && prev.speed_kmh > 0) stops[i]++;
            if (!s.ignition && prev.ignition) ign_off[i]++;
            if (s.ignition && !prev.ignition) ign_on[i]++;
            if (!s.ignition) ASSERT_EQ((int)s.speed_kmh, 0);
            alarms += s.unplug;
            int z = geo_contains(&shapes[SIM_DEPOTS], s.lat, s.lon);
            zone_changes += z != in_zone, in_zone = z;
            int d = 0;
            for (int k = 0; k < SIM_DEPOTS; k++) d |= geo_contains(&shapes[k], s.lat, s.lon);
            depot_visits += d && !in_depot, in_depot = d;
            prev = s;
        }
        ASSERT_GT(stops[i], 3);
        ASSERT_GT(ign_off[i], 0);
        ASSERT_GT(ign_on[i], 0);
        ASSERT_LE(ign_on[i] - ign_off[i], 1);
        max_km = fmax(max_km, v[i].odometer_m / 1000);
        ASSERT_GT(v[i].odometer_m, 1000.0 * samples / 3600); /* at least a km an hour */
    }
    printf(
        "    %ld s x %d vehicles: max %.1f km/h local, %.1f arterial; %d overspeed fixes; %d zone "
        "crossings; %d depot visits; %d alarms; longest %.1f km\n",
        samples, NVEH, max_local, max_arterial, over_arterial, zone_changes, depot_visits, alarms,
        max_km);
    ASSERT(max_local <= 30 + 1e-6 && max_local > 25);
    ASSERT_GT(max_arterial, 60); /* the overspeeders */
    ASSERT_GT(over_arterial, 0);
    ASSERT_GT(zone_changes, 4);
    ASSERT_GT(depot_visits, 2);
    ASSERT_GT(alarms, 0);
    for (int i = 0; i < NVEH; i++) vehicle_free(&v[i]);
    weft_arena_free(&a);
    road_net_free(&n);
}

TEST_PLAIN(vehicles_are_deterministic_for_a_seed) {
    road_params p = {.seed = 2};
    road_net n;
    ASSERT_EQ(road_net_build(&p, &n), 0);
    vehicle a, b;
    ASSERT_EQ(vehicle_init(&a, &n, 10, 20, 77, 0, 1), 0);
    ASSERT_EQ(vehicle_init(&b, &n, 10, 20, 77, 0, 1), 0);
    for (int t = 0; t < 2000; t++) {
        vehicle_step(&a, 0.7), vehicle_step(&b, 0.7);
        sim_fix x, y;
        vehicle_sample(&a, t, &x), vehicle_sample(&b, t, &y);
        ASSERT_MEMEQ(&x, &y, sizeof x);
    }
    vehicle_free(&a), vehicle_free(&b);
    road_net_free(&n);
}

/* A route longer than the room a vehicle starts with (4 grid sides' worth)
 * grows it instead of leaving the vehicle parked. */
TEST_PLAIN(a_long_route_grows_the_vehicles_room) {
    road_params p = {.seed = 4};
    road_net n;
    ASSERT_EQ(road_net_build(&p, &n), 0);
    vehicle v;
    ASSERT_EQ(vehicle_init(&v, &n, 0, 0, 9, 0, 0), 0);
    ASSERT_EQ(v.route_cap, 4u * 21);
    v.route_cap = 1;      /* as if every route were too long */
    vehicle_step(&v, 25); /* sets off within 20 s */
    ASSERT_EQ(v.state, VEH_DRIVING);
    ASSERT_GT(v.route_len, 1);
    ASSERT_EQ(v.route_cap, n.nnodes);
    vehicle_free(&v);
    road_net_free(&n);
}
