/* apps/fleet/isotime.c — see isotime.h. */
#include "isotime.h"

#include <stdio.h>
#include <time.h>

int64_t fleet_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int digits(const char **p, const char *end, int n, int *out) {
    int v = 0;
    for (int i = 0; i < n; i++, (*p)++) {
        if (*p >= end || **p < '0' || **p > '9') return 0;
        v = v * 10 + (**p - '0');
    }
    *out = v;
    return 1;
}

static int month_days(int64_t y, unsigned m) {
    static const int md[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return md[m - 1] + (m == 2 && leap);
}

int fleet_time_parse(weft_str s, int64_t *ms) {
    s = weft_str_trim(s);
    if (s.n == 0) return WEFT_EPARSE;
    size_t nd = 0;
    while (nd < s.n && s.p[nd] >= '0' && s.p[nd] <= '9') nd++;
    if (nd == s.n) { /* Unix time */
        int64_t v;
        if (nd > 15 || weft_str_to_i64(s, &v) != 0) return WEFT_EPARSE;
        *ms = nd >= 12 ? v : v * 1000;
        return 0;
    }
    const char *p = s.p, *end = s.p + s.n;
    int y, mo, d, h, mi, sec;
    if (!digits(&p, end, 4, &y) || p >= end || *p++ != '-' || !digits(&p, end, 2, &mo) ||
        p >= end || *p++ != '-' || !digits(&p, end, 2, &d))
        return WEFT_EPARSE;
    if (p >= end || (*p != 'T' && *p != 't' && *p != ' ')) return WEFT_EPARSE;
    p++;
    if (!digits(&p, end, 2, &h) || p >= end || *p++ != ':' || !digits(&p, end, 2, &mi) ||
        p >= end || *p++ != ':' || !digits(&p, end, 2, &sec))
        return WEFT_EPARSE;
    int frac_ms = 0;
    if (p < end && (*p == '.' || *p == ',')) {
        p++;
        int nf = 0;
        while (p < end && *p >= '0' && *p <= '9') {
            if (nf < 3) frac_ms = frac_ms * 10 + (*p - '0');
            nf++, p++;
        }
        if (nf == 0) return WEFT_EPARSE;
        for (; nf < 3; nf++) frac_ms *= 10;
    }
    int off_min = 0;
    if (p < end && (*p == 'Z' || *p == 'z')) {
        p++;
    } else if (p < end && (*p == '+' || *p == '-')) {
        int sign = *p++ == '-' ? -1 : 1, oh, om = 0;
        if (!digits(&p, end, 2, &oh)) return WEFT_EPARSE;
        if (p < end && *p == ':') p++;
        if (p < end && !digits(&p, end, 2, &om)) return WEFT_EPARSE;
        if (oh > 23 || om > 59) return WEFT_EPARSE;
        off_min = sign * (oh * 60 + om);
    }
    if (p != end) return WEFT_EPARSE;
    if (mo < 1 || mo > 12 || d < 1 || d > month_days(y, (unsigned)mo) || h > 23 || mi > 59 ||
        sec > 60)
        return WEFT_EPARSE;
    if (sec == 60) sec = 59; /* a leap second: the moment before it */
    int64_t days = weft_days_from_civil(y, (unsigned)mo, (unsigned)d);
    *ms = ((days * 86400 + h * 3600 + mi * 60 + sec) - (int64_t)off_min * 60) * 1000 + frac_ms;
    return 0;
}

size_t fleet_time_format(char out[32], int64_t ms) {
    int64_t secs = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
    int frac = (int)(ms - secs * 1000);
    int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
    int64_t sod = secs - days * 86400;
    int64_t y;
    unsigned m, d;
    weft_civil_from_days(days, &y, &m, &d);
    if (y < 0 || y > 9999) { /* not a device's time: the general way */
        int n = snprintf(out, 32, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ", (int)y, m, d, (int)(sod / 3600),
                         (int)(sod / 60 % 60), (int)(sod % 60), frac);
        return n < 0 ? 0 : (size_t)n;
    }
    /* the same text digit by digit: every live position carries three of
     * these, and snprintf was most of its encoding (callgrind,
     * bench/results/fleet-live-server-callgrind-2026-12-07.md) */
    int f[] = {(int)y / 100, (int)y % 100, (int)m, (int)d, (int)(sod / 3600), (int)(sod / 60 % 60), (int)(sod % 60)};
    static const char sep[] = "--T::"; /* before the month, day, hour, minute, second */
    char *p = out;
    for (int i = 0; i < 7; i++) {
        if (i > 1) *p++ = sep[i - 2];
        *p++ = (char)('0' + f[i] / 10), *p++ = (char)('0' + f[i] % 10);
    }
    *p++ = '.';
    *p++ = (char)('0' + frac / 100), *p++ = (char)('0' + frac / 10 % 10), *p++ = (char)('0' + frac % 10);
    *p++ = 'Z';
    *p = 0;
    return (size_t)(p - out);
}
