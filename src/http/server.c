/*
 * src/http/server.c — the HTTP/1.1 server: listeners, one task per
 * connection, the request loop (pipelining, bodies, limits, timeouts) and
 * graceful shutdown.
 *
 * Connection loop. Read what the socket has; answer every complete request
 * in it into `out` (weft__http_process); write `out` with one send; wait for
 * more. While a connection waits for its next request it holds no buffers
 * (they are freed and reallocated on the next read), so an idle keep-alive
 * connection costs its task's one stack page plus the conn struct.
 *
 * Timeouts: a new connection or a started request head must complete within
 * head_timeout (-> 408 when bytes came, silent close otherwise); an idle
 * keep-alive connection is closed after idle_timeout; the whole body of a
 * request within body_timeout (-> 408); every flush within write_timeout.
 *
 * Shutdown: stop accepting (acceptor tasks cancelled, listeners closed),
 * close idle connections (a CAS on conn->idle decides between a connection
 * picking up a request and the stopper closing it, so a request that has
 * started is never cut), let busy ones finish their response with
 * "Connection: close", and after shutdown_timeout cancel what is left.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "http/http_int.h"
#include "weft/impl.h"
#include "weft/log.h"
#include "weft/rt.h"

#define MAX_LISTENERS 64
#define READ_CHUNK 4096
#define FLUSH_AT (64 * 1024) /* flush mid-batch once this much output is pending */
#define POOL_MAX 32 /* pooled request states per server (a constant ~0.4 MB at most) */
#define KEEP_CAP (64 * 1024)  /* buffers grown past this are freed, not pooled */

typedef struct listener {
    weft_http_server *srv;
    int fd;
} listener;

struct weft_http_server {
    weft__http_cfg cfg;
    weft_http_router *router;
    listener ls[MAX_LISTENERS];
    int nls;
    int port;
    char *unix_path;
    int handle_signals;
    weft_group accept_group, conn_group, aux_group;
    weft_sem stop_sem;
    _Atomic int stopping;
    _Atomic int serving;
    pthread_mutex_t mu; /* conns list, the pool, hand-over notifications */
    int notified;       /* under mu: the shutdown has notified handed-over connections */
    struct sconn *conns;
    weft__http_conn *pool[POOL_MAX]; /* request state of connections between requests */
    int npool;
    struct accepted *free_acc;
    _Atomic uint64_t nconns, accepted, requests;
};

/* ---- configuration --------------------------------------------------------- */

void weft__http_cfg_resolve(weft__http_cfg *o, const weft_http_config *in) {
    weft_http_config z;
    if (!in) {
        memset(&z, 0, sizeof z);
        in = &z;
    }
    o->limits.max_line = in->limits.max_line ? in->limits.max_line : 8192;
    o->limits.max_head = in->limits.max_head ? in->limits.max_head : 16384;
    o->limits.max_headers = in->limits.max_headers ? in->limits.max_headers : 100;
    o->max_body = in->max_body ? in->max_body : (size_t)1 << 20;
    o->head_timeout_ms = in->head_timeout_ms > 0 ? in->head_timeout_ms : 10000;
    o->body_timeout_ms = in->body_timeout_ms > 0 ? in->body_timeout_ms : 30000;
    o->idle_timeout_ms = in->idle_timeout_ms > 0 ? in->idle_timeout_ms : 60000;
    o->write_timeout_ms = in->write_timeout_ms > 0 ? in->write_timeout_ms : 30000;
    o->shutdown_timeout_ms = in->shutdown_timeout_ms > 0 ? in->shutdown_timeout_ms : 10000;
    o->max_connections = in->max_connections ? in->max_connections : 100000;
    o->server_name = in->server_name ? (in->server_name[0] ? in->server_name : NULL) : "weft";
    o->server_name_len = o->server_name ? strlen(o->server_name) : 0;
    o->access_log = in->access_log;
}

/* ---- connection state ---------------------------------------------------------- */

void weft__http_conn_init(weft__http_conn *c, const weft__http_cfg *cfg, weft_http_router *r) {
    memset(c, 0, sizeof *c);
    c->cfg = cfg;
    c->router = r;
    c->fd = -1;
    weft_buf_init(&c->in, 0);
    weft_buf_init(&c->out, 0);
    weft_arena_init(&c->arena, 4096);
    weft_buf_init(&c->ctx.hdrs, 0);
    weft_buf_init(&c->ctx.body_out, 0);
    c->ctx.conn = c;
    c->ctx.arena = &c->arena;
}

/* Drop every buffer (an idle connection keeps none). */
static void conn_shrink(weft__http_conn *c) {
    weft_buf_free(&c->in);
    weft_buf_free(&c->out);
    weft_buf_free(&c->ctx.hdrs);
    weft_buf_free(&c->ctx.body_out);
    weft_arena_free(&c->arena);
    weft_arena_init(&c->arena, 4096);
    free(c->hdrs);
    c->hdrs = NULL;
    c->in_off = 0;
}

