/* apps/fleet/live.c — the in-memory device table (see live.h). */
#include "live.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "blocks.h"

/* The entries sit in blocks of LIVE_BLOCK, allocated whole and never moved
 * (entries are stable), so an entry costs its size and no allocator
 * overhead; entry k (in creation order) is blocks[k / LIVE_BLOCK][k %
 * LIVE_BLOCK]. The maps hold entry numbers + 1 (4 bytes a slot, not 8). */
#define LIVE_BLOCK 64

_Static_assert(sizeof(live_state) == 152, "live_state is packed (live.h)");
_Static_assert(sizeof(live_device) <= 320, "a device entry stays within 320 bytes");

struct live {
    pthread_rwlock_t mu;
    void **blocks; /* of LIVE_BLOCK live_device each */
    size_t n, nblocks; /* entries made (deleted ones included); blocks allocated */
    size_t bcap;       /* room in blocks[] */
    /* open addressing, power-of-two sizes, at most half full; 0 = empty */
    uint32_t *by_uid, *by_id;
    size_t slots;
};

static live_device *at(const live *l, size_t k) { return &((live_device *)l->blocks[k / LIVE_BLOCK])[k % LIVE_BLOCK]; }

static uint64_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}
static uint64_t hash_id(int64_t id) { return (uint64_t)id * 0x9E3779B97F4A7C15ull; }

void live_state_init(live_state *st) {
    memset(st, 0, sizeof *st);
    st->ignition = st->motion = FLEET_UNKNOWN;
    st->battery_pct = st->power_v = st->odometer_m = NAN;
}

live *live_new(void) {
    live *l = calloc(1, sizeof *l);
    if (!l) return NULL;
    pthread_rwlock_init(&l->mu, NULL);
    l->slots = 1024;
    l->by_uid = calloc(l->slots, sizeof *l->by_uid);
    l->by_id = calloc(l->slots, sizeof *l->by_id);
    if (!l->by_uid || !l->by_id) {
        live_free(l);
        return NULL;
    }
    return l;
}

void live_free(live *l) {
    if (!l) return;
    for (size_t i = 0; i < l->n; i++) {
        live_device *d = at(l, i);
        free(d->attrs);
        free(d->geo);
        free((char *)d->unique_id);
        pthread_mutex_destroy(&d->mu);
    }
    for (size_t b = 0; b < l->nblocks; b++) free(l->blocks[b]);
    free(l->blocks);
    free(l->by_uid);
    free(l->by_id);
    pthread_rwlock_destroy(&l->mu);
    free(l);
}

/* Insert entry k into the maps (caller holds mu exclusively; room guaranteed). */
static void map_insert(live *l, size_t k) {
    const live_device *d = at(l, k);
    size_t mask = l->slots - 1;
    size_t i = hash_str(d->unique_id) & mask;
    while (l->by_uid[i]) i = (i + 1) & mask;
    l->by_uid[i] = (uint32_t)(k + 1);
    i = hash_id(d->id) & mask;
    while (l->by_id[i]) i = (i + 1) & mask;
    l->by_id[i] = (uint32_t)(k + 1);
}

static int grow(live *l) {
    size_t slots = l->slots * 2;
    uint32_t *u = calloc(slots, sizeof *u), *d = calloc(slots, sizeof *d);
    if (!u || !d) {
        free(u), free(d);
        return -1;
    }
    free(l->by_uid), free(l->by_id);
    l->by_uid = u, l->by_id = d, l->slots = slots;
    for (size_t k = 0; k < l->n; k++)
        if (!at(l, k)->deleted) map_insert(l, k);
    return 0;
}

/* Lookups by map; deleted entries are never in the maps. */
static live_device *find_uid(live *l, const char *uid) {
    size_t mask = l->slots - 1;
    for (size_t i = hash_str(uid) & mask; l->by_uid[i]; i = (i + 1) & mask) {
        live_device *d = at(l, l->by_uid[i] - 1);
        if (strcmp(d->unique_id, uid) == 0) return d;
    }
    return NULL;
}
static live_device *find_id(live *l, int64_t id) {
    size_t mask = l->slots - 1;
    for (size_t i = hash_id(id) & mask; l->by_id[i]; i = (i + 1) & mask) {
        live_device *d = at(l, l->by_id[i] - 1);
        if (d->id == id) return d;
    }
    return NULL;
}

/* Rebuild both maps without d (deleted, or renamed: its unique id changes). */
static void unmap(live *l, live_device *d) {
    memset(l->by_uid, 0, l->slots * sizeof *l->by_uid);
    memset(l->by_id, 0, l->slots * sizeof *l->by_id);
    for (size_t k = 0; k < l->n; k++)
        if (!at(l, k)->deleted && at(l, k) != d) map_insert(l, k);
}

/* The entry number of d (an entry of l). */
static size_t index_of(const live *l, const live_device *d) {
    for (size_t b = 0; b < l->nblocks; b++) {
        const live_device *first = l->blocks[b];
        if (d >= first && d < first + LIVE_BLOCK) return b * LIVE_BLOCK + (size_t)(d - first);
    }
    return SIZE_MAX; /* not reached: d is one of l's */
}

/* src (NULL: "") cut to max bytes at dst, NUL-terminated; the next byte. */
static char *put(char *dst, const char *src, size_t max) {
    size_t n = src ? strnlen(src, max) : 0;
    if (n) memcpy(dst, src, n);
    dst[n] = 0;
    return dst + n + 1;
}

