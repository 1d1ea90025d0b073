/* apps/fleet/model.c — JSON shapes (see model.h). */
#include "model.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "isotime.h"

/* src into dst[cap], cut to fit, NUL-terminated (snprintf's "%s" without
 * its cost: the feed makes a view of every changed device). */
static void copy_cut(char *dst, size_t cap, const char *src) {
    size_t n = strnlen(src, cap - 1);
    memcpy(dst, src, n);
    dst[n] = 0;
}

void model_view(live_device *d, device_view *v) {
    live_lock(d);
    v->id = d->id, v->group_id = d->group_id;
    copy_cut(v->unique_id, sizeof v->unique_id, d->unique_id);
    copy_cut(v->name, sizeof v->name, d->name);
    copy_cut(v->category, sizeof v->category, d->category);
    v->disabled = d->disabled;
    v->speed_limit_kn = d->speed_limit_kn;
    v->st = d->st;
    v->attrs_len = d->attrs_len <= sizeof v->attrs ? d->attrs_len : 0;
    if (v->attrs_len) memcpy(v->attrs, d->attrs, v->attrs_len);
    live_unlock(d);
}

const char *model_status_name(live_status s) {
    return s == LIVE_ONLINE ? "online" : s == LIVE_OFFLINE ? "offline" : "unknown";
}

void model_time(weft_json_enc *e, int64_t ms) {
    char t[32];
    size_t n = fleet_time_format(t, ms);
    weft_json_enc_str(e, (weft_str){t, n});
}

void model_raw_object(weft_json_enc *e, const char *text, size_t len) {
    /* stored attributes are JSON objects this server encoded itself (the
     * decoders write them with weft's encoder): written as they are */
    if (text && len >= 2 && text[0] == '{' && text[len - 1] == '}') {
        weft_json_enc_raw(e, (weft_str){text, len});
    } else {
        weft_json_enc_object(e);
        weft_json_enc_end(e);
    }
}

static void key(weft_json_enc *e, const char *k) { weft_json_enc_key(e, weft_str_c(k)); }

void model_device(weft_json_enc *e, const device_view *v) {
    weft_json_enc_object(e);
    key(e, "id"), weft_json_enc_int(e, v->id);
    key(e, "name"), weft_json_enc_str(e, weft_str_c(v->name));
    key(e, "uniqueId"), weft_json_enc_str(e, weft_str_c(v->unique_id));
    key(e, "status"), weft_json_enc_str(e, weft_str_c(model_status_name(v->st.status)));
    key(e, "disabled"), weft_json_enc_bool(e, v->disabled);
    key(e, "lastUpdate");
    if (v->st.last_seen_ms) model_time(e, v->st.last_seen_ms);
    else weft_json_enc_null(e);
    key(e, "positionId"), weft_json_enc_null(e);
    key(e, "groupId");
    if (v->group_id) weft_json_enc_int(e, v->group_id);
    else weft_json_enc_null(e);
    key(e, "category"), weft_json_enc_str(e, weft_str_c(v->category));
    key(e, "speedLimit"), weft_json_enc_double(e, v->speed_limit_kn);
    key(e, "motion"), weft_json_enc_str(e, v->st.has_fix ? (v->st.moving ? WEFT_STR("moving") : WEFT_STR("stopped")) : WEFT_STR("unknown"));
    key(e, "motionSince");
    if (v->st.motion_since_ms) model_time(e, v->st.motion_since_ms);
    else weft_json_enc_null(e);
    key(e, "ignition");
    if (v->st.ignition == FLEET_UNKNOWN) weft_json_enc_null(e);
    else weft_json_enc_bool(e, v->st.ignition);
    key(e, "distanceToday"), weft_json_enc_double(e, v->st.distance_today_m);
    weft_json_enc_end(e);
}

int model_live_position(weft_json_enc *e, const device_view *v) {
    const live_state *s = &v->st;
    if (!s->has_fix) return 0;
    weft_json_enc_object(e);
    key(e, "deviceId"), weft_json_enc_int(e, v->id);
    key(e, "protocol"), weft_json_enc_str(e, weft_str_c(s->protocol));
    key(e, "serverTime"), model_time(e, s->server_ms);
    char t[32]; /* deviceTime and fixTime: the same text, made once */
    weft_str ft = {t, fleet_time_format(t, s->fix_ms)};
    key(e, "deviceTime"), weft_json_enc_str(e, ft);
    key(e, "fixTime"), weft_json_enc_str(e, ft);
    key(e, "valid"), weft_json_enc_bool(e, s->valid);
    key(e, "latitude"), weft_json_enc_double(e, s->lat);
    key(e, "longitude"), weft_json_enc_double(e, s->lon);
    key(e, "altitude"), weft_json_enc_double(e, s->altitude);
    key(e, "speed"), weft_json_enc_double(e, s->speed_kn);
    key(e, "course"), weft_json_enc_double(e, s->course);
    key(e, "accuracy"), weft_json_enc_double(e, s->accuracy);
    key(e, "attributes"), model_raw_object(e, v->attrs, v->attrs_len);
    weft_json_enc_end(e);
    return 1;
}

