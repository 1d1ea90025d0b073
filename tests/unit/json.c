/*
 * tests/unit/json.c — src/json/parse.c and src/json/encode.c: RFC 8259
 * acceptance and rejection (JSONTestSuite-style y_/n_ cases), exact int64s,
 * correctly rounded doubles, error offsets, getters, the encoder's escaping,
 * misuse detection and shortest doubles (against the printer they replaced),
 * and a parse→encode→parse round trip.
 * All plain tests: no runtime needed.
 */
#include "test.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>

#include "weft/json.h"

static weft_arena arena;

/* Parses s[0..n) from a heap copy of exactly n bytes (so ASan sees any
 * over-read). The DOM lives in the file's arena (strings are copied there, so
 * freeing the input afterwards is fine). A failure must come with a message. */
static int parse_n(const char *s, size_t n, weft_json **out, weft_json_error *err) {
    char *copy = malloc(n ? n : 1);
    memcpy(copy, s, n);
    weft_json *root = NULL;
    weft_json_error e = {0, 0};
    int rc = weft_json_parse(copy, n, &arena, 0, &root, &e);
    free(copy);
    if (out) *out = root;
    if (err) *err = e;
    if (rc != 0 && e.msg == NULL && rc != WEFT_ENOMEM) return -999; /* msg must be set */
    return rc;
}
static int parse_s(const char *s, weft_json **out, weft_json_error *err) {
    return parse_n(s, strlen(s), out, err);
}

static void setup(void) { weft_arena_init(&arena, 0); }
static void teardown(void) { weft_arena_free(&arena); }

/* ---- acceptance / rejection -------------------------------------------------------- */

static const char *const valid[] = {
    "[]",
    "{}",
    "[[]]",
    "[{}]",
    "{\"a\":[]}",
    " [ ] ",
    "\t\n\r [\t\n\r1\t\n\r]\t\n\r",
    "0",
    "-0",
    "1",
    "-1",
    "123",
    "[0]",
    "[-0]",
    "[-0.0]",
    "[0e0]",
    "[0E+1]",
    "[0e-1]",
    "[1.5]",
    "[-1.5e10]",
    "[1E22]",
    "[1e-2]",
    "[123.456e78]",
    "[0.000001]",
    "[20e1]",
    "[1e+2]",
    "[-123]",
    "[1,2,3]",
    "[1, 2 , 3 ]",
    "true",
    "false",
    "null",
    "[true,false,null]",
    "\"\"",
    "\"abc\"",
    "[\"\\u0000\"]",
    "[\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"]",
    "[\"\\u00e9\"]",
    "\"\\uD834\\uDD1E\"",
    "\"\\ud834\\udd1e\"",
    "[\"\xc3\xa9\"]",
    "[\"\xe2\x82\xac\"]",
    "[\"\xf0\x9f\x98\x80\"]",
    "[\"\xf4\x8f\xbf\xbf\"]",
    "[\"\xef\xbf\xbf\"]",
    "[\"\x7f\"]",
    "{\"a\":1,\"b\":2}",
    "{\"a\":1,\"a\":2}",
    "{\"\":0}",
    "{ \"a\" : { \"b\" : [ 1 ] } }",
    "[\"\\uFFFF\"]",
    "[\"\\u2028\"]",
    "[\"a/*b*/\"]",
    "[[[[[[1]]]]]]",
};

static const char *const invalid[] = {
    /* structure */
    "[",
    "]",
    "[1,]",
    "[,1]",
    "[1,,2]",
    "[1 2]",
    "{",
    "}",
    "{\"a\"}",
    "{\"a\":}",
    "{\"a\" 1}",
    "{\"a\":1,}",
    "{,}",
    "{1:1}",
    "{a:1}",
    "{'a':1}",
    "[1]]",
    "[1]x",
    "{}}",
    "[][]",
    "[1] [2]",
    "[\"a\",]",
    "[}",
    "{]",
    "[1:2]",
    "{\"a\":1 \"b\":2}",
    "{\"a\"::1}",
    /* literals */
    "tru",
    "True",
    "nul",
    "NULL",
    "nan",
    "NaN",
    "Infinity",
    "-Infinity",
    "[truex]",
    "[nulll]",
    "fals",
    "[t]",
    /* numbers */
    "[01]",
    "[-01]",
    "[00]",
    "[1.]",
    "[.1]",
    "[-]",
    "[+1]",
    "[1e]",
    "[1e+]",
    "[1E-]",
    "[-.1]",
    "[0x10]",
    "[1.e5]",
    "[1.2.3]",
    "[1ee5]",
    "[- 1]",
    "[1e5.5]",
    "[0.]",
    "[.]",
    "[-a]",
    "[1e400]",
    "[-1e400]",
    "[\xef\xbc\x91]",
    "[012.5]",
    "[2.]",
    "[--1]",
    /* strings */
    "\"",
    "[\"abc]",
    "['a']",
    "[\"\\x41\"]",
    "[\"\\u12\"]",
    "[\"\\u12G4\"]",
    "[\"\\\"]",
    "[\"\\ud800\"]",
    "[\"\\udc00\"]",
    "[\"\\ud800\\u0041\"]",
    "[\"\\ud800x\"]",
    "[\"\\ud800\\ud800\"]",
    "[\"\\uDD1E\\uD834\"]",
    "[\"\\a\"]",
    "[\"\\U0041\"]",
    "[\"\\\"]",
    "[\"a\tb\"]",
    "[\"a\nb\"]",
    "[\"\x1f\"]",
    "[\"\xc0\x80\"]",
    "[\"\xc1\xbf\"]",
    "[\"\xed\xa0\x80\"]",
    "[\"\xed\xbf\xbf\"]",
    "[\"\xf5\x80\x80\x80\"]",
    "[\"\xf4\x90\x80\x80\"]",
    "[\"\xe0\x80\xaf\"]",
    "[\"\xf0\x80\x80\xaf\"]",
    "[\"\x80\"]",
    "[\"\xbf\"]",
    "[\"\xc3\"]",
    "[\"\xe2\x82\"]",
    "[\"\xf0\x9f\x98\"]",
    "[\"\xff\"]",
    "[\"\xfe\"]",
    "[\"\xc3\x28\"]",
    "\"\xe2\x82\"",
    /* whitespace and emptiness */
    "",
    " ",
    "\t\n\r ",
    "[\f1]",
    "[\v1]",
    "\xef\xbb\xbf[]",
    "[1]\x00",
    "/* c */ []",
    "[1] //",
    "[\xa0"
    "1]",
};

TEST_PLAIN(json_valid_inputs_parse) {
    setup();
    for (size_t i = 0; i < sizeof valid / sizeof *valid; i++) {
        weft_json_error e;
        int rc = parse_s(valid[i], NULL, &e);
        if (rc != 0) {
            test__fail(__FILE__, __LINE__, "valid[%zu] %s: rc %d (%s at %zu)", i, valid[i], rc,
                       e.msg ? e.msg : "", e.offset);
            break;
        }
    }
    teardown();
}

