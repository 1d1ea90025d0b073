/* apps/fleet/writer.c — group commit (see writer.h). */
#include "writer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft/impl.h"
#include "weft/json.h"

#include "motion.h"

const double writer_bucket_ms[7] = {1, 2, 5, 10, 25, 50, 100};

typedef struct req {
    const pos_row *pos;
    int npos;
    ev_row *ev;
    int nev;
    int rc;
    int last; /* the last request of its commit (the syncer syncs whole commits) */
    weft_db_err err;
    weft_sem done;
    atomic_int refs;
} req;

struct writer {
    store *s;
    weft_chan *q; /* req* */
    weft_chan *synq; /* req*: committed, waiting for the disk (syncer_task) */
    /* requests handed to the syncer and not completed yet: while it is not
     * 0 a commit of ours waits for its sync, and the writer gathers */
    atomic_int unsynced;
    weft_chan *idle; /* char, cap 1: the syncer's "unsynced reached 0" */
    int linger_ms, gap_ms, gap_rows, max_rows;
    int64_t last_commit; /* weft_now() when the last commit started (writer task only) */
    weft_wg stopped;
    writer_stats st;
    char *pos_sql[4], *ev_sql[4]; /* multi-row INSERTs of STORE_CHUNK[i] rows */
    motion_map *motion;        /* the devices' open motion chunks (motion.h); writer task only */
    atomic_int motion_reset;   /* set by writer_motion_reset, taken by the task */
    int pg;
};

#define POS_COLS 12
#define EV_COLS 8

static void unref(req *r) {
    if (atomic_fetch_sub(&r->refs, 1) == 1) free(r);
}

writer_stats *writer_get_stats(writer *w) { return &w->st; }

static void bind_pos(weft_db_arg *a, const pos_row *p) {
    const fleet_fix *f = &p->fix;
    a[0] = WEFT_DB_INT(p->device_id);
    a[1] = WEFT_DB_TEXT(p->protocol);
    a[2] = WEFT_DB_INT(f->fix_ms);
    a[3] = WEFT_DB_INT(p->server_ms);
    a[4] = WEFT_DB_DOUBLE(f->lat);
    a[5] = WEFT_DB_DOUBLE(f->lon);
    a[6] = WEFT_DB_DOUBLE(f->speed_kn);
    a[7] = WEFT_DB_DOUBLE(f->course);
    a[8] = WEFT_DB_DOUBLE(f->altitude);
    a[9] = WEFT_DB_DOUBLE(f->accuracy);
    a[10] = WEFT_DB_INT(f->valid);
    a[11] = p->attrs_len ? WEFT_DB_TEXTN(p->attrs, p->attrs_len) : WEFT_DB_TEXT("{}");
}

/* The attributes of an event: what its type carries beyond the columns,
 * appended to b. 0 or the encoder's error (out of memory). */
static int event_attrs(const fleet_event *e, weft_buf *b) {
    weft_json_enc j;
    weft_json_enc_init(&j, b);
    weft_json_enc_object(&j);
    if (e->type == EV_OVERSPEED) {
        weft_json_enc_key(&j, WEFT_STR("speed"));
        weft_json_enc_double(&j, e->speed_kn);
        weft_json_enc_key(&j, WEFT_STR("speedLimit"));
        weft_json_enc_double(&j, e->limit_kn);
    } else if (e->type == EV_ALARM) {
        weft_json_enc_key(&j, WEFT_STR("alarm"));
        weft_json_enc_str(&j, weft_str_c(fleet_alarm_name(e->alarm)));
    }
    weft_json_enc_end(&j);
    return weft_json_enc_finish(&j);
}

/* Positions (or events) of batch[ri..n) not written yet, batch[ri]'s from pi. */
static int rows_left(req **batch, int n, int ri, int pi, int events) {
    int left = 0;
    for (int k = ri; k < n; k++) left += (events ? batch[k]->nev : batch[k]->npos) - (k == ri ? pi : 0);
    return left;
}

