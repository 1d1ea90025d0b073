/* apps/fleet/motion.c — motion chunks (see motion.h). */
#include "motion.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "blocks.h"
#include "geo.h"

void motion_chunk_from_row(motion_chunk *c, const weft_db_rows *r, int i) {
    c->prev_t = weft_db_int(r, i, 0);
    c->n = weft_db_int(r, i, 1);
    c->moving = (int)weft_db_int(r, i, 2);
    c->first = (motion_fix){weft_db_int(r, i, 3), weft_db_double(r, i, 4), weft_db_double(r, i, 5),
                            weft_db_double(r, i, 6), (int)weft_db_int(r, i, 7)};
    c->last = (motion_fix){weft_db_int(r, i, 8), weft_db_double(r, i, 9), weft_db_double(r, i, 10),
                           weft_db_double(r, i, 11), (int)weft_db_int(r, i, 12)};
    c->dist_m = weft_db_double(r, i, 13);
    c->speed_sum = weft_db_double(r, i, 14);
    c->max_speed = weft_db_double(r, i, 15);
    c->engine_ms = weft_db_int(r, i, 16);
}

/* Does s[0..n) contain the NUL-terminated pat (ASCII case folded unless
 * exact)? pat starts with a character that has no case ('"') and goes on
 * with a letter: the scan jumps between occurrences of the first with
 * memchr and compares the rest only where the letter follows (a Teltonika
 * fix's attributes have a quote on each side of every key, and a
 * strncasecmp at each was the larger part of this scan in perf). */
static int contains(const char *s, size_t n, const char *pat, int exact) {
    size_t m = strlen(pat);
    unsigned char second = (unsigned char)(pat[1] | 0x20);
    for (const char *p = s, *end = s + n; (size_t)(end - p) >= m; p++) {
        if (!(p = memchr(p, pat[0], (size_t)(end - p) - m + 1))) return 0;
        if (((unsigned char)p[1] | 0x20) != second) continue;
        if (exact ? memcmp(p + 1, pat + 1, m - 1) == 0 : strncasecmp(p + 1, pat + 1, m - 1) == 0) return 1;
    }
    return 0;
}

int motion_ign_of(const char *attrs, size_t len, int pg) {
    if (!attrs) return -1;
    if (contains(attrs, len, "\"ignition\":true", pg)) return 1;
    if (contains(attrs, len, "\"ignition\":false", pg)) return 0;
    return -1;
}

int motion_breaks(const motion_chunk *c, const motion_fix *p, double thr) {
    return (p->speed >= thr) != c->moving || c->n >= MOTION_CHUNK_MAX_N || p->t - c->first.t >= MOTION_CHUNK_MAX_MS;
}

void motion_start(motion_chunk *c, const motion_fix *p, int64_t prev_t, double thr) {
    *c = (motion_chunk){.prev_t = prev_t, .n = 1, .moving = p->speed >= thr, .first = *p, .last = *p};
}

void motion_extend(motion_chunk *c, const motion_fix *p) {
    c->dist_m += geo_distance_m(c->last.lat, c->last.lon, p->lat, p->lon);
    if (c->last.ign == 1) c->engine_ms += p->t - c->last.t;
    c->speed_sum += p->speed;
    c->max_speed = fmax(c->max_speed, p->speed);
    c->last = *p;
    c->n++;
}

/* ---- the writer's map ------------------------------------------------------------------ */

enum { ST_BEHIND = 0, ST_PENDING, ST_SYNCED };

/* A device's slot: its open chunk, packed (every device that reports holds
 * one). The values are the motion_chunk's to the bit (doubles stay doubles:
 * they are written to motion_chunks as they are); what narrows is what has
 * a bound: n <= MOTION_CHUNK_MAX_N, engine_ms < MOTION_CHUNK_MAX_MS (a chunk
 * spans less), the flags. */
typedef struct slot_fix {
    int64_t t;
    double lat, lon, speed;
} slot_fix;

typedef struct slot {
    int64_t id; /* 0: empty */
    /* has: the open chunk's prev_t; not has (synced): the newest summarised
     * fix time (MOTION_NONE: none) */
    int64_t prev;
    slot_fix first, last;
    double dist_m, speed_sum, max_speed;
    int32_t engine_ms;
    uint16_t n;
    int8_t ign0, ign1, moving;
    uint8_t state; /* ST_*: behind the database, queued for catch-up, or following it */
    uint8_t has;   /* the open chunk holds a fix */
} slot;

_Static_assert(sizeof(slot) == 120, "a motion slot is 120 bytes");
_Static_assert(MOTION_CHUNK_MAX_N <= UINT16_MAX && MOTION_CHUNK_MAX_MS <= INT32_MAX, "slot widths");

