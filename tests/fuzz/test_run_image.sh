#!/usr/bin/env bash
# ctest: a short libFuzzer run of fuzz/fuzz_image.c (see fuzz_run.sh; fails without clang).
exec bash "$(dirname "$0")/fuzz_run.sh" image
