/*
 * apps/fleet-sim/main.c — fleet-sim: simulated vehicles for weft fleet, and
 * its load generator. Options in README.md (and --help); the work is done by
 * sim.c (devices on the wire), vehicle.c (driving), roads.c (the city),
 * fences.c (demo geofences), encode.c (wire formats), httpc.c (HTTP client).
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>

#include "weft/weft.h"

#include "fences.h"
#include "roads.h"
#include "sim.h"
#include "teltonika.h"
#include "watch.h"

static const char usage[] =
    "usage: fleet-sim [options]\n"
    "  --host ADDR               server address, numeric (127.0.0.1)\n"
    "  --osmand-port P           OsmAnd HTTP port (5055)\n"
    "  --teltonika-port P        Teltonika TCP port (5027)\n"
    "  --vehicles N              simulated vehicles (10); even ones Teltonika, odd ones OsmAnd;\n"
    "                            0 with --viewers: viewers only\n"
    "  --protocol both|osmand|teltonika\n"
    "  --interval-ms M           between one vehicle's fixes (1000)\n"
    "  --duration S              seconds to run, 0 = until Ctrl-C (60; backfill: until done)\n"
    "  --records-per-packet K    Teltonika records per AVL packet, 1..255 (10)\n"
    "  --connections C           OsmAnd keep-alive connections shared by the vehicles (4)\n"
    "  --osmand-mode get|post|json  query string, form body, or Traccar Client 9 JSON (get)\n"
    "  --codec 8|8e              Teltonika codec (8e)\n"
    "  --seed S                  road network and vehicles (1)\n"
    "  --realtime                fix times are now (default)\n"
    "  --backfill DAYS           send DAYS of history up to now, as fast as acknowledged\n"
    "  --ack-log FILE            append \"<device id> <fix ms>\" for every acknowledged fix\n"
    "  --overspeed-share X       share of vehicles speeding on arterials, 0..1 (0.1)\n"
    "  --alarm-share X           share of Teltonika vehicles raising unplug alarms, 0..1 (0.2)\n"
    "  --centre LAT,LON          centre of the generated city (48.20849,16.37308: Vienna)\n"
    "  --grid N                  junctions per side, 3..201 (21)\n"
    "  --spacing M               metres between grid lines (220)\n"
    "  --ack-timeout-ms T        wait this long for an answer (10000)\n"
    "  --drain-ms T              after the end, time to collect outstanding acks (5000)\n"
    "  --quiet                   no per-vehicle messages\n"
    "  --export-roads FILE       write the road network as GeoJSON and exit\n"
    "  --export-geofences FILE   write the demo geofences as GeoJSON and exit\n"
    "live viewers (watch.c): fix-to-viewer latency of every position a sample of them receives\n"
    "  --viewers N               WebSocket viewers on --socket-url (0)\n"
    "  --latency-viewers L|all   of them, how many decode every position and measure latency,\n"
    "                            spread over the connection order (20, at most N); the others\n"
    "                            walk the frames and count messages and bytes (watch.h)\n"
    "  --socket-url URL          ws://HOST:PORT/api/socket\n"
    "  --no-deflate              viewers do not offer permessage-deflate (by default they offer\n"
    "                            it as Chromium does; light viewers count compressed messages)\n"
    "  --socket-header \"K: V\"    a request header for the viewers (a bearer token), repeatable\n"
    "  --warmup S                viewers count positions from S seconds on (2)\n";

static atomic_int stop_flag;

static void on_signal(int sig) {
    if (atomic_exchange(&stop_flag, 1)) { /* a second one: stop now */
        signal(sig, SIG_DFL);
        raise(sig);
    }
}

static int bad(const char *opt, const char *want, const char *got) {
    fprintf(stderr, "fleet-sim: %s: expected %s, got \"%s\"\n%s", opt, want, got ? got : "", usage);
    return 2;
}

static int to_long(const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}
static int to_double(const char *s, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno || !(v >= lo && v <= hi)) return -1;
    *out = v;
    return 0;
}

static int write_file(const char *path, const weft_buf *b) {
    FILE *f = fopen(path, "w");
    if (!f || fwrite(b->data, 1, b->len, f) != b->len || fclose(f) != 0) {
        fprintf(stderr, "fleet-sim: %s: %s\n", path, strerror(errno));
        return 1;
    }
    return 0;
}

