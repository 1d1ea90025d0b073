/* apps/fleet-sim/watch.c — live viewers and their latency (see watch.h). */
#include "watch.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "weft/rt.h"
#include "weft/ws.h"

#include "hist.h"
#include "isotime.h"

/* ---- the scanner ---------------------------------------------------------------- */

typedef struct scan {
    const char *p, *end;
    const char *why;
} scan;

static int fail(scan *s, const char *why) {
    if (!s->why) s->why = why;
    return -1;
}

static void ws(scan *s) {
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r')) s->p++;
}

/* A string at s->p (the opening quote); its raw contents into *out. */
static int string(scan *s, weft_str *out) {
    if (s->p >= s->end || *s->p != '"') return fail(s, "expected a string");
    const char *b = ++s->p;
    while (s->p < s->end && *s->p != '"') {
        if ((unsigned char)*s->p < 0x20) return fail(s, "a control character in a string");
        if (*s->p == '\\' && ++s->p == s->end) break;
        s->p++;
    }
    if (s->p >= s->end) return fail(s, "a string without its closing quote");
    *out = (weft_str){b, (size_t)(s->p - b)};
    s->p++;
    return 0;
}

static int is_scalar_char(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c == '-' || c == '+' || c == '.' ||
           c == 'E';
}

/* A number or literal: its text into *out (not checked further here). */
static int scalar(scan *s, weft_str *out) {
    const char *b = s->p;
    while (s->p < s->end && is_scalar_char(*s->p)) s->p++;
    if (s->p == b) return fail(s, "expected a value");
    *out = (weft_str){b, (size_t)(s->p - b)};
    return 0;
}

/* Skip one value of any kind; depth: the nesting it sits at. Containers are
 * walked with an explicit stack of their closing brackets, no recursion. */
static int skip(scan *s, int depth) {
    char stack[WATCH_DEPTH_MAX];
    int top = 0;
    weft_str t;
    for (;;) {
        ws(s);
        if (s->p >= s->end) return fail(s, "the message ends inside a value");
        char c = *s->p;
        if (c == '{' || c == '[') {
            if (depth + top >= WATCH_DEPTH_MAX) return fail(s, "nested too deep");
            stack[top++] = c == '{' ? '}' : ']';
            s->p++;
            continue; /* an empty one is closed below */
        } else if (c == '}' || c == ']') {
            if (top == 0 || stack[top - 1] != c) return fail(s, "a mismatched bracket");
            top--, s->p++;
        } else if (c == '"') {
            if (string(s, &t)) return -1;
            if (top && stack[top - 1] == '}') { /* a key: its colon and value follow */
                ws(s);
                if (s->p < s->end && *s->p == ':') {
                    s->p++;
                    continue;
                }
            }
        } else if (c == ',' || c == ':') {
            if (top == 0) return fail(s, "expected a value");
            s->p++;
            continue;
        } else if (scalar(s, &t)) {
            return -1;
        }
        if (top == 0) return 0;
    }
}

typedef struct scan_cb {
    watch_fix_fn fn;
    void *ud;
    int count;
} scan_cb;

/* One position object at s->p: its fixTime (and serverTime, -1 without)
 * to cb. */
static int position(scan *s, scan_cb *cb) {
    ws(s);
    if (s->p >= s->end || *s->p != '{') return fail(s, "a position that is not an object");
    s->p++;
    int have = 0;
    int64_t ms = 0, server_ms = -1;
    ws(s);
    if (s->p < s->end && *s->p == '}') return s->p++, fail(s, "a position without fixTime");
    for (;;) {
        weft_str k, v;
        ws(s);
        if (string(s, &k)) return -1;
        ws(s);
        if (s->p >= s->end || *s->p != ':') return fail(s, "expected ':' after a key");
        s->p++;
        ws(s);
        if (k.n == 7 && !memcmp(k.p, "fixTime", 7)) {
            if (s->p < s->end && *s->p == '"' ? string(s, &v) : scalar(s, &v)) return -1;
            if (memchr(v.p, '\\', v.n) || fleet_time_parse(v, &ms) < 0)
                return fail(s, "a fixTime that is not a time");
            have = 1;
        } else if (k.n == 10 && !memcmp(k.p, "serverTime", 10)) {
            if (s->p < s->end && *s->p == '"' ? string(s, &v) : scalar(s, &v)) return -1;
            if (memchr(v.p, '\\', v.n) || fleet_time_parse(v, &server_ms) < 0)
                return fail(s, "a serverTime that is not a time");
        } else if (skip(s, 3)) {
            return -1;
        }
        ws(s);
        if (s->p < s->end && *s->p == ',') {
            s->p++;
            continue;
        }
        if (s->p < s->end && *s->p == '}') {
            s->p++;
            break;
        }
        return fail(s, "expected ',' or '}' in a position");
    }
    if (!have) return fail(s, "a position without fixTime");
    cb->count++;
    if (cb->fn) cb->fn(cb->ud, ms, server_ms);
    return 0;
}

