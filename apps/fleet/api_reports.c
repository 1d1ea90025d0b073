/*
 * apps/fleet/api_reports.c — /api/reports/{route,trips,stops,summary},
 * Traccar's report paths and field names (distances in metres, speeds in
 * knots, durations and engine hours in milliseconds).
 *
 *   ?deviceId=N (repeatable) or ?groupId=N, from, to (required), format=json|csv
 *   (route also geojson and gpx), limit/offset for route
 *
 * Trips and stops come from motion over the positions, by fix time: a fix
 * is moving when its speed is at least status.moving_speed_kn. A run of
 * non-moving fixes is a stop when its first and last fix are at least
 * status.stop_min_s apart; a trip is the stretch between two stops (or the
 * start/end of the range) that contains a moving fix: it starts at the last
 * fix of the stop before it (or the range's first fix) and ends at the first
 * fix of the stop after it (or the range's last fix). Shorter pauses (a
 * traffic light) are inside the trip. Distance is the sum of great-circle
 * distances between consecutive fixes; a trip's averageSpeed is its distance
 * over its duration. Summary: distance over the whole range, maxSpeed,
 * averageSpeed (mean speed of the moving fixes), engineHours (time from each
 * fix with ignition on to the next fix).
 *
 * The positions are read in pages of PAGE rows by keyset (fix_time after
 * the last one seen) through the (device_id, fix_time) index, so a month at
 * 1 Hz is streamed, never held in memory at once.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "motion.h"

#define MAX_DEVICES 256
#define PAGE 10000
#define KN_PER_MPS 1.9438444924406048

typedef struct sel {
    int n;
    int64_t ids[MAX_DEVICES];
    char names[MAX_DEVICES][129];
} sel;

enum { R_ROUTE, R_TRIPS, R_STOPS, R_SUMMARY };

/* The devices and range of a report; 0 or -1 (answered). */
static int select_devices(fleet *f, weft_http_ctx *c, const api_user *u, sel *s, int64_t *from, int64_t *to) {
    int64_t group = 0;
    int hf, ht;
    s->n = api_q_ids(c, "deviceId", s->ids, MAX_DEVICES);
    if (s->n < 0 || api_q_i64(c, "groupId", &group) < 0 || (hf = api_q_time(c, "from", from)) < 0 ||
        (ht = api_q_time(c, "to", to)) < 0)
        return -1;
    if (!hf) return api_fail(c, 400, "from is required");
    if (!ht) return api_fail(c, 400, "to is required");
    if (*from > *to) return api_fail(c, 400, "from must not be after to");
    if (!s->n && !group) return api_fail(c, 400, "deviceId or groupId is required");
    for (int i = 0; i < s->n; i++) {
        live_device *d = api_device_visible(f, u, s->ids[i]);
        if (!d) return api_fail(c, 404, "no such device %lld", (long long)s->ids[i]);
        live_lock(d);
        snprintf(s->names[i], sizeof s->names[i], "%s", d->name);
        live_unlock(d);
    }
    if (group) {
        if (!api_user_sees_group(u, group)) return api_fail(c, 404, "no such group");
        size_t n;
        live_device **all = live_list(f->devices, &n);
        if (!all) return api_fail(c, 500, "out of memory");
        for (size_t i = 0; i < n; i++) {
            live_device *d = all[i];
            if (d->deleted) continue;
            live_lock(d);
            int in = d->group_id == group;
            if (in && s->n < MAX_DEVICES) {
                s->ids[s->n] = d->id;
                snprintf(s->names[s->n], sizeof s->names[0], "%s", d->name);
            }
            live_unlock(d);
            if (in && s->n++ == MAX_DEVICES) {
                free(all);
                return api_fail(c, 400, "groupId: more than %d devices; name them with deviceId", MAX_DEVICES);
            }
        }
        free(all);
    }
    return 0;
}

/* ---- route ------------------------------------------------------------------------------ */

