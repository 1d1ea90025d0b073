/*
 * tests/unit/ws_hub.c — src/http/ws_hub.c and src/http/sse.c: topics, one
 * message framed once and shared by every subscriber (WebSocket connections
 * of the real HTTP server, channels, SSE streams), automatic unsubscribe on
 * close, slow subscribers that never stall the publisher, the broker seam,
 * and the event-stream format.
 */
#include "test.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "weft/sse.h"
#include "weft/ws.h"
#include "http/ws_int.h"

typedef struct tsrv {
    weft_http_router *r;
    weft_http_server *s;
    weft_group g;
    int port;
    _Atomic int serve_rc;
    weft_hub *hub;
    weft_ws_config cfg;
    weft_ws_server_opts opts; /* the upgrade's negotiation options */
    _Atomic int sse_done;
    char last_event_id[64];
    /* /sync/{topic}: the messages queued as the initial state (WEFT_WS_SEND_SYNC) */
    weft_hub_msg **sync;
    int nsync;
    /* the server's side of the first connections, in the order they were
     * subscribed (set before subscribing: a test reads them once
     * wait_subs counted them) */
    weft_ws *srv_ws[4];
    _Atomic int nsrv_ws;
} tsrv;

static tsrv *g_srv;

static void serve_task(void *a) {
    tsrv *t = a;
    atomic_store(&t->serve_rc, weft_http_serve(t->s));
}

/* A WebSocket that is queued sync[0..nsync) as its initial state (by
 * reference, outside max_queue), then subscribed to the route's {topic},
 * and reads until closed. */
static int serve_sub(weft_http_ctx *c, weft_hub_msg **sync, int nsync) {
    int err;
    weft_ws *ws = weft_ws_upgrade(c, &g_srv->opts, &g_srv->cfg, &err);
    if (!ws) return err == WEFT_EPARSE ? 0 : err;
    char topic[64];
    weft_str tp = weft_http_param(c, "topic");
    snprintf(topic, sizeof topic, "%.*s", (int)tp.n, tp.p);
    int rc = 0;
    for (int i = 0; i < nsync && !rc; i++) rc = weft_ws_send_msg(ws, sync[i], WEFT_WS_SEND_SYNC);
    int slot = atomic_fetch_add(&g_srv->nsrv_ws, 1);
    if (slot < 4) g_srv->srv_ws[slot] = ws;
    if (!rc) weft_hub_subscribe_ws(g_srv->hub, topic, ws);
    weft_buf m;
    weft_buf_init(&m, 0);
    while (weft_ws_recv(ws, &m, -1) > 0) {}
    weft_buf_free(&m);
    weft_ws_free(ws);
    return 0;
}

/* /sub/{topic}: a WebSocket subscribed to topic that reads until closed. */
static int h_sub(weft_http_ctx *c, void *ud) {
    (void)ud;
    return serve_sub(c, NULL, 0);
}

/* /sync/{topic}: the same, with g_srv->sync[] as its initial state. */
static int h_sync(weft_http_ctx *c, void *ud) {
    (void)ud;
    return serve_sub(c, g_srv->sync, g_srv->nsync);
}

/* /events/{topic}: an SSE stream of topic. */
static int h_events(weft_http_ctx *c, void *ud) {
    (void)ud;
    weft_str last = weft_sse_last_event_id(c);
    snprintf(g_srv->last_event_id, sizeof g_srv->last_event_id, "%.*s", (int)last.n,
             last.p ? last.p : "");
    char topic[64];
    weft_str tp = weft_http_param(c, "topic");
    snprintf(topic, sizeof topic, "%.*s", (int)tp.n, tp.p);
    int rc = weft_hub_serve_sse(c, g_srv->hub, topic, 100);
    atomic_fetch_add(&g_srv->sse_done, 1);
    return rc;
}

static int start(tsrv *t, const weft_ws_config *cfg) {
    memset(t, 0, sizeof *t);
    if (cfg) t->cfg = *cfg;
    t->hub = weft_hub_new();
    t->r = weft_http_router_new();
    weft_http_route(t->r, "GET", "/sub/{topic}", h_sub, NULL);
    weft_http_route(t->r, "GET", "/events/{topic}", h_events, NULL);
    weft_http_route(t->r, "GET", "/sync/{topic}", h_sync, NULL);
    atomic_init(&t->serve_rc, 12345);
    weft_group_init(&t->g);
    weft_http_config hc = {.port = 0, .shutdown_timeout_ms = 3000};
    int err = 0;
    t->s = weft_http_server_new(&hc, t->r, &err);
    if (!t->s) return err;
    t->port = weft_http_server_port(t->s);
    g_srv = t;
    return weft_group_go(&t->g, serve_task, t, "serve");
}

static int stop(tsrv *t) {
    weft_http_server_stop(t->s);
    int jr = test_join(&t->g, test_slack_ms(10000));
    int rc = jr ? jr : atomic_load(&t->serve_rc);
    weft_http_server_free(t->s);
    weft_http_router_free(t->r);
    weft_hub_free(t->hub);
    return rc;
}

static weft_ws *sub(tsrv *t, const char *topic, const weft_ws_client_opts *o) {
    char url[128];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d/sub/%s", t->port, topic);
    int err;
    return weft_ws_dial(url, o, NULL, weft_deadline_in(5000), &err, NULL);
}

/* Waits until the hub counts n subscribers. */
static int wait_subs(weft_hub *h, size_t n) {
    for (int i = 0; i < 500; i++) {
        weft_hub_stats st;
        weft_hub_get_stats(h, &st);
        if (st.subscribers == n) return 0;
        weft_sleep(10);
    }
    return -1;
}

typedef struct pub_arg {
    weft_hub *hub;
    int from, count;
} pub_arg;

static void publish_range(pub_arg *a) {
    char msg[64];
    for (int i = a->from; i < a->from + a->count; i++) {
        int n = snprintf(msg, sizeof msg, "update %d", i);
        weft_hub_publish(a->hub, "fleet", WEFT_WS_TEXT, 0, msg, (size_t)n);
    }
}
static void *pub_thread(void *a) {
    publish_range(a);
    return NULL;
}

/* Five subscribers: two plain, two that let the server compress without
 * context takeover (so they share one compressed frame per message), one
 * that asked for deflate with context takeover (it gets the plain frame);
 * 200 messages, half from a plain thread, then half from a task: every
 * subscriber gets all of them, in order. *frames and *deflated: the hub
 * frames made and the compressions run meanwhile (weft__hub_frame_counts;
 * 0 when the fan-out failed). */
