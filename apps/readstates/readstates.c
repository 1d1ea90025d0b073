/*
 * apps/readstates/readstates.c — the Read States store, the request parsing
 * and the routes (readstates.h says what they answer).
 *
 * Store layout: SHARDS tables, each a power-of-two array of rs_state slots
 * probed linearly from the key's hash; the hash's top bits pick the shard,
 * the next bits the first slot. Entries are 40 bytes inline (no pointer per
 * entry, nothing for an allocator or a collector to walk); tables are sized
 * at creation for a load factor of at most 0.7 and never resized, so there
 * is no rehash pause either. A shard's mutex is held only for one probe and
 * a 40-byte copy, never across a suspension.
 */
#include "readstates.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SHARD_BITS 6
#define SHARDS (1u << SHARD_BITS)

typedef struct shard {
    pthread_mutex_t mu;
    rs_state *slot;
    size_t mask; /* capacity - 1 */
    size_t len;
} shard;

struct rs_store {
    shard sh[SHARDS];
};

static uint64_t mix(uint64_t k) {
    k *= 0x9E3779B97F4A7C15ull; /* Fibonacci hashing: the top bits are well mixed */
    return k ^ (k >> 29);
}

rs_store *rs_store_new(size_t entries) {
    rs_store *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    size_t per = entries / SHARDS + 1, cap = 16;
    while ((double)cap * 0.7 < (double)per) cap *= 2;
    for (unsigned i = 0; i < SHARDS; i++) {
        pthread_mutex_init(&s->sh[i].mu, NULL);
        s->sh[i].slot = calloc(cap, sizeof(rs_state));
        s->sh[i].mask = cap - 1;
        if (!s->sh[i].slot) {
            rs_store_free(s);
            return NULL;
        }
    }
    return s;
}

void rs_store_free(rs_store *s) {
    if (!s) return;
    for (unsigned i = 0; i < SHARDS; i++) {
        free(s->sh[i].slot);
        pthread_mutex_destroy(&s->sh[i].mu);
    }
    free(s);
}

/* The slot of user in sh: its own, or the empty one where it would go, or
 * NULL when the table is full and user is not in it. Called locked. */
static rs_state *probe(shard *sh, uint64_t h, uint64_t user) {
    size_t i = (size_t)(h >> SHARD_BITS) & sh->mask;
    for (size_t n = 0; n <= sh->mask; n++, i = (i + 1) & sh->mask) {
        rs_state *e = &sh->slot[i];
        if (e->user == user || e->user == 0) return e;
    }
    return NULL;
}

static shard *shard_of(rs_store *s, uint64_t h) { return &s->sh[h >> (64 - SHARD_BITS)]; }

int rs_store_put(rs_store *s, const rs_state *st) {
    if (st->user == 0) return WEFT_EINVAL;
    uint64_t h = mix(st->user);
    shard *sh = shard_of(s, h);
    int rc = 0;
    pthread_mutex_lock(&sh->mu);
    rs_state *e = probe(sh, h, st->user);
    if (!e || (e->user == 0 && (double)(sh->len + 1) > 0.9 * (double)(sh->mask + 1))) {
        rc = WEFT_ELIMIT; /* keep probes short: never fill a table past 90 % */
    } else {
        if (e->user == 0) sh->len++;
        *e = *st;
    }
    pthread_mutex_unlock(&sh->mu);
    return rc;
}

/* Lock user's shard and find its entry: the entry (shard locked, *out_sh
 * set; the caller unlocks) or NULL (nothing locked). */
static rs_state *find_locked(rs_store *s, uint64_t user, shard **out_sh) {
    if (user == 0) return NULL;
    uint64_t h = mix(user);
    shard *sh = shard_of(s, h);
    pthread_mutex_lock(&sh->mu);
    rs_state *e = probe(sh, h, user);
    if (!e || e->user != user) {
        pthread_mutex_unlock(&sh->mu);
        return NULL;
    }
    *out_sh = sh;
    return e;
}

int rs_store_get(rs_store *s, uint64_t user, rs_state *out) {
    shard *sh;
    rs_state *e = find_locked(s, user, &sh);
    if (!e) return WEFT_ENOENT;
    *out = *e;
    pthread_mutex_unlock(&sh->mu);
    return 0;
}

int rs_store_ack(rs_store *s, uint64_t user, uint64_t channel, uint64_t message, int64_t now_ms,
                 rs_state *out) {
    shard *sh;
    rs_state *e = find_locked(s, user, &sh);
    if (!e) return WEFT_ENOENT;
    e->channel = channel;
    e->last_message = message;
    e->mentions = 0;
    e->updated_ms = now_ms;
    *out = *e;
    pthread_mutex_unlock(&sh->mu);
    return 0;
}

size_t rs_store_len(const rs_store *s) {
    size_t n = 0;
    for (unsigned i = 0; i < SHARDS; i++) n += s->sh[i].len; /* loading is over when asked */
    return n;
}