/* ?name=true|false|1|0: 0 absent or false, 1 true, -1 answered 400. */
static int q_bool(weft_http_ctx *c, const char *name) {
    weft_str v = weft_http_query(c, name);
    if (!v.p || weft_str_eq(v, WEFT_STR("false")) || weft_str_eq(v, WEFT_STR("0"))) return 0;
    if (weft_str_eq(v, WEFT_STR("true")) || weft_str_eq(v, WEFT_STR("1")) || !v.n) return 1;
    return api_fail(c, 400, "%s must be true or false", name);
}

/* Two decimal digits at a time: the number formatting below writes pairs. */
static const char digits2[201] = "0001020304050607080910111213141516171819202122232425262728293031323334353637383940414243444546474849"
                                 "5051525354555657585960616263646566676869707172737475767778798081828384858687888990919293949596979899";

/* u in decimal at out (32 bytes of room: 20 are copied whatever its length);
 * its length. Two digits at a time from the last, into a scratch buffer
 * copied whole (a copy of constant size is a few moves, not a call). */
static inline __attribute__((always_inline)) int put_u64(char *out, uint64_t u) {
    char tmp[40];
    char *p = tmp + 20;
    while (u >= 100) {
        uint64_t r = u % 100;
        u /= 100;
        p -= 2, memcpy(p, digits2 + 2 * r, 2);
    }
    if (u >= 10) p -= 2, memcpy(p, digits2 + 2 * u, 2);
    else *--p = (char)('0' + u);
    memcpy(out, p, 20);
    return (int)(tmp + 20 - p);
}

/* fixed() of a value out of its fast range: printf's %.*f as before when it
 * fits the 32 bytes (NaN and infinities as 0), else %.17g. Defensive: the
 * decoders bound what reaches the route (course mod 360, speed <= 2000), but
 * pipeline_validate only asks a course to be finite, and the %f form of 1e300
 * is 300 digits, which would overrun the point's buffer. */
static int fixed_slow(char *out, double v, int dec) {
    int n = snprintf(out, 32, "%.*f", dec, isfinite(v) ? v : 0);
    return n < 32 ? n : snprintf(out, 32, "%.17g", v);
}

/* v rounded to dec (<= 9) decimals, trailing zeros dropped, as a JSON number
 * at out (32 bytes of room); its length. A fraction of the cost of the
 * shortest round-trip form weft_json_enc_double writes, which for a
 * coordinate with all its digits takes a binary search over printf and
 * strtod. Inline, so each call site's constant dec turns the divisions by
 * 10^dec into multiplications and unrolls the fraction's loop. The rounding
 * is llround's (half away from zero) without the call: x - trunc(x) is exact
 * for x >= 0. */
static inline __attribute__((always_inline)) int fixed(char *out, double v, int dec) {
    static const uint64_t pow10[10] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000};
    if (!isfinite(v) || fabs(v) >= 1e9) return fixed_slow(out, v, dec);
    double x = fabs(v) * (double)pow10[dec];
    uint64_t q = (uint64_t)x;
    if (x - (double)q >= 0.5) q++;
    uint64_t fp = q % pow10[dec];
    int n = 0;
    if (v < 0 && q) out[n++] = '-';
    n += put_u64(out + n, q / pow10[dec]);
    if (fp) { /* all dec digits, then the trailing zeros dropped (fp has a non-zero one) */
        out[n++] = '.';
        for (int k = dec; k >= 2; k -= 2, fp /= 100) memcpy(out + n + k - 2, digits2 + 2 * (fp % 100), 2);
        if (dec & 1) out[n] = (char)('0' + fp);
        int d = dec;
        while (out[n + d - 1] == '0') d--;
        n += d;
    }
    return n;
}

/* v in decimal at out (24 bytes of room); its length. */
static int put_i64(char *out, int64_t v) {
    if (v >= 0) return put_u64(out, (uint64_t)v);
    out[0] = '-';
    return 1 + put_u64(out + 1, 0 - (uint64_t)v);
}

