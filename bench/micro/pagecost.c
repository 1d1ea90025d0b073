/*
 * bench/micro/pagecost.c — what the kernel charges for the page work behind
 * a fresh task stack (src/rt/stack.c), apart from the runtime: the guard
 * page and the committed top page of N slots, each operation on its own.
 *
 * Usage: build/bench/pagecost [N] [stride_kib] [rounds]
 *   (defaults 200000 slots, 264 KiB apart as the default stack's slots,
 *   3 rounds; every round maps fresh address space)
 *
 * Per operation it prints `RESULT pagecost_<op>_us <CPU us per slot>` (the
 * process's CPU time, nearly all of it system time) for each round:
 *   guard_iov     MADV_GUARD_INSTALL, one process_madvise(2) iovec per slot,
 *                 16 a call (what stack.c does)
 *   guard_range   MADV_GUARD_INSTALL over one contiguous range, per page:
 *                 the page-table work alone, without a call per slot
 *   populate_iov  MADV_POPULATE_WRITE of each slot's top page, one iovec per
 *                 slot, 16 a call (what stack.c does)
 *   populate_range MADV_POPULATE_WRITE of contiguous pages, 2 MiB a call,
 *                 per page: a fresh page without a call per slot, and with
 *                 one page-table page per 512 pages instead of per ~8 slots
 *   touch         a store to each slot's top page (a page fault each)
 * The difference between an _iov and a _range figure is the cost of the
 * call per slot; what is left of populate_range is the page itself (its
 * allocation and clearing: on a VM, also the host backing guest memory
 * that was handed back to it, which no user-space layout avoids).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#define PAGE 4096u
#define BATCH 16 /* stack.c's BATCH */

static double cpu_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

enum { GUARD_IOV, GUARD_RANGE, POPULATE_IOV, POPULATE_RANGE, TOUCH, NOPS };
static const char *names[NOPS] = {"guard_iov", "guard_range", "populate_iov", "populate_range",
                                  "touch"};

/* One operation over n slots of `stride` bytes in fresh address space;
 * returns CPU us per slot (per page for the _range ones), or -1. */
static double run(int op, int pidfd, long n, size_t stride) {
    size_t bytes = (op == GUARD_RANGE || op == POPULATE_RANGE) ? (size_t)n * PAGE : (size_t)n * stride;
    char *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
        perror("pagecost: mmap");
        return -1;
    }
    double t0 = cpu_us();
    int rc = 0;
    if (op == GUARD_RANGE) {
        rc = madvise(p, bytes, MADV_GUARD_INSTALL);
    } else if (op == POPULATE_RANGE) {
        for (size_t off = 0; off < bytes && rc == 0; off += 2u << 20) {
            size_t len = bytes - off < (2u << 20) ? bytes - off : 2u << 20;
            rc = madvise(p + off, len, MADV_POPULATE_WRITE);
        }
    } else {
        struct iovec iov[BATCH];
        for (long i = 0; i < n && rc >= 0; i += BATCH) {
            int k = 0;
            for (; k < BATCH && i + k < n; k++) {
                char *slot = p + (size_t)(i + k) * stride;
                /* the guard at the bottom of a slot, the top page at its top */
                iov[k].iov_base = op == GUARD_IOV ? slot : slot + stride - PAGE;
                iov[k].iov_len = PAGE;
            }
            if (op == TOUCH)
                for (int j = 0; j < k; j++) *(volatile char *)iov[j].iov_base = 1;
            else
                rc = (int)syscall(SYS_process_madvise, pidfd, iov, (size_t)k,
                                  op == GUARD_IOV ? MADV_GUARD_INSTALL : MADV_POPULATE_WRITE, 0u);
        }
    }
    double us = (cpu_us() - t0) / (double)n;
    if (rc < 0) perror(names[op]);
    munmap(p, bytes);
    return rc < 0 ? -1 : us;
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 200000;
    size_t stride = (argc > 2 ? (size_t)atol(argv[2]) : 264) << 10;
    int rounds = argc > 3 ? atoi(argv[3]) : 3;
    if (n <= 0 || stride < 2 * PAGE || rounds <= 0) {
        fprintf(stderr, "usage: pagecost [slots > 0] [stride_kib >= 8] [rounds > 0]\n");
        return 2;
    }
    int pidfd = (int)syscall(SYS_pidfd_open, getpid(), 0);
    if (pidfd < 0) {
        perror("pagecost: pidfd_open");
        return 1;
    }
    printf("# pagecost: %ld slots, %zu KiB apart, %d rounds\n", n, stride >> 10, rounds);
    int failed = 0;
    for (int r = 0; r < rounds; r++)
        for (int op = 0; op < NOPS; op++) {
            double us = run(op, pidfd, n, stride);
            if (us < 0)
                failed = 1;
            else
                printf("RESULT pagecost_%s_us %.3f us\n", names[op], us);
            fflush(stdout);
        }
    return failed;
}