static void slot_get(const slot *s, motion_chunk *c) {
    *c = (motion_chunk){.prev_t = s->prev,
                        .n = s->n,
                        .moving = s->moving,
                        .first = {s->first.t, s->first.lat, s->first.lon, s->first.speed, s->ign0},
                        .last = {s->last.t, s->last.lat, s->last.lon, s->last.speed, s->ign1},
                        .dist_m = s->dist_m,
                        .speed_sum = s->speed_sum,
                        .max_speed = s->max_speed,
                        .engine_ms = s->engine_ms};
}

static void slot_put(slot *s, const motion_chunk *c) {
    s->prev = c->prev_t;
    s->n = (uint16_t)c->n;
    s->moving = (int8_t)c->moving;
    s->first = (slot_fix){c->first.t, c->first.lat, c->first.lon, c->first.speed};
    s->last = (slot_fix){c->last.t, c->last.lat, c->last.lon, c->last.speed};
    s->ign0 = (int8_t)c->first.ign, s->ign1 = (int8_t)c->last.ign;
    s->dist_m = c->dist_m, s->speed_sum = c->speed_sum, s->max_speed = c->max_speed;
    s->engine_ms = (int32_t)c->engine_ms;
    s->has = 1;
}

#define CHUNK_COLS 19
#define CHUNK_MAX_ROWS 16 /* a STORE_CHUNK size: 16 x 19 = 304 arguments */
_Static_assert(CHUNK_MAX_ROWS * CHUNK_COLS <= 1024, "a chunk INSERT's arguments fit weft_db's limit");

typedef struct chunk_row {
    int64_t device_id;
    motion_chunk c;
} chunk_row;

/* The slots sit in blocks of SLOT_BLOCK, allocated whole and never moved
 * (slot k is blk[k / SLOT_BLOCK][k % SLOT_BLOCK]), found through an
 * open-addressing index of slot numbers (cap a power of two, at most 3/4
 * full, 4 bytes an entry). A dense array grown by doubling cost about 160
 * bytes a device at 100,000 and left the arrays it outgrew with the
 * allocator; a table of whole slots at 3/4 full, doubled at 98,304, cost 420. */
#define SLOT_BLOCK 1024

struct motion_map {
    int pg;
    double thr;
    void **blk; /* of SLOT_BLOCK slots each */
    size_t nblk, blkcap, n;
    uint32_t *idx; /* slot number + 1; 0: empty */
    size_t cap;
    int64_t *pending;
    size_t npending, cappending;
    /* finished chunks not inserted yet: written in multi-row INSERTs by
     * flush(), before any other statement on motion_chunks and at the end
     * of the catch-up (one statement per chunk was a third of the SQLite
     * thread's statements at the bench's OsmAnd rate) */
    chunk_row *out;
    size_t nout, capout;
    char *ins_sql[4];         /* STORE_CHUNK[i] rows */
    weft_db_arg *args;        /* 64 * CHUNK_COLS */
};

static void bind_chunk(weft_db_arg *a, const chunk_row *r, double thr) {
    const motion_chunk *c = &r->c;
    a[0] = WEFT_DB_INT(r->device_id), a[1] = WEFT_DB_INT(c->first.t), a[2] = WEFT_DB_INT(c->last.t);
    a[3] = WEFT_DB_INT(c->prev_t), a[4] = WEFT_DB_INT(c->n), a[5] = WEFT_DB_INT(c->moving);
    a[6] = WEFT_DB_DOUBLE(thr), a[7] = WEFT_DB_DOUBLE(c->first.lat), a[8] = WEFT_DB_DOUBLE(c->first.lon);
    a[9] = WEFT_DB_DOUBLE(c->first.speed), a[10] = WEFT_DB_INT(c->first.ign), a[11] = WEFT_DB_DOUBLE(c->last.lat);
    a[12] = WEFT_DB_DOUBLE(c->last.lon), a[13] = WEFT_DB_DOUBLE(c->last.speed), a[14] = WEFT_DB_INT(c->last.ign);
    a[15] = WEFT_DB_DOUBLE(c->dist_m), a[16] = WEFT_DB_DOUBLE(c->speed_sum), a[17] = WEFT_DB_DOUBLE(c->max_speed);
    a[18] = WEFT_DB_INT(c->engine_ms);
}

/* c is a finished chunk of device_id: queued for the next flush. */
static int put_chunk(motion_map *m, int64_t device_id, const motion_chunk *c) {
    if (m->nout == m->capout) {
        size_t cap = m->capout ? m->capout * 2 : 64;
        chunk_row *p = realloc(m->out, cap * sizeof *p);
        if (!p) return WEFT_ENOMEM;
        m->out = p, m->capout = cap;
    }
    m->out[m->nout++] = (chunk_row){device_id, *c};
    return 0;
}

