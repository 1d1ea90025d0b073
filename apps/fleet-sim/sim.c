/*
 * apps/fleet-sim/sim.c — devices on the wire (sim.h).
 *
 * Who owns what: sim_run() owns the road network, the devices (each with its
 * vehicle model) and the counters; it spawns the device tasks into one group
 * and does not return before that group is empty, so every task may use
 * them freely (cancelled itself, it leaves them to tasks still running
 * rather than free them). A device's vehicle and pending fixes belong to the one task
 * that drives it. Counters are atomics; the ack log's buffer is behind a
 * pthread mutex (held only to append or swap) and written out once a second by
 * sim_run's own task.
 */
#include "sim.h"

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "weft/rt.h"

#include "fences.h"
#include "hist.h"
#include "httpc.h"
#include "simrand.h"
#include "teltonika.h"
#include "vehicle.h"

#define BACKOFF_MIN_MS 250
#define BACKOFF_MAX_MS 8000

typedef struct sim sim;

typedef struct sim_dev {
    sim *s;
    int index; /* 1-based */
    int tlt;
    char id[24];
    vehicle veh;
    int64_t next_ms; /* fix time (Unix ms) of the next fix */
    uint64_t rng;
    int said_conn, said_reject;
    /* OsmAnd: the one fix in flight */
    int have_fix, fix_sent;
    sim_fix fix;
} sim_dev;

struct sim {
    const sim_config *cfg;
    road_net net;
    sim_fences fences;
    sim_dev *devs;
    int ndevs;
    int64_t wall0_ms, mono0_ms;
    int64_t backfill_end_ms; /* Unix ms */
    atomic_llong end_mono, hard_end_mono;
    atomic_llong sent, acked, failed, resent, dropped, conn_errors, rejected;
    atomic_int connected;
    atomic_int said;        /* per-vehicle messages printed */
    atomic_int said_behind; /* the OsmAnd pool was told it falls behind */
    atomic_llong hist[HIST_BUCKETS];
    pthread_mutex_t log_mu; /* held only to append or swap, never across a suspension */
    weft_buf log;
    int log_fd;
};

void sim_config_defaults(sim_config *c) {
    memset(c, 0, sizeof *c);
    c->host = "127.0.0.1";
    c->osmand_port = 5055, c->teltonika_port = 5027;
    c->vehicles = 10;
    c->interval_ms = 1000;
    c->duration_s = 60;
    c->records_per_packet = 10;
    c->connections = 4;
    c->seed = 1;
    c->osmand_mode = OSM_GET;
    c->codec = TLT_CODEC8E;
    c->overspeed_share = 0.1;
    c->alarm_share = 0.2;
}

int sim_is_teltonika(const sim_config *c, int i) {
    return c->mix == SIM_MIX_TELTONIKA || (c->mix == SIM_MIX_BOTH && i % 2 == 0);
}

void sim_device_id(const sim_config *c, int i, char out[24]) {
    if (sim_is_teltonika(c, i) && i < 100000)
        snprintf(out, 24, "3560000000%05d", i);
    else if (sim_is_teltonika(c, i)) /* 15 digits still, and none of the above */
        snprintf(out, 24, "356000000%06d", i);
    else
        snprintf(out, 24, "sim-%04d", i);
}

static int64_t wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- latency histogram (hist.c) ---- */

static void lat_add(sim *s, int64_t t0_ns) {
    int64_t us = (weft_now_ns() - t0_ns) / 1000;
    atomic_fetch_add_explicit(&s->hist[hist_bucket(us < 0 ? 0 : (uint64_t)us)], 1,
                              memory_order_relaxed);
}

/* ---- the ack log ------------------------------------------------------------- */

static void log_acks(sim *s, const char *id, const sim_fix *f, int n) {
    if (s->log_fd < 0) return;
    pthread_mutex_lock(&s->log_mu);
    for (int i = 0; i < n; i++) weft_buf_printf(&s->log, "%s %lld\n", id, (long long)f[i].t_ms);
    pthread_mutex_unlock(&s->log_mu);
}

