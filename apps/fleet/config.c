/*
 * apps/fleet/config.c — settings (see config.h). One table lists every
 * setting: its JSON path, type, range and where it lives in fleet_config; the
 * file reader, the environment reader and docs/fleet.md follow it.
 *
 * weft's JSON DOM keeps no source offsets (it is built for speed), so a
 * message's line and column come from locate(): a walk over the text, which
 * the parser has already accepted as valid JSON, to the member a path names.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "weft/json.h"

typedef enum { T_INT, T_I64, T_DBL, T_BOOL, T_STR, T_POW2 } ctype; /* T_POW2: 0 or a power of two in range */

typedef struct setting {
    const char *section, *key, *env;
    ctype type;
    size_t off, size; /* T_STR: buffer size */
    double min, max;
} setting;

#define F(m) offsetof(fleet_config, m), sizeof(((fleet_config *)0)->m)
static const setting settings[] = {
    {"web", "host", NULL, T_STR, F(web_host), 0, 0},
    {"web", "port", "WEFT_FLEET_HTTP_PORT", T_INT, F(web_port), 0, 65535},
    {"web", "tile_url", "WEFT_FLEET_TILE_URL", T_STR, F(web_tile_url), 0, 0},
    {"web", "secure_cookies", NULL, T_BOOL, F(web_secure_cookies), 0, 1},
    {"web", "root", "WEFT_FLEET_WEB_ROOT", T_STR, F(web_root), 0, 0},
    {"web", "overlays", "WEFT_FLEET_OVERLAYS", T_STR, F(web_overlays), 0, 0},
    {"ingest", "host", NULL, T_STR, F(ingest_host), 0, 0},
    {"ingest", "osmand_port", "WEFT_FLEET_OSMAND_PORT", T_INT, F(osmand_port), 0, 65535},
    {"ingest", "teltonika_port", "WEFT_FLEET_TELTONIKA_PORT", T_INT, F(teltonika_port), 0, 65535},
    {"ingest", "auto_register", NULL, T_BOOL, F(auto_register), 0, 1},
    {"ingest", "max_future_s", NULL, T_I64, F(max_future_s), 0, 366 * 86400.0},
    {"storage", "data_dir", "WEFT_FLEET_DATA_DIR", T_STR, F(data_dir), 0, 0},
    {"storage", "postgres", "WEFT_FLEET_PG", T_STR, F(postgres), 0, 0},
    {"storage", "commit_interval_ms", NULL, T_INT, F(commit_interval_ms), 1, 10000},
    {"storage", "commit_max_rows", NULL, T_INT, F(commit_max_rows), 1, 100000},
    {"storage", "commit_gap_ms", NULL, T_INT, F(commit_gap_ms), 0, 10000},
    {"storage", "commit_gap_rows", NULL, T_INT, F(commit_gap_rows), 1, 100000},
    {"storage", "sqlite_mmap_mb", NULL, T_INT, F(sqlite_mmap_mb), 0, 1 << 20},
    {"storage", "sqlite_page_size", NULL, T_POW2, F(sqlite_page_size), 512, 65536},
    {"positions", "retention_days", NULL, T_INT, F(positions_retention_days), 0, 36500},
    {"events", "retention_days", NULL, T_INT, F(events_retention_days), 0, 36500},
    {"status", "offline_timeout_s", NULL, T_I64, F(offline_timeout_s), 10, 30 * 86400.0},
    {"status", "moving_speed_kn", NULL, T_DBL, F(moving_speed_kn), 0, 100},
    {"status", "stop_min_s", NULL, T_I64, F(stop_min_s), 0, 86400},
    {"status", "default_speed_limit_kn", NULL, T_DBL, F(default_speed_limit_kn), 0, 1000},
    {"live", "tick_ms", NULL, T_INT, F(live_tick_ms), 10, 1000},
    {"live", "max_flushes_per_s", NULL, T_INT, F(live_max_flushes_per_s), 0, 100},
    {"live", "queue_kb", NULL, T_INT, F(live_queue_kb), 16, 1 << 20},
    {"auth", "session_days", NULL, T_INT, F(session_days), 1, 3650},
    {"auth", "login_attempts_per_min", NULL, T_INT, F(login_attempts_per_min), 1, 10000},
    {"auth", "admin_email", "WEFT_FLEET_ADMIN_EMAIL", T_STR, F(admin_email), 0, 0},
    {"auth", "admin_password", "WEFT_FLEET_ADMIN_PASSWORD", T_STR, F(admin_password), 0, 0},
    {"demo", "enabled", "WEFT_FLEET_DEMO", T_BOOL, F(demo), 0, 1},
};
#undef F
#define NSETTINGS (sizeof settings / sizeof settings[0])

