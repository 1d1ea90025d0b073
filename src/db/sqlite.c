/*
 * sqlite.c — SQLite on the scheduler: statements run on threads this module
 * owns, never on a worker.
 *
 * Shape
 * -----
 * A weft_sqlite is a WAL-mode database file served by 1 + `readers` threads,
 * each with one connection of its own (SQLITE_OPEN_NOMUTEX: a connection is
 * only ever used by the thread that opened it):
 *  - conns[0], the writer: read-write; runs every statement that writes,
 *    exec_script, and transactions;
 *  - conns[1..readers]: read-only; statements that only read go to the least
 *    busy of them (WAL lets them read while the writer writes).
 * Each thread has a queue (pthread mutex + condvar) of jobs. A job lives in
 * the calling task's frame: the task queues it, then suspends on the job's
 * weft_sem with its deadline; the thread runs the job and releases the
 * semaphore (weft_sem_release works from any thread). The release is the
 * thread's last touch of the job.
 *
 * Deadlines and cancellation
 * --------------------------
 * A deadline that has already passed fails the call before anything is
 * queued; deadline 0 is WEFT_EAGAIN (a statement always has to wait). When
 * the wait ends early (deadline, cancel) the task takes the queue lock:
 *  - job still queued: it is unlinked and the call returns at once (the
 *    statement never ran);
 *  - job running: the task raises the connection's `interrupted` flag and
 *    calls sqlite3_interrupt(), then waits, cancellation masked and without
 *    deadline, for the thread to finish with the job: the job and its
 *    arguments are in the task's frame, so the task may not return before the
 *    thread is done with them. sqlite3_interrupt() alone can be lost (SQLite
 *    clears it when a statement starts while none runs, e.g. between our
 *    prepare and first step), so a progress handler and the busy handler
 *    also check the flag, which only the start of the next job clears.
 * A statement that completed anyway is reported as completed (0 and its
 * rows): the caller learns the truth. One that failed after the interrupt
 * returns WEFT_ETIMEDOUT / WEFT_ECANCELED, and an interrupted autocommit
 * statement has had no effect (SQLite rolls it back). COMMIT and ROLLBACK are
 * never withdrawn from the queue (the transaction's writer must be released);
 * they wait for nothing but the transaction itself.

 * Routing
 * -------
 * Whether a statement writes is known only once it is prepared
 * (sqlite3_stmt_readonly). Each weft_sqlite keeps a small direct-mapped table
 * SQL text -> read-only flag, filled by whichever thread prepares the SQL.
 * Known writes go straight to the writer; everything else to the least busy
 * reader, which prepares it and, if it turns out to write, does not run it
 * but bounces the job (without caching the statement): the caller then sends
 * it to the writer. So a read never waits behind the writer, not even the
 * first time its SQL is seen, and a write pays one extra hand-off once. The
 * table is bounded (a collision replaces the old entry), so applications that
 * build SQL dynamically cannot grow it; a forgotten entry costs a bounce.
 *
 * Transactions
 * ------------
 * weft_sqlite_begin queues a BEGIN IMMEDIATE job on the writer; once it has
 * run, the writer is owned by that transaction: its thread takes only jobs of
 * that transaction and leaves other jobs queued (where their deadlines still
 * withdraw them) until the COMMIT or ROLLBACK job ends the ownership. Readers
 * go on reading the last committed state. A task that holds a transaction and
 * calls a writing statement outside it would wait for itself: that is refused
 * with WEFT_EINVAL instead of hanging. SQLite rolls a whole transaction back
 * by itself when a write in it is interrupted (or hits SQLITE_FULL, IOERR...);
 * the thread notices (autocommit again) and the tx is marked aborted: its
 * next statements fail (WEFT_EDB, SQLSTATE 25P02, like PostgreSQL's "current
 * transaction is aborted") instead of running in autocommit mode, commit
 * fails (40000), rollback succeeds. The tx object is heap-allocated and
 * guarded by a weft_defer() cleanup registered in begin, which rolls back a
 * transaction its task left open and frees it; commit and rollback from the
 * same task drop that cleanup (weft_undefer) and free it at once.
 *
 * Statements
 * ----------
 * Every connection caches up to `stmt_cache` prepared statements keyed by SQL
 * text (hash table + LRU list), prepared with SQLITE_PREPARE_PERSISTENT and
 * reset + cleared after each use. Parameters are bound by position: ?, ?N
 * and $N (SQLite sees "$1" as a named parameter; the cache entry maps it to
 * argument 1, so PostgreSQL-shaped SQL works unchanged). Text and blob
 * arguments are bound SQLITE_STATIC: they live in the caller's frame until the
 * job is done, and the bindings are cleared before that. Result cells are
 * typed by sqlite3_column_type and copied into weft_db_rows (rows.c).
 */
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db_int.h"
#include "weft/impl.h"
#include "weft/log.h"
#include "weft/rt.h"

#define DEFAULT_READERS 2
#define MAX_READERS 64
#define DEFAULT_BUSY_MS 5000
#define DEFAULT_STMT_CACHE 64
#define DEFAULT_MAX_RESULT ((int64_t)64 << 20)
#define BUSY_STEP_MAX_MS 10 /* a lock wait notices an interrupt this fast */
#define PROGRESS_OPS 1000    /* VM instructions between checks of the interrupt flag */
#define HINT_MAX_CELLS ((size_t)1 << 17) /* 4 MB of cells: a result's first allocation at most */
#define HINT_MAX_DATA ((size_t)4 << 20)

typedef struct conn conn;
typedef struct job job;

/* ---- jobs ------------------------------------------------------------------ */

enum { J_STMT, J_SCRIPT, J_BEGIN, J_END };
enum { JS_QUEUED, JS_RUNNING, JS_DONE };

struct job {
    int kind;
    const char *sql;
    size_t sqllen;
    uint64_t hash;
    const weft_db_arg *args;
    int nargs;
    int want_rows;
    weft_sqlite_tx *tx; /* the transaction it belongs to (J_BEGIN: the new one) */
    /* written by the thread before it releases `done` */
    int rc;
    int bounced; /* a reader found that the statement writes; it did not run */
    int tx_lost; /* the connection left j->tx: 1 SQLite rolled it back, 2 the statement
                  * itself ended it (a COMMIT through tx_exec) */
    weft_db_rows *rows;
    int64_t affected;
    weft_db_err err;
    /* under conn->mu */
    int state;
    job *next, **pprev;
    weft_sem done;
};

/* ---- prepared statement cache (one per connection, its thread only) -------- */

typedef struct centry centry;
struct centry {
    centry *hnext;       /* hash chain */
    centry *prev, *next; /* LRU list, most recent first */
    sqlite3_stmt *st;
    uint64_t hash;
    size_t len;
    int ro;      /* sqlite3_stmt_readonly */
    int nparams; /* sqlite3_bind_parameter_count */
    int need;    /* arguments the statement takes */
    int *pos;    /* parameter i+1 binds args[pos[i]] */
    /* the size of its last result (capped): the next one is allocated at
     * that size at once instead of growing by doubling (a page of a keyset
     * scan is the same size every time) */
    size_t hint_cells, hint_data;
    char sql[];
};

typedef struct scache {
    centry **tab;
    size_t mask;
    int n, cap;
    centry *head, *tail;
} scache;

