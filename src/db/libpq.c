/*
 * libpq.c — loads libpq at run time and fills weft__pq (see libpq.h for why
 * it is not linked).
 */
#include "libpq.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "weft/base.h"

weft__libpq weft__pq;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int loaded;
static char why_buf[256];

static void load(void) {
    const char *name = getenv("WEFT_LIBPQ"); /* another libpq build, if set */
    if (!name || !*name) name = "libpq.so.5";
    void *h = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(why_buf, sizeof why_buf, "cannot load libpq (apt install libpq5): %s", dlerror());
        return;
    }
    weft__libpq t = {0};
#define RESOLVE(f)                                                                                 \
    if (!(t.f = (__typeof__(f) *)dlsym(h, #f))) {                                                  \
        snprintf(why_buf, sizeof why_buf, "%s has no %s (libpq >= 14 needed)", name, #f);          \
        dlclose(h);                                                                                \
        return;                                                                                    \
    }
    WEFT__LIBPQ_FUNCS(RESOLVE)
#undef RESOLVE
    t.PQsendPipelineSync = (int (*)(PGconn *))dlsym(h, "PQsendPipelineSync");
    weft__pq = t;
    loaded = 1;
}

int weft__libpq_load(const char **why) {
    pthread_once(&once, load);
    if (loaded) return 0;
    if (why) *why = why_buf;
    return WEFT_ENOTSUP;
}
