/* apps/fleet/feed.c — live updates, coalesced and shared (see feed.h). */
#include "feed.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft/impl.h"
#include "weft/log.h"
#include "weft/ws.h"

#include "isotime.h"
#include "model.h"

struct feed_viewer {
    int all;
    int64_t *groups; /* ascending */
    int ngroups;
    feed_deliver_fn fn;
    void *ud;
    weft_ws *ws;     /* a live socket (feed_subscribe_ws), else NULL */
    weft_chan *chan; /* an SSE stream's channel (feed_subscribe_chan), else NULL */
    int needs_state; /* ws, chan: its snapshot is still to be queued (at a tick) */
    feed_state *state; /* chan: the snapshot handed over, until feed_take_state */
    weft_sem ready;    /* chan: released when state is set */
    uint64_t dropped_seen; /* ws: its queue's drops already answered with a resync */
    int resync;            /* ws: needs_state is a resync (resync_lagging), not its first state */
    int64_t resync_ms;     /* ws: when it was last resynced */
    int64_t resync_gap;    /* ws: the least time to the next resync (RESYNC_MIN_MS..RESYNC_MAX_MS) */
    struct feed_viewer *next;
};

/* Snapshots are built at most this often (all audiences with a new socket
 * in one go): a burst of reconnecting dashboards shares one build, and the
 * snapshots alive at once (held by sockets that have not read theirs yet,
 * dropped after the socket's write timeout) stay few. */
#define SNAPSHOT_MIN_INTERVAL_MS 500
/* A device's entry ({"devices": [...]}) is in a tick's update when what it
 * shows changed (status, motion, ignition, name, group...), or at least this
 * often for the fields that change with every fix (lastUpdate,
 * distanceToday); its position is in every update after a fix. Traccar's
 * socket, too, sends devices on changes and positions on fixes. */
#define DEVICE_REFRESH_MS 10000
/* A live socket whose queue dropped updates (it fell more than live.queue_kb
 * behind: WEFT_WS_QUEUE_DROP_OLDEST) is sent its audience's snapshot again,
 * the newest state of every device, at most every RESYNC_MIN_MS: between two
 * resyncs it gets the updates the queue keeps. One that keeps falling behind
 * (dropping again within twice its gap) waits twice as long for the next,
 * up to RESYNC_MAX_MS, so a client that cannot keep up is not sent snapshot
 * after snapshot on top of the updates it cannot read. */
#define RESYNC_MIN_MS 2000
#define RESYNC_MAX_MS 30000
/* An estimate of a device's bytes in an update (its position, about 230
 * bytes in the bench's messages, and now and then its entry): a window that
 * gathers feed_chunk_bytes / this many devices (feed_full_batch) is full and
 * goes out without waiting for the window's end, as one message: the
 * update's bound (feed_update_bytes) leaves room for devices larger than the
 * estimate. */
#define POSITION_BYTES_EST 300

typedef struct pending_ev {
    int64_t id, device_id, group_id;
    fleet_event ev;
} pending_ev;

struct fleet_feed {
    fleet *f;
    pthread_mutex_t mu; /* changed, events */
    live_device **changed;
    size_t nchanged, capchanged;
    pending_ev *events;
    size_t nev, capev;
    pthread_mutex_t vmu; /* viewers */
    feed_viewer *viewers;
    int64_t last_snapshot_ms; /* the feed task's own */
    size_t full_batch;        /* devices that make a full window (feed_full_batch) */
    weft_sem wake;            /* the feed task waits on it: a first change, a full batch, a new viewer */
    weft_hub_msg *resync_msg; /* {"resync":true}, ahead of a resync's snapshot (NULL: out of memory) */
    atomic_int stop;
    weft_wg done;
    int running;
    feed_stats st;
};

void feed_msg_ref(feed_msg *m) { atomic_fetch_add(&m->refs, 1); }
void feed_msg_release(feed_msg *m) {
    if (m && atomic_fetch_sub(&m->refs, 1) == 1) free(m);
}

feed_stats *feed_get_stats(fleet_feed *fd) { return &fd->st; }

void feed_get_queues(fleet_feed *fd, feed_queues *out) {
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&fd->vmu);
    for (feed_viewer *v = fd->viewers; v; v = v->next) {
        if (!v->ws) continue;
        weft_ws_stats st;
        weft_ws_get_stats(v->ws, &st);
        out->sockets++;
        if (st.queued > out->max_queued) out->max_queued = st.queued;
        if (st.held > out->max_held) out->max_held = st.held;
        out->dropped += st.dropped;
    }
    pthread_mutex_unlock(&fd->vmu);
}

double feed_wait_quantile(const feed_stats *s, double q) {
    int64_t n = 0, seen = 0;
    for (int i = 0; i < FEED_WAIT_BUCKETS; i++) n += atomic_load_explicit(&s->wait_ms[i], memory_order_relaxed);
    if (!n) return -1;
    int64_t rank = (int64_t)(q * (double)n + 0.5);
    if (rank < 1) rank = 1;
    for (int i = 0; i < FEED_WAIT_BUCKETS; i++) {
        seen += atomic_load_explicit(&s->wait_ms[i], memory_order_relaxed);
        if (seen >= rank) return i;
    }
    return FEED_WAIT_BUCKETS - 1;
}

int feed_visible(int all, const int64_t *groups, int ngroups, int64_t gid) {
    if (all) return 1;
    for (int i = 0; i < ngroups; i++)
        if (groups[i] == gid) return 1;
    return 0;
}