static int positions(scan *s, scan_cb *cb) {
    if (s->p >= s->end || *s->p != '[') return fail(s, "positions is not an array");
    s->p++;
    ws(s);
    if (s->p < s->end && *s->p == ']') return s->p++, 0;
    for (;;) {
        if (position(s, cb)) return -1;
        ws(s);
        if (s->p < s->end && *s->p == ',') {
            s->p++;
            continue;
        }
        if (s->p < s->end && *s->p == ']') return s->p++, 0;
        return fail(s, "expected ',' or ']' in positions");
    }
}

int watch_scan(const char *p, size_t n, watch_fix_fn fn, void *ud, const char **why) {
    scan s = {p, p + n, NULL};
    scan_cb cb = {fn, ud, 0};
    const char *dummy;
    if (!why) why = &dummy;
    ws(&s);
    if (s.p >= s.end || *s.p != '{') return *why = "not a JSON object", WEFT_EPARSE;
    s.p++;
    ws(&s);
    if (s.p < s.end && *s.p == '}') {
        s.p++;
    } else {
        for (;;) {
            weft_str k;
            ws(&s);
            if (string(&s, &k)) goto bad;
            ws(&s);
            if (s.p >= s.end || *s.p != ':') {
                fail(&s, "expected ':' after a key");
                goto bad;
            }
            s.p++;
            ws(&s);
            if (k.n == 9 && !memcmp(k.p, "positions", 9) ? positions(&s, &cb) : skip(&s, 1)) goto bad;
            ws(&s);
            if (s.p < s.end && *s.p == ',') {
                s.p++;
                continue;
            }
            if (s.p < s.end && *s.p == '}') {
                s.p++;
                break;
            }
            fail(&s, "expected ',' or '}' in the message");
            goto bad;
        }
    }
    ws(&s);
    if (s.p != s.end) {
        fail(&s, "text after the message");
        goto bad;
    }
    return cb.count;
bad:
    *why = s.why;
    return WEFT_EPARSE;
}

int64_t watch_latency_us(int64_t arrival_us, int64_t fix_ms, int *early) {
    int64_t d = arrival_us - fix_ms * 1000;
    if (d < 0) {
        *early = 1;
        return 0;
    }
    return d;
}

/* ---- the light viewers' frame reader -------------------------------------------- */

void watch_frames_init(watch_frames *fr) { memset(fr, 0, sizeof *fr); }

static size_t frames_fail(watch_frames *fr, watch_frame_ev *ev, const char *why, size_t took) {
    fr->done = 1;
    ev->type = WATCH_FR_FAIL;
    ev->why = why;
    return took;
}

