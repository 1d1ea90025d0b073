/*
 * examples/http_server.c — what `make run` starts: a small JSON API on the
 * weft HTTP server.
 *
 *   GET  /health             {"status":"ok", uptime, live counters}
 *   GET  /hello/{name}       text, a route parameter
 *   GET  /add?a=1&b=2        JSON out from query parameters (400 on bad input)
 *   POST /echo               JSON in, JSON out (400 naming the byte offset)
 *   GET  /files/{path...}    files under the current directory's examples/
 * Every response carries X-Response-Time, added by a middleware.
 *
 *   build/examples/http_server [--host 127.0.0.1] [--port 8080]
 * SIGTERM or Ctrl-C drains in-flight requests and exits 0.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft/weft.h"

typedef struct app {
    const char *host;
    int port;
    int64_t started_ms;
    weft_http_server *srv;
    int rc;
} app;

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
    if (weft_str_to_i64(weft_http_query(c, "a"), &a) || weft_str_to_i64(weft_http_query(c, "b"), &b))
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

static void serve(void *arg) {
    app *a = arg;
    weft_http_router *r = weft_http_router_new();
    if (!r) {
        a->rc = 1;
        return;
    }
    weft_http_use(r, timing, NULL);
    weft_http_route(r, "GET", "/health", health, a);
    weft_http_route(r, "GET", "/hello/{name}", hello, NULL);
    weft_http_route(r, "GET", "/add", add, NULL);
    weft_http_route(r, "POST", "/echo", echo, NULL);
    weft_http_route(r, "GET", "/files/{path...}", files, NULL);
    weft_http_config cfg = {.host = a->host, .port = a->port, .handle_signals = 1,
                            .access_log = 1};
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
}

int main(int argc, char **argv) {
    app a = {.host = "127.0.0.1", .port = 8080};
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--host") == 0)
            a.host = argv[i + 1];
        else if (strcmp(argv[i], "--port") == 0)
            a.port = atoi(argv[i + 1]);
    }
    int rc = weft_main(serve, &a, NULL);
    return rc ? 1 : a.rc;
}
