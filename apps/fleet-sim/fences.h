/*
 * apps/fleet-sim/fences.h — the demo geofences the simulated fleet crosses:
 * depot circles at arterial junctions (each vehicle's home, where it returns
 * every few trips) and a polygon zone around the centre (a low-emission
 * zone) that routes through the middle of town enter and leave. Placed on
 * the road network, so they depend only on its parameters. Pure.
 */
#ifndef FLEET_SIM_FENCES_H
#define FLEET_SIM_FENCES_H

#include "roads.h"

#define SIM_DEPOTS 3
#define SIM_ZONE_POINTS 8

typedef struct sim_fences {
    struct {
        char name[32];
        uint32_t node; /* the junction at its centre */
        double lat, lon, radius_m;
    } depot[SIM_DEPOTS];
    char zone_name[32];
    double zone_lat[SIM_ZONE_POINTS], zone_lon[SIM_ZONE_POINTS]; /* outline, not closed */
} sim_fences;

/* The demo geofences of network n. */
void sim_fences_make(const road_net *n, sim_fences *out);

/* As a GeoJSON FeatureCollection appended to out: depots as Point features
 * with properties {"name", "kind": "depot", "radius": metres} (the shape
 * apps/fleet/geo.c reads as a circle), the zone as a Polygon feature with
 * {"name", "kind": "zone"}. 0 or the buffer's error. */
int sim_fences_geojson(const sim_fences *f, weft_buf *out);

#endif
