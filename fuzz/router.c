/*
 * fuzz/router.c — libFuzzer target for the router (src/http/router.c).
 *
 * Input: lines. Up to the first empty line, "METHOD PATTERN" lines to
 * register; after it, "METHOD PATH" lines to match. Beyond "does not
 * crash", every match is checked against a naive reference: among the
 * registered patterns that match the path, the tree must pick the one whose
 * segment kinds are greatest in order (literal > {param} > {rest...}), then
 * the method (exact, HEAD -> GET, "*"), else 405 — and every captured param
 * must be exactly the path segment(s) it stands for.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_int.h"
#include "weft/log.h"

#define MAXR 32
#define MAXSEG 32

typedef struct seg {
    int kind; /* 2 literal, 1 param, 0 rest */
    const char *p;
    size_t n;
} seg;

typedef struct route {
    char method[32];
    char *pattern;
    seg segs[MAXSEG];
    int nseg;
} route;

static int dummy(weft_http_ctx *c, void *ud) {
    (void)c;
    (void)ud;
    return 0;
}

/* Split a pattern into segments like the router does; "/" has none. */
static int split_pattern(route *r) {
    const char *p = r->pattern + 1, *end = r->pattern + strlen(r->pattern);
    r->nseg = 0;
    if (p == end) return 0;
    for (;;) {
        if (r->nseg >= MAXSEG) return -1;
        const char *sl = memchr(p, '/', (size_t)(end - p));
        const char *se = sl ? sl : end;
        seg *s = &r->segs[r->nseg++];
        size_t n = (size_t)(se - p);
        s->p = p;
        s->n = n;
        s->kind = 2;
        if (n >= 2 && p[0] == '{' && se[-1] == '}') s->kind = (n > 5 && !memcmp(se - 4, "...}", 4)) ? 0 : 1;
        if (!sl) break;
        p = sl + 1;
    }
    return 0;
}

/* Does route r match path segments? Fill kinds for comparison. */
static int ref_match(const route *r, const seg *ps, int np) {
    for (int i = 0; i < r->nseg; i++) {
        const seg *s = &r->segs[i];
        if (s->kind == 0) return i == r->nseg - 1; /* rest: anything, incl. nothing */
        if (i >= np) return 0;
        if (s->kind == 2 && (s->n != ps[i].n || memcmp(s->p, ps[i].p, s->n))) return 0;
        if (s->kind == 1 && ps[i].n == 0) return 0;
    }
    return r->nseg == np;
}

/* Lexicographic comparison of kind sequences (longer literal chains win only
 * through the kinds; a rest ends the sequence). */
static int kinds_cmp(const route *a, const route *b) {
    for (int i = 0;; i++) {
        /* the end of a pattern (3) beats a {rest...} that would match nothing */
        int ka = i < a->nseg ? a->segs[i].kind : 3, kb = i < b->nseg ? b->segs[i].kind : 3;
        if (ka != kb) return ka > kb ? 1 : -1;
        if (ka == 0 || ka == 3) return 0;
    }
}

