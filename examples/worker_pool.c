/*
 * worker_pool.c — the classic Go worker pool: 5 workers take 20 jobs from a
 * buffered channel and send job*2 to a results channel; a wait group tells
 * when all workers are done so the results channel can be closed.
 *
 * Prints each result line as it arrives, then "sum=420 jobs=20" (the sum of
 * 2*1 .. 2*20), and exits non-zero if any job went missing or ran twice.
 */
#include <stdio.h>
#include <weft/weft.h>

enum { WORKERS = 5, JOBS = 20 };

static weft_chan *jobs, *results;
static weft_wg wg;

static void worker(void *arg) {
    int id = (int)(intptr_t)arg, job;
    while (weft_chan_recv(jobs, &job, -1) == 0) {
        weft_sleep(1); /* pretend to work */
        int r = job * 2;
        weft_chan_send(results, &r, -1);
    }
    (void)id;
    weft_wg_done(&wg);
}

static void closer(void *arg) {
    (void)arg;
    weft_wg_wait(&wg, -1);
    weft_chan_close(results);
}

static int status = 1;

static void run(void *arg) {
    (void)arg;
    jobs = weft_chan_new(sizeof(int), JOBS, NULL);
    results = weft_chan_new(sizeof(int), JOBS, NULL);
    weft_wg_init(&wg);
    weft_wg_add(&wg, WORKERS);
    for (int w = 1; w <= WORKERS; w++) weft_go(worker, (void *)(intptr_t)w);
    for (int j = 1; j <= JOBS; j++) weft_chan_send(jobs, &j, -1);
    weft_chan_close(jobs);
    weft_go(closer, NULL);

    int seen[JOBS + 1] = {0}, r, n = 0, sum = 0;
    while (weft_chan_recv(results, &r, -1) == 0) {
        printf("result %d\n", r);
        if (r % 2 == 0 && r / 2 >= 1 && r / 2 <= JOBS) seen[r / 2]++;
        sum += r;
        n++;
    }
    int ok = n == JOBS;
    for (int j = 1; j <= JOBS; j++) ok &= seen[j] == 1;
    printf("sum=%d jobs=%d\n", sum, n);
    status = ok && sum == 420 ? 0 : 1;
    weft_chan_free(jobs);
    weft_chan_free(results);
}

int main(void) {
    int rc = weft_main(run, NULL, NULL);
    if (rc) fprintf(stderr, "weft_main: %s\n", weft_strerror(rc));
    return rc ? 1 : status;
}
