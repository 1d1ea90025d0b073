/*
 * src/http/ws_conn.c — a WebSocket connection on the runtime: receiving
 * (with pings, pongs, the closing handshake, keepalive and the idle timeout),
 * the bounded outgoing queue and its writer, and the client's dial.
 *
 * Who touches what:
 *   - the receiving task holds `rlock` (a weft_mutex) while it reads: the
 *     receiver state (rx), the bytes read ahead (`ahead`) and last_rx are its;
 *   - senders (any task, any thread) and the writer meet in the queue under
 *     `qlock`, a spin lock held only for list operations, never across a
 *     suspension, so a plain thread can take it too;
 *   - the writer task exists only while the queue has something: the sender
 *     that finds it empty and no writer running spawns one (marked running
 *     under qlock, spawned just after the sender lets go of it); the writer takes
 *     a batch of the queue, writes it with sendmsg straight from where the
 *     bytes are (a hub message's shared frame, a queued item's payload behind
 *     a head framed on the writer's stack; only masked or compressed frames
 *     are built in a buffer), and ends when it finds the queue empty. An idle
 *     connection therefore holds no writer, no buffer and no read buffer
 *     (reads wait for readiness before taking one). (A writer that waited
 *     for the next message instead of ending was tried: no fewer
 *     instructions per fan-out delivery than a spawn per batch, callgrind,
 *     and a stack per active connection; see docs/ws.md.)
 *
 * Hub messages (send_shared) to an idle server connection skip the queue and
 * the writer task: the sender claims the writer's role and hands the shared
 * frame to the worker's io_uring (weft_send_async), so a fan-out's sends go
 * to the kernel together; the completion hands over to a writer task when
 * more queued meanwhile or the socket did not take the whole frame.
 *
 * Control frames (pong, ping) go to a queue of their own that the writer
 * empties first, so a pong is not stuck behind a backlog of data. The close
 * frame is queued behind the data (what was sent before close goes out first),
 * and nothing is queued after it.
 *
 * Lifetime: a reference count. The owner holds one (weft_ws_free drops it),
 * a running writer holds one, a send on the ring holds one. The last one closes the socket.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "weft/impl.h"
#include "ws_int.h"

enum { ST_OPEN, ST_CLOSING, ST_CLOSED };
enum { READ_CHUNK = 16384, RECYCLE_MAX = 1024 };
/* The writer takes at most BATCH_ITEMS queued items, and data items up to
 * WRITE_BATCH bytes (at least one), per write: each item is at most two
 * iovecs (a head and its payload), plus one for the rest of an inline write.
 * A write buffer of up to WBUF_KEEP bytes is kept between inline sends (a
 * client's masked frames, compressed ones) and freed when the connection is
 * idle (the writer's end, the keepalive tick). */
enum { BATCH_ITEMS = 64, MAX_IOV = 2 * BATCH_ITEMS + 1, WRITE_BATCH = 256 * 1024, WBUF_KEEP = 4096 };

/* One queued message or control frame, unframed: the writer frames it (and
 * compresses and masks it) as it goes out, in queue order, so the compressor
 * sees messages in the order the peer will. */
typedef struct item {
    struct item *next;
    int opcode;
    uint64_t key;
    size_t n;
    size_t counted;       /* bytes counted against max_queue: n, or 0 for a WEFT_WS_SEND_SYNC item */
    int keep;             /* WEFT_WS_SEND_SYNC or _KEEP: the policy never drops or replaces it */
    int small;            /* allocated with SMALL_DATA bytes of data[]: goes back to the cache */
    weft_hub_msg *shared; /* a hub message framed once for every subscriber; else data[] */
    uint8_t data[];
} item;

struct weft_ws {
    int fd;
    int role;
    weft_ws_config cfg;
    atomic_int refs;
    char subprotocol[64];

    /* receiving (under rlock) */
    weft_mutex rlock;
    weft_ws_rx rx;
    weft_buf ahead; /* bytes read but not yet fed to rx */
    atomic_llong last_rx;
    int64_t next_ping;

    /* sending (under qlock) */
    atomic_int qlock; /* q_lock(), q_unlock() */
    item *ctl, **ctl_tail;
    item *data, **data_tail;
    size_t queued;
    size_t held;          /* bytes of keep items waiting (weft_ws_stats.held) */
    int writer_running; /* a writer task runs, or an inline send writes */
    int writer_due;     /* writer_running set, the task to start at q_unlock() */
    int state;            /* ST_*: OPEN until a close is queued, CLOSED when the socket is done */
    int close_queued;     /* our close frame is in the queue or out */
    int close_received;   /* the peer's close frame came */
    int close_written;    /* our close frame went out */
    int fail_after_close; /* shut the socket down once our close is written */
    int closer_running;   /* a task shuts the socket if the close is not out in time */
    int going_away;       /* the server is shutting down: close with 1001 */
    int close_code;
    char close_reason[WEFT_WS_CONTROL_MAX];
    uint64_t sent, dropped;
    weft_sem done; /* released (generously) when the socket is shut down */

    /* the writer's own (one writer at a time) */
    weft_ws_deflater *deflater;
    weft_buf wbuf;
    uint64_t carried; /* messages an inline send left (partly) in wbuf */
    uint8_t rnd[256];
    size_t rnd_used;
    int shared_z_ok; /* a hub message's shared compressed frame suits this connection */
    /* a hub message's frame on the worker's ring (send_shared_async): set by
     * the sender that claimed the writer, read by the completion, both on
     * that worker's thread */
    weft_hub_msg *async_msg;
    weft_str async_frame;
    int no_async; /* not a socket: never on the ring */
};

static void unref(weft_ws *ws);

/* qlock is held for a few list operations at a time, never across a
 * suspension, by tasks and plain threads alike: a spin lock (a pthread mutex
 * was about a tenth of a fan-out's instructions, callgrind), that yields the
 * CPU when the holder is slow to let go (a thread preempted while it holds
 * it). Not across a task spawn either (an allocation, a slot, maybe a
 * syscall): under the lock a writer is only made due (writer_running and
 * writer_due set, so no second sender starts another), and q_unlock()
 * starts it once the lock is free. */
static inline void q_lock(weft_ws *ws) {
    while (atomic_exchange_explicit(&ws->qlock, 1, memory_order_acquire)) {
        for (int n = 0; atomic_load_explicit(&ws->qlock, memory_order_relaxed); n++) {
            if (n < 100)
                __builtin_ia32_pause();
            else
                sched_yield();
        }
    }
}
static int start_writer(weft_ws *ws);
/* Lets go of qlock, then starts the writer made due under it. 0, or why no
 * writer task could be had (the connection is then shut): a sender passes
 * it on (weft_ws_send's WEFT_ENOMEM, WEFT_ESHUTDOWN). */
static inline int q_unlock(weft_ws *ws) {
    int due = ws->writer_due;
    ws->writer_due = 0;
    atomic_store_explicit(&ws->qlock, 0, memory_order_release);
    return due ? start_writer(ws) : 0;
}
static int queue_close_locked(weft_ws *ws, int code, const char *reason);
static void shut_locked(weft_ws *ws, int code, const char *why);

static void resolve_cfg(weft_ws_config *c, const weft_ws_config *in) {
    static const weft_ws_config none = {0};
    *c = in ? *in : none;
    if (!c->max_message) c->max_message = 1 << 20;
    if (!c->max_queue) c->max_queue = 1 << 20;
    if (!c->ping_interval_ms) c->ping_interval_ms = 30000;
    if (!c->idle_timeout_ms) c->idle_timeout_ms = 60000;
    if (c->close_timeout_ms <= 0) c->close_timeout_ms = 5000;
    if (c->write_timeout_ms <= 0) c->write_timeout_ms = 30000;
}

