/*
 * apps/tfb — the TechEmpower Framework Benchmarks application.
 *
 * Test types served now: /plaintext and /json, exactly per the TFB rules:
 * every response is composed per request (no pre-rendered bytes), with
 * Server, Date (changes every second), Content-Type and Content-Length;
 * /json serialises a fresh object on each request.
 * The database tests (/db, /queries, /fortunes, /updates, /cached-queries)
 * slot in as more routes on the same router once the data layer lands; the
 * routes table below is where they go.
 *
 *   build/apps/tfb [--host 127.0.0.1] [--port 8080] [--workers N]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft/weft.h"

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

static const struct {
    const char *method, *path;
    weft_http_handler h;
} routes[] = {
    {"GET", "/plaintext", plaintext},
    {"GET", "/json", json},
};

typedef struct app {
    const char *host;
    int port;
    int rc;
} app;

static void serve(void *arg) {
    app *a = arg;
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
}

static int usage(void) {
    fprintf(stderr, "usage: tfb [--host ADDR] [--port N] [--workers N]\n");
    return 2;
}

int main(int argc, char **argv) {
    app a = {"127.0.0.1", 8080, 0};
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
        else
            return usage();
    }
    if (a.port < 0 || a.port > 65535) return usage();
    if (!getenv("WEFT_LOG")) weft_log_set_level(WEFT_LOG_WARN);
    int rc = weft_main(serve, &a, &cfg);
    return rc ? 1 : a.rc;
}
