/*
 * apps/fleet/fleet.c — loading the server's state from the store (devices,
 * groups, geofences), the geofence snapshots, and the background work: the
 * offline sweep and retention pruning.
 */
#include "fleet.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft/impl.h"
#include "weft/log.h"
#include "weft/ws.h"

#include "feed.h"
#include "ingest.h"
#include "isotime.h"

/* ---- geofences -------------------------------------------------------------------- */

static void geo_free(fleet_geofences *g) {
    if (!g) return;
    geo_index_free(g->ix);
    weft_arena_free(&g->arena);
    free(g->ids), free(g->group_ids), free(g->shapes);
    free(g);
}

fleet_geofences *fleet_geo_acquire(fleet *f) {
    pthread_mutex_lock(&f->geo_mu);
    fleet_geofences *g = f->geo;
    if (g) atomic_fetch_add(&g->refs, 1);
    pthread_mutex_unlock(&f->geo_mu);
    return g;
}

void fleet_geo_release(fleet_geofences *g) {
    if (g && atomic_fetch_sub(&g->refs, 1) == 1) geo_free(g);
}

int fleet_reload_geofences(fleet *f) {
    weft_db_rows *r;
    weft_db_err e;
    int rc = store_query(f->db, "SELECT id, COALESCE(group_id, 0), area FROM geofences ORDER BY id", NULL, 0, &r, &e);
    if (rc < 0) return rc;
    int n = weft_db_nrows(r);
    fleet_geofences *g = calloc(1, sizeof *g);
    if (!g) return weft_db_rows_free(r), WEFT_ENOMEM;
    atomic_init(&g->refs, 1);
    weft_arena_init(&g->arena, 64 * 1024);
    g->ids = calloc((size_t)n + 1, sizeof *g->ids);
    g->group_ids = calloc((size_t)n + 1, sizeof *g->group_ids);
    g->shapes = calloc((size_t)n + 1, sizeof *g->shapes);
    if (!g->ids || !g->group_ids || !g->shapes) {
        weft_db_rows_free(r);
        geo_free(g);
        return WEFT_ENOMEM;
    }
    for (int i = 0; i < n; i++) {
        size_t len;
        const char *area = weft_db_text(r, i, 2, &len);
        const char *why;
        if (geo_shape_from_geojson((weft_str){area, len}, &g->arena, &g->shapes[g->n], &why) < 0) {
            weft_log_warn("geofence %lld: stored area unreadable (%s), skipped", (long long)weft_db_int(r, i, 0), why);
            continue;
        }
        g->ids[g->n] = weft_db_int(r, i, 0);
        g->group_ids[g->n] = weft_db_int(r, i, 1);
        g->n++;
    }
    weft_db_rows_free(r);
    g->ix = geo_index_new(g->shapes, g->n, 0);
    if (!g->ix) return geo_free(g), WEFT_ENOMEM;
    pthread_mutex_lock(&f->geo_mu);
    fleet_geofences *old = f->geo;
    f->geo = g;
    pthread_mutex_unlock(&f->geo_mu);
    fleet_geo_release(old);
    return 0;
}

/* ---- groups ------------------------------------------------------------------------- */

int fleet_reload_groups(fleet *f) {
    weft_db_rows *r;
    weft_db_err e;
    int rc = store_query(f->db, "SELECT id, speed_limit_kn FROM groups", NULL, 0, &r, &e);
    if (rc < 0) return rc;
    int n = weft_db_nrows(r);
    struct fleet_group_limit *gl = calloc((size_t)n + 1, sizeof *gl);
    if (!gl) return weft_db_rows_free(r), WEFT_ENOMEM;
    for (int i = 0; i < n; i++) gl[i] = (struct fleet_group_limit){weft_db_int(r, i, 0), weft_db_double(r, i, 1)};
    weft_db_rows_free(r);
    pthread_rwlock_wrlock(&f->groups_mu);
    free(f->groups);
    f->groups = gl, f->ngroups = (size_t)n;
    pthread_rwlock_unlock(&f->groups_mu);
    return 0;
}

