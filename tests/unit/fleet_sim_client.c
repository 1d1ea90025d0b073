/*
 * tests/unit/fleet_sim_client.c — the simulator's client code (apps/fleet-sim/
 * sim.c, httpc.c) against tiny fake servers started here on ephemeral ports:
 * a Teltonika acceptor that decodes every packet with the server's decoder
 * and acknowledges it, and an HTTP responder that parses each OsmAnd
 * request with the server's parsers and answers 200 (or 400 for a device
 * it does not know). What the simulator counts as acknowledged must be what
 * the fakes acknowledged, fix for fix, also across dropped connections.
 */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "test.h"
#include "osmand.h"
#include "sim.h"
#include "teltonika.h"
#include "weft/http.h"

typedef struct fake {
    int tlt_fd, http_fd;
    int tlt_port, http_port;
    weft_group g;
    atomic_long tlt_acked;    /* records acknowledged */
    atomic_long tlt_received; /* records received, duplicates included */
    atomic_long tlt_bad;      /* packets that did not decode */
    atomic_long http_ok, http_rejected, http_bad;
    atomic_long drops_left; /* connections to drop after reading a packet, unacknowledged */
    atomic_long busy_left;  /* OsmAnd requests to answer 503 */
    atomic_long http_busy;
    const char *reject_id;   /* answer 400 for this OsmAnd device */
    const char *refuse_imei; /* answer 0x00 to this IMEI's login */
} fake;

typedef struct conn_arg {
    fake *f;
    int fd;
} conn_arg;

static void tlt_conn(void *arg) {
    conn_arg *c = arg;
    fake *f = c->f;
    int fd = c->fd;
    free(c);
    weft_buf in, attrs;
    weft_buf_init(&in, 0), weft_buf_init(&attrs, 0);
    static _Thread_local fleet_fix fixes[TLT_RECORDS_MAX];
    int logged = 0;
    for (;;) {
        if (weft_buf_reserve(&in, 4096) < 0) break;
        ssize_t r = weft_read(fd, in.data + in.len, in.cap - in.len - 1, -1);
        if (r <= 0) break;
        in.len += (size_t)r;
        const char *why = NULL;
        if (!logged) {
            char imei[TLT_IMEI_MAX + 1];
            int k = tlt_login((const uint8_t *)in.data, in.len, imei, &why);
            if (k == 0) continue;
            if (k < 0) break;
            weft_buf_consume(&in, (size_t)k);
            uint8_t ok = f->refuse_imei && !strcmp(imei, f->refuse_imei) ? 0 : 1;
            if (weft_write_all(fd, &ok, 1, -1) < 0 || !ok) break;
            logged = 1;
        }
        for (;;) {
            long size = tlt_frame((const uint8_t *)in.data, in.len, TLT_PACKET_MAX, &why);
            if (size < 0) goto out;
            if (size == 0 || (size_t)size > in.len) break;
            tlt_packet p;
            weft_buf_clear(&attrs);
            int n = tlt_decode((const uint8_t *)in.data, (size_t)size, &p, fixes, TLT_RECORDS_MAX,
                               &attrs, &why);
            weft_buf_consume(&in, (size_t)size);
            if (n < 0) {
                atomic_fetch_add(&f->tlt_bad, 1);
                continue;
            }
            atomic_fetch_add(&f->tlt_received, n);
            if (atomic_fetch_sub(&f->drops_left, 1) > 0)
                goto out; /* the server "crashes" before the ack */
            uint8_t ack[4];
            tlt_ack(ack, (uint32_t)n);
            atomic_fetch_add(&f->tlt_acked, n); /* counted before the client can see the ack */
            if (weft_write_all(fd, ack, 4, -1) < 0) goto out;
        }
    }
out:
    weft_close(fd);
    weft_buf_free(&in), weft_buf_free(&attrs);
}