typedef struct log_job {
    int fd;
    weft_buf *b;
    int err;
} log_job;
static void log_write(void *arg) {
    log_job *j = arg;
    size_t off = 0;
    while (off < j->b->len) {
        ssize_t w = write(j->fd, j->b->data + off, j->b->len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            j->err = -errno;
            return;
        }
        off += (size_t)w;
    }
}
static void log_flush(sim *s) {
    if (s->log_fd < 0) return;
    weft_buf out;
    pthread_mutex_lock(&s->log_mu);
    out = s->log;
    weft_buf_init(&s->log, 0);
    pthread_mutex_unlock(&s->log_mu);
    if (out.len) {
        log_job j = {s->log_fd, &out, 0};
        /* a file append: off the workers; if this task is being cancelled the
         * pool refuses the job, and the lines are written here instead */
        if (weft_blocking(log_write, &j, -1) < 0) log_write(&j);
        if (j.err) fprintf(stderr, "fleet-sim: ack log: %s\n", weft_strerror(j.err));
    }
    weft_buf_free(&out);
}

/* ---- fix generation ------------------------------------------------------------ */

static int realtime(const sim *s) { return s->cfg->backfill_days <= 0; }

/* Monotonic ms at which d's next fix is due (realtime). */
static int64_t due_mono(const sim *s, const sim_dev *d) {
    return s->mono0_ms + (d->next_ms - s->wall0_ms);
}

/* Is d done generating fixes? */
static int gen_over(sim *s, const sim_dev *d) {
    int64_t end = atomic_load(&s->end_mono);
    if (realtime(s)) return due_mono(s, d) >= end;
    return d->next_ms >= s->backfill_end_ms || weft_now() >= end;
}

static void make_fix(sim *s, sim_dev *d, sim_fix *f) {
    vehicle_step(&d->veh, s->cfg->interval_ms / 1000.0);
    vehicle_sample(&d->veh, d->next_ms, f);
    d->next_ms += s->cfg->interval_ms;
}

static int64_t backoff_next(sim_dev *d, int64_t *backoff) {
    int64_t ms = *backoff;
    *backoff = *backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : *backoff * 2;
    return ms / 2 +
           (int64_t)sim_below(&d->rng, (uint32_t)(ms / 2 + 1)); /* jitter: no thundering herd */
}

/* Sleep for a back-off, but not past the drain deadline once generation is over. */
static int backoff_sleep(sim *s, sim_dev *d, int64_t *backoff) {
    int64_t until = weft_now() + backoff_next(d, backoff);
    int64_t hard = atomic_load(&s->hard_end_mono);
    return weft_sleep_until(until < hard ? until : hard);
}

/* Per-vehicle messages: once per vehicle, and no more than SAY_MAX in all, so
 * ten thousand vehicles facing a stopped server do not flood the terminal
 * (the counters tell the rest). */
#define SAY_MAX 20
static int say_ok(sim *s) {
    if (s->cfg->quiet) return 0;
    int n = atomic_fetch_add(&s->said, 1);
    if (n == SAY_MAX)
        fprintf(stderr, "fleet-sim: more vehicles have something to say; not shown\n");
    return n < SAY_MAX;
}

static void say_conn(sim_dev *d, const char *what, int port, int rc) {
    if (d->said_conn) return;
    d->said_conn = 1;
    if (!say_ok(d->s)) return;
    fprintf(stderr, "fleet-sim: %s (%s): %s %s:%d: %s; retrying with back-off\n", d->id,
            d->tlt ? "teltonika" : "osmand", what, d->s->cfg->host, port,
            rc == WEFT_ECLOSED ? "closed by the server" : weft_strerror(rc));
}

static int64_t answer_deadline(sim *s) {
    int64_t t = weft_now() + s->cfg->ack_timeout_ms, hard = atomic_load(&s->hard_end_mono);
    return t < hard ? t : hard;
}

/* ---- Teltonika: one task per device -------------------------------------------- */

#define LOGIN_REFUSED (-EACCES)

