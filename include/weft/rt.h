/*
 * weft/rt.h — the runtime: tasks, channels, select, sync, time, cancellation,
 * I/O and blocking work on an M:N scheduler.
 *
 * Conventions (they hold for every function below unless it says otherwise):
 *  - Errors are negative WEFT_E* codes (weft/base.h); 0 is success.
 *  - Deadlines are absolute, in milliseconds of weft_now(). -1 means none;
 *    0 means "do not wait": the call returns WEFT_EAGAIN instead of suspending.
 *    Any other deadline that passes makes the call return WEFT_ETIMEDOUT.
 *  - "Suspends" means the calling task is parked and its worker thread runs
 *    other tasks; a suspending call never blocks a worker. Every suspending
 *    call returns WEFT_ECANCELED once the calling task has been cancelled
 *    (before suspending, or by waking it up), and WEFT_ENOTASK when called
 *    from a thread that is not running a weft task.
 *  - A task may run on a different worker thread after any suspending call
 *    (and after weft_yield). See docs/runtime.md, "Thread-locals".
 */
#ifndef WEFT_RT_H
#define WEFT_RT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- runtime ----------------------------------------------------------- */

typedef enum weft_io_backend {
    WEFT_IO_AUTO = 0, /* io_uring when the kernel allows it, else epoll */
    WEFT_IO_URING = 1,
    WEFT_IO_EPOLL = 2,
} weft_io_backend;

typedef struct weft_config {
    int workers;          /* worker threads; 0 = one per online CPU (env WEFT_WORKERS) */
    size_t stack_size;    /* default task stack, bytes; 0 = 256 KiB (virtual, committed lazily) */
    weft_io_backend io;   /* 0 = auto; env WEFT_IO=uring|epoll overrides auto */
    int blocking_threads; /* max threads of the blocking pool; 0 = 16 */
    int starve_ms;        /* report a task holding a worker this long; 0 = 10, <0 = off */
} weft_config;

typedef void (*weft_fn)(void *arg);

/* Start the runtime, run main_fn(arg) as the first task, and return when every
 * task has finished (or after weft_shutdown() has cancelled and reaped them).
 * cfg may be NULL for defaults. Returns 0, WEFT_EBUSY if a runtime is already
 * running in this process, WEFT_EINVAL for a bad config, WEFT_ENOMEM, or the
 * error of an I/O backend that could not start. Blocks the calling thread. */
int weft_main(weft_fn main_fn, void *arg, const weft_config *cfg);

/* Cancel every task; weft_main() returns once they have all ended (tasks
 * that never suspend are not interrupted). From a task: returns at once (a
 * task cannot wait for itself). From another thread: returns once
 * weft_main() has returned. No-op when the runtime is not running. */
void weft_shutdown(void);

/* Name of the I/O backend in use ("io_uring" or "epoll"), or NULL when the
 * runtime is not running. */
const char *weft_io_backend_name(void);
/* Number of worker threads (0 when the runtime is not running). */
int weft_workers(void);
/* Index (0 .. weft_workers()-1) of the worker running the caller, -1 outside
 * a worker. A task may move between workers at any suspension point, so this
 * picks per-worker state (pools, caches); it is not an identity. */
int weft_worker_id(void);

/* ---- tasks ------------------------------------------------------------- */

typedef struct weft_group weft_group;

typedef struct weft_task_opts {
    const char *name;  /* copied (first 31 bytes); shown in dumps and logs */
    size_t stack_size; /* 0 = runtime default; rounded up to pages; min 16 KiB */
    weft_group *group; /* NULL = the runtime's root group */
} weft_task_opts;

/* Spawn fn(arg) as a new task, like Go's `go fn(arg)`. Returns 0,
 * WEFT_ENOMEM (no stack could be had), WEFT_EINVAL (fn NULL),
 * WEFT_ESHUTDOWN (runtime not running or shutting down) or WEFT_ECANCELED
 * (opts->group was cancelled). Callable from tasks and from other threads
 * while the runtime runs. Never suspends. */
int weft_go(weft_fn fn, void *arg);
int weft_go_opts(weft_fn fn, void *arg, const weft_task_opts *opts);

