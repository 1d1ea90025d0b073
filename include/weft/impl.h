/*
 * weft/impl.h — for people extending weft: modules like http/ and db/, and
 * third-party protocol libraries (a WebSocket, Redis or MQTT client, a
 * database driver) that need a little more of the runtime than an
 * application does. libdill's libdillimpl.h is the model.
 *
 * Applications should not need this header. What it offers is still stable
 * and documented, but it hands out sharper tools: masking cancellation can
 * make a task ignore weft_shutdown(), and a task reference can cancel
 * somebody else's task.
 *
 * The conventions of weft/rt.h hold here too: negative WEFT_E* codes,
 * absolute deadlines in weft_now() milliseconds (-1 none, 0 do not wait),
 * WEFT_ENOTASK from task-only calls made outside a task.
 */
#ifndef WEFT_IMPL_H
#define WEFT_IMPL_H

#include <stdint.h>

#include "rt.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- cancellation masking ------------------------------------------------
 * While the calling task has cancellation masked, its suspending calls
 * ignore a cancel: they neither fail with WEFT_ECANCELED at entry nor get
 * woken by weft_group_cancel()/weft_shutdown()/weft_task_ref_cancel(). They
 * still honour their deadlines (so pass one), and weft_canceled() still
 * reports the cancel. When the mask is lifted a pending cancel takes effect
 * at the next suspending call. Cleanups registered with weft_defer() always
 * run masked.
 *
 * Use it for the waits that must finish for correctness even when the task
 * is being torn down: giving a connection back to a pool, waiting for a
 * thread that still uses the caller's memory, draining child tasks.
 *
 *     int prev = weft_nocancel_begin();
 *     weft_group_wait(&children, -1);      // not interrupted by a cancel
 *     weft_nocancel_end(prev);
 *
 * Masks nest: begin returns the state it found, end restores exactly that
 * state, so a helper that masks inside a masked caller leaves it masked. */

/* Mask cancellation for the calling task. Returns the previous state (>= 0,
 * to be passed to weft_nocancel_end) or WEFT_ENOTASK outside a task. Never
 * suspends. */
int weft_nocancel_begin(void);
/* Restore the state prev that weft_nocancel_begin() returned. Returns 0,
 * WEFT_ENOTASK outside a task, or WEFT_EINVAL when prev is negative (for
 * example a WEFT_ENOTASK from begin; the state is then left alone). Never
 * suspends and never fails with WEFT_ECANCELED itself. */
int weft_nocancel_end(int prev);

/* ---- task references ------------------------------------------------------
 * A weft_task_ref names one task so that another task (or thread) can cancel
 * it later, safely whether or not the task has ended meanwhile. Lifetime:
 * the reference is a small counted object shared by the task and by whoever
 * holds the pointer. The task's side lets go when the task finishes its
 * cleanups (after every weft_defer() cleanup has run, just before it ends);
 * from then on the reference reports the task as ended and cancelling does
 * nothing. The holder's side lets go with weft_task_ref_release(). The
 * memory is freed when both have let go, so a holder may keep and use the
 * pointer for as long as it likes before releasing it, even long after the
 * task is gone; the task's stack slot being reused by a new task is never
 * confused with the old one.
 *
 * Each weft_task_ref_self() call makes a new holder reference (one
 * allocation) and must be paired with one weft_task_ref_release(). */
typedef struct weft_task_ref weft_task_ref;

/* A new reference to the calling task. Returns it, or NULL with *err set to
 * WEFT_ENOTASK (outside a task) or WEFT_ENOMEM; err may be NULL. Never
 * suspends. Owned by the caller: release it with weft_task_ref_release(). */
weft_task_ref *weft_task_ref_self(int *err);
/* Cancel the task r names, as weft_group_cancel() cancels its members: its
 * current and later suspending calls fail with WEFT_ECANCELED unless it has
 * cancellation masked. Returns 0 when the task was still running (the cancel
 * is delivered), WEFT_ENOENT when it had already ended (nothing happens), or
 * WEFT_EINVAL (r NULL). Any task or thread; never suspends. Cancelling
 * itself is allowed (its next suspending call fails). */