double fleet_speed_limit(fleet *f, const live_device *d) {
    if (d->speed_limit_kn > 0) return d->speed_limit_kn;
    double lim = 0;
    pthread_rwlock_rdlock(&f->groups_mu);
    for (size_t i = 0; i < f->ngroups; i++)
        if (f->groups[i].id == d->group_id) lim = f->groups[i].speed_limit_kn;
    pthread_rwlock_unlock(&f->groups_mu);
    return lim > 0 ? lim : f->cfg.default_speed_limit_kn;
}

/* ---- devices ------------------------------------------------------------------------ */

/* The devices and their latest positions are read in pages of LOAD_PAGE by
 * device id (keyset), so the start's peak memory is a page of rows, not all
 * of them at once (100,000 devices with their attributes held at once took
 * the start's peak to 200.9 MB, bench/results/fleet-memory-2026-12-06.md). */
#define LOAD_PAGE 2000

static void seed(fleet *f, weft_db_rows *r, int i) {
    live_device *d = live_by_id(f->devices, weft_db_int(r, i, 0));
    if (!d) return;
    live_lock(d);
    live_state *st = &d->st;
    st->has_fix = 1;
    st->fix_ms = weft_db_int(r, i, 1);
    st->server_ms = st->last_seen_ms = weft_db_int(r, i, 2);
    st->lat = weft_db_double(r, i, 3), st->lon = weft_db_double(r, i, 4);
    st->speed_kn = weft_db_double(r, i, 5), st->course = weft_db_double(r, i, 6);
    st->altitude = weft_db_double(r, i, 7), st->accuracy = weft_db_double(r, i, 8);
    st->valid = (int)weft_db_int(r, i, 9);
    snprintf(st->protocol, sizeof st->protocol, "%s", weft_db_text(r, i, 10, NULL));
    st->status = LIVE_OFFLINE; /* until it reports again */
    st->moving = st->speed_kn >= f->cfg.moving_speed_kn;
    st->motion_since_ms = st->fix_ms;
    size_t alen;
    const char *a = weft_db_text(r, i, 11, &alen);
    if (a && alen <= LIVE_ATTRS_MAX && !d->attrs && (d->attrs = malloc(alen ? alen : 1))) {
        memcpy(d->attrs, a, alen);
        d->attrs_len = d->attrs_cap = (uint32_t)alen;
    }
    live_unlock(d);
}

int fleet_load(fleet *f, char *err, size_t errlen) {
    weft_db_rows *r;
    weft_db_err e;
    int rc, n;
    for (int64_t after = 0;; after = weft_db_int(r, n - 1, 0), weft_db_rows_free(r)) {
        weft_db_arg a[] = {WEFT_DB_INT(after), WEFT_DB_INT(LOAD_PAGE)};
        rc = store_query(f->db,
                         "SELECT id, unique_id, name, category, COALESCE(group_id, 0), speed_limit_kn, disabled "
                         "FROM devices WHERE id > $1 ORDER BY id LIMIT $2",
                         a, 2, &r, &e);
        if (rc < 0) return snprintf(err, errlen, "loading devices: %s", e.msg), rc;
        n = weft_db_nrows(r);
        for (int i = 0; i < n; i++) {
            if (!live_put(f->devices, weft_db_int(r, i, 0), weft_db_text(r, i, 1, NULL), weft_db_text(r, i, 2, NULL),
                          weft_db_text(r, i, 3, NULL), weft_db_int(r, i, 4), weft_db_double(r, i, 5),
                          (int)weft_db_int(r, i, 6))) {
                weft_db_rows_free(r);
                return snprintf(err, errlen, "loading devices: out of memory"), WEFT_ENOMEM;
            }
        }
        if (n < LOAD_PAGE) break;
    }
    weft_db_rows_free(r);
    /* each device's latest stored position seeds its live state: the map is
     * right from the first second after a restart. Per device, one seek to
     * the last entry of the (device_id, fix_time) index and one row by id,
     * not a GROUP BY over every position, which scanned the whole index
     * (2.2 s at 2.6M rows; "fix_time = (SELECT MAX ...)" in the join
     * condition is worse: SQLite evaluates it for every row of the device). */
    for (int64_t after = 0;; after = weft_db_int(r, n - 1, 0), weft_db_rows_free(r)) {
        weft_db_arg a[] = {WEFT_DB_INT(after), WEFT_DB_INT(LOAD_PAGE)};
        rc = store_query(f->db,
                         "SELECT d.id, p.fix_time, p.server_time, p.latitude, p.longitude, p.speed, p.course, "
                         "p.altitude, p.accuracy, p.valid, p.protocol, p.attributes FROM devices d JOIN positions p "
                         "ON p.id = (SELECT id FROM positions WHERE device_id = d.id ORDER BY fix_time DESC LIMIT 1) "
                         "WHERE d.id > $1 ORDER BY d.id LIMIT $2",
                         a, 2, &r, &e);
        if (rc < 0) return snprintf(err, errlen, "loading latest positions: %s", e.msg), rc;
        n = weft_db_nrows(r);
        for (int i = 0; i < n; i++) seed(f, r, i);
        if (n < LOAD_PAGE) break;
    }
    weft_db_rows_free(r);
    if ((rc = fleet_reload_groups(f)) < 0) return snprintf(err, errlen, "loading groups: %s", weft_strerror(rc)), rc;
    if ((rc = fleet_reload_geofences(f)) < 0)
        return snprintf(err, errlen, "loading geofences: %s", weft_strerror(rc)), rc;
    return 0;
}

