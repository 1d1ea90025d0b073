/*
 * apps/fleet/api_int.h — what the api_*.c files share: answering errors,
 * reading parameters and bodies (each failure answered with a message that
 * names the field), paging, and who may see what.
 *
 * Convention: a helper that answers the request itself (an error) returns
 * -1; the handler then returns 0 (the response is complete). Handlers
 * return a negative code only for failures the server should turn into 500.
 */
#ifndef FLEET_API_INT_H
#define FLEET_API_INT_H

#include <pthread.h>

#include "weft/json.h"

#include "api.h"
#include "isotime.h"
#include "model.h"

/* Paging of every list: ?limit=&offset=. Lists of things (devices, groups,
 * users, geofences, events) default to API_PAGE_DEFAULT, at most
 * API_PAGE_MAX; positions and route reports default to API_ROWS_DEFAULT,
 * at most API_ROWS_MAX. A full page sets the header X-Next-Offset. */
#define API_PAGE_DEFAULT 1000
#define API_PAGE_MAX 10000
#define API_ROWS_DEFAULT 10000
#define API_ROWS_MAX 100000

#define API_SESSION_COOKIE "fleet_session"

/* The API's own state, in fleet.api. */
#define API_RL_SLOTS 1024
typedef struct api_state {
    pthread_mutex_t mu;
    struct api_rl_slot {
        char addr[64];
        int64_t window; /* minute number */
        int count;
    } rl[API_RL_SLOTS];
} api_state;

