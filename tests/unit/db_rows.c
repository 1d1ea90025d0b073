/*
 * tests/unit/db_rows.c — the backend-neutral half of src/db (rows.c): the
 * rows builder and its limit, every typed getter on every cell type (and on
 * out-of-range indexes), PostgreSQL-style text cells, error filling, and
 * timestamp text <-> microseconds: round trips (negative times too),
 * fractions, 'T' / 'Z', offsets such as +05:30 and -08, calendar checks,
 * and malformed input refused with WEFT_EPARSE.
 *
 * Nothing here needs a runtime: every test is TEST_PLAIN.
 */
#include "test.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <time.h>

#include "db/db_int.h"

/* ---- builder and getters ----------------------------------------------------- */

static int add_int(weft_db_rows *r, int64_t v) {
    return weft__rows_cell(r, WEFT_DB_TINT, NULL, 0, v, 0);
}
static int add_text(weft_db_rows *r, const char *s) {
    return weft__rows_cell(r, WEFT_DB_TTEXT, s, strlen(s), 0, 0);
}

TEST_PLAIN(rows_new_and_names) {
    ASSERT(weft__rows_new(-1, 0) == NULL);
    weft_db_rows *r = weft__rows_new(3, 0);
    ASSERT(r != NULL);
    ASSERT_EQ(weft_db_ncols(r), 3);
    ASSERT_EQ(weft_db_nrows(r), 0);
    ASSERT_EQ(weft_db_affected(r), 0);
    ASSERT_ERR(weft__rows_set_name(r, 0, "id", 2), 0);
    ASSERT_ERR(weft__rows_set_name(r, 1, "name_and_more", 4), 0); /* n bytes only */
    ASSERT_ERR(weft__rows_set_name(r, 2, "", 0), 0);
    ASSERT_ERR(weft__rows_set_name(r, 3, "x", 1), WEFT_EINVAL);
    ASSERT_ERR(weft__rows_set_name(r, -1, "x", 1), WEFT_EINVAL);
    ASSERT_STREQ(weft_db_colname(r, 0), "id");
    ASSERT_STREQ(weft_db_colname(r, 1), "name");
    ASSERT_STREQ(weft_db_colname(r, 2), "");
    ASSERT(weft_db_colname(r, 3) == NULL);
    ASSERT(weft_db_colname(r, -1) == NULL);
    /* a row is complete only once all its cells are in */
    ASSERT_ERR(add_int(r, 1), 0);
    ASSERT_ERR(add_int(r, 2), 0);
    ASSERT_EQ(weft_db_nrows(r), 0);
    ASSERT_ERR(add_int(r, 3), 0);
    ASSERT_EQ(weft_db_nrows(r), 1);
    ASSERT_EQ(weft_db_int(r, 0, 2), 3);
    weft_db_rows_free(r);

    /* zero columns: a result without rows (an UPDATE's) */
    r = weft__rows_new(0, 0);
    ASSERT(r != NULL);
    ASSERT_ERR(add_int(r, 1), WEFT_EINVAL);
    ASSERT_EQ(weft_db_nrows(r), 0);
    ASSERT(weft_db_colname(r, 0) == NULL);
    r->affected = 7;
    ASSERT_EQ(weft_db_affected(r), 7);
    weft_db_rows_free(r);
    weft_db_rows_free(NULL);
}