/* Let other runnable tasks run; the caller goes to the back of its worker's
 * queue. Returns 0, WEFT_ECANCELED or WEFT_ENOTASK. */
int weft_yield(void);

/* Register fn(arg) to run when the calling task ends, after its function has
 * returned (also when it was cancelled). Cleanups run last-registered first.
 * 0, WEFT_ENOMEM, WEFT_ENOTASK, WEFT_EINVAL (fn NULL). Cleanups run with
 * cancellation masked: they may suspend (to flush a socket, roll back a
 * transaction) and a cancel does not interrupt them, so they should pass
 * deadlines to what they call. */
int weft_defer(void (*fn)(void *), void *arg);
/* Drop the most recent registration of fn(arg) without running it (a
 * transaction that committed no longer needs its rollback). 0, WEFT_ENOENT,
 * WEFT_ENOTASK. */
int weft_undefer(void (*fn)(void *), void *arg);

/* Name of the calling task ("" if unnamed), or NULL outside a task. */
const char *weft_task_name(void);
/* Unique id of the calling task (ids are never reused), 0 outside a task. */
uint64_t weft_task_id(void);
/* Non-zero once the calling task has been cancelled. */
int weft_canceled(void);
/* True when the caller is a weft task. */
int weft_in_task(void);

/* ---- groups: structured spawning and cancellation ----------------------
 * A group tracks the tasks spawned into it. Cancelling it cancels all of them
 * (and makes later spawns into it fail); waiting on it suspends until they
 * have all ended. The storage is the caller's and must outlive the tasks. */
struct weft_group {
    /* private */
    uint32_t lock;
    int canceled;
    int64_t count;
    void *tasks;   /* intrusive list of members */
    void *waiters; /* tasks in weft_group_wait */
};
void weft_group_init(weft_group *g);
int weft_group_go(weft_group *g, weft_fn fn, void *arg, const char *name);
/* Cancel every task of the group. Until weft_group_wait() has seen the group
 * empty, spawning into it fails with WEFT_ECANCELED. Any thread; never
 * suspends. */
void weft_group_cancel(weft_group *g);
/* Suspend until every task in the group has ended. 0, WEFT_ETIMEDOUT,
 * WEFT_EAGAIN, WEFT_ECANCELED. The group may be reused afterwards. */
int weft_group_wait(weft_group *g, int64_t deadline);
int64_t weft_group_count(weft_group *g);

/* ---- time -------------------------------------------------------------- */

/* Monotonic clock in milliseconds (vDSO clock_gettime; ~20 ns). */
int64_t weft_now(void);
/* Monotonic clock in nanoseconds. */
int64_t weft_now_ns(void);
/* weft_now() + ms: the usual way to build a deadline. */
int64_t weft_deadline_in(int64_t ms);
/* Suspend until the deadline. 0 when it passed, WEFT_ECANCELED,
 * WEFT_ENOTASK. */
int weft_sleep_until(int64_t deadline);
int weft_sleep(int64_t ms);

/* ---- channels ----------------------------------------------------------
 * Typed by element size, usable across workers, Go semantics:
 *  - unbuffered (cap 0): a send completes when a receiver takes the value;
 *  - buffered: a send completes when there is room;
 *  - after close, receivers drain what is buffered and then get WEFT_ECLOSED;
 *    senders get WEFT_ECLOSED (never a crash); tasks parked in send or recv
 *    are woken with WEFT_ECLOSED.
 * The channel must not be freed while tasks are parked on it. */
typedef struct weft_chan weft_chan;

/* New channel of elements of elem_size bytes (1..65536) and capacity cap
 * (0..2^28). NULL with *err set (WEFT_EINVAL, WEFT_ENOMEM) on failure; err may
 * be NULL. */
weft_chan *weft_chan_new(size_t elem_size, size_t cap, int *err);
void weft_chan_free(weft_chan *c);
/* Copy elem_size bytes from v into the channel. 0, WEFT_ECLOSED,
 * WEFT_ETIMEDOUT, WEFT_EAGAIN, WEFT_ECANCELED, WEFT_ENOTASK, WEFT_EINVAL. */
