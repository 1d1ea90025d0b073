/*
 * tests/stress/fleet_live_lag.c — weft fleet's live socket and SSE stream
 * against readers that lag, over real sockets: a socket that stops reading
 * is resynced (sent the newest state again) instead of closed, and what it
 * gets when it reads again gives every device's newest position; one that
 * stops reading while alarms and acknowledgements are made gets every one of
 * them and the resync marker; one that reads far too slowly over many
 * resync periods never has more than live.queue_kb held for it; a stream
 * that stops reading ends with its reason after everything it held, never
 * with a gap, and its reconnect starts with the marker and the snapshot.
 *
 * Each moves 300 devices every 20 ms until the kernel's socket buffers and
 * the feed's queues overflow, or over resyncs 2, 4 and 8 s apart: 5 to 17 s
 * a test in the plain build, set by the kernel's buffers and the feed's
 * resync periods rather than by a count a smaller test could lower. So they
 * run in make test (every flavor and backend), not in make check's unit
 * tier (tests/README.md). They were in tests/unit/fleet_live.c, and share
 * its helpers (unit/fleet_live_env.h).
 */
#include <stdio.h>
#include <stdlib.h>

#include "unit/fleet_live_env.h"

/* A viewer that falls behind: it reads nothing while half the devices (A)
 * change at every window, so its queue (live.queue_kb, 256 here: room for
 * the resync's snapshot, which is counted against it) drops its
 * oldest updates once the kernel's socket buffers are full. It is not
 * closed: the feed sends it the snapshot again (a resync, the newest state
 * of every device). The other half (B) then moves once, in an update that
 * the queue drops in turn, and only a later resync can carry it. When the
 * viewer reads again, merging what it got by device id gives every device's
 * newest position; a viewer that reads all along keeps its socket too. */
typedef struct reader {
    weft_ws *ws;
    _Atomic int stop, msgs;
    int pause_ms; /* after each message: a reader far slower than the feed */
    weft_wg wg;
} reader;

static void read_task(void *arg) {
    reader *r = arg;
    weft_buf b;
    weft_buf_init(&b, 0);
    while (!atomic_load(&r->stop)) {
        int rc = weft_ws_recv(r->ws, &b, weft_deadline_in(100));
        if (rc == WEFT_WS_TEXT) {
            atomic_fetch_add(&r->msgs, 1);
            if (r->pause_ms) weft_sleep(r->pause_ms);
        } else if (rc != WEFT_ETIMEDOUT) {
            break;
        }
    }
    weft_buf_free(&b);
    weft_wg_done(&r->wg);
}