static int same_shape(const route *a, const route *b) {
    if (a->nseg != b->nseg) return 0;
    for (int i = 0; i < a->nseg; i++) {
        if (a->segs[i].kind != b->segs[i].kind) return 0;
        if (a->segs[i].kind == 2 &&
            (a->segs[i].n != b->segs[i].n || memcmp(a->segs[i].p, b->segs[i].p, a->segs[i].n)))
            return 0;
    }
    return 1;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    weft_log_set_level(WEFT_LOG_ERROR); /* rejected patterns are logged as warnings */
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 4096) return 0;
    char *buf = malloc(size + 1);
    memcpy(buf, data, size);
    buf[size] = 0;
    weft_http_router *r = weft_http_router_new();
    route routes[MAXR];
    int nr = 0;
    char *line = buf, *end = buf + size;
    int phase = 0, ref_ok = 1;
    weft_http_ctx ctx;
    weft__http_conn conn;
    memset(&ctx, 0, sizeof ctx);
    memset(&conn, 0, sizeof conn);
    conn.router = r;
    ctx.conn = &conn;
    while (line < end) {
        char *nl = memchr(line, '\n', (size_t)(end - line));
        if (!nl) nl = end;
        *nl = 0;
        size_t ll = (size_t)(nl - line);
        if (ll == 0) {
            phase = 1;
            line = nl + 1;
            continue;
        }
        char *sp = memchr(line, ' ', ll);
        if (sp && phase == 0 && nr < MAXR) {
            *sp = 0;
            route *rt = &routes[nr];
            if (strlen(line) < sizeof rt->method) {
                strcpy(rt->method, line);
                rt->pattern = sp + 1;
                if (weft_http_route(r, rt->method, rt->pattern, dummy, (void *)(intptr_t)(nr + 1)) ==
                    0) {
                    if (split_pattern(rt) < 0) ref_ok = 0; /* too deep for the reference */
                    nr++;
                }
            }
        } else if (sp && phase == 1) {
            ctx.req.method = (weft_str){line, (size_t)(sp - line)};
            ctx.req.path = (weft_str){sp + 1, (size_t)(nl - sp - 1)};
            weft__http_route_match(r, &ctx);
            if (ctx.nparams > WEFT__HTTP_MAX_PARAMS) __builtin_trap();
            /* reference, only for plain origin-form paths */
            weft_str path = ctx.req.path;
            if (ref_ok && path.n && path.p[0] == '/') {
                seg ps[256];
                int np = 0, over = 0;
                if (path.n > 1) {
                    const char *p = path.p + 1, *e = path.p + path.n;
                    for (;;) {
                        if (np >= 256) {
                            over = 1;
                            break;
                        }
                        const char *sl = memchr(p, '/', (size_t)(e - p));
                        ps[np].p = p;
                        ps[np].n = (size_t)((sl ? sl : e) - p);
                        np++;
                        if (!sl) break;
                        p = sl + 1;
                    }
                }
                int best = -1, nparams_needed = 0;
                for (int i = 0; i < nr && !over; i++) {
                    if (!ref_match(&routes[i], ps, np)) continue;
                    if (best < 0 || kinds_cmp(&routes[i], &routes[best]) > 0) best = i;
                }
                if (best >= 0) {
                    for (int k = 0; k < routes[best].nseg; k++)
                        if (routes[best].segs[k].kind < 2) nparams_needed++;
                }
                if (!over && nparams_needed <= WEFT__HTTP_MAX_PARAMS) {
                    if (best < 0) {
                        if (ctx.allow || ctx.handler == dummy) __builtin_trap(); /* must be 404 */
                    } else {
                        /* the method among routes of the same shape */
                        int exact = -1, get = -1, any = -1;
                        for (int i = 0; i < nr; i++) {
                            if (!same_shape(&routes[i], &routes[best])) continue;
                            weft_str m = weft_str_c(routes[i].method);
                            if (weft_str_eq(m, ctx.req.method)) exact = i;
                            if (weft_str_eq(m, WEFT_STR("GET"))) get = i;
                            if (weft_str_eq(m, WEFT_STR("*"))) any = i;
                        }
                        int want = exact >= 0 ? exact
                                   : (get >= 0 && weft_str_eq(ctx.req.method, WEFT_STR("HEAD")))
                                       ? get
                                       : any;
                        if (want < 0) {
                            if (!ctx.allow) __builtin_trap(); /* must be 405 */
                        } else {
                            if (ctx.handler != dummy || ctx.handler_ud != (void *)(intptr_t)(want + 1))
                                __builtin_trap();
                            /* params are the path's segments */
                            int k = 0;
                            for (int s = 0; s < routes[best].nseg; s++) {
                                const seg *g = &routes[best].segs[s];
                                if (g->kind == 2) continue;
                                if (k >= ctx.nparams) __builtin_trap();
                                weft_str v = ctx.pval[k++];
                                if (g->kind == 1) {
                                    if (v.p != ps[s].p || v.n != ps[s].n) __builtin_trap();
                                } else {
                                    const char *from = s < np ? ps[s].p : path.p + path.n;
                                    if (v.p != from || v.p + v.n != path.p + path.n) __builtin_trap();
                                }
                            }
                            if (k != ctx.nparams) __builtin_trap();
                        }
                    }
                }
            }
            ctx.allow = NULL;
            ctx.handler = NULL;
            ctx.handler_ud = NULL;
        }
        line = nl + 1;
    }
    weft_http_router_free(r);
    free(buf);
    return 0;
}
