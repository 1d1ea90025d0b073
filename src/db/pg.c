/*
 * pg.c — PostgreSQL on the scheduler: libpq in non-blocking pipeline mode.
 *
 * Shape:
 *  - A weft_pg holds, per worker thread, conns_per_worker shared connections,
 *    plus a pool of transaction connections handed out one transaction at a
 *    time. Every connection has one task (conn_main) that connects, reads,
 *    and reconnects with back-off when the connection dies.
 *  - A query is sent by the calling task itself, under the connection's
 *    mutex: Prepare (first use of this SQL on this connection), Bind/Execute
 *    (PQsendQueryPrepared) and a Sync, flushed at once. The request joins the
 *    connection's in-flight FIFO and the task parks on its semaphore. Queries
 *    from many tasks therefore go out back to back without waiting for each
 *    other's answers: one connection carries many statements per round trip.
 *  - conn_main waits for the socket to be readable, takes the mutex, consumes
 *    what arrived and hands each result to the head of the FIFO. A Sync per
 *    statement keeps statements independent: an error aborts only its own.
 *  - Deadlines: a caller whose deadline passes leaves its request behind
 *    (heap-allocated for that reason; the reader frees it when its results
 *    come) and, when the statement is the one the server is running, asks
 *    the server to cancel it (PQcancel on the blocking pool).
 *  - A cancel says "stop what the backend runs now", not which statement:
 *    one that arrives after the abandoned statement ended stops the next
 *    one, whose caller did not give up. The cancel task looks again just
 *    before sending (the abandoned statement must still be at the head),
 *    which narrows the window but cannot close it (the packet travels while
 *    the statement may end); so a lone statement on a shared connection
 *    that gets 57014 while a cancel of this connection is in flight (or
 *    just landed) was hit by a stray cancel and is sent again once that
 *    cancel is done (run(), cancels_settle()). Statements of a batch, a
 *    pipeline or a transaction are not resent: the ones around them may
 *    already have run. So a transaction connection goes back to the pool
 *    only after its cancels are done (tx_release): a stale one must not
 *    meet the next owner's transaction.
 *  - When the connection dies, every request in flight fails with
 *    WEFT_ECONNRESET, new calls on that connection get WEFT_ENOTCONN until
 *    conn_main has reconnected (50 ms doubling to 2 s between attempts).
 *
 * Parameters go as text with the server inferring their types (so "$1" works
 * against int4, int8, numeric... columns alike), blobs as binary bytea.
 * Results come as text and are copied into weft_db_rows (rows.c), typed by
 * column OID, and the PGresult is cleared at once.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "db_int.h"
#include "libpq.h"
#include "weft/impl.h"
#include "weft/log.h"
#include "weft/rt.h"

/* libpq, through the shim that loads it on first use (libpq.h): every call is
 * pq->PQxxx(...) */
static const weft__libpq *const pq = &weft__pq;

/* type OIDs (server/catalog/pg_type.h; stable since forever) */
enum { OID_BOOL = 16, OID_BYTEA = 17, OID_INT8 = 20, OID_INT2 = 21, OID_INT4 = 23,
       OID_OID = 26, OID_FLOAT4 = 700, OID_FLOAT8 = 701 };

#define STMT_MAX 256 /* prepared statements per connection; later SQL runs unnamed */
#define NARGS_MAX 1024

typedef struct pg_req pg_req;
typedef struct pg_conn pg_conn;

struct pg_req {
    pg_req *next;
    weft_sem done;
    int want_rows;
    int abandoned; /* the caller gave up; the reader frees it */
    int finished;
    int has_sync;       /* a Sync follows it (the last of a batch, or alone) */
    int cmds_left;      /* without a Sync: commands whose results are still due */
    int prepares;       /* this request carries the statement's Prepare */
    int prep_done;      /* ... and its result has come */
    int failed_prepare; /* the Prepare failed: send it again next time */
    int stmt;           /* index in conn->stmts, or -1 */
    int stray_cancel;   /* 57014 while not abandoned, with a cancel about: not ours */
    uint64_t seq;       /* the connection's number for it (the cancel's target) */
    int rc;
    int64_t affected;
    weft_db_rows *rows;
    weft_db_err err;
    int64_t limit;
};

typedef struct {
    char *sql;
    const char *last_ptr; /* the caller's pointer it was last looked up by */
    uint64_t hash;
    int sent;  /* a Prepare went out (and has not failed) */
    int ready; /* ... and the server said it succeeded */
    char name[12];
} pg_stmt;

enum { C_DOWN, C_UP, C_CLOSING };

struct pg_conn {
    weft_pg *db;
    int idx;
    int is_tx;
    weft_mutex mu;             /* taken and let go by mu_lock()/mu_unlock() only */
    _Atomic uint64_t mu_owner; /* the task holding mu, with MU_OWNER (below); else 0 */
    PGconn *pg;
    PGcancel *cancel;
    int fd;
    _Atomic int state;
    _Atomic int inflight;
    pg_req *head, *tail;
    pg_stmt stmts[STMT_MAX];
    int nstmts;
    char last_error[200]; /* why it is down; under mu */
    char conn_error[200];  /* conn_main's scratch while connecting */
    int tcp;                 /* TCP (not a unix socket): corking works */
    _Atomic int corked;      /* TCP_CORK set; the flusher task will lift it */
    int flush_pending;       /* statements left in libpq's buffer for the flusher; under mu */
    weft_sem flush;          /* wakes the flusher */
    weft_sem up;             /* released after each connect attempt ... */
    _Atomic int signal_up;   /* ... when someone waits for that */
    pg_conn *next_free;
    int64_t cancel_ms; /* when a cancel was last fired (weft_now); under mu */
    uint64_t seq;          /* requests queued so far; under mu */
    int cancels_pending;   /* cancel tasks not yet ended; under mu */
    int64_t cancel_end_ms; /* when the last one ended (weft_now); under mu */
    int parked;            /* a transaction connection released while cancels_pending: the
                            * last cancel task puts it back in the pool (tx_release); under mu */
};

struct weft_pg {
    weft_pg_config cfg;
    char *conninfo;
    int nworkers;
    pg_conn *conns; /* nworkers * conns_per_worker shared connections */
    int nconns;
    pg_conn *txconns; /* tx_max transaction connections, opened lazily */
    int tx_max;
    weft_mutex txmu;
    pg_conn *txfree;
    int tx_opened;
    weft_sem txsem; /* free transaction connections */
    weft_group tasks;
    _Atomic uint32_t rr;
    _Atomic int closing;
    struct {
        _Atomic int64_t connections, connects, connect_fails, queries, conn_errors, timeouts,
            max_batch, coalesced;
    } st;
};

struct weft_pg_tx {
    weft_pg *db;
    pg_conn *c;
};

/* ---- helpers ---------------------------------------------------------------- */

