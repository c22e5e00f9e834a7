/*
 * clock.c - see clock.h.
 */
#include "core/clock.h"

#include <time.h>

static double seconds(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double cd_monotonic_s(void)
{
    return seconds(CLOCK_MONOTONIC);
}

double cd_wall_s(void)
{
    return seconds(CLOCK_REALTIME);
}
