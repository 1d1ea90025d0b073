/* apps/fleet/api_openapi.c — GET /api/openapi.json (placeholder until generated). */
#include <string.h>

#include "api_int.h"

static const char doc[] = "{}";

int api_openapi(weft_http_ctx *c, void *ud) {
    (void)ud;
    return weft_http_send(c, 200, "application/json", doc, sizeof doc - 1);
}