TEST_PLAIN(rows_getters_every_type) {
    enum { NC = 8 };
    weft_db_rows *r = weft__rows_new(NC, 0);
    ASSERT(r != NULL);
    static const unsigned char blob[] = {0, 1, 2, 0xff, 0, 0x80};
    const char nul_text[] = {'a', 0, 'b'};
    /* row 0: one cell of each type */
    ASSERT_ERR(weft__rows_cell(r, WEFT_DB_TNULL, NULL, 0, 0, 0), 0);
    ASSERT_ERR(weft__rows_cell(r, WEFT_DB_TINT, NULL, 0, INT64_MIN, 0), 0);
    ASSERT_ERR(weft__rows_cell(r, WEFT_DB_TDOUBLE, NULL, 0, 0, -2.75), 0);
    ASSERT_ERR(weft__rows_cell(r, WEFT_DB_TTEXT, "h\xc3\xa9llo \xe2\x9c\x93", 10, 0, 0), 0);
    ASSERT_ERR(weft__rows_cell(r, WEFT_DB_TBLOB, blob, sizeof blob, 0, 0), 0);
    ASSERT_ERR(weft__rows_cell(r, WEFT_DB_TBOOL, NULL, 0, 1, 0), 0);
    ASSERT_ERR(weft__rows_cell(r, WEFT_DB_TTIME, NULL, 0, -1234567890123456, 0), 0);
    ASSERT_ERR(weft__rows_cell(r, WEFT_DB_TTEXT, nul_text, sizeof nul_text, 0, 0), 0);
    /* row 1: extremes and empties */
    ASSERT_ERR(weft__rows_cell(r, WEFT_DB_TTEXT, "", 0, 0, 0), 0);
    ASSERT_ERR(weft__rows_cell(r, WEFT_DB_TINT, NULL, 0, INT64_MAX, 0), 0);
    ASSERT_ERR(weft__rows_cell(r, WEFT_DB_TDOUBLE, NULL, 0, 0, DBL_MAX), 0);
    ASSERT_ERR(weft__rows_cell(r, WEFT_DB_TTEXT, NULL, 0, 0, 0), 0);
    ASSERT_ERR(weft__rows_cell(r, WEFT_DB_TBLOB, NULL, 0, 0, 0), 0);
    ASSERT_ERR(weft__rows_cell(r, WEFT_DB_TBOOL, NULL, 0, 0, 0), 0);
    ASSERT_ERR(weft__rows_cell(r, WEFT_DB_TTIME, NULL, 0, 0, 0), 0);
    ASSERT_ERR(weft__rows_cell(r, WEFT_DB_TDOUBLE, NULL, 0, 0, NAN), 0);
    ASSERT_EQ(weft_db_nrows(r), 2);
    ASSERT_EQ(weft_db_ncols(r), NC);

    size_t n = 99;
    /* NULL */
    ASSERT(weft_db_isnull(r, 0, 0));
    ASSERT_EQ(weft_db_int(r, 0, 0), 0);
    ASSERT(weft_db_double(r, 0, 0) == 0);
    ASSERT_EQ(weft_db_bool(r, 0, 0), 0);
    ASSERT(weft_db_text(r, 0, 0, &n) == NULL);
    ASSERT_EQ(n, 0);
    ASSERT_EQ(weft_db_time(r, 0, 0), 0);
    /* INT */
    ASSERT(!weft_db_isnull(r, 0, 1));
    ASSERT_EQ(weft_db_int(r, 0, 1), INT64_MIN);
    ASSERT(weft_db_double(r, 0, 1) == (double)INT64_MIN);
    ASSERT_EQ(weft_db_bool(r, 0, 1), 1);
    ASSERT(weft_db_text(r, 0, 1, NULL) == NULL); /* no implicit formatting */
    ASSERT_EQ(weft_db_int(r, 1, 1), INT64_MAX);
    /* DOUBLE */
    ASSERT(weft_db_double(r, 0, 2) == -2.75);
    ASSERT_EQ(weft_db_int(r, 0, 2), -2); /* truncated like a C cast */
    ASSERT_EQ(weft_db_bool(r, 0, 2), 1);
    ASSERT(weft_db_double(r, 1, 2) == DBL_MAX);
    ASSERT_EQ(weft_db_int(r, 1, 2), INT64_MAX); /* clamped, not undefined */
    ASSERT_EQ(weft_db_int(r, 1, 7), 0);         /* NaN */
    ASSERT(isnan(weft_db_double(r, 1, 7)));
    /* TEXT, UTF-8 */
    const char *t = weft_db_text(r, 0, 3, &n);
    ASSERT(t != NULL);
    ASSERT_EQ(n, 10);
    ASSERT_STREQ(t, "h\xc3\xa9llo \xe2\x9c\x93");
    ASSERT_EQ(t[n], 0); /* NUL-terminated */
    /* BLOB: bytes, NULs included, also through weft_db_text */
    const unsigned char *b = weft_db_blob(r, 0, 4, &n);
    ASSERT(b != NULL);
    ASSERT_EQ(n, sizeof blob);
    ASSERT_MEMEQ(b, blob, sizeof blob);
    ASSERT(weft_db_text(r, 0, 4, NULL) == (const char *)b);
    /* BOOL, TIME */
    ASSERT_EQ(weft_db_bool(r, 0, 5), 1);
    ASSERT_EQ(weft_db_int(r, 0, 5), 1);
    ASSERT_EQ(weft_db_bool(r, 1, 5), 0);
    ASSERT_EQ(weft_db_time(r, 0, 6), -1234567890123456);
    ASSERT_EQ(weft_db_int(r, 0, 6), -1234567890123456);
    ASSERT_EQ(weft_db_time(r, 1, 6), 0);
    ASSERT(!weft_db_isnull(r, 1, 6));
    /* text with an embedded NUL keeps its length */
    t = weft_db_text(r, 0, 7, &n);
    ASSERT_EQ(n, 3);
    ASSERT_MEMEQ(t, nul_text, 3);
    /* empty text and empty blob are not NULL */
    t = weft_db_text(r, 1, 0, &n);
    ASSERT(t != NULL);
    ASSERT_EQ(n, 0);
    ASSERT_STREQ(t, "");
    ASSERT(!weft_db_isnull(r, 1, 0));
    ASSERT(weft_db_text(r, 1, 3, &n) != NULL);
    ASSERT_EQ(n, 0);
    ASSERT(weft_db_blob(r, 1, 4, &n) != NULL);
    ASSERT_EQ(n, 0);
    ASSERT(!weft_db_isnull(r, 1, 4));

    /* out of range: 0 / NULL, and isnull says so */
    int bad[][2] = {{-1, 0}, {2, 0}, {0, -1}, {0, NC}, {INT32_MAX, 0}, {0, INT32_MIN}};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        int row = bad[k][0], col = bad[k][1];
        n = 99;
        ASSERT(weft_db_isnull(r, row, col));
        ASSERT_EQ(weft_db_int(r, row, col), 0);
        ASSERT(weft_db_double(r, row, col) == 0);
        ASSERT_EQ(weft_db_bool(r, row, col), 0);
        ASSERT_EQ(weft_db_time(r, row, col), 0);
        ASSERT(weft_db_text(r, row, col, &n) == NULL);
        ASSERT_EQ(n, 0);
        ASSERT(weft_db_blob(r, row, col, NULL) == NULL);
    }
    weft_db_rows_free(r);

    /* a NULL result reads as empty */
    ASSERT_EQ(weft_db_nrows(NULL), 0);
    ASSERT_EQ(weft_db_ncols(NULL), 0);
    ASSERT_EQ(weft_db_affected(NULL), 0);
    ASSERT(weft_db_isnull(NULL, 0, 0));
    ASSERT_EQ(weft_db_int(NULL, 0, 0), 0);
    ASSERT(weft_db_text(NULL, 0, 0, NULL) == NULL);
    ASSERT(weft_db_colname(NULL, 0) == NULL);
}

