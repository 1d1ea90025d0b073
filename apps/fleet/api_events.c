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
 *
 *   GET /api/events/count?deviceId=&groupId=&type=&from=&to=&acknowledged=
 *
 * How many events the same filter as the list selects, without sending
 * them: {"total": N, "types": {"deviceOverspeed": n, ...}} (every asked
 * type, 0 included; without ?type=, the types that occur). The dashboard's
 * "alerts today" tile.
 *
 *   POST /api/events/ack?deviceId=&groupId=&type=&from=&to=&maxId=
 *   POST /api/events/ack  {"ids": [1, 2, ...]}
 *
 * "Acknowledge all": every open event the filter selects (the list's
 * parameters; `to` is required, and maxId bounds the ids, so events that
 * arrive while the dispatcher confirms stay open), or the listed ids (at
 * most ACK_IDS_MAX; ids the user may not see or already acknowledged are
 * left alone). The ids or the filter, never both, and no other parameter
 * (acknowledged, limit, ...): each is 400 naming it, because a client that
 * sends one believes it narrows what gets acknowledged, and an ignored
 * narrowing acknowledges more than the dispatcher saw. A body must be
 * {"ids": [...]}. One UPDATE statement, so one transaction: all or nothing.
 * Answers {"count": n, "ids": [...], "ackTime", "ackUserId",
 * "ackUserName"} and pushes the acks on the live socket like a single one.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
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

/* What the list, the count and "acknowledge all" select. */
typedef struct ev_filter {
    int64_t ids[MAX_DEVICES];
    int nids;
    int64_t group, from, to, max_id;
    unsigned types; /* 1 << fleet_event_type; 0 any */
    int ack;        /* -1 any, 0 open, 1 acknowledged */
} ev_filter;

/* The filter's query parameters, each checked (400), and every device or
 * group named visible to u (404). `to_required`: 400 without ?to=. 0 or -1
 * (answered). */
static int filter_parse(fleet *f, weft_http_ctx *c, const api_user *u, ev_filter *q, int to_required) {
    int64_t now = fleet_now_ms();
    q->from = now - 86400000, q->to = now, q->group = 0, q->max_id = 0, q->ack = -1;
    int has_to;
    if ((q->nids = api_q_ids(c, "deviceId", q->ids, MAX_DEVICES)) < 0 || api_q_i64(c, "groupId", &q->group) < 0 ||
        api_q_time(c, "from", &q->from) < 0 || (has_to = api_q_time(c, "to", &q->to)) < 0 ||
        api_q_i64(c, "maxId", &q->max_id) < 0)
        return -1;
    if (to_required && !has_to)
        return api_fail(c, 400, "to is required: the time up to which events are acknowledged");
    if (q->from > q->to) return api_fail(c, 400, "from must not be after to");
    weft_str ackq = weft_http_query(c, "acknowledged");
    if (ackq.p) {
        if (weft_str_eq(ackq, WEFT_STR("true")) || weft_str_eq(ackq, WEFT_STR("1"))) q->ack = 1;
        else if (weft_str_eq(ackq, WEFT_STR("false")) || weft_str_eq(ackq, WEFT_STR("0"))) q->ack = 0;
        else return api_fail(c, 400, "acknowledged must be true or false");
    }
    if (types_of(c, &q->types) < 0) return -1;
    for (int i = 0; i < q->nids; i++)
        if (!api_device_visible(f, u, q->ids[i])) return api_fail(c, 404, "no such device %lld", (long long)q->ids[i]);
    if (q->group && !api_user_sees_group(u, q->group)) return api_fail(c, 404, "no such group");
    return 0;
}

/* Which devices u may see, as " AND device_id IN (...)" (nothing for an
 * admin). */
static void sql_visible(weft_buf *sql, const api_user *u, weft_db_arg *a, int *na) {
    if (api_user_sees_all(u)) return;
    weft_buf_appends(sql, " AND device_id IN (SELECT id FROM devices WHERE group_id IN (");
    api_sql_groups(sql, u, a, na);
    weft_buf_appends(sql, "))");
}

/* The filter as "event_time >= $k AND ..." appended to sql, its arguments
 * to a[*na..] (room for MAX_DEVICES + API_USER_GROUPS_MAX + EV__COUNT + 3).
 * The types come first and the range second, the order of the
 * (type, event_time, device_id) index (store.c, migration 4). */