/* ---- background: offline sweep and retention ---------------------------------------- */

int fleet_sweep_offline(fleet *f, int64_t now_ms) {
    size_t n;
    live_device **devs = live_list(f->devices, &n);
    if (!devs) return WEFT_ENOMEM;
    int went = 0;
    for (size_t i = 0; i < n; i++) {
        live_device *d = devs[i];
        if (d->deleted) continue;
        /* the gate keeps the sweep out of a batch in flight for this device */
        if (weft_mutex_lock(&d->gate, 0) < 0) continue;
        live_lock(d);
        live_state st = d->st;
        live_unlock(d);
        ev_row ev = {.device_id = d->id, .server_ms = now_ms};
        if (events_on_silence(&st, now_ms, f->cfg.offline_timeout_s * 1000, &ev.ev)) {
            weft_db_err e;
            if (writer_submit(f->w, NULL, 0, &ev, 1, &e) == 0) {
                live_lock(d);
                d->st.status = st.status;
                d->version++;
                live_unlock(d);
                atomic_fetch_add(&f->m.events, 1);
                feed_publish(f, d, &ev, 1);
                went++;
            }
        }
        weft_mutex_unlock(&d->gate);
    }
    free(devs);
    return went;
}

/* Delete rows older than the retention in batches of `batch`, pausing
 * between batches so ingest's commits interleave; returns rows deleted.
 * The pause is 20 ms, or as long as the batch took if that was longer: in
 * SQLite a batch holds the writer's thread, so while a backlog lasts the
 * prune takes at most about half of it, however slow the disk or the
 * machine. Each batch is added to *counted (unless NULL) once it is
 * committed, not the pass at its end: a pass over a backlog (retention
 * shortened, or the server down for weeks) takes minutes, and /metrics
 * should show it going (bench/run-fleet.sh's retention phase waits for its
 * first batch). */
static int64_t prune_table(fleet *f, const char *sql, int64_t cutoff, int batch, _Atomic int64_t *counted) {
    int64_t total = 0, got;
    do {
        weft_db_arg a[] = {WEFT_DB_INT(cutoff), WEFT_DB_INT(batch)};
        weft_db_err e;
        got = 0;
        int64_t t0 = weft_now();
        int rc = store_exec(f->db, sql, a, 2, &got, &e);
        if (rc < 0) {
            /* a failed store said so once (store_sync); not again every sweep */
            if (rc != WEFT_EIO) weft_log_warn("retention: %s", e.msg);
            break;
        }
        total += got;
        if (counted) atomic_fetch_add(counted, got);
        int64_t took = weft_now() - t0;
        if (got == batch && weft_sleep(took > 20 ? took : 20) < 0) break;
    } while (got == batch);
    return total;
}

/* A retention pass's statements. Each finds what is due through an index
 * (positions_server_time, motion_chunks_t0, events_time), oldest first: a
 * pass runs every minute, in SQLite on the writer's connection that ingest
 * commits on, so a scan of the table there would hold up ingest for as
 * long as the scan takes, even with nothing due. tests/unit/fleet_api.c
 * checks SQLite's plans. */
