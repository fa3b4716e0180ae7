/*
 * examples/blocking_vs_async.c - why a task must not block its worker.
 *
 * A "ticker" task wants to run every 10 ms. Beside it, another task waits
 * 200 ms three ways:
 *   1. wrong: usleep() inside the task, which blocks the worker thread, so
 *      the ticker cannot run until it returns;
 *   2. right: a timer sleep (weft_sleep), which parks the task, not the
 *      thread;
 *   3. right, for CPU work: spawn_blocking, which runs the work on the
 *      blocking pool while the worker keeps running tasks.
 * It prints the ticker's worst delay in each case. Run it on one worker
 * (the default fifo scheduler) to see the difference; it exits 1 if the
 * blocking case does not stall the ticker or a right way does.
 */
#include <stdio.h>
#include <unistd.h>

#include "weft/runtime.h"
#include "weft/time.h"

typedef struct ticker_state {
    int coro;
    _Atomic int *stop;
    uint64_t last, worst;
    weft_sleep sleep;
} ticker_state;

static weft_poll ticker(void *p, weft_context *cx, void *out)
{
    ticker_state *s = p;
    WEFT_CORO_BEGIN(s);
    s->last = weft_now_ns();
    while (!*s->stop) {
        weft_sleep_init(&s->sleep, 10 * WEFT_MS);
        WEFT_AWAIT(s, weft_sleep_poll(&s->sleep, cx));
        {
            uint64_t now = weft_now_ns();
            if (now - s->last > s->worst) s->worst = now - s->last;
            s->last = now;
        }
    }
    WEFT_CORO_RETURN(s, out, uint64_t, s->worst);
    WEFT_CORO_END(s);
}
static void ticker_drop(void *p) { weft_sleep_drop(&((ticker_state *)p)->sleep); }
static const weft_future_type ticker_type = {"ticker", ticker, ticker_drop, sizeof(ticker_state),
                                             sizeof(uint64_t)};

static void *cpu_work(void *arg)
{
    uint64_t end = weft_now_ns() + 200 * WEFT_MS;
    while (weft_now_ns() < end) {
    }
    return arg;
}

typedef struct main_state {
    int coro;
    int argc;
    char **argv;
    int mode, rc;
    _Atomic int stop;
    uint64_t worst[3];
    weft_join_handle tick, job;
    weft_sleep sleep;
    void *jobout;
} main_state;

static weft_poll main_task(void *p, weft_context *cx, void *out)
{
    main_state *s = p;
    WEFT_CORO_BEGIN(s);
    for (s->mode = 0; s->mode < 3; s->mode++) {
        s->stop = 0;
        {
            ticker_state ts = {.coro = 0, .stop = &s->stop};
            weft_spawn(weft_context_runtime(cx), &ticker_type, &ts, &s->tick);
        }
        /* let the ticker settle */
        weft_sleep_init(&s->sleep, 50 * WEFT_MS);
        WEFT_AWAIT(s, weft_sleep_poll(&s->sleep, cx));
        if (s->mode == 0) {
            usleep(200 * 1000); /* WRONG: blocks the worker thread */
        } else if (s->mode == 1) {
            weft_sleep_init(&s->sleep, 200 * WEFT_MS);
            WEFT_AWAIT(s, weft_sleep_poll(&s->sleep, cx));
        } else {
            weft_spawn_blocking(weft_context_runtime(cx), cpu_work, NULL, &s->job);
            WEFT_AWAIT(s, weft_join_poll(&s->job, cx, &s->jobout, &s->rc));
        }
        s->stop = 1;
        WEFT_AWAIT(s, weft_join_poll(&s->tick, cx, &s->worst[s->mode], &s->rc));
    }
    printf("ticker worst delay (target 10 ms):\n");
    printf("  usleep(200 ms) in a task:    %6.1f ms   <- blocks its worker (with one worker, everything)\n",
           s->worst[0] / 1e6);
    printf("  weft_sleep(200 ms):          %6.1f ms\n", s->worst[1] / 1e6);
    printf("  spawn_blocking(200 ms CPU):  %6.1f ms\n", s->worst[2] / 1e6);
    {
        int single = weft_runtime_config(weft_context_runtime(cx))->workers == 1;
        int ok = s->worst[1] < 100 * WEFT_MS && s->worst[2] < 100 * WEFT_MS &&
                 (!single || s->worst[0] >= 150 * WEFT_MS);
        WEFT_CORO_RETURN(s, out, int, ok ? 0 : 1);
    }
    WEFT_CORO_END(s);
}

WEFT_MAIN(main_task, main_state)
