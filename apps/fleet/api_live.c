/*
 * apps/fleet/api_live.c — the live socket and stream: WebSocket /api/socket
 * and Server-Sent Events /api/stream. Both send Traccar's messages,
 * {"devices":[...],"positions":[...],"events":[...]}: first everything the
 * user may see, then what changed, coalesced by feed.c (a message every
 * live.tick_ms at most, a device once per message with its latest state).
 *
 * Each connection subscribes to its audience's hub topic (feed_topic): the
 * message is encoded once per audience and its frame shared by every socket
 * of that audience. The snapshot too is built once per audience (at a tick,
 * for every socket and SSE stream that joined since the last) and shared; it goes out in
 * messages of at most feed_chunk_bytes and does not count against the queue
 * limit, so 10,000 devices reach a viewer with the default live.queue_kb. A
 * socket whose outgoing queue (live.queue_kb) then fills up with updates
 * because its client does not keep up drops its oldest updates, and the feed
 * sends it the snapshot again (the newest state of every device, at most
 * every 2 s: feed.c, resync_lagging): a lagging dashboard catches up on the
 * newest positions instead of being closed and reconnecting. Alerts and
 * acknowledgements are never among the dropped (feed.c: WEFT_WS_SEND_KEEP).
 * One that reads nothing at all is dropped by the write timeout (30 s).
 *
 * An SSE stream has no such resync in place: its channel (STREAM_QUEUE
 * messages) is subscribed WEFT_HUB_CHAN_CLOSE_WHEN_FULL, so when its client
 * falls that far behind the stream ends (after what it held, with a comment
 * saying why) rather than miss an update, an alert or an ack silently.
 * EventSource reconnects by itself (retry: 2 s) with Last-Event-ID, and the
 * new stream starts with {"resync":true} and the snapshot, as a resynced
 * socket does: the newest state, and the page fetches the alerts again.
 *
 * Authentication as for the REST API (session cookie or bearer token). The
 * socket counts as a state-changing request for the CSRF rule: a browser page
 * of another site cannot open it with the user's cookie.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft/log.h"
#include "weft/sse.h"
#include "weft/ws.h"

#include "api_int.h"
#include "feed.h"

typedef struct viewer_ctx {
    fleet *f;
    int all, ngroups;
    int64_t groups[API_USER_GROUPS_MAX];
} viewer_ctx;

static void viewer_of(fleet *f, const api_user *u, viewer_ctx *v) {
    v->f = f;
    v->all = api_user_sees_all(u);
    v->ngroups = u->ngroups;
    memcpy(v->groups, u->groups, (size_t)u->ngroups * sizeof *u->groups);
}

static void socket_run(weft_ws *ws, void *arg) {
    viewer_ctx *v = arg;
    fleet *f = v->f;
    char topic[256];
    feed_topic(v->all, v->groups, v->ngroups, topic, sizeof topic);
    /* the feed queues the snapshot at its next tick (built once for every
     * socket of this audience that joined since the last, sent in pieces
     * outside live.queue_kb) and then subscribes the socket to the topic */
    feed_viewer *fv = feed_subscribe_ws(f, v->all, v->groups, v->ngroups, ws);
    if (!fv) {
        weft_ws_close(ws, WEFT_WS_INTERNAL, "out of memory");
    } else {
        weft_buf in;
        weft_buf_init(&in, 0);
        /* clients send nothing we act on; reading keeps pings, pongs and the
         * idle timeout going and tells us when the client left */
        while (weft_ws_recv(ws, &in, -1) > 0) {}
        weft_buf_free(&in);
    }
    feed_unsubscribe(f, fv); /* first: a tick can no longer subscribe it */
    weft_hub_unsubscribe_ws(f->hub, topic, ws);
    weft_ws_free(ws);
    free(v);
}

static int socket_open(weft_http_ctx *c, void *ud) {
    fleet *f = ud;
    api_user u;
    if (api_auth(f, c, &u, API_WRITE)) return 0; /* 401 / 403 answered */
    viewer_ctx *v = malloc(sizeof *v);
    if (!v) return weft_http_error(c, 503, "out of memory");
    viewer_of(f, &u, v);
    weft_ws_config cfg = {.max_message = 64 * 1024,
                          .max_queue = (size_t)f->cfg.live_queue_kb * 1024,
                          .queue_policy = WEFT_WS_QUEUE_DROP_OLDEST};
    /* browsers never ask for server_no_context_takeover; agreeing it anyway
     * lets every viewer share each update's compressed frame (docs/ws.md) */
    static const weft_ws_server_opts opts = {.deflate_server_no_context_takeover = 1};
    int err = 0;
    int rc = weft_ws_upgrade_go(c, &opts, &cfg, socket_run, v, f->live_set);
    if (rc < 0) {
        free(v);
        err = rc;
        if (err != WEFT_EPARSE) weft_log_info("live socket: upgrade failed: %s", weft_strerror(err));
    }
    return 0;
}