/* The rules a head is judged by; NULL when it is acceptable. */
static const char *frames_check_head(watch_frames *fr, const weft_ws_frame *f) {
    if (f->rsv & 3) return "RSV2 or RSV3 set (no extension defines them)";
    if (f->rsv && !fr->deflate) return "RSV bits set (no extension was negotiated)";
    if (f->rsv && (f->opcode == WEFT_WS_CONT || f->opcode >= WEFT_WS_CLOSE))
        return "RSV1 on a frame other than a message's first (RFC 7692 §6)";
    if (f->masked) return "a masked frame from the server";
    switch (f->opcode) {
    case WEFT_WS_PING:
    case WEFT_WS_PONG:
    case WEFT_WS_CLOSE:
        if (!f->fin) return "a fragmented control frame";
        if (f->len > WEFT_WS_CONTROL_MAX) return "a control frame over 125 bytes";
        return NULL;
    case WEFT_WS_BINARY: return "a binary message (live updates are text)";
    case WEFT_WS_TEXT:
        if (fr->msg_open) return "a new message inside a fragmented one";
        break;
    case WEFT_WS_CONT:
        if (!fr->msg_open) return "a continuation frame without a message";
        break;
    default: return "a reserved opcode";
    }
    if (f->len > WATCH_FRAMES_MAX - fr->msg_len) return "a message over the size limit";
    return NULL;
}

/* The current frame's payload is all in: a control frame's event, or a
 * message's end. Returns 1 when there is an event. */
static int frames_end(watch_frames *fr, watch_frame_ev *ev) {
    fr->in_payload = 0;
    fr->head_have = 0;
    if (fr->opcode == WEFT_WS_PING) {
        ev->type = WATCH_FR_PING, ev->data = fr->ctl, ev->n = (size_t)fr->flen;
        return 1;
    }
    if (fr->opcode == WEFT_WS_PONG) return 0;
    if (fr->opcode == WEFT_WS_CLOSE) {
        fr->done = 1;
        if (fr->flen == 1) return frames_fail(fr, ev, "a close frame with a 1-byte payload", 0), 1;
        int code = fr->flen ? fr->ctl[0] << 8 | fr->ctl[1] : WEFT_WS_NO_STATUS;
        if (fr->flen && !weft_ws_close_code_valid(code))
            return frames_fail(fr, ev, "a close frame with an invalid code", 0), 1;
        ev->type = WATCH_FR_CLOSE, ev->code = code;
        ev->data = fr->ctl + 2 * (fr->flen >= 2), ev->n = fr->flen >= 2 ? (size_t)fr->flen - 2 : 0;
        return 1;
    }
    if (!fr->fin) return 0;
    fr->msg_open = 0;
    if (!fr->msg_z && (fr->msg_len == 0 || fr->last != '}'))
        return frames_fail(fr, ev, "a message that does not end in '}'", 0), 1;
    ev->type = WATCH_FR_MESSAGE, ev->len = fr->msg_len, ev->deflated = fr->msg_z;
    return 1;
}

size_t watch_frames_feed(watch_frames *fr, const void *buf, size_t n, watch_frame_ev *ev) {
    const uint8_t *p = buf;
    size_t i = 0;
    memset(ev, 0, sizeof *ev);
    if (fr->done) return 0;
    while (i < n) {
        if (!fr->in_payload) { /* gather a head: at most 14 bytes, kept across calls */
            size_t k = n - i < sizeof fr->head - fr->head_have ? n - i : sizeof fr->head - fr->head_have;
            memcpy(fr->head + fr->head_have, p + i, k);
            weft_ws_frame f;
            int h = weft_ws_frame_parse(fr->head, fr->head_have + k, &f);
            if (h == WEFT_EAGAIN) {
                fr->head_have += k, i += k;
                continue;
            }
            if (h < 0) /* (f is filled: the whole head is taken, as for other refusals) */
                return frames_fail(fr, ev, "a 64-bit length with its top bit set", i + f.head_len - fr->head_have);
            i += (size_t)h - fr->head_have; /* only the head's own bytes */
            const char *why = frames_check_head(fr, &f);
            if (why) return frames_fail(fr, ev, why, i);
            fr->in_payload = 1, fr->fin = f.fin, fr->opcode = f.opcode;
            fr->left = fr->flen = f.len;
            if (f.opcode == WEFT_WS_TEXT) fr->msg_open = 1, fr->msg_len = 0, fr->msg_z = f.rsv != 0;
            if (fr->left == 0 && frames_end(fr, ev)) return i;
            continue;
        }
        size_t k = (uint64_t)(n - i) < fr->left ? n - i : (size_t)fr->left;
        if (fr->opcode >= WEFT_WS_CLOSE) {
            memcpy(fr->ctl + (fr->flen - fr->left), p + i, k);
        } else if (k) {
            if (fr->msg_len == 0 && !fr->msg_z && p[i] != '{') return frames_fail(fr, ev, "a message that does not begin with '{'", i);
            fr->msg_len += k;
            fr->last = p[i + k - 1];
        }
        i += k, fr->left -= k;
        if (fr->left == 0 && frames_end(fr, ev)) return i;
    }
    return i;
}

