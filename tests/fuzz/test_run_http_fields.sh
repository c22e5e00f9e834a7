#!/usr/bin/env bash
# ctest: a short libFuzzer run of fuzz/fuzz_http_fields.c (see fuzz_run.sh; fails without clang).
exec bash "$(dirname "$0")/fuzz_run.sh" http_fields
