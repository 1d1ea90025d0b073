/*
 * fuzz/fleet_sim_watch.c — libFuzzer target for the live viewers' message
 * scanner (apps/fleet-sim/watch.c, watch_scan), fed any bytes a live socket
 * might carry.
 *
 * Checks more than "does not crash": the result is a count >= 0 or
 * WEFT_EPARSE with a reason; on success the callback ran exactly that many
 * times; the same bytes scan the same again (no hidden state), and with
 * whitespace around them; a message cut one byte short of an accepted one
 * that ends in '}' is refused (it is unclosed).
 */
#include <stdlib.h>
#include <string.h>

/* the viewers, their histogram and the fleet app's time parser, compiled
 * into this target (the Makefile adds -Iapps/fleet for isotime.h) */
#include "../apps/fleet-sim/watch.c"
#include "../apps/fleet-sim/hist.c"
#include "../apps/fleet/isotime.c"

typedef struct seen {
    int n;
    int64_t first, last;
} seen;

static void count(void *ud, int64_t ms, int64_t server_ms) {
    seen *s = ud;
    (void)server_ms;
    if (s->n++ == 0) s->first = ms;
    s->last = ms;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *p = (const char *)data, *why = NULL;
    seen a = {0};
    int rc = watch_scan(p, size, count, &a, &why);
    if (rc < 0) {
        if (rc != WEFT_EPARSE || !why) abort();
    } else if (a.n != rc) {
        abort();
    }
    seen b = {0};
    const char *why2 = NULL;
    int rc2 = watch_scan(p, size, count, &b, &why2);
    if (rc2 != rc || b.n != a.n || b.first != a.first || b.last != a.last) abort();
    if (rc >= 0 && size < 1 << 16) {
        char *q = malloc(size + 2);
        if (!q) return 0;
        q[0] = ' ';
        memcpy(q + 1, p, size);
        q[size + 1] = '\n';
        seen c = {0};
        if (watch_scan(q, size + 2, count, &c, NULL) != rc || c.n != a.n) abort();
        free(q);
        size_t end = size;
        while (end > 0 && strchr(" \t\r\n", p[end - 1])) end--;
        if (end > 0 && p[end - 1] == '}' && watch_scan(p, end - 1, NULL, NULL, &why2) >= 0) abort();
    }
    return 0;
}
