/*
 * apps/fleet/api_users.c — /api/users: {id, name, email, role, administrator,
 * readonly, disabled, groupIds}; passwords are never returned.
 *
 *   GET    /api/users[?limit&offset]  admin: all; manager: the users who
 *                                     share a group with them (read only);
 *                                     viewer: 403
 *   GET    /api/users/{id}            as the list, and anyone: themselves
 *   POST   /api/users       {email, name, password, role?, disabled?, groupIds?}   admin
 *   PUT    /api/users/{id}  admin: any field; anyone else: their own name
 *                           and password only
 *   DELETE /api/users/{id}  admin (not themselves); their sessions and
 *                           tokens end with them
 */
#include <stdlib.h>
#include <string.h>

#include "api_int.h"

#define PASSWORD_MIN 8
#define PASSWORD_MAX 256

static int out_rows(weft_http_ctx *c, fleet *f, weft_db_rows *r, int n, int single, int status) {
    weft_json_enc *j = weft_http_json_begin(c, status);
    if (!single) weft_json_enc_array(j);
    for (int i = 0; i < n; i++) {
        int64_t id = weft_db_int(r, i, 0), groups[API_USER_GROUPS_MAX];
        weft_db_arg a[] = {WEFT_DB_INT(id), WEFT_DB_INT(API_USER_GROUPS_MAX)};
        weft_db_rows *g;
        weft_db_err e;
        int ng = 0;
        if (store_query(f->db, "SELECT group_id FROM user_groups WHERE user_id = $1 ORDER BY group_id LIMIT $2", a, 2,
                        &g, &e) == 0) {
            ng = weft_db_nrows(g);
            for (int k = 0; k < ng; k++) groups[k] = weft_db_int(g, k, 0);
            weft_db_rows_free(g);
        }
        api_user_json(j, id, weft_db_text(r, i, 1, NULL), weft_db_text(r, i, 2, NULL), weft_db_text(r, i, 3, NULL),
                      (int)weft_db_int(r, i, 4), groups, ng);
    }
    if (!single) weft_json_enc_end(j);
    return weft_http_json_end(c);
}

#define COLS "u.id, u.name, u.email, u.role, u.disabled"

/* The SQL condition "u may see user u.id" appended to sql. */
static void visible_cond(weft_buf *sql, const api_user *u, weft_db_arg *a, int *na) {
    if (api_user_sees_all(u)) {
        weft_buf_appends(sql, "1 = 1");
        return;
    }
    weft_buf_printf(sql, "(u.id = $%d", *na + 1);
    a[(*na)++] = WEFT_DB_INT(u->id);
    if (u->role == API_ROLE_MANAGER) {
        weft_buf_appends(sql, " OR u.id IN (SELECT user_id FROM user_groups WHERE group_id IN (");
        api_sql_groups(sql, u, a, na);
        weft_buf_appends(sql, "))");
    }
    weft_buf_appends(sql, ")");
}

static int list(weft_http_ctx *c, void *ud) {
    fleet *f = ud;
    api_user u;
    if (api_auth(f, c, &u, API_READ) < 0 || api_need_role(c, &u, API_ROLE_MANAGER) < 0) return 0;
    int64_t limit, offset;
    if (api_page(c, API_PAGE_DEFAULT, API_PAGE_MAX, &limit, &offset) < 0) return 0;
    weft_buf sql;
    weft_buf_init(&sql, 0);
    weft_db_arg a[API_USER_GROUPS_MAX + 4];
    int na = 0;
    weft_buf_appends(&sql, "SELECT " COLS " FROM users u WHERE ");
    visible_cond(&sql, &u, a, &na);
    weft_db_rows *r;
    int n;
    if (api_page_query(f, c, &sql, "u.id", a, na, limit, offset, &r, &n) < 0) return 0;
    int rc = out_rows(c, f, r, n, 0, 200);
    weft_db_rows_free(r);
    return rc;
}

