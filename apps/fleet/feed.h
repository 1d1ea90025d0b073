/*
 * apps/fleet/feed.h — what live viewers (the WebSocket /api/socket and the
 * SSE /api/stream) receive: {"devices": [...], "positions": [...],
 * "events": [...]} messages, Traccar's shape.
 *
 * Coalescing happens before anything is encoded: a device that reports ten
 * times between two sends is one entry in the next, with its latest state.
 * When to send (feed.c, feed_task): at once when the feed is idle (nothing
 * sent for live.tick_ms, feed_tick_ms); under load at the end of a window of
 * tick_ms, or earlier when the window is full (feed_full_batch), as one
 * message while it is within feed_update_bytes. A message is built
 * once per *audience* — the set of groups a viewer may see; every admin shares
 * one, every viewer of the same groups another — and the same bytes
 * (reference-counted) go to every viewer of that audience, so 500 viewers
 * cost one encoding per audience per tick, not 500.
 *
 * A live socket's first state (the snapshot) is made the same way: at a tick
 * (at most every SNAPSHOT_MIN_INTERVAL_MS, feed.c) the feed encodes the
 * snapshot once per audience that has new sockets, in messages of
 * feed_chunk_bytes, and queues those shared messages to each of them
 * outside live.queue_kb (weft_ws_send_msg with WEFT_WS_SEND_SYNC): a state of
 * any size arrives whole, and the queue limit still catches a socket that
 * falls behind on the updates after it: its queue drops the oldest updates
 * (WEFT_WS_QUEUE_DROP_OLDEST) and the feed sends it the snapshot again, the
 * newest state of every device, instead of closing it: {"resync":true},
 * then the pieces, counted against the queue (WEFT_WS_SEND_KEEP), at most
 * one such snapshot waiting per socket. Events and {"acks"} are never
 * dropped: they go in messages of their own, sent WEFT_WS_SEND_KEEP (a
 * socket whose kept messages alone fill its queue is closed with 1008). An SSE stream gets the same pieces
 * of the same build (feed_subscribe_chan): a stream costs no snapshot of its
 * own either.
 */
#ifndef FLEET_FEED_H
#define FLEET_FEED_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "weft/ws.h"

#include "fleet.h"

typedef struct feed_msg {
    atomic_int refs;
    size_t len;
    char data[]; /* the JSON text */
} feed_msg;

void feed_msg_ref(feed_msg *m);
void feed_msg_release(feed_msg *m);

typedef struct feed_viewer feed_viewer;
/* Called at each tick with a message for this viewer (from the feed's task;
 * must not suspend). The callee takes its own reference if it keeps m. */
typedef void (*feed_deliver_fn)(void *ud, feed_msg *m);

fleet_feed *feed_new(fleet *f);
/* Start the ticking task; stop it (from a task) and free. */
int feed_start(fleet_feed *fd);
void feed_free(fleet_feed *fd);

/* A viewer that sees every device (all) or the devices of groups[0..n).
 * With fn set, fn gets each message; with fn NULL the viewer only makes its
 * audience known, and the audience's messages are published once on f->hub
 * under the topic feed_topic() names (the live socket and the SSE stream
 * subscribe to it: one frame shared by all of them). */
feed_viewer *feed_subscribe(fleet *f, int all, const int64_t *groups, int ngroups, feed_deliver_fn fn,
                            void *ud);
/* A live socket: at the next tick the feed queues ws its audience's
 * snapshot, then subscribes it to the audience's hub topic (feed_topic).
 * ws must stay valid until feed_unsubscribe; then unsubscribe it from the
 * topic (weft_hub_unsubscribe_ws). NULL when out of memory. */
feed_viewer *feed_subscribe_ws(fleet *f, int all, const int64_t *groups, int ngroups, weft_ws *ws);
/* An SSE stream, ch its channel of weft_hub_msg pointers: at the next tick
 * the feed builds its audience's snapshot (once for every socket and stream
 * of the audience that joined since the last build: the same pieces), hands
 * it to the stream (feed_take_state) and subscribes ch to the audience's hub
 * topic, so what arrives in ch is newer than the snapshot. ch is subscribed
 * WEFT_HUB_CHAN_CLOSE_WHEN_FULL: a message it has no room for closes it (the
 * stream ends rather than miss it; api_live.c). After
 * feed_unsubscribe, unsubscribe ch from the topic (weft_hub_unsubscribe_chan).
 * NULL when out of memory. */
