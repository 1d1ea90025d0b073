/*
 * fuzz/fleet_config.c — libFuzzer target for the fleet app's settings reader
 * (apps/fleet/config.c), including the locator that turns a setting's path
 * into a line and column. Checks: only the documented results; a failure
 * always carries a "fleet.json:LINE:COL: " message.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../apps/fleet/config.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fleet_config c;
    fleet_config_defaults(&c);
    char err[512] = "";
    int rc = fleet_config_parse("fleet.json", (weft_str){(const char *)data, size}, &c, err, sizeof err);
    if (rc == 0) {
        if (c.web_port < 0 || c.web_port > 65535 || strlen(c.web_host) >= sizeof c.web_host) abort();
        return 0;
    }
    if (rc != WEFT_EPARSE && rc != WEFT_EINVAL) abort();
    int line, col;
    if (sscanf(err, "fleet.json:%d:%d: ", &line, &col) != 2 || line < 1 || col < 1) abort();
    return 0;
}
