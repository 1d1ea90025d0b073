/*
 * bench/ws/ws_server.c — weft's side of the WebSocket benchmark
 * (bench/run-ws.sh), on the public API only, as an application would write
 * it. The Go and Rust peers (bench/peers/ws-go, ws-rust) serve the same four
 * routes:
 *
 *   /echo  every text and binary message comes back unchanged
 *   /sub   a subscriber of the fan-out topic
 *   /pub   a publisher: each message it sends is published to the topic
 *   /idle  a connection that is only read (memory per idle connection)
 *
 * Every connection runs on a task of its own (weft_ws_upgrade_go), so the
 * handler's task and the request's buffers are gone once it is upgraded.
 * The fan-out is the hub: a message is framed once and every subscriber's
 * queue holds a reference to it. A subscriber that falls behind drops its
 * oldest messages (WEFT_WS_QUEUE_DROP_OLDEST, 256 KiB queue, as the /chat
 * room of examples/ws_echo); the publisher never waits. Compression is off
 * (no_deflate), as on the peers.
 *
 *   build/bench/ws/ws_server [--port N]    (0 = any free port; prints it)
 *
 * One worker when WEFT_WORKERS=1 (what the benchmark sets). SIGTERM/SIGINT:
 * the HTTP server stops, every WebSocket is sent 1001 and given 1 s.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft/weft.h"
#include "weft/ws.h"

#define TOPIC "fan"

typedef struct bench_server {
    int port;
    weft_hub *hub;
    weft_ws_set *set;
    int rc;
} bench_server;

static const weft_ws_server_opts no_deflate = {.no_deflate = 1};

static int upgraded(int rc) { return rc == WEFT_EPARSE ? 0 : rc; } /* refused: answered */

static void echo_loop(weft_ws *ws, void *arg) {
    (void)arg;
    weft_buf msg;
    weft_buf_init(&msg, 0);
    int op;
    while ((op = weft_ws_recv(ws, &msg, -1)) > 0)
        if (weft_ws_send(ws, op, msg.data, msg.len)) break;
    weft_buf_free(&msg);
    weft_ws_free(ws);
}

/* Reads until the peer closes: what keeps an idle or subscribed connection
 * answering pings and noticing its peer has gone. */
static void read_loop(weft_ws *ws, void *arg) {
    (void)arg;
    weft_buf msg;
    weft_buf_init(&msg, 0);
    while (weft_ws_recv(ws, &msg, -1) > 0) {
    }
    weft_buf_free(&msg);
    weft_ws_free(ws);
}

static void sub_loop(weft_ws *ws, void *arg) {
    bench_server *s = arg;
    if (weft_hub_subscribe_ws(s->hub, TOPIC, ws) == 0) {
        read_loop(ws, NULL); /* the hub drops it at the next publish after it closed */
        return;
    }
    weft_ws_free(ws);
}

static void pub_loop(weft_ws *ws, void *arg) {
    bench_server *s = arg;
    weft_buf msg;
    weft_buf_init(&msg, 0);
    int op;
    while ((op = weft_ws_recv(ws, &msg, -1)) > 0)
        weft_hub_publish(s->hub, TOPIC, op, 0, msg.data, msg.len);
    weft_buf_free(&msg);
    weft_ws_free(ws);
}

static int echo(weft_http_ctx *c, void *ud) {
    bench_server *s = ud;
    return upgraded(weft_ws_upgrade_go(c, &no_deflate, NULL, echo_loop, NULL, s->set));
}

static int idle(weft_http_ctx *c, void *ud) {
    bench_server *s = ud;
    return upgraded(weft_ws_upgrade_go(c, &no_deflate, NULL, read_loop, NULL, s->set));
}

static int sub(weft_http_ctx *c, void *ud) {
    bench_server *s = ud;
    weft_ws_config cfg = {.queue_policy = WEFT_WS_QUEUE_DROP_OLDEST, .max_queue = 256 * 1024};
    return upgraded(weft_ws_upgrade_go(c, &no_deflate, &cfg, sub_loop, s, s->set));
}

static int pub(weft_http_ctx *c, void *ud) {
    bench_server *s = ud;
    return upgraded(weft_ws_upgrade_go(c, &no_deflate, NULL, pub_loop, s, s->set));
}

static void serve(void *arg) {
    bench_server *s = arg;
    s->rc = 1;
    s->hub = weft_hub_new();
    s->set = weft_ws_set_new();
    weft_http_router *r = weft_http_router_new();
    if (!s->hub || !s->set || !r) {
        fprintf(stderr, "ws_server: out of memory\n");
        goto out;
    }
    weft_http_route(r, "GET", "/echo", echo, s);
    weft_http_route(r, "GET", "/idle", idle, s);
    weft_http_route(r, "GET", "/sub", sub, s);
    weft_http_route(r, "GET", "/pub", pub, s);
    weft_http_config cfg = {.host = "127.0.0.1", .port = s->port, .handle_signals = 1};
    int err = 0;
    weft_http_server *srv = weft_http_server_new(&cfg, r, &err);
    if (!srv) {
        fprintf(stderr, "ws_server: cannot listen on 127.0.0.1:%d: %s\n", s->port,
                weft_strerror(err));
        goto out;
    }
    printf("ws_server listening on 127.0.0.1:%d\n", weft_http_server_port(srv));
    fflush(stdout);
    weft_http_serve(srv);
    weft_ws_set_close(s->set, WEFT_WS_GOING_AWAY, "server shutting down", weft_deadline_in(1000));
    weft_http_server_free(srv);
    s->rc = 0;
out:
    weft_http_router_free(r);
    weft_hub_free(s->hub);
    if (s->set && weft_ws_set_count(s->set) == 0) weft_ws_set_free(s->set);
}

int main(int argc, char **argv) {
    bench_server s = {.port = 18200};
    for (int i = 1; i < argc; i++) {
        int64_t p = 0;
        if (strcmp(argv[i], "--port") == 0 && i + 1 < argc &&
            weft_str_to_i64(weft_str_c(argv[i + 1]), &p) == 0 && p >= 0 && p <= 65535) {
            s.port = (int)p;
            i++;
            continue;
        }
        fprintf(stderr, "usage: ws_server [--port N]   (0..65535, 0 = any free port)\n");
        return 2;
    }
    int rc = weft_main(serve, &s, NULL);
    if (rc) {
        fprintf(stderr, "ws_server: runtime: %s\n", weft_strerror(rc));
        return 1;
    }
    return s.rc;
}
