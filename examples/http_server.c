/*
 * examples/http_server.c — what `make run` starts: a small JSON API on the
 * weft HTTP server, with a notes resource kept in a database.
 *
 *   GET    /health             {"status":"ok", uptime, live counters, store}
 *   GET    /hello/{name}       text, a route parameter
 *   GET    /add?a=1&b=2        JSON out from query parameters (400 on bad input)
 *   POST   /echo               JSON in, JSON out (400 naming the byte offset)
 *   GET    /files/{path...}    files under the current directory's examples/
 *   POST   /notes              {"text":"..."} -> 201 {"id":N,"text":"...","created":
 *                              "2026-11-22T11:34:41.709Z"} and Location: /notes/N
 *   GET    /notes?limit=N&before=ID   200 [notes], newest (highest id) first
 *   GET    /notes/{id}         200 the note
 *   DELETE /notes/{id}         204
 * Every response carries X-Response-Time, added by a middleware.
 *
 * Notes, status by status:
 *   400 POST: the body is not JSON, not an object, or "text" is missing, not
 *       a string, empty (or only spaces and tabs), holds a NUL, or is over
 *       1000 bytes (400 and not 413: the field is invalid, not the request
 *       too large; 413 is the server's answer to a body over its max_body,
 *       1 MiB); other members of the object are ignored;
 *       GET /notes: limit or before is not an integer, before is not > 0
 *       (limit is clamped to 1..100, default 20);
 *       /notes/{id}: id is not a positive integer.
 *   404 /notes/{id}: no such note (also DELETE of one already deleted).
 *   503 any database failure (down, timed out after 2 s, overloaded,
 *       refused): {"error":"database unavailable"} or the like, with
 *       Retry-After: 1; the database's own message goes to the log.
 * Errors are {"error":"..."}. Ids are never reused, even after a delete.
 *
 * Storage: SQLite by default (embedded, WAL; --sqlite PATH, default
 * weft-example.sqlite in the current directory), PostgreSQL with --pg
 * CONNINFO, or with WEFT_PG in the environment when neither flag is given.
 * The table `notes` is created at start if missing. The handlers do not know
 * which database they talk to: db_query()/db_exec() below dispatch, and the
 * SQL is the same on both ($1 parameters, INSERT ... RETURNING).
 *
 *   build/examples/http_server [--host 127.0.0.1] [--port 8080]
 *                              [--sqlite PATH | --pg CONNINFO]
 * SIGTERM or Ctrl-C drains in-flight requests, closes the database, exits 0.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "weft/db.h"
#include "weft/weft.h"

#define DB_TIMEOUT_MS 2000 /* every database call */
#define NOTE_MAX_BYTES 1000
#define LIST_DEFAULT 20
#define LIST_MAX 100

typedef struct app {
    const char *host;
    int port;
    const char *sqlite_path; /* the store when pg_conninfo is NULL */
    const char *pg_conninfo;
    weft_sqlite *lite; /* exactly one of these two is open while serving */
    weft_pg *pg;
    int64_t started_ms;
    weft_http_server *srv;
    int rc;
} app;

/* ---- the store: the only place that knows which database is open ------------ */

static int db_query(app *a, const char *sql, const weft_db_arg *args, int nargs,
                    weft_db_rows **rows, weft_db_err *e) {
    int64_t deadline = weft_deadline_in(DB_TIMEOUT_MS);
    if (a->pg) return weft_pg_query(a->pg, sql, args, nargs, rows, e, deadline);
    return weft_sqlite_query(a->lite, sql, args, nargs, rows, e, deadline);
}

static int db_exec(app *a, const char *sql, const weft_db_arg *args, int nargs, int64_t *affected,
                   weft_db_err *e) {
    int64_t deadline = weft_deadline_in(DB_TIMEOUT_MS);
    if (a->pg) return weft_pg_exec(a->pg, sql, args, nargs, affected, e, deadline);
    return weft_sqlite_exec(a->lite, sql, args, nargs, affected, e, deadline);
}

/* The schema differs only in how ids and timestamps are made. AUTOINCREMENT
 * (SQLite) and an identity column (PostgreSQL) both never hand out an id
 * twice, so a deleted note's URL does not come back as another note. */
static const char SCHEMA_SQLITE[] =
    "CREATE TABLE IF NOT EXISTS notes ("
    "id INTEGER PRIMARY KEY AUTOINCREMENT, "
    "text TEXT NOT NULL, "
    "created TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')))";
