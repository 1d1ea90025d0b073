/*
 * sqlite_wal.c — a VFS over SQLite's default one that gathers a commit's
 * WAL writes into one pwrite (weft_sqlite_config.wal_write_gather).
 *
 * SQLite appends a commit to the WAL as frames, each written with two
 * pwrites: its 24-byte header, then the page. A commit of many small rows
 * scattered over an index (a fix from each of many devices) writes a few
 * frames a row, so those syscalls were a large part of the writer's kernel
 * time. This VFS wraps only files opened as WAL (SQLITE_OPEN_WAL); every
 * other file is the default VFS's own object, untouched.
 *
 * A WAL file keeps the bytes written at consecutive offsets in a buffer and
 * writes them with one pwrite:
 *  - after the page that follows a commit frame's header (a header whose
 *    "database size after commit" field is not 0): SQLite publishes the
 *    commit to readers (the wal-index header) only after its frames are
 *    written, so they are in the file before anyone can look for them, and a
 *    failed pwrite is the commit's error, as it would have been;
 *  - before any other use of the file: a write elsewhere, a read (SQLite
 *    reads back its own frames, checkpoints read the WAL), a sync, a size,
 *    a truncate, a file control, a close;
 *  - when the next write would not fit in WAL_GATHER_MAX bytes.
 * Frames not yet written belong to a transaction that has not committed, so
 * a crash loses nothing that a crash without this VFS keeps.
 *
 * A transaction that is rolled back leaves its frames (those SQLite spilled
 * from a full page cache) in the buffer. They are dropped when the
 * connection releases the WAL write lock: by then a commit would have
 * flushed them, so what is left is dead, and written later it would land on
 * the frames the next writer (another connection, or another process) put
 * at the same offsets. SQLite takes that lock through the main database
 * file (xShmLock, slot 0), so main database files are wrapped too, each
 * pointing at its connection's WAL file: the WAL file finds its main file
 * by sqlite3_filename_database(), which gives the very pointer SQLite
 * opened the main file with (one per connection). A WAL file whose main
 * file is not found gathers nothing: every write goes through as is.
 *
 * The buffer is allocated at the WAL file's first write, so a connection
 * that only reads (weft_sqlite's readers) never holds one.
 *
 * The VFS also watches SQLite's own syncs: with synchronous=NORMAL it syncs
 * the WAL before a checkpoint copies it into the database, and the
 * database after. SQLite goes on after a failed one (the checkpoint is
 * abandoned and tried again), but Linux reports a writeback error once and
 * may drop the pages, so the next sync can succeed with the frames or the
 * copied pages lost, and a later checkpoint that then completes lets the
 * WAL be overwritten. The first failure is recorded in the database's
 * latch (weft__sqlite_sync_latch, handed to each connection's main file by
 * a file control), for the application to stop acknowledging writes
 * (weft_sqlite_sync_failed).
 */
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db_int.h"

/* The default VFS writes at most 0x1ffff bytes a call (it masks the
 * length to that), so a gathered write stays under 128 KB. */
#define WAL_GATHER_MAX (124 << 10)

typedef struct main_file main_file;

_Atomic int weft__sqlite_sync_fail;

/* A sync's result (or the test hook's failure, bit: 1 the WAL, 2 the
 * database file), recorded in latch when it is the first failure. */
static int watched_sync(sqlite3_file *real, int flags, int bit, weft__sqlite_sync_latch *latch, const char *what) {
    int rc = atomic_load_explicit(&weft__sqlite_sync_fail, memory_order_relaxed) & bit
                 ? SQLITE_IOERR_FSYNC
                 : real->pMethods->xSync(real, flags);
    if (rc != SQLITE_OK && latch && !atomic_exchange(&latch->claimed, 1)) {
        snprintf(latch->what, sizeof latch->what, "%s", what);
        atomic_store(&latch->code, rc);
    }
    return rc;
}

