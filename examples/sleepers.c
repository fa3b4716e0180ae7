/*
 * examples/sleepers.c - three tasks each sleep 1 s while main sleeps 2 s:
 * the whole program takes about 2 s, not 5, because sleeping tasks do not
 * hold a worker. Exits 1 if the timing says otherwise.
 */
#include <stdio.h>

#include "weft/runtime.h"
#include "weft/time.h"

typedef struct worker_state {
    int coro;
    int id;
    weft_sleep sleep;
} worker_state;

static weft_poll worker_task(void *p, weft_context *cx, void *out)
{
    worker_state *s = p;
    WEFT_CORO_BEGIN(s);
    printf("task %d: sleeping 1 s\n", s->id);
    weft_sleep_init(&s->sleep, 1 * WEFT_SEC);
    WEFT_AWAIT(s, weft_sleep_poll(&s->sleep, cx));
    printf("task %d: done\n", s->id);
    WEFT_CORO_RETURN(s, out, int, s->id);
    WEFT_CORO_END(s);
}
static void worker_drop(void *p) { weft_sleep_drop(&((worker_state *)p)->sleep); }
static const weft_future_type worker_type = {"sleeper", worker_task, worker_drop,
                                             sizeof(worker_state), sizeof(int)};

typedef struct main_state {
    int coro;
    int argc;
    char **argv;
    uint64_t start;
    int i, id, rc, sum;
    weft_join_handle h[3];
    weft_sleep sleep;
} main_state;

static weft_poll main_task(void *p, weft_context *cx, void *out)
{
    main_state *s = p;
    WEFT_CORO_BEGIN(s);
    s->start = weft_now_ns();
    for (s->i = 0; s->i < 3; s->i++) {
        worker_state w = {.coro = 0, .id = s->i + 1};
        if (weft_spawn(weft_context_runtime(cx), &worker_type, &w, &s->h[s->i]) < 0) {
            fprintf(stderr, "spawn: %s\n", weft_last_error());
            WEFT_CORO_RETURN(s, out, int, 2);
        }
    }
    printf("main: sleeping 2 s\n");
    weft_sleep_init(&s->sleep, 2 * WEFT_SEC);
    WEFT_AWAIT(s, weft_sleep_poll(&s->sleep, cx));
    for (s->i = 0; s->i < 3; s->i++) {
        WEFT_AWAIT(s, weft_join_poll(&s->h[s->i], cx, &s->id, &s->rc));
        s->sum += s->rc == 0 ? s->id : 100;
    }
    {
        double t = (double)(weft_now_ns() - s->start) / 1e9;
        printf("main: all done after %.3f s\n", t);
        WEFT_CORO_RETURN(s, out, int, (s->sum == 6 && t >= 2.0 && t < 2.5) ? 0 : 1);
    }
    WEFT_CORO_END(s);
}

WEFT_MAIN(main_task, main_state)