/* An SSE stream's channel, in messages: what it may fall behind before it
 * is ended. It holds references to the hub's messages (updates of at most
 * feed_update_bytes, acks of at most feed_chunk_bytes), shared with every
 * stream and socket of the audience, not copies: a stream that lags pins
 * at most STREAM_QUEUE x 128 KiB = 8 MiB of them (and the compressed frame
 * a socket of the audience may have made of each), plus the one event it is
 * writing, however far behind it falls. */
#define STREAM_QUEUE 64

static int stream_open(weft_http_ctx *c, void *ud) {
    fleet *f = ud;
    api_user u;
    if (api_auth(f, c, &u, API_READ)) return 0;
    viewer_ctx v;
    viewer_of(f, &u, &v);
    char topic[256];
    feed_topic(v.all, v.groups, v.ngroups, topic, sizeof topic);
    weft_chan *ch = weft_chan_new(sizeof(weft_hub_msg *), STREAM_QUEUE, NULL);
    /* the feed hands the stream its audience's snapshot at its next tick
     * (built once for every stream and socket of the audience that joined
     * since the last) and then subscribes ch to the topic */
    feed_viewer *fv = ch ? feed_subscribe_chan(f, v.all, v.groups, v.ngroups, ch) : NULL;
    if (!fv) {
        if (ch) weft_chan_free(ch);
        return weft_http_error(c, 503, "out of memory");
    }
    int64_t seq = 0;
    char id[24];
    int rc = weft_sse_start(c);
    feed_state *snap = NULL;
    while (rc == 0 && !snap && !weft_http_stopping(c)) {
        int r = feed_take_state(f, fv, &snap, weft_deadline_in(1000));
        if (r < 0 && r != WEFT_ETIMEDOUT) rc = r;
    }
    /* a client that had a stream before (EventSource sends the last id it
     * saw) may have missed alerts since: the socket's resync marker, after
     * the channel was subscribed, tells it to fetch them again */
    if (rc == 0 && snap && weft_sse_last_event_id(c).n) {
        static const char mark[] = "{\"resync\":true}";
        snprintf(id, sizeof id, "%lld", (long long)++seq);
        weft_sse_event ev = {.id = id, .data = mark, .n = sizeof mark - 1, .retry_ms = 2000};
        rc = weft_sse_send(c, &ev);
    }
    for (int i = 0; rc == 0 && i < feed_state_count(snap); i++) { /* in pieces, as on the socket */
        weft_str d = feed_state_piece(snap, i);
        snprintf(id, sizeof id, "%lld", (long long)++seq);
        weft_sse_event ev = {.id = id, .data = d.p, .n = d.n, .retry_ms = seq == 1 ? 2000 : 0};
        rc = weft_sse_send(c, &ev);
    }
    feed_state_release(snap);
    /* wake every second to notice a server shutdown; a heartbeat comment
     * after 15 s without an event keeps proxies from closing the stream */
    int64_t quiet_since = weft_now();
    while (rc == 0 && !weft_http_stopping(c)) {
        weft_hub_msg *m;
        int r = weft_chan_recv(ch, &m, weft_deadline_in(1000));
        if (r == WEFT_ETIMEDOUT) {
            if (weft_now() - quiet_since >= 15000) {
                rc = weft_sse_comment(c, "heartbeat");
                quiet_since = weft_now();
            }
            continue;
        }
        if (r == WEFT_ECLOSED) { /* the hub found it full: what it held is sent */
            weft_sse_comment(c, "closed: the client fell too far behind; reconnect for the newest state");
            break;
        }
        if (r < 0) break;
        weft_str data = weft_hub_msg_data(m);
        snprintf(id, sizeof id, "%lld", (long long)++seq);
        weft_sse_event ev = {.id = id, .data = data.p, .n = data.n};
        rc = weft_sse_send(c, &ev);
        weft_hub_msg_release(m);
        quiet_since = weft_now();
    }
    feed_unsubscribe(f, fv); /* first: a tick can no longer subscribe ch */
    weft_hub_unsubscribe_chan(f->hub, topic, ch);
    weft_hub_msg *m;
    while (weft_chan_recv(ch, &m, 0) == 0) weft_hub_msg_release(m);
    weft_chan_free(ch);
    return 0;
}

int api_routes_live(weft_http_router *r, fleet *f) {
    /* fleet_start made them (before the feed started); an API used without
     * the ingest side (its tests) gets its own */
    if (!f->hub && !(f->hub = weft_hub_new())) return WEFT_ENOMEM;
    if (!f->live_set && !(f->live_set = weft_ws_set_new())) return WEFT_ENOMEM;
    int rc = 0;
    rc |= weft_http_route(r, "GET", "/api/socket", socket_open, f);
    rc |= weft_http_route(r, "GET", "/api/stream", stream_open, f);
    return rc;
}

void api_live_close(fleet *f, int64_t deadline) {
    if (f->live_set) weft_ws_set_close(f->live_set, WEFT_WS_GOING_AWAY, "server shutting down", deadline);
}

void api_live_free(fleet *f) {
    if (f->live_set) {
        weft_ws_set_close(f->live_set, WEFT_WS_GOING_AWAY, "server shutting down", weft_deadline_in(2000));
        weft_ws_set_free(f->live_set);
        f->live_set = NULL;
    }
    if (f->hub) weft_hub_free(f->hub);
    f->hub = NULL;
}