int weft_chan_send(weft_chan *c, const void *v, int64_t deadline);
/* Receive into v (elem_size bytes). 0, WEFT_ECLOSED (closed and drained),
 * WEFT_ETIMEDOUT, WEFT_EAGAIN, WEFT_ECANCELED, WEFT_ENOTASK, WEFT_EINVAL. */
int weft_chan_recv(weft_chan *c, void *v, int64_t deadline);
/* Close. 0, or WEFT_ECLOSED if already closed. Any thread; never suspends. */
int weft_chan_close(weft_chan *c);
size_t weft_chan_len(weft_chan *c); /* buffered elements now */
size_t weft_chan_cap(weft_chan *c);

typedef enum weft_case_op { WEFT_SEND = 1, WEFT_RECV = 2 } weft_case_op;
typedef struct weft_case {
    weft_chan *chan; /* NULL chan: the case never fires (like a nil channel in Go) */
    weft_case_op op;
    void *val; /* SEND: value to copy in; RECV: where to copy (may be NULL) */
    int err;   /* OUT: 0, or WEFT_ECLOSED for the case that fired */
} weft_case;

/* Wait for the first of n cases (1..64) that can proceed, perform it, and
 * return its index. When several are ready one is picked at random. A send or
 * recv on a closed channel fires with cases[i].err = WEFT_ECLOSED. deadline 0
 * is Go's `default:` — WEFT_EAGAIN if none is ready. Other returns:
 * WEFT_ETIMEDOUT, WEFT_ECANCELED, WEFT_ENOTASK, WEFT_EINVAL. */
int weft_select(weft_case *cases, int n, int64_t deadline);

/* ---- sync: task-aware; waiting suspends the task, never the worker ------ */

typedef struct weft_mutex {
    uint32_t state; /* private */
    uint32_t lock;  /* private */
    void *waiters;  /* private */
} weft_mutex;
#define WEFT_MUTEX_INIT                                                                            \
    { 0, 0, 0 }
void weft_mutex_init(weft_mutex *m);
/* 0, WEFT_ETIMEDOUT, WEFT_EAGAIN, WEFT_ECANCELED, WEFT_ENOTASK. */
int weft_mutex_lock(weft_mutex *m, int64_t deadline);
/* Unlock. Any task may unlock (like Go). Unlocking an unlocked mutex returns
 * WEFT_EINVAL. */
int weft_mutex_unlock(weft_mutex *m);

typedef struct weft_sem {
    int64_t count; /* private */
    uint32_t lock; /* private */
    void *waiters; /* private */
} weft_sem;
void weft_sem_init(weft_sem *s, int64_t count);
/* Take one unit. 0, WEFT_ETIMEDOUT, WEFT_EAGAIN, WEFT_ECANCELED, WEFT_ENOTASK. */
int weft_sem_acquire(weft_sem *s, int64_t deadline);
/* Give n units back (n >= 1). Any thread. 0 or WEFT_EINVAL. */
int weft_sem_release(weft_sem *s, int64_t n);

typedef struct weft_wg {
    int64_t count; /* private */
    uint32_t lock; /* private */
    void *waiters; /* private */
} weft_wg;
void weft_wg_init(weft_wg *wg);
/* Add delta (may be negative). Returns WEFT_EINVAL if the count would go
 * below zero (the count is left unchanged). Any thread. */
int weft_wg_add(weft_wg *wg, int64_t delta);
int weft_wg_done(weft_wg *wg);
/* Suspend until the count is zero. 0, WEFT_ETIMEDOUT, WEFT_EAGAIN,
 * WEFT_ECANCELED, WEFT_ENOTASK. */
int weft_wg_wait(weft_wg *wg, int64_t deadline);

typedef struct weft_once {
    uint32_t state; /* private: 0 new, 1 running, 2 done */
    weft_mutex mu;  /* private */
} weft_once;
#define WEFT_ONCE_INIT                                                                             \
    { 0, WEFT_MUTEX_INIT }
