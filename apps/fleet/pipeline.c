/*
 * apps/fleet/pipeline.c — a batch of one device's fixes from validation to
 * durable storage and the live state (see fleet.h for the flow).
 *
 * The device's gate (a weft mutex) is held from reading its state to storing
 * the new one, so two connections of the same device cannot interleave their
 * state transitions; the rules run on a copy, which replaces the device's
 * state only after the writer committed. A failed commit therefore leaves
 * the state as it was, and the device's resend is processed afresh.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fleet.h"
#include "isotime.h"

const char *const fleet_proto_names[PROTO__N] = {"osmand", "teltonika"};

#define EPOCH_2000_MS 946684800000LL

const char *pipeline_validate(const fleet *f, const fleet_fix *x, int64_t now_ms) {
    if (!isfinite(x->lat) || x->lat < -90 || x->lat > 90) return "latitude out of range [-90, 90]";
    if (!isfinite(x->lon) || x->lon < -180 || x->lon > 180) return "longitude out of range [-180, 180]";
    if (x->fix_ms < EPOCH_2000_MS) return "fix time before the year 2000";
    if (x->fix_ms > now_ms + f->cfg.max_future_s * 1000) return "fix time too far in the future";
    if (!isfinite(x->speed_kn) || x->speed_kn < 0 || x->speed_kn > 2000) return "speed out of range";
    if (!isfinite(x->course) || !isfinite(x->altitude) || !isfinite(x->accuracy)) return "non-finite value";
    return NULL;
}

/* Geofences containing (lat, lon) that apply to a device of group gid:
 * their ids, ascending (the snapshot is sorted by id). */
static uint32_t geofences_at(fleet_geofences *g, int64_t gid, double lat, double lon, int64_t *out) {
    if (!g || !g->ix) return 0;
    uint32_t idx[LIVE_GEOFENCES_MAX * 4];
    size_t n = geo_index_query(g->ix, lat, lon, idx, sizeof idx / sizeof idx[0]);
    if (n > sizeof idx / sizeof idx[0]) n = sizeof idx / sizeof idx[0];
    uint32_t k = 0;
    for (size_t i = 0; i < n && k < LIVE_GEOFENCES_MAX; i++)
        if (g->group_ids[idx[i]] == 0 || g->group_ids[idx[i]] == gid) out[k++] = g->ids[idx[i]];
    return k;
}

int pipeline_ingest(fleet *f, live_device *d, int proto, fleet_fix *fixes, int n, const char *attrs,
                    ingest_result *res) {
    memset(res, 0, sizeof *res);
    if (n <= 0) return 0;
    int64_t now = fleet_now_ms();
    /* devices send a packet's records newest first: the rules want time order */
    for (int i = 1; i < n; i++) {
        fleet_fix t = fixes[i];
        int j = i;
        while (j > 0 && fixes[j - 1].fix_ms > t.fix_ms) fixes[j] = fixes[j - 1], j--;
        fixes[j] = t;
    }
    /* not calloc: every slot used is written whole below, and zeroing the
     * worst case of events per fix was 6 % of an OsmAnd request (callgrind) */
    pos_row *rows = malloc((size_t)n * sizeof *rows);
    ev_row *evs = malloc((size_t)n * EVENTS_PER_FIX_MAX * sizeof *evs);
    fleet_event tmp[EVENTS_PER_FIX_MAX];
    if (!rows || !evs) {
        free(rows), free(evs);
        return WEFT_ENOMEM;
    }
    int lrc = weft_mutex_lock(&d->gate, -1); /* WEFT_ECANCELED: shutting down */
    if (lrc) {
        free(rows), free(evs);
        return lrc;
    }
    live_state st;
    live_geo geo;
    live_lock(d);
    st = d->st;
    live_geo_get(d, &geo);
    live_unlock(d);
    event_rules r = {.moving_speed_kn = f->cfg.moving_speed_kn,
                     .stop_min_ms = f->cfg.stop_min_s * 1000,
                     .speed_limit_kn = fleet_speed_limit(f, d)};
    fleet_geofences *g = fleet_geo_acquire(f);
    const char *pname = fleet_proto_names[proto];
    int nrows = 0, nev = 0, latest = -1, dups = 0, ooo = 0;
    int64_t prev_ms = INT64_MIN;
    for (int i = 0; i < n; i++) {
        fleet_fix *x = &fixes[i];
        const char *why = pipeline_validate(f, x, now);
        if (why) {
            if (!res->rejected++) res->why = why;
            continue;
        }
        if (x->fix_ms == prev_ms || (st.has_fix && x->fix_ms == st.fix_ms)) { /* a resend */
            res->accepted++, dups++;
            continue;
        }
        prev_ms = x->fix_ms;
        int in_order = !st.has_fix || x->fix_ms > st.fix_ms;
        ooo += !in_order;
        int64_t inside[LIVE_GEOFENCES_MAX];
        uint32_t ninside = x->valid ? geofences_at(g, d->group_id, x->lat, x->lon, inside) : 0;
        int k = events_on_fix(&st, &geo, x, pname, now, inside, ninside, &r, tmp);
        for (int e = 0; e < k; e++) evs[nev++] = (ev_row){.device_id = d->id, .server_ms = now, .ev = tmp[e]};
        if (in_order) latest = i;
        rows[nrows++] = (pos_row){.device_id = d->id,
                                  .protocol = pname,
                                  .server_ms = now,
                                  .fix = *x,
                                  .attrs = attrs ? attrs + x->attr_off : NULL,
                                  .attrs_len = attrs ? x->attr_len : 0};
        res->accepted++;
    }
    fleet_geo_release(g);
    weft_db_err err;
    /* room for the new geofence list before the commit, so storing it after cannot fail */
    live_lock(d);
    int rc = live_geo_reserve(d, geo.n);
    live_unlock(d);
    if (rc == 0) rc = writer_submit(f->w, rows, nrows, evs, nev, &err);
    if (rc == 0) {
        live_lock(d);
        d->st = st;
        live_geo_set(d, &geo);
        if (latest >= 0 && attrs) {
            const fleet_fix *x = &fixes[latest];
            if (x->attr_len <= LIVE_ATTRS_MAX) {
                if (x->attr_len > d->attrs_cap) {
                    char *a = realloc(d->attrs, x->attr_len);
                    if (a) d->attrs = a, d->attrs_cap = (uint32_t)x->attr_len;
                }
                if (x->attr_len <= d->attrs_cap) {
                    memcpy(d->attrs, attrs + x->attr_off, x->attr_len);
                    d->attrs_len = (uint32_t)x->attr_len;
                }
            } else {
                d->attrs_len = 0;
            }
        }
        d->version++;
        live_unlock(d);
        atomic_fetch_add(&f->m.fixes[proto], res->accepted);
        atomic_fetch_add(&f->m.duplicates[proto], dups);
        atomic_fetch_add(&f->m.out_of_order[proto], ooo);
        atomic_fetch_add(&f->m.events, nev);
        feed_publish(f, d, evs, nev);
    }
    atomic_fetch_add(&f->m.rejected[proto], res->rejected);
    weft_mutex_unlock(&d->gate);
    free(rows), free(evs);
    return rc;
}
