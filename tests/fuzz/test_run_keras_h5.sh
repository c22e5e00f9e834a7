#!/usr/bin/env bash
# ctest: a short libFuzzer run of fuzz/fuzz_keras_h5.c (see fuzz_run.sh; fails without clang).
# A smoke run: a fixed sequence of 500 executions (about 5 s on a quiet core), at most 90 s.
CATDOG_FUZZ_RUNS=${CATDOG_FUZZ_RUNS:-500} CATDOG_FUZZ_SECONDS=${CATDOG_FUZZ_SECONDS:-90} \
  exec bash "$(dirname "$0")/fuzz_run.sh" keras_h5