typedef struct feed_state feed_state;
feed_viewer *feed_subscribe_chan(fleet *f, int all, const int64_t *groups, int ngroups, weft_chan *ch);
/* Wait until deadline for a stream's snapshot: 0 with *out (release it with
 * feed_state_release), or WEFT_ETIMEDOUT (not built yet), WEFT_ECANCELED. */
int feed_take_state(fleet *f, feed_viewer *v, feed_state **out, int64_t deadline);
/* The snapshot's pieces: complete messages of at most feed_chunk_bytes. */
int feed_state_count(const feed_state *s);
weft_str feed_state_piece(const feed_state *s, int i);
void feed_state_release(feed_state *s);
void feed_unsubscribe(fleet *f, feed_viewer *v);
/* The window: live.tick_ms, or longer when live.max_flushes_per_s asks.
 * Under load a change waits at most a window (less when the window is
 * full); when nothing was sent for a window it goes out at once (feed.c,
 * feed_task). */
int64_t feed_tick_ms(const fleet_config *c);
/* The most bytes of a snapshot's or an acknowledgement's message: a
 * quarter of live.queue_kb, within 4..64 KiB. */
size_t feed_chunk_bytes(const fleet_config *c);
/* The most bytes of an update's message: a quarter of live.queue_kb, within
 * 4..128 KiB, so that a full window (feed_full_batch) goes to a viewer as
 * one message, one send, and the hub still sends it whole to a socket that
 * keeps up (weft_hub_publish_split: a quarter of the queue). */
size_t feed_update_bytes(const fleet_config *c);
/* The changed devices that make a full window, about feed_chunk_bytes by
 * an estimate of a device's bytes: a window that gathers this many is sent
 * without waiting for its end. */
size_t feed_full_batch(const fleet_config *c);
/* The hub topic of an audience ("live:all", "live:g:3,7") into out. */
void feed_topic(int all, const int64_t *groups, int ngroups, char *out, size_t cap);

/* Everything the viewer may see, now (the first message after connecting). */
feed_msg *feed_snapshot(fleet *f, int all, const int64_t *groups, int ngroups);
/* Can a viewer of (all, groups) see a device of group gid? */
int feed_visible(int all, const int64_t *groups, int ngroups, int64_t gid);

/* Events were acknowledged (POST /api/events/{id}/ack, POST
 * /api/events/ack), all by one user at ack_ms: send each viewer that sees
 * some of them, at once, {"acks":[{"id","deviceId","ackTime","ackUserId",
 * "ackUserName"}, ...]} with the ones it sees (several messages when they
 * are more than feed_chunk_bytes). */
typedef struct feed_ack {
    int64_t event_id, device_id, group_id;
} feed_ack;
void feed_publish_acks(fleet *f, const feed_ack *acks, int n, int64_t ack_ms, int64_t user_id,
                       const char *user_name);

/* Counters for /metrics. */
typedef struct feed_stats {
    _Atomic int64_t ticks, messages, bytes, viewers, snapshots;
    _Atomic int64_t resyncs; /* live sockets sent the snapshot again after their queue dropped updates */
    /* per device sent in an update: the milliseconds from the server taking
     * its fix (serverTime) to the update's encoding (the commit and the
     * window's wait), in 1 ms buckets; the last holds FEED_WAIT_BUCKETS - 1
     * ms and more */
#define FEED_WAIT_BUCKETS 1024
    _Atomic int64_t wait_ms[FEED_WAIT_BUCKETS];
} feed_stats;
feed_stats *feed_get_stats(fleet_feed *fd);
/* The live sockets' outgoing queues now (weft_ws_get_stats of each): how
 * many sockets, the most one of them has queued (counted against
 * live.queue_kb) and held (SYNC and KEEP bytes not yet taken by its writer),
 * and their drops so far. */
typedef struct feed_queues {
    int sockets;
    size_t max_queued, max_held;
    uint64_t dropped;
} feed_queues;
void feed_get_queues(fleet_feed *fd, feed_queues *out);
/* The q-quantile (0..1) of wait_ms, in ms; -1 when nothing was sent. */
double feed_wait_quantile(const feed_stats *s, double q);

#endif
