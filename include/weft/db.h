/*
 * db.h — databases on the scheduler: PostgreSQL (libpq, pipelined) and
 * SQLite (embedded, WAL), with one shape for parameters, rows and errors.
 *
 *   weft_pg *db;
 *   weft_db_err e;
 *   weft_pg_config cfg = {.conninfo = "host=/run/pg dbname=app"};
 *   if (weft_pg_open(&db, &cfg, &e)) die("%s", e.msg);
 *   weft_db_rows *r;
 *   weft_db_arg a[] = {WEFT_DB_INT(42)};
 *   int rc = weft_pg_query(db, "SELECT id, name FROM t WHERE id = $1", a, 1, &r, &e,
 *                          weft_deadline_in(500));
 *   if (rc == 0) { ... weft_db_int(r, 0, 0), weft_db_text(r, 0, 1, NULL) ...
 *                  weft_db_rows_free(r); }
 *
 * Every call that talks to a database is made from a weft task and suspends
 * only that task. Parameters are always bound, never spliced into SQL.
 * SQL is prepared once per connection (keyed by its text) and reused.
 *
 * Return codes: 0; WEFT_EDB when the database refused the statement (the
 * SQLSTATE and message are in *err; WEFT_EDB_CONSTRAINT-class errors can be
 * told apart with weft_db_err_is_constraint); WEFT_ECONNRESET when the
 * connection died with the call in flight; WEFT_ENOTCONN when no connection
 * could be made (database down; the pool keeps retrying with back-off);
 * WEFT_ETIMEDOUT when the deadline passed (the statement is cancelled on the
 * server); WEFT_ELIMIT when a result exceeds max_result_bytes or too many
 * calls wait; WEFT_EINVAL for bad arguments; WEFT_ECANCELED; WEFT_ENOTASK.
 * Whenever err is non-NULL it is filled on failure (code, SQLSTATE if the
 * server sent one, a message) and cleared on success.
 */
#ifndef WEFT_DB_H
#define WEFT_DB_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- parameters ---------------------------------------------------------- */

typedef enum weft_db_type {
    WEFT_DB_TNULL = 0,
    WEFT_DB_TINT,    /* int64 (PostgreSQL int2/int4/int8 columns accept it) */
    WEFT_DB_TDOUBLE, /* float8 */
    WEFT_DB_TTEXT,   /* UTF-8 text, length given */
    WEFT_DB_TBLOB,   /* bytes (bytea / BLOB) */
    WEFT_DB_TBOOL,
    WEFT_DB_TTIME, /* microseconds since 1970-01-01 UTC (timestamptz) */
} weft_db_type;

typedef struct weft_db_arg {
    weft_db_type type;
    union {
        int64_t i; /* INT, BOOL, TIME */
        double d;
        struct {
            const void *p;
            size_t n;
        } s; /* TEXT, BLOB */
    } v;
} weft_db_arg;

#define WEFT_DB_NULL ((weft_db_arg){.type = WEFT_DB_TNULL})
#define WEFT_DB_INT(x) ((weft_db_arg){.type = WEFT_DB_TINT, .v.i = (int64_t)(x)})
#define WEFT_DB_DOUBLE(x) ((weft_db_arg){.type = WEFT_DB_TDOUBLE, .v.d = (double)(x)})
#define WEFT_DB_TEXT(str) ((weft_db_arg){.type = WEFT_DB_TTEXT, .v.s = {(str), strlen(str)}})
#define WEFT_DB_TEXTN(p, n) ((weft_db_arg){.type = WEFT_DB_TTEXT, .v.s = {(p), (n)}})
#define WEFT_DB_BLOB(p, n) ((weft_db_arg){.type = WEFT_DB_TBLOB, .v.s = {(p), (n)}})
#define WEFT_DB_BOOL(x) ((weft_db_arg){.type = WEFT_DB_TBOOL, .v.i = !!(x)})
#define WEFT_DB_TIME(us) ((weft_db_arg){.type = WEFT_DB_TTIME, .v.i = (int64_t)(us)})