fleet_feed *feed_new(fleet *f) {
    fleet_feed *fd = calloc(1, sizeof *fd);
    if (!fd) return NULL;
    fd->f = f;
    pthread_mutex_init(&fd->mu, NULL);
    pthread_mutex_init(&fd->vmu, NULL);
    weft_wg_init(&fd->done);
    weft_sem_init(&fd->wake, 0);
    fd->full_batch = feed_full_batch(&f->cfg);
    static const char mark[] = "{\"resync\":true}";
    fd->resync_msg = weft_hub_msg_new(WEFT_WS_TEXT, mark, sizeof mark - 1);
    return fd;
}

void feed_publish(fleet *f, live_device *d, const ev_row *evs, int n) {
    fleet_feed *fd = f->feed;
    if (!fd) return;
    pthread_mutex_lock(&fd->mu);
    int idle = !fd->nchanged && !fd->nev;
    if (!d->feed_pending) {
        if (fd->nchanged == fd->capchanged) {
            size_t cap = fd->capchanged ? fd->capchanged * 2 : 1024;
            live_device **c = realloc(fd->changed, cap * sizeof *c);
            if (c) fd->changed = c, fd->capchanged = cap;
        }
        if (fd->nchanged < fd->capchanged) {
            fd->changed[fd->nchanged++] = d;
            d->feed_pending = 1;
        }
    }
    for (int i = 0; i < n; i++) {
        if (fd->nev == fd->capev) {
            size_t cap = fd->capev ? fd->capev * 2 : 256;
            if (cap > 65536) break; /* a flood of events between two ticks: keep the first */
            pending_ev *e = realloc(fd->events, cap * sizeof *e);
            if (!e) break;
            fd->events = e, fd->capev = cap;
        }
        fd->events[fd->nev++] = (pending_ev){evs[i].id, d->id, d->group_id, evs[i].ev};
    }
    /* the feed task decides when to send (feed_task): told of the first
     * change after a send, and of a window that is full */
    int wake = (idle && (fd->nchanged || fd->nev)) || fd->nchanged == fd->full_batch;
    pthread_mutex_unlock(&fd->mu);
    if (wake) weft_sem_release(&fd->wake, 1);
}

static feed_msg *msg_from(weft_buf *b) {
    feed_msg *m = malloc(sizeof *m + b->len + 1);
    if (!m) return NULL;
    atomic_init(&m->refs, 1);
    m->len = b->len;
    memcpy(m->data, b->data, b->len);
    m->data[b->len] = 0;
    return m;
}

/* Encode the devices (views) and events visible to (all, groups) into b as
 * one message (the SSE stream's snapshot); 0 when nothing is visible (or out
 * of memory). */
static int encode(const device_view *views, size_t nviews, const pending_ev *evs, size_t nev, int all,
                  const int64_t *groups, int ngroups, weft_buf *b) {
    weft_buf_clear(b);
    weft_json_enc e;
    weft_json_enc_init(&e, b);
    weft_json_enc_object(&e);
    int any = 0;
    for (int pass = 0; pass < 2; pass++) {
        int opened = 0;
        for (size_t i = 0; i < nviews; i++) {
            if (!feed_visible(all, groups, ngroups, views[i].group_id)) continue;
            if (pass == 1 && !views[i].st.has_fix) continue;
            if (!opened) {
                weft_json_enc_key(&e, pass ? WEFT_STR("positions") : WEFT_STR("devices"));
                weft_json_enc_array(&e);
                opened = 1;
            }
            if (pass == 0) model_device(&e, &views[i]);
            else model_live_position(&e, &views[i]);
            any = 1;
        }
        if (opened) weft_json_enc_end(&e);
    }
    int opened = 0;
    for (size_t i = 0; i < nev; i++) {
        if (!feed_visible(all, groups, ngroups, evs[i].group_id)) continue;
        if (!opened) {
            weft_json_enc_key(&e, WEFT_STR("events"));
            weft_json_enc_array(&e);
            opened = 1;
        }
        model_event(&e, evs[i].id, evs[i].device_id, &evs[i].ev);
        any = 1;
    }
    if (opened) weft_json_enc_end(&e);
    weft_json_enc_end(&e);
    return any && weft_json_enc_finish(&e) == 0;
}

/* ---- messages of bounded size -------------------------------------------------
 * The live socket's snapshot and each tick's update go out as messages of
 * at most `limit` bytes (feed_chunk_bytes for a snapshot, feed_update_bytes
 * for an update), each a complete {"devices","positions","events"} update:
 * a device's entry and its position are in the same message, events come
 * after the devices, in the window's last message of positions while it has
 * room (ck_event). A device or an event that would take the message past
 * `limit` starts the next one (only one that is larger than `limit` on its
 * own goes alone, larger). So no message is larger than a quarter of a
 * viewer's queue, the share weft_hub_publish_split needs to send a message
 * whole to a socket that keeps up, and a large state reaches the queue and
 * the socket piece by piece.
 *
 * A message with events must reach every open dashboard (an alert is never
 * lost); one with positions only may be dropped by a lagging socket's
 * queue. A message with both is published whole to the sockets that keep up
 * (WEFT_WS_SEND_KEEP: one send for the window, as before events were kept)
 * and as two parts to the ones that lag, its positions droppable and its
 * events kept (weft_hub_publish_split). */
/* keep: the message holds events (never dropped by a live socket's queue);
 * parts (nparts 0 or 2): the same as its positions, droppable, and its
 * events, kept, for the sockets that lag */
typedef int (*emit_fn)(void *ud, const char *p, size_t n, int keep, const weft_hub_part *parts, int nparts);

/* What ck_message adds to the lists' own bytes, at most. */
#define CK_FRAME_BYTES (sizeof "{\"devices\":[],\"positions\":[],\"events\":[]}" - 1)

