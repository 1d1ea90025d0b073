/*
 * apps/fleet/main.c — weft fleet: the server's start and stop.
 *
 *   build/apps/fleet [--config fleet.json] [--host H] [--port N]
 *                    [--osmand-port N] [--teltonika-port N] [--data-dir DIR]
 *
 * Settings: defaults, then the config file (fleet.json in the current
 * directory when it exists, or the one --config names), then WEFT_FLEET_*
 * variables, then these flags (a port of 0 picks a free one; the ports in
 * use are printed). SIGTERM or Ctrl-C: the ports stop accepting, requests
 * and packets in flight finish, every queued fix is committed, exit 0.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft/log.h"
#include "weft/weft.h"

#include "api.h"
#include "feed.h"
#include "ingest.h"
#include "isotime.h"

typedef struct opts {
    const char *config;
    const char *host, *data_dir;
    int port, osmand_port, teltonika_port;
    int rc;
} opts;

static void background(void *arg) {
    fleet *f = arg;
    int64_t next_prune = 0;
    for (;;) {
        if (weft_sleep(2000) < 0) return;
        int64_t now = fleet_now_ms();
        fleet_sweep_offline(f, now);
        if (now >= next_prune) {
            fleet_prune(f, now, 2000);
            next_prune = now + 60000;
        }
    }
}

static void serve_osmand(void *srv) { weft_http_serve(srv); }

static void serve(void *arg) {
    opts *o = arg;
    static fleet fl;
    fleet *f = &fl;
    char err[512];
    fleet_config_defaults(&f->cfg);
    if (fleet_config_load(o->config ? o->config : "fleet.json", o->config != NULL, &f->cfg, err, sizeof err) < 0 ||
        fleet_config_env(&f->cfg, NULL, err, sizeof err) < 0) {
        fprintf(stderr, "fleet: %s\n", err);
        o->rc = 2;
        return;
    }
    if (o->host) snprintf(f->cfg.web_host, sizeof f->cfg.web_host, "%s", o->host);
    if (o->data_dir) snprintf(f->cfg.data_dir, sizeof f->cfg.data_dir, "%s", o->data_dir);
    if (o->port >= 0) f->cfg.web_port = o->port;
    if (o->osmand_port >= 0) f->cfg.osmand_port = o->osmand_port;
    if (o->teltonika_port >= 0) f->cfg.teltonika_port = o->teltonika_port;
    f->started_ms = fleet_now_ms();
    pthread_mutex_init(&f->geo_mu, NULL);
    pthread_rwlock_init(&f->groups_mu, NULL);

    o->rc = 1;
    if (store_open(&f->db, &f->cfg, err, sizeof err) < 0) {
        fprintf(stderr, "fleet: %s\n", err);
        return;
    }
    weft_http_router *web = NULL, *osm = NULL;
    weft_http_server *wsrv = NULL, *osrv = NULL;
    weft_group devs;
    weft_group_init(&devs);
    int tlt_fd = -1;
    if (!(f->devices = live_new()) || fleet_load(f, err, sizeof err) < 0) {
        fprintf(stderr, "fleet: %s\n", f->devices ? err : "out of memory");
        goto out;
    }
    if (api_bootstrap(f, err, sizeof err) < 0) { /* first admin, demo data */
        fprintf(stderr, "fleet: %s\n", err);
        goto out;
    }
    if (!(f->w = writer_start(f->db, f->cfg.commit_interval_ms, f->cfg.commit_max_rows)) ||
        !(f->feed = feed_new(f)) || feed_start(f->feed) < 0 || !(web = api_router(f)) ||
        !(osm = ingest_http_router(f))) {
        fprintf(stderr, "fleet: out of memory starting up\n");
        goto out;
    }
    int e = 0;
    weft_http_config wc = {.host = f->cfg.web_host, .port = f->cfg.web_port, .handle_signals = 1,
                           .max_body = 4 << 20};
    if (!(wsrv = weft_http_server_new(&wc, web, &e))) {
        fprintf(stderr, "fleet: web port %s:%d: %s\n", wc.host, wc.port, weft_strerror(e));
        goto out;
    }
    weft_http_config oc = {.host = f->cfg.ingest_host, .port = f->cfg.osmand_port, .idle_timeout_ms = 120000,
                           .max_body = 1 << 20};
    if (!(osrv = weft_http_server_new(&oc, osm, &e))) {
        fprintf(stderr, "fleet: osmand port %s:%d: %s\n", oc.host, oc.port, weft_strerror(e));
        goto out;
    }
    int tport = 0;
    if ((tlt_fd = ingest_tcp_start(f, f->cfg.ingest_host, f->cfg.teltonika_port, &devs, &tport)) < 0) {
        fprintf(stderr, "fleet: teltonika port %s:%d: %s\n", f->cfg.ingest_host, f->cfg.teltonika_port,
                weft_strerror(tlt_fd));
        goto out;
    }
    weft_group_go(&devs, background, f, "fleet-background");
    weft_group_go(&devs, serve_osmand, osrv, "osmand-http");
    printf("weft fleet %s: %zu devices, %s\n", "0.1", live_count(f->devices),
           store_is_pg(f->db) ? "PostgreSQL" : f->cfg.data_dir);
    printf("osmand on http://%s:%d\n", oc.host, weft_http_server_port(osrv));
    printf("teltonika on tcp://%s:%d\n", f->cfg.ingest_host, tport);
    printf("listening on http://%s:%d\n", wc.host, weft_http_server_port(wsrv));
    fflush(stdout);
    weft_http_serve(wsrv); /* returns after SIGTERM / SIGINT, drained */
    weft_log_info("fleet: shutting down");
    o->rc = 0;
out:
    if (osrv) weft_http_server_stop(osrv);
    if (tlt_fd >= 0) weft_close(tlt_fd);
    weft_group_cancel(&devs);
    weft_group_wait(&devs, weft_deadline_in(10000));
    if (osrv) weft_http_server_free(osrv);
    if (wsrv) weft_http_server_free(wsrv);
    feed_free(f->feed);
    writer_stop(f->w); /* commits what is queued */
    weft_http_router_free(web);
    weft_http_router_free(osm);
    api_free(f);
    store_close(f->db);
    live_free(f->devices);
}

static int usage(FILE *to, int rc) {
    fprintf(to, "usage: fleet [--config FILE] [--host H] [--port N] [--osmand-port N] [--teltonika-port N]\n"
                "             [--data-dir DIR]\n");
    return rc;
}

int main(int argc, char **argv) {
    opts o = {.port = -1, .osmand_port = -1, .teltonika_port = -1};
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return usage(stdout, 0);
        const char *opt = argv[i], *val = i + 1 < argc ? argv[++i] : NULL;
        if (!val) return fprintf(stderr, "fleet: %s needs a value\n", opt), usage(stderr, 2);
        char *end;
        long n = strtol(val, &end, 10);
        int is_num = *val && !*end && n >= 0 && n <= 65535;
        if (!strcmp(opt, "--config")) o.config = val;
        else if (!strcmp(opt, "--host")) o.host = val;
        else if (!strcmp(opt, "--data-dir")) o.data_dir = val;
        else if (!strcmp(opt, "--port") && is_num) o.port = (int)n;
        else if (!strcmp(opt, "--osmand-port") && is_num) o.osmand_port = (int)n;
        else if (!strcmp(opt, "--teltonika-port") && is_num) o.teltonika_port = (int)n;
        else return fprintf(stderr, "fleet: bad option %s %s\n", opt, val), usage(stderr, 2);
    }
    int rc = weft_main(serve, &o, NULL);
    return rc < 0 ? 1 : o.rc;
}
