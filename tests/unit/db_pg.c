/*
 * tests/unit/db_pg.c — the PostgreSQL client (src/db/pg.c) against a real
 * server: scripts/test.sh starts one (scripts/pg.sh) and passes its
 * conninfo in WEFT_TEST_PG and its directory in WEFT_TEST_PG_DIR (for the
 * restart test). Without them every test fails: a database test that
 * silently skips proves nothing.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "db/db_int.h" /* test hooks: weft__pg_cancel_delay_ms, weft__pg_mu_check */
#include "test.h"
#include "weft/db.h"

static const char *dsn(void) { return getenv("WEFT_TEST_PG"); }

/* A pool on conninfo (WEFT_TEST_PG when NULL), with the other fields of
 * `over` (may be NULL). */
static weft_pg *open_on(const char *conninfo, const weft_pg_config *over) {
    weft_pg_config c = over ? *over : (weft_pg_config){0};
    c.conninfo = conninfo ? conninfo : dsn();
    if (!c.conninfo) {
        fprintf(stderr, "WEFT_TEST_PG is not set (scripts/test.sh starts a PostgreSQL)\n");
        return NULL;
    }
    weft_pg *db = NULL;
    weft_db_err e;
    int rc = weft_pg_open(&db, &c, &e);
    if (rc) fprintf(stderr, "open: %s: %s\n", weft_strerror(rc), e.msg);
    return db;
}
static weft_pg *open_db(const weft_pg_config *over) { return open_on(NULL, over); }

#define DL weft_deadline_in(10000)

/* a table of our own per process, so concurrent runs do not meet */
static char T[64];
static const char *tbl(void) {
    snprintf(T, sizeof T, "weft_t_%d", (int)getpid());
    return T;
}
static int sqlf(weft_pg *db, const char *fmt) {
    char sql[512];
    snprintf(sql, sizeof sql, fmt, tbl(), tbl());
    weft_db_err e;
    int rc = weft_pg_exec(db, sql, NULL, 0, NULL, &e, DL);
    if (rc) fprintf(stderr, "%s: %s\n", sql, e.msg);
    return rc;
}

/* The test table, created anew with these columns; ins (128 bytes) gets
 * "INSERT INTO <the table> VALUES (<values>)". */
static int fresh_table(weft_pg *db, const char *cols, const char *values, char ins[128]) {
    char create[256];
    snprintf(create, sizeof create, "CREATE TABLE %%s (%s)", cols);
    if (sqlf(db, "DROP TABLE IF EXISTS %s") || sqlf(db, create)) return -1;
    snprintf(ins, 128, "INSERT INTO %s VALUES (%s)", tbl(), values);
    return 0;
}

/* ---- no libpq ------------------------------------------------------------------------- */

static void open_without_libpq(void *arg) {
    weft_pg *db = NULL;
    weft_db_err e;
    weft_pg_config c = {.conninfo = "host=127.0.0.1"};
    int rc = weft_pg_open(&db, &c, &e);
    *(int *)arg = rc == WEFT_ENOTSUP && strstr(e.msg, "libpq") && !db ? 0 : 1;
}

TEST_PLAIN(a_missing_libpq_is_a_clear_error) {
    /* libpq is loaded once per process: look from a child forked before any
     * other test here loaded it (this test is registered first) */
    pid_t pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        setenv("WEFT_LIBPQ", "libweft-no-such-libpq.so", 1);
        int bad = 2;
        weft_main(open_without_libpq, &bad, NULL);
        _exit(bad);
    }
    int st = 0;
    ASSERT_EQ(waitpid(pid, &st, 0), pid);
    ASSERT(WIFEXITED(st));
    ASSERT_EQ(WEXITSTATUS(st), 0);
}

TEST(open_reports_bad_conninfo_and_unreachable_servers) {
    weft_pg *db = (weft_pg *)1;
    weft_db_err e;
    weft_pg_config c = {.conninfo = "host=/tmp port=notanumber = ="};
    ASSERT_ERR(weft_pg_open(&db, &c, &e), WEFT_EINVAL);
    ASSERT(strstr(e.msg, "conninfo") != NULL);
    /* nothing listens on port 1 */
    c = (weft_pg_config){.conninfo = "host=127.0.0.1 port=1 dbname=x connect_timeout=2"};
    ASSERT_ERR(weft_pg_open(&db, &c, &e), WEFT_ENOTCONN);
    ASSERT(strstr(e.msg, "onnection refused") != NULL || strstr(e.msg, "connect") != NULL);
    ASSERT(db == NULL);
    ASSERT_ERR(weft_pg_open(NULL, &c, &e), WEFT_EINVAL);
}

TEST(query_reads_typed_rows) {
    weft_pg *db = open_db(NULL);
    ASSERT(db);
    weft_db_rows *r;
    weft_db_err e;
    weft_db_arg a[] = {WEFT_DB_INT(42)};
    ASSERT_EQ(weft_pg_query(db, "SELECT id, randomnumber FROM world WHERE id = $1", a, 1, &r, &e,
                            DL),
              0);
    ASSERT_EQ(weft_db_nrows(r), 1);
    ASSERT_EQ(weft_db_ncols(r), 2);
    ASSERT_STREQ(weft_db_colname(r, 1), "randomnumber");
    ASSERT_EQ(weft_db_int(r, 0, 0), 42);
    int64_t n = weft_db_int(r, 0, 1);
    ASSERT(n >= 1 && n <= 10000);
    ASSERT_EQ(weft_db_int(r, 5, 5), 0); /* out of range: 0, no crash */
    ASSERT(weft_db_isnull(r, 1, 0));
    weft_db_rows_free(r);
    /* a missing row is zero rows, not an error */
    a[0] = WEFT_DB_INT(10001);
    ASSERT_EQ(weft_pg_query(db, "SELECT id, randomnumber FROM world WHERE id = $1", a, 1, &r, &e,
                            DL),
              0);
    ASSERT_EQ(weft_db_nrows(r), 0);
    weft_db_rows_free(r);
    ASSERT_EQ(weft_pg_query(db, "SELECT count(*) FROM fortune", NULL, 0, &r, &e, DL), 0);
    ASSERT_EQ(weft_db_int(r, 0, 0), 12);
    weft_db_rows_free(r);
    weft_pg_close(db);
}