/* The three strings in one block of their exact size; NULL on ENOMEM. */
static char *pack(const char *uid, const char *name, const char *category, const char **name_at,
                  const char **category_at) {
    size_t n = (uid ? strnlen(uid, LIVE_UNIQUE_ID_MAX) : 0) + (name ? strnlen(name, LIVE_NAME_MAX) : 0) +
               strnlen(category, LIVE_CATEGORY_MAX) + 3;
    char *b = malloc(n);
    if (!b) return NULL;
    char *p = put(b, uid, LIVE_UNIQUE_ID_MAX);
    *name_at = p;
    p = put(p, name, LIVE_NAME_MAX);
    *category_at = p;
    put(p, category, LIVE_CATEGORY_MAX);
    return b;
}

live_device *live_put(live *l, int64_t id, const char *unique_id, const char *name,
                      const char *category, int64_t group_id, double speed_limit_kn, int disabled) {
    const char *nm, *cat;
    char *strs = pack(unique_id, name, category ? category : "default", &nm, &cat);
    if (!strs) return NULL;
    char *old = NULL;
    pthread_rwlock_wrlock(&l->mu);
    live_device *d = find_id(l, id);
    if (d) {
        int rekey = strcmp(d->unique_id, strs) != 0;
        if (rekey) unmap(l, d); /* re-key the unique id map */
        live_lock(d);
        old = (char *)d->unique_id;
        d->unique_id = strs, d->name = nm, d->category = cat;
        live_unlock(d);
        if (rekey) map_insert(l, index_of(l, d));
    } else {
        if (l->n >= UINT32_MAX - 1) goto oom;
        if ((l->n + 1) * 2 > l->slots && grow(l) < 0) goto oom;
        if (l->n == l->nblocks * LIVE_BLOCK &&
            !blocks_add(&l->blocks, &l->nblocks, &l->bcap, LIVE_BLOCK * sizeof(live_device)))
            goto oom;
        d = at(l, l->n);
        d->id = id;
        d->unique_id = strs, d->name = nm, d->category = cat;
        weft_mutex_init(&d->gate);
        pthread_mutex_init(&d->mu, NULL);
        live_state_init(&d->st);
        map_insert(l, l->n++);
    }
    live_lock(d);
    d->group_id = group_id;
    d->speed_limit_kn = speed_limit_kn;
    d->disabled = disabled;
    d->version++;
    live_unlock(d);
    pthread_rwlock_unlock(&l->mu);
    free(old);
    return d;
oom:
    pthread_rwlock_unlock(&l->mu);
    free(strs);
    return NULL;
}

void live_remove(live *l, int64_t id) {
    pthread_rwlock_wrlock(&l->mu);
    live_device *d = find_id(l, id);
    if (d) {
        d->deleted = 1;
        unmap(l, d);
    }
    pthread_rwlock_unlock(&l->mu);
}

live_device *live_by_unique(live *l, const char *uid) {
    pthread_rwlock_rdlock(&l->mu);
    live_device *d = find_uid(l, uid);
    pthread_rwlock_unlock(&l->mu);
    return d;
}

live_device *live_by_id(live *l, int64_t id) {
    pthread_rwlock_rdlock(&l->mu);
    live_device *d = find_id(l, id);
    pthread_rwlock_unlock(&l->mu);
    return d;
}

live_device **live_list(live *l, size_t *n) {
    pthread_rwlock_rdlock(&l->mu);
    live_device **a = malloc((l->n ? l->n : 1) * sizeof *a);
    if (a)
        for (size_t k = 0; k < l->n; k++) a[k] = at(l, k);
    *n = a ? l->n : 0;
    pthread_rwlock_unlock(&l->mu);
    return a;
}

size_t live_count(live *l) {
    pthread_rwlock_rdlock(&l->mu);
    size_t n = 0;
    for (size_t i = 0; i < l->n; i++) n += !at(l, i)->deleted;
    pthread_rwlock_unlock(&l->mu);
    return n;
}

void live_lock(live_device *d) { pthread_mutex_lock(&d->mu); }
void live_unlock(live_device *d) { pthread_mutex_unlock(&d->mu); }

size_t live_memory(live *l) {
    pthread_rwlock_rdlock(&l->mu);
    size_t b = sizeof *l + l->bcap * sizeof *l->blocks + l->nblocks * LIVE_BLOCK * sizeof(live_device) +
               2 * l->slots * sizeof *l->by_uid;
    for (size_t i = 0; i < l->n; i++) {
        live_device *d = at(l, i);
        /* the strings' block: the three strings and their NULs (its pointers are
         * replaced only under this lock held exclusively) */
        size_t nstr = (size_t)(d->category - d->unique_id) + strlen(d->category) + 1;
        live_lock(d); /* the pipeline grows attrs and geo under it */
        b += d->attrs_cap + nstr + d->geo_cap * sizeof *d->geo;
        live_unlock(d);
    }
    pthread_rwlock_unlock(&l->mu);
    return b;
}

void live_geo_get(const live_device *d, live_geo *g) {
    g->n = d->ngeo;
    if (d->ngeo) memcpy(g->ids, d->geo, d->ngeo * sizeof *d->geo);
}

int live_geo_reserve(live_device *d, uint32_t n) {
    if (n <= d->geo_cap) return 0;
    if (n > LIVE_GEOFENCES_MAX) return WEFT_EINVAL;
    int64_t *a = realloc(d->geo, n * sizeof *a);
    if (!a) return WEFT_ENOMEM;
    d->geo = a, d->geo_cap = (uint8_t)n;
    return 0;
}

void live_geo_set(live_device *d, const live_geo *g) {
    if (g->n > d->geo_cap) return; /* not reserved: a caller's bug, kept harmless */
    if (g->n) memcpy(d->geo, g->ids, g->n * sizeof *d->geo);
    d->ngeo = (uint8_t)g->n;
    if (!g->n && d->geo_cap) free(d->geo), d->geo = NULL, d->geo_cap = 0; /* most devices are inside none */
}
