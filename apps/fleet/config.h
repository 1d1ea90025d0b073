/*
 * apps/fleet/config.h — weft fleet's settings: every one has a default, a
 * JSON file (fleet.json) overrides them, and a few environment variables
 * override the file (the ones deployments change: ports, data directory,
 * database, first admin). An error names the file, line, column and the
 * setting, and says what was wrong and what was expected:
 *
 *   fleet.json:7:13: web.port: must be an integer from 1 to 65535 (got 70000)
 *   fleet.json:3:1: not valid JSON: expected ',' or '}' after an object member
 *   WEFT_FLEET_HTTP_PORT: must be an integer from 0 to 65535 (got "http")
 *
 * The whole list, with defaults and meaning, is in docs/fleet.md.
 */
#ifndef FLEET_CONFIG_H
#define FLEET_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "weft/base.h"

typedef struct fleet_config {
    /* web: the dashboard, the REST API and the live socket */
    char web_host[64];
    int web_port;            /* 8080 */
    char web_tile_url[512];  /* "" = the offline base map */
    char web_root[512];      /* the dashboard's files; "" = apps/fleet/web found from the binary */
    char web_overlays[512];  /* GeoJSON map overlays (roads.geojson); "" = <data_dir>/overlays */
    int web_secure_cookies;  /* Secure flag on the session cookie (behind TLS) */
    /* ingest */
    char ingest_host[64];
    int osmand_port;         /* 5055 */
    int teltonika_port;      /* 5027 */
    int auto_register;       /* unknown devices are created (else refused) */
    int64_t max_future_s;    /* fixes further in the future are refused */
    /* storage */
    char data_dir[512];      /* SQLite database and other state */
    char postgres[1024];     /* libpq conninfo; "" = embedded SQLite */
    int commit_interval_ms;  /* group commit: gather behind an unfinished sync at most this long ... */
    int commit_max_rows;     /* ... or up to this many rows per transaction (writer.h) */
    int commit_gap_ms;       /* consecutive commits start at least this far apart (0: whenever the disk is idle) ... */
    int commit_gap_rows;     /* ... unless the batch has this many rows */
    int sqlite_mmap_mb;      /* SQLite reads through a memory map of this much of the file (0: off) */
    int sqlite_page_size;    /* a new SQLite database's page size (0: SQLite's 4096); docs/fleet.md */
    int positions_retention_days; /* 0 = keep forever */
    int events_retention_days;
    /* status and motion */
    int64_t offline_timeout_s;
    double moving_speed_kn;  /* above: moving */
    int64_t stop_min_s;      /* below this speed this long: a stop */
    double default_speed_limit_kn; /* 0 = no overspeed events unless a device/group sets one */
    /* live socket */
    int live_tick_ms;           /* updates are coalesced and sent every tick_ms */
    int live_max_flushes_per_s; /* 0 = no cap; else the tick is at least 1000 / this */
    int live_queue_kb;       /* per viewer, before its oldest updates are merged away */
    /* auth */
    int session_days;
    int login_attempts_per_min; /* per client address */
    /* first admin (created only when no user exists) */
    char admin_email[256];
    char admin_password[256];
    /* demo data and simulator (make run) */
    int demo;
} fleet_config;

void fleet_config_defaults(fleet_config *c);

/* Apply the JSON text of the file `name` (used in messages) over *c.
 * Returns 0, or WEFT_EPARSE / WEFT_EINVAL with err holding the message.
 * Pure: no file or environment access. */
int fleet_config_parse(const char *name, weft_str text, fleet_config *c, char *err, size_t errlen);

/* Read the file at path and apply it. A missing file is an error only when
 * `required` (the user named it); otherwise the defaults stand. Errors: the
 * read's -errno (message "fleet.json: cannot read: No such file...") or
 * fleet_config_parse's. */
int fleet_config_load(const char *path, int required, fleet_config *c, char *err, size_t errlen);

/* Apply the WEFT_FLEET_* environment overrides (through getenv_fn, so tests
 * pass their own; NULL = getenv). WEFT_EINVAL with the variable's name in err. */
int fleet_config_env(fleet_config *c, const char *(*getenv_fn)(const char *), char *err, size_t errlen);

#endif