void weft__http_conn_release(weft__http_conn *c) { conn_shrink(c); }

void weft__http_error_response(weft__http_conn *c, int status, const char *reason, int minor) {
    weft_http_ctx *x = &c->ctx;
    weft__http_ctx_reset(x);
    x->req.minor = minor;
    x->status = status;
    x->keep_alive = 0;
    x->ctype = "text/plain; charset=utf-8";
    weft_buf_appends(&x->body_out, reason);
    weft_buf_appendc(&x->body_out, '\n');
    weft__http_finish(x);
    if (c->srv) atomic_fetch_add_explicit(&c->srv->requests, 1, memory_order_relaxed);
    if (status >= 500 || status == 408)
        weft_log_info("http: %d %s (%s)", status, weft_http_reason(status), reason);
    else
        weft_log_debug("http: %d %s (%s)", status, weft_http_reason(status), reason);
}

/* Read more bytes into c->in, first writing what is pending and moving the
 * unconsumed bytes to the front (every pointer into `in` must be re-derived
 * afterwards). >0 bytes read, 0 end of stream, or a negative code. */
static ssize_t read_more(weft__http_conn *c, size_t want, int64_t deadline) {
    int rc = weft__http_flush(c);
    if (rc) return rc;
    if (c->in_off) {
        memmove(c->in.data, c->in.data + c->in_off, c->in.len - c->in_off);
        c->in.len -= c->in_off;
        c->in_off = 0;
    }
    if (c->fd < 0) return 0; /* test client: the input is all there is */
    if (want < READ_CHUNK) want = READ_CHUNK;
    rc = weft_buf_reserve(&c->in, want);
    if (rc) return rc;
    ssize_t n = weft_read(c->fd, c->in.data + c->in.len, c->in.cap - 1 - c->in.len, deadline);
    if (n > 0) c->in.len += (size_t)n;
    return n;
}

/* Parse the head at in_off again after `in` moved (cannot fail: same bytes). */
static void reparse(weft__http_conn *c) {
    int st;
    const char *why;
    weft_http_parse_request(c->in.data + c->in_off, c->in.len - c->in_off, &c->ctx.req, c->hdrs,
                            c->cfg->limits.max_headers, &c->cfg->limits, &st, &why);
}

static int need_continue(weft__http_conn *c, int *sent) {
    if (*sent || !c->ctx.req.expect_continue || c->ctx.req.minor < 1) return 0;
    *sent = 1;
    return weft_buf_append(&c->out, "HTTP/1.1 100 Continue\r\n\r\n", 25);
}

/* Make the request's body available: returns its total length on the wire
 * (head + body) > 0, or 0 after queueing an error response / on a closed
 * connection (close), or a negative I/O code. */
static ssize_t read_body(weft__http_conn *c, size_t head) {
    weft_http_ctx *x = &c->ctx;
    const weft__http_cfg *cfg = c->cfg;
    int64_t deadline = -1; /* set when the body is not all there yet */
    int sent100 = 0;
    if (x->req.content_length > 0) {
        if ((uint64_t)x->req.content_length > cfg->max_body) {
            weft__http_error_response(c, 413, "request body too large", x->req.minor);
            return 0;
        }
        size_t total = head + (size_t)x->req.content_length;
        while (c->in.len - c->in_off < total) {
            if (deadline < 0) deadline = weft_deadline_in(cfg->body_timeout_ms);
            if (need_continue(c, &sent100)) return WEFT_ENOMEM;
            ssize_t n = read_more(c, total - (c->in.len - c->in_off), deadline);
            if (n == WEFT_ETIMEDOUT) {
                reparse(c);
                weft__http_error_response(c, 408, "request body not received in time",
                                          x->req.minor);
                return 0;
            }
            if (n <= 0) return n;
        }
        reparse(c);
        x->body = (weft_str){c->in.data + c->in_off + head, (size_t)x->req.content_length};
        return (ssize_t)total;
    }
    if (!x->req.chunked) {
        x->body = (weft_str){c->in.data + c->in_off + head, 0};
        return (ssize_t)head;
    }
    weft_http_chunked d;
    weft_http_chunked_init(&d);
    size_t dec = 0, raw = head; /* offsets from in_off */
    for (;;) {
        char *base = c->in.data + c->in_off;
        size_t n = c->in.len - c->in_off - raw, consumed = 0;
        const char *why = NULL;
        int r = n ? weft_http_chunked_decode(&d, base + raw, &n, &consumed, &why) : 0;
        if (r < 0) {
            weft__http_error_response(c, 400, why ? why : "bad chunked body", x->req.minor);
            return 0;
        }
        if (n) memmove(base + head + dec, base + raw, n);
        dec += n;
        raw += consumed;
        if (dec > cfg->max_body) {
            weft__http_error_response(c, 413, "request body too large", x->req.minor);
            return 0;
        }
        if (r == 1) break;
        if (deadline < 0) deadline = weft_deadline_in(cfg->body_timeout_ms);
        if (need_continue(c, &sent100)) return WEFT_ENOMEM;
        ssize_t got = read_more(c, READ_CHUNK, deadline);
        reparse(c);
        if (got == WEFT_ETIMEDOUT) {
            weft__http_error_response(c, 408, "request body not received in time", x->req.minor);
            return 0;
        }
        if (got <= 0) return got;
    }
    x->body = (weft_str){c->in.data + c->in_off + head, dec};
    return (ssize_t)raw;
}