TEST(every_parameter_type_round_trips) {
    weft_pg *db = open_db(NULL);
    ASSERT(db);
    static const unsigned char blob[] = {0, 1, 2, 0xff, '\\', 'x', 0};
    const char text[] = "h\xc3\xa9llo 'quoted' \"x\" -- ; DROP TABLE world";
    int64_t t = 1795000000123456; /* 2026-11-18, microseconds */
    weft_db_arg a[] = {WEFT_DB_INT(INT64_MIN), WEFT_DB_INT(INT64_MAX), WEFT_DB_DOUBLE(0.1),
                       WEFT_DB_TEXT(text),     WEFT_DB_BLOB(blob, sizeof blob),
                       WEFT_DB_BOOL(1),        WEFT_DB_TIME(t),
                       WEFT_DB_NULL,           WEFT_DB_TEXTN("abcdef", 3)};
    weft_db_rows *r;
    weft_db_err e;
    int rc = weft_pg_query(db,
                           "SELECT $1::int8, $2::int8, $3::float8, $4::text, $5::bytea, $6::bool, "
                           "$7::timestamptz, $8::int4, $9::text",
                           a, 9, &r, &e, DL);
    if (rc) fprintf(stderr, "%s\n", e.msg);
    ASSERT_EQ(rc, 0);
    ASSERT_EQ(weft_db_int(r, 0, 0), INT64_MIN);
    ASSERT_EQ(weft_db_int(r, 0, 1), INT64_MAX);
    ASSERT(weft_db_double(r, 0, 2) == 0.1);
    size_t n;
    ASSERT_STREQ(weft_db_text(r, 0, 3, &n), text);
    ASSERT_EQ(n, strlen(text));
    const void *b = weft_db_blob(r, 0, 4, &n);
    ASSERT_EQ(n, sizeof blob);
    ASSERT_MEMEQ(b, blob, sizeof blob);
    ASSERT_EQ(weft_db_bool(r, 0, 5), 1);
    ASSERT_EQ(weft_db_time(r, 0, 6), t);
    ASSERT(weft_db_isnull(r, 0, 7));
    ASSERT_STREQ(weft_db_text(r, 0, 8, NULL), "abc");
    weft_db_rows_free(r);
    /* text with a NUL cannot be sent as text */
    weft_db_arg bad = WEFT_DB_TEXTN("a\0b", 3);
    ASSERT_ERR(weft_pg_query(db, "SELECT $1::text", &bad, 1, &r, &e, DL), WEFT_EINVAL);
    ASSERT_ERR(weft_pg_query(db, NULL, NULL, 0, &r, &e, DL), WEFT_EINVAL);
    ASSERT_ERR(weft_pg_query(db, "SELECT 1", NULL, 3, &r, &e, DL), WEFT_EINVAL);
    weft_pg_close(db);
}

TEST(errors_carry_sqlstate_and_do_not_poison_the_pipeline) {
    weft_pg *db = open_db(NULL);
    ASSERT(db);
    char ins[128];
    ASSERT_EQ(fresh_table(db, "id int PRIMARY KEY, v text NOT NULL", "$1, $2", ins), 0);
    weft_db_arg a[] = {WEFT_DB_INT(1), WEFT_DB_TEXT("one")};
    weft_db_err e;
    int64_t aff = 0;
    ASSERT_EQ(weft_pg_exec(db, ins, a, 2, &aff, &e, DL), 0);
    ASSERT_EQ(aff, 1);
    ASSERT_ERR(weft_pg_exec(db, ins, a, 2, &aff, &e, DL), WEFT_EDB);
    ASSERT_STREQ(e.sqlstate, "23505");
    ASSERT(weft_db_err_is_constraint(&e));
    ASSERT(strstr(e.msg, "duplicate key") != NULL);
    /* a syntax error: its own SQLSTATE, not a constraint, and the next
     * statement on the same connection works */
    ASSERT_ERR(weft_pg_exec(db, "SELEC 1", NULL, 0, NULL, &e, DL), WEFT_EDB);
    ASSERT_STREQ(e.sqlstate, "42601");
    ASSERT(!weft_db_err_is_constraint(&e));
    /* the failed Prepare is retried, not remembered as prepared */
    ASSERT_ERR(weft_pg_exec(db, "SELEC 1", NULL, 0, NULL, &e, DL), WEFT_EDB);
    ASSERT_STREQ(e.sqlstate, "42601");
    weft_db_arg b[] = {WEFT_DB_INT(2), WEFT_DB_NULL};
    ASSERT_ERR(weft_pg_exec(db, ins, b, 2, NULL, &e, DL), WEFT_EDB);
    ASSERT_STREQ(e.sqlstate, "23502");
    weft_db_rows *r;
    ASSERT_EQ(weft_pg_query(db, "SELECT 7", NULL, 0, &r, &e, DL), 0);
    ASSERT_EQ(weft_db_int(r, 0, 0), 7);
    ASSERT_EQ(e.code, 0);
    weft_db_rows_free(r);
    ASSERT_EQ(sqlf(db, "DROP TABLE %s"), 0);
    weft_pg_close(db);
}

/* ---- many tasks, one connection: pipelining ------------------------------------ */

typedef struct {
    weft_pg *db;
    weft_wg wg;
    _Atomic int ok, bad;
} crowd;

static void asker(void *arg) {
    crowd *cr = arg;
    for (int i = 0; i < 20; i++) {
        int id = 1 + (int)((weft_task_id() * 31 + (uint64_t)i * 97) % 10000);
        weft_db_arg a = WEFT_DB_INT(id);
        weft_db_rows *r;
        weft_db_err e;
        int rc = weft_pg_query(cr->db, "SELECT id, randomnumber FROM world WHERE id = $1", &a, 1,
                               &r, &e, weft_deadline_in(20000));
        if (rc == 0 && weft_db_nrows(r) == 1 && weft_db_int(r, 0, 0) == id)
            atomic_fetch_add(&cr->ok, 1);
        else
            atomic_fetch_add(&cr->bad, 1);
        if (rc == 0) weft_db_rows_free(r);
    }
    weft_wg_done(&cr->wg);
}

/* n askers at once on db, each 20 queries; 0 when all of them ran */
static int run_askers(crowd *cr, weft_pg *db, int n) {
    *cr = (crowd){.db = db};
    weft_wg_init(&cr->wg);
    for (int i = 0; i < n; i++)
        if (test_go_wg(&cr->wg, asker, cr)) return -1;
    return weft_wg_wait(&cr->wg, weft_deadline_in(60000));
}

TEST(concurrent_tasks_share_a_pipelined_connection) {
    weft_pg *db = open_db(NULL);
    ASSERT(db);
    crowd cr;
    int n = (int)test_scale_min(200, 20);
    ASSERT_EQ(run_askers(&cr, db, n), 0);
    ASSERT_EQ(atomic_load(&cr.bad), 0);
    ASSERT_EQ(atomic_load(&cr.ok), n * 20);
    weft_pg_stats st;
    weft_pg_stats_get(db, &st);
    ASSERT_GE(st.queries, n * 20);
    ASSERT_GT(st.max_batch, 1); /* statements of several tasks were in flight together */
    ASSERT_EQ(st.conn_errors, 0);
    if (strstr(dsn(), "host=127.0.0.1")) ASSERT_GT(st.coalesced, 0); /* TCP: corked writes */
    weft_pg_close(db);
}

TEST(unix_socket_connections_work_too) {
    const char *u = getenv("WEFT_TEST_PG_UNIX");
    ASSERT(u != NULL);
    weft_pg *db = open_on(u, NULL);
    ASSERT(db);
    crowd cr;
    ASSERT_EQ(run_askers(&cr, db, 20), 0);
    ASSERT_EQ(atomic_load(&cr.ok), 20 * 20);
    weft_pg_stats st;
    weft_pg_stats_get(db, &st);
    ASSERT_GE(st.libpq_version, 140000);
    const char *min = getenv("WEFT_TEST_LIBPQ_MIN"); /* test.sh's run on a newer libpq */
    if (min) ASSERT_GE(st.libpq_version, atoi(min));
    if (st.libpq_version >= 170000)
        ASSERT_GT(st.coalesced, 0); /* a Sync without a flush: one write for many */
    else
        ASSERT_EQ(st.coalesced, 0); /* each Sync is a write; no TCP_CORK on a unix socket */
    weft_pg_close(db);
}

