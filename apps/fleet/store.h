/*
 * apps/fleet/store.h — the database behind weft fleet, SQLite (embedded, the
 * default) or PostgreSQL (when the settings name one), behind one small
 * interface: statements are written once, in the SQL both accept ($1
 * parameters, ON CONFLICT, RETURNING, LIMIT/OFFSET), and run on whichever
 * backend is open. Times are stored as Unix milliseconds (BIGINT), booleans
 * as 0/1, attributes as JSON text, so rows read the same from both.
 *
 * The schema is a list of numbered migrations (store.c); store_open applies
 * the ones a database has not seen, each in its own transaction, and records
 * them in schema_migrations. A database newer than this program is refused.
 *
 * Every call suspends only the calling task. Deadlines: STORE_DEADLINE_MS
 * from the call unless said otherwise.
 */
#ifndef FLEET_STORE_H
#define FLEET_STORE_H

#include "weft/db.h"

#include "config.h"

#define STORE_DEADLINE_MS 10000

typedef struct store store;
typedef struct store_tx store_tx;

/* Open the database the settings name (creating data_dir and the SQLite file
 * if needed) and migrate it. 0, or a negative code with err saying what
 * failed ("storage.data_dir /x: Permission denied", "migration 2: ...",
 * "database schema version 9 is newer than this program (3)"). */
int store_open(store **out, const fleet_config *cfg, char *err, size_t errlen);
/* The same, migrating only up to schema version `version` (the upgrade
 * tests make a database of an older version with it). */
int store_open_version(store **out, const fleet_config *cfg, int version, char *err, size_t errlen);
void store_close(store *s);

int store_is_pg(const store *s);
int store_schema_version(store *s); /* after store_open: the latest */

int store_query(store *s, const char *sql, const weft_db_arg *args, int nargs, weft_db_rows **rows,
                weft_db_err *err);
int store_exec(store *s, const char *sql, const weft_db_arg *args, int nargs, int64_t *affected,
               weft_db_err *err);
/* One integer: sql gives at most one row, and *out becomes its first
 * column. 0; WEFT_ENOENT when it gave no row or the value is NULL (err says
 * which; *out untouched), WEFT_EINVAL when it gave more than one row, or the
 * query's error. err is always filled on failure. */
int store_query_i64(store *s, const char *sql, const weft_db_arg *args, int nargs, int64_t *out,
                    weft_db_err *err);

/* A transaction; with SQLite it holds the one writer (BEGIN IMMEDIATE), with
 * PostgreSQL a connection of its own. If the task ends with it open, it is
 * rolled back. */
int store_begin(store *s, store_tx **tx, weft_db_err *err, int64_t deadline);
int store_tx_query(store_tx *tx, const char *sql, const weft_db_arg *args, int nargs,
                   weft_db_rows **rows, weft_db_err *err, int64_t deadline);
int store_tx_exec(store_tx *tx, const char *sql, const weft_db_arg *args, int nargs,
                  int64_t *affected, weft_db_err *err, int64_t deadline);
/* store_query_i64 inside the transaction. */
int store_tx_query_i64(store_tx *tx, const char *sql, const weft_db_arg *args, int nargs, int64_t *out,
                       weft_db_err *err, int64_t deadline);
/* COMMIT, durable when it returns 0 (SQLite: followed by store_sync). */
int store_commit(store_tx *tx, weft_db_err *err, int64_t deadline);
/* COMMIT without waiting for the disk on SQLite (PostgreSQL: as store_commit):
 * visible to readers, not yet durable. The caller calls store_sync before
 * it tells anyone the rows are stored (writer.c). */
int store_commit_nosync(store_tx *tx, weft_db_err *err, int64_t deadline);
/* Make every commit that returned before this call durable: SQLite syncs
 * the WAL file (fdatasync, on the blocking pool; suspends); PostgreSQL
 * returns 0 (its commits are durable). 0 or a negative code. store_exec, a
 * writing store_query and store_commit call it themselves.
 *
 * The first failed fdatasync is latched (store.c says why): it is logged
 * once, at error level, and from then on store_sync returns WEFT_EIO without
 * syncing, and store_begin, store_exec and a writing store_query refuse
 * with WEFT_EIO (err: "storage failed: ..."), until the process restarts.
 * Reads go on. Those calls, and a store_exec, writing store_query or
 * store_commit whose own sync failed, return WEFT_EIO; nothing else here
 * does, so WEFT_EIO from the store means "not durable: answer 503". */
int store_sync(store *s);
/* 0 while the store is healthy; after a failed sync, that sync's negative
 * code, and the message (as in err above) copied into msg[0..cap) unless
 * msg is NULL. Never suspends. */
int store_failed(store *s, char *msg, size_t cap);
/* Tests: hook() runs before each SQLite fdatasync (on a blocking-pool
 * thread, holding the sync lock; it may block); a negative return fails the
 * sync as a failed fdatasync would, latch included. */
void store_set_sync_hook(store *s, int (*hook)(void));
/* Tests, SQLite: PRAGMA wal_autocheckpoint=pages on the writer (1: every
 * commit checkpoints). 0 or the error. */
int store_set_autocheckpoint(store *s, int pages);
/* "<head>($1,...,$cols),(...)...<tail>": a multi-row INSERT of rows rows
 * (head ends with "VALUES "). Heap text for the caller to free; NULL when
 * out of memory. */
char *store_insert_sql(const char *head, int cols, int rows, const char *tail);
/* Multi-row statements bind chunks of STORE_CHUNK[i] rows (64, 16, 4, 1);
 * store_chunk(left) is the index of the largest that fits in left > 0. */
extern const int STORE_CHUNK[4];
int store_chunk(int left);
void store_rollback(store_tx *tx);

#endif