/* ---- the viewers ---------------------------------------------------------------- */

typedef struct watch {
    const watch_config *cfg;
    int64_t start_ms, warm_ms, end_ms; /* monotonic */
    atomic_int connected, latency_connected, dial_failed, closed_early, last_close, said;
    atomic_llong messages, bytes, positions, bad, early, deflated, light_bytes;
    atomic_llong max_us;
    atomic_llong hist[HIST_BUCKETS];
    atomic_llong push[HIST_BUCKETS]; /* per message: its freshest position's latency */
    /* the split of a position's latency at its serverTime (fleet's
     * positions have one): fixTime -> serverTime, serverTime -> arrival */
    atomic_llong to_server[HIST_BUCKETS], from_server[HIST_BUCKETS];
    atomic_llong split;
} watch;

typedef struct viewer {
    watch *w;
    int index;
    int64_t arrival_us;
    int counting;
    int early;
    int64_t min_us; /* the freshest position of this message, -1 = none yet */
    int decode;     /* 1: decodes every message (the latency sample), 0: light */
} viewer;

static int64_t wall_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void on_fix(void *ud, int64_t fix_ms, int64_t server_ms) {
    viewer *v = ud;
    if (!v->counting) return;
    watch *w = v->w;
    int64_t us = watch_latency_us(v->arrival_us, fix_ms, &v->early);
    if (server_ms >= 0) {
        int early = 0;
        int64_t to = server_ms >= fix_ms ? (server_ms - fix_ms) * 1000 : 0;
        int64_t from = watch_latency_us(v->arrival_us, server_ms, &early);
        atomic_fetch_add_explicit(&w->to_server[hist_bucket((uint64_t)to)], 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&w->from_server[hist_bucket((uint64_t)from)], 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&w->split, 1, memory_order_relaxed);
    }
    if (v->min_us < 0 || us < v->min_us) v->min_us = us;
    atomic_fetch_add_explicit(&w->hist[hist_bucket((uint64_t)us)], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&w->positions, 1, memory_order_relaxed);
    long long m = atomic_load_explicit(&w->max_us, memory_order_relaxed);
    while (us > m && !atomic_compare_exchange_weak(&w->max_us, &m, us)) {}
}

static void say(watch *w, int index, const char *what, const char *detail) {
    if (w->cfg->quiet || atomic_fetch_add(&w->said, 1) >= 5) return;
    fprintf(stderr, "fleet-sim: viewer %d: %s%s%s\n", index, what, detail ? ": " : "", detail ? detail : "");
}

/* A whole message of len bytes arrived: counted in the window (not the
 * connection's first message, the snapshot; not in the warm-up). Returns
 * whether it counts. */
static int count_message(watch *w, int *first, size_t len) {
    int counting = !*first && weft_now() >= w->warm_ms;
    *first = 0;
    if (counting) {
        atomic_fetch_add_explicit(&w->messages, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&w->bytes, (long long)len, memory_order_relaxed);
    }
    return counting;
}

/* The connection ended before the end of the run: the server's close code
 * (1006: none, the connection was lost) and reason. */
static void count_closed(watch *w, int index, int code, const char *why) {
    atomic_fetch_add(&w->closed_early, 1);
    atomic_store(&w->last_close, code);
    char d[160];
    snprintf(d, sizeof d, "%d %s", code, why ? why : "");
    say(w, index, "the server closed the connection", d);
}

static void count_bad(watch *w, int index, const char *why) {
    atomic_fetch_add(&w->bad, 1);
    say(w, index, "a message that is not a live update", why);
}

/* ---- a light viewer: frames walked in a per-thread buffer, nothing decoded ---- */

enum { LIGHT_READ = 256 * 1024 };

