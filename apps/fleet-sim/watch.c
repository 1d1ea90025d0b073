/* apps/fleet-sim/watch.c — live viewers and their latency (see watch.h). */
#include "watch.h"

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

/* One position object at s->p: its fixTime to cb. */
static int position(scan *s, scan_cb *cb) {
    ws(s);
    if (s->p >= s->end || *s->p != '{') return fail(s, "a position that is not an object");
    s->p++;
    int have = 0;
    int64_t ms = 0;
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
    if (cb->fn) cb->fn(cb->ud, ms);
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

/* ---- the viewers ---------------------------------------------------------------- */

typedef struct watch {
    const watch_config *cfg;
    int64_t start_ms, warm_ms, end_ms; /* monotonic */
    atomic_int connected, dial_failed, closed_early, last_close, said;
    atomic_llong messages, bytes, positions, bad, early;
    atomic_llong max_us;
    atomic_llong hist[HIST_BUCKETS];
    atomic_llong push[HIST_BUCKETS]; /* per message: its freshest position's latency */
} watch;

typedef struct viewer {
    watch *w;
    int index;
    int64_t arrival_us;
    int counting;
    int early;
    int64_t min_us; /* the freshest position of this message, -1 = none yet */
} viewer;

static int64_t wall_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void on_fix(void *ud, int64_t fix_ms) {
    viewer *v = ud;
    if (!v->counting) return;
    watch *w = v->w;
    int64_t us = watch_latency_us(v->arrival_us, fix_ms, &v->early);
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

static void viewer_task(void *arg) {
    viewer *v = arg;
    watch *w = v->w;
    const watch_config *c = w->cfg;
    weft_ws_client_opts o = {.headers = c->headers};
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
                atomic_fetch_add(&w->closed_early, 1);
                atomic_store(&w->last_close, code);
                char d[160];
                snprintf(d, sizeof d, "%d %s", code, why ? why : "");
                say(w, v->index, "the server closed the connection", d);
            }
            break;
        }
        v->arrival_us = wall_us();
        v->counting = !first && weft_now() >= w->warm_ms;
        first = 0;
        v->min_us = -1;
        const char *why = NULL;
        int n = watch_scan(msg.data, msg.len, on_fix, v, &why);
        if (n > 0 && v->counting && v->min_us >= 0)
            atomic_fetch_add_explicit(&w->push[hist_bucket((uint64_t)v->min_us)], 1, memory_order_relaxed);
        if (n < 0) {
            atomic_fetch_add(&w->bad, 1);
            say(w, v->index, "a message that is not a live update", why);
        }
        if (v->early) {
            atomic_fetch_add(&w->early, 1);
            v->early = 0;
        }
        if (v->counting) {
            atomic_fetch_add_explicit(&w->messages, 1, memory_order_relaxed);
            atomic_fetch_add_explicit(&w->bytes, (long long)msg.len, memory_order_relaxed);
        }
    }
    weft_buf_free(&msg);
    if (weft_ws_close_status(ws, NULL) == 0) weft_ws_close(ws, WEFT_WS_NORMAL, "done");
    weft_ws_free(ws);
}

static void fill(watch *w, watch_report *r, const int64_t *h, int64_t now) {
    memset(r, 0, sizeof *r);
    int64_t from = w->warm_ms;
    r->elapsed_s = now > from ? (double)(now - from) / 1000.0 : 0;
    r->connected = atomic_load(&w->connected);
    r->dial_failed = atomic_load(&w->dial_failed);
    r->closed_early = atomic_load(&w->closed_early);
    r->last_close_code = atomic_load(&w->last_close);
    r->messages = atomic_load(&w->messages), r->bytes = atomic_load(&w->bytes);
    r->positions = atomic_load(&w->positions), r->bad = atomic_load(&w->bad);
    r->early = atomic_load(&w->early);
    r->p50_ms = hist_pct(h, 0.50), r->p99_ms = hist_pct(h, 0.99), r->p999_ms = hist_pct(h, 0.999);
    r->max_ms = (double)atomic_load(&w->max_us) / 1000.0;
    int64_t *push = malloc(HIST_BUCKETS * sizeof *push);
    if (push) {
        for (int i = 0; i < HIST_BUCKETS; i++) push[i] = atomic_load_explicit(&w->push[i], memory_order_relaxed);
        r->push_p50_ms = hist_pct(push, 0.50), r->push_p99_ms = hist_pct(push, 0.99);
        free(push);
    }
    if (r->elapsed_s > 0) {
        r->positions_per_s = (double)r->positions / r->elapsed_s;
        if (r->connected) r->msgs_per_viewer_s = (double)r->messages / r->connected / r->elapsed_s;
    }
}

int watch_run(const watch_config *cfg, watch_tick_fn tick, void *ud, watch_report *final) {
    if (!cfg->url || cfg->viewers < 1 || cfg->viewers > 100000 || cfg->warmup_s < 0) return WEFT_EINVAL;
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
        vs[i] = (viewer){.w = w, .index = i + 1};
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
