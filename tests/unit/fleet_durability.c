/*
 * tests/unit/fleet_durability.c — "an acknowledged fix is durable": the
 * fleet server (the real binary, beside this test in the build tree) takes
 * fixes from Teltonika and OsmAnd senders at full speed and is killed with
 * SIGKILL mid-stream; after a restart every fix a sender saw acknowledged
 * must be in the database. Counted from the acknowledgements the senders
 * received, not from what they sent.
 */
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fix.h"
#include "isotime.h"
#include "teltonika.h"
#include "test.h"

extern char **environ;

typedef struct server {
    pid_t pid;
    int web, osmand, teltonika;
    char log[128];
} server;

/* Start the fleet binary of this build tree (apps/fleet) on dir with every port free; wait for its ports. */
static int server_start(server *s, const char *dir, const char *config) {
    char self[512], bin[600];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) return -1;
    self[n] = 0;
    char *cut = strstr(self, "/tests/unit/");
    if (!cut) return -1;
    *cut = 0;
    snprintf(bin, sizeof bin, "%s/apps/fleet", self);
    static int starts;
    snprintf(s->log, sizeof s->log, "%s/server-%d.log", dir, ++starts); /* a log per start: ports are read from it */
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, s->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    char *argv[] = {bin, "--config", (char *)config, "--data-dir", (char *)dir, "--port", "0", "--osmand-port", "0",
                    "--teltonika-port", "0", NULL};
    int rc = posix_spawn(&s->pid, bin, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) return -1;
    s->web = s->osmand = s->teltonika = 0;
    for (int i = 0; i < 300 && !s->web; i++) {
        weft_sleep(50);
        FILE *f = fopen(s->log, "r");
        if (!f) continue;
        char line[256];
        while (fgets(line, sizeof line, f)) {
            char *p;
            if ((p = strstr(line, "osmand on http://")) && (p = strrchr(line, ':'))) s->osmand = atoi(p + 1);
            if ((p = strstr(line, "teltonika on tcp://")) && (p = strrchr(line, ':'))) s->teltonika = atoi(p + 1);
            if ((p = strstr(line, "listening on http://")) && (p = strrchr(line, ':'))) s->web = atoi(p + 1);
        }
        fclose(f);
    }
    return s->web && s->osmand && s->teltonika ? 0 : -1;
}

typedef struct sender {
    server *srv;
    int idx, teltonika;
    int64_t t0;
    atomic_long acked; /* fixes acknowledged: t0, t0+1s, ... t0+(acked-1)s */
    atomic_int stop;
} sender;

static void tlt_sender(void *arg) {
    sender *s = arg;
    char imei[32];
    snprintf(imei, sizeof imei, "35900000000%04d", s->idx);
    int fd = weft_tcp_connect("127.0.0.1", s->srv->teltonika, weft_deadline_in(5000));
    if (fd < 0) return;
    uint8_t login[17] = {0, 15};
    memcpy(login + 2, imei, 15);
    uint8_t yes;
    if (weft_write_all(fd, login, 17, weft_deadline_in(5000)) < 0 || weft_read_full(fd, &yes, 1, weft_deadline_in(5000)) != 1 ||
        yes != 1) {
        weft_close(fd);
        return;
    }
    weft_buf b;
    weft_buf_init(&b, 0);
    fleet_fix fx[20];
    for (int64_t k = 0; !atomic_load(&s->stop);) {
        for (int i = 0; i < 20; i++) {
            fleet_fix_init(&fx[i]);
            fx[i].fix_ms = s->t0 + (k + i) * 1000;
            fx[i].lat = 50 + s->idx * 0.01, fx[i].lon = 8 + (k + i) * 1e-5, fx[i].valid = 1, fx[i].speed_kn = 20;
        }
        weft_buf_clear(&b);
        tlt_encode(fx, 20, TLT_CODEC8E, &b);
        uint8_t ack[4];
        if (weft_write_all(fd, b.data, b.len, weft_deadline_in(5000)) < 0 ||
            weft_read_full(fd, ack, 4, weft_deadline_in(5000)) != 4)
            break; /* the server is gone */
        if (ack[3] != 20) break;
        k += 20;
        atomic_store(&s->acked, (long)k);
    }
    weft_buf_free(&b);
    weft_close(fd);
}