static uint64_t hash_sql(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static void stat_max(_Atomic int64_t *m, int64_t v) {
    int64_t cur = atomic_load_explicit(m, memory_order_relaxed);
    while (v > cur && !atomic_compare_exchange_weak(m, &cur, v)) {}
}

/* Take one of the pool's own locks. weft_mutex_lock returns WEFT_ECANCELED
 * without the lock to a cancelled task, but the pool's state has to stay
 * consistent whoever is cancelled (an asker giving up on its statement, the
 * reader torn down by weft_pg_close): these short sections run masked. */
static void lock_mu(weft_mutex *m) {
    int prev = weft_nocancel_begin();
    weft_mutex_lock(m, -1);
    weft_nocancel_end(prev);
}

/* A connection's mu, and "mu held" checked. A weft_mutex keeps no owner,
 * so c->mu is only taken and let go through mu_lock(), mu_lock_until() and
 * mu_unlock(): with MU_OWNER they record which task holds it, and MU_HELD(c)
 * at the top of each function that relies on the lock asserts that its
 * caller is that task (letting go of a mu the caller does not hold fails
 * too). As for the runtime's spinlock owners (src/rt/rt_int.h,
 * WEFT__LOCK_OWNER): only in the ASan and TSan builds every test runs
 * under and with -DWEFT_DEBUG, NDEBUG off; the plain -O2 build, the one
 * benchmarked, calls no weft_task_id() per lock. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__) || defined(WEFT_DEBUG)
#define MU_CHECKED_BUILD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define MU_CHECKED_BUILD 1
#endif
#endif
#if defined(MU_CHECKED_BUILD) && !defined(NDEBUG)
#define MU_OWNER 1
#endif

#ifdef MU_OWNER
/* Relaxed atomics: the owner is read by the task that should hold mu, and
 * when it does not (the bug this catches), TSan must not stop the process
 * on the read before the assertion names the bug. */
static int mu_held_by_caller(pg_conn *c) {
    uint64_t owner = atomic_load_explicit(&c->mu_owner, memory_order_relaxed);
    return owner != 0 && owner == weft_task_id();
}
#define MU_HELD(c) WEFT_ASSERT(mu_held_by_caller(c))
static void mu_took(pg_conn *c) {
    atomic_store_explicit(&c->mu_owner, weft_task_id(), memory_order_relaxed);
}
static void mu_left(pg_conn *c) {
    MU_HELD(c);
    atomic_store_explicit(&c->mu_owner, 0, memory_order_relaxed);
}
#else
#define MU_HELD(c) ((void)(c))
static inline void mu_took(pg_conn *c) { (void)c; }
static inline void mu_left(pg_conn *c) { (void)c; }
#endif

static void mu_lock(pg_conn *c) {
    lock_mu(&c->mu);
    mu_took(c);
}
/* weft_mutex_lock on c->mu: 0 when held, else its error (the lock is not held). */
static int mu_lock_until(pg_conn *c, int64_t deadline) {
    int rc = weft_mutex_lock(&c->mu, deadline);
    if (rc == 0) mu_took(c);
    return rc;
}
static void mu_unlock(pg_conn *c) {
    mu_left(c);
    weft_mutex_unlock(&c->mu);
}

/* "what: libpq's message" into buf (200 bytes). */
static void conn_err(pg_conn *c, char *buf, const char *what) {
    const char *m = c->pg ? pq->PQerrorMessage(c->pg) : "";
    snprintf(buf, 200, "%s%s%s", what, *m ? ": " : "", m);
    size_t n = strlen(buf);
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == ' ')) buf[--n] = 0;
    for (char *p = buf; *p; p++) /* libpq's messages span lines: keep logs one line */
        if (*p == '\n' || *p == '\t') *p = ' ';
}

/* NOTICE/WARNING from the server: to the log at debug level, not stderr. */
static void on_notice(void *arg, const char *msg) {
    (void)arg;
    weft_log_debug("postgres: %s", msg);
}

/* The error of a call that found c down. */
static int down_err(pg_conn *c, weft_db_err *err, int code) {
    mu_lock(c);
    weft__db_err_set(err, code, NULL, "database unavailable: %s",
                     c->last_error[0] ? c->last_error : "not connected yet");
    mu_unlock(c);
    return code;
}

/* ---- results ------------------------------------------------------------------ */

static int convert(PGresult *res, int64_t limit, weft_db_rows **out) {
    int nf = pq->PQnfields(res), nt = pq->PQntuples(res);
    /* the size is known: one allocation (unless over the limit, where the
     * builder stops at the right place) */
    size_t data = 0, cells = (size_t)nf * (size_t)nt;
    for (int c = 0; c < nf; c++) data += strlen(pq->PQfname(res, c)) + 1;
    for (int i = 0; i < nt; i++)
        for (int c = 0; c < nf; c++) data += (size_t)pq->PQgetlength(res, i, c) + 1;
    weft_db_rows *r =
        (int64_t)(data + cells * sizeof(weft__db_cell)) <= limit
            ? weft__rows_new_sized(nf, cells, data, limit)
            : weft__rows_new(nf, limit);
    if (!r) return WEFT_ENOMEM;
    int rc = 0;
    for (int c = 0; c < nf && !rc; c++) {
        const char *n = pq->PQfname(res, c);
        rc = weft__rows_set_name(r, c, n, strlen(n));
    }
    for (int i = 0; i < nt && !rc; i++) {
        for (int c = 0; c < nf && !rc; c++) {
            if (pq->PQgetisnull(res, i, c)) {
                rc = weft__rows_cell(r, WEFT_DB_TNULL, NULL, 0, 0, 0);
                continue;
            }
            const char *v = pq->PQgetvalue(res, i, c);
            size_t len = (size_t)pq->PQgetlength(res, i, c);
            switch (pq->PQftype(res, c)) {
            case OID_INT2:
            case OID_INT4:
            case OID_INT8:
            case OID_OID: {
                int64_t x;
                /* the server's text of an integer type always parses; if it
                 * ever did not, the cell keeps the text rather than a guess */
                if (weft_str_to_i64((weft_str){v, len}, &x) == 0)
                    rc = weft__rows_cell(r, WEFT_DB_TINT, NULL, 0, x, 0);
                else
                    rc = weft__rows_cell(r, WEFT_DB_TTEXT, v, len, 0, 0);
                break;
            }
            case OID_FLOAT4:
            case OID_FLOAT8:
                rc = weft__rows_cell(r, WEFT_DB_TDOUBLE, NULL, 0, 0, strtod(v, NULL));
                break;
            case OID_BOOL: rc = weft__rows_cell(r, WEFT_DB_TBOOL, NULL, 0, *v == 't', 0); break;
            case OID_BYTEA: {
                size_t bn = 0;
                unsigned char *b = pq->PQunescapeBytea((const unsigned char *)v, &bn);
                if (!b) {
                    rc = WEFT_ENOMEM;
                    break;
                }
                rc = weft__rows_cell(r, WEFT_DB_TBLOB, b, bn, 0, 0);
                pq->PQfreemem(b);
                break;
            }
            default: rc = weft__rows_cell(r, WEFT_DB_TTEXT, v, len, 0, 0); break;
            }
        }
    }
    if (rc) {
        weft_db_rows_free(r);
        return rc;
    }
    const char *aff = pq->PQcmdTuples(res);
    r->affected = aff && *aff ? strtoll(aff, NULL, 10) : 0;
    *out = r;
    return 0;
}

static void req_free(pg_req *q) {
    weft_db_rows_free(q->rows);
    free(q);
}

/* The request at the head of the FIFO got one result. */
static void on_result(pg_req *q, PGresult *res) {
    switch (pq->PQresultStatus(res)) {
    case PGRES_TUPLES_OK:
    case PGRES_COMMAND_OK: {
        if (q->rc) break; /* after an earlier failure in this request */
        const char *aff = pq->PQcmdTuples(res);
        if (aff && *aff) q->affected = strtoll(aff, NULL, 10);
        if (q->want_rows && !q->abandoned && pq->PQresultStatus(res) == PGRES_TUPLES_OK) {
            weft_db_rows_free(q->rows);
            q->rows = NULL;
            int rc = convert(res, q->limit, &q->rows);
            if (rc) {
                q->rc = rc;
                weft__db_err_set(&q->err, rc, NULL, "%s",
                                 rc == WEFT_ELIMIT ? "result larger than max_result_bytes"
                                                   : "out of memory converting the result");
            }
        } else if (q->want_rows && !q->abandoned && !q->rows) {
            /* a statement without rows: an empty result still carries the count */
            q->rows = weft__rows_new(0, 0);
            if (q->rows) q->rows->affected = q->affected;
        }
        break;
    }
    case PGRES_PIPELINE_ABORTED:
        if (!q->rc) {
            q->rc = WEFT_EDB;
            weft__db_err_set(&q->err, WEFT_EDB, NULL, "statement not run: the pipeline was aborted");
        }
        break;
    default: { /* FATAL_ERROR, BAD_RESPONSE, NONFATAL... */
        if (q->rc) break;
        const char *st = pq->PQresultErrorField(res, PG_DIAG_SQLSTATE);
        const char *msg = pq->PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
        if (!msg) msg = pq->PQresultErrorMessage(res);
        if (st && !strcmp(st, "57014")) { /* query_canceled: our deadline */
            q->rc = WEFT_ETIMEDOUT;
            weft__db_err_set(&q->err, WEFT_ETIMEDOUT, st, "deadline passed; cancelled on the server");
        } else if (st && (!strncmp(st, "08", 2) || !strncmp(st, "57P0", 4))) {
            /* connection exception, or the server shutting down / restarting:
             * a connection failure, not something wrong with the statement */
            q->rc = WEFT_ECONNRESET;
            weft__db_err_set(&q->err, WEFT_ECONNRESET, st, "%s", msg && *msg ? msg : "connection lost");
        } else {
            q->rc = WEFT_EDB;
            weft__db_err_set(&q->err, WEFT_EDB, st, "%s", msg && *msg ? msg : "server error");
        }
        break;
    }
    }
}

