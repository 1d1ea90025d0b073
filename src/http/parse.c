/*
 * src/http/parse.c — the HTTP/1.1 request-head parser (RFC 9112).
 *
 * One forward pass over the bytes, no allocation, no copies: every slice in
 * the result points into the caller's buffer. Strict by design: anything the
 * RFC lets a recipient reject (bare CR/LF, obs-fold, whitespace before ':',
 * control bytes, conflicting framing) is refused, because each leniency is a
 * request-smuggling opportunity when a proxy reads the bytes differently.
 *
 * Limits are checked while scanning, so an over-long request line or head
 * is refused as soon as the limit is crossed, before the rest arrives.
 */
#include <limits.h>
#include <stdint.h>
#include <string.h>

#include "weft/http.h"

enum {
    C_TCHAR = 1,  /* RFC 9110 tchar */
    C_VCHAR = 2,  /* field-vchar: VCHAR or obs-text */
    C_TARGET = 4, /* request-target byte: visible ASCII */
};

/* clang-format off */
static const unsigned char ctab[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 7, 6, 7, 7, 7, 7, 7, 6, 6, 7, 7, 6, 7, 7, 6,
    7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 6, 6, 6, 6, 6, 6,
    6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
    7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 6, 6, 6, 7, 7,
    7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
    7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 6, 7, 6, 7, 0,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
};
/* clang-format on */

enum { DEF_MAX_LINE = 8192, DEF_MAX_HEAD = 16384, DEF_MAX_HEADERS = 100 };

/* ---- 8 bytes at a time ------------------------------------------------------
 * The two long runs of a head -- the request-target and field values -- are
 * skipped a word at a time while no byte in it needs a look; the first word
 * that might holds one, and the byte loop takes over from there (the tests
 * below may flag a byte above a real hit, never miss one). */

#define ONES 0x0101010101010101ull
#define HIGHS 0x8080808080808080ull

static inline uint64_t load8(const unsigned char *p) {
    uint64_t x;
    memcpy(&x, p, 8);
    return x;
}
/* Bytes below n (n <= 0x80), or >= 0x80 when with_high. */
static inline uint64_t below(uint64_t x, unsigned n) { return (x - ONES * n) & ~x & HIGHS; }
static inline uint64_t equal(uint64_t x, unsigned c) { return below(x ^ (ONES * c), 1); }

/* Skip request-target bytes that are plainly fine: visible ASCII other than
 * '?'. Stops at or before the first byte that is not. */
static inline size_t skip_target(const unsigned char *b, size_t i, size_t end) {
    while (i + 8 <= end) {
        uint64_t x = load8(b + i);
        if (below(x, 0x21) | (x & HIGHS) | equal(x, 0x7f) | equal(x, '?')) break;
        i += 8;
    }
    return i;
}

/* Skip field-value bytes that are plainly fine: anything but controls
 * (tab included, to keep it simple) and DEL. */
static inline size_t skip_value(const unsigned char *b, size_t i, size_t end) {
    while (i + 8 <= end) {
        uint64_t x = load8(b + i);
        if (below(x, 0x20) | equal(x, 0x7f)) break;
        i += 8;
    }
    return i;
}

/* name (length already checked) equals the lower-case literal lit, ASCII
 * case-insensitively. tchar bytes only become letters under | 0x20 if they
 * were letters, and the literals hold only letters and '-'. */
static inline int name_is(weft_str name, const char *lit) {
    for (size_t k = 0; k < name.n; k++)
        if (((unsigned char)name.p[k] | 0x20) != (unsigned char)lit[k]) return 0;
    return 1;
}

static int fail(int *status, const char **reason, int st, const char *why) {
    *status = st;
    *reason = why;
    return WEFT_EPARSE;
}

/* The byte at index i is needed but not available within the current scan
 * bound: a limit was crossed, or the head is merely incomplete. */
static int out_of_bytes(size_t i, int in_line, size_t max_line, size_t max_head, int *status,
                        const char **reason) {
    if (in_line && i >= max_line) return fail(status, reason, 414, "request line too long");
    if (i >= max_head) return fail(status, reason, 431, "request head too large");
    return WEFT_EAGAIN;
}