typedef struct wal_file {
    sqlite3_file base; /* pMethods = &wal_io */
    char *buf; /* WAL_GATHER_MAX bytes, from the first write on */
    int len;
    sqlite3_int64 off; /* file offset of buf[0] */
    int commit_next;   /* the last write was a commit frame's header */
    main_file *main;   /* the connection's main database file; NULL: none found,
                          nothing gathered (the write lock could not be seen) */
    sqlite3_file *real; /* the default VFS's file, in this object's tail */
} wal_file;

/* A main database file: the default VFS's, with xShmLock watched. */
struct main_file {
    sqlite3_file base; /* pMethods = &main_io */
    const char *name;  /* as SQLite passed it to xOpen */
    wal_file *wal;     /* this connection's WAL file while it is open */
    main_file *next;   /* in mains */
    weft__sqlite_sync_latch *latch; /* its database's (WEFT__SQLITE_FCNTL_SYNC_LATCH), or NULL */
    sqlite3_file *real;
};

static sqlite3_vfs gather_vfs;
static sqlite3_vfs *base_vfs;
static sqlite3_io_methods wal_io, main_io;

/* The main files open, for their WAL files to find (a handful: one per
 * connection). */
static pthread_mutex_t mains_mu = PTHREAD_MUTEX_INITIALIZER;
static main_file *mains;

static atomic_int buffers; /* gather buffers allocated now (tests) */

int weft__sqlite_wal_gather_buffers(void) { return atomic_load(&buffers); }

static int flush(wal_file *w) {
    if (w->len == 0) return SQLITE_OK;
    int rc = w->real->pMethods->xWrite(w->real, w->buf, w->len, w->off);
    w->len = 0;
    return rc;
}

static int w_write(sqlite3_file *f, const void *p, int n, sqlite3_int64 off) {
    wal_file *w = (wal_file *)f;
    int rc = SQLITE_OK;
    if (w->len && off != w->off + w->len && (rc = flush(w)) != SQLITE_OK) return rc;
    if (w->len + n > WAL_GATHER_MAX && (rc = flush(w)) != SQLITE_OK) return rc;
    if (!w->buf && w->main && (w->buf = malloc(WAL_GATHER_MAX))) atomic_fetch_add(&buffers, 1);
    /* too big to gather, no main file watched, or no memory: written as is */
    if (n > WAL_GATHER_MAX || !w->buf) return w->real->pMethods->xWrite(w->real, p, n, off);
    if (w->len == 0) w->off = off;
    memcpy(w->buf + w->len, p, (size_t)n);
    w->len += n;
    int commit = w->commit_next;
    /* a frame header: page number, then the database size after a commit
     * (0 for the frames before the last of a transaction) */
    const unsigned char *h = p;
    w->commit_next = n == 24 && (h[4] | h[5] | h[6] | h[7]) != 0;
    if (commit) rc = flush(w);
    return rc;
}

static int w_close(sqlite3_file *f) {
    wal_file *w = (wal_file *)f;
    int rc = flush(w);
    int rc2 = w->real->pMethods->xClose(w->real);
    if (w->buf) atomic_fetch_sub(&buffers, 1);
    free(w->buf);
    w->buf = NULL;
    pthread_mutex_lock(&mains_mu);
    if (w->main) w->main->wal = NULL;
    pthread_mutex_unlock(&mains_mu);
    return rc != SQLITE_OK ? rc : rc2;
}

/* Everything else: write what is gathered, then the default VFS's call. */
#define FLUSHED(w, call)                                         \
    do {                                                         \
        int rc_ = flush(w);                                      \
        return rc_ != SQLITE_OK ? rc_ : (call);                  \
    } while (0)

