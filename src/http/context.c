/*
 * src/http/context.c — what a handler sees: request accessors (headers,
 * params, query, form, cookies, body), the buffered response (status,
 * headers, body, JSON), and the serialisation of a response head.
 *
 * A response is built in the ctx (header lines in `hdrs`, body in
 * `body_out`) and copied into the connection's `out` buffer by
 * weft__http_finish() once the handler returns; the server writes `out`
 * once per read. Streaming (stream.c) and files (file.c) cannot wait for
 * that: they put the head into `out` (weft__http_send_head), flush, and go on
 * writing to the socket directly. This file does no I/O.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "weft/base.h"
#include "http/http_int.h"
#include "weft/rt.h"

/* ---- Date: one IMF-fixdate per second, per thread --------------------------
 * The cache is thread-local and read and written without any suspension in
 * between, so a task that moves to another worker cannot see a torn value. */

void weft__http_imf_date(char out[30], int64_t secs) {
    static const char wd[7][4] = {"Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"};
    static const char mn[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    int64_t days = secs / 86400, sod = secs % 86400;
    if (sod < 0) sod += 86400, days--;
    int64_t y;
    unsigned m, d;
    weft_civil_from_days(days, &y, &m, &d);
    int w = (int)(((days % 7) + 7) % 7);
    snprintf(out, 30, "%s, %02u %s %04d %02d:%02d:%02d GMT", wd[w], d, mn[m - 1], (int)y,
             (int)(sod / 3600), (int)(sod / 60 % 60), (int)(sod % 60));
}

static __thread struct {
    int64_t sec;
    char s[30];
} date_cache = {-1, ""};

const char *weft__http_date(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    if (ts.tv_sec != date_cache.sec) {
        weft__http_imf_date(date_cache.s, ts.tv_sec);
        date_cache.sec = ts.tv_sec;
    }
    return date_cache.s;
}

/* ---- status ------------------------------------------------------------------ */

const char *weft_http_reason(int status) {
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}

/* ---- request ---------------------------------------------------------------- */

weft_str weft_http_method(const weft_http_ctx *c) { return c->req.method; }
weft_str weft_http_path(const weft_http_ctx *c) { return c->req.path; }
weft_str weft_http_target(const weft_http_ctx *c) { return c->req.target; }
weft_str weft_http_raw_query(const weft_http_ctx *c) { return c->req.query; }
int weft_http_minor(const weft_http_ctx *c) { return c->req.minor; }
const weft_http_request *weft_http_request_head(const weft_http_ctx *c) { return &c->req; }
weft_str weft_http_body(const weft_http_ctx *c) { return c->body; }
weft_arena *weft_http_arena(weft_http_ctx *c) { return c->arena; }
void weft_http_set_data(weft_http_ctx *c, void *p) { c->data = p; }
void *weft_http_data(const weft_http_ctx *c) { return c->data; }
int weft_http_status(const weft_http_ctx *c) { return c->status; }

weft_str weft_http_get_header(const weft_http_ctx *c, const char *name) {
    weft_str n = weft_str_c(name);
    for (size_t i = 0; i < c->req.nheaders; i++)
        if (weft_str_eq_nocase(c->req.headers[i].name, n)) return c->req.headers[i].value;
    return (weft_str){NULL, 0};
}

static int hexdig(unsigned char ch) {
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

weft_str weft__http_unescape(weft_arena *a, weft_str s, int plus, int *ok) {
    *ok = 1;
    int need = 0;
    for (size_t i = 0; i < s.n; i++)
        if (s.p[i] == '%' || (plus && s.p[i] == '+')) need = 1;
    if (!need) return s;
    char *o = weft_arena_alloc(a, s.n + 1);
    if (!o) {
        *ok = 0;
        return (weft_str){NULL, 0};
    }
    size_t w = 0;
    for (size_t i = 0; i < s.n; i++) {
        char ch = s.p[i];
        if (ch == '%') {
            int h1 = i + 1 < s.n ? hexdig((unsigned char)s.p[i + 1]) : -1;
            int h2 = i + 2 < s.n ? hexdig((unsigned char)s.p[i + 2]) : -1;
            if (h1 < 0 || h2 < 0) { /* "%" not followed by two hex digits */
                *ok = 0;
                return (weft_str){NULL, 0};
            }
            o[w++] = (char)(h1 * 16 + h2);
            i += 2;
        } else {
            o[w++] = (plus && ch == '+') ? ' ' : ch;
        }
    }
    o[w] = 0;
    return (weft_str){o, w};
}

weft_str weft__http_form_lookup(weft_arena *a, weft_str list, const char *name) {
    weft_str want = weft_str_c(name);
    while (list.n) {
        weft_str pair, key;
        list = weft_str_cut(list, '&', &pair);
        if (!pair.p) pair = list, list = (weft_str){NULL, 0};
        weft_str val = weft_str_cut(pair, '=', &key);
        if (!key.p) key = pair, val = (weft_str){pair.p + pair.n, 0};
        int ok;
        weft_str k = weft__http_unescape(a, key, 1, &ok);
        if (!ok || !weft_str_eq(k, want)) continue;
        weft_str v = weft__http_unescape(a, val, 1, &ok);
        if (!ok) return (weft_str){NULL, 0};
        return v.p ? v : (weft_str){"", 0};
    }
    return (weft_str){NULL, 0};
}

weft_str weft_http_query(weft_http_ctx *c, const char *name) {
    return weft__http_form_lookup(c->arena, c->req.query, name);
}

weft_str weft_http_form(weft_http_ctx *c, const char *name) {
    weft_str ct = weft_http_get_header(c, "Content-Type");
    weft_str base;
    weft_str_cut(ct, ';', &base);
    if (!base.p) base = ct;
    if (!weft_str_eq_nocase(weft_str_trim(base), WEFT_STR("application/x-www-form-urlencoded")))
        return (weft_str){NULL, 0};
    return weft__http_form_lookup(c->arena, c->body, name);
}

weft_str weft_http_param(const weft_http_ctx *c, const char *name) {
    weft_str want = weft_str_c(name);
    for (int i = 0; i < c->nparams; i++) {
        if (!weft_str_eq(c->pname[i], want)) continue;
        int ok;
        weft_str v = weft__http_unescape(c->arena, c->pval[i], 0, &ok);
        return ok ? v : c->pval[i];
    }
    return (weft_str){NULL, 0};
}

weft_str weft_http_cookie(const weft_http_ctx *c, const char *name) {
    weft_str want = weft_str_c(name);
    for (size_t i = 0; i < c->req.nheaders; i++) {
        if (!weft_str_eq_nocase(c->req.headers[i].name, WEFT_STR("Cookie"))) continue;
        weft_str list = c->req.headers[i].value;
        while (list.n) {
            weft_str pair, key;
            list = weft_str_cut(list, ';', &pair);
            if (!pair.p) pair = list, list = (weft_str){NULL, 0};
            weft_str val = weft_str_cut(pair, '=', &key);
            if (!key.p) continue;
            if (!weft_str_eq(weft_str_trim(key), want)) continue;
            val = weft_str_trim(val);
            if (val.n >= 2 && val.p[0] == '"' && val.p[val.n - 1] == '"')
                val = (weft_str){val.p + 1, val.n - 2};
            return val;
        }
    }
    return (weft_str){NULL, 0};
}

int weft_http_body_json(weft_http_ctx *c, weft_json **out, weft_json_error *err) {
    return weft_json_parse(c->body.p ? c->body.p : "", c->body.n, c->arena, 0, out, err);
}

/* ---- response ------------------------------------------------------------------ */

void weft_http_set_status(weft_http_ctx *c, int status) { c->status = status; }

static int bad_header_text(const char *s) {
    for (; *s; s++)
        if (*s == '\r' || *s == '\n') return 1;
    return 0;
}

int weft_http_add_header(weft_http_ctx *c, const char *name, const char *value) {
    if (!name || !value || !*name || bad_header_text(name) || bad_header_text(value) ||
        strchr(name, ':'))
        return WEFT_EINVAL;
    static const char *const owned[] = {"Content-Length", "Transfer-Encoding", "Date",
                                        "Connection"};
    for (size_t i = 0; i < sizeof owned / sizeof owned[0]; i++)
        if (weft_str_eq_nocase(weft_str_c(name), weft_str_c(owned[i]))) return WEFT_EINVAL;
    if (weft_str_eq_nocase(weft_str_c(name), WEFT_STR("Content-Type"))) {
        char *t = weft_arena_strndup(c->arena, value, strlen(value));
        if (!t) return WEFT_ENOMEM;
        c->ctype = t;
        return 0;
    }
    int rc = weft_buf_appends(&c->hdrs, name);
    rc = rc ? rc : weft_buf_append(&c->hdrs, ": ", 2);
    rc = rc ? rc : weft_buf_appends(&c->hdrs, value);
    rc = rc ? rc : weft_buf_append(&c->hdrs, "\r\n", 2);
    return rc;
}

int weft_http_set_content_type(weft_http_ctx *c, const char *type) {
    if (!type || bad_header_text(type)) return WEFT_EINVAL;
    c->ctype = type;
    return 0;
}

weft_buf *weft_http_body_buf(weft_http_ctx *c) { return &c->body_out; }

int weft_http_append(weft_http_ctx *c, const void *p, size_t n) {
    return weft_buf_append(&c->body_out, p, n);
}

int weft_http_send(weft_http_ctx *c, int status, const char *content_type, const void *body,
                   size_t n) {
    c->status = status;
    if (content_type) c->ctype = content_type;
    weft_buf_clear(&c->body_out);
    return weft_buf_append(&c->body_out, body, n);
}

int weft_http_text(weft_http_ctx *c, int status, const char *text) {
    return weft_http_send(c, status, "text/plain; charset=utf-8", text, strlen(text));
}

weft_json_enc *weft_http_json_begin(weft_http_ctx *c, int status) {
    c->status = status;
    c->ctype = "application/json";
    weft_buf_clear(&c->body_out);
    weft_json_enc_init(&c->enc, &c->body_out);
    return &c->enc;
}

int weft_http_json_end(weft_http_ctx *c) { return weft_json_enc_finish(&c->enc); }

int weft_http_error(weft_http_ctx *c, int status, const char *msg) {
    weft_json_enc *e = weft_http_json_begin(c, status);
    weft_json_enc_object(e);
    weft_json_enc_key(e, WEFT_STR("error"));
    weft_json_enc_str(e, weft_str_c(msg ? msg : weft_http_reason(status)));
    weft_json_enc_end(e);
    int rc = weft_http_json_end(c);
    if (rc == 0) weft_buf_appendc(&c->body_out, '\n');
    return rc;
}

int weft_http_redirect(weft_http_ctx *c, int status, const char *location) {
    if (status != 301 && status != 302 && status != 303 && status != 307 && status != 308)
        return WEFT_EINVAL;
    int rc = weft_http_add_header(c, "Location", location);
    if (rc) return rc;
    return weft_http_text(c, status, "");
}

int weft_http_set_cookie(weft_http_ctx *c, const char *name, const char *value,
                         const char *attrs) {
    if (!name || !value || strpbrk(name, "=;, \t\r\n") || strpbrk(value, ";, \t\r\n\""))
        return WEFT_EINVAL;
    size_t n = strlen(name) + strlen(value) + (attrs ? strlen(attrs) : 0) + 4;
    char *v = weft_arena_alloc(c->arena, n);
    if (!v) return WEFT_ENOMEM;
    snprintf(v, n, "%s=%s%s%s", name, value, attrs && *attrs ? "; " : "", attrs ? attrs : "");
    return weft_http_add_header(c, "Set-Cookie", v);
}

/* ---- serialisation --------------------------------------------------------------- */

/* "HTTP/1.1 200 OK" and friends, formatted once. */
static const char *status_line(int st, size_t *len) {
    static __thread struct {
        int code;
        size_t len;
        char s[64];
    } cache[4];
    int k = st & 3;
    if (cache[k].code != st) {
        const char *reason = weft_http_reason(st);
        int n = snprintf(cache[k].s, sizeof cache[k].s, "HTTP/1.1 %03d %s", st, reason);
        cache[k].len = n > 0 && (size_t)n < sizeof cache[k].s ? (size_t)n : 0;
        cache[k].code = st;
    }
    *len = cache[k].len;
    return cache[k].s;
}

/* "\r\nServer: <name>\r\nDate: <IMF-fixdate>", rebuilt once per second per
 * thread (and when another server name asks). No suspension between the
 * check and the copy, so the thread-local cannot change under us. */
static const char *server_date(const weft__http_cfg *cfg, size_t *len) {
    static __thread struct {
        int64_t sec;
        const char *name;
        size_t len;
        char s[192];
    } sd = {-1, NULL, 0, ""};
    const char *date = weft__http_date(); /* refreshes date_cache.sec */
    if (sd.sec != date_cache.sec || sd.name != cfg->server_name) {
        size_t o = 0;
        if (cfg->server_name && cfg->server_name_len <= 128) {
            memcpy(sd.s, "\r\nServer: ", 10);
            memcpy(sd.s + 10, cfg->server_name, cfg->server_name_len);
            o = 10 + cfg->server_name_len;
        }
        memcpy(sd.s + o, "\r\nDate: ", 8);
        memcpy(sd.s + o + 8, date, 29);
        sd.len = o + 37;
        sd.sec = date_cache.sec;
        sd.name = cfg->server_name;
    }
    *len = sd.len;
    return sd.s;
}

int weft__http_write_head(weft_http_ctx *c, weft_buf *b, int64_t content_length) {
    const weft__http_cfg *cfg = c->conn->cfg;
    int st = c->status ? c->status : 200;
    size_t sl, dl, tl = c->ctype ? strlen(c->ctype) : 0;
    const char *line = status_line(st, &sl);
    const char *sdate = server_date(cfg, &dl);
    int rc = weft_buf_reserve(b, 128 + sl + dl + c->hdrs.len + tl);
    if (rc) return rc;
    char *p = b->data + b->len;
    memcpy(p, line, sl);
    p += sl;
    memcpy(p, sdate, dl);
    p += dl;
    if (c->ctype) {
        memcpy(p, "\r\nContent-Type: ", 16);
        memcpy(p + 16, c->ctype, tl);
        p += 16 + tl;
    }
    if (content_length >= 0 && !weft__http_bodyless(st)) {
        memcpy(p, "\r\nContent-Length: ", 18);
        p += 18;
        p += weft_i64_to_text(p, content_length);
    } else if (content_length < 0 && c->chunked) {
        memcpy(p, "\r\nTransfer-Encoding: chunked", 28);
        p += 28;
    }
    if (!c->keep_alive) {
        memcpy(p, "\r\nConnection: close", 19);
        p += 19;
    } else if (c->req.minor == 0) {
        memcpy(p, "\r\nConnection: keep-alive", 24);
        p += 24;
    }
    memcpy(p, "\r\n", 2);
    p += 2;
    memcpy(p, c->hdrs.data ? c->hdrs.data : "", c->hdrs.len);
    p += c->hdrs.len;
    memcpy(p, "\r\n", 2);
    p += 2;
    b->len = (size_t)(p - b->data);
    return 0;
}

int weft__http_send_head(weft_http_ctx *c, int64_t content_length) {
    int rc = weft__http_write_head(c, &c->conn->out, content_length);
    if (rc) return rc;
    c->head_sent = 1;
    return 0;
}

int weft__http_finish(weft_http_ctx *c) {
    weft__http_conn *cn = c->conn;
    if (c->failed) return 0;
    if (c->head_sent) {
        if (c->chunked && !c->done && !c->is_head) return weft_buf_append(&cn->out, "0\r\n\r\n", 5);
        return 0;
    }
    int st = c->status ? c->status : 200;
    int rc = weft__http_write_head(c, &cn->out, (int64_t)c->body_out.len);
    if (rc) return rc;
    if (!c->is_head && !weft__http_bodyless(st) && c->body_out.len)
        rc = weft_buf_append(&cn->out, c->body_out.data, c->body_out.len);
    return rc;
}

/* ---- reset ----------------------------------------------------------------------------- */

void weft__http_ctx_reset(weft_http_ctx *c) {
    c->body = (weft_str){NULL, 0};
    c->nparams = 0;
    c->handler = NULL;
    c->handler_ud = NULL;
    c->mw_next = 0;
    c->allow = NULL;
    c->status = 0;
    c->is_head = 0;
    c->keep_alive = 0;
    c->head_sent = 0;
    c->chunked = 0;
    c->done = 0;
    c->failed = 0;
    weft_buf_clear(&c->hdrs);
    weft_buf_clear(&c->body_out);
    c->ctype = NULL;
    c->data = NULL;
}