static int is_ows(char c) { return c == ' ' || c == '\t'; }

/* Next non-empty element of a comma-separated list value (RFC 9110 §5.6.1:
 * empty elements are skipped), OWS-trimmed. 1 with *out set, 0 at the end. */
static int next_elem(weft_str v, size_t *pos, weft_str *out) {
    size_t i = *pos;
    for (;;) {
        while (i < v.n && (is_ows(v.p[i]) || v.p[i] == ',')) i++;
        if (i >= v.n) {
            *pos = i;
            return 0;
        }
        size_t s = i, e;
        while (i < v.n && v.p[i] != ',') i++;
        e = i;
        while (e > s && is_ows(v.p[e - 1])) e--;
        *out = (weft_str){v.p + s, e - s};
        *pos = i;
        return 1;
    }
}

/* Content-Length = 1#(1*DIGIT); every element must equal *cl (when >= 0). */
static int parse_content_length(weft_str v, int64_t *cl, const char **why) {
    size_t i = 0;
    for (;;) {
        while (i < v.n && is_ows(v.p[i])) i++;
        size_t s = i;
        while (i < v.n && v.p[i] >= '0' && v.p[i] <= '9') i++;
        uint64_t x;
        int rc = weft_str_to_u64((weft_str){v.p + s, i - s}, &x);
        if (rc == WEFT_EPARSE) {
            *why = "invalid Content-Length";
            return 400;
        }
        if (rc || x > INT64_MAX) {
            *why = "Content-Length overflow";
            return 400;
        }
        if (*cl >= 0 && *cl != (int64_t)x) {
            *why = "differing Content-Length";
            return 400;
        }
        *cl = (int64_t)x;
        while (i < v.n && is_ows(v.p[i])) i++;
        if (i == v.n) return 0;
        if (v.p[i++] != ',') {
            *why = "invalid Content-Length";
            return 400;
        }
    }
}

typedef struct te_state {
    int seen;         /* a Transfer-Encoding field was present */
    int chunked_seen; /* "chunked" appeared in some coding list */
    int last_chunked; /* the last coding so far is "chunked" */
} te_state;

static int parse_transfer_encoding(weft_str v, te_state *te, const char **why) {
    size_t pos = 0;
    weft_str el;
    int any = 0;
    te->seen = 1;
    while (next_elem(v, &pos, &el)) {
        size_t k = 0;
        while (k < el.n && (ctab[(unsigned char)el.p[k]] & C_TCHAR)) k++;
        weft_str name = {el.p, k};
        while (k < el.n && is_ows(el.p[k])) k++;
        if (name.n == 0 || (k < el.n && el.p[k] != ';')) {
            *why = "invalid Transfer-Encoding";
            return 400;
        }
        any = 1;
        if (weft_str_eq_nocase(name, WEFT_STR("chunked"))) {
            if (k < el.n) {
                *why = "chunked with parameters";
                return 400;
            }
            if (te->chunked_seen) {
                *why = "chunked applied twice";
                return 400;
            }
            te->chunked_seen = 1;
            te->last_chunked = 1;
        } else {
            te->last_chunked = 0;
        }
    }
    if (!any) {
        *why = "empty Transfer-Encoding";
        return 400;
    }
    return 0;
}

/* Connection = #connection-option (tokens). Sets *close / *keep. */
static int parse_connection(weft_str v, int *close, int *keep, const char **why) {
    size_t pos = 0;
    weft_str el;
    while (next_elem(v, &pos, &el)) {
        for (size_t k = 0; k < el.n; k++) {
            if (!(ctab[(unsigned char)el.p[k]] & C_TCHAR)) {
                *why = "invalid Connection";
                return 400;
            }
        }
        if (weft_str_eq_nocase(el, WEFT_STR("close")))
            *close = 1;
        else if (weft_str_eq_nocase(el, WEFT_STR("keep-alive")))
            *keep = 1;
    }
    return 0;
}