int api_route_point(char *out, int64_t t, double lat, double lon, double speed, double course) {
    int m = put_i64(out, t);
    out[m++] = ',', m += fixed(out + m, lat, 7);
    out[m++] = ',', m += fixed(out + m, lon, 7);
    out[m++] = ',', m += fixed(out + m, speed, 2);
    out[m++] = ',', m += fixed(out + m, course, 1);
    return m;
}

size_t api_route_hold_max = 4u << 20;

/* Whether the devices from i on hold more than `left` fixes in (after, to]
 * (after: the keyset cursor of device i; the range's start for the others),
 * in the order route_compact reads them: 1, 0, or a negative error. Counting
 * reads the index alone, with LIMIT left+1 so it stops early. */
static int more_than(fleet *f, const sel *s, int i, int64_t after, int64_t from, int64_t to, int64_t left,
                     weft_db_err *e) {
    for (; i < s->n && left > 0; i++, after = from - 1) {
        weft_db_arg a[] = {WEFT_DB_INT(s->ids[i]), WEFT_DB_INT(after), WEFT_DB_INT(to), WEFT_DB_INT(left + 1)};
        int64_t n;
        int rc = store_query_i64(f->db,
                                 "SELECT COUNT(*) FROM (SELECT 1 FROM positions WHERE device_id = $1 AND fix_time > $2 AND "
                                 "fix_time <= $3 ORDER BY fix_time LIMIT $4) x",
                                 a, 4, &n, e);
        if (rc < 0) return rc;
        if (n > left) return 1;
        left -= n;
    }
    return 0;
}

/* ?compact=true: what a map draws, one object per device
 *   {"deviceId":1,"deviceName":"..","fields":["fixTime","latitude","longitude","speed","course"],
 *    "points":[[1717200000000,48.2,16.37,12.5,90],...]}
 * fixTime in Unix ms, latitude and longitude to 7 decimals (1 cm), speed
 * (knots) to 2 and course to 1; with &attributes=true each point ends with the
 * position's attributes object. Rows are read in pages by keyset through the
 * (device_id, fix_time) index, one row past the limit to learn whether there
 * are more (X-Next-Offset). The answer is held until it is complete or
 * passes api_route_hold_max (4 MB: a day at 1 Hz is 3.8 MB), so the usual
 * answer costs no count; past it the rest is counted once (the index alone)
 * to decide X-Next-Offset, the head goes out and the rest is sent in 256 KB
 * chunks as it is encoded, so memory stays bounded however long the range. */
