/*
 * tests/unit/readstates.c — the GC case's Read States service
 * (apps/readstates): the store (insert, get, ack, full table), the path and
 * body parsers, and the routes answered through weft_http_test (status and
 * exact JSON for reads, acks, and each kind of bad request).
 */
#include <stdlib.h>

#include "readstates.h"
#include "test.h"

TEST_PLAIN(rs_store_put_get_ack) {
    rs_store *s = rs_store_new(1000);
    ASSERT(s);
    ASSERT_EQ(rs_load(s, 1000), 0);
    ASSERT_EQ(rs_store_len(s), 1000);
    rs_state st;
    for (uint64_t u = 1; u <= 1000; u++) {
        ASSERT_EQ(rs_store_get(s, u, &st), 0);
        rs_state want = rs_initial(u);
        ASSERT_EQ(st.user, u);
        ASSERT_EQ(st.channel, want.channel);
        ASSERT_EQ(st.last_message, want.last_message);
        ASSERT_EQ(st.mentions, u % 4);
    }
    ASSERT_ERR(rs_store_get(s, 1001, &st), WEFT_ENOENT);
    ASSERT_ERR(rs_store_get(s, 0, &st), WEFT_ENOENT);
    ASSERT_EQ(rs_store_ack(s, 7, 55, 99, 1234, &st), 0);
    ASSERT_EQ(st.channel, 55);
    ASSERT_EQ(st.last_message, 99);
    ASSERT_EQ(st.mentions, 0);
    ASSERT_EQ(st.updated_ms, 1234);
    rs_state again;
    ASSERT_EQ(rs_store_get(s, 7, &again), 0);
    ASSERT_EQ(memcmp(&again, &st, sizeof st), 0);
    ASSERT_ERR(rs_store_ack(s, 5000, 1, 1, 1, &st), WEFT_ENOENT);
    rs_state zero = {0};
    ASSERT_ERR(rs_store_put(s, &zero), WEFT_EINVAL);
    ASSERT_EQ(rs_store_len(s), 1000); /* an ack or a replace adds nothing */
    rs_store_free(s);
}

/* A table sized for few entries refuses, with WEFT_ELIMIT, to fill past 90 %
 * of a shard, and what it holds stays readable. */
TEST_PLAIN(rs_store_full) {
    rs_store *s = rs_store_new(1);
    ASSERT(s);
    uint64_t u = 1;
    int rc = 0;
    for (; u < 1000000 && !rc; u++) {
        rs_state st = rs_initial(u);
        rc = rs_store_put(s, &st);
    }
    ASSERT_ERR(rc, WEFT_ELIMIT);
    ASSERT_GT(rs_store_len(s), 64);
    rs_state st;
    for (uint64_t k = 1; k + 1 < u; k++) ASSERT_EQ(rs_store_get(s, k, &st), 0);
    rs_store_free(s);
}

TEST_PLAIN(rs_parse_user_cases) {
    uint64_t u = 0;
    ASSERT_EQ(rs_parse_user(weft_str_c("1"), &u), 0);
    ASSERT_EQ(u, 1);
    ASSERT_EQ(rs_parse_user(weft_str_c("9223372036854775807"), &u), 0);
    ASSERT_EQ(u, INT64_MAX);
    const char *bad[] = {"", "0", "007", "-1", "+1", "1a", "12 ", "9223372036854775808",
                         "99999999999999999999", "18446744073709551615"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        u = 77;
        ASSERT_ERR(rs_parse_user(weft_str_c(bad[i]), &u), WEFT_EINVAL);
        ASSERT_EQ(u, 77);
    }
}