/* PostgreSQL sends every value as text; the getters convert. */
TEST_PLAIN(rows_text_cells_convert) {
    static const struct {
        const char *s;
        int64_t i;
        double d;
        int b;
    } cases[] = {
        {"0", 0, 0, 0},
        {"42", 42, 42, 1},
        {"-17", -17, -17, 0},
        {"9223372036854775807", INT64_MAX, 9223372036854775807.0, 1},
        {"-9223372036854775808", INT64_MIN, -9223372036854775808.0, 0},
        {"3.75", 3, 3.75, 1},
        {"-3.75", -3, -3.75, 0},
        {"1e3", 1000, 1000, 1},
        {"2.5E2", 250, 250, 1},
        {"1e300", INT64_MAX, 1e300, 1},
        {"t", 0, 0, 1},
        {"true", 0, 0, 1},
        {"f", 0, 0, 0},
        {"false", 0, 0, 0},
        {"", 0, 0, 0},
        /* past the int64 range the integer saturates, as a double does */
        {"12345678901234567890", INT64_MAX, 12345678901234567890.0, 1},
        {"-12345678901234567890", INT64_MIN, -12345678901234567890.0, 0},
        {"9223372036854775808", INT64_MAX, 9223372036854775808.0, 1},
        /* the integer at the start of the text; a sign alone is no number */
        {"42 apples", 42, 42, 1},
        {"+5", 5, 5, 0},
        {"-", 0, 0, 0},
        {"x1", 0, 0, 0},
    };
    size_t nc = sizeof cases / sizeof cases[0];
    weft_db_rows *r = weft__rows_new(1, 0);
    ASSERT(r != NULL);
    for (size_t k = 0; k < nc; k++) ASSERT_ERR(add_text(r, cases[k].s), 0);
    ASSERT_EQ(weft_db_nrows(r), (int)nc);
    for (size_t k = 0; k < nc; k++) {
        int row = (int)k;
        if (weft_db_int(r, row, 0) != cases[k].i || weft_db_double(r, row, 0) != cases[k].d ||
            weft_db_bool(r, row, 0) != cases[k].b) {
            test__fail(__FILE__, __LINE__, "\"%s\": int %lld double %g bool %d", cases[k].s,
                       (long long)weft_db_int(r, row, 0), weft_db_double(r, row, 0),
                       weft_db_bool(r, row, 0));
            return;
        }
    }
    weft_db_rows_free(r);

    /* timestamptz as text */
    r = weft__rows_new(1, 0);
    ASSERT(r != NULL);
    ASSERT_ERR(add_text(r, "1970-01-01 00:00:01.5+00"), 0);
    ASSERT_ERR(add_text(r, "not a time"), 0);
    ASSERT_EQ(weft_db_time(r, 0, 0), 1500000);
    ASSERT_EQ(weft_db_time(r, 1, 0), 0);
    weft_db_rows_free(r);
}

