/*
 * src/http/file.c — files as responses: weft_http_send_file (ETag and
 * If-None-Match, Last-Modified, a single byte Range, sendfile to the socket)
 * and weft_http_static (a path under a root, no ".." segment).
 *
 * The head goes into the connection's `out` and is flushed (stream.c) before
 * the file's bytes follow with sendfile; the test client (fd -1) gets the
 * bytes appended to `out` instead.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http/http_int.h"
#include "weft/rt.h"

/* ---- files -------------------------------------------------------------------------- */

static const char *mime_of(const char *path) {
    static const struct {
        const char *ext, *type;
    } tab[] = {
        {"html", "text/html; charset=utf-8"},
        {"htm", "text/html; charset=utf-8"},
        {"css", "text/css; charset=utf-8"},
        {"js", "text/javascript; charset=utf-8"},
        {"mjs", "text/javascript; charset=utf-8"},
        {"json", "application/json"},
        {"geojson", "application/geo+json"},
        {"txt", "text/plain; charset=utf-8"},
        {"md", "text/markdown; charset=utf-8"},
        {"csv", "text/csv; charset=utf-8"},
        {"xml", "application/xml"},
        {"svg", "image/svg+xml"},
        {"png", "image/png"},
        {"jpg", "image/jpeg"},
        {"jpeg", "image/jpeg"},
        {"gif", "image/gif"},
        {"webp", "image/webp"},
        {"ico", "image/x-icon"},
        {"wasm", "application/wasm"},
        {"pdf", "application/pdf"},
        {"woff", "font/woff"},
        {"woff2", "font/woff2"},
        {"map", "application/json"},
    };
    const char *dot = strrchr(path, '.'), *slash = strrchr(path, '/');
    if (dot && (!slash || dot > slash))
        for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
            if (weft_str_eq_nocase(weft_str_c(dot + 1), weft_str_c(tab[i].ext))) return tab[i].type;
    return "application/octet-stream";
}

/* Does the If-None-Match list contain etag (weak comparison)? */
static int etag_matches(weft_str inm, const char *etag) {
    weft_str want = weft_str_c(etag);
    while (inm.n) {
        weft_str one;
        inm = weft_str_cut(inm, ',', &one);
        if (!one.p) one = inm, inm = (weft_str){NULL, 0};
        one = weft_str_trim(one);
        if (one.n == 1 && one.p[0] == '*') return 1;
        if (one.n > 2 && one.p[0] == 'W' && one.p[1] == '/') one.p += 2, one.n -= 2;
        if (weft_str_eq(one, want)) return 1;
    }
    return 0;
}

/* Parse a single "bytes=a-b" range against size. 1: range set, 0: ignore the
 * header (absent, multiple ranges, other unit, malformed), -1: unsatisfiable. */
static int parse_range(weft_str h, int64_t size, int64_t *from, int64_t *to) {
    if (!h.p || !weft_str_has_prefix(h, WEFT_STR("bytes="))) return 0;
    weft_str spec = weft_str_trim((weft_str){h.p + 6, h.n - 6});
    if (memchr(spec.p, ',', spec.n)) return 0;
    weft_str a;
    weft_str b = weft_str_cut(spec, '-', &a);
    if (!a.p) return 0;
    a = weft_str_trim(a);
    b = weft_str_trim(b);
    int64_t x, y;
    if (a.n == 0) { /* suffix: last b bytes */
        if (weft_str_to_i64(b, &y) || y < 0) return 0;
        if (y == 0 || size == 0) return -1;
        *from = y >= size ? 0 : size - y;
        *to = size - 1;
        return 1;
    }
    if (weft_str_to_i64(a, &x) || x < 0) return 0;
    if (b.n == 0)
        y = size - 1;
    else if (weft_str_to_i64(b, &y) || y < x)
        return 0;
    if (x >= size) return -1;
    if (y >= size) y = size - 1;
    *from = x;
    *to = y;
    return 1;
}

/* path's bytes, typed as type_of's extension says */
static int send_path(weft_http_ctx *c, const char *path, const char *type_of) {
    if (c->head_sent) return WEFT_EINVAL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT || errno == ENOTDIR || errno == EACCES ? WEFT_ENOENT : -errno;
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return WEFT_ENOENT;
    }
    char etag[64], lm[30];
    snprintf(etag, sizeof etag, "\"%llx-%llx\"", (unsigned long long)st.st_size,
             (unsigned long long)st.st_mtim.tv_sec * 1000000000ull +
                 (unsigned long long)st.st_mtim.tv_nsec);
    weft__http_imf_date(lm, st.st_mtim.tv_sec);
    weft_buf_clear(&c->body_out);
    weft_http_add_header(c, "ETag", etag);
    weft_http_add_header(c, "Last-Modified", lm);
    weft_http_add_header(c, "Accept-Ranges", "bytes");
    weft_str inm = weft_http_get_header(c, "If-None-Match");
    if (inm.p && etag_matches(inm, etag)) {
        close(fd);
        c->status = 304;
        return 0; /* finished by weft__http_finish, no body */
    }
    int64_t size = st.st_size, from = 0, to = size - 1;
    int r = parse_range(weft_http_get_header(c, "Range"), size, &from, &to);
    if (r < 0) {
        close(fd);
        char cr[48];
        snprintf(cr, sizeof cr, "bytes */%lld", (long long)size);
        weft_http_add_header(c, "Content-Range", cr);
        return weft_http_text(c, 416, "range not satisfiable\n");
    }
    c->status = 200;
    if (r > 0) {
        char cr[80];
        snprintf(cr, sizeof cr, "bytes %lld-%lld/%lld", (long long)from, (long long)to,
                 (long long)size);
        weft_http_add_header(c, "Content-Range", cr);
        c->status = 206;
    }
    c->ctype = mime_of(type_of);
    int64_t len = size ? to - from + 1 : 0;
    int rc = weft__http_send_head(c, len);
    c->done = 1;
    if (!rc && c->is_head) {
        close(fd);
        return 0;
    }
    weft__http_conn *cn = c->conn;
    if (!rc && cn->fd < 0) { /* test client: append the bytes */
        rc = weft_buf_reserve(&cn->out, (size_t)len);
        if (!rc && len > 0) {
            ssize_t n = pread(fd, cn->out.data + cn->out.len, (size_t)len, from);
            if (n != len)
                rc = WEFT_EIO;
            else
                cn->out.len += (size_t)len;
        }
        close(fd);
        return rc;
    }
    if (!rc) rc = weft__http_flush(cn);
    off_t off = from;
    while (!rc && off <= to && len > 0) {
        ssize_t n = weft_sendfile(cn->fd, fd, &off, (size_t)(to + 1 - off),
                                  weft_deadline_in(cn->cfg->write_timeout_ms));
        if (n <= 0) rc = n < 0 ? (int)n : WEFT_EIO;
    }
    close(fd);
    if (rc) c->failed = 1;
    return rc;
}