/* Insert the queued chunks. */
static int flush(motion_map *m, store_tx *tx, weft_db_err *e, int64_t deadline) {
    int rc = 0;
    size_t i = 0;
    while (rc == 0 && i < m->nout) {
        size_t left = m->nout - i;
        /* at most CHUNK_MAX_ROWS a statement: 64 rows x 19 columns is over
         * the PostgreSQL driver's 1,024 arguments a statement */
        int c = store_chunk(left > CHUNK_MAX_ROWS ? CHUNK_MAX_ROWS : (int)left), rows = STORE_CHUNK[c];
        for (int r = 0; r < rows; r++) bind_chunk(&m->args[r * CHUNK_COLS], &m->out[i + (size_t)r], m->thr);
        rc = store_tx_exec(tx, m->ins_sql[c], m->args, rows * CHUNK_COLS, NULL, e, deadline);
        i += (size_t)rows;
    }
    m->nout = 0; /* on failure the writer rolls back and resets the map */
    return rc;
}

motion_map *motion_map_new(int pg, double thr) {
    motion_map *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    m->pg = pg, m->thr = thr;
    int ok = (m->args = malloc(64 * CHUNK_COLS * sizeof *m->args)) != NULL;
    for (int i = 0; i < 4; i++)
        ok = ok && (m->ins_sql[i] = store_insert_sql("INSERT INTO motion_chunks (device_id, t0, t1, prev_t, n, moving, "
                                                     "thr, lat0, lon0, speed0, ign0, lat1, lon1, speed1, ign1, dist_m, "
                                                     "speed_sum, max_speed, engine_ms) VALUES ",
                                                     CHUNK_COLS, STORE_CHUNK[i], "")) != NULL;
    if (!ok) {
        motion_map_free(m);
        return NULL;
    }
    return m;
}

void motion_map_reset(motion_map *m) {
    for (size_t b = 0; b < m->nblk; b++) free(m->blk[b]);
    free(m->blk);
    free(m->idx);
    m->blk = NULL, m->idx = NULL;
    m->nblk = m->blkcap = m->cap = m->n = 0;
    m->npending = 0;
    m->nout = 0;
}

void motion_map_free(motion_map *m) {
    if (!m) return;
    motion_map_reset(m);
    free(m->pending);
    free(m->out);
    free(m->args);
    for (int i = 0; i < 4; i++) free(m->ins_sql[i]);
    free(m);
}

static size_t home(const motion_map *m, int64_t id) {
    return (size_t)((uint64_t)id * 0x9E3779B97F4A7C15u) & (m->cap - 1);
}

static slot *at(const motion_map *m, size_t k) { return &((slot *)m->blk[k / SLOT_BLOCK])[k % SLOT_BLOCK]; }

static slot *find(motion_map *m, int64_t id) {
    if (!m->cap) return NULL;
    for (size_t i = home(m, id); m->idx[i]; i = (i + 1) & (m->cap - 1))
        if (at(m, m->idx[i] - 1)->id == id) return at(m, m->idx[i] - 1);
    return NULL;
}

static void index_put(motion_map *m, size_t k) {
    size_t i = home(m, at(m, k)->id);
    while (m->idx[i]) i = (i + 1) & (m->cap - 1);
    m->idx[i] = (uint32_t)(k + 1);
}

static slot *get(motion_map *m, int64_t id) {
    slot *s = find(m, id);
    if (s) return s;
    if (m->n >= UINT32_MAX - 1) return NULL;
    if (m->n == m->nblk * SLOT_BLOCK && !blocks_add(&m->blk, &m->nblk, &m->blkcap, SLOT_BLOCK * sizeof(slot)))
        return NULL;
    if ((m->n + 1) * 4 > m->cap * 3) { /* grow the index at 3/4 full */
        size_t cap = m->cap ? m->cap * 2 : 128;
        uint32_t *ni = calloc(cap, sizeof *ni);
        if (!ni) return NULL;
        free(m->idx);
        m->idx = ni, m->cap = cap;
        for (size_t k = 0; k < m->n; k++) index_put(m, k);
    }
    *at(m, m->n) = (slot){.id = id};
    index_put(m, m->n);
    return at(m, m->n++);
}

static int queue(motion_map *m, slot *s) {
    if (s->state == ST_PENDING) return 0;
    if (m->npending == m->cappending) {
        size_t cap = m->cappending ? m->cappending * 2 : 64;
        int64_t *p = realloc(m->pending, cap * sizeof *p);
        if (!p) return WEFT_ENOMEM;
        m->pending = p, m->cappending = cap;
    }
    m->pending[m->npending++] = s->id;
    s->state = ST_PENDING, s->has = 0;
    return 0;
}