TEST(prepared_once_per_connection) {
    weft_pg_config cfg = {.conns_per_worker = 1};
    weft_pg *db = open_db(&cfg);
    ASSERT(db);
    weft_pg_tx *tx;
    weft_db_err e;
    /* a transaction pins one connection, so we can look at its session */
    ASSERT_EQ(weft_pg_begin(db, &tx, &e, DL), 0);
    for (int i = 0; i < 300; i++) {
        weft_db_arg a = WEFT_DB_INT(i % 100 + 1);
        ASSERT_EQ(weft_pg_tx_exec(tx, "SELECT randomnumber FROM world WHERE id = $1", &a, 1, NULL,
                                  &e, DL),
                  0);
    }
    weft_db_rows *r;
    ASSERT_EQ(weft_pg_tx_query(tx,
                               "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE "
                               "'SELECT randomnumber FROM world%'",
                               NULL, 0, &r, &e, DL),
              0);
    ASSERT_EQ(weft_db_int(r, 0, 0), 1);
    weft_db_rows_free(r);
    ASSERT_EQ(weft_pg_commit(tx, &e, DL), 0);
    weft_pg_close(db);
}

/* ---- transactions ---------------------------------------------------------------- */

static weft_pg *g_txdb;
static void leaves_tx_open(void *arg) {
    weft_pg_tx *tx;
    if (weft_pg_begin(g_txdb, &tx, NULL, DL)) return;
    char sql[128];
    snprintf(sql, sizeof sql, "INSERT INTO %s VALUES (99, 'orphan')", tbl());
    weft_pg_tx_exec(tx, sql, NULL, 0, NULL, NULL, DL);
    weft_wg_done(arg); /* ... and returns without commit */
}

static int64_t count_rows(weft_pg *db) {
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", tbl());
    weft_db_rows *r;
    if (weft_pg_query(db, sql, NULL, 0, &r, NULL, DL)) return -1;
    int64_t n = weft_db_int(r, 0, 0);
    weft_db_rows_free(r);
    return n;
}

TEST(transactions_commit_roll_back_and_roll_back_when_the_task_ends) {
    weft_pg *db = open_db(NULL);
    ASSERT(db);
    char ins[128];
    ASSERT_EQ(fresh_table(db, "id int PRIMARY KEY, v text", "$1, 'x'", ins), 0);
    weft_pg_tx *tx;
    weft_db_err e;
    ASSERT_EQ(weft_pg_begin(db, &tx, &e, DL), 0);
    weft_db_arg a = WEFT_DB_INT(1);
    ASSERT_EQ(weft_pg_tx_exec(tx, ins, &a, 1, NULL, &e, DL), 0);
    ASSERT_EQ(count_rows(db), 0); /* not visible outside before commit */
    ASSERT_EQ(weft_pg_commit(tx, &e, DL), 0);
    ASSERT_EQ(count_rows(db), 1);

    ASSERT_EQ(weft_pg_begin(db, &tx, &e, DL), 0);
    a = WEFT_DB_INT(2);
    ASSERT_EQ(weft_pg_tx_exec(tx, ins, &a, 1, NULL, &e, DL), 0);
    ASSERT_EQ(weft_pg_rollback(tx, DL), 0);
    ASSERT_EQ(count_rows(db), 1);

    /* an error inside a transaction: commit reports the rollback */
    ASSERT_EQ(weft_pg_begin(db, &tx, &e, DL), 0);
    a = WEFT_DB_INT(1);
    ASSERT_ERR(weft_pg_tx_exec(tx, ins, &a, 1, NULL, &e, DL), WEFT_EDB);
    ASSERT(weft_db_err_is_constraint(&e));
    int rc = weft_pg_commit(tx, &e, DL);
    /* PostgreSQL answers COMMIT of an aborted transaction with ROLLBACK */
    ASSERT(rc == 0 || rc == WEFT_EDB);
    ASSERT_EQ(count_rows(db), 1);

    g_txdb = db;
    weft_wg wg;
    weft_wg_init(&wg);
    ASSERT_EQ(test_go_wg(&wg, leaves_tx_open, &wg), 0);
    ASSERT_EQ(weft_wg_wait(&wg, DL), 0);
    weft_sleep(200); /* its cleanup runs after it returned */
    ASSERT_EQ(count_rows(db), 1);
    /* and the connection went back to the pool: many more transactions work */
    for (int i = 0; i < 20; i++) {
        ASSERT_EQ(weft_pg_begin(db, &tx, &e, DL), 0);
        ASSERT_EQ(weft_pg_rollback(tx, DL), 0);
    }
    ASSERT_EQ(sqlf(db, "DROP TABLE %s"), 0);
    weft_pg_close(db);
}

/* ---- deadlines, limits ------------------------------------------------------------ */

TEST(deadline_cancels_the_statement_on_the_server) {
    weft_pg_config cfg = {.conns_per_worker = 1};
    weft_pg *db = open_db(&cfg);
    ASSERT(db);
    weft_db_err e;
    int64_t t0 = weft_now_ns();
    ASSERT_ERR(weft_pg_exec(db, "SELECT pg_sleep(20)", NULL, 0, NULL, &e, weft_deadline_in(300)),
               WEFT_ETIMEDOUT);
    ASSERT_LT(test_ms_since(t0), test_slack_ms(2000));
    ASSERT_EQ(e.code, WEFT_ETIMEDOUT);
    /* the connection is usable at once: the server stopped sleeping */
    t0 = weft_now_ns();
    for (int i = 0; i < weft_workers() * 2; i++) {
        weft_db_rows *r;
        ASSERT_EQ(weft_pg_query(db, "SELECT 1", NULL, 0, &r, &e, weft_deadline_in(10000)), 0);
        weft_db_rows_free(r);
    }
    ASSERT_LT(test_ms_since(t0), test_slack_ms(5000));
    weft_pg_stats st;
    weft_pg_stats_get(db, &st);
    ASSERT_EQ(st.timeouts, 1);
    weft_pg_close(db);
}