/* ---- connections and the database ------------------------------------------ */

struct conn {
    weft_sqlite *db;
    int readonly;
    sqlite3 *h; /* opened, used and closed by th; others only sqlite3_interrupt it */
    pthread_t th;
    int started; /* th exists (and must be joined) */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    /* under mu */
    job *head, **tail;
    weft_sqlite_tx *owner; /* writer: the transaction holding it */
    int stop;
    int opened, open_rc;
    weft_db_err open_err;
    _Atomic int depth;       /* queued + running, for picking a reader */
    _Atomic int interrupted; /* the running job was interrupted */
    /* the thread's own */
    int must_finish; /* interrupts are ignored (a cleanup ROLLBACK) */
    int64_t busy_t0;
    scache cache;
};

typedef struct route {
    uint64_t hash;
    char *sql; /* NULL: empty slot */
    int ro;
} route;

struct weft_sqlite {
    char *path;
    int nreaders;
    int64_t busy_ms;
    int stmt_cache;
    int64_t max_result;
    int64_t mmap_bytes; /* > 0: PRAGMA mmap_size on every connection */
    int page_size;      /* > 0: PRAGMA page_size on the writer, before journal_mode */
    const char *vfs;    /* NULL: the default; wal_write_gather: sqlite_wal.c's */
    weft__sqlite_sync_latch sync_latch; /* SQLite's own failed syncs (sqlite_wal.c) */
    conn *conns; /* [0] writer, [1..nreaders] readers */
    _Atomic unsigned rr;
    _Atomic uint64_t tx_task; /* id of the task holding the writer's transaction */
    pthread_mutex_t route_mu;
    route *routes;
    size_t route_mask;
    _Atomic int64_t prepares, cache_hits;
};

enum { TX_PENDING, TX_OPEN, TX_ABORTED, TX_ENDED, TX_DONE };

struct weft_sqlite_tx {
    weft_sqlite *db;
    int state; /* TX_*; the owning task's only. ABORTED (rolled back by SQLite) and ENDED
                * (by a statement in it) still own the writer until commit/rollback */
};

/* ---- small helpers ------------------------------------------------------------ */

static uint64_t hash_sql(const char *s, size_t *len) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    const unsigned char *p = (const unsigned char *)s;
    for (; *p; p++) h = (h ^ *p) * 1099511628211ull;
    *len = (size_t)(p - (const unsigned char *)s);
    return h;
}

static size_t pow2_at_least(size_t n) {
    size_t p = 1;
    while (p < n) p <<= 1;
    return p;
}

static int64_t mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Turn SQLite result code src (extended codes are on) into a WEFT_E* code
 * and fill e with it, the SQLSTATE for constraints, and msg. */
static int sqlite_err(int src, const char *msg, weft_db_err *e) {
    int code = WEFT_EDB;
    const char *state = NULL;
    switch (src & 0xff) {
    case SQLITE_CONSTRAINT:
        switch (src) {
        case SQLITE_CONSTRAINT_UNIQUE:
        case SQLITE_CONSTRAINT_PRIMARYKEY: state = "23505"; break;
        case SQLITE_CONSTRAINT_FOREIGNKEY: state = "23503"; break;
        case SQLITE_CONSTRAINT_NOTNULL: state = "23502"; break;
        case SQLITE_CONSTRAINT_CHECK: state = "23514"; break;
        default: state = "23000"; break;
        }
        break;
    case SQLITE_BUSY:
    case SQLITE_LOCKED: code = WEFT_EBUSY; break;
    case SQLITE_INTERRUPT: code = WEFT_ETIMEDOUT; break; /* the caller puts its own */
    case SQLITE_NOMEM: code = WEFT_ENOMEM; break;
    case SQLITE_TOOBIG: code = WEFT_ELIMIT; break;
    default: break;
    }
    weft__db_err_set(e, code, state, "%s", msg ? msg : sqlite3_errstr(src));
    return code;
}

static int conn_err(conn *c, int src, weft_db_err *e) {
    return sqlite_err(src, sqlite3_errmsg(c->h), e);
}

/* ---- the routing table: SQL text -> read-only ------------------------------ */

static int route_lookup(weft_sqlite *db, const char *sql, uint64_t hash) {
    int ro = -1;
    pthread_mutex_lock(&db->route_mu);
    route *r = &db->routes[hash & db->route_mask];
    if (r->sql && r->hash == hash && strcmp(r->sql, sql) == 0) ro = r->ro;
    pthread_mutex_unlock(&db->route_mu);
    return ro;
}

static void route_learn(weft_sqlite *db, const char *sql, size_t len, uint64_t hash, int ro) {
    char *copy = malloc(len + 1);
    if (!copy) return; /* only a hint */
    memcpy(copy, sql, len + 1);
    pthread_mutex_lock(&db->route_mu);
    route *r = &db->routes[hash & db->route_mask];
    char *old = r->sql;
    r->sql = copy;
    r->hash = hash;
    r->ro = ro;
    pthread_mutex_unlock(&db->route_mu);
    free(old);
}

/* ---- statement cache ------------------------------------------------------------ */

static int cache_init(scache *sc, int cap) {
    size_t nb = pow2_at_least((size_t)cap * 2);
    sc->tab = calloc(nb, sizeof *sc->tab);
    if (!sc->tab) return WEFT_ENOMEM;
    sc->mask = nb - 1;
    sc->cap = cap;
    sc->n = 0;
    sc->head = sc->tail = NULL;
    return 0;
}

static void lru_unlink(scache *sc, centry *e) {
    if (e->prev)
        e->prev->next = e->next;
    else
        sc->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        sc->tail = e->prev;
    e->prev = e->next = NULL;
}

static void lru_push(scache *sc, centry *e) {
    e->prev = NULL;
    e->next = sc->head;
    if (sc->head)
        sc->head->prev = e;
    else
        sc->tail = e;
    sc->head = e;
}

static void centry_free(centry *e) {
    sqlite3_finalize(e->st);
    free(e->pos);
    free(e);
}

static void cache_remove(scache *sc, centry *e) {
    centry **pp = &sc->tab[e->hash & sc->mask];
    while (*pp != e) pp = &(*pp)->hnext;
    *pp = e->hnext;
    lru_unlink(sc, e);
    sc->n--;
    centry_free(e);
}

static void cache_free(scache *sc) {
    while (sc->head) cache_remove(sc, sc->head);
    free(sc->tab);
    sc->tab = NULL;
}

/* Map parameter i (1-based) to an argument: "?" is its own position, "?N"
 * and "$N" (also ":N", "@N") are argument N. Fills e->pos and e->need. */
static int map_params(centry *e, weft_db_err *err) {
    e->nparams = sqlite3_bind_parameter_count(e->st);
    e->need = 0;
    if (e->nparams == 0) return 0;
    e->pos = malloc(sizeof *e->pos * (size_t)e->nparams);
    if (!e->pos) {
        weft__db_err_set(err, WEFT_ENOMEM, NULL, "sqlite: out of memory");
        return WEFT_ENOMEM;
    }
    for (int i = 1; i <= e->nparams; i++) {
        const char *name = sqlite3_bind_parameter_name(e->st, i);
        long n = i;
        if (name) {
            const char *d = name + 1;
            char *end = NULL;
            n = (*d >= '0' && *d <= '9') ? strtol(d, &end, 10) : 0;
            if (!end || *end || n < 1 || n > INT_MAX) {
                weft__db_err_set(err, WEFT_EINVAL, NULL,
                                 "sqlite: parameter %s: only ?, ?N and $N are supported", name);
                return WEFT_EINVAL;
            }
        }
        e->pos[i - 1] = (int)n - 1;
        if (n > e->need) e->need = (int)n;
    }
    return 0;
}