TEST_PLAIN(rows_limit) {
    /* the limit counts text bytes (+1 NUL each) and cells */
    weft_db_rows *r = weft__rows_new(1, 1000);
    ASSERT(r != NULL);
    char big[2000];
    memset(big, 'x', sizeof big);
    ASSERT_ERR(weft__rows_cell(r, WEFT_DB_TTEXT, big, 1000, 0, 0), WEFT_ELIMIT);
    ASSERT_EQ(weft_db_nrows(r), 0);
    ASSERT_ERR(weft__rows_cell(r, WEFT_DB_TTEXT, big, 500, 0, 0), 0);
    ASSERT_ERR(weft__rows_cell(r, WEFT_DB_TBLOB, big, 600, 0, 0), WEFT_ELIMIT);
    ASSERT_EQ(weft_db_nrows(r), 1);
    size_t n;
    ASSERT(weft_db_text(r, 0, 0, &n) != NULL);
    ASSERT_EQ(n, 500);
    weft_db_rows_free(r);

    /* many small cells reach it too: a result cannot grow without bound */
    r = weft__rows_new(2, 4096);
    ASSERT(r != NULL);
    int rc = 0, k;
    for (k = 0; k < 100000 && rc == 0; k++) rc = add_text(r, "abc");
    ASSERT_ERR(rc, WEFT_ELIMIT);
    ASSERT_LT(k, 4096);
    ASSERT_LE((int64_t)(r->len + r->ncells * sizeof(weft__db_cell)), 4096);
    weft_db_rows_free(r);
    /* ... numbers and NULLs as well */
    r = weft__rows_new(3, 4096);
    ASSERT(r != NULL);
    rc = 0;
    for (k = 0; k < 100000 && rc == 0; k++) {
        rc = k % 3 == 1 ? weft__rows_cell(r, WEFT_DB_TNULL, NULL, 0, 0, 0) : add_int(r, k);
    }
    ASSERT_ERR(rc, WEFT_ELIMIT);
    ASSERT_LE((int64_t)(r->ncells * sizeof(weft__db_cell)), 4096);
    ASSERT_GE((int64_t)((r->ncells + 1) * sizeof(weft__db_cell)), 4096);
    weft_db_rows_free(r);

    /* no limit */
    r = weft__rows_new(1, 0);
    ASSERT(r != NULL);
    ASSERT_ERR(weft__rows_cell(r, WEFT_DB_TBLOB, big, sizeof big, 0, 0), 0);
    /* a cell longer than 4 GiB cannot be described; refused before reading p */
    ASSERT_ERR(weft__rows_cell(r, WEFT_DB_TBLOB, big, (size_t)UINT32_MAX + 1, 0, 0), WEFT_ELIMIT);
    ASSERT_EQ(weft_db_nrows(r), 1);
    weft_db_rows_free(r);
}