typedef struct chunker {
    weft_buf devs, pos, evs; /* comma-separated JSON values */
    weft_buf entry, value;   /* the next device's entry; its position, or the next event */
    weft_buf out, part_pos, part_ev;
    weft_json_enc enc;
    size_t limit;
    emit_fn emit;
    void *ud;
    int nmsgs, err;
} chunker;

static void ck_init(chunker *c, size_t limit, emit_fn emit, void *ud) {
    memset(c, 0, sizeof *c);
    weft_buf_init(&c->devs, 0), weft_buf_init(&c->pos, 0), weft_buf_init(&c->evs, 0);
    weft_buf_init(&c->entry, 0), weft_buf_init(&c->value, 0), weft_buf_init(&c->out, 0);
    weft_buf_init(&c->part_pos, 0), weft_buf_init(&c->part_ev, 0);
    c->limit = limit, c->emit = emit, c->ud = ud;
}

static void ck_free(chunker *c) {
    weft_buf_free(&c->devs), weft_buf_free(&c->pos), weft_buf_free(&c->evs);
    weft_buf_free(&c->entry), weft_buf_free(&c->value), weft_buf_free(&c->out);
    weft_buf_free(&c->part_pos), weft_buf_free(&c->part_ev);
}

/* One JSON value into item (ck_done when it is complete). */
static weft_json_enc *ck_begin(chunker *c, weft_buf *item) {
    weft_buf_clear(item);
    weft_json_enc_init(&c->enc, item);
    return &c->enc;
}

static void ck_done(chunker *c) {
    if (weft_json_enc_finish(&c->enc) < 0) c->err = WEFT_ENOMEM;
}

/* Append a complete value to a list. */
static void ck_put(chunker *c, weft_buf *list, const weft_buf *item) {
    if (c->err) return;
    if ((list->len && weft_buf_append(list, ",", 1) < 0) || weft_buf_append(list, item->data, item->len) < 0)
        c->err = WEFT_ENOMEM;
}

static void ck_list(weft_buf *out, const char *key, const weft_buf *list) {
    if (out->len > 1) weft_buf_appends(out, ",");
    weft_buf_appends(out, key);
    if (list->len) weft_buf_append(out, list->data, list->len);
    weft_buf_appends(out, "]");
}

/* {"devices":[...],"positions":[...],"events":[...]} into out, with the
 * lists asked for (and those that are not empty). 0 or WEFT_ENOMEM. */
static int ck_message(chunker *c, weft_buf *out, int devs, int pos, int evs) {
    weft_buf_clear(out);
    weft_buf_appends(out, "{");
    if (devs || c->devs.len) ck_list(out, "\"devices\":[", &c->devs);
    if (pos || c->pos.len) ck_list(out, "\"positions\":[", &c->pos);
    if (evs && c->evs.len) ck_list(out, "\"events\":[", &c->evs);
    return weft_buf_appends(out, "}") < 0 ? WEFT_ENOMEM : 0;
}

/* Emit what is gathered as one message; empty: also when nothing is (the
 * snapshot of an audience that sees no device). A message with positions
 * and events also has them apart, for the sockets that lag. */
static void ck_flush(chunker *c, int empty) {
    if (c->err || (!c->devs.len && !c->pos.len && !c->evs.len && !empty)) return;
    if (ck_message(c, &c->out, empty, empty, 1) < 0) {
        c->err = WEFT_ENOMEM;
        return;
    }
    weft_hub_part parts[2];
    int nparts = 0;
    if (c->evs.len && (c->devs.len || c->pos.len)) {
        weft_buf_clear(&c->part_ev);
        weft_buf_appends(&c->part_ev, "{");
        ck_list(&c->part_ev, "\"events\":[", &c->evs);
        if (ck_message(c, &c->part_pos, 0, 0, 0) < 0 || weft_buf_appends(&c->part_ev, "}") < 0) {
            c->err = WEFT_ENOMEM;
            return;
        }
        parts[0] = (weft_hub_part){c->part_pos.data, c->part_pos.len, 0};
        parts[1] = (weft_hub_part){c->part_ev.data, c->part_ev.len, WEFT_WS_SEND_KEEP};
        nparts = 2;
    }
    int rc = c->emit(c->ud, c->out.data, c->out.len, c->evs.len > 0, parts, nparts);
    if (rc < 0) c->err = rc;
    else c->nmsgs++;
    weft_buf_clear(&c->devs), weft_buf_clear(&c->pos), weft_buf_clear(&c->evs);
}

/* Room for n more bytes in the lists: when they would take the message past
 * limit, what is gathered goes out first. */
static void ck_room(chunker *c, size_t n) {
    size_t have = c->devs.len + c->pos.len + c->evs.len;
    if (have && have + n + CK_FRAME_BYTES > c->limit) ck_flush(c, 0);
}

/* A device's position, and its entry when with_device, both in the same
 * message. */
static void ck_device(chunker *c, const device_view *v, int with_device) {
    size_t n = 0;
    if (with_device) {
        model_device(ck_begin(c, &c->entry), v);
        ck_done(c);
        n += c->entry.len + 1;
    }
    int fix = model_live_position(ck_begin(c, &c->value), v);
    if (fix) {
        ck_done(c);
        n += c->value.len + 1;
    }
    if (!n || c->err) return;
    ck_room(c, n);
    if (with_device) ck_put(c, &c->devs, &c->entry);
    if (fix) ck_put(c, &c->pos, &c->value);
}

/* Events follow the window's positions in the same message, while it has
 * room (see ck_flush for what a lagging socket gets). */