TEST_PLAIN(json_invalid_inputs_fail) {
    setup();
    for (size_t i = 0; i < sizeof invalid / sizeof *invalid; i++) {
        weft_json_error e;
        /* "[1]\x00": strlen would cut it, so give explicit lengths for NUL cases */
        size_t n = strlen(invalid[i]);
        if (strcmp(invalid[i], "[1]") == 0) n = 4;
        int rc = parse_n(invalid[i], n, NULL, &e);
        if (rc != WEFT_EPARSE) {
            test__fail(__FILE__, __LINE__, "invalid[%zu] \"%s\": rc %d", i, invalid[i], rc);
            break;
        }
        if (e.offset > n) {
            test__fail(__FILE__, __LINE__, "invalid[%zu]: offset %zu > len", i, e.offset);
            break;
        }
    }
    /* embedded NUL bytes */
    ASSERT_ERR(parse_n("[\"a\0b\"]", 7, NULL, NULL), WEFT_EPARSE);
    ASSERT_ERR(parse_n("[1]\0", 4, NULL, NULL), WEFT_EPARSE);
    ASSERT_ERR(parse_n("\0", 1, NULL, NULL), WEFT_EPARSE);
    /* err may be NULL; NULL buffer with len 0 is just empty input */
    ASSERT_ERR(weft_json_parse("[", 1, &arena, 0, NULL, NULL), WEFT_EPARSE);
    ASSERT_ERR(weft_json_parse(NULL, 0, &arena, 0, NULL, NULL), WEFT_EPARSE);
    teardown();
}

static char *nest(int depth, char open, char close) {
    char *s = malloc((size_t)depth * 2 + 1);
    for (int i = 0; i < depth; i++) s[i] = open, s[depth * 2 - 1 - i] = close;
    s[depth * 2] = 0;
    return s;
}

TEST_PLAIN(json_depth_limit) {
    setup();
    weft_json *r;
    weft_json_error e;
    char *ok = nest(128, '[', ']'), *deep = nest(129, '[', ']'), *huge = nest(100000, '[', ']');
    int rc1 = parse_s(ok, &r, NULL), rc2 = parse_s(deep, NULL, &e);
    size_t off2 = e.offset;
    int rc3 = parse_s(huge, NULL, &e);
    int rc4 = weft_json_parse("[[1]]", 5, &arena, 1, NULL, &e);
    size_t off4 = e.offset;
    int rc5 = weft_json_parse("[[1]]", 5, &arena, 2, NULL, NULL);
    free(ok), free(deep), free(huge);
    ASSERT_EQ(rc1, 0);
    ASSERT_EQ(r->type, WEFT_JSON_ARRAY);
    ASSERT_ERR(rc2, WEFT_ELIMIT);
    ASSERT_EQ(off2, 128); /* the 129th '[' */
    ASSERT_ERR(rc3, WEFT_ELIMIT);
    ASSERT_ERR(rc4, WEFT_ELIMIT);
    ASSERT_EQ(off4, 1);
    ASSERT_EQ(rc5, 0);
    char obj[2048];
    size_t k = 0;
    for (int i = 0; i < 129; i++) memcpy(obj + k, "{\"a\":", 5), k += 5;
    obj[k++] = '1';
    for (int i = 0; i < 129; i++) obj[k++] = '}';
    ASSERT_ERR(parse_n(obj, k, NULL, NULL), WEFT_ELIMIT);
    ASSERT_EQ(parse_n(obj + 5, k - 6, NULL, NULL), 0); /* 128 objects deep */
    teardown();
}

/* ---- numbers ------------------------------------------------------------------------ */

static int parse_num(const char *s, weft_json *out) {
    weft_json *r;
    int rc = parse_s(s, &r, NULL);
    if (rc == 0) *out = *r;
    return rc;
}

TEST_PLAIN(json_int64_exact) {
    setup();
    weft_json v;
    ASSERT_EQ(parse_num("9223372036854775807", &v), 0);
    ASSERT_EQ(v.type, WEFT_JSON_INT);
    ASSERT(v.u.i == INT64_MAX);
    ASSERT_EQ(parse_num("-9223372036854775808", &v), 0);
    ASSERT_EQ(v.type, WEFT_JSON_INT);
    ASSERT(v.u.i == INT64_MIN);
    ASSERT_EQ(parse_num("9223372036854775808", &v), 0);
    ASSERT_EQ(v.type, WEFT_JSON_DOUBLE);
    ASSERT(v.u.d == 9223372036854775808.0);
    ASSERT_EQ(parse_num("-9223372036854775809", &v), 0);
    ASSERT_EQ(v.type, WEFT_JSON_DOUBLE);
    ASSERT(v.u.d == -9223372036854775808.0);
    ASSERT_EQ(parse_num("100000000000000000000000", &v), 0);
    ASSERT_EQ(v.type, WEFT_JSON_DOUBLE);
    ASSERT(v.u.d == 1e23);
    ASSERT_EQ(parse_num("-0", &v), 0);
    ASSERT_EQ(v.type, WEFT_JSON_INT);
    ASSERT_EQ(v.u.i, 0);
    ASSERT_EQ(parse_num("0", &v), 0);
    ASSERT_EQ(v.u.i, 0);
    ASSERT_EQ(parse_num("-12345", &v), 0);
    ASSERT_EQ(v.u.i, -12345);
    ASSERT_EQ(parse_num("1.0", &v), 0);
    ASSERT_EQ(v.type, WEFT_JSON_DOUBLE); /* a fraction makes it a double */
    ASSERT_EQ(parse_num("1e2", &v), 0);
    ASSERT_EQ(v.type, WEFT_JSON_DOUBLE);
    ASSERT(v.u.d == 100.0);
    teardown();
}

TEST_PLAIN(json_double_rounding) {
    setup();
    weft_json v;
    ASSERT_EQ(parse_num("0.1", &v), 0);
    ASSERT(v.u.d == 0.1);
    ASSERT_EQ(parse_num("-0.0", &v), 0);
    ASSERT(v.u.d == 0 && signbit(v.u.d));
    ASSERT_EQ(parse_num("1e-400", &v), 0);
    ASSERT(v.u.d == 0);
    ASSERT_EQ(parse_num("4.9406564584124654e-324", &v), 0);
    ASSERT(v.u.d == 5e-324);
    ASSERT_EQ(parse_num("2.2250738585072011e-308", &v), 0);
    ASSERT(v.u.d == 2.2250738585072011e-308);
    ASSERT_EQ(parse_num("2.2250738585072012e-308", &v), 0);
    ASSERT(v.u.d == 2.2250738585072014e-308);
    ASSERT_EQ(parse_num("1.7976931348623157e308", &v), 0);
    ASSERT(v.u.d == 1.7976931348623157e308);
    ASSERT_EQ(parse_num("9007199254740993", &v), 0); /* 2^53+1 stays exact as INT */
    ASSERT(v.type == WEFT_JSON_INT && v.u.i == 9007199254740993LL);
    ASSERT_EQ(parse_num("9007199254740993.0", &v), 0); /* halfway: rounds to even */
    ASSERT(v.u.d == 9007199254740992.0);
    ASSERT_EQ(parse_num("0.30000000000000004", &v), 0);
    ASSERT(v.u.d == 0.1 + 0.2);
    /* a long mantissa goes through the arena copy, not the small buffer */
    char big[400] = "0.";
    for (int i = 0; i < 300; i++) big[2 + i] = '1';
    big[302] = 0;
    ASSERT_EQ(parse_num(big, &v), 0);
    ASSERT(v.u.d == 0.11111111111111111);
    ASSERT_ERR(parse_num("1e309", &v), WEFT_EPARSE);
    teardown();
}