TEST(a_pipeline_past_its_deadline_leaves_its_statements_and_the_connection_goes_on) {
    weft_pg_config cfg = {.conns_per_worker = 1};
    weft_pg *db = open_db(&cfg);
    ASSERT(db);
    /* a fast one, a slow one, then two that queue behind it */
    weft_pg_stmt st[4] = {
        {.sql = "SELECT 1", .want_rows = 1},
        {.sql = "SELECT pg_sleep(20)"},
        {.sql = "SELECT 2", .want_rows = 1},
        {.sql = "SELECT 3", .want_rows = 1},
    };
    weft_db_err e;
    int64_t t0 = weft_now_ns();
    ASSERT_ERR(weft_pg_pipeline(db, st, 4, &e, weft_deadline_in(300)), WEFT_ETIMEDOUT);
    ASSERT_LT(test_ms_since(t0), test_slack_ms(2000));
    ASSERT_EQ(st[0].rc, 0); /* answered before the deadline */
    ASSERT_EQ(weft_db_int(st[0].rows, 0, 0), 1);
    weft_db_rows_free(st[0].rows);
    for (int i = 1; i < 4; i++) {
        ASSERT_ERR(st[i].rc, WEFT_ETIMEDOUT);
        ASSERT(st[i].rows == NULL);
    }
    /* the abandoned statements are dropped by the reader, the sleeping one
     * cancelled on the server: the connection answers at once */
    t0 = weft_now_ns();
    for (int i = 0; i < 4; i++) {
        weft_db_rows *r;
        ASSERT_EQ(weft_pg_query(db, "SELECT 1", NULL, 0, &r, &e, weft_deadline_in(10000)), 0);
        ASSERT_EQ(weft_db_int(r, 0, 0), 1);
        weft_db_rows_free(r);
    }
    ASSERT_LT(test_ms_since(t0), test_slack_ms(5000));
    weft_pg_close(db);
}

TEST(results_larger_than_the_limit_are_refused) {
    weft_pg_config cfg = {.max_result_bytes = 4096};
    weft_pg *db = open_db(&cfg);
    ASSERT(db);
    weft_db_rows *r;
    weft_db_err e;
    ASSERT_ERR(weft_pg_query(db, "SELECT id, randomnumber FROM world", NULL, 0, &r, &e, DL),
               WEFT_ELIMIT);
    ASSERT(strstr(e.msg, "max_result_bytes") != NULL);
    ASSERT_EQ(weft_pg_query(db, "SELECT 1", NULL, 0, &r, &e, DL), 0);
    weft_db_rows_free(r);
    weft_pg_close(db);
}

/* ---- faults: the server restarts under load ------------------------------------- */

typedef struct {
    weft_pg *db;
    _Atomic int stop, ok, connfail, other;
    weft_wg *wg;
} loadgen;

static void load_task(void *arg) {
    loadgen *l = arg;
    while (!atomic_load(&l->stop)) {
        weft_db_rows *r;
        weft_db_err e;
        int rc = weft_pg_query(l->db, "SELECT randomnumber FROM world WHERE id = 7", NULL, 0, &r,
                               &e, weft_deadline_in(5000));
        if (rc == 0) {
            weft_db_rows_free(r);
            atomic_fetch_add(&l->ok, 1);
        } else if (rc == WEFT_ECONNRESET || rc == WEFT_ENOTCONN) {
            atomic_fetch_add(&l->connfail, 1);
            weft_sleep(5);
        } else {
            fprintf(stderr, "load: %s (%s)\n", weft_strerror(rc), e.msg);
            atomic_fetch_add(&l->other, 1);
            weft_sleep(5);
        }
    }
    weft_wg_done(l->wg);
}

typedef struct {
    const char *cmd;
    int rc;
} shell_job;
static void run_shell(void *arg) {
    shell_job *j = arg;
    j->rc = system(j->cmd);
}

TEST(server_restart_fails_in_flight_calls_then_recovers) {
    const char *dir = getenv("WEFT_TEST_PG_DIR");
    ASSERT(dir != NULL);
    weft_pg *db = open_db(NULL);
    ASSERT(db);
    weft_wg wg;
    weft_wg_init(&wg);
    loadgen l = {.db = db, .wg = &wg};
    for (int i = 0; i < 16; i++) ASSERT_EQ(test_go_wg(&wg, load_task, &l), 0);
    weft_sleep(300);
    ASSERT_GT(atomic_load(&l.ok), 0);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "bash scripts/pg.sh restart '%s'", dir);
    shell_job j = {cmd, -1};
    ASSERT_EQ(weft_blocking(run_shell, &j, -1), 0);
    ASSERT_EQ(j.rc, 0);
    /* the pool comes back by itself */
    int before = atomic_load(&l.ok);
    int64_t t0 = weft_now_ns();
    while (atomic_load(&l.ok) < before + 100 && test_ms_since(t0) < 20000) weft_sleep(50);
    atomic_store(&l.stop, 1);
    ASSERT_EQ(weft_wg_wait(&wg, weft_deadline_in(30000)), 0);
    ASSERT_GE(atomic_load(&l.ok), before + 100);
    ASSERT_GT(atomic_load(&l.connfail), 0); /* the restart was seen, as errors, not hangs */
    ASSERT_EQ(atomic_load(&l.other), 0);
    weft_pg_stats st;
    weft_pg_stats_get(db, &st);
    ASSERT_GT(st.connects, (int64_t)weft_workers()); /* reconnected */
    weft_pg_close(db);
}

/* ---- batches ----------------------------------------------------------------------- */

TEST(batch_runs_many_statements_in_one_round_trip) {
    weft_pg *db = open_db(NULL);
    ASSERT(db);
    weft_db_arg args[50];
    weft_pg_stmt st[50];
    for (int i = 0; i < 50; i++) {
        args[i] = WEFT_DB_INT(i * 100 + 1);
        st[i] = (weft_pg_stmt){.sql = "SELECT id, randomnumber FROM world WHERE id = $1",
                               .args = &args[i], .nargs = 1, .want_rows = 1};
    }
    weft_db_err e;
    ASSERT_EQ(weft_pg_batch(db, st, 50, &e, DL), 0);
    for (int i = 0; i < 50; i++) {
        ASSERT_EQ(st[i].rc, 0);
        ASSERT_EQ(weft_db_nrows(st[i].rows), 1);
        ASSERT_EQ(weft_db_int(st[i].rows, 0, 0), i * 100 + 1);
        weft_db_rows_free(st[i].rows);
    }
    weft_pg_stats s;
    weft_pg_stats_get(db, &s);
    ASSERT_GE(s.max_batch, 50); /* all fifty were in flight at once */
    ASSERT_EQ(weft_pg_batch(db, st, 0, &e, DL), 0);
    weft_pg_stmt bad = {.sql = NULL};
    ASSERT_ERR(weft_pg_batch(db, &bad, 1, &e, DL), WEFT_EINVAL);
    weft_pg_close(db);
}

/* txid_current() of each statement: equal within one implicit transaction */
static void xids(weft_pg *db, int pipeline, int64_t *out, int n) {
    weft_pg_stmt st[8];
    for (int i = 0; i < n; i++)
        st[i] = (weft_pg_stmt){.sql = "SELECT txid_current()", .want_rows = 1};
    weft_db_err e;
    int rc = pipeline ? weft_pg_pipeline(db, st, n, &e, DL) : weft_pg_batch(db, st, n, &e, DL);
    for (int i = 0; i < n; i++) {
        out[i] = rc || st[i].rc ? -1 : weft_db_int(st[i].rows, 0, 0);
        weft_db_rows_free(st[i].rows);
    }
}

TEST(pipeline_statements_are_independent_transactions_batch_ones_share_one) {
    weft_pg *db = open_db(NULL);
    ASSERT(db);
    int64_t p[5], b[5];
    xids(db, 1, p, 5);
    xids(db, 0, b, 5);
    for (int i = 0; i < 5; i++) {
        ASSERT_GT(p[i], 0);
        ASSERT_GT(b[i], 0);
        for (int j = 0; j < i; j++) ASSERT_NE(p[i], p[j]); /* a Sync after each */
        ASSERT_EQ(b[i], b[0]);                               /* one Sync for all */
    }
    weft_pg_close(db);
}

