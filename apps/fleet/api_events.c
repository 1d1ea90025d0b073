/*
 * apps/fleet/api_events.c — /api/events (and Traccar's /api/reports/events):
 *
 *   GET /api/events?deviceId=&groupId=&type=&from=&to=&limit=&offset=
 *
 * deviceId may repeat (each must be visible: another group's device is
 * 404); without deviceId and groupId, the events of every visible device.
 * type is one of Traccar's event names (deviceOnline, geofenceEnter, ...)
 * and may repeat, like Traccar's reports/events (any of them).
 * from/to default to the last 24 hours; from <= eventTime <= to, oldest
 * first (order=desc: newest first, what a feed of recent alerts wants).
 * JSON (Traccar's event objects) or CSV. acknowledged=true|false keeps only
 * the acknowledged or the open ones.
 *
 *   POST /api/events/{id}/ack
 *
 * Acknowledges an event for everyone who sees it (not per browser): the
 * user and the time are recorded with the event and pushed on the live
 * socket ({"acks":[...]}, feed.c) so every open dashboard of the device's
 * audience marks it read. Idempotent: acknowledging again answers 200 with
 * the first acknowledgement, unchanged. Any signed-in role may acknowledge
 * an event of a device it sees, viewers too: an acknowledgement is the
 * dispatcher's "seen, on it", not a change to the fleet's configuration (a
 * viewer's readonly still holds for devices, geofences, users). An event of
 * a device the user may not see is 404, like one that does not exist.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "api_int.h"
#include "feed.h"

#define MAX_DEVICES 256

/* Every ?type= (repeatable) as a bit set of 1 << fleet_event_type; 0 when
 * none is given, -1 answered 400. */
static int types_of(weft_http_ctx *c, unsigned *set) {
    weft_str q = weft_http_raw_query(c);
    *set = 0;
    while (q.n) {
        weft_str pair, key;
        q = weft_str_cut(q, '&', &pair);
        weft_str val = weft_str_cut(pair, '=', &key);
        if (!key.p || !weft_str_eq(key, WEFT_STR("type"))) continue;
        char name[32];
        fleet_event_type t = 0;
        if (val.n < sizeof name) {
            memcpy(name, val.p, val.n);
            name[val.n] = 0;
            t = fleet_event_parse(name);
        }
        if (!t) return api_fail(c, 400, "type: unknown event type %.*s", (int)(val.n < 64 ? val.n : 64), val.p);
        *set |= 1u << t;
    }
    return 0;
}

