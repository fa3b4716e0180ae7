/*
 * examples/hello.c - the first program of an async runtime: print, sleep
 * one second on a timer, print. WEFT_MAIN builds the runtime from the
 * environment (WEFT_SCHEDULER, WEFT_WORKERS, ...), blocks on main_task
 * and returns its exit code, as #[tokio::main] does; WEFT_MAIN_WITH_DROP
 * gives the main future the drop function that releases its sleep.
 */
#include <stdio.h>

#include "weft/runtime.h"
#include "weft/time.h"

typedef struct main_state {
    int coro;
    int argc;
    char **argv;
    uint64_t start;
    weft_sleep sleep;
} main_state;

static weft_poll main_task(void *p, weft_context *cx, void *out)
{
    main_state *s = p;
    WEFT_CORO_BEGIN(s);
    printf("hello: start\n");
    fflush(stdout);
    s->start = weft_now_ns();
    weft_sleep_init(&s->sleep, 1 * WEFT_SEC);
    WEFT_AWAIT(s, weft_sleep_poll(&s->sleep, cx));
    {
        double waited = (double)(weft_now_ns() - s->start) / 1e9;
        printf("hello: end after %.3f s\n", waited);
        /* exit code 1 if the sleep was early or absurdly late: the test runs this */
        WEFT_CORO_RETURN(s, out, int, (waited >= 1.0 && waited < 1.5) ? 0 : 1);
    }
    WEFT_CORO_END(s);
}

static void main_drop(void *p)
{
    main_state *s = p;
    weft_sleep_drop(&s->sleep);
}

WEFT_MAIN_WITH_DROP(main_task, main_drop, main_state)