/* ---- errors ---------------------------------------------------------------- */

typedef struct weft_db_err {
    int code;         /* the WEFT_E* code the call returned */
    char sqlstate[6]; /* "23505" etc., "" when the server sent none */
    char msg[256];    /* the server's message, or what went wrong locally */
} weft_db_err;

/* SQLSTATE class 23 (PostgreSQL) or SQLITE_CONSTRAINT (SQLite). */
int weft_db_err_is_constraint(const weft_db_err *e);

/* ---- rows ------------------------------------------------------------------
 * The result of a query, owned by the caller until weft_db_rows_free().
 * Getters take (row, col) from 0; out-of-range indexes and NULL cells give
 * 0 / NULL (weft_db_isnull tells them apart). Text is NUL-terminated. */
typedef struct weft_db_rows weft_db_rows;

int weft_db_nrows(const weft_db_rows *r);
int weft_db_ncols(const weft_db_rows *r);
const char *weft_db_colname(const weft_db_rows *r, int col);
int weft_db_isnull(const weft_db_rows *r, int row, int col);
/* A TEXT cell (a NUMERIC column, say) gives the integer its text starts
 * with ("42 apples" -> 42), a number with a fraction or exponent truncated
 * toward zero, saturating at INT64_MIN / INT64_MAX, 0 when it has no digits. */
int64_t weft_db_int(const weft_db_rows *r, int row, int col);
double weft_db_double(const weft_db_rows *r, int row, int col);
int weft_db_bool(const weft_db_rows *r, int row, int col);
const char *weft_db_text(const weft_db_rows *r, int row, int col, size_t *len);
/* Bytes of a bytea/BLOB cell (decoded). */
const void *weft_db_blob(const weft_db_rows *r, int row, int col, size_t *len);
/* Microseconds since 1970-01-01 UTC of a timestamp(tz) cell. */
int64_t weft_db_time(const weft_db_rows *r, int row, int col);
/* Rows changed by the INSERT/UPDATE/DELETE that produced r. */
int64_t weft_db_affected(const weft_db_rows *r);
void weft_db_rows_free(weft_db_rows *r);

/* ---- PostgreSQL -------------------------------------------------------------
 * A pool of connections per worker thread. Tasks that query at the same time
 * share a connection through libpq pipeline mode: their statements go out
 * back to back and their results come back in order, so N concurrent
 * queries cost one round trip, not N. A transaction takes a connection for
 * itself until it ends. */
typedef struct weft_pg weft_pg;
typedef struct weft_pg_tx weft_pg_tx;

typedef struct weft_pg_config {
    /* libpq conninfo: "host=/tmp port=5433 dbname=app user=me" or a
     * postgresql:// URI. host= a directory means a unix socket. */
    const char *conninfo;
    int conns_per_worker;      /* default 1 */
    int64_t connect_timeout_ms; /* default 5000 */
    int64_t max_result_bytes;   /* default 64 MB: a larger result -> WEFT_ELIMIT */
    int max_inflight;           /* statements queued per connection; default 16384;
                                 * beyond it calls fail with WEFT_ELIMIT (overload) */
    int64_t retry_min_ms;       /* reconnect back-off: 50 ms doubling to ... */
    int64_t retry_max_ms;       /* ... 2000 ms */
} weft_pg_config;

/* Check the conninfo, make the first connection (so a wrong address or
 * password is reported here), and return the pool. From a task. */
int weft_pg_open(weft_pg **out, const weft_pg_config *cfg, weft_db_err *err);
/* Close every connection; calls still in flight fail with WEFT_ECONNRESET.
 * From a task, after the last user is done. */
void weft_pg_close(weft_pg *db);

/* Run one statement. rows may be NULL (the result is dropped). */
int weft_pg_query(weft_pg *db, const char *sql, const weft_db_arg *args, int nargs,
                  weft_db_rows **rows, weft_db_err *err, int64_t deadline);
