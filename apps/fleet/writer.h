/*
 * apps/fleet/writer.h — group commit. Every position and event is written by
 * one writer task, in batches: the task takes what is queued and, when no
 * commit of its own is waiting for its sync, writes it all in one
 * transaction with multi-row INSERTs and commits, once storage.commit_gap_ms
 * have passed since the last commit began or the batch has
 * storage.commit_gap_rows rows. While one is waiting, it gathers what
 * arrives until that sync has completed (adaptive linger), at most
 * storage.commit_interval_ms, or until storage.commit_max_rows. A
 * second task syncs (store_sync: one fdatasync of SQLite's WAL for every
 * batch committed since the last) and only then completes each request.
 * A device is acknowledged after its request completed, so an acknowledged
 * fix is on disk and a kill -9 (or a power cut) loses none of them. The
 * syncer completes the batches in commit order; after a failed sync nothing
 * is acknowledged again until restart (the store's latch, store.h).
 *
 * A request lives on the heap with two references (the submitter's and the
 * writer's): a submitter whose task is cancelled mid-wait leaves, and the
 * writer frees the request after completing it.
 */
#ifndef FLEET_WRITER_H
#define FLEET_WRITER_H

#include <stdatomic.h>
#include <stdint.h>

#include "weft/rt.h"

#include "events.h"
#include "fix.h"
#include "store.h"

typedef struct pos_row {
    int64_t device_id;
    const char *protocol;
    int64_t server_ms;
    fleet_fix fix;
    const char *attrs; /* JSON object text, attrs_len bytes */
    size_t attrs_len;
} pos_row;

typedef struct ev_row {
    int64_t device_id;
    int64_t server_ms;
    fleet_event ev;
    int64_t id; /* out: the event's row id once committed */
} ev_row;

typedef struct writer writer;

typedef struct writer_stats {
    _Atomic int64_t commits, rows, failures, max_batch;
    _Atomic int64_t commit_us_sum;
    _Atomic int64_t commit_us_bucket[8]; /* <= 1, 2, 5, 10, 25, 50, 100 ms, more */
    _Atomic int64_t queued;              /* requests waiting now */
    _Atomic int64_t held;                /* of them, gathered by the writer behind a sync now */
    _Atomic int64_t syncs, sync_us_sum;  /* store_sync calls, their time */
} writer_stats;

extern const double writer_bucket_ms[7];

/* Start the writer task on s. NULL when out of memory. It also keeps the
 * motion chunks (motion.h) for status.moving_speed_kn = moving_kn. */
writer *writer_start(store *s, int linger_ms, int gap_ms, int gap_rows, int max_rows, double moving_kn);
/* Positions were deleted behind the writer's back (a device deleted): it
 * forgets its open motion chunks and summarises again from the database. */
void writer_motion_reset(writer *w);
/* Complete what is queued, then stop (from a task). */
void writer_stop(writer *w);
writer_stats *writer_get_stats(writer *w);

/* Write pos[0..npos) and ev[0..nev) durably; the arrays (and the text they
 * point to) must stay valid until the call returns. Suspends until the
 * batch holding them is committed. Returns 0; WEFT_EDB etc. when the
 * transaction failed (nothing of it is stored; err has the database's
 * message); WEFT_ESHUTDOWN after writer_stop; WEFT_ECANCELED when the
 * calling task was cancelled while waiting (the rows may still be written:
 * the caller must not acknowledge them). Duplicate positions (same device
 * and fix time) are skipped silently. */
int writer_submit(writer *w, const pos_row *pos, int npos, ev_row *ev, int nev, weft_db_err *err);

#endif
