/*
 * apps/fleet/ingest_tcp.c — the Teltonika port: one task per device
 * connection. The bytes go through teltonika.c's pure decoder; each AVL
 * packet's fixes through the pipeline; the record count is acknowledged only
 * once they are durable. A packet that fails its CRC or does not parse gets
 * no acknowledgement (the device sends it again); a stream that cannot be
 * framed any more (a bad preamble, an absurd length) is closed.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "weft/log.h"

#include "fleet.h"
#include "ingest.h"
#include "isotime.h"
#include "teltonika.h"

#define LOGIN_TIMEOUT_MS 30000
#define IDLE_TIMEOUT_MS (30 * 60 * 1000) /* devices report at least every few minutes */

typedef struct conn {
    fleet *f;
    int fd;
} conn;

/* Fill buf until it holds `want` bytes (or as many as arrive); returns the
 * new length, or a negative code (the peer closed: WEFT_ECONNRESET). */
static ssize_t fill(int fd, uint8_t *buf, size_t have, size_t want, int64_t deadline) {
    while (have < want) {
        ssize_t n = weft_read(fd, buf + have, want - have, deadline);
        if (n == 0) return WEFT_ECONNRESET;
        if (n < 0) return n;
        have += (size_t)n;
    }
    return (ssize_t)have;
}

static void session(void *arg) {
    conn *c = arg;
    fleet *f = c->f;
    int fd = c->fd;
    free(c);
    atomic_fetch_add(&f->m.connections[PROTO_TELTONIKA], 1);
    size_t cap = 4096, have = 0;
    uint8_t *buf = malloc(cap);
    fleet_fix *fixes = malloc(TLT_RECORDS_MAX * sizeof *fixes);
    weft_buf attrs;
    weft_buf_init(&attrs, 4 << 20);
    char imei[TLT_IMEI_MAX + 1];
    const char *why = NULL;
    live_device *d = NULL;
    if (!buf || !fixes) goto out;

    /* login */
    int64_t dl = weft_deadline_in(LOGIN_TIMEOUT_MS);
    int k;
    while ((k = tlt_login(buf, have, imei, &why)) == 0) {
        ssize_t n = fill(fd, buf, have, have + 1, dl);
        if (n < 0) goto out;
        have = (size_t)n;
        if (have > 2 + TLT_IMEI_MAX) break;
    }
    if (k <= 0) {
        atomic_fetch_add(&f->m.bad_messages[PROTO_TELTONIKA], 1);
        weft_log_info("teltonika: bad login (%s), closing", why ? why : "too long");
        goto out;
    }
    memmove(buf, buf + k, have - (size_t)k);
    have -= (size_t)k;
    d = ingest_device(f, PROTO_TELTONIKA, imei);
    uint8_t yes = d ? 1 : 0;
    if (weft_write_all(fd, &yes, 1, weft_deadline_in(10000)) < 0 || !d) goto out;

    /* AVL packets */
    for (;;) {
        long size;
        while ((size = tlt_frame(buf, have, TLT_PACKET_MAX, &why)) == 0 || (size > 0 && (size_t)size > have)) {
            size_t want = size > 0 ? (size_t)size : have + 1;
            if (want > cap) {
                size_t nc = cap;
                while (nc < want) nc *= 2;
                uint8_t *nb = realloc(buf, nc);
                if (!nb) goto out;
                buf = nb, cap = nc;
            }
            /* read what is there, at least one byte */
            ssize_t n = weft_read(fd, buf + have, cap - have, weft_deadline_in(IDLE_TIMEOUT_MS));
            if (n <= 0) goto out;
            have += (size_t)n;
        }
        if (size < 0) {
            atomic_fetch_add(&f->m.bad_messages[PROTO_TELTONIKA], 1);
            weft_log_info("teltonika %s: %s, closing", imei, why);
            goto out;
        }
        atomic_fetch_add(&f->m.messages[PROTO_TELTONIKA], 1);
        tlt_packet pk;
        weft_buf_clear(&attrs);
        int nrec = tlt_decode(buf, (size_t)size, &pk, fixes, TLT_RECORDS_MAX, &attrs, &why);
        if (nrec > 0) {
            ingest_result res;
            int rc = pipeline_ingest(f, d, PROTO_TELTONIKA, fixes, nrec, attrs.data, &res);
            if (rc < 0) { /* not durable: no ack; the device resends after reconnecting */
                if (!store_failed(f->db, NULL, 0)) /* a failed store logged it once */
                    weft_log_warn("teltonika %s: storing %d records failed: %s", imei, nrec, weft_strerror(rc));
                goto out;
            }
            if (res.rejected) weft_log_debug("teltonika %s: %d of %d records refused: %s", imei, res.rejected, nrec, res.why);
            uint8_t ack[4];
            tlt_ack(ack, (uint32_t)pk.count); /* refused records are acknowledged too: resending them cannot help */
            if (weft_write_all(fd, ack, 4, weft_deadline_in(10000)) < 0) goto out;
        } else {
            atomic_fetch_add(&f->m.bad_messages[PROTO_TELTONIKA], 1);
            weft_log_info("teltonika %s: packet refused (%s), not acknowledged", imei, why);
        }
        memmove(buf, buf + size, have - (size_t)size);
        have -= (size_t)size;
    }
out:
    atomic_fetch_sub(&f->m.connections[PROTO_TELTONIKA], 1);
    weft_buf_free(&attrs);
    free(fixes);
    free(buf);
    weft_close(fd);
}

typedef struct acceptor {
    fleet *f;
    int lfd;
    weft_group *conns;
} acceptor;

static void accept_loop(void *arg) {
    acceptor *a = arg;
    for (;;) {
        int fd = weft_accept(a->lfd, NULL, NULL, -1);
        if (fd < 0) {
            if (fd == WEFT_ECANCELED || fd == WEFT_ESHUTDOWN || fd == WEFT_EBADF) break;
            weft_sleep(fd == WEFT_EMFILE ? 100 : 1); /* out of descriptors: let some close */
            continue;
        }
        conn *c = malloc(sizeof *c);
        if (!c) {
            weft_close(fd);
            continue;
        }
        c->f = a->f, c->fd = fd;
        if (weft_group_go(a->conns, session, c, "teltonika") < 0) {
            free(c);
            weft_close(fd);
        }
    }
    free(a);
}

int ingest_tcp_start(fleet *f, const char *host, int port, weft_group *g, int *bound_port) {
    int lfd = weft_tcp_listen(host, port, 4096, 0);
    if (lfd < 0) return lfd;
    if (bound_port) *bound_port = weft_sock_port(lfd);
    acceptor *a = malloc(sizeof *a);
    if (!a) return weft_close(lfd), WEFT_ENOMEM;
    a->f = f, a->lfd = lfd, a->conns = g;
    int rc = weft_group_go(g, accept_loop, a, "teltonika-accept");
    if (rc < 0) {
        free(a);
        weft_close(lfd);
    }
    return rc < 0 ? rc : lfd;
}

live_device *ingest_device(fleet *f, int proto, const char *unique_id) {
    live_device *d = live_by_unique(f->devices, unique_id);
    if (!d && f->cfg.auto_register) {
        weft_db_err e;
        int rc = fleet_device_create(f, unique_id, unique_id, 0, &d, &e);
        if (rc < 0) d = live_by_unique(f->devices, unique_id); /* created meanwhile by another connection */
        if (d) weft_log_info("%s: registered new device %s", fleet_proto_names[proto], unique_id);
    }
    if (!d || d->disabled) {
        atomic_fetch_add(&f->m.unknown_devices[proto], 1);
        return NULL;
    }
    return d;
}