static void http_conn(void *arg) {
    conn_arg *c = arg;
    fake *f = c->f;
    int fd = c->fd;
    free(c);
    weft_buf in, attrs;
    weft_buf_init(&in, 0), weft_buf_init(&attrs, 0);
    weft_arena a;
    weft_arena_init(&a, 0);
    for (;;) {
        weft_http_request req;
        weft_http_header hdrs[64];
        int status = 0, h;
        const char *reason = NULL;
        while ((h = weft_http_parse_request(in.data ? in.data : "", in.len, &req, hdrs, 64, NULL,
                                            &status, &reason)) == WEFT_EAGAIN) {
            if (weft_buf_reserve(&in, 4096) < 0) goto out;
            ssize_t r = weft_read(fd, in.data + in.len, in.cap - in.len - 1, -1);
            if (r <= 0) goto out;
            in.len += (size_t)r;
        }
        if (h < 0) goto out;
        size_t clen = req.content_length > 0 ? (size_t)req.content_length : 0;
        while (in.len < (size_t)h + clen) {
            if (weft_buf_reserve(&in, 4096) < 0) goto out;
            ssize_t r = weft_read(fd, in.data + in.len, in.cap - in.len - 1, -1);
            if (r <= 0) goto out;
            in.len += (size_t)r;
        }
        /* parse before answering, like the server */
        weft_str body = {in.data + h, clen};
        osmand_msg m;
        fleet_fix fix[1];
        const char *why = "";
        int json = body.n && body.p[0] == '{';
        weft_buf_clear(&attrs);
        weft_arena_reset(&a);
        int rc = json ? osmand_parse_json(body, 1, &m, fix, 1, &attrs, &a, &why)
                      : osmand_parse_form(req.query, body, 1, &m, fix, &attrs, &a, &why);
        const char *resp;
        if (rc < 0) {
            atomic_fetch_add(&f->http_bad, 1);
            resp = "HTTP/1.1 400 Bad Request\r\nContent-Length: 9\r\n\r\nmalformed";
        } else if (atomic_fetch_sub(&f->busy_left, 1) > 0) {
            atomic_fetch_add(&f->http_busy, 1);
            rc = 1; /* not stored */
            resp = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 5\r\n\r\nbusy\n";
        } else if (f->reject_id && !strcmp(m.device_id, f->reject_id)) {
            atomic_fetch_add(&f->http_rejected, 1);
            resp = "HTTP/1.1 400 Bad Request\r\nContent-Length: 15\r\n\r\nunknown device\n";
        } else {
            resp = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
        }
        weft_buf_consume(&in, (size_t)h + clen);
        /* counted before the client can see the answer */
        if (rc == 0 && !(f->reject_id && !strcmp(m.device_id, f->reject_id)))
            atomic_fetch_add(&f->http_ok, 1);
        if (weft_write_all(fd, resp, strlen(resp), -1) < 0) goto out;
    }
out:
    weft_close(fd);
    weft_arena_free(&a);
    weft_buf_free(&in), weft_buf_free(&attrs);
}

typedef struct acceptor {
    fake *f;
    int fd;
    weft_fn conn;
} acceptor;

static void accept_loop(void *arg) {
    acceptor *ac = arg;
    for (;;) {
        int c = weft_accept(ac->fd, NULL, NULL, -1);
        if (c < 0) {
            if (c == WEFT_ECANCELED) return;
            continue;
        }
        conn_arg *ca = malloc(sizeof *ca);
        ca->f = ac->f, ca->fd = c;
        if (weft_group_go(&ac->f->g, ac->conn, ca, "fake-conn") < 0) {
            weft_close(c);
            free(ca);
            return;
        }
    }
}

static acceptor acc_tlt, acc_http;

/* Listen on f->tlt_port / f->http_port (0: ephemeral ports, filled in). */
static int fake_start(fake *f) {
    f->tlt_fd = weft_tcp_listen("127.0.0.1", f->tlt_port, 0, 0);
    f->http_fd = weft_tcp_listen("127.0.0.1", f->http_port, 0, 0);
    if (f->tlt_fd < 0 || f->http_fd < 0) return -1;
    f->tlt_port = weft_sock_port(f->tlt_fd), f->http_port = weft_sock_port(f->http_fd);
    weft_group_init(&f->g);
    acc_tlt = (acceptor){f, f->tlt_fd, tlt_conn};
    acc_http = (acceptor){f, f->http_fd, http_conn};
    weft_group_go(&f->g, accept_loop, &acc_tlt, "fake-tlt");
    weft_group_go(&f->g, accept_loop, &acc_http, "fake-http");
    return 0;
}

