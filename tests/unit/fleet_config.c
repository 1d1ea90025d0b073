/*
 * tests/unit/fleet_config.c — fleet.json and the WEFT_FLEET_* overrides
 * (apps/fleet/config.c): defaults, every kind of mistake reported with
 * file:line:column and the setting's name, the environment's precedence.
 */
#include <stdlib.h>
#include <unistd.h>

#include "config.h"
#include "test.h"

static int parse(const char *text, fleet_config *c, char *err) {
    fleet_config_defaults(c);
    err[0] = 0;
    return fleet_config_parse("fleet.json", weft_str_c(text), c, err, 256);
}

TEST_PLAIN(defaults_and_overrides) {
    fleet_config c;
    char err[256];
    ASSERT_EQ(parse("{}", &c, err), 0);
    ASSERT_EQ(c.web_port, 8080);
    ASSERT_EQ(c.osmand_port, 5055);
    ASSERT_EQ(c.teltonika_port, 5027);
    ASSERT_EQ(c.positions_retention_days, 90);
    ASSERT_EQ(parse("{\"web\": {\"port\": 9090, \"host\": \"0.0.0.0\"},\n"
                    " \"positions\": {\"retention_days\": 0},\n"
                    " \"status\": {\"moving_speed_kn\": 2.5, \"offline_timeout_s\": 120},\n"
                    " \"ingest\": {\"auto_register\": true}}",
                    &c, err),
              0);
    ASSERT_EQ(c.web_port, 9090);
    ASSERT(strcmp(c.web_host, "0.0.0.0") == 0);
    ASSERT_EQ(c.positions_retention_days, 0);
    ASSERT(c.moving_speed_kn == 2.5);
    ASSERT_EQ(c.offline_timeout_s, 120);
    ASSERT_EQ(c.auto_register, 1);
    ASSERT_EQ(c.sqlite_page_size, 0); /* SQLite's own unless set */
    ASSERT_EQ(parse("{\"storage\": {\"sqlite_page_size\": 1024}}", &c, err), 0);
    ASSERT_EQ(c.sqlite_page_size, 1024);
}

TEST_PLAIN(errors_name_file_line_column_and_setting) {
    static const struct {
        const char *text, *want;
    } bad[] = {
        {"{\n  \"web\": {\n    \"port\": 70000\n  }\n}",
         "fleet.json:3:5: web.port: must be an integer from 0 to 65535 (got 70000)"},
        {"{\"web\": {\"port\": \"8080\"}}", "fleet.json:1:10: web.port: must be an integer"},
        {"{\n\"web\": {\"prot\": 1}}", "fleet.json:2:9: web.prot: unknown setting"},
        {"{\"wbe\": {}}", "fleet.json:1:2: wbe: unknown section"},
        {"{\"web\": 5}", "fleet.json:1:2: web: must be an object"},
        {"{\"status\": {\"moving_speed_kn\": -1}}", "status.moving_speed_kn: must be a number from 0 to 100 (got -1)"},
        {"{\"ingest\": {\"auto_register\": \"yes\"}}", "ingest.auto_register: must be true or false (got \"yes\")"},
        {"{\"storage\": {\"sqlite_page_size\": 1000}}",
         "storage.sqlite_page_size: must be 0 or a power of two from 512 to 65536 (got 1000)"},
        {"{\"storage\": {\"sqlite_page_size\": 256}}", "storage.sqlite_page_size: must be 0 or a power of two"},
        {"{\"storage\": {\"sqlite_page_size\": 131072}}", "storage.sqlite_page_size: must be 0 or a power of two"},
        {"{\n  \"web\": {\"port\": 80,}\n}", "fleet.json:2:"},
        {"{\n  \"web\": {\"port\": 80}\n", "fleet.json:3:1: not valid JSON"},
        {"[1]", "fleet.json:1:1: the settings must be a JSON object"},
        {"{\"web\": {\"host\": \"hhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhh\"}}",
         "web.host: must be a string of at most 63 bytes"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fleet_config c;
        char err[256];
        int rc = parse(bad[i].text, &c, err);
        if (rc >= 0 || !strstr(err, bad[i].want)) {
            test__fail(__FILE__, __LINE__, "case %zu: rc %d, message '%s', want '%s'", i, rc, err, bad[i].want);
            return;
        }
    }
}

static const char *fake_env(const char *k) {
    if (!strcmp(k, "WEFT_FLEET_HTTP_PORT")) return "18080";
    if (!strcmp(k, "WEFT_FLEET_DATA_DIR")) return "/tmp/fleet-data";
    if (!strcmp(k, "WEFT_FLEET_ADMIN_EMAIL")) return "ops@example.com";
    return NULL;
}
static const char *bad_env(const char *k) { return !strcmp(k, "WEFT_FLEET_OSMAND_PORT") ? "http" : NULL; }

TEST_PLAIN(environment_overrides_the_file) {
    fleet_config c;
    char err[256];
    ASSERT_EQ(parse("{\"web\": {\"port\": 9090}}", &c, err), 0);
    ASSERT_EQ(fleet_config_env(&c, fake_env, err, sizeof err), 0);
    ASSERT_EQ(c.web_port, 18080);
    ASSERT(strcmp(c.data_dir, "/tmp/fleet-data") == 0);
    ASSERT(strcmp(c.admin_email, "ops@example.com") == 0);
    ASSERT_ERR(fleet_config_env(&c, bad_env, err, sizeof err), WEFT_EINVAL);
    ASSERT(strstr(err, "WEFT_FLEET_OSMAND_PORT: must be an integer from 0 to 65535 (got \"http\")"));
}

TEST_PLAIN(load_from_file) {
    char path[] = "/tmp/weft-fleet-config-XXXXXX";
    int fd = mkstemp(path);
    ASSERT(fd >= 0);
    const char *text = "{\n  \"storage\": {\"commit_max_rows\": 0}\n}\n";
    ASSERT_EQ(write(fd, text, strlen(text)), (long)strlen(text));
    close(fd);
    fleet_config c;
    fleet_config_defaults(&c);
    char err[256];
    ASSERT_ERR(fleet_config_load(path, 1, &c, err, sizeof err), WEFT_EINVAL);
    char want[128];
    snprintf(want, sizeof want, "%s:2:15: storage.commit_max_rows: must be an integer from 1", path);
    ASSERT(strstr(err, want));
    unlink(path);
    /* missing: fine unless the user named the file */
    ASSERT_EQ(fleet_config_load(path, 0, &c, err, sizeof err), 0);
    ASSERT_ERR(fleet_config_load(path, 1, &c, err, sizeof err), WEFT_ENOENT);
    ASSERT(strstr(err, "cannot read: No such file"));
}