static int w_read(sqlite3_file *f, void *p, int n, sqlite3_int64 off) {
    wal_file *w = (wal_file *)f;
    FLUSHED(w, w->real->pMethods->xRead(w->real, p, n, off));
}
static int w_truncate(sqlite3_file *f, sqlite3_int64 size) {
    wal_file *w = (wal_file *)f;
    FLUSHED(w, w->real->pMethods->xTruncate(w->real, size));
}
static int w_sync(sqlite3_file *f, int flags) {
    wal_file *w = (wal_file *)f;
    FLUSHED(w, watched_sync(w->real, flags, 1, w->main ? w->main->latch : NULL, "the WAL"));
}
static int w_size(sqlite3_file *f, sqlite3_int64 *size) {
    wal_file *w = (wal_file *)f;
    FLUSHED(w, w->real->pMethods->xFileSize(w->real, size));
}
static int w_fcntl(sqlite3_file *f, int op, void *arg) {
    wal_file *w = (wal_file *)f;
    FLUSHED(w, w->real->pMethods->xFileControl(w->real, op, arg));
}
static int w_lock(sqlite3_file *f, int l) {
    wal_file *w = (wal_file *)f;
    return w->real->pMethods->xLock(w->real, l);
}
static int w_unlock(sqlite3_file *f, int l) {
    wal_file *w = (wal_file *)f;
    return w->real->pMethods->xUnlock(w->real, l);
}
static int w_reserved(sqlite3_file *f, int *out) {
    wal_file *w = (wal_file *)f;
    return w->real->pMethods->xCheckReservedLock(w->real, out);
}
static int w_sector(sqlite3_file *f) {
    wal_file *w = (wal_file *)f;
    return w->real->pMethods->xSectorSize(w->real);
}
static int w_devchar(sqlite3_file *f) {
    wal_file *w = (wal_file *)f;
    return w->real->pMethods->xDeviceCharacteristics(w->real);
}

static sqlite3_io_methods wal_io = {
    .iVersion = 1,
    .xClose = w_close,
    .xRead = w_read,
    .xWrite = w_write,
    .xTruncate = w_truncate,
    .xSync = w_sync,
    .xFileSize = w_size,
    .xLock = w_lock,
    .xUnlock = w_unlock,
    .xCheckReservedLock = w_reserved,
    .xFileControl = w_fcntl,
    .xSectorSize = w_sector,
    .xDeviceCharacteristics = w_devchar,
};

/* ---- main database files: everything passed through, xShmLock watched ---- */

#define MAIN(f) (((main_file *)(f))->real)
static int m_close(sqlite3_file *f) {
    main_file *m = (main_file *)f;
    pthread_mutex_lock(&mains_mu);
    main_file **pp = &mains;
    while (*pp && *pp != m) pp = &(*pp)->next;
    if (*pp) *pp = m->next;
    if (m->wal) m->wal->main = NULL;
    pthread_mutex_unlock(&mains_mu);
    return m->real->pMethods->xClose(m->real);
}
static int m_read(sqlite3_file *f, void *p, int n, sqlite3_int64 off) {
    return MAIN(f)->pMethods->xRead(MAIN(f), p, n, off);
}
static int m_write(sqlite3_file *f, const void *p, int n, sqlite3_int64 off) {
    return MAIN(f)->pMethods->xWrite(MAIN(f), p, n, off);
}
static int m_truncate(sqlite3_file *f, sqlite3_int64 size) {
    return MAIN(f)->pMethods->xTruncate(MAIN(f), size);
}
static int m_sync(sqlite3_file *f, int flags) {
    return watched_sync(MAIN(f), flags, 2, ((main_file *)f)->latch, "the database file");
}
static int m_size(sqlite3_file *f, sqlite3_int64 *size) {
    return MAIN(f)->pMethods->xFileSize(MAIN(f), size);
}
static int m_lock(sqlite3_file *f, int l) { return MAIN(f)->pMethods->xLock(MAIN(f), l); }
static int m_unlock(sqlite3_file *f, int l) { return MAIN(f)->pMethods->xUnlock(MAIN(f), l); }
static int m_reserved(sqlite3_file *f, int *out) {
    return MAIN(f)->pMethods->xCheckReservedLock(MAIN(f), out);
}
static int m_fcntl(sqlite3_file *f, int op, void *arg) {
    if (op == WEFT__SQLITE_FCNTL_SYNC_LATCH) {
        ((main_file *)f)->latch = arg;
        return SQLITE_OK;
    }
    return MAIN(f)->pMethods->xFileControl(MAIN(f), op, arg);
}
static int m_sector(sqlite3_file *f) { return MAIN(f)->pMethods->xSectorSize(MAIN(f)); }
static int m_devchar(sqlite3_file *f) { return MAIN(f)->pMethods->xDeviceCharacteristics(MAIN(f)); }
static int m_shmmap(sqlite3_file *f, int pg, int sz, int extend, void volatile **pp) {
    return MAIN(f)->pMethods->xShmMap(MAIN(f), pg, sz, extend, pp);
}
static void m_shmbarrier(sqlite3_file *f) { MAIN(f)->pMethods->xShmBarrier(MAIN(f)); }
static int m_shmunmap(sqlite3_file *f, int del) { return MAIN(f)->pMethods->xShmUnmap(MAIN(f), del); }
static int m_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **pp) {
    return MAIN(f)->pMethods->xFetch(MAIN(f), off, n, pp);
}
static int m_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p) {
    return MAIN(f)->pMethods->xUnfetch(MAIN(f), off, p);
}