static void filter_sql(weft_buf *sql, const ev_filter *q, const api_user *u, weft_db_arg *a, int *na) {
    if (q->types) {
        weft_buf_appends(sql, "type IN (");
        const char *sep = "";
        for (int t = 1; t < EV__COUNT; t++) {
            if (!(q->types & 1u << t)) continue;
            weft_buf_printf(sql, "%s$%d", sep, *na + 1);
            a[(*na)++] = WEFT_DB_TEXT(fleet_event_name((fleet_event_type)t));
            sep = ", ";
        }
        weft_buf_appends(sql, ") AND ");
    }
    weft_buf_printf(sql, "event_time >= $%d AND event_time <= $%d", *na + 1, *na + 2);
    a[(*na)++] = WEFT_DB_INT(q->from), a[(*na)++] = WEFT_DB_INT(q->to);
    if (q->nids) {
        weft_buf_appends(sql, " AND device_id IN (");
        for (int i = 0; i < q->nids; i++) {
            weft_buf_printf(sql, "%s$%d", i ? ", " : "", *na + 1);
            a[(*na)++] = WEFT_DB_INT(q->ids[i]);
        }
        weft_buf_appends(sql, ")");
    } else if (q->group) {
        weft_buf_printf(sql, " AND device_id IN (SELECT id FROM devices WHERE group_id = $%d)", *na + 1);
        a[(*na)++] = WEFT_DB_INT(q->group);
    } else {
        sql_visible(sql, u, a, na);
    }
    if (q->max_id > 0) {
        weft_buf_printf(sql, " AND id <= $%d", *na + 1);
        a[(*na)++] = WEFT_DB_INT(q->max_id);
    }
    if (q->ack >= 0) weft_buf_appends(sql, q->ack ? " AND ack_time IS NOT NULL" : " AND ack_time IS NULL");
}

#define FILTER_ARGS (MAX_DEVICES + API_USER_GROUPS_MAX + EV__COUNT + 8)

static int events(weft_http_ctx *c, void *ud) {
    fleet *f = ud;
    api_user u;
    if (api_auth(f, c, &u, API_READ) < 0) return 0;
    int fmt = api_format_of(c, 1u << FMT_JSON | 1u << FMT_CSV);
    if (fmt < 0) return 0;
    int64_t limit, offset;
    ev_filter q;
    if (filter_parse(f, c, &u, &q, 0) < 0 || api_page(c, API_PAGE_DEFAULT, API_ROWS_MAX, &limit, &offset) < 0)
        return 0;
    weft_str order = weft_http_query(c, "order");
    int desc = 0;
    if (order.p) {
        if (weft_str_eq(order, WEFT_STR("desc"))) desc = 1;
        else if (!weft_str_eq(order, WEFT_STR("asc"))) return api_fail(c, 400, "order must be asc or desc"), 0;
    }
    weft_buf sql;
    weft_buf_init(&sql, 0);
    weft_db_arg a[FILTER_ARGS];
    int na = 0;
    weft_buf_appends(&sql, "SELECT " MODEL_EVENT_COLS " FROM events WHERE ");
    filter_sql(&sql, &q, &u, a, &na);
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
        feed_ack one = {id, device_id, d->group_id};
        live_unlock(d);
        feed_publish_acks(f, &one, 1, now, u.id, u.name);
    }
    weft_json_enc *j = weft_http_json_begin(c, 200);
    model_event_row(j, r, 0);
    weft_db_rows_free(r);
    return weft_http_json_end(c);
}

void (*api_events_count_sql_hook)(const char *sql, int nargs);

/* GET /api/events/count. With the types given (the dashboard always gives
 * them), SQLite and PostgreSQL count within the (type, event_time,
 * device_id) index: one range per type, the device filter read from the
 * index too, no table row touched (tests/unit/fleet_api.c checks SQLite's
 * plan with EXPLAIN QUERY PLAN). */