/* The user {id} if u may see them; NULL after answering 404. */
static weft_db_rows *target(fleet *f, weft_http_ctx *c, const api_user *u, int64_t *id) {
    if (weft_str_to_i64(weft_http_param(c, "id"), id) != 0) return api_fail(c, 404, "no such user"), NULL;
    weft_buf sql;
    weft_buf_init(&sql, 0);
    weft_db_arg a[API_USER_GROUPS_MAX + 4];
    int na = 1;
    a[0] = WEFT_DB_INT(*id);
    weft_buf_appends(&sql, "SELECT " COLS " FROM users u WHERE u.id = $1 AND ");
    visible_cond(&sql, u, a, &na);
    weft_db_rows *r = api_one_row(f, c, sql.data, a, na, "user");
    weft_buf_free(&sql);
    return r;
}

static int get(weft_http_ctx *c, void *ud) {
    api_user u;
    int64_t id;
    if (api_auth(ud, c, &u, API_READ) < 0) return 0;
    weft_db_rows *r = target(ud, c, &u, &id);
    if (!r) return 0;
    int rc = out_rows(c, ud, r, 1, 1, 200);
    weft_db_rows_free(r);
    return rc;
}

typedef struct user_fields {
    const char *email, *name, *password, *role;
    int has_email, has_name, has_password, has_role, has_disabled, has_groups;
    int disabled, ngroups;
    int64_t groups[API_USER_GROUPS_MAX];
} user_fields;

static int read_fields(fleet *f, weft_http_ctx *c, user_fields *x, int creating) {
    api_body b;
    if (api_body_open(c, &b) < 0) return -1;
    if ((x->has_email = api_body_str(&b, "email", 3, 255, &x->email)) < 0) return -1;
    if (creating && x->has_email != 1) return api_fail(c, 400, "email is required");
    if (x->has_email == 1) {
        if (!strchr(x->email, '@')) return api_fail(c, 422, "email must contain @");
        for (char *p = (char *)x->email; *p; p++)
            if (*p >= 'A' && *p <= 'Z') *p = (char)(*p - 'A' + 'a');
    }
    if ((x->has_name = api_body_str(&b, "name", 1, 128, &x->name)) < 0) return -1;
    if (creating && x->has_name != 1) x->name = x->email, x->has_name = 1;
    if ((x->has_password = api_body_str(&b, "password", PASSWORD_MIN, PASSWORD_MAX, &x->password)) < 0) return -1;
    if (creating && x->has_password != 1) return api_fail(c, 400, "password is required");
    if ((x->has_role = api_body_str(&b, "role", 1, 16, &x->role)) < 0) return -1;
    if (x->has_role == 1 && api_role_parse(weft_str_c(x->role)) < 0)
        return api_fail(c, 422, "role must be admin, manager or viewer");
    if (x->has_role != 1) x->role = "viewer";
    if ((x->has_disabled = api_body_bool(&b, "disabled", &x->disabled)) < 0) return -1;
    x->ngroups = 0;
    if (b.json) {
        const weft_json *g = weft_json_get(b.json, "groupIds");
        if (g && g->type != WEFT_JSON_NULL) {
            if (g->type != WEFT_JSON_ARRAY) return api_fail(c, 400, "groupIds must be an array of group ids");
            if (g->len > API_USER_GROUPS_MAX) return api_fail(c, 422, "groupIds: at most %d groups", API_USER_GROUPS_MAX);
            for (uint32_t i = 0; i < g->len; i++)
                if (weft_json_int(&g->u.items[i], &x->groups[x->ngroups++]) != 0)
                    return api_fail(c, 400, "groupIds[%u] must be an integer", i);
        }
        x->has_groups = g != NULL;
    } else {
        weft_str v = weft_http_form(c, "groupIds"); /* a form: comma-separated */
        x->has_groups = v.p != NULL;
        while (v.n) {
            weft_str one;
            v = weft_str_cut(v, ',', &one);
            if (x->ngroups == API_USER_GROUPS_MAX) return api_fail(c, 422, "groupIds: at most %d groups", API_USER_GROUPS_MAX);
            if (weft_str_to_i64(weft_str_trim(one), &x->groups[x->ngroups++]) != 0)
                return api_fail(c, 400, "groupIds must be comma-separated integers");
        }
    }
    for (int i = 0; i < x->ngroups; i++) {
        weft_db_arg a[] = {WEFT_DB_INT(x->groups[i])};
        weft_db_err e;
        int64_t found;
        int rc = store_query_i64(f->db, "SELECT id FROM groups WHERE id = $1", a, 1, &found, &e);
        if (rc == WEFT_ENOENT) return api_fail(c, 422, "groupIds: group %lld does not exist", (long long)x->groups[i]);
        if (rc < 0) return api_fail_db(c, rc, &e);
    }
    return 0;
}

