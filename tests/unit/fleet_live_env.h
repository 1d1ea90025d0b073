/*
 * tests/unit/fleet_live_env.h — what tests/unit/fleet_live.c and
 * tests/stress/fleet_live_lag.c share: weft fleet started on a temporary
 * directory, its store SQLite there or PostgreSQL in a schema of its own,
 * with its HTTP server on an ephemeral port (env), signing in, 300 devices
 * with long names (BULK) and moving them, and reading what the live socket
 * sends (positions merged by device, alert and ack ids).
 *
 * The functions are static, a copy in each test binary, as when the two
 * files were one. Each is used by both files: a helper only one of them
 * needs belongs in that file (-Wunused-function would flag it here).
 */
#ifndef FLEET_LIVE_ENV_H
#define FLEET_LIVE_ENV_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "weft/ws.h"

#include "api.h"
#include "feed.h"
#include "isotime.h"
#include "test.h"

typedef struct env {
    fleet f;
    weft_http_router *r;
    weft_http_server *srv;
    int port;
    char dir[64];
    char pg_schema[48]; /* on PostgreSQL: the schema holding this env's tables, dropped by env_stop; else "" */
    weft_wg served;
} env;

static void serve(void *arg) {
    env *e = arg;
    weft_http_serve(e->srv);
    weft_wg_done(&e->served);
}

/* One statement on a connection of its own to the database WEFT_TEST_PG
 * names: the schema's creation and removal, which the store cannot do (its
 * connections start inside the schema). 0, or < 0 with why on stderr. */
static int pg_admin(const char *sql) {
    weft_pg_config pc = {.conninfo = getenv("WEFT_TEST_PG")};
    weft_pg *db;
    weft_db_err err;
    if (!pc.conninfo) return fprintf(stderr, "%s: WEFT_TEST_PG is not set\n", sql), -1;
    if (weft_pg_open(&db, &pc, &err) < 0) return fprintf(stderr, "%s: %s\n", sql, err.msg), -1;
    int rc = weft_pg_exec(db, sql, NULL, 0, NULL, &err, weft_deadline_in(10000));
    if (rc < 0) fprintf(stderr, "%s: %s\n", sql, err.msg);
    weft_pg_close(db);
    return rc;
}

/* pg: the store on PostgreSQL (WEFT_TEST_PG), in a schema of its own made
 * here, so that tests, runs and flavours sharing the server never see each
 * other's rows; else SQLite in the temporary directory. window:
 * live.tick_ms (set directly: a test may go past the config's bounds). */
static int env_start_window(env *e, int pg, int window) {
    memset(e, 0, sizeof *e);
    fleet_config_defaults(&e->f.cfg);
    snprintf(e->dir, sizeof e->dir, "/tmp/weft-fleet-live-XXXXXX");
    if (!mkdtemp(e->dir)) return -1;
    fleet_config *c = &e->f.cfg;
    snprintf(c->data_dir, sizeof c->data_dir, "%s", e->dir);
    if (pg) {
        char sql[128];
        /* the pid keeps apart the tests running at once (each in a process
         * of its own); the clock, this one from a run with the same pid that
         * died and left its schema behind */
        snprintf(e->pg_schema, sizeof e->pg_schema, "fleet_live_%d_%lld", (int)getpid(),
                 (long long)(weft_now_ns() / 1000 % 1000000000));
        snprintf(sql, sizeof sql, "CREATE SCHEMA %s", e->pg_schema);
        if (pg_admin(sql) < 0) {
            e->pg_schema[0] = 0;
            return -1;
        }
        snprintf(c->postgres, sizeof c->postgres, "%s options=-csearch_path=%s", getenv("WEFT_TEST_PG"), e->pg_schema);
    }
    snprintf(c->ingest_host, sizeof c->ingest_host, "127.0.0.1");
    c->osmand_port = c->teltonika_port = 0;
    c->commit_interval_ms = 1;
    c->live_tick_ms = window;
    snprintf(c->admin_email, sizeof c->admin_email, "admin@t.local");
    snprintf(c->admin_password, sizeof c->admin_password, "admin-password-1");
    api_pwhash_set_light(1);
    char err[256];
    if (fleet_start(&e->f, err, sizeof err) < 0) return fprintf(stderr, "%s\n", err), -1;
    if (store_is_pg(e->f.db) != !!pg) /* a _postgres test that ran on SQLite would pass for nothing */
        return fprintf(stderr, "the store is not on %s\n", pg ? "PostgreSQL" : "SQLite"), -1;
    if (!(e->r = api_router(&e->f)) || api_bootstrap(&e->f, err, sizeof err) < 0) return -1;
    weft_http_config wc = {.port = 0, .shutdown_timeout_ms = 3000};
    int rc = 0;
    if (!(e->srv = weft_http_server_new(&wc, e->r, &rc))) return -1;
    e->port = weft_http_server_port(e->srv);
    weft_wg_init(&e->served);
    return test_go_wg(&e->served, serve, e);
}

