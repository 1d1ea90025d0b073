/*
 * apps/tfb — the TechEmpower Framework Benchmarks application.
 *
 * Test types served now: /plaintext and /json, exactly per the TFB rules:
 * every response is composed per request (no pre-rendered bytes), with
 * Server, Date (changes every second), Content-Type and Content-Length;
 * /json serialises a fresh object on each request.
 * The database tests run on PostgreSQL (src/db/pg.c, pipelined), per the
 * rules: /db one random World row; /queries?queries=N (clamped 1..500) one
 * query per row, the N queries pipelined (weft_pg_pipeline: sent
 * together, one round trip, but each with a Sync of its own, as TFB's
 * general requirement 7 asks: no two statements share an implicit
 * transaction); /fortunes all rows plus
 * one added at request time, sorted here (no ORDER BY), HTML-escaped;
 * /updates?queries=N reads N rows the same way, then writes the new numbers
 * back in one batched UPDATE (ids sorted, so concurrent batches lock rows
 * in the same order and cannot deadlock);
 * /cached-queries?count=N from a cache of World filled at start (the only
 * test allowed to cache). A database that fails answers 503 with a reason.
 *
 *   build/apps/tfb [--host 127.0.0.1] [--port 8080] [--workers N]
 *                  [--db CONNINFO] [--db-conns N per worker, default 4]
 * CONNINFO may also come from WEFT_TFB_DB. `make tfb` starts a local
 * PostgreSQL with the TFB schema (scripts/tfb.sh) when none is given.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft/db.h"
#include "weft/weft.h"

#define QUERY_TIMEOUT_MS 5000

static weft_pg *g_db;
static int32_t g_cache[10001]; /* /cached-queries: randomNumber by id */

/* ---- helpers ---------------------------------------------------------------- */

static _Thread_local uint64_t rng_state;
static int random_id(void) {
    if (!rng_state) rng_state = ((uint64_t)weft_now_ns() ^ ((uint64_t)(uintptr_t)&rng_state << 16)) | 1;
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (int)(rng_state % 10000) + 1;
}

/* ?queries=N (digits only): missing, invalid or < 1 -> 1; > 500 (however
 * many digits) -> 500 */
static int count_param(weft_http_ctx *c, const char *name) {
    uint64_t n;
    int rc = weft_str_to_u64(weft_http_query(c, name), &n);
    if (rc == WEFT_ERANGE || (rc == 0 && n > 500)) return 500;
    return rc || n < 1 ? 1 : (int)n;
}

static int db_fail(weft_http_ctx *c, int rc, const weft_db_err *e) {
    char msg[300];
    snprintf(msg, sizeof msg, "database error: %s", e && e->msg[0] ? e->msg : weft_strerror(rc));
    return weft_http_error(c, 503, msg);
}

static int no_db(weft_http_ctx *c) {
    return weft_http_error(c, 503, "no database configured (--db CONNINFO or WEFT_TFB_DB)");
}

static const char SQL_WORLD[] = "SELECT id, randomnumber FROM world WHERE id = $1";

typedef struct {
    int32_t id, n;
} world;

static void enc_world(weft_json_enc *e, const world *w) {
    weft_json_enc_object(e);
    weft_json_enc_key(e, WEFT_STR("id"));
    weft_json_enc_int(e, w->id);
    weft_json_enc_key(e, WEFT_STR("randomNumber"));
    weft_json_enc_int(e, w->n);
    weft_json_enc_end(e);
}

static int send_worlds(weft_http_ctx *c, const world *ws, int n) {
    weft_json_enc *e = weft_http_json_begin(c, 200);
    weft_json_enc_array(e);
    for (int i = 0; i < n; i++) enc_world(e, &ws[i]);
    weft_json_enc_end(e);
    return weft_http_json_end(c);
}

static int plaintext(weft_http_ctx *c, void *ud) {
    (void)ud;
    static const char body[] = "Hello, World!";
    return weft_http_send(c, 200, "text/plain", body, sizeof body - 1);
}

static int json(weft_http_ctx *c, void *ud) {
    (void)ud;
    weft_json_enc *e = weft_http_json_begin(c, 200);
    weft_json_enc_object(e);
    weft_json_enc_key(e, WEFT_STR("message"));
    weft_json_enc_str(e, WEFT_STR("Hello, World!"));
    weft_json_enc_end(e);
    return weft_http_json_end(c);
}