/* c is up and c->pg may be used (mu held). The state is read first: while
 * c is down its reader task reconnects and writes c->pg without the lock. */
static int is_up(pg_conn *c) {
    MU_HELD(c);
    return atomic_load(&c->state) == C_UP && c->pg;
}

static void fire_cancel(pg_conn *c);
/* An abandoned statement still running this long after its cancel is asked again (ms). */
#define CANCEL_RETRY_MS 250
/* A 57014 this long after the connection's last cancel was delivered may still
 * be that cancel's (ms): the backend acts on it at its next interrupt check. */
#define CANCEL_LINGER_MS 1000
/* How many times a statement stopped by a stray cancel is sent again. */
#define STRAY_RESENDS 3

/* Whether q's 57014 came from a cancel meant for another request. Ours are
 * only ever fired for abandoned requests, so one that reaches a request
 * whose caller still waits is stray when a cancel was about. mu held. */
static int stray_cancel(pg_conn *c, pg_req *q) {
    MU_HELD(c);
    if (q->abandoned || q->rc != WEFT_ETIMEDOUT || strcmp(q->err.sqlstate, "57014") != 0) return 0;
    return c->cancels_pending > 0 ||
           (c->cancel_end_ms && weft_now() - c->cancel_end_ms < CANCEL_LINGER_MS);
}

/* Pop the head request: its Sync arrived (or the connection died). */
static void finish_head(pg_conn *c) {
    pg_req *q = c->head;
    c->head = q->next;
    if (!c->head) c->tail = NULL;
    atomic_fetch_sub_explicit(&c->inflight, 1, memory_order_relaxed);
    if (q->failed_prepare && q->stmt >= 0 && q->stmt < c->nstmts) c->stmts[q->stmt].sent = 0;
    if (q->abandoned) {
        req_free(q);
    } else {
        q->stray_cancel = stray_cancel(c, q);
        q->finished = 1;
        weft_sem_release(&q->done, 1);
    }
    /* the statement now running was given up on: ask the server to stop it */
    if (c->head && c->head->abandoned) fire_cancel(c);
}

/* Fail everything in flight (the connection died). Caller holds mu. */
static void fail_all(pg_conn *c, int code, const char *why) {
    MU_HELD(c);
    while (c->head) {
        pg_req *q = c->head;
        if (!q->rc) {
            q->rc = code;
            weft__db_err_set(&q->err, code, NULL, "%s", why);
        }
        q->failed_prepare = 0;
        if (!q->abandoned) atomic_fetch_add(&c->db->st.conn_errors, 1);
        finish_head(c);
    }
}

/* Drain every complete result. Caller holds mu. 0 or a negative code when
 * the connection is broken. */
static int drain(pg_conn *c) {
    MU_HELD(c);
    if (!pq->PQconsumeInput(c->pg)) return WEFT_ECONNRESET;
    int nulls = 0;
    while (c->head && !pq->PQisBusy(c->pg)) {
        PGresult *res = pq->PQgetResult(c->pg);
        if (!res) {
            /* end of one command's results. A statement inside a batch has no
             * Sync of its own: it is done when its commands are. Two NULLs
             * in a row = nothing more queued. */
            pg_req *h = c->head;
            if (!h->has_sync && --h->cmds_left <= 0) {
                finish_head(c);
                nulls = 0;
                continue;
            }
            if (++nulls > 2) break;
            continue;
        }
        nulls = 0;
        if (pq->PQresultStatus(res) == PGRES_PIPELINE_SYNC) {
            pq->PQclear(res);
            finish_head(c);
            continue;
        }
        pg_req *q = c->head;
        if (q->prepares && !q->prep_done) { /* the Prepare's result comes first */
            q->prep_done = 1;
            if (pq->PQresultStatus(res) == PGRES_COMMAND_OK) {
                if (q->stmt >= 0 && q->stmt < c->nstmts) c->stmts[q->stmt].ready = 1;
                pq->PQclear(res);
                continue;
            }
            q->failed_prepare = 1;
        }
        on_result(q, res);
        pq->PQclear(res);
    }
    if (pq->PQstatus(c->pg) == CONNECTION_BAD) return WEFT_ECONNRESET;
    return 0;
}

/* ---- cancel ------------------------------------------------------------------- */

_Atomic int weft__pg_cancel_delay_ms;

static void tx_pool_put(pg_conn *c);

typedef struct {
    pg_conn *c; /* valid while the task runs: it is one of the pool's tasks */
    uint64_t target; /* the seq of the abandoned request it is for */
    PGcancel *cancel;
} cancel_job;

static void cancel_blocking(void *arg) {
    cancel_job *j = arg;
    char buf[256];
    pq->PQcancel(j->cancel, buf, sizeof buf);
}

static void cancel_task(void *arg) {
    cancel_job *j = arg;
    pg_conn *c = j->c;
    /* the target may have ended while this task waited for a worker: then
     * the cancel could only stop a statement someone still waits for */
    mu_lock(c);
    int still = c->head && c->head->seq == j->target && c->head->abandoned;
    mu_unlock(c);
    int delay = atomic_load_explicit(&weft__pg_cancel_delay_ms, memory_order_relaxed);
    if (still && delay > 0) weft_sleep(delay); /* tests: the packet's time in transit */
    if (still) weft_blocking(cancel_blocking, j, weft_deadline_in(5000));
    pq->PQfreeCancel(j->cancel);
    mu_lock(c);
    c->cancels_pending--;
    c->cancel_end_ms = weft_now();
    int put = c->parked && c->cancels_pending == 0;
    if (put) c->parked = 0;
    mu_unlock(c);
    if (put) tx_pool_put(c);
    free(j);
}

/* Ask the server to cancel what it runs now, for the abandoned request at
 * the head. Caller holds mu. */
static void fire_cancel(pg_conn *c) {
    MU_HELD(c);
    if (!is_up(c) || !c->head) return;
    c->cancel_ms = weft_now();
    cancel_job *j = malloc(sizeof *j);
    if (!j) return;
    j->c = c;
    j->target = c->head->seq;
    j->cancel = pq->PQgetCancel(c->pg); /* a copy per cancel: the connection may be gone by then */
    /* in the pool's group: weft_pg_close() waits for it before freeing c */
    if (!j->cancel || weft_group_go(&c->db->tasks, cancel_task, j, "pg-cancel")) {
        if (j->cancel) pq->PQfreeCancel(j->cancel);
        free(j);
        return;
    }
    c->cancels_pending++;
}

/* ---- connecting ----------------------------------------------------------------- */

static int connect_once(pg_conn *c, int64_t deadline) {
    weft_pg *db = c->db;
    PGconn *pg = pq->PQconnectStart(db->conninfo);
    if (!pg) {
        snprintf(c->conn_error, sizeof c->conn_error, "out of memory");
        return WEFT_ENOMEM;
    }
    c->pg = pg;
    if (pq->PQstatus(pg) == CONNECTION_BAD) {
        conn_err(c, c->conn_error, "connect");
        goto fail;
    }
    PostgresPollingStatusType ps = PGRES_POLLING_WRITING;
    int last_fd = -1;
    for (;;) {
        if (ps == PGRES_POLLING_OK) break;
        if (ps == PGRES_POLLING_FAILED) {
            conn_err(c, c->conn_error, "connect");
            goto fail;
        }
        int fd = pq->PQsocket(pg);
        if (fd != last_fd && last_fd >= 0) weft_fd_forget(last_fd); /* libpq moved on */
        last_fd = fd;
        int rc = weft_fd_wait(fd, ps == PGRES_POLLING_READING ? WEFT_POLLIN : WEFT_POLLOUT,
                              deadline);
        if (rc < 0) {
            snprintf(c->conn_error, sizeof c->conn_error, "connect: %s", weft_strerror(rc));
            weft_fd_forget(fd);
            pq->PQfinish(pg);
            c->pg = NULL;
            return rc == WEFT_ETIMEDOUT ? WEFT_ETIMEDOUT : rc;
        }
        ps = pq->PQconnectPoll(pg);
    }
    if (pq->PQsetnonblocking(pg, 1) || !pq->PQenterPipelineMode(pg)) {
        conn_err(c, c->conn_error, "pipeline mode");
        goto fail;
    }
    pq->PQsetNoticeProcessor(pg, on_notice, NULL);
    /* The reader waits on a descriptor of its own: libpq closes its socket
     * by itself when a send finds the connection dead, inside an asker's
     * call, while the reader may be arming a wait on it (and the number may
     * already belong to a new socket). The duplicate is closed only by the
     * reader, after everyone has left the connection. */
    c->fd = fcntl(pq->PQsocket(pg), F_DUPFD_CLOEXEC, 0);
    if (c->fd < 0) {
        snprintf(c->conn_error, sizeof c->conn_error, "connect: %s",
                 weft_strerror(-errno));
        goto fail;
    }
    weft_fd_nonblock(c->fd);
    int off = 0;
    c->tcp = setsockopt(c->fd, IPPROTO_TCP, TCP_CORK, &off, sizeof off) == 0;
    atomic_store(&c->corked, 0);
    c->cancel = NULL;
    c->nstmts = 0; /* prepared statements live in the server session */
    for (int i = 0; i < STMT_MAX; i++) {
        free(c->stmts[i].sql);
        c->stmts[i].sql = NULL;
    }
    return 0;
fail:
    weft_fd_forget(pq->PQsocket(pg));
    pq->PQfinish(pg);
    c->pg = NULL;
    return WEFT_ENOTCONN;
}