/* ---- errors ----------------------------------------------------------------------- */

TEST_PLAIN(rows_errors) {
    weft_db_err e;
    weft__db_err_set(&e, WEFT_EDB, "23505", "duplicate key value \"%s\"\n \n", "k");
    ASSERT_EQ(e.code, WEFT_EDB);
    ASSERT_STREQ(e.sqlstate, "23505");
    ASSERT_STREQ(e.msg, "duplicate key value \"k\""); /* trailing newline and spaces go */
    ASSERT(weft_db_err_is_constraint(&e));
    weft__db_err_set(&e, WEFT_EDB, "23000", "sqlite constraint");
    ASSERT(weft_db_err_is_constraint(&e));
    weft__db_err_set(&e, WEFT_EDB, "42601", "syntax error");
    ASSERT(!weft_db_err_is_constraint(&e));
    weft__db_err_set(&e, WEFT_EDB, NULL, "no state");
    ASSERT_STREQ(e.sqlstate, "");
    ASSERT(!weft_db_err_is_constraint(&e));
    /* class 23 counts only for a database error */
    weft__db_err_set(&e, WEFT_ETIMEDOUT, "23505", "odd");
    ASSERT(!weft_db_err_is_constraint(&e));
    ASSERT(!weft_db_err_is_constraint(NULL));
    /* an over-long SQLSTATE and message are cut, still terminated */
    weft__db_err_set(&e, WEFT_EDB, "1234567", "%0300d", 7);
    ASSERT_STREQ(e.sqlstate, "12345");
    ASSERT_EQ(strlen(e.msg), sizeof e.msg - 1);
    weft__db_err_set(NULL, WEFT_EDB, NULL, "ignored");
    weft__db_err_clear(&e);
    ASSERT_EQ(e.code, 0);
    ASSERT_STREQ(e.sqlstate, "");
    ASSERT_STREQ(e.msg, "");
    weft__db_err_clear(NULL);
}

/* ---- timestamps ---------------------------------------------------------------------- */

/* Microseconds from broken-down UTC time, by the C library (an independent
 * calendar), for the expected values. */
static int64_t utc_us(int y, int mo, int d, int h, int mi, int s, int64_t frac_us) {
    struct tm tm = {0};
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s;
    return (int64_t)timegm(&tm) * 1000000 + frac_us;
}

static int parse(const char *s, int64_t *us) { return weft__db_parse_time(s, strlen(s), us); }