typedef struct light {
    watch *w;
    viewer *v;
    int fd;
    watch_frames fr;
    int first;
    uint8_t pong[WEFT_WS_CONTROL_MAX]; /* a ping's payload, answered after the read is walked */
    size_t pong_n;
    int pong_due;
    int close_code; /* the server's close (0 = none yet) */
    int over;       /* the server closed, or its frames were wrong */
} light;

/* One client frame (masked, RFC 6455 §5.3), written whole. 0 or < 0. */
static int light_send(int fd, int opcode, const void *p, size_t n) {
    char key[25];
    weft_ws_client_key(key); /* 16 random bytes in base64: 4 of them are the mask */
    weft_buf b;
    weft_buf_init(&b, 0);
    int rc = weft_ws_frame_append(&b, WEFT_WS_FIN, opcode, p, n, (const uint8_t *)key);
    if (rc == 0) {
        ssize_t wr = weft_write_all(fd, b.data, b.len, weft_deadline_in(5000));
        rc = wr < 0 ? (int)wr : 0;
    }
    weft_buf_free(&b);
    return rc;
}

/* Walks p[0..n) through the frame reader. Returns 0 to go on reading, 1 when
 * the connection is over (the server's close, or frames that are wrong: then
 * counted as bad and the connection given up with 1002). */
static int light_take(light *l, const uint8_t *p, size_t n) {
    while (n) {
        watch_frame_ev ev;
        size_t k = watch_frames_feed(&l->fr, p, n, &ev);
        p += k, n -= k;
        switch (ev.type) {
        case WATCH_FR_NONE: break;
        case WATCH_FR_MESSAGE:
            if (count_message(l->w, &l->first, (size_t)ev.len)) {
                atomic_fetch_add_explicit(&l->w->light_bytes, (long long)ev.len, memory_order_relaxed);
                if (ev.deflated) atomic_fetch_add_explicit(&l->w->deflated, 1, memory_order_relaxed);
            }
            break;
        case WATCH_FR_PING:
            memcpy(l->pong, ev.data, ev.n);
            l->pong_n = ev.n, l->pong_due = 1;
            break;
        case WATCH_FR_CLOSE: {
            char why[WEFT_WS_CONTROL_MAX + 1];
            snprintf(why, sizeof why, "%.*s", (int)ev.n, (const char *)ev.data);
            l->close_code = ev.code;
            count_closed(l->w, l->v->index, ev.code, why);
            return 1;
        }
        default: /* WATCH_FR_FAIL */
            count_bad(l->w, l->v->index, ev.why);
            l->close_code = WEFT_WS_PROTOCOL_ERROR;
            return 1;
        }
    }
    return 0;
}

/* Connect and upgrade (numeric hosts only, as fleet-sim's devices); the bytes
 * after the server's 101 go to the frame reader. fd or < 0 with *reason. */
static int light_dial(light *l, const char **reason) {
    const watch_config *c = l->w->cfg;
    int64_t deadline = weft_deadline_in(10000);
    weft_ws_url u;
    int rc = weft_ws_url_parse(c->url, strlen(c->url), &u);
    if (rc) return rc;
    char host[64], hosthdr[300], target[4096], key[25];
    if (u.host.n >= sizeof host || u.target.n + 2 >= sizeof target) return WEFT_EINVAL;
    snprintf(host, sizeof host, "%.*s", (int)u.host.n, u.host.p);
    snprintf(hosthdr, sizeof hosthdr, "%.*s", (int)u.authority.n, u.authority.p);
    snprintf(target, sizeof target, "%s%.*s", u.target.p[0] == '?' ? "/" : "", (int)u.target.n, u.target.p);
    int fd = weft_tcp_connect(host, u.port, deadline);
    if (fd < 0) return fd;
    weft_ws_client_opts o = {.headers = c->headers, .deflate = c->deflate};
    weft_ws_handshake hs;
    weft_buf b;
    weft_buf_init(&b, 0);
    weft_ws_client_key(key);
    rc = weft_ws_client_request(&b, hosthdr, target, key, &o);
    if (rc == 0) {
        ssize_t wr = weft_write_all(fd, b.data, b.len, deadline);
        rc = wr < 0 ? (int)wr : 0;
    }
    b.len = 0;
    while (rc == 0) {
        if ((rc = weft_buf_reserve(&b, 4096))) break;
        ssize_t r = weft_read(fd, b.data + b.len, 4096, deadline);
        if (r <= 0) {
            rc = r < 0 ? (int)r : WEFT_EPARSE;
            if (r == 0) *reason = "the server closed the connection during the handshake";
            break;
        }
        b.len += (size_t)r;
        int h = weft_ws_client_response(b.data, b.len, key, &o, &hs, reason);
        if (h == WEFT_EAGAIN) continue;
        if (h < 0) {
            rc = h;
            break;
        }
        l->fd = fd;
        l->fr.deflate = hs.deflate;
        l->over = light_take(l, (const uint8_t *)b.data + h, b.len - (size_t)h);
        break;
    }
    weft_buf_free(&b);
    if (rc) {
        weft_close(fd);
        return rc;
    }
    return 0;
}