/* Run fn(arg) exactly once across all callers; others suspend until it has
 * returned. 0, or WEFT_ECANCELED / WEFT_ENOTASK (then fn may not have run). */
int weft_once_do(weft_once *o, void (*fn)(void *), void *arg);

/* ---- I/O: non-blocking file descriptors, each call with a deadline -------
 * The fd is put in non-blocking mode on first use. Each call returns the
 * byte count (or new fd) or a negative code: the syscall's -errno, or
 * WEFT_ETIMEDOUT, WEFT_EAGAIN (deadline 0), WEFT_ECANCELED, WEFT_ENOTASK.
 * A read returning 0 means end of file. Short reads/writes are possible
 * except in the *_all variants. Use weft_close() for fds the runtime has
 * waited on. */
int weft_fd_nonblock(int fd);
ssize_t weft_read(int fd, void *buf, size_t n, int64_t deadline);
ssize_t weft_write(int fd, const void *buf, size_t n, int64_t deadline);
ssize_t weft_readv(int fd, const struct iovec *iov, int iovcnt, int64_t deadline);
ssize_t weft_writev(int fd, const struct iovec *iov, int iovcnt, int64_t deadline);
/* Write all n bytes (or fail; on failure the count already written is lost). */
ssize_t weft_write_all(int fd, const void *buf, size_t n, int64_t deadline);
/* Read exactly n bytes; a short count means end of file first. */
ssize_t weft_read_full(int fd, void *buf, size_t n, int64_t deadline);
/* sendfile(2) from in_fd at *offset (advanced) to out_fd socket. */
ssize_t weft_sendfile(int out_fd, int in_fd, off_t *offset, size_t n, int64_t deadline);
/* accept4 with SOCK_NONBLOCK|SOCK_CLOEXEC. addr/len may be NULL. */
int weft_accept(int fd, void *addr, unsigned *addrlen, int64_t deadline);
/* Connect a non-blocking socket; 0 when connected. */
int weft_connect(int fd, const void *addr, unsigned addrlen, int64_t deadline);
/* Wait until fd is readable (events = WEFT_POLLIN) and/or writable
 * (WEFT_POLLOUT). Returns the ready events (> 0) or a negative code. */
#define WEFT_POLLIN 0x001
#define WEFT_POLLOUT 0x004
int weft_fd_wait(int fd, int events, int64_t deadline);
/* Close fd and forget its poll state. 0 or -errno. Never suspends. */
int weft_close(int fd);
/* Forget fd's poll state (its waiters wake with WEFT_EBADF) without closing
 * it: for an fd a library owns and will close itself (libpq's socket). */
void weft_fd_forget(int fd);

/* Listening TCP socket on host:port (numeric IPv4/IPv6 address; NULL or ""
 * = all IPv4). backlog 0 = 4096. reuseport adds SO_REUSEPORT. Returns fd or
 * -errno / WEFT_EINVAL. Never suspends. */
int weft_tcp_listen(const char *host, int port, int backlog, int reuseport);
/* Connected TCP socket to numeric host:port. fd or negative code. Suspends. */
int weft_tcp_connect(const char *host, int port, int64_t deadline);
/* Port a listening socket is bound to (for port 0), or -errno. */
int weft_sock_port(int fd);

/* ---- blocking work ------------------------------------------------------
 * Run fn(arg) on a thread of the blocking pool and suspend until it returns.
 * For file I/O, getaddrinfo, SQLite, CPU-heavy work. Returns 0,
 * WEFT_ENOMEM, WEFT_ETIMEDOUT / WEFT_ECANCELED (only while the job still
 * waits in the queue: then fn never runs; once fn has started the call waits
 * for it, because fn may use the caller's memory), WEFT_ENOTASK. */
int weft_blocking(void (*fn)(void *), void *arg, int64_t deadline);

/* ---- debugging ----------------------------------------------------------
 * SIGQUIT (Ctrl-\) prints every task with its state and where it is parked,
 * to stderr, and the process goes on. weft_dump_tasks() does the same on
 * demand (fd = where to write). */
void weft_dump_tasks(int fd);

#ifdef __cplusplus
}
#endif
#endif
