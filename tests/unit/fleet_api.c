/*
 * tests/unit/fleet_api.c — the REST API of weft fleet (apps/fleet/api_*.c)
 * through the in-process HTTP client: every endpoint's success and error
 * paths, who sees what (a viewer of one group never sees another group's
 * device anywhere: lists, single reads, positions latest and history in
 * every format, events, reports), the login rate limit, the CSRF rule, API
 * tokens, password hashes, reports over a synthetic day with known trips
 * and stops, and the start-up bootstrap.
 *
 * Each test runs twice: on SQLite in a fresh directory (name_lite) and on
 * PostgreSQL (name_pg) in a schema of its own in the database WEFT_TEST_PG
 * names (scripts/test.sh starts one); without WEFT_TEST_PG the _pg half
 * says so and checks nothing.
 */
#include <math.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "test.h"
#include "weft/db.h"
#include "weft/http.h"
#include "weft/json.h"

#include "api.h"
#include "geo.h"
#include "isotime.h"
#include "model.h"
#include "motion.h"

/* ---- the fixture ------------------------------------------------------------------------ */

typedef struct env {
    fleet f;
    weft_http_router *r;
    char dir[64];
    char schema[64];
    int pg;
    char admin[128]; /* "Cookie: fleet_session=...\r\nX-Requested-With: t\r\n" */
    weft_arena arena; /* response JSON */
} env;

#define ADMIN_EMAIL "admin@test.local"
#define ADMIN_PW "admin-password-1"
#define XRW "X-Requested-With: test\r\n"

static int pg_admin_exec(const char *sql) {
    weft_pg_config c = {.conninfo = getenv("WEFT_TEST_PG")};
    weft_pg *db;
    weft_db_err e;
    if (weft_pg_open(&db, &c, &e) < 0) return fprintf(stderr, "pg: %s\n", e.msg), -1;
    int rc = weft_pg_exec(db, sql, NULL, 0, NULL, &e, weft_deadline_in(10000));
    if (rc < 0) fprintf(stderr, "%s: %s\n", sql, e.msg);
    weft_pg_close(db);
    return rc;
}

/* Open the fixture; with cfg_fn, adjust the settings first. 0 or -1. */
static int env_open(env *v, int pg, void (*cfg_fn)(fleet_config *)) {
    memset(v, 0, sizeof *v);
    weft_arena_init(&v->arena, 64 * 1024);
    fleet *f = &v->f;
    fleet_config_defaults(&f->cfg);
    v->pg = pg;
    if (pg) {
        static int seq;
        snprintf(v->schema, sizeof v->schema, "fleet_api_%d_%d", (int)getpid(), ++seq);
        char sql[160];
        snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS %s CASCADE", v->schema);
        if (pg_admin_exec(sql) < 0) return -1;
        snprintf(sql, sizeof sql, "CREATE SCHEMA %s", v->schema);
        if (pg_admin_exec(sql) < 0) return -1;
        snprintf(f->cfg.postgres, sizeof f->cfg.postgres, "%s options=-csearch_path=%s", getenv("WEFT_TEST_PG"),
                 v->schema);
    } else {
        snprintf(v->dir, sizeof v->dir, "/tmp/fleet-api-XXXXXX");
        if (!mkdtemp(v->dir)) return -1;
        snprintf(f->cfg.data_dir, sizeof f->cfg.data_dir, "%s", v->dir);
    }
    snprintf(f->cfg.admin_email, sizeof f->cfg.admin_email, "%s", ADMIN_EMAIL);
    snprintf(f->cfg.admin_password, sizeof f->cfg.admin_password, "%s", ADMIN_PW);
    if (cfg_fn) cfg_fn(&f->cfg);
    pthread_mutex_init(&f->geo_mu, NULL);
    pthread_rwlock_init(&f->groups_mu, NULL);
    char err[512];
    api_pwhash_set_light(1);
    if (store_open(&f->db, &f->cfg, err, sizeof err) < 0) return fprintf(stderr, "store: %s\n", err), -1;
    if (!(f->devices = live_new()) || fleet_load(f, err, sizeof err) < 0) return fprintf(stderr, "load: %s\n", err), -1;
    if (!(v->r = api_router(f))) return -1;
    if (api_bootstrap(f, err, sizeof err) < 0) return fprintf(stderr, "bootstrap: %s\n", err), -1;
    return 0;
}

static void env_close(env *v) {
    fleet *f = &v->f;
    if (f->w) writer_stop(f->w); /* a test that started one and failed */
    weft_http_router_free(v->r);
    api_free(f);
    store_close(f->db);
    live_free(f->devices);
    fleet_geo_release(f->geo);
    free(f->groups);
    weft_arena_free(&v->arena);
    if (v->pg) {
        char sql[160];
        snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS %s CASCADE", v->schema);
        pg_admin_exec(sql);
    } else if (v->dir[0]) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf %s", v->dir);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", v->dir);
    }
}

/* One request; the status, or -1 when the client failed. res may be NULL. */
static int req(env *v, const char *method, const char *target, const char *headers, const char *body,
               weft_http_test_response *res) {
    weft_http_test_response tmp;
    weft_http_test_response *r = res ? res : &tmp;
    char h[1024];
    snprintf(h, sizeof h, "%s%s", headers ? headers : "",
             body && (body[0] == '{' || body[0] == '[') ? "Content-Type: application/json\r\n"
             : body                 ? "Content-Type: application/x-www-form-urlencoded\r\n"
                                    : "");
    int rc = weft_http_test(v->r, method, target, h, body, r);
    int st = rc < 0 ? -1 : r->status;
    if (!res) weft_http_test_response_free(&tmp);
    return st;
}

/* Parse a response body (into the env's arena). */
static weft_json *js(env *v, const weft_http_test_response *res) {
    weft_json *j = NULL;
    weft_json_error je;
    if (weft_json_parse(res->body.p, res->body.n, &v->arena, 0, &j, &je) != 0) return NULL;
    return j;
}

static int64_t jint(const weft_json *o, const char *k) {
    int64_t x = -1;
    weft_json_int(weft_json_get(o, k), &x);
    return x;
}

static double jd(const weft_json *o, const char *k) {
    double d = NAN;
    weft_json_double(weft_json_get(o, k), &d);
    return d;
}

static double jnum(const weft_json *x) { return !x ? NAN : x->type == WEFT_JSON_INT ? (double)x->u.i : x->u.d; }

static int body_has(const weft_http_test_response *res, const char *s) {
    return memmem(res->body.p, res->body.n, s, strlen(s)) != NULL;
}

/* Sign in; headers (cookie + X-Requested-With) into out. The status. */
static int login(env *v, const char *email, const char *pw, char out[128]) {
    char body[256];
    snprintf(body, sizeof body, "email=%s&password=%s", email, pw);
    weft_http_test_response res;
    int st = req(v, "POST", "/api/session", NULL, body, &res);
    weft_str ck = weft_http_test_header(&res, "Set-Cookie");
    const char *semi = ck.p ? memchr(ck.p, ';', ck.n) : NULL;
    if (st == 200 && semi) snprintf(out, 128, "Cookie: %.*s\r\n" XRW, (int)(semi - ck.p), ck.p);
    weft_http_test_response_free(&res);
    return st;
}

/* POST/PUT a JSON body as h; the new object's id (or -status). */
static int64_t make(env *v, const char *h, const char *method, const char *target, const char *body) {
    weft_http_test_response res;
    int st = req(v, method, target, h, body, &res);
    int64_t id = -st;
    if (st == 200 || st == 201) id = jint(js(v, &res), "id");
    weft_http_test_response_free(&res);
    return id;
}

/* The standard world: groups A and B, a viewer and a manager of A, a
 * device in each group with a latest position, history and events. */
typedef struct world {
    int64_t ga, gb, dev_a, dev_b;
    char viewer[128], manager[128];
} world;

static int64_t T0 = 1717200000000LL; /* 2024-06-01T00:00:00Z */

static int add_position(env *v, int64_t dev, int64_t t, double lat, double lon, double speed, const char *attrs) {
    weft_db_arg a[] = {WEFT_DB_INT(dev), WEFT_DB_INT(t), WEFT_DB_DOUBLE(lat), WEFT_DB_DOUBLE(lon),
                       WEFT_DB_DOUBLE(speed), WEFT_DB_TEXT(attrs)};
    weft_db_err e;
    int rc = store_exec(v->f.db,
                        "INSERT INTO positions (device_id, protocol, fix_time, server_time, latitude, longitude, speed, "
                        "course, altitude, accuracy, valid, attributes) VALUES ($1, 'osmand', $2, $2, $3, $4, $5, 90, "
                        "100, 5, 1, $6)",
                        a, 6, NULL, &e);
    if (rc < 0) fprintf(stderr, "insert position: %s\n", e.msg);
    return rc;
}

static int add_event(env *v, int64_t dev, const char *type, int64_t t) {
    weft_db_arg a[] = {WEFT_DB_INT(dev), WEFT_DB_TEXT(type), WEFT_DB_INT(t)};
    weft_db_err e;
    int rc = store_exec(v->f.db,
                        "INSERT INTO events (device_id, type, event_time, server_time, latitude, longitude, geofence_id) "
                        "VALUES ($1, $2, $3, $3, 48.2, 16.37, 0)",
                        a, 3, NULL, &e);
    if (rc < 0) fprintf(stderr, "insert event: %s\n", e.msg);
    return rc;
}

static void set_latest(env *v, int64_t dev, double lat, double lon, int64_t t) {
    live_device *d = live_by_id(v->f.devices, dev);
    live_lock(d);
    d->st.has_fix = 1, d->st.fix_ms = d->st.server_ms = d->st.last_seen_ms = t;
    d->st.lat = lat, d->st.lon = lon, d->st.valid = 1, d->st.status = LIVE_ONLINE;
    snprintf(d->st.protocol, sizeof d->st.protocol, "osmand");
    live_unlock(d);
}

static int world_make(env *v, world *w) {
    if (login(v, ADMIN_EMAIL, ADMIN_PW, v->admin) != 200) return -1;
    w->ga = make(v, v->admin, "POST", "/api/groups", "{\"name\":\"A\"}");
    w->gb = make(v, v->admin, "POST", "/api/groups", "{\"name\":\"B\",\"speedLimit\":40}");
    char body[256];
    snprintf(body, sizeof body,
             "{\"email\":\"viewer@a\",\"name\":\"Viewer A\",\"password\":\"viewer-pass\",\"role\":\"viewer\",\"groupIds\":[%lld]}",
             (long long)w->ga);
    if (make(v, v->admin, "POST", "/api/users", body) <= 0) return -2;
    snprintf(body, sizeof body,
             "{\"email\":\"manager@a\",\"name\":\"Manager A\",\"password\":\"manager-pass\",\"role\":\"manager\",\"groupIds\":[%lld]}",
             (long long)w->ga);
    if (make(v, v->admin, "POST", "/api/users", body) <= 0) return -3;
    snprintf(body, sizeof body, "{\"name\":\"Truck A\",\"uniqueId\":\"dev-a\",\"groupId\":%lld}", (long long)w->ga);
    w->dev_a = make(v, v->admin, "POST", "/api/devices", body);
    snprintf(body, sizeof body, "{\"name\":\"Truck B\",\"uniqueId\":\"dev-b\",\"groupId\":%lld}", (long long)w->gb);
    w->dev_b = make(v, v->admin, "POST", "/api/devices", body);
    if (w->ga <= 0 || w->gb <= 0 || w->dev_a <= 0 || w->dev_b <= 0) return -4;
    for (int i = 0; i < 10; i++) {
        if (add_position(v, w->dev_a, T0 + i * 60000, 48.2 + i * 0.001, 16.37, 10, "{\"ignition\":true}") < 0 ||
            add_position(v, w->dev_b, T0 + i * 60000, 47.0 + i * 0.001, 15.0, 10, "{}") < 0)
            return -5;
    }
    if (add_event(v, w->dev_a, "deviceOnline", T0) < 0 || add_event(v, w->dev_a, "deviceMoving", T0 + 60000) < 0 ||
        add_event(v, w->dev_b, "deviceOnline", T0) < 0 || add_event(v, w->dev_b, "deviceOverspeed", T0 + 60000) < 0)
        return -6;
    set_latest(v, w->dev_a, 48.209, 16.37, T0 + 9 * 60000);
    set_latest(v, w->dev_b, 47.009, 15.0, T0 + 9 * 60000);
    if (login(v, "viewer@a", "viewer-pass", w->viewer) != 200) return -7;
    if (login(v, "manager@a", "manager-pass", w->manager) != 200) return -8;
    return 0;
}

/* The fixture on SQLite alone, for the tests that look at SQLite itself
 * (query plans, its syncs); NULL, the test failed, when it did not open. */
static env *lite_env(void) {
    env *v = calloc(1, sizeof *v);
    if (v && env_open(v, 0, NULL) < 0) {
        test__fail(__FILE__, __LINE__, "fixture did not open");
        env_close(v);
        free(v);
        v = NULL;
    }
    return v;
}