/* ---- the connection's task -------------------------------------------------------- */

static void conn_main(void *arg) {
    pg_conn *c = arg;
    weft_pg *db = c->db;
    int64_t backoff = db->cfg.retry_min_ms;
    while (!atomic_load(&db->closing)) {
        /* no lock while connecting: nobody touches c->pg while c is down */
        int rc = connect_once(c, weft_deadline_in(db->cfg.connect_timeout_ms));
        mu_lock(c);
        if (rc == 0) {
            atomic_store(&c->state, C_UP);
            c->last_error[0] = 0;
        } else {
            memcpy(c->last_error, c->conn_error, sizeof c->last_error);
        }
        mu_unlock(c);
        if (rc == 0) {
            atomic_fetch_add(&db->st.connects, 1);
            atomic_fetch_add(&db->st.connections, 1);
            backoff = db->cfg.retry_min_ms;
        } else {
            atomic_fetch_add(&db->st.connect_fails, 1);
        }
        if (atomic_load(&c->signal_up)) weft_sem_release(&c->up, 1); /* wake a waiter */
        if (rc) {
            if (weft_sleep(backoff) == WEFT_ECANCELED) break;
            backoff = backoff * 2 > db->cfg.retry_max_ms ? db->cfg.retry_max_ms : backoff * 2;
            continue;
        }
        /* read until the connection breaks or the pool closes */
        const char *why = NULL;
        for (;;) {
            /* With statements in flight, look again every 100 ms even without
             * a wake-up: a sender's flush may have pulled their results into
             * libpq's buffer (it reads when the socket is full), where no
             * readiness event will ever announce them. */
            int64_t dl = atomic_load_explicit(&c->inflight, memory_order_relaxed)
                             ? weft_deadline_in(100)
                             : -1;
            /* a sender may have found it broken (mark_broken) */
            int w = atomic_load(&c->state) != C_UP ? WEFT_ECONNRESET
                                                   : weft_fd_wait(c->fd, WEFT_POLLIN, dl);
            if (w == WEFT_ETIMEDOUT) w = 0;
            if (w == WEFT_ECANCELED) {
                why = "pool closed";
                break;
            }
            mu_lock(c);
            int d = w < 0 ? w : atomic_load(&c->state) != C_UP ? WEFT_ECONNRESET : drain(c);
            /* A cancel that reaches the backend between two statements
             * (still reading the next one) is dropped by the server, and the
             * abandoned statement then runs to its end, holding up every
             * statement behind it: while the head is one nobody waits for,
             * ask again every CANCEL_RETRY_MS. */
            if (!d && c->head && c->head->abandoned && weft_now() - c->cancel_ms >= CANCEL_RETRY_MS)
                fire_cancel(c);
            if (d) {
                conn_err(c, c->last_error, "connection lost");
                atomic_store(&c->state, C_DOWN);
                fail_all(c, WEFT_ECONNRESET, c->last_error);
                mu_unlock(c);
                why = "lost";
                break;
            }
            mu_unlock(c);
        }
        mu_lock(c);
        atomic_store(&c->state, atomic_load(&db->closing) ? C_CLOSING : C_DOWN);
        fail_all(c, WEFT_ECONNRESET, !strcmp(why, "lost") ? c->last_error : "pool closed");
        memcpy(c->conn_error, c->last_error, sizeof c->conn_error);
        weft_close(c->fd); /* our duplicate */
        c->fd = -1;
        /* libpq's own socket, if libpq has not closed it already (then its
         * number may belong to someone else's socket by now) */
        if (pq->PQsocket(c->pg) >= 0) weft_fd_forget(pq->PQsocket(c->pg));
        pq->PQfinish(c->pg);
        c->pg = NULL;
        atomic_fetch_sub(&db->st.connections, 1);
        mu_unlock(c);
        if (strcmp(why, "lost")) break;
        weft_log_warn("postgres: %s; reconnecting", c->conn_error);
    }
    atomic_store(&c->state, C_CLOSING);
}

/* ---- sending a statement ------------------------------------------------------------- */

static pg_conn *pick(weft_pg *db) {
    int w = weft_worker_id();
    if (w < 0 || w >= db->nworkers) w = 0;
    int cpw = db->cfg.conns_per_worker;
    pg_conn *best = NULL;
    for (int i = 0; i < cpw; i++) {
        pg_conn *c = &db->conns[w * cpw + i];
        if (atomic_load_explicit(&c->state, memory_order_relaxed) == C_UP &&
            (!best || atomic_load_explicit(&c->inflight, memory_order_relaxed) <
                          atomic_load_explicit(&best->inflight, memory_order_relaxed)))
            best = c;
    }
    if (best) return best;
    for (int i = 0; i < db->nconns; i++) /* this worker's are down: any that is up */
        if (atomic_load_explicit(&db->conns[i].state, memory_order_relaxed) == C_UP)
            return &db->conns[i];
    return &db->conns[w * cpw]; /* down: the caller reports why */
}

/* libpq's parameter arrays for one statement. */
typedef struct {
    const char **vals;
    int *lens, *fmts;
    Oid *types;
    char (*num)[48]; /* numbers are written here */
    char *txt;       /* text copies (NUL-terminated) are written here */
} pg_params;

/* Decimal text of v, NUL-terminated, in buf (>= 21 bytes); returns buf. */
static const char *fmt_i64(int64_t v, char *buf) {
    buf[weft_i64_to_text(buf, v)] = 0;
    return buf;
}

/* Render args as libpq parameters: text format, types left to the server,
 * except blobs (binary bytea). */
static int render(const weft_db_arg *a, int n, pg_params *p, weft_db_err *err) {
    char *t = p->txt;
    for (int i = 0; i < n; i++) {
        p->lens[i] = 0;
        p->fmts[i] = 0;
        p->types[i] = 0;
        switch (a[i].type) {
        case WEFT_DB_TNULL: p->vals[i] = NULL; break;
        case WEFT_DB_TINT: p->vals[i] = fmt_i64(a[i].v.i, p->num[i]); break;
        case WEFT_DB_TDOUBLE:
            snprintf(p->num[i], 48, "%.17g", a[i].v.d);
            p->vals[i] = p->num[i];
            break;
        case WEFT_DB_TBOOL: p->vals[i] = a[i].v.i ? "t" : "f"; break;
        case WEFT_DB_TTIME:
            weft__db_format_time(a[i].v.i, p->num[i]);
            p->vals[i] = p->num[i];
            break;
        case WEFT_DB_TTEXT:
            if (a[i].v.s.n && !a[i].v.s.p) goto bad;
            if (a[i].v.s.n && memchr(a[i].v.s.p, 0, a[i].v.s.n)) {
                weft__db_err_set(err, WEFT_EINVAL, NULL, "parameter $%d: text contains a NUL byte",
                                 i + 1);
                return WEFT_EINVAL;
            }
            if (a[i].v.s.n) memcpy(t, a[i].v.s.p, a[i].v.s.n);
            t[a[i].v.s.n] = 0;
            p->vals[i] = t;
            t += a[i].v.s.n + 1;
            break;
        case WEFT_DB_TBLOB:
            if ((a[i].v.s.n && !a[i].v.s.p) || a[i].v.s.n > INT32_MAX) goto bad;
            p->vals[i] = a[i].v.s.n ? a[i].v.s.p : "";
            p->lens[i] = (int)a[i].v.s.n;
            p->fmts[i] = 1;
            p->types[i] = OID_BYTEA;
            break;
        default: goto bad;
        }
        continue;
    bad:
        weft__db_err_set(err, WEFT_EINVAL, NULL, "parameter $%d: bad type or pointer", i + 1);
        return WEFT_EINVAL;
    }
    return 0;
}