static void ck_event(chunker *c, const pending_ev *e) {
    model_event(ck_begin(c, &c->value), e->id, e->device_id, &e->ev);
    ck_done(c);
    if (c->err) return;
    ck_room(c, c->value.len + 1);
    ck_put(c, &c->evs, &c->value);
}

/* A quarter of a live socket's queue (live.queue_kb): the most a message
 * may be for weft_hub_publish_split to send it whole to a socket that keeps
 * up (docs/ws.md), and for the queue to hold several. */
static size_t queue_quarter(const fleet_config *c) { return (size_t)c->live_queue_kb * 1024 / 4; }

size_t feed_chunk_bytes(const fleet_config *c) {
    size_t q = queue_quarter(c);
    return q < 4096 ? 4096 : q > 65536 ? 65536 : q;
}

/* Twice feed_chunk_bytes' cap: a full window (feed_full_batch devices, made
 * by the 300-byte estimate to be about 64 KiB) is larger than 64 KiB when its
 * devices are larger than the estimate, or when more devices join it between
 * the wake-up and the send. Cut at 64 KiB, it went to each viewer as two
 * messages, which are two kernel sends when the first goes to the worker's
 * ring and the second to a writer task (src/http/ws_conn.c); within 128 KiB
 * it stays one. */
#define UPDATE_BYTES_MAX (128 * 1024)

size_t feed_update_bytes(const fleet_config *c) {
    size_t q = queue_quarter(c);
    return q < 4096 ? 4096 : q > UPDATE_BYTES_MAX ? UPDATE_BYTES_MAX : q;
}

size_t feed_full_batch(const fleet_config *c) { return feed_chunk_bytes(c) / POSITION_BYTES_EST; }

/* The snapshot's messages, shared: gathered by snap_emit. */
typedef struct snap_msgs {
    weft_hub_msg **m;
    int n, cap;
} snap_msgs;

static int snap_emit(void *ud, const char *p, size_t n, int keep, const weft_hub_part *parts, int nparts) {
    (void)keep, (void)parts, (void)nparts; /* a snapshot has no events */
    snap_msgs *s = ud;
    if (s->n == s->cap) {
        int cap = s->cap ? s->cap * 2 : 16;
        weft_hub_msg **m = realloc(s->m, (size_t)cap * sizeof *m);
        if (!m) return WEFT_ENOMEM;
        s->m = m, s->cap = cap;
    }
    if (!(s->m[s->n] = weft_hub_msg_new(WEFT_WS_TEXT, p, n))) return WEFT_ENOMEM;
    s->n++;
    return 0;
}

static void snap_release(snap_msgs *s) {
    for (int i = 0; i < s->n; i++) weft_hub_msg_release(s->m[i]);
    free(s->m);
}

/* A built snapshot as the SSE streams take it: the same pieces the sockets
 * are queued, counted so that every stream of the audience shares them. */
struct feed_state {
    atomic_int refs;
    snap_msgs sm;
};

int feed_state_count(const feed_state *s) { return s ? s->sm.n : 0; }
weft_str feed_state_piece(const feed_state *s, int i) { return weft_hub_msg_data(s->sm.m[i]); }
void feed_state_release(feed_state *s) {
    if (s && atomic_fetch_sub(&s->refs, 1) == 1) {
        snap_release(&s->sm);
        free(s);
    }
}

/* The snapshot of (all, groups) from devs (live_list's array) into *out (one
 * empty update when nothing is visible). 0 or WEFT_ENOMEM. */
static int snapshot_msgs(live_device **devs, size_t n, int all, const int64_t *groups, int ngroups,
                         size_t limit, device_view *view, snap_msgs *out) {
    chunker c;
    ck_init(&c, limit, snap_emit, out);
    for (size_t i = 0; i < n && !c.err; i++) {
        if (devs[i]->deleted || !feed_visible(all, groups, ngroups, devs[i]->group_id)) continue;
        model_view(devs[i], view);
        ck_device(&c, view, 1);
    }
    ck_flush(&c, c.nmsgs == 0);
    int rc = c.err;
    ck_free(&c);
    if (rc) {
        snap_release(out);
        memset(out, 0, sizeof *out);
    }
    return rc;
}

feed_msg *feed_snapshot(fleet *f, int all, const int64_t *groups, int ngroups) {
    size_t n;
    live_device **devs = live_list(f->devices, &n);
    device_view *views = malloc((n ? n : 1) * sizeof *views);
    size_t k = 0;
    for (size_t i = 0; views && i < n; i++) {
        if (devs[i]->deleted || !feed_visible(all, groups, ngroups, devs[i]->group_id)) continue;
        model_view(devs[i], &views[k++]);
    }
    weft_buf b;
    weft_buf_init(&b, 0);
    feed_msg *m = views && encode(views, k, NULL, 0, all, groups, ngroups, &b) ? msg_from(&b) : NULL;
    if (!m && views) { /* nothing visible: still a valid, empty update */
        weft_buf_clear(&b);
        weft_buf_appends(&b, "{\"devices\":[],\"positions\":[]}");
        m = msg_from(&b);
    }
    weft_buf_free(&b);
    free(views);
    free(devs);
    return m;
}

void feed_topic(int all, const int64_t *groups, int ngroups, char *out, size_t cap) {
    if (all) {
        snprintf(out, cap, "live:all");
        return;
    }
    int64_t g[64];
    int n = ngroups < 64 ? ngroups : 64;
    memcpy(g, groups, (size_t)n * sizeof *g);
    for (int i = 1; i < n; i++) /* the same set, the same topic */
        for (int j = i; j > 0 && g[j - 1] > g[j]; j--) {
            int64_t t = g[j];
            g[j] = g[j - 1], g[j - 1] = t;
        }
    size_t k = (size_t)snprintf(out, cap, "live:g:");
    for (int i = 0; i < n && k < cap; i++) k += (size_t)snprintf(out + k, cap - k, i ? ",%lld" : "%lld", (long long)g[i]);
}