static const char SCHEMA_PG[] = "CREATE TABLE IF NOT EXISTS notes ("
                                "id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
                                "text text NOT NULL, "
                                "created timestamptz NOT NULL DEFAULT now())";

static const char SQL_INSERT[] = "INSERT INTO notes (text) VALUES ($1) RETURNING id, text, created";
static const char SQL_GET[] = "SELECT id, text, created FROM notes WHERE id = $1";
static const char SQL_LIST[] =
    "SELECT id, text, created FROM notes WHERE id < $1 ORDER BY id DESC LIMIT $2";
static const char SQL_DELETE[] = "DELETE FROM notes WHERE id = $1";

static const char *db_errmsg(int rc, const weft_db_err *e) {
    return e->msg[0] ? e->msg : weft_strerror(rc);
}

static int open_store(app *a) {
    weft_db_err e = {0};
    int rc;
    if (a->pg_conninfo) {
        weft_pg_config pc = {.conninfo = a->pg_conninfo};
        rc = weft_pg_open(&a->pg, &pc, &e);
        if (rc) {
            fprintf(stderr, "http_server: postgresql: %s\n", db_errmsg(rc, &e));
            return rc;
        }
        rc = db_exec(a, SCHEMA_PG, NULL, 0, NULL, &e);
    } else {
        weft_sqlite_config sc = {.path = a->sqlite_path};
        rc = weft_sqlite_open(&a->lite, &sc, &e);
        if (rc) {
            fprintf(stderr, "http_server: sqlite %s: %s\n", a->sqlite_path, db_errmsg(rc, &e));
            return rc;
        }
        rc = db_exec(a, SCHEMA_SQLITE, NULL, 0, NULL, &e);
    }
    if (rc) {
        fprintf(stderr, "http_server: creating table notes: %s\n", db_errmsg(rc, &e));
        return rc;
    }
    if (a->pg)
        printf("notes: postgresql\n");
    else
        printf("notes: sqlite %s\n", a->sqlite_path);
    return 0;
}

static void close_store(app *a) {
    if (a->pg) weft_pg_close(a->pg);
    if (a->lite) weft_sqlite_close(a->lite);
    a->pg = NULL;
    a->lite = NULL;
}

/* ---- helpers -------------------------------------------------------------------- */

/* A database call failed: the details to the log, a short reason to the
 * client, who may try again. */
static int db_fail(weft_http_ctx *c, const char *what, int rc, const weft_db_err *e) {
    weft_log_error("notes: %s: %s (%s)", what, db_errmsg(rc, e), weft_strerror(rc));
    const char *reason = rc == WEFT_ETIMEDOUT                           ? "database timed out"
                         : rc == WEFT_ENOTCONN || rc == WEFT_ECONNRESET ? "database unavailable"
                         : rc == WEFT_ELIMIT                            ? "database overloaded"
                                                                        : "database error";
    weft_http_add_header(c, "Retry-After", "1");
    return weft_http_error(c, 503, reason);
}

/* A note id as it appears in a URL or a query: decimal digits, 1..INT64_MAX. */
static int parse_id(weft_str s, int64_t *out) {
    uint64_t v;
    if (weft_str_to_u64(s, &v) || v < 1 || v > INT64_MAX) return -1;
    *out = (int64_t)v;
    return 0;
}

/* Microseconds since the epoch as RFC 3339 UTC with milliseconds (SQLite's
 * precision; PostgreSQL's microseconds are cut to match). */
static void rfc3339(int64_t us, char *buf, size_t n) {
    int64_t secs = us / 1000000, frac = us % 1000000;
    if (frac < 0) {
        frac += 1000000;
        secs--;
    }
    time_t t = (time_t)secs;
    struct tm tm;
    gmtime_r(&t, &tm);
    size_t k = strftime(buf, n, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + k, n - k, ".%03dZ", (int)(frac / 1000));
}

/* Row i of an (id, text, created) result as a JSON object. */
static void enc_note(weft_json_enc *e, const weft_db_rows *r, int i) {
    size_t n;
    const char *text = weft_db_text(r, i, 1, &n);
    char created[64];
    rfc3339(weft_db_time(r, i, 2), created, sizeof created);
    weft_json_enc_object(e);
    weft_json_enc_key(e, WEFT_STR("id"));
    weft_json_enc_int(e, weft_db_int(r, i, 0));
    weft_json_enc_key(e, WEFT_STR("text"));
    weft_json_enc_str(e, (weft_str){text ? text : "", n});
    weft_json_enc_key(e, WEFT_STR("created"));
    weft_json_enc_str(e, weft_str_c(created));
    weft_json_enc_end(e);
}