/* A fresh table with a primary key, then INSERT 1, 2, 1 (a duplicate) and 3
 * as one pipeline or one batch; ins gets the INSERT, st each result. */
static int insert_with_duplicate(weft_pg *db, int pipeline, char ins[128], weft_pg_stmt st[4],
                                 weft_db_err *e) {
    if (fresh_table(db, "id int PRIMARY KEY", "$1", ins)) return -1;
    weft_db_arg a[4] = {WEFT_DB_INT(1), WEFT_DB_INT(2), WEFT_DB_INT(1), WEFT_DB_INT(3)};
    for (int i = 0; i < 4; i++) st[i] = (weft_pg_stmt){.sql = ins, .args = &a[i], .nargs = 1};
    return pipeline ? weft_pg_pipeline(db, st, 4, e, DL) : weft_pg_batch(db, st, 4, e, DL);
}

TEST(a_failing_pipeline_statement_leaves_the_others_done) {
    weft_pg *db = open_db(NULL);
    ASSERT(db);
    char ins[128];
    weft_pg_stmt st[4];
    weft_db_err e;
    ASSERT_ERR(insert_with_duplicate(db, 1, ins, st, &e), WEFT_EDB);
    ASSERT(weft_db_err_is_constraint(&e)); /* the failure is reported */
    ASSERT_EQ(st[0].rc, 0);
    ASSERT_EQ(st[1].rc, 0);
    ASSERT_ERR(st[2].rc, WEFT_EDB);
    ASSERT_EQ(st[3].rc, 0); /* ran: its own transaction */
    ASSERT_EQ(st[3].affected, 1);
    ASSERT_EQ(count_rows(db), 3); /* 1, 2 and 3 stay */
    /* many rows in one pipeline, results in order */
    weft_db_arg args[40];
    weft_pg_stmt sel[40];
    for (int i = 0; i < 40; i++) {
        args[i] = WEFT_DB_INT(i * 250 + 3);
        sel[i] = (weft_pg_stmt){.sql = "SELECT id, randomnumber FROM world WHERE id = $1",
                                .args = &args[i], .nargs = 1, .want_rows = 1};
    }
    ASSERT_EQ(weft_pg_pipeline(db, sel, 40, &e, DL), 0);
    for (int i = 0; i < 40; i++) {
        ASSERT_EQ(sel[i].rc, 0);
        ASSERT_EQ(weft_db_nrows(sel[i].rows), 1);
        ASSERT_EQ(weft_db_int(sel[i].rows, 0, 0), i * 250 + 3);
        weft_db_rows_free(sel[i].rows);
    }
    ASSERT_EQ(sqlf(db, "DROP TABLE %s"), 0);
    weft_pg_close(db);
}

TEST(a_batch_inside_a_transaction_commits_or_rolls_back_with_it) {
    weft_pg *db = open_db(NULL);
    ASSERT(db);
    char ins[128];
    ASSERT_EQ(fresh_table(db, "id int PRIMARY KEY", "$1", ins), 0);
    for (int commit = 0; commit < 2; commit++) {
        weft_pg_tx *tx;
        weft_db_err e;
        ASSERT_EQ(weft_pg_begin(db, &tx, &e, DL), 0);
        weft_db_arg a[3] = {WEFT_DB_INT(1), WEFT_DB_INT(2), WEFT_DB_INT(3)};
        weft_pg_stmt st[3];
        for (int i = 0; i < 3; i++) st[i] = (weft_pg_stmt){.sql = ins, .args = &a[i], .nargs = 1};
        ASSERT_EQ(weft_pg_tx_batch(tx, st, 3, &e, DL), 0);
        for (int i = 0; i < 3; i++) ASSERT_EQ(st[i].affected, 1);
        weft_db_rows *r;
        char cnt[128];
        snprintf(cnt, sizeof cnt, "SELECT count(*) FROM %s", tbl());
        ASSERT_EQ(weft_pg_tx_query(tx, cnt, NULL, 0, &r, &e, DL), 0);
        ASSERT_EQ(weft_db_int(r, 0, 0), 3); /* its own rows, inside */
        weft_db_rows_free(r);
        ASSERT_EQ(count_rows(db), 0); /* not outside, yet */
        if (commit)
            ASSERT_EQ(weft_pg_commit(tx, &e, DL), 0);
        else
            ASSERT_EQ(weft_pg_rollback(tx, DL), 0);
        ASSERT_EQ(count_rows(db), commit ? 3 : 0);
    }
    ASSERT_EQ(sqlf(db, "DROP TABLE %s"), 0);
    weft_pg_close(db);
}

TEST(a_failing_batch_statement_stops_the_rest_and_undoes_the_batch) {
    weft_pg *db = open_db(NULL);
    ASSERT(db);
    char ins[128];
    weft_pg_stmt st[4];
    weft_db_err e;
    ASSERT_ERR(insert_with_duplicate(db, 0, ins, st, &e), WEFT_EDB);
    ASSERT(weft_db_err_is_constraint(&e)); /* the first failure is reported */
    ASSERT_EQ(st[0].rc, 0);
    ASSERT_EQ(st[1].rc, 0);
    ASSERT_ERR(st[2].rc, WEFT_EDB);
    ASSERT_ERR(st[3].rc, WEFT_EDB); /* not run */
    /* one implicit transaction: the two inserts before the failure are gone */
    ASSERT_EQ(count_rows(db), 0);
    /* and the connection goes on: a good batch, then single statements */
    weft_db_arg b[2] = {WEFT_DB_INT(5), WEFT_DB_INT(6)};
    weft_pg_stmt ok[2] = {{.sql = ins, .args = &b[0], .nargs = 1},
                          {.sql = ins, .args = &b[1], .nargs = 1}};
    ASSERT_EQ(weft_pg_batch(db, ok, 2, &e, DL), 0);
    ASSERT_EQ(ok[0].affected, 1);
    ASSERT_EQ(count_rows(db), 2);
    ASSERT_EQ(sqlf(db, "DROP TABLE %s"), 0);
    weft_pg_close(db);
}

/* ---- cancelled tasks, killed backends ------------------------------------------------ */

/* Askers of long statements (cancelled) and of short ones (not) on one pool. */
typedef struct {
    weft_pg *db;
    _Atomic int canceled, wrong; /* the sleepers' outcomes */
    _Atomic int ok, bad, stop;   /* the quick askers' */
    _Atomic int stray;           /* quick statements a cancel meant for a sleeper stopped (57014) */
    weft_wg quick;
} mixed;

static void sleeper(void *arg) {
    mixed *m = arg;
    weft_db_err e;
    int rc = weft_pg_exec(m->db, "SELECT pg_sleep(60)", NULL, 0, NULL, &e, weft_deadline_in(120000));
    if (rc == WEFT_ECANCELED && e.code == WEFT_ECANCELED) {
        atomic_fetch_add(&m->canceled, 1);
    } else {
        fprintf(stderr, "sleeper: %s (%s)\n", weft_strerror(rc), e.msg);
        atomic_fetch_add(&m->wrong, 1);
    }
}

