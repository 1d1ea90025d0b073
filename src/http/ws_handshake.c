/*
 * src/http/ws_handshake.c — the opening handshake (RFC 6455 §4) and the
 * permessage-deflate negotiation (RFC 7692 §5, §7.1), pure: a parsed request
 * head in, a verdict (101 with what was agreed, or the status and reason to
 * refuse with) out.
 *
 * SHA-1 for Sec-WebSocket-Accept comes from OpenSSL's libcrypto (Debian
 * libssl-dev), a maintained library, rather than a hand-written digest.
 *
 * Header values are read the way RFC 9110 §5.3 combines repeated fields: all
 * the lines of one name form one comma-separated list, so an offer split over
 * two Sec-WebSocket-Extensions lines is read the same as one line.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include <openssl/evp.h>

#include "ws_int.h"

static const char GUID[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

void weft_ws_accept_key(weft_str key, char out[29]) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) &&
             EVP_DigestUpdate(ctx, key.p, key.n) && EVP_DigestUpdate(ctx, GUID, sizeof GUID - 1) &&
             EVP_DigestFinal_ex(ctx, md, &mdlen);
    EVP_MD_CTX_free(ctx);
    if (!ok || mdlen != 20) { /* only when libcrypto is out of memory */
        out[0] = '\0';
        return;
    }
    EVP_EncodeBlock((unsigned char *)out, md, 20); /* 28 chars and a NUL */
}

/* ---- token lists ---------------------------------------------------------- */

static int is_tchar(unsigned char c) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return 1;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* 1 if any element of the comma-separated lists in the header lines called
 * name equals tok (ASCII case-insensitive). */
static int header_has_token(const weft_http_request *req, const char *name, const char *tok) {
    weft_str n = weft_str_c(name), t = weft_str_c(tok);
    for (size_t i = 0; i < req->nheaders; i++) {
        if (!weft_str_eq_nocase(req->headers[i].name, n)) continue;
        weft_str rest = req->headers[i].value, el;
        while (rest.p) {
            rest = weft_str_cut(rest, ',', &el);
            if (weft_str_eq_nocase(weft_str_trim(el), t)) return 1;
        }
    }
    return 0;
}

/* The value of the only header line called name: 1 and *v; 0 when absent;
 * -1 when there is more than one. */
static int header_one(const weft_http_request *req, const char *name, weft_str *v) {
    weft_str n = weft_str_c(name);
    int found = 0;
    for (size_t i = 0; i < req->nheaders; i++) {
        if (!weft_str_eq_nocase(req->headers[i].name, n)) continue;
        if (found) return -1;
        *v = req->headers[i].value;
        found = 1;
    }
    return found;
}