static void access_log(weft__http_conn *c) {
    weft_http_ctx *x = &c->ctx;
    double ms = (double)(weft_now_ns() - x->t0_ns) / 1e6;
    weft_log_info("access method=%.*s path=\"%.*s\" status=%d bytes=%zu ms=%.3f peer=%s",
                  (int)x->req.method.n, x->req.method.p, (int)x->req.target.n, x->req.target.p,
                  x->status ? x->status : 200, x->body_out.len, ms, weft_http_peer(x));
}

int weft__http_process(weft__http_conn *c) {
    const weft__http_cfg *cfg = c->cfg;
    weft_http_ctx *x = &c->ctx;
    if (!c->hdrs) {
        c->hdrs = malloc(cfg->limits.max_headers * sizeof *c->hdrs);
        if (!c->hdrs) return WEFT_ENOMEM;
    }
    while (c->in_off < c->in.len) {
        int st = 0;
        const char *why = NULL;
        weft__http_ctx_reset(x);
        int rc = weft_http_parse_request(c->in.data + c->in_off, c->in.len - c->in_off, &x->req,
                                         c->hdrs, cfg->limits.max_headers, &cfg->limits, &st, &why);
        if (rc == WEFT_EAGAIN) return 1;
        if (rc < 0) {
            weft__http_error_response(c, st, why, 1);
            return 0;
        }
        ssize_t total = read_body(c, (size_t)rc);
        if (total <= 0) return total == 0 ? 0 : (int)total;
        c->cur_len = (size_t)total;
        if (cfg->access_log) x->t0_ns = weft_now_ns();
        x->is_head = weft_str_eq(x->req.method, WEFT_STR("HEAD"));
        x->keep_alive = x->req.keep_alive && !(c->srv && atomic_load(&c->srv->stopping));
        weft__http_route_match(c->router, x);
        rc = weft__http_run_chain(x);
        if (c->handed_over) {
            /* the connection is the handler's now: no response, no reads */
            if (cfg->access_log) access_log(c);
            if (c->srv) atomic_fetch_add_explicit(&c->srv->requests, 1, memory_order_relaxed);
            c->served++;
            return 2;
        }
        if (rc < 0 && !x->head_sent && !x->failed) {
            weft_log_warn("http: handler for %.*s %.*s failed: %s", (int)x->req.method.n,
                          x->req.method.p, (int)x->req.path.n, x->req.path.p,
                          weft_strerror(rc));
            weft_buf_clear(&x->hdrs);
            weft_http_text(x, 500, "internal server error\n");
        }
        if (rc < 0 && x->head_sent) x->failed = 1; /* half a response: only closing tells */
        /* a shutdown that began while the handler ran: this response is the
         * connection's last, so it must say "Connection: close" */
        if (c->srv && !x->head_sent && atomic_load(&c->srv->stopping)) x->keep_alive = 0;
        if (weft__http_finish(x)) x->failed = 1;
        if (cfg->access_log) access_log(c);
        if (c->srv) atomic_fetch_add_explicit(&c->srv->requests, 1, memory_order_relaxed);
        c->served++;
        c->in_off += (size_t)total;
        weft_arena_reset(&c->arena);
        if (x->failed) return WEFT_EPIPE;
        if (!x->keep_alive) return 0;
        if (c->out.len >= FLUSH_AT && (rc = weft__http_flush(c)) < 0) return rc;
    }
    return 1;
}

/* ---- per-connection task ------------------------------------------------------------
 * The long-lived part of a connection lives on its task's stack (an idle
 * connection is just a parked task: one page); the request state
 * (weft__http_conn, buffers, arena) is taken from the server's pool while
 * the connection works and given back before it waits. */

typedef union peer_addr {
    struct sockaddr sa;
    struct sockaddr_in in4;
    struct sockaddr_in6 in6;
} peer_addr;