static int count(weft_http_ctx *c, void *ud) {
    fleet *f = ud;
    api_user u;
    if (api_auth(f, c, &u, API_READ) < 0) return 0;
    ev_filter q;
    if (filter_parse(f, c, &u, &q, 0) < 0) return 0;
    weft_buf sql;
    weft_buf_init(&sql, 0);
    weft_db_arg a[FILTER_ARGS];
    int na = 0;
    weft_buf_appends(&sql, "SELECT type, COUNT(*) FROM events WHERE ");
    filter_sql(&sql, &q, &u, a, &na);
    weft_buf_appends(&sql, " GROUP BY type");
    if (api_events_count_sql_hook) api_events_count_sql_hook(sql.data, na);
    weft_db_rows *r = NULL;
    weft_db_err e;
    int rc = sql.data ? store_query(f->db, sql.data, a, na, &r, &e) : WEFT_ENOMEM;
    weft_buf_free(&sql);
    if (rc < 0) return api_fail_db(c, rc, &e), 0;
    int64_t by[EV__COUNT] = {0}, total = 0;
    for (int i = 0; i < weft_db_nrows(r); i++) {
        fleet_event_type t = fleet_event_parse(weft_db_text(r, i, 0, NULL));
        int64_t n = weft_db_int(r, i, 1);
        total += n;
        if (t) by[t] += n;
    }
    weft_db_rows_free(r);
    weft_json_enc *j = weft_http_json_begin(c, 200);
    weft_json_enc_object(j);
    weft_json_enc_key(j, WEFT_STR("total")), weft_json_enc_int(j, total);
    weft_json_enc_key(j, WEFT_STR("types"));
    weft_json_enc_object(j);
    for (int t = 1; t < EV__COUNT; t++) {
        if (q.types ? !(q.types & 1u << t) : !by[t]) continue;
        weft_json_enc_key(j, weft_str_c(fleet_event_name((fleet_event_type)t)));
        weft_json_enc_int(j, by[t]);
    }
    weft_json_enc_end(j);
    weft_json_enc_end(j);
    return weft_http_json_end(c);
}

#define ACK_IDS_MAX 1000

/* The "ids" of POST /api/events/ack's body into ids[0..ACK_IDS_MAX): their
 * count (0 when there is no body), or -1 answered 400. */
static int ack_ids(weft_http_ctx *c, int64_t *ids) {
    api_body b;
    if (api_body_open(c, &b) < 0) return -1;
    const weft_json *l = b.json ? weft_json_get(b.json, "ids") : NULL;
    if (!l) {
        if (!b.json && !weft_str_trim(weft_http_body(c)).n) return 0;
        return api_fail_field(c, 400, "ids",
                              "the body must be {\"ids\": [...]} (to acknowledge what a filter selects, "
                              "send the filter as query parameters and no body)");
    }
    if (l->type != WEFT_JSON_ARRAY || l->len == 0 || l->len > ACK_IDS_MAX)
        return api_fail_field(c, 400, "ids", "ids must be an array of 1 to %d event ids", ACK_IDS_MAX);
    for (uint32_t i = 0; i < l->len; i++)
        if (weft_json_int(weft_json_at(l, i), &ids[i]) != 0 || ids[i] <= 0)
            return api_fail_field(c, 400, "ids", "ids[%u] is not an event id", i);
    return (int)l->len;
}

/* The query parameters of "acknowledge all" by filter (filter_parse). */
static const char *const ack_filter_params[] = {"deviceId", "groupId", "type", "from", "to", "maxId"};
#define ACK_FILTER_NPARAMS (sizeof ack_filter_params / sizeof *ack_filter_params)

/* Answers 400 for a query parameter "acknowledge all" does not take, and,
 * with ids in the body, for the filter's parameters given too (each named
 * once, in the order sent). 0, or -1 answered. */
static int ack_query_check(weft_http_ctx *c, int by_ids) {
    weft_str q = weft_http_raw_query(c);
    unsigned seen = 0;
    char named[96];
    size_t len = 0;
    named[0] = 0;
    while (q.n) {
        weft_str pair, key;
        q = weft_str_cut(q, '&', &pair);
        (void)weft_str_cut(pair, '=', &key);
        if (!key.n) continue;
        size_t k = 0;
        while (k < ACK_FILTER_NPARAMS && !weft_str_eq(key, weft_str_c(ack_filter_params[k]))) k++;
        if (k == ACK_FILTER_NPARAMS)
            return api_fail(c, 400,
                            "unknown parameter %.*s: POST /api/events/ack takes deviceId, groupId, type, from, to "
                            "and maxId, or a body {\"ids\": [...]}",
                            (int)(key.n < 64 ? key.n : 64), key.p);
        if (!by_ids || seen & 1u << k) continue;
        seen |= 1u << k;
        len += (size_t)snprintf(named + len, sizeof named - len, "%s%s", len ? ", " : "", ack_filter_params[k]);
    }
    if (seen)
        return api_fail(c, 400,
                        "ids cannot be combined with the filter parameters %s: send the ids alone, or the filter "
                        "alone without a body",
                        named);
    return 0;
}