/* ---- strings ------------------------------------------------------------------------ */

TEST_PLAIN(json_string_decoding) {
    setup();
    weft_json *r;
    ASSERT_EQ(parse_s("\"\\uD834\\uDD1E\"", &r, NULL), 0);
    ASSERT_EQ(r->type, WEFT_JSON_STRING);
    ASSERT_EQ(r->len, 4);
    ASSERT_MEMEQ(r->u.s, "\xf0\x9d\x84\x9e", 5);
    ASSERT_EQ(parse_s("[\"\\u0000\"]", &r, NULL), 0);
    ASSERT_EQ(r->u.items[0].len, 1);
    ASSERT_MEMEQ(r->u.items[0].u.s, "\0\0", 2);
    ASSERT_EQ(parse_s("\"a\\\"b\\\\c\\/d\\be\\ff\\ng\\rh\\ti\"", &r, NULL), 0);
    ASSERT_STREQ(r->u.s, "a\"b\\c/d\be\ff\ng\rh\ti");
    ASSERT_EQ(r->len, 17);
    ASSERT_EQ(parse_s("\"\\u00e9\\u20AC\\u0041x\"", &r, NULL), 0);
    ASSERT_STREQ(r->u.s, "\xc3\xa9\xe2\x82\xac"
                         "Ax");
    ASSERT_EQ(parse_s("\"plain \xc3\xa9 text\"", &r, NULL), 0);
    ASSERT_STREQ(r->u.s, "plain \xc3\xa9 text");
    ASSERT_EQ(parse_s("\"\"", &r, NULL), 0);
    ASSERT_EQ(r->len, 0);
    ASSERT_STREQ(r->u.s, "");
    ASSERT_EQ(parse_s("{\"k\\u0065y\":\"v\"}", &r, NULL), 0);
    ASSERT_EQ(r->u.members[0].key.n, 3);
    ASSERT_MEMEQ(r->u.members[0].key.p, "key", 4);
    teardown();
}

/* ---- error offsets ------------------------------------------------------------------ */

static size_t err_at(const char *s, size_t n) {
    weft_json_error e = {12345, NULL};
    int rc = parse_n(s, n, NULL, &e);
    return rc == WEFT_EPARSE ? e.offset : (size_t)-1;
}
#define ERR_AT(s) err_at((s), sizeof(s) - 1)

TEST_PLAIN(json_error_offsets) {
    setup();
    ASSERT_EQ(ERR_AT("[1,]"), 3);
    ASSERT_EQ(ERR_AT("[01]"), 1);
    ASSERT_EQ(ERR_AT("[1.]"), 3);
    ASSERT_EQ(ERR_AT("[.1]"), 1);
    ASSERT_EQ(ERR_AT("[-]"), 2);
    ASSERT_EQ(ERR_AT("[1e]"), 3);
    ASSERT_EQ(ERR_AT(""), 0);
    ASSERT_EQ(ERR_AT("   "), 3);
    ASSERT_EQ(ERR_AT("[1] x"), 4);
    ASSERT_EQ(ERR_AT("[1 2]"), 3);
    ASSERT_EQ(ERR_AT("[tru]"), 4);
    ASSERT_EQ(ERR_AT("[trUe]"), 3);
    ASSERT_EQ(ERR_AT("{\"a\" 1}"), 5);
    ASSERT_EQ(ERR_AT("{1:1}"), 1);
    ASSERT_EQ(ERR_AT("[\"ab\x01\"]"), 4);
    ASSERT_EQ(ERR_AT("[\"ab\xc0\x80\"]"), 4);
    ASSERT_EQ(ERR_AT("[\"x\\ud800\"]"), 3);
    ASSERT_EQ(ERR_AT("[\"x\\q\"]"), 3);
    ASSERT_EQ(ERR_AT("[\"abc"), 5);
    ASSERT_EQ(ERR_AT("{\"a\":1"), 6);
    weft_json_error e;
    ASSERT_ERR(parse_s("[01]", NULL, &e), WEFT_EPARSE);
    ASSERT_STREQ(e.msg, "leading zero in number");
    ASSERT_ERR(parse_s("[1,]", NULL, &e), WEFT_EPARSE);
    ASSERT_STREQ(e.msg, "trailing comma");
    teardown();
}

/* ---- getters ------------------------------------------------------------------------ */

TEST_PLAIN(json_getters) {
    setup();
    weft_json *r;
    const char *doc = "{\"i\":42,\"d\":2.5,\"big\":1e30,\"whole\":3.0,\"neg\":-7,\"t\":true,"
                      "\"f\":false,\"n\":null,\"s\":\"hi\",\"a\":[1,\"x\"],\"i\":43,"
                      "\"edge\":9223372036854775808,\"low\":-9223372036854775808.0}";
    ASSERT_EQ(parse_s(doc, &r, NULL), 0);
    ASSERT_EQ(r->type, WEFT_JSON_OBJECT);
    int64_t i = 0;
    double d = 0;
    int b = -1;
    ASSERT_EQ(weft_json_int(weft_json_get(r, "i"), &i), 0);
    ASSERT_EQ(i, 42); /* first match */
    ASSERT_EQ(weft_json_int(weft_json_get(r, "neg"), &i), 0);
    ASSERT_EQ(i, -7);
    ASSERT_EQ(weft_json_int(weft_json_get(r, "whole"), &i), 0);
    ASSERT_EQ(i, 3);
    ASSERT_ERR(weft_json_int(weft_json_get(r, "d"), &i), WEFT_EINVAL);
    ASSERT_ERR(weft_json_int(weft_json_get(r, "big"), &i), WEFT_ERANGE);
    ASSERT_ERR(weft_json_int(weft_json_get(r, "edge"), &i), WEFT_ERANGE);
    ASSERT_EQ(weft_json_int(weft_json_get(r, "low"), &i), 0);
    ASSERT(i == INT64_MIN);
    ASSERT_ERR(weft_json_int(weft_json_get(r, "s"), &i), WEFT_EINVAL);
    ASSERT_ERR(weft_json_int(NULL, &i), WEFT_EINVAL);
    ASSERT_EQ(weft_json_double(weft_json_get(r, "d"), &d), 0);
    ASSERT(d == 2.5);
    ASSERT_EQ(weft_json_double(weft_json_get(r, "i"), &d), 0);
    ASSERT(d == 42.0);
    ASSERT_ERR(weft_json_double(weft_json_get(r, "t"), &d), WEFT_EINVAL);
    ASSERT_ERR(weft_json_double(NULL, &d), WEFT_EINVAL);
    ASSERT_EQ(weft_json_bool(weft_json_get(r, "t"), &b), 0);
    ASSERT_EQ(b, 1);
    ASSERT_EQ(weft_json_bool(weft_json_get(r, "f"), &b), 0);
    ASSERT_EQ(b, 0);
    ASSERT_ERR(weft_json_bool(weft_json_get(r, "n"), &b), WEFT_EINVAL);
    ASSERT_ERR(weft_json_bool(NULL, &b), WEFT_EINVAL);
    weft_str s = weft_json_str(weft_json_get(r, "s"));
    ASSERT_EQ(s.n, 2);
    ASSERT_MEMEQ(s.p, "hi", 2);
    s = weft_json_str(weft_json_get(r, "i"));
    ASSERT(s.p == NULL && s.n == 0);
    s = weft_json_str(NULL);
    ASSERT(s.p == NULL && s.n == 0);
    ASSERT_EQ(weft_json_get(r, "n")->type, WEFT_JSON_NULL);
    ASSERT(weft_json_get(r, "missing") == NULL);
    ASSERT(weft_json_get(r, "") == NULL);
    ASSERT(weft_json_get(NULL, "i") == NULL);
    ASSERT(weft_json_get(r, NULL) == NULL);
    const weft_json *a = weft_json_get(r, "a");
    ASSERT(weft_json_get(a, "i") == NULL); /* not an object */
    ASSERT_EQ(a->len, 2);
    ASSERT_EQ(weft_json_at(a, 0)->u.i, 1);
    ASSERT_STREQ(weft_json_at(a, 1)->u.s, "x");
    ASSERT(weft_json_at(a, 2) == NULL);
    ASSERT(weft_json_at(r, 0) == NULL); /* not an array */
    ASSERT(weft_json_at(NULL, 0) == NULL);
    teardown();
}

