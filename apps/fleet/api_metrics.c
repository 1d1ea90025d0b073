/*
 * apps/fleet/api_metrics.c — /metrics in Prometheus' text format (fixes by
 * protocol, group-commit batch size and latency, queue depths, connections,
 * live viewers) and /api/health.
 */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "weft/json.h"

#include "api.h"
#include "feed.h"
#include "isotime.h"

#define L(x) atomic_load(&(x))

int api_metrics(weft_http_ctx *c, void *ud) {
    fleet *f = ud;
    weft_buf *b = weft_http_body_buf(c);
    fleet_metrics *m = &f->m;
    static const struct {
        const char *name, *help;
        size_t off;
    } per_proto[] = {
        {"fleet_fixes_total", "Fixes stored (or already stored), by protocol.", offsetof(fleet_metrics, fixes)},
        {"fleet_fixes_rejected_total", "Fixes refused by validation.", offsetof(fleet_metrics, rejected)},
        {"fleet_fixes_duplicate_total", "Fixes received again (same device and fix time).", offsetof(fleet_metrics, duplicates)},
        {"fleet_fixes_out_of_order_total", "Fixes older than the device's latest.", offsetof(fleet_metrics, out_of_order)},
        {"fleet_messages_total", "Requests (OsmAnd) or packets (Teltonika) received.", offsetof(fleet_metrics, messages)},
        {"fleet_messages_bad_total", "Messages refused as malformed.", offsetof(fleet_metrics, bad_messages)},
        {"fleet_device_connections", "Device connections open now.", offsetof(fleet_metrics, connections)},
        {"fleet_unknown_device_total", "Messages from unknown or disabled devices.", offsetof(fleet_metrics, unknown_devices)},
    };
    for (size_t k = 0; k < sizeof per_proto / sizeof per_proto[0]; k++) {
        const _Atomic int64_t *v = (const _Atomic int64_t *)((const char *)m + per_proto[k].off);
        int gauge = per_proto[k].name[strlen(per_proto[k].name) - 1] != 'l';
        weft_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", per_proto[k].name, per_proto[k].help, per_proto[k].name,
                        gauge ? "gauge" : "counter");
        for (int p = 0; p < PROTO__N; p++)
            weft_buf_printf(b, "%s{protocol=\"%s\"} %" PRId64 "\n", per_proto[k].name, fleet_proto_names[p], L(v[p]));
    }
    writer_stats *ws = writer_get_stats(f->w);
    weft_buf_printf(b, "# HELP fleet_events_total Events raised.\n# TYPE fleet_events_total counter\nfleet_events_total %" PRId64 "\n", L(m->events));
    weft_buf_printf(b, "# HELP fleet_commits_total Group commits.\n# TYPE fleet_commits_total counter\nfleet_commits_total %" PRId64 "\n", L(ws->commits));
    weft_buf_printf(b, "# HELP fleet_commit_failures_total Group commits that failed.\n# TYPE fleet_commit_failures_total counter\nfleet_commit_failures_total %" PRId64 "\n", L(ws->failures));
    weft_buf_printf(b, "# HELP fleet_commit_rows_total Rows written by group commits.\n# TYPE fleet_commit_rows_total counter\nfleet_commit_rows_total %" PRId64 "\n", L(ws->rows));
    weft_buf_printf(b, "# HELP fleet_commit_batch_max Most rows in one commit.\n# TYPE fleet_commit_batch_max gauge\nfleet_commit_batch_max %" PRId64 "\n", L(ws->max_batch));
    weft_buf_printf(b, "# HELP fleet_commit_seconds Time to write and commit a batch.\n# TYPE fleet_commit_seconds histogram\n");
    int64_t cum = 0;
    for (int i = 0; i < 7; i++) {
        cum += L(ws->commit_us_bucket[i]);
        weft_buf_printf(b, "fleet_commit_seconds_bucket{le=\"%g\"} %" PRId64 "\n", writer_bucket_ms[i] / 1000, cum);
    }
    cum += L(ws->commit_us_bucket[7]);
    weft_buf_printf(b, "fleet_commit_seconds_bucket{le=\"+Inf\"} %" PRId64 "\n", cum);
    weft_buf_printf(b, "fleet_commit_seconds_sum %.6f\nfleet_commit_seconds_count %" PRId64 "\n", L(ws->commit_us_sum) / 1e6, L(ws->commits));
    weft_buf_printf(b, "# HELP fleet_syncs_total Disk syncs after group commits (one covers every commit before it).\n# TYPE fleet_syncs_total counter\nfleet_syncs_total %" PRId64 "\n", L(ws->syncs));
    weft_buf_printf(b, "# HELP fleet_sync_seconds_total Time spent in those syncs.\n# TYPE fleet_sync_seconds_total counter\nfleet_sync_seconds_total %.6f\n", L(ws->sync_us_sum) / 1e6);
    weft_buf_printf(b, "# HELP fleet_storage_failed 1 after a failed sync of the database: every write is refused until restart.\n# TYPE fleet_storage_failed gauge\nfleet_storage_failed %d\n", store_failed(f->db, NULL, 0) != 0);
    weft_buf_printf(b, "# HELP fleet_commit_queue Requests waiting for the writer.\n# TYPE fleet_commit_queue gauge\nfleet_commit_queue %" PRId64 "\n", L(ws->queued));
    if (f->feed) {
        feed_stats *fs = feed_get_stats(f->feed);
        weft_buf_printf(b, "# HELP fleet_live_viewers Live socket and stream clients now.\n# TYPE fleet_live_viewers gauge\nfleet_live_viewers %" PRId64 "\n", L(fs->viewers));
        weft_buf_printf(b, "# HELP fleet_live_messages_total Live update messages built (one per audience per tick).\n# TYPE fleet_live_messages_total counter\nfleet_live_messages_total %" PRId64 "\n", L(fs->messages));
        weft_buf_printf(b, "# HELP fleet_live_snapshots_total Live socket snapshots built (one per audience with new sockets, shared by them).\n# TYPE fleet_live_snapshots_total counter\nfleet_live_snapshots_total %" PRId64 "\n", L(fs->snapshots));
        weft_buf_printf(b, "# HELP fleet_live_resyncs_total Live sockets sent the snapshot again because their queue dropped updates.\n# TYPE fleet_live_resyncs_total counter\nfleet_live_resyncs_total %" PRId64 "\n", L(fs->resyncs));
        weft_buf_printf(b, "# HELP fleet_live_feed_wait_ms From the server taking a fix to its live update being encoded (commit and the feed's window), per device sent.\n# TYPE fleet_live_feed_wait_ms summary\n");
        for (int i = 0; i < 2; i++) {
            double q = i ? 0.99 : 0.5, v = feed_wait_quantile(fs, q);
            if (v >= 0) weft_buf_printf(b, "fleet_live_feed_wait_ms{quantile=\"%g\"} %.0f\n", q, v);
        }
    }
    weft_buf_printf(b, "# HELP fleet_devices Devices known.\n# TYPE fleet_devices gauge\nfleet_devices %zu\n", live_count(f->devices));
    weft_buf_printf(b, "# HELP fleet_live_state_bytes Memory of the live device table.\n# TYPE fleet_live_state_bytes gauge\nfleet_live_state_bytes %zu\n", live_memory(f->devices));
    weft_buf_printf(b, "# HELP fleet_pruned_total Rows deleted by retention.\n# TYPE fleet_pruned_total counter\nfleet_pruned_total{table=\"positions\"} %" PRId64 "\nfleet_pruned_total{table=\"events\"} %" PRId64 "\n", L(m->pruned_positions), L(m->pruned_events));
    weft_buf_printf(b, "# HELP fleet_report_rows_total Rows the trips, stops and summary reports read: motion chunks and raw fixes.\n# TYPE fleet_report_rows_total counter\nfleet_report_rows_total{table=\"motion_chunks\"} %" PRId64 "\nfleet_report_rows_total{table=\"positions\"} %" PRId64 "\n", L(m->report_chunks), L(m->report_fixes));
    weft_http_set_content_type(c, "text/plain; version=0.0.4");
    weft_http_set_status(c, 200);
    return 0;
}