static int env_start(env *e, int pg) { return env_start_window(e, pg, 50); }

static void env_stop(env *e) {
    weft_http_server_stop(e->srv);
    weft_wg_wait(&e->served, -1); /* the server drained its handlers (an SSE stream notices within 1 s) */
    api_live_close(&e->f, weft_deadline_in(3000));
    fleet_stop(&e->f);
    weft_http_server_free(e->srv);
    api_free(&e->f);
    weft_http_router_free(e->r);
    if (e->pg_schema[0]) {
        char sql[128];
        snprintf(sql, sizeof sql, "DROP SCHEMA %s CASCADE", e->pg_schema);
        pg_admin(sql);
    }
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", e->dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", e->dir);
}

/* Sign in through the router; "Cookie: fleet_session=...\r\n" into out. */
static int login(env *e, const char *email, const char *pw, char *out, size_t cap) {
    char body[256];
    snprintf(body, sizeof body, "email=%s&password=%s", email, pw);
    weft_http_test_response res;
    if (weft_http_test(e->r, "POST", "/api/session", "Content-Type: application/x-www-form-urlencoded\r\n", body,
                       &res) < 0)
        return -1;
    int st = res.status;
    weft_str ck = weft_http_test_header(&res, "Set-Cookie");
    size_t n = 0;
    while (n < ck.n && ck.p[n] != ';') n++;
    snprintf(out, cap, "Cookie: %.*s\r\n", (int)n, ck.p);
    weft_http_test_response_free(&res);
    return st;
}

/* Next text message within ms into b; 1, or 0 on timeout / close. */
static int next(weft_ws *ws, weft_buf *b, int64_t ms) {
    return weft_ws_recv(ws, b, weft_deadline_in(ms)) == WEFT_WS_TEXT;
}

/* 300 devices with long names, bulk-000..bulk-299 (group 0): a snapshot
 * of ~140 KB, far above the smallest live.queue_kb (16). */
enum { BULK = 300 };
static int bulk_devices(env *e) {
    weft_db_err err;
    for (int i = 0; i < BULK; i++) {
        char uid[32], name[128];
        snprintf(uid, sizeof uid, "bulk-%03d", i);
        snprintf(name, sizeof name, "Delivery van %03d of the northern depot, route %03d, second shift %*s", i, i, 40, "");
        if (fleet_device_create(&e->f, uid, name, 0, NULL, &err) != 0) return -1;
    }
    return 0;
}

static weft_ws *admin_socket(env *e) {
    char admin[256], url[64], origin[64];
    if (login(e, "admin@t.local", "admin-password-1", admin, sizeof admin) != 200) return NULL;
    snprintf(url, sizeof url, "ws://127.0.0.1:%d/api/socket", e->port);
    snprintf(origin, sizeof origin, "http://127.0.0.1:%d", e->port);
    weft_ws_client_opts o = {.origin = origin, .headers = admin};
    int rc = 0;
    return weft_ws_dial(url, &o, NULL, weft_deadline_in(5000), &rc, NULL);
}

