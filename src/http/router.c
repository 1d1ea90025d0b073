/*
 * src/http/router.c — method + path routing and the middleware chain.
 *
 * A tree with one node per path segment. Each node has its literal children
 * in a sorted array (binary search), at most one {param} child and at most
 * one {rest...} child, plus the handlers registered at that node, one per
 * method. Matching walks the request path segment by segment, trying the
 * literal child first, then the param, then the rest, and backs up only
 * when a more specific branch dead-ends: the work is bounded by the path's
 * depth, not by the number of routes.
 *
 * The tree is built before serving and read-only afterwards, so matching
 * takes no lock.
 */
#include <stdlib.h>
#include <string.h>

#include "http/http_int.h"
#include "weft/log.h"

typedef struct rnode rnode;

typedef struct rmethod {
    char name[24]; /* "*" = any */
    weft_http_handler h;
    void *ud;
} rmethod;

struct rnode {
    char *seg; /* literal segment (children of the parent's `kids`) */
    size_t seglen;
    rnode **kids; /* sorted by (seglen, seg) */
    int nkids;
    rnode *param; /* {name} */
    char *pname;
    rnode *rest; /* {name...} */
    char *rname;
    rmethod *methods;
    int nmethods;
    char allow[256]; /* "GET, HEAD, POST" for 405 */
};

struct weft_http_router {
    rnode root;
    struct {
        weft_http_middleware fn;
        void *ud;
    } mw[WEFT__HTTP_MAX_MW];
    int nmw;
    weft_http_handler not_found;
    void *not_found_ud;
    /* Fully literal patterns by whole path, so the common case is one hash
     * and one compare instead of a walk (same answer: a literal match at
     * every segment is what the walk would find first). */
    struct lit {
        uint64_t hash;
        char *path;
        size_t len;
        rnode *node;
    } *lits;
    size_t nlits, litcap; /* open addressing, power-of-two capacity */
};

/* Cheap: length, first and last 8 bytes (paths that share both collide and
 * are told apart by the compare). */
static uint64_t path_hash(const char *p, size_t n) {
    uint64_t a = 0, b = 0;
    if (n >= 8) {
        memcpy(&a, p, 8);
        memcpy(&b, p + n - 8, 8);
    } else {
        memcpy(&a, p, n);
    }
    uint64_t h = (a ^ (b * 0x9e3779b97f4a7c15ull) ^ n) * 0xff51afd7ed558ccdull;
    return h ^ (h >> 29);
}

static rnode *lit_find(const weft_http_router *r, const char *p, size_t n) {
    if (!r->litcap) return NULL;
    uint64_t h = path_hash(p, n);
    for (size_t i = h & (r->litcap - 1);; i = (i + 1) & (r->litcap - 1)) {
        const struct lit *e = &r->lits[i];
        if (!e->path) return NULL;
        if (e->hash == h && e->len == n && memcmp(e->path, p, n) == 0) return e->node;
    }
}

static int lit_add(weft_http_router *r, const char *p, size_t n, rnode *node) {
    if (lit_find(r, p, n)) return 0;
    if ((r->nlits + 1) * 2 > r->litcap) {
        size_t cap = r->litcap ? r->litcap * 2 : 16;
        struct lit *t = calloc(cap, sizeof *t);
        if (!t) return WEFT_ENOMEM;
        for (size_t i = 0; i < r->litcap; i++) {
            struct lit e = r->lits[i];
            if (!e.path) continue;
            size_t j = e.hash & (cap - 1);
            while (t[j].path) j = (j + 1) & (cap - 1);
            t[j] = e;
        }
        free(r->lits);
        r->lits = t;
        r->litcap = cap;
    }
    char *copy = malloc(n + 1);
    if (!copy) return WEFT_ENOMEM;
    memcpy(copy, p, n);
    copy[n] = 0;
    uint64_t h = path_hash(p, n);
    size_t j = h & (r->litcap - 1);
    while (r->lits[j].path) j = (j + 1) & (r->litcap - 1);
    r->lits[j] = (struct lit){h, copy, n, node};
    r->nlits++;
    return 0;
}

