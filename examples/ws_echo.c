/*
 * examples/ws_echo.c — WebSocket and Server-Sent Events on weft.
 *
 *   build/examples/ws_echo [--host 127.0.0.1] [--port 9001]
 *
 *   /echo    every text and binary message comes back unchanged (the usual
 *            conformance target; permessage-deflate when the client offers it)
 *   /chat    a room: whatever one client sends, every client of the room gets,
 *            through the hub (framed once, shared by all)
 *   /events  an SSE stream of the time, once a second (a ticker publishes to
 *            the hub's "time" topic; the stream is a hub subscriber too)
 *   /        a page that uses /chat and /events from a browser
 *
 * SIGTERM/SIGINT: a graceful shutdown (every WebSocket gets a 1001 close,
 * SSE streams end), then "stopped".
 *
 *   build/examples/ws_echo --check PORT
 *
 * is a client of a running ws_echo on 127.0.0.1:PORT that tries all three
 * routes and prints "ws_echo check: echo ok, chat ok, events ok" (what make
 * test runs).
 *
 *   build/examples/ws_echo --echo-client ws://127.0.0.1:PORT/
 *
 * is our client against any echo server (text, empty, UTF-8, 70 KB binary,
 * 100 KB compressible text with permessage-deflate offered, a clean close):
 * "ws_echo echo-client: ok". The interop tests point it at other
 * implementations.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "weft/sse.h"
#include "weft/weft.h"
#include "weft/ws.h"

typedef struct app {
    const char *host;
    int port;
    int check_port;
    weft_hub *hub;
    weft_ws_set *set; /* the open WebSockets, closed with 1001 at shutdown */
    int rc;
} app;

/* ---- the server ------------------------------------------------------------------ */

/* Each WebSocket runs in a task of its own (weft_ws_upgrade_go): the handler
 * returns at once, which releases its task and the request's buffers, so an
 * idle connection costs about half as much. The set lets main close them all
 * with 1001 after the HTTP server has stopped. */
static void echo_loop(weft_ws *ws, void *arg) {
    (void)arg;
    weft_buf msg;
    weft_buf_init(&msg, 0);
    int op;
    while ((op = weft_ws_recv(ws, &msg, -1)) > 0)
        if (weft_ws_send(ws, op, msg.data, msg.len)) break;
    weft_buf_free(&msg);
    weft_ws_free(ws);
}

static int echo(weft_http_ctx *c, void *ud) {
    app *a = ud;
    int rc = weft_ws_upgrade_go(c, NULL, NULL, echo_loop, NULL, a->set);
    return rc == WEFT_EPARSE ? 0 : rc; /* refused: the answer is sent */
}

static void chat_loop(weft_ws *ws, void *arg) {
    app *a = arg;
    weft_hub_subscribe_ws(a->hub, "chat", ws);
    weft_buf msg;
    weft_buf_init(&msg, 0);
    int op;
    while ((op = weft_ws_recv(ws, &msg, -1)) > 0)
        weft_hub_publish(a->hub, "chat", op, 0, msg.data, msg.len);
    weft_buf_free(&msg);
    weft_ws_free(ws); /* the hub drops it at the next message to the room */
}

static int chat(weft_http_ctx *c, void *ud) {
    app *a = ud;
    /* a reader that falls behind loses old messages rather than hold the room up */
    weft_ws_config cfg = {.queue_policy = WEFT_WS_QUEUE_DROP_OLDEST, .max_queue = 256 * 1024};
    int rc = weft_ws_upgrade_go(c, NULL, &cfg, chat_loop, a, a->set);
    return rc == WEFT_EPARSE ? 0 : rc;
}

static int events(weft_http_ctx *c, void *ud) {
    app *a = ud;
    return weft_hub_serve_sse(c, a->hub, "time", 15000);
}

/* A page to try the three routes from a browser (and the origin the
 * browser interop test runs its script in). */