static int route_compact(fleet *f, weft_http_ctx *c, const sel *s, int64_t from, int64_t to, int64_t limit,
                         int64_t offset, int attrs) {
    weft_db_err e;
    int rc = 0, more = 0, sent = 0; /* sent: the head and a first chunk went out */
    int64_t left = limit;
    weft_buf b;
    weft_buf_init(&b, 0);
    weft_json_enc j;
    weft_json_enc_init(&j, &b);
    weft_json_enc_array(&j);
    for (int i = 0; i < s->n && rc == 0; i++) {
        weft_json_enc_object(&j);
        weft_json_enc_key(&j, WEFT_STR("deviceId")), weft_json_enc_int(&j, s->ids[i]);
        weft_json_enc_key(&j, WEFT_STR("deviceName")), weft_json_enc_str(&j, weft_str_c(s->names[i]));
        weft_json_enc_key(&j, WEFT_STR("fields"));
        weft_json_enc_raw(&j, attrs ? WEFT_STR("[\"fixTime\",\"latitude\",\"longitude\",\"speed\",\"course\",\"attributes\"]")
                                    : WEFT_STR("[\"fixTime\",\"latitude\",\"longitude\",\"speed\",\"course\"]"));
        weft_json_enc_key(&j, WEFT_STR("points")), weft_json_enc_array(&j);
        int64_t cursor = from - 1, skip = offset;
        /* a device reached with the limit used up is not read (nor counted); the one
         * that uses it up is read one row further (want = left + 1) */
        for (int reading = left > 0; reading && !more && rc == 0;) {
            int64_t want = left + 1 < PAGE ? left + 1 : PAGE;
            weft_db_arg a[] = {WEFT_DB_INT(s->ids[i]), WEFT_DB_INT(cursor), WEFT_DB_INT(to), WEFT_DB_INT(want),
                               WEFT_DB_INT(skip)};
            weft_db_rows *r;
            rc = store_query(f->db,
                             attrs ? "SELECT fix_time, latitude, longitude, speed, course, attributes FROM positions "
                                     "WHERE device_id = $1 AND fix_time > $2 AND fix_time <= $3 ORDER BY fix_time "
                                     "LIMIT $4 OFFSET $5"
                                   : "SELECT fix_time, latitude, longitude, speed, course FROM positions "
                                     "WHERE device_id = $1 AND fix_time > $2 AND fix_time <= $3 ORDER BY fix_time "
                                     "LIMIT $4 OFFSET $5",
                             a, 5, &r, &e);
            if (rc < 0) break;
            int n = weft_db_nrows(r);
            for (int k = 0; k < n; k++) {
                if (left == 0) { /* the row past the limit */
                    more = 1;
                    break;
                }
                /* the point as one raw value (one encoder call) when it is five numbers */
                char pt[API_ROUTE_POINT_MAX + 2];
                int m = 1 + api_route_point(pt + 1, weft_db_int(r, k, 0), weft_db_double(r, k, 1),
                                            weft_db_double(r, k, 2), weft_db_double(r, k, 3),
                                            weft_db_double(r, k, 4));
                if (!attrs) {
                    pt[0] = '[', pt[m++] = ']';
                    weft_json_enc_raw(&j, (weft_str){pt, (size_t)m});
                } else {
                    size_t al;
                    const char *at = weft_db_text(r, k, 5, &al);
                    weft_json_enc_array(&j);
                    weft_json_enc_raw(&j, (weft_str){pt + 1, (size_t)m - 1});
                    model_raw_object(&j, at, al);
                    weft_json_enc_end(&j);
                }
                left--;
                cursor = weft_db_int(r, k, 0);
            }
            weft_db_rows_free(r);
            skip = 0;
            if (n < want) break; /* the device's range is done */
            if (!sent && b.len >= api_route_hold_max) { /* too long to hold: decide the head now */
                int m = more ? 1 : more_than(f, s, i, cursor, from, to, left, &e);
                if (m < 0) {
                    rc = m;
                    break;
                }
                if (m) api_page_done(c, (int)limit + 1, limit, offset);
                weft_http_set_status(c, 200), weft_http_set_content_type(c, "application/json");
                sent = 1;
            }
            if (sent && b.len >= 256 * 1024) { /* out with it: memory stays flat */
                if ((rc = weft_http_write(c, b.data, b.len)) < 0) break;
                weft_buf_clear(&b);
            }
        }
        weft_json_enc_end(&j), weft_json_enc_end(&j);
    }
    if (rc < 0 && !sent) { /* an error answer is still possible */
        weft_buf_free(&b);
        return api_fail_db(c, rc, &e), 0;
    }
    weft_json_enc_end(&j);
    if (rc == 0) rc = weft_json_enc_finish(&j);
    if (rc == 0 && sent) rc = weft_http_write(c, b.data, b.len);
    else if (rc == 0) {
        if (more) api_page_done(c, (int)limit + 1, limit, offset);
        rc = weft_http_send(c, 200, "application/json", b.data, b.len); /* held: one body */
    }
    weft_buf_free(&b);
    return rc < 0 ? rc : 0;
}

