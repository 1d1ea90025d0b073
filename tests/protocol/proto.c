/* tests/protocol/proto.c — see proto.h. Plain POSIX, blocking, no weft runtime. */
#include "proto.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <regex.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define IO_TIMEOUT_S 10

static char build_dir[PATH_MAX], repo_dir[PATH_MAX];

static void find_dirs(void) {
    if (build_dir[0]) return;
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) {
        perror("proto: readlink /proc/self/exe");
        abort();
    }
    exe[n] = 0;
    /* <build>/tests/protocol/<name>: three levels up */
    for (int up = 0; up < 3; up++) {
        char *slash = strrchr(exe, '/');
        if (!slash || slash == exe) {
            fprintf(stderr, "proto: %s is not <build>/tests/protocol/<name>\n", exe);
            abort();
        }
        *slash = 0;
    }
    snprintf(build_dir, sizeof build_dir, "%s", exe);
    char *slash = strrchr(exe, '/');
    *slash = 0;
    snprintf(repo_dir, sizeof repo_dir, "%s", slash == exe ? "/" : exe);
}

const char *proto_build_dir(void) {
    find_dirs();
    return build_dir;
}

const char *proto_repo_dir(void) {
    find_dirs();
    return repo_dir;
}

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The whole of file path, NUL-terminated, malloc'd ("" if unreadable). */
static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    size_t cap = 4096, len = 0;
    char *b = malloc(cap);
    if (!b) abort();
    if (f) {
        size_t n;
        while ((n = fread(b + len, 1, cap - len - 1, f)) > 0) {
            len += n;
            if (cap - len < 2) {
                cap *= 2;
                b = realloc(b, cap);
                if (!b) abort();
            }
        }
        fclose(f);
    }
    b[len] = 0;
    return b;
}

/* Prints the last lines of a server's output to stderr. */
static void print_tail(const char *what, const char *log) {
    char *t = slurp(log);
    size_t n = strlen(t);
    const char *from = n > 1500 ? t + n - 1500 : t;
    fprintf(stderr, "    --- %s (%s) ends:\n%s\n    ---\n", what, log, from);
    free(t);
}

/* Exit status of a waitpid() status, as proto_stop() documents it. */
static int exit_code(int ws) {
    if (WIFEXITED(ws)) return WEXITSTATUS(ws);
    if (WIFSIGNALED(ws)) return 128 + WTERMSIG(ws);
    return 255;
}

/* Waits up to ms for pid; its exit code, or -1 if it is still running. */
static int wait_for(pid_t pid, int64_t ms) {
    int64_t until = now_ms() + ms;
    for (;;) {
        int ws;
        pid_t r = waitpid(pid, &ws, WNOHANG);
        if (r == pid) return exit_code(ws);
        if (r < 0 && errno != EINTR) return 255;
        if (now_ms() >= until) return -1;
        sleep_ms(5);
    }
}

/* fork + exec <build>/<bin> argv with stdout/stderr to fd out; the child
 * dies with the test process. env: extra "NAME=value" strings. */
static pid_t spawn(const char *bin, const char *const *argv, const char *const *env, int out) {
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", proto_build_dir(), bin);
    fflush(NULL);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid != 0) return pid;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    dup2(out, 1);
    dup2(out, 2);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, 0);
    for (size_t i = 0; env && env[i]; i++) putenv((char *)env[i]);
    execv(path, (char *const *)argv);
    fprintf(stderr, "proto: exec %s: %s\n", path, strerror(errno));
    _exit(127);
}

/* argv for exec: bin's name, then pre[] (npre), then args (NULL-terminated). */
static const char **make_argv(const char *bin, const char *const *pre, size_t npre,
                              const char *const *args) {
    size_t n = 0;
    while (args && args[n]) n++;
    const char **v = calloc(n + npre + 2, sizeof *v);
    if (!v) abort();
    v[0] = bin;
    for (size_t i = 0; i < npre; i++) v[1 + i] = pre[i];
    for (size_t i = 0; i < n; i++) v[1 + npre + i] = args[i];
    return v;
}

/* Servers started and not stopped: a failed EXPECT ends its test early and
 * leaves one running; at exit each is killed and its output shown. */
