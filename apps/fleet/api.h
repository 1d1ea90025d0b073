/*
 * apps/fleet/api.h — the web port: the REST API for web and mobile apps
 * (api_*.c, documented in docs/fleet-api.md and /api/openapi.json), the
 * live socket, /metrics, and the pages.
 *
 * Who may do what (enforced in api_*.c, documented in docs/fleet-api.md):
 *   admin    everything, every device (also those in no group)
 *   manager  read the devices, geofences, positions, events and reports of
 *            the groups they belong to; create, change and delete devices
 *            and geofences in those groups; list the users of those groups
 *   viewer   read the devices, geofences, positions, events and reports of
 *            their groups; nothing else
 * A device, geofence or user outside what a user may see is 404, exactly as
 * one that does not exist: the API does not confirm that it exists.
 */
#ifndef FLEET_API_H
#define FLEET_API_H

#include "weft/http.h"

#include "fleet.h"

/* The router of the web port. NULL when out of memory. Also sets up the
 * API's own state (the login rate limiter) in f->api; api_free releases it
 * after the server is gone. */
weft_http_router *api_router(fleet *f);
void api_free(fleet *f);
/* The compact route holds its answer up to this many bytes (default 4 MB)
 * and sends it as one body; past it, it counts the rest and streams. Tests
 * lower it to reach the streamed path with little data. */
extern size_t api_route_hold_max;
/* Tests only: called with the SQL of each GET /api/events/count and its
 * argument count (tests/unit/fleet_api.c checks its query plan). */
extern void (*api_events_count_sql_hook)(const char *sql, int nargs);
/* The trips, stops and summary reports' query of a device's motion chunks
 * (api_reports.c), for the test of its query plan. */
extern const char api_report_chunks_sql[];

/* A compact route point's five numbers, "fixTime,lat,lon,speed,course"
 * (ms; 7, 7, 2 and 1 decimals, trailing zeros dropped), at out (room for
 * API_ROUTE_POINT_MAX bytes); its length. */
#define API_ROUTE_POINT_MAX (5 * 32)
int api_route_point(char *out, int64_t t, double lat, double lon, double speed, double course);

/* /metrics (Prometheus text format) and /api/health (api_metrics.c). */
int api_metrics(weft_http_ctx *c, void *ud);
int api_health(weft_http_ctx *c, void *ud);

/* ---- who is asking (api_session.c) ------------------------------------------------ */

enum { API_ROLE_VIEWER = 0, API_ROLE_MANAGER = 1, API_ROLE_ADMIN = 2 };
#define API_USER_GROUPS_MAX 64 /* groups a user's requests see (more are ignored) */

typedef struct api_user {
    int64_t id;
    int role;                                /* API_ROLE_* */
    int ngroups;
    int64_t groups[API_USER_GROUPS_MAX];     /* the user's groups, ascending */
    char email[256];
    char name[129];
    int via_cookie;                          /* authenticated by the session cookie (CSRF applies) */
    int api_token;                           /* authenticated by an API token (kind 'api') */
    char token_hash[65];                     /* the credential's sessions.token_hash */
} api_user;

/* Who sent the request: the session cookie ("fleet_session") or an
 * "Authorization: Bearer <token>" header (an API token or a session token).
 * Returns 0 with *u filled; WEFT_EACCES when there are no credentials or
 * they are unknown, expired, or the user is disabled (answer 401);
 * WEFT_EDB / WEFT_ETIMEDOUT / WEFT_ENOMEM when the store failed (answer
 * 500/503). Sends nothing. Suspends the calling task (two store queries,
 * and a write at most once a minute per credential to keep last_used). */
int api_authenticate(fleet *f, weft_http_ctx *c, api_user *u);
/* 1 when u sees every device (an admin). */
int api_user_sees_all(const api_user *u);
/* 1 when u sees the devices of group gid (0: devices in no group, admins only). */
int api_user_sees_group(const api_user *u, int64_t gid);

/* ---- start-up (api_session.c) ------------------------------------------------------ */

/* On a store with no user: create the first admin (auth.admin_email and
 * auth.admin_password, else "admin@localhost" with a generated password,
 * printed once on stdout), and with demo.enabled the demo data (groups, a
 * manager and a viewer with printed passwords, 200 devices with the
 * simulator's ids, geofences; see api_demo_device_id). Does nothing when a
 * user exists. 0, or a negative code with err saying what failed. Suspends. */
int api_bootstrap(fleet *f, char *err, size_t errlen);
/* The unique id of simulated vehicle i (1-based), as apps/fleet-sim names
 * it: even i Teltonika "3560000000" + i in 5 digits, odd i "sim-%04d". */
void api_demo_device_id(int i, char out[24]);

/* Password hashes (libsodium's crypto_pwhash_str, argon2id). api_pwhash
 * returns 0 or WEFT_ENOMEM (libsodium could not get the memory) and runs on
 * the blocking pool (it takes ~64 MB and ~0.1 s of one core). api_pwverify:
 * 1 match, 0 no match (or not a hash). Both suspend the calling task; at
 * most two hashes run at once in the process (the others wait their turn),
 * so a burst of sign-ins takes 128 MB, not 64 MB a blocking thread. */
int api_pwhash(const char *password, char out[128]);
int api_pwverify(const char *hash, const char *password);
/* Tests: 1 selects libsodium's minimum cost for new hashes (fast, weak). */
void api_pwhash_set_light(int light);
/* Tests: the most hashes that ran at once since the last call (then 0). */
int api_pwhash_peak(void);

/* Close every live socket with 1001 and wait for them (api_live.c), after
 * the web server stopped and before fleet_stop. */
void api_live_close(fleet *f, int64_t deadline);

#endif
