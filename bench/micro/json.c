/*
 * bench/micro/json.c — JSON DOM parse and encode speed, and the generator of
 * the documents that weft and its Go (bench/peers/json-go) and Rust
 * (bench/peers/json-rust) peers all read; bench/run-json.sh runs the three.
 *
 *   build/bench/json gen feed|numbers FILE   write a document (deterministic:
 *                                            same bytes on every machine)
 *   build/bench/json FILE                    parse + encode FILE, print results
 *
 * Documents (both about 1 MiB):
 *   feed     a vehicle-tracking feed: an object holding an array of vehicle
 *            objects with integer ids, names with escapes and non-ASCII UTF-8
 *            (2-, 3- and 4-byte sequences, some as \u escapes), lat/lon with
 *            6-7 decimals, speeds, booleans, nulls, nested arrays and objects.
 *   numbers  like canada.json: a GeoJSON polygon feature collection whose
 *            coordinates are doubles printed with 17 significant digits
 *            ("-65.613616999999977"), the hard case for decimal conversion.
 *
 * Measurement (the peers do the same): the file is read once; a few warm-up
 * parses estimate the cost, then N parses (N so the run takes ~1.5 s, 20 <= N
 * <= 2000) are timed one by one and the median is reported. weft parses into
 * one arena that is reset before each parse (its first chunk is kept, so
 * steady state does no malloc). Encoding writes the parsed DOM back into a
 * weft_buf that is cleared (not freed) before each run, timed the same way.
 * Output: `RESULT parse_ms <median> ms`, `RESULT parse_mbps <MB/s> MB/s`
 * (MB = 10^6 bytes of input), likewise encode_ms / encode_mbps (MB/s of input
 * document size, so parse and encode figures compare), and `# ` note lines.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <weft/json.h>

#define TARGET_NS 1500000000.0
#define MIN_ITERS 20
#define MAX_ITERS 2000
#define DOC_BYTES (1u << 20)

/* ---- generator ------------------------------------------------------------ */

