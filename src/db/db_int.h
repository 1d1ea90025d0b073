/*
 * db_int.h — what the database backends (pg.c, sqlite.c) share: the rows
 * builder behind weft_db_rows and error filling.
 *
 * Rows are built once, in one backend-neutral shape: a cell array (type,
 * offset, length, and the number for INT/DOUBLE cells) and one data buffer
 * holding every text/blob byte, NUL-terminated. A PostgreSQL result is copied
 * into it and cleared at once, so nothing libpq-owned outlives the call.
 */
#ifndef WEFT_DB_INT_H
#define WEFT_DB_INT_H

#include "weft/base.h"
#include "weft/db.h"

typedef struct weft__db_cell {
    uint8_t type; /* weft_db_type; TEXT cells of numeric columns keep their text */
    uint32_t len;
    size_t off; /* into data */
    union {
        int64_t i;
        double d;
    } v;
} weft__db_cell;

struct weft_db_rows {
    int nrows, ncols;
    int64_t affected;
    size_t *name_off; /* ncols offsets into data */
    weft__db_cell *cells;
    size_t ncells, cells_cap;
    char *data;
    size_t len, cap;
    int64_t limit; /* max bytes (cells + data); 0 = none */
    /* set when cells / data / name_off still live inside the block of
     * weft__rows_new_sized() (not separately allocated) */
    uint8_t own_cells, own_data, own_names;
};

/* A result with ncols columns and no rows yet. NULL on ENOMEM. */
weft_db_rows *weft__rows_new(int ncols, int64_t limit);
/* The same, with room for `cells` cells and `data` bytes of text (names
 * included, one NUL each) in a single allocation: a result whose size is
 * known up front (PostgreSQL's) costs one malloc. It still grows if needed. */
weft_db_rows *weft__rows_new_sized(int ncols, size_t cells, size_t data, int64_t limit);
int weft__rows_set_name(weft_db_rows *r, int col, const char *name, size_t n);
/* Append one cell; cells fill rows left to right (ncols per row). TEXT and
 * BLOB copy p/n; INT/BOOL/TIME take i; DOUBLE takes d; NULL takes nothing.
 * 0, WEFT_ENOMEM, or WEFT_ELIMIT once the result passes its limit. */
int weft__rows_cell(weft_db_rows *r, weft_db_type type, const void *p, size_t n, int64_t i,
                    double d);

/* Room for one more row of ncols cells (a backend that appends a row's
 * numbers itself, without a call per cell: sqlite.c). 0, WEFT_ENOMEM, or
 * WEFT_ELIMIT when the row's cells would take the result past its limit.
 * After it, weft__rows_num() may append up to ncols cells; nrows is the
 * caller's to bump (weft__rows_end_row) once the row is whole. */
int weft__rows_reserve_row(weft_db_rows *r);
static inline void weft__rows_num(weft_db_rows *r, weft_db_type type, int64_t i, double d) {
    weft__db_cell *c = &r->cells[r->ncells++];
    c->type = (uint8_t)type;
    c->len = 0;
    c->off = 0;
    if (type == WEFT_DB_TDOUBLE)
        c->v.d = d;
    else
        c->v.i = i;
}
static inline void weft__rows_end_row(weft_db_rows *r) { r->nrows = (int)(r->ncells / (size_t)r->ncols); }

/* Fill *e (if non-NULL): code, SQLSTATE (may be NULL) and a printf message. */
void weft__db_err_set(weft_db_err *e, int code, const char *sqlstate, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static inline void weft__db_err_clear(weft_db_err *e) {
    if (e) {
        e->code = 0;
        e->sqlstate[0] = 0;
        e->msg[0] = 0;
    }
}

/* "2026-11-22 11:34:41.709+01" (also 'T', no fraction, no zone = UTC) to
 * microseconds since the epoch. 0 ok, WEFT_EPARSE. */
int weft__db_parse_time(const char *s, size_t n, int64_t *us);
/* The same form, in UTC ("...+00"), into buf (>= 40 bytes). Length. */
int weft__db_format_time(int64_t us, char *buf);

/* sqlite_wal.c: the name of the VFS that gathers a commit's WAL writes into
 * one pwrite (registered on first call), or NULL if it could not be. */
const char *weft__sqlite_wal_gather_vfs(void);
/* Tests: how many gather buffers (one per WAL file that was written) are
 * allocated now, in the whole process. */
int weft__sqlite_wal_gather_buffers(void);

/* SQLite's own syncs of a database (the WAL before a checkpoint copies it,
 * the database file after), watched by sqlite_wal.c's VFS: the first that
 * fails is recorded here, for weft_sqlite_sync_failed. A connection's main
 * file is pointed at its database's latch with this file control
 * (sqlite3_file_control(h, "main", WEFT__SQLITE_FCNTL_SYNC_LATCH, latch)),
 * which the default VFS would answer SQLITE_NOTFOUND. */
typedef struct weft__sqlite_sync_latch {
    _Atomic int claimed; /* the first failure writes what, then code */
    _Atomic int code;    /* 0, or the SQLite result code of the failed sync */
    char what[24];       /* "the WAL", "the database file" */
} weft__sqlite_sync_latch;
#define WEFT__SQLITE_FCNTL_SYNC_LATCH 0x77656674 /* "weft": far above SQLite's own opcodes */
/* Test hook: SQLite's syncs through that VFS fail with SQLITE_IOERR_FSYNC
 * instead of syncing, for the WAL (bit 1) and the database file (bit 2). 0
 * in use. */
extern _Atomic int weft__sqlite_sync_fail;

/* Test hook (tests/unit/db_pg.c): pg.c's cancel task sleeps this long (ms)
 * between deciding to send a cancel and sending it, as a slow network or a
 * busy postmaster would: the window in which a cancel goes stale. 0 in use. */
extern _Atomic int weft__pg_cancel_delay_ms;

/* Test hooks (tests/unit/db_pg.c) for pg.c's "mu held" check. Non-zero when
 * this build checks it (pg.c's MU_OWNER: the ASan and TSan builds, or
 * -DWEFT_DEBUG, without NDEBUG). */
extern const int weft__pg_mu_checked;
/* From a task: asks is_up(), which asserts that its caller holds the
 * connection's mu, about a connection that was never opened, while that mu
 * is held by `holder`: 0 nobody, 1 the calling task, 2 another task. 0 (the
 * connection is down) when the check passes or is not compiled in;
 * WEFT_ENOTASK, WEFT_ENOMEM, or weft_group_go's error; where the check is
 * compiled in and fails, it logs "assertion failed" and aborts. */
int weft__pg_mu_check(int holder);

#endif