TEST(live_socket_reader_that_falls_behind_gets_the_newest_state) {
    env *e = calloc(1, sizeof *e);
    ASSERT(e);
    ASSERT_EQ(env_start(e, 0), 0);
    e->f.cfg.live_queue_kb = 256; /* read at each upgrade */
    ASSERT_EQ(bulk_devices(e), 0);
    weft_ws *slow = admin_socket(e);
    ASSERT(slow);
    reader *r = calloc(1, sizeof *r);
    ASSERT(r);
    ASSERT((r->ws = admin_socket(e)) != NULL);
    weft_wg_init(&r->wg);
    ASSERT_EQ(test_go_wg(&r->wg, read_task, r), 0);
    static live_device *devs[BULK];
    static double lat[BULK];
    for (int i = 0; i < BULK; i++) {
        char uid[32];
        snprintf(uid, sizeof uid, "bulk-%03d", i);
        ASSERT((devs[i] = live_by_unique(e->f.devices, uid)) != NULL);
        lat[i] = -1;
    }
    feed_stats *fs = feed_get_stats(e->f.feed);
    enum { HALF = BULK / 2 };
    /* ~70 KB a window for A, every 20 ms: past the loopback buffers and the
     * queue in a few seconds; until the feed resynced the slow socket */
    int t = 0;
    for (; t < 1500 && !atomic_load(&fs->resyncs); t++) {
        for (int i = 0; i < HALF; i++) move(&e->f, devs[i], 10 + (t % 50) * 0.01, t & 1);
        weft_sleep(20);
    }
    ASSERT_GT(atomic_load(&fs->resyncs), 0);
    /* B moves once; A goes on for a second, past the room the resync's
     * snapshot (kept in the queue) leaves for updates. No second resync
     * while that snapshot waits for the writer (at most one outstanding) */
    for (int i = HALF; i < BULK; i++) move(&e->f, devs[i], 33.5, 1);
    int64_t after_b = atomic_load(&fs->resyncs);
    for (int k = 0; k < 50; k++, t++) {
        for (int i = 0; i < HALF; i++) move(&e->f, devs[i], 10 + (t % 50) * 0.01, t & 1);
        weft_sleep(20);
    }
    ASSERT_EQ(atomic_load(&fs->resyncs), after_b);
    /* the last state of A */
    for (int i = 0; i < HALF; i++) move(&e->f, devs[i], 44.25, 0);
    atomic_store(&r->stop, 1);
    weft_wg_wait(&r->wg, -1);
    ASSERT_EQ(weft_ws_close_status(r->ws, NULL), 0); /* the reader is still open */
    ASSERT_GT(atomic_load(&r->msgs), 10);
    /* the slow viewer reads again: every device's newest position arrives
     * (B's by the resync that follows once the writer took the last) */
    weft_buf b;
    weft_buf_init(&b, 0);
    int newest = 0;
    while (newest < BULK && weft_ws_recv(slow, &b, weft_deadline_in(test_slack_ms(10000))) == WEFT_WS_TEXT) {
        ASSERT(merge_latitudes(&b, devs, BULK, lat) >= 0);
        newest = 0;
        for (int i = 0; i < BULK; i++) newest += lat[i] == (i < HALF ? 44.25 : 33.5);
    }
    ASSERT_EQ(newest, BULK);
    ASSERT_EQ(weft_ws_close_status(slow, NULL), 0); /* never closed */
    weft_ws_close(slow, WEFT_WS_NORMAL, NULL);
    weft_ws_free(slow);
    weft_ws_close(r->ws, WEFT_WS_NORMAL, NULL);
    weft_ws_free(r->ws);
    free(r);
    weft_buf_free(&b);
    env_stop(e);
    free(e);
}

/* Review F2: a dashboard that stops reading while alerts and
 * acknowledgements are produced among position updates that overflow its
 * queue. Reading again, it gets every alert and every ack (sent
 * WEFT_WS_SEND_KEEP: the queue drops position updates around them), and
 * the {"resync":true} marker ahead of the snapshot sent again; its queue
 * stayed within live.queue_kb. (The old feed put events in the same
 * droppable messages as positions, and acks in droppable ones of their
 * own: most of them were lost, and no marker told the page.) */
