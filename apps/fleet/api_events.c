/*
 * apps/fleet/api_events.c — /api/events (and Traccar's /api/reports/events):
 *
 *   GET /api/events?deviceId=&groupId=&type=&from=&to=&limit=&offset=
 *
 * deviceId may repeat (each must be visible: another group's device is
 * 404); without deviceId and groupId, the events of every visible device.
 * type is one of Traccar's event names (deviceOnline, geofenceEnter, ...).
 * from/to default to the last 24 hours; from <= eventTime <= to, oldest
 * first. JSON (Traccar's event objects) or CSV.
 */
#include <inttypes.h>
#include <stdio.h>

#include "api_int.h"

#define MAX_DEVICES 256

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
    weft_str type = weft_http_query(c, "type");
    const char *type_c = NULL;
    if (type.p) {
        type_c = weft_arena_strndup(weft_http_arena(c), type.p, type.n);
        if (!fleet_event_parse(type_c)) return api_fail(c, 400, "type: unknown event type %s", type_c), 0;
    }
    for (int i = 0; i < nids; i++)
        if (!api_device_visible(f, &u, ids[i])) return api_fail(c, 404, "no such device %lld", (long long)ids[i]), 0;
    if (group && !api_user_sees_group(&u, group)) return api_fail(c, 404, "no such group"), 0;

    weft_buf sql;
    weft_buf_init(&sql, 0);
    weft_db_arg a[MAX_DEVICES + API_USER_GROUPS_MAX + 8];
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
    if (type_c) {
        weft_buf_printf(&sql, " AND type = $%d", na + 1);
        a[na++] = WEFT_DB_TEXT(type_c);
    }
    weft_db_rows *r;
    int n;
    if (api_page_query(f, c, &sql, "event_time, id", a, na, limit, offset, &r, &n) < 0) return 0;
    if (fmt == FMT_CSV) {
        weft_buf *b = weft_http_body_buf(c);
        weft_buf_appends(b, "id,deviceId,type,eventTime,latitude,longitude,geofenceId\n");
        for (int i = 0; i < n; i++) {
            char t[32];
            fleet_time_format(t, weft_db_int(r, i, 3));
            weft_buf_printf(b, "%" PRId64 ",%" PRId64 ",%s,%s,", weft_db_int(r, i, 0), weft_db_int(r, i, 1),
                            weft_db_text(r, i, 2, NULL), t);
            if (weft_db_isnull(r, i, 4)) weft_buf_appends(b, ",");
            else weft_buf_printf(b, "%.7f,%.7f", weft_db_double(r, i, 4), weft_db_double(r, i, 5));
            weft_buf_printf(b, ",%" PRId64 "\n", weft_db_int(r, i, 6));
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

int api_routes_events(weft_http_router *r, fleet *f) {
    int rc = weft_http_route(r, "GET", "/api/events", events, f);
    rc |= weft_http_route(r, "GET", "/api/reports/events", events, f);
    return rc;
}