static void fan_out_to_five(uint64_t *frames, uint64_t *deflated) {
    *frames = *deflated = 0;
    tsrv t;
    ASSERT_EQ(start(&t, NULL), 0);
    weft_ws *c[5];
    weft_ws_client_opts z = {.deflate = 1, .deflate_server_no_context_takeover = 1};
    weft_ws_client_opts zc = {.deflate = 1};
    for (int i = 0; i < 5; i++) {
        c[i] = sub(&t, "fleet", i == 2 || i == 3 ? &z : i == 4 ? &zc : NULL);
        ASSERT(c[i] != NULL);
    }
    ASSERT_EQ(wait_subs(t.hub, 5), 0);
    uint64_t frames0, deflated0, frames1, deflated1;
    weft__hub_frame_counts(&frames0, &deflated0);
    pub_arg a = {t.hub, 0, 100}, b = {t.hub, 100, 100};
    pthread_t th;
    ASSERT_EQ(pthread_create(&th, NULL, pub_thread, &a), 0);
    pthread_join(th, NULL);
    publish_range(&b);
    weft_buf m;
    weft_buf_init(&m, 0);
    for (int i = 0; i < 5; i++) {
        for (int k = 0; k < 200; k++) {
            ASSERT_EQ(weft_ws_recv(c[i], &m, weft_deadline_in(test_slack_ms(5000))), WEFT_WS_TEXT);
            char want[64];
            int n = snprintf(want, sizeof want, "update %d", k);
            ASSERT_EQ(m.len, (size_t)n);
            ASSERT_MEMEQ(m.data, want, (size_t)n);
        }
    }
    /* every message written to every subscriber: every compression ran */
    weft__hub_frame_counts(&frames1, &deflated1);
    weft_hub_stats st;
    weft_hub_get_stats(t.hub, &st);
    ASSERT_EQ(st.published, 200);
    ASSERT_EQ(st.delivered, 1000);
    ASSERT_EQ(st.dropped, 0);
    weft_buf_free(&m);
    for (int i = 0; i < 5; i++) {
        weft_ws_close(c[i], WEFT_WS_NORMAL, NULL);
        weft_ws_free(c[i]);
    }
    ASSERT_EQ(stop(&t), 0);
    *frames = frames1 - frames0;
    *deflated = deflated1 - deflated0;
}

/* On the default workers: one frame per message. A compression per
 * message and per worker thread at most: a thread that compressed a
 * message (or lost the race to publish its copy) finds it made from then
 * on, so only writers on different threads that look at once both run it. */
TEST(hub_fan_out_to_websockets_in_order) {
    uint64_t frames, deflated;
    fan_out_to_five(&frames, &deflated);
    ASSERT_EQ(frames, 200);
    ASSERT_GE(deflated, 200);
    ASSERT_LE(deflated, 200 * (uint64_t)weft_workers());
}

/* Framed once and compressed once (issue 10: "framed (and compressed)
 * once, shared"), counted: byte comparisons could not tell, since zlib is
 * deterministic and a copy compressed per subscriber has the same bytes.
 * On one worker, where no two writers can race to compress a message, the
 * 200 messages to five subscribers (two compressing) are 200 frames and
 * 200 compressions. */
static void framed_once_main(void *arg) {
    (void)arg;
    uint64_t frames, deflated;
    fan_out_to_five(&frames, &deflated);
    ASSERT_EQ(frames, 200);
    ASSERT_EQ(deflated, 200);
}

TEST_PLAIN(hub_message_framed_once_and_compressed_once) {
    weft_config cfg = {.workers = 1};
    ASSERT_EQ(test_main_watched("hub_message_framed_once_and_compressed_once", framed_once_main,
                                NULL, &cfg),
              0);
}

/* A message's bytes: its index, then bytes that depend on index and position. */
static size_t late_size(int i) { return 64 + (size_t)(i * 7919) % 40000; }
static void late_fill(char *p, size_t n, int i) {
    snprintf(p, 9, "%08d", i);
    for (size_t k = 8; k < n; k++) p[k] = (char)('a' + (i * 7 + k) % 26);
}

/* The hub drops its reference to a message once it is queued (before any
 * writer ran); the queued items hold the frame until each subscriber's
 * writer has written it from there. Three subscribers (one compressed) that
 * read only after 200 messages of 64 B to 40 KB (about 4 MB each) were
 * published: each gets every message whole and in order (under ASan, a
 * frame freed before its last write would show). */
TEST(hub_message_lives_until_the_last_subscriber_wrote_it) {
    weft_ws_config cfg = {.max_queue = 16 << 20};
    tsrv t;
    ASSERT_EQ(start(&t, &cfg), 0);
    weft_ws *c[3];
    weft_ws_client_opts z = {.deflate = 1, .deflate_server_no_context_takeover = 1};
    weft_ws_config ccfg = {.max_message = 1 << 20};
    for (int i = 0; i < 3; i++) {
        char url[128];
        snprintf(url, sizeof url, "ws://127.0.0.1:%d/sub/late", t.port);
        int err;
        c[i] = weft_ws_dial(url, i == 2 ? &z : NULL, &ccfg, weft_deadline_in(5000), &err, NULL);
        ASSERT(c[i] != NULL);
    }
    ASSERT_EQ(wait_subs(t.hub, 3), 0);
    enum { N = 200 };
    char *p = malloc(40064);
    ASSERT(p);
    for (int i = 0; i < N; i++) {
        late_fill(p, late_size(i), i);
        ASSERT_EQ(weft_hub_publish(t.hub, "late", WEFT_WS_BINARY, 0, p, late_size(i)), 3);
    }
    weft_sleep(100);
    weft_buf m;
    weft_buf_init(&m, 0);
    for (int k = 0; k < 3; k++) {
        for (int i = 0; i < N; i++) {
            ASSERT_EQ(weft_ws_recv(c[k], &m, weft_deadline_in(test_slack_ms(10000))), WEFT_WS_BINARY);
            late_fill(p, late_size(i), i);
            ASSERT_EQ(m.len, late_size(i));
            ASSERT_MEMEQ(m.data, p, m.len);
        }
    }
    free(p);
    weft_buf_free(&m);
    for (int i = 0; i < 3; i++) {
        weft_ws_close(c[i], WEFT_WS_NORMAL, NULL);
        weft_ws_free(c[i]);
    }
    ASSERT_EQ(stop(&t), 0);
}

/* A viewer of its own: the handshake with the offer a browser makes
 * ("permessage-deflate; client_max_window_bits", no
 * server_no_context_takeover), then the raw bytes of the frames. */
typedef struct raw_viewer {
    int fd;
    weft_ws_handshake hs;
    weft_buf in; /* bytes after the response head */
} raw_viewer;

/* The client's side of an upgrade to target on a connected socket: the
 * request, then the response head read into *in, where the bytes after the
 * head stay. 0 with *hs filled, or a negative code. */
static int raw_upgrade(int fd, const char *target, const weft_ws_client_opts *co,
                       weft_ws_handshake *hs, weft_buf *in) {
    char key[25];
    weft_ws_client_key(key);
    weft_buf req;
    weft_buf_init(&req, 0);
    int rc = weft_ws_client_request(&req, "127.0.0.1", target, key, co);
    int64_t dl = weft_deadline_in(test_slack_ms(5000));
    if (!rc && weft_write_all(fd, req.data, req.len, dl) != (ssize_t)req.len) rc = WEFT_EIO;
    weft_buf_free(&req);
    for (int head = WEFT_EAGAIN; !rc && head == WEFT_EAGAIN;) {
        if (weft_buf_reserve(in, 4096)) return WEFT_ENOMEM;
        ssize_t r = weft_read(fd, in->data + in->len, 4096, dl);
        if (r <= 0) return WEFT_EIO;
        in->len += (size_t)r;
        const char *why;
        head = weft_ws_client_response(in->data, in->len, key, co, hs, &why);
        if (head > 0)
            weft_buf_consume(in, (size_t)head);
        else if (head != WEFT_EAGAIN) rc = head;
    }
    return rc;
}