/* ---- encoder ------------------------------------------------------------------------ */

/* Encodes one string as the root; returns the finish code, output in b. */
static int enc_one_str(weft_buf *b, const char *s, size_t n) {
    weft_json_enc e;
    weft_buf_clear(b);
    weft_json_enc_init(&e, b);
    weft_json_enc_str(&e, (weft_str){s, n});
    return weft_json_enc_finish(&e);
}

TEST_PLAIN(json_enc_escaping) {
    static const struct {
        const char *in;
        size_t n;
        const char *out;
    } cases[] = {
        {"abc", 3, "\"abc\""},
        {"", 0, "\"\""},
        {"\"", 1, "\"\\\"\""},
        {"\\", 1, "\"\\\\\""},
        {"/", 1, "\"/\""},
        {"\b\f\n\r\t", 5, "\"\\b\\f\\n\\r\\t\""},
        {"\0", 1, "\"\\u0000\""},
        {"\x01\x1f", 2, "\"\\u0001\\u001f\""},
        {"a\x7f"
         "b",
         3,
         "\"a\x7f"
         "b\""},
        {"\xe2\x80\xa8", 3, "\"\\u2028\""},
        {"x\xe2\x80\xa9y", 5, "\"x\\u2029y\""},
        {"\xe2\x80\xa7", 3, "\"\xe2\x80\xa7\""},
        {"\xc3\xa9\xf0\x9f\x98\x80", 6, "\"\xc3\xa9\xf0\x9f\x98\x80\""},
        {"ab\"cd\\ef\ngh", 11, "\"ab\\\"cd\\\\ef\\ngh\""},
    };
    weft_buf b;
    weft_buf_init(&b, 0);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int rc = enc_one_str(&b, cases[i].in, cases[i].n);
        if (rc != 0 || b.len != strlen(cases[i].out) || memcmp(b.data, cases[i].out, b.len)) {
            test__fail(__FILE__, __LINE__, "case %zu: rc %d, got %.*s want %s", i, rc, (int)b.len,
                       b.data ? b.data : "", cases[i].out);
            break;
        }
    }
    static const char *const bad[] = {"\xc0\x80", "\xed\xa0\x80", "\xf5\x80\x80\x80", "\x80",
                                      "a\xc3",    "\xe2\x82",     "\xf4\x90\x80\x80", "\xff"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int rc = enc_one_str(&b, bad[i], strlen(bad[i]));
        if (rc != WEFT_EINVAL) {
            test__fail(__FILE__, __LINE__, "bad[%zu]: rc %d", i, rc);
            break;
        }
    }
    /* invalid UTF-8 in a key too */
    weft_json_enc e;
    weft_buf_clear(&b);
    weft_json_enc_init(&e, &b);
    weft_json_enc_object(&e);
    weft_json_enc_key(&e, WEFT_STR("\xc0\xaf"));
    weft_json_enc_int(&e, 1);
    weft_json_enc_end(&e);
    ASSERT_ERR(weft_json_enc_finish(&e), WEFT_EINVAL);
    weft_buf_free(&b);
}

TEST_PLAIN(json_enc_structure) {
    weft_buf b;
    weft_buf_init(&b, 0);
    weft_json_enc e;
    weft_json_enc_init(&e, &b);
    weft_json_enc_object(&e);
    weft_json_enc_key(&e, WEFT_STR("a"));
    weft_json_enc_array(&e);
    weft_json_enc_int(&e, 1);
    weft_json_enc_int(&e, INT64_MIN);
    weft_json_enc_bool(&e, 1);
    weft_json_enc_bool(&e, 0);
    weft_json_enc_null(&e);
    weft_json_enc_object(&e);
    weft_json_enc_end(&e);
    weft_json_enc_array(&e);
    weft_json_enc_end(&e);
    weft_json_enc_end(&e);
    weft_json_enc_key(&e, WEFT_STR("b"));
    weft_json_enc_str(&e, WEFT_STR("x"));
    weft_json_enc_key(&e, WEFT_STR("c"));
    weft_json_enc_int(&e, INT64_MAX);
    weft_json_enc_end(&e);
    ASSERT_EQ(weft_json_enc_finish(&e), 0);
    ASSERT_STREQ(b.data, "{\"a\":[1,-9223372036854775808,true,false,null,{},[]],\"b\":\"x\","
                         "\"c\":9223372036854775807}");
    /* scalar roots */
    weft_buf_clear(&b);
    weft_json_enc_init(&e, &b);
    weft_json_enc_int(&e, 0);
    ASSERT_EQ(weft_json_enc_finish(&e), 0);
    ASSERT_STREQ(b.data, "0");
    weft_buf_free(&b);
}

/* Runs a misuse script: each char is one call. Returns the finish code. */
static int enc_script(const char *script) {
    weft_buf b;
    weft_buf_init(&b, 0);
    weft_json_enc e;
    weft_json_enc_init(&e, &b);
    for (const char *c = script; *c; c++) {
        switch (*c) {
        case '{':
            weft_json_enc_object(&e);
            break;
        case '[':
            weft_json_enc_array(&e);
            break;
        case ')':
            weft_json_enc_end(&e);
            break;
        case 'k':
            weft_json_enc_key(&e, WEFT_STR("k"));
            break;
        case 'i':
            weft_json_enc_int(&e, 1);
            break;
        case 'n':
            weft_json_enc_null(&e);
            break;
        case 'N':
            weft_json_enc_double(&e, NAN);
            break;
        case 'I':
            weft_json_enc_double(&e, INFINITY);
            break;
        case 'J':
            weft_json_enc_double(&e, -INFINITY);
            break;
        }
    }
    int rc = weft_json_enc_finish(&e);
    weft_buf_free(&b);
    return rc;
}