weft_ws *weft_ws_adopt(int fd, int role, const void *pending, size_t n,
                       const weft_ws_deflate_params *deflate, const weft_ws_config *cfg, int *err) {
    weft_ws *ws = weft__ws_new(role, deflate, cfg);
    if (!ws) {
        weft_close(fd);
        if (err) *err = WEFT_ENOMEM;
        return NULL;
    }
    int rc = weft__ws_attach(ws, fd, pending, n);
    if (rc) {
        unref(ws);
        if (err) *err = rc;
        return NULL;
    }
    return ws;
}

weft_ws *weft__ws_new(int role, const weft_ws_deflate_params *deflate, const weft_ws_config *cfg) {
    weft_ws *ws = calloc(1, sizeof *ws);
    if (!ws) return NULL;
    ws->fd = -1;
    ws->role = role;
    resolve_cfg(&ws->cfg, cfg);
    atomic_init(&ws->refs, 1);
    weft_mutex_init(&ws->rlock);
    weft_ws_rx_init(&ws->rx, role, ws->cfg.max_message);
    weft_buf_init(&ws->ahead, 0);
    weft_buf_init(&ws->wbuf, 0);
    atomic_init(&ws->last_rx, weft_now());
    atomic_init(&ws->qlock, 0);
    ws->ctl_tail = &ws->ctl;
    ws->data_tail = &ws->data;
    weft_sem_init(&ws->done, 0);
    ws->rnd_used = sizeof ws->rnd;
    if (deflate) {
        /* compressed once for all: only where each message starts afresh
         * with a full window, which is how the hub compresses */
        ws->shared_z_ok = role == WEFT_WS_SERVER && deflate->server_no_context_takeover &&
                          deflate->server_max_window_bits == 15;
        ws->deflater = weft_ws_deflater_new(deflate, role);
        if (weft_ws_rx_enable_deflate(&ws->rx, deflate) || !ws->deflater) {
            weft_ws_rx_free(&ws->rx);
            weft_ws_deflater_free(ws->deflater);
            free(ws);
            return NULL;
        }
    }
    return ws;
}

int weft__ws_attach(weft_ws *ws, int fd, const void *pending, size_t n) {
    q_lock(ws);
    ws->fd = fd;
    int rc = n ? weft_buf_append(&ws->ahead, pending, n) : 0;
    atomic_store_explicit(&ws->last_rx, weft_now(), memory_order_relaxed);
    /* a shutdown that came before the socket did: say goodbye now */
    if (!rc && ws->going_away) queue_close_locked(ws, WEFT_WS_GOING_AWAY, "server shutting down");
    q_unlock(ws);
    return rc;
}

void weft__ws_going_away(weft_ws *ws) {
    q_lock(ws);
    ws->going_away = 1;
    if (ws->fd >= 0 && ws->state == ST_OPEN)
        queue_close_locked(ws, WEFT_WS_GOING_AWAY, "server shutting down");
    q_unlock(ws);
}

void weft__ws_close_async(weft_ws *ws, int code, const char *reason) {
    q_lock(ws);
    if (ws->fd >= 0 && ws->state == ST_OPEN) queue_close_locked(ws, code, reason);
    q_unlock(ws);
}

void weft__ws_abort(weft_ws *ws, const char *why) {
    q_lock(ws);
    shut_locked(ws, WEFT_WS_ABNORMAL, why);
    q_unlock(ws);
}

void weft__ws_ref(weft_ws *ws) { atomic_fetch_add_explicit(&ws->refs, 1, memory_order_relaxed); }
void weft__ws_unref(void *ws) { unref(ws); }

void weft__ws_set_subprotocol(weft_ws *ws, weft_str p) {
    snprintf(ws->subprotocol, sizeof ws->subprotocol, "%.*s", (int)p.n, p.p ? p.p : "");
}

/* ---- the item cache -----------------------------------------------------------
 * A fan-out queues one item per subscriber per message and frees it once the
 * frame is written: a malloc and a free per delivery, and glibc's own
 * per-thread cache holds only a few chunks of a size, so a publish to
 * thousands of subscribers went through the allocator's slow paths (malloc
 * and free were 40 % of a fan-out run's instructions, 7.6 % with this list;
 * callgrind). Small items (a hub
 * message's reference, an empty ping, a small pong or message) come instead
 * from a free list of this thread's, at most CACHE_MAX long; the rest and
 * the overflow go to malloc and free. The list is freed when the thread
 * ends. Under ASan every item goes back to free (CACHE_ON 0), so its
 * quarantine still reports a use after free and LeakSanitizer sees no list. */
#if defined(__SANITIZE_ADDRESS__)
enum { CACHE_ON = 0 };
#else
enum { CACHE_ON = 1 };
#endif
enum { SMALL_DATA = 16, CACHE_MAX = 1024 };

typedef struct item_cache {
    item *head;
    unsigned n;
    int registered; /* cache_key holds it: cache_drain runs at the thread's end */
} item_cache;

static _Thread_local item_cache cache;
static pthread_key_t cache_key;
static int cache_key_ok;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;

static void cache_drain(void *arg) {
    item_cache *c = arg;
    while (c->head) {
        item *it = c->head;
        c->head = it->next;
        free(it);
    }
    c->n = 0;
    c->registered = 0; /* an item freed later in the thread's end registers again */
}

static void cache_key_init(void) { cache_key_ok = pthread_key_create(&cache_key, cache_drain) == 0; }

/* Not inlined: a task may move to another thread when it suspends, so the
 * thread-local address must be taken in a function that never suspends, not
 * hoisted by the compiler into a caller's loop that does (the writer's). */
__attribute__((noinline)) static item *item_alloc(size_t n) {
    item_cache *c = &cache;
    if (n > SMALL_DATA) return malloc(sizeof(item) + n);
    item *it = c->head;
    if (!it) return malloc(sizeof(item) + SMALL_DATA);
    c->head = it->next;
    c->n--;
    return it;
}

/* it->small records the size class at allocation (a shared item's n is the
 * hub payload's length, not its allocation's). */
__attribute__((noinline)) static void item_free(item *it) {
    item_cache *c = &cache;
    if (!CACHE_ON || !it->small || c->n >= CACHE_MAX) {
        free(it);
        return;
    }
    if (!c->registered) { /* this thread's first: have it freed at the thread's end */
        pthread_once(&cache_once, cache_key_init);
        if (!cache_key_ok || pthread_setspecific(cache_key, c)) {
            free(it);
            return;
        }
        c->registered = 1;
    }
    it->next = c->head;
    c->head = it;
    c->n++;
}

static void free_items(item *it) {
    while (it) {
        item *next = it->next;
        if (it->shared) weft_hub_msg_release(it->shared);
        item_free(it);
        it = next;
    }
}

static void unref(weft_ws *ws) {
    if (atomic_fetch_sub_explicit(&ws->refs, 1, memory_order_acq_rel) != 1) return;
    if (ws->fd >= 0) weft_close(ws->fd);
    weft_ws_rx_free(&ws->rx);
    weft_buf_free(&ws->ahead);
    weft_buf_free(&ws->wbuf);
    weft_ws_deflater_free(ws->deflater);
    free_items(ws->ctl);
    free_items(ws->data);
    free(ws);
}

/* The socket is done: wake every reader and waiter (under qlock). */
static void shut_locked(weft_ws *ws, int code, const char *why) {
    if (ws->state == ST_CLOSED) return;
    ws->state = ST_CLOSED;
    if (!ws->close_code) {
        ws->close_code = code;
        snprintf(ws->close_reason, sizeof ws->close_reason, "%s", why ? why : "");
    }
    if (ws->fd >= 0) shutdown(ws->fd, SHUT_RDWR);
    weft_sem_release(&ws->done, 1 << 20); /* every waiter, now and later */
}

