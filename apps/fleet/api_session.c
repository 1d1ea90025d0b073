/*
 * apps/fleet/api_session.c — signing in and who is asking: password hashes
 * (libsodium's argon2id), session cookies and API tokens (random, stored
 * only as a BLAKE2b hash, so a copy of the database signs nobody in), the
 * login rate limiter, and the first admin / demo data at start-up.
 *
 *   POST   /api/session              email + password (form or JSON) -> cookie + user
 *   GET    /api/session              the signed-in user (401 when none)
 *   DELETE /api/session              sign out (the cookie's session ends)
 *   POST   /api/session/token        a new API token (shown once)
 *   GET    /api/session/tokens       the user's API tokens (no secrets)
 *   DELETE /api/session/token        revoke the bearer token of this request
 *   DELETE /api/session/tokens/{id}  revoke one of the user's API tokens
 */
#include <assert.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft/log.h"

#include "api_int.h"

#define NEVER_MS 253402300799000LL /* 9999-12-31T23:59:59Z: tokens without expiry */
#define PASSWORD_MIN 8
#define PASSWORD_MAX 256

/* ---- passwords ------------------------------------------------------------------------ */

static atomic_int light_hashes;
void api_pwhash_set_light(int light) { atomic_store(&light_hashes, light); }

/* argon2id at the interactive cost takes 64 MiB for its ~0.1 s: without a
 * gate a burst of sign-ins would run one per blocking thread (16 by
 * default), a gigabyte at once. PW_PARALLEL at a time, the rest wait their
 * turn as tasks (a waiting sign-in holds no memory and no thread). */
#define PW_PARALLEL 2
static weft_sem pw_gate;
static pthread_once_t pw_gate_once = PTHREAD_ONCE_INIT;
static atomic_int pw_running, pw_peak;
static void pw_gate_init(void) { weft_sem_init(&pw_gate, PW_PARALLEL); }
int api_pwhash_peak(void) { return atomic_exchange(&pw_peak, 0); }

static void pw_enter(void) {
    int n = atomic_fetch_add(&pw_running, 1) + 1, peak = atomic_load(&pw_peak);
    while (n > peak && !atomic_compare_exchange_weak(&pw_peak, &peak, n)) {
    }
}

typedef struct pw_job {
    const char *password, *hash;
    char *out;
    int rc;
} pw_job;

static void do_hash(void *arg) {
    pw_job *j = arg;
    pw_enter();
    int light = atomic_load(&light_hashes);
    j->rc = crypto_pwhash_str(j->out, j->password, strlen(j->password),
                              light ? crypto_pwhash_OPSLIMIT_MIN : crypto_pwhash_OPSLIMIT_INTERACTIVE,
                              light ? crypto_pwhash_MEMLIMIT_MIN : crypto_pwhash_MEMLIMIT_INTERACTIVE) == 0
                ? 0
                : WEFT_ENOMEM;
    atomic_fetch_sub(&pw_running, 1);
}

static void do_verify(void *arg) {
    pw_job *j = arg;
    pw_enter();
    j->rc = crypto_pwhash_str_verify(j->hash, j->password, strlen(j->password)) == 0;
    atomic_fetch_sub(&pw_running, 1);
}

/* fn on the blocking pool once the gate lets it in: 0 or the negative error
 * of the wait (cancelled: fn did not run). */
static int pw_run(void (*fn)(void *), pw_job *j) {
    pthread_once(&pw_gate_once, pw_gate_init);
    int rc = weft_sem_acquire(&pw_gate, -1);
    if (rc < 0) return rc;
    rc = weft_blocking(fn, j, -1);
    weft_sem_release(&pw_gate, 1);
    return rc;
}

int api_pwhash(const char *password, char out[128]) {
    static_assert(crypto_pwhash_STRBYTES <= 128, "hash buffer");
    pw_job j = {.password = password, .out = out, .rc = WEFT_ENOMEM};
    int rc = pw_run(do_hash, &j);
    return rc < 0 ? rc : j.rc;
}

int api_pwverify(const char *hash, const char *password) {
    if (!hash || strncmp(hash, crypto_pwhash_STRPREFIX, strlen(crypto_pwhash_STRPREFIX)) != 0) return 0;
    pw_job j = {.password = password, .hash = hash};
    return pw_run(do_verify, &j) < 0 ? 0 : j.rc;
}

