/*
 * blocking.c — the blocking pool: run a function on a plain thread and
 * suspend the calling task until it returns.
 *
 * Threads are started on demand, up to the configured maximum, and stay for
 * the life of the runtime: a job that finds more queued jobs than idle
 * threads starts one (counting idle threads alone is not enough — a thread
 * signalled for one job still counts as idle until it wakes, so a burst of
 * jobs would all queue behind it). Jobs live in the caller's frame: a job that has
 * started is always waited for (fn may be using the caller's memory), so a
 * deadline or cancel only withdraws a job still in the queue.
 */
#include <pthread.h>
#include <stdlib.h>

#include "rt_int.h"

enum { JOB_QUEUED, JOB_RUNNING, JOB_DONE };

typedef struct job {
    void (*fn)(void *);
    void *arg;
    weft__task *task;
    weft__seq seq, rel_seq;
    int state, want_release;
    struct job *next, **pprev;
} job;

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    job *head, **tail;
    int queued; /* jobs in the queue, not yet taken by a thread */
    int nthreads, idle, max, stop;
    pthread_t *threads;
} P = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static void *pool_main(void *arg) {
    (void)arg;
    pthread_mutex_lock(&P.mu);
    for (;;) {
        while (!P.head && !P.stop) {
            P.idle++;
            pthread_cond_wait(&P.cv, &P.mu);
            P.idle--;
        }
        if (!P.head) break;
        job *j = P.head;
        P.queued--;
        P.head = j->next;
        if (P.head)
            P.head->pprev = &P.head;
        else
            P.tail = &P.head;
        j->state = JOB_RUNNING;
        pthread_mutex_unlock(&P.mu);
        j->fn(j->arg);
        pthread_mutex_lock(&P.mu);
        j->state = JOB_DONE;
        if (j->want_release)
            weft__wake(j->task, j->rel_seq, 0);
        else
            weft__wake(j->task, j->seq, 0);
    }
    pthread_mutex_unlock(&P.mu);
    return NULL;
}

int weft__blocking_start(int max_threads) {
    P.threads = calloc((size_t)max_threads, sizeof(pthread_t));
    if (!P.threads) return WEFT_ENOMEM;
    P.head = NULL;
    P.tail = &P.head;
    P.nthreads = P.idle = P.stop = P.queued = 0;
    P.max = max_threads;
    return 0;
}

void weft__blocking_stop(void) {
    pthread_mutex_lock(&P.mu);
    P.stop = 1;
    pthread_cond_broadcast(&P.cv);
    int n = P.nthreads;
    pthread_mutex_unlock(&P.mu);
    for (int i = 0; i < n; i++) pthread_join(P.threads[i], NULL);
    free(P.threads);
    P.threads = NULL;
}

int weft_blocking(void (*fn)(void *), void *arg, int64_t deadline) {
    weft__task *t = weft__task_self();
    if (!t) return WEFT_ENOTASK;
    if (!fn) return WEFT_EINVAL;
    weft__seq seq;
    int rc = weft__wait_begin(t, deadline, 0, &seq);
    if (rc) return rc;
    job j = {.fn = fn, .arg = arg, .task = t, .seq = seq, .state = JOB_QUEUED};
    pthread_mutex_lock(&P.mu);
    j.pprev = P.tail;
    *P.tail = &j;
    P.tail = &j.next;
    P.queued++;
    if (P.queued > P.idle && P.nthreads < P.max) {
        if (pthread_create(&P.threads[P.nthreads], NULL, pool_main, NULL) == 0)
            P.nthreads++;
        else if (P.nthreads == 0) { /* no thread at all: cannot run it */
            *j.pprev = NULL;
            P.tail = j.pprev;
            P.queued--;
            pthread_mutex_unlock(&P.mu);
            weft__wait_disarm(t);
            return WEFT_ENOMEM;
        }
    }
    pthread_cond_signal(&P.cv);
    pthread_mutex_unlock(&P.mu);
    weft__wait_timer(t, seq, deadline);
    rc = weft__park(seq, NULL, NULL, "blocking call", (const void *)fn);
    weft__wait_timer_cancel(t);
    if (rc == 0) return 0;
    pthread_mutex_lock(&P.mu);
    if (j.state == JOB_QUEUED) { /* withdraw it: fn never runs */
        P.queued--;
        *j.pprev = j.next;
        if (j.next)
            j.next->pprev = j.pprev;
        else
            P.tail = j.pprev;
        pthread_mutex_unlock(&P.mu);
        return rc;
    }
    if (j.state == JOB_DONE) {
        pthread_mutex_unlock(&P.mu);
        return 0;
    }
    weft__seq seq2;
    weft__wait_begin(t, -1, 1, &seq2);
    j.rel_seq = seq2;
    j.want_release = 1;
    pthread_mutex_unlock(&P.mu);
    weft__park(seq2, NULL, NULL, "blocking call (running)", (const void *)fn);
    return 0;
}