/* True if the text after a prepared statement holds another statement. */
static int has_more(conn *c, const char *tail) {
    while (*tail == ' ' || *tail == '\t' || *tail == '\n' || *tail == '\r' || *tail == ';') tail++;
    if (!*tail) return 0;
    sqlite3_stmt *st = NULL;
    int s = sqlite3_prepare_v2(c->h, tail, -1, &st, NULL);
    sqlite3_finalize(st);
    return s != SQLITE_OK || st != NULL; /* only comments left: NULL */
}

/* The cached statement for j's SQL, prepared on a miss. *out = NULL when a
 * reader met a statement that writes (j->bounced). 0 or an error in j->err. */
static int cache_get(conn *c, job *j, centry **out) {
    scache *sc = &c->cache;
    weft_sqlite *db = c->db;
    *out = NULL;
    centry *e = sc->tab[j->hash & sc->mask];
    for (; e; e = e->hnext)
        if (e->hash == j->hash && e->len == j->sqllen && memcmp(e->sql, j->sql, j->sqllen) == 0)
            break;
    if (e) {
        lru_unlink(sc, e);
        lru_push(sc, e);
        atomic_fetch_add_explicit(&db->cache_hits, 1, memory_order_relaxed);
        *out = e;
        return 0;
    }
    sqlite3_stmt *st = NULL;
    const char *tail = NULL;
    int nbyte = j->sqllen < INT_MAX ? (int)j->sqllen + 1 : -1; /* +1: it is NUL-terminated */
    int s = sqlite3_prepare_v3(c->h, j->sql, nbyte, SQLITE_PREPARE_PERSISTENT, &st, &tail);
    if (s != SQLITE_OK) return conn_err(c, s, &j->err);
    if (!st) {
        weft__db_err_set(&j->err, WEFT_EINVAL, NULL, "sqlite: empty statement");
        return WEFT_EINVAL;
    }
    atomic_fetch_add_explicit(&db->prepares, 1, memory_order_relaxed);
    if (tail && has_more(c, tail)) {
        sqlite3_finalize(st);
        weft__db_err_set(&j->err, WEFT_EINVAL, NULL,
                         "sqlite: several statements in one call; use weft_sqlite_exec_script");
        return WEFT_EINVAL;
    }
    int ro = sqlite3_stmt_readonly(st) != 0;
    route_learn(db, j->sql, j->sqllen, j->hash, ro);
    if (c->readonly && !ro) {
        sqlite3_finalize(st);
        j->bounced = 1;
        return 0;
    }
    e = calloc(1, sizeof *e + j->sqllen + 1);
    if (!e) {
        sqlite3_finalize(st);
        weft__db_err_set(&j->err, WEFT_ENOMEM, NULL, "sqlite: out of memory");
        return WEFT_ENOMEM;
    }
    e->st = st;
    e->hash = j->hash;
    e->len = j->sqllen;
    e->ro = ro;
    memcpy(e->sql, j->sql, j->sqllen + 1);
    int rc = map_params(e, &j->err);
    if (rc) {
        centry_free(e);
        return rc;
    }
    centry **b = &sc->tab[e->hash & sc->mask];
    e->hnext = *b;
    *b = e;
    lru_push(sc, e);
    if (++sc->n > sc->cap) cache_remove(sc, sc->tail);
    *out = e;
    return 0;
}

/* ---- running jobs (on the connection's thread) ------------------------------ */

static int bind_args(conn *c, centry *e, job *j) {
    sqlite3_stmt *st = e->st;
    for (int i = 0; i < e->nparams; i++) {
        const weft_db_arg *a = &j->args[e->pos[i]];
        int s;
        switch (a->type) {
        case WEFT_DB_TNULL: s = sqlite3_bind_null(st, i + 1); break;
        case WEFT_DB_TINT:
        case WEFT_DB_TTIME: s = sqlite3_bind_int64(st, i + 1, a->v.i); break;
        case WEFT_DB_TBOOL: s = sqlite3_bind_int(st, i + 1, a->v.i != 0); break;
        case WEFT_DB_TDOUBLE: s = sqlite3_bind_double(st, i + 1, a->v.d); break;
        case WEFT_DB_TTEXT:
            /* a NULL pointer would bind SQL NULL; "" keeps it empty text */
            s = sqlite3_bind_text64(st, i + 1, a->v.s.p ? a->v.s.p : "", a->v.s.n, SQLITE_STATIC,
                                    SQLITE_UTF8);
            break;
        case WEFT_DB_TBLOB:
            s = sqlite3_bind_blob64(st, i + 1, a->v.s.p ? a->v.s.p : "", a->v.s.n, SQLITE_STATIC);
            break;
        default:
            weft__db_err_set(&j->err, WEFT_EINVAL, NULL,
                             "sqlite: argument %d has unknown type %d", e->pos[i] + 1,
                             (int)a->type);
            return WEFT_EINVAL;
        }
        if (s != SQLITE_OK) return conn_err(c, s, &j->err);
    }
    return 0;
}

/* Copy the current row of st into r: room for the row's cells is made once,
 * numbers are written in place, text and blobs go through the data buffer. */
static int add_row(sqlite3_stmt *st, int ncols, weft_db_rows *r) {
    int rc = weft__rows_reserve_row(r);
    if (rc) return rc;
    for (int k = 0; k < ncols; k++) {
        switch (sqlite3_column_type(st, k)) {
        case SQLITE_INTEGER: weft__rows_num(r, WEFT_DB_TINT, sqlite3_column_int64(st, k), 0); break;
        case SQLITE_FLOAT: weft__rows_num(r, WEFT_DB_TDOUBLE, 0, sqlite3_column_double(st, k)); break;
        case SQLITE_TEXT: {
            const unsigned char *p = sqlite3_column_text(st, k);
            size_t n = (size_t)sqlite3_column_bytes(st, k);
            if (!p && n) return WEFT_ENOMEM;
            rc = weft__rows_cell(r, WEFT_DB_TTEXT, p, n, 0, 0);
            break;
        }
        case SQLITE_BLOB: {
            const void *p = sqlite3_column_blob(st, k);
            size_t n = (size_t)sqlite3_column_bytes(st, k);
            if (!p && n) return WEFT_ENOMEM;
            rc = weft__rows_cell(r, WEFT_DB_TBLOB, p, n, 0, 0);
            break;
        }
        default: weft__rows_num(r, WEFT_DB_TNULL, 0, 0); break;
        }
        if (rc) return rc;
    }
    weft__rows_end_row(r);
    return 0;
}

/* Leave any transaction, whatever the caller's interrupt says: a connection
 * left inside one would run the next jobs in it. (An interrupt landing on the
 * ROLLBACK statement itself is why it is tried more than once.) */