TEST(live_socket_that_stops_reading_gets_every_alert_and_ack) {
    env *e = calloc(1, sizeof *e);
    ASSERT(e);
    ASSERT_EQ(env_start(e, 0), 0);
    e->f.cfg.live_queue_kb = 256; /* read at each upgrade */
    ASSERT_EQ(bulk_devices(e), 0);
    weft_ws *slow = admin_socket(e);
    ASSERT(slow);
    weft_buf b;
    weft_buf_init(&b, 0);
    /* the first piece of its snapshot: the feed has subscribed it to the
     * live topic (it does so when it queues the snapshot); then it stops */
    ASSERT(next(slow, &b, test_slack_ms(5000)));
    static live_device *devs[BULK];
    ASSERT_EQ(bulk_live(e, devs), 0);
    feed_stats *fs = feed_get_stats(e->f.feed);
    enum { NEV = 30, BASE = 7000 };
    feed_queues most = {0};
    int k = 0;
    /* ~70 KB of positions every 20 ms; an alarm every 10th window and its
     * acknowledgement; until every one was produced and the feed resynced
     * the socket */
    /* (not until a resync: the feed resyncs a socket only once its kept
     * alerts and acks have gone to the kernel, weft_ws_stats.held 0, and
     * whether they have while it reads nothing depends on the socket
     * buffer's room and the timing: it is asked for after it reads again) */
    for (int t = 0; t < 3000 && (k < NEV || !most.dropped); t++) {
        if (t % 10 == 0 && k < NEV) {
            ev_row ev = {.device_id = devs[k]->id, .id = BASE + k,
                         .ev = {.type = EV_ALARM, .time_ms = fleet_now_ms(), .lat = 10, .lon = 16.37, .alarm = FLEET_ALARM_SOS}};
            feed_publish(&e->f, devs[k], &ev, 1);
            feed_ack ack = {BASE + k, devs[k]->id, devs[k]->group_id};
            feed_publish_acks(&e->f, &ack, 1, fleet_now_ms(), 1, "Ann");
            k++;
        }
        move_window(e, devs, t, &most);
    }
    ASSERT_EQ(k, NEV);
    ASSERT_GT(most.dropped, 0); /* position updates were dropped */
    ASSERT_LE(most.max_queued, 256 * 1024);
    /* it reads again: every alert and ack, and a resync (marked) */
    static unsigned char seen_ev[NEV], seen_ack[NEV];
    int resync = 0, all = 0;
    while (!(all && resync) && weft_ws_recv(slow, &b, weft_deadline_in(test_slack_ms(10000))) == WEFT_WS_TEXT) {
        ASSERT_EQ(alert_ids(&b, BASE, NEV, seen_ev, seen_ack, &resync), 0);
        all = 1;
        for (int i = 0; i < NEV; i++) all &= seen_ev[i] && seen_ack[i];
    }
    int evs = 0, acks = 0;
    for (int i = 0; i < NEV; i++) evs += seen_ev[i], acks += seen_ack[i];
    ASSERT_EQ(evs, NEV);
    ASSERT_EQ(acks, NEV);
    ASSERT(resync);
    ASSERT_GT(atomic_load(&fs->resyncs), 0);
    ASSERT_EQ(weft_ws_close_status(slow, NULL), 0); /* not closed: it had room for them */
    weft_ws_close(slow, WEFT_WS_NORMAL, NULL);
    weft_ws_free(slow);
    weft_buf_free(&b);
    env_stop(e);
    free(e);
}

/* Review F3: a viewer that reads, but far too slowly, over several resync
 * periods (16 s: resyncs 2, 4 and 8 s apart when each is allowed). Each
 * resync's snapshot is counted against live.queue_kb and a new one waits
 * until the writer took the last (weft_ws_stats.held is 0), so what the
 * server holds for the socket never passes the queue's bound however many
 * resync periods pass; the socket stays open (each snapshot fits). (The old
 * feed queued each resync's snapshot outside the bound, whether or not the
 * last one had gone out: held grew by a snapshot at every resync, past
 * 256 KiB by the third.) */
TEST(live_socket_reading_slowly_over_many_resyncs_stays_bounded) {
    env *e = calloc(1, sizeof *e);
    ASSERT(e);
    ASSERT_EQ(env_start(e, 0), 0);
    e->f.cfg.live_queue_kb = 256; /* read at each upgrade */
    ASSERT_EQ(bulk_devices(e), 0);
    static live_device *devs[BULK];
    ASSERT_EQ(bulk_live(e, devs), 0);
    for (int i = 0; i < BULK; i++) move(&e->f, devs[i], 10, 0); /* every device with a position: the snapshots' full size */
    weft_sleep(100);
    reader *r = calloc(1, sizeof *r);
    ASSERT(r);
    ASSERT((r->ws = admin_socket(e)) != NULL);
    r->pause_ms = 250; /* one message every 250 ms: far slower than the feed */
    weft_wg_init(&r->wg);
    ASSERT_EQ(test_go_wg(&r->wg, read_task, r), 0);
    feed_stats *fs = feed_get_stats(e->f.feed);
    int64_t first = atomic_load(&fs->resyncs);
    feed_queues most = {0};
    /* every device moves every 20 ms (~3.5 MB/s), for 800 windows */
    for (int t = 0; t < 800; t++) move_window(e, devs, t, &most);
    fprintf(stderr, "    (%lld resyncs; at most %zu bytes queued, %zu held)\n", (long long)(atomic_load(&fs->resyncs) - first),
            most.max_queued, most.max_held);
    ASSERT_GT(atomic_load(&fs->resyncs), first);
    ASSERT_LE(most.max_queued, 256 * 1024);
    ASSERT_LE(most.max_held, 256 * 1024);
    ASSERT_GT(most.max_held, 0); /* (the snapshots were seen waiting) */
    atomic_store(&r->stop, 1);
    weft_wg_wait(&r->wg, -1);
    ASSERT_GT(atomic_load(&r->msgs), 10);
    ASSERT_EQ(weft_ws_close_status(r->ws, NULL), 0);
    weft_ws_close(r->ws, WEFT_WS_NORMAL, NULL);
    weft_ws_free(r->ws);
    free(r);
    env_stop(e);
    free(e);
}

