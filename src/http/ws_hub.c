/*
 * src/http/ws_hub.c — topics and fan-out: one message, framed once, shared by
 * reference with every subscriber.
 *
 * A weft_hub_msg is one allocation: the reference count, the opcode and the
 * whole uncompressed server frame (head + payload), so a connection's writer
 * writes the frame bytes from here (an iovec; its queued item keeps a
 * reference until they are written), never copying them. The compressed frame
 * is made lazily by the first connection that can use it (permessage-deflate
 * with server_no_context_takeover and a 15-bit window) and published with a
 * compare-and-swap; a racing second compressor frees its own copy.
 *
 * The hub is a list of topics under one pthread mutex (publishers may be
 * plain threads); each topic an array of subscribers. Publishing holds the
 * mutex for the fan-out, which never waits (weft_ws queues, sends handed to
 * the worker's io_uring that never wait for a socket, channel sends with
 * deadline 0), and drops subscribers it finds closed: that is the automatic
 * unsubscribe. With io_uring the mutex is also held while each ring-full
 * (1,024) of a fan-out's sends goes to the kernel (ws_conn.c,
 * send_shared_async).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "ws_int.h"

struct weft_hub_msg {
    atomic_int refs;
    int opcode;
    size_t head;           /* frame head bytes */
    size_t n;              /* payload bytes */
    _Atomic(weft_buf *) z; /* the compressed frame, once made */
    uint8_t frame[];
};

weft_str weft_hub_msg_data(const weft_hub_msg *m) {
    return (weft_str){(const char *)m->frame + m->head, m->n};
}
int weft_hub_msg_opcode(const weft_hub_msg *m) { return m->opcode; }
weft_str weft__hub_msg_frame(const weft_hub_msg *m) {
    return (weft_str){(const char *)m->frame, m->head + m->n};
}

weft_hub_msg *weft__hub_msg_ref(weft_hub_msg *m) {
    atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
    return m;
}

void weft_hub_msg_release(weft_hub_msg *m) {
    if (atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) != 1) return;
    weft_buf *z = atomic_load_explicit(&m->z, memory_order_acquire);
    if (z) {
        weft_buf_free(z);
        free(z);
    }
    free(m);
}

/* One deflater per thread for the shared frames. Every message is
 * compressed with a fresh context (the deflater resets after each one), but
 * setting a deflater up costs ~200k instructions (zlib allocates and clears
 * its window and hash tables) — more than compressing a small message, so it
 * is done once per thread, not per message. Compressing never suspends: a
 * thread's deflater is never in use twice at once. */
static pthread_key_t hub_z_key;
static pthread_once_t hub_z_once = PTHREAD_ONCE_INIT;
static int hub_z_ok;

static void hub_z_free(void *d) { weft_ws_deflater_free(d); }
static void hub_z_init(void) { hub_z_ok = pthread_key_create(&hub_z_key, hub_z_free) == 0; }

static weft_ws_deflater *hub_deflater(void) {
    static const weft_ws_deflate_params fresh = {1, 1, 15, 15};
    pthread_once(&hub_z_once, hub_z_init);
    if (!hub_z_ok) return NULL;
    weft_ws_deflater *d = pthread_getspecific(hub_z_key);
    if (d) return d;
    d = weft_ws_deflater_new(&fresh, WEFT_WS_SERVER);
    if (d && pthread_setspecific(hub_z_key, d)) {
        weft_ws_deflater_free(d);
        d = NULL;
    }
    return d;
}

/* For tests (weft__hub_frame_counts): frames made, compressions run. */
static atomic_ullong frames_made, frames_deflated;

void weft__hub_frame_counts(uint64_t *frames, uint64_t *deflated) {
    *frames = atomic_load_explicit(&frames_made, memory_order_relaxed);
    *deflated = atomic_load_explicit(&frames_deflated, memory_order_relaxed);
}