/* Run body on SQLite and on PostgreSQL. */
#define BOTH(name)                                                                                                    \
    static void name##_body(env *v);                                                                                  \
    static void name##_run(int pg, void (*cfg_fn)(fleet_config *)) {                                                  \
        if (pg && !getenv("WEFT_TEST_PG")) {                                                                          \
            printf("  %s_pg: WEFT_TEST_PG not set, not run (scripts/test.sh sets it)\n", #name);                     \
            return;                                                                                                   \
        }                                                                                                             \
        env *v = calloc(1, sizeof *v);                                                                                \
        if (env_open(v, pg, cfg_fn) < 0) {                                                                            \
            test__fail(__FILE__, __LINE__, "fixture did not open");                                                   \
        } else {                                                                                                      \
            name##_body(v);                                                                                           \
        }                                                                                                             \
        env_close(v);                                                                                                 \
        free(v);                                                                                                      \
    }                                                                                                                 \
    TEST(name##_lite) { name##_run(0, name##_cfg); }                                                                  \
    TEST(name##_pg) { name##_run(1, name##_cfg); }                                                                    \
    static void name##_body(env *v)

#define NOCFG(name) static void (*const name##_cfg)(fleet_config *) = NULL;

#define WORLD(w)                                                                                                      \
    world w;                                                                                                          \
    do {                                                                                                              \
        int wrc__ = world_make(v, &w);                                                                                \
        ASSERT_EQ(wrc__, 0);                                                                                          \
    } while (0)

/* ---- passwords (no store) ------------------------------------------------------------------ */

typedef struct pw_burst {
    const char *hash;
    weft_wg wg;
    atomic_int matched;
} pw_burst;

static void pw_burst_one(void *arg) {
    pw_burst *b = arg;
    if (api_pwverify(b->hash, "correct horse") == 1) atomic_fetch_add(&b->matched, 1);
    weft_wg_done(&b->wg);
}

/* Eight sign-ins at once at the production cost (64 MB each): at most two
 * hashes run at a time, every one still answers. Without the gate all
 * eight ran together on the blocking pool (peak 8, half a gigabyte). */
TEST(password_hashes_run_two_at_a_time) {
    char h[128];
    api_pwhash_set_light(0);
    ASSERT_EQ(api_pwhash("correct horse", h), 0);
    api_pwhash_set_light(1);
    (void)api_pwhash_peak();
    pw_burst b = {.hash = h};
    weft_wg_init(&b.wg);
    ASSERT_EQ(weft_wg_add(&b.wg, 8), 0);
    for (int i = 0; i < 8; i++) ASSERT_EQ(weft_go(pw_burst_one, &b), 0);
    ASSERT_EQ(weft_wg_wait(&b.wg, -1), 0);
    ASSERT_EQ(atomic_load(&b.matched), 8);
    int peak = api_pwhash_peak();
    ASSERT_GE(peak, 1);
    ASSERT_LE(peak, 2);
}

TEST(password_hash_round_trip) {
    char h1[128], h2[128];
    api_pwhash_set_light(0); /* the production cost once: argon2id, 64 MB */
    ASSERT_EQ(api_pwhash("correct horse", h1), 0);
    api_pwhash_set_light(1);
    ASSERT_EQ(api_pwhash("correct horse", h2), 0);
    ASSERT(strncmp(h1, "$argon2id$", 10) == 0);
    ASSERT(strncmp(h2, "$argon2id$", 10) == 0);
    ASSERT(strcmp(h1, h2) != 0); /* salted */
    ASSERT_EQ(api_pwverify(h1, "correct horse"), 1);
    ASSERT_EQ(api_pwverify(h2, "correct horse"), 1);
    ASSERT_EQ(api_pwverify(h1, "correct horsf"), 0);
    ASSERT_EQ(api_pwverify(h1, ""), 0);
    ASSERT_EQ(api_pwverify("not a hash", "correct horse"), 0);
    ASSERT_EQ(api_pwverify("", ""), 0);
}

TEST(demo_device_ids_match_the_simulator) {
    char id[24];
    api_demo_device_id(1, id);
    ASSERT_STREQ(id, "sim-0001");
    api_demo_device_id(2, id);
    ASSERT_STREQ(id, "356000000000002");
    api_demo_device_id(199, id);
    ASSERT_STREQ(id, "sim-0199");
    api_demo_device_id(200, id);
    ASSERT_STREQ(id, "356000000000200");
}

/* ---- sessions ------------------------------------------------------------------------------- */

NOCFG(session)
BOTH(session) {
    weft_http_test_response res;
    ASSERT_EQ(req(v, "GET", "/api/session", NULL, NULL, NULL), 401);
    ASSERT_EQ(req(v, "POST", "/api/session", NULL, "password=x", &res), 400);
    ASSERT(body_has(&res, "email is required"));
    weft_http_test_response_free(&res);
    ASSERT_EQ(req(v, "POST", "/api/session", NULL, "email=" ADMIN_EMAIL, &res), 400);
    ASSERT(body_has(&res, "password is required"));
    weft_http_test_response_free(&res);
    ASSERT_EQ(req(v, "POST", "/api/session", NULL, "email=" ADMIN_EMAIL "&password=wrong-password", NULL), 401);
    ASSERT_EQ(req(v, "POST", "/api/session", NULL, "email=nobody@x&password=wrong-password", NULL), 401);
    ASSERT_EQ(req(v, "POST", "/api/session", NULL, "{\"email\":5}", NULL), 400);
    ASSERT_EQ(req(v, "POST", "/api/session", NULL, "{\"email\":", NULL), 400);
    /* JSON works too; the email is case-insensitive */
    ASSERT_EQ(req(v, "POST", "/api/session", NULL, "{\"email\":\"ADMIN@test.local\",\"password\":\"" ADMIN_PW "\"}", &res),
              200);
    weft_str ck = weft_http_test_header(&res, "Set-Cookie");
    ASSERT(ck.p && memmem(ck.p, ck.n, "fleet_session=", 13) == ck.p);
    ASSERT(memmem(ck.p, ck.n, "HttpOnly", 8) && memmem(ck.p, ck.n, "SameSite=Lax", 12));
    ASSERT(!memmem(ck.p, ck.n, "Secure", 6)); /* web.secure_cookies is off */
    weft_json *u = js(v, &res);
    ASSERT(u);
    ASSERT(weft_str_eq(weft_json_str(weft_json_get(u, "email")), WEFT_STR(ADMIN_EMAIL)));
    ASSERT(weft_str_eq(weft_json_str(weft_json_get(u, "role")), WEFT_STR("admin")));
    ASSERT(!weft_json_get(u, "password") && !weft_json_get(u, "password_hash"));
    weft_http_test_response_free(&res);

    char h[128];
    ASSERT_EQ(login(v, ADMIN_EMAIL, ADMIN_PW, h), 200);
    ASSERT_EQ(req(v, "GET", "/api/session", h, NULL, &res), 200);
    ASSERT(body_has(&res, ADMIN_EMAIL));
    weft_http_test_response_free(&res);
    /* sign out needs the CSRF header too */
    char cookie_only[128];
    snprintf(cookie_only, sizeof cookie_only, "%.*s", (int)(strstr(h, "\r\n") - h + 2), h);
    ASSERT_EQ(req(v, "DELETE", "/api/session", cookie_only, NULL, NULL), 403);
    ASSERT_EQ(req(v, "GET", "/api/session", cookie_only, NULL, NULL), 200);
    ASSERT_EQ(req(v, "DELETE", "/api/session", h, NULL, &res), 204);
    ck = weft_http_test_header(&res, "Set-Cookie");
    ASSERT(ck.p && memmem(ck.p, ck.n, "Max-Age=0", 9));
    weft_http_test_response_free(&res);
    ASSERT_EQ(req(v, "GET", "/api/session", h, NULL, NULL), 401);
    ASSERT_EQ(req(v, "GET", "/api/session", "Cookie: fleet_session=forgedforgedforgedforged\r\n", NULL, NULL), 401);
    /* an expired session no longer signs in, and the next sign-in removes it */
    const char *old_tok = "expiredexpiredexpiredexpired";
    unsigned char hb[32];
    char hx[65];
    crypto_generichash(hb, sizeof hb, (const unsigned char *)old_tok, strlen(old_tok), NULL, 0);
    sodium_bin2hex(hx, sizeof hx, hb, sizeof hb);
    weft_db_arg a[] = {WEFT_DB_TEXT(hx), WEFT_DB_INT(fleet_now_ms() - 1000)};
    weft_db_err e;
    ASSERT_EQ(store_exec(v->f.db, "INSERT INTO sessions (token_hash, user_id, kind, created_ms, expires_ms, last_used_ms) "
                                  "VALUES ($1, 1, 'session', $2, $2, $2)", a, 2, NULL, &e), 0);
    ASSERT_EQ(req(v, "GET", "/api/session", "Cookie: fleet_session=expiredexpiredexpiredexpired\r\n", NULL, NULL), 401);
    ASSERT_EQ(login(v, ADMIN_EMAIL, ADMIN_PW, h), 200);
    weft_db_rows *r;
    ASSERT_EQ(store_query(v->f.db, "SELECT COUNT(*) FROM sessions WHERE token_hash = $1", a, 1, &r, &e), 0);
    ASSERT_EQ(weft_db_int(r, 0, 0), 0);
    weft_db_rows_free(r);
}

static void secure_cfg(fleet_config *c) { c->web_secure_cookies = 1; }
static void (*const secure_cookie_cfg)(fleet_config *) = secure_cfg;
BOTH(secure_cookie) {
    weft_http_test_response res;
    ASSERT_EQ(req(v, "POST", "/api/session", NULL, "email=" ADMIN_EMAIL "&password=" ADMIN_PW, &res), 200);
    weft_str ck = weft_http_test_header(&res, "Set-Cookie");
    ASSERT(ck.p && memmem(ck.p, ck.n, "; Secure", 8));
    weft_http_test_response_free(&res);
}

static void limit_cfg(fleet_config *c) { c->login_attempts_per_min = 3; }
static void (*const rate_limit_cfg)(fleet_config *) = limit_cfg;
BOTH(rate_limit) {
    /* the limiter counts per wall-clock minute: start early in one */
    if (fleet_now_ms() % 60000 > 55000) weft_sleep(60000 - fleet_now_ms() % 60000 + 50);
    for (int i = 0; i < 3; i++)
        ASSERT_EQ(req(v, "POST", "/api/session", NULL, "email=" ADMIN_EMAIL "&password=guess-guess", NULL), 401);
    weft_http_test_response res;
    ASSERT_EQ(req(v, "POST", "/api/session", NULL, "email=" ADMIN_EMAIL "&password=" ADMIN_PW, &res), 429);
    weft_str ra = weft_http_test_header(&res, "Retry-After");
    int64_t secs = 0;
    ASSERT(ra.p && weft_str_to_i64(ra, &secs) == 0);
    ASSERT(secs >= 1 && secs <= 60);
    ASSERT(body_has(&res, "too many sign-in attempts"));
    weft_http_test_response_free(&res);
}

/* ---- CSRF and tokens ------------------------------------------------------------------------ */

NOCFG(csrf)
BOTH(csrf) {
    char h[128];
    ASSERT_EQ(login(v, ADMIN_EMAIL, ADMIN_PW, h), 200);
    char cookie[128], hdr[320];
    snprintf(cookie, sizeof cookie, "%.*s", (int)(strstr(h, "\r\n") - h + 2), h);
    const char *body = "{\"name\":\"G\"}";
    /* no proof of origin: refused, nothing created */
    ASSERT_EQ(req(v, "POST", "/api/groups", cookie, body, NULL), 403);
    snprintf(hdr, sizeof hdr, "%sOrigin: http://evil.example\r\n", cookie);
    ASSERT_EQ(req(v, "POST", "/api/groups", hdr, body, NULL), 403);
    snprintf(hdr, sizeof hdr, "%sSec-Fetch-Site: cross-site\r\n", cookie);
    ASSERT_EQ(req(v, "POST", "/api/groups", hdr, body, NULL), 403);
    weft_http_test_response res;
    ASSERT_EQ(req(v, "GET", "/api/groups", cookie, NULL, &res), 200); /* reads need nothing */
    ASSERT(weft_str_eq(res.body, WEFT_STR("[]")));
    weft_http_test_response_free(&res);
    /* each accepted proof */
    snprintf(hdr, sizeof hdr, "%sSec-Fetch-Site: same-origin\r\n", cookie);
    ASSERT_EQ(req(v, "POST", "/api/groups", hdr, "{\"name\":\"G1\"}", NULL), 201);
    snprintf(hdr, sizeof hdr, "%sOrigin: http://test\r\n", cookie); /* the test client sends Host: test */
    ASSERT_EQ(req(v, "POST", "/api/groups", hdr, "{\"name\":\"G2\"}", NULL), 201);
    ASSERT_EQ(req(v, "POST", "/api/groups", h, "{\"name\":\"G3\"}", NULL), 201);
}

NOCFG(tokens)
BOTH(tokens) {
    WORLD(w);
    weft_http_test_response res;
    ASSERT_EQ(req(v, "POST", "/api/session/token", NULL, "name=x", NULL), 401);
    ASSERT_EQ(req(v, "POST", "/api/session/token", v->admin, "name=script", &res), 200);
    char tok[128], bearer[200];
    snprintf(tok, sizeof tok, "%.*s", (int)res.body.n, res.body.p);
    weft_http_test_response_free(&res);
    ASSERT(strncmp(tok, "wft_", 4) == 0 && strlen(tok) == 47);
    snprintf(bearer, sizeof bearer, "Authorization: Bearer %s\r\n", tok);
    /* stored only as a hash */
    weft_db_rows *r;
    weft_db_err e;
    ASSERT_EQ(store_query(v->f.db, "SELECT token_hash FROM sessions WHERE kind = 'api'", NULL, 0, &r, &e), 0);
    ASSERT_EQ(weft_db_nrows(r), 1);
    ASSERT(strstr(weft_db_text(r, 0, 0, NULL), tok + 4) == NULL && strlen(weft_db_text(r, 0, 0, NULL)) == 64);
    weft_db_rows_free(r);
    /* a bearer token needs no CSRF header: another site cannot send it */
    ASSERT_EQ(req(v, "GET", "/api/devices", bearer, NULL, &res), 200);
    ASSERT(body_has(&res, "dev-a") && body_has(&res, "dev-b"));
    weft_http_test_response_free(&res);
    ASSERT_EQ(req(v, "POST", "/api/groups", bearer, "{\"name\":\"by token\"}", NULL), 201);
    /* listed without the secret; JSON answer when asked */
    ASSERT_EQ(req(v, "GET", "/api/session/tokens", bearer, NULL, &res), 200);
    weft_json *l = js(v, &res);
    ASSERT(l && l->type == WEFT_JSON_ARRAY && l->len == 1);
    ASSERT(weft_json_str(weft_json_get(weft_json_at(l, 0), "id")).n == 16);
    ASSERT(!body_has(&res, tok));
    weft_http_test_response_free(&res);
    char h2[256];
    snprintf(h2, sizeof h2, "%sAccept: application/json\r\n", v->admin);
    ASSERT_EQ(req(v, "POST", "/api/session/token", h2, "{\"name\":\"second\",\"expiration\":\"2999-01-01T00:00:00Z\"}", &res),
              200);
    weft_json *t2 = js(v, &res);
    ASSERT(t2);
    char id2[32];
    snprintf(id2, sizeof id2, "%.*s", (int)weft_json_str(weft_json_get(t2, "id")).n, weft_json_str(weft_json_get(t2, "id")).p);
    ASSERT(weft_str_has_prefix(weft_json_str(weft_json_get(t2, "token")), WEFT_STR("wft_")));
    weft_http_test_response_free(&res);
    ASSERT_EQ(req(v, "POST", "/api/session/token", v->admin, "{\"expiration\":\"2001-01-01T00:00:00Z\"}", NULL), 422);
    ASSERT_EQ(req(v, "POST", "/api/session/token", v->admin, "{\"expiration\":\"soon\"}", NULL), 400);
    /* revoke by id, then the current one */
    char path[96];
    snprintf(path, sizeof path, "/api/session/tokens/%s", id2);
    ASSERT_EQ(req(v, "DELETE", path, v->admin, NULL, NULL), 204);
    ASSERT_EQ(req(v, "DELETE", path, v->admin, NULL, NULL), 404);
    ASSERT_EQ(req(v, "DELETE", "/api/session/tokens/zzzz", v->admin, NULL, NULL), 404);
    ASSERT_EQ(req(v, "DELETE", "/api/session/token", v->admin, NULL, NULL), 400); /* not a token request */
    /* a viewer's token sees what the viewer sees */
    ASSERT_EQ(req(v, "POST", "/api/session/token", w.viewer, NULL, &res), 200);
    char vb[200];
    snprintf(vb, sizeof vb, "Authorization: Bearer %.*s\r\n", (int)res.body.n, res.body.p);
    weft_http_test_response_free(&res);
    ASSERT_EQ(req(v, "GET", "/api/devices", vb, NULL, &res), 200);
    ASSERT(body_has(&res, "dev-a") && !body_has(&res, "dev-b"));
    weft_http_test_response_free(&res);
    ASSERT_EQ(req(v, "DELETE", "/api/session/token", bearer, NULL, NULL), 204);
    ASSERT_EQ(req(v, "GET", "/api/devices", bearer, NULL, NULL), 401);
    ASSERT_EQ(req(v, "GET", "/api/devices", "Authorization: Bearer wft_notarealtokennotarealtoken\r\n", NULL, NULL), 401);
}

/* ---- every endpoint wants a user ------------------------------------------------------------ */

NOCFG(unauthenticated)
BOTH(unauthenticated) {
    static const char *const paths[][2] = {
        {"GET", "/api/devices"},        {"GET", "/api/devices/1"},      {"POST", "/api/devices"},
        {"PUT", "/api/devices/1"},      {"DELETE", "/api/devices/1"},   {"GET", "/api/groups"},
        {"POST", "/api/groups"},        {"GET", "/api/users"},          {"POST", "/api/users"},
        {"GET", "/api/geofences"},      {"POST", "/api/geofences"},     {"GET", "/api/positions"},
        {"GET", "/api/events"},         {"GET", "/api/reports/route"},  {"GET", "/api/reports/trips"},
        {"GET", "/api/reports/stops"},  {"GET", "/api/reports/summary"}, {"GET", "/api/session/tokens"},
    };
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        weft_http_test_response res;
        int st = req(v, paths[i][0], paths[i][1], NULL, NULL, &res);
        if (st != 401) fprintf(stderr, "%s %s: %d\n", paths[i][0], paths[i][1], st);
        ASSERT_EQ(st, 401);
        ASSERT(body_has(&res, "\"error\""));
        weft_http_test_response_free(&res);
    }
    ASSERT_EQ(req(v, "GET", "/api/nothing-here", NULL, NULL, NULL), 404);
}

/* ---- devices ---------------------------------------------------------------------------------- */

NOCFG(devices)
BOTH(devices) {
    WORLD(w);
    weft_http_test_response res;
    char body[256], path[64];
    /* validation, each naming the field */
    struct {
        const char *body;
        int status;
        const char *msg;
        const char *field; /* the machine-readable "field" (the dashboard's forms), NULL: none */
    } bad[] = {
        {"{\"uniqueId\":\"x1\"}", 400, "name is required", "name"},
        {"{\"name\":\"x\"}", 400, "uniqueId is required", "uniqueId"},
        {"{\"name\":5,\"uniqueId\":\"x1\"}", 400, "name must be a string", "name"},
        {"{\"name\":\"\",\"uniqueId\":\"x1\"}", 422, "name must not be empty", "name"},
        {"{\"name\":\"x\",\"uniqueId\":\"a b\"}", 422, "uniqueId must not contain", "uniqueId"},
        {"{\"name\":\"x\",\"uniqueId\":\"x1\",\"speedLimit\":-1}", 422, "speedLimit must be from", "speedLimit"},
        {"{\"name\":\"x\",\"uniqueId\":\"x1\",\"speedLimit\":\"fast\"}", 400, "speedLimit must be a number", "speedLimit"},
        {"{\"name\":\"x\",\"uniqueId\":\"x1\",\"disabled\":\"yes\"}", 400, "disabled must be true or false", "disabled"},
        {"{\"name\":\"x\",\"uniqueId\":\"x1\",\"groupId\":999}", 422, "groupId 999 does not exist", "groupId"},
        {"{\"name\":\"x\",\"uniqueId\":\"x1\",\"groupId\":1.5}", 400, "groupId must be an integer", "groupId"},
        {"{\"name\":\"x\",\"uniqueId\":\"dev-a\"}", 409, "uniqueId dev-a is taken", "uniqueId"},
        {"[1]", 400, "body must be a JSON object", NULL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int st = req(v, "POST", "/api/devices", v->admin, bad[i].body, &res);
        if (st != bad[i].status || !body_has(&res, bad[i].msg))
            fprintf(stderr, "%s: %d %.*s\n", bad[i].body, st, (int)res.body.n, res.body.p);
        ASSERT_EQ(st, bad[i].status);
        ASSERT(body_has(&res, bad[i].msg));
        weft_json *ej = js(v, &res);
        ASSERT(ej);
        const weft_json *fj = weft_json_get(ej, "field");
        if (bad[i].field) ASSERT(fj && weft_str_eq(weft_json_str(fj), weft_str_c(bad[i].field)));
        else ASSERT(fj == NULL);
        weft_http_test_response_free(&res);
    }
    /* a long name */
    char longname[201];
    memset(longname, 'n', 200), longname[200] = 0;
    snprintf(body, sizeof body, "{\"name\":\"%s\",\"uniqueId\":\"x1\"}", longname);
    ASSERT_EQ(req(v, "POST", "/api/devices", v->admin, body, NULL), 422);
    /* create (form, as Traccar's clients may), read, change, delete */
    snprintf(body, sizeof body, "name=Van+1&uniqueId=van-1&groupId=%lld&category=van&speedLimit=42.5", (long long)w.gb);
    ASSERT_EQ(req(v, "POST", "/api/devices", v->admin, body, &res), 201);
    weft_json *d = js(v, &res);
    ASSERT(d);
    int64_t id = jint(d, "id");
    ASSERT_EQ(jint(d, "groupId"), w.gb);
    ASSERT(weft_str_eq(weft_json_str(weft_json_get(d, "name")), WEFT_STR("Van 1")));
    ASSERT(weft_str_eq(weft_json_str(weft_json_get(d, "category")), WEFT_STR("van")));
    double sl = 0;
    ASSERT(weft_json_double(weft_json_get(d, "speedLimit"), &sl) == 0 && sl == 42.5);
    weft_http_test_response_free(&res);
    ASSERT(live_by_unique(v->f.devices, "van-1") != NULL); /* ingest knows it at once */
    snprintf(path, sizeof path, "/api/devices/%lld", (long long)id);
    ASSERT_EQ(req(v, "PUT", path, v->admin, "{\"name\":\"Van one\",\"disabled\":true,\"groupId\":null}", &res), 200);
    d = js(v, &res);
    ASSERT(d && weft_json_get(d, "groupId")->type == WEFT_JSON_NULL);
    ASSERT(weft_json_get(d, "disabled")->type == WEFT_JSON_TRUE);
    ASSERT(weft_str_eq(weft_json_str(weft_json_get(d, "uniqueId")), WEFT_STR("van-1")));
    weft_http_test_response_free(&res);
    ASSERT_EQ(req(v, "PUT", path, v->admin, "{\"uniqueId\":\"dev-b\"}", NULL), 409);
    ASSERT_EQ(req(v, "GET", path, v->admin, NULL, &res), 200);
    ASSERT(body_has(&res, "Van one"));
    weft_http_test_response_free(&res);
    /* a device in no group: admins only */
    ASSERT_EQ(req(v, "GET", path, w.manager, NULL, NULL), 404);
    ASSERT_EQ(req(v, "DELETE", path, v->admin, NULL, NULL), 204);
    ASSERT_EQ(req(v, "GET", path, v->admin, NULL, NULL), 404);
    ASSERT_EQ(req(v, "DELETE", path, v->admin, NULL, NULL), 404);
    ASSERT(live_by_unique(v->f.devices, "van-1") == NULL);
    /* deleting a device takes its positions and events */
    snprintf(path, sizeof path, "/api/devices/%lld", (long long)w.dev_b);
    ASSERT_EQ(req(v, "DELETE", path, v->admin, NULL, NULL), 204);
    weft_db_rows *r;
    weft_db_err e;
    weft_db_arg a[] = {WEFT_DB_INT(w.dev_b)};
    ASSERT_EQ(store_query(v->f.db, "SELECT (SELECT COUNT(*) FROM positions WHERE device_id = $1) + (SELECT COUNT(*) "
                                   "FROM events WHERE device_id = $1)", a, 1, &r, &e), 0);
    ASSERT_EQ(weft_db_int(r, 0, 0), 0);
    weft_db_rows_free(r);
    /* roles: a manager in their group only, a viewer not at all */
    snprintf(body, sizeof body, "{\"name\":\"M\",\"uniqueId\":\"m-1\",\"groupId\":%lld}", (long long)w.ga);
    ASSERT_EQ(req(v, "POST", "/api/devices", w.manager, body, NULL), 201);
    snprintf(body, sizeof body, "{\"name\":\"M\",\"uniqueId\":\"m-2\",\"groupId\":%lld}", (long long)w.gb);
    ASSERT_EQ(req(v, "POST", "/api/devices", w.manager, body, &res), 422);
    ASSERT(body_has(&res, "not one of your groups"));
    weft_http_test_response_free(&res);
    ASSERT_EQ(req(v, "POST", "/api/devices", w.manager, "{\"name\":\"M\",\"uniqueId\":\"m-3\"}", NULL), 422);
    snprintf(body, sizeof body, "{\"name\":\"V\",\"uniqueId\":\"v-1\",\"groupId\":%lld}", (long long)w.ga);
    ASSERT_EQ(req(v, "POST", "/api/devices", w.viewer, body, NULL), 403);
    snprintf(path, sizeof path, "/api/devices/%lld", (long long)w.dev_a);
    ASSERT_EQ(req(v, "PUT", path, w.viewer, "{\"name\":\"x\"}", NULL), 403);
    ASSERT_EQ(req(v, "DELETE", path, w.viewer, NULL, NULL), 403);
    snprintf(body, sizeof body, "{\"groupId\":%lld}", (long long)w.gb);
    ASSERT_EQ(req(v, "PUT", path, w.manager, body, NULL), 422); /* not out of their groups */
    ASSERT_EQ(req(v, "PUT", path, w.manager, "{\"name\":\"Truck A2\"}", NULL), 200);
    /* paging */
    ASSERT_EQ(req(v, "GET", "/api/devices?limit=1", v->admin, NULL, &res), 200);
    ASSERT(weft_http_test_header(&res, "X-Next-Offset").n == 1);
    weft_http_test_response_free(&res);
    ASSERT_EQ(req(v, "GET", "/api/devices?limit=1&offset=1", v->admin, NULL, &res), 200);
    ASSERT(body_has(&res, "m-1") && !body_has(&res, "Truck A2"));
    weft_http_test_response_free(&res);
    ASSERT_EQ(req(v, "GET", "/api/devices?limit=0", v->admin, NULL, NULL), 400);
    ASSERT_EQ(req(v, "GET", "/api/devices?limit=100000", v->admin, NULL, NULL), 400);
    ASSERT_EQ(req(v, "GET", "/api/devices?offset=-1", v->admin, NULL, NULL), 400);
    ASSERT_EQ(req(v, "GET", "/api/devices?uniqueId=m-1", v->admin, NULL, &res), 200);
    ASSERT(body_has(&res, "m-1") && !body_has(&res, "Truck A2"));
    weft_http_test_response_free(&res);
    ASSERT_EQ(req(v, "GET", "/api/devices/abc", v->admin, NULL, NULL), 404);
}

/* ---- a viewer of group A never sees group B's device ---------------------------------------- */

NOCFG(visibility)
BOTH(visibility) {
    WORLD(w);
    weft_http_test_response res;
    char path[256];
    const char *who[] = {w.viewer, w.manager};
    for (int k = 0; k < 2; k++) {
        const char *h = who[k];
        ASSERT_EQ(req(v, "GET", "/api/devices", h, NULL, &res), 200);
        ASSERT(body_has(&res, "dev-a") && !body_has(&res, "dev-b"));
        weft_http_test_response_free(&res);
        snprintf(path, sizeof path, "/api/devices/%lld", (long long)w.dev_b);
        ASSERT_EQ(req(v, "GET", path, h, NULL, &res), 404);
        ASSERT(body_has(&res, "no such device"));
        weft_http_test_response_free(&res);
        snprintf(path, sizeof path, "/api/devices?id=%lld", (long long)w.dev_b);
        ASSERT_EQ(req(v, "GET", path, h, NULL, &res), 200);
        ASSERT(weft_str_eq(res.body, WEFT_STR("[]")));
        weft_http_test_response_free(&res);
        /* latest positions, every format */
        const char *fmts[] = {"json", "geojson", "gpx", "csv"};
        for (int i = 0; i < 4; i++) {
            snprintf(path, sizeof path, "/api/positions?format=%s", fmts[i]);
            ASSERT_EQ(req(v, "GET", path, h, NULL, &res), 200);
            ASSERT(body_has(&res, "48.209") && !body_has(&res, "47.009"));
            weft_http_test_response_free(&res);
            snprintf(path, sizeof path, "/api/positions?deviceId=%lld&from=2024-06-01T00:00:00Z&to=2024-06-02T00:00:00Z&format=%s",
                     (long long)w.dev_b, fmts[i]);
            ASSERT_EQ(req(v, "GET", path, h, NULL, NULL), 404);
            snprintf(path, sizeof path, "/api/reports/route?deviceId=%lld&from=2024-06-01T00:00:00Z&to=2024-06-02T00:00:00Z&format=%s",
                     (long long)w.dev_b, fmts[i]);
            ASSERT_EQ(req(v, "GET", path, h, NULL, NULL), 404);
        }
        snprintf(path, sizeof path, "/api/positions?deviceId=%lld", (long long)w.dev_b);
        ASSERT_EQ(req(v, "GET", path, h, NULL, NULL), 404);
        /* events */
        ASSERT_EQ(req(v, "GET", "/api/events?from=2024-06-01T00:00:00Z&to=2024-06-02T00:00:00Z", h, NULL, &res), 200);
        weft_json *l = js(v, &res);
        ASSERT(l && l->type == WEFT_JSON_ARRAY && l->len == 2);
        for (uint32_t i = 0; i < l->len; i++) ASSERT_EQ(jint(weft_json_at(l, i), "deviceId"), w.dev_a);
        weft_http_test_response_free(&res);
        snprintf(path, sizeof path, "/api/events?deviceId=%lld&from=2024-06-01T00:00:00Z&to=2024-06-02T00:00:00Z",
                 (long long)w.dev_b);
        ASSERT_EQ(req(v, "GET", path, h, NULL, NULL), 404);
        snprintf(path, sizeof path, "/api/events?groupId=%lld&from=2024-06-01T00:00:00Z&to=2024-06-02T00:00:00Z",
                 (long long)w.gb);
        ASSERT_EQ(req(v, "GET", path, h, NULL, NULL), 404);
        /* reports */
        const char *kinds[] = {"route", "trips", "stops", "summary"};
        for (int i = 0; i < 4; i++) {
            snprintf(path, sizeof path, "/api/reports/%s?deviceId=%lld&from=2024-06-01T00:00:00Z&to=2024-06-02T00:00:00Z",
                     kinds[i], (long long)w.dev_b);
            ASSERT_EQ(req(v, "GET", path, h, NULL, NULL), 404);
            snprintf(path, sizeof path, "/api/reports/%s?deviceId=%lld&deviceId=%lld&from=2024-06-01T00:00:00Z&to=2024-06-02T00:00:00Z",
                     kinds[i], (long long)w.dev_a, (long long)w.dev_b);
            ASSERT_EQ(req(v, "GET", path, h, NULL, NULL), 404);
            snprintf(path, sizeof path, "/api/reports/%s?groupId=%lld&from=2024-06-01T00:00:00Z&to=2024-06-02T00:00:00Z",
                     kinds[i], (long long)w.gb);
            ASSERT_EQ(req(v, "GET", path, h, NULL, NULL), 404);
            snprintf(path, sizeof path, "/api/reports/%s?groupId=%lld&from=2024-06-01T00:00:00Z&to=2024-06-02T00:00:00Z",
                     kinds[i], (long long)w.ga);
            ASSERT_EQ(req(v, "GET", path, h, NULL, &res), 200);
            ASSERT(!body_has(&res, "Truck B") && !body_has(&res, "47.00"));
            weft_http_test_response_free(&res);
        }
        /* groups: only their own */
        ASSERT_EQ(req(v, "GET", "/api/groups", h, NULL, &res), 200);
        ASSERT(body_has(&res, "\"A\"") && !body_has(&res, "\"B\""));
        weft_http_test_response_free(&res);
        snprintf(path, sizeof path, "/api/groups/%lld", (long long)w.gb);
        ASSERT_EQ(req(v, "GET", path, h, NULL, NULL), 404);
    }
    /* the admin sees both */
    ASSERT_EQ(req(v, "GET", "/api/positions", v->admin, NULL, &res), 200);
    ASSERT(body_has(&res, "48.209") && body_has(&res, "47.009"));
    weft_http_test_response_free(&res);
    /* users: viewers none, managers those of their groups */
    ASSERT_EQ(req(v, "GET", "/api/users", w.viewer, NULL, NULL), 403);
    ASSERT_EQ(req(v, "GET", "/api/users", w.manager, NULL, &res), 200);
    ASSERT(body_has(&res, "viewer@a") && body_has(&res, "manager@a") && !body_has(&res, ADMIN_EMAIL));
    weft_http_test_response_free(&res);
}

/* ---- positions ---------------------------------------------------------------------------------- */

NOCFG(positions)
BOTH(positions) {
    WORLD(w);
    weft_http_test_response res;
    char path[256];
    const char *range = "from=2024-06-01T00:00:00Z&to=2024-06-01T00:09:00Z";
    snprintf(path, sizeof path, "/api/positions?deviceId=%lld&%s", (long long)w.dev_a, range);
    ASSERT_EQ(req(v, "GET", path, w.viewer, NULL, &res), 200);
    weft_json *l = js(v, &res);
    ASSERT(l && l->type == WEFT_JSON_ARRAY && l->len == 10); /* both ends included */
    ASSERT(weft_str_eq(weft_json_str(weft_json_get(weft_json_at(l, 0), "fixTime")), WEFT_STR("2024-06-01T00:00:00.000Z")));
    weft_http_test_response_free(&res);
    /* paging */
    snprintf(path, sizeof path, "/api/positions?deviceId=%lld&%s&limit=4&offset=8", (long long)w.dev_a, range);
    ASSERT_EQ(req(v, "GET", path, w.viewer, NULL, &res), 200);
    l = js(v, &res);
    ASSERT(l && l->len == 2 && weft_http_test_header(&res, "X-Next-Offset").p == NULL);
    weft_http_test_response_free(&res);
    snprintf(path, sizeof path, "/api/positions?deviceId=%lld&%s&limit=4", (long long)w.dev_a, range);
    ASSERT_EQ(req(v, "GET", path, w.viewer, NULL, &res), 200);
    ASSERT(weft_str_eq(weft_http_test_header(&res, "X-Next-Offset"), WEFT_STR("4")));
    weft_http_test_response_free(&res);
    /* formats */
    snprintf(path, sizeof path, "/api/positions?deviceId=%lld&%s&format=geojson", (long long)w.dev_a, range);
    ASSERT_EQ(req(v, "GET", path, w.viewer, NULL, &res), 200);
    l = js(v, &res);
    ASSERT(l && weft_str_eq(weft_json_str(weft_json_get(l, "type")), WEFT_STR("FeatureCollection")));
    ASSERT(weft_json_get(l, "features")->len == 10);
    weft_http_test_response_free(&res);
    snprintf(path, sizeof path, "/api/positions?deviceId=%lld&%s&format=gpx", (long long)w.dev_a, range);
    ASSERT_EQ(req(v, "GET", path, w.viewer, NULL, &res), 200);
    ASSERT(body_has(&res, "<gpx version=\"1.1\"") && body_has(&res, "<trkpt lat=\"48.2000000\" lon=\"16.3700000\">"));
    ASSERT(body_has(&res, "</gpx>"));
    weft_str ct = weft_http_test_header(&res, "Content-Type");
    ASSERT(weft_str_eq(ct, WEFT_STR("application/gpx+xml")));
    weft_http_test_response_free(&res);
    snprintf(path, sizeof path, "/api/positions?deviceId=%lld&%s", (long long)w.dev_a, range);
    char h[256];
    snprintf(h, sizeof h, "%sAccept: text/csv\r\n", w.viewer);
    ASSERT_EQ(req(v, "GET", path, h, NULL, &res), 200);
    int lines = 0;
    for (size_t i = 0; i < res.body.n; i++) lines += res.body.p[i] == '\n';
    ASSERT_EQ(lines, 11);
    ASSERT(weft_str_has_prefix(res.body, WEFT_STR("id,deviceId,fixTime,")));
    weft_http_test_response_free(&res);
    /* bad parameters */
    struct {
        const char *q;
        const char *msg;
    } bad[] = {
        {"from=2024-06-01T00:00:00Z&to=2024-06-02T00:00:00Z", "deviceId is required"},
        {"deviceId=x", "deviceId must be an integer"},
        {"deviceId=%lld&from=yesterday&to=2024-06-02T00:00:00Z", "from must be a time"},
        {"deviceId=%lld&from=2024-06-01T00:00:00Z", "to is required"},
        {"deviceId=%lld&from=2024-06-02T00:00:00Z&to=2024-06-01T00:00:00Z", "from must not be after to"},
        {"format=kml", "format must be one of"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char q[200];
        snprintf(q, sizeof q, bad[i].q, (long long)w.dev_a);
        snprintf(path, sizeof path, "/api/positions?%s", q);
        ASSERT_EQ(req(v, "GET", path, w.viewer, NULL, &res), 400);
        ASSERT(body_has(&res, bad[i].msg));
        weft_http_test_response_free(&res);
    }
    /* one device's latest */
    snprintf(path, sizeof path, "/api/positions?deviceId=%lld", (long long)w.dev_a);
    ASSERT_EQ(req(v, "GET", path, w.viewer, NULL, &res), 200);
    l = js(v, &res);
    ASSERT(l && l->len == 1 && jint(weft_json_at(l, 0), "deviceId") == w.dev_a);
    weft_http_test_response_free(&res);
}

/* ---- events --------------------------------------------------------------------------------------- */

NOCFG(events)
BOTH(events) {
    WORLD(w);
    weft_http_test_response res;
    char path[256];
    snprintf(path, sizeof path, "/api/events?deviceId=%lld&type=deviceMoving&from=2024-06-01T00:00:00Z&to=2024-06-02T00:00:00Z",
             (long long)w.dev_a);
    ASSERT_EQ(req(v, "GET", path, w.viewer, NULL, &res), 200);
    weft_json *l = js(v, &res);
    ASSERT(l && l->len == 1);
    ASSERT(weft_str_eq(weft_json_str(weft_json_get(weft_json_at(l, 0), "type")), WEFT_STR("deviceMoving")));
    weft_http_test_response_free(&res);
    ASSERT_EQ(req(v, "GET", "/api/events?type=nonsense", w.viewer, NULL, &res), 400);
    ASSERT(body_has(&res, "type: unknown event type"));
    weft_http_test_response_free(&res);
    ASSERT_EQ(req(v, "GET", "/api/events?from=2024-06-02T00:00:00Z&to=2024-06-01T00:00:00Z", w.viewer, NULL, NULL), 400);
    /* the admin: all four, oldest first; CSV; paging */
    ASSERT_EQ(req(v, "GET", "/api/events?from=2024-06-01T00:00:00Z&to=2024-06-02T00:00:00Z&limit=3", v->admin, NULL, &res), 200);
    l = js(v, &res);
    ASSERT(l && l->len == 3);
    ASSERT(weft_str_eq(weft_http_test_header(&res, "X-Next-Offset"), WEFT_STR("3")));
    weft_http_test_response_free(&res);
    ASSERT_EQ(req(v, "GET", "/api/reports/events?from=2024-06-01T00:00:00Z&to=2024-06-02T00:00:00Z&format=csv", v->admin,
                  NULL, &res),
              200);
    ASSERT(weft_str_has_prefix(res.body, WEFT_STR("id,deviceId,type,eventTime")));
    ASSERT(body_has(&res, "deviceOverspeed"));
    weft_http_test_response_free(&res);
    /* type repeats (any of them), order=desc gives the newest first */
    ASSERT_EQ(req(v, "GET", "/api/events?type=deviceOverspeed&type=deviceMoving&from=2024-06-01T00:00:00Z&to=2024-06-02T00:00:00Z",
                  v->admin, NULL, &res),
              200);
    l = js(v, &res);
    ASSERT(l && l->len == 2);
    ASSERT(body_has(&res, "deviceOverspeed") && body_has(&res, "deviceMoving") && !body_has(&res, "deviceOnline"));
    weft_http_test_response_free(&res);
    ASSERT_EQ(req(v, "GET", "/api/events?type=deviceMoving&type=bogus", v->admin, NULL, &res), 400);
    ASSERT(body_has(&res, "type: unknown event type bogus"));
    weft_http_test_response_free(&res);
    ASSERT_EQ(req(v, "GET", "/api/events?order=desc&limit=1&from=2024-06-01T00:00:00Z&to=2024-06-02T00:00:00Z", v->admin,
                  NULL, &res),
              200);
    l = js(v, &res);
    ASSERT(l && l->len == 1);
    int64_t newest = 0;
    ASSERT_EQ(fleet_time_parse(weft_json_str(weft_json_get(weft_json_at(l, 0), "eventTime")), &newest), 0);
    ASSERT_EQ(newest, T0 + 60000);
    weft_http_test_response_free(&res);
    ASSERT_EQ(req(v, "GET", "/api/events?order=sideways", v->admin, NULL, &res), 400);
    ASSERT(body_has(&res, "order must be asc or desc"));
    weft_http_test_response_free(&res);
    /* the default range is the last day: these are older */
    ASSERT_EQ(req(v, "GET", "/api/events", v->admin, NULL, &res), 200);
    ASSERT(weft_str_eq(res.body, WEFT_STR("[]")));
    weft_http_test_response_free(&res);
}

/* ---- acknowledging events ------------------------------------------------------------------------ */

/* The id of the event of dev with this type (from the admin's list), or -1. */
static int64_t event_id(env *v, int64_t dev, const char *type) {
    char path[256];
    snprintf(path, sizeof path, "/api/events?deviceId=%lld&type=%s&from=2024-06-01T00:00:00Z&to=2024-06-02T00:00:00Z",
             (long long)dev, type);
    weft_http_test_response res;
    int64_t id = -1;
    if (req(v, "GET", path, v->admin, NULL, &res) == 200) {
        weft_json *l = js(v, &res);
        if (l && l->len == 1) id = jint(weft_json_at(l, 0), "id");
    }
    weft_http_test_response_free(&res);
    return id;
}

/* How many events of the day the admin's list has with ?acknowledged=q. */
static int64_t count_acked(env *v, const char *q) {
    char path[160];
    snprintf(path, sizeof path, "/api/events?from=2024-06-01T00:00:00Z&to=2024-06-02T00:00:00Z&acknowledged=%s", q);
    weft_http_test_response res;
    int64_t n = -1;
    if (req(v, "GET", path, v->admin, NULL, &res) == 200) {
        weft_json *l = js(v, &res);
        if (l) n = (int64_t)l->len;
    }
    weft_http_test_response_free(&res);
    return n;
}

static int is_null(const weft_json *o, const char *k) {
    const weft_json *x = weft_json_get(o, k);
    return x && x->type == WEFT_JSON_NULL;
}

NOCFG(events_ack)
BOTH(events_ack) {
    WORLD(w);
    weft_http_test_response res;
    char path[96];
    int64_t ea = event_id(v, w.dev_a, "deviceMoving"), eb = event_id(v, w.dev_b, "deviceOverspeed");
    ASSERT_GT(ea, 0);
    ASSERT_GT(eb, 0);
    /* open at first: every event of the day, the ack fields null */
    ASSERT_EQ(count_acked(v, "false"), 4);
    ASSERT_EQ(count_acked(v, "true"), 0);
    ASSERT_EQ(req(v, "GET", "/api/events?from=2024-06-01T00:00:00Z&to=2024-06-02T00:00:00Z&limit=1", v->admin, NULL,
                  &res),
              200);
    weft_json *l = js(v, &res);
    ASSERT(l && l->len == 1);
    ASSERT(is_null(weft_json_at(l, 0), "ackTime") && is_null(weft_json_at(l, 0), "ackUserId") &&
           is_null(weft_json_at(l, 0), "ackUserName"));
    weft_http_test_response_free(&res);
    /* the viewer of group A acknowledges A's event: who and when come back */
    int64_t before = fleet_now_ms();
    snprintf(path, sizeof path, "/api/events/%lld/ack", (long long)ea);
    ASSERT_EQ(req(v, "POST", path, w.viewer, NULL, &res), 200);
    weft_json *o = js(v, &res);
    ASSERT(o);
    ASSERT_EQ(jint(o, "id"), ea);
    ASSERT(weft_str_eq(weft_json_str(weft_json_get(o, "ackUserName")), WEFT_STR("Viewer A")));
    int64_t viewer_id = jint(o, "ackUserId"), ack_ms = 0;
    ASSERT_GT(viewer_id, 0);
    ASSERT_EQ(fleet_time_parse(weft_json_str(weft_json_get(o, "ackTime")), &ack_ms), 0);
    ASSERT(ack_ms >= before - 1000 && ack_ms <= fleet_now_ms() + 1000);
    weft_http_test_response_free(&res);
    /* idempotent: the manager acknowledging it again changes nothing */
    ASSERT_EQ(req(v, "POST", path, w.manager, NULL, &res), 200);
    o = js(v, &res);
    ASSERT(o && jint(o, "ackUserId") == viewer_id);
    ASSERT(weft_str_eq(weft_json_str(weft_json_get(o, "ackUserName")), WEFT_STR("Viewer A")));
    int64_t again = 0;
    ASSERT_EQ(fleet_time_parse(weft_json_str(weft_json_get(o, "ackTime")), &again), 0);
    ASSERT_EQ(again, ack_ms);
    weft_http_test_response_free(&res);
    /* the lists: one acknowledged, three open; CSV carries the ack */
    ASSERT_EQ(count_acked(v, "true"), 1);
    ASSERT_EQ(count_acked(v, "false"), 3);
    ASSERT_EQ(count_acked(v, "1"), 1);
    snprintf(path, sizeof path, "/api/events?deviceId=%lld&acknowledged=true&from=2024-06-01T00:00:00Z",
             (long long)w.dev_a);
    ASSERT_EQ(req(v, "GET", path, w.viewer, NULL, &res), 200);
    l = js(v, &res);
    ASSERT(l && l->len == 1 && jint(weft_json_at(l, 0), "id") == ea);
    weft_http_test_response_free(&res);
    ASSERT_EQ(req(v, "GET", "/api/events?from=2024-06-01T00:00:00Z&to=2024-06-02T00:00:00Z&format=csv&acknowledged=true",
                  v->admin, NULL, &res),
              200);
    ASSERT(weft_str_has_prefix(res.body, WEFT_STR("id,deviceId,type,eventTime,latitude,longitude,geofenceId,ackTime,ackUserId\n")));
    char line[64];
    snprintf(line, sizeof line, "Z,%lld\n", (long long)viewer_id);
    ASSERT(body_has(&res, "deviceMoving") && body_has(&res, line));
    weft_http_test_response_free(&res);
    ASSERT_EQ(req(v, "GET", "/api/events?acknowledged=maybe", v->admin, NULL, &res), 400);
    ASSERT(body_has(&res, "acknowledged must be true or false"));
    weft_http_test_response_free(&res);
    /* another group's event is 404 like an unknown one, and stays open */
    snprintf(path, sizeof path, "/api/events/%lld/ack", (long long)eb);
    ASSERT_EQ(req(v, "POST", path, w.viewer, NULL, &res), 404);
    ASSERT(body_has(&res, "no such event"));
    weft_http_test_response_free(&res);
    ASSERT_EQ(req(v, "POST", path, w.manager, NULL, NULL), 404);
    ASSERT_EQ(req(v, "POST", "/api/events/999999/ack", v->admin, NULL, &res), 404);
    ASSERT(body_has(&res, "no such event"));
    weft_http_test_response_free(&res);
    ASSERT_EQ(req(v, "POST", "/api/events/x1/ack", v->admin, NULL, NULL), 404);
    /* signed out: 401; a cookie without the CSRF proof: 403 */
    ASSERT_EQ(req(v, "POST", path, NULL, NULL, NULL), 401);
    char no_xrw[128];
    snprintf(no_xrw, sizeof no_xrw, "%.*s", (int)(strstr(v->admin, XRW) - v->admin), v->admin);
    ASSERT_EQ(req(v, "POST", path, no_xrw, NULL, NULL), 403);
    ASSERT_EQ(count_acked(v, "true"), 1);
    /* the admin acknowledges B's */
    ASSERT_EQ(req(v, "POST", path, v->admin, NULL, &res), 200);
    o = js(v, &res);
    ASSERT(o && weft_str_eq(weft_json_str(weft_json_get(o, "ackUserName")), WEFT_STR("Administrator")));
    weft_http_test_response_free(&res);
    ASSERT_EQ(count_acked(v, "true"), 2);
}

/* ---- counting and acknowledging many --------------------------------------------------------- */

#define DAY "from=2024-06-01T00:00:00Z&to=2024-06-02T00:00:00Z"

/* GET path as who: the answer's "total", and types[type] in *of (when
 * given; -1 when the key is absent). -1 when not 200. */
static int64_t counted(env *v, const char *who, const char *path, const char *type, int64_t *of) {
    weft_http_test_response res;
    int64_t n = -1;
    if (req(v, "GET", path, who, NULL, &res) == 200) {
        weft_json *o = js(v, &res);
        if (o) n = jint(o, "total");
        if (o && type) {
            const weft_json *t = weft_json_get(weft_json_get(o, "types"), type);
            *of = -1;
            if (t) weft_json_int(t, of);
        }
    }
    weft_http_test_response_free(&res);
    return n;
}

static char count_sql[4096];
static int count_sql_args;
static void keep_count_sql(const char *sql, int nargs) {
    snprintf(count_sql, sizeof count_sql, "%s", sql);
    count_sql_args = nargs;
}

/* SQLite's plan of q (nargs arguments, all 0), its details joined. */
static int plan_of(env *v, const char *q, int nargs, char *out, size_t cap) {
    char sql[4200];
    snprintf(sql, sizeof sql, "EXPLAIN QUERY PLAN %s", q);
    weft_db_rows *r;
    weft_db_err e;
    weft_db_arg a[96];
    for (int i = 0; i < nargs && i < 96; i++) a[i] = WEFT_DB_INT(0);
    if (store_query(v->f.db, sql, a, nargs, &r, &e) < 0) return fprintf(stderr, "plan: %s\n", e.msg), -1;
    size_t k = 0;
    out[0] = 0;
    for (int i = 0; i < weft_db_nrows(r) && k < cap; i++)
        k += (size_t)snprintf(out + k, cap - k, "%s; ", weft_db_text(r, i, weft_db_ncols(r) - 1, NULL));
    weft_db_rows_free(r);
    return 0;
}

/* SQLite's plan of the count the request made, its details joined. */
static int count_plan(env *v, char *out, size_t cap) { return plan_of(v, count_sql, count_sql_args, out, cap); }

NOCFG(events_count)
BOTH(events_count) {
    WORLD(w);
    int64_t n = 0;
    /* the admin: every device; an asked type that did not happen is 0 */
    ASSERT_EQ(counted(v, v->admin, "/api/events/count?type=deviceOnline&type=deviceOverspeed&type=alarm&" DAY,
                      "deviceOnline", &n),
              3);
    ASSERT_EQ(n, 2);
    ASSERT_EQ(counted(v, v->admin, "/api/events/count?type=deviceOnline&type=deviceOverspeed&type=alarm&" DAY, "alarm", &n),
              3);
    ASSERT_EQ(n, 0);
    /* without types: all four, only the types that occur are named */
    ASSERT_EQ(counted(v, v->admin, "/api/events/count?" DAY, "deviceMoving", &n), 4);
    ASSERT_EQ(n, 1);
    ASSERT_EQ(counted(v, v->admin, "/api/events/count?" DAY, "alarm", &n), 4);
    ASSERT_EQ(n, -1);
    /* the viewer and the manager of A: only A's device */
    const char *who[] = {w.viewer, w.manager};
    for (int k = 0; k < 2; k++) {
        ASSERT_EQ(counted(v, who[k], "/api/events/count?type=deviceOnline&type=deviceOverspeed&" DAY, "deviceOverspeed", &n), 1);
        ASSERT_EQ(n, 0);
        ASSERT_EQ(counted(v, who[k], "/api/events/count?" DAY, NULL, NULL), 2);
    }
    char path[256];
    snprintf(path, sizeof path, "/api/events/count?groupId=%lld&" DAY, (long long)w.ga);
    ASSERT_EQ(counted(v, w.viewer, path, NULL, NULL), 2);
    snprintf(path, sizeof path, "/api/events/count?deviceId=%lld&" DAY, (long long)w.dev_b);
    ASSERT_EQ(counted(v, v->admin, path, NULL, NULL), 2);
    /* another group's device or group: 404, like the list */
    weft_http_test_response res;
    ASSERT_EQ(req(v, "GET", path, w.viewer, NULL, &res), 404);
    ASSERT(body_has(&res, "no such device"));
    weft_http_test_response_free(&res);
    snprintf(path, sizeof path, "/api/events/count?groupId=%lld&" DAY, (long long)w.gb);
    ASSERT_EQ(req(v, "GET", path, w.viewer, NULL, NULL), 404);
    /* the range: a bad one is 400 with a message; the default is the last day */
    ASSERT_EQ(req(v, "GET", "/api/events/count?from=2024-06-02T00:00:00Z&to=2024-06-01T00:00:00Z", w.viewer, NULL, &res), 400);
    ASSERT(body_has(&res, "from must not be after to"));
    weft_http_test_response_free(&res);
    ASSERT_EQ(req(v, "GET", "/api/events/count?from=yesterday", w.viewer, NULL, &res), 400);
    ASSERT(body_has(&res, "from"));
    weft_http_test_response_free(&res);
    ASSERT_EQ(req(v, "GET", "/api/events/count?type=bogus", w.viewer, NULL, &res), 400);
    ASSERT(body_has(&res, "type: unknown event type bogus"));
    weft_http_test_response_free(&res);
    ASSERT_EQ(counted(v, v->admin, "/api/events/count", NULL, NULL), 0);
    ASSERT_EQ(req(v, "GET", "/api/events/count", NULL, NULL, NULL), 401);
    /* acknowledged= narrows it like the list */
    snprintf(path, sizeof path, "/api/events/%lld/ack", (long long)event_id(v, w.dev_a, "deviceMoving"));
    ASSERT_EQ(req(v, "POST", path, v->admin, NULL, NULL), 200);
    ASSERT_EQ(counted(v, v->admin, "/api/events/count?acknowledged=false&" DAY, NULL, NULL), 3);
    ASSERT_EQ(counted(v, v->admin, "/api/events/count?acknowledged=true&" DAY, NULL, NULL), 1);
    if (v->pg) return;
    /* served by the (type, event_time, device_id) index alone: for the
     * admin and for a viewer (whose devices come from devices_group) */
    api_events_count_sql_hook = keep_count_sql;
    char plan[2048];
    ASSERT_EQ(counted(v, v->admin, "/api/events/count?type=deviceOnline&type=alarm&" DAY, NULL, NULL), 2);
    ASSERT_EQ(count_plan(v, plan, sizeof plan), 0);
    if (!strstr(plan, "USING COVERING INDEX events_type_time")) fprintf(stderr, "admin plan: %s\n", plan);
    ASSERT(strstr(plan, "USING COVERING INDEX events_type_time"));
    ASSERT_EQ(counted(v, w.viewer, "/api/events/count?type=deviceOnline&type=alarm&" DAY, NULL, NULL), 1);
    ASSERT_EQ(count_plan(v, plan, sizeof plan), 0);
    if (!strstr(plan, "USING COVERING INDEX events_type_time")) fprintf(stderr, "viewer plan: %s\n", plan);
    ASSERT(strstr(plan, "USING COVERING INDEX events_type_time") && !strstr(plan, "SCAN events"));
    api_events_count_sql_hook = NULL;
}

/* POST path as who with body: the status; the answer's count in *n. */
static int ack_many(env *v, const char *who, const char *path, const char *body, int64_t *n) {
    weft_http_test_response res;
    int st = req(v, "POST", path, who, body, &res);
    *n = -1;
    if (st == 200) {
        weft_json *o = js(v, &res);
        if (o) *n = jint(o, "count");
    }
    weft_http_test_response_free(&res);
    return st;
}

NOCFG(events_ack_all)
BOTH(events_ack_all) {
    WORLD(w);
    int64_t n = 0;
    int64_t a_on = event_id(v, w.dev_a, "deviceOnline"), a_mov = event_id(v, w.dev_a, "deviceMoving"),
            b_on = event_id(v, w.dev_b, "deviceOnline"), b_over = event_id(v, w.dev_b, "deviceOverspeed");
    ASSERT(a_on > 0 && a_mov > 0 && b_on > 0 && b_over > 0);
    /* the viewer of A: every open event of the day she sees, A's two */
    weft_http_test_response res;
    const char *h = w.viewer;
    ASSERT_EQ(req(v, "POST", "/api/events/ack?" DAY, h, NULL, &res), 200);
    weft_json *o = js(v, &res);
    ASSERT(o && jint(o, "count") == 2);
    const weft_json *ids = weft_json_get(o, "ids");
    ASSERT(ids && ids->len == 2);
    ASSERT(weft_str_eq(weft_json_str(weft_json_get(o, "ackUserName")), WEFT_STR("Viewer A")));
    weft_http_test_response_free(&res);
    ASSERT_EQ(count_acked(v, "true"), 2);
    /* again: nothing left */
    ASSERT_EQ(ack_many(v, w.viewer, "/api/events/ack?" DAY, NULL, &n), 200);
    ASSERT_EQ(n, 0);
    /* up to an id: B's overspeed (newer) stays open */
    char path[256];
    snprintf(path, sizeof path, "/api/events/ack?maxId=%lld&" DAY, (long long)(b_on > b_over ? b_over : b_on));
    ASSERT_EQ(ack_many(v, v->admin, path, NULL, &n), 200);
    ASSERT_EQ(n, 1);
    ASSERT_EQ(count_acked(v, "false"), 1);
    /* up to a time: nothing at or before T0 is open any more */
    ASSERT_EQ(ack_many(v, v->admin, "/api/events/ack?from=2024-06-01T00:00:00Z&to=2024-06-01T00:00:30Z", NULL, &n), 200);
    ASSERT_EQ(n, 0);
    /* by ids: the viewer cannot acknowledge B's, the admin can (and an
     * unknown id is left alone) */
    char body[96];
    snprintf(body, sizeof body, "{\"ids\":[%lld]}", (long long)b_over);
    ASSERT_EQ(ack_many(v, w.viewer, "/api/events/ack", body, &n), 200);
    ASSERT_EQ(n, 0);
    ASSERT_EQ(count_acked(v, "false"), 1);
    snprintf(body, sizeof body, "{\"ids\":[%lld, 999999, %lld]}", (long long)b_over, (long long)a_on);
    ASSERT_EQ(ack_many(v, v->admin, "/api/events/ack", body, &n), 200);
    ASSERT_EQ(n, 1);
    ASSERT_EQ(count_acked(v, "false"), 0);
    /* errors */
    struct {
        const char *path, *body, *msg;
        int status;
    } bad[] = {
        {"/api/events/ack", NULL, "to is required", 400},
        {"/api/events/ack?from=2024-06-01T00:00:00Z", NULL, "to is required", 400},
        {"/api/events/ack?from=2024-06-02T00:00:00Z&to=2024-06-01T00:00:00Z", NULL, "from must not be after to", 400},
        {"/api/events/ack?type=bogus&" DAY, NULL, "unknown event type bogus", 400},
        {"/api/events/ack?maxId=x&" DAY, NULL, "maxId", 400},
        {"/api/events/ack", "{\"ids\":[]}", "ids must be an array of 1 to 1000 event ids", 400},
        {"/api/events/ack", "{\"ids\":\"1,2\"}", "ids must be an array", 400},
        {"/api/events/ack", "{\"ids\":[1,0]}", "ids[1] is not an event id", 400},
        {"/api/events/ack", "{\"ids\":[1,", "not valid JSON", 400},
        {"/api/events/ack", "{\"ids\":[\"7\"]}", "ids[0] is not an event id", 400},
        {"/api/events/ack", "{\"ids\":[1.5]}", "ids[0] is not an event id", 400},
        /* ids or the filter, never both: the filter is not silently ignored */
        {"/api/events/ack?type=alarm&type=alarm&from=2024-06-01T00:00:00Z", "{\"ids\":[1]}",
         "ids cannot be combined with the filter parameters type, from", 400},
        {"/api/events/ack?deviceId=1&groupId=1&to=2024-06-01T00:00:00Z&maxId=5", "{\"ids\":[1]}",
         "ids cannot be combined with the filter parameters deviceId, groupId, to, maxId", 400},
        /* a parameter it does not take is named, not ignored */
        {"/api/events/ack?acknowledged=true&" DAY, NULL, "unknown parameter acknowledged", 400},
        {"/api/events/ack?limit=10&" DAY, NULL, "unknown parameter limit", 400},
        {"/api/events/ack?limit=10", "{\"ids\":[1]}", "unknown parameter limit", 400},
        /* a body must hold the ids: without them it is not "acknowledge all" */
        {"/api/events/ack?" DAY, "{\"id\":[1]}", "the body must be", 400},
        {"/api/events/ack?" DAY, "ids=1,2", "the body must be", 400},
    };
    int wrong = 0; /* every case is tried, each wrong answer printed */
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int st = req(v, "POST", bad[i].path, h, bad[i].body, &res);
        if (st != bad[i].status || !body_has(&res, bad[i].msg)) {
            fprintf(stderr, "%s %s: %d %.*s\n", bad[i].path, bad[i].body ? bad[i].body : "", st, (int)res.body.n,
                    res.body.p);
            wrong++;
        }
        weft_http_test_response_free(&res);
    }
    ASSERT_EQ(wrong, 0);
    snprintf(path, sizeof path, "/api/events/ack?groupId=%lld&" DAY, (long long)w.gb);
    ASSERT_EQ(req(v, "POST", path, w.viewer, NULL, NULL), 404);
    ASSERT_EQ(req(v, "POST", "/api/events/ack?" DAY, NULL, NULL, NULL), 401);
    char no_xrw[128];
    snprintf(no_xrw, sizeof no_xrw, "%.*s", (int)(strstr(v->admin, XRW) - v->admin), v->admin);
    ASSERT_EQ(req(v, "POST", "/api/events/ack?" DAY, no_xrw, NULL, NULL), 403);
    /* 1,000 ids is the most */
    weft_buf big;
    weft_buf_init(&big, 0);
    weft_buf_appends(&big, "{\"ids\":[");
    for (int i = 1; i <= 1001; i++) weft_buf_printf(&big, "%s%d", i > 1 ? "," : "", i);
    weft_buf_appends(&big, "]}");
    ASSERT_EQ(req(v, "POST", "/api/events/ack", h, big.data, NULL), 400);
    weft_buf_free(&big);
}

/* A database made by the previous schema (version 1, before acknowledgements)
 * is upgraded on open: its events are kept, open, and can be acknowledged. */
static void legacy_v1(fleet_config *c) {
    store *s;
    char err[256];
    if (store_open_version(&s, c, 1, err, sizeof err) < 0) {
        fprintf(stderr, "v1 store: %s\n", err);
        return;
    }
    weft_db_err e;
    weft_db_arg a[] = {WEFT_DB_INT(T0), WEFT_DB_INT(T0 + 1000)};
    const char *sql[] = {
        "INSERT INTO groups (name, created_ms) VALUES ('Old depot', $1)",
        "INSERT INTO devices (unique_id, name, group_id, created_ms) VALUES ('old-1', 'Old van', 1, $1)",
        "INSERT INTO events (device_id, type, event_time, server_time) VALUES (1, 'alarm', $1, $1)",
        "INSERT INTO events (device_id, type, event_time, server_time) VALUES (1, 'deviceOverspeed', $2, $1)",
    };
    for (size_t i = 0; i < sizeof sql / sizeof *sql; i++)
        if (store_exec(s, sql[i], a, i == 3 ? 2 : 1, NULL, &e) < 0) fprintf(stderr, "v1 store: %s: %s\n", sql[i], e.msg);
    store_close(s);
}
static void (*const schema_upgrade_cfg)(fleet_config *) = legacy_v1;

BOTH(schema_upgrade) {
    ASSERT_EQ(store_schema_version(v->f.db), 5);
    weft_db_rows *r;
    weft_db_err e;
    ASSERT_EQ(store_query(v->f.db, "SELECT version FROM schema_migrations ORDER BY version", NULL, 0, &r, &e), 0);
    ASSERT_EQ(weft_db_nrows(r), 5);
    ASSERT_EQ(weft_db_int(r, 4, 0), 5);
    weft_db_rows_free(r);
    ASSERT_EQ(login(v, ADMIN_EMAIL, ADMIN_PW, v->admin), 200);
    ASSERT_EQ(count_acked(v, "false"), 2);
    ASSERT_EQ(count_acked(v, "true"), 0);
    ASSERT_EQ(req(v, "POST", "/api/events/1/ack", v->admin, NULL, NULL), 200);
    ASSERT_EQ(count_acked(v, "true"), 1);
    ASSERT_EQ(count_acked(v, "false"), 1);
    /* opened again: nothing left to migrate, the acknowledgement kept */
    store *s;
    char err[256];
    ASSERT_EQ(store_open(&s, &v->f.cfg, err, sizeof err), 0);
    ASSERT_EQ(store_schema_version(s), 5);
    ASSERT_EQ(store_query(s, "SELECT ack_user_name FROM events WHERE ack_time IS NOT NULL", NULL, 0, &r, &e), 0);
    ASSERT_EQ(weft_db_nrows(r), 1);
    ASSERT(!strcmp(weft_db_text(r, 0, 0, NULL), "Administrator"));
    weft_db_rows_free(r);
    store_close(s);
}

/* ---- geofences ------------------------------------------------------------------------------------ */

static size_t fences_loaded(env *v) {
    fleet_geofences *g = fleet_geo_acquire(&v->f);
    size_t n = g ? g->n : 0;
    fleet_geo_release(g);
    return n;
}

NOCFG(geofences)
BOTH(geofences) {
    WORLD(w);
    weft_http_test_response res;
    char body[512], path[64];
    ASSERT_EQ(fences_loaded(v), 0);
    snprintf(body, sizeof body,
             "{\"name\":\"Depot A\",\"groupId\":%lld,\"area\":{\"type\":\"Point\",\"coordinates\":[16.37,48.2],\"radius\":200}}",
             (long long)w.ga);
    int64_t fa = make(v, w.manager, "POST", "/api/geofences", body);
    ASSERT_GT(fa, 0);
    ASSERT_EQ(fences_loaded(v), 1); /* the pipeline's snapshot follows */
    snprintf(body, sizeof body,
             "{\"name\":\"Yard B\",\"groupId\":%lld,\"area\":{\"type\":\"Polygon\",\"coordinates\":[[[15,47],[15.01,47],[15.01,47.01],[15,47]]]}}",
             (long long)w.gb);
    int64_t fb = make(v, v->admin, "POST", "/api/geofences", body);
    ASSERT_GT(fb, 0);
    int64_t fg = make(v, v->admin, "POST", "/api/geofences",
                      "name=Zone&area=%7B%22type%22%3A%22Point%22%2C%22coordinates%22%3A%5B16%2C48%5D%2C%22radius%22%3A1000%7D");
    ASSERT_GT(fg, 0);
    ASSERT_EQ(fences_loaded(v), 3);
    /* bad areas: 422 naming the problem */
    ASSERT_EQ(req(v, "POST", "/api/geofences", v->admin,
                  "{\"name\":\"x\",\"area\":{\"type\":\"Polygon\",\"coordinates\":[[[15,47],[15.01,47],[15.01,47.01],[15.02,47.02]]]}}",
                  &res),
              422);
    ASSERT(body_has(&res, "area: ") && body_has(&res, "closed") && body_has(&res, "\"field\":\"area\""));
    weft_http_test_response_free(&res);
    ASSERT_EQ(req(v, "POST", "/api/geofences", v->admin,
                  "{\"name\":\"x\",\"area\":{\"type\":\"Point\",\"coordinates\":[16,48],\"radius\":-5}}", &res),
              422);
    ASSERT(body_has(&res, "radius"));
    weft_http_test_response_free(&res);
    ASSERT_EQ(req(v, "POST", "/api/geofences", v->admin, "{\"name\":\"x\",\"area\":\"{not json\"}", &res), 422);
    weft_http_test_response_free(&res);
    ASSERT_EQ(req(v, "POST", "/api/geofences", v->admin, "{\"name\":\"x\"}", &res), 400);
    ASSERT(body_has(&res, "area is required") && body_has(&res, "\"field\":\"area\""));
    weft_http_test_response_free(&res);
    ASSERT_EQ(req(v, "POST", "/api/geofences", v->admin,
                  "{\"area\":{\"type\":\"Point\",\"coordinates\":[16,48],\"radius\":50}}", &res), 400);
    ASSERT(body_has(&res, "name is required") && body_has(&res, "\"field\":\"name\""));
    weft_http_test_response_free(&res);
    ASSERT_EQ(fences_loaded(v), 3);
    /* who sees which */
    ASSERT_EQ(req(v, "GET", "/api/geofences", w.viewer, NULL, &res), 200);
    ASSERT(body_has(&res, "Depot A") && body_has(&res, "Zone") && !body_has(&res, "Yard B"));
    weft_http_test_response_free(&res);
    snprintf(path, sizeof path, "/api/geofences/%lld", (long long)fb);
    ASSERT_EQ(req(v, "GET", path, w.viewer, NULL, NULL), 404);
    ASSERT_EQ(req(v, "PUT", path, w.manager, "{\"name\":\"mine\"}", NULL), 404);
    ASSERT_EQ(req(v, "DELETE", path, w.manager, NULL, NULL), 404);
    ASSERT_EQ(req(v, "GET", path, v->admin, NULL, &res), 200);
    ASSERT(body_has(&res, "\"type\":\"Polygon\""));
    weft_http_test_response_free(&res);
    snprintf(path, sizeof path, "/api/geofences/%lld", (long long)fg);
    ASSERT_EQ(req(v, "PUT", path, w.manager, "{\"name\":\"mine\"}", NULL), 403); /* global: admin only */
    snprintf(path, sizeof path, "/api/geofences/%lld", (long long)fa);
    ASSERT_EQ(req(v, "PUT", path, w.viewer, "{\"name\":\"mine\"}", NULL), 403);
    ASSERT_EQ(req(v, "PUT", path, w.manager, "{\"name\":\"Depot A2\",\"area\":{\"type\":\"Point\",\"coordinates\":[16.4,48.2],\"radius\":300}}", &res), 200);
    ASSERT(body_has(&res, "Depot A2"));
    ASSERT(jd(weft_json_get(js(v, &res), "area"), "radius") == 300);
    weft_http_test_response_free(&res);
    ASSERT_EQ(req(v, "DELETE", path, w.manager, NULL, NULL), 204);
    ASSERT_EQ(req(v, "GET", path, w.manager, NULL, NULL), 404);
    ASSERT_EQ(fences_loaded(v), 2);
}

/* ---- groups and users ------------------------------------------------------------------------------ */

NOCFG(groups)
BOTH(groups) {
    WORLD(w);
    weft_http_test_response res;
    char path[64];
    ASSERT_EQ(req(v, "POST", "/api/groups", v->admin, "{\"name\":\"A\"}", NULL), 409);
    ASSERT_EQ(req(v, "POST", "/api/groups", v->admin, "{}", &res), 400);
    ASSERT(body_has(&res, "name is required"));
    weft_http_test_response_free(&res);
    ASSERT_EQ(req(v, "POST", "/api/groups", v->admin, "{\"name\":\"C\",\"speedLimit\":\"fast\"}", NULL), 400);
    ASSERT_EQ(req(v, "POST", "/api/groups", w.manager, "{\"name\":\"C\"}", NULL), 403);
    snprintf(path, sizeof path, "/api/groups/%lld", (long long)w.ga);
    ASSERT_EQ(req(v, "PUT", path, v->admin, "{\"speedLimit\":30}", &res), 200);
    ASSERT(jd(js(v, &res), "speedLimit") == 30 && body_has(&res, "\"name\":\"A\""));
    weft_http_test_response_free(&res);
    ASSERT(fleet_speed_limit(&v->f, live_by_id(v->f.devices, w.dev_a)) == 30); /* overspeed rules follow */
    ASSERT_EQ(req(v, "PUT", "/api/groups/999", v->admin, "{\"speedLimit\":30}", NULL), 404);
    /* deleting group B: its device stays, in no group */
    snprintf(path, sizeof path, "/api/groups/%lld", (long long)w.gb);
    ASSERT_EQ(req(v, "DELETE", path, w.manager, NULL, NULL), 403);
    ASSERT_EQ(req(v, "DELETE", path, v->admin, NULL, NULL), 204);
    ASSERT_EQ(req(v, "DELETE", path, v->admin, NULL, NULL), 404);
    snprintf(path, sizeof path, "/api/devices/%lld", (long long)w.dev_b);
    ASSERT_EQ(req(v, "GET", path, v->admin, NULL, &res), 200);
    ASSERT(body_has(&res, "\"groupId\":null"));
    weft_http_test_response_free(&res);
}

NOCFG(users)
BOTH(users) {
    WORLD(w);
    weft_http_test_response res;
    char body[256], path[64];
    ASSERT_EQ(req(v, "POST", "/api/users", v->admin, "{\"email\":\"viewer@a\",\"password\":\"12345678\"}", NULL), 409);
    ASSERT_EQ(req(v, "POST", "/api/users", v->admin, "{\"email\":\"x@a\",\"password\":\"short\"}", &res), 422);
    ASSERT(body_has(&res, "password is too short"));
    weft_http_test_response_free(&res);
    ASSERT_EQ(req(v, "POST", "/api/users", v->admin, "{\"email\":\"x@a\",\"password\":\"12345678\",\"role\":\"boss\"}", &res), 422);
    ASSERT(body_has(&res, "role must be"));
    weft_http_test_response_free(&res);
    ASSERT_EQ(req(v, "POST", "/api/users", v->admin, "{\"email\":\"nope\",\"password\":\"12345678\"}", NULL), 422);
    ASSERT_EQ(req(v, "POST", "/api/users", v->admin, "{\"email\":\"x@a\",\"password\":\"12345678\",\"groupIds\":[999]}", &res), 422);
    ASSERT(body_has(&res, "groupIds: group 999 does not exist"));
    weft_http_test_response_free(&res);
    ASSERT_EQ(req(v, "POST", "/api/users", w.manager, "{\"email\":\"x@a\",\"password\":\"12345678\"}", NULL), 403);
    snprintf(body, sizeof body, "{\"email\":\"New@B\",\"password\":\"new-password\",\"groupIds\":[%lld]}", (long long)w.gb);
    int64_t nu = make(v, v->admin, "POST", "/api/users", body);
    ASSERT_GT(nu, 0);
    char nh[128];
    ASSERT_EQ(login(v, "new@b", "new-password", nh), 200);
    ASSERT_EQ(req(v, "GET", "/api/devices", nh, NULL, &res), 200);
    ASSERT(body_has(&res, "dev-b") && !body_has(&res, "dev-a"));
    weft_http_test_response_free(&res);
    /* themselves: name and password, nothing else */
    snprintf(path, sizeof path, "/api/users/%lld", (long long)nu);
    ASSERT_EQ(req(v, "PUT", path, nh, "{\"name\":\"Newbie\"}", &res), 200);
    ASSERT(body_has(&res, "Newbie"));
    weft_http_test_response_free(&res);
    ASSERT_EQ(req(v, "PUT", path, nh, "{\"role\":\"admin\"}", NULL), 403);
    ASSERT_EQ(req(v, "PUT", path, w.manager, "{\"name\":\"x\"}", NULL), 404); /* shares no group */
    ASSERT_EQ(req(v, "PUT", path, nh, "{\"password\":\"other-password\"}", NULL), 200);
    ASSERT_EQ(login(v, "new@b", "new-password", nh), 401);
    ASSERT_EQ(login(v, "new@b", "other-password", nh), 200);
    /* the admin disables them: their session ends */
    ASSERT_EQ(req(v, "PUT", path, v->admin, "{\"disabled\":true}", NULL), 200);
    ASSERT_EQ(req(v, "GET", "/api/session", nh, NULL, NULL), 401);
    ASSERT_EQ(login(v, "new@b", "other-password", nh), 401);
    ASSERT_EQ(req(v, "GET", "/api/users/1", v->admin, NULL, &res), 200);
    ASSERT(body_has(&res, ADMIN_EMAIL) && !body_has(&res, "argon2"));
    weft_http_test_response_free(&res);
    ASSERT_EQ(req(v, "DELETE", "/api/users/1", v->admin, NULL, NULL), 409); /* not themselves */
    ASSERT_EQ(req(v, "PUT", "/api/users/1", v->admin, "{\"role\":\"viewer\"}", NULL), 409);
    ASSERT_EQ(req(v, "DELETE", path, w.manager, NULL, NULL), 403);
    ASSERT_EQ(req(v, "DELETE", path, v->admin, NULL, NULL), 204);
    ASSERT_EQ(req(v, "GET", path, v->admin, NULL, NULL), 404);
}

/* ---- reports on a synthetic day ------------------------------------------------------------------ */

/* Fix k (k = 0..239, one a minute from T0): speed 20 kn on k in [60, 120)
 * except a two-fix pause at 90-91 (a traffic light: shorter than
 * status.stop_min_s = 300 s), and on [180, 210); 0 otherwise. Moving fixes
 * step north by what 20 kn covers in a minute; ignition is on while moving
 * and in the pause. So: stops k=0..59, 120..179, 210..239; trips
 * k=59 -> 120 and 179 -> 210. */
static double synth_speed(int k) {
    if (k >= 60 && k < 120) return (k == 90 || k == 91) ? 0 : 20;
    return k >= 180 && k < 210 ? 20 : 0;
}
static double synth_lat(int k) {
    int moved = 0;
    for (int i = 0; i <= k; i++) moved += synth_speed(i) > 0;
    return 48.0 + moved * (20 * 0.514444 * 60 / GEO_EARTH_R * 180 / M_PI);
}
static int synth_ign(int k) { return (k >= 60 && k < 120) || (k >= 180 && k < 210); }

static int jtime_is(const weft_json *o, const char *k, int64_t ms) {
    char t[32];
    fleet_time_format(t, ms);
    return weft_str_eq(weft_json_str(weft_json_get(o, k)), weft_str_c(t));
}

NOCFG(reports)
BOTH(reports) {
    WORLD(w);
    char body[128], path[256];
    snprintf(body, sizeof body, "{\"name\":\"Synth\",\"uniqueId\":\"synth\",\"groupId\":%lld}", (long long)w.ga);
    int64_t dev = make(v, v->admin, "POST", "/api/devices", body);
    ASSERT_GT(dev, 0);
    for (int k = 0; k < 240; k++)
        ASSERT_EQ(add_position(v, dev, T0 + k * 60000LL, synth_lat(k), 16.0, synth_speed(k),
                               synth_ign(k) ? "{\"ignition\":true,\"sat\":9}" : "{\"ignition\":false}"),
                  0);
    const char *range = "from=2024-06-01T00:00:00Z&to=2024-06-01T23:59:59Z";
    weft_http_test_response res;
    /* stops */
    snprintf(path, sizeof path, "/api/reports/stops?deviceId=%lld&%s", (long long)dev, range);
    ASSERT_EQ(req(v, "GET", path, w.viewer, NULL, &res), 200);
    weft_json *l = js(v, &res);
    ASSERT(l && l->type == WEFT_JSON_ARRAY);
    ASSERT_EQ(l->len, 3);
    int first[3] = {0, 120, 210}, last[3] = {59, 179, 239};
    for (int i = 0; i < 3; i++) {
        const weft_json *s = weft_json_at(l, (size_t)i);
        ASSERT(jtime_is(s, "startTime", T0 + first[i] * 60000LL));
        ASSERT(jtime_is(s, "endTime", T0 + last[i] * 60000LL));
        ASSERT_EQ(jint(s, "duration"), (last[i] - first[i]) * 60000LL);
        ASSERT(fabs(jd(s, "latitude") - synth_lat(first[i])) < 1e-9);
        ASSERT_EQ(jint(s, "engineHours"), 0);
        ASSERT(weft_str_eq(weft_json_str(weft_json_get(s, "deviceName")), WEFT_STR("Synth")));
    }
    weft_http_test_response_free(&res);
    /* trips */
    snprintf(path, sizeof path, "/api/reports/trips?deviceId=%lld&%s", (long long)dev, range);
    ASSERT_EQ(req(v, "GET", path, w.viewer, NULL, &res), 200);
    l = js(v, &res);
    ASSERT(l && l->len == 2);
    int ts[2] = {59, 179}, te[2] = {120, 210};
    for (int i = 0; i < 2; i++) {
        const weft_json *t = weft_json_at(l, (size_t)i);
        ASSERT(jtime_is(t, "startTime", T0 + ts[i] * 60000LL));
        ASSERT(jtime_is(t, "endTime", T0 + te[i] * 60000LL));
        double want = geo_distance_m(synth_lat(ts[i]), 16.0, synth_lat(te[i]), 16.0);
        ASSERT(fabs(jd(t, "distance") - want) < 1.0);
        ASSERT(jd(t, "maxSpeed") == 20);
        double avg = want / ((te[i] - ts[i]) * 60.0) * 1.9438444924406048;
        ASSERT(fabs(jd(t, "averageSpeed") - avg) < 0.01);
        ASSERT(fabs(jd(t, "startLat") - synth_lat(ts[i])) < 1e-9 && fabs(jd(t, "endLat") - synth_lat(te[i])) < 1e-9);
    }
    /* 58 moving minutes in the first trip, 30 in the second: about 617 m each */
    ASSERT(fabs(jd(weft_json_at(l, 0), "distance") - 58 * 617.33) < 58 * 0.5);
    ASSERT(fabs(jd(weft_json_at(l, 1), "distance") - 30 * 617.33) < 30 * 0.5);
    weft_http_test_response_free(&res);
    /* summary */
    snprintf(path, sizeof path, "/api/reports/summary?deviceId=%lld&%s", (long long)dev, range);
    ASSERT_EQ(req(v, "GET", path, w.viewer, NULL, &res), 200);
    l = js(v, &res);
    ASSERT(l && l->len == 1);
    const weft_json *s = weft_json_at(l, 0);
    ASSERT(fabs(jd(s, "distance") - geo_distance_m(synth_lat(0), 16.0, synth_lat(239), 16.0)) < 1.0);
    ASSERT(jd(s, "maxSpeed") == 20 && jd(s, "averageSpeed") == 20);
    ASSERT_EQ(jint(s, "engineHours"), 90 * 60000LL); /* 60 + 30 fixes with ignition, a minute each */
    ASSERT(jtime_is(s, "startTime", T0) && jtime_is(s, "endTime", T0 + 239 * 60000LL));
    weft_http_test_response_free(&res);
    /* CSV; a window that cuts the first stop short makes it a pause */
    snprintf(path, sizeof path, "/api/reports/trips?deviceId=%lld&%s&format=csv", (long long)dev, range);
    ASSERT_EQ(req(v, "GET", path, w.viewer, NULL, &res), 200);
    int lines = 0;
    for (size_t i = 0; i < res.body.n; i++) lines += res.body.p[i] == '\n';
    ASSERT_EQ(lines, 3);
    ASSERT(weft_str_has_prefix(res.body, WEFT_STR("deviceId,deviceName,startTime,endTime,duration,distance")));
    weft_http_test_response_free(&res);
    snprintf(path, sizeof path, "/api/reports/trips?deviceId=%lld&from=2024-06-01T00:57:00Z&to=2024-06-01T02:30:00Z",
             (long long)dev);
    ASSERT_EQ(req(v, "GET", path, w.viewer, NULL, &res), 200);
    l = js(v, &res);
    ASSERT(l && l->len == 1 && jtime_is(weft_json_at(l, 0), "startTime", T0 + 57 * 60000LL));
    weft_http_test_response_free(&res);
    /* route: both devices of group A by groupId, paged */
    snprintf(path, sizeof path, "/api/reports/route?groupId=%lld&%s", (long long)w.ga, range);
    ASSERT_EQ(req(v, "GET", path, w.viewer, NULL, &res), 200);
    l = js(v, &res);
    ASSERT(l && l->len == 250);
    weft_http_test_response_free(&res);
    snprintf(path, sizeof path, "/api/reports/route?deviceId=%lld&%s&limit=100&offset=200&format=gpx", (long long)dev, range);
    ASSERT_EQ(req(v, "GET", path, w.viewer, NULL, &res), 200);
    int pts = 0;
    for (const char *p = res.body.p; (p = memmem(p, res.body.n - (size_t)(p - res.body.p), "<trkpt", 6)); p++) pts++;
    ASSERT_EQ(pts, 40);
    weft_http_test_response_free(&res);
    /* compact route: one object per device, points [fixTime ms, lat, lon, speed, course(, attributes)] */
    snprintf(path, sizeof path, "/api/reports/route?deviceId=%lld&%s&compact=true&limit=100&offset=200", (long long)dev,
             range);
    ASSERT_EQ(req(v, "GET", path, w.viewer, NULL, &res), 200);
    l = js(v, &res);
    ASSERT(l && l->type == WEFT_JSON_ARRAY && l->len == 1);
    const weft_json *cpts = weft_json_get(weft_json_at(l, 0), "points");
    ASSERT(cpts && cpts->len == 40);
    const weft_json *p0 = weft_json_at(cpts, 0);
    ASSERT(p0 && p0->len == 5 && weft_json_at(p0, 0)->u.i == T0 + 200 * 60000LL);
    ASSERT(fabs(weft_json_at(p0, 1)->u.d - synth_lat(200)) <= 5e-8); /* 7 decimals */
    ASSERT(jnum(weft_json_at(p0, 3)) == synth_speed(200));
    ASSERT_EQ(jint(weft_json_at(l, 0), "deviceId"), dev);
    ASSERT(!weft_http_test_header(&res, "X-Next-Offset").p);
    weft_http_test_response_free(&res);
    snprintf(path, sizeof path, "/api/reports/route?deviceId=%lld&%s&compact=1&attributes=true&limit=100", (long long)dev,
             range);
    ASSERT_EQ(req(v, "GET", path, w.viewer, NULL, &res), 200);
    l = js(v, &res);
    cpts = weft_json_get(weft_json_at(l, 0), "points");
    ASSERT(cpts && cpts->len == 100 && weft_json_at(cpts, 99)->len == 6);
    ASSERT(weft_json_get(weft_json_at(weft_json_at(cpts, 99), 5), "ignition"));
    ASSERT(weft_str_eq(weft_http_test_header(&res, "X-Next-Offset"), WEFT_STR("100")));
    weft_http_test_response_free(&res);
    snprintf(path, sizeof path, "/api/reports/route?groupId=%lld&%s&compact=true", (long long)w.ga, range);
    ASSERT_EQ(req(v, "GET", path, w.viewer, NULL, &res), 200);
    l = js(v, &res);
    ASSERT(l && l->len == 2); /* Truck A's 10 and Synth's 240 */
    ASSERT_EQ(weft_json_get(weft_json_at(l, 0), "points")->len + weft_json_get(weft_json_at(l, 1), "points")->len, 250);
    weft_http_test_response_free(&res);
    snprintf(path, sizeof path, "/api/reports/route?deviceId=%lld&%s&compact=maybe", (long long)dev, range);
    ASSERT_EQ(req(v, "GET", path, w.viewer, NULL, &res), 400);
    ASSERT(body_has(&res, "compact must be true or false"));
    weft_http_test_response_free(&res);
    /* errors */
    ASSERT_EQ(req(v, "GET", "/api/reports/trips?from=2024-06-01T00:00:00Z&to=2024-06-02T00:00:00Z", w.viewer, NULL, &res), 400);
    ASSERT(body_has(&res, "deviceId or groupId is required"));
    weft_http_test_response_free(&res);
    snprintf(path, sizeof path, "/api/reports/trips?deviceId=%lld&to=2024-06-02T00:00:00Z", (long long)dev);
    ASSERT_EQ(req(v, "GET", path, w.viewer, NULL, &res), 400);
    ASSERT(body_has(&res, "from is required"));
    weft_http_test_response_free(&res);
    snprintf(path, sizeof path, "/api/reports/trips?deviceId=%lld&%s&format=gpx", (long long)dev, range);
    ASSERT_EQ(req(v, "GET", path, w.viewer, NULL, NULL), 400);
    ASSERT_EQ(req(v, "GET", "/api/reports/trips?deviceId=0&from=2024-06-01T00:00:00Z&to=2024-06-02T00:00:00Z", w.viewer,
                  NULL, NULL),
              400);
}

/* ---- statements over a whole history: found through an index ------------------------------- */

/* Retention runs every minute, in SQLite on the writer's connection that
 * ingest commits on: each of its statements must find what is due through
 * an index, oldest first, so that a pass with nothing due is a seek, not a
 * read of the whole table (motion_chunks was read whole before migration 5
 * gave it an index on t0). The reports' chunk query must be bounded by the
 * range's end, so that a report over an old range does not walk the
 * device's later chunks. SQLite only: PostgreSQL picks its plans by the
 * tables' statistics. */
TEST(retention_and_report_chunks_use_an_index) {
    env *v = lite_env();
    ASSERT(v);
    struct {
        const char *sql, *scan, *index;
    } prune[] = {
        {fleet_prune_positions_sql, "SCAN positions", "COVERING INDEX positions_server_time (server_time<?)"},
        {fleet_prune_chunks_sql, "SCAN motion_chunks", "COVERING INDEX motion_chunks_t0 (t0<?)"},
        {fleet_prune_events_sql, "SCAN events", "COVERING INDEX events_time (event_time<?)"},
    };
    char plan[2048];
    for (size_t i = 0; i < sizeof prune / sizeof prune[0]; i++) {
        ASSERT_EQ(plan_of(v, prune[i].sql, 2, plan, sizeof plan), 0);
        /* a TEMP B-TREE would sort every due row to take the oldest batch */
        int ok = !strstr(plan, prune[i].scan) && strstr(plan, prune[i].index) && !strstr(plan, "TEMP B-TREE");
        if (!ok) fprintf(stderr, "retention plan: %s\n", plan);
        ASSERT(ok);
    }
    /* SQLite writes both ends of a key range with "<" and ">" */
    ASSERT_EQ(plan_of(v, api_report_chunks_sql, 4, plan, sizeof plan), 0);
    int ok = strstr(plan, "USING PRIMARY KEY (device_id=? AND t0>? AND t0<?)") && !strstr(plan, "TEMP B-TREE");
    if (!ok) fprintf(stderr, "report chunks plan: %s\n", plan);
    ASSERT(ok);
    env_close(v);
    free(v);
}

static int64_t count(env *v, const char *sql);

/* What the counters held when each sync began (the hook runs before the
 * fdatasync of each store_exec: one per retention batch). */
static fleet *prune_seen_f;
static _Atomic int prune_syncs;
static _Atomic int64_t prune_seen_pos[8], prune_seen_ev[8];
static int prune_sync_hook(void) {
    int k = atomic_fetch_add(&prune_syncs, 1);
    if (k < 8) {
        atomic_store(&prune_seen_pos[k], atomic_load(&prune_seen_f->m.pruned_positions));
        atomic_store(&prune_seen_ev[k], atomic_load(&prune_seen_f->m.pruned_events));
    }
    return 0;
}

/* fleet_pruned_total counts each batch of a retention pass once it is
 * committed: a pass over a backlog takes minutes, and /metrics (and
 * bench/run-fleet.sh's retention phase, which waits for the first batch)
 * must see it going, not only at its end. 700 positions and 400 events
 * due, batches of 300: the syncs are those of positions 300, 300, 100,
 * chunks 0, events 300, 100, in that order (this fixture has no writer
 * and no background task). SQLite only: PostgreSQL's commits need no sync
 * of ours, so the hook never runs there; the counting is the same code. */
TEST(retention_counts_each_batch_as_it_is_committed) {
    env *v = lite_env();
    ASSERT(v);
    v->f.cfg.positions_retention_days = v->f.cfg.events_retention_days = 30;
    int64_t now = fleet_now_ms(), old = now - 40LL * 86400000, recent = now - 86400000;
    weft_db_err e;
    weft_db_arg a[] = {WEFT_DB_INT(old), WEFT_DB_INT(699)}, b[] = {WEFT_DB_INT(recent), WEFT_DB_INT(99)};
    static const char pos[] =
        "WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i < $2) "
        "INSERT INTO positions (device_id, protocol, fix_time, server_time, latitude, longitude, speed, course, "
        "altitude, accuracy, valid, attributes) SELECT 1, 'osmand', $1 + i, $1 + i, 1, 1, 0, 0, 0, 0, 1, '{}' FROM c";
    static const char ev[] =
        "WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i < $2) "
        "INSERT INTO events (device_id, type, event_time, server_time) SELECT 1, 'deviceOnline', $1 + i, $1 + i FROM c";
    ASSERT_EQ(store_exec(v->f.db, pos, a, 2, NULL, &e), 0);
    ASSERT_EQ(store_exec(v->f.db, pos, b, 2, NULL, &e), 0);
    a[1] = WEFT_DB_INT(399);
    ASSERT_EQ(store_exec(v->f.db, ev, a, 2, NULL, &e), 0);
    ASSERT_EQ(store_exec(v->f.db, ev, b, 2, NULL, &e), 0);
    prune_seen_f = &v->f;
    atomic_store(&prune_syncs, 0);
    store_set_sync_hook(v->f.db, prune_sync_hook);
    ASSERT_EQ(fleet_prune(&v->f, now, 300), 1100);
    store_set_sync_hook(v->f.db, NULL);
    ASSERT_EQ(atomic_load(&prune_syncs), 6);
    static const int64_t want_pos[6] = {0, 300, 600, 700, 700, 700}, want_ev[6] = {0, 0, 0, 0, 0, 300};
    for (int k = 0; k < 6; k++) {
        int64_t pos_seen = atomic_load(&prune_seen_pos[k]), ev_seen = atomic_load(&prune_seen_ev[k]);
        if (pos_seen != want_pos[k] || ev_seen != want_ev[k])
            fprintf(stderr, "sync %d: counted %lld positions, %lld events\n", k, (long long)pos_seen, (long long)ev_seen);
        ASSERT_EQ(pos_seen, want_pos[k]);
        ASSERT_EQ(ev_seen, want_ev[k]);
    }
    ASSERT_EQ(atomic_load(&v->f.m.pruned_positions), 700);
    ASSERT_EQ(atomic_load(&v->f.m.pruned_events), 400);
    ASSERT_EQ(count(v, "SELECT COUNT(*) FROM positions"), 100);
    ASSERT_EQ(count(v, "SELECT COUNT(*) FROM events"), 100);
    env_close(v);
    free(v);
}

/* When each sync began (CLOCK_MONOTONIC, ms); the first one takes 300 ms. */
static _Atomic int64_t slow_sync_at[8];
static int slow_first_prune_sync(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int k = atomic_fetch_add(&prune_syncs, 1);
    if (k < 8) atomic_store(&slow_sync_at[k], (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
    if (k == 0) {
        struct timespec d = {0, 300 * 1000000L};
        nanosleep(&d, NULL);
    }
    return 0;
}

/* After a batch that took longer than the usual 20 ms pause, retention
 * pauses as long as the batch took: in SQLite a batch holds the writer's
 * thread that ingest commits on, so a slow disk or machine still leaves
 * ingest at least about half of it while a backlog is pruned. The first
 * batch's sync takes 300 ms (the hook sleeps), so the second batch's sync
 * begins at least 300 + 300 ms after the first one's; with a fixed 20 ms
 * pause it began about 320 ms after. A lower bound on elapsed time: a slow
 * machine only makes it longer. */
TEST(retention_pauses_as_long_as_a_slow_batch_took) {
    env *v = lite_env();
    ASSERT(v);
    v->f.cfg.positions_retention_days = 30;
    v->f.cfg.events_retention_days = 0;
    int64_t now = fleet_now_ms();
    weft_db_err e;
    weft_db_arg a[] = {WEFT_DB_INT(now - 40LL * 86400000), WEFT_DB_INT(699)};
    ASSERT_EQ(store_exec(v->f.db,
                         "WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i < $2) "
                         "INSERT INTO positions (device_id, protocol, fix_time, server_time, latitude, longitude, "
                         "speed, course, altitude, accuracy, valid, attributes) "
                         "SELECT 1, 'osmand', $1 + i, $1 + i, 1, 1, 0, 0, 0, 0, 1, '{}' FROM c",
                         a, 2, NULL, &e), 0);
    atomic_store(&prune_syncs, 0);
    store_set_sync_hook(v->f.db, slow_first_prune_sync);
    ASSERT_EQ(fleet_prune(&v->f, now, 300), 700);
    store_set_sync_hook(v->f.db, NULL);
    ASSERT_EQ(atomic_load(&prune_syncs), 4); /* positions 300, 300, 100; chunks 0 */
    int64_t gap = atomic_load(&slow_sync_at[1]) - atomic_load(&slow_sync_at[0]);
    if (gap < 590) fprintf(stderr, "second batch's sync began %lld ms after the first's\n", (long long)gap);
    ASSERT(gap >= 590); /* 300 + 300, less the clocks' rounding */
    env_close(v);
    free(v);
}

/* ---- motion chunks against the raw fixes ---------------------------------------------------------- */

/* Two JSON values equal, doubles to 1e-9 relative (sums of distances and
 * speeds are added in another order when they come from chunks). */
static int json_close(const weft_json *a, const weft_json *b) {
    if (a->type == WEFT_JSON_DOUBLE || a->type == WEFT_JSON_INT) {
        if (b->type != WEFT_JSON_DOUBLE && b->type != WEFT_JSON_INT) return 0;
        double x = a->type == WEFT_JSON_INT ? (double)a->u.i : a->u.d, y = b->type == WEFT_JSON_INT ? (double)b->u.i : b->u.d;
        return fabs(x - y) <= 1e-9 * fmax(1, fmax(fabs(x), fabs(y)));
    }
    if (a->type != b->type || a->len != b->len) return 0;
    switch (a->type) {
    case WEFT_JSON_STRING:
        return memcmp(a->u.s, b->u.s, a->len) == 0;
    case WEFT_JSON_ARRAY:
        for (uint32_t i = 0; i < a->len; i++)
            if (!json_close(&a->u.items[i], &b->u.items[i])) return 0;
        return 1;
    case WEFT_JSON_OBJECT:
        for (uint32_t i = 0; i < a->len; i++)
            if (!weft_str_eq(a->u.members[i].key, b->u.members[i].key) ||
                !json_close(&a->u.members[i].value, &b->u.members[i].value))
                return 0;
        return 1;
    default:
        return 1; /* null, true, false: the type said it */
    }
}

/* A generated week-end of one vehicle, every 15 s: stretches of driving
 * (with short pauses and slow crawls), stops long and short, ignition on
 * while driving and sometimes while standing; written through the writer
 * (which keeps the chunks), with duplicates, late fixes and a forgotten
 * writer state (a restart) on the way. */
static uint64_t rnd_state = 42;
static uint32_t rnd(void) {
    rnd_state = rnd_state * 6364136223846793005u + 1442695040888963407u;
    return (uint32_t)(rnd_state >> 33);
}

static int gen_submit(env *v, int64_t dev, fleet_fix *fx, int n, char (*attrs)[40]) {
    pos_row rows[64];
    for (int i = 0; i < n; i++)
        rows[i] = (pos_row){.device_id = dev, .protocol = "osmand", .server_ms = fx[i].fix_ms, .fix = fx[i],
                            .attrs = attrs[i], .attrs_len = strlen(attrs[i])};
    weft_db_err e;
    int rc = writer_submit(v->f.w, rows, n, NULL, 0, &e);
    if (rc < 0) fprintf(stderr, "writer_submit: %s\n", e.msg);
    return rc;
}

/* ignition as the reports' SQL reads it: LIKE '%"ignition":true%' first, then false;
 * SQLite's LIKE folds ASCII case, PostgreSQL's does not */
TEST_PLAIN(motion_ign_of_reads_like_the_sql) {
    struct { const char *a; int lite, pg; } t[] = {
        {"{\"ignition\":true}", 1, 1},
        {"{\"a\":1,\"Ignition\":TRUE}", 1, -1},
        {"{\"i\":1,\"ig\":\"Ig\",\"IGN\":2,\"ignition\":true}", 1, 1}, /* near misses first */
        {"{\"ignition\":false,\"ignition\":true}", 1, 1}, /* true is looked for first */
        {"{\"ignition\":false}", 0, 0},
        {"{\"x\":\"\\\"ignition\\\":true\"}", -1, -1}, /* inside a string: \" is no match */
        {"{}", -1, -1},
        {"\"ignition\":fals", -1, -1},
        {"", -1, -1},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        ASSERT_EQ(motion_ign_of(t[i].a, strlen(t[i].a), 0), t[i].lite);
        ASSERT_EQ(motion_ign_of(t[i].a, strlen(t[i].a), 1), t[i].pg);
    }
    ASSERT_EQ(motion_ign_of("{\"ignition\":true}", 15, 0), -1); /* only the first len bytes */
}

NOCFG(motion_chunks_match_raw)
BOTH(motion_chunks_match_raw) {
    WORLD(w);
    char body[128];
    snprintf(body, sizeof body, "{\"name\":\"Gen\",\"uniqueId\":\"gen\",\"groupId\":%lld}", (long long)w.ga);
    int64_t dev = make(v, v->admin, "POST", "/api/devices", body);
    ASSERT_GT(dev, 0);
    v->f.w = writer_start(v->f.db, 1, 0, 1, 1000, v->f.cfg.moving_speed_kn); /* env_open starts none */
    ASSERT(v->f.w);
    rnd_state = 42;
    const int N = 2 * 86400 / 15; /* two days */
    fleet_fix fx[64];
    char attrs[64][40];
    int nb = 0, moving = 0, left = 0, ign = 0, late = 0, dups = 0;
    double lat = 48.0, lon = 16.0;
    for (int k = 0; k < N; k++) {
        if (left-- <= 0) { /* next stretch: 1 to 90 minutes */
            moving = !moving;
            left = 4 + (int)(rnd() % 360);
            ign = moving || rnd() % 3 == 0;
        }
        double speed = 0;
        if (moving) {
            uint32_t r = rnd() % 20;
            speed = r == 0 ? 0 : r == 1 ? 1.0 : 10 + rnd() % 50; /* a traffic light, a crawl, driving */
            lat += speed * 0.514444 * 15 / GEO_EARTH_R * 180 / M_PI;
            lon += (double)(rnd() % 100) * 1e-6;
        } else if (rnd() % 10 == 0) {
            speed = 0.5; /* GPS drift, below the moving speed */
        }
        fleet_fix_init(&fx[nb]);
        fx[nb].fix_ms = T0 + (int64_t)k * 15000, fx[nb].lat = lat, fx[nb].lon = lon, fx[nb].speed_kn = speed;
        snprintf(attrs[nb], sizeof attrs[nb], ign ? "{\"ignition\":true,\"sat\":9}" : "{\"ignition\":false}");
        nb++;
        if (k % 997 == 500 && nb < 63) { /* a resent fix */
            fx[nb] = fx[nb - 1], memcpy(attrs[nb], attrs[nb - 1], sizeof attrs[0]), nb++, dups++;
        }
        if (nb >= 40 || k == N - 1) {
            ASSERT_EQ(gen_submit(v, dev, fx, nb, attrs), 0);
            nb = 0;
        }
        if (k % 3001 == 2000) writer_motion_reset(v->f.w); /* as after a restart */
        if (k % 4001 == 3000) { /* a fix from the past, between two stored ones */
            fleet_fix_init(&fx[0]);
            fx[0].fix_ms = T0 + (int64_t)(k - 200) * 15000 + 7000, fx[0].lat = lat - 0.01, fx[0].lon = lon;
            fx[0].speed_kn = 30;
            snprintf(attrs[0], sizeof attrs[0], "{\"ignition\":true}");
            ASSERT_EQ(gen_submit(v, dev, fx, 1, attrs), 0);
            late++;
        }
    }
    writer_stop(v->f.w);
    v->f.w = NULL;
    ASSERT_GT(late, 0);
    ASSERT_GT(dups, 0);
    int64_t chunks = count(v, "SELECT COUNT(*) FROM motion_chunks");
    ASSERT_GT(chunks, 50);
    ASSERT(count(v, "SELECT SUM(n) FROM motion_chunks") <= count(v, "SELECT COUNT(*) FROM positions"));

    /* ranges: the whole time, and windows that cut chunks */
    const char *kinds[] = {"trips", "stops", "summary"};
    char ranges[8][80];
    int nr = 0;
    snprintf(ranges[nr++], sizeof ranges[0], "from=2024-06-01T00:00:00Z&to=2024-06-03T00:00:00Z");
    for (int i = 0; i < 5; i++) {
        char a[32], b[32];
        int64_t s0 = T0 + (int64_t)(rnd() % (N * 15)) * 1000 + 3000, len = (int64_t)(rnd() % (N * 15)) * 1000;
        fleet_time_format(a, s0);
        fleet_time_format(b, s0 + len);
        snprintf(ranges[nr++], sizeof ranges[0], "from=%s&to=%s", a, b);
    }
    /* an old range (the device's chunks go on for more than a day after it)
     * that ends 5 minutes into a chunk of 10 minutes or more, and one that
     * starts there: the chunk's fixes on the range's side are read raw, and
     * the chunk query stops at the range's end (api_report_chunks_sql) */
    char long_chunk[160];
    snprintf(long_chunk, sizeof long_chunk,
             "SELECT MIN(t0) FROM motion_chunks WHERE device_id = %lld AND t0 >= %lld AND t1 - t0 >= 600000",
             (long long)dev, (long long)(T0 + 6 * 3600000));
    int64_t cut = count(v, long_chunk) + 300000;
    ASSERT_GT(cut, T0 + 6 * 3600000);
    ASSERT_LT(cut, T0 + 86400000);
    char before_cut[32], at_cut[32], after_cut[32];
    fleet_time_format(before_cut, T0 + 3 * 3600000);
    fleet_time_format(at_cut, cut);
    fleet_time_format(after_cut, cut + 3 * 3600000);
    snprintf(ranges[nr++], sizeof ranges[0], "from=%s&to=%s", before_cut, at_cut);
    snprintf(ranges[nr++], sizeof ranges[0], "from=%s&to=%s", at_cut, after_cut);
    weft_http_test_response with[3][8];
    char path[1024]; /* gcc bounds ranges[r] by the whole array */
    int64_t c0 = atomic_load(&v->f.m.report_chunks), f0 = atomic_load(&v->f.m.report_fixes);
    for (int k = 0; k < 3; k++)
        for (int r = 0; r < nr; r++) {
            snprintf(path, sizeof path, "/api/reports/%s?deviceId=%lld&%s", kinds[k], (long long)dev, ranges[r]);
            ASSERT_EQ(req(v, "GET", path, w.viewer, NULL, &with[k][r]), 200);
        }
    /* the whole-range reports read chunks, and few raw fixes */
    int64_t used = atomic_load(&v->f.m.report_chunks) - c0, raw = atomic_load(&v->f.m.report_fixes) - f0;
    ASSERT_GT(used, 3 * chunks / 2);
    ASSERT_LT(raw, (int64_t)3 * N * nr / 4);
    weft_db_err e;
    ASSERT_EQ(store_exec(v->f.db, "DELETE FROM motion_chunks", NULL, 0, NULL, &e), 0);
    int64_t trips = 0;
    for (int k = 0; k < 3; k++)
        for (int r = 0; r < nr; r++) {
            weft_http_test_response without;
            snprintf(path, sizeof path, "/api/reports/%s?deviceId=%lld&%s", kinds[k], (long long)dev, ranges[r]);
            ASSERT_EQ(req(v, "GET", path, w.viewer, NULL, &without), 200);
            weft_json *a = js(v, &with[k][r]), *b = js(v, &without);
            ASSERT(a && b && a->type == WEFT_JSON_ARRAY);
            if (!json_close(a, b))
                fprintf(stderr, "%s %s\nchunks: %.*s\nraw:    %.*s\n", kinds[k], ranges[r], (int)with[k][r].body.n,
                        with[k][r].body.p, (int)without.body.n, without.body.p);
            ASSERT(json_close(a, b));
            if (k == 0) trips += a->len;
            weft_http_test_response_free(&with[k][r]);
            weft_http_test_response_free(&without);
        }
    ASSERT_GT(trips, 20); /* the data has trips to compare */
    /* the compact route of it all streams (over 256 KB) and holds every stored fix, in order */
    snprintf(path, sizeof path, "/api/reports/route?deviceId=%lld&%s&compact=true&limit=100000", (long long)dev,
             ranges[0]);
    weft_http_test_response rr;
    ASSERT_EQ(req(v, "GET", path, w.viewer, NULL, &rr), 200);
    ASSERT_GT(rr.body.n, 256 * 1024);
    weft_json *l = js(v, &rr);
    ASSERT(l && l->len == 1);
    const weft_json *pts = weft_json_get(weft_json_at(l, 0), "points");
    char q[96];
    snprintf(q, sizeof q, "SELECT COUNT(*) FROM positions WHERE device_id = %lld", (long long)dev);
    ASSERT(pts && (int64_t)pts->len == count(v, q));
    /* ... the same fixes as the full route, rounded to 7, 7, 2 and 1 decimals */
    snprintf(path, sizeof path, "/api/reports/route?deviceId=%lld&%s&limit=100000", (long long)dev, ranges[0]);
    weft_http_test_response full;
    ASSERT_EQ(req(v, "GET", path, w.viewer, NULL, &full), 200);
    weft_json *fl = js(v, &full);
    ASSERT(fl && fl->len == pts->len);
    for (uint32_t i = 0; i < pts->len; i++) {
        const weft_json *p = weft_json_at(pts, i), *fq = weft_json_at(fl, i);
        ASSERT(jtime_is(fq, "fixTime", weft_json_at(p, 0)->u.i));
        ASSERT(fabs(jnum(weft_json_at(p, 1)) - jd(fq, "latitude")) <= 5.1e-8);
        ASSERT(fabs(jnum(weft_json_at(p, 2)) - jd(fq, "longitude")) <= 5.1e-8);
        ASSERT(fabs(jnum(weft_json_at(p, 3)) - jd(fq, "speed")) <= 0.0051);
        ASSERT(fabs(jnum(weft_json_at(p, 4)) - jd(fq, "course")) <= 0.051);
    }
    weft_http_test_response_free(&full);
    weft_http_test_response_free(&rr);
    /* an answer past what the route holds (lowered here to 64 KB) is streamed
     * after counting the rest: X-Next-Offset exactly when more fixes remain */
    int64_t total = count(v, q); /* q: still the COUNT of the device's fixes */
    size_t hold = api_route_hold_max;
    api_route_hold_max = 64 * 1024;
    for (int64_t lim = total - 1; lim <= total; lim++) {
        snprintf(path, sizeof path, "/api/reports/route?deviceId=%lld&%s&compact=true&limit=%lld", (long long)dev,
                 ranges[0], (long long)lim);
        ASSERT_EQ(req(v, "GET", path, w.viewer, NULL, &rr), 200);
        ASSERT(weft_str_eq(weft_http_test_header(&rr, "Transfer-Encoding"), WEFT_STR("chunked")));
        weft_json *sl = js(v, &rr);
        ASSERT(sl && sl->len == 1 && (int64_t)weft_json_get(weft_json_at(sl, 0), "points")->len == lim);
        char next[32];
        snprintf(next, sizeof next, "%lld", (long long)lim);
        if (lim < total)
            ASSERT(weft_str_eq(weft_http_test_header(&rr, "X-Next-Offset"), weft_str_c(next)));
        else
            ASSERT(!weft_http_test_header(&rr, "X-Next-Offset").p);
        weft_http_test_response_free(&rr);
    }
    api_route_hold_max = hold;
    /* held (the default): one body, and the row past the limit still sets X-Next-Offset */
    snprintf(path, sizeof path, "/api/reports/route?deviceId=%lld&%s&compact=true&limit=%lld", (long long)dev,
             ranges[0], (long long)(total - 1));
    ASSERT_EQ(req(v, "GET", path, w.viewer, NULL, &rr), 200);
    ASSERT(!weft_http_test_header(&rr, "Transfer-Encoding").p);
    snprintf(q, sizeof q, "%lld", (long long)(total - 1));
    ASSERT(weft_str_eq(weft_http_test_header(&rr, "X-Next-Offset"), weft_str_c(q)));
    weft_http_test_response_free(&rr);
    ASSERT_EQ(atomic_load(&v->f.m.report_chunks) - c0, used); /* none left to read */
}

/* ---- start-up ---------------------------------------------------------------------------------- */

static int64_t count(env *v, const char *sql) {
    weft_db_err e;
    int64_t n;
    return store_query_i64(v->f.db, sql, NULL, 0, &n, &e) < 0 ? -1 : n;
}

/* store_query_i64 and its transaction twin: the value, no row, NULL, more
 * than one row and a failing statement each give their own answer, and the
 * failures leave *out alone. */
NOCFG(store_query_i64_answers)
BOTH(store_query_i64_answers) {
    weft_db_err e;
    int64_t x = 77;
    weft_db_arg a[] = {WEFT_DB_INT(41)};
    ASSERT_EQ(store_query_i64(v->f.db, "SELECT CAST($1 AS BIGINT) + 1", a, 1, &x, &e), 0);
    ASSERT_EQ(x, 42);
    ASSERT_EQ(store_query_i64(v->f.db, "SELECT COUNT(*) FROM devices WHERE id < 0", NULL, 0, &x, &e), 0);
    ASSERT_EQ(x, 0);
    x = 77;
    ASSERT_ERR(store_query_i64(v->f.db, "SELECT id FROM devices WHERE id < 0", NULL, 0, &x, &e), WEFT_ENOENT);
    ASSERT_ERR(e.code, WEFT_ENOENT);
    ASSERT_STREQ(e.msg, "the query returned no row");
    ASSERT_EQ(x, 77);
    ASSERT_ERR(store_query_i64(v->f.db, "SELECT MAX(id) FROM devices WHERE id < 0", NULL, 0, &x, &e), WEFT_ENOENT);
    ASSERT_STREQ(e.msg, "the query's value is NULL");
    ASSERT_EQ(x, 77);
    ASSERT_ERR(store_query_i64(v->f.db, "SELECT 1 UNION ALL SELECT 2", NULL, 0, &x, &e), WEFT_EINVAL);
    ASSERT_STREQ(e.msg, "the query returned more than one row");
    ASSERT_EQ(x, 77);
    ASSERT_ERR(store_query_i64(v->f.db, "SELECT no_such_column FROM devices", NULL, 0, &x, &e), WEFT_EDB);
    ASSERT_ERR(e.code, WEFT_EDB);
    ASSERT(strstr(e.msg, "no_such_column") != NULL);
    ASSERT_EQ(x, 77);
    store_tx *tx;
    ASSERT_EQ(store_begin(v->f.db, &tx, &e, weft_deadline_in(10000)), 0);
    ASSERT_EQ(store_tx_query_i64(tx,
                                 "INSERT INTO groups (name, created_ms) VALUES ('i64 group', 5) RETURNING id", NULL, 0,
                                 &x, &e, weft_deadline_in(10000)),
              0);
    int64_t id = x;
    ASSERT_GT(id, 0);
    weft_db_arg b[] = {WEFT_DB_INT(id)};
    ASSERT_EQ(store_tx_query_i64(tx, "SELECT created_ms FROM groups WHERE id = $1", b, 1, &x, &e,
                                 weft_deadline_in(10000)),
              0);
    ASSERT_EQ(x, 5);
    weft_db_arg none[] = {WEFT_DB_INT(-id)};
    ASSERT_ERR(store_tx_query_i64(tx, "SELECT id FROM groups WHERE id = $1", none, 1, &x, &e, weft_deadline_in(10000)),
               WEFT_ENOENT);
    ASSERT_EQ(x, 5);
    ASSERT_EQ(store_commit(tx, &e, weft_deadline_in(10000)), 0);
    ASSERT_EQ(count(v, "SELECT COUNT(*) FROM groups WHERE name = 'i64 group'"), 1);
}

/* The start reads the devices and their latest positions in pages (keyset by
 * device id): more devices than fit in two pages, every one loaded with its
 * registration, half of them seeded with their newest position (not an
 * older one) and its attributes. */
NOCFG(start_loads_in_pages)
BOTH(start_loads_in_pages) {
    enum { N = 4500 };
    weft_db_err e;
    char sql[512];
    snprintf(sql, sizeof sql,
             "INSERT INTO devices (unique_id, name, category, created_ms) "
             "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < %d) "
             "SELECT 'paged-' || x, 'Paged ' || x, CASE WHEN x %% 2 = 0 THEN 'truck' ELSE 'car' END, 0 FROM c",
             N);
    ASSERT(store_exec(v->f.db, sql, NULL, 0, NULL, &e) >= 0);
    for (int old = 1; old >= 0; old--) { /* an older fix first, then the newest */
        snprintf(sql, sizeof sql,
                 "INSERT INTO positions (device_id, protocol, fix_time, server_time, latitude, longitude, speed, "
                 "course, altitude, accuracy, valid, attributes) SELECT id, 'osmand', %d + id, 2000000 + id, 10.5, "
                 "20.25, 3, 90, 0, 0, 1, '{\"n\":' || id || '}' FROM devices WHERE unique_id LIKE 'paged-%%' AND "
                 "id %% 2 = 0",
                 old ? 1000 : 1000000);
        ASSERT(store_exec(v->f.db, sql, NULL, 0, NULL, &e) >= 0);
    }
    live_free(v->f.devices);
    char err[256];
    ASSERT((v->f.devices = live_new()) != NULL);
    ASSERT_EQ(fleet_load(&v->f, err, sizeof err), 0);
    ASSERT_EQ((int64_t)live_count(v->f.devices), count(v, "SELECT COUNT(*) FROM devices"));
    int seeded = 0;
    for (int x = 1; x <= N; x++) {
        char uid[32], name[32], attrs[32];
        snprintf(uid, sizeof uid, "paged-%d", x);
        snprintf(name, sizeof name, "Paged %d", x);
        live_device *d = live_by_unique(v->f.devices, uid);
        ASSERT(d != NULL);
        live_lock(d);
        int ok = strcmp(d->name, name) == 0 && strcmp(d->category, x % 2 ? "car" : "truck") == 0 &&
                 d->st.has_fix == (d->id % 2 == 0);
        if (d->st.has_fix) {
            snprintf(attrs, sizeof attrs, "{\"n\":%lld}", (long long)d->id);
            ok = ok && d->st.fix_ms == 1000000 + d->id && d->st.lat == 10.5 && d->attrs_len == strlen(attrs) &&
                 memcmp(d->attrs, attrs, d->attrs_len) == 0;
            seeded++;
        }
        live_unlock(d);
        if (!ok) fprintf(stderr, "device %s loaded wrong\n", uid);
        ASSERT(ok);
    }
    ASSERT(seeded >= N / 2 - 1 && seeded <= N / 2 + 1);
}

/* The writer's motion map with many devices (its index and slot array grow
 * several times): each is found again after the growth, and a stopped fix
 * followed by a moving one writes each device's own chunk. */
NOCFG(motion_map_many_devices)
BOTH(motion_map_many_devices) {
    enum { N = 1000, K = 7919 };
    motion_map *m = motion_map_new(v->pg, 1.5);
    ASSERT(m != NULL);
    store_tx *tx;
    weft_db_err e;
    ASSERT(store_begin(v->f.db, &tx, &e, weft_deadline_in(10000)) >= 0);
    int ok = 1;
    for (int64_t k = 1; k <= N && ok; k++) { /* new to the map: behind, queued for the catch-up */
        motion_fix p = {1000, 48.0, 16.0, 0, -1};
        ok = motion_add(m, tx, k * K, &p, &e, weft_deadline_in(10000)) >= 0;
    }
    ok = ok && motion_catch_up(m, tx, &e, weft_deadline_in(10000)) >= 0; /* nothing stored: synced */
    for (int pass = 0; pass < 2 && ok; pass++)
        for (int64_t k = 1; k <= N && ok; k++) {
            motion_fix p = {2000 + k + pass * 100000, 48.0 + pass * 0.001, 16.0, pass ? 20 : 0, -1};
            ok = motion_add(m, tx, k * K, &p, &e, weft_deadline_in(10000)) >= 0;
        }
    /* last in a transaction that called motion_add: inserts the queued chunks */
    ok = ok && motion_catch_up(m, tx, &e, weft_deadline_in(10000)) >= 0;
    if (!ok) fprintf(stderr, "motion: %s\n", e.msg);
    ASSERT(ok);
    ASSERT(store_commit(tx, &e, weft_deadline_in(10000)) >= 0);
    motion_map_free(m);
    ASSERT_EQ(count(v, "SELECT COUNT(*) FROM motion_chunks"), N);
    char q[200];
    snprintf(q, sizeof q,
             "SELECT COUNT(*) FROM motion_chunks WHERE device_id %% %d = 0 AND t0 = 2000 + device_id / %d AND "
             "t1 = t0 AND n = 1 AND moving = 0",
             K, K);
    ASSERT_EQ(count(v, q), N);
}

/* ---- a failed sync (SQLite) ------------------------------------------------------------------- */

static _Atomic int fail_syncs, sync_calls;
static int failing_sync(void) {
    atomic_fetch_add(&sync_calls, 1);
    return atomic_load(&fail_syncs) ? WEFT_EIO : 0;
}

/* After one failed sync of the WAL every write is refused with 503 and the
 * reason, although the syncs after it would succeed (see store_sync): the
 * write whose sync failed, and every later one (no sync is tried again),
 * a sign-in too (it writes its session). Reads go on; /api/health says 503
 * "degraded" with the error, /metrics fleet_storage_failed 1. */
TEST(a_failed_sync_refuses_every_later_write) {
    env *v = lite_env();
    ASSERT(v);
    ASSERT(v->f.w = writer_start(v->f.db, 1, 0, 1, 1000, v->f.cfg.moving_speed_kn)); /* /metrics reads its stats */
    ASSERT_EQ(login(v, ADMIN_EMAIL, ADMIN_PW, v->admin), 200);
    weft_http_test_response res;
    ASSERT_EQ(req(v, "GET", "/api/health", NULL, NULL, &res), 200);
    ASSERT(body_has(&res, "\"storageWritable\":true") && !body_has(&res, "storageError"));
    weft_http_test_response_free(&res);
    store_set_sync_hook(v->f.db, failing_sync);
    atomic_store(&fail_syncs, 1);
    ASSERT_EQ(req(v, "POST", "/api/groups", v->admin, "{\"name\":\"lost\"}", &res), 503);
    ASSERT(body_has(&res, "storage failed") && body_has(&res, "input/output error"));
    weft_http_test_response_free(&res);
    atomic_store(&fail_syncs, 0); /* the disk "recovered": a sync would succeed now */
    int calls = atomic_load(&sync_calls);
    ASSERT_EQ(req(v, "POST", "/api/groups", v->admin, "{\"name\":\"later\"}", &res), 503);
    ASSERT(body_has(&res, "storage failed"));
    weft_http_test_response_free(&res);
    ASSERT_EQ(atomic_load(&sync_calls), calls); /* refused before it was written */
    ASSERT_EQ(req(v, "GET", "/api/groups", v->admin, NULL, &res), 200); /* reads go on */
    ASSERT(!body_has(&res, "later"));
    weft_http_test_response_free(&res);
    char again[128];
    ASSERT_EQ(login(v, ADMIN_EMAIL, ADMIN_PW, again), 503); /* a sign-in writes its session */
    ASSERT_EQ(req(v, "GET", "/api/health", NULL, NULL, &res), 503);
    ASSERT(body_has(&res, "\"status\":\"degraded\"") && body_has(&res, "\"storageWritable\":false") &&
           body_has(&res, "\"storageError\":\"storage failed"));
    weft_http_test_response_free(&res);
    ASSERT_EQ(req(v, "GET", "/metrics", v->admin, NULL, &res), 200);
    ASSERT(body_has(&res, "\nfleet_storage_failed 1\n"));
    weft_http_test_response_free(&res);
    store_set_sync_hook(v->f.db, NULL);
    env_close(v);
    free(v);
}

/* live_put keeps a device's strings in one block of their size: a rename
 * replaces it (the unique id map follows), over-long strings are cut at the
 * API's limits, and live_memory counts the block. */
TEST(live_put_strings) {
    live *l = live_new();
    ASSERT(l != NULL && live_put(l, 1, "first", "First", "car", 0, 0, 0)); /* the table's arrays exist */
    size_t m0 = live_memory(l);
    live_device *d = live_put(l, 7, "uid-7", "Seven", NULL, 0, 0, 0);
    ASSERT(d && strcmp(d->unique_id, "uid-7") == 0 && strcmp(d->name, "Seven") == 0 &&
           strcmp(d->category, "default") == 0);
    /* the entry sits in the block the first one opened: only its strings are new */
    ASSERT_EQ(live_memory(l) - m0, sizeof "uid-7" + sizeof "Seven" + sizeof "default");
    char lng[300];
    memset(lng, 'x', sizeof lng - 1);
    lng[sizeof lng - 1] = 0;
    ASSERT(live_put(l, 7, "uid-7b", lng, lng, 3, 50, 1) == d);
    ASSERT(live_by_unique(l, "uid-7") == NULL && live_by_unique(l, "uid-7b") == d && live_by_id(l, 7) == d);
    ASSERT(strlen(d->name) == LIVE_NAME_MAX && strlen(d->category) == LIVE_CATEGORY_MAX);
    ASSERT(d->group_id == 3 && d->disabled == 1);
    ASSERT(live_put(l, 8, lng, "Eight", "car", 0, 0, 0) != NULL);
    ASSERT(live_by_id(l, 8) && strlen(live_by_id(l, 8)->unique_id) == LIVE_UNIQUE_ID_MAX);
    device_view view;
    model_view(d, &view);
    ASSERT(strcmp(view.unique_id, "uid-7b") == 0 && strlen(view.name) == LIVE_NAME_MAX);
    live_free(l);
}

/* The compact route's numbers as main 66fffba printed them (llround, one
 * digit at a time): the faster formatting must give the same bytes. */
static int ref_fixed(char *out, double v, int dec) {
    static const int64_t pow10[10] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000};
    if (!isfinite(v) || fabs(v) >= 1e9) return snprintf(out, 32, "%.*f", dec, isfinite(v) ? v : 0);
    int64_t q = llround(fabs(v) * (double)pow10[dec]), ip = q / pow10[dec], fp = q % pow10[dec];
    char tmp[24];
    int n = 0, t = 0;
    if (v < 0 && q) out[n++] = '-';
    do tmp[t++] = (char)('0' + ip % 10), ip /= 10;
    while (ip);
    while (t) out[n++] = tmp[--t];
    if (fp) {
        int d = dec;
        while (fp % 10 == 0) fp /= 10, d--;
        out[n++] = '.';
        for (int k = d - 1; k >= 0; k--) out[n + k] = (char)('0' + fp % 10), fp /= 10;
        n += d;
    }
    return n;
}
static int ref_point(char *out, int64_t t, double lat, double lon, double speed, double course) {
    int m = snprintf(out, 24, "%lld", (long long)t);
    out[m++] = ',', m += ref_fixed(out + m, lat, 7);
    out[m++] = ',', m += ref_fixed(out + m, lon, 7);
    out[m++] = ',', m += ref_fixed(out + m, speed, 2);
    out[m++] = ',', m += ref_fixed(out + m, course, 1);
    return m;
}

TEST_PLAIN(route_point_matches_the_reference) {
    double edge[] = {0, -0.0, 0.5e-7, -0.5e-7, 0.49999999e-7, 1.25e-7, 0.005, 0.015, 0.05, 0.95, 0.99999999,
                     12.345, -12.345, 48.2081743, -33.8688197, 151.2092955, -179.9999999, 180, 90, -90,
                     1e-9, 999999999.9, 1e9, -1e9, 1e12, 123456789.123456789, 2000, 359.95, 0.45, 4.5e-8,
                     NAN, INFINITY, -INFINITY};
    size_t ne = sizeof edge / sizeof edge[0];
    int64_t times[] = {0, 1, 9, 10, 99, 100, 1717200000000, -1, -1717200000000, INT64_MAX, INT64_MIN + 1};
    char a[API_ROUTE_POINT_MAX + 8], b[API_ROUTE_POINT_MAX + 8];
    for (size_t i = 0; i < ne; i++) {
        int64_t t = times[i % (sizeof times / sizeof times[0])];
        double x = edge[i], y = edge[(i + 7) % ne], z = edge[(i + 13) % ne], w = edge[(i + 21) % ne];
        int n = api_route_point(a, t, x, y, z, w), m = ref_point(b, t, x, y, z, w);
        if (n != m || memcmp(a, b, (size_t)n) != 0) printf("  %.*s != %.*s\n", n, a, m, b);
        ASSERT(n == m && memcmp(a, b, (size_t)n) == 0);
    }
    /* a course of 1e300 (finite: pipeline_validate lets it through; the decoders reduce courses
     * mod 360) stays in bounds and reads back */
    int nb = api_route_point(a, 1, 1, 2, 3, 1e300);
    ASSERT(nb > 0 && nb < API_ROUTE_POINT_MAX);
    a[nb] = 0;
    ASSERT(strtod(strrchr(a, ',') + 1, NULL) == 1e300);
    nb = api_route_point(a, 1, 1, 2, 3, -1.5e22);
    a[nb] = 0;
    ASSERT(strcmp(strrchr(a, ',') + 1, "-15000000000000000000000.0") == 0); /* %f while it fits */
    /* coordinates, speeds and courses as devices send them, and at random */
    uint64_t s = 0x9E3779B97F4A7C15u;
    for (int i = 0; i < 200000; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        double u = (double)(s >> 11) / 9007199254740992.0; /* [0, 1) */
        double lat = u * 180 - 90, lon = u * 360 - 180;
        if (i & 1) lat = round(lat * 1e6) / 1e6, lon = round(lon * 1e5) / 1e5; /* fewer digits */
        double speed = (i % 5) ? u * 2000 : round(u * 200) / 10, course = u * 360;
        int64_t t = 1700000000000 + (int64_t)(s % 100000000000);
        int n = api_route_point(a, t, lat, lon, speed, course), m = ref_point(b, t, lat, lon, speed, course);
        if (n != m || memcmp(a, b, (size_t)n) != 0) printf("  %.*s != %.*s\n", n, a, m, b);
        ASSERT(n == m && memcmp(a, b, (size_t)n) == 0);
    }
}

/* Entries come in blocks (never moved: a device's pointer lasts), and a
 * device's geofences live out of line in an array of their exact number. */
TEST(live_blocks_and_geofences) {
    live *l = live_new();
    ASSERT(l != NULL);
    live_device *first = live_put(l, 1, "d-1", "One", NULL, 0, 0, 0);
    ASSERT(first != NULL);
    size_t m1 = live_memory(l);
    char uid[16];
    for (int i = 2; i <= 1000; i++) { /* many blocks and several growths of the maps */
        snprintf(uid, sizeof uid, "d-%d", i);
        ASSERT(live_put(l, i, uid, "n", "c", 0, 0, 0) != NULL);
    }
    ASSERT(live_by_id(l, 1) == first && strcmp(first->unique_id, "d-1") == 0);
    for (int i = 1; i <= 1000; i += 37) {
        snprintf(uid, sizeof uid, "d-%d", i);
        live_device *d = live_by_unique(l, uid);
        ASSERT(d && d->id == i && live_by_id(l, i) == d);
    }
    ASSERT_EQ((int64_t)live_count(l), 1000);
    ASSERT(live_memory(l) > m1 + 999 * sizeof(live_device));
    live_remove(l, 500);
    ASSERT(live_by_id(l, 500) == NULL && live_by_unique(l, "d-500") == NULL && live_by_id(l, 501) != NULL);
    ASSERT_EQ((int64_t)live_count(l), 999);
    ASSERT(live_put(l, 501, "renamed", "n", "c", 0, 0, 0) == live_by_id(l, 501)); /* re-keyed in place */
    ASSERT(live_by_unique(l, "d-501") == NULL && live_by_unique(l, "renamed") == live_by_id(l, 501));

    live_device *d = live_by_id(l, 7);
    live_geo g = {0}, back;
    live_lock(d);
    live_geo_get(d, &back);
    ASSERT_EQ(back.n, 0);
    ASSERT(d->geo == NULL); /* inside none: nothing allocated */
    g.n = 3, g.ids[0] = 4, g.ids[1] = 9, g.ids[2] = (int64_t)1 << 40;
    live_unlock(d);
    size_t m2 = live_memory(l); /* takes the table's lock, not the device's */
    live_lock(d);
    ASSERT_EQ(live_geo_reserve(d, g.n), 0);
    live_unlock(d);
    ASSERT_EQ(live_memory(l) - m2, 3 * sizeof(int64_t));
    live_lock(d);
    live_geo_set(d, &g);
    live_geo_get(d, &back);
    ASSERT(back.n == 3 && back.ids[0] == 4 && back.ids[1] == 9 && back.ids[2] == (int64_t)1 << 40);
    g.n = 1, g.ids[0] = 9; /* fewer: no new room needed */
    ASSERT_EQ(live_geo_reserve(d, g.n), 0);
    live_geo_set(d, &g);
    live_geo_get(d, &back);
    ASSERT(back.n == 1 && back.ids[0] == 9);
    g.n = LIVE_GEOFENCES_MAX + 1;
    ASSERT_EQ(live_geo_reserve(d, g.n), WEFT_EINVAL);
    g.n = 0;
    live_geo_set(d, &g);
    live_geo_get(d, &back);
    ASSERT(back.n == 0 && d->geo == NULL && d->geo_cap == 0); /* freed again */
    live_unlock(d);
    live_free(l);
}

static void demo_on(fleet_config *c) { c->demo = 1; }
static void (*const bootstrap_demo_cfg)(fleet_config *) = demo_on;
BOTH(bootstrap_demo) {
    ASSERT_EQ(count(v, "SELECT COUNT(*) FROM users"), 3);
    ASSERT_EQ(count(v, "SELECT COUNT(*) FROM users WHERE role = 'admin'"), 1);
    ASSERT_EQ(count(v, "SELECT COUNT(*) FROM groups"), 2);
    ASSERT_EQ(count(v, "SELECT COUNT(*) FROM devices"), 200);
    ASSERT_EQ(count(v, "SELECT COUNT(*) FROM geofences"), 3);
    ASSERT_EQ((int64_t)live_count(v->f.devices), 200);
    ASSERT(live_by_unique(v->f.devices, "sim-0001") && live_by_unique(v->f.devices, "356000000000200"));
    ASSERT_EQ(fences_loaded(v), 3);
    /* a second start changes nothing */
    char err[256];
    ASSERT_EQ(api_bootstrap(&v->f, err, sizeof err), 0);
    ASSERT_EQ(count(v, "SELECT COUNT(*) FROM users"), 3);
    ASSERT_EQ(count(v, "SELECT COUNT(*) FROM devices"), 200);
    /* the admin from the settings signs in */
    char h[128];
    ASSERT_EQ(login(v, ADMIN_EMAIL, ADMIN_PW, h), 200);
}

static void generated(fleet_config *c) { c->admin_email[0] = c->admin_password[0] = 0; }
static void (*const bootstrap_generated_cfg)(fleet_config *) = generated;
BOTH(bootstrap_generated) {
    ASSERT_EQ(count(v, "SELECT COUNT(*) FROM users WHERE email = 'admin@localhost' AND role = 'admin'"), 1);
    ASSERT_EQ(count(v, "SELECT COUNT(*) FROM devices"), 0);
}

/* ---- the OpenAPI document --------------------------------------------------------------------- */

NOCFG(openapi)
BOTH(openapi) {
    weft_http_test_response res;
    ASSERT_EQ(req(v, "GET", "/api/openapi.json", NULL, NULL, &res), 200);
    weft_json *d = js(v, &res);
    ASSERT(d);
    ASSERT(weft_str_has_prefix(weft_json_str(weft_json_get(d, "openapi")), WEFT_STR("3.")));
    const weft_json *paths = weft_json_get(d, "paths");
    const char *want[] = {"/api/session", "/api/session/token", "/api/session/tokens", "/api/session/tokens/{id}",
                          "/api/devices", "/api/devices/{id}", "/api/groups", "/api/groups/{id}", "/api/users",
                          "/api/users/{id}", "/api/geofences", "/api/geofences/{id}", "/api/positions", "/api/events",
                          "/api/reports/route", "/api/reports/trips", "/api/reports/stops", "/api/reports/summary",
                          "/api/reports/events", "/api/health", "/metrics", "/api/events/{id}/ack", "/api/server",
                          "/api/events/count", "/api/events/ack"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        if (!weft_json_get(paths, want[i])) fprintf(stderr, "openapi lacks %s\n", want[i]);
        ASSERT(weft_json_get(paths, want[i]) != NULL);
    }
    weft_http_test_response_free(&res);
}

/* ---- over a real socket ------------------------------------------------------------------------ */

static void serve_task(void *srv) { weft_http_serve(srv); }

/* One request on a fresh connection (Connection: close); the whole response
 * into out (NUL-terminated). The status, or -1. */
static int wire(int port, const char *method, const char *target, const char *headers, const char *body, char *out,
                size_t cap) {
    int fd = weft_tcp_connect("127.0.0.1", port, weft_deadline_in(5000));
    if (fd < 0) return -1;
    char req[2048];
    int n = snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%s%s%zu\r\n\r\n%s",
                     method, target, headers ? headers : "",
                     body ? "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: " : "Content-Length: ",
                     body ? strlen(body) : 0, body ? body : "");
    if (weft_write_all(fd, req, (size_t)n, weft_deadline_in(5000)) != n) return weft_close(fd), -1;
    size_t got = 0;
    for (;;) {
        ssize_t k = weft_read(fd, out + got, cap - 1 - got, weft_deadline_in(5000));
        if (k <= 0) break;
        got += (size_t)k;
        if (got == cap - 1) break;
    }
    out[got] = 0;
    weft_close(fd);
    int status = -1;
    if (sscanf(out, "HTTP/1.1 %d", &status) != 1) return -1;
    return status;
}

NOCFG(socket)
BOTH(socket) {
    WORLD(w);
    int e = 0;
    weft_http_config cfg = {.host = "127.0.0.1", .port = 0};
    weft_http_server *srv = weft_http_server_new(&cfg, v->r, &e);
    ASSERT(srv != NULL);
    int port = weft_http_server_port(srv);
    weft_group g;
    weft_group_init(&g);
    weft_group_go(&g, serve_task, srv, "api-test-server");
    if (fleet_now_ms() % 60000 > 55000) weft_sleep(60000 - fleet_now_ms() % 60000 + 50);
    char *buf = malloc(1 << 16);
    int64_t minute0 = fleet_now_ms() / 60000;
    int st = wire(port, "POST", "/api/session", NULL, "email=viewer@a&password=viewer-pass", buf, 1 << 16);
    char cookie[160] = "";
    const char *ck = strstr(buf, "Set-Cookie: ");
    if (ck) {
        const char *semi = strchr(ck, ';');
        snprintf(cookie, sizeof cookie, "Cookie: %.*s\r\n", (int)(semi - ck - 12), ck + 12);
    }
    int st2 = wire(port, "GET", "/api/devices", cookie, NULL, buf, 1 << 16);
    int sees_a = strstr(buf, "dev-a") != NULL, sees_b = strstr(buf, "dev-b") != NULL;
    char path[64];
    snprintf(path, sizeof path, "/api/devices/%lld", (long long)w.dev_b);
    int st3 = wire(port, "GET", path, cookie, NULL, buf, 1 << 16);
    int st4 = wire(port, "DELETE", "/api/session", cookie, NULL, buf, 1 << 16); /* no CSRF proof */
    /* the rate limit counts by the peer's address (127.0.0.1): 9 more attempts pass, then 429 */
    int st5 = 0, n429 = 0;
    for (int i = 0; i < 10; i++) {
        st5 = wire(port, "POST", "/api/session", NULL, "email=viewer@a&password=wrong-pass", buf, 1 << 16);
        n429 += st5 == 429;
    }
    int retry = strstr(buf, "Retry-After: ") != NULL;
    int same_minute = fleet_now_ms() / 60000 == minute0; /* the limiter's window did not turn meanwhile */
    free(buf);
    weft_http_server_stop(srv);
    test_join(&g, 10000);
    weft_http_server_free(srv);
    ASSERT_EQ(st, 200);
    ASSERT(cookie[0]);
    ASSERT_EQ(st2, 200);
    ASSERT(sees_a && !sees_b);
    ASSERT_EQ(st3, 404);
    ASSERT_EQ(st4, 403);
    if (same_minute) {
        ASSERT_EQ(st5, 429);
        ASSERT_EQ(n429, 1);
        ASSERT(retry);
    } else {
        printf("  socket: the minute turned during the test, rate limit not checked\n");
    }
}