typedef struct run_args {
    sim_config cfg;
    sim_report final;
    int rc;
    watch_config wcfg;
    watch_report wfinal;
    int wrc;
} run_args;

static void on_tick(const sim_report *r, void *ud) {
    (void)ud;
    printf(
        "[%5.0fs] sent %lld acked %lld failed %lld | %.0f acks/s | ack p50 %.2f ms p99 %.2f ms | "
        "connections %d\n",
        r->elapsed_s, (long long)r->sent, (long long)r->acked, (long long)r->failed, r->ack_rate,
        r->p50_ms, r->p99_ms, r->connected);
    fflush(stdout);
}

static void on_watch_tick(const watch_report *r, void *ud) {
    (void)ud;
    printf("[viewers] %d connected (%d measuring latency), %d failed, %d closed | %.0f positions/s "
           "at the measuring ones, %.2f msgs/s per viewer | latency p50 %.1f ms p99 %.1f ms\n",
           r->connected, r->latency_connected, r->dial_failed, r->closed_early, r->positions_per_s,
           r->msgs_per_viewer_s, r->p50_ms, r->p99_ms);
    fflush(stdout);
}

static void watch_task(void *arg) {
    run_args *a = arg;
    a->wrc = watch_run(&a->wcfg, on_watch_tick, NULL, &a->wfinal);
}

static void run(void *arg) {
    run_args *a = arg;
    weft_group g;
    weft_group_init(&g);
    if (a->wcfg.viewers > 0 && weft_group_go(&g, watch_task, a, "viewers") < 0) a->wrc = WEFT_ENOMEM;
    if (a->cfg.vehicles > 0) a->rc = sim_run(&a->cfg, on_tick, NULL, &a->final);
    weft_group_wait(&g, -1);
}

/* The viewers' totals, in words and as one JSON line for scripts. */
static int watch_done(const run_args *a) {
    if (a->wrc < 0) {
        fprintf(stderr, "fleet-sim: viewers: %s\n", weft_strerror(a->wrc));
        return 1;
    }
    const watch_report *r = &a->wfinal;
    printf("fleet-sim: viewers: %d connected, %d of them measuring latency (%d failed, %d closed "
           "early, last close %d), %.1f s window: %lld messages (%.2f/s per viewer, %lld of them "
           "compressed at the light viewers), %lld positions "
           "at the measuring viewers (%.0f/s), %lld bad, %lld "
           "early; fix-to-viewer latency p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms; push "
           "delay (freshest position of a message) p50 %.2f ms, p99 %.2f ms\n",
           r->connected, r->latency_connected, r->dial_failed, r->closed_early, r->last_close_code,
           r->elapsed_s, (long long)r->messages, r->msgs_per_viewer_s, (long long)r->deflated,
           (long long)r->positions,
           r->positions_per_s, (long long)r->bad, (long long)r->early, r->p50_ms, r->p99_ms,
           r->p999_ms, r->max_ms, r->push_p50_ms, r->push_p99_ms);
    printf("viewers-json: {\"viewers\": %d, \"connected\": %d, \"latency_viewers\": %d, "
           "\"dial_failed\": %d, "
           "\"closed_early\": %d, \"last_close_code\": %d, \"window_s\": %.3f, \"messages\": %lld, "
           "\"bytes\": %lld, \"deflated\": %lld, \"light_bytes\": %lld, \"deflate_offered\": %d, \"positions\": %lld, \"bad\": %lld, \"early\": %lld, \"p50_ms\": %.3f, "
           "\"p99_ms\": %.3f, \"p999_ms\": %.3f, \"max_ms\": %.3f, \"push_p50_ms\": %.3f, "
           "\"push_p99_ms\": %.3f, \"to_server_p50_ms\": %.3f, \"to_server_p99_ms\": %.3f, "
           "\"from_server_p50_ms\": %.3f, \"from_server_p99_ms\": %.3f, "
           "\"msgs_per_viewer_s\": %.3f, \"positions_per_s\": %.1f}\n",
           a->wcfg.viewers, r->connected, r->latency_connected, r->dial_failed, r->closed_early,
           r->last_close_code,
           r->elapsed_s, (long long)r->messages, (long long)r->bytes, (long long)r->deflated,
           (long long)r->light_bytes, a->wcfg.deflate, (long long)r->positions, (long long)r->bad, (long long)r->early, r->p50_ms, r->p99_ms, r->p999_ms, r->max_ms,
           r->push_p50_ms, r->push_p99_ms, r->to_server_p50_ms, r->to_server_p99_ms, r->from_server_p50_ms,
           r->from_server_p99_ms, r->msgs_per_viewer_s, r->positions_per_s);
    /* success: every viewer connected, stayed, and got messages it could read
     * (the decoding ones: positions) */
    int got = a->wcfg.latency_viewers == 0 ? r->messages > 0 : r->positions > 0;
    return r->connected == a->wcfg.viewers && r->closed_early == 0 && r->bad == 0 && got ? 0 : 1;
}

