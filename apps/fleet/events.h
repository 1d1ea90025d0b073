/*
 * apps/fleet/events.h — the rules that turn fixes into events: a pure state
 * machine over a device's live_state (no I/O, no clock: times come in), so
 * every rule is tested alone (tests/unit/fleet_events.c) and the pipeline
 * can run it on a copy of the state and keep the result only once the fixes
 * are durable.
 *
 * Event types and their names are Traccar's, so its clients read ours:
 *   deviceOnline, deviceOffline, deviceMoving, deviceStopped,
 *   deviceOverspeed, geofenceEnter, geofenceExit, ignitionOn, ignitionOff,
 *   alarm (attribute "alarm": sos, powerCut, lowBattery, accident, tow, general).
 */
#ifndef FLEET_EVENTS_H
#define FLEET_EVENTS_H

#include <stdint.h>

#include "fix.h"
#include "live.h"

typedef enum fleet_event_type {
    EV_ONLINE = 1,
    EV_OFFLINE,
    EV_MOVING,
    EV_STOPPED,
    EV_OVERSPEED,
    EV_GEOFENCE_ENTER,
    EV_GEOFENCE_EXIT,
    EV_IGNITION_ON,
    EV_IGNITION_OFF,
    EV_ALARM,
    EV__COUNT
} fleet_event_type;

const char *fleet_event_name(fleet_event_type t);
/* The type of a Traccar event name; 0 when unknown. */
fleet_event_type fleet_event_parse(const char *name);

typedef struct fleet_event {
    fleet_event_type type;
    int64_t time_ms;   /* when it happened (the fix's time; for offline, the server's) */
    double lat, lon;   /* where (NaN when not known) */
    int64_t geofence_id;
    double speed_kn, limit_kn; /* overspeed */
    uint32_t alarm;            /* FLEET_ALARM_* bit of an alarm event */
} fleet_event;

const char *fleet_alarm_name(uint32_t alarm_bit);

typedef struct event_rules {
    double moving_speed_kn; /* at or above: moving */
    int64_t stop_min_ms;    /* below it this long: stopped */
    double speed_limit_kn;  /* the device's (or its group's, or the default); 0 = none */
} event_rules;

#define EVENTS_PER_FIX_MAX (12 + 2 * LIVE_GEOFENCES_MAX)

/* Apply one fix to st and geo (the geofences the device is inside; NULL:
 * not tracked) and write the events it causes to out (at most
 * EVENTS_PER_FIX_MAX). inside[0..ninside) are the ids, ascending, of the
 * geofences that contain the fix (ignored for an invalid fix). server_ms is
 * when it arrived. A fix older than st's latest is an out-of-order fix: it
 * changes nothing and causes no event (the caller still stores it). Returns
 * the number of events. */
int events_on_fix(live_state *st, live_geo *geo, const fleet_fix *f, const char *protocol, int64_t server_ms,
                  const int64_t *inside, uint32_t ninside, const event_rules *r, fleet_event *out);

/* The offline rule, run by the sweeper: an online device silent for longer
 * than timeout_ms goes offline. Returns 1 with *ev filled when it did. */
int events_on_silence(live_state *st, int64_t now_ms, int64_t timeout_ms, fleet_event *ev);

#endif