static uint64_t rng_state = 0x5eed1234abcd0001ull;
static uint64_t rnd(void) { /* splitmix64 */
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static uint64_t rndn(uint64_t n) { return rnd() % n; }
/* uniform in [lo, hi) with `dec` decimals, as an exact decimal string */
static void put_fixed(weft_buf *b, int64_t lo, int64_t hi, int dec) {
    int64_t scale = 1;
    for (int i = 0; i < dec; i++) scale *= 10;
    int64_t v = lo * scale + (int64_t)rndn((uint64_t)((hi - lo) * scale));
    int64_t a = v < 0 ? -v : v;
    weft_buf_printf(b, "%s%lld.%0*lld", v < 0 ? "-" : "", (long long)(a / scale), dec,
                    (long long)(a % scale));
}

static const char *const cities[] = {
    "Z\xc3\xbcrich HB", "S\xc3\xa3o Paulo", "Krak\xc3\xb3w G\xc5\x82\xc3\xb3wny",
    "\xe6\x9d\xb1\xe4\xba\xac\xe9\xa7\x85",             /* 東京駅 */
    "\xd0\x9c\xd0\xbe\xd1\x81\xd0\xba\xd0\xb2\xd0\xb0", /* Москва */
    "Gen\\u00e8ve Cornavin", "Port \\\"Nord\\\"", "Depot 7 \xf0\x9f\x9a\x8c", /* 🚌 */
    "Main St / 5th Ave", "K\xc3\xb8" "benhavn H", "Airport\\/T2", "Line\\tB",
};
static const char *const kinds[] = {"bus", "tram", "truck", "van", "ferry"};
static const char *const tags[] = {"electric", "low-floor", "wifi", "bike-rack", "express",
                                   "night", "refrigerated", "hazmat"};

static void gen_vehicle(weft_buf *b, int i) {
    weft_buf_printf(b, "{\"id\":%d,\"vin\":\"WBA%014llu\",\"kind\":\"%s\",", 100000 + i * 7,
                    (unsigned long long)(rnd() % 100000000000000ull), kinds[rndn(5)]);
    weft_buf_printf(b, "\"name\":\"%s %d\",", cities[rndn(12)], (int)rndn(200));
    weft_buf_appends(b, "\"position\":{\"lat\":");
    put_fixed(b, -60, 70, 6 + (int)rndn(2));
    weft_buf_appends(b, ",\"lon\":");
    put_fixed(b, -180, 180, 6 + (int)rndn(2));
    weft_buf_appends(b, ",\"alt\":");
    put_fixed(b, 0, 900, 1);
    weft_buf_printf(b, ",\"accuracy\":%d},", (int)rndn(50) + 1);
    weft_buf_appends(b, "\"speed\":");
    put_fixed(b, 0, 120, 2);
    weft_buf_printf(b, ",\"heading\":%d,\"odometer\":%llu,\"ts\":%llu,",
                    (int)rndn(360), (unsigned long long)rndn(2000000),
                    1790000000000ull + (unsigned long long)rndn(86400000));
    weft_buf_printf(b, "\"active\":%s,\"driver\":", rndn(4) ? "true" : "false");
    if (rndn(3) == 0)
        weft_buf_appends(b, "null,");
    else
        weft_buf_printf(b, "{\"id\":%d,\"name\":\"Driver %c. %s\",\"shift\":%d},",
                        (int)rndn(9000) + 1000, 'A' + (int)rndn(26),
                        rndn(2) ? "M\xc3\xbcller" : "O'Brien", (int)rndn(3));
    weft_buf_appends(b, "\"tags\":[");
    int nt = (int)rndn(4);
    for (int t = 0; t < nt; t++) weft_buf_printf(b, "%s\"%s\"", t ? "," : "", tags[rndn(8)]);
    weft_buf_appends(b, "],\"stops\":[");
    int ns = (int)rndn(4);
    for (int s = 0; s < ns; s++)
        weft_buf_printf(b, "%s{\"stop\":%d,\"eta_s\":%d,\"delay\":%s}", s ? "," : "",
                        (int)rndn(5000), (int)rndn(3600),
                        rndn(3) ? "null" : (rndn(2) ? "-1.5" : "2.25"));
    weft_buf_appends(b, "],\"sensors\":{\"temp_c\":");
    put_fixed(b, -20, 45, 1);
    weft_buf_appends(b, ",\"battery\":");
    put_fixed(b, 0, 1, 3);
    weft_buf_printf(b, ",\"doors\":[%s,%s],\"fault\":%s}", rndn(2) ? "true" : "false",
                    rndn(2) ? "true" : "false", rndn(10) ? "null" : "\"E42: door \\\"2\\\"\"");
    weft_buf_printf(b, ",\"note\":%s}",
                    rndn(5) ? "\"\"" : "\"late \\u2014 traffic\\nsee ops\"");
}

static void gen_feed(weft_buf *b) {
    weft_buf_appends(b, "{\"feed\":\"vehicles\",\"version\":3,\"generated\":\"2026-11-22T10:00:00Z\","
                        "\"region\":{\"name\":\"Gro\xc3\x9f-Z\xc3\xbcrich\",\"bbox\":[-180.0,-60.0,"
                        "180.0,70.0]},\"vehicles\":[");
    for (int i = 0; b->len < DOC_BYTES - 2048; i++) {
        if (i) weft_buf_appendc(b, ',');
        gen_vehicle(b, i);
    }
    weft_buf_appends(b, "]}\n");
}

static void gen_numbers(weft_buf *b) {
    weft_buf_appends(b, "{\"type\":\"FeatureCollection\",\"features\":[{\"type\":\"Feature\","
                        "\"properties\":{\"name\":\"Canada\"},\"geometry\":{\"type\":\"Polygon\","
                        "\"coordinates\":[");
    double lon = -65.613617, lat = 43.420273;
    for (int ring = 0; b->len < DOC_BYTES - 4096; ring++) {
        weft_buf_appends(b, ring ? ",[" : "[");
        int n = 50 + (int)rndn(1500);
        for (int k = 0; k < n; k++) {
            lon += (double)((int64_t)rndn(20001) - 10000) / 1e6;
            lat += (double)((int64_t)rndn(20001) - 10000) / 1e6;
            /* canada.json's numbers: doubles with ~6 decimals, printed with
             * 17 significant digits, so most are 17-digit decimals */
            double x = (double)(int64_t)(lon * 1e6) / 1e6, y = (double)(int64_t)(lat * 1e6) / 1e6;
            weft_buf_printf(b, "%s[%.17g,%.17g]", k ? "," : "", x, y);
            if (b->len >= DOC_BYTES - 4096) break;
        }
        weft_buf_appendc(b, ']');
    }
    weft_buf_appends(b, "]}}]}\n");
}

/* ---- measurement ----------------------------------------------------------- */

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}
static int cmp_d(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}
static void result(const char *name, double v, const char *unit) {
    printf("RESULT %s %.6f %s\n", name, v, unit);
    fflush(stdout);
}

