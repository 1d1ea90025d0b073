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

typedef struct opts {
    const char *config;
    const char *host, *data_dir;
    int port, osmand_port, teltonika_port;
    int rc;
} opts;

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
    o->rc = 1;
    weft_http_router *web = NULL;
    weft_http_server *wsrv = NULL;
    if (fleet_start(f, err, sizeof err) < 0) {
        fprintf(stderr, "fleet: %s\n", err);
        goto out;
    }
    if (api_bootstrap(f, err, sizeof err) < 0) { /* first admin, demo data */
        fprintf(stderr, "fleet: %s\n", err);
        goto out;
    }
    if (!(web = api_router(f))) {
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
    printf("weft fleet: %zu devices, %s\n", live_count(f->devices),
           store_is_pg(f->db) ? "PostgreSQL" : f->cfg.data_dir);
    printf("osmand on http://%s:%d\n", f->cfg.ingest_host, f->osmand_port);
    printf("teltonika on tcp://%s:%d\n", f->cfg.ingest_host, f->teltonika_port);
    printf("listening on http://%s:%d\n", wc.host, weft_http_server_port(wsrv));
    fflush(stdout);
    weft_http_serve(wsrv); /* returns after SIGTERM / SIGINT, drained */
    api_live_close(f, weft_deadline_in(5000));
    weft_log_info("fleet: shutting down");
    o->rc = 0;
out:
    if (wsrv) weft_http_server_free(wsrv);
    fleet_stop(f);
    weft_http_router_free(web);
    api_free(f);
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
