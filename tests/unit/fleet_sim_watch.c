/*
 * tests/unit/fleet_sim_watch.c — the live viewers' arithmetic
 * (apps/fleet-sim/watch.c, hist.c): watch_scan reads the fix times of both
 * message shapes (weft fleet's ISO strings, the arena's Unix milliseconds)
 * in order and refuses broken messages with a reason; watch_latency_us
 * subtracts in the right units and flags a fix from the future; the
 * histogram's percentiles land within its 1/16 resolution of the truth;
 * watch_frames_feed (the light viewers' frame reader) gives the same events
 * however a stream is cut and refuses what a live feed never sends; and the
 * viewers themselves, light and decoding, against a real WebSocket server
 * that closes them (1008). The viewers that run their whole window against
 * it (2 s each in the plain build) are tests/stress/fleet_sim_watch_viewers.c,
 * run by make test but not make check; the server both files use is in
 * fleet_sim_watch_srv.h.
 */
#include <math.h>
#include <stdlib.h>
#include <time.h>

#include "test.h"
#include "hist.h"
#include "watch.h"
#include "weft/ws.h"
#include "fleet_sim_watch_srv.h"

typedef struct got {
    int n;
    int64_t ms[8];
    int64_t server_ms; /* the last position's */
} got;

static void collect(void *ud, int64_t ms, int64_t server_ms) {
    got *g = ud;
    g->server_ms = server_ms;
    if (g->n < 8) g->ms[g->n] = ms;
    g->n++;
}

static int scan(const char *s, got *g, const char **why) {
    *g = (got){0};
    *why = NULL;
    return watch_scan(s, strlen(s), collect, g, why);
}

TEST_PLAIN(watch_scan_fleet_message) {
    got g;
    const char *why;
    /* weft fleet's shape: positions among devices and events, nested
     * attributes with brackets and quotes inside strings */
    const char *m = "{\"devices\":[{\"id\":3,\"name\":\"a]}\\\"b\"}],"
                    " \"positions\":[{\"id\":7,\"attributes\":{\"x\":[1,{\"y\":\"}\"}]},"
                    "\"fixTime\":\"2026-12-06T14:10:30.123Z\",\"latitude\":48.2},"
                    "{\"fixTime\":\"2026-12-06T14:10:31Z\"}],\"events\":[]}\n";
    ASSERT_EQ(scan(m, &g, &why), 2);
    ASSERT_EQ(g.n, 2);
    ASSERT_EQ(g.ms[0], 1796566230123LL);
    ASSERT_EQ(g.ms[1], 1796566231000LL);
    ASSERT_EQ(g.server_ms, -1); /* none given */
    /* serverTime, where fleet puts it (before fixTime) or after it */
    ASSERT_EQ(scan("{\"positions\":[{\"serverTime\":\"2026-12-06T14:10:30.150Z\",\"fixTime\":\"2026-12-06T14:10:30.123Z\"}]}",
                   &g, &why), 1);
    ASSERT_EQ(g.ms[0], 1796566230123LL);
    ASSERT_EQ(g.server_ms, 1796566230150LL);
    ASSERT_EQ(scan("{\"positions\":[{\"fixTime\":1765030230123,\"serverTime\":1765030230129}]}", &g, &why), 1);
    ASSERT_EQ(g.server_ms, 1765030230129LL);
    /* one that is not a time is refused, like a bad fixTime */
    ASSERT_ERR(scan("{\"positions\":[{\"fixTime\":1765030230123,\"serverTime\":\"soon\"}]}", &g, &why), WEFT_EPARSE);
    ASSERT(why && strstr(why, "serverTime"));
}

TEST_PLAIN(watch_scan_arena_message) {
    got g;
    const char *why;
    const char *m = "{\"positions\":[{\"id\":\"sim-0001\",\"fixTime\":1765030230123,\"lat\":48.2,"
                    "\"lon\":-16.3,\"speed\":1.5e1},{\"id\":\"sim-0002\",\"fixTime\":1765030230124}]}";
    ASSERT_EQ(scan(m, &g, &why), 2);
    ASSERT_EQ(g.ms[0], 1765030230123LL);
    ASSERT_EQ(g.ms[1], 1765030230124LL);
    /* no positions at all, or an empty array: zero, not an error */
    ASSERT_EQ(scan("{\"devices\":[{\"id\":1}]}", &g, &why), 0);
    ASSERT_EQ(scan(" { \"positions\" : [ ] } ", &g, &why), 0);
    ASSERT_EQ(g.n, 0);
}

