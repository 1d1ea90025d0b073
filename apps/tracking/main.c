/*
 * apps/tracking — the arena's minimal tracking service on weft (issue 13
 * part D; bench/run-tracking.sh), the same service as bench/peers/tracking-go
 * and bench/peers/tracking-rust, in memory only (no database), like them:
 *
 *   - GET /?id=..&lat=..&lon=..&timestamp=..&speed=.. (OsmAnd, what fleet-sim
 *     sends; other parameters ignored): the device's latest position replaced
 *     in memory, 200 with an empty body; 400 when id, lat or lon is missing
 *     or not a number, or id is longer than 63 bytes.
 *   - GET /socket (WebSocket): first every device's latest position, then at
 *     every tick (--tick-ms / TICK_MS, 250 by default) the devices that
 *     reported since the last one, each once with its latest fix:
 *     {"positions":[{"id":"sim-0001","fixTime":<Unix ms>,"lat":..,"lon":..,"speed":..}]}.
 *
 * The fan-out is weft's own: a ticker task encodes the message once
 * (weft_json_enc) and publishes it to the hub's "live" topic; the hub queues
 * the same reference-counted bytes on every subscribed socket. A socket whose
 * queue (1 MiB by default) is full is closed with 1008, as weft fleet does.
 *
 *   build/apps/tracking [--port P] [--tick-ms T] [--workers N]
 * Listens on 127.0.0.1:P (0 = any; also $PORT) and prints
 * "listening on 127.0.0.1:<port>".
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "weft/impl.h" /* weft_nocancel_begin/end: the shutdown waits must finish */
#include "weft/json.h"
#include "weft/weft.h"
#include "weft/ws.h"

#define ID_MAX 63

typedef struct device {
    char id[ID_MAX + 1];
    int64_t fix_ms;
    double lat, lon, speed;
    int pending; /* in the changed list */
} device;

/* The latest position per device: devices in an array, found through an
 * open-addressing table of indexes (linear probing, at most half full). */
typedef struct state {
    pthread_mutex_t mu; /* held only while copying in or encoding, never across a suspension */
    device *dev;
    size_t n, cap;
    int32_t *slot; /* index + 1, 0 = empty */
    size_t nslots;
    uint32_t *changed;
    size_t nchanged;
} state;

typedef struct app {
    int port, tick_ms;
    state st;
    weft_hub *hub;
    weft_ws_set *set;
    int rc;
} app;

static uint64_t hash(const char *p, size_t n) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
    return h;
}

static int grow(state *s) {
    size_t cap = s->cap ? s->cap * 2 : 1024, nslots = cap * 2;
    device *dev = realloc(s->dev, cap * sizeof *dev);
    if (!dev) return -1;
    s->dev = dev;
    uint32_t *ch = realloc(s->changed, cap * sizeof *ch);
    if (!ch) return -1;
    s->changed = ch;
    int32_t *slot = calloc(nslots, sizeof *slot);
    if (!slot) return -1;
    for (size_t i = 0; i < s->n; i++) {
        size_t j = hash(s->dev[i].id, strlen(s->dev[i].id)) & (nslots - 1);
        while (slot[j]) j = (j + 1) & (nslots - 1);
        slot[j] = (int32_t)i + 1;
    }
    free(s->slot);
    s->slot = slot, s->nslots = nslots, s->cap = cap;
    return 0;
}

/* The device of id, added when new; NULL when out of memory. Under s->mu. */
static device *lookup(state *s, weft_str id) {
    if (s->n + 1 > s->cap && grow(s)) return NULL;
    size_t j = hash(id.p, id.n) & (s->nslots - 1);
    for (; s->slot[j]; j = (j + 1) & (s->nslots - 1)) {
        device *d = &s->dev[s->slot[j] - 1];
        if (strlen(d->id) == id.n && !memcmp(d->id, id.p, id.n)) return d;
    }
    device *d = &s->dev[s->n];
    memset(d, 0, sizeof *d);
    memcpy(d->id, id.p, id.n);
    s->slot[j] = (int32_t)++s->n;
    return d;
}