/* An SSE stream to /api/stream as the admin, with extra header lines
 * (e.g. "Last-Event-ID: 9\r\n"); the socket, or -1. */
static int admin_stream(env *e, const char *extra) {
    char admin[256], req[768];
    if (login(e, "admin@t.local", "admin-password-1", admin, sizeof admin) != 200) return -1;
    int fd = weft_tcp_connect("127.0.0.1", e->port, weft_deadline_in(5000));
    if (fd < 0) return -1;
    int n = snprintf(req, sizeof req, "GET /api/stream HTTP/1.1\r\nHost: x\r\n%s%s\r\n", admin, extra);
    if (weft_write_all(fd, req, (size_t)n, weft_deadline_in(5000)) <= 0) return weft_close(fd), -1;
    return fd;
}

/* Read from fd into b (appended) until want is in it (want NULL: until the
 * end of the stream), or nothing came for ms. 1 when found or ended, else 0. */
static int read_until(int fd, weft_buf *b, const char *want, int64_t ms) {
    char tmp[65536];
    for (;;) {
        if (want && b->len && memmem(b->data, b->len, want, strlen(want))) return 1;
        ssize_t k = weft_read(fd, tmp, sizeof tmp, weft_deadline_in(ms));
        if (k == 0) return want == NULL;
        if (k < 0) return 0;
        weft_buf_append(b, tmp, (size_t)k);
    }
}

/* The body of a chunked response in raw (head included) into body; 1 when
 * the last chunk (size 0) was seen: the stream ended properly. */
static int dechunk(const weft_buf *raw, weft_buf *body) {
    const char *p = raw->len ? memmem(raw->data, raw->len, "\r\n\r\n", 4) : NULL, *end = raw->data + raw->len;
    if (!p) return 0;
    for (p += 4; p < end;) {
        char *q;
        unsigned long n = strtoul(p, &q, 16);
        if (q == p || q + 2 > end || q[0] != '\r') return 0;
        q += 2;
        if (n == 0) return 1;
        if ((size_t)(end - q) < n + 2) return 0;
        weft_buf_append(body, q, n);
        p = q + n + 2;
    }
    return 0;
}

/* An SSE stream whose client stops reading while position updates overflow
 * what the server holds for it, with alerts and acknowledgements among
 * them. A stream has no in-place resync (the socket's): it must never miss a
 * message silently, so when its channel is full the stream ends, with a
 * comment that says why, after everything it held. Every alert and ack it
 * carried is a prefix of those made (none missing before the end), the
 * alerts made after the end are not partly delivered, and the client's
 * reconnect (EventSource sends Last-Event-ID) starts with {"resync":true}
 * (fetch the alerts again) and the snapshot. (The old stream dropped what its
 * full channel could not take and went on: the alerts made while it was
 * full were lost and nothing told the client.) */