/* ---- answers ---------------------------------------------------------------------- */
/* {"error": "<formatted>"} with status; returns -1. */
int api_fail(weft_http_ctx *c, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* {"error": "<formatted>", "field": "<field>"}: the same, for a request body
 * field that is missing or wrong, so a form can show the message next to
 * the field it names (the dashboard's devices and geofences pages). */
int api_fail_field(weft_http_ctx *c, int status, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The store failed: 503 on a timeout, and with e's message on WEFT_EIO (a
 * write not known to be durable, or refused after a failed sync: see
 * store_sync); else 500 and logs e. Returns -1. */
int api_fail_db(weft_http_ctx *c, int rc, const weft_db_err *e);

/* ---- who is asking ----------------------------------------------------------------- */
enum { API_READ = 0, API_WRITE = 1 };
/* Authenticate; 401 when not signed in. For API_WRITE by cookie, also the
 * CSRF check (403). Returns 0, or -1 after answering. */
int api_auth(fleet *f, weft_http_ctx *c, api_user *u, int mode);
/* 403 unless u has at least `role`; 0 or -1. */
int api_need_role(weft_http_ctx *c, const api_user *u, int role);
/* The device id if u may see it (NULL otherwise: answer 404). */
live_device *api_device_visible(fleet *f, const api_user *u, int64_t id);
/* The SQL list "$k, $k+1, ..." of u's groups appended to b, args in a[] from
 * index *na (at most API_USER_GROUPS_MAX). "NULL" when u has none. */
void api_sql_groups(weft_buf *b, const api_user *u, weft_db_arg *a, int *na);
void api_user_json(weft_json_enc *e, int64_t id, const char *name, const char *email, const char *role,
                   int disabled, const int64_t *groups, int ngroups);
const char *api_role_name(int role);
int api_role_parse(weft_str s);

/* ---- the request ------------------------------------------------------------------ */
/* Query parameter as an integer. 0 absent, 1 present, -1 answered 400. */
int api_q_i64(weft_http_ctx *c, const char *name, int64_t *out);
/* Query parameter as a time (fleet_time_parse forms). 0 absent, 1, -1 (400). */
int api_q_time(weft_http_ctx *c, const char *name, int64_t *ms);
/* Every value of a repeatable integer parameter (?deviceId=1&deviceId=2) into
 * out[0..cap). Returns the count, or -1 (400: not an integer, or over cap). */
int api_q_ids(weft_http_ctx *c, const char *name, int64_t *out, int cap);
/* ?limit&offset with the default and maximum; 0 or -1 (400). */
int api_page(weft_http_ctx *c, int64_t def, int64_t max, int64_t *limit, int64_t *offset);
/* After a list of `got` rows fetched with LIMIT limit+1: sets X-Next-Offset
 * when there was one more row; returns the rows to show. */
/* One page of a list: append " ORDER BY <order> LIMIT $k OFFSET $k+1" to sql
 * (args a[0..na) so far; a has room for two more), run it, free sql. On
 * success *rows holds up to limit + 1 rows and *n the page's count (with
 * X-Next-Offset set when there is more, as api_page_done); on failure the
 * error is answered and -1 returned. */
int api_page_query(fleet *f, weft_http_ctx *c, weft_buf *sql, const char *order, weft_db_arg *a, int na,
                   int64_t limit, int64_t offset, weft_db_rows **rows, int *n);
/* The one row sql (args a[0..na)) selects, or NULL after answering: the
 * database's error, or 404 "no such <what>" when there is no such row. */
weft_db_rows *api_one_row(fleet *f, weft_http_ctx *c, const char *sql, const weft_db_arg *a, int na,
                          const char *what);
/* Answer 200 with a JSON array of out(row) for rows 0..n-1 of r, and free r. */
int api_answer_rows(weft_http_ctx *c, weft_db_rows *r, int n,
                    void (*out)(weft_json_enc *e, const weft_db_rows *r, int i));
int api_page_done(weft_http_ctx *c, int got, int64_t limit, int64_t offset);

/* A request body, JSON (application/json, or a body that starts with '{')
 * or a form (application/x-www-form-urlencoded). */
typedef struct api_body {
    weft_http_ctx *c;
    const weft_json *json; /* NULL: a form */
} api_body;
/* 0 or -1 (400: not JSON, not an object). */
int api_body_open(weft_http_ctx *c, api_body *b);
/* Each: 0 absent, 1 present (value in *out), 2 present as JSON null, -1
 * answered 400/422 naming the field. Strings are NUL-terminated in the
 * request arena; max is the longest accepted (bytes), min the shortest. */
int api_body_str(api_body *b, const char *k, size_t min, size_t max, const char **out);
int api_body_num(api_body *b, const char *k, double min, double max, double *out);
int api_body_i64(api_body *b, const char *k, int64_t *out);
int api_body_bool(api_body *b, const char *k, int *out);

/* The positions output formats. */
typedef enum { FMT_JSON, FMT_GEOJSON, FMT_GPX, FMT_CSV } api_format;
/* ?format= or the Accept header; -1 answered 400. `allowed` is a bit set of
 * 1 << FMT_*. */
int api_format_of(weft_http_ctx *c, unsigned allowed);

/* ---- handlers (one file each) ---------------------------------------------------------- */
int api_routes_session(weft_http_router *r, fleet *f);
int api_routes_devices(weft_http_router *r, fleet *f);
int api_routes_groups(weft_http_router *r, fleet *f);
int api_routes_users(weft_http_router *r, fleet *f);
int api_routes_geofences(weft_http_router *r, fleet *f);
int api_routes_positions(weft_http_router *r, fleet *f);
int api_routes_events(weft_http_router *r, fleet *f);
int api_routes_reports(weft_http_router *r, fleet *f);
int api_routes_live(weft_http_router *r, fleet *f);
/* The dashboard's files (api_web.c): /, /src/, /vendor/, /overlays/, GET /api/server. */
int api_routes_web(weft_http_router *r, fleet *f);
/* What api_routes_live made, when fleet_stop has not freed it (api_free). */
void api_live_free(fleet *f);
int api_openapi(weft_http_ctx *c, void *ud);

/* Positions in the non-JSON formats (api_positions.c, shared with reports). */
typedef struct api_pos {
    int64_t id, device_id, fix_ms, server_ms;
    double lat, lon, speed_kn, course, altitude, accuracy;
    int valid;
    const char *protocol;
    const char *attrs;
    size_t attrs_len;
} api_pos;
typedef struct api_pos_out {
    weft_http_ctx *c;
    api_format fmt;
    weft_json_enc *e; /* FMT_JSON / FMT_GEOJSON */
    weft_json_enc enc;
    weft_buf *b;
    int n;
    int64_t gpx_device; /* the device of the open <trk>, 0 none */
} api_pos_out;
void api_pos_begin(api_pos_out *o, weft_http_ctx *c, api_format fmt);
void api_pos_row(api_pos_out *o, const api_pos *p, const weft_db_rows *r, int i, const device_view *v);
int api_pos_end(api_pos_out *o);
/* History of one device: rows of [from, to) by fix time, `limit` + 1 of
 * them at most from `offset` (through the (device_id, fix_time) index). */
int api_pos_history(fleet *f, int64_t device_id, int64_t from, int64_t to, int64_t limit, int64_t offset,
                    weft_db_rows **rows, weft_db_err *e);
void api_pos_from_row(api_pos *p, const weft_db_rows *r, int i);

#endif
