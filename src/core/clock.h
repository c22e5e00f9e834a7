/*
 * clock.h - the time, in seconds as doubles: one place for the two clocks
 * every room needs.
 *
 *   cd_monotonic_s  CLOCK_MONOTONIC: for durations (latencies, progress,
 *                   timeouts); never jumps when the system clock is set.
 *   cd_wall_s       CLOCK_REALTIME: Unix time, for timestamps that are stored
 *                   or shown (the prediction history).
 */
#ifndef CATDOG_CORE_CLOCK_H
#define CATDOG_CORE_CLOCK_H

double cd_monotonic_s(void);
double cd_wall_s(void);

#endif
