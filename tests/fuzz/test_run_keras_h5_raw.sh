#!/usr/bin/env bash
# ctest: a short libFuzzer run of fuzz/fuzz_keras_h5_raw.c (see fuzz_run.sh; fails without clang).
# This harness runs libFuzzer in fork mode (fuzz/keras_h5_raw.options), whose jobs are sliced by
# time, so it cannot replay a fixed sequence as the other smoke runs do: it runs 20 s, and fails
# only on a crash blamed on catdog's code (fuzz_run.sh's triage), never on libhdf5's own finds.
CATDOG_FUZZ_SECONDS=${CATDOG_FUZZ_SECONDS:-20} exec bash "$(dirname "$0")/fuzz_run.sh" keras_h5_raw