static void shut(weft_ws *ws, int code, const char *why) {
    q_lock(ws);
    shut_locked(ws, code, why);
    q_unlock(ws);
}

/* A close frame that fails the connection waits behind a write the peer
 * does not take (a reader that stopped reading: that is why the queue
 * overflowed): the socket is shut at close_timeout_ms if it is not out by
 * then, rather than at write_timeout_ms. The shutdown wakes the writer's
 * wait, its sendmsg fails at once (EPIPE) and every waiter wakes. */
static void closer(void *arg) {
    weft_ws *ws = arg;
    if (weft_sem_acquire(&ws->done, weft_deadline_in(ws->cfg.close_timeout_ms)) != 0)
        shut(ws, WEFT_WS_ABNORMAL, "close frame not taken in time");
    unref(ws);
}

/* Under qlock: our (queued) close frame fails the connection: the socket is
 * shut once it is written, or at close_timeout_ms. */
static void fail_after_close_locked(weft_ws *ws) {
    ws->fail_after_close = 1;
    if (ws->closer_running || ws->state == ST_CLOSED) return;
    atomic_fetch_add_explicit(&ws->refs, 1, memory_order_relaxed);
    weft_task_opts o = {.name = "ws-closer", .stack_size = 32 * 1024};
    if (weft_go_opts(closer, ws, &o) == 0) {
        ws->closer_running = 1;
    } else {
        atomic_fetch_sub_explicit(&ws->refs, 1, memory_order_relaxed);
        shut_locked(ws, WEFT_WS_ABNORMAL, "no task to bound the close");
    }
}

/* ---- the writer -------------------------------------------------------------- */

static void mask_key(weft_ws *ws, uint8_t key[4]) {
    if (ws->rnd_used + 4 > sizeof ws->rnd) {
        size_t got = 0;
        while (got < sizeof ws->rnd) {
            ssize_t r = getrandom(ws->rnd + got, sizeof ws->rnd - got, 0);
            if (r > 0) got += (size_t)r;
        }
        ws->rnd_used = 0;
    }
    memcpy(key, ws->rnd + ws->rnd_used, 4);
    ws->rnd_used += 4;
}

/* Frame one message into wbuf (after what is there): compressed when deflate
 * was agreed (data only), masked by a client. */
static int frame_msg(weft_ws *ws, int opcode, const void *data, size_t len) {
    uint8_t key[4], *mask = NULL;
    if (ws->role == WEFT_WS_CLIENT) {
        mask_key(ws, key);
        mask = key;
    }
    int flags = WEFT_WS_FIN;
    const void *p = data;
    size_t n = len;
    weft_buf z;
    weft_buf_init(&z, 0);
    if (ws->deflater && opcode < 8) {
        int rc = weft_ws_deflate(ws->deflater, data, len, &z);
        if (rc) return rc;
        flags |= WEFT_WS_RSV1;
        p = z.data ? z.data : "";
        n = z.len;
    }
    int rc = weft_ws_frame_append(&ws->wbuf, flags, opcode, p, n, mask);
    weft_buf_free(&z);
    return rc;
}

/* Writes what the socket takes now, never waiting: the byte count (0 when
 * it would block) or a negative code. MSG_NOSIGNAL: a peer that has gone
 * away is an error code here, not a SIGPIPE, whatever the program's
 * disposition for it (a plain thread sending as the socket shuts). */
static ssize_t write_now(int fd, struct iovec *iov, int cnt) {
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)cnt};
    for (;;) {
        ssize_t r = sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (r >= 0) return r;
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
        if (errno != ENOTSOCK) return -errno;
        r = weft_writev(fd, iov, cnt, 0); /* adopted from a pipe, say */
        return r == WEFT_EAGAIN || r == WEFT_ECANCELED || r == WEFT_ENOTASK ? 0 : r;
    }
}

/* One write's pieces, in order: each points at the bytes where they live (a
 * hub message's shared frame, a queued item's payload, a head in heads[]) or,
 * with p NULL, at wbuf + off (what had to be built: a masked or compressed
 * frame, the rest of an inline write), by offset because wbuf may move while
 * the batch is framed. The items keep what the pieces point at (a hub
 * message's reference included) until the write is done. */
typedef struct piece {
    const uint8_t *p;
    size_t off, n;
} piece;

typedef struct out_batch {
    piece pc[MAX_IOV];
    int n;
    uint8_t heads[BATCH_ITEMS][WEFT_WS_HEAD_MAX];
    int nheads;
} out_batch;

static void add_piece(out_batch *b, const uint8_t *p, size_t off, size_t n) {
    piece *last = b->n ? &b->pc[b->n - 1] : NULL;
    if (!n) return;
    if (last && !p && !last->p && last->off + last->n == off) { /* wbuf runs join */
        last->n += n;
        return;
    }
    b->pc[b->n++] = (piece){p, off, n};
}

/* Adds one queued item to the batch: a server's unmasked, uncompressed frame
 * as a head plus the item's payload, a hub message's shared frame as it is,
 * anything else framed into wbuf. */
static int add_item(weft_ws *ws, out_batch *b, item *it) {
    if (it->shared) {
        weft_str f =
            ws->shared_z_ok ? weft__hub_msg_frame_z(it->shared) : weft__hub_msg_frame(it->shared);
        if (!f.p) f = weft__hub_msg_frame(it->shared); /* no memory to compress: plain */
        add_piece(b, (const uint8_t *)f.p, 0, f.n);
        return 0;
    }
    if (ws->role == WEFT_WS_SERVER && (!ws->deflater || it->opcode >= 8)) {
        uint8_t *h = b->heads[b->nheads++];
        add_piece(b, h, 0, weft_ws_frame_head(h, WEFT_WS_FIN, it->opcode, it->n, NULL));
        add_piece(b, it->data, 0, it->n);
        return 0;
    }
    size_t off = ws->wbuf.len;
    int rc = frame_msg(ws, it->opcode, it->data, it->n);
    if (!rc) add_piece(b, NULL, off, ws->wbuf.len - off);
    return rc;
}

/* Writes iov[0..cnt) whole, waiting for the socket up to deadline; short
 * writes advance through the array. 0 or a negative code. */
static int write_iov_all(int fd, struct iovec *iov, int cnt, int64_t deadline) {
    int i = 0;
    while (i < cnt) {
        ssize_t w = write_now(fd, iov + i, cnt - i);
        if (w < 0) return (int)w;
        if (w == 0) { /* the socket is full */
            int r = weft_fd_wait_hint(fd, WEFT_POLLOUT, deadline);
            if (r < 0) return r;
            continue;
        }
        for (size_t left = (size_t)w; left;) {
            if (left >= iov[i].iov_len) {
                left -= iov[i].iov_len;
                i++;
            } else {
                iov[i].iov_base = (char *)iov[i].iov_base + left;
                iov[i].iov_len -= left;
                left = 0;
            }
        }
    }
    return 0;
}

static int write_batch(weft_ws *ws, out_batch *b) {
    struct iovec iov[MAX_IOV];
    for (int i = 0; i < b->n; i++) {
        const piece *pc = &b->pc[i];
        iov[i].iov_base = pc->p ? (void *)pc->p : (void *)(ws->wbuf.data + pc->off);
        iov[i].iov_len = pc->n;
    }
    return write_iov_all(ws->fd, iov, b->n, weft_deadline_in(ws->cfg.write_timeout_ms));
}