/* n random rows, one query each, pipelined (one round trip, a Sync each) */
static int fetch_worlds(world *ws, int n, weft_db_err *e) {
    /* the common counts on the stack (a 500-row frame would move every
     * request's stack 36 KB deeper), the rest on the heap */
    enum { SMALL = 32 };
    weft_db_arg a_small[SMALL];
    weft_pg_stmt s_small[SMALL];
    weft_db_arg *args = n <= SMALL ? a_small : malloc(sizeof *args * (size_t)n);
    weft_pg_stmt *st = n <= SMALL ? s_small : malloc(sizeof *st * (size_t)n);
    if (!args || !st) {
        if (args != a_small) free(args);
        if (st != s_small) free(st);
        snprintf(e->msg, sizeof e->msg, "out of memory");
        return WEFT_ENOMEM;
    }
    for (int i = 0; i < n; i++) {
        args[i] = WEFT_DB_INT(random_id());
        st[i] = (weft_pg_stmt){.sql = SQL_WORLD, .args = &args[i], .nargs = 1, .want_rows = 1};
    }
    int rc = weft_pg_pipeline(g_db, st, n, e, weft_deadline_in(QUERY_TIMEOUT_MS));
    for (int i = 0; i < n; i++) {
        if (!rc && weft_db_nrows(st[i].rows) != 1) {
            snprintf(e->msg, sizeof e->msg, "world %lld not found", (long long)args[i].v.i);
            rc = WEFT_EDB;
        }
        if (!rc) {
            ws[i].id = (int32_t)weft_db_int(st[i].rows, 0, 0);
            ws[i].n = (int32_t)weft_db_int(st[i].rows, 0, 1);
        }
        weft_db_rows_free(st[i].rows);
    }
    if (args != a_small) free(args);
    if (st != s_small) free(st);
    return rc;
}

/* ---- database tests ----------------------------------------------------------- */

static int db(weft_http_ctx *c, void *ud) {
    (void)ud;
    if (!g_db) return no_db(c);
    world w;
    weft_db_err e;
    int rc = fetch_worlds(&w, 1, &e);
    if (rc) return db_fail(c, rc, &e);
    weft_json_enc *j = weft_http_json_begin(c, 200);
    enc_world(j, &w);
    return weft_http_json_end(c);
}

static int queries(weft_http_ctx *c, void *ud) {
    (void)ud;
    if (!g_db) return no_db(c);
    int n = count_param(c, "queries");
    world ws[500];
    weft_db_err e;
    int rc = fetch_worlds(ws, n, &e);
    if (rc) return db_fail(c, rc, &e);
    return send_worlds(c, ws, n);
}

static int by_id(const void *a, const void *b) {
    return ((const world *)a)->id - ((const world *)b)->id;
}

static int updates(weft_http_ctx *c, void *ud) {
    (void)ud;
    if (!g_db) return no_db(c);
    int n = count_param(c, "queries");
    world ws[500], sorted[500];
    weft_db_err e;
    int rc = fetch_worlds(ws, n, &e);
    if (rc) return db_fail(c, rc, &e);
    for (int i = 0; i < n; i++) {
        ws[i].n = random_id();
        sorted[i] = ws[i];
    }
    /* one UPDATE for the batch, rows in id order (no lock-order deadlocks);
     * a repeated id keeps its last number */
    qsort(sorted, (size_t)n, sizeof(world), by_id);
    char ids[500 * 7 + 3], nums[500 * 7 + 3];
    size_t il = 0, nl = 0;
    ids[il++] = '{';
    nums[nl++] = '{';
    for (int i = 0; i < n; i++) {
        if (i + 1 < n && sorted[i + 1].id == sorted[i].id) continue;
        il += (size_t)snprintf(ids + il, sizeof ids - il, "%s%d", il > 1 ? "," : "", sorted[i].id);
        nl += (size_t)snprintf(nums + nl, sizeof nums - nl, "%s%d", nl > 1 ? "," : "", sorted[i].n);
    }
    ids[il++] = '}';
    nums[nl++] = '}';
    weft_db_arg a[2] = {WEFT_DB_TEXTN(ids, il), WEFT_DB_TEXTN(nums, nl)};
    rc = weft_pg_exec(g_db,
                          "UPDATE world SET randomnumber = v.r FROM "
                          "(SELECT unnest($1::int[]) AS id, unnest($2::int[]) AS r) AS v "
                          "WHERE world.id = v.id",
                          a, 2, NULL, &e, weft_deadline_in(QUERY_TIMEOUT_MS));
    if (rc) return db_fail(c, rc, &e);
    return send_worlds(c, ws, n);
}