/* A send that libpq refused: the connection broke under us (the reader has
 * not noticed yet), or the statement itself was refused. */
static int send_fail_code(pg_conn *c) {
    return pq->PQstatus(c->pg) == CONNECTION_BAD ? WEFT_ECONNRESET : WEFT_EDB;
}

/* Queue a Sync; it goes out with the caller's flush when libpq can do
 * that (>= 17), else libpq writes it (and what precedes it) at once. */
static int put_sync(pg_conn *c) {
    return pq->PQsendPipelineSync ? pq->PQsendPipelineSync(c->pg) : pq->PQpipelineSync(c->pg);
}

static int stmt_index(pg_conn *c, const char *sql) {
    /* SQL is usually a string literal: the same pointer, checked by content */
    for (int i = 0; i < c->nstmts; i++)
        if (c->stmts[i].last_ptr == sql && !strcmp(c->stmts[i].sql, sql)) return i;
    uint64_t h = hash_sql(sql);
    for (int i = 0; i < c->nstmts; i++)
        if (c->stmts[i].hash == h && !strcmp(c->stmts[i].sql, sql)) {
            c->stmts[i].last_ptr = sql;
            return i;
        }
    if (c->nstmts == STMT_MAX) return -1;
    char *dup = strdup(sql);
    if (!dup) return -1;
    pg_stmt *st = &c->stmts[c->nstmts];
    *st = (pg_stmt){.sql = dup, .last_ptr = sql, .hash = h, .sent = 0};
    snprintf(st->name, sizeof st->name, "w%d", c->nstmts);
    return c->nstmts++;
}

/* Queue one statement on c (mu held, c up): Prepare if this SQL is new on
 * this connection, Bind/Execute, and a Sync when `sync`. On 0, q is in the
 * FIFO. On failure nothing of it was queued (q is not in the FIFO) unless
 * q->rc is set (then it is, and its results close it). */
static int send_one(pg_conn *c, const weft_pg_stmt *st, pg_req *q, int sync, weft_db_err *err) {
    MU_HELD(c);
    /* parameters: on the stack for the usual few, else on the heap; libpq
     * copies them into its output buffer */
    enum { SMALL = 16, SMALLTXT = 512 };
    const char *s_vals[SMALL];
    int s_lens[SMALL], s_fmts[SMALL];
    Oid s_types[SMALL];
    char s_num[SMALL][48], s_txt[SMALLTXT];
    int nargs = st->nargs;
    size_t txtlen = 0;
    for (int i = 0; i < nargs; i++)
        if (st->args[i].type == WEFT_DB_TTEXT) txtlen += st->args[i].v.s.n + 1;
    pg_params p = {s_vals, s_lens, s_fmts, s_types, s_num, s_txt};
    void *heap = NULL;
    if (nargs > SMALL || txtlen > SMALLTXT) {
        size_t n = (size_t)nargs;
        heap = malloc(n * (sizeof(char *) + 2 * sizeof(int) + sizeof(Oid) + 48) + txtlen + 1);
        if (!heap) return WEFT_ENOMEM;
        char *h = heap;
        p.vals = (const char **)(void *)h;
        h += n * sizeof(char *);
        p.num = (char(*)[48])h;
        h += n * 48;
        p.lens = (int *)(void *)h;
        h += n * sizeof(int);
        p.fmts = (int *)(void *)h;
        h += n * sizeof(int);
        p.types = (Oid *)(void *)h;
        h += n * sizeof(Oid);
        p.txt = h;
    }
    int rc = render(st->args, nargs, &p, err);
    if (rc) goto out;
    int idx = stmt_index(c, st->sql);
    int ok;
    /* its Prepare still on the way: a request pipelined behind it runs the
     * SQL unnamed. Named, it would fail with "prepared statement does not
     * exist" whenever the Prepare does (a cancel meant for an abandoned
     * statement before it can stop the Parse: tests/unit/db_pg.c
     * cancelled_askers_..., once under ASan) */
    if (idx >= 0 && c->stmts[idx].sent && !c->stmts[idx].ready) idx = -1;
    if (idx >= 0) {
        const char *name = c->stmts[idx].name;
        if (!c->stmts[idx].sent) {
            if (!pq->PQsendPrepare(c->pg, name, st->sql, nargs, p.types)) {
                rc = send_fail_code(c);
                weft__db_err_set(err, rc, NULL, "%s", pq->PQerrorMessage(c->pg));
                goto out;
            }
            c->stmts[idx].sent = 1;
            q->prepares = 1;
            q->stmt = idx;
        }
        ok = pq->PQsendQueryPrepared(c->pg, name, nargs, p.vals, p.lens, p.fmts, 0);
    } else {
        ok = pq->PQsendQueryParams(c->pg, st->sql, nargs, p.types, p.vals, p.lens, p.fmts, 0);
    }
    if (!ok) { /* the statement did not go out */
        if (!q->prepares) {
            rc = send_fail_code(c);
            weft__db_err_set(err, rc, NULL, "%s", pq->PQerrorMessage(c->pg));
            goto out;
        }
        /* its Prepare did: the request stays, closed by the Prepare's result */
        q->rc = send_fail_code(c);
        weft__db_err_set(&q->err, q->rc, NULL, "%s", pq->PQerrorMessage(c->pg));
    }
    q->has_sync = sync;
    q->cmds_left = q->prepares + ok;
    if (sync && !put_sync(c)) {
        q->rc = WEFT_ECONNRESET;
        weft__db_err_set(&q->err, q->rc, NULL, "%s", pq->PQerrorMessage(c->pg));
        q->has_sync = 0; /* the reader's fail_all closes it */
    }
    q->seq = ++c->seq;
    if (c->tail)
        c->tail->next = q;
    else
        c->head = q;
    c->tail = q;
    atomic_fetch_add_explicit(&c->inflight, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&c->db->st.queries, 1, memory_order_relaxed);
out:
    free(heap);
    return rc;
}

/* libpq found the connection dead while we sent (it may already have
 * closed its socket; the reader waits on its own duplicate, which may never
 * become readable): new calls fail at once, and the reader is woken to fail
 * what is in flight and reconnect. mu held. */
static void mark_broken(pg_conn *c) {
    MU_HELD(c);
    if (atomic_load(&c->state) != C_UP) return;
    atomic_store(&c->state, C_DOWN);
    conn_err(c, c->last_error, "connection lost");
    weft_fd_forget(c->fd); /* its waiters (the reader) wake with WEFT_EBADF */
}

/* ---- coalescing writes ----------------------------------------------------------
 * Under load many tasks send statements on one connection within the same
 * scheduler round; each going out in a write of its own would cost a
 * syscall per statement here and wake the server's backend once per
 * statement there. When statements are already in flight (there is load)
 * they are coalesced until the tasks runnable now have added theirs: the
 * connection's flusher task is woken, yields once, and sends for everyone.
 *   - libpq >= 17 (a Sync without a flush): the callers leave their
 *     statements in libpq's buffer and the flusher writes them all with one
 *     send.
 *   - older libpq writes at every Sync: on TCP the socket is corked
 *     (TCP_CORK) and the flusher lifts the cork, one segment for all; a
 *     pipeline of several statements is corked too.
 * Without load a lone statement goes out at once. */
#define CORK_DEPTH 2

