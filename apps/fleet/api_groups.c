/*
 * apps/fleet/api_groups.c — /api/groups: {id, name, speedLimit (knots; 0 =
 * the default), attributes}.
 *
 *   GET    /api/groups[?limit&offset]  admin: all; others: their own
 *   GET    /api/groups/{id}
 *   POST   /api/groups        {name, speedLimit?}   admin
 *   PUT    /api/groups/{id}   {name?, speedLimit?}  admin
 *   DELETE /api/groups/{id}   admin: its devices move to no group, its
 *                             geofences and memberships go with it
 */
#include <stdlib.h>
#include <string.h>

#include "api_int.h"

#define COLS "id, name, speed_limit_kn, attributes"

static void group_out(weft_json_enc *e, const weft_db_rows *r, int i) {
    weft_json_enc_object(e);
    weft_json_enc_key(e, WEFT_STR("id")), weft_json_enc_int(e, weft_db_int(r, i, 0));
    weft_json_enc_key(e, WEFT_STR("name")), weft_json_enc_str(e, weft_str_c(weft_db_text(r, i, 1, NULL)));
    weft_json_enc_key(e, WEFT_STR("speedLimit")), weft_json_enc_double(e, weft_db_double(r, i, 2));
    size_t n;
    const char *a = weft_db_text(r, i, 3, &n);
    weft_json_enc_key(e, WEFT_STR("attributes")), model_raw_object(e, a, n);
    weft_json_enc_end(e);
}

static int list(weft_http_ctx *c, void *ud) {
    fleet *f = ud;
    api_user u;
    if (api_auth(f, c, &u, API_READ) < 0) return 0;
    int64_t limit, offset;
    if (api_page(c, API_PAGE_DEFAULT, API_PAGE_MAX, &limit, &offset) < 0) return 0;
    weft_buf sql;
    weft_buf_init(&sql, 0);
    weft_db_arg a[API_USER_GROUPS_MAX + 2];
    int na = 0;
    weft_buf_appends(&sql, "SELECT " COLS " FROM groups");
    if (!api_user_sees_all(&u)) {
        weft_buf_appends(&sql, " WHERE id IN (");
        api_sql_groups(&sql, &u, a, &na);
        weft_buf_appends(&sql, ")");
    }
    weft_db_rows *r;
    int n;
    if (api_page_query(f, c, &sql, "id", a, na, limit, offset, &r, &n) < 0) return 0;
    return api_answer_rows(c, r, n, group_out);
}

/* The group {id} if u may see it; NULL after answering 404. */
static weft_db_rows *target(fleet *f, weft_http_ctx *c, const api_user *u, int64_t *id) {
    if (weft_str_to_i64(weft_http_param(c, "id"), id) != 0 || !api_user_sees_group(u, *id))
        return api_fail(c, 404, "no such group"), NULL;
    weft_db_arg a[] = {WEFT_DB_INT(*id)};
    return api_one_row(f, c, "SELECT " COLS " FROM groups WHERE id = $1", a, 1, "group");
}

static int get(weft_http_ctx *c, void *ud) {
    api_user u;
    int64_t id;
    if (api_auth(ud, c, &u, API_READ) < 0) return 0;
    weft_db_rows *r = target(ud, c, &u, &id);
    if (!r) return 0;
    weft_json_enc *j = weft_http_json_begin(c, 200);
    group_out(j, r, 0);
    weft_db_rows_free(r);
    return weft_http_json_end(c);
}

