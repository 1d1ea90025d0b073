/* apps/fleet/feed.c — live updates, coalesced and shared (see feed.h). */
#include "feed.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft/log.h"
#include "weft/ws.h"

#include "model.h"

struct feed_viewer {
    int all;
    int64_t *groups; /* ascending */
    int ngroups;
    feed_deliver_fn fn;
    void *ud;
    struct feed_viewer *next;
};

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
    return fd;
}

void feed_publish(fleet *f, live_device *d, const ev_row *evs, int n) {
    fleet_feed *fd = f->feed;
    if (!fd) return;
    pthread_mutex_lock(&fd->mu);
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
    pthread_mutex_unlock(&fd->mu);
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

/* Encode devs/events visible to (all, groups) into a message; NULL when
 * nothing is visible. views[i] is devs[i]'s state. */
static feed_msg *build(const device_view *views, size_t nviews, const pending_ev *evs, size_t nev, int all,
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
    if (!any || weft_json_enc_finish(&e) < 0) return NULL;
    return msg_from(b);
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
    feed_msg *m = views ? build(views, k, NULL, 0, all, groups, ngroups, &b) : NULL;
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

static void tick(fleet_feed *fd, weft_buf *b) {
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
        size_t nv = 0;
        for (size_t i = 0; views && i < nch; i++)
            if (!ch[i]->deleted) model_view(ch[i], &views[nv++]);
        pthread_mutex_lock(&fd->vmu);
        /* one message per audience: the first viewer of each builds it */
        for (feed_viewer *v = fd->viewers; v && views; v = v->next) {
            int seen = 0;
            for (feed_viewer *u = fd->viewers; u != v && !seen; u = u->next) seen = same_audience(u, v);
            if (seen) continue;
            feed_msg *m = build(views, nv, ev, nev, v->all, v->groups, v->ngroups, b);
            if (!m) continue;
            atomic_fetch_add(&fd->st.messages, 1);
            atomic_fetch_add(&fd->st.bytes, (int64_t)m->len);
            int hub_viewers = 0;
            for (feed_viewer *u = v; u; u = u->next) {
                if (!same_audience(u, v)) continue;
                if (u->fn) u->fn(u->ud, m);
                else hub_viewers = 1;
            }
            if (hub_viewers && fd->f->hub) { /* once per audience, shared by every subscriber */
                char topic[256];
                feed_topic(v->all, v->groups, v->ngroups, topic, sizeof topic);
                weft_hub_publish(fd->f->hub, topic, WEFT_WS_TEXT, 0, m->data, m->len);
            }
            feed_msg_release(m);
        }
        pthread_mutex_unlock(&fd->vmu);
        free(views);
    }
    free(ch);
    free(ev);
    atomic_fetch_add(&fd->st.ticks, 1);
}

static void feed_task(void *arg) {
    fleet_feed *fd = arg;
    weft_buf b;
    weft_buf_init(&b, 0);
    int64_t period = 1000 / (fd->f->cfg.live_max_flushes_per_s > 0 ? fd->f->cfg.live_max_flushes_per_s : 4);
    while (!atomic_load(&fd->stop)) {
        if (weft_sleep(period) < 0) break;
        tick(fd, &b);
    }
    weft_buf_free(&b);
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
    if (fd->running) weft_wg_wait(&fd->done, -1);
    for (feed_viewer *v = fd->viewers, *n; v; v = n) {
        n = v->next;
        free(v->groups);
        free(v);
    }
    free(fd->changed);
    free(fd->events);
    pthread_mutex_destroy(&fd->mu);
    pthread_mutex_destroy(&fd->vmu);
    free(fd);
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
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
    free(v->groups);
    free(v);
}

/* ---- acknowledgements ----------------------------------------------------------------- */

/* Not coalesced with the ticks: an acknowledgement is rare and people wait
 * for it (the other dashboards of the team mark the alert read), so it goes
 * out at once, one message for every audience that sees the device. */
void feed_publish_ack(fleet *f, int64_t event_id, int64_t device_id, int64_t group_id, int64_t ack_ms,
                      int64_t user_id, const char *user_name) {
    fleet_feed *fd = f->feed;
    if (!fd) return;
    weft_buf b;
    weft_buf_init(&b, 0);
    weft_json_enc e;
    weft_json_enc_init(&e, &b);
    weft_json_enc_object(&e);
    weft_json_enc_key(&e, WEFT_STR("acks"));
    weft_json_enc_array(&e);
    weft_json_enc_object(&e);
    weft_json_enc_key(&e, WEFT_STR("id")), weft_json_enc_int(&e, event_id);
    weft_json_enc_key(&e, WEFT_STR("deviceId")), weft_json_enc_int(&e, device_id);
    model_ack_fields(&e, ack_ms, user_id, user_name);
    weft_json_enc_end(&e);
    weft_json_enc_end(&e);
    weft_json_enc_end(&e);
    feed_msg *m = weft_json_enc_finish(&e) < 0 ? NULL : msg_from(&b);
    weft_buf_free(&b);
    if (!m) return;
    pthread_mutex_lock(&fd->vmu);
    for (feed_viewer *v = fd->viewers; v; v = v->next) {
        if (!feed_visible(v->all, v->groups, v->ngroups, group_id)) continue;
        if (v->fn) {
            v->fn(v->ud, m);
            continue;
        }
        int seen = 0; /* one publish per audience's topic */
        for (feed_viewer *u = fd->viewers; u != v && !seen; u = u->next) seen = !u->fn && same_audience(u, v);
        if (seen || !f->hub) continue;
        char topic[256];
        feed_topic(v->all, v->groups, v->ngroups, topic, sizeof topic);
        weft_hub_publish(f->hub, topic, WEFT_WS_TEXT, 0, m->data, m->len);
    }
    pthread_mutex_unlock(&fd->vmu);
    feed_msg_release(m);
}