static void fake_stop(fake *f) {
    weft_group_cancel(&f->g);
    weft_group_wait(&f->g, weft_deadline_in(5000));
    weft_close(f->tlt_fd), weft_close(f->http_fd);
}

static void base_config(sim_config *c, const fake *f) {
    sim_config_defaults(c);
    c->osmand_port = f->http_port, c->teltonika_port = f->tlt_port;
    c->vehicles = 6;
    c->interval_ms = 40;
    c->duration_s = 1.0;
    c->records_per_packet = 5;
    c->connections = 2;
    c->quiet = 1;
    c->drain_ms = 3000;
    c->ack_timeout_ms = 3000;
}

static long count_lines(const char *path, int *bad_ids) {
    FILE *fp = fopen(path, "r");
    if (!fp) return -1;
    char line[128];
    long n = 0;
    *bad_ids = 0;
    while (fgets(line, sizeof line, fp)) {
        char id[64];
        long long ms;
        if (sscanf(line, "%63s %lld", id, &ms) != 2 || ms < 1600000000000LL ||
            (strncmp(id, "sim-", 4) != 0 && strncmp(id, "3560000000", 10) != 0))
            ++*bad_ids;
        n++;
    }
    fclose(fp);
    return n;
}

TEST(every_fix_sent_is_acknowledged_and_logged) {
    test_guard();
    static fake f;
    memset(&f, 0, sizeof f);
    ASSERT_EQ(fake_start(&f), 0);
    char log[] = "/tmp/fleet-sim-acks-XXXXXX";
    int lfd = mkstemp(log);
    ASSERT(lfd >= 0);
    close(lfd);
    osm_mode modes[3] = {OSM_GET, OSM_POST_FORM, OSM_POST_JSON};
    int64_t acked_total = 0;
    for (int m = 0; m < 3; m++) {
        sim_config c;
        base_config(&c, &f);
        c.osmand_mode = modes[m];
        c.codec = m == 1 ? 0x08 : 0x8E;
        c.ack_log = log;
        sim_report r;
        long tlt0 = atomic_load(&f.tlt_acked), http0 = atomic_load(&f.http_ok);
        ASSERT_EQ(sim_run(&c, NULL, NULL, &r), 0);
        long tlt = atomic_load(&f.tlt_acked) - tlt0, http = atomic_load(&f.http_ok) - http0;
        printf("    mode %d: sent %lld acked %lld failed %lld (teltonika %ld, osmand %ld), p50 "
               "%.2f ms p99 %.2f ms\n",
               m, (long long)r.sent, (long long)r.acked, (long long)r.failed, tlt, http, r.p50_ms,
               r.p99_ms);
        /* 6 vehicles, a fix every 40 ms for 1 s: ~150; allow for slow sanitizer builds */
        ASSERT_GT(r.sent, 60);
        ASSERT_EQ(r.acked, r.sent);
        ASSERT_EQ(r.failed, 0);
        ASSERT_EQ(r.resent, 0);
        ASSERT_EQ(r.acked, tlt + http);
        ASSERT_GT(tlt, 0);
        ASSERT_GT(http, 0);
        ASSERT(r.p99_ms > 0 && r.p50_ms <= r.p99_ms);
        ASSERT_EQ(r.connected, 0); /* every connection closed at the end */
        acked_total += r.acked;
    }
    ASSERT_EQ(atomic_load(&f.tlt_bad) + atomic_load(&f.http_bad), 0);
    int bad_ids = 0;
    ASSERT_EQ(count_lines(log, &bad_ids), acked_total);
    ASSERT_EQ(bad_ids, 0);
    unlink(log);
    fake_stop(&f);
}

