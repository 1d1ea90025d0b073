/*
 * apps/fleet/api_positions.c — /api/positions and the position formats.
 *
 *   GET /api/positions                       the latest position of every visible
 *                                            device (from the live table, no store query)
 *   GET /api/positions?deviceId=N            that device's latest
 *   GET /api/positions?deviceId=N&from=&to=  its history, from <= fixTime <= to, by fix
 *                                            time, through the (device_id, fix_time)
 *                                            index with LIMIT/OFFSET
 *
 * Formats, by ?format=json|geojson|gpx|csv or else the Accept header
 * (application/json, application/geo+json, application/gpx+xml, text/csv):
 * JSON is Traccar's position array (model.c); GeoJSON a FeatureCollection of
 * Points; GPX 1.1 one <trk> per device (speed in knots and course in
 * <extensions>); CSV a header line and one row per position.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"

void api_pos_from_row(api_pos *p, const weft_db_rows *r, int i) {
    p->device_id = weft_db_int(r, i, 0);
    p->protocol = weft_db_text(r, i, 1, NULL);
    p->fix_ms = weft_db_int(r, i, 2), p->server_ms = weft_db_int(r, i, 3);
    p->lat = weft_db_double(r, i, 4), p->lon = weft_db_double(r, i, 5);
    p->speed_kn = weft_db_double(r, i, 6), p->course = weft_db_double(r, i, 7);
    p->altitude = weft_db_double(r, i, 8), p->accuracy = weft_db_double(r, i, 9);
    p->valid = weft_db_int(r, i, 10) != 0;
    p->attrs = weft_db_text(r, i, 11, &p->attrs_len);
    p->id = weft_db_int(r, i, 12);
}

static void pos_from_view(api_pos *p, const device_view *v) {
    const live_state *s = &v->st;
    *p = (api_pos){.id = 0, .device_id = v->id, .fix_ms = s->fix_ms, .server_ms = s->server_ms, .lat = s->lat,
                   .lon = s->lon, .speed_kn = s->speed_kn, .course = s->course, .altitude = s->altitude,
                   .accuracy = s->accuracy, .valid = s->valid, .protocol = s->protocol, .attrs = v->attrs,
                   .attrs_len = v->attrs_len};
}

void api_pos_begin(api_pos_out *o, weft_http_ctx *c, api_format fmt) {
    memset(o, 0, sizeof *o);
    o->c = c, o->fmt = fmt, o->b = weft_http_body_buf(c);
    weft_http_set_status(c, 200);
    switch (fmt) {
    case FMT_JSON:
        o->e = weft_http_json_begin(c, 200);
        weft_json_enc_array(o->e);
        break;
    case FMT_GEOJSON:
        weft_http_set_content_type(c, "application/geo+json");
        weft_json_enc_init(&o->enc, o->b);
        o->e = &o->enc;
        weft_json_enc_object(o->e);
        weft_json_enc_key(o->e, WEFT_STR("type")), weft_json_enc_str(o->e, WEFT_STR("FeatureCollection"));
        weft_json_enc_key(o->e, WEFT_STR("features")), weft_json_enc_array(o->e);
        break;
    case FMT_GPX:
        weft_http_set_content_type(c, "application/gpx+xml");
        weft_buf_appends(o->b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                               "<gpx version=\"1.1\" creator=\"weft fleet\" xmlns=\"http://www.topografix.com/GPX/1/1\">\n");
        break;
    case FMT_CSV:
        weft_http_set_content_type(c, "text/csv; charset=utf-8");
        weft_buf_appends(o->b, "id,deviceId,fixTime,serverTime,latitude,longitude,speed,course,altitude,accuracy,valid,"
                               "protocol\n");
        break;
    }
}

void api_pos_row(api_pos_out *o, const api_pos *p0, const weft_db_rows *r, int i, const device_view *v) {
    api_pos tmp;
    const api_pos *p = p0;
    o->n++;
    if (o->fmt == FMT_JSON) {
        if (r) model_position_row(o->e, r, i);
        else if (v) model_live_position(o->e, v);
        return;
    }
    if (!p) {
        if (r) api_pos_from_row(&tmp, r, i);
        else pos_from_view(&tmp, v);
        p = &tmp;
    }
    char t[32], st[32];
    fleet_time_format(t, p->fix_ms);
    fleet_time_format(st, p->server_ms);
    switch (o->fmt) {
    case FMT_GEOJSON: {
        weft_json_enc *e = o->e;
        weft_json_enc_object(e);
        weft_json_enc_key(e, WEFT_STR("type")), weft_json_enc_str(e, WEFT_STR("Feature"));
        weft_json_enc_key(e, WEFT_STR("geometry")), weft_json_enc_object(e);
        weft_json_enc_key(e, WEFT_STR("type")), weft_json_enc_str(e, WEFT_STR("Point"));
        weft_json_enc_key(e, WEFT_STR("coordinates")), weft_json_enc_array(e);
        weft_json_enc_double(e, p->lon), weft_json_enc_double(e, p->lat), weft_json_enc_double(e, p->altitude);
        weft_json_enc_end(e), weft_json_enc_end(e);
        weft_json_enc_key(e, WEFT_STR("properties")), weft_json_enc_object(e);
        if (p->id) weft_json_enc_key(e, WEFT_STR("id")), weft_json_enc_int(e, p->id);
        weft_json_enc_key(e, WEFT_STR("deviceId")), weft_json_enc_int(e, p->device_id);
        weft_json_enc_key(e, WEFT_STR("fixTime")), weft_json_enc_str(e, weft_str_c(t));
        weft_json_enc_key(e, WEFT_STR("serverTime")), weft_json_enc_str(e, weft_str_c(st));
        weft_json_enc_key(e, WEFT_STR("speed")), weft_json_enc_double(e, p->speed_kn);
        weft_json_enc_key(e, WEFT_STR("course")), weft_json_enc_double(e, p->course);
        weft_json_enc_key(e, WEFT_STR("accuracy")), weft_json_enc_double(e, p->accuracy);
        weft_json_enc_key(e, WEFT_STR("valid")), weft_json_enc_bool(e, p->valid);
        weft_json_enc_key(e, WEFT_STR("attributes")), model_raw_object(e, p->attrs, p->attrs_len);
        weft_json_enc_end(e), weft_json_enc_end(e);
        break;
    }
    case FMT_GPX:
        if (o->gpx_device != p->device_id) {
            if (o->gpx_device) weft_buf_appends(o->b, "</trkseg></trk>\n");
            weft_buf_printf(o->b, "<trk><name>device %" PRId64 "</name><trkseg>\n", p->device_id);
            o->gpx_device = p->device_id;
        }
        weft_buf_printf(o->b,
                        "<trkpt lat=\"%.7f\" lon=\"%.7f\"><ele>%.1f</ele><time>%s</time><extensions><speed>%.2f</speed>"
                        "<course>%.1f</course></extensions></trkpt>\n",
                        p->lat, p->lon, p->altitude, t, p->speed_kn, p->course);
        break;
    case FMT_CSV:
        weft_buf_printf(o->b, "%" PRId64 ",%" PRId64 ",%s,%s,%.7f,%.7f,%.2f,%.1f,%.1f,%.1f,%s,%s\n", p->id, p->device_id,
                        t, st, p->lat, p->lon, p->speed_kn, p->course, p->altitude, p->accuracy,
                        p->valid ? "true" : "false", p->protocol ? p->protocol : "");
        break;
    case FMT_JSON:
        break;
    }
}

int api_pos_end(api_pos_out *o) {
    switch (o->fmt) {
    case FMT_JSON:
        weft_json_enc_end(o->e);
        return weft_http_json_end(o->c);
    case FMT_GEOJSON:
        weft_json_enc_end(o->e), weft_json_enc_end(o->e);
        return weft_json_enc_finish(o->e);
    case FMT_GPX:
        if (o->gpx_device) weft_buf_appends(o->b, "</trkseg></trk>\n");
        weft_buf_appends(o->b, "</gpx>\n");
        return 0;
    case FMT_CSV:
        return 0;
    }
    return 0;
}

int api_pos_history(fleet *f, int64_t device_id, int64_t from, int64_t to, int64_t limit, int64_t offset,
                    weft_db_rows **rows, weft_db_err *e) {
    weft_db_arg a[] = {WEFT_DB_INT(device_id), WEFT_DB_INT(from), WEFT_DB_INT(to), WEFT_DB_INT(limit + 1),
                       WEFT_DB_INT(offset)};
    return store_query(f->db,
                       "SELECT " MODEL_POSITION_COLS " FROM positions WHERE device_id = $1 AND fix_time >= $2 AND "
                       "fix_time <= $3 ORDER BY fix_time LIMIT $4 OFFSET $5",
                       a, 5, rows, e);
}

static int by_id(const void *a, const void *b) {
    int64_t x = (*(live_device *const *)a)->id, y = (*(live_device *const *)b)->id;
    return (x > y) - (x < y);
}

static int positions(weft_http_ctx *c, void *ud) {
    fleet *f = ud;
    api_user u;
    if (api_auth(f, c, &u, API_READ) < 0) return 0;
    int fmt = api_format_of(c, 0xf);
    if (fmt < 0) return 0;
    int64_t dev = 0, from = 0, to = 0, limit, offset;
    int has_dev, has_from, has_to;
    if ((has_dev = api_q_i64(c, "deviceId", &dev)) < 0 || (has_from = api_q_time(c, "from", &from)) < 0 ||
        (has_to = api_q_time(c, "to", &to)) < 0 || api_page(c, API_ROWS_DEFAULT, API_ROWS_MAX, &limit, &offset) < 0)
        return 0;
    live_device *d = NULL;
    if (has_dev && !(d = api_device_visible(f, &u, dev))) return api_fail(c, 404, "no such device"), 0;
    api_pos_out o;
    if (has_from || has_to) {
        if (!has_dev) return api_fail(c, 400, "deviceId is required with from and to"), 0;
        if (!has_from || !has_to) return api_fail(c, 400, has_from ? "to is required with from" : "from is required with to"), 0;
        if (from > to) return api_fail(c, 400, "from must not be after to"), 0;
        weft_db_rows *r;
        weft_db_err e;
        int rc = api_pos_history(f, dev, from, to, limit, offset, &r, &e);
        if (rc < 0) return api_fail_db(c, rc, &e), 0;
        int n = api_page_done(c, weft_db_nrows(r), limit, offset);
        api_pos_begin(&o, c, fmt);
        for (int i = 0; i < n; i++) api_pos_row(&o, NULL, r, i, NULL);
        rc = api_pos_end(&o);
        weft_db_rows_free(r);
        return rc;
    }
    /* latest, from the live table */
    device_view *v = weft_arena_alloc(weft_http_arena(c), sizeof *v);
    if (!v) return WEFT_ENOMEM;
    api_pos_begin(&o, c, fmt);
    if (d) {
        model_view(d, v);
        if (v->st.has_fix) api_pos_row(&o, NULL, NULL, 0, v);
        return api_pos_end(&o);
    }
    size_t n;
    live_device **all = live_list(f->devices, &n);
    if (!all) return WEFT_ENOMEM;
    qsort(all, n, sizeof *all, by_id);
    int64_t seen = 0;
    for (size_t i = 0; i < n; i++) {
        if (all[i]->deleted) continue;
        model_view(all[i], v);
        if (!v->st.has_fix || !api_user_sees_group(&u, v->group_id)) continue;
        if (seen++ < offset) continue;
        if (o.n == limit) {
            char nx[32];
            snprintf(nx, sizeof nx, "%lld", (long long)(offset + limit));
            weft_http_add_header(c, "X-Next-Offset", nx);
            break;
        }
        api_pos_row(&o, NULL, NULL, 0, v);
    }
    free(all);
    return api_pos_end(&o);
}

int api_routes_positions(weft_http_router *r, fleet *f) { return weft_http_route(r, "GET", "/api/positions", positions, f); }
