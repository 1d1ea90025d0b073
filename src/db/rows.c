/*
 * rows.c — weft_db_rows: the result shape both database backends return,
 * its typed getters, error filling, and timestamp text <-> microseconds.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft/base.h"
#include "db_int.h"

weft_db_rows *weft__rows_new(int ncols, int64_t limit) {
    if (ncols < 0) return NULL;
    weft_db_rows *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->ncols = ncols;
    r->limit = limit;
    r->own_cells = r->own_data = r->own_names = 1;
    if (ncols > 0 && !(r->name_off = calloc((size_t)ncols, sizeof *r->name_off))) {
        free(r);
        return NULL;
    }
    return r;
}

weft_db_rows *weft__rows_new_sized(int ncols, size_t cells, size_t data, int64_t limit) {
    if (ncols < 0) return NULL;
    size_t names = (size_t)ncols * sizeof(size_t);
    size_t cellb = cells * sizeof(weft__db_cell);
    weft_db_rows *r = malloc(sizeof *r + names + cellb + data);
    if (!r) return NULL;
    memset(r, 0, sizeof *r);
    char *p = (char *)(r + 1);
    r->ncols = ncols;
    r->limit = limit;
    r->name_off = (size_t *)(void *)p;
    memset(r->name_off, 0, names);
    r->cells = (weft__db_cell *)(void *)(p + names);
    r->cells_cap = cells;
    r->data = p + names + cellb;
    r->cap = data;
    return r;
}

static int data_add(weft_db_rows *r, const void *p, size_t n, size_t *off) {
    if (r->limit > 0 &&
        (int64_t)(r->len + n + 1 + r->ncells * sizeof(weft__db_cell)) > r->limit)
        return WEFT_ELIMIT;
    if (r->len + n + 1 > r->cap) {
        size_t cap = r->cap ? r->cap : 256;
        while (cap < r->len + n + 1) cap *= 2;
        char *d = r->own_data ? realloc(r->data, cap) : malloc(cap);
        if (!d) return WEFT_ENOMEM;
        if (!r->own_data && r->len) memcpy(d, r->data, r->len);
        r->own_data = 1;
        r->data = d;
        r->cap = cap;
    }
    *off = r->len;
    if (n) memcpy(r->data + r->len, p, n);
    r->data[r->len + n] = 0;
    r->len += n + 1;
    return 0;
}

int weft__rows_set_name(weft_db_rows *r, int col, const char *name, size_t n) {
    if (col < 0 || col >= r->ncols) return WEFT_EINVAL;
    return data_add(r, name, n, &r->name_off[col]);
}

/* Room for k more cells, within the limit. */
static int cells_room(weft_db_rows *r, size_t k) {
    /* numbers and NULLs count too: a result of integers is bounded as well */
    if (r->limit > 0 &&
        (int64_t)(r->len + (r->ncells + k) * sizeof(weft__db_cell)) > r->limit)
        return WEFT_ELIMIT;
    if (r->ncells + k > r->cells_cap) {
        size_t cap = r->cells_cap ? r->cells_cap * 2 : (size_t)r->ncols * 4;
        while (cap < r->ncells + k) cap *= 2;
        weft__db_cell *c = r->own_cells ? realloc(r->cells, cap * sizeof *c) : malloc(cap * sizeof *c);
        if (!c) return WEFT_ENOMEM;
        if (!r->own_cells && r->ncells) memcpy(c, r->cells, r->ncells * sizeof *c);
        r->own_cells = 1;
        r->cells = c;
        r->cells_cap = cap;
    }
    return 0;
}

int weft__rows_reserve_row(weft_db_rows *r) {
    if (r->ncols == 0) return WEFT_EINVAL;
    return cells_room(r, (size_t)r->ncols);
}

int weft__rows_cell(weft_db_rows *r, weft_db_type type, const void *p, size_t n, int64_t i,
                    double d) {
    if (r->ncols == 0) return WEFT_EINVAL;
    if (n > UINT32_MAX) return WEFT_ELIMIT;
    int rc = cells_room(r, 1);
    if (rc) return rc;
    weft__db_cell *c = &r->cells[r->ncells];
    c->type = (uint8_t)type;
    c->len = 0;
    c->off = 0;
    c->v.i = 0;
    switch (type) {
    case WEFT_DB_TTEXT:
    case WEFT_DB_TBLOB:
        if ((rc = data_add(r, p, n, &c->off))) return rc;
        c->len = (uint32_t)n;
        break;
    case WEFT_DB_TDOUBLE: c->v.d = d; break;
    case WEFT_DB_TNULL: break;
    default: c->v.i = i; break;
    }
    r->ncells++;
    if (r->ncells % (size_t)r->ncols == 0) r->nrows++;
    return 0;
}