/* Before queueing n statements: 1 when they should wait for the flusher. */
static int coalesce_begin(pg_conn *c, int n) {
    if (c->is_tx) return 0; /* one task's connection, and no flusher task */
    int load = atomic_load_explicit(&c->inflight, memory_order_relaxed) >= CORK_DEPTH;
    if (pq->PQsendPipelineSync) return load;
    if (!c->tcp || (!load && n < 2)) return 0;
    if (atomic_load_explicit(&c->corked, memory_order_relaxed)) return 1;
    int on = 1;
    if (setsockopt(c->fd, IPPROTO_TCP, TCP_CORK, &on, sizeof on)) return 0;
    atomic_store(&c->corked, 1);
    weft_sem_release(&c->flush, 1);
    return 1;
}

static void flush_locked(pg_conn *c, int64_t deadline);

/* After queueing: hand the write to the flusher, or write now. */
static void coalesce_end(pg_conn *c, int deferred, int64_t deadline) {
    if (deferred && pq->PQsendPipelineSync) {
        if (!c->flush_pending) {
            c->flush_pending = 1;
            weft_sem_release(&c->flush, 1);
        }
        return;
    }
    flush_locked(c, deadline); /* corked: into the socket, sent when uncorked */
}

static void flusher_main(void *arg) {
    pg_conn *c = arg;
    while (weft_sem_acquire(&c->flush, -1) == 0) {
        weft_yield(); /* after the tasks runnable now: their statements join */
        if (mu_lock_until(c, -1)) break;
        int did = 0; /* is_up() each time: flush_locked may drop the lock */
        if (c->flush_pending) {
            c->flush_pending = 0;
            if (is_up(c)) flush_locked(c, -1);
            did = 1;
        }
        if (atomic_exchange(&c->corked, 0) && is_up(c)) {
            int off = 0;
            setsockopt(c->fd, IPPROTO_TCP, TCP_CORK, &off, sizeof off);
            did = 1;
        }
        if (did) atomic_fetch_add_explicit(&c->db->st.coalesced, 1, memory_order_relaxed);
        if (is_up(c) && pq->PQstatus(c->pg) == CONNECTION_BAD) mark_broken(c);
        mu_unlock(c);
    }
}

/* Push what libpq holds to the socket (mu held; dropped while waiting). */
static void flush_locked(pg_conn *c, int64_t deadline) {
    MU_HELD(c);
    int partial = 0;
    while (pq->PQflush(c->pg) == 1) {
        /* the socket is full: let the reader in while we wait to write */
        partial = 1;
        mu_unlock(c);
        int w = weft_fd_wait(c->fd, WEFT_POLLOUT, deadline);
        mu_lock(c);
        if (w < 0 || !is_up(c)) return;
    }
    /* a flush that could not send everything reads what the server sent
     * meanwhile into libpq's buffer: hand those results out now */
    if (partial) drain(c);
}

/* After a stray cancel: wait (1 s at most) until c has no cancel in flight,
 * so the statement sent again does not meet the same one. PostgreSQL
 * signals the backend for a cancel more than once (the process and its
 * group): one cancel can stop two statements that follow each other. */
static void cancels_settle(pg_conn *c) {
    for (int i = 0; i < 200; i++) {
        mu_lock(c);
        int pending = c->cancels_pending;
        mu_unlock(c);
        if (!pending || weft_sleep(5)) return;
    }
}

/* Run n statements on one connection: all queued under one lock, one
 * flush, then one wait per statement. batch=1: one Sync after the last
 * (the statements form one implicit transaction: after a failure the rest
 * do not run); batch=0: a Sync after each (independent statements, see
 * weft_pg_pipeline). Fills st[i].rc/rows/
 * affected; returns the first failure's code and fills err with it. *stray
 * (when not NULL) is set to 1 when the one statement (n = 1) failed with a
 * cancel meant for another (stray_cancel()). */
static int run_stmts(weft_pg *db, pg_conn *pin, weft_pg_stmt *st, int n, int batch,
                     weft_db_err *err, int64_t deadline, int *stray) {
    weft__db_err_clear(err);
    if (!db || n < 0 || (n && !st)) return WEFT_EINVAL;
    for (int i = 0; i < n; i++) {
        st[i].rows = NULL;
        st[i].affected = 0;
        st[i].rc = 0;
        if (!st[i].sql || st[i].nargs < 0 || st[i].nargs > NARGS_MAX ||
            (st[i].nargs && !st[i].args)) {
            weft__db_err_set(err, WEFT_EINVAL, NULL,
                             "statement %d: bad arguments (sql, args, nargs 0..%d)", i, NARGS_MAX);
            return st[i].rc = WEFT_EINVAL;
        }
    }
    if (n == 0) return 0;
    if (!weft_in_task()) return WEFT_ENOTASK;
    pg_conn *c = pin ? pin : pick(db);
    enum { SMALLQ = 32 };
    pg_req *qs_small[SMALLQ], **qs = n <= SMALLQ ? qs_small : calloc((size_t)n, sizeof *qs);
    if (!qs) return WEFT_ENOMEM;
    int rc = 0, nq = 0;
    for (; nq < n; nq++) {
        if (!(qs[nq] = calloc(1, sizeof(pg_req)))) {
            rc = WEFT_ENOMEM;
            goto out;
        }
        weft_sem_init(&qs[nq]->done, 0);
        qs[nq]->want_rows = st[nq].want_rows;
        qs[nq]->stmt = -1;
        qs[nq]->limit = db->cfg.max_result_bytes;
    }
    rc = atomic_load(&c->state) != C_UP ? WEFT_ENOTCONN : mu_lock_until(c, deadline);
    if (rc == 0 && !is_up(c)) {
        mu_unlock(c);
        rc = WEFT_ENOTCONN;
    }
    if (rc == WEFT_ENOTCONN) down_err(c, err, rc);
    if (rc) goto out;
    if (atomic_load(&c->inflight) + n > db->cfg.max_inflight) {
        mu_unlock(c);
        weft__db_err_set(err, WEFT_ELIMIT, NULL, "%d statements already queued on the connection",
                         db->cfg.max_inflight);
        rc = WEFT_ELIMIT;
        goto out;
    }
    int deferred = coalesce_begin(c, n);
    int sent = 0;
    for (; sent < n; sent++) {
        int r = send_one(c, &st[sent], qs[sent], !batch || sent == n - 1, err);
        if (r) {
            rc = r;
            break;
        }
    }
    for (int i = sent; i < n; i++) st[i].rc = rc; /* not sent */
    if (rc && sent > 0 && batch) {
        /* a batch cut short: close what went out with a Sync of its own */
        qs[sent - 1]->has_sync = 1;
        if (!put_sync(c)) qs[sent - 1]->has_sync = 0;
    }
    if (sent) {
        int depth = atomic_load_explicit(&c->inflight, memory_order_relaxed);
        stat_max(&db->st.max_batch, depth);
        coalesce_end(c, deferred, deadline);
    }
    if (is_up(c) && pq->PQstatus(c->pg) == CONNECTION_BAD) mark_broken(c);
    mu_unlock(c);

    /* wait for each; after a deadline the rest are left to the reader */
    int wrc = 0, first = rc;
    for (int i = 0; i < sent; i++) {
        pg_req *q = qs[i];
        int r = wrc ? wrc : weft_sem_acquire(&q->done, deadline);
        if (r) {
            mu_lock(c);
            if (!q->finished) {
                q->abandoned = 1;
                if (c->head == q) fire_cancel(c);
                mu_unlock(c);
                if (!wrc) atomic_fetch_add(&db->st.timeouts, 1);
                wrc = r;
                st[i].rc = r;
                if (!first) {
                    first = r;
                    weft__db_err_set(err, r, NULL, "%s",
                                     r == WEFT_ETIMEDOUT ? "deadline passed; statement cancelled"
                                                         : "task cancelled; statement cancelled");
                }
                qs[i] = NULL; /* the reader frees it */
                continue;
            }
            mu_unlock(c);
        }
        st[i].rc = q->rc;
        if (stray && n == 1) *stray = q->stray_cancel;
        if (q->rc) {
            if (!first) {
                first = q->rc;
                if (err) *err = q->err;
            }
        } else {
            st[i].affected = q->affected;
            st[i].rows = q->rows;
            q->rows = NULL;
        }
    }
    rc = first;
    if (stray && *stray) cancels_settle(c);
out:
    for (int i = 0; i < nq; i++)
        if (qs[i]) req_free(qs[i]);
    if (qs != qs_small) free(qs);
    if (rc && err && !err->code) weft__db_err_set(err, rc, NULL, "%s", weft_strerror(rc));
    return rc;
}

