/*
 * apps/fleet/api_web.c — the ops dashboard's files, served by fleet itself.
 *
 *   GET /                     index.html (Cache-Control: no-cache)
 *   GET /src/{path...}        the app's ES modules and CSS (no-cache: ETag revalidation)
 *   GET /vendor/{pkg@ver/...} a browser library from node_modules, only when
 *                             ver is the installed version; immutable, cached a year
 *   GET /overlays/{path...}   GeoJSON map overlays (the simulator's roads)
 *   GET /api/server           what the page needs before signing in: the tile URL
 *
 * The web root is web.root, or apps/fleet/web found from the binary
 * (build/apps/fleet -> ../../apps/fleet/web), or ./apps/fleet/web. Paths
 * with a ".." segment, NULs or naming a directory answer 404
 * (weft_http_static). Requests that accept gzip get the precompressed
 * `.gz` next to a file when there is one (weft_http_static_gz).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api_int.h"

#define NO_CACHE "no-cache"
#define IMMUTABLE "public, max-age=31536000, immutable"

static int has_index(const char *dir) {
    char p[PATH_MAX];
    struct stat st;
    return snprintf(p, sizeof p, "%s/index.html", dir) < (int)sizeof p && stat(p, &st) == 0 &&
           S_ISREG(st.st_mode);
}

/* Fill cfg.web_root when it is empty. 0: found, 1: no dashboard files. */
static int find_root(fleet_config *cfg) {
    if (cfg->web_root[0]) return has_index(cfg->web_root) ? 0 : 1;
    char exe[PATH_MAX], cand[PATH_MAX + 32];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) *slash = 0;
        snprintf(cand, sizeof cand, "%s/../../apps/fleet/web", exe);
        char real[PATH_MAX];
        if (realpath(cand, real) && has_index(real) && strlen(real) < sizeof cfg->web_root) {
            strcpy(cfg->web_root, real);
            return 0;
        }
    }
    if (has_index("apps/fleet/web")) {
        strcpy(cfg->web_root, "apps/fleet/web");
        return 0;
    }
    return 1;
}

static int answer_404(weft_http_ctx *c) { return weft_http_text(c, 404, "not found\n"); }

/* root/rel with the cache policy; 404 when there is no such file. */
static int serve(weft_http_ctx *c, const char *root, weft_str rel, const char *cache) {
    weft_http_add_header(c, "Cache-Control", cache);
    int rc = weft_http_static_gz(c, root, rel);
    if (rc == WEFT_ENOENT) return answer_404(c);
    return rc;
}

static int index_page(weft_http_ctx *c, void *ud) {
    fleet *f = ud;
    return serve(c, f->cfg.web_root, WEFT_STR("index.html"), NO_CACHE);
}

static int src_file(weft_http_ctx *c, void *ud) {
    fleet *f = ud;
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/src", f->cfg.web_root);
    return serve(c, dir, weft_http_param(c, "path"), NO_CACHE);
}

/* The version field of node_modules/<pkg>/package.json into out ("" if none). */
static void installed_version(const char *root, weft_str pkg, char *out, size_t cap) {
    out[0] = 0;
    char p[PATH_MAX];
    if (snprintf(p, sizeof p, "%s/node_modules/%.*s/package.json", root, (int)pkg.n, pkg.p) >= (int)sizeof p)
        return;
    FILE *fp = fopen(p, "r");
    if (!fp) return;
    char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    fclose(fp);
    buf[n] = 0;
    char *v = strstr(buf, "\"version\"");
    if (!v || !(v = strchr(v + 9, '"'))) return;
    char *e = strchr(++v, '"');
    if (!e || (size_t)(e - v) >= cap) return;
    memcpy(out, v, (size_t)(e - v));
    out[e - v] = 0;
}

/* /vendor/leaflet@1.9.4/dist/leaflet.js, /vendor/@scope/name@1.0.0/x.js.
 * Only the browser libraries the page loads; the version in the URL must be
 * the one installed, so the answer can be cached for good. */
