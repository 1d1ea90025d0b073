/*
 * tests/unit/fleet_sim_watch.c — the live viewers' arithmetic
 * (apps/fleet-sim/watch.c, hist.c): watch_scan reads the fix times of both
 * message shapes (weft fleet's ISO strings, the arena's Unix milliseconds)
 * in order and refuses broken messages with a reason; watch_latency_us
 * subtracts in the right units and flags a fix from the future; the
 * histogram's percentiles land within its 1/16 resolution of the truth.
 */
#include <math.h>

#include "test.h"
#include "hist.h"
#include "watch.h"

typedef struct got {
    int n;
    int64_t ms[8];
} got;

static void collect(void *ud, int64_t ms) {
    got *g = ud;
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