TEST_PLAIN(json_enc_misuse) {
    ASSERT_EQ(enc_script("{ki)"), 0);
    ASSERT_EQ(enc_script("[ii[)])"), 0);
    ASSERT_ERR(enc_script(""), WEFT_EINVAL);      /* nothing written */
    ASSERT_ERR(enc_script("{i)"), WEFT_EINVAL);   /* value without key */
    ASSERT_ERR(enc_script("{kk"), WEFT_EINVAL);   /* two keys */
    ASSERT_ERR(enc_script("{k)"), WEFT_EINVAL);   /* key without value */
    ASSERT_ERR(enc_script("[k)"), WEFT_EINVAL);   /* key in an array */
    ASSERT_ERR(enc_script("k"), WEFT_EINVAL);     /* key at the root */
    ASSERT_ERR(enc_script(")"), WEFT_EINVAL);     /* unbalanced end */
    ASSERT_ERR(enc_script("[))"), WEFT_EINVAL);   /* unbalanced end */
    ASSERT_ERR(enc_script("[i"), WEFT_EINVAL);    /* unclosed */
    ASSERT_ERR(enc_script("ii"), WEFT_EINVAL);    /* two roots */
    ASSERT_ERR(enc_script("[)i"), WEFT_EINVAL);   /* two roots */
    ASSERT_ERR(enc_script("[N)"), WEFT_EINVAL);   /* NaN */
    ASSERT_ERR(enc_script("[I)"), WEFT_EINVAL);   /* Inf */
    ASSERT_ERR(enc_script("J"), WEFT_EINVAL);     /* -Inf */
    ASSERT_ERR(enc_script("{i)kn"), WEFT_EINVAL); /* sticky */
    char deep[200];
    memset(deep, '[', 64), memset(deep + 64, ')', 64), deep[128] = 0;
    ASSERT_EQ(enc_script(deep), 0);
    memset(deep, '[', 65), memset(deep + 65, ')', 65), deep[130] = 0;
    ASSERT_ERR(enc_script(deep), WEFT_ELIMIT);
    /* the buffer's limit sticks */
    weft_buf b;
    weft_buf_init(&b, 8);
    weft_json_enc e;
    weft_json_enc_init(&e, &b);
    weft_json_enc_str(&e, WEFT_STR("much too long for eight bytes"));
    ASSERT_ERR(weft_json_enc_finish(&e), WEFT_ELIMIT);
    weft_buf_free(&b);
}

static const char *enc_double(weft_buf *b, double d) {
    weft_json_enc e;
    weft_buf_clear(b);
    weft_json_enc_init(&e, b);
    weft_json_enc_double(&e, d);
    return weft_json_enc_finish(&e) == 0 ? b->data : "(error)";
}

TEST_PLAIN(json_enc_doubles) {
    weft_buf b;
    weft_buf_init(&b, 0);
    ASSERT_STREQ(enc_double(&b, 0.1), "0.1");
    ASSERT_STREQ(enc_double(&b, 1.5), "1.5");
    ASSERT_STREQ(enc_double(&b, 2.0), "2.0");
    /* integral values in plain digits, not %g's exponent form ("2e+01") */
    ASSERT_STREQ(enc_double(&b, 20.0), "20.0");
    ASSERT_STREQ(enc_double(&b, 300.0), "300.0");
    ASSERT_STREQ(enc_double(&b, -1000000.0), "-1000000.0");
    ASSERT_STREQ(enc_double(&b, 1e15), "1000000000000000.0");
    ASSERT_STREQ(enc_double(&b, -0.0), "-0.0");
    ASSERT_STREQ(enc_double(&b, 1e300), "1e+300");
    ASSERT_STREQ(enc_double(&b, 1.0 / 3), "0.3333333333333333"); /* 16 digits suffice */
    ASSERT_STREQ(enc_double(&b, 0.1 + 0.2), "0.30000000000000004");
    ASSERT_STREQ(enc_double(&b, 1.7976931348623157e308), "1.7976931348623157e+308");
    ASSERT_STREQ(enc_double(&b, 5e-324), "5e-324"); /* shortest, not 4.94065645841247e-324 */
    ASSERT_STREQ(enc_double(&b, 3.14159), "3.14159");
    ASSERT_STREQ(enc_double(&b, 1e23), "1e+23");
    static const double vals[] = {0.1,
                                  1.0 / 3,
                                  5e-324,
                                  1.7976931348623157e308,
                                  2.2250738585072014e-308,
                                  123456789.123,
                                  -1e-7,
                                  1e21,
                                  9007199254740993.0,
                                  0.0,
                                  -0.0,
                                  3.14159,
                                  1e23,
                                  2.5e-5};
    weft_arena_init(&arena, 0);
    for (size_t i = 0; i < sizeof vals / sizeof *vals; i++) {
        const char *s = enc_double(&b, vals[i]);
        weft_json *r = NULL;
        int rc = parse_s(s, &r, NULL);
        if (rc != 0 || r->type != WEFT_JSON_DOUBLE || memcmp(&r->u.d, &vals[i], sizeof(double))) {
            test__fail(__FILE__, __LINE__, "vals[%zu] = %.17g encoded as %s does not round-trip", i,
                       vals[i], s);
            break;
        }
    }
    weft_arena_free(&arena);
    weft_buf_free(&b);
}

/* ---- round trip --------------------------------------------------------------------- */

TEST_PLAIN(json_round_trip) {
    setup();
    const char *doc =
        " { \"name\" : \"weft \\u00e9\\ud83d\\ude00 \\\"q\\\" \\\\ \\/ \\n\\t\\u0001\\u2028\","
        "\"ints\":[0,-0,1,-1,9223372036854775807,-9223372036854775808],"
        "\"doubles\":[0.1,-0.0,1e300,5e-324,2.5,1E2,-1.5e-10,9223372036854775808],"
        "\"lits\":[true,false,null],\"empty\":{},\"none\":[],"
        "\"nested\":{\"a\":{\"b\":{\"c\":[[[{\"d\":\"\\u0000x\"}]]]}}},"
        "\"\":\"empty key\",\"dup\":1,\"dup\":2,\"utf8\":\"\xe6\x97\xa5\xe6\x9c\xac\" }";
    weft_json *r1, *r2;
    ASSERT_EQ(parse_s(doc, &r1, NULL), 0);
    weft_buf b;
    weft_buf_init(&b, 0);
    weft_json_enc e;
    weft_json_enc_init(&e, &b);
    weft_json_enc_value(&e, r1);
    int rc = weft_json_enc_finish(&e);
    int rc2 = rc == 0 ? parse_n(b.data, b.len, &r2, NULL) : -1;
    int eq = rc2 == 0 && weft_json_equal(r1, r2);
    int has2028 = b.data && strstr(b.data, "\\u2028") != NULL;
    weft_buf_free(&b);
    ASSERT_EQ(rc, 0);
    ASSERT_EQ(rc2, 0);
    ASSERT(eq);
    ASSERT(has2028);
    ASSERT_EQ(r1->len, 11);
    teardown();
}

/* ---- a large flat document exercises the scratch stack's growth ---------------------- */