/* The thread's read buffer (a static array of this size in TLS would not fit
 * a worker thread's stack): made on first use, freed when the thread ends. */
static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static void scratch_make_key(void) { pthread_key_create(&scratch_key, free); }
static uint8_t *thread_scratch(void) {
    pthread_once(&scratch_once, scratch_make_key);
    uint8_t *b = pthread_getspecific(scratch_key);
    if (!b && (b = malloc(LIGHT_READ)) && pthread_setspecific(scratch_key, b)) free(b), b = NULL;
    return b;
}

static void light_task(viewer *v) {
    watch *w = v->w;
    const watch_config *c = w->cfg;
    light l = {.w = w, .v = v, .fd = -1, .first = 1};
    watch_frames_init(&l.fr);
    const char *reason = NULL;
    int rc = light_dial(&l, &reason);
    if (rc < 0) {
        atomic_fetch_add(&w->dial_failed, 1);
        say(w, v->index, weft_strerror(rc), reason);
        return;
    }
    atomic_fetch_add(&w->connected, 1);
    int fd = l.fd;
    while (!l.over) { /* (the server's close may have come with its 101) */
        if (c->stop && atomic_load(c->stop)) break;
        int64_t now = weft_now(), dl = now + 1000; /* wake at least once a second to notice *stop */
        if (w->end_ms > 0 && w->end_ms < dl) dl = w->end_ms;
        if (w->end_ms > 0 && now >= w->end_ms) break;
        int r = weft_fd_wait(fd, WEFT_POLLIN, dl);
        if (r == WEFT_ETIMEDOUT) continue;
        if (r == WEFT_ECANCELED) break;
        /* the read does not suspend (deadline 0), so no other task on this
         * thread touches the buffer until it is walked */
        uint8_t *scratch = thread_scratch(); /* this thread's: the task may have moved */
        ssize_t got = r < 0 ? r : !scratch ? WEFT_ENOMEM : weft_read(fd, scratch, LIGHT_READ, 0);
        if (got == WEFT_EAGAIN) continue;
        if (got <= 0) {
            count_closed(w, v->index, WEFT_WS_ABNORMAL, got < 0 ? weft_strerror((int)got) : "connection lost");
            break;
        }
        if ((l.over = light_take(&l, scratch, (size_t)got))) break;
        if (l.pong_due && light_send(fd, WEFT_WS_PONG, l.pong, l.pong_n) < 0) {
            count_closed(w, v->index, WEFT_WS_ABNORMAL, "cannot answer a ping");
            break;
        }
        l.pong_due = 0;
    }
    /* our close: the end of the run (1000), or the answer to the server's */
    uint8_t pl[WEFT_WS_CONTROL_MAX];
    int code = l.close_code ? l.close_code : WEFT_WS_NORMAL;
    size_t pn = weft_ws_close_payload(pl, code == WEFT_WS_NO_STATUS ? 0 : code, "done", 4);
    light_send(fd, WEFT_WS_CLOSE, pl, pn); /* best effort: the socket goes next */
    weft_close(fd);
}

/* ---- a decoding viewer: every message through weft_ws_recv and watch_scan ---- */

