#!/usr/bin/env bash
# tests/train/test_train_cli.sh - `catdog train` from the command line: usage and
# pre-training errors (exit 2 / 1, messages naming the problem), and Ctrl-C
# (SIGINT stops after the current step, saves the resume checkpoint, exits 130,
# and --resume finishes the run).  Skips (77) when ../shared is absent.
set -u
BIN=${CATDOG_BIN:?CATDOG_BIN not set}
SRC=${CATDOG_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
SHARED=${CATDOG_SHARED:-$SRC/../shared}
fail() { echo "FAIL: $*" >&2; exit 1; }

# usage errors need no data
"$BIN" train --out /tmp/x.h5 >/dev/null 2>&1; [ $? = 2 ] || fail "missing --data should exit 2"
"$BIN" train --data /tmp --out /tmp/x.h5 --optimizer adagrad >/dev/null 2>&1; [ $? = 2 ] || fail "bad optimizer should exit 2"
"$BIN" train --help | grep -q -- "--resume" || fail "help lists --resume"

if [ ! -f "$SHARED/README.md" ]; then
  echo "SKIP: ../shared not found (set CATDOG_SHARED to the shared folder)"
  exit 77
fi
tmp=$(mktemp -d /tmp/catdog-train-cli.XXXXXX)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
for c in cat dog; do
  mkdir -p "$tmp/d/train/${c}s" "$tmp/d/validation/${c}s"
  for i in $(seq 0 29); do ln -s "$SHARED/data/dogs-vs-cats/train/$c.$i.jpg" "$tmp/d/train/${c}s/"; done
  for i in $(seq 30 39); do ln -s "$SHARED/data/dogs-vs-cats/train/$c.$i.jpg" "$tmp/d/validation/${c}s/"; done
done

# oneDNN when this build has its training path, else the reference backend
backend=dnnl
"$BIN" train --benchmark 1 --img-size 32 --batch 2 >/dev/null 2>&1 || backend=ref
common=(--data "$tmp/d" --img-size 48 --batch 4 --backend "$backend" --threads 1 --seed 3)

# an output that cannot be written fails before training, naming the path
out=$("$BIN" train "${common[@]}" --out /nonexistent-dir/m.h5 --epochs 1 2>&1); rc=$?
[ $rc = 1 ] || fail "unwritable output should exit 1 (got $rc)"
grep -q "/nonexistent-dir/m.h5" <<<"$out" || fail "message should name the path: $out"
grep -q "^Epoch" <<<"$out" && fail "no epoch should start: $out"

# an empty class folder is named
mkdir -p "$tmp/e/train/cats" "$tmp/e/train/dogs" "$tmp/e/validation/cats" "$tmp/e/validation/dogs"
cp "$tmp/d/train/dogs/dog.0.jpg" "$tmp/e/train/dogs/"
out=$("$BIN" train --data "$tmp/e" --out "$tmp/e.h5" --img-size 48 2>&1); rc=$?
[ $rc = 1 ] || fail "empty class folder should exit 1 (got $rc)"
grep -q "cats" <<<"$out" || fail "message should name the empty folder: $out"

# Ctrl-C: stops after the current step, saves the checkpoint, exits 130
"$BIN" train "${common[@]}" --out "$tmp/m.h5" --epochs 2 >"$tmp/log" 2>&1 &
pid=$!
for _ in $(seq 1 600); do
  grep -q "step" "$tmp/log" 2>/dev/null && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
kill -INT "$pid"
wait "$pid"; rc=$?
pid=
[ $rc = 130 ] || { cat "$tmp/log"; fail "SIGINT should exit 130 (got $rc)"; }
[ -s "$tmp/m.last.h5" ] || fail "no resume checkpoint after SIGINT"
grep -q "Resume with" "$tmp/log" || fail "no resume hint: $(cat "$tmp/log")"

# --resume finishes the run and writes the model, history and chart
"$BIN" train "${common[@]}" --out "$tmp/m.h5" --epochs 2 --resume "$tmp/m.last.h5" >"$tmp/log2" 2>&1 \
  || { cat "$tmp/log2"; fail "resume failed"; }
grep -q "Resuming" "$tmp/log2" || fail "resume not announced"
[ -s "$tmp/m.h5" ] || fail "no model after resume"
[ "$(wc -l <"$tmp/m.history.csv")" = 3 ] || fail "history should have a header and 2 epochs"
grep -q "<svg" "$tmp/m.svg" || fail "no SVG chart"
echo "PASS"
