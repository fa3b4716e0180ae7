/*
 * schedulers/default_runtime.c - the process-wide default runtime
 * (weft_default_runtime, weft_run, weft_spawn_default) and WEFT_MAIN's
 * weft_main_run, the only library code that prints: it is the program's
 * main, and a program that cannot start its runtime has nobody else to
 * tell.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schedulers/runtime_internal.h"

/* ---- the default runtime ----------------------------------------------------------------- */

static pthread_mutex_t default_mu = PTHREAD_MUTEX_INITIALIZER;
static weft_runtime *default_rt;
static bool default_atexit;

weft_runtime *weft_default_runtime(void)
{
    pthread_mutex_lock(&default_mu);
    if (!default_rt) {
        weft_config cfg;
        weft_config_default(&cfg);
        if (weft_config_from_env(&cfg) == 0 && weft_runtime_new(&cfg, &default_rt) == 0 &&
            !default_atexit) {
            atexit(weft_default_runtime_free);
            default_atexit = true;
        }
    }
    weft_runtime *rt = default_rt;
    pthread_mutex_unlock(&default_mu);
    return rt;
}

void weft_default_runtime_free(void)
{
    pthread_mutex_lock(&default_mu);
    weft_runtime *rt = default_rt;
    default_rt = NULL;
    pthread_mutex_unlock(&default_mu);
    weft_runtime_free(rt);
}

int weft_run(const weft_future_type *type, const void *init, void *out)
{
    weft_runtime *rt = weft_default_runtime();
    if (!rt) return -EINVAL; /* weft_last_error() says why */
    return weft_block_on(rt, type, init, out);
}

int weft_spawn_default(const weft_future_type *type, const void *init, weft_join_handle *handle)
{
    weft_runtime *rt = weft_default_runtime();
    if (!rt) return -EINVAL;
    return weft_spawn(rt, type, init, handle);
}

int weft_main_run(const weft_future_type *type, void *init, size_t argc_off, size_t argv_off,
                  int argc, char **argv)
{
    weft_config cfg;
    weft_config_default(&cfg);
    weft_runtime *rt = NULL;
    int rc = weft_config_from_env(&cfg);
    if (rc == 0) rc = weft_runtime_new(&cfg, &rt);
    if (rc < 0) {
        fprintf(stderr, "%s: cannot start the weft runtime: %s\n", argc > 0 ? argv[0] : "weft",
                weft_last_error());
        return 2;
    }
    memcpy((char *)init + argc_off, &argc, sizeof argc);
    memcpy((char *)init + argv_off, &argv, sizeof argv);
    int code = 0;
    rc = weft_block_on(rt, type, init, &code);
    weft_runtime_free(rt);
    if (rc < 0) {
        fprintf(stderr, "%s: %s\n", argc > 0 ? argv[0] : "weft", weft_last_error());
        return 1;
    }
    return code;
}

/* workloads/workload.c declares this name itself (it predates common/error.h);
 * kept until the workloads include common/error.h. */
int rt_fail(int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_failv(err, fmt, ap);
    va_end(ap);
    return err;
}
