/*
 * common/error.h - the one place a failing call leaves its message.
 *
 * weft's convention (README, "Errors"): a public function returns 0 or a
 * negative errno, and a failure leaves a message a person can act on in
 * weft_last_error() (weft/runtime.h), per thread. Library code never
 * prints: what to do with a message is the program's business. The only
 * output the library itself writes is the line an always-on invariant
 * check prints just before abort(), when there is no caller left to tell.
 *
 * The buffer lives here, in the lowest layer, so that every layer (the
 * wheel, the reactor, TCP, the runtime core) can set it without calling
 * up into the runtime. It is thread-local: a message belongs to the
 * thread whose call failed, and two threads failing at once do not mix
 * their messages.
 */
#ifndef WEFT_COMMON_ERROR_H
#define WEFT_COMMON_ERROR_H

#include <stdarg.h>
#include <stddef.h>

/* Largest message kept (longer ones are truncated, NUL-terminated). */
#define ERR_MESSAGE_MAX 512

/* Formats the message into this thread's buffer and returns err, so a
 * failure path reads `return err_fail(-EINVAL, "...: %s", why);`. */
int err_fail(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int err_failv(int err, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/* This thread's last message ("" when none was set). weft_last_error()
 * returns the same buffer. */
const char *err_last(void);

/* Forgets this thread's message (tests use it to see that a call sets one). */
void err_clear(void);
#endif