weft_str weft__hub_msg_frame_z(weft_hub_msg *m) {
    weft_buf *z = atomic_load_explicit(&m->z, memory_order_acquire);
    if (z) return (weft_str){z->data, z->len};
    atomic_fetch_add_explicit(&frames_deflated, 1, memory_order_relaxed);
    weft_ws_deflater *d = hub_deflater();
    weft_buf payload, *f = calloc(1, sizeof *f);
    weft_buf_init(&payload, 0);
    int rc = !d || !f ? WEFT_ENOMEM : weft_ws_deflate(d, m->frame + m->head, m->n, &payload);
    if (!rc) {
        weft_buf_init(f, 0);
        rc = weft_ws_frame_append(f, WEFT_WS_FIN | WEFT_WS_RSV1, m->opcode,
                                  payload.data ? payload.data : "", payload.len, NULL);
    }
    weft_buf_free(&payload);
    if (rc) {
        if (f) weft_buf_free(f);
        free(f);
        return (weft_str){NULL, 0};
    }
    weft_buf *expect = NULL;
    if (!atomic_compare_exchange_strong_explicit(&m->z, &expect, f, memory_order_acq_rel,
                                                 memory_order_acquire)) {
        weft_buf_free(f); /* another writer was first: use its frame */
        free(f);
        f = expect;
    }
    return (weft_str){f->data, f->len};
}

static weft_hub_msg *msg_new(int opcode, const void *p, size_t n) {
    uint8_t head[WEFT_WS_HEAD_MAX];
    size_t h = weft_ws_frame_head(head, WEFT_WS_FIN, opcode, n, NULL);
    weft_hub_msg *m = malloc(sizeof *m + h + n);
    if (!m) return NULL;
    atomic_fetch_add_explicit(&frames_made, 1, memory_order_relaxed);
    atomic_init(&m->refs, 1);
    atomic_init(&m->z, NULL);
    m->opcode = opcode;
    m->head = h;
    m->n = n;
    memcpy(m->frame, head, h);
    if (n) memcpy(m->frame + h, p, n);
    return m;
}

weft_hub_msg *weft_hub_msg_new(int opcode, const void *p, size_t n) {
    if (opcode != WEFT_WS_TEXT && opcode != WEFT_WS_BINARY) return NULL;
    if (opcode == WEFT_WS_TEXT && !weft_utf8_valid(p, n)) return NULL;
    return msg_new(opcode, p, n);
}

/* ---- topics and subscribers ------------------------------------------------------- */

enum { SUB_WS, SUB_CHAN };

typedef struct sub {
    int kind;
    int flags; /* SUB_CHAN: WEFT_HUB_CHAN_CLOSE_WHEN_FULL */
    weft_ws *ws;
    weft_chan *ch;
} sub;

typedef struct topic {
    struct topic *next;
    sub *subs;
    size_t n, cap;
    char name[];
} topic;

struct weft_hub {
    pthread_mutex_t mu;
    topic *topics;
    weft_hub_broker broker;
    uint64_t published, delivered, dropped;
    size_t nsubs;
};

weft_hub *weft_hub_new(void) {
    weft_hub *h = calloc(1, sizeof *h);
    if (!h) return NULL;
    pthread_mutex_init(&h->mu, NULL);
    return h;
}

static void drop_sub(weft_hub *h, sub *s) {
    if (s->kind == SUB_WS) weft__ws_unref(s->ws);
    h->nsubs--;
}

void weft_hub_free(weft_hub *h) {
    if (!h) return;
    topic *t = h->topics;
    while (t) {
        topic *next = t->next;
        for (size_t i = 0; i < t->n; i++) drop_sub(h, &t->subs[i]);
        free(t->subs);
        free(t);
        t = next;
    }
    pthread_mutex_destroy(&h->mu);
    free(h);
}

void weft_hub_set_broker(weft_hub *h, const weft_hub_broker *b) {
    pthread_mutex_lock(&h->mu);
    if (b)
        h->broker = *b;
    else
        memset(&h->broker, 0, sizeof h->broker);
    pthread_mutex_unlock(&h->mu);
}

