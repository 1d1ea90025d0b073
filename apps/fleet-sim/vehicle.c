/*
 * apps/fleet-sim/vehicle.c — the vehicle model (vehicle.h).
 */
#include "vehicle.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "simrand.h"

#define SLICE_S 0.25

static double cruise_mps(const vehicle *v, uint32_t e) {
    const road_edge *ed = &v->net->edges[e];
    double f = v->overspeeder && ed->cls == ROAD_ARTERIAL ? v->over : v->pace;
    return ed->limit_kmh / 3.6 * f;
}

static uint32_t edge_end(const vehicle *v) {
    return road_other(&v->net->edges[v->route[v->route_pos]], v->node);
}

static void decide_stop(vehicle *v) {
    if (v->route_pos + 1 >= v->route_len) {
        v->stop_at_end = 1; /* the destination */
        return;
    }
    uint32_t end = edge_end(v);
    uint32_t degree = v->net->adj_start[end + 1] - v->net->adj_start[end];
    double p = degree < 3 ? 0.0 : v->net->nodes[end].arterial ? 0.35 : 0.2;
    v->stop_at_end = sim_rand01(&v->rng) < p;
}

/* The speed to be down to at the end of the current edge. */
static double end_speed(const vehicle *v) {
    if (v->stop_at_end || v->route_pos + 1 >= v->route_len) return 0;
    uint32_t e = v->route[v->route_pos], e2 = v->route[v->route_pos + 1], end = edge_end(v);
    double lim = fmin(cruise_mps(v, e), cruise_mps(v, e2));
    double turn = fabs(road_bearing(v->net, e2, end) - road_bearing(v->net, e, v->node));
    if (turn > 180) turn = 360 - turn;
    return turn > 40 ? fmin(lim, VEH_TURN_MPS) : lim;
}

static void park(vehicle *v, double secs) {
    v->state = VEH_PARKED;
    v->v = 0, v->s = 0;
    v->wait_s = secs;
    if (secs >= VEH_IGNITION_OFF_S) v->ignition = 0;
}

static void start_trip(vehicle *v) {
    const road_net *n = v->net;
    uint32_t dest;
    if (v->trips % 4 == 3 && v->node != v->home) {
        dest = v->home;
    } else {
        do dest = sim_below(&v->rng, n->nnodes);
        while (dest == v->node);
    }
    size_t len = 0;
    int rc = road_route(n, v->node, dest, v->route, v->route_cap, &len);
    if (rc == WEFT_ELIMIT) { /* a detour longer than we made room for: room for any route */
        uint32_t *r = realloc(v->route, n->nnodes * sizeof *r);
        if (r) {
            v->route = r, v->route_cap = n->nnodes;
            rc = road_route(n, v->node, dest, v->route, v->route_cap, &len);
        }
    }
    if (rc != 0 || len == 0) {
        park(v, 30); /* cannot happen on a built network; try again later */
        return;
    }
    v->route_len = (uint32_t)len, v->route_pos = 0;
    v->s = 0;
    v->state = VEH_DRIVING;
    v->ignition = 1;
    v->course = road_bearing(n, v->route[0], v->node);
    decide_stop(v);
}

int vehicle_init(vehicle *v, const road_net *n, uint32_t start, uint32_t home, uint64_t seed,
                 int overspeeder, int alarms) {
    memset(v, 0, sizeof *v);
    /* a shortest route on the grid rarely takes more than two sides' worth of
     * edges; 100,000 vehicles should not each carry room for every junction */
    v->route_cap = (uint32_t)(4 * n->p.size) < n->nnodes ? (uint32_t)(4 * n->p.size) : n->nnodes;
    v->route = malloc(v->route_cap * sizeof *v->route);
    if (!v->route) return WEFT_ENOMEM;
    v->net = n;
    v->rng = seed;
    v->home = home, v->node = start;
    v->overspeeder = overspeeder, v->alarms = alarms;
    v->pace = sim_uniform(&v->rng, 0.88, 1.0);
    v->over = sim_uniform(&v->rng, 1.2, 1.35);
    v->battery_pct = sim_uniform(&v->rng, 60, 100);
    v->alarm_in_s = sim_uniform(&v->rng, 600, 1800);
    v->ignition = 1;
    park(v, sim_uniform(&v->rng, 0, 20)); /* set off within 20 s, engine running */
    return 0;
}

