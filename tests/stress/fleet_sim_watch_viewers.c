/*
 * tests/stress/fleet_sim_watch_viewers.c — fleet-sim's live viewers
 * (apps/fleet-sim/watch.c) against a real WebSocket server for their whole
 * window: light and decoding viewers count the same messages and bytes,
 * only the decoding sample counts positions and latency; with
 * permessage-deflate offered the light ones count compressed messages
 * without inflating them and the decoding ones inflate every one.
 *
 * watch_run runs for its duration (1 s plus the build's slack), however
 * soon the server's updates are in: 2 s a run in the plain build, five runs
 * here. So they are in make test (every flavor and backend) and not in make
 * check's unit tier (tests/README.md). They were in
 * tests/unit/fleet_sim_watch.c, which keeps the server's close, and share
 * its server (unit/fleet_sim_watch_srv.h).
 */
#include "unit/fleet_sim_watch_srv.h"

/* Light and decoding viewers count the same messages and bytes; only the
 * decoding sample (spread over the viewers) counts positions and latency. */
TEST(watch_light_and_decoding_viewers_count_alike) {
    live_srv t;
    live_start(&t, 0);
    ASSERT(t.s != NULL);
    watch_report r;
    ASSERT_EQ(live_watch(&t, 5, 2, &r), 0);
    ASSERT_EQ(r.connected, 5);
    ASSERT_EQ(r.latency_connected, 2);
    ASSERT_EQ(r.dial_failed, 0);
    ASSERT_EQ(r.closed_early, 0);
    ASSERT_EQ(r.bad, 0);
    /* the snapshot is not counted: the updates are, at every viewer */
    ASSERT_EQ(r.messages, 5 * LIVE_UPDATES);
    char m[160];
    int n = snprintf(m, sizeof m, LIVE_UPDATE_FMT, (long long)unix_ms(), (long long)unix_ms());
    ASSERT_EQ(r.bytes, (int64_t)5 * LIVE_UPDATES * n); /* (13-digit times then and now) */
    ASSERT_EQ(r.positions, 2 * LIVE_UPDATES * 2);
    ASSERT(r.max_ms < 5000.0); /* fresh fixes, not the snapshot's minute-old one */
    ASSERT_EQ(live_stop(&t), 0);
    ASSERT_EQ(atomic_load(&t.served), 5); /* every viewer closed its connection */
    /* no latency sample at all, and all of them */
    live_start(&t, 0);
    ASSERT_EQ(live_watch(&t, 3, 0, &r), 0);
    ASSERT_EQ(r.latency_connected, 0);
    ASSERT_EQ(r.messages, 3 * LIVE_UPDATES);
    ASSERT_EQ(r.positions, 0);
    ASSERT_EQ(live_watch(&t, 3, -1, &r), 0);
    ASSERT_EQ(r.latency_connected, 3);
    ASSERT_EQ(r.positions, 3 * LIVE_UPDATES * 2);
    ASSERT_EQ(live_stop(&t), 0);
    /* more latency viewers than viewers is a setting out of range */
    watch_config bad = {.url = "ws://127.0.0.1:1/", .viewers = 2, .latency_viewers = 3};
    ASSERT_EQ(watch_run(&bad, NULL, NULL, &r), WEFT_EINVAL);
}

/* Viewers that offer permessage-deflate (as Chromium does) to a server that
 * compresses every message: the light ones count the compressed messages
 * without inflating them, the decoding ones inflate through the library and
 * read every position; nothing is refused. Without the offer nothing comes
 * compressed. */
TEST(watch_viewers_with_deflate_count_and_decode) {
    live_srv t;
    live_start(&t, 0);
    ASSERT(t.s != NULL);
    watch_report r;
    ASSERT_EQ(live_watch_z(&t, 5, 2, 1, &r), 0);
    ASSERT_EQ(r.connected, 5);
    ASSERT_EQ(r.closed_early, 0);
    ASSERT_EQ(r.bad, 0);
    ASSERT_EQ(r.messages, 5 * LIVE_UPDATES);
    ASSERT_EQ(r.deflated, 3 * LIVE_UPDATES); /* the light viewers' */
    ASSERT_EQ(r.positions, 2 * LIVE_UPDATES * 2);
    /* the decoding viewers count inflated bytes, the light ones compressed:
     * less than every viewer's plain bytes, more than the decoding ones' */
    char m[160];
    int n = snprintf(m, sizeof m, LIVE_UPDATE_FMT, (long long)unix_ms(), (long long)unix_ms());
    ASSERT_LT(r.bytes, (int64_t)5 * LIVE_UPDATES * n);
    ASSERT_GT(r.bytes, (int64_t)2 * LIVE_UPDATES * n);
    ASSERT_GT(r.light_bytes, 0);
    ASSERT_LT(r.light_bytes, (int64_t)3 * LIVE_UPDATES * n);
    ASSERT_EQ(r.bytes - r.light_bytes, (int64_t)2 * LIVE_UPDATES * n); /* the decoders': inflated */
    ASSERT_EQ(live_watch_z(&t, 3, 1, 0, &r), 0);
    ASSERT_EQ(r.messages, 3 * LIVE_UPDATES);
    ASSERT_EQ(r.deflated, 0);
    ASSERT_EQ(r.light_bytes, (int64_t)2 * LIVE_UPDATES * n);
    ASSERT_EQ(r.bad, 0);
    ASSERT_EQ(live_stop(&t), 0);
}