void fleet_config_defaults(fleet_config *c) {
    memset(c, 0, sizeof *c);
    strcpy(c->web_host, "127.0.0.1");
    c->web_port = 8080;
    strcpy(c->ingest_host, "0.0.0.0");
    c->osmand_port = 5055;
    c->teltonika_port = 5027;
    c->max_future_s = 86400;
    strcpy(c->data_dir, "data");
    c->commit_interval_ms = 5;
    c->commit_max_rows = 2000;
    c->commit_gap_ms = 5;    /* docs/fleet.md "Why the linger adapts": live CPU against OsmAnd's rate */
    c->commit_gap_rows = 64;
    c->sqlite_mmap_mb = 1024;
    c->positions_retention_days = 90;
    c->events_retention_days = 365;
    c->offline_timeout_s = 600;
    c->moving_speed_kn = 1.5; /* ~2.8 km/h: GPS drift of a parked vehicle stays under it */
    c->stop_min_s = 300;
    c->live_tick_ms = 50; /* docs/fleet.md "Live": p99 fix-to-viewer latency vs CPU */
    c->live_max_flushes_per_s = 0;
    c->live_queue_kb = 1024;
    c->session_days = 30;
    c->login_attempts_per_min = 10;
}

/* ---- locating a member in valid JSON text ------------------------------------ */

static const char *ws(const char *p, const char *e) {
    while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    return p;
}
static const char *skip_str(const char *p, const char *e) { /* p at the opening quote */
    for (p++; p < e && *p != '"'; p++)
        if (*p == '\\') p++;
    return p < e ? p + 1 : e;
}
static const char *skip_val(const char *p, const char *e) {
    p = ws(p, e);
    if (p >= e) return e;
    if (*p == '"') return skip_str(p, e);
    if (*p == '{' || *p == '[') {
        int depth = 0;
        for (; p < e; p++) {
            if (*p == '"') {
                p = skip_str(p, e) - 1;
            } else if (*p == '{' || *p == '[') {
                depth++;
            } else if (*p == '}' || *p == ']') {
                if (--depth == 0) return p + 1;
            }
        }
        return e;
    }
    while (p < e && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\n' && *p != '\r' &&
           *p != '\t')
        p++;
    return p;
}
/* Offset of the member path[0].path[1]... (its key's quote), or of the
 * deepest enclosing member found; 0 when not even path[0] is there. */
static size_t locate(weft_str text, const char *const *path, int n) {
    const char *p = text.p, *e = text.p + text.n;
    size_t best = 0;
    for (int lvl = 0; lvl < n; lvl++) {
        p = ws(p, e);
        if (p >= e || *p != '{') return best;
        p++;
        int found = 0;
        while (p < e) {
            p = ws(p, e);
            if (p >= e || *p != '"') return best;
            const char *k = p + 1, *ke = skip_str(p, e) - 1;
            size_t kl = strlen(path[lvl]);
            int match = (size_t)(ke - k) == kl && memcmp(k, path[lvl], kl) == 0;
            const char *at = p;
            p = ws(ke + 1, e);
            if (p < e && *p == ':') p++;
            if (match) {
                best = (size_t)(at - text.p);
                found = 1;
                break;
            }
            p = ws(skip_val(p, e), e);
            if (p < e && *p == ',') p++;
            else return best;
        }
        if (!found) return best;
    }
    return best;
}

static void line_col(weft_str text, size_t off, int *line, int *col) {
    *line = 1, *col = 1;
    for (size_t i = 0; i < off && i < text.n; i++) {
        if (text.p[i] == '\n') (*line)++, *col = 1;
        else if (((unsigned char)text.p[i] & 0xC0) != 0x80) (*col)++;
    }
}

