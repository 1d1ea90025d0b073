/*
 * tests/unit/fleet_live.c — the live socket (/api/socket) and stream
 * (/api/stream) of weft fleet over real sockets, with weft's own WebSocket
 * client: a signed-in admin gets the snapshot and then the updates of a fix
 * sent to the OsmAnd port; a viewer of another group never receives that
 * device; an anonymous or cross-site socket is refused; a shutdown closes
 * the socket with 1001; an acknowledged event reaches the sockets and the
 * stream of the users who see its device, and no other; a snapshot far
 * above live.queue_kb arrives whole, in pieces, and a resync that size is
 * sent whole in place; a socket that keeps up gets a window's alarms in the
 * message with its positions; with an idle feed a change goes out without
 * waiting for a window; a full window past 64 KiB goes as one message, and
 * within a quarter of a small queue.
 *
 * The readers that lag for seconds (a socket resynced instead of closed,
 * that never loses an alert or an acknowledgement and stays within
 * live.queue_kb over many resyncs; a stream ended with its reason) are in
 * tests/stress/fleet_live_lag.c, run by make test but not make check. The
 * helpers both files use are in fleet_live_env.h.
 *
 * Each test runs twice: on SQLite in a temporary directory (name_sqlite)
 * and on PostgreSQL (name_postgres) in a schema of its own in the database
 * WEFT_TEST_PG names (scripts/test.sh starts one for make test); without
 * WEFT_TEST_PG, as in make check, the _postgres half says so and checks
 * nothing.
 */
#include <stdio.h>
#include <stdlib.h>

#include "fleet_live_env.h" /* weft/ws.h, the app's api.h, feed.h, isotime.h; test.h */

/* A test whose body, name(pg), runs on SQLite (pg 0) as name_sqlite and on
 * PostgreSQL (pg 1) as name_postgres. */
