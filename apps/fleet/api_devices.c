/*
 * apps/fleet/api_devices.c — /api/devices, Traccar's shape (model.c):
 *
 *   GET    /api/devices[?id=&uniqueId=&groupId=&limit=&offset=]   visible devices, by id
 *   GET    /api/devices/{id}
 *   POST   /api/devices        {name, uniqueId, groupId?, category?, speedLimit?, disabled?}   manager+
 *   PUT    /api/devices/{id}   the same fields, each optional                                 manager+
 *   DELETE /api/devices/{id}   with its positions and events                                  manager+
 *
 * Lists come from the live table (no store query), with the status and last
 * update the server keeps in memory. A manager creates devices only in their
 * groups (groupId required) and cannot move one out of them; a device in no
 * group is seen by admins only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"

static int by_id(const void *a, const void *b) {
    int64_t x = (*(live_device *const *)a)->id, y = (*(live_device *const *)b)->id;
    return (x > y) - (x < y);
}

static void device_out(weft_json_enc *e, live_device *d) {
    device_view v;
    model_view(d, &v);
    model_device(e, &v);
}

static int list(weft_http_ctx *c, void *ud) {
    fleet *f = ud;
    api_user u;
    if (api_auth(f, c, &u, API_READ) < 0) return 0;
    int64_t limit, offset, group = 0, ids[64];
    if (api_page(c, API_PAGE_DEFAULT, API_PAGE_MAX, &limit, &offset) < 0) return 0;
    int nids = api_q_ids(c, "id", ids, 64);
    if (nids < 0 || api_q_i64(c, "groupId", &group) < 0) return 0;
    weft_str uniq = weft_http_query(c, "uniqueId");
    size_t n;
    live_device **all = live_list(f->devices, &n);
    if (!all) return WEFT_ENOMEM;
    qsort(all, n, sizeof *all, by_id);
    weft_json_enc *e = weft_http_json_begin(c, 200);
    weft_json_enc_array(e);
    int64_t seen = 0, shown = 0;
    for (size_t i = 0; i < n; i++) {
        live_device *d = all[i];
        if (d->deleted) continue;
        live_lock(d);
        int64_t g = d->group_id;
        int match_uid = !uniq.p || weft_str_eq(uniq, weft_str_c(d->unique_id));
        live_unlock(d);
        if (!api_user_sees_group(&u, g) || !match_uid || (group && g != group)) continue;
        if (nids) {
            int hit = 0;
            for (int k = 0; k < nids; k++) hit |= ids[k] == d->id;
            if (!hit) continue;
        }
        if (seen++ < offset) continue;
        if (shown == limit) { /* one more exists */
            char v[32];
            snprintf(v, sizeof v, "%lld", (long long)(offset + limit));
            weft_http_add_header(c, "X-Next-Offset", v);
            break;
        }
        device_out(e, d);
        shown++;
    }
    free(all);
    weft_json_enc_end(e);
    return weft_http_json_end(c);
}

/* {id} as a visible device; NULL after answering 404. */
static live_device *target(fleet *f, weft_http_ctx *c, const api_user *u) {
    int64_t id;
    live_device *d = NULL;
    if (weft_str_to_i64(weft_http_param(c, "id"), &id) == 0) d = api_device_visible(f, u, id);
    if (!d) api_fail(c, 404, "no such device");
    return d;
}

static int get(weft_http_ctx *c, void *ud) {
    fleet *f = ud;
    api_user u;
    if (api_auth(f, c, &u, API_READ) < 0) return 0;
    live_device *d = target(f, c, &u);
    if (!d) return 0;
    weft_json_enc *e = weft_http_json_begin(c, 200);
    device_out(e, d);
    return weft_http_json_end(c);
}

typedef struct dev_fields {
    const char *name, *unique_id, *category;
    int64_t group_id; /* 0 = none */
    double speed_limit;
    int disabled;
} dev_fields;

/* Read the body over *x (which holds the current values, or defaults).
 * 0 or -1 (answered). */
static int read_fields(fleet *f, weft_http_ctx *c, const api_user *u, dev_fields *x, int creating) {
    api_body b;
    int rc;
    if (api_body_open(c, &b) < 0) return -1;
    if ((rc = api_body_str(&b, "name", 1, 128, &x->name)) < 0) return -1;
    if (creating && rc != 1) return api_fail_field(c, 400, "name", "name is required");
    if ((rc = api_body_str(&b, "uniqueId", 1, 64, &x->unique_id)) < 0) return -1;
    if (creating && rc != 1) return api_fail_field(c, 400, "uniqueId", "uniqueId is required");
    for (const char *p = x->unique_id; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f) return api_fail_field(c, 422, "uniqueId", "uniqueId must not contain spaces or control characters");
    if ((rc = api_body_str(&b, "category", 1, 32, &x->category)) < 0) return -1;
    if ((rc = api_body_num(&b, "speedLimit", 0, 1000, &x->speed_limit)) < 0) return -1;
    if (rc == 2) x->speed_limit = 0;
    if ((rc = api_body_bool(&b, "disabled", &x->disabled)) < 0) return -1;
    int64_t g = x->group_id;
    if ((rc = api_body_i64(&b, "groupId", &g)) < 0) return -1;
    if (rc == 2 || (rc == 1 && g == 0)) g = 0;
    if (g != x->group_id || creating) {
        if (!api_user_sees_all(u) && !api_user_sees_group(u, g))
            return api_fail_field(c, 422, "groupId", g ? "groupId %lld is not one of your groups" : "groupId is required (one of your groups)",
                            (long long)g);
        if (g) {
            weft_db_arg a[] = {WEFT_DB_INT(g)};
            weft_db_err e;
            int64_t found;
            rc = store_query_i64(f->db, "SELECT id FROM groups WHERE id = $1", a, 1, &found, &e);
            if (rc == WEFT_ENOENT) return api_fail_field(c, 422, "groupId", "groupId %lld does not exist", (long long)g);
            if (rc < 0) return api_fail_db(c, rc, &e);
        }
    }
    x->group_id = g;
    return 0;
}