static void viewer_task(void *arg) {
    viewer *v = arg;
    if (!v->decode) {
        light_task(v);
        return;
    }
    watch *w = v->w;
    const watch_config *c = w->cfg;
    weft_ws_client_opts o = {.headers = c->headers, .deflate = c->deflate};
    /* a live message carries every device that moved in a tick: megabytes
     * with thousands of devices */
    weft_ws_config wc = {.max_message = 256u << 20, .idle_timeout_ms = -1, .ping_interval_ms = -1};
    int err = 0;
    const char *reason = NULL;
    weft_ws *ws = weft_ws_dial(c->url, &o, &wc, weft_deadline_in(10000), &err, &reason);
    if (!ws) {
        atomic_fetch_add(&w->dial_failed, 1);
        say(w, v->index, weft_strerror(err), reason);
        return;
    }
    atomic_fetch_add(&w->connected, 1);
    atomic_fetch_add(&w->latency_connected, 1);
    weft_buf msg;
    weft_buf_init(&msg, 0);
    int first = 1;
    for (;;) {
        int64_t end = w->end_ms > 0 ? w->end_ms : -1;
        if (c->stop && atomic_load(c->stop)) break;
        /* wake at least once a second to notice *stop */
        int64_t dl = weft_now() + 1000;
        int op = weft_ws_recv(ws, &msg, end > 0 && end < dl ? end : dl);
        if (op == WEFT_ETIMEDOUT) {
            if (end > 0 && weft_now() >= end) break;
            continue;
        }
        if (op < 0) {
            if (op != WEFT_ECANCELED) {
                const char *why = NULL;
                int code = weft_ws_close_status(ws, &why);
                count_closed(w, v->index, code, why);
            }
            break;
        }
        v->arrival_us = wall_us();
        v->counting = count_message(w, &first, msg.len);
        v->min_us = -1;
        const char *why = NULL;
        int n = watch_scan(msg.data, msg.len, on_fix, v, &why);
        if (n > 0 && v->counting && v->min_us >= 0)
            atomic_fetch_add_explicit(&w->push[hist_bucket((uint64_t)v->min_us)], 1, memory_order_relaxed);
        if (n < 0) count_bad(w, v->index, why);
        if (v->early) {
            atomic_fetch_add(&w->early, 1);
            v->early = 0;
        }
    }
    weft_buf_free(&msg);
    if (weft_ws_close_status(ws, NULL) == 0) weft_ws_close(ws, WEFT_WS_NORMAL, "done");
    weft_ws_free(ws);
}

static void load_hist(const atomic_llong *src, int64_t *dst) {
    for (int i = 0; i < HIST_BUCKETS; i++) dst[i] = atomic_load_explicit(&src[i], memory_order_relaxed);
}

static void fill(watch *w, watch_report *r, const int64_t *h, int64_t now) {
    memset(r, 0, sizeof *r);
    int64_t from = w->warm_ms;
    r->elapsed_s = now > from ? (double)(now - from) / 1000.0 : 0;
    r->connected = atomic_load(&w->connected);
    r->latency_connected = atomic_load(&w->latency_connected);
    r->dial_failed = atomic_load(&w->dial_failed);
    r->closed_early = atomic_load(&w->closed_early);
    r->last_close_code = atomic_load(&w->last_close);
    r->messages = atomic_load(&w->messages), r->bytes = atomic_load(&w->bytes);
    r->positions = atomic_load(&w->positions), r->bad = atomic_load(&w->bad);
    r->early = atomic_load(&w->early), r->deflated = atomic_load(&w->deflated);
    r->light_bytes = atomic_load(&w->light_bytes);
    r->p50_ms = hist_pct(h, 0.50), r->p99_ms = hist_pct(h, 0.99), r->p999_ms = hist_pct(h, 0.999);
    r->max_ms = (double)atomic_load(&w->max_us) / 1000.0;
    int64_t *tmp = malloc(HIST_BUCKETS * sizeof *tmp);
    if (tmp) {
        load_hist(w->push, tmp);
        r->push_p50_ms = hist_pct(tmp, 0.50), r->push_p99_ms = hist_pct(tmp, 0.99);
        if (atomic_load(&w->split)) {
            load_hist(w->to_server, tmp);
            r->to_server_p50_ms = hist_pct(tmp, 0.50), r->to_server_p99_ms = hist_pct(tmp, 0.99);
            load_hist(w->from_server, tmp);
            r->from_server_p50_ms = hist_pct(tmp, 0.50), r->from_server_p99_ms = hist_pct(tmp, 0.99);
        } else {
            r->to_server_p50_ms = r->to_server_p99_ms = r->from_server_p50_ms = r->from_server_p99_ms = -1;
        }
        free(tmp);
    }
    if (r->elapsed_s > 0) {
        r->positions_per_s = (double)r->positions / r->elapsed_s;
        if (r->connected) r->msgs_per_viewer_s = (double)r->messages / r->connected / r->elapsed_s;
    }
}