static int fail_at(char *err, size_t errlen, const char *name, weft_str text, size_t off, int rc,
                   const char *fmt, ...) {
    int line, col;
    line_col(text, off, &line, &col);
    int k = snprintf(err, errlen, "%s:%d:%d: ", name, line, col);
    if (k < 0) k = 0;
    if ((size_t)k < errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err + k, errlen - (size_t)k, fmt, ap);
        va_end(ap);
    }
    return rc;
}

/* ---- one value ------------------------------------------------------------------ */

/* Store v into the setting; on error, write what was expected into why. */
static int set_json(fleet_config *c, const setting *s, const weft_json *v, char *why, size_t wl) {
    char *dst = (char *)c + s->off;
    switch (s->type) {
    case T_INT:
    case T_I64: {
        int64_t i;
        if (weft_json_int(v, &i) != 0 || (double)i < s->min || (double)i > s->max) {
            snprintf(why, wl, "must be an integer from %.0f to %.0f", s->min, s->max);
            return -1;
        }
        if (s->type == T_INT) *(int *)dst = (int)i;
        else *(int64_t *)dst = i;
        return 0;
    }
    case T_POW2: {
        int64_t i;
        if (weft_json_int(v, &i) != 0 || (i && ((double)i < s->min || (double)i > s->max || (i & (i - 1))))) {
            snprintf(why, wl, "must be 0 or a power of two from %.0f to %.0f", s->min, s->max);
            return -1;
        }
        *(int *)dst = (int)i;
        return 0;
    }
    case T_DBL: {
        double d;
        if (weft_json_double(v, &d) != 0 || d < s->min || d > s->max) {
            snprintf(why, wl, "must be a number from %g to %g", s->min, s->max);
            return -1;
        }
        *(double *)dst = d;
        return 0;
    }
    case T_BOOL:
        if (v->type != WEFT_JSON_TRUE && v->type != WEFT_JSON_FALSE) {
            snprintf(why, wl, "must be true or false");
            return -1;
        }
        *(int *)dst = v->type == WEFT_JSON_TRUE;
        return 0;
    case T_STR: {
        weft_str sv = weft_json_str(v);
        if (!sv.p || sv.n >= s->size || memchr(sv.p, 0, sv.n)) {
            snprintf(why, wl, "must be a string of at most %zu bytes", s->size - 1);
            return -1;
        }
        memcpy(dst, sv.p, sv.n);
        dst[sv.n] = 0;
        return 0;
    }
    }
    return -1;
}

static void describe(const weft_json *v, char *out, size_t n) {
    weft_buf b;
    weft_buf_init(&b, 0);
    weft_json_enc e;
    weft_json_enc_init(&e, &b);
    weft_json_enc_value(&e, v);
    if (weft_json_enc_finish(&e) == 0 && b.len <= 40) snprintf(out, n, "%s", b.data);
    else if (b.len > 40) snprintf(out, n, "%.37s...", b.data);
    else snprintf(out, n, "?");
    weft_buf_free(&b);
}