static int ack_all(weft_http_ctx *c, void *ud) {
    fleet *f = ud;
    api_user u;
    if (api_auth(f, c, &u, API_WRITE) < 0) return 0;
    int64_t *ids = malloc(ACK_IDS_MAX * sizeof *ids);
    weft_db_arg *a = malloc((ACK_IDS_MAX + FILTER_ARGS) * sizeof *a);
    ev_filter *q = malloc(sizeof *q);
    feed_ack *acks = NULL;
    weft_db_rows *r = NULL;
    weft_buf sql;
    weft_buf_init(&sql, 0);
    int nids, rc = WEFT_ENOMEM;
    if (!ids || !a || !q) goto out;
    rc = 0;
    if ((nids = ack_ids(c, ids)) < 0 || ack_query_check(c, nids > 0) < 0) goto out;
    int64_t now = fleet_now_ms();
    int na = 3;
    a[0] = WEFT_DB_INT(now), a[1] = WEFT_DB_INT(u.id), a[2] = WEFT_DB_TEXT(u.name);
    weft_buf_appends(&sql, "UPDATE events SET ack_time = $1, ack_user_id = $2, ack_user_name = $3 WHERE ");
    if (nids) {
        weft_buf_appends(&sql, "id IN (");
        for (int i = 0; i < nids; i++) {
            weft_buf_printf(&sql, "%s$%d", i ? ", " : "", na + 1);
            a[na++] = WEFT_DB_INT(ids[i]);
        }
        weft_buf_appends(&sql, ")");
        sql_visible(&sql, &u, a, &na);
    } else {
        if (filter_parse(f, c, &u, q, 1) < 0) goto out;
        filter_sql(&sql, q, &u, a, &na); /* q->ack is -1: ?acknowledged= was refused; the open ones, below */
    }
    weft_buf_appends(&sql, " AND ack_time IS NULL RETURNING id, device_id");
    weft_db_err e;
    if (!sql.data) {
        rc = WEFT_ENOMEM;
        goto out;
    }
    if ((rc = store_query(f->db, sql.data, a, na, &r, &e)) < 0) {
        api_fail_db(c, rc, &e);
        rc = 0;
        goto out;
    }
    int n = weft_db_nrows(r);
    if (n && !(acks = malloc((size_t)n * sizeof *acks))) {
        rc = WEFT_ENOMEM;
        goto out;
    }
    for (int i = 0; i < n; i++) {
        acks[i].event_id = weft_db_int(r, i, 0), acks[i].device_id = weft_db_int(r, i, 1), acks[i].group_id = -1;
        live_device *d = live_by_id(f->devices, acks[i].device_id);
        if (!d) continue; /* deleted meanwhile: nobody sees it */
        live_lock(d);
        acks[i].group_id = d->group_id;
        live_unlock(d);
    }
    feed_publish_acks(f, acks, n, now, u.id, u.name);
    weft_json_enc *j = weft_http_json_begin(c, 200);
    weft_json_enc_object(j);
    weft_json_enc_key(j, WEFT_STR("count")), weft_json_enc_int(j, n);
    weft_json_enc_key(j, WEFT_STR("ids"));
    weft_json_enc_array(j);
    for (int i = 0; i < n; i++) weft_json_enc_int(j, acks[i].event_id);
    weft_json_enc_end(j);
    model_ack_fields(j, now, u.id, u.name);
    weft_json_enc_end(j);
    rc = weft_http_json_end(c);
out:
    weft_db_rows_free(r);
    weft_buf_free(&sql);
    free(acks), free(q), free(a), free(ids);
    return rc;
}

int api_routes_events(weft_http_router *r, fleet *f) {
    int rc = weft_http_route(r, "GET", "/api/events", events, f);
    rc |= weft_http_route(r, "GET", "/api/events/count", count, f);
    rc |= weft_http_route(r, "POST", "/api/events/ack", ack_all, f);
    rc |= weft_http_route(r, "POST", "/api/events/{id}/ack", ack, f);
    rc |= weft_http_route(r, "GET", "/api/reports/events", events, f);
    return rc;
}