static const weft__db_cell *cell(const weft_db_rows *r, int row, int col) {
    if (!r || row < 0 || col < 0 || row >= r->nrows || col >= r->ncols) return NULL;
    return &r->cells[(size_t)row * (size_t)r->ncols + (size_t)col];
}

int weft_db_nrows(const weft_db_rows *r) { return r ? r->nrows : 0; }
int weft_db_ncols(const weft_db_rows *r) { return r ? r->ncols : 0; }
int64_t weft_db_affected(const weft_db_rows *r) { return r ? r->affected : 0; }

const char *weft_db_colname(const weft_db_rows *r, int col) {
    if (!r || col < 0 || col >= r->ncols) return NULL;
    return r->data ? r->data + r->name_off[col] : "";
}

int weft_db_isnull(const weft_db_rows *r, int row, int col) {
    const weft__db_cell *c = cell(r, row, col);
    return !c || c->type == WEFT_DB_TNULL;
}

/* (int64_t)d is undefined for NaN and values out of range: clamp instead. */
static int64_t dtoi(double d) {
    if (d != d) return 0;
    if (d >= 9223372036854775807.0) return INT64_MAX;
    if (d <= -9223372036854775808.0) return INT64_MIN;
    return (int64_t)d;
}

int64_t weft_db_int(const weft_db_rows *r, int row, int col) {
    const weft__db_cell *c = cell(r, row, col);
    if (!c) return 0;
    switch (c->type) {
    case WEFT_DB_TINT:
    case WEFT_DB_TBOOL:
    case WEFT_DB_TTIME: return c->v.i;
    case WEFT_DB_TDOUBLE: return dtoi(c->v.d);
    case WEFT_DB_TTEXT: {
        /* the integer at the start of the text ("42", "-7", "42 apples");
         * a number with a fraction or an exponent goes through strtod */
        const char *s = r->data + c->off;
        size_t k = *s == '-' || *s == '+';
        while (k < c->len && s[k] >= '0' && s[k] <= '9') k++;
        if (s[k] == '.' || s[k] == 'e' || s[k] == 'E') return dtoi(strtod(s, NULL));
        int64_t v;
        int rc = weft_str_to_i64((weft_str){s, k}, &v);
        if (rc == WEFT_ERANGE) return *s == '-' ? INT64_MIN : INT64_MAX; /* as dtoi saturates */
        return rc ? 0 : v;
    }
    default: return 0;
    }
}

double weft_db_double(const weft_db_rows *r, int row, int col) {
    const weft__db_cell *c = cell(r, row, col);
    if (!c) return 0;
    switch (c->type) {
    case WEFT_DB_TDOUBLE: return c->v.d;
    case WEFT_DB_TINT:
    case WEFT_DB_TBOOL:
    case WEFT_DB_TTIME: return (double)c->v.i;
    case WEFT_DB_TTEXT: return strtod(r->data + c->off, NULL);
    default: return 0;
    }
}

int weft_db_bool(const weft_db_rows *r, int row, int col) {
    const weft__db_cell *c = cell(r, row, col);
    if (!c) return 0;
    if (c->type == WEFT_DB_TTEXT) {
        const char *s = r->data + c->off;
        return *s == 't' || *s == 'T' || *s == 'y' || *s == 'Y' || (*s >= '1' && *s <= '9');
    }
    return weft_db_int(r, row, col) != 0;
}

const char *weft_db_text(const weft_db_rows *r, int row, int col, size_t *len) {
    const weft__db_cell *c = cell(r, row, col);
    if (len) *len = 0;
    if (!c || (c->type != WEFT_DB_TTEXT && c->type != WEFT_DB_TBLOB)) return NULL;
    if (len) *len = c->len;
    return r->data + c->off;
}

const void *weft_db_blob(const weft_db_rows *r, int row, int col, size_t *len) {
    return weft_db_text(r, row, col, len);
}

int64_t weft_db_time(const weft_db_rows *r, int row, int col) {
    const weft__db_cell *c = cell(r, row, col);
    if (!c) return 0;
    if (c->type == WEFT_DB_TTEXT) {
        int64_t us = 0;
        return weft__db_parse_time(r->data + c->off, c->len, &us) == 0 ? us : 0;
    }
    return weft_db_int(r, row, col);
}

void weft_db_rows_free(weft_db_rows *r) {
    if (!r) return;
    if (r->own_names) free(r->name_off);
    if (r->own_cells) free(r->cells);
    if (r->own_data) free(r->data);
    free(r);
}