/* ---- routes ------------------------------------------------------------------- */

static int timing(weft_http_ctx *c, void *ud) {
    (void)ud;
    int64_t t0 = weft_now_ns();
    int rc = weft_http_next(c); /* everything after this middleware */
    char v[32];
    snprintf(v, sizeof v, "%.3fms", (double)(weft_now_ns() - t0) / 1e6);
    weft_http_add_header(c, "X-Response-Time", v);
    return rc;
}

static int health(weft_http_ctx *c, void *ud) {
    app *a = ud;
    weft_http_stats st;
    weft_http_server_stats(a->srv, &st);
    weft_json_enc *e = weft_http_json_begin(c, 200);
    weft_json_enc_object(e);
    weft_json_enc_key(e, WEFT_STR("status"));
    weft_json_enc_str(e, WEFT_STR("ok"));
    weft_json_enc_key(e, WEFT_STR("uptime_ms"));
    weft_json_enc_int(e, weft_now() - a->started_ms);
    weft_json_enc_key(e, WEFT_STR("workers"));
    weft_json_enc_int(e, weft_workers());
    weft_json_enc_key(e, WEFT_STR("io"));
    weft_json_enc_str(e, weft_str_c(weft_io_backend_name()));
    weft_json_enc_key(e, WEFT_STR("connections"));
    weft_json_enc_int(e, (int64_t)st.connections);
    weft_json_enc_key(e, WEFT_STR("requests"));
    weft_json_enc_int(e, (int64_t)st.requests);
    weft_json_enc_key(e, WEFT_STR("store"));
    weft_json_enc_str(e, a->pg ? WEFT_STR("postgresql") : WEFT_STR("sqlite"));
    weft_json_enc_end(e);
    return weft_http_json_end(c);
}

static int hello(weft_http_ctx *c, void *ud) {
    (void)ud;
    weft_str name = weft_http_param(c, "name");
    weft_buf *b = weft_http_body_buf(c);
    weft_http_set_status(c, 200);
    weft_http_set_content_type(c, "text/plain; charset=utf-8");
    return weft_buf_printf(b, "Hello, %.*s!\n", (int)name.n, name.p);
}

static int add(weft_http_ctx *c, void *ud) {
    (void)ud;
    int64_t a, b;
    if (weft_str_to_i64(weft_http_query(c, "a"), &a) ||
        weft_str_to_i64(weft_http_query(c, "b"), &b))
        return weft_http_error(c, 400, "query parameters a and b must be integers");
    if ((b > 0 && a > INT64_MAX - b) || (b < 0 && a < INT64_MIN - b))
        return weft_http_error(c, 400, "a + b does not fit in 64 bits");
    weft_json_enc *e = weft_http_json_begin(c, 200);
    weft_json_enc_object(e);
    weft_json_enc_key(e, WEFT_STR("sum"));
    weft_json_enc_int(e, a + b);
    weft_json_enc_end(e);
    return weft_http_json_end(c);
}

static int echo(weft_http_ctx *c, void *ud) {
    (void)ud;
    weft_json *doc;
    weft_json_error err;
    if (weft_http_body_json(c, &doc, &err) != 0) {
        char msg[160];
        snprintf(msg, sizeof msg, "invalid JSON at byte %zu: %s", err.offset, err.msg);
        return weft_http_error(c, 400, msg);
    }
    weft_json_enc *e = weft_http_json_begin(c, 200);
    weft_json_enc_object(e);
    weft_json_enc_key(e, WEFT_STR("received"));
    weft_json_enc_value(e, doc);
    weft_json_enc_key(e, WEFT_STR("bytes"));
    weft_json_enc_int(e, (int64_t)weft_http_body(c).n);
    weft_json_enc_end(e);
    return weft_http_json_end(c);
}

static int files(weft_http_ctx *c, void *ud) {
    (void)ud;
    int rc = weft_http_static(c, "examples", weft_http_param(c, "path"));
    if (rc == WEFT_ENOENT) return weft_http_error(c, 404, "no such file");
    return rc;
}