static int run(weft_pg *db, pg_conn *pin, const char *sql, const weft_db_arg *args, int nargs,
               int want_rows, weft_db_rows **rows, int64_t *affected, weft_db_err *err,
               int64_t deadline) {
    weft_pg_stmt st = {.sql = sql, .args = args, .nargs = nargs, .want_rows = want_rows};
    if (rows) *rows = NULL;
    if (affected) *affected = 0;
    int stray = 0;
    int rc = run_stmts(db, pin, &st, 1, 0, err, deadline, &stray);
    /* A cancel fired for another caller's abandoned statement stopped this
     * one (see the top of the file): the server rolled it back, so it is
     * sent again (STRAY_RESENDS times at most, once that cancel is done).
     * Alone on a shared connection, or a transaction's BEGIN (nothing of the
     * transaction has run yet); never inside one. */
    for (int k = 0; k < STRAY_RESENDS && rc == WEFT_ETIMEDOUT && stray &&
                    (!pin || strcmp(sql, "BEGIN") == 0) && (deadline < 0 || weft_now() < deadline);
         k++) {
        stray = 0;
        rc = run_stmts(db, pin, &st, 1, 0, err, deadline, &stray);
    }
    if (rc == 0) {
        if (affected) *affected = st.affected;
        if (rows)
            *rows = st.rows;
        else
            weft_db_rows_free(st.rows);
    }
    return rc;
}

int weft_pg_batch(weft_pg *db, weft_pg_stmt *stmts, int n, weft_db_err *err, int64_t deadline) {
    return run_stmts(db, NULL, stmts, n, 1, err, deadline, NULL);
}

int weft_pg_pipeline(weft_pg *db, weft_pg_stmt *stmts, int n, weft_db_err *err,
                     int64_t deadline) {
    return run_stmts(db, NULL, stmts, n, 0, err, deadline, NULL);
}

/* ---- the pool ------------------------------------------------------------------- */

static void conn_init(pg_conn *c, weft_pg *db, int idx, int is_tx) {
    c->db = db;
    c->idx = idx;
    c->is_tx = is_tx;
    c->fd = -1;
    weft_mutex_init(&c->mu);
    weft_sem_init(&c->up, 0);
    weft_sem_init(&c->flush, 0);
    atomic_store(&c->signal_up, is_tx);
    atomic_store(&c->state, C_DOWN);
}

static int conn_start(pg_conn *c) {
    char name[32];
    snprintf(name, sizeof name, c->is_tx ? "pg-tx-%d" : "pg-conn-%d", c->idx);
    int rc = weft_group_go(&c->db->tasks, conn_main, c, name);
    if (rc || c->is_tx) return rc; /* a transaction is one task's: nothing to coalesce */
    snprintf(name, sizeof name, "pg-flush-%d", c->idx);
    return weft_group_go(&c->db->tasks, flusher_main, c, name);
}

/* Wait for c's first connect attempt to end. */
static int conn_wait_up(pg_conn *c, int64_t deadline) {
    while (atomic_load(&c->state) != C_UP) {
        int rc = weft_sem_acquire(&c->up, deadline);
        if (rc) return rc;
        if (atomic_load(&c->state) != C_UP) return WEFT_ENOTCONN;
    }
    return 0;
}

static void pool_free(weft_pg *db) {
    for (int i = 0; i < db->nconns; i++)
        for (int k = 0; k < STMT_MAX; k++) free(db->conns[i].stmts[k].sql);
    for (int i = 0; i < db->tx_max; i++)
        for (int k = 0; k < STMT_MAX; k++) free(db->txconns[i].stmts[k].sql);
    free(db->conns);
    free(db->txconns);
    free(db->conninfo);
    free(db);
}

int weft_pg_open(weft_pg **out, const weft_pg_config *cfg, weft_db_err *err) {
    weft__db_err_clear(err);
    if (!out || !cfg || !cfg->conninfo) {
        weft__db_err_set(err, WEFT_EINVAL, NULL, "no config or conninfo");
        return WEFT_EINVAL;
    }
    *out = NULL;
    if (!weft_in_task()) return WEFT_ENOTASK;
    const char *why;
    if (weft__libpq_load(&why)) {
        weft__db_err_set(err, WEFT_ENOTSUP, NULL, "%s", why);
        return WEFT_ENOTSUP;
    }
    char *perr = NULL;
    PQconninfoOption *opts = pq->PQconninfoParse(cfg->conninfo, &perr);
    if (!opts) {
        weft__db_err_set(err, WEFT_EINVAL, NULL, "conninfo: %s", perr ? perr : "out of memory");
        pq->PQfreemem(perr);
        return WEFT_EINVAL;
    }
    pq->PQconninfoFree(opts);
    weft_pg *db = calloc(1, sizeof *db);
    if (!db) return WEFT_ENOMEM;
    db->cfg = *cfg;
    weft_pg_config *c = &db->cfg;
    if (c->conns_per_worker <= 0) c->conns_per_worker = 1;
    if (c->conns_per_worker > 64) c->conns_per_worker = 64;
    if (c->connect_timeout_ms <= 0) c->connect_timeout_ms = 5000;
    if (c->max_result_bytes <= 0) c->max_result_bytes = (int64_t)64 << 20;
    if (c->max_inflight <= 0) c->max_inflight = 16384;
    if (c->retry_min_ms <= 0) c->retry_min_ms = 50;
    if (c->retry_max_ms < c->retry_min_ms) c->retry_max_ms = c->retry_min_ms > 2000 ? c->retry_min_ms : 2000;
    db->conninfo = strdup(cfg->conninfo);
    c->conninfo = db->conninfo;
    db->nworkers = weft_workers() > 0 ? weft_workers() : 1;
    db->nconns = db->nworkers * c->conns_per_worker;
    db->tx_max = db->nconns * 2 < 4 ? 4 : db->nconns * 2;
    db->conns = calloc((size_t)db->nconns, sizeof *db->conns);
    db->txconns = calloc((size_t)db->tx_max, sizeof *db->txconns);
    if (!db->conninfo || !db->conns || !db->txconns) {
        pool_free(db);
        return WEFT_ENOMEM;
    }
    weft_group_init(&db->tasks);
    weft_mutex_init(&db->txmu);
    weft_sem_init(&db->txsem, db->tx_max);
    for (int i = 0; i < db->nconns; i++) conn_init(&db->conns[i], db, i, 0);
    for (int i = 0; i < db->tx_max; i++) conn_init(&db->txconns[i], db, i, 1);
    /* the first connection decides whether the pool opens; the rest come
     * up in the background */
    atomic_store(&db->conns[0].signal_up, 1);
    int rc = conn_start(&db->conns[0]);
    if (!rc) rc = conn_wait_up(&db->conns[0], weft_deadline_in(c->connect_timeout_ms + 1000));
    atomic_store(&db->conns[0].signal_up, 0);
    if (rc) {
        mu_lock(&db->conns[0]);
        weft__db_err_set(err, WEFT_ENOTCONN, NULL, "%s",
                         db->conns[0].last_error[0] ? db->conns[0].last_error : weft_strerror(rc));
        mu_unlock(&db->conns[0]);
        weft_pg_close(db);
        return WEFT_ENOTCONN;
    }
    for (int i = 1; i < db->nconns; i++) conn_start(&db->conns[i]);
    *out = db;
    return 0;
}

void weft_pg_close(weft_pg *db) {
    if (!db) return;
    atomic_store(&db->closing, 1);
    weft_group_cancel(&db->tasks);
    /* a cancelled caller too waits for the pool's tasks before freeing
     * what they use (unmasked, the wait returned WEFT_ECANCELED at once) */
    int prev = weft_nocancel_begin();
    weft_group_wait(&db->tasks, -1);
    weft_nocancel_end(prev);
    pool_free(db);
}

int weft_pg_query(weft_pg *db, const char *sql, const weft_db_arg *args, int nargs,
                  weft_db_rows **rows, weft_db_err *err, int64_t deadline) {
    return run(db, NULL, sql, args, nargs, rows != NULL, rows, NULL, err, deadline);
}

int weft_pg_exec(weft_pg *db, const char *sql, const weft_db_arg *args, int nargs,
                 int64_t *affected, weft_db_err *err, int64_t deadline) {
    return run(db, NULL, sql, args, nargs, 0, NULL, affected, err, deadline);
}