int motion_add(motion_map *m, store_tx *tx, int64_t device_id, const motion_fix *p, weft_db_err *e,
               int64_t deadline) {
    slot *s = get(m, device_id);
    if (!s) return WEFT_ENOMEM;
    if (s->state != ST_SYNCED) return queue(m, s); /* the catch-up reads it from the database */
    int64_t last = s->has ? s->last.t : s->prev;
    if (p->t == last) return 0; /* a duplicate: the stored fix stays */
    if (p->t < last) {
        /* late: the chunks it falls into or before are out of date */
        weft_db_arg a[] = {WEFT_DB_INT(device_id), WEFT_DB_INT(p->t)};
        int rc = flush(m, tx, e, deadline); /* the DELETE sees the chunks queued before */
        if (rc == 0)
            rc = store_tx_exec(tx, "DELETE FROM motion_chunks WHERE device_id = $1 AND t1 >= $2", a, 2, NULL, e,
                               deadline);
        return rc < 0 ? rc : queue(m, s);
    }
    motion_chunk c;
    if (!s->has) {
        motion_start(&c, p, s->prev, m->thr);
        slot_put(s, &c);
        return 0;
    }
    slot_get(s, &c);
    if (!motion_breaks(&c, p, m->thr)) {
        motion_extend(&c, p);
        slot_put(s, &c);
        return 0;
    }
    int rc = put_chunk(m, device_id, &c);
    if (rc < 0) return rc;
    motion_start(&c, p, c.last.t, m->thr);
    slot_put(s, &c);
    return 0;
}

/* Read device s's fixes after its last chunk, up to *budget of them. */
static int catch_up_one(motion_map *m, slot *s, store_tx *tx, int64_t *budget, weft_db_err *e, int64_t deadline) {
    weft_db_arg a[] = {WEFT_DB_INT(s->id)};
    weft_db_rows *r = NULL;
    int rc = flush(m, tx, e, deadline); /* the device's last chunk may be queued */
    if (rc < 0) return rc;
    int64_t hi = MOTION_NONE;
    rc = store_tx_query_i64(tx, "SELECT t1 FROM motion_chunks WHERE device_id = $1 ORDER BY t0 DESC LIMIT 1", a, 1,
                            &hi, e, deadline);
    if (rc < 0 && rc != WEFT_ENOENT) return rc; /* no chunk yet: MOTION_NONE */
    int64_t lim = *budget;
    weft_db_arg b[] = {WEFT_DB_INT(s->id), WEFT_DB_INT(hi == MOTION_NONE ? INT64_MIN + 1 : hi), WEFT_DB_INT(lim)};
    rc = store_tx_query(tx,
                        "SELECT fix_time, latitude, longitude, speed, " MOTION_IGN_SQL " FROM positions "
                        "WHERE device_id = $1 AND fix_time > $2 ORDER BY fix_time LIMIT $3",
                        b, 3, &r, e, deadline);
    if (rc < 0) return rc;
    int n = weft_db_nrows(r);
    motion_chunk c;
    int has = 0;
    for (int k = 0; k < n && rc == 0; k++) {
        motion_fix p = {weft_db_int(r, k, 0), weft_db_double(r, k, 1), weft_db_double(r, k, 2),
                        weft_db_double(r, k, 3), (int)weft_db_int(r, k, 4)};
        if (!has) {
            motion_start(&c, &p, hi, m->thr), has = 1;
        } else if (!motion_breaks(&c, &p, m->thr)) {
            motion_extend(&c, &p);
        } else if ((rc = put_chunk(m, s->id, &c)) == 0) {
            motion_start(&c, &p, c.last.t, m->thr);
        }
    }
    weft_db_rows_free(r);
    *budget -= n;
    s->has = 0, s->prev = hi;
    if (rc < 0) return rc;
    /* all read: the open chunk follows the database from here; else the
     * rest next time, from the last chunk written */
    s->state = n < lim ? ST_SYNCED : ST_BEHIND;
    if (s->state == ST_SYNCED && has) slot_put(s, &c);
    return 0;
}

int motion_catch_up(motion_map *m, store_tx *tx, weft_db_err *e, int64_t deadline) {
    int64_t budget = MOTION_CATCHUP_MAX;
    size_t k = 0;
    int rc = 0;
    for (; k < m->npending && budget > 0 && rc == 0; k++) {
        slot *s = find(m, m->pending[k]);
        if (s && s->state == ST_PENDING) rc = catch_up_one(m, s, tx, &budget, e, deadline);
    }
    if (rc < 0) return rc;
    /* the ones left over (budget spent) wait for the next batch, in order */
    for (size_t i = k; i < m->npending; i++) {
        slot *s = find(m, m->pending[i]);
        if (s) s->state = ST_BEHIND;
    }
    size_t left = 0;
    for (size_t i = 0; i < m->npending; i++) {
        slot *s = find(m, m->pending[i]);
        if (s && s->state == ST_BEHIND) m->pending[left++] = m->pending[i], s->state = ST_PENDING;
    }
    m->npending = left;
    return flush(m, tx, e, deadline);
}