static int same_audience(const feed_viewer *a, const feed_viewer *b) {
    if (a->all || b->all) return a->all == b->all;
    return a->ngroups == b->ngroups && !memcmp(a->groups, b->groups, (size_t)a->ngroups * sizeof *a->groups);
}

/* Under vmu: queue every new live socket its audience's current state, a
 * snapshot built once per audience and shared by reference (outside the
 * socket's queue limit: weft_ws_send_msg SYNC), then subscribe it to the
 * audience's topic; hand every new SSE stream of the audience the same
 * pieces (feed_take_state) and subscribe its channel. Runs after the tick's
 * update was published, so what follows a snapshot is newer than it.
 *
 * A socket that is resynced (resync_lagging) gets {"resync":true} and then
 * the same pieces, like a first state: WEFT_WS_SEND_SYNC, never dropped and
 * outside the bound of its updates, and at most one snapshot per socket
 * waits for its writer (resync_lagging waits until weft_ws_stats.held is
 * 0). So a reader that stays slow holds at most live.queue_kb of updates
 * plus one snapshot; a snapshot bigger than the bound (a large audience)
 * is resynced in place rather than closed 1008, which would make the page
 * reconnect for a first state of the same size. The marker tells the page
 * to fetch the alerts and acknowledgements again (liveview.js). */
static void send_snapshots(fleet_feed *fd) {
    int any = 0;
    for (feed_viewer *v = fd->viewers; v && !any; v = v->next) any = v->needs_state;
    int64_t now = weft_now();
    if (!any || (fd->last_snapshot_ms && now - fd->last_snapshot_ms < SNAPSHOT_MIN_INTERVAL_MS)) return;
    fd->last_snapshot_ms = now;
    size_t n;
    live_device **devs = live_list(fd->f->devices, &n);
    device_view *view = malloc(sizeof *view);
    size_t limit = feed_chunk_bytes(&fd->f->cfg);
    for (feed_viewer *v = fd->viewers; v && view && devs; v = v->next) {
        if (!v->needs_state) continue;
        feed_state *st = calloc(1, sizeof *st);
        if (!st || snapshot_msgs(devs, n, v->all, v->groups, v->ngroups, limit, view, &st->sm) < 0) {
            free(st);
            break; /* out of memory: these sockets wait for the next round */
        }
        atomic_init(&st->refs, 1);
        snap_msgs sm = st->sm;
        atomic_fetch_add(&fd->st.snapshots, 1);
        char topic[256];
        feed_topic(v->all, v->groups, v->ngroups, topic, sizeof topic);
        for (feed_viewer *u = v; u; u = u->next) { /* every new socket and stream of this audience */
            if (!u->needs_state || !same_audience(u, v)) continue;
            if (u->chan) {
                /* a stream never misses a message silently: a full channel
                 * ends it (api_live.c, stream_open) */
                if (weft_hub_subscribe_chan_flags(fd->f->hub, topic, u->chan, WEFT_HUB_CHAN_CLOSE_WHEN_FULL) ==
                    WEFT_ENOMEM)
                    continue;
                atomic_fetch_add(&st->refs, 1);
                u->state = st, u->needs_state = 0;
                weft_sem_release(&u->ready, 1);
                continue;
            }
            int resync = u->resync, rc = 0;
            if (resync && fd->resync_msg) rc = weft_ws_send_msg(u->ws, fd->resync_msg, WEFT_WS_SEND_SYNC);
            for (int i = 0; i < sm.n && !rc; i++) rc = weft_ws_send_msg(u->ws, sm.m[i], WEFT_WS_SEND_SYNC);
            if (rc == WEFT_ENOMEM) continue; /* try again next round */
            u->needs_state = 0, u->resync = 0;
            if (resync) { /* the updates it dropped to make room are in the snapshot */
                weft_ws_stats ws;
                weft_ws_get_stats(u->ws, &ws);
                u->dropped_seen = ws.dropped;
            } else if (!rc) {
                weft_hub_subscribe_ws(fd->f->hub, topic, u->ws); /* else it is closing */
            }
        }
        feed_state_release(st);
    }
    free(view);
    free(devs);
}

/* What a device entry shows apart from lastUpdate and distanceToday, which
 * change with every fix (FNV-1a over the fields). */
static uint64_t device_sig(const device_view *v) {
    uint64_t h = 1469598103934665603ull;
#define MIX(p, n)                                                                                  \
    for (size_t k_ = 0; k_ < (n); k_++) h = (h ^ ((const unsigned char *)(p))[k_]) * 1099511628211ull
    MIX(v->name, strlen(v->name));
    MIX(v->unique_id, strlen(v->unique_id));
    MIX(v->category, strlen(v->category));
    int64_t f[] = {v->group_id, v->disabled, (int64_t)(v->speed_limit_kn * 1000), v->st.status, v->st.has_fix,
                   v->st.moving, v->st.motion_since_ms, v->st.ignition};
    MIX(f, sizeof f);
#undef MIX
    return h | 1; /* never 0, a device not sent yet */
}

/* A tick's update for one audience: each message to the audience's fn
 * viewers and, once, to its hub topic. */
typedef struct delta_out {
    fleet_feed *fd;
    feed_viewer *v; /* the audience's first viewer */
    int fn;         /* the audience has fn viewers */
    int hub;        /* the audience has hub subscribers (live sockets, streams) */
    char topic[256];
} delta_out;

