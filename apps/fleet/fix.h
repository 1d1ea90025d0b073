/*
 * apps/fleet/fix.h — a position fix as every decoder hands it on.
 *
 * Decoders (osmand.c, teltonika.c) turn device bytes into fleet_fix values;
 * the pipeline validates, deduplicates, updates live state, raises events and
 * stores them, always in that direction. A fix carries the values the
 * pipeline reasons about as fields (position, speed, the attributes events
 * are made of) and everything else the device said as a JSON object, kept
 * verbatim in the positions table's attributes column.
 *
 * Units follow Traccar's, so apps written for it read ours unchanged: speed
 * in knots, course in degrees clockwise from north, altitude and accuracy in
 * metres, times in Unix milliseconds (UTC).
 */
#ifndef FLEET_FIX_H
#define FLEET_FIX_H

#include <stddef.h>
#include <stdint.h>

/* Alarms a device can raise, as a bit set (fleet_fix.alarms). */
enum {
    FLEET_ALARM_SOS = 1u << 0,
    FLEET_ALARM_POWER_CUT = 1u << 1,
    FLEET_ALARM_LOW_BATTERY = 1u << 2,
    FLEET_ALARM_ACCIDENT = 1u << 3,
    FLEET_ALARM_TOW = 1u << 4,
    FLEET_ALARM_GENERAL = 1u << 5,
};

#define FLEET_UNKNOWN (-1) /* tri-state fields: 0 no, 1 yes, -1 not reported */

typedef struct fleet_fix {
    int64_t fix_ms;    /* when the device took the fix */
    double lat, lon;   /* WGS 84 degrees */
    double speed_kn;   /* knots */
    double course;     /* degrees, [0, 360) */
    double altitude;   /* metres */
    double accuracy;   /* metres; 0 = not reported */
    int valid;         /* the device's own view of the fix */
    int sats;          /* satellites in use; FLEET_UNKNOWN when not reported */
    int ignition, motion, charging; /* tri-state */
    int rssi;            /* GSM signal 0..5 (Teltonika IO 21); FLEET_UNKNOWN when not reported */
    double battery_pct;  /* NaN when not reported */
    double power_v;      /* external supply voltage; NaN when not reported */
    double odometer_m;   /* device odometer; NaN when not reported */
    uint32_t alarms;     /* FLEET_ALARM_* */
    /* attributes: a JSON object in the decoder's attribute buffer,
     * attrs.data[attr_off .. attr_off + attr_len) */
    size_t attr_off, attr_len;
} fleet_fix;

/* A fix with every optional field "not reported". */
void fleet_fix_init(fleet_fix *f);

#define FLEET_KMH_TO_KN(v) ((v) / 1.852)
#define FLEET_MPS_TO_KN(v) ((v) * 3600.0 / 1852.0)

#endif