static void quick_asker(void *arg) {
    mixed *m = arg;
    for (int64_t i = 1; !atomic_load(&m->stop); i++) {
        weft_db_arg a = WEFT_DB_INT(i);
        weft_db_rows *r;
        weft_db_err e;
        int rc = weft_pg_query(m->db, "SELECT $1::bigint * 2", &a, 1, &r, &e, weft_deadline_in(120000));
        if (rc == 0 && weft_db_nrows(r) == 1 && weft_db_int(r, 0, 0) == 2 * i) {
            atomic_fetch_add(&m->ok, 1);
        } else if (rc == WEFT_ETIMEDOUT && strcmp(e.sqlstate, "57014") == 0) {
            /* a cancel is "stop what the backend runs now": one fired for
             * an abandoned sleeper that landed after the sleeper ended
             * stopped this statement, and pg.c did not send it again */
            atomic_fetch_add(&m->stray, 1);
        } else {
            if (rc) fprintf(stderr, "quick asker: %s (%s)\n", weft_strerror(rc), e.msg);
            atomic_fetch_add(&m->bad, 1);
        }
        if (rc == 0) weft_db_rows_free(r);
    }
    weft_wg_done(&m->quick);
}

/* Statements sent so far. */
static int64_t queries_sent(weft_pg *db) {
    weft_pg_stats st;
    weft_pg_stats_get(db, &st);
    return st.queries;
}

/* weft_group_cancel on tasks waiting for their statements: each call returns
 * WEFT_ECANCELED (the pool's internal locks are still taken and given back:
 * a cancelled asker used to get WEFT_ECANCELED from weft_mutex_lock without
 * the lock and unlock a mutex it did not own), the statements are cancelled
 * on the server, the tasks querying beside them get every answer, and the
 * pool goes on with the connections it had. Run it under TSan. */
TEST(cancelled_askers_get_ecanceled_and_the_others_their_answers) {
    weft_pg_config cfg = {.conns_per_worker = 1};
    weft_pg *db = open_db(&cfg);
    ASSERT(db);
    mixed *m = calloc(1, sizeof *m);
    ASSERT(m);
    m->db = db;
    weft_wg_init(&m->quick);
    int nq = (int)test_scale_min(16, 4), ns = (int)test_scale_min(48, 8);
    for (int i = 0; i < nq; i++) ASSERT_EQ(test_go_wg(&m->quick, quick_asker, m), 0);
    weft_group sleepers;
    weft_group_init(&sleepers);
    int64_t sent0 = queries_sent(db);
    for (int i = 0; i < ns; i++) ASSERT_EQ(weft_group_go(&sleepers, sleeper, m, "sleeper"), 0);
    /* every sleeper's statement is on the wire (the quick askers' count too) */
    int64_t t0 = weft_now_ns();
    while (queries_sent(db) < sent0 + ns && test_ms_since(t0) < 20000) weft_sleep(10);
    weft_sleep(100);
    int ok_before = atomic_load(&m->ok);
    t0 = weft_now_ns();
    weft_group_cancel(&sleepers);
    int wrc = test_join(&sleepers, 20000);
    int64_t cancel_ms = test_ms_since(t0);
    /* the quick askers go on: the sleeps were cancelled on the server */
    t0 = weft_now_ns();
    while (atomic_load(&m->ok) < ok_before + 50 * nq && test_ms_since(t0) < 20000) weft_sleep(10);
    int64_t after_ms = test_ms_since(t0);
    atomic_store(&m->stop, 1);
    ASSERT_EQ(weft_wg_wait(&m->quick, weft_deadline_in(30000)), 0);
    ASSERT_EQ(wrc, 0);
    ASSERT_LT(cancel_ms, test_slack_ms(2000));
    ASSERT_EQ(atomic_load(&m->canceled), ns);
    ASSERT_EQ(atomic_load(&m->wrong), 0);
    ASSERT_EQ(atomic_load(&m->bad), 0);
    ASSERT_EQ(atomic_load(&m->stray), 0); /* once ~1 run in 20 (a_stale_cancel_...) */
    ASSERT_GE(atomic_load(&m->ok), ok_before + 50 * nq);
    ASSERT_LT(after_ms, test_slack_ms(10000));
    weft_pg_stats st;
    weft_pg_stats_get(db, &st);
    ASSERT_EQ(st.timeouts, ns); /* each cancelled call counted once, as a call that gave up */
    ASSERT_EQ(st.conn_errors, 0);
    ASSERT_EQ(st.connects, st.connections); /* no connection was lost (or made again) */
    ASSERT_EQ(st.connect_fails, 0);
    ASSERT_GE(st.queries, sent0 + ns + atomic_load(&m->ok) - ok_before);
    /* and later calls are answered at once */
    for (int i = 0; i < 20; i++) {
        weft_db_rows *r;
        weft_db_err e;
        ASSERT_EQ(weft_pg_query(db, "SELECT 1", NULL, 0, &r, &e, weft_deadline_in(5000)), 0);
        weft_db_rows_free(r);
    }
    free(m);
    weft_pg_close(db);
}

/* The stale-cancel race, made certain with pg.c's test hook: a cancel for
 * an abandoned statement is decided while that statement runs, but reaches
 * the server (here 400 ms later, as on a slow network) after it ended, while
 * the statement queued behind it runs. The cancel stops that one; its caller
 * did not give up and must get its answer (pg.c sends it again), not a
 * 57014 WEFT_ETIMEDOUT. One worker: one shared connection for both. */
typedef struct {
    weft_pg *db;
    int rc;
    weft_wg wg;
} stale;

static void gives_up(void *arg) {
    stale *s = arg;
    weft_db_err e;
    s->rc = weft_pg_exec(s->db, "SELECT pg_sleep(0.3)", NULL, 0, NULL, &e, weft_deadline_in(50));
    weft_wg_done(&s->wg);
}

static void stale_cancel_main(void *arg) {
    int *ok = arg;
    weft_pg_config cfg = {.conns_per_worker = 1};
    stale s = {.db = open_db(&cfg)};
    ASSERT(s.db);
    ASSERT_EQ(weft_workers(), 1);
    atomic_store(&weft__pg_cancel_delay_ms, 400);
    weft_wg_init(&s.wg);
    ASSERT_EQ(test_go_wg(&s.wg, gives_up, &s), 0);
    weft_sleep(20); /* its statement goes first */
    weft_db_rows *r = NULL;
    weft_db_err e;
    int rc = weft_pg_query(s.db, "SELECT 7 FROM pg_sleep(0.6)", NULL, 0, &r, &e, weft_deadline_in(20000));
    if (rc) fprintf(stderr, "    the statement behind: %s (%s %s)\n", weft_strerror(rc), e.sqlstate, e.msg);
    ASSERT_EQ(weft_wg_wait(&s.wg, weft_deadline_in(20000)), 0);
    atomic_store(&weft__pg_cancel_delay_ms, 0);
    ASSERT_ERR(s.rc, WEFT_ETIMEDOUT); /* the one that gave up */
    ASSERT_ERR(rc, 0);
    ASSERT_EQ(weft_db_nrows(r), 1);
    ASSERT_EQ(weft_db_int(r, 0, 0), 7);
    weft_db_rows_free(r);
    weft_pg_stats st;
    weft_pg_stats_get(s.db, &st);
    ASSERT_EQ(st.timeouts, 1);
    ASSERT_EQ(st.conn_errors, 0);
    weft_pg_close(s.db);
    *ok = 1;
}