static const char PAGE[] =
    "<!DOCTYPE html><html><head><meta charset=utf-8><title>weft ws_echo</title></head><body>\n"
    "<h1>weft ws_echo</h1><p><input id=m value='hello'> <button id=s>send to /chat</button></p>\n"
    "<pre id=log></pre><script>\n"
    "const log = t => document.getElementById('log').textContent += t + '\\n';\n"
    "const chat = new WebSocket(`ws://${location.host}/chat`);\n"
    "chat.onmessage = e => log('chat: ' + e.data);\n"
    "document.getElementById('s').onclick = () => chat.send(document.getElementById('m').value);\n"
    "new EventSource('/events').onmessage = e => log('time: ' + e.data);\n"
    "</script></body></html>\n";

static int page(weft_http_ctx *c, void *ud) {
    (void)ud;
    return weft_http_send(c, 200, "text/html; charset=utf-8", PAGE, sizeof PAGE - 1);
}

static void ticker(void *arg) {
    app *a = arg;
    while (weft_sleep(1000) == 0) {
        char now[32];
        time_t t = time(NULL);
        struct tm tm;
        gmtime_r(&t, &tm);
        size_t n = strftime(now, sizeof now, "%Y-%m-%dT%H:%M:%SZ", &tm);
        weft_hub_publish(a->hub, "time", WEFT_WS_TEXT, 0, now, n);
    }
}

static void serve(void *arg) {
    app *a = arg;
    a->hub = weft_hub_new();
    a->set = weft_ws_set_new();
    weft_http_router *r = weft_http_router_new();
    if (!a->hub || !a->set || !r) {
        fprintf(stderr, "ws_echo: out of memory\n");
        a->rc = 1;
        return;
    }
    weft_http_route(r, "GET", "/", page, a);
    weft_http_route(r, "GET", "/echo", echo, a);
    weft_http_route(r, "GET", "/chat", chat, a);
    weft_http_route(r, "GET", "/events", events, a);
    weft_http_config cfg = {.host = a->host, .port = a->port, .handle_signals = 1};
    int err = 0;
    weft_http_server *srv = weft_http_server_new(&cfg, r, &err);
    if (!srv) {
        fprintf(stderr, "ws_echo: cannot listen on %s:%d: %s\n", a->host, a->port,
                weft_strerror(err));
        a->rc = 1;
    } else {
        weft_group tick;
        weft_group_init(&tick);
        weft_group_go(&tick, ticker, a, "ticker");
        printf("listening on http://%s:%d\n", a->host, weft_http_server_port(srv));
        fflush(stdout);
        weft_http_serve(srv);
        /* the HTTP side has drained; now every WebSocket says goodbye */
        if (weft_ws_set_close(a->set, WEFT_WS_GOING_AWAY, "server shutting down",
                              weft_deadline_in(5000)))
            fprintf(stderr, "ws_echo: %zu WebSocket(s) did not close in time\n",
                    weft_ws_set_count(a->set));
        weft_group_cancel(&tick);
        weft_group_wait(&tick, -1);
        weft_http_server_free(srv);
        printf("stopped\n");
    }
    weft_http_router_free(r);
    weft_hub_free(a->hub);
    if (a->set && weft_ws_set_count(a->set) == 0) weft_ws_set_free(a->set);
}

/* ---- --check: a client of a running ws_echo ------------------------------------------- */

static weft_ws *dial(app *a, const char *path, const weft_ws_client_opts *o) {
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d%s", a->check_port, path);
    int err = 0;
    const char *why = NULL;
    weft_ws *ws = weft_ws_dial(url, o, NULL, weft_deadline_in(5000), &err, &why);
    if (!ws) fprintf(stderr, "check: %s: %s %s\n", url, weft_strerror(err), why ? why : "");
    return ws;
}

static int expect(weft_ws *ws, int op, const void *p, size_t n, const char *what) {
    weft_buf m;
    weft_buf_init(&m, 0);
    int got = weft_ws_recv(ws, &m, weft_deadline_in(5000));
    int ok = got == op && m.len == n && memcmp(m.data, p, n) == 0;
    if (!ok) fprintf(stderr, "check: %s: got %d (%zu bytes)\n", what, got, m.len);
    weft_buf_free(&m);
    return ok;
}

