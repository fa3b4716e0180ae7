/*
 * tests/test_main_drop.c - WEFT_MAIN_WITH_DROP is this program's main: the
 * main future's drop function runs (once, after it completed, before main
 * returns), argc/argv arrive in its state, and the runtime is configured from
 * the environment as with WEFT_MAIN (a constructor sets WEFT_SCHEDULER=ws
 * and WEFT_WORKERS=2 before main). Exit 0: all held. No cmocka: the macro
 * defines main itself.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "weft/runtime.h"
#include "weft/time.h"

typedef struct main_state {
    int coro;
    int argc;
    char **argv;
    weft_sleep sleep;
    int config_ok;
} main_state;

static int drops;
static int completed;

__attribute__((constructor)) static void set_env(void)
{
    setenv("WEFT_SCHEDULER", "ws", 1);
    setenv("WEFT_WORKERS", "2", 1);
}

static weft_poll main_task(void *p, weft_context *cx, void *out)
{
    main_state *s = p;
    WEFT_CORO_BEGIN(s);
    {
        const weft_config *cfg = weft_runtime_config(weft_context_runtime(cx));
        s->config_ok = s->argc >= 1 && s->argv && s->argv[0] && cfg &&
                       strcmp(cfg->scheduler, "ws") == 0 && cfg->workers == 2;
    }
    weft_sleep_init(&s->sleep, 1 * WEFT_MS);
    WEFT_AWAIT(s, weft_sleep_poll(&s->sleep, cx));
    completed = 1;
    WEFT_CORO_RETURN(s, out, int, s->config_ok ? 0 : 3);
    WEFT_CORO_END(s);
}

static void main_drop(void *p)
{
    main_state *s = p;
    weft_sleep_drop(&s->sleep);
    drops++;
}

/* Runs after main returned: the drop must have run exactly once by then. */
__attribute__((destructor)) static void check_drop(void)
{
    if (drops != 1 || !completed) {
        fprintf(stderr, "test_main_drop: the main future's drop ran %d times (completed: %d)\n",
                drops, completed);
        _exit(4);
    }
    fprintf(stderr, "test_main_drop: drop ran once, config from the environment: ok\n");
}

WEFT_MAIN_WITH_DROP(main_task, main_drop, main_state)
