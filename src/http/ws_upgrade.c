/*
 * src/http/ws_upgrade.c — the WebSocket upgrade from an ordinary route
 * handler: the pure handshake (ws_handshake.c) decides, the HTTP server's
 * hand-over (weft_http_hand_over) writes the 101 and gives up the socket, and
 * the connection (ws_conn.c) takes it.
 *
 * The connection object is made before the hand-over and given to the server
 * as the shutdown notification's argument: if a graceful shutdown is already
 * under way the server calls it during the hand-over, before there is a
 * socket, and the 1001 close is then queued the moment the socket arrives.
 * The server may call the notification until the handler has returned, so
 * the upgrade holds a reference of its own, dropped by a weft_defer() cleanup
 * when the connection's task ends (after the server has forgotten it).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "ws_int.h"

static void going_away(void *ud) { weft__ws_going_away(ud); }

weft_ws *weft_ws_upgrade(weft_http_ctx *c, const weft_ws_server_opts *opts,
                         const weft_ws_config *cfg, int *err) {
    int e = 0;
    if (!err) err = &e;
    weft_ws_handshake hs;
    int st = weft_ws_server_handshake(weft_http_request_head(c), opts, &hs);
    if (st != 101) {
        if (st == 426) weft_http_add_header(c, "Sec-WebSocket-Version", "13");
        weft_http_text(c, st, hs.reason);
        *err = WEFT_EPARSE;
        return NULL;
    }
    weft_ws *ws = weft__ws_new(WEFT_WS_SERVER, hs.deflate ? &hs.params : NULL, cfg);
    if (!ws) {
        *err = WEFT_ENOMEM;
        return NULL;
    }
    weft__ws_set_subprotocol(ws, hs.subprotocol);
    /* the server's reference, for its shutdown notification */
    weft__ws_ref(ws);
    if (weft_defer(weft__ws_unref, ws)) {
        weft__ws_unref(ws);
        weft__ws_unref(ws);
        *err = WEFT_ENOMEM;
        return NULL;
    }
    weft_buf head;
    weft_buf_init(&head, 0);
    if (weft_ws_handshake_response(&hs, &head)) {
        weft_ws_free(ws);
        *err = WEFT_ENOMEM;
        return NULL;
    }
    weft_http_handover h = {
        .head = head.data, .head_len = head.len, .on_shutdown = going_away, .ud = ws};
    int rc = weft_http_hand_over(c, &h);
    weft_buf_free(&head);
    if (rc < 0) {
        weft_ws_free(ws);
        *err = rc;
        return NULL;
    }
    rc = weft__ws_attach(ws, h.fd, h.leftover.data, h.leftover.len);
    weft_buf_free(&h.leftover);
    if (rc) {
        weft_close(h.fd);
        weft_ws_free(ws);
        *err = rc;
        return NULL;
    }
    return ws;
}

/* ---- detached connections and their sets ------------------------------------------ */

struct weft_ws_set {
    pthread_mutex_t mu;
    weft_ws **v; /* one reference each */
    size_t n, cap;
    weft_wg running; /* the fn tasks */
};

weft_ws_set *weft_ws_set_new(void) {
    weft_ws_set *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    pthread_mutex_init(&s->mu, NULL);
    weft_wg_init(&s->running);
    return s;
}

void weft_ws_set_free(weft_ws_set *s) {
    if (!s) return;
    for (size_t i = 0; i < s->n; i++) weft__ws_unref(s->v[i]);
    free(s->v);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

size_t weft_ws_set_count(weft_ws_set *s) {
    pthread_mutex_lock(&s->mu);
    size_t n = s->n;
    pthread_mutex_unlock(&s->mu);
    return n;
}

static int set_add(weft_ws_set *s, weft_ws *ws) {
    pthread_mutex_lock(&s->mu);
    int rc = 0;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        weft_ws **v = realloc(s->v, cap * sizeof *v);
        if (!v)
            rc = WEFT_ENOMEM;
        else
            s->v = v, s->cap = cap;
    }
    if (!rc) {
        weft__ws_ref(ws);
        s->v[s->n++] = ws;
        weft_wg_add(&s->running, 1);
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static void set_remove(weft_ws_set *s, weft_ws *ws) {
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->n; i++)
        if (s->v[i] == ws) {
            s->v[i] = s->v[--s->n];
            break;
        }
    pthread_mutex_unlock(&s->mu);
    weft__ws_unref(ws);
    weft_wg_done(&s->running);
}

int weft_ws_set_close(weft_ws_set *s, int code, const char *reason, int64_t deadline) {
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->n; i++) weft__ws_close_async(s->v[i], code, reason);
    pthread_mutex_unlock(&s->mu);
    int rc = weft_wg_wait(&s->running, deadline);
    if (rc != WEFT_ETIMEDOUT) return rc;
    /* peers that did not answer in time: their sockets go, which ends the
     * receives their tasks wait in; the tasks get a second to return */
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->n; i++) weft__ws_abort(s->v[i], "closed by its set at the deadline");
    pthread_mutex_unlock(&s->mu);
    return weft_wg_wait(&s->running, weft_deadline_in(1000));
}

typedef struct detached {
    weft_ws *ws;
    void (*fn)(weft_ws *ws, void *arg);
    void *arg;
    weft_ws_set *set;
} detached;

static void run_detached(void *p) {
    detached d = *(detached *)p;
    free(p);
    weft__ws_ref(d.ws); /* the set's removal needs it after fn freed its own */
    d.fn(d.ws, d.arg);
    if (d.set) set_remove(d.set, d.ws);
    weft__ws_unref(d.ws);
}

int weft_ws_upgrade_go(weft_http_ctx *c, const weft_ws_server_opts *opts, const weft_ws_config *cfg,
                       void (*fn)(weft_ws *ws, void *arg), void *arg, weft_ws_set *set) {
    int err = 0;
    weft_ws *ws = weft_ws_upgrade(c, opts, cfg, &err);
    if (!ws) return err;
    detached *d = malloc(sizeof *d);
    int rc = d ? 0 : WEFT_ENOMEM;
    if (!rc && set) rc = set_add(set, ws);
    if (!rc) {
        *d = (detached){ws, fn, arg, set};
        rc = weft_go(run_detached, d);
        if (rc && set) set_remove(set, ws);
    }
    if (rc) {
        free(d);
        weft_ws_free(ws);
    }
    return rc;
}