static int write_batch(writer *w, req **batch, int n, weft_db_err *err) {
    int64_t dl = weft_deadline_in(30000);
    store_tx *tx;
    int rc = store_begin(w->s, &tx, err, dl);
    if (rc < 0) return rc;
    weft_db_arg args[64 * POS_COLS];
    /* positions of all requests, in chunks that cross request boundaries */
    int ri = 0, pi = 0;
    while (rc == 0) {
        int left = rows_left(batch, n, ri, pi, 0);
        if (left == 0) break;
        int c = store_chunk(left);
        int rows = STORE_CHUNK[c];
        for (int r = 0; r < rows; r++) {
            while (pi >= batch[ri]->npos) ri++, pi = 0;
            bind_pos(&args[r * POS_COLS], &batch[ri]->pos[pi++]);
        }
        rc = store_tx_exec(tx, w->pos_sql[c], args, rows * POS_COLS, NULL, err, dl);
    }
    /* motion chunks, in the same transaction as the fixes they summarise */
    if (atomic_exchange(&w->motion_reset, 0)) motion_map_reset(w->motion);
    for (int k = 0; k < n && rc == 0; k++) {
        for (int i = 0; i < batch[k]->npos && rc == 0; i++) {
            const pos_row *p = &batch[k]->pos[i];
            motion_fix mf = {p->fix.fix_ms, p->fix.lat, p->fix.lon, p->fix.speed_kn,
                             p->attrs_len ? motion_ign_of(p->attrs, p->attrs_len, w->pg) : -1};
            rc = motion_add(w->motion, tx, p->device_id, &mf, err, dl);
        }
    }
    if (rc == 0) rc = motion_catch_up(w->motion, tx, err, dl);
    /* events of all requests, in multi-row INSERTs like the positions; each
     * needs its id back (the live feed pushes it). RETURNING gives no row
     * order, but both databases number one statement's rows ascending in
     * VALUES order (SQLite: rowid = max + 1 per row; PostgreSQL: the identity
     * sequence, called per row in order), so the k-th smallest id returned
     * is the k-th row's. One statement per chunk instead of per event was
     * most of SQLite's cost with an event on every other fix (callgrind:
     * each RETURNING statement builds a temporary b-tree). */
    weft_buf eb;
    weft_buf_init(&eb, 0);
    ri = 0, pi = 0;
    while (rc == 0) {
        int left = rows_left(batch, n, ri, pi, 1);
        if (left == 0) break;
        int c = store_chunk(left);
        int rows = STORE_CHUNK[c];
        ev_row *evs[64];
        size_t aoff[64], alen[64];
        weft_buf_clear(&eb);
        for (int r = 0; r < rows && rc == 0; r++) {
            while (pi >= batch[ri]->nev) ri++, pi = 0;
            evs[r] = &batch[ri]->ev[pi++];
            aoff[r] = eb.len;
            rc = event_attrs(&evs[r]->ev, &eb);
            alen[r] = eb.len - aoff[r];
        }
        if (rc < 0) {
            snprintf(err->msg, sizeof err->msg, "event attributes: %s", weft_strerror(rc));
            err->code = rc;
            break;
        }
        for (int r = 0; r < rows; r++) {
            const ev_row *e = evs[r];
            weft_db_arg *a = &args[r * EV_COLS];
            a[0] = WEFT_DB_INT(e->device_id);
            a[1] = WEFT_DB_TEXT(fleet_event_name(e->ev.type));
            a[2] = WEFT_DB_INT(e->ev.time_ms);
            a[3] = WEFT_DB_INT(e->server_ms);
            a[4] = isnan(e->ev.lat) ? WEFT_DB_NULL : WEFT_DB_DOUBLE(e->ev.lat);
            a[5] = isnan(e->ev.lon) ? WEFT_DB_NULL : WEFT_DB_DOUBLE(e->ev.lon);
            a[6] = e->ev.geofence_id ? WEFT_DB_INT(e->ev.geofence_id) : WEFT_DB_NULL;
            a[7] = WEFT_DB_TEXTN(eb.data + aoff[r], alen[r]);
        }
        weft_db_rows *res = NULL;
        rc = store_tx_query(tx, w->ev_sql[c], args, rows * EV_COLS, &res, err, dl);
        if (rc == 0 && weft_db_nrows(res) != rows) {
            snprintf(err->msg, sizeof err->msg, "events insert returned %d ids for %d rows", weft_db_nrows(res), rows);
            rc = err->code = WEFT_EDB;
        }
        if (rc == 0) {
            int64_t ids[64];
            for (int r = 0; r < rows; r++) { /* ascending (insertion sort: at most 64) */
                int64_t v = weft_db_int(res, r, 0);
                int j = r;
                while (j > 0 && ids[j - 1] > v) ids[j] = ids[j - 1], j--;
                ids[j] = v;
            }
            for (int r = 0; r < rows; r++) evs[r]->id = ids[r];
        }
        weft_db_rows_free(res);
    }
    weft_buf_free(&eb);
    if (rc < 0) {
        store_rollback(tx);
        motion_map_reset(w->motion); /* it counted rows that are not there */
        return rc;
    }
    if ((rc = store_commit_nosync(tx, err, dl)) < 0) motion_map_reset(w->motion);
    return rc;
}

