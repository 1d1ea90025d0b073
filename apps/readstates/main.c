/*
 * apps/readstates — the Read States service of the arena's GC case (issue 13
 * part C, docs/gc-case.md); readstates.h says what it answers.
 *
 *   build/apps/readstates [--host 127.0.0.1] [--port 18700] [--workers N]
 *                         [--users 10000000]
 * Loads users 1..N (rs_initial) before listening, then prints one line
 * "readstates: N users loaded in S s; listening on http://HOST:PORT" on
 * stderr (bench/run-gc.sh waits for it).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "readstates.h"

typedef struct app {
    const char *host;
    int port;
    uint64_t users;
    rs_store *store;
    double load_s;
    int rc;
} app;

static void serve(void *arg) {
    app *a = arg;
    rs_store *s = a->store;
    weft_http_router *r = rs_router_new(s);
    weft_http_config cfg = {.host = a->host, .port = a->port, .handle_signals = 1};
    int err = 0;
    weft_http_server *srv = r ? weft_http_server_new(&cfg, r, &err) : NULL;
    if (!srv) {
        fprintf(stderr, "readstates: cannot listen on %s:%d: %s\n", a->host, a->port,
                weft_strerror(r ? err : WEFT_ENOMEM));
        a->rc = 1;
    } else {
        fprintf(stderr, "readstates: %zu users loaded in %.2f s; listening on http://%s:%d\n",
                rs_store_len(s), a->load_s, a->host, weft_http_server_port(srv));
        weft_http_serve(srv);
        weft_http_server_free(srv);
    }
    weft_http_router_free(r);
}

static int usage(void) {
    fprintf(stderr, "usage: readstates [--host ADDR] [--port N] [--workers N] [--users N]\n");
    return 2;
}

int main(int argc, char **argv) {
    app a = {"127.0.0.1", 18700, 10000000, NULL, 0, 0};
    weft_config cfg = {0};
    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc) return usage();
        char *end;
        if (strcmp(argv[i], "--host") == 0)
            a.host = argv[++i];
        else if (strcmp(argv[i], "--port") == 0)
            a.port = (int)strtol(argv[++i], &end, 10);
        else if (strcmp(argv[i], "--workers") == 0)
            cfg.workers = (int)strtol(argv[++i], &end, 10);
        else if (strcmp(argv[i], "--users") == 0)
            a.users = strtoull(argv[++i], &end, 10);
        else
            return usage();
        if (i > 0 && strcmp(argv[i - 1], "--host") != 0 && *end) return usage();
    }
    if (a.port < 0 || a.port > 65535 || a.users == 0 || a.users > 100000000) return usage();
    if (!getenv("WEFT_LOG")) weft_log_set_level(WEFT_LOG_WARN);
    /* loaded before the runtime starts: a task would hold its worker for
     * seconds, and the load is not what is measured */
    int64_t t0 = weft_now_ns();
    a.store = rs_store_new((size_t)a.users);
    int rc = a.store ? rs_load(a.store, a.users) : WEFT_ENOMEM;
    if (rc) {
        fprintf(stderr, "readstates: cannot load %llu users: %s\n", (unsigned long long)a.users,
                weft_strerror(rc));
        rs_store_free(a.store);
        return 1;
    }
    a.load_s = (double)(weft_now_ns() - t0) / 1e9;
    rc = weft_main(serve, &a, &cfg);
    rs_store_free(a.store);
    return rc ? 1 : a.rc;
}