static int default_not_found(weft_http_ctx *c, void *ud) {
    (void)ud;
    return weft_http_text(c, 404, "not found\n");
}

static int method_not_allowed(weft_http_ctx *c, void *ud) {
    (void)ud;
    weft_http_add_header(c, "Allow", c->allow);
    return weft_http_text(c, 405, "method not allowed\n");
}

weft_http_router *weft_http_router_new(void) {
    weft_http_router *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->not_found = default_not_found;
    return r;
}

static void node_free(rnode *n) {
    if (!n) return;
    for (int i = 0; i < n->nkids; i++) {
        node_free(n->kids[i]);
        free(n->kids[i]);
    }
    free(n->kids);
    if (n->param) node_free(n->param), free(n->param);
    if (n->rest) node_free(n->rest), free(n->rest);
    free(n->seg);
    free(n->pname);
    free(n->rname);
    free(n->methods);
}

void weft_http_router_free(weft_http_router *r) {
    if (!r) return;
    node_free(&r->root);
    for (size_t i = 0; i < r->litcap; i++) free(r->lits[i].path);
    free(r->lits);
    free(r);
}

int weft_http_use(weft_http_router *r, weft_http_middleware mw, void *ud) {
    if (!r || !mw) return WEFT_EINVAL;
    if (r->nmw >= WEFT__HTTP_MAX_MW) return WEFT_ELIMIT;
    r->mw[r->nmw].fn = mw;
    r->mw[r->nmw].ud = ud;
    r->nmw++;
    return 0;
}

void weft_http_router_not_found(weft_http_router *r, weft_http_handler h, void *ud) {
    if (!r) return;
    r->not_found = h ? h : default_not_found;
    r->not_found_ud = h ? ud : NULL;
}

/* ---- building -------------------------------------------------------------- */

static int seg_cmp(const char *a, size_t an, const char *b, size_t bn) {
    if (an != bn) return an < bn ? -1 : 1;
    return memcmp(a, b, an);
}

/* Index of the literal child equal to seg, or -(insertion point) - 1. */
static int kid_find(const rnode *n, const char *seg, size_t len) {
    int lo = 0, hi = n->nkids - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        int c = seg_cmp(n->kids[mid]->seg, n->kids[mid]->seglen, seg, len);
        if (c == 0) return mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -lo - 1;
}

static rnode *kid_add(rnode *n, const char *seg, size_t len) {
    int i = kid_find(n, seg, len);
    if (i >= 0) return n->kids[i];
    i = -i - 1;
    rnode **k = realloc(n->kids, (size_t)(n->nkids + 1) * sizeof *k);
    if (!k) return NULL;
    n->kids = k;
    rnode *x = calloc(1, sizeof *x);
    char *s = malloc(len + 1);
    if (!x || !s) {
        free(x);
        free(s);
        return NULL;
    }
    memcpy(s, seg, len);
    s[len] = 0;
    x->seg = s;
    x->seglen = len;
    memmove(k + i + 1, k + i, (size_t)(n->nkids - i) * sizeof *k);
    k[i] = x;
    n->nkids++;
    return x;
}