TEST_PLAIN(json_large_array) {
    setup();
    weft_buf b;
    weft_buf_init(&b, 0);
    weft_buf_appendc(&b, '[');
    for (int i = 0; i < 5000; i++) weft_buf_printf(&b, "%s[%d,{\"k\":%d}]", i ? "," : "", i, -i);
    weft_buf_appendc(&b, ']');
    weft_json *r;
    int rc = parse_n(b.data, b.len, &r, NULL);
    weft_buf_free(&b);
    ASSERT_EQ(rc, 0);
    ASSERT_EQ(r->len, 5000);
    const weft_json *last = weft_json_at(r, 4999);
    ASSERT_EQ(last->len, 2);
    ASSERT_EQ(weft_json_at(last, 0)->u.i, 4999);
    ASSERT_EQ(weft_json_get(weft_json_at(last, 1), "k")->u.i, -4999);
    teardown();
}

TEST_PLAIN(json_equal_and_enc_value_edges) {
    weft_arena a;
    weft_arena_init(&a, 0);
    weft_json *x = NULL, *y = NULL, *z = NULL;
    ASSERT_EQ(weft_json_parse("{\"a\":[1,2.5,\"s\"]}", 17, &a, 0, &x, NULL), 0);
    ASSERT_EQ(weft_json_parse("{\"a\":[1,2.5,\"s\"]}", 17, &a, 0, &y, NULL), 0);
    ASSERT_EQ(weft_json_parse("{\"a\":[1,2.5,\"t\"]}", 17, &a, 0, &z, NULL), 0);
    ASSERT(weft_json_equal(x, y));
    ASSERT(!weft_json_equal(x, z));
    ASSERT(!weft_json_equal(x, NULL));
    ASSERT(weft_json_equal(NULL, NULL));
    weft_buf b;
    weft_buf_init(&b, 0);
    weft_json_enc e;
    weft_json_enc_init(&e, &b);
    weft_json_enc_value(&e, NULL);
    ASSERT_ERR(weft_json_enc_finish(&e), WEFT_EINVAL);
    weft_buf_clear(&b);
    weft_json_enc_init(&e, &b);
    weft_json_enc_value(&e, x);
    ASSERT_EQ(weft_json_enc_finish(&e), 0);
    ASSERT_STREQ(b.data, "{\"a\":[1,2.5,\"s\"]}");
    weft_buf_free(&b);
    weft_arena_free(&a);
}

/* ---- fast paths against the reference (strtod, %.*g) ---------------------------------- */

static uint64_t xs_state = 88172645463325252ull;
static uint64_t xs(void) { /* xorshift64: deterministic */
    xs_state ^= xs_state << 13;
    xs_state ^= xs_state >> 7;
    xs_state ^= xs_state << 17;
    return xs_state;
}

/* Parses s (which must be valid JSON) and checks the result against strtod:
 * the same bits for a double (or the range error strtod's inf means), the
 * exact value for an INT. Returns 1 when they agree. */
static int num_agrees(const char *s) {
    weft_json *r = NULL;
    int rc = parse_s(s, &r, NULL);
    double want = strtod(s, NULL);
    if (isinf(want)) return rc == WEFT_EPARSE;
    if (rc != 0) return 0;
    if (r->type == WEFT_JSON_INT) return strtoll(s, NULL, 10) == r->u.i;
    return r->type == WEFT_JSON_DOUBLE && memcmp(&r->u.d, &want, sizeof want) == 0;
}

/* Clinger / Eisel-Lemire / strtod must agree with strtod bit for bit:
 * random digit strings with random exponents (every path, subnormals,
 * overflow), random doubles printed with 15-17 digits, near-halfway decimals
 * (the exact midpoint of two doubles cut to 16-20 digits, and +-1 in the last
 * digit), canada.json-style %.17g coordinates, and integers of every size. */
TEST_PLAIN(json_numbers_match_strtod) {
    setup();
    char buf[160];
    int bad = 0, checked = 0;
    for (int i = 0; i < 40000 && bad < 5; i++) {
        int kind = (int)(xs() % 4);
        if (kind == 0) {
            int nd = 1 + (int)(xs() % 22), point = (int)(xs() % (size_t)(nd + 1));
            char *p = buf;
            if (xs() & 1) *p++ = '-';
            for (int k = 0; k < nd; k++) {
                if (k == point && k) *p++ = '.';
                int d = (int)(xs() % 10);
                if (k == 0 && d == 0 && nd > 1 && point != 1) d = 1; /* no leading zero */
                *p++ = (char)('0' + d);
            }
            if (xs() & 1) p += sprintf(p, "e%d", (int)(xs() % 720) - 360);
            *p = 0;
        } else if (kind == 1) {
            uint64_t bits = xs();
            double d;
            memcpy(&d, &bits, sizeof d);
            if (!isfinite(d)) continue;
            snprintf(buf, sizeof buf, "%.*e", 14 + (int)(xs() % 3), d);
        } else if (kind == 2) {
            uint64_t bits = xs() >> 1;
            double d;
            memcpy(&d, &bits, sizeof d);
            uint64_t up_bits = bits + 1; /* the next double up (bits >> 1: positive) */
            double up;
            memcpy(&up, &up_bits, sizeof up);
            if (!isfinite(d) || d == 0 || !isfinite(up)) continue;
            long double mid = ((long double)d + (long double)up) / 2; /* exact: 64-bit mantissa */
            snprintf(buf, sizeof buf, "%.*Le", 15 + (int)(xs() % 5), mid);
            char *e = strchr(buf, 'e');
            int bump = (int)(xs() % 3) - 1;
            if (e && bump && e[-1] + bump >= '0' && e[-1] + bump <= '9') e[-1] = (char)(e[-1] + bump);
        } else if (xs() & 1) {
            double v = (double)((int64_t)(xs() % 400000000) - 200000000) / 1e6;
            snprintf(buf, sizeof buf, "%.17g", v);
        } else {
            snprintf(buf, sizeof buf, "%lld", (long long)(xs() >> (xs() % 64)) * (xs() & 1 ? 1 : -1));
        }
        checked++;
        if (!num_agrees(buf)) {
            bad++;
            test__fail(__FILE__, __LINE__, "number \"%s\" differs from strtod", buf);
        }
        if (i % 1000 == 999) {
            weft_arena_reset(&arena);
        }
    }
    ASSERT_GT(checked, 30000);
    /* hand-picked: Clinger's limits, 19/20 digits, Eisel-Lemire's refusals */
    static const char *const picks[] = {
        "9007199254740992.0", "9007199254740993e0", "1e22", "1e23", "8.98846567431158e307",
        "1.7976931348623157e308", "1.7976931348623158e308", "1.7976931348623159e308",
        "2.2250738585072014e-308", "2.225073858507201e-308", "4.9406564584124654e-324",
        "2.4703282292062327e-324", "2.4703282292062328e-324", "1e-324", "0.1e-400", "123456789012345678e-5",
        "1234567890123456789", "12345678901234567890", "-12345678901234567890.5", "0.000000000000000000001234",
        "0.00000000000000000000000000000000000001234567890123456789", "7.2057594037927933e16",
        "3.14159265358979323846264338327950288", "-65.613616999999977", "43.420273000000009",
        "1.00000000000000011102230246251565404236316680908203125", "89255.0e-22", "8.8e-45",
        "12345678", "123456789", "1.2345678", "0.12345678", "1234567.1234567",
    };
    for (size_t i = 0; i < sizeof picks / sizeof picks[0]; i++)
        if (!num_agrees(picks[i])) test__fail(__FILE__, __LINE__, "number \"%s\" differs", picks[i]);
    teardown();
}

