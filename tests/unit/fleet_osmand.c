/*
 * tests/unit/fleet_osmand.c — the OsmAnd / Traccar Client parser
 * (apps/fleet/osmand.c) and the timestamp reader under it (isotime.c), on
 * requests as the apps send them (the query strings and JSON bodies of
 * Traccar's public decoder tests) and on the ways they go wrong.
 */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "isotime.h"
#include "osmand.h"
#include "test.h"

typedef struct parsed {
    int rc;
    const char *why;
    osmand_msg msg;
    fleet_fix fix[8];
    weft_buf attrs;
    weft_arena arena;
} parsed;

static parsed *q(const char *query, const char *form) {
    parsed *p = calloc(1, sizeof *p);
    weft_buf_init(&p->attrs, 0);
    weft_arena_init(&p->arena, 0);
    p->why = "";
    p->rc = osmand_parse_form(weft_str_c(query), weft_str_c(form), 1700000000000LL, &p->msg,
                              &p->fix[0], &p->attrs, &p->arena, &p->why);
    return p;
}
static parsed *j(const char *body) {
    parsed *p = calloc(1, sizeof *p);
    weft_buf_init(&p->attrs, 0);
    weft_arena_init(&p->arena, 0);
    p->why = "";
    p->rc = osmand_parse_json(weft_str_c(body), 1700000000000LL, &p->msg, p->fix, 8, &p->attrs,
                              &p->arena, &p->why);
    return p;
}
static void pfree(parsed *p) {
    weft_buf_free(&p->attrs);
    weft_arena_free(&p->arena);
    free(p);
}
static int has(const parsed *p, int i, const char *needle) {
    weft_str a = {p->attrs.data + p->fix[i].attr_off, p->fix[i].attr_len};
    size_t k = strlen(needle);
    for (size_t x = 0; x + k <= a.n; x++)
        if (memcmp(a.p + x, needle, k) == 0) return 1;
    return 0;
}
#define NEAR(a, b) (fabs((a) - (b)) < 1e-9)

TEST_PLAIN(query_iso_time_hdop_altitude) {
    parsed *p = q("id=902064&lat=42.06288&lon=-88.23412&timestamp=2016-01-27T18%3A55%3A47Z&hdop=6.0"
                  "&altitude=224.0&speed=0.0", "");
    ASSERT_EQ(p->rc, 0);
    ASSERT(strcmp(p->msg.device_id, "902064") == 0);
    ASSERT(NEAR(p->fix[0].lat, 42.06288) && NEAR(p->fix[0].lon, -88.23412));
    ASSERT_EQ(p->fix[0].fix_ms, 1453920947000LL);
    ASSERT(NEAR(p->fix[0].altitude, 224));
    ASSERT(has(p, 0, "\"hdop\":6.0"));
    ASSERT_EQ(p->fix[0].valid, 1);
    pfree(p);
}

TEST_PLAIN(query_millisecond_timestamp) {
    parsed *p = q("id=902064&lat=42.06288&lon=-88.23412&timestamp=1442068686579&hdop=6.0", "");
    ASSERT_EQ(p->rc, 0);
    ASSERT_EQ(p->fix[0].fix_ms, 1442068686579LL);
    pfree(p);
}

TEST_PLAIN(query_space_separated_time_and_id_last) {
    parsed *p = q("lat=49.60688&lon=6.15788&timestamp=2014-06-04+09%3A10%3A11&altitude=384.7&speed=0.0"
                  "&id=353861053849681", "");
    ASSERT_EQ(p->rc, 0);
    ASSERT(strcmp(p->msg.device_id, "353861053849681") == 0);
    ASSERT_EQ(p->fix[0].fix_ms, 1401873011000LL);
    pfree(p);
}

TEST_PLAIN(query_deviceid_heading_no_timestamp) {
    parsed *p = q("lat=60.0&lon=30.0&speed=0.0&heading=90.0&vacc=0&hacc=0&altitude=0&deviceid=123456", "");
    ASSERT_EQ(p->rc, 0);
    ASSERT(strcmp(p->msg.device_id, "123456") == 0);
    ASSERT_EQ(p->fix[0].fix_ms, 1700000000000LL); /* the server's clock */
    ASSERT(NEAR(p->fix[0].course, 90));
    ASSERT(has(p, 0, "\"vacc\":0"));
    pfree(p);
}