static int valid_name(const char *p, size_t n) {
    if (n == 0) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

/* Child for a {name} or {name...} segment; EEXIST when the slot is taken
 * under another name. */
static int var_child(rnode **slot, char **name, const char *p, size_t n, rnode **out) {
    if (*slot) {
        if (strlen(*name) != n || memcmp(*name, p, n) != 0) return WEFT_EEXIST;
        *out = *slot;
        return 0;
    }
    rnode *x = calloc(1, sizeof *x);
    char *s = malloc(n + 1);
    if (!x || !s) {
        free(x);
        free(s);
        return WEFT_ENOMEM;
    }
    memcpy(s, p, n);
    s[n] = 0;
    *slot = x;
    *name = s;
    *out = x;
    return 0;
}

static void rebuild_allow(rnode *n) {
    size_t o = 0;
    int get = 0, head = 0;
    n->allow[0] = 0;
    for (int i = 0; i < n->nmethods; i++) {
        const char *m = n->methods[i].name;
        if (strcmp(m, "GET") == 0) get = 1;
        if (strcmp(m, "HEAD") == 0) head = 1;
    }
    for (int i = 0; i < n->nmethods + (get && !head); i++) {
        const char *m = i < n->nmethods ? n->methods[i].name : "HEAD";
        if (strcmp(m, "*") == 0) continue;
        size_t l = strlen(m);
        if (o + l + 3 >= sizeof n->allow) break;
        if (o) n->allow[o++] = ',', n->allow[o++] = ' ';
        memcpy(n->allow + o, m, l);
        o += l;
        n->allow[o] = 0;
    }
}

static int bad_pattern(const char *pattern, const char *why) {
    weft_log_warn("http: route pattern \"%s\": %s", pattern, why);
    return WEFT_EINVAL;
}

int weft_http_route(weft_http_router *r, const char *method, const char *pattern,
                    weft_http_handler h, void *ud) {
    if (!r || !method || !pattern || !h) return WEFT_EINVAL;
    size_t ml = strlen(method);
    if (ml == 0 || ml >= sizeof(((rmethod *)0)->name)) return bad_pattern(pattern, "bad method");
    if (pattern[0] != '/') return bad_pattern(pattern, "must start with '/'");
    rnode *n = &r->root;
    const char *p = pattern + 1, *end = pattern + strlen(pattern);
    if (p == end) p = NULL; /* "/" is the root itself; otherwise one node per segment */
    {
        while (p) {
            const char *slash = memchr(p, '/', (size_t)(end - p));
            const char *se = slash ? slash : end;
            size_t sl = (size_t)(se - p);
            rnode *next;
            int rc;
            if (sl >= 2 && p[0] == '{' && se[-1] == '}') {
                const char *nm = p + 1;
                size_t nl = sl - 2;
                if (nl > 3 && memcmp(nm + nl - 3, "...", 3) == 0) {
                    if (slash) return bad_pattern(pattern, "{name...} must be the last segment");
                    if (!valid_name(nm, nl - 3)) return bad_pattern(pattern, "bad parameter name");
                    rc = var_child(&n->rest, &n->rname, nm, nl - 3, &next);
                } else {
                    if (!valid_name(nm, nl)) return bad_pattern(pattern, "bad parameter name");
                    rc = var_child(&n->param, &n->pname, nm, nl, &next);
                }
                if (rc == WEFT_EEXIST)
                    weft_log_warn("http: route \"%s\": another parameter name already at this "
                                   "position",
                                   pattern);
                if (rc) return rc;
            } else {
                if (memchr(p, '{', sl) || memchr(p, '}', sl))
                    return bad_pattern(pattern, "'{' or '}' inside a literal segment");
                next = kid_add(n, p, sl);
                if (!next) return WEFT_ENOMEM;
            }
            n = next;
            p = slash ? slash + 1 : NULL;
        }
    }
    for (int i = 0; i < n->nmethods; i++)
        if (strcmp(n->methods[i].name, method) == 0) {
            weft_log_warn("http: route %s %s registered twice", method, pattern);
            return WEFT_EEXIST;
        }
    rmethod *m = realloc(n->methods, (size_t)(n->nmethods + 1) * sizeof *m);
    if (!m) return WEFT_ENOMEM;
    n->methods = m;
    memset(&m[n->nmethods], 0, sizeof m[0]);
    memcpy(m[n->nmethods].name, method, ml);
    m[n->nmethods].h = h;
    m[n->nmethods].ud = ud;
    n->nmethods++;
    rebuild_allow(n);
    if (!strchr(pattern, '{')) return lit_add(r, pattern, strlen(pattern), n);
    return 0;
}

/* ---- matching -------------------------------------------------------------- */

/* p: start of the next segment (NULL: the path is used up). */
static rnode *match(rnode *n, const char *p, const char *end, weft_http_ctx *c) {
    if (!p) {
        if (n->nmethods) return n;
        if (n->rest && n->rest->nmethods && c->nparams < WEFT__HTTP_MAX_PARAMS) {
            c->pname[c->nparams] = weft_str_c(n->rname);
            c->pval[c->nparams++] = (weft_str){end, 0};
            return n->rest;
        }
        return NULL;
    }
    const char *slash = memchr(p, '/', (size_t)(end - p));
    const char *se = slash ? slash : end;
    const char *next = slash ? slash + 1 : NULL;
    size_t sl = (size_t)(se - p);
    if (n->nkids) {
        int i = kid_find(n, p, sl);
        if (i >= 0) {
            rnode *x = match(n->kids[i], next, end, c);
            if (x) return x;
        }
    }
    if (n->param && sl > 0 && c->nparams < WEFT__HTTP_MAX_PARAMS) {
        int k = c->nparams++;
        c->pname[k] = weft_str_c(n->pname);
        c->pval[k] = (weft_str){p, sl};
        rnode *x = match(n->param, next, end, c);
        if (x) return x;
        c->nparams = k;
    }
    if (n->rest && n->rest->nmethods && c->nparams < WEFT__HTTP_MAX_PARAMS) {
        c->pname[c->nparams] = weft_str_c(n->rname);
        c->pval[c->nparams++] = (weft_str){p, (size_t)(end - p)};
        return n->rest;
    }
    return NULL;
}

static const rmethod *find_method(const rnode *n, weft_str m) {
    const rmethod *any = NULL, *get = NULL;
    for (int i = 0; i < n->nmethods; i++) {
        const char *name = n->methods[i].name;
        size_t l = strlen(name);
        if (l == m.n && memcmp(name, m.p, l) == 0) return &n->methods[i];
        if (l == 1 && name[0] == '*') any = &n->methods[i];
        if (l == 3 && memcmp(name, "GET", 3) == 0) get = &n->methods[i];
    }
    if (get && m.n == 4 && memcmp(m.p, "HEAD", 4) == 0) return get;
    return any;
}

void weft__http_route_match(weft_http_router *r, weft_http_ctx *c) {
    weft_str path = c->req.path;
    c->nparams = 0;
    /* absolute-form (RFC 9112 §3.2.2): route on the path part */
    if (path.n && path.p[0] != '/') {
        const char *s = memchr(path.p, ':', path.n);
        if (s && (size_t)(path.p + path.n - s) >= 3 && s[1] == '/' && s[2] == '/') {
            const char *a = s + 3, *e = path.p + path.n;
            const char *sl = memchr(a, '/', (size_t)(e - a));
            path = sl ? (weft_str){sl, (size_t)(e - sl)} : WEFT_STR("/");
        }
    }
    rnode *n = lit_find(r, path.p, path.n);
    if (!n && path.n && path.p[0] == '/') {
        const char *end = path.p + path.n;
        n = match(&r->root, path.n == 1 ? NULL : path.p + 1, end, c);
    }
    if (!n) {
        c->nparams = 0;
        c->handler = r->not_found;
        c->handler_ud = r->not_found_ud;
        return;
    }
    const rmethod *m = find_method(n, c->req.method);
    if (!m) {
        c->allow = n->allow;
        c->handler = method_not_allowed;
        c->handler_ud = NULL;
        return;
    }
    c->handler = m->h;
    c->handler_ud = m->ud;
}

int weft_http_next(weft_http_ctx *c) {
    weft_http_router *r = c->conn->router;
    if (c->mw_next < r->nmw) {
        int i = c->mw_next++;
        return r->mw[i].fn(c, r->mw[i].ud);
    }
    if (c->mw_next > r->nmw) return 0; /* a second next() after the handler: no-op */
    c->mw_next = r->nmw + 1;
    return c->handler(c, c->handler_ud);
}

int weft__http_run_chain(weft_http_ctx *c) {
    c->mw_next = 0;
    return weft_http_next(c);
}