/* The live state of bulk_devices' devices into devs[0..BULK). 0 or -1. */
static int bulk_live(env *e, live_device **devs) {
    for (int i = 0; i < BULK; i++) {
        char uid[32];
        snprintf(uid, sizeof uid, "bulk-%03d", i);
        if (!(devs[i] = live_by_unique(e->f.devices, uid))) return -1;
    }
    return 0;
}

/* A device moved to lat (a fix of its own making) and told to the feed. */
static void move(fleet *f, live_device *d, double lat, int ignition) {
    live_lock(d);
    d->st.has_fix = 1;
    d->st.fix_ms = d->st.server_ms = fleet_now_ms();
    d->st.lat = lat, d->st.lon = 16.37;
    d->st.ignition = ignition; /* what the entry shows: the entry is sent too */
    snprintf(d->st.protocol, sizeof d->st.protocol, "osmand");
    live_unlock(d);
    feed_publish(f, d, NULL, 0);
}

/* Merge an update's positions by deviceId into lat[] (devs[i]'s latest
 * latitude). The number of positions, or -1 when the message is not a JSON
 * object. */
static int merge_latitudes(const weft_buf *b, live_device **devs, int n, double *lat) {
    weft_arena a;
    weft_arena_init(&a, 0);
    weft_json *root = NULL;
    int rc = weft_json_parse(b->data, b->len, &a, 0, &root, NULL);
    const weft_json *pos = rc ? NULL : weft_json_get(root, "positions"), *p;
    size_t k = 0;
    for (; (p = weft_json_at(pos, k)) != NULL; k++) {
        int64_t id;
        double la;
        if (weft_json_int(weft_json_get(p, "deviceId"), &id) || weft_json_double(weft_json_get(p, "latitude"), &la))
            continue;
        for (int i = 0; i < n; i++)
            if (devs[i]->id == id) lat[i] = la;
    }
    weft_arena_free(&a);
    return rc ? -1 : (int)k;
}

/* One window of the tests whose reader lags: every bulk device moves (to a
 * latitude that changes with t), the largest queue and held bytes of a
 * socket so far go into *most, and 20 ms pass. */
static void move_window(env *e, live_device **devs, int t, feed_queues *most) {
    for (int i = 0; i < BULK; i++) move(&e->f, devs[i], 10 + (t % 50) * 0.01, t & 1);
    feed_queues q;
    feed_get_queues(e->f.feed, &q);
    if (q.max_queued > most->max_queued) most->max_queued = q.max_queued;
    if (q.max_held > most->max_held) most->max_held = q.max_held;
    most->dropped = q.dropped;
    weft_sleep(20);
}

/* What a live message carries for the alert feed: the ids of its events
 * and acks (added to seen_ev / seen_ack, ids base..base+n), and whether it
 * is the resync marker. -1 when it is not a JSON object. */
static int alert_ids(const weft_buf *b, int64_t base, int n, unsigned char *seen_ev, unsigned char *seen_ack,
                     int *resync) {
    weft_arena a;
    weft_arena_init(&a, 0);
    weft_json *root = NULL;
    int rc = weft_json_parse(b->data, b->len, &a, 0, &root, NULL);
    if (!rc) {
        const char *lists[] = {"events", "acks"};
        for (int l = 0; l < 2; l++) {
            const weft_json *list = weft_json_get(root, lists[l]), *x;
            for (size_t k = 0; (x = weft_json_at(list, k)) != NULL; k++) {
                int64_t id;
                if (weft_json_int(weft_json_get(x, "id"), &id) == 0 && id >= base && id < base + n)
                    (l ? seen_ack : seen_ev)[id - base] = 1;
            }
        }
        const weft_json *r = weft_json_get(root, "resync");
        if (r && r->type == WEFT_JSON_TRUE) *resync = 1;
    }
    weft_arena_free(&a);
    return rc ? -1 : 0;
}

#endif