static void osm_sender(void *arg) {
    sender *s = arg;
    int fd = weft_tcp_connect("127.0.0.1", s->srv->osmand, weft_deadline_in(5000));
    if (fd < 0) return;
    char req[256], resp[1024];
    for (int64_t k = 0; !atomic_load(&s->stop); k++) {
        int n = snprintf(req, sizeof req,
                         "GET /?id=sim-d%04d&lat=%.5f&lon=8.1&timestamp=%lld HTTP/1.1\r\nHost: x\r\n\r\n", s->idx,
                         50.0 + k * 1e-5, (long long)(s->t0 + k * 1000));
        if (weft_write_all(fd, req, (size_t)n, weft_deadline_in(5000)) < 0) break;
        ssize_t r = weft_read(fd, resp, sizeof resp - 1, weft_deadline_in(5000));
        if (r <= 0) break;
        resp[r] = 0;
        if (strncmp(resp, "HTTP/1.1 200", 12) != 0) break; /* (a 200 fits in one read) */
        atomic_store(&s->acked, (long)(k + 1));
    }
    weft_close(fd);
}

TEST(kill_9_loses_no_acknowledged_fix) {
    char dir[] = "/tmp/weft-fleet-kill9-XXXXXX";
    ASSERT(mkdtemp(dir));
    char config[128];
    snprintf(config, sizeof config, "%s/fleet.json", dir);
    FILE *cf = fopen(config, "w");
    ASSERT(cf);
    fputs("{\"ingest\": {\"auto_register\": true, \"host\": \"127.0.0.1\"}, \"storage\": {\"commit_interval_ms\": 2}}\n", cf);
    fclose(cf);
    server srv;
    ASSERT_EQ(server_start(&srv, dir, config), 0);
    enum { N = 8 };
    sender s[N];
    weft_group g;
    weft_group_init(&g);
    int64_t t0 = (fleet_now_ms() / 1000 - 10 * 86400) * 1000;
    for (int i = 0; i < N; i++) {
        s[i] = (sender){.srv = &srv, .idx = i, .teltonika = i % 2 == 0, .t0 = t0};
        atomic_init(&s[i].acked, 0);
        atomic_init(&s[i].stop, 0);
        ASSERT_EQ(weft_group_go(&g, s[i].teltonika ? tlt_sender : osm_sender, &s[i], "sender"), 0);
    }
    weft_sleep(test_slack_ms(700)); /* ingest at full speed for a while ... */
    /* (and at least past the 100 acks checked below: a loaded machine's
     * server may take longer to get there than the fixed wait) */
    for (int k = 0; k < 400; k++) {
        long acked = 0;
        for (int i = 0; i < N; i++) acked += atomic_load(&s[i].acked);
        if (acked > 100) break;
        weft_sleep(50);
    }
    ASSERT_EQ(kill(srv.pid, SIGKILL), 0); /* ... and pull the plug mid-stream */
    int st;
    waitpid(srv.pid, &st, 0);
    for (int i = 0; i < N; i++) atomic_store(&s[i].stop, 1);
    ASSERT_EQ(weft_group_wait(&g, weft_deadline_in(20000)), 0);
    long total = 0;
    for (int i = 0; i < N; i++) total += atomic_load(&s[i].acked);
    ASSERT(total > 100); /* the test ingested something worth checking */

    /* restart on the same data: the server recovers the database and serves */
    server again;
    ASSERT_EQ(server_start(&again, dir, config), 0);
    kill(again.pid, SIGTERM);
    waitpid(again.pid, &st, 0);
    ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);

    char path[128];
    snprintf(path, sizeof path, "%s/fleet.sqlite", dir);
    sqlite3 *db;
    ASSERT_EQ(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *q;
    ASSERT_EQ(sqlite3_prepare_v2(db,
                                 "SELECT COUNT(*) FROM positions p JOIN devices d ON d.id = p.device_id "
                                 "WHERE d.unique_id = ?1 AND p.fix_time >= ?2 AND p.fix_time < ?3",
                                 -1, &q, NULL),
              SQLITE_OK);
    long stored_total = 0;
    for (int i = 0; i < N; i++) {
        char uid[32];
        if (s[i].teltonika) snprintf(uid, sizeof uid, "35900000000%04d", i);
        else snprintf(uid, sizeof uid, "sim-d%04d", i);
        long acked = atomic_load(&s[i].acked);
        sqlite3_bind_text(q, 1, uid, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(q, 2, t0);
        sqlite3_bind_int64(q, 3, t0 + acked * 1000);
        ASSERT_EQ(sqlite3_step(q), SQLITE_ROW);
        long stored = (long)sqlite3_column_int64(q, 0);
        sqlite3_reset(q);
        if (stored != acked) {
            test__fail(__FILE__, __LINE__, "%s: %ld fixes acknowledged, %ld stored", uid, acked, stored);
            break;
        }
        stored_total += stored;
    }
    printf("  %ld acknowledged fixes from %d senders, all %ld stored after kill -9\n", total, N, stored_total);
    sqlite3_finalize(q);
    sqlite3_close(db);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) printf("  could not remove %s\n", dir);
}
