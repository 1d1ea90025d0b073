/* apps/fleet/events.c — fixes into events (see events.h). */
#include "events.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "geo.h"

static const char *const names[EV__COUNT] = {
    [EV_ONLINE] = "deviceOnline",          [EV_OFFLINE] = "deviceOffline",
    [EV_MOVING] = "deviceMoving",          [EV_STOPPED] = "deviceStopped",
    [EV_OVERSPEED] = "deviceOverspeed",    [EV_GEOFENCE_ENTER] = "geofenceEnter",
    [EV_GEOFENCE_EXIT] = "geofenceExit",   [EV_IGNITION_ON] = "ignitionOn",
    [EV_IGNITION_OFF] = "ignitionOff",     [EV_ALARM] = "alarm",
};

const char *fleet_event_name(fleet_event_type t) {
    return t > 0 && t < EV__COUNT ? names[t] : "unknown";
}

fleet_event_type fleet_event_parse(const char *name) {
    for (int t = 1; t < EV__COUNT; t++)
        if (strcmp(names[t], name) == 0) return (fleet_event_type)t;
    return 0;
}

const char *fleet_alarm_name(uint32_t bit) {
    switch (bit) {
    case FLEET_ALARM_SOS: return "sos";
    case FLEET_ALARM_POWER_CUT: return "powerCut";
    case FLEET_ALARM_LOW_BATTERY: return "lowBattery";
    case FLEET_ALARM_ACCIDENT: return "accident";
    case FLEET_ALARM_TOW: return "tow";
    default: return "general";
    }
}

static fleet_event *emit(fleet_event *out, int *n, fleet_event_type t, const fleet_fix *f) {
    fleet_event *e = &out[(*n)++];
    memset(e, 0, sizeof *e);
    e->type = t;
    e->time_ms = f->fix_ms;
    e->lat = f->lat, e->lon = f->lon;
    return e;
}

int events_on_fix(live_state *st, live_geo *geo, const fleet_fix *f, const char *protocol, int64_t server_ms,
                  const int64_t *inside, uint32_t ninside, const event_rules *r, fleet_event *out) {
    int n = 0;
    st->last_seen_ms = server_ms;
    if (st->status != LIVE_ONLINE) {
        st->status = LIVE_ONLINE;
        fleet_event *e = emit(out, &n, EV_ONLINE, f);
        e->time_ms = server_ms;
    }
    if (st->has_fix && f->fix_ms <= st->fix_ms) return n; /* out of order (or a repeat) */

    /* what the device reports, valid fix or not */
    if (f->ignition != FLEET_UNKNOWN) {
        if (st->ignition != FLEET_UNKNOWN && st->ignition != f->ignition)
            emit(out, &n, f->ignition ? EV_IGNITION_ON : EV_IGNITION_OFF, f);
        st->ignition = f->ignition;
    }
    if (f->motion != FLEET_UNKNOWN) st->motion = f->motion;
    if (!isnan(f->battery_pct)) st->battery_pct = f->battery_pct;
    if (!isnan(f->power_v)) st->power_v = f->power_v;
    if (!isnan(f->odometer_m)) st->odometer_m = f->odometer_m;
    uint32_t fresh = f->alarms & ~st->alarms;
    for (uint32_t bit = 1; bit && fresh; bit <<= 1) {
        if (!(fresh & bit)) continue;
        fresh &= ~bit;
        emit(out, &n, EV_ALARM, f)->alarm = bit;
    }
    st->alarms = f->alarms;
    snprintf(st->protocol, sizeof st->protocol, "%s", protocol);

    int64_t prev_ms = st->fix_ms;
    st->fix_ms = f->fix_ms;
    st->server_ms = server_ms;
    if (!f->valid && st->has_fix) { /* keep the last good position */
        st->valid = 0;
        return n;
    }

    /* distance driven today (UTC days) */
    int32_t day = (int32_t)(f->fix_ms / 86400000);
    if (day != st->day) st->day = day, st->distance_today_m = 0;
    if (st->has_fix && st->valid && f->valid) {
        double d = geo_distance_m(st->lat, st->lon, f->lat, f->lon);
        /* a jump no vehicle makes between two fixes is a GPS glitch, not distance */
        double secs = (double)(f->fix_ms - prev_ms) / 1000.0;
        if (d < 100 + secs * 100) st->distance_today_m += d;
    }
    st->has_fix = 1;
    st->valid = f->valid;
    st->lat = f->lat, st->lon = f->lon;
    st->speed_kn = f->speed_kn, st->course = f->course;
    st->altitude = f->altitude, st->accuracy = f->accuracy;
    if (!f->valid) return n;

    /* motion: moving at or above the threshold; stopped after stop_min below it */
    if (f->speed_kn >= r->moving_speed_kn) {
        st->slow_since_ms = 0;
        if (!st->moving) {
            st->moving = 1;
            st->motion_since_ms = f->fix_ms;
            emit(out, &n, EV_MOVING, f);
        }
    } else if (st->moving) {
        if (!st->slow_since_ms) st->slow_since_ms = f->fix_ms;
        if (f->fix_ms - st->slow_since_ms >= r->stop_min_ms) {
            st->moving = 0;
            st->motion_since_ms = st->slow_since_ms;
            st->slow_since_ms = 0;
            emit(out, &n, EV_STOPPED, f)->time_ms = st->motion_since_ms;
        }
    } else if (!st->motion_since_ms) {
        st->motion_since_ms = f->fix_ms;
    }

    /* overspeed, with 5 % hysteresis so a vehicle at the limit does not flap */
    if (r->speed_limit_kn > 0) {
        if (!st->overspeeding && f->speed_kn > r->speed_limit_kn) {
            st->overspeeding = 1;
            fleet_event *e = emit(out, &n, EV_OVERSPEED, f);
            e->speed_kn = f->speed_kn, e->limit_kn = r->speed_limit_kn;
        } else if (st->overspeeding && f->speed_kn <= r->speed_limit_kn * 0.95) {
            st->overspeeding = 0;
        }
    } else {
        st->overspeeding = 0;
    }

    /* geofences: both lists ascend, walk them together */
    if (!geo) return n;
    int64_t now_in[LIVE_GEOFENCES_MAX];
    uint32_t k = ninside < LIVE_GEOFENCES_MAX ? ninside : LIVE_GEOFENCES_MAX;
    if (k) memcpy(now_in, inside, k * sizeof *now_in);
    uint32_t a = 0, b = 0;
    while (a < geo->n || b < k) {
        if (b >= k || (a < geo->n && geo->ids[a] < now_in[b])) {
            emit(out, &n, EV_GEOFENCE_EXIT, f)->geofence_id = geo->ids[a++];
        } else if (a >= geo->n || now_in[b] < geo->ids[a]) {
            emit(out, &n, EV_GEOFENCE_ENTER, f)->geofence_id = now_in[b++];
        } else {
            a++, b++;
        }
    }
    if (k) memcpy(geo->ids, now_in, k * sizeof *now_in);
    geo->n = k;
    return n;
}

int events_on_silence(live_state *st, int64_t now_ms, int64_t timeout_ms, fleet_event *ev) {
    if (st->status != LIVE_ONLINE || now_ms - st->last_seen_ms <= timeout_ms) return 0;
    st->status = LIVE_OFFLINE;
    memset(ev, 0, sizeof *ev);
    ev->type = EV_OFFLINE;
    ev->time_ms = now_ms;
    ev->lat = st->has_fix ? st->lat : NAN;
    ev->lon = st->has_fix ? st->lon : NAN;
    return 1;
}