void vehicle_free(vehicle *v) {
    free(v->route);
    v->route = NULL;
}

static void slice(vehicle *v, double h) {
    v->sim_s += h;
    v->battery_pct += v->ignition ? h * 0.5 / 60 : -h * 0.05 / 60;
    v->battery_pct = fmin(100, fmax(15, v->battery_pct));
    if (v->alarms && (v->alarm_in_s -= h) <= 0) {
        v->alarm_due = 1;
        v->alarm_in_s = sim_uniform(&v->rng, 600, 1800);
    }
    if (v->state != VEH_DRIVING) {
        if ((v->wait_s -= h) > 0) return;
        if (v->state == VEH_PARKED)
            start_trip(v);
        else
            v->state = VEH_DRIVING;
        return;
    }
    uint32_t e = v->route[v->route_pos];
    double len = v->net->edges[e].len_m, rem = len - v->s;
    double end = end_speed(v);
    double tgt = fmin(cruise_mps(v, e), sqrt(end * end + 2 * VEH_DECEL * fmax(rem, 0)));
    if (end == 0) tgt = fmax(tgt, fmin(1.0, cruise_mps(v, e))); /* creep up to the line */
    v->v = v->v < tgt ? fmin(tgt, v->v + VEH_ACCEL * h) : tgt;
    double ds = v->v * h;
    v->s += ds;
    v->odometer_m += ds;
    if (v->s < len) return;
    /* reached the junction at the end of the edge */
    double over = v->s - len;
    v->node = edge_end(v);
    int stop = v->stop_at_end;
    if (++v->route_pos >= v->route_len) {
        v->trips++;
        park(v, sim_uniform(&v->rng, 60, 600));
        return;
    }
    uint32_t e2 = v->route[v->route_pos];
    v->course = road_bearing(v->net, e2, v->node);
    if (stop) {
        v->v = 0, v->s = 0;
        v->state = VEH_WAITING;
        v->wait_s = sim_uniform(&v->rng, 5, 45);
    } else {
        v->s = fmin(over, v->net->edges[e2].len_m);
    }
    decide_stop(v);
}

void vehicle_step(vehicle *v, double dt) {
    while (dt > 1e-9) {
        double h = dt < SLICE_S ? dt : SLICE_S;
        slice(v, h);
        dt -= h;
    }
}

double vehicle_limit_kmh(const vehicle *v) {
    uint32_t e = vehicle_edge(v);
    return e == UINT32_MAX ? 0 : v->net->edges[e].limit_kmh;
}

uint32_t vehicle_edge(const vehicle *v) {
    return v->state == VEH_PARKED || v->route_len == 0 ? UINT32_MAX : v->route[v->route_pos];
}

void vehicle_sample(vehicle *v, int64_t t_ms, sim_fix *out) {
    memset(out, 0, sizeof *out);
    out->t_ms = t_ms;
    const road_node *nd = &v->net->nodes[v->node];
    if (v->state == VEH_DRIVING)
        road_point(v->net, v->route[v->route_pos], v->node, v->s, &out->lat, &out->lon);
    else
        out->lat = nd->lat, out->lon = nd->lon;
    out->speed_kmh = v->v * 3.6;
    out->course = fmod(v->course, 360.0);
    /* gentle terrain, so altitude changes as vehicles move */
    out->altitude = 170 + 12 * sin(nd->x / 700) + 8 * cos(nd->y / 500);
    out->ignition = v->ignition;
    out->moving = v->v > 0.5;
    out->sats = 7 + (int)sim_below(&v->rng, 7);
    out->gsm = 3 + (int)sim_below(&v->rng, 3);
    out->odometer_m = v->odometer_m;
    out->power_v =
        v->ignition ? sim_uniform(&v->rng, 13.8, 14.3) : sim_uniform(&v->rng, 12.3, 12.7);
    out->battery_pct = v->battery_pct;
    out->unplug = v->alarm_due;
    v->alarm_due = 0;
}