TEST_PLAIN(a_stale_cancel_does_not_fail_the_next_callers_statement) {
    int ok = 0;
    weft_config cfg = {.workers = 1};
    ASSERT_EQ(test_main_watched("stale cancel", stale_cancel_main, &ok, &cfg), 0);
    ASSERT_EQ(ok, 1);
}

/* The same race across owners of a transaction connection: a statement of
 * a transaction is abandoned (its cancel, delayed 400 ms by the hook, is
 * still on its way), the transaction is rolled back, and the connection goes
 * back to the pool. The next transaction's BEGIN could be sent again after a
 * stray cancel, but its first statement after BEGIN cannot (statements
 * inside a transaction are never resent): the connection must not be handed
 * out before its cancels are done. (Before, it went back at once and the
 * next owner, the same task here, took it from the pool first: the delayed
 * cancel stopped its statement with 57014, WEFT_ETIMEDOUT, though its
 * caller had not given up.) */
static void stale_cancel_tx_main(void *arg) {
    int *ok = arg;
    weft_pg_config cfg = {.conns_per_worker = 1};
    weft_pg *db = open_db(&cfg);
    ASSERT(db);
    atomic_store(&weft__pg_cancel_delay_ms, 400);
    weft_pg_tx *tx = NULL;
    weft_db_err e;
    ASSERT_EQ(weft_pg_begin(db, &tx, &e, DL), 0);
    ASSERT_ERR(weft_pg_tx_exec(tx, "SELECT pg_sleep(0.3)", NULL, 0, NULL, &e, weft_deadline_in(50)), WEFT_ETIMEDOUT);
    ASSERT_EQ(weft_pg_rollback(tx, DL), 0); /* answered after the sleep, before the cancel lands */
    ASSERT_EQ(weft_pg_begin(db, &tx, &e, DL), 0);
    weft_db_rows *r = NULL;
    int rc = weft_pg_tx_query(tx, "SELECT 7 FROM pg_sleep(0.6)", NULL, 0, &r, &e, weft_deadline_in(20000));
    if (rc) fprintf(stderr, "    the next transaction's statement: %s (%s %s)\n", weft_strerror(rc), e.sqlstate, e.msg);
    ASSERT_ERR(rc, 0);
    ASSERT_EQ(weft_db_nrows(r), 1);
    ASSERT_EQ(weft_db_int(r, 0, 0), 7);
    weft_db_rows_free(r);
    ASSERT_EQ(weft_pg_commit(tx, &e, DL), 0);
    atomic_store(&weft__pg_cancel_delay_ms, 0);
    weft_pg_stats st;
    weft_pg_stats_get(db, &st);
    ASSERT_EQ(st.timeouts, 1);
    ASSERT_EQ(st.conn_errors, 0);
    weft_pg_close(db);
    *ok = 1;
}

TEST_PLAIN(a_stale_cancel_does_not_fail_the_next_transaction) {
    int ok = 0;
    weft_config cfg = {.workers = 1};
    ASSERT_EQ(test_main_watched("stale cancel, next transaction", stale_cancel_tx_main, &ok, &cfg), 0);
    ASSERT_EQ(ok, 1);
}

/* The server's own statement_timeout also says 57014; with no cancel of ours
 * about, that is the statement's real outcome: reported, and sent once only. */
TEST(a_server_statement_timeout_is_not_sent_again) {
    ASSERT(dsn());
    char ci[512];
    snprintf(ci, sizeof ci, "%s options='-c statement_timeout=200'", dsn());
    weft_pg_config cfg = {.conns_per_worker = 1};
    weft_pg *db = open_on(ci, &cfg);
    ASSERT(db);
    int64_t sent0 = queries_sent(db);
    weft_db_err e;
    ASSERT_ERR(weft_pg_exec(db, "SELECT pg_sleep(5)", NULL, 0, NULL, &e, weft_deadline_in(20000)),
               WEFT_ETIMEDOUT);
    ASSERT_STREQ(e.sqlstate, "57014");
    ASSERT_EQ(queries_sent(db), sent0 + 1);
    weft_pg_close(db);
}

/* The backends of a pool named by application_name, terminated from another
 * connection; the count, or < 0. */
static int64_t terminate_backends(weft_pg *admin, const char *app) {
    weft_db_arg a = WEFT_DB_TEXT(app);
    weft_db_rows *r;
    weft_db_err e;
    int rc = weft_pg_query(admin,
                           "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
                           "WHERE application_name = $1",
                           &a, 1, &r, &e, DL);
    if (rc) return fprintf(stderr, "terminate: %s\n", e.msg), rc;
    int64_t n = weft_db_int(r, 0, 0);
    weft_db_rows_free(r);
    return n;
}

/* The server ends the pool's connections (pg_terminate_backend from another
 * connection) three times while askers send: calls fail with
 * WEFT_ECONNRESET or WEFT_ENOTCONN, never hang or fail otherwise, and the
 * pool reconnects by itself. */
TEST(terminated_backends_fail_calls_then_the_pool_reconnects) {
    char app[64], conninfo[512];
    snprintf(app, sizeof app, "weft_victim_%d", (int)getpid());
    ASSERT(dsn() != NULL);
    snprintf(conninfo, sizeof conninfo, "%s application_name=%s", dsn(), app);
    weft_pg_config cfg = {.conns_per_worker = 2, .retry_min_ms = 20, .retry_max_ms = 200};
    weft_pg *db = open_on(conninfo, &cfg), *admin = open_db(NULL);
    ASSERT(db && admin);
    weft_pg_stats st0;
    weft_pg_stats_get(db, &st0);
    weft_wg wg;
    weft_wg_init(&wg);
    loadgen l = {.db = db, .wg = &wg};
    for (int i = 0; i < 16; i++) ASSERT_EQ(test_go_wg(&wg, load_task, &l), 0);
    int64_t killed = 0;
    for (int round = 0; round < 3; round++) {
        int before = atomic_load(&l.ok);
        int64_t t0 = weft_now_ns();
        while (atomic_load(&l.ok) < before + 50 && test_ms_since(t0) < 20000) weft_sleep(10);
        int64_t n = terminate_backends(admin, app);
        if (n < 0) break;
        killed += n;
    }
    int before = atomic_load(&l.ok);
    int64_t t0 = weft_now_ns();
    while (atomic_load(&l.ok) < before + 100 && test_ms_since(t0) < 20000) weft_sleep(20);
    atomic_store(&l.stop, 1);
    ASSERT_EQ(weft_wg_wait(&wg, weft_deadline_in(30000)), 0);
    ASSERT_GE(killed, 3); /* at least one backend each round */
    ASSERT_GE(atomic_load(&l.ok), before + 100);
    ASSERT_GT(atomic_load(&l.connfail), 0);
    ASSERT_EQ(atomic_load(&l.other), 0);
    /* every connection comes back (each after its own back-off) */
    weft_pg_stats st;
    t0 = weft_now_ns();
    for (;;) {
        weft_pg_stats_get(db, &st);
        if (st.connections >= st0.connections || test_ms_since(t0) > 20000) break;
        weft_sleep(20);
    }
    ASSERT_GE(st.connections, st0.connections);
    ASSERT_GE(st.connects, st.connections + 3); /* connections made again, at least one a round */
    ASSERT_GT(st.conn_errors, 0);
    weft_pg_close(admin);
    weft_pg_close(db);
}

