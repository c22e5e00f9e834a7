#!/usr/bin/env bash
# ctest: a short libFuzzer run of fuzz/fuzz_keras_h5.c (see fuzz_run.sh; fails without clang).
exec bash "$(dirname "$0")/fuzz_run.sh" keras_h5
