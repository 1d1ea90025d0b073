/*
 * examples/health.c — the /health service of the Go-vs-Rust article our users
 * read (net/http and axum versions in bench/peers/health-go and
 * bench/peers/health-rust), in weft: GET /health answers
 * {"message":"OK","status":200} as application/json; anything else is 404.
 * The arena (bench/run-build.sh) builds the three from clean to compare
 * build time, binary size and idle memory.
 *
 *   build/examples/health [--port N]   (127.0.0.1, default 8080; 0: any free port)
 * Prints "listening on http://127.0.0.1:PORT"; SIGTERM or Ctrl-C drains and exits 0.
 */
#include <stdio.h>
#include <string.h>

#include "weft/weft.h"

static int health(weft_http_ctx *c, void *ud) {
    (void)ud;
    weft_json_enc *e = weft_http_json_begin(c, 200);
    weft_json_enc_object(e);
    weft_json_enc_key(e, WEFT_STR("message"));
    weft_json_enc_str(e, WEFT_STR("OK"));
    weft_json_enc_key(e, WEFT_STR("status"));
    weft_json_enc_int(e, 200);
    weft_json_enc_end(e);
    return weft_http_json_end(c);
}

static void serve(void *arg) {
    int *port = arg, err = 0;
    weft_http_router *r = weft_http_router_new();
    if (!r) {
        *port = -1;
        return;
    }
    weft_http_route(r, "GET", "/health", health, NULL);
    weft_http_config cfg = {.host = "127.0.0.1", .port = *port, .handle_signals = 1};
    weft_http_server *srv = weft_http_server_new(&cfg, r, &err);
    if (!srv) {
        fprintf(stderr, "health: cannot listen on 127.0.0.1:%d: %s\n", *port, weft_strerror(err));
        *port = -1;
    } else {
        printf("listening on http://127.0.0.1:%d\n", weft_http_server_port(srv));
        fflush(stdout);
        weft_http_serve(srv);
        weft_http_server_free(srv);
    }
    weft_http_router_free(r);
}

int main(int argc, char **argv) {
    int port = 8080;
    if (argc == 3 && strcmp(argv[1], "--port") == 0) {
        int64_t p;
        if (weft_str_to_i64(weft_str_c(argv[2]), &p) || p < 0 || p > 65535) {
            fprintf(stderr, "health: --port %s: not a port number (0..65535)\n", argv[2]);
            return 2;
        }
        port = (int)p;
    } else if (argc != 1) {
        fprintf(stderr, "usage: health [--port N]\n");
        return 2;
    }
    if (weft_main(serve, &port, NULL)) return 1;
    return port < 0 ? 1 : 0;
}