static void complete(req *r, int rc, const weft_db_err *err) {
    r->rc = rc;
    r->err = *err;
    weft_sem_release(&r->done, 1);
    unref(r);
}

/* Committed requests wait here for the disk: one store_sync (fdatasync of
 * the WAL, on the blocking pool) for everything committed before it started,
 * then they complete. Meanwhile the writer task writes and commits the next
 * batch: the SQLite thread no longer idles through each fsync, and neither
 * does the worker while all connections wait for one (the "commit stall"). */
static void syncer_task(void *arg) {
    writer *w = arg;
    req *batch[4096];
    /* masked, like the writer: every request it took is completed, or its
     * submitter (masked too) would wait for ever; it ends when synq closes */
    int prev = weft_nocancel_begin();
    for (;;) {
        req *r;
        if (weft_chan_recv(w->synq, &r, -1) < 0) break; /* closed and drained */
        int n = 0;
        batch[n++] = r;
        /* what is queued, and the rest of a commit the writer is still
         * handing over (it sends them one by one, without waiting): a
         * commit split over two syncs would cost one more fdatasync and
         * keep the writer gathering behind the second */
        while (n < 4096 && (weft_chan_recv(w->synq, &r, 0) == 0 ||
                            (!batch[n - 1]->last && weft_chan_recv(w->synq, &r, -1) == 0)))
            batch[n++] = r;
        int64_t t0 = weft_now_ns();
        weft_db_err err;
        memset(&err, 0, sizeof err);
        int rc = store_sync(w->s);
        /* committed, but not known to be on disk: not acknowledged. The
         * store latches a failed sync (store.h), so every group after this
         * one fails too, in order, and the writer's next BEGIN is refused */
        if (rc < 0) {
            snprintf(err.msg, sizeof err.msg, "sync: %s", weft_strerror(rc));
            err.code = rc;
            atomic_fetch_add(&w->st.failures, 1);
        }
        atomic_fetch_add(&w->st.syncs, 1);
        atomic_fetch_add(&w->st.sync_us_sum, (weft_now_ns() - t0) / 1000);
        for (int i = 0; i < n; i++) complete(batch[i], rc, &err);
        /* nothing of ours waits for the disk now: wake a writer gathering
         * behind this sync. Never blocks: a token already there (one the
         * writer has not taken yet) wakes it as well, and it reads unsynced
         * again after every token, so a stale one costs a loop, no commit */
        if (atomic_fetch_sub(&w->unsynced, n) == n) {
            char t = 1;
            weft_chan_send(w->idle, &t, 0);
        }
    }
    weft_nocancel_end(prev);
    weft_wg_done(&w->stopped);
}

