/*
 * apps/fleet/model.h — the JSON shapes of devices, positions and events, with
 * Traccar's field names and units (speed in knots, times ISO 8601 UTC), shared
 * by the REST API, the live socket and the exports, so a Traccar client reads
 * them unchanged.
 */
#ifndef FLEET_MODEL_H
#define FLEET_MODEL_H

#include "weft/db.h"
#include "weft/json.h"

#include "events.h"
#include "live.h"

/* A copy of what is shown of a device, taken under its lock. */
typedef struct device_view {
    int64_t id, group_id;
    char unique_id[65], name[129], category[33];
    int disabled;
    double speed_limit_kn; /* the device's own; 0 = its group's or the default */
    live_state st;
    char attrs[LIVE_ATTRS_MAX];
    uint32_t attrs_len;
} device_view;

void model_view(live_device *d, device_view *v);

/* {"id", "name", "uniqueId", "status", "disabled", "lastUpdate", "groupId",
 *  "category", "positionId", "speedLimit", "motion", "ignition"} */
void model_device(weft_json_enc *e, const device_view *v);
/* The device's latest position, or nothing when it has none (returns 0). */
int model_live_position(weft_json_enc *e, const device_view *v);
/* A position row of the query "SELECT device_id, protocol, fix_time,
 * server_time, latitude, longitude, speed, course, altitude, accuracy,
 * valid, attributes, id ..." (MODEL_POSITION_COLS), row i. */
#define MODEL_POSITION_COLS                                                                          \
    "device_id, protocol, fix_time, server_time, latitude, longitude, speed, course, altitude, "   \
    "accuracy, valid, attributes, id"
void model_position_row(weft_json_enc *e, const weft_db_rows *r, int i);
/* An event row of "SELECT id, device_id, type, event_time, latitude,
 * longitude, geofence_id, attributes, ack_time, ack_user_id, ack_user_name
 * ..." (MODEL_EVENT_COLS). */
#define MODEL_EVENT_COLS                                                                             \
    "id, device_id, type, event_time, latitude, longitude, geofence_id, attributes, ack_time, "     \
    "ack_user_id, ack_user_name"
void model_event_row(weft_json_enc *e, const weft_db_rows *r, int i);
/* The acknowledgement of an event: "ackTime", "ackUserId", "ackUserName"
 * keys (each null when the event is not acknowledged, ack_ms == 0). */
void model_ack_fields(weft_json_enc *e, int64_t ack_ms, int64_t user_id, const char *user_name);
/* A just-committed event (the live socket's). */
void model_event(weft_json_enc *e, int64_t id, int64_t device_id, const fleet_event *ev);

/* Write a stored attributes object (JSON text this server encoded) as it
 * is; "{}" when it does not look like an object. */
void model_raw_object(weft_json_enc *e, const char *text, size_t len);
void model_time(weft_json_enc *e, int64_t ms);
const char *model_status_name(live_status s);

#endif