/* Under qlock: takes the next batch off the queues, controls first, then data
 * items up to WRITE_BATCH bytes (at least one), at most BATCH_ITEMS in all. */
static item *take_batch_locked(weft_ws *ws) {
    item *batch = NULL, **tail = &batch;
    int k = 0;
    for (; ws->ctl && k < BATCH_ITEMS; k++) {
        *tail = ws->ctl;
        tail = &ws->ctl->next;
        ws->ctl = ws->ctl->next;
    }
    if (!ws->ctl) ws->ctl_tail = &ws->ctl;
    size_t take = 0;
    for (int first = 1; ws->data && k < BATCH_ITEMS && (first || take + ws->data->n <= WRITE_BATCH);
         k++, first = 0) {
        item *it = ws->data;
        take += it->n;
        ws->queued -= it->counted;
        if (it->keep) ws->held -= it->n;
        *tail = it;
        tail = &it->next;
        ws->data = it->next;
    }
    if (!ws->data) ws->data_tail = &ws->data;
    *tail = NULL;
    return batch;
}

static void writer(void *arg) {
    weft_ws *ws = arg;
    out_batch bb, *b = &bb; /* about 4 KiB of the writer's 64 KiB stack */
    q_lock(ws);
    for (;;) {
        if (!ws->ctl && !ws->data && !ws->wbuf.len) {
            /* the buffer goes while we still are the writer: the next one
             * (spawned as soon as writer_running is 0) starts afresh */
            if (ws->wbuf.cap) weft_buf_free(&ws->wbuf);
            ws->writer_running = 0;
            break;
        }
        item *batch = take_batch_locked(ws);
        int closed = ws->state == ST_CLOSED;
        q_unlock(ws);

        /* wbuf may start with the rest of a message an inline send could not
         * finish (send_inline): it goes first, the batch after it */
        int rc = 0, has_close = 0;
        uint64_t msgs = ws->carried;
        ws->carried = 0;
        b->n = b->nheads = 0;
        add_piece(b, NULL, 0, ws->wbuf.len);
        for (item *it = batch; it && !rc && !closed; it = it->next) {
            rc = add_item(ws, b, it);
            if (it->opcode == WEFT_WS_CLOSE) has_close = 1;
            if (it->opcode < 8) msgs++;
        }
        if (!rc && !closed && b->n) rc = write_batch(ws, b);
        free_items(batch); /* a hub message's reference goes once its bytes are out */
        ws->wbuf.len = 0;
        /* a big batch's buffer is not kept while idle */
        if (ws->wbuf.cap > 65536) weft_buf_free(&ws->wbuf);
        q_lock(ws);
        if (rc) {
            shut_locked(ws, WEFT_WS_ABNORMAL, "write failed");
        } else if (!closed) {
            ws->sent += msgs;
            if (has_close) ws->close_written = 1;
            /* a server closes the socket once both close frames have passed;
             * so does either side that failed the connection */
            if (has_close &&
                (ws->fail_after_close || (ws->close_received && ws->role == WEFT_WS_SERVER)))
                shut_locked(ws, 0, NULL);
        }
    }
    q_unlock(ws);
    unref(ws);
}

/* Under qlock, as the writer (writer_running set): hand the writing over to
 * a new writer task, started by q_unlock(). The reference is the task's. */
static void spawn_writer_locked(weft_ws *ws) {
    atomic_fetch_add_explicit(&ws->refs, 1, memory_order_relaxed);
    ws->writer_due = 1;
}

/* After q_unlock(), for a writer made due under the lock: start its task.
 * writer_running stayed set, so senders meanwhile queued behind it and
 * nobody else touched wbuf. If no task can be had, nothing will write
 * again: the connection is shut, as a failed write would. */
static int start_writer(weft_ws *ws) {
    weft_task_opts o = {.name = "ws-writer", .stack_size = 64 * 1024};
    int rc = weft_go_opts(writer, ws, &o);
    if (rc == 0) return 0;
    q_lock(ws);
    ws->writer_running = 0;
    ws->wbuf.len = 0;
    ws->carried = 0;
    shut_locked(ws, WEFT_WS_ABNORMAL, "no writer task");
    q_unlock(ws);
    unref(ws); /* the task's reference */
    return rc;
}

/* Under qlock: make sure a writer runs (or is due). */
static void kick_locked(weft_ws *ws) {
    if (ws->writer_running) return;
    ws->writer_running = 1;
    spawn_writer_locked(ws);
}

/* Sending inline: a sender that finds nothing queued and no writer becomes
 * the writer for one message. It writes the frame itself with deadline 0
 * (a server's plain frame straight from the caller's bytes, head and payload
 * in one writev), so a connection that keeps up costs no writer task, no
 * queued item and no write buffer (hub messages are always queued: see
 * weft__ws_send_shared). When the socket takes only part of it (or would
 * block), the rest goes to wbuf and a
 * writer task finishes it, followed by whatever was queued meanwhile; senders
 * that came while the inline write ran found writer_running set and queued
 * behind it, so the order holds. Returns 1 (and *rc) when it took the
 * message, 0 when the caller must queue it. */
static int send_inline(weft_ws *ws, int opcode, const void *p, size_t n, int *rc) {
    q_lock(ws);
    if (ws->state != ST_OPEN || ws->fd < 0 || ws->writer_running || ws->ctl || ws->data) {
        q_unlock(ws);
        return 0;
    }
    ws->writer_running = 1;
    q_unlock(ws);

    uint8_t head[WEFT_WS_HEAD_MAX];
    struct iovec iov[2];
    int cnt = 0;
    *rc = 0;
    if (ws->role == WEFT_WS_SERVER && !ws->deflater) {
        iov[cnt++] = (struct iovec){head, weft_ws_frame_head(head, WEFT_WS_FIN, opcode, n, NULL)};
        if (n) iov[cnt++] = (struct iovec){(void *)p, n};
    } else { /* masked, compressed: framed into wbuf */
        *rc = frame_msg(ws, opcode, p, n);
        iov[cnt++] = (struct iovec){ws->wbuf.data, ws->wbuf.len};
    }
    size_t total = iov[0].iov_len + (cnt > 1 ? iov[1].iov_len : 0);
    ssize_t w = *rc ? 0 : write_now(ws->fd, iov, cnt);
    if (w >= 0 && !*rc) {
        /* what the socket did not take stays (or goes) in wbuf for the writer */
        if (ws->wbuf.len) {
            weft_buf_consume(&ws->wbuf, (size_t)w);
        } else if ((size_t)w < total) {
            for (int i = 0; i < cnt && !*rc; i++) {
                size_t skip = (size_t)w < iov[i].iov_len ? (size_t)w : iov[i].iov_len;
                w -= (ssize_t)skip;
                *rc = weft_buf_append(&ws->wbuf, (char *)iov[i].iov_base + skip,
                                      iov[i].iov_len - skip);
            }
        }
    }
    q_lock(ws);
    int ours_left = 0; /* part of our message waits for the writer in wbuf */
    if (w < 0 || *rc) {
        if (!*rc) *rc = WEFT_ECLOSED;
        ws->wbuf.len = 0;
        shut_locked(ws, WEFT_WS_ABNORMAL, w < 0 ? "write failed" : "no memory to frame");
        ws->writer_running = 0; /* nothing more will be written */
    } else if (ws->wbuf.len) {
        ws->carried = 1;
        ours_left = 1;
        spawn_writer_locked(ws);
    } else {
        ws->sent++;
        if (ws->ctl || ws->data) { /* queued while we wrote: ours is out */
            spawn_writer_locked(ws);
        } else {
            /* a small buffer stays for the next message (freed when idle:
             * by the writer's end or the keepalive tick) */
            ws->writer_running = 0;
            if (ws->wbuf.cap > WBUF_KEEP) weft_buf_free(&ws->wbuf);
        }
    }
    int spawn_rc = q_unlock(ws);
    if (ours_left && spawn_rc) *rc = spawn_rc; /* lost with the connection */
    return 1;
}

