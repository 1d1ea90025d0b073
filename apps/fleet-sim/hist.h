/*
 * apps/fleet-sim/hist.h — latency histograms of the load generator (the
 * simulator's ack latency, the viewers' fix-to-viewer latency): 16
 * sub-buckets per power of two of microseconds, so a percentile is within
 * 1/16 (6 %) of the true value, from 1 us up to about 2^43 us. Counts are
 * plain int64 arrays of HIST_BUCKETS; callers that share one across threads
 * add with relaxed atomics.
 */
#ifndef FLEET_SIM_HIST_H
#define FLEET_SIM_HIST_H

#include <stdint.h>

#define HIST_BUCKETS 640

/* The bucket of a latency of us microseconds (larger ones go to the last). */
int hist_bucket(uint64_t us);
/* The middle of bucket b, in milliseconds. */
double hist_value_ms(int b);
/* The q-quantile (0..1) of h[0..HIST_BUCKETS) in milliseconds; 0 when empty. */
double hist_pct(const int64_t *h, double q);

#endif