static void force_rollback(conn *c) {
    c->must_finish = 1;
    for (int i = 0; i < 3 && !sqlite3_get_autocommit(c->h); i++)
        sqlite3_exec(c->h, "ROLLBACK", NULL, NULL, NULL);
    c->must_finish = 0;
    if (!sqlite3_get_autocommit(c->h))
        weft_log_warn("sqlite %s: cannot leave a transaction: %s", c->db->path,
                      sqlite3_errmsg(c->h));
}

/* A statement outside a transaction that leaves one open (BEGIN through
 * query/exec, a script without its COMMIT) would pin this connection: roll
 * it back and refuse. */
static int guard_autocommit(conn *c, job *j, int rc) {
    if (sqlite3_get_autocommit(c->h)) return rc;
    force_rollback(c);
    if (rc == 0)
        weft__db_err_set(&j->err, WEFT_EINVAL, NULL,
                         "sqlite: the statement left a transaction open (rolled back); use "
                         "weft_sqlite_begin/commit/rollback");
    return rc ? rc : WEFT_EINVAL;
}

static void run_stmt(conn *c, job *j) {
    weft_sqlite *db = c->db;
    centry *e;
    int rc = cache_get(c, j, &e);
    if (rc || !e) {
        j->rc = rc;
        return;
    }
    if (j->nargs != e->need) {
        weft__db_err_set(&j->err, WEFT_EINVAL, NULL,
                         "sqlite: the statement takes %d argument%s, %d given", e->need,
                         e->need == 1 ? "" : "s", j->nargs);
        j->rc = WEFT_EINVAL;
        return;
    }
    sqlite3_stmt *st = e->st;
    weft_db_rows *r = NULL;
    rc = bind_args(c, e, j);
    int ncols = sqlite3_column_count(st);
    if (!rc && j->want_rows) {
        r = e->hint_cells ? weft__rows_new_sized(ncols, e->hint_cells, e->hint_data, db->max_result)
                          : weft__rows_new(ncols, db->max_result);
        for (int k = 0; r && k < ncols; k++) {
            const char *name = sqlite3_column_name(st, k);
            if (!name) name = "";
            if (weft__rows_set_name(r, k, name, strlen(name))) {
                weft_db_rows_free(r);
                r = NULL;
            }
        }
        if (!r) {
            weft__db_err_set(&j->err, WEFT_ENOMEM, NULL, "sqlite: out of memory");
            rc = WEFT_ENOMEM;
        }
    }
    int64_t before = sqlite3_total_changes64(c->h);
    while (!rc) {
        int s = sqlite3_step(st);
        if (s == SQLITE_DONE) break;
        if (s != SQLITE_ROW) {
            rc = conn_err(c, s, &j->err);
            break;
        }
        if (!r) continue;
        rc = add_row(st, ncols, r);
        if (rc == WEFT_ELIMIT)
            weft__db_err_set(&j->err, rc, NULL, "sqlite: result larger than %lld bytes",
                             (long long)db->max_result);
        else if (rc)
            weft__db_err_set(&j->err, rc, NULL, "sqlite: out of memory");
    }
    /* sqlite3_changes() keeps the count of the last INSERT/UPDATE/DELETE,
     * whichever statement that was: count it only if this one changed rows */
    int64_t affected = 0;
    if (!rc && sqlite3_total_changes64(c->h) != before) affected = sqlite3_changes64(c->h);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st); /* drops the SQLITE_STATIC pointers into the caller's frame */
    if (j->kind == J_STMT && !j->tx) rc = guard_autocommit(c, j, rc);
    /* SQLite rolls a transaction back by itself on some errors (an
     * interrupted write, SQLITE_FULL, ...): the tx must not go on in
     * autocommit mode */
    if (j->kind == J_STMT && j->tx && sqlite3_get_autocommit(c->h)) j->tx_lost = rc ? 1 : 2;
    if (rc) {
        weft_db_rows_free(r);
        j->rc = rc;
        return;
    }
    if (r) {
        r->affected = affected;
        e->hint_cells = r->ncells < HINT_MAX_CELLS ? r->ncells : HINT_MAX_CELLS;
        e->hint_data = r->len < HINT_MAX_DATA ? r->len : HINT_MAX_DATA;
    }
    j->rows = r;
    j->affected = affected;
    j->rc = 0;
}

static void run_script(conn *c, job *j) {
    char *msg = NULL;
    int s = sqlite3_exec(c->h, j->sql, NULL, NULL, &msg);
    int rc = 0;
    if (s != SQLITE_OK) {
        /* the extended code (constraint kinds) if it is about this failure */
        int x = sqlite3_extended_errcode(c->h);
        rc = sqlite_err((x & 0xff) == (s & 0xff) ? x : s, msg, &j->err);
    }
    sqlite3_free(msg);
    j->rc = guard_autocommit(c, j, rc);
}

/* COMMIT or ROLLBACK; whatever happens the connection leaves the transaction. */
static void run_end(conn *c, job *j) {
    if (sqlite3_get_autocommit(c->h)) { /* SQLite rolled it back already */
        j->rc = 0;
        if (strcmp(j->sql, "COMMIT") == 0) {
            j->rc = WEFT_EDB;
            weft__db_err_set(&j->err, WEFT_EDB, "40000",
                             "sqlite: the transaction had been rolled back; nothing was committed");
        }
        return;
    }
    run_stmt(c, j);
    force_rollback(c); /* after a failed COMMIT (or ROLLBACK) */
}

/* ---- connection threads ----------------------------------------------------------- */

static int interrupted(conn *c) {
    return !c->must_finish && atomic_load_explicit(&c->interrupted, memory_order_relaxed);
}

/* Every PROGRESS_OPS VM instructions. sqlite3_interrupt() alone can be lost:
 * SQLite clears it when a statement starts while none is running, and the
 * caller may interrupt between our prepare and first step. The flag is ours
 * and cleared only when the next job starts. */
static int progress_cb(void *arg) { return interrupted(arg); }

/* SQLite's busy handler: busy_timeout_ms of short sleeps, cut short when the
 * caller has interrupted the job (sqlite3_interrupt does not reach a lock wait). */
static int busy_cb(void *arg, int n) {
    conn *c = arg;
    if (interrupted(c)) return 0;
    int64_t now = mono_ms();
    if (n == 0) c->busy_t0 = now;
    int64_t left = c->db->busy_ms - (now - c->busy_t0);
    if (left <= 0) return 0;
    int64_t step = n < 4 ? (int64_t)1 << n : BUSY_STEP_MAX_MS;
    if (step > left) step = left;
    struct timespec ts = {0, (long)step * 1000000};
    nanosleep(&ts, NULL);
    return 1;
}

static int pragma(conn *c, const char *sql, char *out, size_t outsz, weft_db_err *err) {
    sqlite3_stmt *st = NULL;
    int s = sqlite3_prepare_v2(c->h, sql, -1, &st, NULL);
    if (s == SQLITE_OK) {
        while ((s = sqlite3_step(st)) == SQLITE_ROW)
            if (out && sqlite3_column_text(st, 0))
                snprintf(out, outsz, "%s", (const char *)sqlite3_column_text(st, 0));
        if (s == SQLITE_DONE) s = SQLITE_OK;
    }
    sqlite3_finalize(st);
    if (s == SQLITE_OK) return 0;
    int rc = s == SQLITE_NOMEM ? WEFT_ENOMEM : WEFT_ENOTCONN;
    weft__db_err_set(err, rc, NULL, "sqlite: cannot open %s: %s", c->db->path,
                     sqlite3_errmsg(c->h));
    return rc;
}