/* Slot 0 of the wal-index locks is the WAL write lock (WAL_WRITE_LOCK in
 * SQLite's wal.c). Released while frames are still gathered, those belong
 * to a transaction that did not commit (a commit flushes at its last
 * frame): dropped before the lock is, so no other writer can be at work. */
static int m_shmlock(sqlite3_file *f, int ofst, int n, int flags) {
    main_file *m = (main_file *)f;
    if (ofst == 0 && n >= 1 && flags == (SQLITE_SHM_UNLOCK | SQLITE_SHM_EXCLUSIVE) && m->wal) {
        m->wal->len = 0;
        m->wal->commit_next = 0;
    }
    return m->real->pMethods->xShmLock(m->real, ofst, n, flags);
}

static sqlite3_io_methods main_io = {
    .iVersion = 3,
    .xClose = m_close,
    .xRead = m_read,
    .xWrite = m_write,
    .xTruncate = m_truncate,
    .xSync = m_sync,
    .xFileSize = m_size,
    .xLock = m_lock,
    .xUnlock = m_unlock,
    .xCheckReservedLock = m_reserved,
    .xFileControl = m_fcntl,
    .xSectorSize = m_sector,
    .xDeviceCharacteristics = m_devchar,
    .xShmMap = m_shmmap,
    .xShmLock = m_shmlock,
    .xShmBarrier = m_shmbarrier,
    .xShmUnmap = m_shmunmap,
    .xFetch = m_fetch,
    .xUnfetch = m_unfetch,
};

#define REAL_SIZE (sizeof(wal_file) > sizeof(main_file) ? sizeof(wal_file) : sizeof(main_file))
#define REAL_OFF ((REAL_SIZE + 15) & ~(size_t)15)

static int open_main(const char *name, sqlite3_file *f, int flags, int *out) {
    main_file *m = (main_file *)f;
    memset(m, 0, sizeof *m);
    m->real = (sqlite3_file *)((char *)f + REAL_OFF);
    int rc = base_vfs->xOpen(base_vfs, name, m->real, flags, out);
    if (rc != SQLITE_OK) return rc; /* base left: xClose is not called */
    if (m->real->pMethods->iVersion < 3) { /* not the unix VFS: not watched, the file as it is */
        m->real->pMethods->xClose(m->real);
        return base_vfs->xOpen(base_vfs, name, f, flags, out);
    }
    m->name = name;
    m->base.pMethods = &main_io;
    pthread_mutex_lock(&mains_mu);
    m->next = mains;
    mains = m;
    pthread_mutex_unlock(&mains_mu);
    return SQLITE_OK;
}

