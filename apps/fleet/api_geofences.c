/*
 * apps/fleet/api_geofences.c — /api/geofences: {id, name, description,
 * area (GeoJSON: a Polygon, or a Point with "radius" in metres for a
 * circle; a Feature with such a geometry is accepted), groupId (null: applies
 * to every device), attributes}.
 *
 *   GET    /api/geofences[?groupId&limit&offset]  those of the user's groups and the global ones
 *   GET    /api/geofences/{id}
 *   POST   /api/geofences        {name, area, description?, groupId?}   manager+ (managers: in their groups)
 *   PUT    /api/geofences/{id}   the same fields, each optional         manager+ (global ones: admin)
 *   DELETE /api/geofences/{id}                                          as PUT
 *
 * Traccar keeps the area as WKT; weft fleet takes and returns GeoJSON (what
 * map libraries draw). An area that is not a valid shape is 422 with what
 * is wrong ("area: Polygon ring must be closed"). The area is stored as
 * geo.c writes it back (a Feature's properties are not kept). Every change
 * reloads the geofence snapshot the pipeline tests fixes against.
 */
#include <stdlib.h>
#include <string.h>

#include "api_int.h"

#define COLS "id, name, description, area, COALESCE(group_id, 0), attributes"

static void fence_out(weft_json_enc *e, const weft_db_rows *r, int i) {
    size_t n;
    const char *t;
    weft_json_enc_object(e);
    weft_json_enc_key(e, WEFT_STR("id")), weft_json_enc_int(e, weft_db_int(r, i, 0));
    weft_json_enc_key(e, WEFT_STR("name")), weft_json_enc_str(e, weft_str_c(weft_db_text(r, i, 1, NULL)));
    weft_json_enc_key(e, WEFT_STR("description")), weft_json_enc_str(e, weft_str_c(weft_db_text(r, i, 2, NULL)));
    t = weft_db_text(r, i, 3, &n);
    weft_json_enc_key(e, WEFT_STR("area")), model_raw_object(e, t, n);
    weft_json_enc_key(e, WEFT_STR("groupId"));
    if (weft_db_int(r, i, 4)) weft_json_enc_int(e, weft_db_int(r, i, 4));
    else weft_json_enc_null(e);
    t = weft_db_text(r, i, 5, &n);
    weft_json_enc_key(e, WEFT_STR("attributes")), model_raw_object(e, t, n);
    weft_json_enc_end(e);
}

static int list(weft_http_ctx *c, void *ud) {
    fleet *f = ud;
    api_user u;
    if (api_auth(f, c, &u, API_READ) < 0) return 0;
    int64_t limit, offset, group = 0;
    if (api_page(c, API_PAGE_DEFAULT, API_PAGE_MAX, &limit, &offset) < 0 || api_q_i64(c, "groupId", &group) < 0) return 0;
    weft_buf sql;
    weft_buf_init(&sql, 0);
    weft_db_arg a[API_USER_GROUPS_MAX + 4];
    int na = 0;
    weft_buf_appends(&sql, "SELECT " COLS " FROM geofences WHERE 1 = 1");
    if (!api_user_sees_all(&u)) {
        weft_buf_appends(&sql, " AND (group_id IS NULL OR group_id IN (");
        api_sql_groups(&sql, &u, a, &na);
        weft_buf_appends(&sql, "))");
    }
    if (group) {
        weft_buf_printf(&sql, " AND group_id = $%d", na + 1);
        a[na++] = WEFT_DB_INT(group);
    }
    weft_db_rows *r;
    int n;
    if (api_page_query(f, c, &sql, "id", a, na, limit, offset, &r, &n) < 0) return 0;
    return api_answer_rows(c, r, n, fence_out);
}

/* The geofence {id} if u may see it; NULL after answering 404. */
static weft_db_rows *target(fleet *f, weft_http_ctx *c, const api_user *u, int64_t *id) {
    if (weft_str_to_i64(weft_http_param(c, "id"), id) != 0) return api_fail(c, 404, "no such geofence"), NULL;
    weft_db_arg a[] = {WEFT_DB_INT(*id)};
    weft_db_rows *r = api_one_row(f, c, "SELECT " COLS " FROM geofences WHERE id = $1", a, 1, "geofence");
    if (!r) return NULL;
    int64_t g = weft_db_int(r, 0, 4);
    if (g == 0 || api_user_sees_group(u, g)) return r;
    weft_db_rows_free(r);
    api_fail(c, 404, "no such geofence");
    return NULL;
}