static int raw_viewer_open(raw_viewer *v, int port, const char *topic) {
    memset(v, 0, sizeof *v);
    weft_buf_init(&v->in, 0);
    v->fd = weft_tcp_connect("127.0.0.1", port, weft_deadline_in(5000));
    if (v->fd < 0) return v->fd;
    weft_ws_client_opts co = {.deflate = 1};
    char target[64];
    snprintf(target, sizeof target, "/sub/%s", topic);
    return raw_upgrade(v->fd, target, &co, &v->hs, &v->in);
}

/* Reads until buf holds n whole frames; 0 when it does. */
static int raw_viewer_frames(raw_viewer *v, int n) {
    int64_t dl = weft_deadline_in(test_slack_ms(5000));
    for (;;) {
        size_t at = 0;
        int have = 0;
        weft_ws_frame f;
        for (int h; have < n && (h = weft_ws_frame_parse(v->in.data + at, v->in.len - at, &f)) > 0 &&
                    v->in.len - at - (size_t)h >= f.len;
             have++)
            at += (size_t)h + f.len;
        if (have == n) return 0;
        if (weft_buf_reserve(&v->in, 65536)) return WEFT_ENOMEM;
        ssize_t r = weft_read(v->fd, v->in.data + v->in.len, 65536, dl);
        if (r <= 0) return WEFT_EIO;
        v->in.len += (size_t)r;
    }
}

/* RFC 7692 §7.1.1.1 end to end: with deflate_server_no_context_takeover the
 * server agrees it with two viewers that offered deflate the way browsers do;
 * each hub message then reaches both as one compressed frame (RSV1), the same
 * bytes at both (made once, shared), and inflates to the whole message. */
TEST(hub_compressed_frame_shared_with_browser_style_offers) {
    tsrv t;
    ASSERT_EQ(start(&t, NULL), 0);
    t.opts.deflate_server_no_context_takeover = 1;
    raw_viewer v[2];
    for (int i = 0; i < 2; i++) {
        ASSERT_EQ(raw_viewer_open(&v[i], t.port, "fleet"), 0);
        ASSERT_EQ(v[i].hs.deflate, 1);
        ASSERT_EQ(v[i].hs.params.server_no_context_takeover, 1);
    }
    ASSERT_EQ(wait_subs(t.hub, 2), 0);
    enum { NMSG = 20 };
    weft_buf want[NMSG];
    for (int k = 0; k < NMSG; k++) {
        weft_buf_init(&want[k], 0);
        weft_buf_printf(&want[k], "{\"seq\":%d,\"updates\":[", k);
        for (int d = 0; d < 60; d++)
            weft_buf_printf(&want[k], "%s{\"id\":\"dev-%04d\",\"lat\":48.%06d,\"lon\":2.%06d}",
                            d ? "," : "", d, d * 7919 + k, d * 104729 + k);
        weft_buf_appends(&want[k], "]}");
        ASSERT_EQ(weft_hub_publish(t.hub, "fleet", WEFT_WS_TEXT, 0, want[k].data, want[k].len), 2);
    }
    for (int i = 0; i < 2; i++) ASSERT_EQ(raw_viewer_frames(&v[i], NMSG), 0);
    ASSERT_EQ(v[0].in.len, v[1].in.len);
    ASSERT_MEMEQ(v[0].in.data, v[1].in.data, v[0].in.len);
    size_t wire = 0, plain = 0;
    for (int i = 0; i < 2; i++) {
        weft_ws_rx rx;
        weft_ws_rx_init(&rx, WEFT_WS_CLIENT, 0);
        ASSERT_EQ(weft_ws_rx_enable_deflate(&rx, &v[i].hs.params), 0);
        size_t at = 0;
        for (int k = 0; k < NMSG; k++) {
            weft_ws_frame f;
            ASSERT_GT(weft_ws_frame_parse(v[i].in.data + at, v[i].in.len - at, &f), 0);
            ASSERT_EQ(f.rsv, 4); /* RSV1: compressed */
            ASSERT_EQ(f.fin, 1);
            weft_ws_event ev;
            size_t used;
            ASSERT_EQ(weft_ws_rx_feed(&rx, v[i].in.data + at, v[i].in.len - at, &used, &ev),
                      WEFT_WS_EV_MESSAGE);
            ASSERT_EQ(used, f.head_len + f.len);
            ASSERT_EQ(ev.data.n, want[k].len);
            ASSERT_MEMEQ(ev.data.p, want[k].data, want[k].len);
            at += used;
            wire += used;
            plain += want[k].len;
        }
        ASSERT_EQ(at, v[i].in.len);
        weft_ws_rx_free(&rx);
    }
    ASSERT_LT(wire * 2, plain); /* compressed to under half */
    /* no context takeover: each message inflates alone, with a fresh context
     * (the per-thread deflater resets between messages) */
    size_t at = 0;
    for (int k = 0; k < NMSG; k++) {
        weft_ws_rx rx;
        weft_ws_rx_init(&rx, WEFT_WS_CLIENT, 0);
        ASSERT_EQ(weft_ws_rx_enable_deflate(&rx, &v[0].hs.params), 0);
        weft_ws_event ev;
        size_t used;
        ASSERT_EQ(weft_ws_rx_feed(&rx, v[0].in.data + at, v[0].in.len - at, &used, &ev),
                  WEFT_WS_EV_MESSAGE);
        ASSERT_EQ(ev.data.n, want[k].len);
        ASSERT_MEMEQ(ev.data.p, want[k].data, want[k].len);
        at += used;
        weft_ws_rx_free(&rx);
    }
    for (int k = 0; k < NMSG; k++) weft_buf_free(&want[k]);
    for (int i = 0; i < 2; i++) {
        weft_close(v[i].fd);
        weft_buf_free(&v[i].in);
    }
    ASSERT_EQ(stop(&t), 0);
}

/* A subscriber that closed is gone from its topic at the next publish. */
TEST(hub_unsubscribes_closed_connections) {
    tsrv t;
    ASSERT_EQ(start(&t, NULL), 0);
    weft_ws *a = sub(&t, "room", NULL), *b = sub(&t, "room", NULL);
    ASSERT(a && b);
    ASSERT_EQ(wait_subs(t.hub, 2), 0);
    ASSERT_EQ(weft_ws_close(a, WEFT_WS_NORMAL, NULL), 0);
    weft_ws_free(a);
    weft_sleep(50);
    ASSERT_EQ(weft_hub_publish(t.hub, "room", WEFT_WS_TEXT, 0, "x", 1), 1);
    weft_hub_stats st;
    weft_hub_get_stats(t.hub, &st);
    ASSERT_EQ(st.subscribers, 1);
    ASSERT_EQ(weft_hub_publish(t.hub, "nobody-here", WEFT_WS_TEXT, 0, "x", 1), 0);
    ASSERT_ERR(weft_hub_publish(t.hub, "room", WEFT_WS_TEXT, 0, "\xFF", 1), WEFT_EINVAL);
    weft_ws_close(b, WEFT_WS_NORMAL, NULL);
    weft_ws_free(b);
    ASSERT_EQ(stop(&t), 0);
}