static int is_b64(unsigned char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

/* 16 bytes in base64: 22 symbols and "==". */
static int key_ok(weft_str k) {
    if (k.n != 24 || k.p[22] != '=' || k.p[23] != '=') return 0;
    for (size_t i = 0; i < 22; i++)
        if (!is_b64((unsigned char)k.p[i])) return 0;
    return 1;
}

/* ---- Sec-WebSocket-Extensions (RFC 6455 §9.1) ----------------------------
 *   extension-list = 1#( token *( ";" token [ "=" ( token / quoted-string ) ] ) )
 * A small cursor parser: no allocation, slices into the header value. */
typedef struct cursor {
    const char *p, *end;
} cursor;

static void skip_ws(cursor *c) {
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t')) c->p++;
}

static int take_token(cursor *c, weft_str *out) {
    const char *s = c->p;
    while (c->p < c->end && is_tchar((unsigned char)*c->p)) c->p++;
    *out = (weft_str){s, (size_t)(c->p - s)};
    return out->n > 0;
}

/* A parameter value: a token, or a quoted-string whose content is a token
 * (§9.1: "the value MUST conform to the token ABNF" after unquoting). */
static int take_value(cursor *c, weft_str *out) {
    if (c->p < c->end && *c->p == '"') {
        c->p++;
        const char *s = c->p;
        while (c->p < c->end && *c->p != '"') {
            if (*c->p == '\\' || !is_tchar((unsigned char)*c->p)) return 0;
            c->p++;
        }
        if (c->p == c->end) return 0;
        *out = (weft_str){s, (size_t)(c->p - s)};
        c->p++;
        return out->n > 0;
    }
    return take_token(c, out);
}

/* "8".."15" without leading zeros; -1 otherwise. */
static int window_bits(weft_str v) {
    if (v.n == 1 && v.p[0] >= '8' && v.p[0] <= '9') return v.p[0] - '0';
    if (v.n == 2 && v.p[0] == '1' && v.p[1] >= '0' && v.p[1] <= '5') return 10 + v.p[1] - '0';
    return -1;
}

typedef struct offer {
    int ok;                     /* every parameter known, valid and not repeated */
    int snct, cnct, smwb, cmwb; /* seen: -1 no; 0 without value; bits */
} offer;

static void offer_param(offer *o, weft_str name, int has_value, weft_str value) {
    int *slot;
    if (weft_str_eq_nocase(name, WEFT_STR("server_no_context_takeover")))
        slot = &o->snct;
    else if (weft_str_eq_nocase(name, WEFT_STR("client_no_context_takeover")))
        slot = &o->cnct;
    else if (weft_str_eq_nocase(name, WEFT_STR("server_max_window_bits")))
        slot = &o->smwb;
    else if (weft_str_eq_nocase(name, WEFT_STR("client_max_window_bits")))
        slot = &o->cmwb;
    else {
        o->ok = 0; /* §7.1: an unknown parameter makes the offer unacceptable */
        return;
    }
    if (*slot != -1) o->ok = 0; /* repeated */
    if (slot == &o->snct || slot == &o->cnct) {
        if (has_value) o->ok = 0;
        *slot = 0;
        return;
    }
    if (!has_value) {
        if (slot == &o->smwb) o->ok = 0; /* server_max_window_bits needs a value */
        *slot = 0;
        return;
    }
    int b = window_bits(value);
    if (b < 0) o->ok = 0;
    *slot = b < 0 ? 0 : b;
}

int weft_ws_deflate_negotiate(weft_str offers, weft_ws_deflate_params *out) {
    cursor c = {offers.p, offers.p + offers.n};
    int chosen = 0;
    for (;;) {
        skip_ws(&c);
        if (c.p < c.end && *c.p == ',') { /* empty list elements are allowed (RFC 9110 §5.6.1) */
            c.p++;
            continue;
        }
        if (c.p == c.end) break;
        weft_str name;
        if (!take_token(&c, &name)) return WEFT_EPARSE;
        int pmd = weft_str_eq_nocase(name, WEFT_STR("permessage-deflate"));
        offer o = {1, -1, -1, -1, -1};
        for (;;) {
            skip_ws(&c);
            if (c.p == c.end || *c.p == ',') break;
            if (*c.p != ';') return WEFT_EPARSE;
            c.p++;
            skip_ws(&c);
            weft_str pn, pv = {NULL, 0};
            if (!take_token(&c, &pn)) return WEFT_EPARSE;
            skip_ws(&c);
            int has_value = 0;
            if (c.p < c.end && *c.p == '=') {
                c.p++;
                skip_ws(&c);
                if (!take_value(&c, &pv)) return WEFT_EPARSE;
                has_value = 1;
            }
            if (pmd) offer_param(&o, pn, has_value, pv);
        }
        if (pmd && o.ok && !chosen) {
            out->server_no_context_takeover = o.snct == 0;
            out->client_no_context_takeover = o.cnct == 0;
            out->server_max_window_bits = o.smwb > 0 ? o.smwb : 15;
            out->client_max_window_bits = o.cmwb > 0 ? o.cmwb : 15;
            chosen = 1; /* keep going: the rest of the header must still parse */
        }
    }
    return chosen;
}

int weft_ws_deflate_format(const weft_ws_deflate_params *p, weft_buf *out) {
    int rc = weft_buf_appends(out, "permessage-deflate");
    if (!rc && p->server_no_context_takeover)
        rc = weft_buf_appends(out, "; server_no_context_takeover");
    if (!rc && p->client_no_context_takeover)
        rc = weft_buf_appends(out, "; client_no_context_takeover");
    if (!rc && p->server_max_window_bits < 15)
        rc = weft_buf_printf(out, "; server_max_window_bits=%d", p->server_max_window_bits);
    return rc;
}

/* ---- the server's verdict --------------------------------------------------- */

static int refuse(weft_ws_handshake *hs, int status, const char *why) {
    hs->status = status;
    hs->reason = why;
    return status;
}

/* The first of the server's subprotocols that the client offered. */
static weft_str pick_subprotocol(const weft_http_request *req, const weft_ws_server_opts *o) {
    for (size_t i = 0; i < o->nsubprotocols; i++)
        if (o->subprotocols[i] &&
            header_has_token(req, "Sec-WebSocket-Protocol", o->subprotocols[i]))
            return weft_str_c(o->subprotocols[i]);
    return (weft_str){NULL, 0};
}

int weft_ws_server_handshake(const weft_http_request *req, const weft_ws_server_opts *opts,
                             weft_ws_handshake *hs) {
    static const weft_ws_server_opts none = {0};
    const weft_ws_server_opts *o = opts ? opts : &none;
    memset(hs, 0, sizeof *hs);
    if (!weft_str_eq(req->method, WEFT_STR("GET")))
        return refuse(hs, 400, "a WebSocket upgrade must be a GET request");
    if (req->minor < 1) return refuse(hs, 400, "a WebSocket upgrade needs HTTP/1.1");
    if (!header_has_token(req, "Upgrade", "websocket"))
        return refuse(hs, 400, "missing Upgrade: websocket");
    if (!header_has_token(req, "Connection", "upgrade"))
        return refuse(hs, 400, "the Connection header lacks the upgrade token");
    weft_str v;
    int n = header_one(req, "Sec-WebSocket-Version", &v);
    if (n < 0) return refuse(hs, 400, "more than one Sec-WebSocket-Version");
    if (n == 0 || !weft_str_eq(v, WEFT_STR("13")))
        return refuse(hs, 426, "unsupported WebSocket version (only 13)");
    weft_str key;
    n = header_one(req, "Sec-WebSocket-Key", &key);
    if (n == 0) return refuse(hs, 400, "missing Sec-WebSocket-Key");
    if (n < 0) return refuse(hs, 400, "more than one Sec-WebSocket-Key");
    if (!key_ok(key)) return refuse(hs, 400, "Sec-WebSocket-Key is not 16 bytes in base64");
    if (o->check_origin) {
        weft_str origin = {NULL, 0};
        if (header_one(req, "Origin", &origin) < 0) return refuse(hs, 400, "more than one Origin");
        if (!o->check_origin(origin, o->origin_ud)) return refuse(hs, 403, "origin not allowed");
    }
    hs->subprotocol = pick_subprotocol(req, o);
    if (!o->no_deflate) {
        weft_str nm = WEFT_STR("Sec-WebSocket-Extensions");
        for (size_t i = 0; i < req->nheaders && !hs->deflate; i++) {
            if (!weft_str_eq_nocase(req->headers[i].name, nm)) continue;
            int rc = weft_ws_deflate_negotiate(req->headers[i].value, &hs->params);
            if (rc < 0) return refuse(hs, 400, "malformed Sec-WebSocket-Extensions");
            hs->deflate = rc;
        }
        if (hs->deflate && o->deflate_server_no_context_takeover)
            hs->params.server_no_context_takeover = 1;
    }
    weft_ws_accept_key(key, hs->accept);
    if (!hs->accept[0]) return refuse(hs, 500, "out of memory computing Sec-WebSocket-Accept");
    hs->status = 101;
    return 101;
}

int weft_ws_handshake_response(const weft_ws_handshake *hs, weft_buf *out) {
    if (hs->status != 101) return WEFT_EINVAL;
    size_t start = out->len;
    /* appends, not printf: this runs on the connection's task, whose stack
     * pages stay committed for the life of the WebSocket */
    int rc = weft_buf_appends(out, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                                   "Connection: Upgrade\r\nSec-WebSocket-Accept: ");
    if (!rc) rc = weft_buf_appends(out, hs->accept);
    if (!rc) rc = weft_buf_appends(out, "\r\n");
    if (!rc && hs->subprotocol.n) {
        rc = weft_buf_appends(out, "Sec-WebSocket-Protocol: ");
        if (!rc) rc = weft_buf_append(out, hs->subprotocol.p, hs->subprotocol.n);
        if (!rc) rc = weft_buf_appends(out, "\r\n");
    }
    if (!rc && hs->deflate) {
        rc = weft_buf_appends(out, "Sec-WebSocket-Extensions: ");
        if (!rc) rc = weft_ws_deflate_format(&hs->params, out);
        if (!rc) rc = weft_buf_appends(out, "\r\n");
    }
    if (!rc) rc = weft_buf_appends(out, "\r\n");
    if (rc) {
        out->len = start;
        if (out->data) out->data[start] = '\0';
    }
    return rc;
}

/* ---- the client side (RFC 6455 §4.1) ------------------------------------------ */

void weft_ws_client_key(char key[25]) {
    uint8_t raw[16];
    size_t got = 0;
    while (got < sizeof raw) {
        ssize_t r = getrandom(raw + got, sizeof raw - got, 0);
        if (r > 0) got += (size_t)r;
        /* EINTR only: getrandom on <= 256 bytes does not fail otherwise */
    }
    EVP_EncodeBlock((unsigned char *)key, raw, 16); /* 24 chars and a NUL */
}

int weft_ws_client_request(weft_buf *out, const char *host, const char *target, const char *key,
                           const weft_ws_client_opts *o) {
    static const weft_ws_client_opts none = {0};
    if (!o) o = &none;
    size_t start = out->len;
    int rc = weft_buf_printf(out,
                             "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
                             "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                             "Sec-WebSocket-Version: 13\r\n",
                             target, host, key);
    for (size_t i = 0; !rc && i < o->nsubprotocols; i++)
        rc =
            weft_buf_printf(out, "%s%s", i ? ", " : "Sec-WebSocket-Protocol: ", o->subprotocols[i]);
    if (!rc && o->nsubprotocols) rc = weft_buf_appends(out, "\r\n");
    if (!rc && o->deflate)
        rc = weft_buf_printf(out,
                             "Sec-WebSocket-Extensions: permessage-deflate; "
                             "client_max_window_bits%s\r\n",
                             o->deflate_server_no_context_takeover ? "; server_no_context_takeover"
                                                                   : "");
    if (!rc && o->origin) rc = weft_buf_printf(out, "Origin: %s\r\n", o->origin);
    if (!rc && o->headers) rc = weft_buf_appends(out, o->headers);
    if (!rc) rc = weft_buf_appends(out, "\r\n");
    if (rc) {
        out->len = start;
        if (out->data) out->data[start] = '\0';
    }
    return rc;
}

/* The server's Sec-WebSocket-Extensions answer to our one offer: exactly one
 * permessage-deflate with valid parameters (RFC 7692 §7.1.1.1-§7.1.2.2). */
static int response_ext(weft_str v, weft_ws_deflate_params *p, int *seen) {
    cursor c = {v.p, v.p + v.n};
    for (;;) {
        skip_ws(&c);
        if (c.p < c.end && *c.p == ',') {
            c.p++;
            continue;
        }
        if (c.p == c.end) return 0;
        weft_str name;
        if (!take_token(&c, &name)) return -1;
        if (!weft_str_eq_nocase(name, WEFT_STR("permessage-deflate")) || *seen) return -1;
        *seen = 1;
        offer o = {1, -1, -1, -1, -1};
        for (;;) {
            skip_ws(&c);
            if (c.p == c.end || *c.p == ',') break;
            if (*c.p != ';') return -1;
            c.p++;
            skip_ws(&c);
            weft_str pn, pv = {NULL, 0};
            if (!take_token(&c, &pn)) return -1;
            skip_ws(&c);
            int has_value = 0;
            if (c.p < c.end && *c.p == '=') {
                c.p++;
                skip_ws(&c);
                if (!take_value(&c, &pv)) return -1;
                has_value = 1;
            }
            /* in a response client_max_window_bits needs a value too */
            if (weft_str_eq_nocase(pn, WEFT_STR("client_max_window_bits")) && !has_value) return -1;
            offer_param(&o, pn, has_value, pv);
        }
        if (!o.ok) return -1;
        p->server_no_context_takeover = o.snct == 0;
        p->client_no_context_takeover = o.cnct == 0;
        p->server_max_window_bits = o.smwb > 0 ? o.smwb : 15;
        p->client_max_window_bits = o.cmwb > 0 ? o.cmwb : 15;
    }
}

static int bad_response(const char **reason, const char *why) {
    *reason = why;
    return WEFT_EPARSE;
}

enum { MAX_RESPONSE_HEAD = 16384, MAX_RESPONSE_HEADERS = 64 };

int weft_ws_client_response(const char *buf, size_t n, const char *key,
                            const weft_ws_client_opts *o, weft_ws_handshake *hs,
                            const char **reason) {
    static const weft_ws_client_opts none = {0};
    if (!o) o = &none;
    memset(hs, 0, sizeof *hs);
    *reason = NULL;
    /* the head ends at the first empty line; bare LF line ends are refused */
    const char *end = NULL;
    size_t lim = n < MAX_RESPONSE_HEAD ? n : MAX_RESPONSE_HEAD;
    for (size_t i = 0; i + 3 < lim; i++)
        if (buf[i] == '\r' && buf[i + 1] == '\n' && buf[i + 2] == '\r' && buf[i + 3] == '\n') {
            end = buf + i + 4;
            break;
        }
    if (!end) {
        if (n >= MAX_RESPONSE_HEAD) return bad_response(reason, "response head over 16 KiB");
        return WEFT_EAGAIN;
    }
    size_t head_len = (size_t)(end - buf);
    /* status line: HTTP/1.1 SP 3DIGIT SP reason */
    const char *p = buf, *eol = memchr(p, '\r', head_len);
    if (eol - p < 12 || memcmp(p, "HTTP/1.1 ", 9) != 0 || eol[1] != '\n')
        return bad_response(reason, "malformed status line");
    int status = 0;
    for (int i = 9; i < 12; i++) {
        if (p[i] < '0' || p[i] > '9') return bad_response(reason, "malformed status line");
        status = status * 10 + (p[i] - '0');
    }
    hs->status = status;
    if (status != 101) return bad_response(reason, "the server did not switch protocols (not 101)");
    if (eol - p > 12 && p[12] != ' ') return bad_response(reason, "malformed status line");
    /* header fields */
    weft_http_header hdrs[MAX_RESPONSE_HEADERS];
    weft_http_request req = {.headers = hdrs, .minor = 1};
    p = eol + 2;
    while (p < end - 2) {
        eol = memchr(p, '\r', (size_t)(end - p));
        if (!eol || eol[1] != '\n') return bad_response(reason, "malformed header line");
        const char *colon = memchr(p, ':', (size_t)(eol - p));
        if (!colon || colon == p) return bad_response(reason, "malformed header line");
        for (const char *q = p; q < colon; q++)
            if (!is_tchar((unsigned char)*q)) return bad_response(reason, "malformed header line");
        for (const char *q = colon + 1; q < eol; q++)
            if ((unsigned char)*q < 0x20 && *q != '\t')
                return bad_response(reason, "control character in a header");
        if (req.nheaders == MAX_RESPONSE_HEADERS) return bad_response(reason, "too many headers");
        hdrs[req.nheaders].name = (weft_str){p, (size_t)(colon - p)};
        hdrs[req.nheaders].value = weft_str_trim((weft_str){colon + 1, (size_t)(eol - colon - 1)});
        req.nheaders++;
        p = eol + 2;
    }
    if (!header_has_token(&req, "Upgrade", "websocket"))
        return bad_response(reason, "missing Upgrade: websocket in the response");
    if (!header_has_token(&req, "Connection", "upgrade"))
        return bad_response(reason, "missing Connection: upgrade in the response");
    weft_str acc;
    if (header_one(&req, "Sec-WebSocket-Accept", &acc) != 1)
        return bad_response(reason, "missing or repeated Sec-WebSocket-Accept");
    weft_ws_accept_key(weft_str_c(key), hs->accept);
    if (!weft_str_eq(acc, weft_str_c(hs->accept)))
        return bad_response(reason, "Sec-WebSocket-Accept does not match the key");
    weft_str proto;
    int np = header_one(&req, "Sec-WebSocket-Protocol", &proto);
    if (np < 0) return bad_response(reason, "repeated Sec-WebSocket-Protocol");
    if (np == 1) {
        for (size_t i = 0; i < o->nsubprotocols && !hs->subprotocol.p; i++)
            if (weft_str_eq(proto, weft_str_c(o->subprotocols[i])))
                hs->subprotocol = weft_str_c(o->subprotocols[i]);
        if (!hs->subprotocol.p)
            return bad_response(reason, "the server chose a subprotocol we did not offer");
    }
    int seen = 0;
    weft_str nm = WEFT_STR("Sec-WebSocket-Extensions");
    for (size_t i = 0; i < req.nheaders; i++) {
        if (!weft_str_eq_nocase(hdrs[i].name, nm)) continue;
        if (!o->deflate || response_ext(hdrs[i].value, &hs->params, &seen) < 0)
            return bad_response(reason, "the server answered with an extension we cannot use");
    }
    hs->deflate = seen;
    return (int)head_len;
}

/* ---- ws:// URLs --------------------------------------------------------------- */

int weft_ws_url_parse(const char *url, size_t n, weft_ws_url *out) {
    memset(out, 0, sizeof *out);
    if (n >= 6 && strncasecmp(url, "wss://", 6) == 0) return WEFT_ENOTSUP;
    if (n < 5 || strncasecmp(url, "ws://", 5) != 0) return WEFT_EINVAL;
    const char *p = url + 5, *end = url + n;
    for (const char *q = p; q < end; q++)
        if ((unsigned char)*q <= 0x20 || *q == 0x7F || *q == '#') return WEFT_EINVAL;
    const char *auth_end = p;
    while (auth_end < end && *auth_end != '/' && *auth_end != '?') auth_end++;
    out->authority = (weft_str){p, (size_t)(auth_end - p)};
    if (memchr(p, '@', (size_t)(auth_end - p))) return WEFT_EINVAL;
    const char *host_end;
    if (p < auth_end && *p == '[') {
        const char *rb = memchr(p, ']', (size_t)(auth_end - p));
        if (!rb) return WEFT_EINVAL;
        out->host = (weft_str){p + 1, (size_t)(rb - p - 1)};
        for (const char *q = p + 1; q < rb; q++)
            if (!strchr("0123456789abcdefABCDEF:.", *q)) return WEFT_EINVAL;
        host_end = rb + 1;
        if (host_end < auth_end && *host_end != ':') return WEFT_EINVAL;
    } else {
        host_end = p;
        while (host_end < auth_end && *host_end != ':') host_end++;
        out->host = (weft_str){p, (size_t)(host_end - p)};
        for (const char *q = p; q < host_end; q++)
            if (*q == '[' || *q == ']') return WEFT_EINVAL;
    }
    if (out->host.n == 0) return WEFT_EINVAL;
    out->port = 80;
    if (host_end < auth_end) { /* ':' port: digits only (no sign, not empty) */
        uint64_t port = 0;
        weft_str d = {host_end + 1, (size_t)(auth_end - host_end - 1)};
        if (weft_str_to_u64(d, &port) || port < 1 || port > 65535) return WEFT_EINVAL;
        out->port = (int)port;
    }
    if (auth_end == end)
        out->target = WEFT_STR("/");
    else
        out->target = (weft_str){auth_end, (size_t)(end - auth_end)};
    return 0;
}