int weft_http_parse_request(const char *buf, size_t len, weft_http_request *req,
                            weft_http_header *hdrs, size_t max_hdrs, const weft_http_limits *lim,
                            int *status, const char **reason) {
    int st_dummy;
    const char *why_dummy;
    if (!status) status = &st_dummy;
    if (!reason) reason = &why_dummy;
    size_t max_line = lim && lim->max_line ? lim->max_line : DEF_MAX_LINE;
    size_t max_head = lim && lim->max_head ? lim->max_head : DEF_MAX_HEAD;
    size_t max_headers = lim && lim->max_headers ? lim->max_headers : DEF_MAX_HEADERS;
    if (max_head > INT_MAX) max_head = INT_MAX; /* the head length is returned as an int */
    if (!hdrs) max_hdrs = 0;
    const unsigned char *b = (const unsigned char *)buf;

    /* ---- request line: method SP request-target SP HTTP-version CRLF ---- */
    size_t line_lim = max_line < max_head ? max_line : max_head;
    size_t end = len < line_lim ? len : line_lim;
    size_t i = 0;
#define NEED_LINE(k)                                                                               \
    do {                                                                                           \
        if ((k) >= end) return out_of_bytes((k), 1, max_line, max_head, status, reason);           \
    } while (0)

    if (end >= 4 && memcmp(b, "GET ", 4) == 0)
        i = 3; /* the common case, same result */
    else
        while (i < end && (ctab[b[i]] & C_TCHAR)) i++;
    NEED_LINE(i);
    if (i == 0 || b[i] != ' ') return fail(status, reason, 400, "invalid method");
    weft_str method = {buf, i};
    size_t t0 = ++i, q = SIZE_MAX;
    i = skip_target(b, i, end);
    while (i < end && (ctab[b[i]] & C_TARGET)) {
        if (b[i] == '?' && q == SIZE_MAX) q = i;
        i++;
    }
    NEED_LINE(i);
    if (i == t0 || b[i] != ' ') return fail(status, reason, 400, "invalid request-target");
    weft_str target = {buf + t0, i - t0};
    i++;
    int major, minor;
    if (i + 10 <= end && memcmp(b + i, "HTTP/1.1\r\n", 10) == 0) {
        major = minor = 1; /* the common case, same result */
        i += 10;
    } else {
        static const char proto[] = "HTTP/";
        for (size_t k = 0; k < 5; k++, i++) {
            NEED_LINE(i);
            if (b[i] != (unsigned char)proto[k]) return fail(status, reason, 400, "invalid version");
        }
        NEED_LINE(i);
        if (b[i] < '0' || b[i] > '9') return fail(status, reason, 400, "invalid version");
        major = b[i++] - '0';
        NEED_LINE(i);
        if (b[i++] != '.') return fail(status, reason, 400, "invalid version");
        NEED_LINE(i);
        if (b[i] < '0' || b[i] > '9') return fail(status, reason, 400, "invalid version");
        minor = b[i++] - '0';
        NEED_LINE(i);
        if (b[i] != '\r')
            return fail(status, reason, 400,
                        b[i] == '\n' ? "bare LF in request line" : "invalid version");
        i++;
        NEED_LINE(i);
        if (b[i] != '\n') return fail(status, reason, 400, "bare CR in request line");
        i++;
    }
    if (major != 1 || minor > 1) return fail(status, reason, 505, "HTTP version not supported");
#undef NEED_LINE

    /* ---- header fields until the empty line ---- */
    end = len < max_head ? len : max_head;
#define NEED(k)                                                                                    \
    do {                                                                                           \
        if ((k) >= end) return out_of_bytes((k), 0, max_line, max_head, status, reason);           \
    } while (0)
    size_t nh = 0;
    int64_t cl = -1;
    te_state te = {0, 0, 0};
    int conn_close = 0, conn_keep = 0, expect = 0, expect_other = 0, nhost = 0;
    const char *why = NULL;
    for (;;) {
        NEED(i);
        unsigned char c = b[i];
        if (c == '\r') {
            NEED(i + 1);
            if (b[i + 1] != '\n') return fail(status, reason, 400, "bare CR in header");
            i += 2;
            break;
        }
        if (c == '\n') return fail(status, reason, 400, "bare LF in header");
        if (c == ' ' || c == '\t') return fail(status, reason, 400, "obs-fold in header");
        if (nh >= max_headers || nh >= max_hdrs)
            return fail(status, reason, 431, "too many headers");
        size_t n0 = i;
        while (i < end && (ctab[b[i]] & C_TCHAR)) i++;
        NEED(i);
        if (b[i] != ':') {
            if (b[i] == ' ' || b[i] == '\t')
                return fail(status, reason, 400, "whitespace before colon");
            return fail(status, reason, 400, "invalid header name");
        }
        if (i == n0) return fail(status, reason, 400, "empty header name");
        weft_str name = {buf + n0, i - n0};
        i++;
        while (i < end && (b[i] == ' ' || b[i] == '\t')) i++;
        size_t v0 = i, vend = i;
        for (;;) {
            size_t s = i;
            i = skip_value(b, i, end);
            while (i < end && (ctab[b[i]] & C_VCHAR)) i++;
            if (i > s) vend = i;
            NEED(i);
            if (b[i] != ' ' && b[i] != '\t') break;
            i++;
        }
        /* the word-wise skip may have taken trailing blanks into the value */
        while (vend > v0 && (b[vend - 1] == ' ' || b[vend - 1] == '\t')) vend--;
        c = b[i];
        if (c == '\r') {
            NEED(i + 1);
            if (b[i + 1] != '\n') return fail(status, reason, 400, "bare CR in header");
        } else if (c == '\n') {
            return fail(status, reason, 400, "bare LF in header");
        } else if (c == 0) {
            return fail(status, reason, 400, "NUL in header");
        } else {
            return fail(status, reason, 400, "control byte in header");
        }
        i += 2;
        weft_str value = {buf + v0, vend - v0};
        hdrs[nh].name = name;
        hdrs[nh].value = value;
        nh++;

        int rc = 0;
        switch (name.n) {
        case 14:
            if (name_is(name, "content-length"))
                rc = parse_content_length(value, &cl, &why);
            break;
        case 17:
            if (name_is(name, "transfer-encoding"))
                rc = parse_transfer_encoding(value, &te, &why);
            break;
        case 10:
            if (name_is(name, "connection"))
                rc = parse_connection(value, &conn_close, &conn_keep, &why);
            break;
        case 6:
            if (name_is(name, "expect")) {
                if (weft_str_eq_nocase(value, WEFT_STR("100-continue")))
                    expect = 1;
                else
                    expect_other = 1;
            }
            break;
        case 4:
            if (name_is(name, "host")) nhost++;
            break;
        default:
            break;
        }
        if (rc) return fail(status, reason, rc, why);
    }
#undef NEED

    /* ---- message framing (RFC 9112 §6) ---- */
    if (te.seen && cl >= 0)
        return fail(status, reason, 400, "Content-Length with Transfer-Encoding");
    if (te.seen && !te.last_chunked)
        return fail(status, reason, 501, "final transfer coding is not chunked");
    /* RFC 9112 §3.2: a 1.1 request carries exactly one Host; 1.0 at most one */
    if (nhost > 1) return fail(status, reason, 400, "more than one Host header");
    if (nhost == 0 && minor == 1) return fail(status, reason, 400, "missing Host header");
    /* RFC 9110 §10.1.1: an expectation we cannot meet */
    if (expect_other) return fail(status, reason, 417, "unsupported expectation");

    req->method = method;
    req->target = target;
    if (q == SIZE_MAX) {
        req->path = target;
        req->query = (weft_str){target.p + target.n, 0};
    } else {
        req->path = (weft_str){target.p, (size_t)(buf + q - target.p)};
        req->query = (weft_str){buf + q + 1, (size_t)(target.p + target.n - (buf + q + 1))};
    }
    req->minor = minor;
    req->headers = hdrs;
    req->nheaders = nh;
    req->content_length = te.seen ? -1 : cl;
    req->chunked = te.seen;
    req->keep_alive = minor == 1 ? !conn_close : (conn_keep && !conn_close);
    req->expect_continue = expect;
    req->head_len = i;
    return (int)i;
}