static int g_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out) {
    (void)vfs;
    if (name && (flags & SQLITE_OPEN_MAIN_DB)) return open_main(name, f, flags, out);
    if (!name || !(flags & SQLITE_OPEN_WAL)) return base_vfs->xOpen(base_vfs, name, f, flags, out);
    wal_file *w = (wal_file *)f;
    memset(w, 0, sizeof *w);
    w->real = (sqlite3_file *)((char *)f + REAL_OFF);
    int rc = base_vfs->xOpen(base_vfs, name, w->real, flags, out);
    if (rc != SQLITE_OK) return rc; /* base left: xClose is not called */
    w->base.pMethods = &wal_io;
    const char *db = sqlite3_filename_database(name);
    pthread_mutex_lock(&mains_mu);
    for (main_file *m = mains; m; m = m->next)
        if (m->name == db) m->wal = w, w->main = m;
    pthread_mutex_unlock(&mains_mu);
    return SQLITE_OK;
}

#define PASS(name, ...) return base_vfs->name(base_vfs, __VA_ARGS__)
static int g_delete(sqlite3_vfs *v, const char *n, int sync) { (void)v; PASS(xDelete, n, sync); }
static int g_access(sqlite3_vfs *v, const char *n, int fl, int *out) { (void)v; PASS(xAccess, n, fl, out); }
static int g_full(sqlite3_vfs *v, const char *n, int sz, char *out) { (void)v; PASS(xFullPathname, n, sz, out); }
static void *g_dlopen(sqlite3_vfs *v, const char *n) { (void)v; PASS(xDlOpen, n); }
static void g_dlerror(sqlite3_vfs *v, int n, char *m) { (void)v; base_vfs->xDlError(base_vfs, n, m); }
static void (*g_dlsym(sqlite3_vfs *v, void *h, const char *s))(void) { (void)v; PASS(xDlSym, h, s); }
static void g_dlclose(sqlite3_vfs *v, void *h) { (void)v; base_vfs->xDlClose(base_vfs, h); }
static int g_random(sqlite3_vfs *v, int n, char *out) { (void)v; PASS(xRandomness, n, out); }
static int g_sleep(sqlite3_vfs *v, int us) { (void)v; PASS(xSleep, us); }
static int g_time(sqlite3_vfs *v, double *t) { (void)v; PASS(xCurrentTime, t); }
static int g_lasterr(sqlite3_vfs *v, int n, char *m) { (void)v; PASS(xGetLastError, n, m); }
static int g_time64(sqlite3_vfs *v, sqlite3_int64 *t) { (void)v; PASS(xCurrentTimeInt64, t); }

static int reg_rc = SQLITE_ERROR;
static void reg(void) {
    if (!(base_vfs = sqlite3_vfs_find(NULL))) return;
    gather_vfs = (sqlite3_vfs){
        .iVersion = 2,
        .szOsFile = (int)REAL_OFF + base_vfs->szOsFile,
        .mxPathname = base_vfs->mxPathname,
        .zName = "weft-wal-gather",
        .xOpen = g_open,
        .xDelete = g_delete,
        .xAccess = g_access,
        .xFullPathname = g_full,
        .xDlOpen = g_dlopen,
        .xDlError = g_dlerror,
        .xDlSym = g_dlsym,
        .xDlClose = g_dlclose,
        .xRandomness = g_random,
        .xSleep = g_sleep,
        .xCurrentTime = g_time,
        .xGetLastError = g_lasterr,
        .xCurrentTimeInt64 = base_vfs->iVersion >= 2 ? g_time64 : NULL,
    };
    reg_rc = sqlite3_vfs_register(&gather_vfs, 0);
}

const char *weft__sqlite_wal_gather_vfs(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, reg);
    return reg_rc == SQLITE_OK ? gather_vfs.zName : NULL;
}