static int delta_emit(void *ud, const char *p, size_t n, int keep, const weft_hub_part *parts, int nparts) {
    delta_out *d = ud;
    atomic_fetch_add(&d->fd->st.messages, 1);
    atomic_fetch_add(&d->fd->st.bytes, (int64_t)n);
    feed_msg *m = NULL;
    for (feed_viewer *u = d->v; u && d->fn; u = u->next) {
        if (!u->fn || !same_audience(u, d->v)) continue;
        if (!m) {
            weft_buf b = {.data = (char *)p, .len = n};
            if (!(m = msg_from(&b))) return WEFT_ENOMEM;
        }
        u->fn(u->ud, m);
    }
    feed_msg_release(m);
    if (d->hub && d->fd->f->hub) {
        if (nparts) /* whole to the sockets that keep up, in parts to the others */
            weft_hub_publish_split(d->fd->f->hub, d->topic, WEFT_WS_TEXT, p, n, parts, nparts);
        else
            weft_hub_publish_flags(d->fd->f->hub, d->topic, WEFT_WS_TEXT, 0, keep ? WEFT_WS_SEND_KEEP : 0, p, n);
    }
    return 0;
}

/* Under vmu: the distinct audiences of the viewers, one delta_out each (its
 * first viewer, whether it has fn viewers and hub subscribers), in *out
 * (malloc'd). One pass over the viewers per audience found, not one per
 * pair of viewers: 500 sockets of one audience cost 500 comparisons. The
 * count, or 0 (none, or out of memory). */
static size_t audiences(fleet_feed *fd, delta_out **out) {
    size_t n = 0, cap = 0;
    delta_out *a = NULL;
    for (feed_viewer *v = fd->viewers; v; v = v->next) {
        size_t i = 0;
        while (i < n && !same_audience(a[i].v, v)) i++;
        if (i == n) {
            if (n == cap) {
                size_t c = cap ? cap * 2 : 8;
                delta_out *b = realloc(a, c * sizeof *b);
                if (!b) break;
                a = b, cap = c;
            }
            a[n] = (delta_out){.fd = fd, .v = v};
            feed_topic(v->all, v->groups, v->ngroups, a[n].topic, sizeof a[n].topic);
            n++;
        }
        if (v->fn) a[i].fn = 1;
        else a[i].hub = 1;
    }
    *out = a;
    return a ? n : 0;
}

/* Under vmu: a live socket whose queue dropped updates since the last look
 * gets its audience's snapshot again at the next build (send_snapshots), at
 * most every RESYNC_MIN_MS: the newest state of every device instead of a
 * close, and the updates after it as usual. Not while what it must not
 * miss (its last snapshot, kept events: weft_ws_stats.held) still waits for
 * its writer: a socket has at most one snapshot outstanding. The feed task
 * looks at every turn, also when nothing changes (the last update before a
 * quiet spell may be the one dropped), at most every RESYNC_CHECK_MS. */
#define RESYNC_CHECK_MS 100
static void resync_lagging(fleet_feed *fd, int64_t now) {
    for (feed_viewer *v = fd->viewers; v; v = v->next) {
        if (!v->resync_gap) v->resync_gap = RESYNC_MIN_MS;
        if (!v->ws || v->needs_state || (v->resync_ms && now - v->resync_ms < v->resync_gap)) continue;
        weft_ws_stats st;
        weft_ws_get_stats(v->ws, &st);
        if (st.dropped <= v->dropped_seen || st.held) continue;
        v->dropped_seen = st.dropped;
        if (v->resync_ms && now - v->resync_ms < 2 * v->resync_gap)
            v->resync_gap = v->resync_gap * 2 < RESYNC_MAX_MS ? v->resync_gap * 2 : RESYNC_MAX_MS;
        else
            v->resync_gap = RESYNC_MIN_MS;
        v->resync_ms = now;
        v->needs_state = v->resync = 1;
        atomic_fetch_add(&fd->st.resyncs, 1);
    }
}

/* Send what changed since the last flush: one update per audience. */
static void flush(fleet_feed *fd) {
    pthread_mutex_lock(&fd->mu);
    live_device **ch = fd->changed;
    size_t nch = fd->nchanged;
    pending_ev *ev = fd->events;
    size_t nev = fd->nev;
    for (size_t i = 0; i < nch; i++) ch[i]->feed_pending = 0;
    fd->changed = NULL, fd->nchanged = fd->capchanged = 0;
    fd->events = NULL, fd->nev = fd->capev = 0;
    pthread_mutex_unlock(&fd->mu);
    if (nch || nev) {
        device_view *views = malloc((nch ? nch : 1) * sizeof *views);
        unsigned char *with_dev = malloc(nch ? nch : 1);
        size_t nv = 0;
        int64_t now = weft_now(), wall = fleet_now_ms();
        for (size_t i = 0; views && with_dev && i < nch; i++) {
            if (ch[i]->deleted) continue;
            model_view(ch[i], &views[nv]);
            /* a device's entry goes out when what it shows changed, and
             * every DEVICE_REFRESH_MS for lastUpdate and distanceToday;
             * its position at every change */
            uint64_t sig = device_sig(&views[nv]);
            with_dev[nv] = sig != ch[i]->feed_sig || now - ch[i]->feed_sent_ms >= DEVICE_REFRESH_MS;
            if (with_dev[nv]) ch[i]->feed_sig = sig, ch[i]->feed_sent_ms = now;
            if (views[nv].st.has_fix) {
                int64_t w = wall - views[nv].st.server_ms;
                w = w < 0 ? 0 : w >= FEED_WAIT_BUCKETS ? FEED_WAIT_BUCKETS - 1 : w;
                atomic_fetch_add_explicit(&fd->st.wait_ms[w], 1, memory_order_relaxed);
            }
            nv++;
        }
        if (!with_dev) free(views), views = NULL;
        size_t limit = feed_update_bytes(&fd->f->cfg); /* a full window in one message */
        pthread_mutex_lock(&fd->vmu);
        delta_out *aud;
        size_t naud = views ? audiences(fd, &aud) : 0;
        for (size_t k = 0; k < naud; k++) { /* one update per audience */
            delta_out *d = &aud[k];
            feed_viewer *v = d->v;
            chunker c;
            ck_init(&c, limit, delta_emit, d);
            for (size_t i = 0; i < nv && !c.err; i++)
                if (feed_visible(v->all, v->groups, v->ngroups, views[i].group_id)) ck_device(&c, &views[i], with_dev[i]);
            for (size_t i = 0; i < nev && !c.err; i++)
                if (feed_visible(v->all, v->groups, v->ngroups, ev[i].group_id)) ck_event(&c, &ev[i]);
            ck_flush(&c, 0);
            if (c.err) weft_log_warn("live: an update was not sent: %s", weft_strerror(c.err));
            ck_free(&c);
        }
        if (naud) free(aud);
        pthread_mutex_unlock(&fd->vmu);
        free(views);
        free(with_dev);
    }
    free(ch);
    free(ev);
    atomic_fetch_add(&fd->st.ticks, 1);
}