static int write_groups(store_tx *tx, int64_t id, const user_fields *x, weft_db_err *e, int64_t dl) {
    weft_db_arg a[] = {WEFT_DB_INT(id)};
    int rc = store_tx_exec(tx, "DELETE FROM user_groups WHERE user_id = $1", a, 1, NULL, e, dl);
    for (int i = 0; i < x->ngroups && rc == 0; i++) {
        weft_db_arg g[] = {WEFT_DB_INT(id), WEFT_DB_INT(x->groups[i])};
        rc = store_tx_exec(tx, "INSERT INTO user_groups (user_id, group_id) VALUES ($1, $2) ON CONFLICT DO NOTHING", g,
                           2, NULL, e, dl);
    }
    return rc;
}

static int respond_user(fleet *f, weft_http_ctx *c, int64_t id, int status) {
    weft_db_arg a[] = {WEFT_DB_INT(id)};
    weft_db_rows *r;
    weft_db_err e;
    int rc = store_query(f->db, "SELECT " COLS " FROM users u WHERE u.id = $1", a, 1, &r, &e);
    if (rc < 0) return api_fail_db(c, rc, &e), 0;
    rc = out_rows(c, f, r, weft_db_nrows(r), 1, status);
    weft_db_rows_free(r);
    return rc;
}

static int create(weft_http_ctx *c, void *ud) {
    fleet *f = ud;
    api_user u;
    if (api_auth(f, c, &u, API_WRITE) < 0 || api_need_role(c, &u, API_ROLE_ADMIN) < 0) return 0;
    user_fields x = {0};
    if (read_fields(f, c, &x, 1) < 0) return 0;
    char hash[128];
    int rc = api_pwhash(x.password, hash);
    if (rc < 0) return api_fail(c, 500, "hashing the password: %s", weft_strerror(rc)), 0;
    store_tx *tx;
    weft_db_err e;
    int64_t dl = weft_deadline_in(STORE_DEADLINE_MS);
    if ((rc = store_begin(f->db, &tx, &e, dl)) < 0) return api_fail_db(c, rc, &e), 0;
    weft_db_arg a[] = {WEFT_DB_TEXT(x.email), WEFT_DB_TEXT(x.name), WEFT_DB_TEXT(hash), WEFT_DB_TEXT(x.role),
                       WEFT_DB_INT(x.has_disabled == 1 && x.disabled), WEFT_DB_INT(fleet_now_ms())};
    int64_t id = 0;
    rc = store_tx_query_i64(tx,
                            "INSERT INTO users (email, name, password_hash, role, disabled, created_ms) VALUES ($1, $2, "
                            "$3, $4, $5, $6) RETURNING id",
                            a, 6, &id, &e, dl);
    if (rc == 0) rc = write_groups(tx, id, &x, &e, dl);
    if (rc < 0) {
        store_rollback(tx);
        if (weft_db_err_is_constraint(&e)) return api_fail(c, 409, "a user with email %s exists", x.email), 0;
        return api_fail_db(c, rc, &e), 0;
    }
    if ((rc = store_commit(tx, &e, dl)) < 0) return api_fail_db(c, rc, &e), 0;
    return respond_user(f, c, id, 201);
}