static int get(weft_http_ctx *c, void *ud) {
    api_user u;
    int64_t id;
    if (api_auth(ud, c, &u, API_READ) < 0) return 0;
    weft_db_rows *r = target(ud, c, &u, &id);
    if (!r) return 0;
    weft_json_enc *j = weft_http_json_begin(c, 200);
    fence_out(j, r, 0);
    weft_db_rows_free(r);
    return weft_http_json_end(c);
}

/* 0 when u may change a geofence of group g (0 = global), else -1 (403). */
static int may_edit(weft_http_ctx *c, const api_user *u, int64_t g) {
    if (api_user_sees_all(u)) return 0;
    if (g == 0) return api_fail(c, 403, "only an admin changes geofences that apply to every group");
    return 0; /* visible (checked by the caller) and a manager (checked by the route) */
}

/* Create (id 0) or change a geofence from the body. */
static int save(fleet *f, weft_http_ctx *c, const api_user *u, int64_t id, weft_db_rows *cur) {
    api_body b;
    if (api_body_open(c, &b) < 0) return 0;
    const char *name = cur ? weft_db_text(cur, 0, 1, NULL) : NULL;
    const char *desc = cur ? weft_db_text(cur, 0, 2, NULL) : "";
    const char *area = cur ? weft_db_text(cur, 0, 3, NULL) : NULL;
    int64_t group = cur ? weft_db_int(cur, 0, 4) : 0;
    int rc;
    if ((rc = api_body_str(&b, "name", 1, 128, &name)) < 0) return 0;
    if (!cur && rc != 1) return api_fail_field(c, 400, "name", "name is required"), 0;
    if (api_body_str(&b, "description", 0, 1024, &desc) < 0) return 0;
    int64_t g = group;
    if ((rc = api_body_i64(&b, "groupId", &g)) < 0) return 0;
    if (rc == 2) g = 0;
    if (!cur || g != group) {
        if (!api_user_sees_all(u) && !api_user_sees_group(u, g))
            return api_fail_field(c, 422, "groupId", g ? "groupId %lld is not one of your groups" : "groupId is required (one of your groups)",
                            (long long)g), 0;
        if (g) {
            weft_db_arg a[] = {WEFT_DB_INT(g)};
            weft_db_err e;
            int64_t found;
            rc = store_query_i64(f->db, "SELECT id FROM groups WHERE id = $1", a, 1, &found, &e);
            if (rc == WEFT_ENOENT)
                return api_fail_field(c, 422, "groupId", "groupId %lld does not exist", (long long)g), 0;
            if (rc < 0) return api_fail_db(c, rc, &e), 0;
        }
    }
    /* the area: a GeoJSON object, or (in a form) its text */
    const weft_json *av = NULL;
    weft_json *parsed = NULL;
    if (b.json) {
        av = weft_json_get(b.json, "area");
        if (av && av->type == WEFT_JSON_STRING) {
            weft_json_error je;
            if (weft_json_parse(av->u.s, av->len, weft_http_arena(c), 32, &parsed, &je) != 0)
                return api_fail_field(c, 422, "area", "area: not valid GeoJSON (%s)", je.msg), 0;
            av = parsed;
        }
    } else {
        weft_str t = weft_http_form(c, "area");
        if (t.p) {
            weft_json_error je;
            if (weft_json_parse(t.p, t.n, weft_http_arena(c), 32, &parsed, &je) != 0)
                return api_fail_field(c, 422, "area", "area: not valid GeoJSON (%s)", je.msg), 0;
            av = parsed;
        }
    }
    if (!cur && !av) return api_fail_field(c, 400, "area", "area is required (GeoJSON)"), 0;
    weft_buf canon;
    weft_buf_init(&canon, 0);
    if (av) {
        weft_arena ar;
        weft_arena_init(&ar, 16 * 1024);
        geo_shape s;
        const char *why = "not a shape";
        if (geo_shape_from_json(av, &ar, &s, &why) != 0) {
            weft_arena_free(&ar);
            return api_fail_field(c, 422, "area", "area: %s", why), 0;
        }
        rc = geo_shape_to_geojson(&s, &canon);
        weft_arena_free(&ar);
        if (rc < 0 || !canon.data) return weft_buf_free(&canon), api_fail(c, 500, "out of memory"), 0;
        area = canon.data;
    }
    weft_db_rows *r;
    weft_db_err e;
    if (!cur) {
        weft_db_arg a[] = {WEFT_DB_TEXT(name), WEFT_DB_TEXT(desc), WEFT_DB_TEXT(area), g ? WEFT_DB_INT(g) : WEFT_DB_NULL,
                           WEFT_DB_INT(fleet_now_ms())};
        rc = store_query(f->db,
                         "INSERT INTO geofences (name, description, area, group_id, created_ms) VALUES ($1, $2, $3, $4, "
                         "$5) RETURNING " COLS,
                         a, 5, &r, &e);
    } else {
        weft_db_arg a[] = {WEFT_DB_TEXT(name), WEFT_DB_TEXT(desc), WEFT_DB_TEXT(area), g ? WEFT_DB_INT(g) : WEFT_DB_NULL,
                           WEFT_DB_INT(id)};
        rc = store_query(f->db,
                         "UPDATE geofences SET name = $1, description = $2, area = $3, group_id = $4 WHERE id = $5 "
                         "RETURNING " COLS,
                         a, 5, &r, &e);
    }
    weft_buf_free(&canon);
    if (rc < 0) return api_fail_db(c, rc, &e), 0;
    fleet_reload_geofences(f);
    weft_json_enc *j = weft_http_json_begin(c, cur ? 200 : 201);
    if (weft_db_nrows(r) == 1) fence_out(j, r, 0);
    else weft_json_enc_null(j);
    weft_db_rows_free(r);
    return weft_http_json_end(c);
}

