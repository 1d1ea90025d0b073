/*
 * bench/micro/binsearch.c — the article's "binary search over 10M items",
 * with the unit of work spelled out. The Go and Rust peers
 * (bench/peers/binsearch-go, bench/peers/binsearch-rust) do exactly the same
 * and print the same lines; bench/run-binsearch.sh runs all three.
 *
 *   array:  10,000,000 sorted uint64, a[i] = 2*i + 1 (80 MB, far beyond the
 *           caches: the lower levels of every search miss)
 *   keys:   1,000,000 keys from splitmix64 (seed 42), each reduced modulo
 *           2*10,000,000 + 2, so about half are present (odd) and half absent
 *   work:   one lookup = find the key's index or learn it is absent; a pass
 *           looks up all 1,000,000 keys in order; 5 passes, each timed alone
 *   result: ns per lookup (= µs per 1,000 lookups) of each pass; the median
 *           and min-max are printed; a checksum (found count and the sum of
 *           the found indexes) that must be the same in all three programs
 *
 * The search is the loop Rust's standard library uses (slice::binary_search
 * since 1.52: halve the size, keep the half whose first element is not
 * greater, compare once at the end), which gcc turns into a conditional
 * move; built as every weft program is (-O2). Output: `RESULT name value
 * unit` lines on stdout.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define N 10000000UL
#define Q 1000000UL
#define PASSES 5

static uint64_t splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* index of key in a[0..n), or -1 when it is absent */
static inline int64_t search(const uint64_t *a, size_t n, uint64_t key) {
    size_t size = n, base = 0;
    while (size > 1) {
        size_t half = size / 2, mid = base + half;
        base = a[mid] > key ? base : mid;
        size -= half;
    }
    return a[base] == key ? (int64_t)base : -1;
}

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

int main(void) {
    uint64_t *a = malloc(N * sizeof *a), *keys = malloc(Q * sizeof *keys);
    if (!a || !keys) {
        fprintf(stderr, "binsearch: out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < N; i++)
        a[i] = 2 * i + 1;
    uint64_t seed = 42;
    for (size_t i = 0; i < Q; i++)
        keys[i] = splitmix64(&seed) % (2 * N + 2);

    double ns[PASSES];
    uint64_t found = 0, sum = 0;
    for (int p = 0; p < PASSES; p++) {
        uint64_t f = 0, s = 0;
        double t0 = now_ns();
        for (size_t i = 0; i < Q; i++) {
            int64_t at = search(a, N, keys[i]);
            if (at >= 0) {
                f++;
                s += (uint64_t)at;
            }
        }
        ns[p] = (now_ns() - t0) / (double)Q;
        found = f;
        sum = s;
    }
    qsort(ns, PASSES, sizeof ns[0], cmp_double);
    printf("RESULT lookup_ns %.3f ns\n", ns[PASSES / 2]);
    printf("RESULT lookup_ns_min %.3f ns\n", ns[0]);
    printf("RESULT lookup_ns_max %.3f ns\n", ns[PASSES - 1]);
    printf("RESULT found %llu count\n", (unsigned long long)found);
    printf("RESULT checksum %llu sum\n", (unsigned long long)sum);
    free(a);
    free(keys);
    return 0;
}
