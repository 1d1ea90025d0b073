/*
 * main.c — weft_main() (runtime start and stop), weft_shutdown(), the
 * runtime-wide queries and the starvation monitor thread.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "rt_int.h"

static _Atomic int rt_busy; /* a weft_main() is active */

/* The logger's context (weft/log.h): the running task's name. */
static const char *log_context(void) {
    weft__task *t = weft__task_self();
    if (!t) return NULL;
    return t->name[0] ? t->name : "task";
}

/* ---- starvation monitor ------------------------------------------------------ */

/* The monitor samples each worker's switch counter. A worker whose counter
 * has not moved across samples spanning starve_ms has been held by one task
 * that long: report it once. A worker stuck for a sample with a task in its
 * run-next slot or queue gets that work moved within reach of the others. */
/* The monitor reads a task it does not own: a racy snapshot, good enough for
 * a report (the TCB memory itself always stays mapped). */
WEFT_NO_TSAN static uint64_t snapshot_task(weft__task *t, char name[32]) {
    volatile const char *src = t->name;
    for (int i = 0; i < 31; i++) name[i] = src[i];
    name[31] = 0;
    return *(volatile uint64_t *)&t->id;
}

static void *sysmon_main(void *arg) {
    (void)arg;
    enum { MAXW = 256 };
    uint64_t last_sw[MAXW] = {0};
    int64_t since[MAXW] = {0};
    uint8_t reported[MAXW] = {0};
    /* Busy, it samples every 2 ms so that a stuck worker's queued tasks move
     * within ~3 ms. With one worker there is nobody to move them to, only
     * the starvation report is left: half of starve_ms is enough, and the
     * wake-ups (each preempts the worker: measured ~2% of a single-worker
     * server's CPU at 2 ms) drop by more than half. */
    int busy_ms = 2;
    if (weft__R.nworkers == 1)
        busy_ms = weft__R.starve_ms > 4 ? weft__R.starve_ms / 2 : weft__R.starve_ms > 0 ? 2 : 50;
    /* Reports are rate-limited. On a loaded machine (the OS descheduling the
     * workers themselves) the same tasks look like they hold their worker
     * again and again, and one line per stall flooded stderr (park1m, 2
     * workers: screens of lines about tasks 1 and 2). So a task reported in
     * the last REPORT_GAP_NS is not reported again (the last REPORT_SEEN
     * tasks reported are remembered), and all reports together get a burst
     * of REPORT_BURST lines, then one per REPORT_GAP_NS (a generic cell rate
     * limiter: `tat` is when the budget is whole again). Stalls left out are
     * counted and the count rides on the next line, or on a last line when
     * the monitor stops. */
    enum { REPORT_BURST = 10, REPORT_SEEN = 8 };
    const int64_t REPORT_GAP_NS = 1000000000;
    int64_t tat = 0;
    uint64_t suppressed = 0;
    uint64_t seen_id[REPORT_SEEN] = {0};
    int64_t seen_at[REPORT_SEEN] = {0};
    int seen_next = 0;
    while (!atomic_load(&weft__R.sysmon_stop)) {
        int idle = atomic_load(&weft__R.nidle) == weft__R.nworkers;
        struct timespec ts = {0, (idle ? 50 : busy_ms) * 1000000L};
        nanosleep(&ts, NULL);
        int64_t now = weft_now_ns();
        for (int i = 0; i < weft__R.nworkers && i < MAXW; i++) {
            weft__worker *w = &weft__R.workers[i];
            uint64_t sw = atomic_load_explicit(&w->switches, memory_order_relaxed);
            weft__task *cur = __atomic_load_n(&w->current, __ATOMIC_RELAXED);
            if (sw != last_sw[i] || !cur || atomic_load(&w->sleeping)) {
                last_sw[i] = sw;
                since[i] = now;
                reported[i] = 0;
                atomic_store_explicit(&w->stuck, 0, memory_order_relaxed);
                continue;
            }
            if (now - since[i] >= 1000000) weft__sched_unstick(w);
            if (weft__R.starve_ms > 0 && !reported[i] &&
                now - since[i] >= (int64_t)weft__R.starve_ms * 1000000) {
                reported[i] = 1;
                char name[32];
                uint64_t id = snapshot_task(cur, name);
                bool again = false;
                for (int k = 0; k < REPORT_SEEN; k++)
                    again |= seen_id[k] == id && seen_at[k] && now - seen_at[k] < REPORT_GAP_NS;
                if (again || tat > now + (REPORT_BURST - 1) * REPORT_GAP_NS) {
                    suppressed++;
                    continue;
                }
                tat = (tat > now ? tat : now) + REPORT_GAP_NS;
                seen_id[seen_next] = id;
                seen_at[seen_next] = now;
                seen_next = (seen_next + 1) % REPORT_SEEN;
                char more[64] = "";
                if (suppressed)
                    snprintf(more, sizeof more, " (%llu more such reports suppressed)",
                             (unsigned long long)suppressed);
                weft_log_warn("task \"%s\" (id %llu) has held worker %d for %lld ms without "
                              "yielding%s",
                              name[0] ? name : "?", (unsigned long long)id, i,
                              (long long)((now - since[i]) / 1000000), more);
                suppressed = 0;
            }
        }
    }
    if (suppressed)
        weft_log_warn("%llu more reports of a task holding a worker without yielding were "
                      "suppressed (one a second per task; at most %d at once, then one a "
                      "second)",
                      (unsigned long long)suppressed, (int)REPORT_BURST);
    return NULL;
}