static int events(weft_http_ctx *c, void *ud) {
    fleet *f = ud;
    api_user u;
    if (api_auth(f, c, &u, API_READ) < 0) return 0;
    int fmt = api_format_of(c, 1u << FMT_JSON | 1u << FMT_CSV);
    if (fmt < 0) return 0;
    int64_t ids[MAX_DEVICES], group = 0, limit, offset, now = fleet_now_ms(), from = now - 86400000, to = now;
    int nids = api_q_ids(c, "deviceId", ids, MAX_DEVICES);
    if (nids < 0 || api_q_i64(c, "groupId", &group) < 0 || api_q_time(c, "from", &from) < 0 ||
        api_q_time(c, "to", &to) < 0 || api_page(c, API_PAGE_DEFAULT, API_ROWS_MAX, &limit, &offset) < 0)
        return 0;
    if (from > to) return api_fail(c, 400, "from must not be after to"), 0;
    weft_str ackq = weft_http_query(c, "acknowledged");
    int ack_filter = -1; /* -1 any, 0 open, 1 acknowledged */
    if (ackq.p) {
        if (weft_str_eq(ackq, WEFT_STR("true")) || weft_str_eq(ackq, WEFT_STR("1"))) ack_filter = 1;
        else if (weft_str_eq(ackq, WEFT_STR("false")) || weft_str_eq(ackq, WEFT_STR("0"))) ack_filter = 0;
        else return api_fail(c, 400, "acknowledged must be true or false"), 0;
    }
    unsigned types;
    if (types_of(c, &types) < 0) return 0;
    weft_str order = weft_http_query(c, "order");
    int desc = 0;
    if (order.p) {
        if (weft_str_eq(order, WEFT_STR("desc"))) desc = 1;
        else if (!weft_str_eq(order, WEFT_STR("asc"))) return api_fail(c, 400, "order must be asc or desc"), 0;
    }
    for (int i = 0; i < nids; i++)
        if (!api_device_visible(f, &u, ids[i])) return api_fail(c, 404, "no such device %lld", (long long)ids[i]), 0;
    if (group && !api_user_sees_group(&u, group)) return api_fail(c, 404, "no such group"), 0;

    weft_buf sql;
    weft_buf_init(&sql, 0);
    weft_db_arg a[MAX_DEVICES + API_USER_GROUPS_MAX + EV__COUNT + 8];
    int na = 2;
    a[0] = WEFT_DB_INT(from), a[1] = WEFT_DB_INT(to);
    weft_buf_appends(&sql, "SELECT " MODEL_EVENT_COLS " FROM events WHERE event_time >= $1 AND event_time <= $2");
    if (nids) {
        weft_buf_appends(&sql, " AND device_id IN (");
        for (int i = 0; i < nids; i++) {
            weft_buf_printf(&sql, "%s$%d", i ? ", " : "", na + 1);
            a[na++] = WEFT_DB_INT(ids[i]);
        }
        weft_buf_appends(&sql, ")");
    } else if (group) {
        weft_buf_printf(&sql, " AND device_id IN (SELECT id FROM devices WHERE group_id = $%d)", na + 1);
        a[na++] = WEFT_DB_INT(group);
    } else if (!api_user_sees_all(&u)) {
        weft_buf_appends(&sql, " AND device_id IN (SELECT id FROM devices WHERE group_id IN (");
        api_sql_groups(&sql, &u, a, &na);
        weft_buf_appends(&sql, "))");
    }
    if (types) {
        weft_buf_appends(&sql, " AND type IN (");
        const char *sep = "";
        for (int t = 1; t < EV__COUNT; t++) {
            if (!(types & 1u << t)) continue;
            weft_buf_printf(&sql, "%s$%d", sep, na + 1);
            a[na++] = WEFT_DB_TEXT(fleet_event_name((fleet_event_type)t));
            sep = ", ";
        }
        weft_buf_appends(&sql, ")");
    }
    if (ack_filter >= 0) weft_buf_appends(&sql, ack_filter ? " AND ack_time IS NOT NULL" : " AND ack_time IS NULL");
    weft_db_rows *r;
    int n;
    if (api_page_query(f, c, &sql, desc ? "event_time DESC, id DESC" : "event_time, id", a, na, limit, offset, &r, &n) < 0) return 0;
    if (fmt == FMT_CSV) {
        weft_buf *b = weft_http_body_buf(c);
        weft_buf_appends(b, "id,deviceId,type,eventTime,latitude,longitude,geofenceId,ackTime,ackUserId\n");
        for (int i = 0; i < n; i++) {
            char t[32];
            fleet_time_format(t, weft_db_int(r, i, 3));
            weft_buf_printf(b, "%" PRId64 ",%" PRId64 ",%s,%s,", weft_db_int(r, i, 0), weft_db_int(r, i, 1),
                            weft_db_text(r, i, 2, NULL), t);
            if (weft_db_isnull(r, i, 4)) weft_buf_appends(b, ",");
            else weft_buf_printf(b, "%.7f,%.7f", weft_db_double(r, i, 4), weft_db_double(r, i, 5));
            weft_buf_printf(b, ",%" PRId64 ",", weft_db_int(r, i, 6));
            if (weft_db_isnull(r, i, 8)) weft_buf_appends(b, ",\n");
            else {
                fleet_time_format(t, weft_db_int(r, i, 8));
                weft_buf_printf(b, "%s,%" PRId64 "\n", t, weft_db_int(r, i, 9));
            }
        }
        weft_db_rows_free(r);
        weft_http_set_content_type(c, "text/csv; charset=utf-8");
        weft_http_set_status(c, 200);
        return 0;
    }
    weft_json_enc *j = weft_http_json_begin(c, 200);
    weft_json_enc_array(j);
    for (int i = 0; i < n; i++) model_event_row(j, r, i);
    weft_json_enc_end(j);
    weft_db_rows_free(r);
    return weft_http_json_end(c);
}

static int ack(weft_http_ctx *c, void *ud) {
    fleet *f = ud;
    api_user u;
    if (api_auth(f, c, &u, API_WRITE) < 0) return 0;
    int64_t id;
    if (weft_str_to_i64(weft_http_param(c, "id"), &id) != 0 || id <= 0) return api_fail(c, 404, "no such event"), 0;
    weft_db_arg a[4] = {WEFT_DB_INT(id)};
    int64_t device_id;
    weft_db_err e;
    int rc = store_query_i64(f->db, "SELECT device_id FROM events WHERE id = $1", a, 1, &device_id, &e);
    if (rc == WEFT_ENOENT) return api_fail(c, 404, "no such event"), 0;
    if (rc < 0) return api_fail_db(c, rc, &e), 0;
    live_device *d = api_device_visible(f, &u, device_id);
    if (!d) return api_fail(c, 404, "no such event"), 0;
    /* the first acknowledgement stays: a second one changes nothing */
    int64_t now = fleet_now_ms(), changed = 0;
    weft_db_arg up[] = {WEFT_DB_INT(now), WEFT_DB_INT(u.id), WEFT_DB_TEXT(u.name), WEFT_DB_INT(id)};
    rc = store_exec(f->db,
                    "UPDATE events SET ack_time = $1, ack_user_id = $2, ack_user_name = $3 "
                    "WHERE id = $4 AND ack_time IS NULL",
                    up, 4, &changed, &e);
    if (rc < 0) return api_fail_db(c, rc, &e), 0;
    weft_db_rows *r = api_one_row(f, c, "SELECT " MODEL_EVENT_COLS " FROM events WHERE id = $1", a, 1, "event");
    if (!r) return 0; /* deleted meanwhile (its device went) */
    if (changed == 1) {
        live_lock(d);
        int64_t group = d->group_id;
        live_unlock(d);
        feed_publish_ack(f, id, device_id, group, now, u.id, u.name);
    }
    weft_json_enc *j = weft_http_json_begin(c, 200);
    model_event_row(j, r, 0);
    weft_db_rows_free(r);
    return weft_http_json_end(c);
}

int api_routes_events(weft_http_router *r, fleet *f) {
    int rc = weft_http_route(r, "GET", "/api/events", events, f);
    rc |= weft_http_route(r, "POST", "/api/events/{id}/ack", ack, f);
    rc |= weft_http_route(r, "GET", "/api/reports/events", events, f);
    return rc;
}