const char fleet_prune_positions_sql[] =
    "DELETE FROM positions WHERE id IN (SELECT id FROM positions WHERE server_time < $1 "
    "ORDER BY server_time LIMIT $2)";
/* the chunks that start before the cutoff (fix time): a report reads what
 * is left of their fixes raw */
const char fleet_prune_chunks_sql[] =
    "DELETE FROM motion_chunks WHERE (device_id, t0) IN (SELECT device_id, t0 FROM motion_chunks "
    "WHERE t0 < $1 ORDER BY t0 LIMIT $2)";
const char fleet_prune_events_sql[] =
    "DELETE FROM events WHERE id IN (SELECT id FROM events WHERE event_time < $1 "
    "ORDER BY event_time LIMIT $2)";

int64_t fleet_prune(fleet *f, int64_t now_ms, int batch) {
    int64_t n = 0;
    if (f->cfg.positions_retention_days > 0) {
        int64_t cutoff = now_ms - (int64_t)f->cfg.positions_retention_days * 86400000;
        n += prune_table(f, fleet_prune_positions_sql, cutoff, batch, &f->m.pruned_positions);
        prune_table(f, fleet_prune_chunks_sql, cutoff, batch, NULL);
    }
    if (f->cfg.events_retention_days > 0)
        n += prune_table(f, fleet_prune_events_sql, now_ms - (int64_t)f->cfg.events_retention_days * 86400000, batch,
                         &f->m.pruned_events);
    return n;
}

/* ---- devices created by ingest ------------------------------------------------------ */

int fleet_device_create(fleet *f, const char *unique_id, const char *name, int64_t group_id, live_device **out,
                        weft_db_err *e) {
    weft_db_arg a[] = {WEFT_DB_TEXT(unique_id), WEFT_DB_TEXT(name), group_id ? WEFT_DB_INT(group_id) : WEFT_DB_NULL,
                       WEFT_DB_INT(fleet_now_ms())};
    int64_t id;
    int rc = store_query_i64(f->db,
                             "INSERT INTO devices (unique_id, name, group_id, created_ms) VALUES ($1, $2, $3, $4) "
                             "RETURNING id",
                             a, 4, &id, e);
    if (rc < 0) return rc;
    live_device *d = live_put(f->devices, id, unique_id, name, "default", group_id, 0, 0);
    if (!d) return WEFT_ENOMEM;
    if (out) *out = d;
    return 0;
}

/* ---- start and stop -------------------------------------------------------------------- */

/* Rows a retention statement deletes. In SQLite each statement holds the
 * writer's thread, and ingest's commits queue behind it: a 2,000-row DELETE
 * of positions took 34-106 ms (median 62) on the benches' 2-core VM, busy.
 * OsmAnd ingest while a backlog was pruned, in a busy QUICK A/B
 * (bench/results/fleet-retention-2026-12-08-QUICK-busy.md): 8,240 fixes/s,
 * ack p99 98 ms with 2,000-row batches and a fixed 20 ms pause; 11,350 and
 * 58 ms with these batches and prune_table's pause; 16,530 and 29 ms with
 * no prune. */
#define PRUNE_BATCH 500

static void background(void *arg) {
    fleet *f = arg;
    int64_t next_prune = 0;
    for (;;) {
        if (weft_sleep(2000) < 0) return;
        int64_t now = fleet_now_ms();
        fleet_sweep_offline(f, now);
        if (now >= next_prune) {
            fleet_prune(f, now, PRUNE_BATCH);
            next_prune = now + 60000;
        }
    }
}

static void serve_osmand(void *srv) { weft_http_serve(srv); }