/* The reference: how the encoder printed doubles before src/json/dtoa.c
 * (its general path, and what its short-decimal fast path reproduced): an
 * integral value below 2^50 in plain digits and ".0"; otherwise the fewest
 * %.*g digits that strtod back to the same bits (a binary search over 1..17),
 * ".0" when it looks integral. */
static void ref_double(double v, char out[48]) {
    char buf[48];
    if (v == floor(v) && fabs(v) < 0x1p50) {
        snprintf(out, 48, "%.0f.0", v); /* -0.0 prints as "-0" */
        return;
    }
    int lo = 1, hi = 17;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        int k = snprintf(buf, sizeof buf - 2, "%.*g", mid, v); /* %g: at most 24 bytes */
        double back = k > 0 ? strtod(buf, NULL) : 0;
        if (k > 0 && memcmp(&back, &v, sizeof v) == 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    int n = snprintf(buf, sizeof buf - 2, "%.*g", lo, v);
    if (n > 0 && !strpbrk(buf, ".eE")) memcpy(buf + n, ".0", 3);
    memcpy(out, buf, sizeof buf);
}

/* Significant digits of an encoded double: the mantissa's digits without
 * leading and trailing zeros ("0.00120" 2, "20.0" 1, "1.5e+300" 2). */
static int sig_digits(const char *s) {
    char d[48];
    int n = 0, a = 0;
    for (; *s && *s != 'e' && n < 48; s++)
        if (*s >= '0' && *s <= '9') d[n++] = *s;
    while (a < n && d[a] == '0') a++;
    while (n > a && d[n - 1] == '0') n--;
    return n - a;
}

/* Edge values, each spelled out: the printer's boundaries (zeros, the
 * subnormal range and its top, DBL_MIN/DBL_MAX, the 2^50 switch to %g's
 * layout, %g's exponent switch at 1e-5, 2^53 and beyond), powers of 2 and
 * 10, and three powers of two where the old search printed 17 digits (the
 * exact value, or a digit more than needed) and the shortest has 16
 * (src/json/dtoa.c says why). Expected strings come from Python's repr()
 * digits (also shortest-nearest) laid out as the encoder does. */
TEST_PLAIN(json_enc_double_edges) {
    static const struct {
        double v;
        const char *want;
    } cases[] = {
        {0.0, "0.0"},
        {-0.0, "-0.0"},
        {5e-324, "5e-324"},
        {-5e-324, "-5e-324"},
        {0x1.ffffffffffffep-1023, "2.225073858507201e-308"}, /* largest subnormal */
        {DBL_MIN, "2.2250738585072014e-308"},
        {0x1.0000000000001p-1022, "2.225073858507202e-308"}, /* DBL_MIN's next */
        {DBL_MAX, "1.7976931348623157e+308"},
        {-DBL_MAX, "-1.7976931348623157e+308"},
        {0.1, "0.1"},
        {0.3, "0.3"},
        {0.1 + 0.2, "0.30000000000000004"},
        {1.0 / 3, "0.3333333333333333"},
        {2.0 / 3, "0.6666666666666666"},
        {2.5, "2.5"},
        {4.35, "4.35"},
        {123.456, "123.456"},
        {-47.3782121, "-47.3782121"},
        {-65.613616999999977, "-65.61361699999998"},
        {1e-7, "1e-07"},
        {1e-5, "1e-05"},
        {1.5e-5, "1.5e-05"},
        {1e-4, "0.0001"},
        {0.00012, "0.00012"},
        {0.000123456789012345678, "0.00012345678901234567"},
        {1e15, "1000000000000000.0"},
        {0x1p50 - 1, "1125899906842623.0"},
        {0x1p50, "1125899906842624.0"},
        {4503599627370495.5, "4503599627370495.5"},
        {1e16, "1e+16"},
        {0x1p53, "9007199254740992.0"},
        {9007199254740993.0, "9007199254740992.0"}, /* not a double: 2^53 */
        {9007199254740995.0, "9007199254740996.0"},
        {72057594037927933.0, "7.205759403792794e+16"},
        {123456789012345680.0, "1.2345678901234568e+17"},
        {0x1p63, "9.223372036854776e+18"},
        {0x1p64, "1.8446744073709552e+19"},
        {1e21, "1e+21"},
        {1e22, "1e+22"},
        {1e23, "1e+23"},
        {1e300, "1e+300"},
        {1e-300, "1e-300"},
        {1e308, "1e+308"},
        {0x1p-1, "0.5"},
        {0x1p-3, "0.125"},
        {0x1p-1022, "2.2250738585072014e-308"},
        {0x1p1023, "8.98846567431158e+307"},
        {0x1p-24, "5.960464477539063e-08"},    /* search: 5.9604644775390625e-08 */
        {0x1p89, "6.189700196426902e+26"},     /* search: 6.1897001964269014e+26 */
        {0x1p-1017, "7.120236347223045e-307"}, /* search: 7.1202363472230444e-307 */
    };
    weft_buf b;
    weft_buf_init(&b, 0);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *got = enc_double(&b, cases[i].v);
        double back = strtod(got, NULL);
        if (strcmp(got, cases[i].want) != 0 || memcmp(&back, &cases[i].v, sizeof back) != 0)
            test__fail(__FILE__, __LINE__, "cases[%zu] = %a: encoded \"%s\", want \"%s\"", i,
                       cases[i].v, got, cases[i].want);
    }
    weft_buf_free(&b);
}

/* The printer against the old search (ref_double) on 300,000 deterministic
 * doubles: random bit patterns, short decimals, integers, scaled binary
 * fractions, canada-like coordinates (6 decimals after a subtraction: 15-17
 * digits), and before them +-0 and every power of two. "Same" means: the
 * encoder's string reads back (strtod) to the same bits, and it is the
 * reference's string, byte for byte, or has fewer significant digits. Fewer
 * is only possible at a power of two (the narrow lower half of its rounding
 * interval, dtoa.c); 46 powers of two print so, none of the rest. */