/* Under vmu: are sockets or streams waiting for their snapshot? */
static int state_wanted(fleet_feed *fd) {
    for (feed_viewer *v = fd->viewers; v; v = v->next)
        if (v->needs_state) return 1;
    return 0;
}

/* When to send. The window is live.tick_ms (feed_tick_ms): a change that
 * comes when nothing was sent for a whole window (the feed is idle) goes out
 * at once; under load the changes of a window are coalesced per device and
 * go out when the window ends, or as soon as the window is full
 * (full_batch devices), in one message while it is within
 * feed_update_bytes. So an idle feed adds no wait, a busy one at most a
 * window, and a viewer gets at most 1000 / tick_ms windows a second plus
 * the full ones (which the bytes make anyway). Snapshots
 * follow a send (send_snapshots), or come on their own when a viewer waits
 * for one and nothing changes. */
static void feed_task(void *arg) {
    fleet_feed *fd = arg;
    int64_t window = feed_tick_ms(&fd->f->cfg), last = 0, checked = 0;
    while (!atomic_load(&fd->stop)) {
        int64_t now = weft_now();
        pthread_mutex_lock(&fd->mu);
        int pending = fd->nchanged || fd->nev, full = fd->nchanged >= fd->full_batch;
        pthread_mutex_unlock(&fd->mu);
        int64_t due = !pending ? -1 : full || now - last >= window ? now : last + window;
        if (due == now) {
            flush(fd);
            last = now;
        }
        int snap = 0;
        if (fd->f->hub) {
            pthread_mutex_lock(&fd->vmu);
            if (now - checked >= RESYNC_CHECK_MS) resync_lagging(fd, now), checked = now;
            send_snapshots(fd); /* at most every SNAPSHOT_MIN_INTERVAL_MS */
            snap = state_wanted(fd);
            pthread_mutex_unlock(&fd->vmu);
        }
        if (due == now) continue; /* what came in meanwhile */
        /* wait for a first change, a full window or a new viewer, or until
         * the window ends (a snapshot still wanted: the window; otherwise a
         * second, to notice stop) */
        int64_t dl = due > 0 ? due : now + (snap ? window : 1000);
        int rc = weft_sem_acquire(&fd->wake, dl);
        if (rc < 0 && rc != WEFT_ETIMEDOUT) break;
    }
    weft_wg_done(&fd->done);
}

int feed_start(fleet_feed *fd) {
    weft_wg_add(&fd->done, 1);
    weft_task_opts o = {.name = "fleet-feed"};
    int rc = weft_go_opts(feed_task, fd, &o);
    if (rc < 0) weft_wg_done(&fd->done);
    else fd->running = 1;
    return rc;
}