/* A query value as a finite double. */
static int to_double(weft_str v, double *out) {
    char tmp[64];
    if (v.n == 0 || v.n >= sizeof tmp) return -1;
    memcpy(tmp, v.p, v.n), tmp[v.n] = 0;
    char *end;
    *out = strtod(tmp, &end);
    return *end || !isfinite(*out) ? -1 : 0;
}

static int64_t wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int ingest(weft_http_ctx *c, void *ud) {
    app *a = ud;
    weft_str id = weft_http_query(c, "id");
    double lat, lon, speed = 0;
    if (id.n == 0 || id.n > ID_MAX || to_double(weft_http_query(c, "lat"), &lat) ||
        to_double(weft_http_query(c, "lon"), &lon))
        return weft_http_error(c, 400, "id, lat and lon are required");
    (void)to_double(weft_http_query(c, "speed"), &speed);
    int64_t t;
    if (weft_str_to_i64(weft_http_query(c, "timestamp"), &t))
        t = wall_ms();
    else if (t < 100000000000LL)
        t *= 1000; /* seconds */
    state *s = &a->st;
    pthread_mutex_lock(&s->mu);
    device *d = lookup(s, id);
    if (d) {
        d->fix_ms = t, d->lat = lat, d->lon = lon, d->speed = speed;
        if (!d->pending) d->pending = 1, s->changed[s->nchanged++] = (uint32_t)(d - s->dev);
    }
    pthread_mutex_unlock(&s->mu);
    if (!d) return weft_http_error(c, 503, "out of memory");
    return weft_http_send(c, 200, "text/plain", "", 0);
}

static void enc_device(weft_json_enc *e, const device *d) {
    weft_json_enc_object(e);
    weft_json_enc_key(e, WEFT_STR("id"));
    weft_json_enc_str(e, weft_str_c(d->id));
    weft_json_enc_key(e, WEFT_STR("fixTime"));
    weft_json_enc_int(e, d->fix_ms);
    weft_json_enc_key(e, WEFT_STR("lat"));
    weft_json_enc_double(e, d->lat);
    weft_json_enc_key(e, WEFT_STR("lon"));
    weft_json_enc_double(e, d->lon);
    weft_json_enc_key(e, WEFT_STR("speed"));
    weft_json_enc_double(e, d->speed);
    weft_json_enc_end(e);
}

/* {"positions":[...]} of every device (all) or of the changed ones (which
 * are then cleared), into out. Under s->mu. */
static int encode(state *s, int all, weft_buf *out) {
    weft_json_enc e;
    weft_json_enc_init(&e, out);
    weft_json_enc_object(&e);
    weft_json_enc_key(&e, WEFT_STR("positions"));
    weft_json_enc_array(&e);
    size_t n = all ? s->n : s->nchanged;
    for (size_t i = 0; i < n; i++) {
        device *d = &s->dev[all ? i : s->changed[i]];
        enc_device(&e, d);
        if (!all) d->pending = 0;
    }
    if (!all) s->nchanged = 0;
    weft_json_enc_end(&e);
    weft_json_enc_end(&e);
    return weft_json_enc_finish(&e);
}

static void viewer(weft_ws *ws, void *arg) {
    app *a = arg;
    weft_buf snap, in;
    weft_buf_init(&snap, 0), weft_buf_init(&in, 0);
    /* subscribe before the snapshot: nothing published falls in between
     * (neither suspends, and the snapshot is queued first) */
    pthread_mutex_lock(&a->st.mu);
    int rc = weft_hub_subscribe_ws(a->hub, "live", ws);
    if (rc >= 0) rc = encode(&a->st, 1, &snap);
    if (rc >= 0) rc = weft_ws_send(ws, WEFT_WS_TEXT, snap.data, snap.len);
    pthread_mutex_unlock(&a->st.mu);
    weft_buf_free(&snap);
    /* clients send nothing we act on; read until they close */
    while (rc >= 0 && weft_ws_recv(ws, &in, -1) > 0) {}
    weft_hub_unsubscribe_ws(a->hub, "live", ws);
    weft_buf_free(&in);
    weft_ws_free(ws);
}

static int socket_route(weft_http_ctx *c, void *ud) {
    app *a = ud;
    weft_ws_config cfg = {.max_message = 64 * 1024};
    int rc = weft_ws_upgrade_go(c, NULL, &cfg, viewer, a, a->set);
    return rc == WEFT_EPARSE ? 0 : rc;
}