static int route(fleet *f, weft_http_ctx *c, const sel *s, int64_t from, int64_t to) {
    int compact = q_bool(c, "compact"), attrs = q_bool(c, "attributes");
    if (compact < 0 || attrs < 0) return 0;
    int fmt = compact ? FMT_JSON : api_format_of(c, 0xf);
    if (fmt < 0) return 0;
    int64_t limit, offset;
    if (api_page(c, API_ROWS_DEFAULT, API_ROWS_MAX, &limit, &offset) < 0) return 0;
    if (offset && s->n > 1) return api_fail(c, 400, "offset: only with a single deviceId"), 0;
    if (compact) return route_compact(f, c, s, from, to, limit, offset, attrs);
    api_pos_out o;
    weft_db_rows *rs[MAX_DEVICES] = {0};
    int64_t left = limit;
    int more = 0, rc = 0;
    for (int i = 0; i < s->n && left > 0 && !more; i++) {
        weft_db_err e;
        if ((rc = api_pos_history(f, s->ids[i], from, to, left, offset, &rs[i], &e)) < 0) {
            for (int k = 0; k < i; k++) weft_db_rows_free(rs[k]);
            return api_fail_db(c, rc, &e), 0;
        }
        int got = weft_db_nrows(rs[i]);
        if (got > left) more = 1;
        left -= got > left ? left : got;
    }
    if (more) api_page_done(c, (int)limit + 1, limit, offset);
    api_pos_begin(&o, c, fmt);
    int64_t shown = 0;
    for (int i = 0; i < s->n; i++) {
        if (!rs[i]) continue;
        for (int k = 0; k < weft_db_nrows(rs[i]) && shown < limit; k++, shown++) api_pos_row(&o, NULL, rs[i], k, NULL);
        weft_db_rows_free(rs[i]);
    }
    return api_pos_end(&o);
}

/* ---- motion: trips, stops, summary --------------------------------------------------------------- */

typedef motion_fix fixp;

typedef struct out {
    weft_http_ctx *c;
    int kind, csv;
    weft_json_enc *e;
    weft_buf *b;
    int64_t device_id;
    const char *name;
} out;

typedef struct det {
    double thr;
    int64_t stop_min_ms;
    int has_prev, in_run, moved;
    fixp prev, anchor, run_first, run_last;
    double trip_dist, dist_at_run, trip_max, run_engine_ms;
    /* summary */
    int64_t first_t, last_t, engine_ms, nmoving;
    double dist, max, speed_sum;
} det;

static void t_out(out *o, const char *k, int64_t ms, int last) {
    char t[32];
    fleet_time_format(t, ms);
    if (o->csv) weft_buf_printf(o->b, "%s%s", t, last ? "\n" : ",");
    else weft_json_enc_key(o->e, weft_str_c(k)), weft_json_enc_str(o->e, weft_str_c(t));
}
static void d_out(out *o, const char *k, double v, int last) {
    if (o->csv) weft_buf_printf(o->b, "%.6g%s", v, last ? "\n" : ",");
    else weft_json_enc_key(o->e, weft_str_c(k)), weft_json_enc_double(o->e, v);
}
static void i_out(out *o, const char *k, int64_t v, int last) {
    if (o->csv) weft_buf_printf(o->b, "%" PRId64 "%s", v, last ? "\n" : ",");
    else weft_json_enc_key(o->e, weft_str_c(k)), weft_json_enc_int(o->e, v);
}
static void head(out *o) {
    if (o->csv) {
        char name[160];
        size_t k = 0;
        for (const char *p = o->name; *p && k < sizeof name - 1; p++) /* no separators inside a field */
            name[k++] = (*p == ',' || *p == '"' || *p == '\n' || *p == '\r') ? ' ' : *p;
        name[k] = 0;
        weft_buf_printf(o->b, "%" PRId64 ",%s,", o->device_id, name);
        return;
    }
    weft_json_enc_object(o->e);
    weft_json_enc_key(o->e, WEFT_STR("deviceId")), weft_json_enc_int(o->e, o->device_id);
    weft_json_enc_key(o->e, WEFT_STR("deviceName")), weft_json_enc_str(o->e, weft_str_c(o->name));
}
static void tail(out *o) {
    if (!o->csv) weft_json_enc_end(o->e);
}

