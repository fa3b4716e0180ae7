/*
 * tests/test_api.c - small public API contracts.
 *   - The coroutine macros of weft/future.h: any number of WEFT_AWAITs may
 *     share one line (resume points come from __COUNTER__, not __LINE__,
 *     which gave "duplicate case value"), and each resumes where it stopped.
 *   - weft_join_is_empty: a handle says whether it still refers to a
 *     task (after spawn: no; after a join, a detach, or WEFT_JOIN_HANDLE_INIT:
 *     yes).
 */
#include "test_util.h"

#include "weft/runtime.h"
#include "weft/time.h"

typedef struct one_line {
    int coro;
    weft_yield y;
    weft_sleep s1, s2;
    int steps;
    int polls_seen;
} one_line;

static weft_poll one_line_poll(void *p, weft_context *cx, void *out)
{
    one_line *s = p;
    s->polls_seen++;
    WEFT_CORO_BEGIN(s);
    /* two yields, then two sleeps, each pair on one line */
    WEFT_YIELD_NOW(s, y, cx); s->steps++; WEFT_YIELD_NOW(s, y, cx); s->steps++;
    weft_sleep_init(&s->s1, 1 * WEFT_MS); weft_sleep_init(&s->s2, 2 * WEFT_MS);
    WEFT_AWAIT(s, weft_sleep_poll(&s->s1, cx)); s->steps++; WEFT_AWAIT(s, weft_sleep_poll(&s->s2, cx));
    s->steps++;
    WEFT_CORO_RETURN(s, out, int, s->steps);
    WEFT_CORO_END(s);
}

static void one_line_drop(void *p)
{
    one_line *s = p;
    weft_sleep_drop(&s->s1);
    weft_sleep_drop(&s->s2);
}

static void test_two_awaits_on_one_line(void **state)
{
    (void)state;
    static const weft_future_type t = {"one_line", one_line_poll, one_line_drop,
                                       sizeof(one_line), sizeof(int)};
    const char *scheds[] = {"fifo", "ws"};
    for (int i = 0; i < 2; i++) {
        weft_runtime *rt = tu_rt_new(scheds[i], i == 0 ? 1 : 2, NULL);
        one_line init;
        memset(&init, 0, sizeof init);
        int out = 0;
        assert_int_equal(weft_block_on(rt, &t, &init, &out), 0);
        assert_int_equal(out, 4); /* every step ran once: each await resumed at itself */
        weft_runtime_free(rt);
    }
}

/* Direct polls: the first poll stops at the first yield, the second resumes
 * after it and stops at the second yield of the same line, the third
 * completes. */
typedef struct yields { int coro; weft_yield y; int steps; } yields;

static weft_poll yields_poll(void *p, weft_context *cx, void *out)
{
    yields *st = p;
    WEFT_CORO_BEGIN(st);
    WEFT_YIELD_NOW(st, y, cx); st->steps++; WEFT_YIELD_NOW(st, y, cx); st->steps++;
    WEFT_CORO_RETURN(st, out, int, st->steps);
    WEFT_CORO_END(st);
}

static void test_resume_points_distinct(void **state)
{
    (void)state;
    tu_cwaker w;
    tu_cw_init(&w);
    weft_context cx = tu_cw_context(&w);
    yields s;
    memset(&s, 0, sizeof s);
    int out = 0;
    assert_int_equal(yields_poll(&s, &cx, &out), WEFT_PENDING);
    assert_int_equal(s.steps, 0);
    int first_point = s.coro;
    assert_int_equal(yields_poll(&s, &cx, &out), WEFT_PENDING);
    assert_int_equal(s.steps, 1);
    assert_int_not_equal(s.coro, first_point); /* the same line, another resume point */
    assert_int_equal(yields_poll(&s, &cx, &out), WEFT_READY);
    assert_int_equal(out, 2);
    assert_int_equal(s.coro, -1);
}

static weft_poll ready_poll(void *p, weft_context *cx, void *out)
{
    (void)p;
    (void)cx;
    *(int *)out = 7;
    return WEFT_READY;
}

static void test_join_handle_is_empty(void **state)
{
    (void)state;
    static const weft_future_type t = {"ready", ready_poll, NULL, 0, sizeof(int)};
    weft_join_handle h = WEFT_JOIN_HANDLE_INIT;
    assert_true(weft_join_is_empty(&h));
    assert_true(weft_join_is_empty(NULL));
    weft_runtime *rt = tu_rt_new("ws", 2, NULL);
    assert_int_equal(weft_spawn(rt, &t, NULL, &h), 0);
    assert_false(weft_join_is_empty(&h));
    int out = 0;
    assert_int_equal(weft_join_wait(&h, &out), 0);
    assert_int_equal(out, 7);
    assert_true(weft_join_is_empty(&h)); /* joined */
    assert_int_equal(weft_spawn(rt, &t, NULL, &h), 0);
    assert_false(weft_join_is_empty(&h));
    weft_join_drop(&h);
    assert_true(weft_join_is_empty(&h)); /* detached */
    weft_runtime_free(rt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_awaits_on_one_line),
        cmocka_unit_test(test_resume_points_distinct),
        cmocka_unit_test(test_join_handle_is_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