static int note_create(weft_http_ctx *c, void *ud) {
    app *a = ud;
    weft_json *doc;
    weft_json_error jerr;
    if (weft_http_body_json(c, &doc, &jerr) != 0) {
        char msg[160];
        snprintf(msg, sizeof msg, "invalid JSON at byte %zu: %s", jerr.offset, jerr.msg);
        return weft_http_error(c, 400, msg);
    }
    if (doc->type != WEFT_JSON_OBJECT)
        return weft_http_error(c, 400, "the body must be a JSON object");
    const weft_json *t = weft_json_get(doc, "text");
    if (!t) return weft_http_error(c, 400, "\"text\" is required");
    if (t->type != WEFT_JSON_STRING) return weft_http_error(c, 400, "\"text\" must be a string");
    weft_str text = weft_json_str(t);
    if (weft_str_trim(text).n == 0) return weft_http_error(c, 400, "\"text\" must not be empty");
    if (text.n > NOTE_MAX_BYTES)
        return weft_http_error(c, 400, "\"text\" is longer than 1000 bytes");
    if (memchr(text.p, 0, text.n))
        return weft_http_error(c, 400, "\"text\" must not contain NUL characters");

    weft_db_arg arg = WEFT_DB_TEXTN(text.p, text.n);
    weft_db_rows *r;
    weft_db_err e;
    int rc = db_query(a, SQL_INSERT, &arg, 1, &r, &e);
    if (rc) return db_fail(c, "insert", rc, &e);
    if (weft_db_nrows(r) != 1) { /* RETURNING gives the row it inserted */
        weft_db_rows_free(r);
        return weft_http_error(c, 500, "the insert returned no row");
    }
    char loc[40];
    snprintf(loc, sizeof loc, "/notes/%" PRId64, weft_db_int(r, 0, 0));
    weft_http_add_header(c, "Location", loc);
    weft_json_enc *j = weft_http_json_begin(c, 201);
    enc_note(j, r, 0);
    weft_db_rows_free(r);
    return weft_http_json_end(c);
}

static int note_list(weft_http_ctx *c, void *ud) {
    app *a = ud;
    int64_t limit = LIST_DEFAULT, before = INT64_MAX;
    weft_str v = weft_http_query(c, "limit");
    if (v.p) {
        int prc = weft_str_to_i64(v, &limit);
        if (prc == WEFT_ERANGE)
            limit = v.p[0] == '-' ? 1 : LIST_MAX; /* clamped below */
        else if (prc)
            return weft_http_error(c, 400, "limit must be an integer");
        if (limit < 1) limit = 1;
        if (limit > LIST_MAX) limit = LIST_MAX;
    }
    v = weft_http_query(c, "before");
    if (v.p && parse_id(v, &before))
        return weft_http_error(c, 400, "before must be a positive integer (a note id)");

    weft_db_arg args[2] = {WEFT_DB_INT(before), WEFT_DB_INT(limit)};
    weft_db_rows *r;
    weft_db_err e;
    int rc = db_query(a, SQL_LIST, args, 2, &r, &e);
    if (rc) return db_fail(c, "list", rc, &e);
    weft_json_enc *j = weft_http_json_begin(c, 200);
    weft_json_enc_array(j);
    for (int i = 0; i < weft_db_nrows(r); i++) enc_note(j, r, i);
    weft_json_enc_end(j);
    weft_db_rows_free(r);
    return weft_http_json_end(c);
}

static int note_get(weft_http_ctx *c, void *ud) {
    app *a = ud;
    int64_t id;
    if (parse_id(weft_http_param(c, "id"), &id))
        return weft_http_error(c, 400, "the note id must be a positive integer");
    weft_db_arg arg = WEFT_DB_INT(id);
    weft_db_rows *r;
    weft_db_err e;
    int rc = db_query(a, SQL_GET, &arg, 1, &r, &e);
    if (rc) return db_fail(c, "get", rc, &e);
    if (weft_db_nrows(r) == 0) {
        weft_db_rows_free(r);
        return weft_http_error(c, 404, "no such note");
    }
    weft_json_enc *j = weft_http_json_begin(c, 200);
    enc_note(j, r, 0);
    weft_db_rows_free(r);
    return weft_http_json_end(c);
}

static int note_delete(weft_http_ctx *c, void *ud) {
    app *a = ud;
    int64_t id, affected = 0;
    if (parse_id(weft_http_param(c, "id"), &id))
        return weft_http_error(c, 400, "the note id must be a positive integer");
    weft_db_arg arg = WEFT_DB_INT(id);
    weft_db_err e;
    int rc = db_exec(a, SQL_DELETE, &arg, 1, &affected, &e);
    if (rc) return db_fail(c, "delete", rc, &e);
    if (affected == 0) return weft_http_error(c, 404, "no such note");
    return weft_http_send(c, 204, NULL, NULL, 0);
}