int watch_run(const watch_config *cfg, watch_tick_fn tick, void *ud, watch_report *final) {
    if (!cfg->url || cfg->viewers < 1 || cfg->viewers > 100000 || cfg->warmup_s < 0 ||
        cfg->latency_viewers > cfg->viewers)
        return WEFT_EINVAL;
    watch *w = calloc(1, sizeof *w);
    viewer *vs = calloc((size_t)cfg->viewers, sizeof *vs);
    int64_t *prev = calloc(HIST_BUCKETS, sizeof *prev), *cur = calloc(HIST_BUCKETS, sizeof *cur);
    if (!w || !vs || !prev || !cur) {
        free(w), free(vs), free(prev), free(cur);
        return WEFT_ENOMEM;
    }
    w->cfg = cfg;
    w->start_ms = weft_now();
    w->warm_ms = w->start_ms + (int64_t)(cfg->warmup_s * 1000);
    w->end_ms = cfg->duration_s > 0 ? w->start_ms + (int64_t)(cfg->duration_s * 1000) : 0;
    weft_group g;
    weft_group_init(&g);
    for (int i = 0; i < cfg->viewers; i++) {
        /* the decoding sample, spread evenly over the connection order:
         * viewer i decodes when floor((i + 1) L / V) steps past floor(i L / V) */
        long long l = cfg->latency_viewers < 0 ? cfg->viewers : cfg->latency_viewers;
        int decode = (i + 1) * l / cfg->viewers > i * l / cfg->viewers;
        vs[i] = (viewer){.w = w, .index = i + 1, .decode = decode};
        if (weft_group_go(&g, viewer_task, &vs[i], "viewer") < 0) {
            atomic_fetch_add(&w->dial_failed, 1);
            say(w, i + 1, "cannot start its task", NULL);
        }
    }
    int rc = 0;
    int64_t next_tick = w->start_ms + 1000;
    for (;;) {
        int wrc = weft_group_wait(&g, next_tick);
        if (wrc == 0) break;
        if (wrc == WEFT_ECANCELED) {
            weft_group_cancel(&g);
            rc = WEFT_ECANCELED;
            break; /* the tasks end at their next suspension; w stays theirs */
        }
        int64_t now = weft_now();
        if (w->end_ms > 0 && now >= w->end_ms + 15000) weft_group_cancel(&g); /* stuck closes */
        if (now >= next_tick) {
            for (int i = 0; i < HIST_BUCKETS; i++)
                cur[i] = atomic_load_explicit(&w->hist[i], memory_order_relaxed);
            for (int i = 0; i < HIST_BUCKETS; i++) prev[i] = cur[i] - prev[i];
            watch_report r;
            fill(w, &r, prev, now);
            if (tick) tick(&r, ud);
            memcpy(prev, cur, HIST_BUCKETS * sizeof *prev);
            next_tick += 1000;
            if (next_tick <= now) next_tick = now + 1000;
        }
    }
    for (int i = 0; i < HIST_BUCKETS; i++) cur[i] = atomic_load_explicit(&w->hist[i], memory_order_relaxed);
    int64_t end = w->end_ms > 0 && weft_now() > w->end_ms ? w->end_ms : weft_now();
    if (final) fill(w, final, cur, end);
    free(prev), free(cur);
    if (rc == 0) free(w), free(vs);
    return rc;
}