TEST_PLAIN(query_location_pair) {
    parsed *p = q("id=123456&timestamp=1377177267&location=60.0,30.0", "");
    ASSERT_EQ(p->rc, 0);
    ASSERT(NEAR(p->fix[0].lat, 60) && NEAR(p->fix[0].lon, 30));
    ASSERT_EQ(p->fix[0].fix_ms, 1377177267000LL);
    pfree(p);
}

TEST_PLAIN(query_battery_ignition_and_other_attributes) {
    parsed *p = q("id=123456789012345&timestamp=1504763810&lat=40.7232948571&lon=-74.0061408571"
                  "&bearing=7.19889788244&speed=40&ignition=true&rpm=933&fuel=24&batt=87&charge=false"
                  "&driverUniqueId=D42&alarm=sos&note=hello+world%21", "");
    ASSERT_EQ(p->rc, 0);
    ASSERT(NEAR(p->fix[0].speed_kn, 40)); /* knots, as sent */
    ASSERT_EQ(p->fix[0].ignition, 1);
    ASSERT_EQ(p->fix[0].charging, 0);
    ASSERT(NEAR(p->fix[0].battery_pct, 87));
    ASSERT(p->fix[0].alarms & FLEET_ALARM_SOS);
    ASSERT(strcmp(p->msg.driver, "D42") == 0);
    ASSERT(has(p, 0, "\"rpm\":933"));
    ASSERT(has(p, 0, "\"batteryLevel\":87"));
    ASSERT(has(p, 0, "\"ignition\":true"));
    ASSERT(has(p, 0, "\"note\":\"hello world!\""));
    ASSERT(!has(p, 0, "\"lat\""));
    pfree(p);
}

/* Each source is decoded on its own: a query without escapes is taken as it
 * is (no per-parameter scan) while the form beside it is still decoded, and
 * the reverse; empty keys and values stay empty strings. */
TEST_PLAIN(escapes_decoded_per_source) {
    parsed *p = q("id=7&lat=1.5&lon=2.5&empty=&a+b=c%2Bd", "note=x+y%21&plain=z");
    ASSERT_EQ(p->rc, 0);
    ASSERT(has(p, 0, "\"empty\":\"\""));
    ASSERT(has(p, 0, "\"a b\":\"c+d\""));
    ASSERT(has(p, 0, "\"note\":\"x y!\""));
    ASSERT(has(p, 0, "\"plain\":\"z\""));
    pfree(p);
    p = q("id=7&lat=1.5&lon=2.5&word=on%20off&flag=true", "empty=&n=1");
    ASSERT_EQ(p->rc, 0);
    ASSERT(has(p, 0, "\"word\":\"on off\""));
    ASSERT(has(p, 0, "\"flag\":true"));
    ASSERT(has(p, 0, "\"empty\":\"\""));
    ASSERT(has(p, 0, "\"n\":1"));
    pfree(p);
}

TEST_PLAIN(form_body_and_query_together) {
    parsed *p = q("id=7", "lat=1.5&lon=2.5&valid=false&id=8");
    ASSERT_EQ(p->rc, 0);
    ASSERT(strcmp(p->msg.device_id, "7") == 0); /* the query's wins */
    ASSERT_EQ(p->fix[0].valid, 0);
    pfree(p);
}