typedef struct {
    int32_t id;
    const char *msg;
    size_t len;
} fortune;

static int msg_less(const fortune *x, const fortune *y) {
    size_t n = x->len < y->len ? x->len : y->len;
    int d = memcmp(x->msg, y->msg, n);
    return d ? d < 0 : x->len < y->len;
}

/* The rows, sorted by message here (no ORDER BY, per the rules): insertion
 * sort, as there are a dozen. */
static void sort_fortunes(fortune *fs, int n) {
    for (int i = 1; i < n; i++) {
        fortune f = fs[i];
        int j = i;
        for (; j > 0 && msg_less(&f, &fs[j - 1]); j--) fs[j] = fs[j - 1];
        fs[j] = f;
    }
}

/* What HTML needs escaped in text and attribute values; 0 = as is. */
static const char *const html_rep[256] = {
    ['&'] = "&amp;", ['<'] = "&lt;", ['>'] = "&gt;", ['"'] = "&quot;", ['\''] = "&#39;",
};
#define HTML_REP_MAX 6 /* the longest replacement */

static char *put_lit(char *p, const char *s, size_t n) {
    memcpy(p, s, n);
    return p + n;
}
#define PUT_LIT(p, s) put_lit(p, s, sizeof(s) - 1)

/* s[0..n) is NUL-terminated (text from the database or a literal), so
 * the runs between special characters are found by strcspn (vectorised in
 * glibc) and copied whole. */
static char *put_escaped(char *p, const char *s, size_t n) {
    const char *end = s + n;
    while (s < end) {
        size_t run = strcspn(s, "&<>\"'");
        if (run > (size_t)(end - s)) run = (size_t)(end - s);
        memcpy(p, s, run);
        p += run;
        s += run;
        if (s == end) break;
        const char *r = html_rep[(unsigned char)*s++];
        if (!r) { /* an embedded NUL: not special */
            *p++ = s[-1];
            continue;
        }
        while (*r) *p++ = *r++;
    }
    return p;
}

static const char FORTUNES_HEAD[] = "<!DOCTYPE html><html><head><title>Fortunes</title></head>"
                                    "<body><table><tr><th>id</th><th>message</th></tr>";
static const char FORTUNES_TAIL[] = "</table></body></html>";

static int fortunes(weft_http_ctx *c, void *ud) {
    (void)ud;
    if (!g_db) return no_db(c);
    weft_db_rows *r;
    weft_db_err e;
    int rc = weft_pg_query(g_db, "SELECT id, message FROM fortune", NULL, 0, &r, &e,
                           weft_deadline_in(QUERY_TIMEOUT_MS));
    if (rc) return db_fail(c, rc, &e);
    int n = weft_db_nrows(r);
    fortune stack[64], *fs = n + 1 <= 64 ? stack : malloc(sizeof(fortune) * (size_t)(n + 1));
    if (!fs) {
        weft_db_rows_free(r);
        return weft_http_error(c, 500, "out of memory");
    }
    /* the page is written straight into the body, its size bounded first */
    size_t room = sizeof FORTUNES_HEAD + sizeof FORTUNES_TAIL;
    for (int i = 0; i < n; i++) {
        fs[i].id = (int32_t)weft_db_int(r, i, 0);
        fs[i].msg = weft_db_text(r, i, 1, &fs[i].len);
        if (!fs[i].msg) fs[i].msg = "";
    }
    static const char added[] = "Additional fortune added at request time.";
    fs[n] = (fortune){0, added, sizeof added - 1};
    sort_fortunes(fs, n + 1);
    for (int i = 0; i <= n; i++) room += fs[i].len * HTML_REP_MAX + 40;
    weft_buf *b = weft_http_body_buf(c);
    rc = weft_buf_reserve(b, room);
    if (rc == 0) {
        weft_http_set_status(c, 200);
        weft_http_set_content_type(c, "text/html; charset=utf-8");
        char *p = PUT_LIT(b->data + b->len, FORTUNES_HEAD);
        for (int i = 0; i <= n; i++) {
            p = PUT_LIT(p, "<tr><td>");
            p += weft_i64_to_text(p, fs[i].id);
            p = PUT_LIT(p, "</td><td>");
            p = put_escaped(p, fs[i].msg, fs[i].len);
            p = PUT_LIT(p, "</td></tr>");
        }
        p = PUT_LIT(p, FORTUNES_TAIL);
        b->len = (size_t)(p - b->data);
        b->data[b->len] = '\0';
    }
    if (fs != stack) free(fs);
    weft_db_rows_free(r);
    return rc ? weft_http_error(c, 500, "response too large") : 0;
}