TEST(a_rejected_device_counts_as_failures_the_rest_goes_on) {
    test_guard();
    static fake f;
    memset(&f, 0, sizeof f);
    f.reject_id = "sim-0003";
    ASSERT_EQ(fake_start(&f), 0);
    sim_config c;
    base_config(&c, &f);
    sim_report r;
    ASSERT_EQ(sim_run(&c, NULL, NULL, &r), 0);
    long rej = atomic_load(&f.http_rejected);
    printf("    sent %lld acked %lld failed %lld refused %lld (fake: %ld rejected)\n",
           (long long)r.sent, (long long)r.acked, (long long)r.failed, (long long)r.rejected, rej);
    ASSERT_GT(rej, 5);
    ASSERT_EQ(r.failed, rej);
    ASSERT_EQ(r.rejected, rej);
    ASSERT_EQ(r.acked, r.sent - rej);
    ASSERT_EQ(r.acked, atomic_load(&f.tlt_acked) + atomic_load(&f.http_ok));
    ASSERT_EQ(r.resent, 0); /* a 4xx fix is dropped, not retried */
    fake_stop(&f);
}

TEST(a_busy_server_gets_the_same_fix_again) {
    test_guard();
    static fake f;
    memset(&f, 0, sizeof f);
    atomic_store(&f.busy_left, 4);
    ASSERT_EQ(fake_start(&f), 0);
    sim_config c;
    base_config(&c, &f);
    c.mix = SIM_MIX_OSMAND;
    c.vehicles = 3;
    c.duration_s = 1.5;
    sim_report r;
    ASSERT_EQ(sim_run(&c, NULL, NULL, &r), 0);
    printf("    sent %lld acked %lld failed %lld resent %lld (fake: %ld busy, %ld stored)\n",
           (long long)r.sent, (long long)r.acked, (long long)r.failed, (long long)r.resent,
           atomic_load(&f.http_busy), atomic_load(&f.http_ok));
    ASSERT_EQ(atomic_load(&f.http_busy), 4);
    ASSERT_EQ(r.failed, 4);
    ASSERT_EQ(r.resent, 4); /* a 5xx is retried, not dropped */
    ASSERT_EQ(r.rejected, 0);
    ASSERT_EQ(r.acked, r.sent);
    ASSERT_EQ(r.acked, atomic_load(&f.http_ok));
    fake_stop(&f);
}

TEST(unacknowledged_records_are_sent_again_after_reconnecting) {
    test_guard();
    static fake f;
    memset(&f, 0, sizeof f);
    atomic_store(&f.drops_left, 3); /* three packets read, connection closed, never acknowledged */
    ASSERT_EQ(fake_start(&f), 0);
    sim_config c;
    base_config(&c, &f);
    c.mix = SIM_MIX_TELTONIKA;
    c.vehicles = 3;
    c.duration_s = 1.5;
    sim_report r;
    ASSERT_EQ(sim_run(&c, NULL, NULL, &r), 0);
    long acked = atomic_load(&f.tlt_acked), received = atomic_load(&f.tlt_received);
    printf("    sent %lld acked %lld failed %lld resent %lld (fake: received %ld, acked %ld)\n",
           (long long)r.sent, (long long)r.acked, (long long)r.failed, (long long)r.resent,
           received, acked);
    ASSERT_GT(r.resent, 0);
    ASSERT_EQ(r.resent, r.failed); /* each unacknowledged record went out once more */
    ASSERT_EQ(r.acked, r.sent);
    ASSERT_EQ(r.acked, acked);
    ASSERT_EQ(received, acked + r.failed);
    fake_stop(&f);
}