void weft_pg_stats_get(weft_pg *db, weft_pg_stats *st) {
    memset(st, 0, sizeof *st);
    if (!db) return;
    st->connections = atomic_load(&db->st.connections);
    st->connects = atomic_load(&db->st.connects);
    st->connect_fails = atomic_load(&db->st.connect_fails);
    st->queries = atomic_load(&db->st.queries);
    st->conn_errors = atomic_load(&db->st.conn_errors);
    st->timeouts = atomic_load(&db->st.timeouts);
    st->max_batch = atomic_load(&db->st.max_batch);
    st->coalesced = atomic_load(&db->st.coalesced);
    st->libpq_version = pq->PQlibVersion();
}

/* ---- transactions ------------------------------------------------------------------ */

static void tx_pool_put(pg_conn *c) {
    weft_pg *db = c->db;
    lock_mu(&db->txmu);
    c->next_free = db->txfree;
    db->txfree = c;
    weft_mutex_unlock(&db->txmu);
    weft_sem_release(&db->txsem, 1);
}

/* The transaction is over: the connection goes back to the pool, but not
 * while a cancel of its last owner is on its way. That cancel would stop
 * whatever the backend runs when it lands: the next owner's BEGIN is sent
 * again after a stray cancel (run()), but a statement inside its
 * transaction never is, so its caller would get a 57014 it did not ask for.
 * A cancel that lands while the backend waits for a command is ignored by
 * the server, and every statement of the last owner has been answered
 * (its COMMIT or ROLLBACK was the last), so once the cancel tasks have
 * ended the connection is safe to hand out. The last of them puts it back
 * (cancel_task): the releasing caller does not wait, and the next one takes
 * another connection, or waits for a free one, meanwhile. */
static void tx_release(weft_pg_tx *tx) {
    pg_conn *c = tx->c;
    free(tx);
    mu_lock(c);
    int later = c->parked = c->cancels_pending > 0;
    mu_unlock(c);
    if (!later) tx_pool_put(c);
}

/* The task ended inside the transaction. */
static void tx_abandoned(void *arg) {
    weft_pg_tx *tx = arg;
    run(tx->db, tx->c, "ROLLBACK", NULL, 0, 0, NULL, NULL, NULL, weft_deadline_in(5000));
    tx_release(tx);
}

int weft_pg_begin(weft_pg *db, weft_pg_tx **out, weft_db_err *err, int64_t deadline) {
    weft__db_err_clear(err);
    if (!db || !out) return WEFT_EINVAL;
    *out = NULL;
    if (!weft_in_task()) return WEFT_ENOTASK;
    int rc = weft_sem_acquire(&db->txsem, deadline);
    if (rc) {
        weft__db_err_set(err, rc, NULL, "no transaction connection free before the deadline");
        return rc;
    }
    lock_mu(&db->txmu);
    pg_conn *c = db->txfree;
    if (c) {
        db->txfree = c->next_free;
    } else if (db->tx_opened < db->tx_max) {
        c = &db->txconns[db->tx_opened++];
        if ((rc = conn_start(c))) {
            db->tx_opened--;
            c = NULL;
        }
    }
    weft_mutex_unlock(&db->txmu);
    weft_pg_tx *tx = c ? calloc(1, sizeof *tx) : NULL;
    if (!tx) {
        if (c) {
            lock_mu(&db->txmu);
            c->next_free = db->txfree;
            db->txfree = c;
            weft_mutex_unlock(&db->txmu);
        }
        weft_sem_release(&db->txsem, 1);
        return rc ? rc : WEFT_ENOMEM;
    }
    tx->db = db;
    tx->c = c;
    rc = conn_wait_up(c, deadline);
    if (rc) {
        down_err(c, err, WEFT_ENOTCONN);
        tx_release(tx);
        return WEFT_ENOTCONN;
    }
    rc = run(db, c, "BEGIN", NULL, 0, 0, NULL, NULL, err, deadline);
    if (rc) {
        tx_release(tx);
        return rc;
    }
    if ((rc = weft_defer(tx_abandoned, tx))) {
        run(db, c, "ROLLBACK", NULL, 0, 0, NULL, NULL, NULL, weft_deadline_in(5000));
        tx_release(tx);
        return rc;
    }
    *out = tx;
    return 0;
}

int weft_pg_tx_query(weft_pg_tx *tx, const char *sql, const weft_db_arg *args, int nargs,
                     weft_db_rows **rows, weft_db_err *err, int64_t deadline) {
    if (!tx) return WEFT_EINVAL;
    return run(tx->db, tx->c, sql, args, nargs, rows != NULL, rows, NULL, err, deadline);
}

int weft_pg_tx_exec(weft_pg_tx *tx, const char *sql, const weft_db_arg *args, int nargs,
                    int64_t *affected, weft_db_err *err, int64_t deadline) {
    if (!tx) return WEFT_EINVAL;
    return run(tx->db, tx->c, sql, args, nargs, 0, NULL, affected, err, deadline);
}

int weft_pg_tx_batch(weft_pg_tx *tx, weft_pg_stmt *stmts, int n, weft_db_err *err,
                     int64_t deadline) {
    if (!tx) return WEFT_EINVAL;
    return run_stmts(tx->db, tx->c, stmts, n, 1, err, deadline, NULL);
}

/* COMMIT or ROLLBACK, and the connection back to the pool. The connection
 * must not go back inside the transaction: a ROLLBACK (asked for, or after
 * a COMMIT that timed out or was cancelled) runs with cancellation masked,
 * or a cancelled task's ROLLBACK was refused before it was sent and the
 * next transaction on the connection committed the cancelled one's rows. */
static int tx_end(weft_pg_tx *tx, const char *sql, weft_db_err *err, int64_t deadline) {
    if (!tx) return WEFT_EINVAL;
    weft_undefer(tx_abandoned, tx);
    int rollback = strcmp(sql, "ROLLBACK") == 0;
    int prev = rollback ? weft_nocancel_begin() : -1;
    int rc = run(tx->db, tx->c, sql, NULL, 0, 0, NULL, NULL, err, deadline);
    if (rc == WEFT_ETIMEDOUT || rc == WEFT_ECANCELED) { /* leave no transaction open behind */
        if (!rollback) prev = weft_nocancel_begin();
        run(tx->db, tx->c, "ROLLBACK", NULL, 0, 0, NULL, NULL, NULL, weft_deadline_in(5000));
    }
    if (prev >= 0) weft_nocancel_end(prev);
    tx_release(tx);
    return rc;
}

int weft_pg_commit(weft_pg_tx *tx, weft_db_err *err, int64_t deadline) {
    return tx_end(tx, "COMMIT", err, deadline);
}

int weft_pg_rollback(weft_pg_tx *tx, int64_t deadline) {
    return tx_end(tx, "ROLLBACK", NULL, deadline);
}

/* ---- test hooks (db_int.h) -------------------------------------------------------- */

#ifdef MU_OWNER
const int weft__pg_mu_checked = 1;
#else
const int weft__pg_mu_checked = 0;
#endif

typedef struct {
    pg_conn *c;
    weft_sem locked, release;
} mu_holder;

static void mu_hold(void *arg) {
    mu_holder *h = arg;
    mu_lock(h->c);
    weft_sem_release(&h->locked, 1);
    weft_sem_acquire(&h->release, -1);
    mu_unlock(h->c);
}

int weft__pg_mu_check(int holder) {
    if (!weft_in_task()) return WEFT_ENOTASK;
    pg_conn *c = calloc(1, sizeof *c);
    if (!c) return WEFT_ENOMEM;
    conn_init(c, NULL, 0, 0);
    mu_holder h = {.c = c};
    weft_sem_init(&h.locked, 0);
    weft_sem_init(&h.release, 0);
    weft_group g;
    weft_group_init(&g);
    int prev = weft_nocancel_begin(); /* the waits below must not be cut short */
    int rc = 0;
    if (holder == 1) mu_lock(c);
    if (holder == 2 && (rc = weft_group_go(&g, mu_hold, &h, "pg-mu-holder")) == 0)
        weft_sem_acquire(&h.locked, -1);
    if (rc == 0) rc = is_up(c); /* MU_HELD: aborts unless the caller holds c->mu */
    if (holder == 1) mu_unlock(c);
    weft_sem_release(&h.release, 1);
    weft_group_wait(&g, -1);
    weft_nocancel_end(prev);
    free(c);
    return rc;
}