static int tlt_open(sim *s, sim_dev *d) {
    const sim_config *c = s->cfg;
    int fd = weft_tcp_connect(c->host, c->teltonika_port, answer_deadline(s));
    if (fd < 0) return fd;
    uint8_t login[32], ok = 0;
    size_t n = tltenc_login(login, sizeof login, d->id);
    ssize_t r = weft_write_all(fd, login, n, answer_deadline(s));
    if (r >= 0) r = weft_read_full(fd, &ok, 1, answer_deadline(s));
    if (r == 1 && ok == 1) {
        atomic_fetch_add(&s->connected, 1);
        return fd;
    }
    weft_close(fd);
    return r < 0 ? (int)r : r == 0 ? WEFT_ECLOSED : LOGIN_REFUSED;
}

static void tlt_task(void *arg) {
    sim_dev *d = arg;
    sim *s = d->s;
    const sim_config *c = s->cfg;
    int K = c->records_per_packet;
    /* The device's memory: two packets' worth while the server keeps up,
     * grown up to 64 packets (at least 1024 fixes) while it is away. */
    int cap = 2 * K, cap_max = K * 64 < 1024 ? 1024 : K * 64;
    sim_fix *pend = malloc((size_t)cap * sizeof *pend);
    int np = 0, nsent = 0; /* pending fixes; how many of the first ones went out already */
    int fd = -1;
    int64_t backoff = BACKOFF_MIN_MS;
    weft_buf pkt;
    weft_buf_init(&pkt, 0);
    if (!pend) {
        fprintf(stderr, "fleet-sim: %s: out of memory\n", d->id);
        return;
    }
    while (!weft_canceled()) {
        /* record what is due */
        int over = gen_over(s, d);
        if (realtime(s)) {
            int64_t now = weft_now();
            while (!over && due_mono(s, d) <= now) {
                if (np == cap && cap < cap_max) {
                    int ncap = cap * 2 < cap_max ? cap * 2 : cap_max;
                    sim_fix *p = realloc(pend, (size_t)ncap * sizeof *p);
                    if (p) pend = p, cap = ncap;
                }
                if (np == cap) { /* the device's memory is full: the oldest packet's worth goes */
                    int drop = K < np ? K : np;
                    memmove(pend, pend + drop, (size_t)(np - drop) * sizeof *pend);
                    np -= drop, nsent = nsent > drop ? nsent - drop : 0;
                    atomic_fetch_add(&s->dropped, drop);
                }
                make_fix(s, d, &pend[np++]);
                over = gen_over(s, d);
            }
            if (!over && np < K) {
                int64_t until = due_mono(s, d), end = atomic_load(&s->end_mono);
                if (weft_sleep_until(until < end ? until : end) < 0) break;
                continue;
            }
        } else {
            while (!over && np < K) {
                make_fix(s, d, &pend[np++]);
                over = gen_over(s, d);
            }
        }
        if (np == 0) break; /* over and everything acknowledged */
        if (over && weft_now() >= atomic_load(&s->hard_end_mono)) break; /* drain time is up */
        if (fd < 0) {
            fd = tlt_open(s, d);
            if (fd < 0) {
                if (fd == WEFT_ECANCELED) break;
                atomic_fetch_add(&s->conn_errors, 1);
                if (fd == LOGIN_REFUSED) {
                    atomic_fetch_add(&s->rejected, 1);
                    if (!d->said_reject && say_ok(s))
                        fprintf(stderr,
                                "fleet-sim: %s (teltonika): login refused (0x00: device unknown "
                                "to the server?); retrying with back-off\n",
                                d->id);
                    d->said_reject = 1;
                } else {
                    say_conn(d, "connect", c->teltonika_port, fd);
                }
                fd = -1;
                if (backoff_sleep(s, d, &backoff) < 0) break;
                continue;
            }
        }
        int n = np < K ? np : K;
        weft_buf_clear(&pkt);
        if (tltenc_packet(&pkt, c->codec, pend, n) < 0) break; /* out of memory */
        int fresh = n > nsent ? n - nsent : 0;
        atomic_fetch_add(&s->sent, fresh);
        atomic_fetch_add(&s->resent, n - fresh);
        nsent = nsent > n ? nsent : n;
        int64_t t0 = weft_now_ns();
        uint8_t ack[4];
        ssize_t r = weft_write_all(fd, pkt.data, pkt.len, answer_deadline(s));
        if (r >= 0) r = weft_read_full(fd, ack, 4, answer_deadline(s));
        uint32_t got = r == 4 ? (uint32_t)ack[0] << 24 | (uint32_t)ack[1] << 16 |
                                    (uint32_t)ack[2] << 8 | ack[3]
                              : 0;
        if (r != 4 || got != (uint32_t)n) {
            atomic_fetch_add(&s->failed, n);
            weft_close(fd);
            fd = -1;
            atomic_fetch_sub(&s->connected, 1);
            if (r == WEFT_ECANCELED) break;
            if (r == 4) {
                atomic_fetch_add(&s->rejected, n);
                if (!d->said_reject && say_ok(s))
                    fprintf(stderr,
                            "fleet-sim: %s (teltonika): server acknowledged %u of %d records; "
                            "reconnecting to send them again\n",
                            d->id, got, n);
                d->said_reject = 1;
            } else {
                say_conn(d, "connection to", c->teltonika_port, r < 0 ? (int)r : WEFT_ECLOSED);
            }
            if (backoff_sleep(s, d, &backoff) < 0) break;
            continue;
        }
        lat_add(s, t0);
        atomic_fetch_add(&s->acked, n);
        log_acks(s, d->id, pend, n);
        memmove(pend, pend + n, (size_t)(np - n) * sizeof *pend);
        np -= n, nsent -= n;
        backoff = BACKOFF_MIN_MS;
        /* backfill never sleeps and a quick ack may not suspend: let the others run */
        if (!realtime(s) && weft_yield() < 0) break;
    }
    if (fd >= 0) {
        weft_close(fd);
        atomic_fetch_sub(&s->connected, 1);
    }
    weft_buf_free(&pkt);
    free(pend);
}