static topic *find_topic(weft_hub *h, const char *name, int create) {
    for (topic *t = h->topics; t; t = t->next)
        if (!strcmp(t->name, name)) return t;
    if (!create) return NULL;
    size_t len = strlen(name);
    topic *t = calloc(1, sizeof *t + len + 1);
    if (!t) return NULL;
    memcpy(t->name, name, len + 1);
    t->next = h->topics;
    h->topics = t;
    return t;
}

/* Removes subs[i] (the last one takes its place). */
static void remove_at(weft_hub *h, topic *t, size_t i) {
    drop_sub(h, &t->subs[i]);
    t->subs[i] = t->subs[--t->n];
}

static int add_sub(weft_hub *h, const char *name, sub s) {
    pthread_mutex_lock(&h->mu);
    int rc = 0;
    topic *t = find_topic(h, name, 1);
    if (!t) {
        rc = WEFT_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < t->n; i++)
        if (t->subs[i].kind == s.kind && t->subs[i].ws == s.ws && t->subs[i].ch == s.ch) {
            rc = WEFT_EEXIST;
            goto out;
        }
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 8;
        sub *ns = realloc(t->subs, cap * sizeof *ns);
        if (!ns) {
            rc = WEFT_ENOMEM;
            goto out;
        }
        t->subs = ns;
        t->cap = cap;
    }
    if (s.kind == SUB_WS) weft__ws_ref(s.ws);
    t->subs[t->n++] = s;
    h->nsubs++;
out:
    pthread_mutex_unlock(&h->mu);
    return rc;
}

static int del_sub(weft_hub *h, const char *name, sub s) {
    pthread_mutex_lock(&h->mu);
    int rc = WEFT_ENOENT;
    topic *t = find_topic(h, name, 0);
    for (size_t i = 0; t && i < t->n; i++)
        if (t->subs[i].kind == s.kind && t->subs[i].ws == s.ws && t->subs[i].ch == s.ch) {
            remove_at(h, t, i);
            rc = 0;
            break;
        }
    pthread_mutex_unlock(&h->mu);
    return rc;
}

int weft_hub_subscribe_ws(weft_hub *h, const char *topic_name, weft_ws *ws) {
    if (weft__ws_is_closed(ws)) return WEFT_ECLOSED;
    return add_sub(h, topic_name, (sub){SUB_WS, 0, ws, NULL});
}
int weft_hub_unsubscribe_ws(weft_hub *h, const char *topic_name, weft_ws *ws) {
    return del_sub(h, topic_name, (sub){SUB_WS, 0, ws, NULL});
}
int weft_hub_subscribe_chan_flags(weft_hub *h, const char *topic_name, weft_chan *ch, int flags) {
    if (!ch || (flags & ~WEFT_HUB_CHAN_CLOSE_WHEN_FULL)) return WEFT_EINVAL;
    return add_sub(h, topic_name, (sub){SUB_CHAN, flags, NULL, ch});
}
int weft_hub_subscribe_chan(weft_hub *h, const char *topic_name, weft_chan *ch) {
    return weft_hub_subscribe_chan_flags(h, topic_name, ch, 0);
}
int weft_hub_unsubscribe_chan(weft_hub *h, const char *topic_name, weft_chan *ch) {
    return del_sub(h, topic_name, (sub){SUB_CHAN, 0, NULL, ch});
}

/* The parts of a split publish (weft_hub_publish_split): made, each framed
 * once, the first time a lagging connection needs them. */
typedef struct split {
    const weft_hub_part *parts;
    int n;
    weft_hub_msg **m; /* n, NULL until made */
} split;

/* A connection that lags gets the parts in order instead of the whole
 * message: 0 when it took every one, else the first failure. */
static int send_parts(weft_ws *ws, int opcode, split *sp) {
    for (int k = 0; k < sp->n; k++) {
        if (!sp->m[k] && !(sp->m[k] = msg_new(opcode, sp->parts[k].p, sp->parts[k].n))) return WEFT_ENOMEM;
        int rc = weft__ws_send_shared(ws, sp->m[k], 0, sp->parts[k].flags);
        if (rc) return rc;
    }
    return 0;
}