TEST_PLAIN(time_parse_forms) {
    static const struct {
        const char *s;
        int64_t want;
    } ok[] = {
        {"1970-01-01 00:00:00+00", 0},
        {"1970-01-01", 0},
        {"1970-01-01 00:00:00", 0},
        {"1970-01-01T00:00:00Z", 0},
        {"1970-01-01 00:00:00.000001+00", 1},
        {"1969-12-31 23:59:59.999999+00", -1},
        {"1969-12-31 23:59:59+00", -1000000},
        {"1969-12-31 23:59:59.5", -500000},
        {"1970-01-01 01:00:00+01", 0},
        {"1969-12-31 16:00:00-08", 0},
        {"1969-12-31 16:00:00-08:00", 0},
        {"1970-01-01 05:30:00+05:30", 0},
        {"1970-01-01 05:30:15+05:30:15", 0},
        {"1970-01-01 00:00:00.5", 500000},
        {"1970-01-01 00:00:00.05", 50000},
        {"1970-01-01 00:00:00.123456789", 123456}, /* beyond µs: truncated */
        {"1970-01-01T00:00:00.25Z", 250000},
    };
    for (size_t k = 0; k < sizeof ok / sizeof ok[0]; k++) {
        int64_t us = 12345;
        int rc = parse(ok[k].s, &us);
        if (rc != 0 || us != ok[k].want) {
            test__fail(__FILE__, __LINE__, "\"%s\": rc %d, %lld (want %lld)", ok[k].s, rc,
                       (long long)us, (long long)ok[k].want);
            return;
        }
    }

    /* against the C library's calendar */
    int64_t us;
    ASSERT_ERR(parse("2026-11-22 11:34:41.709+01", &us), 0);
    ASSERT_EQ(us, utc_us(2026, 11, 22, 10, 34, 41, 709000));
    int64_t same;
    ASSERT_ERR(parse("2026-11-22T10:34:41.709Z", &same), 0);
    ASSERT_EQ(same, us);
    ASSERT_ERR(parse("2026-11-22 16:04:41.709+05:30", &same), 0);
    ASSERT_EQ(same, us);
    ASSERT_ERR(parse("2026-11-22 02:34:41.709-08", &same), 0);
    ASSERT_EQ(same, us);
    ASSERT_ERR(parse("1900-01-01 00:00:00+00", &us), 0);
    ASSERT_EQ(us, utc_us(1900, 1, 1, 0, 0, 0, 0));
    ASSERT_ERR(parse("0001-01-01 00:00:00+00", &us), 0);
    ASSERT_EQ(us, -62135596800000000);
    ASSERT_ERR(parse("9999-12-31 23:59:59.999999+00", &us), 0);
    ASSERT_EQ(us, 253402300799999999);
    /* leap days */
    ASSERT_ERR(parse("2024-02-29", &us), 0);
    ASSERT_EQ(us, utc_us(2024, 2, 29, 0, 0, 0, 0));
    ASSERT_ERR(parse("2000-02-29 12:00:00", &us), 0);
    ASSERT_EQ(us, utc_us(2000, 2, 29, 12, 0, 0, 0));
    /* a date crossing midnight through its offset */
    ASSERT_ERR(parse("2026-01-01 00:30:00+01", &us), 0);
    ASSERT_EQ(us, utc_us(2025, 12, 31, 23, 30, 0, 0));

    /* n bounds the input: the rest of the buffer is never read */
    const char buf[] = "2026-11-22 11:34:41+01GARBAGE";
    ASSERT_ERR(weft__db_parse_time(buf, 22, &us), 0);
    ASSERT_EQ(us, utc_us(2026, 11, 22, 10, 34, 41, 0));
    ASSERT_ERR(weft__db_parse_time(buf, 10, &us), 0);
    ASSERT_EQ(us, utc_us(2026, 11, 22, 0, 0, 0, 0));
    ASSERT_ERR(weft__db_parse_time(buf, 23, &us), WEFT_EPARSE);
}

