/*
 * apps/fleet/api_util.c — what the API handlers share (see api_int.h):
 * errors, parameters, bodies, paging, visibility and the CSRF rule.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft/log.h"

#include "api_int.h"

/* ---- answers ---------------------------------------------------------------------- */

int api_fail(weft_http_ctx *c, int status, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    weft_http_error(c, status, msg);
    return -1;
}

int api_fail_field(weft_http_ctx *c, int status, const char *field, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    weft_json_enc *e = weft_http_json_begin(c, status);
    weft_json_enc_object(e);
    weft_json_enc_key(e, WEFT_STR("error")), weft_json_enc_str(e, weft_str_c(msg));
    weft_json_enc_key(e, WEFT_STR("field")), weft_json_enc_str(e, weft_str_c(field));
    weft_json_enc_end(e);
    weft_http_json_end(c);
    return -1;
}

int api_fail_db(weft_http_ctx *c, int rc, const weft_db_err *e) {
    /* the store failed (or this write's sync did): not durable, and the
     * store logged it itself (once) */
    if (rc == WEFT_EIO) return api_fail(c, 503, "%s", e && e->msg[0] ? e->msg : "storage failed");
    weft_log_warn("api %.*s %.*s: store: %s (%s)", (int)weft_http_method(c).n, weft_http_method(c).p,
                  (int)weft_http_path(c).n, weft_http_path(c).p, e ? e->msg : "", weft_strerror(rc));
    if (rc == WEFT_ETIMEDOUT) return api_fail(c, 503, "the database did not answer in time");
    return api_fail(c, 500, "database error");
}

/* ---- who is asking ------------------------------------------------------------------ */

int api_user_sees_all(const api_user *u) { return u->role == API_ROLE_ADMIN; }

int api_user_sees_group(const api_user *u, int64_t gid) {
    if (u->role == API_ROLE_ADMIN) return 1;
    if (gid == 0) return 0;
    for (int i = 0; i < u->ngroups; i++)
        if (u->groups[i] == gid) return 1;
    return 0;
}

const char *api_role_name(int role) {
    return role == API_ROLE_ADMIN ? "admin" : role == API_ROLE_MANAGER ? "manager" : "viewer";
}

int api_role_parse(weft_str s) {
    if (weft_str_eq(s, WEFT_STR("admin"))) return API_ROLE_ADMIN;
    if (weft_str_eq(s, WEFT_STR("manager"))) return API_ROLE_MANAGER;
    if (weft_str_eq(s, WEFT_STR("viewer"))) return API_ROLE_VIEWER;
    return -1;
}

/* The CSRF rule for requests that change something and come with the
 * session cookie (a bearer token cannot be sent by another site's page, so
 * token requests are exempt). Accepted when any of these holds:
 *   - Sec-Fetch-Site: same-origin (every current browser sends it);
 *   - Origin is http(s)://<the Host header>;
 *   - an X-Requested-With header is present (a page on another site cannot
 *     add a custom header to a cross-site request without a CORS preflight,
 *     which this server never grants).
 * Anything else, e.g. a form posted from another site, is refused with 403. */
static int csrf_ok(weft_http_ctx *c) {
    if (weft_http_get_header(c, "X-Requested-With").n) return 1;
    weft_str site = weft_http_get_header(c, "Sec-Fetch-Site");
    if (site.n) return weft_str_eq_nocase(site, WEFT_STR("same-origin"));
    weft_str origin = weft_http_get_header(c, "Origin"), host = weft_http_get_header(c, "Host");
    if (!origin.n || !host.n) return 0;
    weft_str rest;
    if (weft_str_has_prefix(origin, WEFT_STR("http://"))) rest = (weft_str){origin.p + 7, origin.n - 7};
    else if (weft_str_has_prefix(origin, WEFT_STR("https://"))) rest = (weft_str){origin.p + 8, origin.n - 8};
    else return 0;
    return weft_str_eq_nocase(rest, host);
}