int weft_db_err_is_constraint(const weft_db_err *e) {
    return e && e->code == WEFT_EDB && e->sqlstate[0] == '2' && e->sqlstate[1] == '3';
}

void weft__db_err_set(weft_db_err *e, int code, const char *sqlstate, const char *fmt, ...) {
    if (!e) return;
    e->code = code;
    e->sqlstate[0] = 0;
    if (sqlstate) {
        snprintf(e->sqlstate, sizeof e->sqlstate, "%s", sqlstate);
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    /* server messages end with a newline; the caller prints its own */
    size_t n = strlen(e->msg);
    while (n && (e->msg[n - 1] == '\n' || e->msg[n - 1] == ' ')) e->msg[--n] = 0;
}

/* ---- timestamps ----------------------------------------------------------- */

/* Exactly n (<= 4) digits at s, no sign. */
static int digits(const char *s, const char *end, int n, int *out) {
    uint64_t v;
    if (end - s < n || weft_str_to_u64((weft_str){s, (size_t)n}, &v)) return -1;
    *out = (int)v;
    return 0;
}

int weft__db_parse_time(const char *s, size_t n, int64_t *us) {
    const char *p = s, *end = s + n;
    int Y, M, D, h = 0, m = 0, sec = 0;
    if (digits(p, end, 4, &Y) || end - p < 10 || p[4] != '-' || digits(p + 5, end, 2, &M) ||
        p[7] != '-' || digits(p + 8, end, 2, &D))
        return WEFT_EPARSE;
    p += 10;
    static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (M < 1 || M > 12 || D < 1 || D > mdays[M - 1]) return WEFT_EPARSE;
    if (M == 2 && D == 29 && (Y % 4 != 0 || (Y % 100 == 0 && Y % 400 != 0))) return WEFT_EPARSE;
    int64_t frac = 0;
    if (p < end && (*p == ' ' || *p == 'T')) {
        if (digits(p + 1, end, 2, &h) || end - p < 9 || p[3] != ':' || digits(p + 4, end, 2, &m) ||
            p[6] != ':' || digits(p + 7, end, 2, &sec))
            return WEFT_EPARSE;
        p += 9;
        if (h > 24 || m > 59 || sec > 60) return WEFT_EPARSE;
        if (p < end && *p == '.') {
            const char *f = ++p;
            while (p < end && *p >= '0' && *p <= '9') p++;
            size_t nd = (size_t)(p - f); /* microseconds: digits past 6 are cut */
            uint64_t fr;
            if (nd == 0 || weft_str_to_u64((weft_str){f, nd < 6 ? nd : 6}, &fr)) return WEFT_EPARSE;
            frac = (int64_t)fr;
            for (; nd < 6; nd++) frac *= 10;
        }
    }
    int64_t off = 0;
    if (p < end && (*p == '+' || *p == '-')) {
        int sign = *p == '-' ? -1 : 1, oh, om = 0, os = 0;
        p++;
        if (digits(p, end, 2, &oh)) return WEFT_EPARSE;
        p += 2;
        if (p < end && *p == ':') {
            if (digits(p + 1, end, 2, &om)) return WEFT_EPARSE;
            p += 3;
            if (p < end && *p == ':') {
                if (digits(p + 1, end, 2, &os)) return WEFT_EPARSE;
                p += 3;
            }
        }
        off = sign * ((int64_t)oh * 3600 + om * 60 + os);
    } else if (p < end && *p == 'Z') {
        p++;
    }
    if (p != end) return WEFT_EPARSE;
    int64_t days = weft_days_from_civil(Y, (unsigned)M, (unsigned)D);
    int64_t secs = days * 86400 + (int64_t)h * 3600 + m * 60 + sec - off;
    *us = secs * 1000000 + frac;
    return 0;
}

int weft__db_format_time(int64_t us, char *buf) {
    int64_t secs = us / 1000000, frac = us % 1000000;
    if (frac < 0) {
        frac += 1000000;
        secs--;
    }
    int64_t days = secs / 86400, rem = secs % 86400;
    if (rem < 0) {
        rem += 86400;
        days--;
    }
    int64_t y;
    unsigned mo, d;
    weft_civil_from_days(days, &y, &mo, &d);
    return snprintf(buf, 40, "%04lld-%02u-%02u %02d:%02d:%02d.%06d+00", (long long)y, mo, d, (int)(rem / 3600),
                    (int)(rem / 60 % 60), (int)(rem % 60), (int)frac);
}