static item *new_item(int opcode, uint64_t key, const void *p, size_t n) {
    item *it = item_alloc(n);
    if (!it) return NULL;
    it->small = n <= SMALL_DATA;
    it->next = NULL;
    it->opcode = opcode;
    it->key = key;
    it->n = it->counted = n;
    it->keep = 0;
    it->shared = NULL;
    if (n) memcpy(it->data, p, n);
    return it;
}

/* Under qlock: queue a control frame (ahead of data) and kick the writer. */
static int queue_ctl_locked(weft_ws *ws, int opcode, const void *p, size_t n) {
    if (ws->state == ST_CLOSED) return WEFT_ECLOSED;
    item *it = new_item(opcode, 0, p, n);
    if (!it) return WEFT_ENOMEM;
    *ws->ctl_tail = it;
    ws->ctl_tail = &it->next;
    kick_locked(ws);
    return 0;
}

/* Under qlock: queue our close frame behind the data; nothing follows it. */
static int queue_close_locked(weft_ws *ws, int code, const char *reason) {
    if (ws->close_queued || ws->state == ST_CLOSED) return WEFT_ECLOSED;
    uint8_t pl[WEFT_WS_CONTROL_MAX];
    size_t n = weft_ws_close_payload(pl, code, reason, reason ? strlen(reason) : 0);
    item *it = new_item(WEFT_WS_CLOSE, 0, pl, n);
    if (!it) return WEFT_ENOMEM;
    it->counted = 0; /* not data: never counted in queued */
    ws->close_queued = 1;
    if (ws->state == ST_OPEN) ws->state = ST_CLOSING;
    if (!ws->close_code && code) {
        ws->close_code = code;
        snprintf(ws->close_reason, sizeof ws->close_reason, "%s", reason ? reason : "");
    }
    *ws->data_tail = it;
    ws->data_tail = &it->next;
    kick_locked(ws);
    return 0;
}

/* Queue a data item under the queue policy; takes it (freed on failure).
 * if_short: only while the connection keeps up (WEFT__WS_SEND_IF_SHORT),
 * else WEFT_EAGAIN and nothing queued. */
static int enqueue(weft_ws *ws, item *it, int if_short) {
    uint64_t key = it->key;
    size_t n = it->counted;
    item *drop = NULL, **drop_tail = &drop;
    int rc = 0, spawn_rc;
    q_lock(ws);
    if (ws->state != ST_OPEN) {
        rc = WEFT_ECLOSED;
        goto out;
    }
    if (if_short && ws->queued + n > ws->cfg.max_queue / WEFT__WS_SHORT_DIV) {
        rc = WEFT_EAGAIN; /* it lags: the caller sends the parts instead */
        goto out;
    }
    if (ws->cfg.queue_policy == WEFT_WS_QUEUE_COALESCE && key) {
        for (item **pp = &ws->data; *pp; pp = &(*pp)->next) {
            if ((*pp)->key != key || (*pp)->opcode >= 8 || (*pp)->keep) continue;
            item *old = *pp; /* replace in place: the newest value, the old position */
            it->next = old->next;
            *pp = it;
            if (ws->data_tail == &old->next) ws->data_tail = &it->next;
            ws->queued = ws->queued - old->counted + n;
            old->next = NULL;
            *drop_tail = old;
            drop_tail = &old->next;
            ws->dropped++;
            it = NULL;
            break;
        }
    }
    if (it && ws->queued + n > ws->cfg.max_queue && ws->cfg.queue_policy != WEFT_WS_QUEUE_CLOSE) {
        /* the oldest counted items go; an initial state (WEFT_WS_SEND_SYNC)
         * and the messages sent WEFT_WS_SEND_KEEP stay */
        for (item **pp = &ws->data; *pp && ws->queued + n > ws->cfg.max_queue;) {
            item *old = *pp;
            if (old->keep || old->opcode >= 8) {
                pp = &old->next;
                continue;
            }
            *pp = old->next;
            if (ws->data_tail == &old->next) ws->data_tail = pp;
            ws->queued -= old->counted;
            old->next = NULL;
            *drop_tail = old;
            drop_tail = &old->next;
            ws->dropped++;
        }
        if (ws->queued + n > ws->cfg.max_queue && !it->keep) { /* kept ones fill it: this one goes */
            ws->dropped++;
            goto out;
        }
    }
    if (it && ws->queued + n > ws->cfg.max_queue) { /* the policy, or a kept message, says close */
        rc = WEFT_ELIMIT;
        ws->dropped++;
        /* the backlog goes, the close goes out as soon as the socket takes it */
        *drop_tail = ws->data;
        ws->data = NULL;
        ws->data_tail = &ws->data;
        ws->queued = ws->held = 0;
        queue_close_locked(ws, WEFT_WS_POLICY, "send queue full");
        fail_after_close_locked(ws);
        goto out;
    }
    if (it) {
        *ws->data_tail = it;
        ws->data_tail = &it->next;
        ws->queued += n;
        if (it->keep) ws->held += it->n;
        it = NULL;
    }
    kick_locked(ws);
out:
    spawn_rc = q_unlock(ws);
    if (!rc) rc = spawn_rc; /* ours is queued, but nothing will write it */
    free_items(it);
    free_items(drop);
    return rc;
}

int weft_ws_send_keyed(weft_ws *ws, int opcode, uint64_t key, const void *p, size_t n) {
    if (opcode != WEFT_WS_TEXT && opcode != WEFT_WS_BINARY) return WEFT_EINVAL;
    if (opcode == WEFT_WS_TEXT && !weft_utf8_valid(p, n)) return WEFT_EINVAL;
    if (n > ws->cfg.max_queue) return WEFT_ELIMIT;
    int rc;
    if (send_inline(ws, opcode, p, n, &rc)) return rc;
    item *it = new_item(opcode, key, p, n);
    if (!it) return WEFT_ENOMEM;
    return enqueue(ws, it, 0);
}

/* Hub messages on the worker's ring: a server connection with nothing
 * queued and no writer hands the shared frame to weft_send_async() instead
 * of queueing an item and spawning a writer task for it, so a fan-out to
 * many idle subscribers is a run of queued SENDs that go to the kernel
 * together (one io_uring_enter per ring-full) with no task per subscriber.
 * The send in flight counts as the writer (writer_running): whatever is sent
 * meanwhile queues behind it, and its completion hands over to a writer task
 * when there is more to write or the socket did not take all of the frame
 * (MSG_DONTWAIT: the writer waits for the socket, with its deadline). On
 * by default with io_uring; off (0) the hub queues every message as before;
 * the epoll backend has no ring and turns it off at the first try. */
static _Atomic int async_send = -1; /* -1: not decided yet (WEFT_WS_ASYNC_SEND) */
static atomic_ullong async_sends, async_short; /* for tests: weft__ws_async_counts */

void weft__ws_set_async_send(int on) { atomic_store(&async_send, on ? 1 : 0); }

void weft__ws_async_counts(uint64_t *sends, uint64_t *short_sends) {
    *sends = atomic_load_explicit(&async_sends, memory_order_relaxed);
    *short_sends = atomic_load_explicit(&async_short, memory_order_relaxed);
}

static int async_send_on(void) {
    int on = atomic_load_explicit(&async_send, memory_order_relaxed);
    if (__builtin_expect(on >= 0, 1)) return on;
    const char *e = getenv("WEFT_WS_ASYNC_SEND");
    on = !(e && !strcmp(e, "0"));
    int expect = -1;
    atomic_compare_exchange_strong(&async_send, &expect, on);
    return atomic_load(&async_send);
}