static void serve(void *arg) {
    app *a = arg;
    if (open_store(a)) {
        close_store(a);
        a->rc = 1;
        return;
    }
    weft_http_router *r = weft_http_router_new();
    if (!r) {
        close_store(a);
        a->rc = 1;
        return;
    }
    weft_http_use(r, timing, NULL);
    weft_http_route(r, "GET", "/health", health, a);
    weft_http_route(r, "GET", "/hello/{name}", hello, NULL);
    weft_http_route(r, "GET", "/add", add, NULL);
    weft_http_route(r, "POST", "/echo", echo, NULL);
    weft_http_route(r, "GET", "/files/{path...}", files, NULL);
    weft_http_route(r, "POST", "/notes", note_create, a);
    weft_http_route(r, "GET", "/notes", note_list, a);
    weft_http_route(r, "GET", "/notes/{id}", note_get, a);
    weft_http_route(r, "DELETE", "/notes/{id}", note_delete, a);
    weft_http_config cfg = {.host = a->host, .port = a->port, .handle_signals = 1, .access_log = 1};
    int err = 0;
    a->started_ms = weft_now();
    a->srv = weft_http_server_new(&cfg, r, &err);
    if (!a->srv) {
        fprintf(stderr, "http_server: cannot listen on %s:%d: %s\n", a->host, a->port,
                weft_strerror(err));
        a->rc = 1;
    } else {
        /* stdout, flushed: scripts wait for this line */
        printf("listening on http://%s:%d\n", a->host, weft_http_server_port(a->srv));
        fflush(stdout);
        weft_http_serve(a->srv);
        weft_http_server_free(a->srv);
        printf("stopped\n");
    }
    weft_http_router_free(r);
    close_store(a);
}

static int usage(FILE *f, int rc) {
    fprintf(f, "usage: http_server [--host ADDR] [--port N] [--sqlite PATH | --pg CONNINFO]\n"
               "  --host ADDR      listen address (default 127.0.0.1)\n"
               "  --port N         TCP port, 0 for any free one (default 8080)\n"
               "  --sqlite PATH    keep the notes in this SQLite file, created if missing\n"
               "                   (the default store; default path weft-example.sqlite)\n"
               "  --pg CONNINFO    keep them in PostgreSQL instead (libpq conninfo or URI);\n"
               "                   WEFT_PG in the environment does the same when neither\n"
               "                   --sqlite nor --pg is given\n");
    return rc;
}

int main(int argc, char **argv) {
    app a = {.host = "127.0.0.1", .port = 8080};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) return usage(stdout, 0);
        const char *opt = argv[i], *val = i + 1 < argc ? argv[++i] : NULL;
        if (strcmp(opt, "--host") != 0 && strcmp(opt, "--port") != 0 &&
            strcmp(opt, "--sqlite") != 0 && strcmp(opt, "--pg") != 0) {
            fprintf(stderr, "http_server: unknown option %s\n", opt);
            return usage(stderr, 2);
        }
        if (!val || !*val) {
            fprintf(stderr, "http_server: %s needs a value\n", opt);
            return usage(stderr, 2);
        }
        if (strcmp(opt, "--host") == 0) {
            a.host = val;
        } else if (strcmp(opt, "--port") == 0) {
            int64_t p;
            if (weft_str_to_i64(weft_str_c(val), &p) || p < 0 || p > 65535) {
                fprintf(stderr, "http_server: --port %s: not a port number (0..65535)\n", val);
                return 2;
            }
            a.port = (int)p;
        } else if (strcmp(opt, "--sqlite") == 0) {
            a.sqlite_path = val;
        } else {
            a.pg_conninfo = val;
        }
    }
    if (a.sqlite_path && a.pg_conninfo) {
        fprintf(stderr, "http_server: --sqlite and --pg exclude each other\n");
        return 2;
    }
    /* a flag beats the environment */
    const char *env = getenv("WEFT_PG");
    if (!a.sqlite_path && !a.pg_conninfo && env && *env) a.pg_conninfo = env;
    if (!a.pg_conninfo && !a.sqlite_path) a.sqlite_path = "weft-example.sqlite";
    int rc = weft_main(serve, &a, NULL);
    return rc ? 1 : a.rc;
}