TEST_PLAIN(watch_scan_refuses) {
    static const struct {
        const char *msg, *why;
    } bad[] = {
        {"[]", "not a JSON object"},
        {"", "not a JSON object"},
        {"{\"positions\":{}}", "positions is not an array"},
        {"{\"positions\":[1]}", "a position that is not an object"},
        {"{\"positions\":[{}]}", "a position without fixTime"},
        {"{\"positions\":[{\"lat\":1}]}", "a position without fixTime"},
        {"{\"positions\":[{\"fixTime\":\"noon\"}]}", "a fixTime that is not a time"},
        {"{\"positions\":[{\"fixTime\":1}", "expected ',' or ']' in positions"},
        {"{\"a\":[}", "a mismatched bracket"},
        {"{\"a\":\"open}", "a string without its closing quote"},
        {"{\"a\":1} x", "text after the message"},
        {"{\"a\" 1}", "expected ':' after a key"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        got g;
        const char *why;
        ASSERT_EQ(scan(bad[i].msg, &g, &why), WEFT_EPARSE);
        ASSERT_STREQ(why, bad[i].why);
    }
    /* nesting: 64 levels deep is refused with its reason, not a stack overflow */
    char deep[200] = "{\"a\":";
    size_t n = strlen(deep);
    for (int i = 0; i < 70; i++) deep[n++] = '[';
    for (int i = 0; i < 70; i++) deep[n++] = ']';
    deep[n++] = '}', deep[n] = 0;
    got g;
    const char *why;
    ASSERT_EQ(scan(deep, &g, &why), WEFT_EPARSE);
    ASSERT_STREQ(why, "nested too deep");
    /* the first positions of a message that is bad later were reported */
    ASSERT_EQ(scan("{\"positions\":[{\"fixTime\":5},{\"fixTime\":6}],", &g, &why), WEFT_EPARSE);
    ASSERT_EQ(g.n, 2);
}

TEST_PLAIN(watch_latency_units) {
    int early = 0;
    /* arrival in microseconds, fix in milliseconds */
    ASSERT_EQ(watch_latency_us(1765030230123456LL, 1765030230100LL, &early), 23456);
    ASSERT_EQ(early, 0);
    ASSERT_EQ(watch_latency_us(1765030230100000LL, 1765030230100LL, &early), 0);
    ASSERT_EQ(early, 0);
    /* a fix stamped 2 ms after its arrival: 0, and flagged */
    ASSERT_EQ(watch_latency_us(1765030230100000LL, 1765030230102LL, &early), 0);
    ASSERT_EQ(early, 1);
}

TEST_PLAIN(hist_percentiles) {
    static int64_t h[HIST_BUCKETS];
    memset(h, 0, sizeof h);
    ASSERT(hist_pct(h, 0.5) == 0.0);
    /* 1..1000 ms, one each: p50 ~ 500 ms, p99 ~ 990 ms, within 1/16 */
    for (int ms = 1; ms <= 1000; ms++) h[hist_bucket((uint64_t)ms * 1000)]++;
    double p50 = hist_pct(h, 0.50), p99 = hist_pct(h, 0.99), p0 = hist_pct(h, 0.0);
    /* (ASSERT, not ASSERT_LT: those compare as integers) */
    ASSERT(fabs(p50 - 500) / 500 < 1.0 / 16);
    ASSERT(fabs(p99 - 990) / 990 < 1.0 / 16);
    ASSERT(fabs(p0 - 1) / 1 < 1.0 / 16);
    /* small values are exact to the microsecond; huge ones go to the last bucket */
    ASSERT_EQ(hist_bucket(7), 7);
    ASSERT(fabs(hist_value_ms(7) - 0.007) < 1e-12);
    ASSERT_EQ(hist_bucket(UINT64_MAX), HIST_BUCKETS - 1);
    /* every bucket's middle maps back to the same bucket */
    for (int b = 0; b < HIST_BUCKETS - 1; b++) ASSERT_EQ(hist_bucket((uint64_t)(hist_value_ms(b) * 1000)), b);
}

/* ---- the light viewers' frame reader ------------------------------------------------ */

typedef struct frame_log {
    int n;
    int type[16];
    uint64_t len[16];
    int code[16];
    int deflated[16];
    char text[16][64];
} frame_log;

/* Feeds s[0..n) in pieces of `piece` bytes (0: all at once), logging events. */
static size_t frames_run(watch_frames *fr, const uint8_t *s, size_t n, size_t piece, frame_log *log) {
    size_t i = 0;
    memset(log, 0, sizeof *log);
    while (i < n) {
        size_t m = piece && n - i > piece ? piece : n - i, off = 0;
        while (off < m) {
            watch_frame_ev ev;
            size_t k = watch_frames_feed(fr, s + i + off, m - off, &ev);
            off += k;
            if (ev.type == WATCH_FR_NONE) {
                if (k == 0) return i + off; /* the reader takes nothing more */
                continue;
            }
            if (log->n < 16) {
                log->type[log->n] = ev.type, log->len[log->n] = ev.len, log->code[log->n] = ev.code;
                log->deflated[log->n] = ev.deflated;
                if (ev.type == WATCH_FR_FAIL) snprintf(log->text[log->n], 64, "%s", ev.why);
                else snprintf(log->text[log->n], 64, "%.*s", (int)ev.n, (const char *)ev.data);
            }
            log->n++;
            if (ev.type == WATCH_FR_FAIL || ev.type == WATCH_FR_CLOSE) return i + off;
        }
        i += m;
    }
    return i;
}

/* A server's stream: a message in one frame, one in three fragments with a
 * ping and a pong between them, one of 70,000 bytes (a 64-bit length), an
 * empty-payload ping, then a close 1008: the same events however the bytes
 * are cut, and nothing taken after the close. */
TEST_PLAIN(watch_frames_walks_a_stream_in_any_pieces) {
    weft_buf b;
    weft_buf_init(&b, 0);
    const char *m1 = "{\"positions\":[]}";
    ASSERT_EQ(weft_ws_frame_append(&b, WEFT_WS_FIN, WEFT_WS_TEXT, m1, strlen(m1), NULL), 0);
    ASSERT_EQ(weft_ws_frame_append(&b, 0, WEFT_WS_TEXT, "{\"a\":", 5, NULL), 0);
    ASSERT_EQ(weft_ws_frame_append(&b, WEFT_WS_FIN, WEFT_WS_PING, "hi", 2, NULL), 0);
    ASSERT_EQ(weft_ws_frame_append(&b, 0, WEFT_WS_CONT, "", 0, NULL), 0);
    ASSERT_EQ(weft_ws_frame_append(&b, WEFT_WS_FIN, WEFT_WS_PONG, "x", 1, NULL), 0);
    ASSERT_EQ(weft_ws_frame_append(&b, WEFT_WS_FIN, WEFT_WS_CONT, "1}", 2, NULL), 0);
    char *big = malloc(70000);
    ASSERT(big != NULL);
    memset(big, ' ', 70000);
    big[0] = '{', big[69999] = '}';
    ASSERT_EQ(weft_ws_frame_append(&b, WEFT_WS_FIN, WEFT_WS_TEXT, big, 70000, NULL), 0);
    free(big);
    ASSERT_EQ(weft_ws_frame_append(&b, WEFT_WS_FIN, WEFT_WS_PING, "", 0, NULL), 0);
    uint8_t pl[WEFT_WS_CONTROL_MAX];
    size_t pn = weft_ws_close_payload(pl, 1008, "send queue full", 15);
    ASSERT_EQ(weft_ws_frame_append(&b, WEFT_WS_FIN, WEFT_WS_CLOSE, pl, pn, NULL), 0);
    size_t total = b.len;
    ASSERT_EQ(weft_ws_frame_append(&b, WEFT_WS_FIN, WEFT_WS_TEXT, m1, strlen(m1), NULL), 0);
    static const size_t pieces[] = {0, 1, 2, 3, 7, 13, 4096};
    for (size_t p = 0; p < sizeof pieces / sizeof pieces[0]; p++) {
        watch_frames fr;
        watch_frames_init(&fr);
        frame_log log;
        size_t took = frames_run(&fr, (const uint8_t *)b.data, b.len, pieces[p], &log);
        ASSERT_EQ(took, total); /* the message after the close is not taken */
        ASSERT_EQ(log.n, 6);
        ASSERT_EQ(log.type[0], WATCH_FR_MESSAGE);
        ASSERT_EQ(log.len[0], strlen(m1));
        ASSERT_EQ(log.type[1], WATCH_FR_PING);
        ASSERT_STREQ(log.text[1], "hi");
        ASSERT_EQ(log.type[2], WATCH_FR_MESSAGE);
        ASSERT_EQ(log.len[2], 7);
        ASSERT_EQ(log.type[3], WATCH_FR_MESSAGE);
        ASSERT_EQ(log.len[3], 70000);
        ASSERT_EQ(log.type[4], WATCH_FR_PING);
        ASSERT_STREQ(log.text[4], "");
        ASSERT_EQ(log.type[5], WATCH_FR_CLOSE);
        ASSERT_EQ(log.code[5], 1008);
        ASSERT_STREQ(log.text[5], "send queue full");
        watch_frame_ev ev;
        ASSERT_EQ(watch_frames_feed(&fr, b.data, b.len, &ev), 0);
        ASSERT_EQ(ev.type, WATCH_FR_NONE);
    }
    weft_buf_free(&b);
}

/* Heads written by hand, each refused on its own with its reason, fed byte
 * by byte to a reader with or without permessage-deflate agreed. */
typedef struct head_case {
    const char *bytes;
    size_t n;
    const char *why;
} head_case;

static void heads_refused(const head_case *c, size_t n, int deflate) {
    for (size_t i = 0; i < n; i++) {
        watch_frames fr;
        watch_frames_init(&fr);
        fr.deflate = deflate;
        frame_log log;
        frames_run(&fr, (const uint8_t *)c[i].bytes, c[i].n, 1, &log);
        ASSERT_EQ(log.n, 1);
        ASSERT_EQ(log.type[0], WATCH_FR_FAIL);
        ASSERT_STREQ(log.text[0], c[i].why);
    }
}

/* With permessage-deflate agreed: RSV1 on a message's first frame marks it
 * compressed; its bytes (here not JSON at all) are counted, not checked for
 * "{...}"; a fragmented compressed message and a plain one after it read as
 * before, in any pieces. RSV1 anywhere else, or RSV2/RSV3, is refused. */
TEST_PLAIN(watch_frames_compressed_messages) {
    weft_buf b;
    weft_buf_init(&b, 0);
    const char *m1 = "{\"positions\":[]}";
    ASSERT_EQ(weft_ws_frame_append(&b, WEFT_WS_FIN | WEFT_WS_RSV1, WEFT_WS_TEXT, "\x02\x00", 2, NULL), 0);
    ASSERT_EQ(weft_ws_frame_append(&b, WEFT_WS_RSV1, WEFT_WS_TEXT, "\xaa\xbb", 2, NULL), 0);
    ASSERT_EQ(weft_ws_frame_append(&b, WEFT_WS_FIN, WEFT_WS_PING, "p", 1, NULL), 0);
    ASSERT_EQ(weft_ws_frame_append(&b, WEFT_WS_FIN, WEFT_WS_CONT, "\x00\x01\x02", 3, NULL), 0);
    ASSERT_EQ(weft_ws_frame_append(&b, WEFT_WS_FIN, WEFT_WS_TEXT, m1, strlen(m1), NULL), 0);
    static const size_t pieces[] = {0, 1, 2, 5, 4096};
    for (size_t p = 0; p < sizeof pieces / sizeof pieces[0]; p++) {
        watch_frames fr;
        watch_frames_init(&fr);
        fr.deflate = 1;
        frame_log log;
        ASSERT_EQ(frames_run(&fr, (const uint8_t *)b.data, b.len, pieces[p], &log), b.len);
        ASSERT_EQ(log.n, 4);
        ASSERT_EQ(log.type[0], WATCH_FR_MESSAGE);
        ASSERT_EQ(log.len[0], 2);
        ASSERT_EQ(log.deflated[0], 1);
        ASSERT_EQ(log.type[1], WATCH_FR_PING);
        ASSERT_EQ(log.type[2], WATCH_FR_MESSAGE);
        ASSERT_EQ(log.len[2], 5);
        ASSERT_EQ(log.deflated[2], 1);
        ASSERT_EQ(log.type[3], WATCH_FR_MESSAGE);
        ASSERT_EQ(log.len[3], strlen(m1));
        ASSERT_EQ(log.deflated[3], 0);
    }
    weft_buf_free(&b);
    static const head_case heads[] = {
        {"\x01\x01{\xc0\x01y", 6, "RSV1 on a frame other than a message's first (RFC 7692 §6)"},
        {"\xc9\x00", 2, "RSV1 on a frame other than a message's first (RFC 7692 §6)"},
        {"\xa1\x01x", 3, "RSV2 or RSV3 set (no extension defines them)"},
        {"\x91\x01x", 3, "RSV2 or RSV3 set (no extension defines them)"},
        {"\xc2\x01x", 3, "a binary message (live updates are text)"},
        {"\x81\x02[]", 4, "a message that does not begin with '{'"},
    };
    heads_refused(heads, sizeof heads / sizeof heads[0], 1);
}

TEST_PLAIN(watch_frames_refuses) {
    static const uint8_t key[4] = {1, 2, 3, 4};
    static const struct {
        int flags, opcode;
        const char *payload;
        int masked;
        const char *why;
    } bad[] = {
        {WEFT_WS_FIN | WEFT_WS_RSV1, WEFT_WS_TEXT, "{}", 0, "RSV bits set (no extension was negotiated)"},
        {WEFT_WS_FIN, WEFT_WS_TEXT, "{}", 1, "a masked frame from the server"},
        {WEFT_WS_FIN, WEFT_WS_BINARY, "{}", 0, "a binary message (live updates are text)"},
        {WEFT_WS_FIN, WEFT_WS_CONT, "{}", 0, "a continuation frame without a message"},
        {WEFT_WS_FIN, WEFT_WS_TEXT, "[1]", 0, "a message that does not begin with '{'"},
        {WEFT_WS_FIN, WEFT_WS_TEXT, "{\"a\":1", 0, "a message that does not end in '}'"},
        {WEFT_WS_FIN, WEFT_WS_TEXT, "", 0, "a message that does not end in '}'"},
        {WEFT_WS_FIN, WEFT_WS_CLOSE, "\x03", 0, "a close frame with a 1-byte payload"},
        {WEFT_WS_FIN, WEFT_WS_CLOSE, "\x03\xed", 0, "a close frame with an invalid code"}, /* 1005 */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        weft_buf b;
        weft_buf_init(&b, 0);
        ASSERT_EQ(weft_ws_frame_append(&b, bad[i].flags, bad[i].opcode, bad[i].payload,
                                       strlen(bad[i].payload), bad[i].masked ? key : NULL),
                  0);
        watch_frames fr;
        watch_frames_init(&fr);
        frame_log log;
        frames_run(&fr, (const uint8_t *)b.data, b.len, 0, &log);
        ASSERT_EQ(log.n, 1);
        ASSERT_EQ(log.type[0], WATCH_FR_FAIL);
        ASSERT_STREQ(log.text[0], bad[i].why);
        watch_frame_ev ev;
        ASSERT_EQ(watch_frames_feed(&fr, b.data, b.len, &ev), 0); /* nothing after a failure */
        weft_buf_free(&b);
    }
    /* heads written by hand: a reserved opcode, a fragmented ping, a 126-byte
     * ping, a length with its top bit set, a new message inside a fragmented one */
    static const head_case heads[] = {
        {"\x83\x00", 2, "a reserved opcode"},
        {"\x09\x00", 2, "a fragmented control frame"},
        {"\x89\x7e\x00\x7e", 4, "a control frame over 125 bytes"},
        {"\x81\x7f\x80\x00\x00\x00\x00\x00\x00\x00", 10, "a 64-bit length with its top bit set"},
        {"\x01\x01{\x81\x01}", 6, "a new message inside a fragmented one"},
    };
    heads_refused(heads, sizeof heads / sizeof heads[0], 0);
}

/* ---- the viewers against a real server (fleet_sim_watch_srv.h) ---------------------- */

/* A server that closes (1008, as fleet does to a viewer that fell behind):
 * counted as closed early at both kinds, with the code; the light viewers
 * answer the close as the decoding ones do (the server's close completes). */
TEST(watch_viewers_count_the_servers_close) {
    live_srv t;
    live_start(&t, 1008);
    ASSERT(t.s != NULL);
    watch_report r;
    ASSERT_EQ(live_watch(&t, 4, 1, &r), 0);
    ASSERT_EQ(r.connected, 4);
    ASSERT_EQ(r.closed_early, 4);
    ASSERT_EQ(r.last_close_code, 1008);
    ASSERT_EQ(r.messages, 4 * LIVE_UPDATES);
    ASSERT_EQ(r.bad, 0);
    ASSERT_EQ(live_stop(&t), 0);
    ASSERT_EQ(atomic_load(&t.served), 4);
}