typedef struct sconn {
    weft_http_server *srv;
    int fd;
    _Atomic int idle; /* 1 while waiting for a request, 2 once told to close */
    _Atomic int64_t idle_deadline; /* while idle: when the sweeper closes it (ms) */
    weft_task_ref *task; /* the connection's task, for close_idle */
    /* weft_http_hand_over(): set under srv->mu, read by the shutdown */
    int handed_over;
    void (*on_shutdown)(void *ud);
    void *ud;
    struct sconn *prev, *next;
    peer_addr peer;
    uint64_t served;
} sconn;

/* Handed from the acceptor to the new task, which copies and frees it. */
typedef struct accepted {
    weft_http_server *srv;
    int fd;
    peer_addr peer;
    struct accepted *next; /* on the server's free list */
} accepted;

/* Hand-offs are recycled through a free list: freed by another thread's
 * malloc they would sit in that thread's cache, ~60 B per connection. */
static accepted *acc_get(weft_http_server *s) {
    pthread_mutex_lock(&s->mu);
    accepted *a = s->free_acc;
    if (a) s->free_acc = a->next;
    pthread_mutex_unlock(&s->mu);
    return a ? a : malloc(sizeof *a);
}

static void acc_put(weft_http_server *s, accepted *a) {
    pthread_mutex_lock(&s->mu);
    a->next = s->free_acc;
    s->free_acc = a;
    pthread_mutex_unlock(&s->mu);
}

const char *weft_http_peer(const weft_http_ctx *x) {
    weft__http_conn *c = x->conn;
    if (!c->owner) return "";
    if (c->peer[0]) return c->peer;
    const peer_addr *pa = &((const sconn *)c->owner)->peer;
    char host[INET6_ADDRSTRLEN] = "?";
    if (pa->sa.sa_family == AF_INET) {
        inet_ntop(AF_INET, &pa->in4.sin_addr, host, sizeof host);
        snprintf(c->peer, sizeof c->peer, "%s:%u", host, ntohs(pa->in4.sin_port));
    } else if (pa->sa.sa_family == AF_INET6) {
        inet_ntop(AF_INET6, &pa->in6.sin6_addr, host, sizeof host);
        snprintf(c->peer, sizeof c->peer, "[%s]:%u", host, ntohs(pa->in6.sin6_port));
    } else {
        snprintf(c->peer, sizeof c->peer, "unix");
    }
    return c->peer;
}

static weft__http_conn *state_get(weft_http_server *s, sconn *sc) {
    weft__http_conn *c = NULL;
    pthread_mutex_lock(&s->mu);
    if (s->npool) c = s->pool[--s->npool];
    pthread_mutex_unlock(&s->mu);
    if (!c) {
        c = malloc(sizeof *c);
        if (!c) return NULL;
        weft__http_conn_init(c, &s->cfg, s->router);
    }
    c->srv = s;
    c->fd = sc->fd;
    c->owner = sc;
    c->peer[0] = 0;
    c->served = 0;
    c->cur_len = 0;
    c->handed_over = 0;
    return c;
}

static void state_put(weft_http_server *s, weft__http_conn *c) {
    if (!c) return;
    if (c->in.cap > KEEP_CAP || c->out.cap > KEEP_CAP || c->ctx.body_out.cap > KEEP_CAP ||
        c->ctx.hdrs.cap > KEEP_CAP || c->arena.used > KEEP_CAP) {
        conn_shrink(c);
    } else {
        c->in.len = c->in_off = 0;
        weft_buf_clear(&c->out);
        weft__http_ctx_reset(&c->ctx);
        weft_arena_reset(&c->arena);
    }
    c->owner = NULL;
    c->fd = -1;
    pthread_mutex_lock(&s->mu);
    if (s->npool < POOL_MAX) {
        s->pool[s->npool++] = c;
        c = NULL;
    }
    pthread_mutex_unlock(&s->mu);
    if (c) {
        conn_shrink(c);
        free(c);
    }
}