static void writer_task(void *arg) {
    writer *w = arg;
    req *batch[4096];
    /* masked: a request points into its submitter's memory, and the submitter
     * waits (masked) until it is completed; so the writer never drops one on
     * a cancel (weft_shutdown) and ends only when writer_stop closes q */
    int prev = weft_nocancel_begin();
    for (;;) {
        req *r;
        if (weft_chan_recv(w->q, &r, -1) < 0) break; /* closed and drained */
        int n = 0, rows = 0;
        batch[n++] = r, rows += r->npos + r->nev;
        /* Adaptive linger. With no commit of ours waiting for the disk the
         * batch (what is queued now) is committed once the gap since the
         * last commit has passed (storage.commit_gap_ms: a steady stream is
         * not committed and synced a fix at a time) or it has
         * storage.commit_gap_rows rows; beyond that gap, a fixed wait
         * would only add latency, and with every device waiting for its
         * answer little more arrives during it (with a fixed 5 ms linger
         * the OsmAnd bench's server used 0.73 of its core: docs/fleet.md,
         * "Why the linger adapts"). While one waits for its sync, what
         * arrives is gathered and committed as soon as that sync has
         * completed, as one batch: group commit while the disk is busy.
         * storage.commit_interval_ms bounds that wait (a slow disk then
         * gets the next commit queued behind its sync, as before), and
         * commit_max_rows (or 4,096 requests) ends it too. */
        int64_t dl = weft_deadline_in(w->linger_ms), gap = w->last_commit + w->gap_ms;
        for (;;) {
            while (rows < w->max_rows && n < 4096 && weft_chan_recv(w->q, &r, 0) == 0)
                batch[n++] = r, rows += r->npos + r->nev;
            if (rows >= w->max_rows || n >= 4096) break;
            int syncing = atomic_load(&w->unsynced) != 0;
            if (!syncing && (rows >= w->gap_rows || weft_now() >= gap)) break;
            atomic_store(&w->st.held, n);
            /* behind a sync: until it completes (or the linger is over);
             * else only until the gap since the last commit has passed */
            weft_case c[2] = {{.chan = w->q, .op = WEFT_RECV, .val = &r}, {.chan = w->idle, .op = WEFT_RECV}};
            int k = weft_select(c, syncing ? 2 : 1, syncing ? dl : gap);
            if (k == 0 && c[0].err == 0) batch[n++] = r, rows += r->npos + r->nev;
            else if (k != 1) break; /* the linger or the gap is over, or q closed (drained: stopping) */
        }
        atomic_store(&w->st.held, 0);
        atomic_fetch_sub(&w->st.queued, n);
        w->last_commit = weft_now();
        int64_t t0 = weft_now_ns();
        weft_db_err err;
        memset(&err, 0, sizeof err);
        int rc = write_batch(w, batch, n, &err);
        int64_t us = (weft_now_ns() - t0) / 1000;
        atomic_fetch_add(&w->st.commits, 1);
        atomic_fetch_add(&w->st.commit_us_sum, us);
        int b = 0;
        while (b < 7 && us > writer_bucket_ms[b] * 1000) b++;
        atomic_fetch_add(&w->st.commit_us_bucket[b], 1);
        if (rc == 0) atomic_fetch_add(&w->st.rows, rows);
        else atomic_fetch_add(&w->st.failures, 1);
        int64_t mb = atomic_load(&w->st.max_batch);
        while (rows > mb && !atomic_compare_exchange_weak(&w->st.max_batch, &mb, rows)) {}
        if (rc == 0) {
            atomic_fetch_add(&w->unsynced, n); /* before the syncer can complete any */
            batch[n - 1]->last = 1;
        }
        for (int i = 0; i < n; i++) {
            /* a failed batch completes now; a committed one after its sync
             * (a closed synq cannot happen here: only this task closes it) */
            if (rc < 0 || weft_chan_send(w->synq, &batch[i], -1) < 0) {
                if (rc == 0) atomic_fetch_sub(&w->unsynced, 1);
                complete(batch[i], rc < 0 ? rc : WEFT_ESHUTDOWN, &err);
            }
        }
    }
    weft_chan_close(w->synq);
    weft_nocancel_end(prev);
    weft_wg_done(&w->stopped);
}

