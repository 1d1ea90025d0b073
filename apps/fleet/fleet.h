/*
 * apps/fleet/fleet.h — the server's state, all reachable from one struct
 * (Redis's model): settings, store, live device table, group-commit writer,
 * geofences, the feed of changes for live viewers, metrics. Each subsystem
 * lives in its own file; this header is what they share.
 *
 * Flow of a fix, always in this direction:
 *   ingest_tcp.c / ingest_http.c (bytes -> fixes, via teltonika.c / osmand.c)
 *   -> pipeline.c (validate, dedup, rules of events.c on a copy of the
 *      device's state, geofences)
 *   -> writer.c (group commit; the device is acknowledged after it)
 *   -> live.c (the copy becomes the device's state)
 *   -> feed.c (viewers of the live socket are told)
 */
#ifndef FLEET_FLEET_H
#define FLEET_FLEET_H

#include <pthread.h>
#include <stdatomic.h>

#include "weft/rt.h"

#include "config.h"
#include "events.h"
#include "geo.h"
#include "live.h"
#include "store.h"
#include "writer.h"

enum { PROTO_OSMAND = 0, PROTO_TELTONIKA, PROTO__N };
extern const char *const fleet_proto_names[PROTO__N];

typedef struct fleet_metrics {
    _Atomic int64_t fixes[PROTO__N];      /* stored (or duplicates of stored ones) */
    _Atomic int64_t rejected[PROTO__N];   /* refused by validation */
    _Atomic int64_t duplicates[PROTO__N];
    _Atomic int64_t out_of_order[PROTO__N];
    _Atomic int64_t messages[PROTO__N];   /* requests / packets */
    _Atomic int64_t bad_messages[PROTO__N];
    _Atomic int64_t connections[PROTO__N]; /* open now */
    _Atomic int64_t unknown_devices[PROTO__N];
    _Atomic int64_t events;
    _Atomic int64_t viewers; /* live socket and SSE clients now */
    _Atomic int64_t pruned_positions, pruned_events;
    _Atomic int64_t report_chunks, report_fixes; /* what trips/stops/summary read: motion chunks, raw fixes */
} fleet_metrics;

/* The geofences in force: an immutable snapshot, replaced as a whole when
 * one changes (geofences change rarely, fixes arrive all the time: readers
 * take a reference, never a lock for the duration of a lookup). */
typedef struct fleet_geofences {
    atomic_int refs;
    size_t n;
    int64_t *ids, *group_ids; /* group 0: applies to every device */
    geo_shape *shapes;
    weft_arena arena;
    geo_index *ix;
} fleet_geofences;

typedef struct fleet_feed fleet_feed;

typedef struct fleet {
    fleet_config cfg;
    store *db;
    live *devices;
    writer *w;
    fleet_feed *feed; /* feed.c */
    pthread_mutex_t geo_mu;
    fleet_geofences *geo;
    pthread_rwlock_t groups_mu;
    size_t ngroups;
    struct fleet_group_limit {
        int64_t id;
        double speed_limit_kn;
    } *groups;
    fleet_metrics m;
    int64_t started_ms;
    /* the device ports (fleet_start) */
    struct weft_http_router *osmand_router;
    struct weft_http_server *osmand_srv;
    int osmand_port, teltonika_port, teltonika_fd;
    weft_group tasks; /* Teltonika connections, background work */
    struct weft_hub *hub;       /* live updates by audience topic (feed.c publishes, api_live.c subscribes) */
    struct weft_ws_set *live_set; /* the live sockets, closed at shutdown */
    struct api_state *api; /* api_*.c: the login rate limiter (api_router sets it up) */
} fleet;

/* Open the store, load the state, start the writer, the feed, the device
 * ports (on cfg's ports; 0 = a free one, the bound ones in osmand_port and
 * teltonika_port) and the background work. 0, or a negative code with err
 * saying what failed. f->cfg must be set; the rest of *f zeroed. */
int fleet_start(fleet *f, char *err, size_t errlen);
/* Stop accepting, finish what is in flight, commit what is queued, close
 * the store and free the state (from a task). Safe after a failed start. */
void fleet_stop(fleet *f);

/* Load devices, groups and geofences from the store into memory. */
int fleet_load(fleet *f, char *err, size_t errlen);
/* Reload the geofence snapshot (after the API changed one). */
int fleet_reload_geofences(fleet *f);
/* Reload the groups' speed limits. */
int fleet_reload_groups(fleet *f);
fleet_geofences *fleet_geo_acquire(fleet *f);
void fleet_geo_release(fleet_geofences *g);
/* The speed limit that applies to d: its own, its group's, or the default. */
double fleet_speed_limit(fleet *f, const live_device *d);

/* Create a device (store, then the live table). WEFT_EDB with a constraint
 * error when the unique id is taken. */
int fleet_device_create(fleet *f, const char *unique_id, const char *name, int64_t group_id, live_device **out,
                        weft_db_err *e);

/* Offline sweep: online devices silent past status.offline_timeout_s go
 * offline (event stored and pushed). Returns how many did. */
int fleet_sweep_offline(fleet *f, int64_t now_ms);
/* One retention pass over positions (and their motion chunks) and events
 * (small batches). Returns the positions and events deleted; each batch is
 * counted in m.pruned_positions or m.pruned_events as it is committed. */
int64_t fleet_prune(fleet *f, int64_t now_ms, int batch);
/* Its statements ($1 the cutoff in ms, $2 the batch), for the tests of
 * their query plans. */
extern const char fleet_prune_positions_sql[], fleet_prune_chunks_sql[], fleet_prune_events_sql[];

/* ---- pipeline.c ---------------------------------------------------------------- */

typedef struct ingest_result {
    int accepted;     /* stored now, or already stored (duplicates) */
    int rejected;     /* failed validation (not stored) */
    const char *why;  /* the first rejection's reason */
} ingest_result;

/* Take fixes[0..n) of device d (attributes in attrs) through the pipeline.
 * Returns 0 once every accepted fix is durable (then, and only then, the
 * device may be acknowledged), or the writer's error (nothing acknowledged;
 * the live state is unchanged, so a resend is processed afresh). */
int pipeline_ingest(fleet *f, live_device *d, int proto, fleet_fix *fixes, int n, const char *attrs,
                    ingest_result *res);

/* Check a fix: coordinates in range and finite, a time neither absurdly old
 * nor further in the future than ingest.max_future_s. NULL when good, else
 * the reason. */
const char *pipeline_validate(const fleet *f, const fleet_fix *x, int64_t now_ms);

/* ---- feed.c: changes for the live socket ------------------------------------ */

/* Tell live viewers that d changed and about evs[0..n) (committed). */
void feed_publish(fleet *f, live_device *d, const ev_row *evs, int n);

#endif