int fleet_start(fleet *f, char *err, size_t errlen) {
    f->started_ms = fleet_now_ms();
    f->teltonika_fd = -1;
    pthread_mutex_init(&f->geo_mu, NULL);
    pthread_rwlock_init(&f->groups_mu, NULL);
    weft_group_init(&f->tasks);
    int rc = store_open(&f->db, &f->cfg, err, errlen);
    if (rc < 0) return rc;
    if (!(f->devices = live_new())) return snprintf(err, errlen, "out of memory"), WEFT_ENOMEM;
    { /* motion chunks made with another moving speed are no longer true */
        weft_db_arg a[] = {WEFT_DB_DOUBLE(f->cfg.moving_speed_kn)};
        weft_db_err e;
        if ((rc = store_exec(f->db, "DELETE FROM motion_chunks WHERE thr <> $1", a, 1, NULL, &e)) < 0)
            return snprintf(err, errlen, "motion_chunks: %s", e.msg), rc;
    }
    if ((rc = fleet_load(f, err, errlen)) < 0) return rc;
    if (!(f->hub = weft_hub_new()) || !(f->live_set = weft_ws_set_new()))
        return snprintf(err, errlen, "out of memory"), WEFT_ENOMEM;
    if (!(f->w = writer_start(f->db, f->cfg.commit_interval_ms, f->cfg.commit_gap_ms, f->cfg.commit_gap_rows, f->cfg.commit_max_rows, f->cfg.moving_speed_kn)) ||
        !(f->feed = feed_new(f)) || feed_start(f->feed) < 0 || !(f->osmand_router = ingest_http_router(f)))
        return snprintf(err, errlen, "out of memory starting up"), WEFT_ENOMEM;
    int e = 0;
    weft_http_config oc = {.host = f->cfg.ingest_host, .port = f->cfg.osmand_port, .idle_timeout_ms = 120000,
                           .max_body = 1 << 20, .server_name = ""};
    if (!(f->osmand_srv = weft_http_server_new(&oc, f->osmand_router, &e)))
        return snprintf(err, errlen, "osmand port %s:%d: %s", oc.host, oc.port, weft_strerror(e)), e;
    f->osmand_port = weft_http_server_port(f->osmand_srv);
    if ((rc = ingest_tcp_start(f, f->cfg.ingest_host, f->cfg.teltonika_port, &f->tasks, &f->teltonika_port)) < 0)
        return snprintf(err, errlen, "teltonika port %s:%d: %s", f->cfg.ingest_host, f->cfg.teltonika_port,
                        weft_strerror(rc)), rc;
    f->teltonika_fd = rc;
    if ((rc = weft_group_go(&f->tasks, background, f, "fleet-background")) < 0 ||
        (rc = weft_group_go(&f->tasks, serve_osmand, f->osmand_srv, "osmand-http")) < 0)
        return snprintf(err, errlen, "starting tasks: %s", weft_strerror(rc)), rc;
    return 0;
}

static void fleet_stop_masked(fleet *f) {
    if (f->osmand_srv) weft_http_server_stop(f->osmand_srv);
    if (f->teltonika_fd >= 0) weft_close(f->teltonika_fd);
    f->teltonika_fd = -1;
    /* the OsmAnd server drains its requests (each waits for its commit) ... */
    weft_group_cancel(&f->tasks);
    weft_group_wait(&f->tasks, weft_deadline_in(15000));
    if (f->osmand_srv) weft_http_server_free(f->osmand_srv);
    f->osmand_srv = NULL;
    feed_free(f->feed);
    f->feed = NULL;
    if (f->live_set) { /* the web port closed its sockets (api_live_close); wait out stragglers */
        weft_ws_set_close(f->live_set, 1001, "server shutting down", weft_deadline_in(2000));
        weft_ws_set_free(f->live_set);
        f->live_set = NULL;
    }
    if (f->hub) weft_hub_free(f->hub);
    f->hub = NULL;
    writer_stop(f->w); /* ... and the writer commits whatever is still queued */
    f->w = NULL;
    weft_http_router_free(f->osmand_router);
    f->osmand_router = NULL;
    store_close(f->db);
    f->db = NULL;
    live_free(f->devices);
    f->devices = NULL;
    fleet_geo_release(f->geo);
    f->geo = NULL;
    free(f->groups);
    f->groups = NULL;
}

/* Masked as a whole: from a cancelled task its waits (the tasks, the
 * sockets' closes, the writer) returned at once and what follows each freed
 * the state of tasks still running. */
void fleet_stop(fleet *f) {
    int prev = weft_nocancel_begin();
    fleet_stop_masked(f);
    weft_nocancel_end(prev);
}