static void emit_trip(det *d, out *o, const fixp *a, const fixp *b, double dist) {
    if (o->kind != R_TRIPS) return;
    double dur_s = (double)(b->t - a->t) / 1000;
    head(o);
    t_out(o, "startTime", a->t, 0), t_out(o, "endTime", b->t, 0);
    i_out(o, "duration", b->t - a->t, 0);
    d_out(o, "distance", dist, 0);
    d_out(o, "averageSpeed", dur_s > 0 ? dist / dur_s * KN_PER_MPS : 0, 0);
    d_out(o, "maxSpeed", d->trip_max, 0);
    d_out(o, "startLat", a->lat, 0), d_out(o, "startLon", a->lon, 0);
    d_out(o, "endLat", b->lat, 0), d_out(o, "endLon", b->lon, 1);
    tail(o);
}

static void emit_stop(det *d, out *o) {
    if (o->kind != R_STOPS) return;
    head(o);
    t_out(o, "startTime", d->run_first.t, 0), t_out(o, "endTime", d->run_last.t, 0);
    i_out(o, "duration", d->run_last.t - d->run_first.t, 0);
    d_out(o, "latitude", d->run_first.lat, 0), d_out(o, "longitude", d->run_first.lon, 0);
    i_out(o, "engineHours", (int64_t)d->run_engine_ms, 1);
    tail(o);
}

/* The stationary run ends (a moving fix came, or the data ended). */
static void close_run(det *d, out *o) {
    d->in_run = 0;
    if (d->run_last.t - d->run_first.t < d->stop_min_ms) return; /* a pause inside a trip */
    if (d->moved) emit_trip(d, o, &d->anchor, &d->run_first, d->dist_at_run);
    emit_stop(d, o);
    d->anchor = d->run_last;
    d->trip_dist = 0, d->trip_max = 0, d->moved = 0;
}

static void step(det *d, out *o, const fixp *p) {
    int moving = p->speed >= d->thr;
    double m = 0;
    if (!d->has_prev) {
        d->anchor = *p, d->first_t = p->t;
    } else {
        m = geo_distance_m(d->prev.lat, d->prev.lon, p->lat, p->lon);
        d->dist += m;
        if (d->prev.ign == 1) {
            d->engine_ms += p->t - d->prev.t;
            if (d->in_run) d->run_engine_ms += (double)(p->t - d->prev.t);
        }
    }
    if (moving && d->in_run) close_run(d, o); /* before the way out of the stop counts */
    d->trip_dist += m;
    if (moving) {
        d->moved = 1;
        d->nmoving++, d->speed_sum += p->speed;
        d->trip_max = fmax(d->trip_max, p->speed);
    } else {
        if (!d->in_run) d->in_run = 1, d->run_first = *p, d->dist_at_run = d->trip_dist, d->run_engine_ms = 0;
        d->run_last = *p;
    }
    d->max = fmax(d->max, p->speed);
    d->prev = *p, d->has_prev = 1, d->last_t = p->t;
}

static void finish(det *d, out *o) {
    if (!d->has_prev) return;
    if (d->in_run) {
        fixp last = d->prev;
        int64_t anchor_t = d->anchor.t;
        close_run(d, o);
        if (d->anchor.t != anchor_t) return; /* it was a stop: the trip before it is out */
        if (d->moved) emit_trip(d, o, &d->anchor, &last, d->trip_dist);
        return;
    }
    if (d->moved) emit_trip(d, o, &d->anchor, &d->prev, d->trip_dist);
}

/* A chunk of fixes (motion.h) through the state machine: step() on its
 * first fix, then what step() would have added for the rest at once. */
static void step_chunk(det *d, out *o, const motion_chunk *c) {
    step(d, o, &c->first);
    if (c->n < 2) return;
    d->dist += c->dist_m, d->trip_dist += c->dist_m;
    d->engine_ms += c->engine_ms;
    if (c->moving) {
        d->moved = 1;
        d->nmoving += c->n - 1, d->speed_sum += c->speed_sum;
        d->trip_max = fmax(d->trip_max, c->max_speed);
    } else { /* step() on the first opened the run */
        d->run_engine_ms += (double)c->engine_ms;
        d->run_last = c->last;
    }
    d->max = fmax(d->max, c->max_speed);
    d->prev = c->last, d->last_t = c->last.t;
}

