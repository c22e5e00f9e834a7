#!/usr/bin/env bash
# ctest: a short libFuzzer run of fuzz/fuzz_image.c (see fuzz_run.sh; fails without clang).
# A smoke run: a fixed sequence of 20000 executions (about 5 s on a quiet core), at most 90 s.
CATDOG_FUZZ_RUNS=${CATDOG_FUZZ_RUNS:-20000} CATDOG_FUZZ_SECONDS=${CATDOG_FUZZ_SECONDS:-90} \
  exec bash "$(dirname "$0")/fuzz_run.sh" image