static struct {
    pid_t pid;
    char log[256];
} live[32];

static void kill_leftovers(void) {
    for (size_t i = 0; i < sizeof live / sizeof live[0]; i++) {
        if (live[i].pid <= 0) continue;
        kill(live[i].pid, SIGKILL);
        wait_for(live[i].pid, 5000);
        print_tail("a server left running by a failed test", live[i].log);
        unlink(live[i].log);
        live[i].pid = 0;
    }
}

static void track(pid_t pid, const char *log) {
    static int registered;
    if (!registered) registered = atexit(kill_leftovers) == 0;
    for (size_t i = 0; i < sizeof live / sizeof live[0]; i++) {
        if (pid > 0 ? live[i].pid > 0 : live[i].pid != -pid) continue;
        live[i].pid = pid > 0 ? pid : 0; /* pid < 0: forget -pid */
        snprintf(live[i].log, sizeof live[i].log, "%s", log);
        return;
    }
}

int proto_start(proto_server *s, const char *bin, const char *const *args) {
    s->pid = -1;
    s->port = 0;
    snprintf(s->log, sizeof s->log, "%s/weft-proto-XXXXXX",
             getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    int fd = mkstemp(s->log);
    if (fd < 0) {
        test__fail(__FILE__, __LINE__, "mkstemp %s: %s", s->log, strerror(errno));
        return -1;
    }
    static const char *const port0[] = {"--port", "0"};
    const char **argv = make_argv(bin, port0, 2, args);
    s->pid = spawn(bin, argv, NULL, fd);
    free(argv);
    close(fd);
    if (s->pid < 0) {
        test__fail(__FILE__, __LINE__, "fork: %s", strerror(errno));
        unlink(s->log);
        return -1;
    }
    int64_t until = now_ms() + 10000;
    for (;;) {
        char *t = slurp(s->log);
        const char *p = strstr(t, "listening on http://");
        if (p) {
            const char *e = p + strlen("listening on http://");
            while (*e && *e != ' ' && *e != '\n') e++;
            const char *colon = e;
            while (colon > p && *colon != ':') colon--;
            s->port = atoi(colon + 1);
        }
        free(t);
        if (s->port > 0) {
            track(s->pid, s->log);
            return 0;
        }
        int code = wait_for(s->pid, 0);
        if (code >= 0) {
            s->pid = -1;
            test__fail(__FILE__, __LINE__, "%s exited with status %d before listening", bin, code);
            break;
        }
        if (now_ms() >= until) {
            test__fail(__FILE__, __LINE__, "%s did not say \"listening on\" within 10 s", bin);
            break;
        }
        sleep_ms(10);
    }
    print_tail(bin, s->log);
    if (s->pid > 0) {
        kill(s->pid, SIGKILL);
        wait_for(s->pid, 5000);
        s->pid = -1;
    }
    unlink(s->log);
    return -1;
}

int proto_stop(proto_server *s) {
    int code = 0;
    if (s->pid > 0) {
        track(-s->pid, "");
        kill(s->pid, SIGTERM);
        code = wait_for(s->pid, 20000);
        if (code < 0) {
            kill(s->pid, SIGKILL);
            wait_for(s->pid, 5000);
            code = 124;
        }
        s->pid = -1;
    }
    if (test__failed() || code != 0) print_tail("server output", s->log);
    unlink(s->log);
    return code;
}

int proto_run(const char *bin, const char *const *args, const char *const *env, int timeout_s,
              char **out) {
    *out = NULL;
    char log[256];
    snprintf(log, sizeof log, "%s/weft-proto-XXXXXX",
             getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    int fd = mkstemp(log);
    if (fd < 0) return -1;
    const char **argv = make_argv(bin, NULL, 0, args);
    pid_t pid = spawn(bin, argv, env, fd);
    free(argv);
    close(fd);
    int code = -1;
    if (pid > 0) {
        code = wait_for(pid, (int64_t)timeout_s * 1000);
        if (code < 0) {
            kill(pid, SIGKILL);
            wait_for(pid, 5000);
            code = 124;
        }
    }
    *out = slurp(log);
    unlink(log);
    return code;
}

/* ---- the client ------------------------------------------------------------------------ */

typedef struct rbuf {
    char *p;
    size_t len, cap;
} rbuf;

static void rb_add(rbuf *b, const char *p, size_t n) {
    if (b->len + n + 1 > b->cap) {
        while (b->len + n + 1 > b->cap) b->cap = b->cap ? b->cap * 2 : 4096;
        b->p = realloc(b->p, b->cap);
        if (!b->p) abort();
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = 0;
}

/* Reads more into b: >0 bytes, 0 at the close, -1 on error/timeout. */
static ssize_t fill(int fd, rbuf *b) {
    char tmp[16384];
    ssize_t n;
    do n = read(fd, tmp, sizeof tmp);
    while (n < 0 && errno == EINTR);
    if (n > 0) rb_add(b, tmp, (size_t)n);
    return n;
}

/* Ensures b holds at least need bytes; 0, or -1 (closed early or error). */
static int need(int fd, rbuf *b, size_t need_) {
    while (b->len < need_)
        if (fill(fd, b) <= 0) return -1;
    return 0;
}

static int fail_req(const char *method, const char *target, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail_req(const char *method, const char *target, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    test__fail(__FILE__, __LINE__, "%s %s: %s", method, target, msg);
    return -1;
}

/* The end of the line that starts at b+from (index of its '\n'), or -1. */
static long line_end(const rbuf *b, size_t from) {
    const char *nl = memchr(b->p + from, '\n', b->len - from);
    return nl ? nl - b->p : -1;
}

int proto_req(int port, const char *method, const char *target, const char *body, proto_resp *r) {
    memset(r, 0, sizeof *r);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return fail_req(method, target, "socket: %s", strerror(errno));
    struct timeval tv = {IO_TIMEOUT_S, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        int e = errno;
        close(fd);
        return fail_req(method, target, "connect to 127.0.0.1:%d: %s", port, strerror(e));
    }
    rbuf req = {0};
    char line[512];
    int n = snprintf(line, sizeof line,
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUser-Agent: weft-proto\r\n"
                     "Accept: */*\r\n",
                     method, target, port);
    rb_add(&req, line, (size_t)n);
    if (body) {
        n = snprintf(line, sizeof line, "Content-Type: application/json\r\nContent-Length: %zu\r\n",
                     strlen(body));
        rb_add(&req, line, (size_t)n);
    }
    rb_add(&req, "\r\n", 2);
    if (body) rb_add(&req, body, strlen(body));
    size_t off = 0;
    while (off < req.len) {
        ssize_t w = write(fd, req.p + off, req.len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            int e = errno;
            free(req.p);
            close(fd);
            return fail_req(method, target, "write: %s", strerror(e));
        }
        off += (size_t)w;
    }
    free(req.p);

    /* the head */
    rbuf in = {0};
    const char *why = NULL;
    size_t head_end = 0;
    for (;;) {
        char *e = in.len ? strstr(in.p, "\r\n\r\n") : NULL;
        if (e) {
            head_end = (size_t)(e - in.p) + 4;
            break;
        }
        ssize_t got = fill(fd, &in);
        if (got <= 0) {
            why = got == 0 ? "closed before the end of the head" : "no complete head in 10 s";
            break;
        }
    }
    int64_t cl = -1;
    int chunked = 0;
    if (!why) {
        r->head_ = malloc(head_end + 1);
        if (!r->head_) abort();
        memcpy(r->head_, in.p, head_end);
        r->head_[head_end] = 0;
        if (sscanf(r->head_, "HTTP/1.%*1d %3d", &r->status) != 1) why = "no status line";
        char *save = NULL, *l = strtok_r(r->head_, "\r\n", &save);
        for (l = strtok_r(NULL, "\r\n", &save); l && !why; l = strtok_r(NULL, "\r\n", &save)) {
            char *colon = strchr(l, ':');
            if (!colon || r->nhdr == sizeof r->hdr / sizeof r->hdr[0]) {
                why = "a header line without ':' (or over 64 headers)";
                break;
            }
            *colon = 0;
            char *v = colon + 1;
            while (*v == ' ' || *v == '\t') v++;
            r->hdr[r->nhdr].name = l;
            r->hdr[r->nhdr].value = v;
            r->nhdr++;
        }
        const char *v = proto_hdr(r, "Content-Length");
        if (v) cl = strtoll(v, NULL, 10);
        v = proto_hdr(r, "Transfer-Encoding");
        if (v && strcasecmp(v, "chunked") == 0) chunked = 1;
    }

    /* the body */
    rbuf b = {0};
    rb_add(&b, "", 0);
    int bodyless =
        r->status == 204 || r->status == 304 || r->status / 100 == 1 || strcmp(method, "HEAD") == 0;
    if (!why && !bodyless) {
        if (chunked) {
            size_t pos = head_end;
            for (;;) {
                long le;
                while ((le = line_end(&in, pos)) < 0)
                    if (fill(fd, &in) <= 0) break;
                if (le < 0) {
                    why = "chunked body cut short";
                    break;
                }
                unsigned long sz = strtoul(in.p + pos, NULL, 16);
                pos = (size_t)le + 1;
                if (sz == 0) { /* trailers, up to the empty line */
                    while (!why) {
                        while ((le = line_end(&in, pos)) < 0)
                            if (fill(fd, &in) <= 0) break;
                        if (le < 0)
                            why = "chunked trailer cut short";
                        else if ((size_t)le <= pos + 1)
                            break;
                        else
                            pos = (size_t)le + 1;
                    }
                    break;
                }
                if (need(fd, &in, pos + sz + 2)) {
                    why = "chunk cut short";
                    break;
                }
                rb_add(&b, in.p + pos, sz);
                pos += sz + 2;
            }
        } else if (cl >= 0) {
            if (need(fd, &in, head_end + (size_t)cl))
                why = "body shorter than Content-Length";
            else
                rb_add(&b, in.p + head_end, (size_t)cl);
        } else { /* to the close */
            ssize_t got;
            while ((got = fill(fd, &in)) > 0) {}
            if (got < 0) why = "body not closed within 10 s";
            rb_add(&b, in.p + head_end, in.len - head_end);
        }
    }
    close(fd);
    if (why) {
        test__fail(__FILE__, __LINE__, "%s %s: %s; received: %.*s", method, target, why,
                   (int)(in.len > 600 ? 600 : in.len), in.p ? in.p : "");
        free(in.p);
        free(b.p);
        proto_resp_free(r);
        return -1;
    }
    r->body = b.p;
    r->body_len = b.len;
    /* text: the head without CRs, then the body as is */
    rbuf t = {0};
    for (size_t i = 0; i < head_end; i++)
        if (in.p[i] != '\r') rb_add(&t, in.p + i, 1);
    rb_add(&t, b.p, b.len);
    r->text = t.p;
    free(in.p);
    return 0;
}

void proto_resp_free(proto_resp *r) {
    free(r->text);
    free(r->body);
    free(r->head_);
    memset(r, 0, sizeof *r);
}

const char *proto_hdr(const proto_resp *r, const char *name) {
    for (size_t i = 0; i < r->nhdr; i++)
        if (strcasecmp(r->hdr[i].name, name) == 0) return r->hdr[i].value;
    return NULL;
}

int proto_match(const char *s, const char *re) {
    regex_t rx;
    int rc = regcomp(&rx, re, REG_EXTENDED | REG_NOSUB);
    if (rc) {
        char msg[256];
        regerror(rc, &rx, msg, sizeof msg);
        fprintf(stderr, "proto: bad regex %s: %s\n", re, msg);
        abort();
    }
    rc = regexec(&rx, s, 0, NULL, 0);
    regfree(&rx);
    return rc == 0;
}

int proto_check_at(const char *file, int line, const char *what, const proto_resp *r, int status,
                   const char *re) {
    const char *bad = NULL;
    if (status && r->status != status)
        bad = "status";
    else if (re && !proto_match(r->text, re))
        bad = "no match for";
    if (!bad) return 0;
    test__fail(file, line, "%s: %s %s; the response:\n%.*s", what, bad,
               bad[0] == 's' ? "differs" : re, 2000, r->text);
    return -1;
}