/* A task in a transaction is cancelled, then ends it the way an error path
 * does (rollback, or a commit that fails): the ROLLBACK still reaches the
 * server. It used to be refused with WEFT_ECANCELED before it was sent, and
 * the connection went back to the pool inside the open transaction: the next
 * transaction on it committed the cancelled task's rows too. */
typedef struct {
    weft_pg *db;
    weft_sem inside;
    int commit, id, rc;
} tx_victim;

static void cancelled_in_tx(void *arg) {
    tx_victim *v = arg;
    weft_pg_tx *tx;
    v->rc = 1;
    if (weft_pg_begin(v->db, &tx, NULL, DL)) return;
    char sql[128];
    snprintf(sql, sizeof sql, "INSERT INTO %s VALUES (%d, 'cancelled')", tbl(), v->id);
    if (weft_pg_tx_exec(tx, sql, NULL, 0, NULL, NULL, DL)) return;
    weft_sem_release(&v->inside, 1);
    weft_sleep(60000); /* until cancelled */
    weft_db_err e;
    v->rc = v->commit ? weft_pg_commit(tx, &e, DL) : weft_pg_rollback(tx, DL);
}

TEST(a_cancelled_task_still_rolls_back_its_transaction) {
    weft_pg_config cfg = {.conns_per_worker = 1};
    weft_pg *db = open_db(&cfg);
    ASSERT(db);
    char ins[128];
    ASSERT_EQ(fresh_table(db, "id int PRIMARY KEY, v text", "$1, 'later'", ins), 0);
    for (int commit = 0; commit <= 1; commit++) {
        tx_victim v = {.db = db, .commit = commit, .id = 10 + commit};
        weft_sem_init(&v.inside, 0);
        weft_group g;
        weft_group_init(&g);
        ASSERT_EQ(weft_group_go(&g, cancelled_in_tx, &v, "in-tx"), 0);
        ASSERT_EQ(weft_sem_acquire(&v.inside, DL), 0);
        weft_group_cancel(&g);
        ASSERT_EQ(test_join(&g, 20000), 0);
        ASSERT_ERR(v.rc, commit ? WEFT_ECANCELED : 0);
        /* every transaction connection of the pool (it opens at most 4) is
         * reused: none may still be inside the cancelled transaction */
        for (int k = 0; k < 8; k++) {
            weft_pg_tx *tx;
            weft_db_err e;
            ASSERT_EQ(weft_pg_begin(db, &tx, &e, DL), 0);
            weft_db_arg a = WEFT_DB_INT(100 * (commit + 1) + k);
            ASSERT_EQ(weft_pg_tx_exec(tx, ins, &a, 1, NULL, &e, DL), 0);
            ASSERT_EQ(weft_pg_commit(tx, &e, DL), 0);
        }
    }
    char q[160];
    snprintf(q, sizeof q, "SELECT count(*) FROM %s WHERE v = 'cancelled'", tbl());
    weft_db_rows *r;
    weft_db_err e;
    ASSERT_EQ(weft_pg_query(db, q, NULL, 0, &r, &e, DL), 0);
    int64_t n = weft_db_int(r, 0, 0);
    weft_db_rows_free(r);
    ASSERT_EQ(n, 0);
    ASSERT_EQ(count_rows(db), 16);
    ASSERT_EQ(sqlf(db, "DROP TABLE %s"), 0);
    weft_pg_close(db);
}

/* weft_pg_close from a task that has been cancelled waits for the pool's
 * tasks before freeing it (it returned at once and freed the pool under
 * them: ASan reports the use after free). */
static void close_when_cancelled(void *arg) {
    weft_pg *db = open_db(NULL);
    atomic_store((atomic_int *)arg, db ? 1 : -1);
    if (!db) return;
    weft_sleep(60000); /* until cancelled */
    weft_pg_close(db);
    atomic_store((atomic_int *)arg, 2);
}

TEST(a_cancelled_task_closes_its_pool) {
    atomic_int state = 0;
    weft_group g;
    weft_group_init(&g);
    ASSERT_EQ(weft_group_go(&g, close_when_cancelled, &state, "closer"), 0);
    int64_t t0 = weft_now_ns();
    while (atomic_load(&state) == 0 && test_ms_since(t0) < 20000) weft_sleep(10);
    ASSERT_EQ(atomic_load(&state), 1);
    weft_group_cancel(&g);
    ASSERT_EQ(test_join(&g, 20000), 0);
    ASSERT_EQ(atomic_load(&state), 2);
    weft_sleep(100); /* a pool task left running would touch freed memory now */
}

/* ---- "mu held", checked ------------------------------------------------------------ */

static void mu_check_task(void *arg) {
    int *holder = arg;
    *holder = weft__pg_mu_check(*holder);
}

/* weft__pg_mu_check(*holder) in a task of a child process (a failed check
 * aborts it); exits 0 when the check returned 0, else 3. */
static int mu_check_main(void *arg) {
    int *holder = arg;
    weft_main(mu_check_task, holder, NULL);
    return *holder == 0 ? 0 : 3;
}

/* pg.c's functions that need the connection's lock assert that their caller
 * holds it (weft_mutex keeps no owner: pg.c records the task that took it).
 * The check is compiled in the ASan and TSan builds; there, the holder being
 * nobody or another task aborts, and in every build the caller holding it
 * passes. No PostgreSQL needed: the connection is never opened. */
TEST_PLAIN(functions_that_need_mu_assert_that_the_caller_holds_it) {
    char out[4096];
    int st = 0;
    ASSERT_EQ(test_run_child(mu_check_main, &(int){1}, out, sizeof out, &st), 0); /* the caller holds it */
    ASSERT(WIFEXITED(st));
    ASSERT_EQ(WEXITSTATUS(st), 0);
    for (int holder = 0; holder <= 2; holder += 2) { /* nobody; another task */
        ASSERT_EQ(test_run_child(mu_check_main, &(int){holder}, out, sizeof out, &st), 0);
        if (!weft__pg_mu_checked) { /* the plain build: not compiled in */
            ASSERT(WIFEXITED(st));
            ASSERT_EQ(WEXITSTATUS(st), 0);
            continue;
        }
        if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGABRT) {
            test__fail(__FILE__, __LINE__, "holder %d: no abort (status %#x); stderr: %s", holder, st,
                       out);
            return;
        }
        ASSERT(strstr(out, " ERROR ") != NULL); /* the log line may name the task */
        ASSERT(strstr(out, "assertion failed: mu_held_by_caller(c) (src/db/pg.c:") != NULL);
    }
}
