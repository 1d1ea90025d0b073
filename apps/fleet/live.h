/*
 * apps/fleet/live.h — every device the server knows, with its latest state,
 * in memory: the hot cache that ingest updates and the API and live socket
 * read (the role of Discord's "Read States" service in the articles). No
 * garbage collector and no allocation per fix: a device's entry is allocated
 * once, its attribute buffer grows only when a longer one arrives.
 *
 * Concurrency: the id and unique-id maps are behind one rwlock (lookups take
 * it shared; they are far more frequent than devices being added). Each
 * device's state is behind its own mutex (live_lock): short sections, no
 * suspension inside. A device's fixes are processed one batch at a time
 * (pipeline.c holds its `gate`, a weft mutex, across the commit), so state
 * transitions happen in fix order.
 */
#ifndef FLEET_LIVE_H
#define FLEET_LIVE_H

#include <pthread.h>
#include <stdint.h>

#include "weft/rt.h"

#include "fix.h"

#define LIVE_GEOFENCES_MAX 16 /* geofences one device can be inside at once (more: ignored) */
#define LIVE_ATTRS_MAX 2048   /* longer attributes are not kept in memory (read from the store) */

typedef enum live_status { LIVE_UNKNOWN = 0, LIVE_ONLINE, LIVE_OFFLINE } live_status;

/* A device's latest state: what the last in-order fix and the server's
 * rules (events.c) made of it. Plain data: the pipeline works on a copy and
 * stores it back only once the fixes it came from are durable. */
typedef struct live_state {
    int has_fix;
    int64_t fix_ms, server_ms; /* of the latest fix */
    double lat, lon, speed_kn, course, altitude, accuracy;
    int valid;
    int ignition, motion; /* tri-state, FLEET_UNKNOWN when never reported */
    double battery_pct, power_v, odometer_m;
    char protocol[12];
    live_status status;
    int64_t last_seen_ms; /* server time of the last message of any kind */
    int moving;           /* the server's motion state: 1 moving, 0 stopped */
    int64_t motion_since_ms;
    int overspeeding;
    uint32_t ngeo;
    int64_t geofences[LIVE_GEOFENCES_MAX]; /* ids, ascending */
    double distance_today_m;
    int64_t day;      /* the UTC day distance_today_m counts */
    uint32_t alarms;      /* alarm bits of the latest fix */
    int64_t slow_since_ms; /* moving, but below the threshold since then; 0 = not */
} live_state;

/* The longest unique id, name and category kept (the API's limits). */
#define LIVE_UNIQUE_ID_MAX 64
#define LIVE_NAME_MAX 128
#define LIVE_CATEGORY_MAX 32

/* What the server knows of a device: its registration (copied from the
 * devices table) and its latest state. */
typedef struct live_device {
    int64_t id;
    /* unique_id, name and category: three strings in one allocation of their
     * exact size (the block starts at unique_id). live_put replaces the block
     * and frees the old one, so read them under live_lock (unique_id also
     * under the table's lock, which lookups hold) and copy what must outlive
     * it (model_view). */
    const char *unique_id, *name, *category;
    int64_t group_id; /* 0 = none */
    double speed_limit_kn;
    int disabled;
    int deleted;

    weft_mutex gate; /* held by the pipeline across a batch's commit */

    pthread_mutex_t mu; /* live_lock: the state below */

    live_state st; /* latest state, under mu */
    char *attrs;      /* latest attributes (JSON object), NULL when none or too long */
    uint32_t attrs_len, attrs_cap;
    uint64_t version; /* bumped on every change, for the live socket */
    int feed_pending; /* queued for the next live update (feed.c, under its lock) */
    uint64_t feed_sig;   /* feed.c's task only: what its last device entry showed ... */
    int64_t feed_sent_ms; /* ... and when it was sent */
} live_device;

/* A state with nothing known yet. */
void live_state_init(live_state *st);

typedef struct live live;

live *live_new(void);
void live_free(live *l);

/* Add or replace a device's registration (from the devices table or the
 * API); its live state is kept when it already exists. Returns the entry
 * (stable for the life of the process) or NULL when out of memory. */
live_device *live_put(live *l, int64_t id, const char *unique_id, const char *name,
                      const char *category, int64_t group_id, double speed_limit_kn, int disabled);
/* Mark deleted: lookups no longer find it; the entry stays allocated. */
void live_remove(live *l, int64_t id);

live_device *live_by_unique(live *l, const char *unique_id);
live_device *live_by_id(live *l, int64_t id);

/* The devices, for iteration: *n gets the count; entries of deleted devices
 * are included with deleted set. The array is a snapshot (malloc'd; free it). */
live_device **live_list(live *l, size_t *n);
size_t live_count(live *l);

void live_lock(live_device *d);
void live_unlock(live_device *d);

/* Bytes of memory the live state uses (entries, maps, attribute buffers). */
size_t live_memory(live *l);

#endif
