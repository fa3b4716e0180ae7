/*
 * common/error.c - the per-thread message buffer behind weft_last_error().
 * See common/error.h for the convention.
 */
#include "common/error.h"

#include <stdio.h>

#include "weft/runtime.h"

static _Thread_local char last_error[ERR_MESSAGE_MAX];

int err_failv(int err, const char *fmt, va_list ap)
{
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    return err;
}

int err_fail(int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_failv(err, fmt, ap);
    va_end(ap);
    return err;
}

const char *err_last(void) { return last_error; }

void err_clear(void) { last_error[0] = '\0'; }

const char *weft_last_error(void) { return last_error; }