/* ---- OsmAnd: a pool of keep-alive connections ------------------------------------ */

typedef struct osm_worker {
    sim *s;
    sim_dev **devs;
    int ndevs;
} osm_worker;

static void osm_task(void *arg) {
    osm_worker *w = arg;
    sim *s = w->s;
    const sim_config *c = s->cfg;
    httpc_conn conn;
    httpc_init(&conn, c->host, c->osmand_port);
    weft_buf req, body;
    weft_buf_init(&req, 0);
    weft_buf_init(&body, 0);
    int64_t backoff = BACKOFF_MIN_MS;
    int i = 0, idle = 0; /* round robin; devices in a row found finished */
    while (!weft_canceled() && idle < w->ndevs) {
        sim_dev *d = w->devs[i];
        if (!d->have_fix) {
            if (gen_over(s, d)) {
                idle++, i = (i + 1) % w->ndevs;
                continue;
            }
            if (realtime(s)) {
                int64_t late = weft_now() - due_mono(s, d);
                if (late > 2000 && !atomic_exchange(&s->said_behind, 1) && !c->quiet)
                    fprintf(stderr,
                            "fleet-sim: the OsmAnd connections fall behind (fixes go out %lld ms "
                            "late): the server answers too slowly for %d connections; try more "
                            "--connections\n",
                            (long long)late, c->connections);
                if (weft_sleep_until(due_mono(s, d)) < 0) break;
            }
            make_fix(s, d, &d->fix);
            d->have_fix = 1, d->fix_sent = 0;
        }
        idle = 0;
        if (weft_now() >= atomic_load(&s->hard_end_mono)) break; /* drain time is up */
        if (conn.fd < 0) {
            int rc = httpc_connect(&conn, answer_deadline(s));
            if (rc < 0) {
                if (rc == WEFT_ECANCELED) break;
                atomic_fetch_add(&s->conn_errors, 1);
                say_conn(d, "connect", c->osmand_port, rc);
                if (backoff_sleep(s, d, &backoff) < 0) break;
                continue;
            }
            atomic_fetch_add(&s->connected, 1);
        }
        weft_buf_clear(&req);
        if (osmenc_request(&req, c->osmand_mode, c->host, c->osmand_port, d->id, &d->fix) < 0)
            break;
        atomic_fetch_add(d->fix_sent ? &s->resent : &s->sent, 1);
        d->fix_sent = 1;
        int64_t t0 = weft_now_ns();
        httpc_resp resp;
        const char *why = NULL;
        int rc = httpc_roundtrip(&conn, req.data, req.len, &resp, &body, answer_deadline(s), &why);
        if (conn.fd < 0) atomic_fetch_sub(&s->connected, 1);
        if (rc < 0) {
            atomic_fetch_add(&s->failed, 1);
            if (rc == WEFT_ECANCELED) break;
            if (why) {
                if (!d->said_reject && say_ok(s))
                    fprintf(stderr, "fleet-sim: %s (osmand): unreadable answer: %s\n", d->id, why);
                d->said_reject = 1;
            } else {
                say_conn(d, "request to", c->osmand_port, rc);
            }
            if (backoff_sleep(s, d, &backoff) < 0) break;
            continue; /* the same fix again */
        }
        if (resp.status == 200) {
            lat_add(s, t0);
            atomic_fetch_add(&s->acked, 1);
            log_acks(s, d->id, &d->fix, 1);
            d->have_fix = 0;
            backoff = BACKOFF_MIN_MS;
            i = (i + 1) % w->ndevs;
            if (!realtime(s) && weft_yield() < 0) break;
            continue;
        }
        atomic_fetch_add(&s->failed, 1);
        if (!d->said_reject && say_ok(s)) {
            int n = (int)(body.len > 200 ? 200 : body.len);
            while (n > 0 && (body.data[n - 1] == '\n' || body.data[n - 1] == '\r')) n--;
            fprintf(stderr, "fleet-sim: %s (osmand): HTTP %d: %.*s%s\n", d->id, resp.status, n,
                    n ? body.data : "", resp.status >= 500 ? " (will retry)" : " (fix dropped)");
        }
        d->said_reject = 1;
        if (resp.status >= 400 && resp.status < 500) {
            atomic_fetch_add(&s->rejected, 1);
            d->have_fix = 0; /* the server will not take it: sending it again changes nothing */
            i = (i + 1) % w->ndevs;
        } else if (backoff_sleep(s, d, &backoff) < 0) {
            break;
        }
    }
    if (conn.fd >= 0) atomic_fetch_sub(&s->connected, 1);
    httpc_free(&conn);
    weft_buf_free(&req);
    weft_buf_free(&body);
}