TEST_PLAIN(json_enc_double_vs_search) {
    static const double p10[12] = {1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11};
    enum { POW2 = 52 + 2046, RANDOM = 300000 };
    weft_buf b;
    weft_buf_init(&b, 0);
    int bad = 0, shorter = 0, shorter_not_pow2 = 0;
    for (int i = -2; i < POW2 + RANDOM && bad < 5; i++) {
        double v;
        uint64_t bits;
        if (i < 0) {
            v = i == -2 ? 0.0 : -0.0;
        } else if (i < POW2) { /* 2^-1074 .. 2^-1023, then 2^-1022 .. 2^1023 */
            bits = i < 52 ? UINT64_C(1) << i : (uint64_t)(i - 52 + 1) << 52;
            memcpy(&v, &bits, sizeof v);
        } else {
            switch (xs() % 5) {
            case 0:
                bits = xs();
                memcpy(&v, &bits, sizeof v);
                if (!isfinite(v)) continue;
                break;
            case 1:
                v = (double)((int64_t)(xs() % 2000000000) - 1000000000) / p10[xs() % 12];
                break;
            case 2:
                v = (double)(int64_t)(xs() >> (xs() % 64));
                break;
            case 3:
                v = ldexp((double)(xs() >> 11), -(int)(xs() % 80));
                break;
            default:
                v = (double)(xs() % 360000000) / 1e6 - 180.0;
                break;
            }
        }
        char want[48];
        ref_double(v, want);
        const char *got = enc_double(&b, v);
        double back = strtod(got, NULL);
        int ok = memcmp(&back, &v, sizeof v) == 0;
        if (ok && strcmp(got, want) != 0) {
            ok = sig_digits(got) < sig_digits(want);
            if (ok && i < POW2) shorter++;
            if (ok && i >= POW2) shorter_not_pow2++;
        }
        if (!ok) {
            bad++;
            test__fail(__FILE__, __LINE__, "%a: encoded \"%s\", the search \"%s\"", v, got, want);
        }
    }
    ASSERT_EQ(bad, 0);
    ASSERT_EQ(shorter, 46);
    ASSERT_EQ(shorter_not_pow2, 0);
    weft_buf_free(&b);
}

/* The encoder's doubles among other values: separators, -0.0, integral. */
TEST_PLAIN(json_enc_double_in_array) {
    weft_buf b;
    weft_buf_init(&b, 0);
    weft_json_enc e;
    weft_json_enc_init(&e, &b);
    weft_json_enc_array(&e);
    weft_json_enc_int(&e, INT64_MIN);
    weft_json_enc_int(&e, INT64_MAX);
    weft_json_enc_int(&e, 0);
    weft_json_enc_int(&e, -7);
    weft_json_enc_double(&e, 100.0);
    weft_json_enc_double(&e, -0.0);
    weft_json_enc_double(&e, 0.0001);
    weft_json_enc_end(&e);
    ASSERT_EQ(weft_json_enc_finish(&e), 0);
    ASSERT_STREQ(b.data, "[-9223372036854775808,9223372036854775807,0,-7,100.0,-0.0,0.0001]");
    weft_buf_free(&b);
}

/* The 8-bytes-at-a-time string scanners: each special byte at every offset
 * of the first 8-byte words and in the byte-by-byte tail, in strings that
 * end exactly at the end of the input (parse_n copies into an exact-size
 * heap block, so ASan would see an over-read). */
TEST_PLAIN(json_string_swar_offsets) {
    setup();
    static const char *const specials[] = {"\\\"", "\\\\", "\\n", "\\u00e9", "\xc3\xa9",
                                           "\xe2\x80\xa8", "\xf0\x9f\x9a\x8c"};
    static const char *const decoded[] = {"\"", "\\", "\n", "\xc3\xa9", "\xc3\xa9",
                                          "\xe2\x80\xa8", "\xf0\x9f\x9a\x8c"};
    char in[64], want[64];
    for (size_t s = 0; s < sizeof specials / sizeof specials[0]; s++) {
        for (int pre = 0; pre <= 17; pre++) {
            for (int post = 0; post <= 9; post += 3) {
                size_t k = 0, w = 0;
                in[k++] = '"';
                for (int j = 0; j < pre; j++) in[k++] = (char)('a' + j), want[w++] = (char)('a' + j);
                memcpy(in + k, specials[s], strlen(specials[s]));
                k += strlen(specials[s]);
                memcpy(want + w, decoded[s], strlen(decoded[s]));
                w += strlen(decoded[s]);
                for (int j = 0; j < post; j++) in[k++] = 'z', want[w++] = 'z';
                in[k++] = '"';
                weft_json *r = NULL;
                if (parse_n(in, k, &r, NULL) != 0 || r->len != w || memcmp(r->u.s, want, w) != 0 ||
                    r->u.s[w] != 0) {
                    test__fail(__FILE__, __LINE__, "special %zu at %d (+%d) mis-parsed", s, pre, post);
                    continue;
                }
                /* and back: the encoder escapes the same way whatever the offset */
                weft_buf b;
                weft_buf_init(&b, 0);
                weft_json_enc e;
                weft_json_enc_init(&e, &b);
                weft_json_enc_value(&e, r);
                weft_json *r2 = NULL;
                if (weft_json_enc_finish(&e) != 0 || parse_n(b.data, b.len, &r2, NULL) != 0 ||
                    !weft_json_equal(r, r2))
                    test__fail(__FILE__, __LINE__, "special %zu at %d: round trip", s, pre);
                weft_buf_free(&b);
            }
        }
    }
    /* errors found by the word scan report the exact byte */
    for (int pre = 0; pre <= 17; pre++) {
        char bad[40];
        size_t k = 0;
        bad[k++] = '"';
        for (int j = 0; j < pre; j++) bad[k++] = 'x';
        bad[k++] = 0x01;
        bad[k++] = '"';
        ASSERT_EQ(err_at(bad, k), (size_t)pre + 1);
        bad[pre + 1] = (char)0xff;
        ASSERT_EQ(err_at(bad, k), (size_t)pre + 1);
        ASSERT_EQ(err_at(bad, (size_t)pre + 1), (size_t)pre + 1); /* unterminated */
    }
    /* numbers ending exactly at the end of the input, digit runs of every length */
    for (int nd = 1; nd <= 20; nd++) {
        char num[48];
        for (int j = 0; j < nd; j++) num[j] = (char)('1' + j % 9);
        num[nd] = 0;
        ASSERT(num_agrees(num));
        char frac[128];
        snprintf(frac, sizeof frac, "0.%s", num);
        ASSERT(num_agrees(frac));
        snprintf(frac, sizeof frac, "-%s.%se-3", num, num);
        ASSERT(num_agrees(frac));
    }
    teardown();
}

/* weft_json_enc_raw: pre-encoded text is written as one value, with the
 * commas and keys around it tracked as for any other value. */
TEST_PLAIN(json_enc_raw_value) {
    weft_buf b;
    weft_buf_init(&b, 0);
    weft_json_enc e;
    weft_json_enc_init(&e, &b);
    weft_json_enc_array(&e);
    weft_json_enc_raw(&e, WEFT_STR("{\"a\":[1,2]}"));
    weft_json_enc_object(&e);
    weft_json_enc_key(&e, WEFT_STR("k"));
    weft_json_enc_raw(&e, WEFT_STR("true"));
    weft_json_enc_key(&e, WEFT_STR("n"));
    weft_json_enc_int(&e, 3);
    weft_json_enc_end(&e);
    weft_json_enc_end(&e);
    ASSERT_EQ(weft_json_enc_finish(&e), 0);
    ASSERT(strcmp(b.data, "[{\"a\":[1,2]},{\"k\":true,\"n\":3}]") == 0);
    weft_buf_clear(&b);
    weft_json_enc_init(&e, &b);
    weft_json_enc_raw(&e, WEFT_STR(""));
    ASSERT_ERR(weft_json_enc_finish(&e), WEFT_EINVAL);
    weft_buf_free(&b);
}