static int fan_out(weft_hub *h, const char *name, int opcode, uint64_t key, int flags, const void *p,
                   size_t n, int to_broker, split *sp) {
    if (opcode != WEFT_WS_TEXT && opcode != WEFT_WS_BINARY) return WEFT_EINVAL;
    if (flags & ~WEFT_WS_SEND_KEEP) return WEFT_EINVAL;
    if (opcode == WEFT_WS_TEXT && !weft_utf8_valid(p, n)) return WEFT_EINVAL;
    weft_hub_msg *m = msg_new(opcode, p, n);
    if (!m) return WEFT_ENOMEM;
    int count = 0;
    pthread_mutex_lock(&h->mu);
    h->published++;
    topic *t = find_topic(h, name, 0);
    for (size_t i = 0; t && i < t->n;) {
        sub *s = &t->subs[i];
        int rc;
        if (s->kind == SUB_WS) {
            rc = weft__ws_send_shared(s->ws, m, key, sp ? flags | WEFT__WS_SEND_IF_SHORT : flags);
            if (rc == WEFT_EAGAIN) rc = send_parts(s->ws, opcode, sp); /* it lags */
        } else {
            weft_hub_msg *ref = weft__hub_msg_ref(m);
            rc = weft_chan_send(s->ch, &ref, 0);
            if (rc) weft_hub_msg_release(ref);
        }
        if (rc == 0) {
            count++;
            h->delivered++;
        } else if (rc == WEFT_ECLOSED) {
            remove_at(h, t, i); /* unsubscribed on close; subs[i] is another one now */
            continue;
        } else if (s->kind == SUB_CHAN && (s->flags & WEFT_HUB_CHAN_CLOSE_WHEN_FULL)) {
            /* no room: rather than a gap its receiver cannot see, the end
             * of what it gets (it drains the channel, then WEFT_ECLOSED) */
            weft_chan_close(s->ch);
            h->dropped++;
            remove_at(h, t, i);
            continue;
        } else {
            h->dropped++;
        }
        i++;
    }
    weft_hub_broker b = h->broker;
    pthread_mutex_unlock(&h->mu);
    weft_hub_msg_release(m);
    if (to_broker && b.publish) b.publish(b.ud, name, opcode, p, n);
    return count;
}

int weft_hub_publish(weft_hub *h, const char *topic_name, int opcode, uint64_t key, const void *p,
                     size_t n) {
    return fan_out(h, topic_name, opcode, key, 0, p, n, 1, NULL);
}

int weft_hub_publish_flags(weft_hub *h, const char *topic_name, int opcode, uint64_t key, int flags,
                           const void *p, size_t n) {
    return fan_out(h, topic_name, opcode, key, flags, p, n, 1, NULL);
}

int weft_hub_publish_split(weft_hub *h, const char *topic_name, int opcode, const void *p, size_t n,
                           const weft_hub_part *parts, int nparts) {
    if (nparts < 1 || nparts > WEFT_HUB_PARTS_MAX || !parts) return WEFT_EINVAL;
    for (int k = 0; k < nparts; k++)
        if ((parts[k].flags & ~WEFT_WS_SEND_KEEP) ||
            (opcode == WEFT_WS_TEXT && !weft_utf8_valid(parts[k].p, parts[k].n)))
            return WEFT_EINVAL;
    weft_hub_msg *made[WEFT_HUB_PARTS_MAX] = {0};
    split sp = {parts, nparts, made};
    int rc = fan_out(h, topic_name, opcode, 0, WEFT_WS_SEND_KEEP, p, n, 1, &sp);
    for (int k = 0; k < nparts; k++)
        if (made[k]) weft_hub_msg_release(made[k]);
    return rc;
}

int weft_hub_deliver(weft_hub *h, const char *topic_name, int opcode, uint64_t key, const void *p,
                     size_t n) {
    return fan_out(h, topic_name, opcode, key, 0, p, n, 0, NULL);
}

void weft_hub_get_stats(weft_hub *h, weft_hub_stats *out) {
    pthread_mutex_lock(&h->mu);
    out->published = h->published;
    out->delivered = h->delivered;
    out->dropped = h->dropped;
    out->subscribers = h->nsubs;
    pthread_mutex_unlock(&h->mu);
}