TEST(live_stream_that_stops_reading_never_misses_an_alert_silently) {
    env *e = calloc(1, sizeof *e);
    ASSERT(e);
    ASSERT_EQ(env_start(e, 0), 0);
    e->f.cfg.live_queue_kb = 256;
    ASSERT_EQ(bulk_devices(e), 0);
    int fd = admin_stream(e, "Connection: close\r\n"); /* its end is the connection's */
    ASSERT(fd >= 0);
    weft_buf raw, body, line;
    weft_buf_init(&raw, 0), weft_buf_init(&body, 0), weft_buf_init(&line, 0);
    /* the first piece of the snapshot: the stream's channel is subscribed
     * (the feed does so when it hands the snapshot over); then it stops */
    ASSERT(read_until(fd, &raw, "data: {", test_slack_ms(5000)));
    static live_device *devs[BULK];
    ASSERT_EQ(bulk_live(e, devs), 0);
    enum { NEV = 30, BASE = 9000 };
    feed_queues most = {0};
    weft_hub_stats hs;
    int k = 0, t = 0;
    /* alerts and acks from the start, and positions, until the stream's
     * channel was full; then NEV / 2 more (the old stream lost those) */
    int after = -1;
    for (; t < 3000 && k < NEV; t++) {
        weft_hub_get_stats(e->f.hub, &hs);
        if (hs.dropped && after < 0) after = k;
        if (t % 10 == 0 && (k < NEV / 2 || after >= 0)) {
            ev_row ev = {.device_id = devs[k]->id, .id = BASE + k,
                         .ev = {.type = EV_ALARM, .time_ms = fleet_now_ms(), .lat = 10, .lon = 16.37, .alarm = FLEET_ALARM_SOS}};
            feed_publish(&e->f, devs[k], &ev, 1);
            feed_ack ack = {BASE + k, devs[k]->id, devs[k]->group_id};
            feed_publish_acks(&e->f, &ack, 1, fleet_now_ms(), 1, "Ann");
            k++;
        }
        move_window(e, devs, t, &most);
    }
    ASSERT_EQ(k, NEV);
    ASSERT(after >= 0 && after < NEV);
    /* it reads again, to the end of the stream */
    int ended = read_until(fd, &raw, NULL, test_slack_ms(3000));
    weft_close(fd);
    int last_chunk = dechunk(&raw, &body);
    static unsigned char seen_ev[NEV], seen_ack[NEV];
    int resync = 0, why = 0;
    for (const char *p = body.data, *end = body.data + body.len; p && p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (n > 6 && !memcmp(p, "data: ", 6)) {
            weft_buf_clear(&line);
            weft_buf_append(&line, p + 6, n - 6);
            ASSERT_EQ(alert_ids(&line, BASE, NEV, seen_ev, seen_ack, &resync), 0);
        }
        if (n > 8 && !memcmp(p, ": closed", 8)) why = 1;
        p = nl ? nl + 1 : NULL;
    }
    int evs = 0, acks = 0, gaps = 0;
    for (int i = 0; i < NEV; i++) {
        evs += seen_ev[i], acks += seen_ack[i];
        gaps += i && (seen_ev[i] > seen_ev[i - 1] || seen_ack[i] > seen_ack[i - 1]);
    }
    ASSERT_EQ(gaps, 0);          /* what it got of each is a prefix */
    ASSERT(ended && last_chunk); /* ended properly, not cut */
    ASSERT(why);
    ASSERT(evs < NEV);           /* the ones made after the end are not there */
    /* the client reconnects: the marker, then the snapshot */
    fd = admin_stream(e, "Last-Event-ID: 7\r\n");
    ASSERT(fd >= 0);
    weft_buf_clear(&raw);
    ASSERT(read_until(fd, &raw, "\"uniqueId\":\"bulk-", test_slack_ms(5000)));
    const char *mark = memmem(raw.data, raw.len, "data: {\"resync\":true}", 21);
    const char *snap = memmem(raw.data, raw.len, "\"uniqueId\":\"bulk-", 17);
    ASSERT(mark && mark < snap);
    weft_close(fd);
    weft_buf_free(&raw), weft_buf_free(&body), weft_buf_free(&line);
    env_stop(e);
    free(e);
}