/* ---- the run ------------------------------------------------------------------- */

static void snapshot(sim *s, int64_t *h) {
    for (int i = 0; i < HIST_BUCKETS; i++)
        h[i] = atomic_load_explicit(&s->hist[i], memory_order_relaxed);
}

static void fill_report(sim *s, sim_report *r) {
    memset(r, 0, sizeof *r);
    r->elapsed_s = (weft_now() - s->mono0_ms) / 1000.0;
    r->sent = atomic_load(&s->sent), r->acked = atomic_load(&s->acked);
    r->failed = atomic_load(&s->failed), r->resent = atomic_load(&s->resent);
    r->dropped = atomic_load(&s->dropped), r->conn_errors = atomic_load(&s->conn_errors);
    r->rejected = atomic_load(&s->rejected), r->connected = atomic_load(&s->connected);
}

static int check(const sim_config *c) {
    if (!c->host || !*c->host || c->vehicles < 1 || c->vehicles > 1000000 || c->interval_ms < 1 ||
        c->records_per_packet < 1 || c->records_per_packet > TLT_RECORDS_MAX ||
        c->connections < 1 || c->osmand_port < 1 || c->osmand_port > 65535 ||
        c->teltonika_port < 1 || c->teltonika_port > 65535 || c->backfill_days < 0 ||
        c->backfill_days > 3660 || (c->codec != TLT_CODEC8 && c->codec != TLT_CODEC8E) ||
        !(c->overspeed_share >= 0 && c->overspeed_share <= 1) ||
        !(c->alarm_share >= 0 && c->alarm_share <= 1) || c->mix < SIM_MIX_BOTH ||
        c->mix > SIM_MIX_TELTONIKA)
        return WEFT_EINVAL;
    return 0;
}