int fleet_config_parse(const char *name, weft_str text, fleet_config *c, char *err, size_t errlen) {
    weft_arena a;
    weft_arena_init(&a, 0);
    weft_json *root = NULL;
    weft_json_error je = {0, NULL};
    int rc = weft_json_parse(text.p, text.n, &a, 32, &root, &je);
    if (rc < 0) {
        fail_at(err, errlen, name, text, je.offset, WEFT_EPARSE, "not valid JSON: %s",
                je.msg ? je.msg : weft_strerror(rc));
        weft_arena_free(&a);
        return WEFT_EPARSE;
    }
    rc = 0;
    if (root->type != WEFT_JSON_OBJECT) {
        rc = fail_at(err, errlen, name, text, 0, WEFT_EINVAL,
                     "the settings must be a JSON object of sections, e.g. {\"web\": {\"port\": 8080}}");
        goto out;
    }
    for (uint32_t i = 0; i < root->len && rc == 0; i++) {
        const weft_json_member *sec = &root->u.members[i];
        const char *path[2] = {sec->key.p, NULL};
        int known = 0;
        for (size_t k = 0; k < NSETTINGS; k++) known |= strcmp(settings[k].section, sec->key.p) == 0;
        if (!known) {
            rc = fail_at(err, errlen, name, text, locate(text, path, 1), WEFT_EINVAL,
                         "%s: unknown section (known: web, ingest, storage, positions, events, status, "
                         "live, auth, demo)", sec->key.p);
            break;
        }
        if (sec->value.type != WEFT_JSON_OBJECT) {
            rc = fail_at(err, errlen, name, text, locate(text, path, 1), WEFT_EINVAL,
                         "%s: must be an object of settings", sec->key.p);
            break;
        }
        for (uint32_t j = 0; j < sec->value.len && rc == 0; j++) {
            const weft_json_member *m = &sec->value.u.members[j];
            path[1] = m->key.p;
            const setting *s = NULL;
            for (size_t k = 0; k < NSETTINGS && !s; k++)
                if (strcmp(settings[k].section, sec->key.p) == 0 && strcmp(settings[k].key, m->key.p) == 0)
                    s = &settings[k];
            if (!s) {
                rc = fail_at(err, errlen, name, text, locate(text, path, 2), WEFT_EINVAL,
                             "%s.%s: unknown setting", sec->key.p, m->key.p);
                break;
            }
            char why[128], got[48];
            if (set_json(c, s, &m->value, why, sizeof why) != 0) {
                describe(&m->value, got, sizeof got);
                rc = fail_at(err, errlen, name, text, locate(text, path, 2), WEFT_EINVAL,
                             "%s.%s: %s (got %s)", sec->key.p, m->key.p, why, got);
            }
        }
    }
out:
    weft_arena_free(&a);
    return rc;
}

int fleet_config_load(const char *path, int required, fleet_config *c, char *err, size_t errlen) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT && !required) return 0;
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(e));
        return -e;
    }
    weft_buf b;
    weft_buf_init(&b, 16 << 20);
    int rc = 0;
    for (;;) {
        if ((rc = weft_buf_reserve(&b, 65536)) < 0) {
            snprintf(err, errlen, "%s: cannot read: %s", path,
                     rc == WEFT_ELIMIT ? "larger than 16 MiB" : weft_strerror(rc));
            break;
        }
        ssize_t n = read(fd, b.data + b.len, 65536);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            rc = -errno;
            snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
            break;
        }
        if (n == 0) break;
        b.len += (size_t)n;
    }
    close(fd);
    if (rc == 0) rc = fleet_config_parse(path, (weft_str){b.data ? b.data : "", b.len}, c, err, errlen);
    weft_buf_free(&b);
    return rc;
}

static const char *plain_getenv(const char *k) { return getenv(k); }

int fleet_config_env(fleet_config *c, const char *(*getenv_fn)(const char *), char *err, size_t errlen) {
    if (!getenv_fn) getenv_fn = plain_getenv;
    for (size_t k = 0; k < NSETTINGS; k++) {
        const setting *s = &settings[k];
        if (!s->env) continue;
        const char *v = getenv_fn(s->env);
        if (!v) continue;
        char *dst = (char *)c + s->off;
        weft_str sv = weft_str_c(v);
        int64_t i;
        int ok = 1;
        switch (s->type) {
        case T_INT:
        case T_I64:
            ok = weft_str_to_i64(sv, &i) == 0 && (double)i >= s->min && (double)i <= s->max;
            if (ok && s->type == T_INT) *(int *)dst = (int)i;
            else if (ok) *(int64_t *)dst = i;
            if (!ok)
                snprintf(err, errlen, "%s: must be an integer from %.0f to %.0f (got \"%.40s\")", s->env,
                         s->min, s->max, v);
            break;
        case T_BOOL:
            if (!strcmp(v, "1") || !strcmp(v, "true")) *(int *)dst = 1;
            else if (!strcmp(v, "0") || !strcmp(v, "false")) *(int *)dst = 0;
            else ok = 0, snprintf(err, errlen, "%s: must be 1, 0, true or false (got \"%.40s\")", s->env, v);
            break;
        case T_STR:
            ok = sv.n < s->size;
            if (ok) memcpy(dst, v, sv.n + 1);
            else snprintf(err, errlen, "%s: longer than %zu bytes", s->env, s->size - 1);
            break;
        case T_DBL:
        case T_POW2:
            ok = 0;
            snprintf(err, errlen, "%s: not settable from the environment", s->env);
            break;
        }
        if (!ok) return WEFT_EINVAL;
    }
    return 0;
}