static void conn_main(void *arg) {
    sconn sc;
    memset(&sc, 0, sizeof sc);
    {
        accepted *a = arg;
        sc.srv = a->srv;
        sc.fd = a->fd;
        sc.peer = a->peer;
        acc_put(a->srv, a);
    }
    weft_http_server *s = sc.srv;
    const weft__http_cfg *cfg = &s->cfg;
    if (!(sc.task = weft_task_ref_self(NULL))) { /* out of memory: drop it */
        weft_close(sc.fd);
        atomic_fetch_sub_explicit(&s->nconns, 1, memory_order_relaxed);
        return;
    }
    pthread_mutex_lock(&s->mu);
    sc.next = s->conns;
    if (s->conns) s->conns->prev = &sc;
    s->conns = &sc;
    pthread_mutex_unlock(&s->mu);

    /* a new connection must deliver a request head within head_timeout;
     * the first request is often there already: take it without waiting */
    int64_t head_deadline = weft_deadline_in(cfg->head_timeout_ms);
    weft__http_conn *c = state_get(s, &sc);
    ssize_t n = c ? read_more(c, READ_CHUNK, 0) : WEFT_ENOMEM;
    for (;;) {
        if (n == WEFT_EAGAIN) {
            /* No request started (a new connection, or between requests):
             * give the request state back while waiting, and let a
             * shutdown close the connection -- a silent new one too, or it
             * would hold the shutdown for head_timeout. The CAS on `idle`
             * decides between picking up a request and the stopper closing
             * it. */
            int first = sc.served == 0;
            state_put(s, c);
            c = NULL;
            /* No timer for this wait: the server's sweeper closes idle
             * connections past their deadline (one scan per interval
             * instead of a timer-heap entry per connection and request). */
            atomic_store_explicit(&sc.idle_deadline,
                                  first ? head_deadline : weft_deadline_in(cfg->idle_timeout_ms),
                                  memory_order_relaxed);
            atomic_store(&sc.idle, 1);
            if (atomic_load(&s->stopping)) break;
            int w = weft_fd_wait_hint(sc.fd, WEFT_POLLIN, -1);
            int expect = 1;
            if (!atomic_compare_exchange_strong(&sc.idle, &expect, 0)) break; /* told to close */
            if (w < 0) break; /* head/idle timeout (nothing sent: silent), cancelled, error */
            if (!first) head_deadline = weft_deadline_in(cfg->head_timeout_ms);
            if (!(c = state_get(s, &sc))) break;
            /* deadline 0: a readiness that was gone (see the wait) reads
             * EAGAIN and the connection simply waits again */
            n = read_more(c, READ_CHUNK, 0);
        }
        if (n == WEFT_ETIMEDOUT) {
            if (c->in.len > c->in_off) {
                weft__http_error_response(c, 408, "request head not received in time", 1);
                weft__http_flush(c);
            }
            break;
        }
        if (n <= 0) break;
        uint64_t served = c->served;
        int rc = weft__http_process(c);
        if (c->served != served) {
            sc.served += c->served - served;
            head_deadline = weft_deadline_in(cfg->head_timeout_ms);
        }
        if (rc == 2) break; /* handed over and its handler has returned */
        if (rc == 0) {
            weft__http_flush(c);
            break;
        }
        if (rc < 0) break;
        if (weft__http_flush(c)) break;
        if (c->in.len == c->in_off) {
            c->in.len = c->in_off = 0;
            n = WEFT_EAGAIN; /* wait for the next request */
        } else {
            n = read_more(c, READ_CHUNK, head_deadline); /* the rest of a started head */
        }
    }
    /* Orderly close: half-close our side, so a client that pipelined more
     * requests than were answered gets the responses, not a reset. A
     * handed-over fd is not ours any more. */
    if (!sc.handed_over) {
        shutdown(sc.fd, SHUT_WR);
        weft_close(sc.fd);
    }
    state_put(s, c);
    pthread_mutex_lock(&s->mu);
    if (sc.prev)
        sc.prev->next = sc.next;
    else
        s->conns = sc.next;
    if (sc.next) sc.next->prev = sc.prev;
    pthread_mutex_unlock(&s->mu);
    weft_task_ref_release(sc.task);
    atomic_fetch_sub_explicit(&s->nconns, 1, memory_order_relaxed);
}

/* ---- connection hand-over ---------------------------------------------------------------- */

int weft_http_hand_over(weft_http_ctx *x, weft_http_handover *h) {
    if (!x || !h) return WEFT_EINVAL;
    weft__http_conn *c = x->conn;
    weft_buf_init(&h->leftover, 0);
    if (!c->srv || !c->owner || c->fd < 0) return c->handed_over ? WEFT_EINVAL : WEFT_ENOTSUP;
    sconn *sc = c->owner;
    if (c->handed_over || x->head_sent || weft_task_id() != weft_task_ref_id(sc->task))
        return WEFT_EINVAL;
    weft_http_server *s = c->srv;
    size_t start = c->in_off + c->cur_len;
    if (c->in.len > start && weft_buf_append(&h->leftover, c->in.data + start, c->in.len - start))
        return WEFT_ENOMEM;
    if (h->head_len && (!h->head || weft_buf_append(&c->out, h->head, h->head_len))) {
        weft_buf_free(&h->leftover);
        return h->head ? WEFT_ENOMEM : WEFT_EINVAL;
    }
    int rc = weft__http_flush(c);
    if (rc < 0) {
        weft_buf_free(&h->leftover);
        x->failed = 1; /* part of it may be on the wire: only closing tells */
        return rc;
    }
    h->fd = c->fd;
    /* From here on the server's code for this request writes nowhere: a
     * flush with no fd and no sink drops its bytes. The output buffer is
     * not needed any more; the input stays, the request points into it. */
    c->fd = -1;
    weft_buf_free(&c->out);
    c->handed_over = 1;
    pthread_mutex_lock(&s->mu);
    sc->handed_over = 1;
    sc->on_shutdown = h->on_shutdown;
    sc->ud = h->ud;
    int late = s->notified;
    pthread_mutex_unlock(&s->mu);
    if (late && h->on_shutdown) h->on_shutdown(h->ud);
    return 0;
}