writer *writer_start(store *s, int linger_ms, int gap_ms, int gap_rows, int max_rows, double moving_kn) {
    writer *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    w->s = s;
    w->pg = store_is_pg(s);
    w->motion = motion_map_new(w->pg, moving_kn);
    w->linger_ms = linger_ms;
    w->gap_ms = gap_ms;
    w->gap_rows = gap_rows;
    w->last_commit = INT64_MIN / 2; /* the first commit waits for no gap */
    w->max_rows = max_rows;
    w->q = weft_chan_new(sizeof(req *), 8192, NULL);
    w->synq = weft_chan_new(sizeof(req *), 8192, NULL);
    w->idle = weft_chan_new(1, 1, NULL);
    atomic_init(&w->unsynced, 0);
    int ok = w->q && w->synq && w->idle && w->motion;
    /* SQLite: OR IGNORE instead of ON CONFLICT ... DO NOTHING. A statement of
     * many rows that could abort half-way (a NOT NULL column's default
     * ABORT) keeps a statement journal, a copy of every page it changes:
     * past 64 KB SQLite writes it to a temporary file, and that was half the
     * bytes the writer wrote a fix (strace: 10 KB of 18 on OsmAnd). With OR
     * IGNORE no row can abort the statement, so it keeps none. The writer
     * binds no NULL to a NOT NULL column, so only the duplicates are
     * skipped, as with DO NOTHING; an event row skipped would show as fewer
     * ids than rows and fail the batch (below). */
    const char *pos_head = w->pg ? "INSERT INTO positions" : "INSERT OR IGNORE INTO positions";
    const char *ev_head = w->pg ? "INSERT INTO events" : "INSERT OR IGNORE INTO events";
    char head[256];
    for (int i = 0; i < 4; i++) {
        snprintf(head, sizeof head, "%s (device_id, protocol, fix_time, server_time, latitude, longitude, speed, "
                                    "course, altitude, accuracy, valid, attributes) VALUES ", pos_head);
        w->pos_sql[i] = store_insert_sql(head, POS_COLS, STORE_CHUNK[i],
                                         w->pg ? " ON CONFLICT (device_id, fix_time) DO NOTHING" : "");
        snprintf(head, sizeof head, "%s (device_id, type, event_time, server_time, latitude, longitude, "
                                    "geofence_id, attributes) VALUES ", ev_head);
        w->ev_sql[i] = store_insert_sql(head, EV_COLS, STORE_CHUNK[i], " RETURNING id");
        ok = ok && w->pos_sql[i] && w->ev_sql[i];
    }
    if (!ok) {
        writer_stop(w);
        return NULL;
    }
    weft_wg_init(&w->stopped);
    weft_wg_add(&w->stopped, 2);
    weft_task_opts so = {.name = "fleet-syncer", .stack_size = 128 * 1024}; /* its batch array */
    if (weft_go_opts(syncer_task, w, &so) < 0) {
        weft_wg_add(&w->stopped, -2);
        weft_chan_free(w->synq), w->synq = NULL;
        writer_stop(w);
        return NULL;
    }
    weft_task_opts o = {.name = "fleet-writer", .stack_size = 256 * 1024}; /* batch and argument arrays */
    if (weft_go_opts(writer_task, w, &o) < 0) {
        weft_chan_close(w->synq);
        weft_wg_done(&w->stopped);
        writer_stop(w);
        return NULL;
    }
    return w;
}

void writer_stop(writer *w) {
    if (!w) return;
    if (w->q) {
        weft_chan_close(w->q);
        /* masked: a cancelled caller too must not free w under the writer */
        int prev = weft_nocancel_begin();
        weft_wg_wait(&w->stopped, -1);
        weft_nocancel_end(prev);
        weft_chan_free(w->q);
    }
    if (w->synq) weft_chan_free(w->synq);
    if (w->idle) weft_chan_free(w->idle);
    for (int i = 0; i < 4; i++) free(w->pos_sql[i]), free(w->ev_sql[i]);
    motion_map_free(w->motion);
    free(w);
}

void writer_motion_reset(writer *w) { atomic_store(&w->motion_reset, 1); }

int writer_submit(writer *w, const pos_row *pos, int npos, ev_row *ev, int nev, weft_db_err *err) {
    if (npos == 0 && nev == 0) return 0;
    req *r = calloc(1, sizeof *r);
    if (!r) return WEFT_ENOMEM;
    r->pos = pos, r->npos = npos, r->ev = ev, r->nev = nev;
    weft_sem_init(&r->done, 0);
    atomic_init(&r->refs, 2);
    atomic_fetch_add(&w->st.queued, 1);
    int rc = weft_chan_send(w->q, &r, -1);
    if (rc < 0) {
        atomic_fetch_sub(&w->st.queued, 1);
        free(r);
        return rc == WEFT_ECLOSED ? WEFT_ESHUTDOWN : rc;
    }
    /* masked: r points at the caller's pos/ev (and their attrs), which the
     * caller frees when it returns; a cancelled caller returning now would let
     * the writer read them, and write event ids into them, after the free.
     * The writer completes every request it was given (writer_task). */
    int prev = weft_nocancel_begin();
    rc = weft_sem_acquire(&r->done, -1);
    weft_nocancel_end(prev);
    if (rc == 0) {
        rc = r->rc;
        if (err) *err = r->err;
    }
    unref(r);
    return rc;
}