/* Run one statement for its effect; *affected (may be NULL) = rows changed. */
int weft_pg_exec(weft_pg *db, const char *sql, const weft_db_arg *args, int nargs,
                 int64_t *affected, weft_db_err *err, int64_t deadline);

/* Several statements in one round trip, two shapes. Both send everything
 * together (one write) and fill, per statement, rc, the affected count and
 * the rows (when want_rows; free them); the call returns the first failure
 * (and fills err) or 0.
 *
 * weft_pg_pipeline: the statements are independent. Each is its own
 * implicit transaction (a Sync after each, as if sent one by one with
 * autocommit): one failing does not stop or undo the others. This is what
 * "N queries, pipelined" means, e.g. TechEmpower's /queries.
 *
 * weft_pg_batch: the statements are one implicit transaction (one Sync
 * after the last): when one fails, the ones after it do not run (their rc
 * is WEFT_EDB, "pipeline aborted") and the writes before it are rolled
 * back. */
typedef struct weft_pg_stmt {
    const char *sql;
    const weft_db_arg *args;
    int nargs;
    int want_rows;      /* keep the rows */
    weft_db_rows *rows; /* out */
    int64_t affected;   /* out */
    int rc;             /* out */
} weft_pg_stmt;
int weft_pg_batch(weft_pg *db, weft_pg_stmt *stmts, int n, weft_db_err *err, int64_t deadline);
int weft_pg_pipeline(weft_pg *db, weft_pg_stmt *stmts, int n, weft_db_err *err,
                     int64_t deadline);

/* BEGIN on a connection reserved for this transaction. If the task ends
 * with the transaction open, it is rolled back. */
int weft_pg_begin(weft_pg *db, weft_pg_tx **tx, weft_db_err *err, int64_t deadline);
int weft_pg_tx_query(weft_pg_tx *tx, const char *sql, const weft_db_arg *args, int nargs,
                     weft_db_rows **rows, weft_db_err *err, int64_t deadline);
int weft_pg_tx_exec(weft_pg_tx *tx, const char *sql, const weft_db_arg *args, int nargs,
                    int64_t *affected, weft_db_err *err, int64_t deadline);
int weft_pg_tx_batch(weft_pg_tx *tx, weft_pg_stmt *stmts, int n, weft_db_err *err,
                     int64_t deadline);
/* COMMIT / ROLLBACK and release tx (also when they fail). */
int weft_pg_commit(weft_pg_tx *tx, weft_db_err *err, int64_t deadline);
int weft_pg_rollback(weft_pg_tx *tx, int64_t deadline);

typedef struct weft_pg_stats {
    int64_t connections;  /* open now */
    int64_t connects;     /* successful connects so far */
    int64_t connect_fails;
    int64_t queries;      /* statements sent */
    int64_t conn_errors;  /* calls failed because a connection died */
    int64_t timeouts;     /* calls that hit their deadline */
    int64_t max_batch;    /* most statements one connection had in flight */
    int64_t coalesced;    /* writes of several tasks' statements sent as one (under load;
                             with libpq < 17 only on TCP, by corking) */
    int libpq_version;    /* of the libpq loaded, as PQlibVersion(): 150018 = 15.18 */
} weft_pg_stats;
void weft_pg_stats_get(weft_pg *db, weft_pg_stats *st);

/* ---- SQLite -----------------------------------------------------------------
 * An embedded database file in WAL mode. Statements run on threads of their
 * own (one writer, `readers` readers), never on a worker; each connection
 * keeps a cache of prepared statements keyed by SQL text. Parameters are
 * written ?1, ?2 ... (or $1, $2 ... as in PostgreSQL). */
typedef struct weft_sqlite weft_sqlite;
typedef struct weft_sqlite_tx weft_sqlite_tx;

