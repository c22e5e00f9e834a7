#!/usr/bin/env bash
# test_onnx_se_limit.sh - squeeze-and-excitation (EfficientNet, MobileNetV3) is
# a known limit of catdog's ONNX import: PyTorch exports of an SE block, with
# 1x1 Convs (torchvision's SqueezeExcitation) or with Linear layers reshaped to
# (N, C, 1, 1), are refused with one line that names the node, its op type and
# the reason, exit status 1, no crash.
# Skips (77) without Debian's python3-torch / python3-torchvision.
set -euo pipefail
BIN=${CATDOG_BIN:?CATDOG_BIN must point at the catdog binary}
SRC=${CATDOG_SOURCE_DIR:?CATDOG_SOURCE_DIR must point at the source tree}
T=$(mktemp -d /tmp/catdog_onnx_se.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

set +e
/usr/bin/python3 "$SRC/tests/onnx/make_torch_se.py" "$T" >"$T/py.log" 2>&1
rc=$?
set -e
if [ $rc -eq 77 ]; then echo "SKIP: python3-torch / python3-torchvision not installed"; exit 77; fi
[ $rc -eq 0 ] || fail "make_torch_se.py: $(tail -3 "$T/py.log")"

check() {  # model, node, op type, what the line must say
  set +e
  "$BIN" info "$T/$1.onnx" >/dev/null 2>"$T/err"
  local rc=$?
  set -e
  [ $rc -eq 1 ] || fail "$1: exit status $rc, not 1: $(cat "$T/err")"
  [ "$(wc -l <"$T/err")" -eq 1 ] || fail "$1: not one line: $(cat "$T/err")"
  grep -qF "node '$2' ($3)" "$T/err" || fail "$1: node '$2' ($3) not named: $(cat "$T/err")"
  grep -qF "squeeze-and-excitation" "$T/err" || fail "$1: reason not given: $(cat "$T/err")"
  grep -qF "per-photo channel vector" "$T/err" || fail "$1: reason not given: $(cat "$T/err")"
}
check se_conv /2/fc1/Conv Conv
check se_linear /2/Mul Mul
echo "squeeze-and-excitation refused with the node named (Conv and Mul forms)"