int api_auth(fleet *f, weft_http_ctx *c, api_user *u, int mode) {
    int rc = api_authenticate(f, c, u);
    if (rc == WEFT_EACCES) return api_fail(c, 401, "not signed in (session expired, or unknown token)");
    if (rc < 0) return api_fail_db(c, rc, NULL);
    if (mode == API_WRITE && u->via_cookie && !csrf_ok(c))
        return api_fail(c, 403,
                        "cross-site request refused: a request signed in by cookie that changes data needs "
                        "the header X-Requested-With (or a same-origin Origin / Sec-Fetch-Site)");
    return 0;
}

int api_need_role(weft_http_ctx *c, const api_user *u, int role) {
    if (u->role >= role) return 0;
    return api_fail(c, 403, "this needs the %s role", api_role_name(role));
}

live_device *api_device_visible(fleet *f, const api_user *u, int64_t id) {
    live_device *d = live_by_id(f->devices, id);
    if (!d || d->deleted) return NULL;
    live_lock(d);
    int64_t g = d->group_id;
    live_unlock(d);
    return api_user_sees_group(u, g) ? d : NULL;
}

void api_sql_groups(weft_buf *b, const api_user *u, weft_db_arg *a, int *na) {
    if (u->ngroups == 0) {
        weft_buf_appends(b, "NULL");
        return;
    }
    for (int i = 0; i < u->ngroups; i++) {
        weft_buf_printf(b, "%s$%d", i ? ", " : "", *na + 1);
        a[(*na)++] = WEFT_DB_INT(u->groups[i]);
    }
}

void api_user_json(weft_json_enc *e, int64_t id, const char *name, const char *email, const char *role,
                   int disabled, const int64_t *groups, int ngroups) {
    weft_json_enc_object(e);
    weft_json_enc_key(e, WEFT_STR("id")), weft_json_enc_int(e, id);
    weft_json_enc_key(e, WEFT_STR("name")), weft_json_enc_str(e, weft_str_c(name));
    weft_json_enc_key(e, WEFT_STR("email")), weft_json_enc_str(e, weft_str_c(email));
    weft_json_enc_key(e, WEFT_STR("role")), weft_json_enc_str(e, weft_str_c(role));
    /* Traccar's flags, derived from the role */
    weft_json_enc_key(e, WEFT_STR("administrator")), weft_json_enc_bool(e, strcmp(role, "admin") == 0);
    weft_json_enc_key(e, WEFT_STR("readonly")), weft_json_enc_bool(e, strcmp(role, "viewer") == 0);
    weft_json_enc_key(e, WEFT_STR("disabled")), weft_json_enc_bool(e, disabled);
    weft_json_enc_key(e, WEFT_STR("groupIds"));
    weft_json_enc_array(e);
    for (int i = 0; i < ngroups; i++) weft_json_enc_int(e, groups[i]);
    weft_json_enc_end(e);
    weft_json_enc_end(e);
}

/* ---- query parameters -------------------------------------------------------------- */

int api_q_i64(weft_http_ctx *c, const char *name, int64_t *out) {
    weft_str v = weft_http_query(c, name);
    if (!v.p) return 0;
    if (weft_str_to_i64(v, out) != 0) return api_fail(c, 400, "%s must be an integer", name);
    return 1;
}

int api_q_time(weft_http_ctx *c, const char *name, int64_t *ms) {
    weft_str v = weft_http_query(c, name);
    if (!v.p) return 0;
    if (fleet_time_parse(v, ms) != 0)
        return api_fail(c, 400, "%s must be a time (ISO 8601 like 2024-05-01T12:00:00Z, or Unix seconds/ms)", name);
    return 1;
}

int api_q_ids(weft_http_ctx *c, const char *name, int64_t *out, int cap) {
    weft_str q = weft_http_raw_query(c), want = weft_str_c(name);
    int n = 0;
    while (q.n) {
        weft_str pair;
        q = weft_str_cut(q, '&', &pair);
        weft_str key;
        weft_str val = weft_str_cut(pair, '=', &key);
        if (!key.p) continue;
        if (!weft_str_eq(key, want)) continue;
        if (n == cap) return api_fail(c, 400, "%s: at most %d values", name, cap);
        if (weft_str_to_i64(val, &out[n]) != 0 || out[n] <= 0)
            return api_fail(c, 400, "%s must be a positive integer", name);
        n++;
    }
    return n;
}