int weft_task_ref_cancel(weft_task_ref *r);
/* 1 once the task r names has ended (its cleanups have run), else 0; 1 for
 * NULL. Any task or thread; never suspends. The answer can be stale by the
 * time the caller looks at it, in one direction only: a task that has ended
 * stays ended. */
int weft_task_ref_ended(const weft_task_ref *r);
/* Id of the task r names (as weft_task_id() returned in it), 0 for NULL.
 * Stays valid after the task ended. */
uint64_t weft_task_ref_id(const weft_task_ref *r);
/* Let go of the holder's side. r must not be used afterwards. NULL is a
 * no-op. Any task or thread; never suspends. */
void weft_task_ref_release(weft_task_ref *r);

/* ---- fd readiness ---------------------------------------------------------
 * weft/rt.h's weft_fd_wait() confirms the events it reports with a
 * zero-timeout poll(2), because the backends can wake a waiter for
 * readiness that another reader has already consumed. A protocol loop whose
 * next step is a non-blocking read or write that copes with EAGAIN does not
 * need that confirmation and saves a syscall per wait with this one. */

/* Suspend until fd is readable (events has WEFT_POLLIN) and/or writable
 * (WEFT_POLLOUT), the deadline passes or the task is cancelled. The fd is
 * made non-blocking on first use. Returns the events that were reported
 * (> 0), which may be a false positive: the caller's next read or write can
 * still see EAGAIN and should then simply wait again. Errors:
 * WEFT_ETIMEDOUT (deadline passed), WEFT_EAGAIN (deadline 0: returned at
 * once, without looking at the fd; try the syscall instead), WEFT_ECANCELED
 * (cancelled before or while waiting, unless masked), WEFT_EBADF (fd
 * negative or beyond the fd table, or weft_close()d / weft_fd_forget()ed
 * while waiting), WEFT_EINVAL (no event asked for), WEFT_ENOTASK.
 * Suspends. Only one task should wait on one fd for the same event at a
 * time. */
int weft_fd_wait_hint(int fd, int events, int64_t deadline);

/* ---- sends batched on the worker's ring -----------------------------------
 * A server that writes one small message to many sockets at once (a hub's
 * fan-out) pays one sendmsg(2) per socket with weft_write(). With the
 * io_uring backend the sends can instead be queued on the calling worker's
 * ring and go to the kernel together, in one io_uring_enter per scheduler
 * turn (or per ring-full of them), with no task per socket. */

/* Called once per weft_send_async() that returned 0, on the worker thread
 * that queued the send: res is the number of bytes sent (possibly fewer
 * than asked) or a negative code (WEFT_EAGAIN: the socket was full; -EPIPE,
 * -ECONNRESET, ...). It runs from the scheduler's loop, or inside a later
 * weft_send_async() of the same worker when the ring was full and
 * completions were reaped to make room; so it must not suspend, must not
 * call weft_send_async(), and should not wait for locks the sending code
 * may hold. It may spawn tasks. */
typedef void weft_send_done_fn(void *ud, ssize_t res);

/* Queue a send(2) of buf[0..n) on socket fd (MSG_DONTWAIT | MSG_NOSIGNAL:
 * it never waits for the socket; a full one completes with WEFT_EAGAIN) on
 * the calling worker's io_uring. buf must stay valid until done(ud, res)
 * has been called. Returns 0 (queued; done will be called exactly once),
 * or, with done never called (write some other way): WEFT_ENOSYS (the epoll
 * backend, or a kernel without IORING_OP_SEND), WEFT_ENOTASK (not called on
 * a worker), WEFT_EBADF (fd negative or beyond the fd table), WEFT_ENOMEM.
 * Never suspends. A queued send keeps the runtime running, like a live task,
 * until its done has run. Sends queued on one fd go to the kernel in order
 * but a short or failed one does not stop the next: have one in flight per
 * fd at a time. */
int weft_send_async(int fd, const void *buf, size_t n, weft_send_done_fn *done, void *ud);

#ifdef __cplusplus
}
#endif
#endif