/* The first weft_sqlite_open also raises SQLite's process-wide statement
 * journal spill threshold to 4 MB (SQLITE_CONFIG_STMTJRNL_SPILL; unless the
 * program used SQLite before): multi-row writes inside a transaction keep
 * their statement journal in memory instead of a temporary file. */
typedef struct weft_sqlite_config {
    const char *path;        /* file name; ":memory:" is refused (not shareable) */
    int readers;             /* read-only connections; default 2 */
    int64_t busy_timeout_ms; /* default 5000 */
    int stmt_cache;          /* prepared statements per connection; default 64 */
    int64_t max_result_bytes; /* default 64 MB */
    /* PRAGMA mmap_size of every connection: reads of the first this many
     * bytes of the file are memory-mapped (no pread and copy per page).
     * 0: SQLite's default (off in Debian's build); -1: off. */
    int64_t mmap_bytes;
    /* 1: a commit's WAL frames go to the file in one pwrite instead of two
     * per page (src/db/sqlite_wal.c), written before the commit is visible
     * and before any read, sync or checkpoint of the WAL. The buffer (124
     * KB) is allocated at a connection's first WAL write; frames of a
     * transaction rolled back are dropped, not written. */
    int wal_write_gather;
    /* PRAGMA page_size of a new database, set before its first write: 0
     * (SQLite's default, 4096) or a power of two from 512 to 65536. A
     * database that exists keeps the size it was made with. */
    int page_size;
} weft_sqlite_config;

int weft_sqlite_open(weft_sqlite **out, const weft_sqlite_config *cfg, weft_db_err *err);
void weft_sqlite_close(weft_sqlite *db);
/* Whether one of SQLite's own syncs failed: with synchronous=NORMAL it syncs
 * the WAL before a checkpoint and the database file after one, and goes on
 * after a failure (the checkpoint is tried again later), but a writeback
 * error is reported only once, so a later sync can succeed with pages lost.
 * 0 while none failed (or wal_write_gather is off: its VFS watches them);
 * WEFT_EIO after the first, with "SQLite's sync of the WAL: disk I/O error"
 * (or "of the database file") in msg (cap bytes; may be NULL). It stays
 * set until the database is closed, and then the close does not checkpoint
 * (the WAL is kept for the next open to recover from). What to do is the
 * application's: writes committed since are not known to be durable. */
int weft_sqlite_sync_failed(weft_sqlite *db, char *msg, size_t cap);
/* Statements that only read (sqlite3_stmt_readonly) go to a reader; the
 * rest to the writer. */
int weft_sqlite_query(weft_sqlite *db, const char *sql, const weft_db_arg *args, int nargs,
                      weft_db_rows **rows, weft_db_err *err, int64_t deadline);
int weft_sqlite_exec(weft_sqlite *db, const char *sql, const weft_db_arg *args, int nargs,
                     int64_t *affected, weft_db_err *err, int64_t deadline);
/* Several statements separated by ';', no parameters (schema scripts). */
int weft_sqlite_exec_script(weft_sqlite *db, const char *sql, weft_db_err *err, int64_t deadline);
/* BEGIN IMMEDIATE on the writer, held for this transaction. */
int weft_sqlite_begin(weft_sqlite *db, weft_sqlite_tx **tx, weft_db_err *err, int64_t deadline);
int weft_sqlite_tx_query(weft_sqlite_tx *tx, const char *sql, const weft_db_arg *args, int nargs,
                         weft_db_rows **rows, weft_db_err *err, int64_t deadline);
int weft_sqlite_tx_exec(weft_sqlite_tx *tx, const char *sql, const weft_db_arg *args, int nargs,
                        int64_t *affected, weft_db_err *err, int64_t deadline);
int weft_sqlite_commit(weft_sqlite_tx *tx, weft_db_err *err, int64_t deadline);
int weft_sqlite_rollback(weft_sqlite_tx *tx, int64_t deadline);

#ifdef __cplusplus
}
#endif

#endif