int api_health(weft_http_ctx *c, void *ud) {
    fleet *f = ud;
    weft_db_err e;
    int64_t one = 0;
    int db_ok = store_query_i64(f->db, "SELECT 1", NULL, 0, &one, &e) == 0 && one == 1;
    char why[160];
    int failed = store_failed(f->db, why, sizeof why) != 0; /* reads work, writes are refused */
    weft_json_enc *j = weft_http_json_begin(c, db_ok && !failed ? 200 : 503);
    weft_json_enc_object(j);
    weft_json_enc_key(j, WEFT_STR("status"));
    weft_json_enc_str(j, db_ok && !failed ? WEFT_STR("ok") : WEFT_STR("degraded"));
    weft_json_enc_key(j, WEFT_STR("storageWritable"));
    weft_json_enc_bool(j, !failed);
    if (failed) {
        weft_json_enc_key(j, WEFT_STR("storageError"));
        weft_json_enc_str(j, weft_str_c(why));
    }
    weft_json_enc_key(j, WEFT_STR("database"));
    weft_json_enc_str(j, store_is_pg(f->db) ? WEFT_STR("postgresql") : WEFT_STR("sqlite"));
    weft_json_enc_key(j, WEFT_STR("databaseOk"));
    weft_json_enc_bool(j, db_ok);
    weft_json_enc_key(j, WEFT_STR("schemaVersion"));
    weft_json_enc_int(j, store_schema_version(f->db));
    weft_json_enc_key(j, WEFT_STR("devices"));
    weft_json_enc_int(j, (int64_t)live_count(f->devices));
    weft_json_enc_key(j, WEFT_STR("uptimeSeconds"));
    weft_json_enc_int(j, (fleet_now_ms() - f->started_ms) / 1000);
    weft_json_enc_end(j);
    return weft_http_json_end(c);
}
