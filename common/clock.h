/* common/clock.h - CLOCK_MONOTONIC in nanoseconds, the one clock of weft. */
#ifndef WEFT_COMMON_CLOCK_H
#define WEFT_COMMON_CLOCK_H
#include <stdint.h>
#include <time.h>

static inline uint64_t clock_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
#endif