static char *doc;
static size_t doc_len;
static weft_arena arena;
static weft_json *root;
static weft_buf out;

static int do_parse(void) {
    weft_json_error err = {0, NULL};
    weft_arena_reset(&arena);
    int rc = weft_json_parse(doc, doc_len, &arena, 0, &root, &err);
    if (rc) fprintf(stderr, "json: parse: %s at %zu (%d)\n", err.msg ? err.msg : "?", err.offset, rc);
    return rc;
}
static int do_encode(void) {
    weft_json_enc e;
    weft_buf_clear(&out);
    weft_json_enc_init(&e, &out);
    weft_json_enc_value(&e, root);
    int rc = weft_json_enc_finish(&e);
    if (rc) fprintf(stderr, "json: encode: %s (%d)\n", weft_strerror(rc), rc);
    return rc;
}

/* Times fn: warm-up, then N timed runs; returns the median ns or -1. */
static double measure(int (*fn)(void), int *iters) {
    double t0 = now_ns();
    for (int i = 0; i < 3; i++)
        if (fn()) return -1;
    double est = (now_ns() - t0) / 3;
    int n = (int)(TARGET_NS / (est > 1 ? est : 1));
    if (n < MIN_ITERS) n = MIN_ITERS;
    if (n > MAX_ITERS) n = MAX_ITERS;
    double *t = malloc((size_t)n * sizeof *t);
    if (!t) return -1;
    for (int i = 0; i < n; i++) {
        double a = now_ns();
        if (fn()) {
            free(t);
            return -1;
        }
        t[i] = now_ns() - a;
    }
    qsort(t, (size_t)n, sizeof *t, cmp_d);
    double med = n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
    free(t);
    *iters = n;
    return med;
}

static size_t count_values(const weft_json *v) {
    size_t n = 1;
    if (v->type == WEFT_JSON_ARRAY)
        for (uint32_t i = 0; i < v->len; i++) n += count_values(&v->u.items[i]);
    else if (v->type == WEFT_JSON_OBJECT)
        for (uint32_t i = 0; i < v->len; i++) n += count_values(&v->u.members[i].value);
    return n;
}

int main(int argc, char **argv) {
    if (argc == 4 && strcmp(argv[1], "gen") == 0) {
        weft_buf b;
        weft_buf_init(&b, 0);
        if (strcmp(argv[2], "feed") == 0)
            gen_feed(&b);
        else if (strcmp(argv[2], "numbers") == 0)
            gen_numbers(&b);
        else {
            fprintf(stderr, "json: unknown document kind \"%s\" (feed, numbers)\n", argv[2]);
            return 2;
        }
        FILE *f = fopen(argv[3], "wb");
        if (!f || fwrite(b.data, 1, b.len, f) != b.len || fclose(f) != 0) {
            perror(argv[3]);
            return 1;
        }
        weft_buf_free(&b);
        return 0;
    }
    if (argc != 2) {
        fprintf(stderr, "usage: json gen feed|numbers FILE | json FILE\n");
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    if (!f) {
        perror(argv[1]);
        return 1;
    }
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    doc = malloc(sz > 0 ? (size_t)sz : 1);
    if (!doc || sz < 0 || fread(doc, 1, (size_t)sz, f) != (size_t)sz) {
        perror(argv[1]);
        return 1;
    }
    fclose(f);
    doc_len = (size_t)sz;
    /* one 16 MiB chunk holds the whole DOM, so a reset arena never mallocs */
    weft_arena_init(&arena, 16u << 20);
    weft_buf_init(&out, 0);
    if (do_parse()) return 1;
    printf("# weft: %s: %zu bytes, %zu values\n", argv[1], doc_len, count_values(root));
    int n = 0;
    double ns = measure(do_parse, &n);
    if (ns < 0) return 1;
    result("parse_ms", ns / 1e6, "ms");
    result("parse_mbps", (double)doc_len / (ns / 1e9) / 1e6, "MB/s");
    printf("# weft: parse: %d runs; DOM uses %zu arena bytes\n", n, arena.used);
    if (do_parse()) return 1;
    ns = measure(do_encode, &n);
    if (ns < 0) return 1;
    result("encode_ms", ns / 1e6, "ms");
    result("encode_mbps", (double)doc_len / (ns / 1e9) / 1e6, "MB/s");
    printf("# weft: encode: %d runs; output %zu bytes\n", n, out.len);
    weft_buf_free(&out);
    weft_arena_free(&arena);
    free(doc);
    return 0;
}