/* One subscriber never reads: its queue drops the oldest, the publisher
 * never waits, the others get everything. No clock: the messages add up
 * to more than the loopback socket buffers of the slow connection can
 * hold (the server's send buffer grows to tcp_wmem's max, 4 MB by default;
 * the receive buffer of a socket that never reads stays near tcp_rmem's
 * default, 128 KB: autotuning grows it only as the reader reads), so a
 * publisher that waited for that connection would wait for ever and the
 * test would end at its timeout. */
TEST(hub_slow_subscriber_never_stalls_the_publisher) {
    weft_ws_config cfg = {.max_queue = 32 * 1024, .queue_policy = WEFT_WS_QUEUE_DROP_OLDEST};
    tsrv t;
    ASSERT_EQ(start(&t, &cfg), 0);
    /* the slow one: a raw socket that upgrades and then reads nothing */
    int fd = weft_tcp_connect("127.0.0.1", t.port, weft_deadline_in(5000));
    ASSERT_GE(fd, 0);
    char key[25];
    weft_ws_client_key(key);
    weft_buf req;
    weft_buf_init(&req, 0);
    weft_ws_client_request(&req, "x", "/sub/feed", key, NULL);
    weft_write_all(fd, req.data, req.len, weft_deadline_in(5000));
    weft_buf_free(&req);
    weft_ws *fast = sub(&t, "feed", NULL);
    ASSERT(fast != NULL);
    ASSERT_EQ(wait_subs(t.hub, 2), 0);
    static char msg[16384];
    memset(msg, 'm', sizeof msg);
    int n = (int)test_scale_min(3000, 1000); /* 16 MB at least */
    weft_buf m;
    weft_buf_init(&m, 0);
    for (int i = 0; i < n; i++) {
        ASSERT_EQ(weft_hub_publish(t.hub, "feed", WEFT_WS_BINARY, 0, msg, sizeof msg), 2);
        /* the fast one keeps up */
        ASSERT_EQ(weft_ws_recv(fast, &m, weft_deadline_in(test_slack_ms(5000))), WEFT_WS_BINARY);
        ASSERT_EQ(m.len, sizeof msg);
    }
    weft_hub_stats st;
    weft_hub_get_stats(t.hub, &st);
    ASSERT_EQ(st.delivered, 2 * (uint64_t)n); /* queued to both: the slow one drops old ones */
    weft_buf_free(&m);
    weft_close(fd);
    weft_ws_close(fast, WEFT_WS_NORMAL, NULL);
    weft_ws_free(fast);
    ASSERT_EQ(stop(&t), 0);
}

/* weft_hub_publish_flags(WEFT_WS_SEND_KEEP): a subscriber that falls far
 * behind drops the plain messages of the topic but gets every kept one, in
 * order; a flag the hub does not know is refused. */
TEST(hub_kept_messages_reach_a_subscriber_that_falls_behind) {
    weft_ws_config cfg = {.max_queue = 32 * 1024, .queue_policy = WEFT_WS_QUEUE_DROP_OLDEST};
    tsrv t;
    ASSERT_EQ(start(&t, &cfg), 0);
    ASSERT_ERR(weft_hub_publish_flags(t.hub, "feed", WEFT_WS_TEXT, 0, WEFT_WS_SEND_SYNC, "x", 1), WEFT_EINVAL);
    weft_ws *slow = sub(&t, "feed", NULL); /* reads only once the publishing is over */
    ASSERT(slow != NULL);
    ASSERT_EQ(wait_subs(t.hub, 1), 0);
    static char msg[4096];
    memset(msg, 'm', sizeof msg);
    int n = (int)test_scale_min(4000, 2000), kept = 0;
    for (int i = 0; i < n; i++) {
        if (i % 50 == 0) {
            char k[32];
            int kn = snprintf(k, sizeof k, "K%d", kept++);
            ASSERT_EQ(weft_hub_publish_flags(t.hub, "feed", WEFT_WS_TEXT, 0, WEFT_WS_SEND_KEEP, k, (size_t)kn), 1);
        } else {
            ASSERT_EQ(weft_hub_publish(t.hub, "feed", WEFT_WS_BINARY, 0, msg, sizeof msg), 1);
        }
        if (i % 64 == 0) weft_yield();
    }
    ASSERT_EQ(weft_hub_publish_flags(t.hub, "feed", WEFT_WS_TEXT, 0, WEFT_WS_SEND_KEEP, "end", 3), 1);
    weft_buf m;
    weft_buf_init(&m, 0);
    int got = 0, plain = 0, op;
    while ((op = weft_ws_recv(slow, &m, weft_deadline_in(test_slack_ms(5000)))) > 0) {
        if (op == WEFT_WS_BINARY) {
            plain++;
            continue;
        }
        if (weft_str_eq((weft_str){m.data, m.len}, WEFT_STR("end"))) break;
        char want[32];
        snprintf(want, sizeof want, "K%d", got++);
        ASSERT(weft_str_eq((weft_str){m.data, m.len}, weft_str_c(want)));
    }
    ASSERT_EQ(op, WEFT_WS_TEXT);
    ASSERT_EQ(got, kept);
    ASSERT_LT(plain, n - kept); /* the plain ones did drop */
    weft_buf_free(&m);
    weft_ws_close(slow, WEFT_WS_NORMAL, NULL);
    weft_ws_free(slow);
    ASSERT_EQ(stop(&t), 0);
}

/* The most bytes the socket of a server connection can take and never
 * deliver to a client that does not read: the server's send buffer, which
 * the kernel grows up to tcp_wmem's third value and no further (weft sets
 * no SO_SNDBUF), plus 1 MiB for lagging_sub's small receive buffer and what
 * one send may put past the send buffer's limit (a packet, at most 64 KiB
 * on loopback). 0 when /proc does not say. */
static size_t socket_can_hold(void) {
    FILE *f = fopen("/proc/sys/net/ipv4/tcp_wmem", "r");
    long lo, def, max = 0;
    if (!f) return 0;
    if (fscanf(f, "%ld %ld %ld", &lo, &def, &max) != 3) max = 0;
    fclose(f);
    return max > 0 ? (size_t)max + (1 << 20) : 0;
}

/* A subscriber of /sync/{topic} whose socket has a small receive buffer
 * (set before it connects, so the window it offers stays small): our
 * client, adopted after a raw handshake. NULL on failure. */
static weft_ws *lagging_sub(tsrv *t, const char *topic, size_t max_message) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return NULL;
    int rb = 4096;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rb, sizeof rb);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)t->port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    char target[64];
    snprintf(target, sizeof target, "/sync/%s", topic);
    weft_ws_client_opts co = {0};
    weft_ws_handshake hs;
    weft_buf in;
    weft_buf_init(&in, 0);
    weft_ws *ws = NULL;
    if (!weft_connect(fd, &a, sizeof a, weft_deadline_in(5000)) &&
        !raw_upgrade(fd, target, &co, &hs, &in)) {
        weft_ws_config cc = {.max_message = max_message};
        int err;
        ws = weft_ws_adopt(fd, WEFT_WS_CLIENT, in.data, in.len, NULL, &cc, &err);
        fd = -1; /* the connection's now, also on failure */
    }
    if (fd >= 0) weft_close(fd);
    weft_buf_free(&in);
    return ws;
}

