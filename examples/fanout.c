/*
 * fanout.c — process 100,000 user IDs with one task each and gather the
 * results through a channel (Go's fan-out/fan-in).
 *
 * Each task "looks up" a user (a cheap hash stands in for the work) and sends
 * {id, score} back. Prints "processed=100000 unique=100000 checksum=<n>" and
 * exits non-zero unless every ID came back exactly once with its own score.
 * An optional argument sets the number of users (the TSan run uses fewer:
 * TSan tracks each task as a thread and allows 8128 at once).
 */
#include <stdio.h>
#include <stdlib.h>
#include <weft/weft.h>

static int USERS = 100000; /* > 0 */

typedef struct {
    int id;
    uint32_t score;
} result;

static weft_chan *out;

static uint32_t score_of(int id) {
    uint32_t x = (uint32_t)id * 2654435761u;
    return x ^ (x >> 16);
}

static void lookup(void *arg) {
    result r = {(int)(intptr_t)arg, 0};
    r.score = score_of(r.id);
    weft_chan_send(out, &r, -1);
}

static int status = 1;

static void run(void *arg) {
    (void)arg;
    int err;
    out = weft_chan_new(sizeof(result), 1024, &err);
    if (!out) {
        fprintf(stderr, "chan: %s\n", weft_strerror(err));
        return;
    }
    int64_t t0 = weft_now_ns();
    for (int id = 0; id < USERS; id++) {
        int rc = weft_go(lookup, (void *)(intptr_t)id);
        if (rc) {
            fprintf(stderr, "spawn %d: %s\n", id, weft_strerror(rc));
            return;
        }
        /* weft does not preempt: a long loop that never suspends yields now
         * and then, so the other tasks (and this worker's I/O) keep going */
        if (id % 256 == 255) weft_yield();
    }
    unsigned char *seen = calloc((size_t)(unsigned)USERS, 1);
    if (!seen) return;
    uint64_t checksum = 0;
    int unique = 0, bad = 0;
    for (int i = 0; i < USERS; i++) {
        result r;
        if (weft_chan_recv(out, &r, -1) != 0) break;
        if (r.id < 0 || r.id >= USERS || r.score != score_of(r.id)) {
            bad++;
            continue;
        }
        if (!seen[r.id]++) unique++;
        checksum += r.score;
    }
    double ms = (double)(weft_now_ns() - t0) / 1e6;
    printf("processed=%d unique=%d checksum=%llu\n", unique, unique, (unsigned long long)checksum);
    fprintf(stderr, "fanout: %.1f ms on %d workers\n", ms, weft_workers());
    status = unique == USERS && bad == 0 ? 0 : 1;
    free(seen);
    weft_chan_free(out);
}

int main(int argc, char **argv) {
    if (argc > 1) USERS = atoi(argv[1]);
    if (USERS < 1) USERS = 1;
    int rc = weft_main(run, NULL, NULL);
    if (rc) fprintf(stderr, "weft_main: %s\n", weft_strerror(rc));
    return rc ? 1 : status;
}