/* ---- tokens ----------------------------------------------------------------------------- */

/* A new secret: 32 random bytes as unpadded base64url, after prefix. */
static void token_new(const char *prefix, char out[80]) {
    unsigned char raw[32];
    randombytes_buf(raw, sizeof raw);
    size_t p = strlen(prefix);
    memcpy(out, prefix, p);
    sodium_bin2base64(out + p, 80 - p, raw, sizeof raw, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

static void token_hash(weft_str tok, char out[65]) {
    unsigned char h[32];
    crypto_generichash(h, sizeof h, (const unsigned char *)tok.p, tok.n, NULL, 0);
    sodium_bin2hex(out, 65, h, sizeof h);
}

/* ---- who is asking ------------------------------------------------------------------------ */

int api_authenticate(fleet *f, weft_http_ctx *c, api_user *u) {
    memset(u, 0, sizeof *u);
    weft_str tok = weft_http_get_header(c, "Authorization");
    if (tok.n > 7 && weft_str_eq_nocase((weft_str){tok.p, 7}, WEFT_STR("Bearer "))) {
        tok = weft_str_trim((weft_str){tok.p + 7, tok.n - 7});
    } else {
        tok = weft_http_cookie(c, API_SESSION_COOKIE);
        u->via_cookie = 1;
    }
    if (tok.n < 16 || tok.n > 128) return WEFT_EACCES;
    token_hash(tok, u->token_hash);
    int64_t now = fleet_now_ms();
    weft_db_arg a[] = {WEFT_DB_TEXT(u->token_hash), WEFT_DB_INT(now)};
    weft_db_rows *r;
    weft_db_err e;
    int rc = store_query(f->db,
                         "SELECT u.id, u.email, u.name, u.role, s.last_used_ms, s.kind FROM sessions s "
                         "JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1 AND s.expires_ms > $2 "
                         "AND u.disabled = 0",
                         a, 2, &r, &e);
    if (rc < 0) return rc;
    if (weft_db_nrows(r) != 1) return weft_db_rows_free(r), WEFT_EACCES;
    u->id = weft_db_int(r, 0, 0);
    snprintf(u->email, sizeof u->email, "%s", weft_db_text(r, 0, 1, NULL));
    snprintf(u->name, sizeof u->name, "%s", weft_db_text(r, 0, 2, NULL));
    u->role = api_role_parse(weft_str_c(weft_db_text(r, 0, 3, NULL)));
    if (u->role < 0) u->role = API_ROLE_VIEWER;
    int64_t last = weft_db_int(r, 0, 4);
    u->api_token = strcmp(weft_db_text(r, 0, 5, NULL), "api") == 0;
    weft_db_rows_free(r);
    weft_db_arg g[] = {WEFT_DB_INT(u->id), WEFT_DB_INT(API_USER_GROUPS_MAX)};
    if ((rc = store_query(f->db, "SELECT group_id FROM user_groups WHERE user_id = $1 ORDER BY group_id LIMIT $2",
                          g, 2, &r, &e)) < 0)
        return rc;
    u->ngroups = weft_db_nrows(r);
    for (int i = 0; i < u->ngroups; i++) u->groups[i] = weft_db_int(r, i, 0);
    weft_db_rows_free(r);
    if (now - last > 60000) { /* last use, to the minute: one write a minute, not one a request */
        weft_db_arg t[] = {WEFT_DB_INT(now), WEFT_DB_TEXT(u->token_hash)};
        store_exec(f->db, "UPDATE sessions SET last_used_ms = $1 WHERE token_hash = $2", t, 2, NULL, &e);
    }
    return 0;
}

static void user_out(weft_http_ctx *c, int status, const api_user *u) {
    weft_json_enc *e = weft_http_json_begin(c, status);
    api_user_json(e, u->id, u->name, u->email, api_role_name(u->role), 0, u->groups, u->ngroups);
    weft_http_json_end(c);
}

/* ---- the login rate limiter ------------------------------------------------------------------ */

/* Count one attempt from addr; 0 when within auth.login_attempts_per_min in
 * this minute, else the seconds until the next minute. The table is fixed
 * in size: a slot is found by hash with a short probe; when all probed
 * slots hold other addresses of this minute, the attempt counts against the
 * first of them (a flood from many addresses then slows those it collides
 * with, memory never grows). */
static int rate_limited(fleet *f, const char *addr, int64_t now) {
    api_state *st = f->api;
    if (!st) return 0;
    int64_t window = now / 60000;
    uint64_t h = 1469598103934665603ULL;
    for (const char *p = addr; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    pthread_mutex_lock(&st->mu);
    struct api_rl_slot *s = NULL;
    for (int k = 0; k < 8 && !s; k++) {
        struct api_rl_slot *t = &st->rl[(h + (uint64_t)k) % API_RL_SLOTS];
        if (t->window != window || strcmp(t->addr, addr) == 0) s = t;
    }
    if (!s) s = &st->rl[h % API_RL_SLOTS];
    if (s->window != window || strcmp(s->addr, addr) != 0) {
        if (s->window != window) s->count = 0;
        snprintf(s->addr, sizeof s->addr, "%s", addr);
        s->window = window;
    }
    int over = ++s->count > f->cfg.login_attempts_per_min;
    pthread_mutex_unlock(&st->mu);
    return over ? (int)(60 - (now % 60000) / 1000) : 0;
}

/* The client's address without the port ("" in the test client). */
static void client_addr(weft_http_ctx *c, char out[64]) {
    snprintf(out, 64, "%s", weft_http_peer(c));
    char *colon = strrchr(out, ':');
    if (colon && strcmp(out, "unix") != 0) *colon = 0;
}

/* ---- handlers ------------------------------------------------------------------------------------ */

static void lower(char *s) {
    for (; *s; s++)
        if (*s >= 'A' && *s <= 'Z') *s = (char)(*s - 'A' + 'a');
}

static int login(weft_http_ctx *c, void *ud) {
    fleet *f = ud;
    char addr[64];
    client_addr(c, addr);
    int64_t now = fleet_now_ms();
    int wait = rate_limited(f, addr, now);
    if (wait > 0) {
        char v[16];
        snprintf(v, sizeof v, "%d", wait);
        weft_http_add_header(c, "Retry-After", v);
        api_fail(c, 429, "too many sign-in attempts from this address; try again in %d s", wait);
        return 0;
    }
    api_body b;
    const char *email = NULL, *password = NULL;
    int rc;
    if (api_body_open(c, &b) < 0) return 0;
    if ((rc = api_body_str(&b, "email", 1, 255, &email)) < 0) return 0;
    if (rc != 1) return api_fail(c, 400, "email is required"), 0;
    if ((rc = api_body_str(&b, "password", 1, PASSWORD_MAX, &password)) < 0) return 0;
    if (rc != 1) return api_fail(c, 400, "password is required"), 0;
    char *em = (char *)email;
    lower(em);
    weft_db_arg a[] = {WEFT_DB_TEXT(em)};
    weft_db_rows *r;
    weft_db_err e;
    if ((rc = store_query(f->db, "SELECT id, password_hash, disabled FROM users WHERE email = $1", a, 1, &r, &e)) < 0)
        return api_fail_db(c, rc, &e), 0;
    int found = weft_db_nrows(r) == 1;
    int64_t uid = found ? weft_db_int(r, 0, 0) : 0;
    int disabled = found && weft_db_int(r, 0, 2);
    char hash[160];
    snprintf(hash, sizeof hash, "%s", found ? weft_db_text(r, 0, 1, NULL) : "");
    weft_db_rows_free(r);
    /* an unknown email costs the same hash as a wrong password: the time of
     * the answer does not tell which emails have accounts */
    static char dummy[128];
    static atomic_int dummy_state; /* 0 none, 1 being made (by one task), 2 ready */
    int expect = 0;
    if (!found && atomic_compare_exchange_strong(&dummy_state, &expect, 1))
        atomic_store(&dummy_state, api_pwhash("not a password of anyone", dummy) == 0 ? 2 : 0);
    if (!found && atomic_load(&dummy_state) == 2) api_pwverify(dummy, password);
    int ok = found && api_pwverify(hash, password);
    if (!ok || disabled) return api_fail(c, 401, "wrong email or password"), 0;

    /* sessions past their expiry go here (a sign-in is rare enough) */
    weft_db_arg x[] = {WEFT_DB_INT(now)};
    store_exec(f->db, "DELETE FROM sessions WHERE expires_ms <= $1", x, 1, NULL, &e);
    char tok[80], th[65];
    token_new("", tok);
    token_hash(weft_str_c(tok), th);
    int64_t exp = now + (int64_t)f->cfg.session_days * 86400000;
    weft_db_arg s[] = {WEFT_DB_TEXT(th), WEFT_DB_INT(uid), WEFT_DB_INT(now), WEFT_DB_INT(exp)};
    if ((rc = store_exec(f->db,
                         "INSERT INTO sessions (token_hash, user_id, kind, created_ms, expires_ms, last_used_ms) "
                         "VALUES ($1, $2, 'session', $3, $4, $3)",
                         s, 4, NULL, &e)) < 0)
        return api_fail_db(c, rc, &e), 0;
    char attrs[128];
    snprintf(attrs, sizeof attrs, "Path=/; HttpOnly; SameSite=Lax; Max-Age=%d%s", f->cfg.session_days * 86400,
             f->cfg.web_secure_cookies ? "; Secure" : "");
    weft_http_set_cookie(c, API_SESSION_COOKIE, tok, attrs);
    /* the user as the next request will see it (groups included) */
    api_user u;
    memset(&u, 0, sizeof u);
    weft_db_arg q[] = {WEFT_DB_INT(uid)};
    if ((rc = store_query(f->db, "SELECT id, email, name, role FROM users WHERE id = $1", q, 1, &r, &e)) < 0)
        return api_fail_db(c, rc, &e), 0;
    u.id = uid;
    snprintf(u.email, sizeof u.email, "%s", weft_db_text(r, 0, 1, NULL));
    snprintf(u.name, sizeof u.name, "%s", weft_db_text(r, 0, 2, NULL));
    u.role = api_role_parse(weft_str_c(weft_db_text(r, 0, 3, NULL)));
    weft_db_rows_free(r);
    weft_db_arg g[] = {WEFT_DB_INT(uid), WEFT_DB_INT(API_USER_GROUPS_MAX)};
    if ((rc = store_query(f->db, "SELECT group_id FROM user_groups WHERE user_id = $1 ORDER BY group_id LIMIT $2", g,
                          2, &r, &e)) < 0)
        return api_fail_db(c, rc, &e), 0;
    u.ngroups = weft_db_nrows(r);
    for (int i = 0; i < u.ngroups; i++) u.groups[i] = weft_db_int(r, i, 0);
    weft_db_rows_free(r);
    user_out(c, 200, &u);
    return 0;
}

static int session_get(weft_http_ctx *c, void *ud) {
    api_user u;
    if (api_auth(ud, c, &u, API_READ) < 0) return 0;
    user_out(c, 200, &u);
    return 0;
}

static int logout(weft_http_ctx *c, void *ud) {
    fleet *f = ud;
    api_user u;
    if (api_auth(f, c, &u, API_WRITE) < 0) return 0;
    weft_db_arg a[] = {WEFT_DB_TEXT(u.token_hash)};
    weft_db_err e;
    int rc = store_exec(f->db, "DELETE FROM sessions WHERE token_hash = $1 AND kind = 'session'", a, 1, NULL, &e);
    if (rc < 0) return api_fail_db(c, rc, &e), 0;
    weft_http_set_cookie(c, API_SESSION_COOKIE, "", "Path=/; HttpOnly; SameSite=Lax; Max-Age=0");
    weft_http_set_status(c, 204);
    return 0;
}

static int token_create(weft_http_ctx *c, void *ud) {
    fleet *f = ud;
    api_user u;
    if (api_auth(f, c, &u, API_WRITE) < 0) return 0;
    api_body b;
    const char *name = "", *expiration = NULL;
    int rc;
    if (api_body_open(c, &b) < 0) return 0;
    if (api_body_str(&b, "name", 0, 128, &name) < 0) return 0;
    if ((rc = api_body_str(&b, "expiration", 1, 64, &expiration)) < 0) return 0;
    int64_t now = fleet_now_ms(), exp = NEVER_MS;
    if (rc == 1) {
        if (fleet_time_parse(weft_str_c(expiration), &exp) != 0)
            return api_fail(c, 400, "expiration must be a time (ISO 8601)"), 0;
        if (exp <= now) return api_fail(c, 422, "expiration must be in the future"), 0;
    }
    char tok[80], th[65];
    token_new("wft_", tok);
    token_hash(weft_str_c(tok), th);
    weft_db_arg a[] = {WEFT_DB_TEXT(th), WEFT_DB_INT(u.id), WEFT_DB_TEXT(name), WEFT_DB_INT(now), WEFT_DB_INT(exp)};
    weft_db_err e;
    if ((rc = store_exec(f->db,
                         "INSERT INTO sessions (token_hash, user_id, kind, name, created_ms, expires_ms, last_used_ms) "
                         "VALUES ($1, $2, 'api', $3, $4, $5, 0)",
                         a, 5, NULL, &e)) < 0)
        return api_fail_db(c, rc, &e), 0;
    weft_str acc = weft_http_get_header(c, "Accept");
    int json = 0;
    for (size_t i = 0; i + 16 <= acc.n && !json; i++) json = memcmp(acc.p + i, "application/json", 16) == 0;
    if (!json) { /* Traccar answers the bare token */
        weft_http_send(c, 200, "text/plain; charset=utf-8", tok, strlen(tok));
        return 0;
    }
    weft_json_enc *j = weft_http_json_begin(c, 200);
    weft_json_enc_object(j);
    weft_json_enc_key(j, WEFT_STR("token")), weft_json_enc_str(j, weft_str_c(tok));
    weft_json_enc_key(j, WEFT_STR("id")), weft_json_enc_str(j, (weft_str){th, 16});
    weft_json_enc_key(j, WEFT_STR("name")), weft_json_enc_str(j, weft_str_c(name));
    weft_json_enc_key(j, WEFT_STR("expiration"));
    if (exp == NEVER_MS) weft_json_enc_null(j);
    else model_time(j, exp);
    weft_json_enc_end(j);
    weft_http_json_end(c);
    return 0;
}

static int token_list(weft_http_ctx *c, void *ud) {
    fleet *f = ud;
    api_user u;
    if (api_auth(f, c, &u, API_READ) < 0) return 0;
    int64_t limit, offset;
    if (api_page(c, API_PAGE_DEFAULT, API_PAGE_MAX, &limit, &offset) < 0) return 0;
    weft_db_arg a[] = {WEFT_DB_INT(u.id), WEFT_DB_INT(limit + 1), WEFT_DB_INT(offset)};
    weft_db_rows *r;
    weft_db_err e;
    int rc = store_query(f->db,
                         "SELECT substr(token_hash, 1, 16), name, created_ms, expires_ms, last_used_ms FROM sessions "
                         "WHERE user_id = $1 AND kind = 'api' ORDER BY created_ms, token_hash LIMIT $2 OFFSET $3",
                         a, 3, &r, &e);
    if (rc < 0) return api_fail_db(c, rc, &e), 0;
    int n = api_page_done(c, weft_db_nrows(r), limit, offset);
    weft_json_enc *j = weft_http_json_begin(c, 200);
    weft_json_enc_array(j);
    for (int i = 0; i < n; i++) {
        weft_json_enc_object(j);
        weft_json_enc_key(j, WEFT_STR("id")), weft_json_enc_str(j, weft_str_c(weft_db_text(r, i, 0, NULL)));
        weft_json_enc_key(j, WEFT_STR("name")), weft_json_enc_str(j, weft_str_c(weft_db_text(r, i, 1, NULL)));
        weft_json_enc_key(j, WEFT_STR("created")), model_time(j, weft_db_int(r, i, 2));
        weft_json_enc_key(j, WEFT_STR("expiration"));
        if (weft_db_int(r, i, 3) == NEVER_MS) weft_json_enc_null(j);
        else model_time(j, weft_db_int(r, i, 3));
        weft_json_enc_key(j, WEFT_STR("lastUsed"));
        if (weft_db_int(r, i, 4)) model_time(j, weft_db_int(r, i, 4));
        else weft_json_enc_null(j);
        weft_json_enc_end(j);
    }
    weft_json_enc_end(j);
    weft_db_rows_free(r);
    weft_http_json_end(c);
    return 0;
}

static int token_revoke(fleet *f, weft_http_ctx *c, const api_user *u, const char *sql, weft_str key) {
    weft_db_arg a[] = {WEFT_DB_INT(u->id), WEFT_DB_TEXTN(key.p, key.n)};
    weft_db_err e;
    int64_t n = 0;
    int rc = store_exec(f->db, sql, a, 2, &n, &e);
    if (rc < 0) return api_fail_db(c, rc, &e), 0;
    if (n == 0) return api_fail(c, 404, "no such token"), 0;
    weft_http_set_status(c, 204);
    return 0;
}

static int token_delete_current(weft_http_ctx *c, void *ud) {
    api_user u;
    if (api_auth(ud, c, &u, API_WRITE) < 0) return 0;
    if (!u.api_token) return api_fail(c, 400, "this request is not signed in with an API token"), 0;
    return token_revoke(ud, c, &u, "DELETE FROM sessions WHERE user_id = $1 AND kind = 'api' AND token_hash = $2",
                        weft_str_c(u.token_hash));
}

static int token_delete(weft_http_ctx *c, void *ud) {
    api_user u;
    if (api_auth(ud, c, &u, API_WRITE) < 0) return 0;
    weft_str id = weft_http_param(c, "id");
    if (id.n != 16 || strspn(weft_arena_strndup(weft_http_arena(c), id.p, id.n), "0123456789abcdef") != 16)
        return api_fail(c, 404, "no such token"), 0;
    return token_revoke(ud, c, &u,
                        "DELETE FROM sessions WHERE user_id = $1 AND kind = 'api' AND substr(token_hash, 1, 16) = $2",
                        id);
}

int api_routes_session(weft_http_router *r, fleet *f) {
    int rc = 0;
    rc |= weft_http_route(r, "POST", "/api/session", login, f);
    rc |= weft_http_route(r, "GET", "/api/session", session_get, f);
    rc |= weft_http_route(r, "DELETE", "/api/session", logout, f);
    rc |= weft_http_route(r, "POST", "/api/session/token", token_create, f);
    rc |= weft_http_route(r, "DELETE", "/api/session/token", token_delete_current, f);
    rc |= weft_http_route(r, "GET", "/api/session/tokens", token_list, f);
    rc |= weft_http_route(r, "DELETE", "/api/session/tokens/{id}", token_delete, f);
    return rc;
}

/* ---- start-up: the first admin and the demo data --------------------------------------------- */

void api_demo_device_id(int i, char out[24]) {
    /* must match apps/fleet-sim (sim_device_id with the default mix) */
    if (i % 2 == 0) snprintf(out, 24, "3560000000%05d", i % 100000);
    else snprintf(out, 24, "sim-%04d", i);
}

static void password_new(char out[32]) {
    unsigned char raw[12];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2base64(out, 32, raw, sizeof raw, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

static int add_user(fleet *f, const char *email, const char *name, const char *password, const char *role,
                    int64_t *id, char *err, size_t errlen) {
    char hash[128];
    int rc = api_pwhash(password, hash);
    if (rc < 0) return snprintf(err, errlen, "hashing a password: %s", weft_strerror(rc)), rc;
    weft_db_arg a[] = {WEFT_DB_TEXT(email), WEFT_DB_TEXT(name), WEFT_DB_TEXT(hash), WEFT_DB_TEXT(role),
                       WEFT_DB_INT(fleet_now_ms())};
    weft_db_err e;
    if ((rc = store_query_i64(f->db,
                              "INSERT INTO users (email, name, password_hash, role, created_ms) VALUES ($1, $2, $3, $4, "
                              "$5) RETURNING id",
                              a, 5, id, &e)) < 0)
        return snprintf(err, errlen, "creating user %s: %s", email, e.msg), rc;
    return 0;
}

static int exec1(fleet *f, const char *sql, const weft_db_arg *a, int n, int64_t *id, char *err, size_t errlen) {
    weft_db_err e;
    int64_t got;
    int rc = store_query_i64(f->db, sql, a, n, &got, &e);
    if (rc < 0) return snprintf(err, errlen, "demo data: %s", e.msg), rc;
    if (id) *id = got;
    return 0;
}

/* Demo data around the simulator's default town centre (48.20849, 16.37308). */
static int demo(fleet *f, char *err, size_t errlen) {
    const double lat0 = 48.20849, lon0 = 16.37308;
    int64_t now = fleet_now_ms(), north, south, mgr, viewer;
    int rc;
    weft_db_arg g1[] = {WEFT_DB_TEXT("North depot"), WEFT_DB_DOUBLE(35.0), WEFT_DB_INT(now)};
    weft_db_arg g2[] = {WEFT_DB_TEXT("South depot"), WEFT_DB_DOUBLE(35.0), WEFT_DB_INT(now)};
    const char *gsql = "INSERT INTO groups (name, speed_limit_kn, created_ms) VALUES ($1, $2, $3) RETURNING id";
    if ((rc = exec1(f, gsql, g1, 3, &north, err, errlen)) < 0 || (rc = exec1(f, gsql, g2, 3, &south, err, errlen)) < 0)
        return rc;
    char pm[32], pv[32];
    password_new(pm), password_new(pv);
    if ((rc = add_user(f, "manager@demo.local", "Demo manager", pm, "manager", &mgr, err, errlen)) < 0 ||
        (rc = add_user(f, "viewer@demo.local", "Demo viewer", pv, "viewer", &viewer, err, errlen)) < 0)
        return rc;
    int64_t links[3][2] = {{mgr, north}, {mgr, south}, {viewer, north}};
    for (int i = 0; i < 3; i++) {
        weft_db_arg a[] = {WEFT_DB_INT(links[i][0]), WEFT_DB_INT(links[i][1])};
        weft_db_err e;
        if ((rc = store_exec(f->db, "INSERT INTO user_groups (user_id, group_id) VALUES ($1, $2)", a, 2, NULL, &e)) < 0)
            return snprintf(err, errlen, "demo data: %s", e.msg), rc;
    }
    /* 200 devices in one transaction (one fsync, not 200) */
    store_tx *tx;
    weft_db_err e;
    int64_t dl = weft_deadline_in(60000);
    if ((rc = store_begin(f->db, &tx, &e, dl)) < 0) return snprintf(err, errlen, "demo data: %s", e.msg), rc;
    for (int i = 1; i <= 200 && rc == 0; i++) {
        char uid[24], name[32];
        api_demo_device_id(i, uid);
        snprintf(name, sizeof name, "Vehicle %03d", i);
        weft_db_arg a[] = {WEFT_DB_TEXT(uid), WEFT_DB_TEXT(name), WEFT_DB_INT(i <= 100 ? north : south),
                           WEFT_DB_TEXT(i % 10 == 0 ? "truck" : "van"), WEFT_DB_INT(now)};
        rc = store_tx_exec(tx,
                           "INSERT INTO devices (unique_id, name, group_id, category, created_ms) VALUES ($1, $2, $3, "
                           "$4, $5) ON CONFLICT (unique_id) DO NOTHING",
                           a, 5, NULL, &e, dl);
    }
    if (rc < 0) return store_rollback(tx), snprintf(err, errlen, "demo devices: %s", e.msg), rc;
    if ((rc = store_commit(tx, &e, dl)) < 0) return snprintf(err, errlen, "demo devices: %s", e.msg), rc;
    /* geofences: a depot circle per group, a low-emission zone for all */
    char area[512];
    const char *fsql = "INSERT INTO geofences (name, description, area, group_id, created_ms) VALUES ($1, $2, $3, $4, "
                       "$5) RETURNING id";
    snprintf(area, sizeof area, "{\"type\":\"Point\",\"coordinates\":[%.5f,%.5f],\"radius\":250}", lon0, lat0 + 0.03);
    weft_db_arg f1[] = {WEFT_DB_TEXT("North depot"), WEFT_DB_TEXT("depot yard"), WEFT_DB_TEXT(area),
                        WEFT_DB_INT(north), WEFT_DB_INT(now)};
    if ((rc = exec1(f, fsql, f1, 5, NULL, err, errlen)) < 0) return rc;
    snprintf(area, sizeof area, "{\"type\":\"Point\",\"coordinates\":[%.5f,%.5f],\"radius\":250}", lon0, lat0 - 0.03);
    weft_db_arg f2[] = {WEFT_DB_TEXT("South depot"), WEFT_DB_TEXT("depot yard"), WEFT_DB_TEXT(area),
                        WEFT_DB_INT(south), WEFT_DB_INT(now)};
    if ((rc = exec1(f, fsql, f2, 5, NULL, err, errlen)) < 0) return rc;
    snprintf(area, sizeof area,
             "{\"type\":\"Polygon\",\"coordinates\":[[[%.5f,%.5f],[%.5f,%.5f],[%.5f,%.5f],[%.5f,%.5f],[%.5f,%.5f]]]}",
             lon0 - 0.012, lat0 - 0.008, lon0 + 0.012, lat0 - 0.008, lon0 + 0.012, lat0 + 0.008, lon0 - 0.012,
             lat0 + 0.008, lon0 - 0.012, lat0 - 0.008);
    weft_db_arg f3[] = {WEFT_DB_TEXT("City centre zone"), WEFT_DB_TEXT("low-emission zone"), WEFT_DB_TEXT(area),
                        WEFT_DB_NULL, WEFT_DB_INT(now)};
    if ((rc = exec1(f, fsql, f3, 5, NULL, err, errlen)) < 0) return rc;
    /* the live table, groups and geofences follow the store */
    weft_db_rows *r;
    if ((rc = store_query(f->db,
                          "SELECT id, unique_id, name, category, COALESCE(group_id, 0), speed_limit_kn, disabled "
                          "FROM devices ORDER BY id",
                          NULL, 0, &r, &e)) < 0)
        return snprintf(err, errlen, "demo devices: %s", e.msg), rc;
    for (int i = 0; i < weft_db_nrows(r); i++)
        live_put(f->devices, weft_db_int(r, i, 0), weft_db_text(r, i, 1, NULL), weft_db_text(r, i, 2, NULL),
                 weft_db_text(r, i, 3, NULL), weft_db_int(r, i, 4), weft_db_double(r, i, 5), (int)weft_db_int(r, i, 6));
    weft_db_rows_free(r);
    if ((rc = fleet_reload_groups(f)) < 0 || (rc = fleet_reload_geofences(f)) < 0)
        return snprintf(err, errlen, "demo data: reloading: %s", weft_strerror(rc)), rc;
    printf("demo: groups \"North depot\" and \"South depot\", 200 devices (sim-0001, 356000000000002, ...), "
           "3 geofences\n");
    printf("demo: manager manager@demo.local password %s (both groups)\n", pm);
    printf("demo: viewer viewer@demo.local password %s (North depot)\n", pv);
    return 0;
}

int api_bootstrap(fleet *f, char *err, size_t errlen) {
    if (sodium_init() < 0) return snprintf(err, errlen, "libsodium failed to initialise"), WEFT_EIO;
    weft_db_err e;
    int64_t users;
    int rc = store_query_i64(f->db, "SELECT COUNT(*) FROM users", NULL, 0, &users, &e);
    if (rc < 0) return snprintf(err, errlen, "counting users: %s", e.msg), rc;
    if (users > 0) return 0;
    char email[256], password[256];
    snprintf(email, sizeof email, "%s", f->cfg.admin_email[0] ? f->cfg.admin_email : "admin@localhost");
    lower(email);
    int generated = !f->cfg.admin_password[0];
    if (generated) password_new(password);
    else snprintf(password, sizeof password, "%s", f->cfg.admin_password);
    if (strlen(password) < PASSWORD_MIN)
        return snprintf(err, errlen, "auth.admin_password: at least %d characters", PASSWORD_MIN), WEFT_EINVAL;
    int64_t id;
    if ((rc = add_user(f, email, "Administrator", password, "admin", &id, err, errlen)) < 0) return rc;
    if (generated) printf("first admin: %s password %s (generated, shown only now)\n", email, password);
    else printf("first admin: %s (password from the settings)\n", email);
    if (f->cfg.demo && (rc = demo(f, err, errlen)) < 0) return rc;
    fflush(stdout);
    return 0;
}