int api_page(weft_http_ctx *c, int64_t def, int64_t max, int64_t *limit, int64_t *offset) {
    *limit = def, *offset = 0;
    int rc;
    if ((rc = api_q_i64(c, "limit", limit)) < 0) return -1;
    if (rc && (*limit < 1 || *limit > max)) return api_fail(c, 400, "limit must be from 1 to %lld", (long long)max);
    if ((rc = api_q_i64(c, "offset", offset)) < 0) return -1;
    if (rc && *offset < 0) return api_fail(c, 400, "offset must be >= 0");
    return 0;
}

int api_page_done(weft_http_ctx *c, int got, int64_t limit, int64_t offset) {
    if (got > limit) {
        char v[32];
        snprintf(v, sizeof v, "%lld", (long long)(offset + limit));
        weft_http_add_header(c, "X-Next-Offset", v);
        return (int)limit;
    }
    return got;
}

/* ---- bodies ---------------------------------------------------------------------------- */

int api_body_open(weft_http_ctx *c, api_body *b) {
    b->c = c, b->json = NULL;
    weft_str ct = weft_http_get_header(c, "Content-Type"), body = weft_str_trim(weft_http_body(c));
    int json = (ct.n >= 16 && weft_str_has_prefix(ct, WEFT_STR("application/json"))) || (body.n && body.p[0] == '{');
    if (!json) return 0;
    weft_json *j;
    weft_json_error je = {0};
    if (weft_http_body_json(c, &j, &je) != 0)
        return api_fail(c, 400, "body is not valid JSON (at byte %zu: %s)", je.offset, je.msg ? je.msg : "?");
    if (j->type != WEFT_JSON_OBJECT) return api_fail(c, 400, "body must be a JSON object");
    b->json = j;
    return 0;
}

/* The raw value: JSON node, or a form field's text. */
static int field(api_body *b, const char *k, const weft_json **jv, weft_str *fv) {
    if (b->json) {
        *jv = weft_json_get(b->json, k);
        if (!*jv) return 0;
        return (*jv)->type == WEFT_JSON_NULL ? 2 : 1;
    }
    *jv = NULL;
    *fv = weft_http_form(b->c, k);
    return fv->p ? 1 : 0;
}

int api_body_str(api_body *b, const char *k, size_t min, size_t max, const char **out) {
    const weft_json *jv;
    weft_str v = {0};
    int rc = field(b, k, &jv, &v);
    if (rc != 1) return rc;
    if (jv) {
        if (jv->type != WEFT_JSON_STRING) return api_fail_field(b->c, 400, k, "%s must be a string", k);
        v = weft_json_str(jv);
    }
    if (memchr(v.p, 0, v.n)) return api_fail_field(b->c, 422, k, "%s must not contain NUL", k);
    if (v.n < min) return api_fail_field(b->c, 422, k, min == 1 ? "%s must not be empty" : "%s is too short", k);
    if (v.n > max) return api_fail_field(b->c, 422, k, "%s is longer than %zu bytes", k, max);
    *out = weft_arena_strndup(weft_http_arena(b->c), v.p ? v.p : "", v.n);
    if (!*out) return api_fail(b->c, 500, "out of memory");
    return 1;
}

int api_body_num(api_body *b, const char *k, double min, double max, double *out) {
    const weft_json *jv;
    weft_str v = {0};
    int rc = field(b, k, &jv, &v);
    if (rc != 1) return rc;
    if (jv) {
        if (weft_json_double(jv, out) != 0) return api_fail_field(b->c, 400, k, "%s must be a number", k);
    } else {
        char tmp[64], *end;
        if (v.n == 0 || v.n >= sizeof tmp) return api_fail_field(b->c, 400, k, "%s must be a number", k);
        memcpy(tmp, v.p, v.n), tmp[v.n] = 0;
        *out = strtod(tmp, &end);
        if (*end) return api_fail_field(b->c, 400, k, "%s must be a number", k);
    }
    if (!isfinite(*out) || *out < min || *out > max) return api_fail_field(b->c, 422, k, "%s must be from %g to %g", k, min, max);
    return 1;
}

int api_body_i64(api_body *b, const char *k, int64_t *out) {
    const weft_json *jv;
    weft_str v = {0};
    int rc = field(b, k, &jv, &v);
    if (rc != 1) return rc;
    if (jv ? weft_json_int(jv, out) != 0 : weft_str_to_i64(v, out) != 0)
        return api_fail_field(b->c, 400, k, "%s must be an integer", k);
    return 1;
}