static void send_done(void *arg, ssize_t res) {
    weft_ws *ws = arg;
    weft_hub_msg *m = ws->async_msg;
    weft_str f = ws->async_frame;
    ws->async_msg = NULL;
    q_lock(ws);
    if (res == (ssize_t)f.n) {
        ws->sent++;
        if (!ws->ctl && !ws->data)
            ws->writer_running = 0;
        else /* queued while it was in flight */
            spawn_writer_locked(ws);
    } else if (ws->state == ST_CLOSED || (res < 0 && res != WEFT_EAGAIN && res != -ENOTSOCK)) {
        shut_locked(ws, WEFT_WS_ABNORMAL, "write failed");
        ws->writer_running = 0; /* nothing more will be written */
    } else {
        /* the socket took part of it or nothing (full): the rest goes to
         * wbuf, and a writer task finishes it and what queued behind it */
        size_t done = res > 0 ? (size_t)res : 0;
        atomic_fetch_add_explicit(&async_short, 1, memory_order_relaxed);
        if (res == -ENOTSOCK) ws->no_async = 1; /* adopted from a pipe, say: the writer's writev */
        if (weft_buf_append(&ws->wbuf, f.p + done, f.n - done)) {
            ws->wbuf.len = 0;
            shut_locked(ws, WEFT_WS_ABNORMAL, "no memory for the rest of a write");
            ws->writer_running = 0;
        } else {
            ws->carried = 1;
            spawn_writer_locked(ws);
        }
    }
    (void)q_unlock(ws); /* no writer task: start_writer shut the connection */
    weft_hub_msg_release(m);
    unref(ws);
}

/* 1 when it took the message (sent or queued; *rc as weft_ws_send), 0 when
 * the caller must queue it. */
static int send_shared_async(weft_ws *ws, weft_hub_msg *m, uint64_t key, int flags, int *rc) {
    int sync = flags & WEFT_WS_SEND_SYNC;
    /* a plain thread has no ring: queued at once, as before, without the
     * claim and the refused weft_send_async (weft_task_id: 0 outside a task) */
    if (ws->role != WEFT_WS_SERVER || !async_send_on() || !weft_task_id()) return 0;
    q_lock(ws);
    if (ws->state != ST_OPEN || ws->fd < 0 || ws->writer_running || ws->ctl || ws->data ||
        ws->no_async) {
        q_unlock(ws);
        return 0;
    }
    ws->writer_running = 1;
    q_unlock(ws);
    /* the writer's own from here: the frame (compressed once, if it suits) */
    weft_str f = ws->shared_z_ok ? weft__hub_msg_frame_z(m) : weft__hub_msg_frame(m);
    if (!f.p) f = weft__hub_msg_frame(m); /* no memory to compress: plain */
    ws->async_msg = weft__hub_msg_ref(m);
    ws->async_frame = f;
    atomic_fetch_add_explicit(&ws->refs, 1, memory_order_relaxed); /* the send's */
    *rc = weft_send_async(ws->fd, f.p, f.n, send_done, ws);
    if (*rc == 0) {
        atomic_fetch_add_explicit(&async_sends, 1, memory_order_relaxed);
        return 1;
    }
    if (*rc == WEFT_ENOSYS) weft__ws_set_async_send(0); /* no ring (epoll): never again */
    *rc = 0;
    /* not sent: it goes first (anything queued meanwhile came after it),
     * written by a writer task as before */
    ws->async_msg = NULL;
    atomic_fetch_sub_explicit(&ws->refs, 1, memory_order_relaxed);
    item *it = new_item(weft_hub_msg_opcode(m), sync ? 0 : key, NULL, 0);
    q_lock(ws);
    if (it) {
        it->n = weft_hub_msg_data(m).n;
        it->counted = sync ? 0 : it->n; /* as send_shared would have queued it */
        it->shared = m; /* the reference taken above */
        if (flags & (WEFT_WS_SEND_SYNC | WEFT_WS_SEND_KEEP)) { /* as send_shared: never dropped */
            it->key = 0, it->keep = 1;
            ws->held += it->n;
        }
        it->next = ws->data;
        if (!ws->data) ws->data_tail = &it->next;
        ws->data = it;
        ws->queued += it->counted;
        spawn_writer_locked(ws);
    } else {
        weft_hub_msg_release(m);
        *rc = WEFT_ENOMEM; /* nothing lost but this message; what queued meanwhile goes out */
        if (!ws->ctl && !ws->data)
            ws->writer_running = 0;
        else
            spawn_writer_locked(ws);
    }
    int spawn_rc = q_unlock(ws); /* no writer task: the connection is shut */
    if (it && spawn_rc) *rc = spawn_rc;
    return 1;
}

static int send_shared(weft_ws *ws, weft_hub_msg *m, uint64_t key, int flags) {
    weft_str pl = weft_hub_msg_data(m);
    int op = weft_hub_msg_opcode(m);
    int sync = flags & WEFT_WS_SEND_SYNC;
    if ((flags & WEFT__WS_SEND_IF_SHORT) && pl.n > ws->cfg.max_queue / WEFT__WS_SHORT_DIV)
        return WEFT_EAGAIN; /* too big to keep up with, even idle: the caller's parts */
    if (!sync && pl.n > ws->cfg.max_queue) return WEFT_ELIMIT;
    int rc;
    if (send_shared_async(ws, m, key, flags, &rc)) return rc;
    item *it;
    if (ws->role == WEFT_WS_CLIENT) { /* a client masks every frame itself: a copy */
        if (!(it = new_item(op, key, pl.p, pl.n))) return WEFT_ENOMEM;
    } else {
        /* always queued, never inline: a publisher that runs ahead of the
         * writers lets each subscriber's writer take several messages in one
         * write (measured: inline, the fan-out cost several times the CPU per
         * delivery once the server fell behind) */
        if (!(it = new_item(op, key, NULL, 0))) return WEFT_ENOMEM;
        it->n = it->counted = pl.n;
        it->shared = weft__hub_msg_ref(m);
    }
    if (sync) it->counted = 0;
    if (flags & (WEFT_WS_SEND_SYNC | WEFT_WS_SEND_KEEP)) it->key = 0, it->keep = 1;
    return enqueue(ws, it, flags & WEFT__WS_SEND_IF_SHORT);
}

int weft__ws_send_shared(weft_ws *ws, weft_hub_msg *m, uint64_t key, int flags) {
    return send_shared(ws, m, key, flags);
}

int weft_ws_send_msg(weft_ws *ws, weft_hub_msg *m, int flags) {
    if (!m || (flags & ~(WEFT_WS_SEND_SYNC | WEFT_WS_SEND_KEEP))) return WEFT_EINVAL;
    return send_shared(ws, m, 0, flags);
}

int weft__ws_is_closed(weft_ws *ws) {
    q_lock(ws);
    int closed = ws->state != ST_OPEN;
    q_unlock(ws);
    return closed;
}

int weft__ws_has_writer(weft_ws *ws) {
    q_lock(ws);
    int has = ws->writer_running;
    q_unlock(ws);
    return has;
}

int weft_ws_send(weft_ws *ws, int opcode, const void *p, size_t n) {
    return weft_ws_send_keyed(ws, opcode, 0, p, n);
}

/* ---- receiving ----------------------------------------------------------------- */

/* Reacts to one receiver event; returns 1 when recv should return (a message
 * or the end), 0 to go on reading. */