static int create(weft_http_ctx *c, void *ud) {
    api_user u;
    if (api_auth(ud, c, &u, API_WRITE) < 0 || api_need_role(c, &u, API_ROLE_MANAGER) < 0) return 0;
    return save(ud, c, &u, 0, NULL);
}

static int update(weft_http_ctx *c, void *ud) {
    api_user u;
    int64_t id;
    if (api_auth(ud, c, &u, API_WRITE) < 0 || api_need_role(c, &u, API_ROLE_MANAGER) < 0) return 0;
    weft_db_rows *cur = target(ud, c, &u, &id);
    if (!cur) return 0;
    int rc = 0;
    if (may_edit(c, &u, weft_db_int(cur, 0, 4)) == 0) rc = save(ud, c, &u, id, cur);
    weft_db_rows_free(cur);
    return rc;
}

static int delete(weft_http_ctx *c, void *ud) {
    fleet *f = ud;
    api_user u;
    int64_t id;
    if (api_auth(f, c, &u, API_WRITE) < 0 || api_need_role(c, &u, API_ROLE_MANAGER) < 0) return 0;
    weft_db_rows *cur = target(f, c, &u, &id);
    if (!cur) return 0;
    int64_t g = weft_db_int(cur, 0, 4);
    weft_db_rows_free(cur);
    if (may_edit(c, &u, g) < 0) return 0;
    weft_db_arg a[] = {WEFT_DB_INT(id)};
    weft_db_err e;
    int rc = store_exec(f->db, "DELETE FROM geofences WHERE id = $1", a, 1, NULL, &e);
    if (rc < 0) return api_fail_db(c, rc, &e), 0;
    fleet_reload_geofences(f);
    weft_http_set_status(c, 204);
    return 0;
}

int api_routes_geofences(weft_http_router *r, fleet *f) {
    int rc = 0;
    rc |= weft_http_route(r, "GET", "/api/geofences", list, f);
    rc |= weft_http_route(r, "GET", "/api/geofences/{id}", get, f);
    rc |= weft_http_route(r, "POST", "/api/geofences", create, f);
    rc |= weft_http_route(r, "PUT", "/api/geofences/{id}", update, f);
    rc |= weft_http_route(r, "DELETE", "/api/geofences/{id}", delete, f);
    return rc;
}