static int cached_queries(weft_http_ctx *c, void *ud) {
    (void)ud;
    if (!g_db) return no_db(c);
    int n = count_param(c, "count");
    world ws[500];
    for (int i = 0; i < n; i++) {
        ws[i].id = random_id();
        ws[i].n = g_cache[ws[i].id];
    }
    return send_worlds(c, ws, n);
}

static int load_cache(void) {
    weft_db_rows *r;
    weft_db_err e;
    int rc = weft_pg_query(g_db, "SELECT id, randomnumber FROM world", NULL, 0, &r, &e,
                           weft_deadline_in(30000));
    if (rc) {
        fprintf(stderr, "tfb: loading the World cache: %s\n", e.msg);
        return rc;
    }
    for (int i = 0; i < weft_db_nrows(r); i++) {
        int64_t id = weft_db_int(r, i, 0);
        if (id >= 1 && id <= 10000) g_cache[id] = (int32_t)weft_db_int(r, i, 1);
    }
    weft_db_rows_free(r);
    return 0;
}

static const struct {
    const char *method, *path;
    weft_http_handler h;
} routes[] = {
    {"GET", "/plaintext", plaintext},
    {"GET", "/json", json},
    {"GET", "/db", db},
    {"GET", "/queries", queries},
    {"GET", "/fortunes", fortunes},
    {"GET", "/updates", updates},
    {"GET", "/cached-queries", cached_queries},
};

typedef struct app {
    const char *host;
    int port;
    int rc;
    const char *dsn;
    int db_conns;
} app;

static void serve(void *arg) {
    app *a = arg;
    if (a->dsn && *a->dsn) {
        weft_pg_config pc = {.conninfo = a->dsn, .conns_per_worker = a->db_conns};
        weft_db_err e;
        if (weft_pg_open(&g_db, &pc, &e)) {
            fprintf(stderr, "tfb: database: %s\n", e.msg);
            a->rc = 1;
            return;
        }
        if (load_cache()) {
            weft_pg_close(g_db);
            a->rc = 1;
            return;
        }
    }
    weft_http_router *r = weft_http_router_new();
    if (!r) {
        a->rc = 1;
        return;
    }
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        if (weft_http_route(r, routes[i].method, routes[i].path, routes[i].h, NULL) < 0) {
            a->rc = 1;
            weft_http_router_free(r);
            return;
        }
    weft_http_config cfg = {.host = a->host, .port = a->port, .handle_signals = 1};
    int err = 0;
    weft_http_server *s = weft_http_server_new(&cfg, r, &err);
    if (!s) {
        fprintf(stderr, "tfb: cannot listen on %s:%d: %s\n", a->host, a->port,
                weft_strerror(err));
        a->rc = 1;
    } else {
        fprintf(stderr, "tfb: listening on http://%s:%d (%d workers, %s)\n", a->host,
                weft_http_server_port(s), weft_workers(), weft_io_backend_name());
        weft_http_serve(s);
        weft_http_server_free(s);
    }
    weft_http_router_free(r);
    if (g_db) weft_pg_close(g_db);
    g_db = NULL;
}

static int usage(void) {
    fprintf(stderr, "usage: tfb [--host ADDR] [--port N] [--workers N] [--db CONNINFO] "
                    "[--db-conns N]\n");
    return 2;
}

int main(int argc, char **argv) {
    /* 4 connections per worker, as the actix and axum peers use */
    app a = {"127.0.0.1", 8080, 0, getenv("WEFT_TFB_DB"), 4};
    weft_config cfg = {0};
    const char *env = getenv("PORT");
    if (env) a.port = atoi(env);
    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc) return usage();
        if (strcmp(argv[i], "--host") == 0)
            a.host = argv[++i];
        else if (strcmp(argv[i], "--port") == 0)
            a.port = atoi(argv[++i]);
        else if (strcmp(argv[i], "--workers") == 0)
            cfg.workers = atoi(argv[++i]);
        else if (strcmp(argv[i], "--db") == 0)
            a.dsn = argv[++i];
        else if (strcmp(argv[i], "--db-conns") == 0)
            a.db_conns = atoi(argv[++i]);
        else
            return usage();
    }
    if (a.port < 0 || a.port > 65535) return usage();
    if (!getenv("WEFT_LOG")) weft_log_set_level(WEFT_LOG_WARN);
    int rc = weft_main(serve, &a, &cfg);
    return rc ? 1 : a.rc;
}
