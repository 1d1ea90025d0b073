/*
 * tests/protocol/proto.h — helpers of the protocol tier: a real server
 * process (a binary of the same build tree, started with --port 0) talked to
 * over real sockets by a minimal blocking HTTP/1.1 client that shares no code
 * with weft's own HTTP stack, so a test cannot pass because client and server
 * make the same mistake.
 *
 * Tests here are TEST_PLAIN (no weft runtime in the test process). A server
 * inherits the environment: WEFT_IO picks its I/O backend as for unit tests.
 * Every wait is bounded: 10 s for a server to say "listening on", 10 s per
 * response, 20 s for a server to exit after SIGTERM.
 */
#ifndef WEFT_TEST_PROTO_H
#define WEFT_TEST_PROTO_H

#include <stddef.h>
#include <sys/types.h>

#include "test.h"

/* The build tree this test binary belongs to (build/, build-asan/, ...),
 * found from /proc/self/exe, and the repository (its parent); static
 * strings, never NULL (the process aborts if /proc/self/exe is unreadable). */
const char *proto_build_dir(void);
const char *proto_repo_dir(void);

/* A server process and its output (stdout and stderr, one file). */
typedef struct proto_server {
    pid_t pid; /* -1 when not running */
    int port;  /* the port it printed after "listening on http://HOST:" */
    char log[256];
} proto_server;

/* Starts <build>/<bin> --port 0 args... (args NULL-terminated, may be NULL)
 * and waits up to 10 s for its "listening on http://HOST:PORT" line. 0, or
 * -1 after reporting the failure (test__fail, with the end of its output) and
 * killing the process. The process gets SIGKILL if the test process dies. */
int proto_start(proto_server *s, const char *bin, const char *const *args);

/* Sends SIGTERM and waits up to 20 s. The exit status (0..255), 128+signal
 * when a signal ended it, or 124 after it had to be killed. When the test
 * has failed, the end of the server's output is printed (stderr); the log
 * file is removed. */
int proto_stop(proto_server *s);

/* Runs <build>/<bin> args... to completion (at most timeout_s, then
 * SIGKILL) with extra environment assignments env ("NAME=value", NULL-
 * terminated, may be NULL). Its stdout and stderr go to one malloc'd,
 * NUL-terminated string *out (the caller frees it). Exit status as for
 * proto_stop, or -1 if it could not be started. */
int proto_run(const char *bin, const char *const *args, const char *const *env, int timeout_s,
              char **out);

/* One response, as read from the wire. */
typedef struct proto_resp {
    int status; /* from the status line */
    char *text; /* the whole response, CRs removed, NUL-terminated (the form the
                   regexes below are written against) */
    size_t nhdr;
    struct {
        char *name, *value;
    } hdr[64];  /* into a private copy of the head */
    char *body; /* NUL-terminated, de-chunked */
    size_t body_len;
    char *head_; /* private */
} proto_resp;

/* One request on a fresh connection to 127.0.0.1:port, read back in full
 * (Content-Length, chunked, or to the close): "METHOD target HTTP/1.1" with
 * Host, User-Agent and Accept, and when body is not NULL "Content-Type:
 * application/json" and Content-Length. 0 and *r filled (free it with
 * proto_resp_free), or -1 after reporting why (test__fail). */
int proto_req(int port, const char *method, const char *target, const char *body, proto_resp *r);
void proto_resp_free(proto_resp *r);

/* The value of the first header named name (case-insensitive), or NULL. */
const char *proto_hdr(const proto_resp *r, const char *name);

/* 1 if the whole of s matches the POSIX extended regex re (anchored at both
 * ends by the caller's ^ and $; '.' matches newlines too), 0 if not; a regex
 * that does not compile aborts the process (a test bug, not a result). */
int proto_match(const char *s, const char *re);

/* Checks r: status (0: any), and the whole of r->text against re (NULL: no
 * check). 0, or -1 after test__fail naming what (the request) and printing
 * the response. */
int proto_check_at(const char *file, int line, const char *what, const proto_resp *r, int status,
                   const char *re);

/* Requests and checks in one step, ending the test on failure:
 *   EXPECT(port, "GET", "/x", NULL, 200, "^HTTP/1.1 200 OK\n.*$");
 * leaves the response in the proto_resp named by EXPECT_KEEP's last argument. */
#define EXPECT_KEEP(port, method, target, body, status, re, r)                                     \
    do {                                                                                           \
        if (proto_req((port), (method), (target), (body), (r))) return;                            \
        if (proto_check_at(__FILE__, __LINE__, (target), (r), (status), (re))) {                   \
            proto_resp_free(r);                                                                    \
            return;                                                                                \
        }                                                                                          \
    } while (0)
#define EXPECT(port, method, target, body, status, re)                                             \
    do {                                                                                           \
        proto_resp r__;                                                                            \
        EXPECT_KEEP(port, method, target, body, status, re, &r__);                                 \
        proto_resp_free(&r__);                                                                     \
    } while (0)

/* Ends the test when the server does not exit with status 0 after SIGTERM. */
#define ASSERT_STOPS_CLEANLY(s)                                                                    \
    do {                                                                                           \
        int st__ = proto_stop(s);                                                                  \
        if (st__ != 0) {                                                                           \
            test__fail(__FILE__, __LINE__, "exit status %d after SIGTERM (want 0)", st__);         \
            return;                                                                                \
        }                                                                                          \
    } while (0)

/* The notes API of examples/http_server (tests/protocol/notes_checks.c), the
 * same on SQLite and PostgreSQL: 21 requests, checked in order against the
 * server on port. Assumes no particular id (a PostgreSQL table outlives a
 * run). Reports the first failure (test__fail) and stops there. */
void proto_notes_checks(int port);

#endif