int weft_http_send_file(weft_http_ctx *c, const char *path) { return send_path(c, path, path); }

/* root/rel as a NUL-terminated path in the request's arena; NULL when rel
 * has a ".." segment or a NUL (*rc = WEFT_ENOENT) or memory ran out. */
static char *static_path(weft_http_ctx *c, const char *root, weft_str rel, size_t extra, int *rc) {
    *rc = WEFT_ENOENT;
    if (!root || memchr(rel.p ? rel.p : "", 0, rel.n)) return NULL;
    /* refuse any ".." segment, whatever the separators around it */
    weft_str s = rel;
    while (s.n) {
        weft_str seg;
        s = weft_str_cut(s, '/', &seg);
        if (!seg.p) seg = s, s = (weft_str){NULL, 0};
        if (weft_str_eq(seg, WEFT_STR(".."))) return NULL;
    }
    while (rel.n && rel.p[0] == '/') rel.p++, rel.n--;
    size_t rl = strlen(root), n = rl + rel.n + 2 + extra;
    char *path = weft_arena_alloc(c->arena, n);
    if (!path) {
        *rc = WEFT_ENOMEM;
        return NULL;
    }
    memcpy(path, root, rl);
    path[rl] = '/';
    memcpy(path + rl + 1, rel.p, rel.n);
    path[rl + 1 + rel.n] = 0;
    return path;
}

int weft_http_static(weft_http_ctx *c, const char *root, weft_str rel) {
    int rc;
    char *path = static_path(c, root, rel, 0, &rc);
    return path ? weft_http_send_file(c, path) : rc;
}

/* Does Accept-Encoding accept gzip? A "gzip" (or "*") token whose q is not 0. */
static int accepts_gzip(weft_str ae) {
    while (ae.n) {
        weft_str one;
        ae = weft_str_cut(ae, ',', &one);
        if (!one.p) one = ae, ae = (weft_str){NULL, 0};
        weft_str params = weft_str_cut(one, ';', &one);
        if (!one.p) one = params, params = (weft_str){NULL, 0};
        one = weft_str_trim(one);
        if (!weft_str_eq_nocase(one, WEFT_STR("gzip")) && !weft_str_eq(one, WEFT_STR("*"))) continue;
        params = weft_str_trim(params);
        if (params.n >= 3 && (params.p[0] == 'q' || params.p[0] == 'Q') && params.p[1] == '=') {
            weft_str q = weft_str_trim((weft_str){params.p + 2, params.n - 2});
            int zero = q.n > 0;
            for (size_t i = 0; i < q.n; i++) zero &= q.p[i] == '0' || q.p[i] == '.';
            if (zero) continue;
        }
        return 1;
    }
    return 0;
}

int weft_http_static_gz(weft_http_ctx *c, const char *root, weft_str rel) {
    int rc;
    char *path = static_path(c, root, rel, 3, &rc);
    if (!path) return rc;
    weft_http_add_header(c, "Vary", "Accept-Encoding");
    if (accepts_gzip(weft_http_get_header(c, "Accept-Encoding"))) {
        size_t n = strlen(path);
        char *gz = weft_arena_alloc(c->arena, n + 4);
        struct stat zst, st;
        if (!gz) return WEFT_ENOMEM;
        memcpy(gz, path, n);
        memcpy(gz + n, ".gz", 4);
        /* a .gz older than its file is stale (the file was edited after
         * compressing): send the file itself */
        if (stat(gz, &zst) == 0 && S_ISREG(zst.st_mode) && stat(path, &st) == 0 &&
            S_ISREG(st.st_mode) &&
            (zst.st_mtim.tv_sec > st.st_mtim.tv_sec ||
             (zst.st_mtim.tv_sec == st.st_mtim.tv_sec && zst.st_mtim.tv_nsec >= st.st_mtim.tv_nsec))) {
            weft_http_add_header(c, "Content-Encoding", "gzip");
            return send_path(c, gz, path);
        }
    }
    return weft_http_send_file(c, path);
}