/* weft_hub_publish_split: a subscriber that keeps up (it read everything)
 * gets the message whole; one that lags (its queue holds more than a
 * quarter of max_queue) gets the parts instead, in order, each under its
 * own flags: the droppable part goes when more traffic overflows the queue,
 * the kept one arrives. Neither gets both.
 *
 * The slow one lags by construction, not by timing: its initial state is a
 * small message and then one larger than its socket can hold
 * (socket_can_hold), and it reads nothing until the end. The small one
 * keeps the writer role (on the worker's ring, or queued) while the large
 * one is queued, so the queue's held bytes count the large one until a
 * writer takes it; once held is 0, that writer waits for a reader that
 * does not read, and takes nothing more off the queue: what is published
 * after it stays queued (or is dropped by the policy), however late any
 * task runs. */
TEST(hub_split_whole_to_a_reader_parts_to_one_that_lags) {
    /* the slow one's writer waits from the state's large message to the
     * end of the test: a write timeout longer than any run */
    weft_ws_config cfg = {.max_queue = 32 * 1024,
                          .queue_policy = WEFT_WS_QUEUE_DROP_OLDEST,
                          .write_timeout_ms = 10 * 60 * 1000};
    tsrv t;
    ASSERT_EQ(start(&t, &cfg), 0);
    weft_hub_part bad = {"x", 1, WEFT_WS_SEND_SYNC};
    ASSERT_ERR(weft_hub_publish_split(t.hub, "feed", WEFT_WS_TEXT, "W", 1, &bad, 1), WEFT_EINVAL);
    ASSERT_ERR(weft_hub_publish_split(t.hub, "feed", WEFT_WS_TEXT, "W", 1, &bad, 0), WEFT_EINVAL);
    size_t big_n = socket_can_hold();
    ASSERT_GT(big_n, 0);
    char *big_state = calloc(1, big_n);
    ASSERT(big_state != NULL);
    weft_hub_msg *state[2] = {weft_hub_msg_new(WEFT_WS_BINARY, "s", 1),
                              weft_hub_msg_new(WEFT_WS_BINARY, big_state, big_n)};
    free(big_state);
    ASSERT(state[0] && state[1]);
    t.sync = state, t.nsync = 2;
    weft_ws *slow = lagging_sub(&t, "feed", big_n + 1024); /* reads only at the end */
    ASSERT(slow != NULL);
    ASSERT_EQ(wait_subs(t.hub, 1), 0);
    weft_ws *fast = sub(&t, "feed", NULL);
    ASSERT(fast != NULL);
    ASSERT_EQ(wait_subs(t.hub, 2), 0);
    weft_ws *slow_srv = t.srv_ws[0], *fast_srv = t.srv_ws[1];
    /* the state was queued before the subscription: wait until a writer
     * took the large message (no more held bytes) */
    weft_ws_stats st = {0};
    int64_t dl = weft_deadline_in(test_slack_ms(5000));
    for (weft_ws_get_stats(slow_srv, &st); st.held && weft_now() < dl;
         weft_ws_get_stats(slow_srv, &st))
        weft_sleep(1);
    ASSERT_EQ(st.held, 0);
    ASSERT_EQ(st.queued, 0);
    static char fill[4096];
    memset(fill, 'f', sizeof fill);
    weft_buf m;
    weft_buf_init(&m, 0);
    /* droppable traffic until the slow one's queue holds over a quarter
     * (at the third message: nothing leaves it now); the fast one reads
     * every message */
    for (int i = 0; i < 64 && st.queued <= cfg.max_queue / 4; i++) {
        ASSERT_EQ(weft_hub_publish(t.hub, "feed", WEFT_WS_BINARY, 0, fill, sizeof fill), 2);
        ASSERT_EQ(weft_ws_recv(fast, &m, weft_deadline_in(test_slack_ms(5000))), WEFT_WS_BINARY);
        weft_ws_get_stats(slow_srv, &st);
    }
    ASSERT_GT(st.queued, cfg.max_queue / 4);
    weft_ws_get_stats(fast_srv, &st);
    ASSERT_EQ(st.queued, 0);
    weft_hub_part parts[2] = {{"P", 1, 0}, {"E", 1, WEFT_WS_SEND_KEEP}};
    ASSERT_EQ(weft_hub_publish_split(t.hub, "feed", WEFT_WS_TEXT, "W", 1, parts, 2), 2);
    ASSERT_EQ(weft_ws_recv(fast, &m, weft_deadline_in(test_slack_ms(5000))), WEFT_WS_TEXT);
    ASSERT(m.len == 1 && m.data[0] == 'W');
    /* a queue's worth more: the slow one's droppable part goes, its kept one stays */
    for (int i = 0; i < 2 * 32 * 1024 / (int)sizeof fill; i++) {
        ASSERT_EQ(weft_hub_publish(t.hub, "feed", WEFT_WS_BINARY, 0, fill, sizeof fill), 2);
        ASSERT_EQ(weft_ws_recv(fast, &m, weft_deadline_in(test_slack_ms(5000))), WEFT_WS_BINARY);
    }
    ASSERT_EQ(weft_hub_publish_flags(t.hub, "feed", WEFT_WS_TEXT, 0, WEFT_WS_SEND_KEEP, "end", 3), 2);
    int op, whole = 0, pos = 0, ev = 0;
    while ((op = weft_ws_recv(slow, &m, weft_deadline_in(test_slack_ms(5000)))) > 0) {
        if (op != WEFT_WS_TEXT) continue;
        if (m.len == 3 && !memcmp(m.data, "end", 3)) break;
        whole += m.data[0] == 'W', pos += m.data[0] == 'P', ev += m.data[0] == 'E';
    }
    ASSERT_EQ(op, WEFT_WS_TEXT);
    ASSERT_EQ(whole, 0);
    ASSERT_EQ(pos, 0); /* dropped with the droppable traffic around it */
    ASSERT_EQ(ev, 1);
    weft_ws_get_stats(slow_srv, &st);
    ASSERT_GT(st.dropped, 0);
    /* a whole message over a quarter of the queue goes in parts even to
     * the reader (kept, it alone could take the room of the parts), also
     * one over the whole queue (not refused with WEFT_ELIMIT) */
    ASSERT_EQ(weft_ws_recv(fast, &m, weft_deadline_in(test_slack_ms(5000))), WEFT_WS_TEXT);
    ASSERT(m.len == 3 && !memcmp(m.data, "end", 3));
    static char big[32 * 1024 + 1];
    memset(big, 'W', sizeof big);
    ASSERT_EQ(weft_hub_publish_split(t.hub, "feed", WEFT_WS_TEXT, big, sizeof big, parts, 2), 2);
    ASSERT_EQ(weft_ws_recv(fast, &m, weft_deadline_in(test_slack_ms(5000))), WEFT_WS_TEXT);
    ASSERT(m.len == 1 && m.data[0] == 'P');
    ASSERT_EQ(weft_ws_recv(fast, &m, weft_deadline_in(test_slack_ms(5000))), WEFT_WS_TEXT);
    ASSERT(m.len == 1 && m.data[0] == 'E');
    weft_buf_free(&m);
    weft_ws_close(slow, WEFT_WS_NORMAL, NULL);
    weft_ws_free(slow);
    weft_ws_close(fast, WEFT_WS_NORMAL, NULL);
    weft_ws_free(fast);
    ASSERT_EQ(stop(&t), 0);
    weft_hub_msg_release(state[0]);
    weft_hub_msg_release(state[1]);
}