void model_position_row(weft_json_enc *e, const weft_db_rows *r, int i) {
    weft_json_enc_object(e);
    key(e, "id"), weft_json_enc_int(e, weft_db_int(r, i, 12));
    key(e, "deviceId"), weft_json_enc_int(e, weft_db_int(r, i, 0));
    key(e, "protocol"), weft_json_enc_str(e, weft_str_c(weft_db_text(r, i, 1, NULL)));
    key(e, "serverTime"), model_time(e, weft_db_int(r, i, 3));
    key(e, "deviceTime"), model_time(e, weft_db_int(r, i, 2));
    key(e, "fixTime"), model_time(e, weft_db_int(r, i, 2));
    key(e, "valid"), weft_json_enc_bool(e, weft_db_int(r, i, 10) != 0);
    key(e, "latitude"), weft_json_enc_double(e, weft_db_double(r, i, 4));
    key(e, "longitude"), weft_json_enc_double(e, weft_db_double(r, i, 5));
    key(e, "altitude"), weft_json_enc_double(e, weft_db_double(r, i, 8));
    key(e, "speed"), weft_json_enc_double(e, weft_db_double(r, i, 6));
    key(e, "course"), weft_json_enc_double(e, weft_db_double(r, i, 7));
    key(e, "accuracy"), weft_json_enc_double(e, weft_db_double(r, i, 9));
    size_t n;
    const char *a = weft_db_text(r, i, 11, &n);
    key(e, "attributes"), model_raw_object(e, a, n);
    weft_json_enc_end(e);
}

static void event_common(weft_json_enc *e, int64_t id, int64_t device_id, const char *type, int64_t t,
                         double lat, double lon, int64_t geofence_id) {
    key(e, "id"), weft_json_enc_int(e, id);
    key(e, "type"), weft_json_enc_str(e, weft_str_c(type));
    key(e, "eventTime"), model_time(e, t);
    key(e, "deviceId"), weft_json_enc_int(e, device_id);
    key(e, "positionId"), weft_json_enc_int(e, 0);
    key(e, "geofenceId"), weft_json_enc_int(e, geofence_id);
    key(e, "latitude");
    if (isnan(lat)) weft_json_enc_null(e);
    else weft_json_enc_double(e, lat);
    key(e, "longitude");
    if (isnan(lon)) weft_json_enc_null(e);
    else weft_json_enc_double(e, lon);
}

void model_event_row(weft_json_enc *e, const weft_db_rows *r, int i) {
    weft_json_enc_object(e);
    event_common(e, weft_db_int(r, i, 0), weft_db_int(r, i, 1), weft_db_text(r, i, 2, NULL), weft_db_int(r, i, 3),
                 weft_db_isnull(r, i, 4) ? NAN : weft_db_double(r, i, 4),
                 weft_db_isnull(r, i, 5) ? NAN : weft_db_double(r, i, 5), weft_db_int(r, i, 6));
    size_t n;
    const char *a = weft_db_text(r, i, 7, &n);
    key(e, "attributes"), model_raw_object(e, a, n);
    int acked = !weft_db_isnull(r, i, 8);
    model_ack_fields(e, acked ? weft_db_int(r, i, 8) : 0, acked ? weft_db_int(r, i, 9) : 0,
                     acked ? weft_db_text(r, i, 10, NULL) : NULL);
    weft_json_enc_end(e);
}

void model_ack_fields(weft_json_enc *e, int64_t ack_ms, int64_t user_id, const char *user_name) {
    key(e, "ackTime");
    if (ack_ms) model_time(e, ack_ms);
    else weft_json_enc_null(e);
    key(e, "ackUserId");
    if (ack_ms && user_id) weft_json_enc_int(e, user_id);
    else weft_json_enc_null(e);
    key(e, "ackUserName");
    if (ack_ms && user_name) weft_json_enc_str(e, weft_str_c(user_name));
    else weft_json_enc_null(e);
}

void model_event(weft_json_enc *e, int64_t id, int64_t device_id, const fleet_event *ev) {
    weft_json_enc_object(e);
    event_common(e, id, device_id, fleet_event_name(ev->type), ev->time_ms, ev->lat, ev->lon, ev->geofence_id);
    key(e, "attributes");
    weft_json_enc_object(e);
    if (ev->type == EV_OVERSPEED) {
        key(e, "speed"), weft_json_enc_double(e, ev->speed_kn);
        key(e, "speedLimit"), weft_json_enc_double(e, ev->limit_kn);
    } else if (ev->type == EV_ALARM) {
        key(e, "alarm"), weft_json_enc_str(e, weft_str_c(fleet_alarm_name(ev->alarm)));
    }
    weft_json_enc_end(e);
    model_ack_fields(e, 0, 0, NULL); /* new: not acknowledged */
    weft_json_enc_end(e);
}
