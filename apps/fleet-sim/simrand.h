/*
 * apps/fleet-sim/simrand.h — the simulator's one source of randomness:
 * splitmix64, a tiny generator whose whole state is one uint64_t, so every
 * vehicle and the road network carry their own stream and a seed replays a
 * run exactly.
 */
#ifndef FLEET_SIM_RAND_H
#define FLEET_SIM_RAND_H

#include <stdint.h>

static inline uint64_t sim_rand(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
/* Uniform in [0, 1). */
static inline double sim_rand01(uint64_t *s) { return (double)(sim_rand(s) >> 11) * 0x1.0p-53; }
/* Uniform in [lo, hi). */
static inline double sim_uniform(uint64_t *s, double lo, double hi) {
    return lo + (hi - lo) * sim_rand01(s);
}
/* Uniform integer in [0, n), n >= 1. */
static inline uint32_t sim_below(uint64_t *s, uint32_t n) { return (uint32_t)(sim_rand(s) % n); }

#endif