static int check_echo(app *a) {
    weft_ws_client_opts o = {.deflate = 1};
    weft_ws *ws = dial(a, "/echo", &o);
    if (!ws) return 0;
    static unsigned char big[100000];
    for (size_t i = 0; i < sizeof big; i++) big[i] = (unsigned char)(i * 31 + i / 7);
    int ok = weft_ws_send(ws, WEFT_WS_TEXT, "hello, weft", 11) == 0 &&
             expect(ws, WEFT_WS_TEXT, "hello, weft", 11, "echo text") &&
             weft_ws_send(ws, WEFT_WS_BINARY, big, sizeof big) == 0 &&
             expect(ws, WEFT_WS_BINARY, big, sizeof big, "echo binary") &&
             weft_ws_close(ws, WEFT_WS_NORMAL, "bye") == 0;
    weft_ws_free(ws);
    return ok;
}

/* Reads ws until the text message want, skipping the room's others; 1 if it
 * came within 5 s. */
static int expect_in_room(weft_ws *ws, const char *want, const char *what) {
    size_t n = strlen(want);
    weft_buf m;
    weft_buf_init(&m, 0);
    int64_t dl = weft_deadline_in(5000);
    int got = 0, ok = 0;
    while (!ok && (got = weft_ws_recv(ws, &m, dl)) > 0)
        ok = got == WEFT_WS_TEXT && m.len == n && memcmp(m.data, want, n) == 0;
    if (!ok) fprintf(stderr, "check: %s: got %d (%zu bytes)\n", what, got, m.len);
    weft_buf_free(&m);
    return ok;
}

static int check_chat(app *a) {
    weft_ws *x = dial(a, "/chat", NULL), *y = dial(a, "/chat", NULL);
    int ok = x && y;
    if (ok) {
        /* y is in the room once its own message comes back: the server
         * subscribes a connection after the 101, before it reads from it (a
         * 200 ms sleep stood here, short on a loaded machine); x's message
         * is read by x's own server task after it subscribed */
        ok = weft_ws_send(y, WEFT_WS_TEXT, "y here", 6) == 0 &&
             expect_in_room(y, "y here", "y in the room") &&
             weft_ws_send(x, WEFT_WS_TEXT, "hi from x", 9) == 0 &&
             expect_in_room(x, "hi from x", "chat to x") &&
             expect_in_room(y, "hi from x", "chat to y");
    }
    if (x) weft_ws_close(x, WEFT_WS_NORMAL, NULL);
    if (y) weft_ws_close(y, WEFT_WS_NORMAL, NULL);
    weft_ws_free(x);
    weft_ws_free(y);
    return ok;
}

static int check_events(app *a) {
    int fd = weft_tcp_connect("127.0.0.1", a->check_port, weft_deadline_in(5000));
    if (fd < 0) return 0;
    const char *req = "GET /events HTTP/1.1\r\nHost: x\r\n\r\n";
    weft_write_all(fd, req, strlen(req), weft_deadline_in(5000));
    char buf[4096];
    size_t n = 0;
    int64_t dl = weft_deadline_in(5000);
    int ok = 0;
    while (n < sizeof buf - 1) {
        ssize_t r = weft_read(fd, buf + n, sizeof buf - 1 - n, dl);
        if (r <= 0) break;
        n += (size_t)r;
        buf[n] = '\0';
        /* a time event: "id: N\ndata: 2026-..." */
        if (strstr(buf, "text/event-stream") && strstr(buf, "\ndata: 20")) {
            ok = 1;
            break;
        }
    }
    if (!ok) fprintf(stderr, "check: /events sent: %.*s\n", (int)n, buf);
    weft_close(fd);
    return ok;
}

static void check(void *arg) {
    app *a = arg;
    int e = check_echo(a), c = check_chat(a), v = check_events(a);
    printf("ws_echo check: echo %s, chat %s, events %s\n", e ? "ok" : "FAILED", c ? "ok" : "FAILED",
           v ? "ok" : "FAILED");
    a->rc = e && c && v ? 0 : 1;
}