int weft_http_stopping(const weft_http_ctx *x) {
    const weft__http_conn *c = x ? x->conn : NULL;
    return c && c->srv ? atomic_load(&c->srv->stopping) : 0;
}

/* Shutdown has begun: tell every handed-over connection, once. Connections
 * handed over later see `notified` and call their own notification. */
static void notify_handed_over(weft_http_server *s) {
    pthread_mutex_lock(&s->mu);
    s->notified = 1;
    for (sconn *c = s->conns; c; c = c->next)
        if (c->handed_over && c->on_shutdown) c->on_shutdown(c->ud);
    pthread_mutex_unlock(&s->mu);
}

/* ---- listeners ------------------------------------------------------------------------ */

static void accept_one(weft_http_server *s, int fd, accepted *a) {
    if (atomic_load_explicit(&s->nconns, memory_order_relaxed) >= s->cfg.max_connections) {
        weft_log_warn("http: %zu connections open (max_connections): closing a new one",
                      s->cfg.max_connections);
        weft_close(fd);
        acc_put(s, a);
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    a->srv = s;
    a->fd = fd;
    atomic_fetch_add_explicit(&s->nconns, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->accepted, 1, memory_order_relaxed);
    int rc = weft_group_go(&s->conn_group, conn_main, a, "http-conn");
    if (rc < 0) {
        weft_log_warn("http: cannot start a connection task: %s", weft_strerror(rc));
        atomic_fetch_sub_explicit(&s->nconns, 1, memory_order_relaxed);
        weft_close(fd);
        acc_put(s, a);
    }
}

static void acceptor_main(void *arg) {
    listener *l = arg;
    weft_http_server *s = l->srv;
    accepted *sc = NULL;
    for (;;) {
        if (!sc && !(sc = acc_get(s))) {
            weft_sleep(10);
            continue;
        }
        unsigned alen = sizeof sc->peer;
        int fd = weft_accept(l->fd, &sc->peer, &alen, -1);
        if (fd >= 0) {
            accept_one(s, fd, sc);
            sc = NULL;
            /* batch: take what else is queued without waiting */
            for (int k = 0; k < 64; k++) {
                accepted *more = acc_get(s);
                if (!more) break;
                alen = sizeof more->peer;
                fd = weft_accept(l->fd, &more->peer, &alen, 0);
                if (fd < 0) {
                    sc = more;
                    break;
                }
                accept_one(s, fd, more);
            }
            continue;
        }
        if (fd == WEFT_ECANCELED || fd == WEFT_ESHUTDOWN) break;
        if (fd == WEFT_EMFILE || fd == -ENFILE || fd == WEFT_ENOMEM || fd == -ENOBUFS) {
            weft_log_warn("http: accept: %s; pausing 50 ms", weft_strerror(fd));
            if (weft_sleep(50) == WEFT_ECANCELED) break;
        } else if (fd != WEFT_ECONNABORTED && fd != WEFT_EINTR && fd != WEFT_EAGAIN) {
            weft_log_warn("http: accept: %s", weft_strerror(fd));
            if (weft_sleep(10) == WEFT_ECANCELED) break;
        }
    }
    if (sc) acc_put(s, sc);
}

static int unix_listen(const char *path, int backlog) {
    struct sockaddr_un a;
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof a.sun_path) return WEFT_EINVAL;
    strcpy(a.sun_path, path);
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) unlink(path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, backlog) < 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    return fd;
}

/* SO_REUSEPORT lets another process join our port silently; bind once
 * without it first so a port already taken fails with EADDRINUSE. */
static int port_free(const char *host, int port) {
    int fd = weft_tcp_listen(host, port, 1, 0);
    if (fd < 0) return fd;
    int p = weft_sock_port(fd);
    close(fd);
    return p;
}

/* A peer that goes away makes a write to its socket raise SIGPIPE, whose
 * default action kills the process. The server handles EPIPE as an error
 * code instead: ignore the signal, unless the program installed a handler. */