TEST_PLAIN(time_parse_rejects_malformed) {
    static const char *bad[] = {
        "",
        "2026",
        "2026-11",
        "2026-11-2",
        "26-11-22",
        "2026-1-22",
        "2026/11/22",
        "2026-11-22x",
        "2026-11-22 ",
        "2026-11-22T",
        "2026-11-22 11",
        "2026-11-22 11:34",
        "2026-11-22 11:34:4",
        "2026-11-22 11-34-41",
        "2026-11-22 11:34:41.",
        "2026-11-22 11:34:41.x",
        "2026-11-22 11:34:41+",
        "2026-11-22 11:34:41+1",
        "2026-11-22 11:34:41+01:",
        "2026-11-22 11:34:41+01:3",
        "2026-11-22 11:34:41+01:30:",
        "2026-11-22 11:34:41 +01",
        "2026-11-22 11:34:41Zjunk",
        "2026-11-22 11:34:41+01 BC",
        "abcd-11-22",
        /* a sign where a fixed-width field's digits belong */
        "+026-11-22",
        "-026-11-22",
        "2026-+1-22",
        "2026-11--2",
        "2026-11-22 +1:34:41",
        "2026-11-22 11:34:-1",
        "2026-11-22 11:34:41+-1",
        "2026-11-22 11:34:41.-5",
        "2026-ab-22",
        "2026-00-10",
        "2026-13-10",
        "2026-11-00",
        "2026-11-31",
        "2026-01-32",
        "2023-02-29",
        "1900-02-29",
        "2026-02-30",
        "2026-11-22 25:00:00",
        "2026-11-22 11:60:00",
        "2026-11-22 11:34:61",
        " 2026-11-22",
        "-2026-11-22",
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        int64_t us = 777;
        int rc = parse(bad[k], &us);
        if (rc != WEFT_EPARSE) {
            test__fail(__FILE__, __LINE__, "\"%s\" accepted (rc %d, %lld)", bad[k], rc,
                       (long long)us);
            return;
        }
    }
}

TEST_PLAIN(time_format) {
    char buf[64];
    int n = weft__db_format_time(0, buf);
    ASSERT_STREQ(buf, "1970-01-01 00:00:00.000000+00");
    ASSERT_EQ(n, (int)strlen(buf));
    weft__db_format_time(-1, buf);
    ASSERT_STREQ(buf, "1969-12-31 23:59:59.999999+00");
    weft__db_format_time(-1000000, buf);
    ASSERT_STREQ(buf, "1969-12-31 23:59:59.000000+00");
    weft__db_format_time(-1000001, buf);
    ASSERT_STREQ(buf, "1969-12-31 23:59:58.999999+00");
    weft__db_format_time(utc_us(2026, 11, 22, 10, 34, 41, 709000), buf);
    ASSERT_STREQ(buf, "2026-11-22 10:34:41.709000+00");
    weft__db_format_time(utc_us(2024, 2, 29, 23, 59, 59, 1), buf);
    ASSERT_STREQ(buf, "2024-02-29 23:59:59.000001+00");
    weft__db_format_time(-62135596800000000, buf);
    ASSERT_STREQ(buf, "0001-01-01 00:00:00.000000+00");
    n = weft__db_format_time(253402300799999999, buf);
    ASSERT_STREQ(buf, "9999-12-31 23:59:59.999999+00");
    ASSERT_LT(n, 40);
}

TEST_PLAIN(time_round_trip) {
    /* format -> parse gives the same microsecond across years 1..9999 */
    const int64_t lo = -62135596800000000, hi = 253402300799999999;
    uint64_t x = 0x9e3779b97f4a7c15ull;
    char buf[64];
    int64_t special[] = {0, -1, 1, -999999, -1000000, -1000001, 86399999999, -86400000000,
                         lo, hi, utc_us(1969, 12, 31, 23, 59, 59, 999999)};
    for (size_t k = 0; k < sizeof special / sizeof special[0]; k++) {
        int64_t back = 0;
        weft__db_format_time(special[k], buf);
        ASSERT_ERR(parse(buf, &back), 0);
        ASSERT_EQ(back, special[k]);
    }
    long iters = test_scale_min(200000, 2000);
    for (long k = 0; k < iters; k++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        int64_t us = lo + (int64_t)(x % (uint64_t)(hi - lo));
        int64_t back = 0;
        int n = weft__db_format_time(us, buf);
        if (n != 29 || parse(buf, &back) != 0 || back != us) {
            test__fail(__FILE__, __LINE__, "%lld -> \"%s\" -> %lld", (long long)us, buf,
                       (long long)back);
            return;
        }
        /* and the same instant written with an offset */
        char alt[64];
        memcpy(alt, buf, 26);
        alt[10] = 'T';
        strcpy(alt + 26, "Z");
        if (parse(alt, &back) != 0 || back != us) {
            test__fail(__FILE__, __LINE__, "\"%s\" -> %lld, want %lld", alt, (long long)back,
                       (long long)us);
            return;
        }
    }
}
