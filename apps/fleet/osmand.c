/*
 * apps/fleet/osmand.c — the OsmAnd protocol's parameters and the Traccar
 * Client's JSON body into fleet fixes (see osmand.h). The rules for each
 * field follow what the apps actually send, as Traccar reads them: speed in
 * knots in the query form but metres per second in the JSON form, battery in
 * percent in the query but as a 0..1 fraction in the JSON, heading -1 for
 * "unknown".
 */
#include "osmand.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "weft/json.h"

#include "isotime.h"

#define MAX_PARAMS 64

typedef struct param {
    weft_str key, val; /* decoded: the input itself, or a copy in the scratch arena */
} param;

static int hexv(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* s without escapes, as url_decode returns it: never a NULL pointer */
static weft_str plain_str(weft_str s) { return s.p ? s : (weft_str){"", 0}; }

/* Percent- and '+'-decode s into the arena; a malformed escape stays as is.
 * Without '%' or '+' there is nothing to decode: s itself, no copy (most
 * parameters of a phone's request; the copy was a fifth of the parse). */
static weft_str url_decode(weft_arena *a, weft_str s) {
    size_t k = 0;
    while (k < s.n && s.p[k] != '%' && s.p[k] != '+') k++;
    if (k == s.n) return plain_str(s);
    char *o = weft_arena_alloc(a, s.n + 1);
    if (!o) return (weft_str){NULL, 0};
    size_t n = 0;
    for (size_t i = 0; i < s.n; i++) {
        char c = s.p[i];
        int h, l;
        if (c == '+') {
            c = ' ';
        } else if (c == '%' && i + 2 < s.n && (h = hexv(s.p[i + 1])) >= 0 && (l = hexv(s.p[i + 2])) >= 0) {
            c = (char)(h << 4 | l);
            i += 2;
        }
        o[n++] = c;
    }
    o[n] = 0;
    return (weft_str){o, n};
}

static int collect(weft_str src, param *ps, int *np, weft_arena *a, const char **why) {
    /* One memchr pass over the whole source instead of url_decode's scan of
     * every key and value: what apps send has no escape at all (the scans
     * were a sixth of the parse, callgrind) */
    int plain = !src.n || (!memchr(src.p, '%', src.n) && !memchr(src.p, '+', src.n));
    while (src.n) {
        weft_str pair;
        src = weft_str_cut(src, '&', &pair);
        if (pair.n == 0) continue;
        weft_str k, v = weft_str_cut(pair, '=', &k);
        if (*np == MAX_PARAMS) {
            *why = "too many parameters (at most 64)";
            return WEFT_EPARSE;
        }
        param *p = &ps[(*np)++];
        p->key = plain ? plain_str(k) : url_decode(a, k);
        p->val = plain ? plain_str(v) : url_decode(a, v);
        if (!p->key.p || !p->val.p) {
            *why = "out of memory";
            return WEFT_ENOMEM;
        }
    }
    return 0;
}

/* The reference reading: strtod over the whole string. */
static int number_strtod(weft_str s, double *out) {
    if (s.n == 0 || s.n > 64) return 0;
    char buf[65];
    memcpy(buf, s.p, s.n);
    buf[s.n] = 0;
    char *end;
    double v = strtod(buf, &end);
    if (end != buf + s.n || !isfinite(v) || buf[0] == ' ') return 0;
    *out = v;
    return 1;
}

int osmand_number(weft_str s, double *out) {
    /* Fast path for what apps send, -?digits(.digits)?: with at most 19
     * digits whose integer m is <= 2^53 and at most 22 after the point, m
     * and 10^f are exact doubles and one IEEE division rounds correctly, so
     * m / 10^f is the double strtod returns (Clinger's fast path). The rest
     * (exponents, hex, "inf", long or odd forms) goes to strtod. */
    static const double p10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                   1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    size_t i = 0, n = s.n;
    int neg = n && s.p[0] == '-';
    i += (size_t)neg;
    uint64_t m = 0;
    int digits = 0, frac = -1; /* frac: digits after the point, -1 without one */
    for (; i < n; i++) {
        char c = s.p[i];
        if (c >= '0' && c <= '9') {
            if (++digits > 19) break;
            m = m * 10 + (uint64_t)(c - '0');
            if (frac >= 0) frac++;
        } else if (c == '.' && frac < 0 && digits > 0) {
            frac = 0;
        } else {
            break;
        }
    }
    if (i == n && digits > 0 && frac != 0 && frac <= 22 && m <= (1ull << 53)) {
        double v = frac > 0 ? (double)m / p10[frac] : (double)m;
        *out = neg ? -v : v;
        return 1;
    }
    /* a word ("true", "on", a name): strtod reads none but inf and nan,
     * which are refused anyway; the attributes ask this of every value */
    if (n && ((s.p[0] | 0x20) >= 'a' && (s.p[0] | 0x20) <= 'z')) return 0;
    return number_strtod(s, out);
}

#define to_double osmand_number

static int to_bool(weft_str s, int *out) {
    if (weft_str_eq_nocase(s, WEFT_STR("true")) || weft_str_eq(s, WEFT_STR("1"))) return *out = 1, 1;
    if (weft_str_eq_nocase(s, WEFT_STR("false")) || weft_str_eq(s, WEFT_STR("0"))) return *out = 0, 1;
    return 0;
}

static int copy_id(char dst[OSMAND_ID_MAX + 1], weft_str s) {
    s = weft_str_trim(s);
    if (s.n == 0 || s.n > OSMAND_ID_MAX) return 0;
    for (size_t i = 0; i < s.n; i++)
        if ((unsigned char)s.p[i] < 0x20 || s.p[i] == 0x7f) return 0;
    memcpy(dst, s.p, s.n);
    dst[s.n] = 0;
    return 1;
}

/* k is the literal name (its length known at compile time: no strlen) */
#define is_key(k, name) ((k).n == sizeof(name) - 1 && memcmp((k).p, name, sizeof(name) - 1) == 0)

/* An attribute value as the most specific JSON type it reads as. */
static void enc_guess(weft_json_enc *e, weft_str v) {
    int b;
    double d;
    int64_t i;
    if (weft_str_to_i64(v, &i) == 0) weft_json_enc_int(e, i);
    else if (to_double(v, &d)) weft_json_enc_double(e, d);
    else if (to_bool(v, &b) && v.n > 1) weft_json_enc_bool(e, b);
    else weft_json_enc_str(e, v);
}

int osmand_parse_form(weft_str query, weft_str form, int64_t now_ms, osmand_msg *out,
                      fleet_fix *fix, weft_buf *attrs, weft_arena *scratch, const char **why) {
    param ps[MAX_PARAMS];
    int np = 0, rc;
    memset(out, 0, sizeof *out);
    fleet_fix_init(fix);
    if ((rc = collect(query, ps, &np, scratch, why)) < 0) return rc;
    if ((rc = collect(form, ps, &np, scratch, why)) < 0) return rc;

    /* first pass: the fields of the fix; the first occurrence wins */
    int have_lat = 0, have_lon = 0, have_time = 0, have_id = 0;
    uint64_t used = 0; /* bit per param consumed into a field */
    for (int i = 0; i < np; i++) {
        weft_str k = ps[i].key, v = ps[i].val;
        double d;
        int b;
        if ((is_key(k, "id") || is_key(k, "deviceid")) && !have_id) {
            if (!copy_id(out->device_id, v)) {
                *why = "id must be 1 to 64 printable characters";
                return WEFT_EPARSE;
            }
            have_id = 1;
        } else if (is_key(k, "timestamp") && !have_time) {
            if (fleet_time_parse(v, &fix->fix_ms) != 0) {
                *why = "timestamp is not Unix seconds/milliseconds, ISO 8601 or yyyy-MM-dd HH:mm:ss";
                return WEFT_EPARSE;
            }
            have_time = 1;
        } else if (is_key(k, "lat") && !have_lat) {
            if (!to_double(v, &fix->lat)) return *why = "lat is not a number", WEFT_EPARSE;
            have_lat = 1;
        } else if (is_key(k, "lon") && !have_lon) {
            if (!to_double(v, &fix->lon)) return *why = "lon is not a number", WEFT_EPARSE;
            have_lon = 1;
        } else if (is_key(k, "location") && !have_lat && !have_lon) {
            weft_str la, lo = weft_str_cut(v, ',', &la);
            if (!lo.p || !to_double(weft_str_trim(la), &fix->lat) ||
                !to_double(weft_str_trim(lo), &fix->lon)) {
                *why = "location must be lat,lon";
                return WEFT_EPARSE;
            }
            have_lat = have_lon = 1;
        } else if (is_key(k, "speed")) {
            if (!to_double(v, &d) || d < 0) return *why = "speed is not a number of knots >= 0", WEFT_EPARSE;
            fix->speed_kn = d;
        } else if (is_key(k, "bearing") || is_key(k, "heading")) {
            if (!to_double(v, &d)) return *why = "bearing is not a number", WEFT_EPARSE;
            fix->course = d < 0 ? 0 : fmod(d, 360.0);
        } else if (is_key(k, "altitude")) {
            if (!to_double(v, &fix->altitude)) return *why = "altitude is not a number", WEFT_EPARSE;
        } else if (is_key(k, "accuracy")) {
            if (!to_double(v, &d) || d < 0) return *why = "accuracy is not a number >= 0", WEFT_EPARSE;
            fix->accuracy = d;
        } else if (is_key(k, "valid")) {
            if (!to_bool(v, &b)) return *why = "valid must be true or false", WEFT_EPARSE;
            fix->valid = b;
            used |= 1ull << i;
            continue;
        } else if (is_key(k, "batt")) {
            if (!to_double(v, &fix->battery_pct)) return *why = "batt is not a number", WEFT_EPARSE;
            continue; /* also an attribute */
        } else if (is_key(k, "charge")) {
            if (!to_bool(v, &b)) return *why = "charge must be true or false", WEFT_EPARSE;
            fix->charging = b;
            continue;
        } else if (is_key(k, "ignition")) {
            if (!to_bool(v, &b)) return *why = "ignition must be true or false", WEFT_EPARSE;
            fix->ignition = b;
            continue;
        } else if (is_key(k, "motion")) {
            if (!to_bool(v, &b)) return *why = "motion must be true or false", WEFT_EPARSE;
            fix->motion = b;
            continue;
        } else if (is_key(k, "alarm")) {
            if (weft_str_eq_nocase(v, WEFT_STR("sos"))) fix->alarms |= FLEET_ALARM_SOS;
            else if (weft_str_eq_nocase(v, WEFT_STR("powerCut"))) fix->alarms |= FLEET_ALARM_POWER_CUT;
            else if (weft_str_eq_nocase(v, WEFT_STR("lowBattery"))) fix->alarms |= FLEET_ALARM_LOW_BATTERY;
            else if (weft_str_eq_nocase(v, WEFT_STR("accident"))) fix->alarms |= FLEET_ALARM_ACCIDENT;
            else if (weft_str_eq_nocase(v, WEFT_STR("tow"))) fix->alarms |= FLEET_ALARM_TOW;
            else fix->alarms |= FLEET_ALARM_GENERAL;
            continue;
        } else if (is_key(k, "driverUniqueId")) {
            if (!copy_id(out->driver, v)) return *why = "driverUniqueId must be 1 to 64 characters", WEFT_EPARSE;
            continue;
        } else {
            continue; /* an attribute */
        }
        used |= 1ull << i;
    }
    if (!have_id) return *why = "id is required", WEFT_EPARSE;
    if (!have_lat || !have_lon) return *why = "lat and lon (or location) are required", WEFT_EPARSE;
    if (!have_time) fix->fix_ms = now_ms;
    int said_valid = 0;
    for (int i = 0; i < np; i++) said_valid |= is_key(ps[i].key, "valid");
    if (!said_valid) fix->valid = 1;

    /* second pass: everything else as attributes, Traccar's names */
    fix->attr_off = attrs->len;
    weft_json_enc e;
    weft_json_enc_init(&e, attrs);
    weft_json_enc_object(&e);
    for (int i = 0; i < np; i++) {
        if (used >> i & 1) continue;
        weft_str k = ps[i].key, v = ps[i].val;
        int dup = 0;
        for (int j = 0; j < i && !dup; j++) dup = weft_str_eq(ps[j].key, k);
        if (dup || k.n == 0) continue;
        if (is_key(k, "batt")) k = WEFT_STR("batteryLevel");
        weft_json_enc_key(&e, k);
        enc_guess(&e, v);
    }
    weft_json_enc_end(&e);
    if ((rc = weft_json_enc_finish(&e)) < 0) {
        *why = rc == WEFT_EINVAL ? "a parameter is not valid UTF-8" : "attributes too large";
        attrs->len = fix->attr_off;
        return rc == WEFT_EINVAL ? WEFT_EPARSE : rc;
    }
    fix->attr_len = attrs->len - fix->attr_off;
    out->nfix = 1;
    return 0;
}

/* ---- JSON ------------------------------------------------------------------ */

static int jnum(const weft_json *o, const char *key, double *out) {
    const weft_json *v = weft_json_get(o, key);
    return v && weft_json_double(v, out) == 0;
}

static int one_location(const weft_json *loc, int64_t now_ms, fleet_fix *f, weft_buf *attrs,
                        const char **why) {
    fleet_fix_init(f);
    if (!loc || loc->type != WEFT_JSON_OBJECT) return *why = "location must be an object", WEFT_EPARSE;
    const weft_json *coords = weft_json_get(loc, "coords");
    if (!coords || coords->type != WEFT_JSON_OBJECT)
        return *why = "location.coords is required", WEFT_EPARSE;
    if (!jnum(coords, "latitude", &f->lat) || !jnum(coords, "longitude", &f->lon))
        return *why = "location.coords.latitude and longitude must be numbers", WEFT_EPARSE;
    double d;
    if (jnum(coords, "speed", &d) && d >= 0) f->speed_kn = FLEET_MPS_TO_KN(d);
    if (jnum(coords, "heading", &d) && d >= 0) f->course = fmod(d, 360.0);
    if (jnum(coords, "altitude", &d)) f->altitude = d;
    if (jnum(coords, "accuracy", &d) && d >= 0) f->accuracy = d;
    f->valid = 1;
    const weft_json *ts = weft_json_get(loc, "timestamp");
    if (ts) {
        weft_str s = weft_json_str(ts);
        int64_t ms;
        if (ts->type == WEFT_JSON_INT) {
            char b[24];
            size_t k = weft_i64_to_text(b, ts->u.i);
            s = (weft_str){b, k};
            if (fleet_time_parse(s, &f->fix_ms) != 0) return *why = "location.timestamp is not a time", WEFT_EPARSE;
        } else if (!s.p || fleet_time_parse(s, &ms) != 0) {
            return *why = "location.timestamp is not an ISO 8601 time", WEFT_EPARSE;
        } else {
            f->fix_ms = ms;
        }
    } else {
        f->fix_ms = now_ms;
    }
    const weft_json *mv = weft_json_get(loc, "is_moving");
    if (mv && (mv->type == WEFT_JSON_TRUE || mv->type == WEFT_JSON_FALSE))
        f->motion = mv->type == WEFT_JSON_TRUE;
    const weft_json *bat = weft_json_get(loc, "battery");
    if (bat && bat->type == WEFT_JSON_OBJECT) {
        if (jnum(bat, "level", &d) && d >= 0) f->battery_pct = d <= 1 ? d * 100 : d;
        const weft_json *ch = weft_json_get(bat, "is_charging");
        if (ch && (ch->type == WEFT_JSON_TRUE || ch->type == WEFT_JSON_FALSE))
            f->charging = ch->type == WEFT_JSON_TRUE;
    }
    if (jnum(loc, "odometer", &d) && d > 0) f->odometer_m = d;

    f->attr_off = attrs->len;
    weft_json_enc e;
    weft_json_enc_init(&e, attrs);
    weft_json_enc_object(&e);
    if (!isnan(f->battery_pct)) {
        weft_json_enc_key(&e, WEFT_STR("batteryLevel"));
        weft_json_enc_double(&e, f->battery_pct);
    }
    if (f->charging != FLEET_UNKNOWN) {
        weft_json_enc_key(&e, WEFT_STR("charge"));
        weft_json_enc_bool(&e, f->charging);
    }
    if (f->motion != FLEET_UNKNOWN) {
        weft_json_enc_key(&e, WEFT_STR("motion"));
        weft_json_enc_bool(&e, f->motion);
    }
    if (!isnan(f->odometer_m)) {
        weft_json_enc_key(&e, WEFT_STR("odometer"));
        weft_json_enc_double(&e, f->odometer_m);
    }
    const weft_json *ev = weft_json_get(loc, "event");
    if (ev && ev->type == WEFT_JSON_STRING) {
        weft_json_enc_key(&e, WEFT_STR("event"));
        weft_json_enc_str(&e, weft_json_str(ev));
    }
    const weft_json *act = weft_json_get(weft_json_get(loc, "activity"), "type");
    if (act && act->type == WEFT_JSON_STRING) {
        weft_json_enc_key(&e, WEFT_STR("activity"));
        weft_json_enc_str(&e, weft_json_str(act));
    }
    const weft_json *ex = weft_json_get(loc, "extras");
    if (ex && ex->type == WEFT_JSON_OBJECT) {
        for (uint32_t i = 0; i < ex->len; i++) {
            weft_json_enc_key(&e, ex->u.members[i].key);
            weft_json_enc_value(&e, &ex->u.members[i].value);
        }
    }
    weft_json_enc_end(&e);
    int rc = weft_json_enc_finish(&e);
    if (rc < 0) {
        attrs->len = f->attr_off;
        *why = "attributes too large";
        return rc;
    }
    f->attr_len = attrs->len - f->attr_off;
    return 0;
}

int osmand_parse_json(weft_str body, int64_t now_ms, osmand_msg *out, fleet_fix *fixes, int cap,
                      weft_buf *attrs, weft_arena *scratch, const char **why) {
    memset(out, 0, sizeof *out);
    weft_json *root = NULL;
    weft_json_error je;
    int rc = weft_json_parse(body.p, body.n, scratch, 16, &root, &je);
    if (rc < 0) {
        *why = rc == WEFT_ENOMEM ? "out of memory" : "body is not valid JSON";
        return rc == WEFT_ENOMEM ? rc : WEFT_EPARSE;
    }
    if (root->type != WEFT_JSON_OBJECT) return *why = "body must be a JSON object", WEFT_EPARSE;
    const weft_json *id = weft_json_get(root, "device_id");
    weft_str ids = weft_json_str(id);
    char num[24];
    if (id && id->type == WEFT_JSON_INT) ids = (weft_str){num, weft_i64_to_text(num, id->u.i)};
    if (!ids.p || !copy_id(out->device_id, ids))
        return *why = "device_id is required (a string of 1 to 64 characters)", WEFT_EPARSE;
    const weft_json *loc = weft_json_get(root, "location");
    if (!loc) return *why = "location is required", WEFT_EPARSE;
    size_t start = attrs->len;
    if (loc->type == WEFT_JSON_ARRAY) {
        if (loc->len == 0) return *why = "location is an empty array", WEFT_EPARSE;
        if ((int)loc->len > cap || loc->len > OSMAND_BATCH_MAX)
            return *why = "too many locations in one batch", WEFT_ELIMIT;
        for (uint32_t i = 0; i < loc->len; i++) {
            if ((rc = one_location(&loc->u.items[i], now_ms, &fixes[i], attrs, why)) < 0) {
                attrs->len = start;
                return rc;
            }
        }
        out->nfix = (int)loc->len;
        return 0;
    }
    if (cap < 1) return *why = "no room for a fix", WEFT_ELIMIT;
    if ((rc = one_location(loc, now_ms, &fixes[0], attrs, why)) < 0) return rc;
    out->nfix = 1;
    return 0;
}