static int conn_open(conn *c, weft_db_err *err) {
    weft_sqlite *db = c->db;
    int flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE |
                (c->readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    int s = sqlite3_open_v2(db->path, &c->h, flags, db->vfs);
    int rc = 0;
    if (s != SQLITE_OK) {
        rc = s == SQLITE_NOMEM ? WEFT_ENOMEM : WEFT_ENOTCONN;
        weft__db_err_set(err, rc, NULL, "sqlite: cannot open %s: %s", db->path,
                         c->h ? sqlite3_errmsg(c->h) : sqlite3_errstr(s));
        goto fail;
    }
    sqlite3_extended_result_codes(c->h, 1);
    /* the gather VFS records SQLite's own failed syncs here (the default
     * VFS answers SQLITE_NOTFOUND: not watched) */
    sqlite3_file_control(c->h, "main", WEFT__SQLITE_FCNTL_SYNC_LATCH, &db->sync_latch);
    sqlite3_busy_handler(c->h, busy_cb, c);
    sqlite3_progress_handler(c->h, PROGRESS_OPS, progress_cb, c);
    if (!c->readonly) {
        /* the first statement reads the header: "not a database" shows here */
        char mode[32] = "";
        if (db->page_size > 0) { /* a no-op once the file has pages: only a new database takes it */
            char sql[48];
            snprintf(sql, sizeof sql, "PRAGMA page_size=%d", db->page_size);
            if ((rc = pragma(c, sql, NULL, 0, err))) goto fail;
        }
        if ((rc = pragma(c, "PRAGMA journal_mode=WAL", mode, sizeof mode, err))) goto fail;
        if (strcmp(mode, "wal") != 0) {
            rc = WEFT_ENOTCONN;
            weft__db_err_set(err, rc, NULL, "sqlite: cannot open %s: no WAL mode (journal_mode %s)",
                             db->path, mode);
            goto fail;
        }
        if ((rc = pragma(c, "PRAGMA synchronous=NORMAL", NULL, 0, err))) goto fail;
    } else if ((rc = pragma(c, "PRAGMA schema_version", NULL, 0, err))) {
        goto fail;
    }
    if ((rc = pragma(c, "PRAGMA foreign_keys=ON", NULL, 0, err))) goto fail;
    if (db->mmap_bytes > 0) {
        char sql[64];
        snprintf(sql, sizeof sql, "PRAGMA mmap_size=%lld", (long long)db->mmap_bytes);
        if ((rc = pragma(c, sql, NULL, 0, err))) goto fail;
    }
    if ((rc = cache_init(&c->cache, db->stmt_cache))) {
        weft__db_err_set(err, rc, NULL, "sqlite: out of memory");
        goto fail;
    }
    return 0;
fail:
    sqlite3_close(c->h);
    c->h = NULL;
    return rc;
}

static void conn_close(conn *c) {
    force_rollback(c);
    cache_free(&c->cache);
    /* after a failed sync of SQLite's own, the last close must not
     * checkpoint: that would sync "successfully" over the lost pages and
     * delete the WAL; kept, the next open recovers from it */
    if (atomic_load(&c->db->sync_latch.code)) sqlite3_db_config(c->h, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
    if (sqlite3_close(c->h) != SQLITE_OK)
        weft_log_warn("sqlite %s: close: %s", c->db->path, sqlite3_errmsg(c->h));
    c->h = NULL;
}

static void job_unlink(conn *c, job *j) {
    *j->pprev = j->next;
    if (j->next)
        j->next->pprev = j->pprev;
    else
        c->tail = j->pprev;
    j->next = NULL;
}

/* The next job to run: the oldest, or while a transaction owns the writer,
 * the oldest of that transaction. Under c->mu. */
static job *pick(conn *c) {
    if (!c->owner) return c->head;
    for (job *j = c->head; j; j = j->next)
        if (j->tx == c->owner) return j;
    return NULL;
}

static void *conn_main(void *arg) {
    conn *c = arg;
    char name[16];
    if (c->readonly)
        snprintf(name, sizeof name, "sqlite-r%d", (int)(c - c->db->conns));
    else
        snprintf(name, sizeof name, "sqlite-w");
    pthread_setname_np(pthread_self(), name); /* for top -H, gdb, perf */
    weft_db_err oe;
    weft__db_err_clear(&oe);
    int rc = conn_open(c, &oe);
    pthread_mutex_lock(&c->mu);
    c->open_rc = rc;
    c->open_err = oe;
    c->opened = 1;
    pthread_cond_broadcast(&c->cv);
    if (rc) {
        pthread_mutex_unlock(&c->mu);
        return NULL;
    }
    for (;;) {
        job *j = NULL;
        while (!c->stop && !(j = pick(c))) pthread_cond_wait(&c->cv, &c->mu);
        if (c->stop) break;
        job_unlink(c, j);
        j->state = JS_RUNNING;
        atomic_store_explicit(&c->interrupted, 0, memory_order_relaxed);
        pthread_mutex_unlock(&c->mu);

        switch (j->kind) {
        case J_SCRIPT: run_script(c, j); break;
        case J_END: run_end(c, j); break;
        default: run_stmt(c, j); break;
        }

        pthread_mutex_lock(&c->mu);
        if (j->kind == J_BEGIN && j->rc == 0) c->owner = j->tx;
        if (j->kind == J_END) c->owner = NULL;
        j->state = JS_DONE;
        atomic_fetch_sub_explicit(&c->depth, 1, memory_order_relaxed);
        pthread_mutex_unlock(&c->mu);
        weft_sem_release(&j->done, 1); /* the last touch of j */
        pthread_mutex_lock(&c->mu);
    }
    /* closed with calls still queued (a misuse): fail them */
    while (c->head) {
        job *j = c->head;
        job_unlink(c, j);
        j->state = JS_DONE;
        j->rc = WEFT_ECONNRESET;
        weft__db_err_set(&j->err, j->rc, NULL, "sqlite: database closed");
        atomic_fetch_sub_explicit(&c->depth, 1, memory_order_relaxed);
        pthread_mutex_unlock(&c->mu);
        weft_sem_release(&j->done, 1);
        pthread_mutex_lock(&c->mu);
    }
    pthread_mutex_unlock(&c->mu);
    conn_close(c);
    return NULL;
}

/* Start c's thread and wait (this thread blocks: a blocking-pool thread or a
 * non-task caller) until its connection is open. */
static int conn_start(conn *c, weft_db_err *err) {
    if (pthread_create(&c->th, NULL, conn_main, c) != 0) {
        weft__db_err_set(err, WEFT_ENOMEM, NULL, "sqlite: cannot start a thread");
        return WEFT_ENOMEM;
    }
    c->started = 1;
    return 0;
}

static int conn_wait_open(conn *c, weft_db_err *err) {
    pthread_mutex_lock(&c->mu);
    while (!c->opened) pthread_cond_wait(&c->cv, &c->mu);
    int rc = c->open_rc;
    if (rc && err) *err = c->open_err;
    pthread_mutex_unlock(&c->mu);
    if (rc) {
        pthread_join(c->th, NULL);
        c->started = 0;
    }
    return rc;
}

static void conn_stop(conn *c) {
    if (!c->started) return;
    pthread_mutex_lock(&c->mu);
    c->stop = 1;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    pthread_join(c->th, NULL);
    c->started = 0;
}

/* ---- calls (from tasks) -------------------------------------------------------------- */

static void job_init(job *j, int kind, const char *sql, const weft_db_arg *args, int nargs) {
    memset(j, 0, sizeof *j);
    j->kind = kind;
    j->sql = sql;
    j->hash = hash_sql(sql, &j->sqllen);
    j->args = args;
    j->nargs = nargs;
}

/* Suspend until the thread has released s, whatever happens meanwhile. */
static void wait_done(weft_sem *s) {
    int prev = weft_nocancel_begin();
    while (weft_sem_acquire(s, -1) != 0) {
    }
    weft_nocancel_end(prev);
}

/* Queue j on c and suspend until the thread has run it or the wait ends
 * early (see the top of the file). must_run: the job (COMMIT, ROLLBACK)
 * must reach the connection, so it is not withdrawn from the queue. Returns
 * 0 or the error, in j->err. */
static int submit(conn *c, job *j, int64_t deadline, int must_run) {
    weft_sem_init(&j->done, 0);
    j->state = JS_QUEUED;
    j->next = NULL;
    pthread_mutex_lock(&c->mu);
    if (c->stop) {
        pthread_mutex_unlock(&c->mu);
        weft__db_err_set(&j->err, WEFT_ECONNRESET, NULL, "sqlite: database closed");
        return WEFT_ECONNRESET;
    }
    j->pprev = c->tail;
    *c->tail = j;
    c->tail = &j->next;
    atomic_fetch_add_explicit(&c->depth, 1, memory_order_relaxed);
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);

    int rc = weft_sem_acquire(&j->done, deadline);
    if (rc == 0) return j->rc;
    /* WEFT_ETIMEDOUT, WEFT_ECANCELED (or WEFT_EAGAIN: deadline 0 for must_run) */
    int interrupted = 0;
    pthread_mutex_lock(&c->mu);
    if (j->state == JS_QUEUED && !must_run) {
        job_unlink(c, j);
        atomic_fetch_sub_explicit(&c->depth, 1, memory_order_relaxed);
        pthread_mutex_unlock(&c->mu);
        weft__db_err_set(&j->err, rc, NULL, "sqlite: %s while waiting for the %s",
                         rc == WEFT_ECANCELED ? "canceled" : "deadline passed",
                         c->readonly ? "readers" : "writer");
        return rc;
    }
    if (j->state == JS_RUNNING) {
        atomic_store_explicit(&c->interrupted, 1, memory_order_relaxed);
        sqlite3_interrupt(c->h); /* c->h lives as long as the thread */
        interrupted = 1;
    }
    pthread_mutex_unlock(&c->mu);
    wait_done(&j->done);
    if (j->rc == 0 || !interrupted) return j->rc;
    weft__db_err_set(&j->err, rc, NULL, "sqlite: %s; the statement was interrupted",
                     rc == WEFT_ECANCELED ? "canceled" : "deadline passed");
    return rc;
}

static conn *pick_reader(weft_sqlite *db) {
    unsigned start = atomic_fetch_add_explicit(&db->rr, 1, memory_order_relaxed);
    conn *best = NULL;
    int best_depth = INT_MAX;
    for (int k = 0; k < db->nreaders; k++) {
        conn *c = &db->conns[1 + (start + (unsigned)k) % (unsigned)db->nreaders];
        int d = atomic_load_explicit(&c->depth, memory_order_relaxed);
        if (d < best_depth) {
            best = c;
            best_depth = d;
            if (d == 0) break;
        }
    }
    return best;
}

static int holds_tx(weft_sqlite *db) {
    return atomic_load_explicit(&db->tx_task, memory_order_relaxed) == weft_task_id();
}

static int self_deadlock(weft_db_err *e) {
    weft__db_err_set(e, WEFT_EINVAL, NULL,
                     "sqlite: this task holds a transaction on this database; a write outside "
                     "it would wait for itself (use the weft_sqlite_tx_* calls)");
    return WEFT_EINVAL;
}

static int check_call(const void *obj, const char *sql, const weft_db_arg *args, int nargs,
                      weft_db_err *err, int64_t deadline) {
    if (!obj || !sql || nargs < 0 || (nargs > 0 && !args)) {
        weft__db_err_set(err, WEFT_EINVAL, NULL, "sqlite: bad arguments");
        return WEFT_EINVAL;
    }
    if (!weft_in_task()) {
        weft__db_err_set(err, WEFT_ENOTASK, NULL, "sqlite: not called from a weft task");
        return WEFT_ENOTASK;
    }
    if (deadline == 0) {
        weft__db_err_set(err, WEFT_EAGAIN, NULL, "sqlite: deadline 0 (a statement must wait)");
        return WEFT_EAGAIN;
    }
    if (deadline > 0 && deadline <= weft_now()) { /* never queued, never run */
        weft__db_err_set(err, WEFT_ETIMEDOUT, NULL, "sqlite: deadline passed before the call");
        return WEFT_ETIMEDOUT;
    }
    return 0;
}

/* Hand the job's outcome to the caller. */
static int finish(job *j, int rc, weft_db_rows **rows, int64_t *affected, weft_db_err *err) {
    if (rc == 0) {
        if (rows)
            *rows = j->rows;
        else
            weft_db_rows_free(j->rows);
        if (affected) *affected = j->affected;
        weft__db_err_clear(err);
        return 0;
    }
    weft_db_rows_free(j->rows);
    if (rows) *rows = NULL;
    if (affected) *affected = 0;
    if (err) {
        *err = j->err;
        err->code = rc;
    }
    return rc;
}

static int run_call(weft_sqlite *db, weft_sqlite_tx *tx, const char *sql, const weft_db_arg *args,
                    int nargs, int want_rows, weft_db_rows **rows, int64_t *affected,
                    weft_db_err *err, int64_t deadline) {
    job j;
    job_init(&j, J_STMT, sql, args, nargs);
    j.want_rows = want_rows;
    j.tx = tx;
    conn *w = &db->conns[0];
    int rc;
    if (tx) {
        rc = submit(w, &j, deadline, 0);
        if (j.tx_lost) tx->state = j.tx_lost == 1 ? TX_ABORTED : TX_ENDED;
        return finish(&j, rc, rows, affected, err);
    }
    if (route_lookup(db, sql, j.hash) != 0) { /* reads, or not known yet */
        rc = submit(pick_reader(db), &j, deadline, 0);
        if (rc || !j.bounced) return finish(&j, rc, rows, affected, err);
        job_init(&j, J_STMT, sql, args, nargs); /* it writes: to the writer */
        j.want_rows = want_rows;
    }
    if (holds_tx(db)) return finish(&j, self_deadlock(&j.err), rows, affected, err);
    rc = submit(w, &j, deadline, 0);
    return finish(&j, rc, rows, affected, err);
}

int weft_sqlite_query(weft_sqlite *db, const char *sql, const weft_db_arg *args, int nargs,
                      weft_db_rows **rows, weft_db_err *err, int64_t deadline) {
    if (rows) *rows = NULL;
    int rc = check_call(db, sql, args, nargs, err, deadline);
    if (rc) return rc;
    return run_call(db, NULL, sql, args, nargs, rows != NULL, rows, NULL, err, deadline);
}

int weft_sqlite_exec(weft_sqlite *db, const char *sql, const weft_db_arg *args, int nargs,
                     int64_t *affected, weft_db_err *err, int64_t deadline) {
    if (affected) *affected = 0;
    int rc = check_call(db, sql, args, nargs, err, deadline);
    if (rc) return rc;
    return run_call(db, NULL, sql, args, nargs, 0, NULL, affected, err, deadline);
}

int weft_sqlite_exec_script(weft_sqlite *db, const char *sql, weft_db_err *err, int64_t deadline) {
    int rc = check_call(db, sql, NULL, 0, err, deadline);
    if (rc) return rc;
    job j;
    job_init(&j, J_SCRIPT, sql, NULL, 0);
    if (holds_tx(db)) return finish(&j, self_deadlock(&j.err), NULL, NULL, err);
    rc = submit(&db->conns[0], &j, deadline, 0);
    return finish(&j, rc, NULL, NULL, err);
}

/* ---- transactions --------------------------------------------------------------------- */

static int tx_end(weft_sqlite_tx *tx, const char *sql, weft_db_err *err, int64_t deadline) {
    if (!tx || tx->state < TX_OPEN || tx->state > TX_ENDED) {
        weft__db_err_set(err, WEFT_EINVAL, NULL, "sqlite: the transaction has ended");
        return WEFT_EINVAL;
    }
    if (!weft_in_task()) {
        weft__db_err_set(err, WEFT_ENOTASK, NULL, "sqlite: not called from a weft task");
        return WEFT_ENOTASK;
    }
    weft_sqlite *db = tx->db;
    job j;
    job_init(&j, J_END, sql, NULL, 0);
    j.tx = tx;
    int rc = submit(&db->conns[0], &j, deadline, 1);
    if (tx->state == TX_ENDED && strcmp(sql, "COMMIT") == 0) {
        rc = WEFT_EINVAL;
        weft__db_err_set(&j.err, rc, NULL,
                         "sqlite: a statement in the transaction had ended it already");
    }
    tx->state = TX_DONE; /* the writer has let go of it, whatever rc says */
    uint64_t me = weft_task_id();
    atomic_compare_exchange_strong(&db->tx_task, &me, 0);
    return finish(&j, rc, NULL, NULL, err);
}

/* weft_defer()ed by begin: rolls back what the task left open, frees tx. */
static void tx_cleanup(void *arg) {
    weft_sqlite_tx *tx = arg;
    if (tx->state >= TX_OPEN && tx->state <= TX_ENDED) {
        weft_db_err e;
        int rc = tx_end(tx, "ROLLBACK", &e, -1);
        if (rc) weft_log_warn("sqlite %s: rollback at task end: %s", tx->db->path, e.msg);
    }
    free(tx);
}

int weft_sqlite_begin(weft_sqlite *db, weft_sqlite_tx **tx, weft_db_err *err, int64_t deadline) {
    if (!tx) {
        weft__db_err_set(err, WEFT_EINVAL, NULL, "sqlite: bad arguments");
        return WEFT_EINVAL;
    }
    *tx = NULL;
    int rc = check_call(db, "BEGIN", NULL, 0, err, deadline);
    if (rc) return rc;
    if (holds_tx(db)) {
        weft__db_err_set(err, WEFT_EINVAL, NULL,
                         "sqlite: this task already holds a transaction on this database");
        return WEFT_EINVAL;
    }
    weft_sqlite_tx *t = calloc(1, sizeof *t);
    if (!t || weft_defer(tx_cleanup, t) != 0) {
        free(t);
        weft__db_err_set(err, WEFT_ENOMEM, NULL, "sqlite: out of memory");
        return WEFT_ENOMEM;
    }
    t->db = db;
    t->state = TX_PENDING;
    job j;
    job_init(&j, J_BEGIN, "BEGIN IMMEDIATE", NULL, 0);
    j.tx = t;
    rc = submit(&db->conns[0], &j, deadline, 0);
    if (rc) {
        t->state = TX_DONE;
        if (weft_undefer(tx_cleanup, t) == 0) free(t);
        return finish(&j, rc, NULL, NULL, err);
    }
    t->state = TX_OPEN;
    atomic_store(&db->tx_task, weft_task_id());
    *tx = t;
    return finish(&j, 0, NULL, NULL, err);
}

static int tx_check(weft_sqlite_tx *tx, weft_db_err *err) {
    if (tx->state == TX_ABORTED) {
        weft__db_err_set(err, WEFT_EDB, "25P02",
                         "sqlite: the transaction was rolled back after an earlier failure; "
                         "end it with weft_sqlite_rollback");
        return WEFT_EDB;
    }
    if (tx->state == TX_ENDED) {
        weft__db_err_set(err, WEFT_EINVAL, NULL,
                         "sqlite: a statement in the transaction ended it; use "
                         "weft_sqlite_commit/rollback");
        return WEFT_EINVAL;
    }
    if (tx->state != TX_OPEN) {
        weft__db_err_set(err, WEFT_EINVAL, NULL, "sqlite: the transaction has ended");
        return WEFT_EINVAL;
    }
    return 0;
}

int weft_sqlite_tx_query(weft_sqlite_tx *tx, const char *sql, const weft_db_arg *args, int nargs,
                         weft_db_rows **rows, weft_db_err *err, int64_t deadline) {
    if (rows) *rows = NULL;
    int rc = check_call(tx, sql, args, nargs, err, deadline);
    if (rc || (rc = tx_check(tx, err))) return rc;
    return run_call(tx->db, tx, sql, args, nargs, rows != NULL, rows, NULL, err, deadline);
}

int weft_sqlite_tx_exec(weft_sqlite_tx *tx, const char *sql, const weft_db_arg *args, int nargs,
                        int64_t *affected, weft_db_err *err, int64_t deadline) {
    if (affected) *affected = 0;
    int rc = check_call(tx, sql, args, nargs, err, deadline);
    if (rc || (rc = tx_check(tx, err))) return rc;
    return run_call(tx->db, tx, sql, args, nargs, 0, NULL, affected, err, deadline);
}

/* The transaction is over: when its own task ends it, drop the cleanup and
 * free it now (a long-lived task, e.g. a connection's, runs many). */
static void tx_release(weft_sqlite_tx *tx) {
    if (tx->state == TX_DONE && weft_undefer(tx_cleanup, tx) == 0) free(tx);
}

int weft_sqlite_commit(weft_sqlite_tx *tx, weft_db_err *err, int64_t deadline) {
    int rc = tx_end(tx, "COMMIT", err, deadline);
    if (tx && rc != WEFT_ENOTASK) tx_release(tx);
    return rc;
}

int weft_sqlite_rollback(weft_sqlite_tx *tx, int64_t deadline) {
    int rc = tx_end(tx, "ROLLBACK", NULL, deadline);
    if (tx && rc != WEFT_ENOTASK) tx_release(tx);
    return rc;
}

/* ---- open / close ------------------------------------------------------------------------ */

static void db_free(weft_sqlite *db) {
    if (!db) return;
    if (db->conns) {
        for (int i = 0; i <= db->nreaders; i++) {
            pthread_mutex_destroy(&db->conns[i].mu);
            pthread_cond_destroy(&db->conns[i].cv);
        }
        free(db->conns);
    }
    if (db->routes) {
        for (size_t i = 0; i <= db->route_mask; i++) free(db->routes[i].sql);
        free(db->routes);
    }
    pthread_mutex_destroy(&db->route_mu);
    free(db->path);
    free(db);
}

/* Readers first: the writer, closing last, checkpoints and removes the WAL. */
static void stop_all(void *arg) {
    weft_sqlite *db = arg;
    for (int i = db->nreaders; i >= 0; i--) conn_stop(&db->conns[i]);
}

typedef struct open_ctx {
    weft_sqlite *db;
    int rc;
    weft_db_err err;
} open_ctx;

/* Start every thread and wait for its connection; the writer first, since it
 * creates the file and turns WAL on, which the read-only ones need. */
static void start_all(void *arg) {
    open_ctx *o = arg;
    weft_sqlite *db = o->db;
    o->rc = conn_start(&db->conns[0], &o->err);
    if (!o->rc) o->rc = conn_wait_open(&db->conns[0], &o->err);
    for (int i = 1; !o->rc && i <= db->nreaders; i++) o->rc = conn_start(&db->conns[i], &o->err);
    for (int i = 1; i <= db->nreaders; i++) {
        if (!db->conns[i].started) continue;
        int rc = conn_wait_open(&db->conns[i], o->rc ? NULL : &o->err);
        if (rc && !o->rc) o->rc = rc;
    }
    if (o->rc) stop_all(db);
}

/* Run fn(arg) on the blocking pool when called from a task (thread starts
 * and joins, file I/O), else right here. */
static int off_worker(void (*fn)(void *), void *arg, int masked) {
    if (!weft_in_task()) {
        fn(arg);
        return 0;
    }
    int prev = masked ? weft_nocancel_begin() : 0;
    int rc = weft_blocking(fn, arg, -1);
    if (masked) weft_nocancel_end(prev);
    return rc;
}

static int is_memory_path(const char *p) {
    if (!p[0] || strcmp(p, ":memory:") == 0) return 1; /* "": a private temporary file */
    return strncmp(p, "file::memory:", 13) == 0 ||
           (strncmp(p, "file:", 5) == 0 && strstr(p, "mode=memory") != NULL);
}

/* Process-wide, before SQLite's first use (after it, sqlite3_config fails
 * and the default stays): a statement journal (the copy of each page a
 * statement changes, kept while a statement inside a transaction may still
 * abort) stays in memory up to STMT_JOURNAL_SPILL bytes instead of 64 KB.
 * At 64 KB a multi-row INSERT whose rows land on many index pages went to
 * a temporary file every time (fleet's group commit: about a third of the
 * bytes its writer wrote). Bounded: past this it still spills to disk. */
#define STMT_JOURNAL_SPILL (4 << 20)
static void sqlite_global_config(void) { (void)sqlite3_config(SQLITE_CONFIG_STMTJRNL_SPILL, STMT_JOURNAL_SPILL); }

int weft_sqlite_open(weft_sqlite **out, const weft_sqlite_config *cfg, weft_db_err *err) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, sqlite_global_config);
    if (out) *out = NULL;
    if (!out || !cfg || !cfg->path || cfg->readers < 0 || cfg->readers > MAX_READERS ||
        cfg->busy_timeout_ms < 0 || cfg->stmt_cache < 0 || cfg->max_result_bytes < 0) {
        weft__db_err_set(err, WEFT_EINVAL, NULL, "sqlite: bad configuration");
        return WEFT_EINVAL;
    }
    if (cfg->page_size && (cfg->page_size < 512 || cfg->page_size > 65536 || (cfg->page_size & (cfg->page_size - 1)))) {
        weft__db_err_set(err, WEFT_EINVAL, NULL, "sqlite: page_size %d is not 0 or a power of two from 512 to 65536",
                         cfg->page_size);
        return WEFT_EINVAL;
    }
    if (is_memory_path(cfg->path)) {
        weft__db_err_set(err, WEFT_EINVAL, NULL,
                         "sqlite: \"%s\": in-memory and temporary databases cannot be shared by "
                         "the connections; give a file name",
                         cfg->path);
        return WEFT_EINVAL;
    }
    weft_sqlite *db = calloc(1, sizeof *db);
    if (!db) goto nomem;
    pthread_mutex_init(&db->route_mu, NULL);
    db->nreaders = cfg->readers ? cfg->readers : DEFAULT_READERS;
    db->busy_ms = cfg->busy_timeout_ms ? cfg->busy_timeout_ms : DEFAULT_BUSY_MS;
    db->stmt_cache = cfg->stmt_cache ? cfg->stmt_cache : DEFAULT_STMT_CACHE;
    db->mmap_bytes = cfg->mmap_bytes;
    db->page_size = cfg->page_size;
    if (cfg->wal_write_gather && !(db->vfs = weft__sqlite_wal_gather_vfs())) goto nomem;
    db->max_result = cfg->max_result_bytes ? cfg->max_result_bytes : DEFAULT_MAX_RESULT;
    size_t nroutes = pow2_at_least((size_t)db->stmt_cache * 4);
    if (nroutes < 64) nroutes = 64;
    db->path = strdup(cfg->path);
    db->routes = calloc(nroutes, sizeof *db->routes);
    db->conns = calloc((size_t)db->nreaders + 1, sizeof *db->conns);
    if (!db->path || !db->routes || !db->conns) {
        db->route_mask = db->routes ? nroutes - 1 : 0;
        if (!db->conns) db->nreaders = -1;
        db_free(db);
        goto nomem;
    }
    db->route_mask = nroutes - 1;
    for (int i = 0; i <= db->nreaders; i++) {
        conn *c = &db->conns[i];
        c->db = db;
        c->readonly = i > 0;
        c->tail = &c->head;
        pthread_mutex_init(&c->mu, NULL);
        pthread_cond_init(&c->cv, NULL);
    }
    open_ctx o = {.db = db};
    int rc = off_worker(start_all, &o, 0);
    if (rc) { /* the pool refused the job: it never ran */
        db_free(db);
        weft__db_err_set(err, rc, NULL, "sqlite: open: %s", weft_strerror(rc));
        return rc;
    }
    if (o.rc) {
        db_free(db);
        if (err) *err = o.err;
        return o.rc;
    }
    weft__db_err_clear(err);
    *out = db;
    return 0;
nomem:
    weft__db_err_set(err, WEFT_ENOMEM, NULL, "sqlite: out of memory");
    return WEFT_ENOMEM;
}

void weft_sqlite_close(weft_sqlite *db) {
    if (!db) return;
    if (off_worker(stop_all, db, 1) != 0) stop_all(db); /* no pool thread: block here */
    db_free(db);
}

int weft_sqlite_sync_failed(weft_sqlite *db, char *msg, size_t cap) {
    int code = db ? atomic_load(&db->sync_latch.code) : 0;
    if (!code) return 0;
    if (msg && cap) snprintf(msg, cap, "SQLite's sync of %s: %s", db->sync_latch.what, sqlite3_errstr(code));
    return WEFT_EIO;
}

/* For tests: statements prepared (cache misses) and cache hits so far, over
 * every connection of db. */
void weft__sqlite_counters(weft_sqlite *db, int64_t *prepares, int64_t *hits) {
    if (prepares) *prepares = atomic_load(&db->prepares);
    if (hits) *hits = atomic_load(&db->cache_hits);
}