static int on_event(weft_ws *ws, const weft_ws_event *ev, weft_buf *out, int *result) {
    switch (ev->type) {
    case WEFT_WS_EV_MESSAGE: {
        /* the caller's previous message buffer, when small, becomes the
         * receiver's for the next message: no malloc, free and regrowth per
         * message, and at most RECYCLE_MAX bytes kept while idle */
        weft_buf old = *out;
        weft_ws_rx_take(&ws->rx, out);
        if (old.data && old.cap <= RECYCLE_MAX && !ws->rx.msg.data) {
            old.len = 0;
            ws->rx.msg = old;
        } else {
            weft_buf_free(&old);
        }
        if (!out->data) { /* an empty message: a valid empty buffer */
            if (weft_buf_reserve(out, 1)) {
                *result = WEFT_ENOMEM;
                return 1;
            }
            out->data[0] = '\0';
        }
        *result = ev->opcode;
        return 1;
    }
    case WEFT_WS_EV_PING:
        q_lock(ws);
        if (ws->state == ST_OPEN) queue_ctl_locked(ws, WEFT_WS_PONG, ev->data.p, ev->data.n);
        q_unlock(ws);
        return 0;
    case WEFT_WS_EV_PONG:
        return 0;
    case WEFT_WS_EV_CLOSE:
        q_lock(ws);
        ws->close_received = 1;
        if (!ws->close_queued) {
            /* the peer started it: its code and reason are the status; echo the code */
            ws->close_code = ev->code;
            snprintf(ws->close_reason, sizeof ws->close_reason, "%.*s", (int)ev->data.n,
                     ev->data.p);
            int echo = ev->code == WEFT_WS_NO_STATUS ? 0 : ev->code;
            if (queue_close_locked(ws, echo, NULL)) shut_locked(ws, ev->code, NULL);
        } else if (ws->role == WEFT_WS_SERVER && ws->close_written) {
            shut_locked(ws, 0, NULL); /* ours is out already: the server closes the socket */
        }
        q_unlock(ws);
        *result = WEFT_ECLOSED;
        return 1;
    case WEFT_WS_EV_FAIL:
        q_lock(ws);
        ws->fail_after_close = 1;
        ws->close_code = 0; /* our code is the status */
        if (queue_close_locked(ws, ev->code, ev->reason)) shut_locked(ws, ev->code, ev->reason);
        q_unlock(ws);
        *result = WEFT_ECLOSED;
        return 1;
    }
    return 0;
}

/* Feeds buf[0..n) to the receiver until an event makes recv return (1) or
 * the bytes run out (0); *used = the bytes fed. */
static int feed(weft_ws *ws, const char *buf, size_t n, size_t *used, weft_buf *out, int *result) {
    size_t pos = 0;
    int done = 0;
    while (pos < n && !done) {
        weft_ws_event ev;
        size_t k;
        int t = weft_ws_rx_feed(&ws->rx, buf + pos, n - pos, &k, &ev);
        pos += k;
        if (t != WEFT_WS_EV_NONE) done = on_event(ws, &ev, out, result);
    }
    *used = pos;
    return done;
}

/* Feeds the bytes read ahead to the receiver until an event makes recv return. */
static int drain_ahead(weft_ws *ws, weft_buf *out, int *result) {
    size_t pos;
    int done = feed(ws, ws->ahead.data, ws->ahead.len, &pos, out, result);
    weft_buf_consume(&ws->ahead, pos);
    if (ws->ahead.len == 0 && ws->ahead.cap > READ_CHUNK * 2) weft_buf_free(&ws->ahead);
    return done;
}

/* Reads from the socket straight into a per-thread buffer and feeds the
 * receiver from it; only bytes left over after the event that ends this recv
 * (the next message already read) are copied into `ahead`. So a connection
 * needs no read buffer of its own, neither while waiting nor per message.
 * Nothing between the read and the copy suspends, so no other task on this
 * thread touches the buffer meanwhile. Returns the read's result (> 0 bytes,
 * 0 end of file, < 0 an error) and sets *done as drain_ahead does. */
static ssize_t read_and_feed(weft_ws *ws, weft_buf *out, int *result, int *done) {
    static _Thread_local char scratch[READ_CHUNK];
    ssize_t r = weft_read(ws->fd, scratch, sizeof scratch, 0);
    if (r <= 0) return r;
    size_t used;
    *done = feed(ws, scratch, (size_t)r, &used, out, result);
    if (used < (size_t)r && weft_buf_append(&ws->ahead, scratch + used, (size_t)r - used)) {
        *result = WEFT_ENOMEM;
        *done = 1;
    }
    return r;
}

static int64_t min3(int64_t a, int64_t b, int64_t c) {
    int64_t m = a;
    if (b >= 0 && (m < 0 || b < m)) m = b;
    if (c >= 0 && (m < 0 || c < m)) m = c;
    return m;
}

/* weft_ws_recv with rlock held. */
static int recv_locked(weft_ws *ws, weft_buf *out, int64_t deadline) {
    int result = 0;
    if (ws->next_ping == 0 && ws->cfg.ping_interval_ms > 0)
        ws->next_ping = weft_now() + ws->cfg.ping_interval_ms;
    for (;;) {
        if (drain_ahead(ws, out, &result)) break;
        q_lock(ws);
        int closed = ws->state == ST_CLOSED || ws->close_received || ws->rx.failed;
        q_unlock(ws);
        if (closed) {
            result = WEFT_ECLOSED;
            break;
        }
        int64_t idle_at =
            ws->cfg.idle_timeout_ms > 0
                ? atomic_load_explicit(&ws->last_rx, memory_order_relaxed) + ws->cfg.idle_timeout_ms
                : -1;
        int64_t ping_at = ws->cfg.ping_interval_ms > 0 ? ws->next_ping : -1;
        int64_t wait_until = min3(deadline, idle_at, ping_at);
        /* no read buffer while waiting: an idle connection that just read
         * a pong (or half a frame, now inside the receiver) holds none */
        if (ws->ahead.len == 0 && ws->ahead.cap) weft_buf_free(&ws->ahead);
        /* a false wake-up only costs a read that finds nothing */
        int w = weft_fd_wait_hint(ws->fd, WEFT_POLLIN, wait_until);
        if (w == WEFT_ETIMEDOUT || w == WEFT_EAGAIN) {
            int64_t now = weft_now();
            if (deadline >= 0 && now >= deadline) {
                result = w;
                break;
            }
            if (idle_at >= 0 && now >= idle_at) {
                q_lock(ws);
                ws->fail_after_close = 1;
                if (queue_close_locked(ws, WEFT_WS_GOING_AWAY, "idle timeout"))
                    shut_locked(ws, WEFT_WS_GOING_AWAY, "idle timeout");
                q_unlock(ws);
                result = WEFT_ECLOSED;
                break;
            }
            if (ping_at >= 0 && now >= ping_at) {
                q_lock(ws);
                if (ws->state == ST_OPEN) queue_ctl_locked(ws, WEFT_WS_PING, "", 0);
                /* idle for a while: an inline send's kept buffer goes */
                if (!ws->writer_running && ws->wbuf.cap) weft_buf_free(&ws->wbuf);
                q_unlock(ws);
                ws->next_ping = now + ws->cfg.ping_interval_ms;
            }
            continue;
        }
        if (w < 0 && w != WEFT_EBADF) {
            result = w; /* cancelled, ... */
            break;
        }
        int done = 0;
        ssize_t r = read_and_feed(ws, out, &result, &done);
        if (r == WEFT_EAGAIN) continue; /* a wake-up with nothing to read: wait again */
        if (r <= 0) {
            shut(ws, WEFT_WS_ABNORMAL, "connection lost");
            result = WEFT_ECLOSED;
            break;
        }
        atomic_store_explicit(&ws->last_rx, weft_now(), memory_order_relaxed);
        if (done) break;
    }
    if (ws->ahead.len == 0 && ws->ahead.cap) weft_buf_free(&ws->ahead);
    return result;
}

