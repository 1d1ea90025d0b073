/*
 * apps/fleet-sim/vehicle.h — one simulated vehicle driving the road network
 * over simulated time. Pure and deterministic: vehicle_step() advances the
 * model by dt seconds, vehicle_sample() reads what a tracker would report.
 *
 * The model: the vehicle routes (shortest time) from where it is to a random
 * junction, every few trips back to its home depot. It accelerates towards
 * the road's speed limit (its driver's share of it; an "overspeeder" goes
 * 20-35 % over on arterials), brakes in time for turns, for stops at
 * junctions (lights, give-way: a share of junctions, 5-45 s) and for its
 * destination, where it dwells 1-10 minutes; at stops of 2 minutes or more
 * the ignition goes off and comes back on when it sets off. A vehicle that
 * carries an unplug alarm raises it now and then (one fix, every 10-30 min).
 */
#ifndef FLEET_SIM_VEHICLE_H
#define FLEET_SIM_VEHICLE_H

#include <stdint.h>

#include "fences.h"
#include "roads.h"

/* What a tracker reports at one instant. */
typedef struct sim_fix {
    int64_t t_ms;      /* fix time, Unix ms */
    double lat, lon;   /* degrees */
    double speed_kmh;  /* >= 0 */
    double course;     /* degrees [0, 360) */
    double altitude;   /* metres */
    int ignition;      /* 0/1 */
    int moving;        /* 0/1 */
    int sats;          /* satellites in use */
    int gsm;           /* GSM signal 0..5 */
    double odometer_m; /* since the vehicle was made */
    double power_v;    /* external supply */
    double battery_pct;
    int unplug; /* the unplug alarm is raised in this fix */
} sim_fix;

enum { VEH_DRIVING = 0, VEH_WAITING = 1, VEH_PARKED = 2 };

#define VEH_ACCEL 1.6            /* m/s^2 */
#define VEH_DECEL 2.6            /* m/s^2 */
#define VEH_TURN_MPS 4.5         /* through a turn (~16 km/h) */
#define VEH_IGNITION_OFF_S 120.0 /* stops at least this long turn the engine off */

typedef struct vehicle {
    const road_net *net;
    uint64_t rng;
    uint32_t home;   /* depot junction */
    uint32_t node;   /* junction the current edge starts from */
    uint32_t *route; /* edge ids, route_cap of room (grown for a rare long route) */
    uint32_t route_len, route_pos, route_cap;
    double s;        /* metres along route[route_pos] */
    double v;        /* m/s */
    int state;       /* VEH_* */
    double wait_s;   /* left of a stop */
    int stop_at_end; /* stops at the junction ending the current edge */
    int ignition;
    int overspeeder;
    double pace; /* the driver's share of the limit, 0.88..1.0 */
    double over; /* an overspeeder's factor on arterials */
    double odometer_m;
    double course;
    double battery_pct;
    int alarms; /* carries the unplug alarm */
    double alarm_in_s;
    int alarm_due;
    int trips;
    double sim_s; /* simulated seconds so far */
} vehicle;

/* Set v up on network n (which must outlive it) at junction `start`,
 * home depot junction `home`, with its own random stream from seed. Returns
 * 0 or WEFT_ENOMEM. */
int vehicle_init(vehicle *v, const road_net *n, uint32_t start, uint32_t home, uint64_t seed,
                 int overspeeder, int alarms);
void vehicle_free(vehicle *v);

/* Advance the model by dt seconds (any dt >= 0; it steps in slices of at
 * most 0.25 s inside). */
void vehicle_step(vehicle *v, double dt);

/* The limit of the edge the vehicle is on (km/h), and the edge id
 * (UINT32_MAX while parked at a junction). */
double vehicle_limit_kmh(const vehicle *v);
uint32_t vehicle_edge(const vehicle *v);

/* What the tracker reports now, stamped t_ms. Clears a raised alarm (it is
 * reported once). */
void vehicle_sample(vehicle *v, int64_t t_ms, sim_fix *out);

#endif