#define BOTH(name)                                                                                                    \
    static void name(int pg);                                                                                         \
    TEST(name##_sqlite) { name(0); }                                                                                  \
    TEST(name##_postgres) {                                                                                           \
        if (!getenv("WEFT_TEST_PG")) {                                                                                \
            printf("  %s_postgres: WEFT_TEST_PG not set, not run (scripts/test.sh sets it)\n", #name);              \
            return;                                                                                                   \
        }                                                                                                             \
        name(1);                                                                                                      \
    }                                                                                                                 \
    static void name(int pg)

static int osmand(env *e, const char *id, double lat) {
    int fd = weft_tcp_connect("127.0.0.1", e->f.osmand_port, weft_deadline_in(5000));
    if (fd < 0) return fd;
    char req[256], out[512];
    int n = snprintf(req, sizeof req, "GET /?id=%s&lat=%.5f&lon=16.37&speed=20 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                     id, lat);
    weft_write_all(fd, req, (size_t)n, weft_deadline_in(5000));
    ssize_t k = weft_read(fd, out, sizeof out - 1, weft_deadline_in(5000));
    weft_close(fd);
    return k > 12 && !strncmp(out, "HTTP/1.1 200", 12) ? 0 : -1;
}

/* Groups A (id 1) and B (id 2) with a device in each: dev-a (id 1) and
 * dev-b (id 2). 0 or -1. */
static int two_groups(env *e) {
    weft_db_err err;
    weft_db_arg ga[] = {WEFT_DB_INT(fleet_now_ms())};
    if (store_exec(e->f.db, "INSERT INTO groups (name, created_ms) VALUES ('A', $1), ('B', $1)", ga, 1, NULL, &err) < 0 ||
        fleet_reload_groups(&e->f) < 0 || fleet_device_create(&e->f, "dev-a", "Van A", 1, NULL, &err) < 0 ||
        fleet_device_create(&e->f, "dev-b", "Van B", 2, NULL, &err) < 0)
        return -1;
    return 0;
}

/* Through the admin (cookie headers `admin`): a viewer named `name` of
 * `group`, email <name>@t.local, signed in; its cookie into out. The sign-in
 * status, or -1. */
static int add_viewer(env *e, const char *admin, const char *name, int group, char *out, size_t cap) {
    char body[256], hdr[512];
    snprintf(body, sizeof body,
             "{\"name\":\"%s\",\"email\":\"%s@t.local\",\"password\":\"viewer-pass-1\",\"role\":\"viewer\",\"groupIds\":[%d]}",
             name, name, group);
    snprintf(hdr, sizeof hdr, "%sX-Requested-With: t\r\nContent-Type: application/json\r\n", admin);
    weft_http_test_response res;
    if (weft_http_test(e->r, "POST", "/api/users", hdr, body, &res) < 0) return -1;
    int st = res.status;
    weft_http_test_response_free(&res);
    if (st != 200 && st != 201) return -1;
    char email[64];
    snprintf(email, sizeof email, "%s@t.local", name);
    return login(e, email, "viewer-pass-1", out, cap);
}

BOTH(live_socket_snapshot_updates_and_visibility) {
    env *e = calloc(1, sizeof *e);
    ASSERT(e);
    ASSERT_EQ(env_start(e, pg), 0);
    /* two groups, a device in each, a viewer of the first */
    ASSERT_EQ(two_groups(e), 0);
    char admin[256], viewer[256], url[64];
    ASSERT_EQ(login(e, "admin@t.local", "admin-password-1", admin, sizeof admin), 200);
    ASSERT_EQ(add_viewer(e, admin, "vic", 1, viewer, sizeof viewer), 200);

    snprintf(url, sizeof url, "ws://127.0.0.1:%d/api/socket", e->port);
    char origin[64];
    snprintf(origin, sizeof origin, "http://127.0.0.1:%d", e->port);
    weft_ws_client_opts ao = {.origin = origin, .headers = admin}, vo = {.origin = origin, .headers = viewer};
    int rc = 0;
    const char *why = NULL;
    weft_ws *wa = weft_ws_dial(url, &ao, NULL, weft_deadline_in(5000), &rc, &why);
    ASSERT(wa);
    weft_ws *wv = weft_ws_dial(url, &vo, NULL, weft_deadline_in(5000), &rc, &why);
    ASSERT(wv);
    weft_buf b;
    weft_buf_init(&b, 0);
    /* snapshots: the admin sees both devices, the viewer only group A's */
    ASSERT(next(wa, &b, 5000));
    ASSERT(strstr(b.data, "\"uniqueId\":\"dev-a\"") && strstr(b.data, "\"uniqueId\":\"dev-b\""));
    ASSERT(next(wv, &b, 5000));
    ASSERT(strstr(b.data, "\"uniqueId\":\"dev-a\"") && !strstr(b.data, "dev-b"));
    /* a fix of each device: the admin is told of both, the viewer never of B */
    ASSERT_EQ(osmand(e, "dev-b", 48.1), 0);
    ASSERT_EQ(osmand(e, "dev-a", 48.2), 0);
    int saw_a = 0, saw_b = 0;
    for (int i = 0; i < 20 && !(saw_a && saw_b); i++) {
        if (!next(wa, &b, 2000)) break;
        saw_a |= strstr(b.data, "\"latitude\":48.2") != NULL;
        saw_b |= strstr(b.data, "\"latitude\":48.1") != NULL;
    }
    ASSERT(saw_a && saw_b);
    int viewer_a = 0;
    for (int i = 0; i < 20 && !viewer_a; i++) {
        if (!next(wv, &b, 2000)) break;
        ASSERT(!strstr(b.data, "dev-b") && !strstr(b.data, "\"latitude\":48.1"));
        viewer_a |= strstr(b.data, "\"latitude\":48.2") != NULL;
    }
    ASSERT(viewer_a);
    /* no cookie: 401; another site's page with the cookie: 403 */
    weft_ws *bad = weft_ws_dial(url, NULL, NULL, weft_deadline_in(5000), &rc, &why);
    ASSERT(!bad);
    ASSERT_ERR(rc, WEFT_EPARSE);
    weft_ws_client_opts evil = {.origin = "http://evil.example", .headers = admin};
    bad = weft_ws_dial(url, &evil, NULL, weft_deadline_in(5000), &rc, &why);
    ASSERT(!bad);
    /* shutdown: the socket is closed with 1001 */
    weft_http_server_stop(e->srv);
    api_live_close(&e->f, weft_deadline_in(3000));
    while (weft_ws_recv(wa, &b, weft_deadline_in(3000)) > 0) {}
    ASSERT_EQ(weft_ws_close_status(wa, NULL), 1001);
    weft_ws_free(wa);
    weft_ws_free(wv);
    weft_buf_free(&b);
    env_stop(e);
    free(e);
}

/* The admin signed in and two viewers made and signed in: Ann of group 1,
 * Bob of group 2 (cookies into the 256-byte buffers). 0 or -1. */
static int ann_and_bob(env *e, char *admin, char *va, char *vb) {
    if (login(e, "admin@t.local", "admin-password-1", admin, 256) != 200) return -1;
    if (add_viewer(e, admin, "Ann", 1, va, 256) != 200 || add_viewer(e, admin, "Bob", 2, vb, 256) != 200) return -1;
    return 0;
}

/* A live socket signed in with the cookie headers `who` (NULL on failure). */
static weft_ws *dial_as(env *e, const char *who) {
    char url[64], origin[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d/api/socket", e->port);
    snprintf(origin, sizeof origin, "http://127.0.0.1:%d", e->port);
    weft_ws_client_opts o = {.origin = origin, .headers = who};
    int rc = 0;
    const char *why = NULL;
    return weft_ws_dial(url, &o, NULL, weft_deadline_in(5000), &rc, &why);
}

/* An acknowledgement (POST /api/events/{id}/ack) is pushed at once to
 * every socket whose user sees the device, the one that acknowledged
 * included, as {"acks":[...]}; a viewer of another group is not told. */
BOTH(live_socket_pushes_acknowledgements) {
    env *e = calloc(1, sizeof *e);
    ASSERT(e);
    ASSERT_EQ(env_start(e, pg), 0);
    ASSERT_EQ(two_groups(e), 0);
    weft_db_err err;
    weft_db_arg ga[] = {WEFT_DB_INT(fleet_now_ms())};
    ASSERT_EQ(store_exec(e->f.db,
                         "INSERT INTO events (device_id, type, event_time, server_time) VALUES (1, 'alarm', $1, $1)", ga,
                         1, NULL, &err),
              0);
    char admin[256], va[256], vb[256], hdr[512];
    ASSERT_EQ(ann_and_bob(e, admin, va, vb), 0);
    weft_http_test_response res;
    weft_ws *wadm = dial_as(e, admin), *wa1 = dial_as(e, va), *wa2 = dial_as(e, va) /* Ann's second tab */, *wb = dial_as(e, vb);
    ASSERT(wadm && wa1 && wa2 && wb);
    weft_buf b;
    weft_buf_init(&b, 0);
    ASSERT(next(wadm, &b, 5000) && next(wa1, &b, 5000) && next(wa2, &b, 5000) && next(wb, &b, 5000)); /* snapshots */
    /* Ann acknowledges the alarm in one tab */
    snprintf(hdr, sizeof hdr, "%sX-Requested-With: t\r\n", va);
    ASSERT_EQ(weft_http_test(e->r, "POST", "/api/events/1/ack", hdr, NULL, &res), 0);
    int st = res.status;
    weft_http_test_response_free(&res);
    ASSERT_EQ(st, 200);
    weft_ws *told[] = {wadm, wa1, wa2};
    for (int i = 0; i < 3; i++) {
        int got = 0;
        for (int k = 0; k < 10 && !got; k++) {
            if (!next(told[i], &b, 2000)) break;
            got = strstr(b.data, "{\"acks\":[{\"id\":1,\"deviceId\":1,\"ackTime\":\"") &&
                  strstr(b.data, "\"ackUserName\":\"Ann\"}]}");
        }
        ASSERT(got);
    }
    /* again: nothing new to tell; Bob (group B) hears of none of it */
    ASSERT_EQ(weft_http_test(e->r, "POST", "/api/events/1/ack", hdr, NULL, &res), 0);
    weft_http_test_response_free(&res);
    int quiet = 1;
    while (next(wa1, &b, 500)) quiet &= !strstr(b.data, "\"acks\"");
    ASSERT(quiet);
    while (next(wb, &b, 200)) ASSERT(!strstr(b.data, "\"acks\"") && !strstr(b.data, "dev-a"));
    weft_ws_free(wadm);
    weft_ws_free(wa1);
    weft_ws_free(wa2);
    weft_ws_free(wb);
    weft_buf_free(&b);
    env_stop(e);
    free(e);
}

/* "Acknowledge all" (POST /api/events/ack) reaches the sockets as acks too:
 * each socket is told of exactly the events it sees (Ann of group A's, Bob
 * of none of them, the admin of all), in messages no larger than
 * feed_chunk_bytes however many there are (1,200 here: ~150 KB of acks). */
BOTH(live_socket_pushes_bulk_acknowledgements) {
    env *e = calloc(1, sizeof *e);
    ASSERT(e);
    ASSERT_EQ(env_start(e, pg), 0);
    ASSERT_EQ(two_groups(e), 0);
    weft_db_err err;
    int64_t now = fleet_now_ms();
    weft_db_arg ga[] = {WEFT_DB_INT(now - 60000)};
    /* 1,200 alarms of device 1 (group A), then one of device 2 (group B) */
    ASSERT_EQ(store_exec(e->f.db,
                         "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < 1200) "
                         "INSERT INTO events (device_id, type, event_time, server_time) SELECT 1, 'alarm', $1, $1 FROM k",
                         ga, 1, NULL, &err),
              0);
    ASSERT_EQ(store_exec(e->f.db, "INSERT INTO events (device_id, type, event_time, server_time) VALUES (2, 'alarm', $1, $1)",
                         ga, 1, NULL, &err),
              0);
    char admin[256], va[256], vb[256], hdr[512], path[160];
    ASSERT_EQ(ann_and_bob(e, admin, va, vb), 0);
    weft_ws *wadm = dial_as(e, admin), *wa = dial_as(e, va), *wb = dial_as(e, vb);
    ASSERT(wadm && wa && wb);
    weft_buf b;
    weft_buf_init(&b, 0);
    ASSERT(next(wadm, &b, 5000) && next(wa, &b, 5000) && next(wb, &b, 5000)); /* snapshots */
    /* Ann acknowledges every alarm of the last hour she sees */
    char to[32], from[32];
    fleet_time_format(to, now), fleet_time_format(from, now - 3600000);
    snprintf(path, sizeof path, "/api/events/ack?type=alarm&from=%s&to=%s", from, to);
    snprintf(hdr, sizeof hdr, "%sX-Requested-With: t\r\n", va);
    weft_http_test_response res;
    ASSERT_EQ(weft_http_test(e->r, "POST", path, hdr, NULL, &res), 0);
    int st = res.status, counted = weft_str_has_prefix(res.body, WEFT_STR("{\"count\":1200,"));
    weft_http_test_response_free(&res);
    ASSERT_EQ(st, 200);
    ASSERT(counted);
    size_t limit = feed_chunk_bytes(&e->f.cfg);
    weft_ws *told[] = {wadm, wa};
    for (int k = 0; k < 2; k++) {
        int acks = 0, msgs = 0;
        for (int i = 0; i < 40 && acks < 1200; i++) {
            if (!next(told[k], &b, 2000)) break;
            if (!strstr(b.data, "{\"acks\":[")) continue;
            msgs++;
            ASSERT(b.len <= limit);
            ASSERT(!strstr(b.data, "\"deviceId\":2"));
            for (const char *p = b.data; (p = strstr(p, "\"ackUserName\":\"Ann\"")); p++) acks++;
        }
        ASSERT_EQ(acks, 1200);
        ASSERT_GT(msgs, 1);
    }
    while (next(wb, &b, 300)) ASSERT(!strstr(b.data, "\"acks\""));
    /* Bob's own: one ack, to him and the admin only */
    snprintf(hdr, sizeof hdr, "%sX-Requested-With: t\r\n", vb);
    ASSERT_EQ(weft_http_test(e->r, "POST", path, hdr, NULL, &res), 0);
    weft_http_test_response_free(&res);
    int got = 0;
    for (int i = 0; i < 10 && !got; i++) {
        if (!next(wb, &b, 2000)) break;
        got = strstr(b.data, "{\"acks\":[{\"id\":1201,\"deviceId\":2,") && strstr(b.data, "\"ackUserName\":\"Bob\"}]}");
    }
    ASSERT(got);
    while (next(wa, &b, 300)) ASSERT(!strstr(b.data, "\"acks\""));
    weft_ws_free(wadm);
    weft_ws_free(wa);
    weft_ws_free(wb);
    weft_buf_free(&b);
    env_stop(e);
    free(e);
}

BOTH(live_stream_sse) {
    env *e = calloc(1, sizeof *e);
    ASSERT(e);
    ASSERT_EQ(env_start(e, pg), 0);
    weft_db_err err;
    ASSERT_EQ(fleet_device_create(&e->f, "dev-s", "Van S", 0, NULL, &err), 0);
    char admin[256];
    ASSERT_EQ(login(e, "admin@t.local", "admin-password-1", admin, sizeof admin), 200);
    int fd = weft_tcp_connect("127.0.0.1", e->port, weft_deadline_in(5000));
    ASSERT(fd >= 0);
    char req[512];
    int n = snprintf(req, sizeof req, "GET /api/stream HTTP/1.1\r\nHost: x\r\n%s\r\n", admin);
    ASSERT(weft_write_all(fd, req, (size_t)n, weft_deadline_in(5000)) > 0);
    ASSERT_EQ(osmand(e, "dev-s", 47.5), 0);
    char buf[16384];
    size_t have = 0;
    int got = 0;
    for (int i = 0; i < 50 && !got; i++) {
        ssize_t k = weft_read(fd, buf + have, sizeof buf - 1 - have, weft_deadline_in(2000));
        if (k <= 0) break;
        have += (size_t)k;
        buf[have] = 0;
        got = strstr(buf, "text/event-stream") && strstr(buf, "\"uniqueId\":\"dev-s\"") && strstr(buf, "\"latitude\":47.5");
    }
    ASSERT(got);
    /* an acknowledgement reaches the stream too (the fix made dev-s online: event 1) */
    char hdr[400];
    snprintf(hdr, sizeof hdr, "%sX-Requested-With: t\r\n", admin);
    weft_http_test_response res;
    ASSERT_EQ(weft_http_test(e->r, "POST", "/api/events/1/ack", hdr, NULL, &res), 0);
    int st = res.status;
    weft_http_test_response_free(&res);
    ASSERT_EQ(st, 200);
    got = 0;
    for (int i = 0; i < 50 && !got; i++) {
        got = strstr(buf, "data: {\"acks\":[{\"id\":1,") != NULL;
        if (got || have == sizeof buf - 1) break;
        ssize_t k = weft_read(fd, buf + have, sizeof buf - 1 - have, weft_deadline_in(2000));
        if (k <= 0) break;
        have += (size_t)k;
        buf[have] = 0;
    }
    ASSERT(got);
    weft_close(fd);
    env_stop(e);
    free(e);
}

/* bulk_devices' snapshot of ~140 KB against the smallest live.queue_kb (16).
 * The socket is not refused: the snapshot comes in several messages, every
 * device exactly once, then the updates. */
BOTH(live_socket_snapshot_far_above_the_queue_limit_arrives_whole) {
    env *e = calloc(1, sizeof *e);
    ASSERT(e);
    ASSERT_EQ(env_start(e, pg), 0);
    e->f.cfg.live_queue_kb = 16; /* read at each upgrade */
    ASSERT_EQ(bulk_devices(e), 0);
    weft_ws *ws = admin_socket(e);
    ASSERT(ws);
    weft_buf b;
    weft_buf_init(&b, 0);
    static int seen[BULK];
    memset(seen, 0, sizeof seen);
    int msgs = 0, distinct = 0, twice = 0;
    size_t bytes = 0;
    while (distinct < BULK && next(ws, &b, 5000)) {
        msgs++;
        bytes += b.len;
        for (int i = 0; i < BULK; i++) {
            char want[32];
            snprintf(want, sizeof want, "\"uniqueId\":\"bulk-%03d\"", i);
            if (!strstr(b.data, want)) continue;
            if (seen[i]++) twice++;
            else distinct++;
        }
    }
    ASSERT_EQ(distinct, BULK);
    ASSERT_EQ(twice, 0);
    ASSERT_GT(bytes, 16 * 1024 * 4); /* far above the queue limit */
    ASSERT_GT(msgs, 1);              /* in pieces */
    /* and the updates follow */
    ASSERT_EQ(osmand(e, "bulk-007", 48.3), 0);
    int saw = 0;
    for (int i = 0; i < 20 && !saw; i++) {
        if (!next(ws, &b, 2000)) break;
        saw = strstr(b.data, "\"latitude\":48.3") != NULL;
    }
    ASSERT(saw);
    /* a second fix with the same status and motion: its position without
     * the device's entry (sent again only when it changes, or after 10 s) */
    ASSERT_EQ(osmand(e, "bulk-007", 48.4), 0);
    saw = 0;
    for (int i = 0; i < 20 && !saw; i++) {
        if (!next(ws, &b, 2000)) break;
        saw = strstr(b.data, "\"latitude\":48.4") != NULL;
    }
    ASSERT(saw);
    ASSERT(!strstr(b.data, "\"uniqueId\":\"bulk-007\""));
    weft_ws_close(ws, WEFT_WS_NORMAL, NULL);
    weft_ws_free(ws);
    weft_buf_free(&b);
    env_stop(e);
    free(e);
}

/* A socket that keeps up gets a window's events in the same message as its
 * positions: one send a window, as before alerts were kept (the events are
 * kept with the positions around them, weft_hub_publish_split; a socket
 * that lags gets them apart, see tests/stress/fleet_live_lag.c's
 * live_socket_that_stops_reading_gets_every_alert_and_ack). Ten windows,
 * each a device's fix and an alarm of it told to the feed together: each
 * alarm arrives in a message that also carries that fix. (The feed that
 * sent events in messages of their own fails at the first.) */
BOTH(live_socket_that_keeps_up_gets_events_with_positions) {
    env *e = calloc(1, sizeof *e);
    ASSERT(e);
    ASSERT_EQ(env_start(e, pg), 0);
    ASSERT_EQ(bulk_devices(e), 0);
    weft_ws *ws = admin_socket(e);
    ASSERT(ws);
    weft_buf b;
    weft_buf_init(&b, 0);
    ASSERT(next(ws, &b, test_slack_ms(5000))); /* subscribed with its snapshot */
    static live_device *devs[BULK];
    ASSERT_EQ(bulk_live(e, devs), 0);
    enum { NEV = 10, BASE = 9000 };
    static unsigned char seen_ev[NEV], none[1];
    static double lat[BULK];
    memset(seen_ev, 0, sizeof seen_ev); /* under --no-fork the other backend's run came first */
    for (int k = 0; k < NEV; k++) {
        live_device *d = devs[k];
        live_lock(d);
        d->st.has_fix = 1;
        d->st.fix_ms = d->st.server_ms = fleet_now_ms();
        d->st.lat = 50 + k, d->st.lon = 16.37;
        snprintf(d->st.protocol, sizeof d->st.protocol, "osmand");
        live_unlock(d);
        ev_row ev = {.device_id = d->id, .id = BASE + k,
                     .ev = {.type = EV_ALARM, .time_ms = fleet_now_ms(), .lat = 50 + k, .lon = 16.37, .alarm = FLEET_ALARM_SOS}};
        feed_publish(&e->f, d, &ev, 1); /* the fix and its alarm in one window */
        while (!seen_ev[k] && next(ws, &b, test_slack_ms(5000))) {
            int resync = 0;
            ASSERT_EQ(alert_ids(&b, BASE, NEV, seen_ev, none, &resync), 0);
            if (!seen_ev[k]) continue;
            lat[k] = -1;
            ASSERT_GT(merge_latitudes(&b, devs, BULK, lat), 0); /* positions in the same message */
            ASSERT(lat[k] == 50 + k);
        }
        ASSERT(seen_ev[k]);
    }
    ASSERT_EQ(weft_ws_close_status(ws, NULL), 0);
    weft_ws_close(ws, WEFT_WS_NORMAL, NULL);
    weft_ws_free(ws);
    weft_buf_free(&b);
    env_stop(e);
    free(e);
}

/* A resync whose snapshot is bigger than live.queue_kb (300 devices, ~170 KB,
 * against 64 KiB) is sent whole like a first state (WEFT_WS_SEND_SYNC,
 * outside the bound of the updates, one at a time): the lagging socket is
 * resynced in place, not closed 1008 to reconnect for a first state of the
 * same size. Reading again, it gets the marker and, merging by device id
 * from there, every device's newest position; the socket stays open. */
BOTH(live_socket_whose_resync_exceeds_the_queue_arrives_whole) {
    env *e = calloc(1, sizeof *e);
    ASSERT(e);
    ASSERT_EQ(env_start(e, pg), 0);
    e->f.cfg.live_queue_kb = 64; /* read at each upgrade */
    ASSERT_EQ(bulk_devices(e), 0);
    static live_device *devs[BULK];
    ASSERT_EQ(bulk_live(e, devs), 0);
    weft_ws *slow = admin_socket(e);
    ASSERT(slow);
    feed_stats *fs = feed_get_stats(e->f.feed);
    feed_queues most = {0};
    for (int t = 0; t < 1500 && !atomic_load(&fs->resyncs); t++) move_window(e, devs, t, &most);
    ASSERT_GT(atomic_load(&fs->resyncs), 0);
    ASSERT_LE(most.max_queued, 64 * 1024);
    /* where every device is now (nothing moves from here) */
    static double want[BULK], got[BULK];
    for (int i = 0; i < BULK; i++) {
        live_lock(devs[i]);
        want[i] = devs[i]->st.lat;
        live_unlock(devs[i]);
        got[i] = -1000;
    }
    weft_buf b;
    weft_buf_init(&b, 0);
    int resync = 0, same = 0;
    while (same < BULK && weft_ws_recv(slow, &b, weft_deadline_in(test_slack_ms(10000))) == WEFT_WS_TEXT) {
        unsigned char none[1];
        int was = resync;
        ASSERT_EQ(alert_ids(&b, 0, 0, none, none, &resync), 0);
        if (!was && resync) continue; /* the marker: merge from here */
        if (!resync) continue;
        ASSERT_GE(merge_latitudes(&b, devs, BULK, got), 0);
        same = 0;
        for (int i = 0; i < BULK; i++) same += got[i] > want[i] - 1e-6 && got[i] < want[i] + 1e-6; /* as printed */
    }
    ASSERT(resync);
    ASSERT_EQ(same, BULK);
    ASSERT_EQ(weft_ws_close_status(slow, NULL), 0); /* open: resynced in place */
    weft_ws_close(slow, WEFT_WS_NORMAL, NULL);
    weft_ws_free(slow);
    weft_buf_free(&b);
    env_stop(e);
    free(e);
}

/* The snapshot of bulk_devices' devices, none with a position yet, read
 * from ws in pieces: how many distinct devices were in it (BULK), or -1
 * when a piece had a position. */
static int read_bulk_snapshot(weft_ws *ws, weft_buf *b) {
    static int seen[BULK];
    memset(seen, 0, sizeof seen);
    int distinct = 0;
    while (distinct < BULK && next(ws, b, test_slack_ms(10000))) {
        if (strstr(b->data, "\"latitude\"")) return -1;
        for (int i = 0; i < BULK; i++) {
            char want[32];
            snprintf(want, sizeof want, "\"uniqueId\":\"bulk-%03d\"", i);
            if (strstr(b->data, want) && !seen[i]++) distinct++;
        }
    }
    return distinct;
}

/* When the feed sends: with a window far longer than the test (60 s), a
 * change to an idle feed still arrives (at once: nothing was sent for a
 * window), and so does a window whose changes fill a message
 * (feed_full_batch devices), each device once with its latest state, the
 * one that moved twice included. Only the order and contents are checked:
 * the old feed, which waited for every window's end, would not deliver
 * either before the test gives up. */
BOTH(live_idle_feed_sends_at_once_and_a_full_window_early) {
    env *e = calloc(1, sizeof *e);
    ASSERT(e);
    ASSERT_EQ(env_start_window(e, pg, 60000), 0);
    ASSERT_EQ(bulk_devices(e), 0);
    size_t full = feed_full_batch(&e->f.cfg);
    ASSERT(full > 2 && full < BULK);
    static live_device *devs[BULK];
    ASSERT_EQ(bulk_live(e, devs), 0);
    weft_ws *ws = admin_socket(e);
    ASSERT(ws);
    weft_buf b;
    weft_buf_init(&b, 0);
    int64_t wait = test_slack_ms(10000); /* far under the window */
    /* the snapshot (no device has a position yet), in pieces */
    ASSERT_EQ(read_bulk_snapshot(ws, &b), BULK);
    /* idle: one device moves, its update is the next message, alone */
    static double lat[BULK];
    for (int i = 0; i < BULK; i++) lat[i] = -1;
    move(&e->f, devs[0], 21.5, 1);
    ASSERT(next(ws, &b, wait));
    ASSERT_EQ(merge_latitudes(&b, devs, BULK, lat), 1);
    ASSERT(lat[0] == 21.5);
    for (int i = 1; i < BULK; i++) ASSERT(lat[i] == -1);
    /* a busy window: device 1 twice, then devices 2..full once: the
     * window holds `full` devices and goes out, device 1 only with 22.5 */
    move(&e->f, devs[1], 22.0, 1);
    move(&e->f, devs[1], 22.5, 1);
    for (size_t i = 2; i <= full; i++) move(&e->f, devs[i], 30.0, 1);
    int got = 0, positions = 0;
    while (got < (int)full && next(ws, &b, wait)) {
        int n = merge_latitudes(&b, devs, BULK, lat);
        ASSERT_GT(n, 0);
        positions += n;
        got = 0;
        for (int i = 1; i < BULK; i++) got += lat[i] != -1;
    }
    ASSERT_EQ(got, (int)full);
    ASSERT_EQ(positions, (int)full); /* each device once: coalesced */
    ASSERT(lat[0] == 21.5);
    ASSERT(lat[1] == 22.5);
    for (size_t i = 2; i <= full; i++) ASSERT(lat[i] == 30.0);
    weft_ws_close(ws, WEFT_WS_NORMAL, NULL);
    weft_ws_free(ws);
    weft_buf_free(&b);
    env_stop(e); /* the feed task stops without waiting for its window */
    free(e);
}

/* A full window larger than 64 KiB: VANS devices with short names, each
 * moved for the first time, so that the update carries its entry and its
 * position (about 500 bytes, above the feed's 300-byte estimate) and a full
 * window (feed_full_batch devices, 218 by the estimate) is about 110 KB.
 * What an admin socket with live.queue_kb = queue_kb read of that window,
 * with a 60 s window (it goes out because it is full, not because it
 * ended), after one change to the idle feed as in the test above. */
enum { VANS = 240 };
typedef struct window_read {
    int ok;                   /* the helper got to the end */
    size_t full, limit;       /* feed_full_batch, feed_update_bytes */
    int msgs, positions;      /* the window's messages and their positions */
    int arrived;              /* devices 1..full seen with their new position */
    size_t bytes, largest;    /* of those messages */
} window_read;

static void read_full_window(int pg, int queue_kb, window_read *w) {
    memset(w, 0, sizeof *w);
    env *e = calloc(1, sizeof *e);
    ASSERT(e);
    ASSERT_EQ(env_start_window(e, pg, 60000), 0);
    w->full = feed_full_batch(&e->f.cfg); /* the feed's, made at its start */
    e->f.cfg.live_queue_kb = queue_kb;   /* read at each upgrade and each send */
    ASSERT_EQ(feed_full_batch(&e->f.cfg), w->full);
    w->limit = feed_update_bytes(&e->f.cfg);
    ASSERT(w->full > 2 && w->full < VANS);
    static live_device *devs[VANS];
    static double lat[VANS];
    weft_db_err err;
    for (int i = 0; i < VANS; i++) {
        char uid[32], name[32];
        snprintf(uid, sizeof uid, "van-%03d", i);
        snprintf(name, sizeof name, "Van %03d", i);
        ASSERT_EQ(fleet_device_create(&e->f, uid, name, 0, &devs[i], &err), 0);
        lat[i] = -1;
    }
    weft_ws *ws = admin_socket(e);
    ASSERT(ws);
    weft_buf b;
    weft_buf_init(&b, 0);
    int64_t wait = test_slack_ms(10000); /* far under the window */
    /* the snapshot: every van's entry, no position yet */
    int entries = 0;
    while (entries < VANS && next(ws, &b, wait)) {
        ASSERT(!strstr(b.data, "\"latitude\""));
        for (const char *p = b.data; (p = strstr(p, "\"uniqueId\":\"van-")); p++) entries++;
    }
    ASSERT_EQ(entries, VANS);
    /* idle: van 0 goes alone; the window starts after it */
    move(&e->f, devs[0], 21.5, 1);
    ASSERT(next(ws, &b, wait));
    ASSERT_EQ(merge_latitudes(&b, devs, VANS, lat), 1);
    /* vans 1..full: the window is full and goes out */
    for (size_t i = 1; i <= w->full; i++) move(&e->f, devs[i], 30.0, 1);
    while (w->positions < (int)w->full && next(ws, &b, wait)) {
        int n = merge_latitudes(&b, devs, VANS, lat);
        ASSERT_GT(n, 0);
        w->msgs++, w->positions += n, w->bytes += b.len;
        if (b.len > w->largest) w->largest = b.len;
    }
    for (size_t i = 1; i <= w->full; i++) w->arrived += lat[i] == 30.0;
    fprintf(stderr, "    (a window of %zu devices: %zu bytes in %d message(s), the largest %zu; bound %zu)\n", w->full,
            w->bytes, w->msgs, w->largest, w->limit);
    weft_ws_close(ws, WEFT_WS_NORMAL, NULL);
    weft_ws_free(ws);
    weft_buf_free(&b);
    env_stop(e);
    free(e);
    w->ok = 1;
}

/* At the default live.queue_kb (1 MiB) a full window goes to a viewer as
 * one message of at most feed_update_bytes (128 KiB): one send per window.
 * (The feed that cut updates at 64 KiB sent this one as two messages.) */
BOTH(live_full_window_past_64_kib_goes_as_one_message) {
    window_read w;
    read_full_window(pg, 1024, &w);
    ASSERT(w.ok);
    ASSERT_EQ(w.arrived, (int)w.full);
    ASSERT_EQ(w.positions, (int)w.full); /* each device once */
    ASSERT_GT(w.bytes, 64 * 1024);       /* the case: past the old bound */
    ASSERT_EQ(w.msgs, 1);
    ASSERT_LE(w.largest, w.limit);
}

/* With a small live.queue_kb (256) the same window is cut at a quarter of
 * the queue (64 KiB), every message within it, so weft_hub_publish_split can
 * still send each whole to a socket that keeps up. (The feed that cut a
 * message once it had reached the bound let each go past it by a device.) */
BOTH(live_full_window_splits_within_a_small_queues_quarter) {
    window_read w;
    read_full_window(pg, 256, &w);
    ASSERT(w.ok);
    ASSERT_EQ(w.limit, 256 * 1024 / 4);
    ASSERT_EQ(w.arrived, (int)w.full);
    ASSERT_EQ(w.positions, (int)w.full);
    ASSERT_GT(w.bytes, w.limit);
    ASSERT_GT(w.msgs, 1);
    ASSERT_LE(w.largest, w.limit);
}

/* SSE streams share the snapshot as sockets do: streams of one audience that
 * join between two builds get the same pieces of one build (no snapshot per
 * stream), every device in them, and their channel is subscribed to the
 * audience's topic with it. Builds are at most SNAPSHOT_MIN_INTERVAL_MS
 * (500 ms) apart: the three streams below join right after the first build,
 * so all three wait for the second. */
BOTH(live_streams_share_one_snapshot_per_build) {
    env *e = calloc(1, sizeof *e);
    ASSERT(e);
    ASSERT_EQ(env_start(e, pg), 0);
    ASSERT_EQ(bulk_devices(e), 0);
    feed_stats *st = feed_get_stats(e->f.feed);
    int64_t before = atomic_load(&st->snapshots);
    enum { N = 4 };
    weft_chan *ch[N];
    feed_viewer *fv[N];
    feed_state *got[N];
    for (int i = 0; i < N; i++) ASSERT((ch[i] = weft_chan_new(sizeof(weft_hub_msg *), 64, NULL)) != NULL);
    /* the first stream: a build of its own */
    ASSERT((fv[0] = feed_subscribe_chan(&e->f, 1, NULL, 0, ch[0])) != NULL);
    ASSERT_EQ(feed_take_state(&e->f, fv[0], &got[0], weft_deadline_in(test_slack_ms(5000))), 0);
    for (int i = 1; i < N; i++) ASSERT((fv[i] = feed_subscribe_chan(&e->f, 1, NULL, 0, ch[i])) != NULL);
    for (int i = 1; i < N; i++) ASSERT_EQ(feed_take_state(&e->f, fv[i], &got[i], weft_deadline_in(test_slack_ms(5000))), 0);
    ASSERT(got[1] != got[0]);
    ASSERT(got[2] == got[1] && got[3] == got[1]); /* one build, shared */
    ASSERT_EQ(atomic_load(&st->snapshots) - before, 2);
    /* every device once, in pieces (complete messages cut at about
     * feed_chunk_bytes: 64 KiB here, for ~140 KB of devices) */
    int seen = 0;
    ASSERT(feed_state_count(got[1]) > 1);
    for (int i = 0; i < feed_state_count(got[1]); i++) {
        weft_str d = feed_state_piece(got[1], i);
        ASSERT(d.n > 0 && d.p[0] == '{' && d.p[d.n - 1] == '}');
        for (const char *p = d.p; (p = memmem(p, d.n - (size_t)(p - d.p), "\"uniqueId\":\"bulk-", 17)); p++) seen++;
    }
    ASSERT_EQ(seen, BULK);
    /* the channels are subscribed: a fix's update reaches every stream */
    ASSERT_EQ(osmand(e, "bulk-007", 47.25), 0);
    for (int i = 0; i < N; i++) {
        int found = 0;
        for (int k = 0; k < 50 && !found; k++) {
            weft_hub_msg *m;
            if (weft_chan_recv(ch[i], &m, weft_deadline_in(test_slack_ms(5000))) != 0) break;
            weft_str d = weft_hub_msg_data(m);
            found = memmem(d.p, d.n, "\"latitude\":47.25", 16) != NULL;
            weft_hub_msg_release(m);
        }
        ASSERT(found);
    }
    char topic[64];
    feed_topic(1, NULL, 0, topic, sizeof topic);
    for (int i = 0; i < N; i++) {
        feed_state_release(got[i]);
        feed_unsubscribe(&e->f, fv[i]);
        weft_hub_unsubscribe_chan(e->f.hub, topic, ch[i]);
        weft_hub_msg *m;
        while (weft_chan_recv(ch[i], &m, 0) == 0) weft_hub_msg_release(m);
        weft_chan_free(ch[i]);
    }
    /* a stream that leaves before taking its snapshot does not leak it */
    weft_chan *late = weft_chan_new(sizeof(weft_hub_msg *), 64, NULL);
    feed_viewer *lv = feed_subscribe_chan(&e->f, 1, NULL, 0, late);
    ASSERT(lv != NULL);
    int64_t until = weft_deadline_in(test_slack_ms(5000));
    while (atomic_load(&st->snapshots) - before < 3 && weft_now() < until) weft_sleep(10);
    ASSERT_EQ(atomic_load(&st->snapshots) - before, 3);
    feed_unsubscribe(&e->f, lv);
    weft_hub_unsubscribe_chan(e->f.hub, topic, late);
    weft_hub_msg *m;
    while (weft_chan_recv(late, &m, 0) == 0) weft_hub_msg_release(m);
    weft_chan_free(late);
    env_stop(e);
    free(e);
}