static int save(fleet *f, weft_http_ctx *c, int64_t id, const dev_fields *x, int status) {
    weft_db_arg a[] = {WEFT_DB_TEXT(x->unique_id), WEFT_DB_TEXT(x->name),
                       x->group_id ? WEFT_DB_INT(x->group_id) : WEFT_DB_NULL, WEFT_DB_TEXT(x->category),
                       WEFT_DB_DOUBLE(x->speed_limit), WEFT_DB_INT(x->disabled), WEFT_DB_INT(id)};
    weft_db_err e;
    int rc = store_exec(f->db,
                        "UPDATE devices SET unique_id = $1, name = $2, group_id = $3, category = $4, "
                        "speed_limit_kn = $5, disabled = $6 WHERE id = $7",
                        a, 7, NULL, &e);
    if (rc < 0) {
        if (weft_db_err_is_constraint(&e)) return api_fail_field(c, 409, "uniqueId", "uniqueId %s is taken by another device", x->unique_id);
        return api_fail_db(c, rc, &e);
    }
    live_device *d = live_put(f->devices, id, x->unique_id, x->name, x->category, x->group_id, x->speed_limit,
                              x->disabled);
    if (!d) return api_fail(c, 500, "out of memory");
    weft_json_enc *j = weft_http_json_begin(c, status);
    device_out(j, d);
    weft_http_json_end(c);
    return 0;
}

static int create(weft_http_ctx *c, void *ud) {
    fleet *f = ud;
    api_user u;
    if (api_auth(f, c, &u, API_WRITE) < 0 || api_need_role(c, &u, API_ROLE_MANAGER) < 0) return 0;
    dev_fields x = {.name = "", .unique_id = "", .category = "default"};
    if (read_fields(f, c, &u, &x, 1) < 0) return 0;
    live_device *d;
    weft_db_err e;
    int rc = fleet_device_create(f, x.unique_id, x.name, x.group_id, &d, &e);
    if (rc == WEFT_EDB && weft_db_err_is_constraint(&e))
        return api_fail_field(c, 409, "uniqueId", "uniqueId %s is taken by another device", x.unique_id), 0;
    if (rc < 0) return api_fail_db(c, rc, &e), 0;
    save(f, c, d->id, &x, 201);
    return 0;
}

static int update(weft_http_ctx *c, void *ud) {
    fleet *f = ud;
    api_user u;
    if (api_auth(f, c, &u, API_WRITE) < 0 || api_need_role(c, &u, API_ROLE_MANAGER) < 0) return 0;
    live_device *d = target(f, c, &u);
    if (!d) return 0;
    device_view v;
    model_view(d, &v);
    dev_fields x = {.name = v.name, .unique_id = v.unique_id, .category = v.category, .group_id = v.group_id,
                    .speed_limit = v.speed_limit_kn, .disabled = v.disabled};
    if (read_fields(f, c, &u, &x, 0) < 0) return 0;
    save(f, c, v.id, &x, 200);
    return 0;
}

static int delete(weft_http_ctx *c, void *ud) {
    fleet *f = ud;
    api_user u;
    if (api_auth(f, c, &u, API_WRITE) < 0 || api_need_role(c, &u, API_ROLE_MANAGER) < 0) return 0;
    live_device *d = target(f, c, &u);
    if (!d) return 0;
    /* positions have no foreign key (ingest speed): removed here, in one
     * transaction with the device */
    store_tx *tx;
    weft_db_err e;
    int64_t dl = weft_deadline_in(60000);
    int rc = store_begin(f->db, &tx, &e, dl);
    if (rc < 0) return api_fail_db(c, rc, &e), 0;
    weft_db_arg a[] = {WEFT_DB_INT(d->id)};
    if ((rc = store_tx_exec(tx, "DELETE FROM positions WHERE device_id = $1", a, 1, NULL, &e, dl)) < 0 ||
        (rc = store_tx_exec(tx, "DELETE FROM events WHERE device_id = $1", a, 1, NULL, &e, dl)) < 0 ||
        (rc = store_tx_exec(tx, "DELETE FROM motion_chunks WHERE device_id = $1", a, 1, NULL, &e, dl)) < 0 ||
        (rc = store_tx_exec(tx, "DELETE FROM devices WHERE id = $1", a, 1, NULL, &e, dl)) < 0) {
        store_rollback(tx);
        return api_fail_db(c, rc, &e), 0;
    }
    if ((rc = store_commit(tx, &e, dl)) < 0) return api_fail_db(c, rc, &e), 0;
    if (f->w) writer_motion_reset(f->w); /* its open chunk, if any, is of deleted fixes */
    live_remove(f->devices, d->id);
    weft_http_set_status(c, 204);
    return 0;
}

int api_routes_devices(weft_http_router *r, fleet *f) {
    int rc = 0;
    rc |= weft_http_route(r, "GET", "/api/devices", list, f);
    rc |= weft_http_route(r, "GET", "/api/devices/{id}", get, f);
    rc |= weft_http_route(r, "POST", "/api/devices", create, f);
    rc |= weft_http_route(r, "PUT", "/api/devices/{id}", update, f);
    rc |= weft_http_route(r, "DELETE", "/api/devices/{id}", delete, f);
    return rc;
}
