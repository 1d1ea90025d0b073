/*
 * fuzz/fleet_sim_http.c — libFuzzer target for the simulator's HTTP
 * response-head parser (apps/fleet-sim/httpc.c, httpc_parse_head), fed any
 * bytes a server might send back.
 *
 * Checks more than "does not crash": results are only the documented codes
 * (with a reason for every refusal); an accepted head ends with CRLF CRLF
 * inside the input, has a status of 100..999, never both a length and
 * chunked; the same head parses the same when it is all there is, and one
 * byte short of it asks for more.
 */
#include <stdlib.h>
#include <string.h>

/* the simulator's client, compiled into this target */
#include "../apps/fleet-sim/httpc.c"

#define MAX_HEAD 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *p = (const char *)data, *why = NULL;
    httpc_resp r;
    int rc = httpc_parse_head(p, size, MAX_HEAD, &r, &why);
    if (rc == 0) {
        if (size >= MAX_HEAD) abort();
        return 0;
    }
    if (rc < 0) {
        if ((rc != WEFT_EPARSE && rc != WEFT_ELIMIT) || !why) abort();
        return 0;
    }
    if ((size_t)rc > size || rc < 4 || memcmp(p + rc - 4, "\r\n\r\n", 4) != 0) abort();
    if (r.status < 100 || r.status > 999 || (r.chunked && r.content_length >= 0)) abort();
    if (r.content_length < -1 || (r.minor != 0 && r.minor != 1) ||
        (r.keep_alive != 0 && r.keep_alive != 1))
        abort();
    httpc_resp again;
    if (httpc_parse_head(p, (size_t)rc, MAX_HEAD, &again, &why) != rc ||
        memcmp(&again, &r, sizeof r) != 0)
        abort();
    if (httpc_parse_head(p, (size_t)rc - 1, MAX_HEAD, &again, &why) != 0) abort();
    return 0;
}
