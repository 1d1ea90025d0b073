/* apps/fleet/live.c — the in-memory device table (see live.h). */
#include "live.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct live {
    pthread_rwlock_t mu;
    live_device **all; /* every entry ever made, in creation order */
    size_t n, cap;
    /* open addressing, power-of-two sizes, at most half full */
    live_device **by_uid, **by_id;
    size_t slots;
};

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
        free(l->all[i]->attrs);
        free((char *)l->all[i]->unique_id);
        pthread_mutex_destroy(&l->all[i]->mu);
        free(l->all[i]);
    }
    free(l->all);
    free(l->by_uid);
    free(l->by_id);
    pthread_rwlock_destroy(&l->mu);
    free(l);
}

/* Insert into the maps (caller holds mu exclusively; room guaranteed). */
static void map_insert(live *l, live_device *d) {
    size_t mask = l->slots - 1;
    size_t i = hash_str(d->unique_id) & mask;
    while (l->by_uid[i]) i = (i + 1) & mask;
    l->by_uid[i] = d;
    i = hash_id(d->id) & mask;
    while (l->by_id[i]) i = (i + 1) & mask;
    l->by_id[i] = d;
}

static int grow(live *l) {
    size_t slots = l->slots * 2;
    live_device **u = calloc(slots, sizeof *u), **d = calloc(slots, sizeof *d);
    if (!u || !d) {
        free(u), free(d);
        return -1;
    }
    free(l->by_uid), free(l->by_id);
    l->by_uid = u, l->by_id = d, l->slots = slots;
    for (size_t k = 0; k < l->n; k++)
        if (!l->all[k]->deleted) map_insert(l, l->all[k]);
    return 0;
}

/* Lookups by map; deleted entries are never in the maps. */
static live_device *find_uid(live *l, const char *uid) {
    size_t mask = l->slots - 1;
    for (size_t i = hash_str(uid) & mask; l->by_uid[i]; i = (i + 1) & mask)
        if (strcmp(l->by_uid[i]->unique_id, uid) == 0) return l->by_uid[i];
    return NULL;
}
static live_device *find_id(live *l, int64_t id) {
    size_t mask = l->slots - 1;
    for (size_t i = hash_id(id) & mask; l->by_id[i]; i = (i + 1) & mask)
        if (l->by_id[i]->id == id) return l->by_id[i];
    return NULL;
}

/* Rebuild both maps without d (deleted, or renamed: its unique id changes). */
static void unmap(live *l, live_device *d) {
    memset(l->by_uid, 0, l->slots * sizeof *l->by_uid);
    memset(l->by_id, 0, l->slots * sizeof *l->by_id);
    for (size_t k = 0; k < l->n; k++)
        if (!l->all[k]->deleted && l->all[k] != d) map_insert(l, l->all[k]);
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
        if (rekey) map_insert(l, d);
    } else {
        if ((l->n + 1) * 2 > l->slots && grow(l) < 0) goto oom;
        if (l->n == l->cap) {
            size_t cap = l->cap ? l->cap * 2 : 256;
            live_device **a = realloc(l->all, cap * sizeof *a);
            if (!a) goto oom;
            l->all = a, l->cap = cap;
        }
        d = calloc(1, sizeof *d);
        if (!d) goto oom;
        d->id = id;
        d->unique_id = strs, d->name = nm, d->category = cat;
        weft_mutex_init(&d->gate);
        pthread_mutex_init(&d->mu, NULL);
        live_state_init(&d->st);
        l->all[l->n++] = d;
        map_insert(l, d);
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
    if (a) memcpy(a, l->all, l->n * sizeof *a);
    *n = a ? l->n : 0;
    pthread_rwlock_unlock(&l->mu);
    return a;
}

size_t live_count(live *l) {
    pthread_rwlock_rdlock(&l->mu);
    size_t n = 0;
    for (size_t i = 0; i < l->n; i++) n += !l->all[i]->deleted;
    pthread_rwlock_unlock(&l->mu);
    return n;
}

void live_lock(live_device *d) { pthread_mutex_lock(&d->mu); }
void live_unlock(live_device *d) { pthread_mutex_unlock(&d->mu); }

size_t live_memory(live *l) {
    pthread_rwlock_rdlock(&l->mu);
    size_t b = sizeof *l + l->cap * sizeof *l->all + 2 * l->slots * sizeof *l->by_uid;
    for (size_t i = 0; i < l->n; i++) {
        const live_device *d = l->all[i];
        /* the strings' block: the three strings and their NULs (its pointers are
         * replaced only under this lock held exclusively) */
        size_t nstr = (size_t)(d->category - d->unique_id) + strlen(d->category) + 1;
        b += sizeof(live_device) + d->attrs_cap + nstr;
    }
    pthread_rwlock_unlock(&l->mu);
    return b;
}