void feed_free(fleet_feed *fd) {
    if (!fd) return;
    atomic_store(&fd->stop, 1);
    weft_sem_release(&fd->wake, 1);
    if (fd->running) { /* masked: a cancelled caller too must not free fd under the feed task */
        int prev = weft_nocancel_begin();
        weft_wg_wait(&fd->done, -1);
        weft_nocancel_end(prev);
    }
    for (feed_viewer *v = fd->viewers, *n; v; v = n) {
        n = v->next;
        free(v->groups);
        free(v);
    }
    free(fd->changed);
    free(fd->events);
    if (fd->resync_msg) weft_hub_msg_release(fd->resync_msg);
    pthread_mutex_destroy(&fd->mu);
    pthread_mutex_destroy(&fd->vmu);
    free(fd);
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int64_t feed_tick_ms(const fleet_config *c) {
    int64_t t = c->live_tick_ms > 0 ? c->live_tick_ms : 50;
    if (c->live_max_flushes_per_s > 0 && 1000 / c->live_max_flushes_per_s > t) t = 1000 / c->live_max_flushes_per_s;
    return t;
}

/* A viewer that waits for its snapshot at the next tick: a socket or a stream. */
static feed_viewer *subscribe_for_state(fleet *f, int all, const int64_t *groups, int ngroups, weft_ws *ws,
                                        weft_chan *ch) {
    feed_viewer *v = feed_subscribe(f, all, groups, ngroups, NULL, NULL);
    if (!v) return NULL;
    fleet_feed *fd = f->feed;
    pthread_mutex_lock(&fd->vmu);
    v->ws = ws, v->chan = ch;
    v->needs_state = 1;
    pthread_mutex_unlock(&fd->vmu);
    weft_sem_release(&fd->wake, 1); /* its snapshot without waiting for a change */
    return v;
}

feed_viewer *feed_subscribe_ws(fleet *f, int all, const int64_t *groups, int ngroups, weft_ws *ws) {
    return subscribe_for_state(f, all, groups, ngroups, ws, NULL);
}

feed_viewer *feed_subscribe_chan(fleet *f, int all, const int64_t *groups, int ngroups, weft_chan *ch) {
    return subscribe_for_state(f, all, groups, ngroups, NULL, ch);
}

int feed_take_state(fleet *f, feed_viewer *v, feed_state **out, int64_t deadline) {
    *out = NULL;
    int rc = weft_sem_acquire(&v->ready, deadline);
    if (rc) return rc;
    fleet_feed *fd = f->feed;
    pthread_mutex_lock(&fd->vmu);
    *out = v->state;
    v->state = NULL;
    pthread_mutex_unlock(&fd->vmu);
    return 0;
}

feed_viewer *feed_subscribe(fleet *f, int all, const int64_t *groups, int ngroups, feed_deliver_fn fn, void *ud) {
    feed_viewer *v = calloc(1, sizeof *v);
    if (!v) return NULL;
    v->all = all;
    if (!all && ngroups > 0) {
        v->groups = malloc((size_t)ngroups * sizeof *v->groups);
        if (!v->groups) return free(v), NULL;
        memcpy(v->groups, groups, (size_t)ngroups * sizeof *v->groups);
        qsort(v->groups, (size_t)ngroups, sizeof *v->groups, cmp_i64);
        v->ngroups = ngroups;
    }
    v->fn = fn, v->ud = ud;
    weft_sem_init(&v->ready, 0);
    fleet_feed *fd = f->feed;
    pthread_mutex_lock(&fd->vmu);
    v->next = fd->viewers;
    fd->viewers = v;
    pthread_mutex_unlock(&fd->vmu);
    atomic_fetch_add(&fd->st.viewers, 1);
    return v;
}

void feed_unsubscribe(fleet *f, feed_viewer *v) {
    if (!v) return;
    fleet_feed *fd = f->feed;
    pthread_mutex_lock(&fd->vmu);
    for (feed_viewer **p = &fd->viewers; *p; p = &(*p)->next)
        if (*p == v) {
            *p = v->next;
            break;
        }
    pthread_mutex_unlock(&fd->vmu);
    atomic_fetch_sub(&fd->st.viewers, 1);
    feed_state_release(v->state); /* a stream that left before taking its snapshot */
    free(v->groups);
    free(v);
}

/* ---- acknowledgements ----------------------------------------------------------------- */

/* Not coalesced with the ticks: an acknowledgement is rare and people wait
 * for it (the other dashboards of the team mark the alert read), so it goes
 * out at once. Each audience gets the acks of the devices it sees, in
 * messages of at most feed_chunk_bytes (an "acknowledge all" of thousands
 * of alerts must not be one message larger than a viewer's queue). */
static void ack_send(fleet *f, feed_viewer *v, weft_buf *b) {
    if (v->fn) {
        feed_msg *m = msg_from(b);
        if (m) v->fn(v->ud, m), feed_msg_release(m);
        return;
    }
    if (!f->hub) return;
    char topic[256];
    feed_topic(v->all, v->groups, v->ngroups, topic, sizeof topic);
    weft_hub_publish_flags(f->hub, topic, WEFT_WS_TEXT, 0, WEFT_WS_SEND_KEEP, b->data, b->len);
}

void feed_publish_acks(fleet *f, const feed_ack *acks, int n, int64_t ack_ms, int64_t user_id,
                       const char *user_name) {
    fleet_feed *fd = f->feed;
    if (!fd || n <= 0) return;
    size_t limit = feed_chunk_bytes(&f->cfg);
    weft_buf b, one;
    weft_buf_init(&b, 0), weft_buf_init(&one, 0);
    pthread_mutex_lock(&fd->vmu);
    for (feed_viewer *v = fd->viewers; v; v = v->next) {
        if (!v->fn) { /* one publish per audience's topic */
            int seen = 0;
            for (feed_viewer *u = fd->viewers; u != v && !seen; u = u->next) seen = !u->fn && same_audience(u, v);
            if (seen) continue;
        }
        weft_buf_clear(&b);
        for (int i = 0; i < n; i++) {
            if (!feed_visible(v->all, v->groups, v->ngroups, acks[i].group_id)) continue;
            weft_buf_clear(&one);
            weft_json_enc e;
            weft_json_enc_init(&e, &one);
            weft_json_enc_object(&e);
            weft_json_enc_key(&e, WEFT_STR("id")), weft_json_enc_int(&e, acks[i].event_id);
            weft_json_enc_key(&e, WEFT_STR("deviceId")), weft_json_enc_int(&e, acks[i].device_id);
            model_ack_fields(&e, ack_ms, user_id, user_name);
            weft_json_enc_end(&e);
            if (weft_json_enc_finish(&e) < 0) continue;
            if (b.len && b.len + one.len + 2 > limit) {
                weft_buf_appends(&b, "]}");
                ack_send(f, v, &b);
                weft_buf_clear(&b);
            }
            weft_buf_appends(&b, b.len ? "," : "{\"acks\":[");
            weft_buf_append(&b, one.data, one.len);
        }
        if (b.len) {
            weft_buf_appends(&b, "]}");
            ack_send(f, v, &b);
        }
    }
    pthread_mutex_unlock(&fd->vmu);
    weft_buf_free(&b), weft_buf_free(&one);
}