static weft_ws *dial_sync(tsrv *t, const char *topic) {
    char url[128];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d/sync/%s", t->port, topic);
    int err;
    weft_ws_config cc = {.max_message = 1 << 20};
    return weft_ws_dial(url, NULL, &cc, weft_deadline_in(5000), &err, NULL);
}

/* An initial state 32 times the queue limit (64 shared messages of 4 KiB,
 * max_queue 8 KiB, policy close) reaches two connections whole and in
 * order, and the topic's next message comes after it. */
TEST(ws_sync_state_larger_than_the_queue_arrives_whole) {
    weft_ws_config cfg = {.max_queue = 8 * 1024, .queue_policy = WEFT_WS_QUEUE_CLOSE};
    tsrv t;
    ASSERT_EQ(start(&t, &cfg), 0);
    enum { N = 64, SZ = 4096 };
    weft_hub_msg *sync[N];
    static char body[SZ];
    for (int i = 0; i < N; i++) {
        memset(body, 'a' + i % 26, sizeof body);
        snprintf(body, 24, "part %02d", i);
        ASSERT((sync[i] = weft_hub_msg_new(WEFT_WS_TEXT, body, sizeof body)) != NULL);
    }
    ASSERT(weft_hub_msg_new(WEFT_WS_TEXT, "\xFF", 1) == NULL);
    ASSERT(weft_hub_msg_new(WEFT_WS_PING, "x", 1) == NULL);
    t.sync = sync, t.nsync = N;
    weft_ws *c[2] = {dial_sync(&t, "after"), dial_sync(&t, "after")};
    ASSERT(c[0] && c[1]);
    ASSERT_EQ(wait_subs(t.hub, 2), 0);
    ASSERT_EQ(weft_hub_publish(t.hub, "after", WEFT_WS_TEXT, 0, "delta", 5), 2);
    weft_buf m;
    weft_buf_init(&m, 0);
    for (int k = 0; k < 2; k++) {
        for (int i = 0; i < N; i++) {
            ASSERT_EQ(weft_ws_recv(c[k], &m, weft_deadline_in(test_slack_ms(5000))), WEFT_WS_TEXT);
            ASSERT_EQ(m.len, (size_t)SZ);
            char want[24];
            snprintf(want, sizeof want, "part %02d", i);
            ASSERT_MEMEQ(m.data, want, strlen(want) + 1);
            ASSERT_EQ(m.data[SZ - 1], 'a' + i % 26);
        }
        ASSERT_EQ(weft_ws_recv(c[k], &m, weft_deadline_in(test_slack_ms(5000))), WEFT_WS_TEXT);
        ASSERT(m.len == 5 && !memcmp(m.data, "delta", 5));
    }
    weft_buf_free(&m);
    for (int i = 0; i < N; i++) weft_hub_msg_release(sync[i]);
    for (int k = 0; k < 2; k++) {
        weft_ws_close(c[k], WEFT_WS_NORMAL, NULL);
        weft_ws_free(c[k]);
    }
    ASSERT_EQ(stop(&t), 0);
}

/* The initial state is exempt, what follows it is not: a client that reads
 * nothing while 16 MiB of state is pending (more than the kernel buffers
 * take) and then 64 KiB of updates arrive is closed with 1008 "send queue
 * full" once the updates pass max_queue (the backlog, the rest of the state
 * with it, is dropped: the client starts again from a fresh state). */
TEST(ws_sync_state_then_a_reader_that_falls_behind_gets_1008) {
    weft_ws_config cfg = {.max_queue = 8 * 1024, .queue_policy = WEFT_WS_QUEUE_CLOSE};
    tsrv t;
    ASSERT_EQ(start(&t, &cfg), 0);
    enum { N = 64 };
    size_t sz = 256 * 1024;
    char *big = malloc(sz);
    ASSERT(big);
    memset(big, 's', sz);
    weft_hub_msg *m0 = weft_hub_msg_new(WEFT_WS_BINARY, big, sz);
    free(big);
    ASSERT(m0);
    weft_hub_msg *sync[N];
    for (int i = 0; i < N; i++) sync[i] = m0; /* one message, 64 references */
    t.sync = sync, t.nsync = N;
    weft_ws *c = dial_sync(&t, "deltas");
    ASSERT(c);
    ASSERT_EQ(wait_subs(t.hub, 1), 0);
    static char upd[1024];
    memset(upd, 'u', sizeof upd);
    int queued = 0;
    for (int i = 0; i < 64; i++) queued += weft_hub_publish(t.hub, "deltas", WEFT_WS_BINARY, 0, upd, sizeof upd);
    ASSERT_LT(queued, 64); /* refused once the queue was full */
    weft_buf m;
    weft_buf_init(&m, 0);
    int got = 0, rc;
    while ((rc = weft_ws_recv(c, &m, weft_deadline_in(test_slack_ms(10000)))) == WEFT_WS_BINARY) {
        if (m.len == sz) got++;
    }
    ASSERT_ERR(rc, WEFT_ECLOSED);
    const char *why = NULL;
    ASSERT_EQ(weft_ws_close_status(c, &why), WEFT_WS_POLICY);
    ASSERT(why && strstr(why, "queue full"));
    ASSERT_LE(got, N);
    weft_buf_free(&m);
    weft_hub_msg_release(m0);
    weft_ws_free(c);
    ASSERT_EQ(stop(&t), 0);
}

/* Channels subscribe too; a full one misses messages (counted), never blocks. */
TEST(hub_channel_subscribers) {
    weft_hub *h = weft_hub_new();
    weft_chan *ch = weft_chan_new(sizeof(weft_hub_msg *), 4, NULL);
    ASSERT_EQ(weft_hub_subscribe_chan(h, "t", ch), 0);
    ASSERT_ERR(weft_hub_subscribe_chan(h, "t", ch), WEFT_EEXIST);
    for (int i = 0; i < 6; i++) {
        char b[16];
        int n = snprintf(b, sizeof b, "m%d", i);
        ASSERT_EQ(weft_hub_publish(h, "t", WEFT_WS_BINARY, 0, b, (size_t)n), i < 4 ? 1 : 0);
    }
    weft_hub_stats st;
    weft_hub_get_stats(h, &st);
    ASSERT_EQ(st.dropped, 2);
    for (int i = 0; i < 4; i++) {
        weft_hub_msg *m;
        ASSERT_EQ(weft_chan_recv(ch, &m, 0), 0);
        char b[16];
        snprintf(b, sizeof b, "m%d", i);
        ASSERT(weft_str_eq(weft_hub_msg_data(m), weft_str_c(b)));
        ASSERT_EQ(weft_hub_msg_opcode(m), WEFT_WS_BINARY);
        weft_hub_msg_release(m);
    }
    ASSERT_EQ(weft_hub_unsubscribe_chan(h, "t", ch), 0);
    ASSERT_ERR(weft_hub_unsubscribe_chan(h, "t", ch), WEFT_ENOENT);
    ASSERT_EQ(weft_hub_publish(h, "t", WEFT_WS_BINARY, 0, "x", 1), 0);
    /* a closed channel is dropped from its topic */
    ASSERT_EQ(weft_hub_subscribe_chan(h, "t", ch), 0);
    weft_chan_close(ch);
    ASSERT_EQ(weft_hub_publish(h, "t", WEFT_WS_BINARY, 0, "x", 1), 0);
    weft_hub_get_stats(h, &st);
    ASSERT_EQ(st.subscribers, 0);
    weft_chan_free(ch);
    weft_hub_free(h);
}

