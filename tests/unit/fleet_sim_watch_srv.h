/*
 * tests/unit/fleet_sim_watch_srv.h — what tests/unit/fleet_sim_watch.c and
 * tests/stress/fleet_sim_watch_viewers.c share: a live feed as weft fleet's
 * (a snapshot, then LIVE_UPDATES updates 20 ms apart) served on an
 * ephemeral port, and fleet-sim's viewers (watch_run) run against it for a
 * window of 1 s plus the build's slack.
 *
 * The functions are static, a copy in each test binary, as when the two
 * files were one. Each is used by both files: a helper only one of them
 * needs belongs in that file (-Wunused-function would flag it here).
 */
#ifndef FLEET_SIM_WATCH_SRV_H
#define FLEET_SIM_WATCH_SRV_H

#include <time.h>

#include "test.h"
#include "watch.h"
#include "weft/ws.h"

typedef struct live_srv {
    weft_http_router *r;
    weft_http_server *s;
    weft_group g;
    int port;
    int close_code; /* the handler's close after its updates; 0: wait for the viewer's */
    atomic_int served;
} live_srv;

static live_srv *g_live;

static int64_t unix_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#define LIVE_UPDATES 10
/* an update: two positions of fix time now */
#define LIVE_UPDATE_FMT "{\"devices\":[],\"positions\":[{\"fixTime\":%lld},{\"fixTime\":%lld}],\"events\":[]}"

/* A live feed as fleet's: the snapshot (an old fix), then LIVE_UPDATES
 * updates of two fresh positions each, 20 ms apart. */
static int h_live(weft_http_ctx *c, void *ud) {
    live_srv *t = ud;
    int err;
    weft_ws *ws = weft_ws_upgrade(c, NULL, NULL, &err);
    if (!ws) return err == WEFT_EPARSE ? 0 : err;
    char m[160];
    int n = snprintf(m, sizeof m, "{\"positions\":[{\"fixTime\":%lld}]}", (long long)unix_ms() - 60000);
    weft_ws_send(ws, WEFT_WS_TEXT, m, (size_t)n);
    for (int i = 0; i < LIVE_UPDATES; i++) {
        weft_sleep(20);
        long long now = (long long)unix_ms();
        n = snprintf(m, sizeof m, LIVE_UPDATE_FMT, now, now);
        weft_ws_send(ws, WEFT_WS_TEXT, m, (size_t)n);
    }
    if (t->close_code) {
        weft_ws_close(ws, t->close_code, "send queue full");
    } else {
        weft_buf b;
        weft_buf_init(&b, 0);
        while (weft_ws_recv(ws, &b, weft_deadline_in(test_slack_ms(10000))) > 0) {}
        weft_buf_free(&b);
    }
    weft_ws_free(ws);
    atomic_fetch_add(&t->served, 1);
    return 0;
}

static void live_serve(void *a) {
    live_srv *t = a;
    weft_http_serve(t->s);
}

static void live_start(live_srv *t, int close_code) {
    memset(t, 0, sizeof *t);
    t->close_code = close_code;
    t->r = weft_http_router_new();
    weft_http_route(t->r, "GET", "/api/socket", h_live, t);
    weft_http_config cfg = {.port = 0};
    int err = 0;
    t->s = weft_http_server_new(&cfg, t->r, &err);
    t->port = t->s ? weft_http_server_port(t->s) : -1;
    weft_group_init(&t->g);
    if (t->s) weft_group_go(&t->g, live_serve, t, "serve");
    g_live = t;
}

static int live_stop(live_srv *t) {
    weft_http_server_stop(t->s);
    int rc = test_join(&t->g, test_slack_ms(10000));
    weft_http_server_free(t->s);
    weft_http_router_free(t->r);
    return rc;
}

static int live_watch_z(live_srv *t, int viewers, int latency_viewers, int deflate, watch_report *r) {
    char url[96];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d/api/socket", t->port);
    watch_config c = {.url = url, .viewers = viewers, .latency_viewers = latency_viewers, .deflate = deflate,
                      .duration_s = 1.0 + (double)test_slack_ms(1000) / 1000.0, .quiet = 1};
    return watch_run(&c, NULL, NULL, r);
}

static int live_watch(live_srv *t, int viewers, int latency_viewers, watch_report *r) {
    return live_watch_z(t, viewers, latency_viewers, 0, r);
}

#endif
