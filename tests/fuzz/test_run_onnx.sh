#!/usr/bin/env bash
# ctest: a short libFuzzer run of fuzz/fuzz_onnx.c (see fuzz_run.sh; skips without clang).
exec bash "$(dirname "$0")/fuzz_run.sh" onnx