static pthread_once_t sigpipe_once = PTHREAD_ONCE_INIT;
static void sigpipe_ignore(void) {
    struct sigaction old;
    if (sigaction(SIGPIPE, NULL, &old) == 0 && old.sa_handler == SIG_DFL &&
        !(old.sa_flags & SA_SIGINFO))
        signal(SIGPIPE, SIG_IGN);
}

static void sig_install(void); /* signals section below */

weft_http_server *weft_http_server_new(const weft_http_config *cfg, weft_http_router *r,
                                       int *err) {
    int e = 0;
    pthread_once(&sigpipe_once, sigpipe_ignore);
    if (!r) e = WEFT_EINVAL;
    weft_http_server *s = e ? NULL : calloc(1, sizeof *s);
    if (!e && !s) e = WEFT_ENOMEM;
    if (e) {
        if (err) *err = e;
        return NULL;
    }
    weft_http_config z;
    memset(&z, 0, sizeof z);
    if (!cfg) cfg = &z;
    weft__http_cfg_resolve(&s->cfg, cfg);
    s->router = r;
    s->handle_signals = cfg->handle_signals;
    /* the handlers go in now, not when serving starts: a SIGTERM that comes
     * right after the program said it listens must drain, not kill */
    if (s->handle_signals) sig_install();
    pthread_mutex_init(&s->mu, NULL);
    weft_group_init(&s->accept_group);
    weft_group_init(&s->conn_group);
    weft_group_init(&s->aux_group);
    weft_sem_init(&s->stop_sem, 0);
    int backlog = cfg->backlog > 0 ? cfg->backlog : 4096;
    if (cfg->unix_path && cfg->unix_path[0]) {
        int fd = unix_listen(cfg->unix_path, backlog);
        if (fd < 0) {
            e = fd;
            goto fail;
        }
        s->ls[s->nls++] = (listener){s, fd};
        s->unix_path = strdup(cfg->unix_path);
        return s;
    }
    const char *host = cfg->host && cfg->host[0] ? cfg->host : "127.0.0.1";
    int n = cfg->listeners > 0 ? cfg->listeners : weft_workers();
    if (n < 1) n = 1;
    if (n > MAX_LISTENERS) n = MAX_LISTENERS;
    int port = cfg->port;
    if (n > 1) {
        port = port_free(host, cfg->port);
        if (port < 0) {
            e = port;
            goto fail;
        }
    }
    for (int i = 0; i < n; i++) {
        int fd = weft_tcp_listen(host, port, backlog, n > 1);
        if (fd < 0) {
            e = fd;
            goto fail;
        }
        s->ls[s->nls++] = (listener){s, fd};
        if (i == 0) port = weft_sock_port(fd);
    }
    s->port = port;
    return s;
fail:
    for (int i = 0; i < s->nls; i++) close(s->ls[i].fd);
    free(s);
    if (err) *err = e;
    return NULL;
}

int weft_http_server_port(const weft_http_server *s) { return s ? s->port : WEFT_EINVAL; }

void weft_http_server_stats(const weft_http_server *s, weft_http_stats *o) {
    o->connections = atomic_load_explicit(&s->nconns, memory_order_relaxed);
    o->accepted = atomic_load_explicit(&s->accepted, memory_order_relaxed);
    o->requests = atomic_load_explicit(&s->requests, memory_order_relaxed);
}

void weft_http_server_stop(weft_http_server *s) {
    if (!s) return;
    int expect = 0;
    if (atomic_compare_exchange_strong(&s->stopping, &expect, 1)) weft_sem_release(&s->stop_sem, 1);
}

/* ---- signals: a self-pipe read by a task ------------------------------------------------ */

static int sig_pipe[2] = {-1, -1};
static pthread_once_t sig_once = PTHREAD_ONCE_INIT;

static void on_signal(int sig) {
    int saved = errno;
    char b = (char)sig;
    ssize_t w = write(sig_pipe[1], &b, 1);
    (void)w;
    errno = saved;
}

static void sig_setup(void) {
    if (pipe2(sig_pipe, O_NONBLOCK | O_CLOEXEC) < 0) return;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
}

static void sig_install(void) { pthread_once(&sig_once, sig_setup); }

static void signal_main(void *arg) {
    weft_http_server *s = arg;
    char b;
    ssize_t n = weft_read(sig_pipe[0], &b, 1, -1);
    if (n == 1) {
        weft_log_info("http: %s received, shutting down", b == SIGINT ? "SIGINT" : "SIGTERM");
        weft_http_server_stop(s);
    }
}

/* ---- serve and shut down ------------------------------------------------------------------ */

/* Close the connections waiting for a request whose deadline is before
 * `before` (INT64_MAX: all of them); busy ones are left alone (during a
 * shutdown they see `stopping` and close after their response). The CAS
 * against the connection's own 1 -> 0 decides who wins. */