static int save(fleet *f, weft_http_ctx *c, int64_t id, int creating) {
    api_body b;
    const char *name = NULL;
    double limit = 0;
    int rc, has_name, has_limit;
    if (api_body_open(c, &b) < 0) return 0;
    if ((has_name = api_body_str(&b, "name", 1, 128, &name)) < 0) return 0;
    if (creating && has_name != 1) return api_fail(c, 400, "name is required"), 0;
    if ((has_limit = api_body_num(&b, "speedLimit", 0, 1000, &limit)) < 0) return 0;
    weft_db_rows *r;
    weft_db_err e;
    if (creating) {
        weft_db_arg a[] = {WEFT_DB_TEXT(name), WEFT_DB_DOUBLE(limit), WEFT_DB_INT(fleet_now_ms())};
        rc = store_query(f->db, "INSERT INTO groups (name, speed_limit_kn, created_ms) VALUES ($1, $2, $3) RETURNING " COLS,
                         a, 3, &r, &e);
    } else {
        weft_db_arg a[] = {has_name == 1 ? WEFT_DB_TEXT(name) : WEFT_DB_NULL, WEFT_DB_DOUBLE(limit),
                           WEFT_DB_INT(has_limit == 1 || has_limit == 2), WEFT_DB_INT(id)};
        rc = store_query(f->db,
                         "UPDATE groups SET name = COALESCE($1, name), speed_limit_kn = CASE WHEN $3 = 1 THEN $2 ELSE "
                         "speed_limit_kn END WHERE id = $4 RETURNING " COLS,
                         a, 4, &r, &e);
    }
    if (rc < 0) {
        if (weft_db_err_is_constraint(&e)) return api_fail(c, 409, "a group named %s exists", name), 0;
        return api_fail_db(c, rc, &e), 0;
    }
    if (weft_db_nrows(r) != 1) return weft_db_rows_free(r), api_fail(c, 404, "no such group"), 0;
    fleet_reload_groups(f);
    weft_json_enc *j = weft_http_json_begin(c, creating ? 201 : 200);
    group_out(j, r, 0);
    weft_db_rows_free(r);
    return weft_http_json_end(c);
}

static int create(weft_http_ctx *c, void *ud) {
    api_user u;
    if (api_auth(ud, c, &u, API_WRITE) < 0 || api_need_role(c, &u, API_ROLE_ADMIN) < 0) return 0;
    return save(ud, c, 0, 1);
}

static int update(weft_http_ctx *c, void *ud) {
    api_user u;
    int64_t id;
    if (api_auth(ud, c, &u, API_WRITE) < 0 || api_need_role(c, &u, API_ROLE_ADMIN) < 0) return 0;
    if (weft_str_to_i64(weft_http_param(c, "id"), &id) != 0) return api_fail(c, 404, "no such group"), 0;
    return save(ud, c, id, 0);
}

static int delete(weft_http_ctx *c, void *ud) {
    fleet *f = ud;
    api_user u;
    int64_t id;
    if (api_auth(f, c, &u, API_WRITE) < 0 || api_need_role(c, &u, API_ROLE_ADMIN) < 0) return 0;
    if (weft_str_to_i64(weft_http_param(c, "id"), &id) != 0) return api_fail(c, 404, "no such group"), 0;
    weft_db_arg a[] = {WEFT_DB_INT(id)};
    weft_db_err e;
    int64_t n = 0;
    /* devices: ON DELETE SET NULL; geofences and memberships: CASCADE */
    int rc = store_exec(f->db, "DELETE FROM groups WHERE id = $1", a, 1, &n, &e);
    if (rc < 0) return api_fail_db(c, rc, &e), 0;
    if (n == 0) return api_fail(c, 404, "no such group"), 0;
    size_t nd;
    live_device **all = live_list(f->devices, &nd);
    for (size_t i = 0; all && i < nd; i++) {
        live_device *d = all[i];
        if (d->deleted || d->group_id != id) continue;
        device_view v;
        model_view(d, &v);
        live_put(f->devices, v.id, v.unique_id, v.name, v.category, 0, v.speed_limit_kn, v.disabled);
    }
    free(all);
    fleet_reload_groups(f);
    fleet_reload_geofences(f);
    weft_http_set_status(c, 204);
    return 0;
}

int api_routes_groups(weft_http_router *r, fleet *f) {
    int rc = 0;
    rc |= weft_http_route(r, "GET", "/api/groups", list, f);
    rc |= weft_http_route(r, "GET", "/api/groups/{id}", get, f);
    rc |= weft_http_route(r, "POST", "/api/groups", create, f);
    rc |= weft_http_route(r, "PUT", "/api/groups/{id}", update, f);
    rc |= weft_http_route(r, "DELETE", "/api/groups/{id}", delete, f);
    return rc;
}
