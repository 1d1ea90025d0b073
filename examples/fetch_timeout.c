/*
 * fetch_timeout.c — "fetch with a result channel and a deadline".
 *
 * A fetcher task does slow work and reports on a channel; the caller waits
 * with select on the result or its deadline. Run twice: a fast fetch (20 ms)
 * against a 500 ms deadline succeeds; a slow one (2 s) against 100 ms times
 * out, and the caller cancels the abandoned fetcher through its group so it
 * does not linger. Third, the caller itself is cancelled while it waits (as
 * a request handler is when its server shuts down): it still cancels the
 * fetcher and waits for it before freeing the channel the fetcher sends on
 * and the group on its own stack. Prints:
 *   fast: got "payload-1"
 *   slow: timed out after ~100 ms; fetcher cancelled
 *   caller cancelled: fetcher cancelled and gone before its channel was freed
 */
#include <stdio.h>
#include <string.h>
#include <weft/impl.h> /* weft_nocancel_begin/end: the wait that must finish */
#include <weft/weft.h>

typedef struct {
    int id;
    int64_t work_ms;
    weft_chan *result; /* of char[32] */
    int canceled;      /* OUT: the fetcher saw cancellation */
} fetch;

static void fetcher(void *arg) {
    fetch *f = arg;
    int rc = weft_sleep(f->work_ms); /* the "network" */
    if (rc == WEFT_ECANCELED) {
        f->canceled = 1;
        return;
    }
    char payload[32];
    snprintf(payload, sizeof payload, "payload-%d", f->id);
    weft_chan_send(f->result, payload, -1);
}

/* Returns 0 and fills out, WEFT_ETIMEDOUT, or WEFT_ECANCELED when the
 * calling task was cancelled. */
static int fetch_with_deadline(fetch *f, int64_t timeout_ms, char out[32]) {
    weft_group g;
    weft_group_init(&g);
    f->result = weft_chan_new(32, 1, NULL); /* buffered: a late fetcher never blocks */
    if (!f->result) return WEFT_ENOMEM;
    weft_group_go(&g, fetcher, f, "fetcher");
    weft_case c = {f->result, WEFT_RECV, out, 0};
    int rc = weft_select(&c, 1, weft_deadline_in(timeout_ms));
    if (rc < 0) weft_group_cancel(&g); /* timed out, or we were cancelled */
    /* The fetcher must be gone before its channel (and g, on this stack) are
     * freed. A cancelled task's waits return WEFT_ECANCELED at once, so this
     * one runs masked: it ends soon, the fetcher having been cancelled. */
    int prev = weft_nocancel_begin();
    weft_group_wait(&g, -1);
    weft_nocancel_end(prev);
    weft_chan_free(f->result);
    return rc < 0 ? rc : 0;
}

/* The caller of the third run, in a group of its own so it can be cancelled. */
typedef struct {
    fetch f;
    int rc;
} caller;

static void cancelled_caller(void *arg) {
    caller *k = arg;
    char out[32];
    k->rc = fetch_with_deadline(&k->f, 5000, out);
}

static int status = 1;

static void run(void *arg) {
    (void)arg;
    char out[32];
    fetch fast = {.id = 1, .work_ms = 20};
    int rc1 = fetch_with_deadline(&fast, 500, out);
    int fast_ok = rc1 == 0 && strcmp(out, "payload-1") == 0;
    if (rc1 == 0)
        printf("fast: got \"%s\"\n", out);
    else
        printf("fast: %s\n", weft_strerror(rc1));

    fetch slow = {.id = 2, .work_ms = 2000};
    int64_t t0 = weft_now();
    int rc2 = fetch_with_deadline(&slow, 100, out);
    int64_t took = weft_now() - t0;
    if (rc2 == WEFT_ETIMEDOUT)
        printf("slow: timed out after ~%d ms; fetcher %s\n", (int)((took + 50) / 100 * 100),
               slow.canceled ? "cancelled" : "NOT cancelled");
    else
        printf("slow: unexpected %s\n", weft_strerror(rc2));

    caller k = {.f = {.id = 3, .work_ms = 300}};
    weft_group g;
    weft_group_init(&g);
    weft_group_go(&g, cancelled_caller, &k, "caller");
    weft_sleep(50); /* the caller waits on its fetcher now */
    weft_group_cancel(&g);
    weft_group_wait(&g, -1);
    /* the fetcher ended before the caller returned: its flag is final here */
    int caller_ok = k.rc == WEFT_ECANCELED && k.f.canceled;
    if (caller_ok)
        printf("caller cancelled: fetcher cancelled and gone before its channel was freed\n");
    else
        printf("caller cancelled: caller %s, fetcher %s\n", weft_strerror(k.rc),
               k.f.canceled ? "cancelled" : "NOT cancelled");
    status = fast_ok && rc2 == WEFT_ETIMEDOUT && slow.canceled && took >= 100 && took < 1000 &&
                     caller_ok
                 ? 0
                 : 1;
}

int main(void) {
    int rc = weft_main(run, NULL, NULL);
    if (rc) fprintf(stderr, "weft_main: %s\n", weft_strerror(rc));
    return rc ? 1 : status;
}