int sim_run(const sim_config *cfg, sim_tick_fn tick, void *ud, sim_report *final) {
    int rc = check(cfg);
    if (rc < 0) return rc;
    sim_config c = *cfg;
    if (c.ack_timeout_ms <= 0) c.ack_timeout_ms = 10000;
    if (c.drain_ms <= 0) c.drain_ms = 5000;
    sim *s = calloc(1, sizeof *s);
    if (!s) return WEFT_ENOMEM;
    s->cfg = &c;
    s->log_fd = -1;
    pthread_mutex_init(&s->log_mu, NULL);
    weft_buf_init(&s->log, 0);
    road_params rp = c.roads;
    rp.seed = c.seed;
    if ((rc = road_net_build(&rp, &s->net)) < 0) {
        free(s);
        return rc;
    }
    sim_fences_make(&s->net, &s->fences);
    int nosm = 0, nw = 0;
    osm_worker *workers = NULL;
    sim_dev **osm_devs = NULL;
    s->devs = calloc((size_t)c.vehicles, sizeof *s->devs);
    if (!s->devs) goto nomem;
    s->mono0_ms = weft_now(), s->wall0_ms = wall_ms();
    int64_t start_ms =
        realtime(s) ? s->wall0_ms : s->wall0_ms - (int64_t)c.backfill_days * 86400000;
    s->backfill_end_ms = s->wall0_ms;
    for (int i = 0; i < c.vehicles; i++) {
        sim_dev *d = &s->devs[i];
        d->s = s;
        d->index = i + 1;
        d->tlt = sim_is_teltonika(&c, d->index);
        sim_device_id(&c, d->index, d->id);
        d->rng = c.seed * 0x9E3779B97F4A7C15ull + (uint64_t)d->index;
        uint64_t vr = sim_rand(&d->rng);
        uint32_t start = sim_below(&d->rng, s->net.nnodes);
        int over = sim_rand01(&d->rng) < c.overspeed_share;
        int alarm = d->tlt && sim_rand01(&d->rng) < c.alarm_share;
        if (vehicle_init(&d->veh, &s->net, start, s->fences.depot[i % SIM_DEPOTS].node, vr, over,
                         alarm) < 0) {
            s->ndevs = i;
            goto nomem;
        }
        s->ndevs = i + 1;
        /* stagger: vehicle i's fixes are spread over the interval */
        d->next_ms = start_ms + (int64_t)((double)c.interval_ms * i / c.vehicles) + 1;
        nosm += !d->tlt;
    }
    if (c.ack_log) {
        s->log_fd = open(c.ack_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (s->log_fd < 0) {
            rc = -errno;
            goto out;
        }
    }
    nw = nosm < c.connections ? nosm : c.connections;
    workers = calloc((size_t)(nw ? nw : 1), sizeof *workers);
    osm_devs = calloc((size_t)(nosm ? nosm : 1), sizeof *osm_devs);
    if (!workers || !osm_devs) goto nomem;
    {
        /* worker w serves the OsmAnd devices w, w + nw, ... of the OsmAnd ones,
         * in index order, which is the order their fixes fall due */
        sim_dev **all = calloc((size_t)(nosm ? nosm : 1), sizeof *all);
        if (!all) goto nomem;
        for (int i = 0, j = 0; i < s->ndevs; i++)
            if (!s->devs[i].tlt) all[j++] = &s->devs[i];
        int k = 0;
        for (int w = 0; w < nw; w++) {
            workers[w].s = s;
            workers[w].devs = osm_devs + k;
            for (int j = w; j < nosm; j += nw) osm_devs[k++] = all[j], workers[w].ndevs++;
        }
        free(all);
    }
    int64_t dur = c.duration_s > 0 ? (int64_t)(c.duration_s * 1000) : INT64_MAX / 4;
    atomic_store(&s->end_mono, s->mono0_ms + dur);
    atomic_store(&s->hard_end_mono, s->mono0_ms + dur + c.drain_ms);
    weft_group g;
    weft_group_init(&g);
    for (int i = 0; i < s->ndevs; i++)
        if (s->devs[i].tlt && weft_group_go(&g, tlt_task, &s->devs[i], s->devs[i].id) < 0) {
            fprintf(stderr, "fleet-sim: cannot start the task of %s\n", s->devs[i].id);
            break;
        }
    for (int w = 0; w < nw; w++)
        if (weft_group_go(&g, osm_task, &workers[w], "osmand") < 0) {
            fprintf(stderr, "fleet-sim: cannot start OsmAnd connection task %d\n", w);
            break;
        }
    int64_t *prev = calloc(HIST_BUCKETS, sizeof *prev), *cur = calloc(HIST_BUCKETS, sizeof *cur);
    int64_t prev_acked = 0, next_tick = s->mono0_ms + 1000, last_tick = s->mono0_ms;
    int stopping = 0, canceled = 0;
    rc = 0;
    for (;;) {
        int wrc = weft_group_wait(&g, next_tick);
        if (wrc == 0) break;
        int64_t now = weft_now();
        if (!stopping && c.stop && atomic_load(c.stop)) {
            stopping = 1; /* stop recording; what is outstanding may still be acknowledged */
            if (atomic_load(&s->end_mono) > now) {
                atomic_store(&s->end_mono, now);
                atomic_store(&s->hard_end_mono, now + c.drain_ms);
            }
        }
        if (!canceled && (wrc == WEFT_ECANCELED || now >= atomic_load(&s->hard_end_mono) + 2000)) {
            weft_group_cancel(&g); /* stragglers past the drain deadline */
            canceled = 1;
        }
        if (wrc == WEFT_ECANCELED) {
            /* This task was cancelled (the runtime is shutting down): it can no
             * longer suspend, so it polls the group, cancelled above, for a
             * while. Device tasks that are still running then (one worker,
             * which this loop holds) keep using s: it is left to them, never
             * freed, rather than freed under them. */
            for (int k = 0; k < 200 && weft_group_count(&g) > 0; k++) {
                struct timespec ts = {0, 10 * 1000 * 1000};
                nanosleep(&ts, NULL);
            }
            if (weft_group_count(&g) > 0) {
                log_flush(s);
                if (final) fill_report(s, final);
                free(prev), free(cur);
                return WEFT_ECANCELED;
            }
            rc = WEFT_ECANCELED;
            break;
        }
        if (now >= next_tick) {
            sim_report r;
            fill_report(s, &r);
            if (prev && cur) {
                snapshot(s, cur);
                for (int i = 0; i < HIST_BUCKETS; i++) prev[i] = cur[i] - prev[i];
                r.p50_ms = hist_pct(prev, 0.50), r.p99_ms = hist_pct(prev, 0.99);
                memcpy(prev, cur, HIST_BUCKETS * sizeof *prev);
            }
            r.ack_rate = (double)(r.acked - prev_acked) * 1000.0 /
                         (double)(now - last_tick > 0 ? now - last_tick : 1);
            prev_acked = r.acked, last_tick = now;
            if (tick) tick(&r, ud);
            log_flush(s);
            next_tick += 1000;
            if (next_tick <= now) next_tick = now + 1000;
        }
    }
    log_flush(s);
    if (final) {
        fill_report(s, final);
        if (cur) {
            snapshot(s, cur);
            final->p50_ms = hist_pct(cur, 0.50), final->p99_ms = hist_pct(cur, 0.99);
        }
        double secs = final->elapsed_s > 0 ? final->elapsed_s : 1;
        final->ack_rate = (double) final->acked / secs;
    }
    free(prev), free(cur);
    goto out;
nomem:
    rc = WEFT_ENOMEM;
out:
    if (s->log_fd >= 0) close(s->log_fd);
    weft_buf_free(&s->log);
    for (int i = 0; i < s->ndevs; i++) vehicle_free(&s->devs[i].veh);
    free(s->devs), free(workers), free(osm_devs);
    road_net_free(&s->net);
    pthread_mutex_destroy(&s->log_mu);
    free(s);
    return rc;
}