static void ticker(void *arg) {
    app *a = arg;
    weft_buf msg;
    weft_buf_init(&msg, 0);
    int64_t next = weft_now() + a->tick_ms;
    while (weft_sleep(next - weft_now() > 0 ? next - weft_now() : 0) == 0) {
        next += a->tick_ms;
        if (next < weft_now()) next = weft_now() + a->tick_ms; /* late: no burst of ticks */
        msg.len = 0;
        pthread_mutex_lock(&a->st.mu);
        int rc = a->st.nchanged ? encode(&a->st, 0, &msg) : 1;
        pthread_mutex_unlock(&a->st.mu);
        if (rc == 0) weft_hub_publish(a->hub, "live", WEFT_WS_TEXT, 0, msg.data, msg.len);
    }
    weft_buf_free(&msg);
}

static void serve(void *arg) {
    app *a = arg;
    a->hub = weft_hub_new();
    a->set = weft_ws_set_new();
    weft_http_router *r = weft_http_router_new();
    if (!a->hub || !a->set || !r) {
        fprintf(stderr, "tracking: out of memory\n");
        a->rc = 1;
        return;
    }
    weft_http_route(r, "GET", "/", ingest, a);
    weft_http_route(r, "GET", "/socket", socket_route, a);
    weft_http_config cfg = {.host = "127.0.0.1", .port = a->port, .handle_signals = 1};
    int err = 0;
    weft_http_server *srv = weft_http_server_new(&cfg, r, &err);
    if (!srv) {
        fprintf(stderr, "tracking: cannot listen on 127.0.0.1:%d: %s\n", a->port, weft_strerror(err));
        a->rc = 1;
    } else {
        weft_group tick;
        weft_group_init(&tick);
        weft_group_go(&tick, ticker, a, "ticker");
        printf("listening on 127.0.0.1:%d\n", weft_http_server_port(srv));
        fflush(stdout);
        weft_http_serve(srv);
        /* serve() returns when SIGTERM stops the server, or when this task
         * is cancelled (weft_http_serve's contract). Cancelled, every wait
         * below would return WEFT_ECANCELED at once, and the hub would be
         * freed under the ticker and the viewers that still publish to it
         * and unsubscribe from it (and `tick`, on this stack, would go
         * while its task runs): they run masked, each bounded. */
        int prev = weft_nocancel_begin();
        weft_ws_set_close(a->set, WEFT_WS_GOING_AWAY, "server shutting down", weft_deadline_in(5000));
        weft_group_cancel(&tick);
        weft_group_wait(&tick, -1);
        weft_nocancel_end(prev);
        weft_http_server_free(srv);
    }
    weft_http_router_free(r);
    /* a viewer still running past the set's close keeps using the hub: then
     * both stay (the process is ending) rather than be freed under it */
    if (weft_ws_set_count(a->set) == 0) {
        weft_ws_set_free(a->set);
        weft_hub_free(a->hub);
    }
}

static int usage(void) {
    fprintf(stderr, "usage: tracking [--port P (0..65535)] [--tick-ms T (1..60000)] [--workers N]\n");
    return 2;
}

int main(int argc, char **argv) {
    app a = {.port = 0, .tick_ms = 250};
    weft_config cfg = {0};
    const char *env;
    if ((env = getenv("PORT"))) a.port = atoi(env);
    if ((env = getenv("TICK_MS"))) a.tick_ms = atoi(env);
    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc) return usage();
        if (!strcmp(argv[i], "--port"))
            a.port = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--tick-ms"))
            a.tick_ms = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--workers"))
            cfg.workers = atoi(argv[++i]);
        else
            return usage();
    }
    if (a.port < 0 || a.port > 65535 || a.tick_ms < 1 || a.tick_ms > 60000 || cfg.workers < 0) return usage();
    pthread_mutex_init(&a.st.mu, NULL);
    if (!getenv("WEFT_LOG")) weft_log_set_level(WEFT_LOG_WARN);
    int rc = weft_main(serve, &a, &cfg);
    free(a.st.dev), free(a.st.slot), free(a.st.changed);
    return rc ? 1 : a.rc;
}
