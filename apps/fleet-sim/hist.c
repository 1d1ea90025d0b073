/* apps/fleet-sim/hist.c — latency histograms (see hist.h). */
#include "hist.h"

#include <math.h>

int hist_bucket(uint64_t us) {
    if (us < 32) return (int)us;
    int e = 63 - __builtin_clzll(us);
    int b = 32 + (e - 5) * 16 + (int)((us >> (e - 4)) & 15);
    return b < HIST_BUCKETS ? b : HIST_BUCKETS - 1;
}

double hist_value_ms(int b) {
    if (b < 32) return b / 1000.0;
    int e = (b - 32) / 16 + 5, sub = (b - 32) % 16;
    return ((double)((uint64_t)(16 + sub) << (e - 4)) + (double)(1ull << (e - 4)) / 2) / 1000.0;
}

double hist_pct(const int64_t *h, double q) {
    int64_t total = 0;
    for (int i = 0; i < HIST_BUCKETS; i++) total += h[i];
    if (total == 0) return 0;
    int64_t want = (int64_t)ceil(q * (double)total), seen = 0;
    if (want < 1) want = 1;
    for (int i = 0; i < HIST_BUCKETS; i++)
        if ((seen += h[i]) >= want) return hist_value_ms(i);
    return hist_value_ms(HIST_BUCKETS - 1);
}