/* The fixes with lo < fix_time <= hi through the state machine, in pages. */
static int raw_fixes(fleet *f, det *d, out *o, int64_t id, int64_t lo, int64_t hi, weft_db_err *e) {
    int64_t cursor = lo;
    while (cursor < hi) {
        weft_db_arg a[] = {WEFT_DB_INT(id), WEFT_DB_INT(cursor), WEFT_DB_INT(hi), WEFT_DB_INT(PAGE)};
        weft_db_rows *r;
        /* trips need no ignition: they skip the scan of the attributes */
        int rc = store_query(f->db,
                             o->kind == R_TRIPS
                                 ? "SELECT fix_time, latitude, longitude, speed, -1 FROM positions WHERE device_id = $1 "
                                   "AND fix_time > $2 AND fix_time <= $3 ORDER BY fix_time LIMIT $4"
                                 : "SELECT fix_time, latitude, longitude, speed, " MOTION_IGN_SQL " FROM positions "
                                   "WHERE device_id = $1 AND fix_time > $2 AND fix_time <= $3 ORDER BY fix_time LIMIT $4",
                             a, 4, &r, e);
        if (rc < 0) return rc;
        int n = weft_db_nrows(r);
        atomic_fetch_add(&f->m.report_fixes, n);
        for (int k = 0; k < n; k++) {
            fixp p = {weft_db_int(r, k, 0), weft_db_double(r, k, 1), weft_db_double(r, k, 2), weft_db_double(r, k, 3),
                      (int)weft_db_int(r, k, 4)};
            step(d, o, &p);
        }
        if (n) cursor = weft_db_int(r, n - 1, 0);
        weft_db_rows_free(r);
        if (n < PAGE) break;
    }
    return 0;
}

/* A page of one device's chunks that lie wholly inside (key, to]: $1 the
 * device, $2 key, $3 to, $4 the page. t0 <= $3 says nothing t1 <= $3 does
 * not (t0 <= t1), but it bounds the key range: without it a range far in
 * the past walked the device's later chunks to the end of its history. */
const char api_report_chunks_sql[] = "SELECT " MOTION_CHUNK_COLS " FROM motion_chunks WHERE device_id = $1 AND "
                                     "t0 > $2 AND t0 <= $3 AND t1 <= $3 ORDER BY t0 LIMIT $4";

/* One device's fixes in [from, to]: the motion chunks that lie wholly inside,
 * the raw fixes around them (and wherever a chunk does not follow on from
 * the fix before it: not summarised yet, or being rewritten). */
static int device_motion(fleet *f, det *d, out *o, int64_t id, int64_t from, int64_t to, weft_db_err *e) {
    int64_t cursor = from - 1; /* the fixes up to here went through d */
    int64_t key = from - 1;
    for (int ok = 1; ok;) {
        weft_db_arg a[] = {WEFT_DB_INT(id), WEFT_DB_INT(key), WEFT_DB_INT(to), WEFT_DB_INT(PAGE)};
        weft_db_rows *r;
        int rc = store_query(f->db, api_report_chunks_sql, a, 4, &r, e);
        if (rc < 0) return rc;
        int n = weft_db_nrows(r);
        for (int k = 0; k < n && ok; k++) {
            motion_chunk c;
            motion_chunk_from_row(&c, r, k);
            if (!d->has_prev || c.prev_t != d->prev.t) { /* the fixes before it first */
                if ((rc = raw_fixes(f, d, o, id, cursor, c.first.t - 1, e)) < 0) break;
                cursor = c.first.t - 1;
                ok = d->has_prev ? c.prev_t == d->prev.t : c.prev_t < from;
                if (!ok) break;
            }
            step_chunk(d, o, &c);
            atomic_fetch_add(&f->m.report_chunks, 1);
            cursor = c.last.t;
        }
        if (n) key = weft_db_int(r, n - 1, 3);
        weft_db_rows_free(r);
        if (rc < 0) return rc;
        if (n < PAGE) break;
    }
    return raw_fixes(f, d, o, id, cursor, to, e);
}