static void close_idle(weft_http_server *s, int64_t before) {
    pthread_mutex_lock(&s->mu);
    for (sconn *c = s->conns; c; c = c->next) {
        if (atomic_load_explicit(&c->idle, memory_order_relaxed) != 1) continue;
        if (atomic_load_explicit(&c->idle_deadline, memory_order_relaxed) >= before) continue;
        int expect = 1;
        if (atomic_compare_exchange_strong(&c->idle, &expect, 2)) weft_task_ref_cancel(c->task);
    }
    pthread_mutex_unlock(&s->mu);
}

/* Enforces the idle keep-alive timeout and the head timeout of connections
 * that have sent nothing yet, a few times per the shortest of the two. */
static void sweeper_main(void *arg) {
    weft_http_server *s = arg;
    int64_t t = s->cfg.idle_timeout_ms < s->cfg.head_timeout_ms ? s->cfg.idle_timeout_ms
                                                                 : s->cfg.head_timeout_ms;
    int64_t step = t / 8 < 5 ? 5 : t / 8 > 1000 ? 1000 : t / 8;
    while (weft_sleep(step) == 0) close_idle(s, weft_now());
}

int weft_http_serve(weft_http_server *s) {
    if (!s) return WEFT_EINVAL;
    if (!weft_in_task()) return WEFT_ENOTASK;
    int expect = 0;
    if (!atomic_compare_exchange_strong(&s->serving, &expect, 1)) return WEFT_EBUSY;
    for (int i = 0; i < s->nls; i++) {
        int rc = weft_group_go(&s->accept_group, acceptor_main, &s->ls[i], "http-accept");
        if (rc < 0) {
            weft_log_error("http: cannot start an accept task: %s", weft_strerror(rc));
            weft_http_server_stop(s);
            break;
        }
    }
    if (weft_group_go(&s->aux_group, sweeper_main, s, "http-sweeper") < 0)
        weft_log_warn("http: cannot start the idle sweeper: idle connections will not time out");
    if (s->handle_signals) {
        sig_install();
        if (sig_pipe[0] >= 0) weft_group_go(&s->aux_group, signal_main, s, "http-signals");
    }
    /* Park until stopped. Cancellation of this task also stops the server. */
    while (!atomic_load(&s->stopping)) {
        int rc = weft_sem_acquire(&s->stop_sem, -1);
        if (rc == WEFT_ECANCELED || rc == WEFT_ESHUTDOWN) {
            atomic_store(&s->stopping, 1);
            break;
        }
    }
    notify_handed_over(s);
    weft_group_cancel(&s->accept_group);
    weft_group_cancel(&s->aux_group);
    /* These waits must finish even if this task was cancelled. */
    int masked = weft_nocancel_begin();
    weft_group_wait(&s->accept_group, -1);
    weft_group_wait(&s->aux_group, -1);
    for (int i = 0; i < s->nls; i++) weft_close(s->ls[i].fd);
    s->nls = 0;
    if (s->unix_path) unlink(s->unix_path);
    int64_t deadline = weft_deadline_in(s->cfg.shutdown_timeout_ms);
    close_idle(s, INT64_MAX);
    /* Connections that were busy go idle after their response, see
     * `stopping` and close; sweep a few times for the ones in between. */
    while (weft_group_count(&s->conn_group) > 0 && weft_now() < deadline) {
        close_idle(s, INT64_MAX);
        int64_t step = weft_deadline_in(20);
        weft_group_wait(&s->conn_group, step < deadline ? step : deadline);
    }
    if (weft_group_count(&s->conn_group) > 0) {
        weft_log_warn("http: %lld connection(s) still busy after %lld ms: cancelling them",
                      (long long)weft_group_count(&s->conn_group),
                      (long long)s->cfg.shutdown_timeout_ms);
        weft_group_cancel(&s->conn_group);
        weft_group_wait(&s->conn_group, -1);
    }
    weft_nocancel_end(masked);
    return 0;
}

void weft_http_server_free(weft_http_server *s) {
    if (!s) return;
    for (int i = 0; i < s->nls; i++) close(s->ls[i].fd);
    for (int i = 0; i < s->npool; i++) {
        conn_shrink(s->pool[i]);
        free(s->pool[i]);
    }
    while (s->free_acc) {
        accepted *a = s->free_acc;
        s->free_acc = a->next;
        free(a);
    }
    pthread_mutex_destroy(&s->mu);
    free(s->unix_path);
    free(s);
}

int weft_http_listen_and_serve(const weft_http_config *cfg, weft_http_router *r) {
    int err = 0;
    weft_http_server *s = weft_http_server_new(cfg, r, &err);
    if (!s) return err;
    int rc = weft_http_serve(s);
    weft_http_server_free(s);
    return rc;
}