TEST(a_refused_login_and_a_missing_server_are_retried_not_fatal) {
    test_guard();
    static fake f;
    memset(&f, 0, sizeof f);
    f.refuse_imei = "356000000000002";
    ASSERT_EQ(fake_start(&f), 0);
    sim_config c;
    base_config(&c, &f);
    c.vehicles = 4;
    c.drain_ms = 500;
    sim_report r;
    ASSERT_EQ(sim_run(&c, NULL, NULL, &r), 0);
    printf("    refused login: sent %lld acked %lld conn errors %lld refused %lld\n",
           (long long)r.sent, (long long)r.acked, (long long)r.conn_errors, (long long)r.rejected);
    ASSERT_GT(r.conn_errors, 1); /* tried again */
    ASSERT_EQ(r.rejected, r.conn_errors);
    ASSERT_GT(r.acked, 0); /* the other three went on */
    ASSERT_EQ(r.acked, atomic_load(&f.tlt_acked) + atomic_load(&f.http_ok));
    fake_stop(&f);

    /* nobody listening: every connect is refused until the drain runs out */
    int ports[2];
    for (int i = 0; i < 2; i++) {
        int fd = weft_tcp_listen("127.0.0.1", 0, 0, 0);
        ASSERT(fd >= 0);
        ports[i] = weft_sock_port(fd);
        weft_close(fd);
    }
    base_config(&c, &f);
    c.osmand_port = ports[0], c.teltonika_port = ports[1];
    c.duration_s = 0.5, c.drain_ms = 500;
    int64_t t0 = weft_now_ns();
    ASSERT_EQ(sim_run(&c, NULL, NULL, &r), 0);
    int64_t ms = test_ms_since(t0);
    printf("    no server: %lld connect errors, %lld acked, over in %lld ms\n",
           (long long)r.conn_errors, (long long)r.acked, (long long)ms);
    ASSERT_EQ(r.acked, 0);
    ASSERT_GT(r.conn_errors, 2);
    ASSERT_LT(ms, test_slack_ms(3000));
}

static atomic_int ticks;
static void count_tick(const sim_report *r, void *ud) {
    (void)r, (void)ud;
    atomic_fetch_add(&ticks, 1);
}

TEST(backfill_sends_history_as_fast_as_acknowledged) {
    test_guard();
    static fake f;
    memset(&f, 0, sizeof f);
    ASSERT_EQ(fake_start(&f), 0);
    sim_config c;
    base_config(&c, &f);
    c.vehicles = 2; /* one of each */
    c.backfill_days = 1;
    c.interval_ms = 60 * 1000; /* a fix a minute: 1440 each */
    c.records_per_packet = 20; /* 20 minutes of driving per packet: small slices under TSan */
    c.duration_s = 0;
    sim_report r;
    atomic_store(&ticks, 0);
    ASSERT_EQ(sim_run(&c, count_tick, NULL, &r), 0);
    printf("    backfill: sent %lld acked %lld in %.2f s (%d ticks)\n", (long long)r.sent,
           (long long)r.acked, r.elapsed_s, atomic_load(&ticks));
    ASSERT_EQ(r.sent, 2 * 1440);
    ASSERT_EQ(r.acked, r.sent);
    ASSERT_EQ(atomic_load(&f.tlt_acked), 1440);
    ASSERT_EQ(atomic_load(&f.http_ok), 1440);
    ASSERT_LE(atomic_load(&ticks), (int)r.elapsed_s); /* once a second while it runs */
    ASSERT_GE(atomic_load(&ticks), (int)r.elapsed_s - 1);
    fake_stop(&f);
}

typedef struct late_start {
    fake *f;
    int64_t after_ms;
    int rc;
} late_start;
static void start_later(void *arg) {
    late_start *l = arg;
    weft_sleep(l->after_ms);
    l->rc = fake_start(l->f);
}

/* The server is away when the run starts and comes up 600 ms later (as after
 * a restart): the devices retry, and everything they recorded meanwhile is
 * delivered and acknowledged. */