/* WEFT_HUB_CHAN_CLOSE_WHEN_FULL: a message a full channel cannot take closes
 * it (unsubscribed, counted as dropped) instead of leaving a gap: its
 * receiver gets everything before it, then WEFT_ECLOSED. */
TEST(hub_channel_closed_when_full) {
    weft_hub *h = weft_hub_new();
    weft_chan *ch = weft_chan_new(sizeof(weft_hub_msg *), 2, NULL);
    ASSERT_ERR(weft_hub_subscribe_chan_flags(h, "t", ch, 2), WEFT_EINVAL);
    ASSERT_EQ(weft_hub_subscribe_chan_flags(h, "t", ch, WEFT_HUB_CHAN_CLOSE_WHEN_FULL), 0);
    ASSERT_EQ(weft_hub_publish(h, "t", WEFT_WS_TEXT, 0, "a", 1), 1);
    ASSERT_EQ(weft_hub_publish(h, "t", WEFT_WS_TEXT, 0, "b", 1), 1);
    ASSERT_EQ(weft_hub_publish_flags(h, "t", WEFT_WS_TEXT, 0, WEFT_WS_SEND_KEEP, "c", 1), 0);
    ASSERT_EQ(weft_hub_publish(h, "t", WEFT_WS_TEXT, 0, "d", 1), 0);
    weft_hub_stats st;
    weft_hub_get_stats(h, &st);
    ASSERT_EQ(st.dropped, 1);
    ASSERT_EQ(st.subscribers, 0);
    weft_hub_msg *m;
    for (int i = 0; i < 2; i++) {
        ASSERT_EQ(weft_chan_recv(ch, &m, 0), 0);
        ASSERT(weft_str_eq(weft_hub_msg_data(m), i ? WEFT_STR("b") : WEFT_STR("a")));
        weft_hub_msg_release(m);
    }
    ASSERT_ERR(weft_chan_recv(ch, &m, 0), WEFT_ECLOSED);
    ASSERT_ERR(weft_hub_unsubscribe_chan(h, "t", ch), WEFT_ENOENT);
    weft_chan_free(ch);
    weft_hub_free(h);
}

/* The broker seam: hub A's publishes reach hub B's subscribers through a
 * broker that calls weft_hub_deliver, and nothing comes back around. */
typedef struct fake_broker {
    weft_hub *to;
    int calls;
} fake_broker;
static int broker_publish(void *ud, const char *topic, int opcode, const void *p, size_t n) {
    fake_broker *b = ud;
    b->calls++;
    return weft_hub_deliver(b->to, topic, opcode, 0, p, n);
}

TEST(hub_broker_bridges_two_hubs_without_loops) {
    weft_hub *a = weft_hub_new(), *b = weft_hub_new();
    fake_broker ab = {b, 0}, ba = {a, 0};
    weft_hub_set_broker(a, &(weft_hub_broker){broker_publish, &ab});
    weft_hub_set_broker(b, &(weft_hub_broker){broker_publish, &ba});
    weft_chan *ca = weft_chan_new(sizeof(weft_hub_msg *), 8, NULL);
    weft_chan *cb = weft_chan_new(sizeof(weft_hub_msg *), 8, NULL);
    ASSERT_EQ(weft_hub_subscribe_chan(a, "t", ca), 0);
    ASSERT_EQ(weft_hub_subscribe_chan(b, "t", cb), 0);
    ASSERT_EQ(weft_hub_publish(a, "t", WEFT_WS_TEXT, 0, "from a", 6), 1);
    ASSERT_EQ(ab.calls, 1);
    ASSERT_EQ(ba.calls, 0); /* deliver does not go to b's broker */
    weft_hub_msg *m;
    ASSERT_EQ(weft_chan_recv(ca, &m, 0), 0);
    weft_hub_msg_release(m);
    ASSERT_EQ(weft_chan_recv(cb, &m, 0), 0);
    ASSERT(weft_str_eq(weft_hub_msg_data(m), WEFT_STR("from a")));
    weft_hub_msg_release(m);
    ASSERT_ERR(weft_chan_recv(ca, &m, 0), WEFT_EAGAIN);
    weft_hub_free(a);
    weft_hub_free(b);
    weft_chan_free(ca);
    weft_chan_free(cb);
}

/* ---- queued items recycled (ws_conn.c's item cache) under churn ---------------------- */

typedef struct churn_pub {
    weft_hub *hub;
    _Atomic int stop;
    int published;
} churn_pub;

static void churn_publish(churn_pub *p) {
    char msg[32];
    int n = snprintf(msg, sizeof msg, "churn %d", p->published++);
    weft_hub_publish(p->hub, "churn", WEFT_WS_TEXT, 0, msg, (size_t)n);
}

/* A task: "churn 0", "churn 1", ... in bursts of 16 until told to stop. */
static void churn_publisher(void *a) {
    churn_pub *p = a;
    while (!atomic_load(&p->stop)) {
        for (int k = 0; k < 16; k++) churn_publish(p);
        weft_sleep(1);
    }
}

/* The next message's number, or -1 (none in time, not a churn message). */
static int churn_next(weft_ws *c, weft_buf *m) {
    if (weft_ws_recv(c, m, weft_deadline_in(test_slack_ms(5000))) != WEFT_WS_TEXT) return -1;
    char s[32];
    if (m->len < 7 || m->len >= sizeof s || memcmp(m->data, "churn ", 6)) return -1;
    memcpy(s, m->data, m->len);
    s[m->len] = '\0';
    return atoi(s + 6);
}

/* A task publishes without pause while connections come and go (closed
 * cleanly, dropped without a close, closed with messages still queued), so
 * queued items are freed and reused across connections all the time: every
 * newcomer reads consecutive messages, the one that stays gets every message
 * in order, the closed ones leave the topic, nothing is counted as dropped.
 * Under ASan a cached item used after its connection freed it would show. */