int api_body_bool(api_body *b, const char *k, int *out) {
    const weft_json *jv;
    weft_str v = {0};
    int rc = field(b, k, &jv, &v);
    if (rc != 1) return rc;
    if (jv) {
        if (weft_json_bool(jv, out) != 0) return api_fail_field(b->c, 400, k, "%s must be true or false", k);
        return 1;
    }
    if (weft_str_eq(v, WEFT_STR("true")) || weft_str_eq(v, WEFT_STR("1"))) *out = 1;
    else if (weft_str_eq(v, WEFT_STR("false")) || weft_str_eq(v, WEFT_STR("0"))) *out = 0;
    else return api_fail_field(b->c, 400, k, "%s must be true or false", k);
    return 1;
}

/* ---- formats ------------------------------------------------------------------------------ */

int api_format_of(weft_http_ctx *c, unsigned allowed) {
    static const char *names[] = {"json", "geojson", "gpx", "csv"};
    weft_str f = weft_http_query(c, "format");
    int fmt = -1;
    if (f.p) {
        for (int i = 0; i < 4; i++)
            if (weft_str_eq(f, weft_str_c(names[i]))) fmt = i;
    } else {
        weft_str acc = weft_http_get_header(c, "Accept");
        fmt = FMT_JSON;
        for (size_t i = 0; i + 3 <= acc.n; i++) { /* first listed of the known types wins */
            weft_str rest = {acc.p + i, acc.n - i};
            if (weft_str_has_prefix(rest, WEFT_STR("application/json"))) break;
            if (weft_str_has_prefix(rest, WEFT_STR("application/geo+json"))) { fmt = FMT_GEOJSON; break; }
            if (weft_str_has_prefix(rest, WEFT_STR("application/gpx+xml"))) { fmt = FMT_GPX; break; }
            if (weft_str_has_prefix(rest, WEFT_STR("text/csv"))) { fmt = FMT_CSV; break; }
        }
    }
    if (fmt < 0 || !(allowed & (1u << fmt))) {
        weft_buf b;
        weft_buf_init(&b, 0);
        for (int i = 0; i < 4; i++)
            if (allowed & (1u << i)) weft_buf_printf(&b, "%s%s", b.len ? ", " : "", names[i]);
        api_fail(c, 400, "format must be one of: %s", b.data ? b.data : "");
        weft_buf_free(&b);
        return -1;
    }
    return fmt;
}

int api_page_query(fleet *f, weft_http_ctx *c, weft_buf *sql, const char *order, weft_db_arg *a, int na,
                   int64_t limit, int64_t offset, weft_db_rows **rows, int *n) {
    weft_buf_printf(sql, " ORDER BY %s LIMIT $%d OFFSET $%d", order, na + 1, na + 2);
    a[na++] = WEFT_DB_INT(limit + 1), a[na++] = WEFT_DB_INT(offset);
    weft_db_err e;
    int rc = store_query(f->db, sql->data, a, na, rows, &e);
    weft_buf_free(sql);
    if (rc < 0) return api_fail_db(c, rc, &e), -1;
    *n = api_page_done(c, weft_db_nrows(*rows), limit, offset);
    return 0;
}

weft_db_rows *api_one_row(fleet *f, weft_http_ctx *c, const char *sql, const weft_db_arg *a, int na,
                          const char *what) {
    weft_db_rows *r;
    weft_db_err e;
    int rc = store_query(f->db, sql, a, na, &r, &e);
    if (rc < 0) return api_fail_db(c, rc, &e), NULL;
    if (weft_db_nrows(r) == 1) return r;
    weft_db_rows_free(r);
    api_fail(c, 404, "no such %s", what);
    return NULL;
}

int api_answer_rows(weft_http_ctx *c, weft_db_rows *r, int n,
                    void (*out)(weft_json_enc *e, const weft_db_rows *r, int i)) {
    weft_json_enc *j = weft_http_json_begin(c, 200);
    weft_json_enc_array(j);
    for (int i = 0; i < n; i++) out(j, r, i);
    weft_json_enc_end(j);
    weft_db_rows_free(r);
    return weft_http_json_end(c);
}