/* ---- weft_main ---------------------------------------------------------------- */

static int env_int(const char *name, int def) {
    const char *s = getenv(name);
    if (!s || !*s) return def;
    char *end;
    long v = strtol(s, &end, 10);
    if (*end || v < 0 || v > 4096) return def;
    return (int)v;
}

static void raise_nofile(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int weft_main(weft_fn main_fn, void *arg, const weft_config *cfg) {
    if (!main_fn) return WEFT_EINVAL;
    weft_config c = cfg ? *cfg : (weft_config){0};
    if (c.workers < 0 || c.workers > 1024 || c.blocking_threads < 0 || c.blocking_threads > 4096)
        return WEFT_EINVAL;
    int busy = 0;
    if (!atomic_compare_exchange_strong(&rt_busy, &busy, 1)) return WEFT_EBUSY;
    weft_log_set_context(log_context);
    int rc;
    if (!c.workers) c.workers = env_int("WEFT_WORKERS", 0);
    if (!c.workers) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        c.workers = n < 1 ? 1 : n > 256 ? 256 : (int)n;
    }
    if (!c.stack_size) c.stack_size = 256u << 10;
    if (c.stack_size < (16u << 10) || c.stack_size > (64u << 20) - 8192) {
        rc = WEFT_EINVAL;
        goto fail0;
    }
    memset(&weft__R, 0, sizeof weft__R);
    weft__R.nworkers = c.workers;
    weft__R.stack_size = c.stack_size;
    weft__R.starve_ms = c.starve_ms == 0 ? 10 : c.starve_ms;
    weft__R.blocking_max = c.blocking_threads ? c.blocking_threads : 16;
    atomic_store(&weft__R.next_id, 1);
    if ((rc = weft__stack_init(c.stack_size))) goto fail0;
    if ((rc = weft__io_select(c.io, &weft__R.io))) goto fail0;
    raise_nofile();
    if ((rc = weft__io_fdtab_init())) goto fail0;
    weft__R.workers = calloc((size_t)c.workers, sizeof(weft__worker));
    if (!weft__R.workers) {
        rc = WEFT_ENOMEM;
        goto fail1;
    }
    for (int i = 0; i < c.workers; i++) {
        weft__worker *w = &weft__R.workers[i];
        w->id = i;
        w->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        w->scache = weft__stack_cache_new();
        w->seen_sw = calloc((size_t)c.workers, sizeof *w->seen_sw);
        w->seen_t = calloc((size_t)c.workers, sizeof *w->seen_t);
        atomic_store(&w->tnext, INT64_MAX);
        if (w->wakefd < 0 || !w->scache || !w->seen_sw || !w->seen_t) {
            rc = w->wakefd < 0 ? -errno : WEFT_ENOMEM;
            goto fail2;
        }
    }
    if ((rc = weft__debug_install())) goto fail2;
    if ((rc = weft__blocking_start(weft__R.blocking_max))) goto fail3;
    weft__worker *w0 = &weft__R.workers[0];
    if ((rc = weft__worker_init(w0))) goto fail4;
    /* start the other workers first: they find nothing to do and sleep */
    atomic_store(&weft__R.running, 1);
    int started = 1;
    for (; started < c.workers; started++) {
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setstacksize(&attr, 256u << 10);
        int e = pthread_create(&weft__R.workers[started].thread, &attr, weft__worker_main,
                               &weft__R.workers[started]);
        pthread_attr_destroy(&attr);
        if (e) {
            rc = -e;
            weft_log_error("cannot start worker thread %d: %s", started, strerror(e));
            goto fail6;
        }
    }
    weft_task_opts mo = {.name = "main"};
    if ((rc = weft_go_opts(main_fn, arg, &mo))) goto fail6;
    atomic_store_explicit(&weft__R.main_spawned, 1, memory_order_release);
    if (pthread_create(&weft__R.sysmon, NULL, sysmon_main, NULL)) weft__R.sysmon = 0;
    weft__sched_loop(w0);
    for (int i = 1; i < started; i++) pthread_join(weft__R.workers[i].thread, NULL);
    atomic_store(&weft__R.sysmon_stop, 1);
    if (weft__R.sysmon) pthread_join(weft__R.sysmon, NULL);
    weft__worker_fini(w0);
    weft__blocking_stop();
    weft__debug_uninstall();
    for (int i = 0; i < c.workers; i++) {
        close(weft__R.workers[i].wakefd);
        free(weft__R.workers[i].scache);
        free(weft__R.workers[i].seen_sw);
        free(weft__R.workers[i].seen_t);
    }
    free(weft__R.workers);
    weft__R.workers = NULL;
    weft__io_fdtab_free();
    weft__sched_stats_print();
    atomic_store(&rt_busy, 0);
    return 0;

fail6:
    weft__sched_stop();
    for (int i = 1; i < started; i++) pthread_join(weft__R.workers[i].thread, NULL);
    weft__worker_fini(w0);
fail4:
    weft__blocking_stop();
fail3:
    weft__debug_uninstall();
fail2:
    for (int i = 0; i < c.workers; i++) {
        if (weft__R.workers[i].wakefd > 0) close(weft__R.workers[i].wakefd);
        free(weft__R.workers[i].scache);
        free(weft__R.workers[i].seen_sw);
        free(weft__R.workers[i].seen_t);
    }
    free(weft__R.workers);
    weft__R.workers = NULL;
fail1:
    weft__io_fdtab_free();
fail0:
    atomic_store(&rt_busy, 0);
    return rc;
}

WEFT_NO_TSAN static void cancel_one(weft__task *t, void *arg) {
    (void)arg;
    if (t->state != TASK_FREE && t->state != TASK_DONE) weft__cancel_task(t);
}

void weft_shutdown(void) {
    if (!atomic_load(&weft__R.running)) return;
    atomic_store(&weft__R.shutting_down, 1);
    weft__stack_foreach(cancel_one, NULL);
    if (weft__task_self()) return; /* a task cannot wait for itself to end */
    /* another thread: wait until weft_main() has finished */
    while (atomic_load(&rt_busy)) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
}

int weft_workers(void) { return atomic_load(&weft__R.running) ? weft__R.nworkers : 0; }
int weft_worker_id(void) {
    weft__worker *w = weft__worker_self();
    return w ? w->id : -1;
}
const char *weft_io_backend_name(void) {
    return atomic_load(&weft__R.running) ? weft__R.io->name : NULL;
}