TEST(hub_queued_items_recycled_under_churn) {
    tsrv t;
    ASSERT_EQ(start(&t, NULL), 0);
    weft_ws *keep = sub(&t, "churn", NULL);
    ASSERT(keep != NULL);
    ASSERT_EQ(wait_subs(t.hub, 1), 0);
    churn_pub p = {.hub = t.hub};
    atomic_init(&p.stop, 0);
    weft_group g;
    weft_group_init(&g);
    ASSERT_EQ(weft_group_go(&g, churn_publisher, &p, "churn-pub"), 0);
    weft_buf m;
    weft_buf_init(&m, 0);
    int expect = 0, rounds = (int)test_scale_min(40, 10);
    for (int r = 0; r < rounds; r++) {
        weft_ws *c[6];
        for (int i = 0; i < 6; i++) {
            c[i] = sub(&t, "churn", NULL);
            ASSERT(c[i] != NULL);
        }
        for (int i = 0; i < 6; i++) {
            int first = churn_next(c[i], &m);
            ASSERT_GE(first, 0);
            for (int k = 1; k < 4; k++) ASSERT_EQ(churn_next(c[i], &m), first + k);
        }
        for (int i = 0; i < 6; i++) {
            if (i % 3 == 0) weft_ws_close(c[i], WEFT_WS_NORMAL, NULL);
            if (i % 3 == 2) weft_sleep(2); /* it stopped reading: it goes with messages queued */
            weft_ws_free(c[i]);
        }
        for (int k = 0; k < 50; k++) ASSERT_EQ(churn_next(keep, &m), expect++);
    }
    atomic_store(&p.stop, 1);
    ASSERT_EQ(test_join(&g, test_slack_ms(10000)), 0);
    /* the publishes that find the last closed ones gone unsubscribe them */
    for (int i = 0; i < 500; i++) {
        churn_publish(&p);
        weft_hub_stats st;
        weft_hub_get_stats(t.hub, &st);
        if (st.subscribers == 1) break;
        weft_sleep(10);
    }
    weft_hub_stats st;
    weft_hub_get_stats(t.hub, &st);
    ASSERT_EQ(st.subscribers, 1);
    ASSERT_EQ(st.dropped, 0);
    ASSERT_GT(p.published, rounds * 50);
    while (expect < p.published) ASSERT_EQ(churn_next(keep, &m), expect++);
    weft_buf_free(&m);
    weft_ws_close(keep, WEFT_WS_NORMAL, NULL);
    weft_ws_free(keep);
    ASSERT_EQ(stop(&t), 0);
}

/* ---- SSE ---------------------------------------------------------------------------- */

static const char *fmt(const weft_sse_event *ev, weft_buf *b) {
    b->len = 0;
    if (weft_sse_format(b, ev)) return NULL;
    return b->data;
}

TEST_PLAIN(sse_format_fields_and_line_breaks) {
    weft_buf b;
    weft_buf_init(&b, 0);
    ASSERT_STREQ(fmt(&(weft_sse_event){.data = "hello", .n = 5}, &b), "data: hello\n\n");
    ASSERT_STREQ(
        fmt(&(weft_sse_event){.id = "7", .event = "pos", .data = "a", .n = 1, .retry_ms = 3000},
            &b),
        "event: pos\nid: 7\nretry: 3000\ndata: a\n\n");
    /* CR, LF and CRLF each end a line; a trailing break gives a last empty line */
    ASSERT_STREQ(fmt(&(weft_sse_event){.data = "a\rb\nc\r\nd\n", .n = 9}, &b),
                 "data: a\ndata: b\ndata: c\ndata: d\ndata: \n\n");
    ASSERT_STREQ(fmt(&(weft_sse_event){.data = "\r\n\r\n", .n = 4}, &b),
                 "data: \ndata: \ndata: \n\n");
    ASSERT_STREQ(fmt(&(weft_sse_event){.data = "", .n = 0}, &b), "data: \n\n");
    /* no field injection through id or event */
    ASSERT(fmt(&(weft_sse_event){.id = "1\ndata: x", .data = "a", .n = 1}, &b) == NULL);
    ASSERT(fmt(&(weft_sse_event){.event = "e\r", .data = "a", .n = 1}, &b) == NULL);
    weft_buf_free(&b);
}

/* Reads from fd until `needle` has arrived (or the deadline); 1 if it did. */
static int read_until(int fd, weft_buf *got, const char *needle, int64_t deadline) {
    while (!strstr(got->data ? got->data : "", needle)) {
        if (weft_buf_reserve(got, 4096)) return 0;
        ssize_t r = weft_read(fd, got->data + got->len, 4096, deadline);
        if (r <= 0) return 0;
        got->len += (size_t)r;
        got->data[got->len] = '\0';
    }
    return 1;
}

TEST(sse_stream_of_a_topic_with_heartbeats_and_shutdown) {
    tsrv t;
    ASSERT_EQ(start(&t, NULL), 0);
    int fd = weft_tcp_connect("127.0.0.1", t.port, weft_deadline_in(5000));
    ASSERT_GE(fd, 0);
    const char *req = "GET /events/fleet HTTP/1.1\r\nHost: x\r\nLast-Event-ID: 41\r\n\r\n";
    ASSERT_EQ(weft_write_all(fd, req, strlen(req), weft_deadline_in(5000)), (ssize_t)strlen(req));
    weft_buf got;
    weft_buf_init(&got, 0);
    int64_t dl = weft_deadline_in(test_slack_ms(5000));
    ASSERT(read_until(fd, &got, ": ok\n\n", dl));
    ASSERT(strstr(got.data, "HTTP/1.1 200 OK\r\n") == got.data);
    ASSERT(strstr(got.data, "\r\nContent-Type: text/event-stream\r\n") != NULL);
    ASSERT(strstr(got.data, "\r\nTransfer-Encoding: chunked\r\n") != NULL);
    ASSERT(strstr(got.data, "\r\nCache-Control: no-cache\r\n") != NULL);
    ASSERT_STREQ(t.last_event_id, "41");
    ASSERT_EQ(wait_subs(t.hub, 1), 0);
    ASSERT_EQ(weft_hub_publish(t.hub, "fleet", WEFT_WS_TEXT, 0, "line1\nline2", 11), 1);
    ASSERT(read_until(fd, &got, "id: 1\ndata: line1\ndata: line2\n\n", dl));
    ASSERT(read_until(fd, &got, ": heartbeat\n\n", dl)); /* 100 ms without events */
    int64_t t0 = weft_now_ns();
    weft_http_server_stop(t.s);
    ASSERT(read_until(fd, &got, "0\r\n\r\n", dl)); /* the stream ends: the last chunk */
    /* at the stop, not at the 3 s shutdown timeout: a bound under it in
     * every build (test_slack_ms(1000) was 1 s plain, 10 s under TSan) */
    ASSERT_LT(test_ms_since(t0), 2000);
    ASSERT_EQ(test_join(&t.g, test_slack_ms(5000)), 0);
    ASSERT_EQ(atomic_load(&t.sse_done), 1);
    weft_buf_free(&got);
    weft_close(fd);
    weft_hub_stats st;
    weft_hub_get_stats(t.hub, &st);
    ASSERT_EQ(st.subscribers, 0);
    weft_http_server_free(t.s);
    weft_http_router_free(t.r);
    weft_hub_free(t.hub);
}

/* A client that leaves ends its stream (found by the next write). */
TEST(sse_stream_ends_when_the_client_leaves) {
    tsrv t;
    ASSERT_EQ(start(&t, NULL), 0);
    int fd = weft_tcp_connect("127.0.0.1", t.port, weft_deadline_in(5000));
    ASSERT_GE(fd, 0);
    const char *req = "GET /events/x HTTP/1.1\r\nHost: x\r\n\r\n";
    weft_write_all(fd, req, strlen(req), weft_deadline_in(5000));
    weft_buf got;
    weft_buf_init(&got, 0);
    ASSERT(read_until(fd, &got, ": ok\n\n", weft_deadline_in(test_slack_ms(5000))));
    weft_buf_free(&got);
    weft_close(fd);
    for (int i = 0; i < 300 && atomic_load(&t.sse_done) == 0; i++) weft_sleep(10);
    ASSERT_EQ(atomic_load(&t.sse_done), 1);
    ASSERT_EQ(stop(&t), 0);
}