TEST_PLAIN(rs_parse_ack_cases) {
    weft_arena a;
    weft_arena_init(&a, 0);
    rs_ack k;
    const char *why = NULL;
    const char *ok = "{\"message_id\": 12, \"channel_id\": 3, \"extra\": [1]}";
    ASSERT_EQ(rs_parse_ack(ok, strlen(ok), &a, &k, &why), 0);
    ASSERT_EQ(k.channel, 3);
    ASSERT_EQ(k.message, 12);
    static const struct {
        const char *body, *why;
    } bad[] = {
        {"", "body is not JSON"},
        {"{\"channel_id\":1,", "body is not JSON"},
        {"[1,2]", "body is not a JSON object"},
        {"{\"message_id\":1}", "channel_id is missing"},
        {"{\"channel_id\":1}", "message_id is missing"},
        {"{\"channel_id\":-1,\"message_id\":1}", "channel_id is not a non-negative integer"},
        {"{\"channel_id\":1,\"message_id\":1.5}", "message_id is not a non-negative integer"},
        {"{\"channel_id\":\"1\",\"message_id\":1}", "channel_id is not a non-negative integer"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why = NULL;
        ASSERT_ERR(rs_parse_ack(bad[i].body, strlen(bad[i].body), &a, &k, &why), WEFT_EINVAL);
        ASSERT(why && strcmp(why, bad[i].why) == 0);
    }
    weft_arena_free(&a);
}

static int body_is(const weft_http_test_response *r, const char *s) {
    return r->body.n == strlen(s) && memcmp(r->body.p, s, r->body.n) == 0;
}

TEST(rs_routes) {
    rs_store *s = rs_store_new(100);
    ASSERT(s);
    ASSERT_EQ(rs_load(s, 100), 0);
    weft_http_router *r = rs_router_new(s);
    ASSERT(r);
    weft_http_test_response res;

    ASSERT_EQ(weft_http_test(r, "GET", "/state/42", NULL, NULL, &res), 0);
    ASSERT_EQ(res.status, 200);
    ASSERT(body_is(&res, "{\"user_id\":42,\"channel_id\":2962,\"last_message_id\":1000000000000294,"
                         "\"mention_count\":2,\"updated_at\":1700000000042}"));
    weft_http_test_response_free(&res);

    const char *ack = "{\"channel_id\":5,\"message_id\":9}";
    ASSERT_EQ(weft_http_test(r, "POST", "/state/42", "Content-Type: application/json\r\n", ack,
                             &res),
              0);
    ASSERT_EQ(res.status, 200);
    ASSERT(res.body.n > 60 && memcmp(res.body.p, "{\"user_id\":42,\"channel_id\":5,"
                                                 "\"last_message_id\":9,\"mention_count\":0,",
                                     60) == 0);
    weft_http_test_response_free(&res);
    rs_state st;
    ASSERT_EQ(rs_store_get(s, 42, &st), 0);
    ASSERT_EQ(st.channel, 5);
    ASSERT_GT(st.updated_ms, 1700000000000LL + 100);

    ASSERT_EQ(weft_http_test(r, "PUT", "/state/43", NULL, ack, &res), 0);
    ASSERT_EQ(res.status, 200);
    weft_http_test_response_free(&res);

    static const struct {
        const char *method, *target, *body;
        int status;
        const char *text;
    } cases[] = {
        {"GET", "/state/0", NULL, 400, "user is not a positive integer"},
        {"GET", "/state/abc", NULL, 400, "user is not a positive integer"},
        {"GET", "/state/101", NULL, 404, "no such user"},
        {"POST", "/state/101", "{\"channel_id\":5,\"message_id\":9}", 404, "no such user"},
        {"POST", "/state/1", "nope", 400, "body is not JSON"},
        {"PUT", "/state/1", "{\"channel_id\":5}", 400, "message_id is missing"},
        {"DELETE", "/state/1", NULL, 405, NULL},
        {"GET", "/states/1", NULL, 404, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ASSERT_EQ(weft_http_test(r, cases[i].method, cases[i].target, NULL, cases[i].body, &res),
                  0);
        ASSERT_EQ(res.status, cases[i].status);
        if (cases[i].text) {
            char want[128];
            snprintf(want, sizeof want, "{\"error\":\"%s\"}\n", cases[i].text); /* weft_http_error ends its body with a newline */
            ASSERT(body_is(&res, want));
        }
        weft_http_test_response_free(&res);
    }
    weft_http_router_free(r);
    rs_store_free(s);
}