int main(int argc, char **argv) {
    run_args a;
    memset(&a, 0, sizeof a);
    sim_config *c = &a.cfg;
    sim_config_defaults(c);
    c->stop = &stop_flag;
    const char *roads_out = NULL, *fences_out = NULL;
    int duration_set = 0;
    weft_buf headers;
    weft_buf_init(&headers, 0);
    a.wcfg.warmup_s = 2;
    a.wcfg.latency_viewers = 20;
    a.wcfg.deflate = 1;
    a.wcfg.stop = &stop_flag;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long n;
        double d;
#define TAKE()                                                                                     \
    do {                                                                                           \
        if (!v) return bad(o, "a value", "");                                                      \
        i++;                                                                                       \
    } while (0)
        if (!strcmp(o, "--help") || !strcmp(o, "-h")) {
            fputs(usage, stdout);
            return 0;
        } else if (!strcmp(o, "--realtime")) {
            c->backfill_days = 0;
        } else if (!strcmp(o, "--no-deflate")) {
            a.wcfg.deflate = 0;
        } else if (!strcmp(o, "--quiet")) {
            c->quiet = 1;
        } else if (!strcmp(o, "--host")) {
            TAKE();
            c->host = v;
        } else if (!strcmp(o, "--ack-log")) {
            TAKE();
            c->ack_log = v;
        } else if (!strcmp(o, "--export-roads")) {
            TAKE();
            roads_out = v;
        } else if (!strcmp(o, "--export-geofences")) {
            TAKE();
            fences_out = v;
        } else if (!strcmp(o, "--osmand-port") || !strcmp(o, "--teltonika-port")) {
            TAKE();
            if (to_long(v, 1, 65535, &n)) return bad(o, "a port 1..65535", v);
            *(o[2] == 'o' ? &c->osmand_port : &c->teltonika_port) = (int)n;
        } else if (!strcmp(o, "--vehicles")) {
            TAKE();
            if (to_long(v, 0, 1000000, &n)) return bad(o, "an integer 0..1000000", v);
            c->vehicles = (int)n;
        } else if (!strcmp(o, "--viewers")) {
            TAKE();
            if (to_long(v, 0, 100000, &n)) return bad(o, "an integer 0..100000", v);
            a.wcfg.viewers = (int)n;
        } else if (!strcmp(o, "--latency-viewers")) {
            TAKE();
            if (!strcmp(v, "all"))
                a.wcfg.latency_viewers = -1;
            else if (to_long(v, 0, 100000, &n))
                return bad(o, "an integer 0..100000 or all", v);
            else
                a.wcfg.latency_viewers = (int)n;
        } else if (!strcmp(o, "--socket-url")) {
            TAKE();
            if (strncmp(v, "ws://", 5)) return bad(o, "a ws:// URL", v);
            a.wcfg.url = v;
        } else if (!strcmp(o, "--socket-header")) {
            TAKE();
            if (!strchr(v, ':') || strpbrk(v, "\r\n")) return bad(o, "\"Name: value\"", v);
            weft_buf_printf(&headers, "%s\r\n", v);
        } else if (!strcmp(o, "--warmup")) {
            TAKE();
            if (to_double(v, 0, 3600, &d)) return bad(o, "seconds 0..3600", v);
            a.wcfg.warmup_s = d;
        } else if (!strcmp(o, "--interval-ms")) {
            TAKE();
            if (to_long(v, 1, 86400000, &n)) return bad(o, "milliseconds 1..86400000", v);
            c->interval_ms = (int)n;
        } else if (!strcmp(o, "--duration")) {
            TAKE();
            if (to_double(v, 0, 1e9, &d)) return bad(o, "seconds >= 0", v);
            c->duration_s = d, duration_set = 1;
        } else if (!strcmp(o, "--records-per-packet")) {
            TAKE();
            if (to_long(v, 1, TLT_RECORDS_MAX, &n)) return bad(o, "an integer 1..255", v);
            c->records_per_packet = (int)n;
        } else if (!strcmp(o, "--connections")) {
            TAKE();
            if (to_long(v, 1, 100000, &n)) return bad(o, "an integer 1..100000", v);
            c->connections = (int)n;
        } else if (!strcmp(o, "--seed")) {
            TAKE();
            if (to_long(v, 0, 0x7fffffffL, &n)) return bad(o, "an integer 0..2147483647", v);
            c->seed = (uint64_t)n;
        } else if (!strcmp(o, "--backfill")) {
            TAKE();
            if (to_long(v, 1, 3660, &n)) return bad(o, "days 1..3660", v);
            c->backfill_days = (int)n;
        } else if (!strcmp(o, "--osmand-mode")) {
            TAKE();
            if (!strcmp(v, "get"))
                c->osmand_mode = OSM_GET;
            else if (!strcmp(v, "post"))
                c->osmand_mode = OSM_POST_FORM;
            else if (!strcmp(v, "json"))
                c->osmand_mode = OSM_POST_JSON;
            else
                return bad(o, "get, post or json", v);
        } else if (!strcmp(o, "--protocol")) {
            TAKE();
            if (!strcmp(v, "both"))
                c->mix = SIM_MIX_BOTH;
            else if (!strcmp(v, "osmand"))
                c->mix = SIM_MIX_OSMAND;
            else if (!strcmp(v, "teltonika"))
                c->mix = SIM_MIX_TELTONIKA;
            else
                return bad(o, "both, osmand or teltonika", v);
        } else if (!strcmp(o, "--codec")) {
            TAKE();
            if (!strcmp(v, "8"))
                c->codec = TLT_CODEC8;
            else if (!strcasecmp(v, "8e"))
                c->codec = TLT_CODEC8E;
            else
                return bad(o, "8 or 8e", v);
        } else if (!strcmp(o, "--overspeed-share") || !strcmp(o, "--alarm-share")) {
            TAKE();
            if (to_double(v, 0, 1, &d)) return bad(o, "a share 0..1", v);
            *(o[2] == 'o' ? &c->overspeed_share : &c->alarm_share) = d;
        } else if (!strcmp(o, "--centre") || !strcmp(o, "--center")) {
            TAKE();
            char lat[64], *comma;
            snprintf(lat, sizeof lat, "%s", v);
            if (!(comma = strchr(lat, ',')) ||
                (*comma = 0, to_double(lat, -80, 80, &c->roads.lat)) ||
                to_double(comma + 1, -179, 179, &c->roads.lon))
                return bad(o, "LAT,LON within -80..80, -179..179", v);
        } else if (!strcmp(o, "--grid")) {
            TAKE();
            if (to_long(v, 3, 201, &n)) return bad(o, "an integer 3..201", v);
            c->roads.size = (int)n;
        } else if (!strcmp(o, "--spacing")) {
            TAKE();
            if (to_double(v, 20, 5000, &d)) return bad(o, "metres 20..5000", v);
            c->roads.spacing_m = d;
        } else if (!strcmp(o, "--ack-timeout-ms") || !strcmp(o, "--drain-ms")) {
            TAKE();
            if (to_long(v, 1, 3600000, &n)) return bad(o, "milliseconds 1..3600000", v);
            *(o[2] == 'a' ? &c->ack_timeout_ms : &c->drain_ms) = n;
        } else {
            fprintf(stderr, "fleet-sim: unknown option \"%s\"\n%s", o, usage);
            return 2;
        }
#undef TAKE
    }
    if (c->backfill_days > 0 && !duration_set) c->duration_s = 0; /* until the history is sent */
    if (a.wcfg.viewers > 0 && !a.wcfg.url) return bad("--viewers", "a --socket-url too", "");
    if (c->vehicles == 0 && a.wcfg.viewers == 0) return bad("--vehicles", "1..1000000 (0 only with --viewers)", "0");
    if (a.wcfg.latency_viewers > a.wcfg.viewers) a.wcfg.latency_viewers = a.wcfg.viewers;
    a.wcfg.headers = headers.len ? headers.data : NULL;
    a.wcfg.duration_s = c->duration_s;
    a.wcfg.quiet = c->quiet;

    if (roads_out || fences_out) {
        road_params rp = c->roads;
        rp.seed = c->seed;
        road_net net;
        int rc = road_net_build(&rp, &net);
        if (rc < 0) {
            fprintf(stderr, "fleet-sim: road network: %s\n", weft_strerror(rc));
            return 1;
        }
        weft_buf b;
        weft_buf_init(&b, 0);
        int fail = 0;
        if (roads_out) {
            fail |= road_net_geojson(&net, &b) < 0 || write_file(roads_out, &b);
            if (!fail)
                printf("fleet-sim: %u roads (%u junctions) written to %s\n", net.nedges, net.nnodes,
                       roads_out);
        }
        if (fences_out && !fail) {
            sim_fences f;
            sim_fences_make(&net, &f);
            weft_buf_clear(&b);
            fail |= sim_fences_geojson(&f, &b) < 0 || write_file(fences_out, &b);
            if (!fail)
                printf("fleet-sim: %d geofences written to %s\n", SIM_DEPOTS + 1, fences_out);
        }
        weft_buf_free(&b);
        road_net_free(&net);
        return fail;
    }

    /* a Teltonika device is a connection: take every descriptor we may */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    long need = c->connections + 64;
    for (int i = 1; i <= c->vehicles; i++) need += sim_is_teltonika(c, i);
    if ((long)rl.rlim_cur < need)
        fprintf(stderr,
                "fleet-sim: warning: %ld connections wanted but only %ld file descriptors allowed "
                "(ulimit -n); the rest will fail to connect and retry\n",
                need, (long)rl.rlim_cur);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    printf(
        "fleet-sim: %d vehicles every %d ms, %s, to %s (OsmAnd :%d %s, Teltonika :%d codec %s, %d "
        "records/packet)\n",
        c->vehicles, c->interval_ms, c->backfill_days > 0 ? "backfill" : "realtime", c->host,
        c->osmand_port,
        c->osmand_mode == OSM_GET         ? "GET"
        : c->osmand_mode == OSM_POST_FORM ? "POST form"
                                          : "POST JSON",
        c->teltonika_port, c->codec == TLT_CODEC8 ? "8" : "8E", c->records_per_packet);
    fflush(stdout);
    int rc = weft_main(run, &a, NULL);
    if (rc < 0) {
        fprintf(stderr, "fleet-sim: runtime: %s\n", weft_strerror(rc));
        return 1;
    }
    if (a.rc < 0) {
        fprintf(stderr, "fleet-sim: %s%s\n", weft_strerror(a.rc),
                a.rc == WEFT_EINVAL ? " (a setting is out of range)"
                : c->ack_log        ? " (ack log?)"
                                    : "");
        return 1;
    }
    int wfail = a.wcfg.viewers > 0 ? watch_done(&a) : 0;
    weft_buf_free(&headers);
    if (c->vehicles == 0) return wfail;
    const sim_report *r = &a.final;
    printf("fleet-sim: done in %.1f s: sent %lld, acknowledged %lld, failed %lld (refused %lld), "
           "resent %lld, "
           "dropped %lld, connect errors %lld; ack latency p50 %.2f ms, p99 %.2f ms; %.0f acks/s\n",
           r->elapsed_s, (long long)r->sent, (long long)r->acked, (long long)r->failed,
           (long long)r->rejected, (long long)r->resent, (long long)r->dropped,
           (long long)r->conn_errors, r->p50_ms, r->p99_ms, r->ack_rate);
    /* success: something was acknowledged, and everything that was sent, in
     * the end (a transmission that failed and went again is not a failure of
     * the run; a refusal is) */
    return r->acked > 0 && r->acked == r->sent && r->rejected == 0 && !wfail ? 0 : 1;
}
