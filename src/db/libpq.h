/*
 * libpq.h — the libpq shim: pg.c's only door to libpq.
 *
 * libpq is opened with dlopen() when the first pool opens, not linked: its
 * dependency chain (libssl, libcrypto, Kerberos, LDAP) would otherwise be
 * mapped and relocated in every program that links libweft, ~6 MB of
 * resident pages at start, database or not. Only libpq's header is used at
 * build time, for its types and prototypes; every call goes through the
 * table below, which keeps libpq's own names as field names so that
 * `pq->PQgetvalue(res, i, j)` reads like the libpq manual.
 *
 * WEFT_LIBPQ names another libpq build to load instead of libpq.so.5 (the
 * benchmarks run weft on Debian's libpq 15 and on libpq 18).
 */
#ifndef WEFT_DB_LIBPQ_H
#define WEFT_DB_LIBPQ_H

#include <libpq-fe.h>

/* Every libpq function pg.c calls; all must resolve or the load fails. */
#define WEFT__LIBPQ_FUNCS(X)                                                                       \
    X(PQerrorMessage)                                                                              \
    X(PQstatus)                                                                                    \
    X(PQresultStatus)                                                                              \
    X(PQsocket)                                                                                    \
    X(PQfinish)                                                                                    \
    X(PQclear)                                                                                     \
    X(PQsendQueryPrepared)                                                                         \
    X(PQresultErrorField)                                                                          \
    X(PQpipelineSync)                                                                              \
    X(PQgetlength)                                                                                 \
    X(PQfreemem)                                                                                   \
    X(PQfreeCancel)                                                                                \
    X(PQfname)                                                                                     \
    X(PQcmdTuples)                                                                                 \
    X(PQcancel)                                                                                    \
    X(PQunescapeBytea)                                                                             \
    X(PQsetnonblocking)                                                                            \
    X(PQsetNoticeProcessor)                                                                        \
    X(PQsendQueryParams)                                                                           \
    X(PQsendPrepare)                                                                               \
    X(PQresultErrorMessage)                                                                        \
    X(PQntuples)                                                                                   \
    X(PQnfields)                                                                                   \
    X(PQisBusy)                                                                                    \
    X(PQgetvalue)                                                                                  \
    X(PQgetisnull)                                                                                 \
    X(PQgetResult)                                                                                 \
    X(PQgetCancel)                                                                                 \
    X(PQftype)                                                                                     \
    X(PQflush)                                                                                     \
    X(PQenterPipelineMode)                                                                         \
    X(PQconsumeInput)                                                                              \
    X(PQconninfoParse)                                                                             \
    X(PQconninfoFree)                                                                              \
    X(PQconnectStart)                                                                              \
    X(PQconnectPoll)                                                                               \
    X(PQlibVersion)

typedef struct weft__libpq {
#define WEFT__LIBPQ_FIELD(f) __typeof__(f) *f;
    WEFT__LIBPQ_FUNCS(WEFT__LIBPQ_FIELD)
#undef WEFT__LIBPQ_FIELD
    /* libpq >= 17: a Sync that does not flush. NULL when the library is
     * older (its header may not declare it, hence the spelled-out type);
     * then every PQpipelineSync flushes, one write each. */
    int (*PQsendPipelineSync)(PGconn *);
} weft__libpq;

/* The table; its entries are valid only after weft__libpq_load() returned 0.
 * Written once, under pthread_once, never again. */
extern weft__libpq weft__pq;

/* Load libpq (WEFT_LIBPQ or libpq.so.5) and resolve every function, once per
 * process; later calls return the first outcome. Thread-safe, does not
 * suspend (dlopen may block the thread briefly, once). Returns 0, or
 * WEFT_ENOTSUP with *why (if non-NULL) pointing at a static message naming
 * the package to install or the missing symbol. */
int weft__libpq_load(const char **why);

#endif