static int motion(fleet *f, weft_http_ctx *c, const sel *s, int64_t from, int64_t to, int kind) {
    int fmt = api_format_of(c, 1u << FMT_JSON | 1u << FMT_CSV);
    if (fmt < 0) return 0;
    out o = {.c = c, .kind = kind, .csv = fmt == FMT_CSV};
    weft_buf *body = weft_http_body_buf(c);
    weft_buf tmp;
    weft_buf_init(&tmp, 0);
    if (o.csv) {
        /* rows go to a buffer of our own until every query succeeded */
        o.b = &tmp;
        weft_buf_appends(o.b, kind == R_TRIPS     ? "deviceId,deviceName,startTime,endTime,duration,distance,"
                                                    "averageSpeed,maxSpeed,startLat,startLon,endLat,endLon\n"
                              : kind == R_STOPS   ? "deviceId,deviceName,startTime,endTime,duration,latitude,longitude,"
                                                    "engineHours\n"
                                                  : "deviceId,deviceName,startTime,endTime,distance,averageSpeed,"
                                                    "maxSpeed,engineHours\n");
    } else {
        o.e = weft_http_json_begin(c, 200);
        weft_json_enc_array(o.e);
    }
    int rc = 0;
    for (int i = 0; i < s->n && rc == 0; i++) {
        det d = {.thr = f->cfg.moving_speed_kn, .stop_min_ms = f->cfg.stop_min_s * 1000};
        o.device_id = s->ids[i], o.name = s->names[i];
        weft_db_err e;
        if ((rc = device_motion(f, &d, &o, s->ids[i], from, to, &e)) < 0) {
            weft_buf_free(&tmp);
            weft_buf_clear(body);
            return api_fail_db(c, rc, &e), 0;
        }
        finish(&d, &o);
        if (kind == R_SUMMARY && d.has_prev) {
            head(&o);
            t_out(&o, "startTime", d.first_t, 0), t_out(&o, "endTime", d.last_t, 0);
            d_out(&o, "distance", d.dist, 0);
            d_out(&o, "averageSpeed", d.nmoving ? d.speed_sum / (double)d.nmoving : 0, 0);
            d_out(&o, "maxSpeed", d.max, 0);
            i_out(&o, "engineHours", d.engine_ms, 1);
            tail(&o);
        }
    }
    if (o.csv) {
        weft_http_send(c, 200, "text/csv; charset=utf-8", tmp.data, tmp.len);
        weft_buf_free(&tmp);
        return 0;
    }
    weft_json_enc_end(o.e);
    return weft_http_json_end(c);
}

static int report(weft_http_ctx *c, fleet *f, int kind) {
    api_user u;
    if (api_auth(f, c, &u, API_READ) < 0) return 0;
    sel *s = weft_arena_alloc(weft_http_arena(c), sizeof *s);
    if (!s) return WEFT_ENOMEM;
    int64_t from, to;
    if (select_devices(f, c, &u, s, &from, &to) < 0) return 0;
    return kind == R_ROUTE ? route(f, c, s, from, to) : motion(f, c, s, from, to, kind);
}

static int r_route(weft_http_ctx *c, void *ud) { return report(c, ud, R_ROUTE); }
static int r_trips(weft_http_ctx *c, void *ud) { return report(c, ud, R_TRIPS); }
static int r_stops(weft_http_ctx *c, void *ud) { return report(c, ud, R_STOPS); }
static int r_summary(weft_http_ctx *c, void *ud) { return report(c, ud, R_SUMMARY); }

int api_routes_reports(weft_http_router *r, fleet *f) {
    int rc = 0;
    rc |= weft_http_route(r, "GET", "/api/reports/route", r_route, f);
    rc |= weft_http_route(r, "GET", "/api/reports/trips", r_trips, f);
    rc |= weft_http_route(r, "GET", "/api/reports/stops", r_stops, f);
    rc |= weft_http_route(r, "GET", "/api/reports/summary", r_summary, f);
    return rc;
}
