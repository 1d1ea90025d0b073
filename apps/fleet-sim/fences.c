/*
 * apps/fleet-sim/fences.c — the demo geofences (fences.h).
 */
#include "fences.h"

#include <math.h>
#include <stdio.h>

void sim_fences_make(const road_net *n, sim_fences *out) {
    int s = n->p.size, half = s / 2, k = n->p.arterial_every;
    /* Depots at arterial junctions off-centre: north-west, east, south. */
    static const char *names[SIM_DEPOTS] = {"Depot North-West", "Depot East", "Depot South"};
    const int pos[SIM_DEPOTS][2] = {{half - k, half + k}, {half + k, half}, {half, half - k}};
    for (int i = 0; i < SIM_DEPOTS; i++) {
        uint32_t id = road_grid_node(n, pos[i][0], pos[i][1]);
        snprintf(out->depot[i].name, sizeof out->depot[i].name, "%s", names[i]);
        out->depot[i].node = id;
        out->depot[i].lat = n->nodes[id].lat, out->depot[i].lon = n->nodes[id].lon;
        out->depot[i].radius_m = n->p.spacing_m * 0.6;
    }
    /* The zone: an octagon around the centre, a little under two blocks out. */
    snprintf(out->zone_name, sizeof out->zone_name, "%s", "Centre low-emission zone");
    const road_node *c = &n->nodes[road_grid_node(n, half, half)];
    double r = n->p.spacing_m * (k > 1 ? k - 0.5 : 1.5);
    double m_per_deg_lat = 6371008.8 * M_PI / 180,
           m_per_deg_lon = m_per_deg_lat * cos(c->lat * M_PI / 180);
    for (int i = 0; i < SIM_ZONE_POINTS; i++) {
        double a = (i + 0.5) * 2 * M_PI / SIM_ZONE_POINTS;
        out->zone_lat[i] = c->lat + r * sin(a) / m_per_deg_lat;
        out->zone_lon[i] = c->lon + r * cos(a) / m_per_deg_lon;
    }
}

int sim_fences_geojson(const sim_fences *f, weft_buf *out) {
    int rc = weft_buf_appends(out, "{\"type\":\"FeatureCollection\",\"features\":[");
    for (int i = 0; i < SIM_DEPOTS && rc >= 0; i++)
        rc = weft_buf_printf(
            out,
            "{\"type\":\"Feature\",\"properties\":{\"name\":\"%s\",\"kind\":\"depot\","
            "\"radius\":%.0f},\"geometry\":{\"type\":\"Point\",\"coordinates\":[%.6f,%.6f]}},",
            f->depot[i].name, f->depot[i].radius_m, f->depot[i].lon, f->depot[i].lat);
    if (rc >= 0)
        rc = weft_buf_printf(
            out,
            "{\"type\":\"Feature\",\"properties\":{\"name\":\"%s\",\"kind\":\"zone\"},"
            "\"geometry\":{\"type\":\"Polygon\",\"coordinates\":[[",
            f->zone_name);
    for (int i = 0; i <= SIM_ZONE_POINTS && rc >= 0; i++) {
        int j = i % SIM_ZONE_POINTS; /* the ring closes on its first point */
        rc = weft_buf_printf(out, "%s[%.6f,%.6f]", i ? "," : "", f->zone_lon[j], f->zone_lat[j]);
    }
    if (rc >= 0) rc = weft_buf_appends(out, "]]}}]}\n");
    return rc < 0 ? rc : 0;
}