TEST_PLAIN(query_errors_name_the_field) {
    static const struct {
        const char *query, *why;
    } bad[] = {
        {"timestamp=1377177267&lat=60.0&lon=30.0", "id is required"},
        {"id=1&lon=30.0", "lat and lon"},
        {"id=1&lat=north&lon=30", "lat is not a number"},
        {"id=1&lat=1&lon=1e999", "lon is not a number"},
        {"id=1&lat=1&lon=nan", "lon is not a number"},
        {"id=1&lat=1&lon=2&timestamp=yesterday", "timestamp"},
        {"id=1&lat=1&lon=2&timestamp=2020-02-30T00:00:00Z", "timestamp"},
        {"id=1&lat=1&lon=2&speed=-3", "speed"},
        {"id=1&location=60.0", "location must be lat,lon"},
        {"id=&lat=1&lon=2", "id must be"},
        {"id=1&lat=1&lon=2&ignition=maybe", "ignition"},
        {"id=1&lat=1&lon=2&x=%FF%FE", "UTF-8"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        parsed *p = q(bad[i].query, "");
        if (p->rc != WEFT_EPARSE || !strstr(p->why, bad[i].why)) {
            test__fail(__FILE__, __LINE__, "%s: rc %d why '%s', want '%s'", bad[i].query, p->rc,
                       p->why, bad[i].why);
            pfree(p);
            return;
        }
        pfree(p);
    }
}

TEST_PLAIN(too_many_parameters_refused) {
    char big[2048] = "id=1&lat=1&lon=2";
    for (int i = 0; i < 70; i++) snprintf(big + strlen(big), sizeof big - strlen(big), "&a%d=1", i);
    parsed *p = q(big, "");
    ASSERT_ERR(p->rc, WEFT_EPARSE);
    ASSERT(strstr(p->why, "too many"));
    pfree(p);
}

/* The Traccar Client 9 JSON body (Traccar's test vector). */
TEST_PLAIN(json_traccar_client) {
    parsed *p = j("{\"location\":{\"timestamp\":\"2025-06-15T13:45:12.862Z\",\"coords\":{\"latitude\":37.4219983,"
                  "\"longitude\":-122.084,\"accuracy\":5,\"speed\":10,\"heading\":-1,\"altitude\":5},"
                  "\"is_moving\":false,\"odometer\":0,\"event\":\"motionchange\",\"battery\":{\"level\":0.79,"
                  "\"is_charging\":false},\"activity\":{\"type\":\"still\"},\"extras\":{\"trip\":\"A7\","
                  "\"load_kg\":1.345},\"_\":\"&id=48241179&lat=37.4219983&lon=-122.084&\"},"
                  "\"device_id\":\"48241179\"}");
    ASSERT_EQ(p->rc, 0);
    ASSERT_EQ(p->msg.nfix, 1);
    ASSERT(strcmp(p->msg.device_id, "48241179") == 0);
    fleet_fix *f = &p->fix[0];
    ASSERT(NEAR(f->lat, 37.4219983) && NEAR(f->lon, -122.084));
    ASSERT_EQ(f->fix_ms, 1749995112862LL);
    ASSERT(NEAR(f->speed_kn, 10 * 3600.0 / 1852)); /* m/s in the JSON form */
    ASSERT(NEAR(f->course, 0));                    /* -1: unknown */
    ASSERT(NEAR(f->accuracy, 5));
    ASSERT_EQ(f->motion, 0);
    ASSERT_EQ(f->charging, 0);
    ASSERT(NEAR(f->battery_pct, 79));
    ASSERT(has(p, 0, "\"trip\":\"A7\""));
    ASSERT(has(p, 0, "\"event\":\"motionchange\""));
    ASSERT(has(p, 0, "\"activity\":\"still\""));
    pfree(p);
}

TEST_PLAIN(json_batch_of_locations) {
    parsed *p = j("{\"device_id\":\"5\",\"location\":[{\"timestamp\":\"2021-07-21T08:06:34.444Z\",\"coords\":"
                  "{\"latitude\":-6.1148096,\"longitude\":106.6837015,\"speed\":18.67,\"heading\":63}},"
                  "{\"timestamp\":\"2021-07-21T08:06:44Z\",\"coords\":{\"latitude\":-6.1,\"longitude\":106.7}}]}");
    ASSERT_EQ(p->rc, 0);
    ASSERT_EQ(p->msg.nfix, 2);
    ASSERT(NEAR(p->fix[0].course, 63));
    ASSERT_EQ(p->fix[1].fix_ms - p->fix[0].fix_ms, 9556);
    pfree(p);
}

TEST_PLAIN(json_errors) {
    static const struct {
        const char *body, *why;
    } bad[] = {
        {"{\"device_id\":\"5\",\"location\":{\"coords\":{\"latitude\":1}}}", "latitude and longitude"},
        {"{\"location\":{\"coords\":{\"latitude\":1,\"longitude\":2}}}", "device_id"},
        {"{\"device_id\":\"5\"}", "location is required"},
        {"{\"device_id\":\"5\",\"location\":{\"timestamp\":\"soon\",\"coords\":{\"latitude\":1,\"longitude\":2}}}",
         "timestamp"},
        {"[1,2]", "JSON object"},
        {"{\"device_id\":", "not valid JSON"},
        {"{\"device_id\":\"5\",\"location\":[]}", "empty"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        parsed *p = j(bad[i].body);
        if (p->rc != WEFT_EPARSE || !strstr(p->why, bad[i].why)) {
            test__fail(__FILE__, __LINE__, "%s: rc %d why '%s', want '%s'", bad[i].body, p->rc, p->why,
                       bad[i].why);
            pfree(p);
            return;
        }
        pfree(p);
    }
}

TEST_PLAIN(isotime_formats) {
    int64_t ms;
    ASSERT_EQ(fleet_time_parse(WEFT_STR("1970-01-01T00:00:00Z"), &ms), 0);
    ASSERT_EQ(ms, 0);
    ASSERT_EQ(fleet_time_parse(WEFT_STR("2024-02-29T12:00:00.5+02:00"), &ms), 0);
    ASSERT_EQ(ms, 1709200800500LL);
    ASSERT_EQ(fleet_time_parse(WEFT_STR("2024-02-29T12:00:00-0130"), &ms), 0);
    ASSERT_EQ(ms, 1709213400000LL);
    ASSERT_EQ(fleet_time_parse(WEFT_STR("1377177267"), &ms), 0);
    ASSERT_EQ(ms, 1377177267000LL);
    ASSERT_ERR(fleet_time_parse(WEFT_STR("2023-02-29 00:00:00"), &ms), WEFT_EPARSE);
    ASSERT_ERR(fleet_time_parse(WEFT_STR("2023-01-01T24:00:00Z"), &ms), WEFT_EPARSE);
    ASSERT_ERR(fleet_time_parse(WEFT_STR("2023-01-01T00:00:00Q"), &ms), WEFT_EPARSE);
    ASSERT_ERR(fleet_time_parse(WEFT_STR(""), &ms), WEFT_EPARSE);
    ASSERT_ERR(fleet_time_parse(WEFT_STR("99999999999999999999"), &ms), WEFT_EPARSE);
    char out[32];
    fleet_time_format(out, 1749995112862LL);
    ASSERT(strcmp(out, "2025-06-15T13:45:12.862Z") == 0);
    fleet_time_format(out, -1);
    ASSERT(strcmp(out, "1969-12-31T23:59:59.999Z") == 0);
    /* round trip over four centuries of days */
    for (int64_t d = -146097; d <= 146097; d += 97) {
        int64_t t = d * 86400000 + 12345;
        fleet_time_format(out, t);
        ASSERT_EQ(fleet_time_parse(weft_str_c(out), &ms), 0);
        ASSERT_EQ(ms, t);
    }
    /* the digit-by-digit text is snprintf's, byte for byte: every
     * millisecond digit, hour, minute and second, and years from 0000 to
     * 9999 (beyond, the snprintf fallback) */
    for (int64_t t = -62167219200000LL; t < 253402300800000LL + 86400000LL * 400; t += 7777777777LL + 1) {
        int64_t secs = t >= 0 ? t / 1000 : -((-t + 999) / 1000);
        int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400), sod = secs - days * 86400;
        int64_t y;
        unsigned m, d;
        weft_civil_from_days(days, &y, &m, &d);
        char want[48];
        snprintf(want, sizeof want, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ", (int)y, m, d, (int)(sod / 3600),
                 (int)(sod / 60 % 60), (int)(sod % 60), (int)(t - secs * 1000));
        size_t n = fleet_time_format(out, t);
        ASSERT_EQ(n, strlen(want));
        ASSERT_STREQ(out, want);
    }
}

/* osmand_number's fast path must read every string exactly as the strtod
 * reading it replaced: the same accept/refuse and the same bits. */
static int number_ref(weft_str s, double *out) { /* the parser's reading before the fast path */
    if (s.n == 0 || s.n > 64) return 0;
    char buf[65];
    memcpy(buf, s.p, s.n);
    buf[s.n] = 0;
    char *end;
    double v = strtod(buf, &end);
    if (end != buf + s.n || !isfinite(v) || buf[0] == ' ') return 0;
    *out = v;
    return 1;
}
static int same_number(weft_str s) {
    double a = 0, b = 0;
    int ra = osmand_number(s, &a), rb = number_ref(s, &b);
    if (ra != rb || (ra && memcmp(&a, &b, sizeof a) != 0)) {
        fprintf(stderr, "    osmand_number(\"%.*s\") = %d %.17g, strtod %d %.17g\n", (int)s.n, s.p, ra, a, rb, b);
        return 0;
    }
    return 1;
}

TEST_PLAIN(number_fast_path_matches_strtod) {
    static const char *edge[] = {"0", "-0", "0.0", "-0.0", "1.", ".5", "-.5", "01.10", "007", "1e5", "1E-3", " 1",
                                 "\t1", "+1", "-", "", "1.2.3", "0x10", "inf", "-nan", "1 ", "1,5", "--1",
                                 "9007199254740992", "9007199254740993", "-9007199254740993", "900719925474099.3",
                                 "1234567890123456789", "12345678901234567890", "0.1234567890123456789",
                                 "1.0000000000000000000001", "0.0000000000000000000001", "0.00000000000000000000001",
                                 "52.5163", "13.3777", "-33.8688", "151.2093", "48.20849", "16.37308", "0.1", "0.2",
                                 "0.3", "2.2250738585072014e-308", "1.7976931348623157e308", "1e400", "4.9e-324",
                                 /* words: refused without strtod, as strtod refuses them */
                                 "nan", "NaN", "inf", "Inf", "infinity", "INFINITY", "true", "false", "e5", "E5",
                                 "x1", "Z", "a1.5", "nan(0x1)"};
    for (size_t i = 0; i < sizeof edge / sizeof edge[0]; i++) ASSERT(same_number(weft_str_c(edge[i])));
    /* decimals as phones and trackers print them, and longer */
    uint64_t x = 0x9E3779B97F4A7C15u;
    char b[64];
    for (int64_t i = 0, iters = test_scale_min(200000, 20000); i < iters; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        int ip = (int)(x % 20), fp = (int)(x >> 8) % 25, n = 0;
        if (x >> 20 & 1) b[n++] = '-';
        uint64_t y = x;
        for (int k = 0; k <= ip; k++, y = y * 6364136223846793005u + 1442695040888963407u) b[n++] = (char)('0' + (y >> 33) % 10);
        if (fp) {
            b[n++] = '.';
            for (int k = 0; k < fp; k++, y = y * 6364136223846793005u + 1442695040888963407u) b[n++] = (char)('0' + (y >> 33) % 10);
        }
        ASSERT(same_number((weft_str){b, (size_t)n}));
    }
    /* every token of the fuzz corpus (tests run from the repository's root) */
    DIR *d = opendir("fuzz/corpus/fleet_osmand");
    ASSERT(d);
    struct dirent *de;
    int files = 0;
    static char buf[1 << 16];
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        char path[512];
        snprintf(path, sizeof path, "fuzz/corpus/fleet_osmand/%s", de->d_name);
        FILE *f = fopen(path, "rb");
        if (!f) continue;
        size_t n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        files++;
        for (size_t i = 0, start = 0; i <= n; i++) {
            if (i < n && !strchr("&=,\n:{}[]\"", buf[i])) continue;
            ASSERT(same_number((weft_str){buf + start, i - start}));
            start = i + 1;
        }
    }
    closedir(d);
    ASSERT(files > 1000);
}