static int vendor_file(weft_http_ctx *c, void *ud) {
    /* leaflet.markercluster: not installed any more (vehlayer.js replaced
     * it); listed so that bench-dashboard's BASE_ROOT can serve a web root
     * from before */
    static const char *const allowed[] = {
        "leaflet",         "supercluster", "@geoman-io/leaflet-geoman-free",
        "topojson-client", "world-atlas",  "leaflet.markercluster"};
    fleet *f = ud;
    weft_str path = weft_http_param(c, "path"), pkg = path;
    if (path.n && path.p[0] == '@') { /* a scoped name has one more segment */
        const char *s = memchr(path.p, '/', path.n);
        if (!s) return answer_404(c);
        s = memchr(s + 1, '/', path.n - (size_t)(s + 1 - path.p));
        pkg.n = s ? (size_t)(s - path.p) : path.n;
    } else {
        const char *s = memchr(path.p ? path.p : "", '/', path.n);
        pkg.n = s ? (size_t)(s - path.p) : path.n;
    }
    weft_str rest = {pkg.p + pkg.n, path.n - pkg.n};
    const char *at = NULL;
    for (size_t i = pkg.n; i > 1; i--)
        if (pkg.p[i - 1] == '@') {
            at = pkg.p + i - 1;
            break;
        }
    if (!at || !rest.n) return answer_404(c);
    weft_str name = {pkg.p, (size_t)(at - pkg.p)}, ver = {at + 1, pkg.n - name.n - 1};
    int ok = 0;
    for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++) ok |= weft_str_eq(name, weft_str_c(allowed[i]));
    char have[64];
    if (ok) installed_version(f->cfg.web_root, name, have, sizeof have);
    if (!ok || !weft_str_eq(ver, weft_str_c(have))) return answer_404(c);
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/node_modules/%.*s", f->cfg.web_root, (int)name.n, name.p);
    return serve(c, dir, rest, IMMUTABLE);
}

static int overlay_file(weft_http_ctx *c, void *ud) {
    fleet *f = ud;
    char dir[PATH_MAX];
    if (f->cfg.web_overlays[0])
        snprintf(dir, sizeof dir, "%s", f->cfg.web_overlays);
    else
        snprintf(dir, sizeof dir, "%s/overlays", f->cfg.data_dir);
    return serve(c, dir, weft_http_param(c, "path"), NO_CACHE);
}

/* Public, like Traccar's /api/server: what the page needs to draw the map. */
static int server_info(weft_http_ctx *c, void *ud) {
    fleet *f = ud;
    weft_json_enc *j = weft_http_json_begin(c, 200);
    weft_json_enc_object(j);
    weft_json_enc_key(j, WEFT_STR("tileUrl"));
    if (f->cfg.web_tile_url[0])
        weft_json_enc_str(j, weft_str_c(f->cfg.web_tile_url));
    else
        weft_json_enc_null(j);
    weft_json_enc_key(j, WEFT_STR("movingSpeed"));
    weft_json_enc_double(j, f->cfg.moving_speed_kn);
    weft_json_enc_key(j, WEFT_STR("offlineTimeout"));
    weft_json_enc_int(j, f->cfg.offline_timeout_s * 1000);
    weft_json_enc_end(j);
    weft_http_add_header(c, "Cache-Control", NO_CACHE);
    return weft_http_json_end(c);
}

int api_routes_web(weft_http_router *r, fleet *f) {
    int rc = weft_http_route(r, "GET", "/api/server", server_info, f);
    rc |= weft_http_route(r, "GET", "/overlays/{path...}", overlay_file, f);
    int found = find_root(&f->cfg);
    if (found == 0) {
        rc |= weft_http_route(r, "GET", "/", index_page, f);
        rc |= weft_http_route(r, "GET", "/src/{path...}", src_file, f);
        rc |= weft_http_route(r, "GET", "/vendor/{path...}", vendor_file, f);
    }
    return rc < 0 ? rc : found;
}