int weft_ws_recv(weft_ws *ws, weft_buf *out, int64_t deadline) {
    int rc = weft_mutex_lock(&ws->rlock, deadline);
    if (rc) return rc;
    rc = recv_locked(ws, out, deadline);
    weft_mutex_unlock(&ws->rlock);
    return rc;
}

/* ---- closing -------------------------------------------------------------------- */

int weft_ws_close(weft_ws *ws, int code, const char *reason) {
    if (code && !weft_ws_close_code_valid(code)) return WEFT_EINVAL;
    int64_t deadline = weft_deadline_in(ws->cfg.close_timeout_ms);
    q_lock(ws);
    int rc = queue_close_locked(ws, code, reason);
    int already = ws->state == ST_CLOSED;
    q_unlock(ws);
    if (already) return WEFT_ECLOSED;
    if (rc && rc != WEFT_ECLOSED) {
        shut(ws, WEFT_WS_ABNORMAL, "could not queue the close frame");
        return rc;
    }
    /* read until the peer's close (or let the task that reads do it) */
    if (weft_mutex_lock(&ws->rlock, deadline) == 0) {
        weft_buf junk;
        weft_buf_init(&junk, 0);
        int r;
        do r = recv_locked(ws, &junk, deadline);
        while (r > 0);
        weft_buf_free(&junk);
        weft_mutex_unlock(&ws->rlock);
    }
    int ok = 0;
    q_lock(ws);
    ok = ws->close_received;
    q_unlock(ws);
    if (ok && ws->role == WEFT_WS_CLIENT) {
        /* the server closes the TCP connection first (RFC 6455 §7.1.1) */
        char b[256];
        while (weft_read(ws->fd, b, sizeof b, deadline) > 0) {}
    }
    if (ok && ws->role == WEFT_WS_SERVER) /* our close may still be in the writer */
        weft_sem_acquire(&ws->done, deadline);
    shut(ws, WEFT_WS_ABNORMAL, NULL);
    return ok ? 0 : WEFT_ETIMEDOUT;
}

int weft_ws_close_status(weft_ws *ws, const char **reason) {
    q_lock(ws);
    int code = ws->state == ST_OPEN ? 0 : ws->close_code ? ws->close_code : WEFT_WS_ABNORMAL;
    if (reason) *reason = ws->close_reason;
    q_unlock(ws);
    return code;
}

void weft_ws_get_stats(weft_ws *ws, weft_ws_stats *out) {
    q_lock(ws);
    out->queued = ws->queued;
    out->held = ws->held;
    out->sent = ws->sent;
    out->dropped = ws->dropped;
    q_unlock(ws);
}

const char *weft_ws_subprotocol(const weft_ws *ws) { return ws->subprotocol; }

void weft_ws_free(weft_ws *ws) {
    if (!ws) return;
    q_lock(ws);
    if (ws->state != ST_CLOSED) {
        if (ws->close_queued && !ws->close_written && ws->writer_running) {
            /* a close frame (an echo, a failure's code) is on its way: the
             * writer shuts the socket after it, within close_timeout_ms */
            fail_after_close_locked(ws);
        } else {
            shut_locked(ws, WEFT_WS_ABNORMAL, "dropped");
        }
    }
    q_unlock(ws);
    unref(ws);
}

/* ---- the client's dial ------------------------------------------------------------ */

typedef struct resolve_job {
    char host[256];
    char addr[64]; /* numeric result */
    int rc;
} resolve_job;

static void resolve(void *arg) {
    resolve_job *j = arg;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    if (getaddrinfo(j->host, NULL, &hints, &res) != 0 || !res) {
        j->rc = WEFT_ENOENT;
        return;
    }
    j->rc = getnameinfo(res->ai_addr, res->ai_addrlen, j->addr, sizeof j->addr, NULL, 0,
                        NI_NUMERICHOST) == 0
                ? 0
                : WEFT_ENOENT;
    freeaddrinfo(res);
}

static weft_ws *dial_fail(int fd, weft_buf *b, int *err, int rc) {
    if (fd >= 0) weft_close(fd);
    weft_buf_free(b);
    if (err) *err = rc;
    return NULL;
}

weft_ws *weft_ws_dial(const char *url, const weft_ws_client_opts *opts, const weft_ws_config *cfg,
                      int64_t deadline, int *err, const char **reason) {
    const char *why_unused;
    if (!reason) reason = &why_unused;
    *reason = NULL;
    weft_buf b;
    weft_buf_init(&b, 0);
    weft_ws_url u;
    int rc = weft_ws_url_parse(url, strlen(url), &u);
    if (rc) return dial_fail(-1, &b, err, rc);
    resolve_job j = {.rc = 0};
    if (u.host.n >= sizeof j.host) return dial_fail(-1, &b, err, WEFT_EINVAL);
    memcpy(j.host, u.host.p, u.host.n);
    struct in6_addr probe;
    if (inet_pton(AF_INET, j.host, &probe) == 1 || inet_pton(AF_INET6, j.host, &probe) == 1) {
        memcpy(j.addr, j.host, u.host.n + 1);
    } else {
        rc = weft_blocking(resolve, &j, deadline);
        if (rc == 0) rc = j.rc;
        if (rc) return dial_fail(-1, &b, err, rc);
    }
    int fd = weft_tcp_connect(j.addr, u.port, deadline);
    if (fd < 0) return dial_fail(-1, &b, err, fd);
    char key[25], host[300], target[4096];
    if (u.target.n + 1 >= sizeof target) return dial_fail(fd, &b, err, WEFT_EINVAL);
    snprintf(host, sizeof host, "%.*s", (int)u.authority.n, u.authority.p);
    snprintf(target, sizeof target, "%s%.*s", u.target.p[0] == '?' ? "/" : "", (int)u.target.n,
             u.target.p);
    weft_ws_client_key(key);
    if (weft_ws_client_request(&b, host, target, key, opts))
        return dial_fail(fd, &b, err, WEFT_ENOMEM);
    struct iovec req = {b.data, b.len};
    int w = write_iov_all(fd, &req, 1, deadline); /* MSG_NOSIGNAL: no SIGPIPE in a client */
    if (w < 0) return dial_fail(fd, &b, err, w);
    b.len = 0;
    weft_ws_handshake hs;
    for (;;) {
        if (weft_buf_reserve(&b, 4096)) return dial_fail(fd, &b, err, WEFT_ENOMEM);
        ssize_t r = weft_read(fd, b.data + b.len, 4096, deadline);
        if (r < 0) return dial_fail(fd, &b, err, (int)r);
        if (r == 0) {
            *reason = "the server closed the connection during the handshake";
            return dial_fail(fd, &b, err, WEFT_EPARSE);
        }
        b.len += (size_t)r;
        rc = weft_ws_client_response(b.data, b.len, key, opts, &hs, reason);
        if (rc == WEFT_EAGAIN) continue;
        if (rc < 0) return dial_fail(fd, &b, err, rc);
        break;
    }
    weft_ws *ws = weft_ws_adopt(fd, WEFT_WS_CLIENT, b.data + rc, b.len - (size_t)rc,
                                hs.deflate ? &hs.params : NULL, cfg, err);
    weft_buf_free(&b);
    if (ws && hs.subprotocol.n)
        snprintf(ws->subprotocol, sizeof ws->subprotocol, "%.*s", (int)hs.subprotocol.n,
                 hs.subprotocol.p);
    return ws;
}