rs_state rs_initial(uint64_t u) {
    return (rs_state){.user = u,
                      .channel = 1000 + (u * 2654435761ull) % 100000,
                      .last_message = 1000000000000000ull + 7 * u,
                      .mentions = (uint32_t)(u % 4),
                      .updated_ms = 1700000000000ll + (int64_t)u};
}

int rs_load(rs_store *s, uint64_t n) {
    for (uint64_t u = 1; u <= n; u++) {
        rs_state st = rs_initial(u);
        int rc = rs_store_put(s, &st);
        if (rc) return rc;
    }
    return 0;
}

int rs_parse_user(weft_str s, uint64_t *out) {
    /* No leading zero: one spelling per id (and "0" is no user). The peers'
     * ids are signed-safe, so at most INT64_MAX. */
    uint64_t v = 0;
    if (s.n == 0 || s.p[0] == '0' || weft_str_to_u64(s, &v) || v > INT64_MAX) return WEFT_EINVAL;
    *out = v;
    return 0;
}

static int field(const weft_json *obj, const char *key, uint64_t *out, const char **why,
                 const char *missing, const char *bad) {
    const weft_json *v = weft_json_get(obj, key);
    int64_t i;
    if (!v) {
        *why = missing;
        return WEFT_EINVAL;
    }
    if (weft_json_int(v, &i) || i < 0) {
        *why = bad;
        return WEFT_EINVAL;
    }
    *out = (uint64_t)i;
    return 0;
}

int rs_parse_ack(const char *body, size_t n, weft_arena *a, rs_ack *out, const char **why) {
    weft_json *doc;
    weft_json_error err;
    if (weft_json_parse(body, n, a, 8, &doc, &err)) {
        *why = "body is not JSON";
        return WEFT_EINVAL;
    }
    if (doc->type != WEFT_JSON_OBJECT) {
        *why = "body is not a JSON object";
        return WEFT_EINVAL;
    }
    if (field(doc, "channel_id", &out->channel, why, "channel_id is missing",
              "channel_id is not a non-negative integer"))
        return WEFT_EINVAL;
    return field(doc, "message_id", &out->message, why, "message_id is missing",
                 "message_id is not a non-negative integer");
}

/* ---- routes ----------------------------------------------------------------- */

static int send_state(weft_http_ctx *c, const rs_state *st) {
    weft_json_enc *e = weft_http_json_begin(c, 200);
    weft_json_enc_object(e);
    weft_json_enc_key(e, WEFT_STR("user_id"));
    weft_json_enc_int(e, (int64_t)st->user);
    weft_json_enc_key(e, WEFT_STR("channel_id"));
    weft_json_enc_int(e, (int64_t)st->channel);
    weft_json_enc_key(e, WEFT_STR("last_message_id"));
    weft_json_enc_int(e, (int64_t)st->last_message);
    weft_json_enc_key(e, WEFT_STR("mention_count"));
    weft_json_enc_int(e, st->mentions);
    weft_json_enc_key(e, WEFT_STR("updated_at"));
    weft_json_enc_int(e, st->updated_ms);
    weft_json_enc_end(e);
    return weft_http_json_end(c);
}

static int user_of(weft_http_ctx *c, uint64_t *u) {
    if (rs_parse_user(weft_http_param(c, "user"), u))
        return weft_http_error(c, 400, "user is not a positive integer");
    return 1;
}

static int get_state(weft_http_ctx *c, void *ud) {
    uint64_t u = 0; /* set when user_of returns 1 (GCC cannot see that) */
    int rc = user_of(c, &u);
    if (rc != 1) return rc;
    rs_state st;
    if (rs_store_get(ud, u, &st)) return weft_http_error(c, 404, "no such user");
    return send_state(c, &st);
}

static int64_t wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int ack_state(weft_http_ctx *c, void *ud) {
    uint64_t u = 0; /* set when user_of returns 1 (GCC cannot see that) */
    int rc = user_of(c, &u);
    if (rc != 1) return rc;
    weft_str body = weft_http_body(c);
    rs_ack ack;
    const char *why = NULL;
    if (rs_parse_ack(body.p, body.n, weft_http_arena(c), &ack, &why))
        return weft_http_error(c, 400, why);
    rs_state st;
    if (rs_store_ack(ud, u, ack.channel, ack.message, wall_ms(), &st))
        return weft_http_error(c, 404, "no such user");
    return send_state(c, &st);
}

weft_http_router *rs_router_new(rs_store *s) {
    weft_http_router *r = weft_http_router_new();
    if (!r) return NULL;
    if (weft_http_route(r, "GET", "/state/{user}", get_state, s) ||
        weft_http_route(r, "POST", "/state/{user}", ack_state, s) ||
        weft_http_route(r, "PUT", "/state/{user}", ack_state, s)) {
        weft_http_router_free(r);
        return NULL;
    }
    return r;
}