/* --echo-client URL: our client against any echo server (the interop tests
 * point it at other implementations). */
static const char *echo_url;

static void echo_client(void *arg) {
    app *a = arg;
    a->rc = 1;
    weft_ws_client_opts o = {.deflate = 1};
    int err = 0;
    const char *why = NULL;
    weft_ws *ws = weft_ws_dial(echo_url, &o, NULL, weft_deadline_in(5000), &err, &why);
    if (!ws) {
        printf("ws_echo echo-client: dial %s: %s %s\n", echo_url, weft_strerror(err),
               why ? why : "");
        return;
    }
    static unsigned char big[70000];
    for (size_t i = 0; i < sizeof big; i++) big[i] = (unsigned char)(i * 131 + i / 251);
    static char text[100000];
    for (size_t i = 0; i < sizeof text; i++) text[i] = "compress me "[i % 12];
    const char *utf8 = "\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5 \xF0\x9F\x98\x80";
    int ok = weft_ws_send(ws, WEFT_WS_TEXT, "hello", 5) == 0 &&
             expect(ws, WEFT_WS_TEXT, "hello", 5, "text") &&
             weft_ws_send(ws, WEFT_WS_TEXT, "", 0) == 0 &&
             expect(ws, WEFT_WS_TEXT, "", 0, "empty") &&
             weft_ws_send(ws, WEFT_WS_TEXT, utf8, strlen(utf8)) == 0 &&
             expect(ws, WEFT_WS_TEXT, utf8, strlen(utf8), "utf-8") &&
             weft_ws_send(ws, WEFT_WS_BINARY, big, sizeof big) == 0 &&
             expect(ws, WEFT_WS_BINARY, big, sizeof big, "binary") &&
             weft_ws_send(ws, WEFT_WS_TEXT, text, sizeof text) == 0 &&
             expect(ws, WEFT_WS_TEXT, text, sizeof text, "compressible text");
    int closed = weft_ws_close(ws, WEFT_WS_NORMAL, "bye");
    if (closed) printf("ws_echo echo-client: close: %s\n", weft_strerror(closed));
    weft_ws_free(ws);
    ok = ok && closed == 0;
    printf("ws_echo echo-client: %s\n", ok ? "ok" : "FAILED");
    a->rc = ok ? 0 : 1;
}

static int usage(FILE *f, int rc) {
    fprintf(f, "usage: ws_echo [--host ADDR] [--port N] | --check PORT | --echo-client URL\n"
               "  --host ADDR          listen address (default 127.0.0.1)\n"
               "  --port N             TCP port, 0 for any free one (default 9001)\n"
               "  --check PORT         try /echo, /chat and /events of a ws_echo on that port\n"
               "  --echo-client URL    our client against any echo server at a ws:// URL\n");
    return rc;
}

int main(int argc, char **argv) {
    app a = {.host = "127.0.0.1", .port = 9001};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) return usage(stdout, 0);
        const char *opt = argv[i], *val = i + 1 < argc ? argv[++i] : NULL;
        if (!val || !*val) {
            fprintf(stderr, "ws_echo: %s needs a value\n", opt);
            return usage(stderr, 2);
        }
        int64_t p = 0;
        if (strcmp(opt, "--host") == 0) {
            a.host = val;
            continue;
        }
        if (strcmp(opt, "--echo-client") == 0) {
            echo_url = val;
            continue;
        }
        if (strcmp(opt, "--port") != 0 && strcmp(opt, "--check") != 0) {
            fprintf(stderr, "ws_echo: unknown option %s\n", opt);
            return usage(stderr, 2);
        }
        if (weft_str_to_i64(weft_str_c(val), &p) || p < 0 || p > 65535) {
            fprintf(stderr, "ws_echo: %s %s: not a port number (0..65535)\n", opt, val);
            return 2;
        }
        if (strcmp(opt, "--port") == 0)
            a.port = (int)p;
        else
            a.check_port = (int)p;
    }
    int rc = weft_main(echo_url ? echo_client : a.check_port ? check : serve, &a, NULL);
    return rc ? 1 : a.rc;
}