TEST(fixes_recorded_while_the_server_is_away_arrive_once_it_is_back) {
    test_guard();
    static fake f;
    memset(&f, 0, sizeof f);
    for (int i = 0; i < 2; i++) { /* two free ports, closed again */
        int fd = weft_tcp_listen("127.0.0.1", 0, 0, 0);
        ASSERT(fd >= 0);
        *(i ? &f.http_port : &f.tlt_port) = weft_sock_port(fd);
        weft_close(fd);
    }
    sim_config c;
    base_config(&c, &f);
    c.vehicles = 4;
    c.duration_s = 1.5;
    c.drain_ms = 4000;
    static late_start l;
    l = (late_start){&f, 600, -1};
    ASSERT_EQ(weft_go(start_later, &l), 0);
    sim_report r;
    ASSERT_EQ(sim_run(&c, NULL, NULL, &r), 0);
    ASSERT_EQ(l.rc, 0);
    long want = (long)(c.vehicles * c.duration_s * 1000 / c.interval_ms); /* 150 */
    printf("    sent %lld acked %lld (of ~%ld recorded), %lld connect errors, %lld dropped\n",
           (long long)r.sent, (long long)r.acked, want, (long long)r.conn_errors,
           (long long)r.dropped);
    ASSERT_GT(r.conn_errors, 0);
    ASSERT_EQ(r.acked, r.sent);
    ASSERT_EQ(r.failed, 0);
    ASSERT_EQ(r.dropped, 0);
    ASSERT_GE(r.acked, want - c.vehicles); /* every vehicle's whole run, within a fix each */
    ASSERT_EQ(r.acked, atomic_load(&f.tlt_acked) + atomic_load(&f.http_ok));
    fake_stop(&f);
}

TEST(settings_out_of_range_are_refused_before_anything_starts) {
    sim_config c;
    sim_report r;
    sim_config_defaults(&c);
    c.vehicles = 0;
    ASSERT_ERR(sim_run(&c, NULL, NULL, &r), WEFT_EINVAL);
    sim_config_defaults(&c);
    c.records_per_packet = 256;
    ASSERT_ERR(sim_run(&c, NULL, NULL, &r), WEFT_EINVAL);
    sim_config_defaults(&c);
    c.codec = 0x0C;
    ASSERT_ERR(sim_run(&c, NULL, NULL, &r), WEFT_EINVAL);
    sim_config_defaults(&c);
    c.overspeed_share = 1.5;
    ASSERT_ERR(sim_run(&c, NULL, NULL, &r), WEFT_EINVAL);
    sim_config_defaults(&c);
    c.ack_log = "/nonexistent-dir/acks.log";
    c.duration_s = 0.1;
    ASSERT_ERR(sim_run(&c, NULL, NULL, &r), -ENOENT);
}

/* A tracker's memory is bounded: away long enough, the oldest packets' worth
 * of fixes go (counted), the rest arrive once the server is back. */
TEST(a_device_away_too_long_drops_its_oldest_fixes_and_says_how_many) {
    test_guard();
    static fake f;
    memset(&f, 0, sizeof f);
    for (int i = 0; i < 2; i++) { /* two free ports, closed again */
        int fd = weft_tcp_listen("127.0.0.1", 0, 0, 0);
        ASSERT(fd >= 0);
        *(i ? &f.http_port : &f.tlt_port) = weft_sock_port(fd);
        weft_close(fd);
    }
    sim_config c;
    base_config(&c, &f);
    c.mix = SIM_MIX_TELTONIKA;
    c.vehicles = 2;
    c.interval_ms = 1; /* 1000 fixes a second each: past the 1024 kept within 1.2 s */
    c.records_per_packet = 5;
    c.duration_s = 1.5;
    c.drain_ms = 5000;
    static late_start l;
    l = (late_start){&f, 1200, -1};
    ASSERT_EQ(weft_go(start_later, &l), 0);
    sim_report r;
    ASSERT_EQ(sim_run(&c, NULL, NULL, &r), 0);
    ASSERT_EQ(l.rc, 0);
    printf("    sent %lld acked %lld dropped %lld, %lld connect errors\n", (long long)r.sent,
           (long long)r.acked, (long long)r.dropped, (long long)r.conn_errors);
    ASSERT_GT(r.dropped, 0);
    ASSERT_EQ(r.dropped % c.records_per_packet, 0);
    ASSERT_EQ(r.acked, r.sent);
    ASSERT_EQ(r.acked, atomic_load(&f.tlt_acked));
    ASSERT_GE(r.sent + r.dropped, 2 * 1400); /* ~1500 recorded each */
    fake_stop(&f);
}