static int update(weft_http_ctx *c, void *ud) {
    fleet *f = ud;
    api_user u;
    int64_t id;
    if (api_auth(f, c, &u, API_WRITE) < 0) return 0;
    weft_db_rows *cur = target(f, c, &u, &id);
    if (!cur) return 0;
    weft_db_rows_free(cur);
    user_fields x = {0};
    if (read_fields(f, c, &x, 0) < 0) return 0;
    if (!api_user_sees_all(&u)) {
        if (id != u.id) return api_fail(c, 403, "only an admin changes other users"), 0;
        if (x.has_email || x.has_role || x.has_disabled || x.has_groups)
            return api_fail(c, 403, "only an admin changes email, role, disabled or groupIds"), 0;
    } else if (id == u.id && ((x.has_role == 1 && strcmp(x.role, "admin") != 0) || (x.has_disabled == 1 && x.disabled))) {
        return api_fail(c, 409, "an admin cannot demote or disable themselves"), 0;
    }
    char hash[128] = "";
    int rc;
    if (x.has_password == 1 && (rc = api_pwhash(x.password, hash)) < 0)
        return api_fail(c, 500, "hashing the password: %s", weft_strerror(rc)), 0;
    store_tx *tx;
    weft_db_err e;
    int64_t dl = weft_deadline_in(STORE_DEADLINE_MS);
    if ((rc = store_begin(f->db, &tx, &e, dl)) < 0) return api_fail_db(c, rc, &e), 0;
    weft_db_arg a[] = {x.has_email == 1 ? WEFT_DB_TEXT(x.email) : WEFT_DB_NULL,
                       x.has_name == 1 ? WEFT_DB_TEXT(x.name) : WEFT_DB_NULL,
                       x.has_password == 1 ? WEFT_DB_TEXT(hash) : WEFT_DB_NULL,
                       x.has_role == 1 ? WEFT_DB_TEXT(x.role) : WEFT_DB_NULL,
                       x.has_disabled == 1 ? WEFT_DB_INT(x.disabled) : WEFT_DB_NULL, WEFT_DB_INT(id)};
    rc = store_tx_exec(tx,
                       "UPDATE users SET email = COALESCE($1, email), name = COALESCE($2, name), password_hash = "
                       "COALESCE($3, password_hash), role = COALESCE($4, role), disabled = COALESCE($5, disabled) "
                       "WHERE id = $6",
                       a, 6, NULL, &e, dl);
    if (rc == 0 && x.has_groups) rc = write_groups(tx, id, &x, &e, dl);
    if (rc == 0 && x.has_password == 1) { /* a new password ends the other sessions */
        weft_db_arg s[] = {WEFT_DB_INT(id), WEFT_DB_TEXT(u.token_hash)};
        rc = store_tx_exec(tx, "DELETE FROM sessions WHERE user_id = $1 AND kind = 'session' AND token_hash <> $2", s, 2,
                           NULL, &e, dl);
    }
    if (rc < 0) {
        store_rollback(tx);
        if (weft_db_err_is_constraint(&e)) return api_fail(c, 409, "a user with email %s exists", x.email), 0;
        return api_fail_db(c, rc, &e), 0;
    }
    if ((rc = store_commit(tx, &e, dl)) < 0) return api_fail_db(c, rc, &e), 0;
    return respond_user(f, c, id, 200);
}

static int delete(weft_http_ctx *c, void *ud) {
    fleet *f = ud;
    api_user u;
    int64_t id;
    if (api_auth(f, c, &u, API_WRITE) < 0 || api_need_role(c, &u, API_ROLE_ADMIN) < 0) return 0;
    if (weft_str_to_i64(weft_http_param(c, "id"), &id) != 0) return api_fail(c, 404, "no such user"), 0;
    if (id == u.id) return api_fail(c, 409, "an admin cannot delete themselves"), 0;
    weft_db_arg a[] = {WEFT_DB_INT(id)};
    weft_db_err e;
    int64_t n = 0;
    int rc = store_exec(f->db, "DELETE FROM users WHERE id = $1", a, 1, &n, &e); /* sessions, groups: CASCADE */
    if (rc < 0) return api_fail_db(c, rc, &e), 0;
    if (n == 0) return api_fail(c, 404, "no such user"), 0;
    weft_http_set_status(c, 204);
    return 0;
}

int api_routes_users(weft_http_router *r, fleet *f) {
    int rc = 0;
    rc |= weft_http_route(r, "GET", "/api/users", list, f);
    rc |= weft_http_route(r, "GET", "/api/users/{id}", get, f);
    rc |= weft_http_route(r, "POST", "/api/users", create, f);
    rc |= weft_http_route(r, "PUT", "/api/users/{id}", update, f);
    rc |= weft_http_route(r, "DELETE", "/api/users/{id}", delete, f);
    return rc;
}
