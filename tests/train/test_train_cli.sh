#!/usr/bin/env bash
# tests/train/test_train_cli.sh - `catdog train` from the command line: usage and
# pre-training errors (exit 2 / 1, messages naming the problem), and Ctrl-C in
# the middle of an epoch (SIGINT, sent on a step line, stops after the current
# step, saves the resume checkpoint, exits 130, and --resume continues that
# epoch from the next step and finishes the run).  Skips (77) when ../shared is absent.
set -u
BIN=${CATDOG_BIN:?CATDOG_BIN not set}
SRC=${CATDOG_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
SHARED=${CATDOG_SHARED:-$SRC/../shared}
fail() { echo "FAIL: $*" >&2; exit 1; }

# usage errors need no data
"$BIN" train --out /tmp/x.h5 >/dev/null 2>&1; [ $? = 2 ] || fail "missing --data should exit 2"
"$BIN" train --data /tmp --out /tmp/x.h5 --optimizer adagrad >/dev/null 2>&1; [ $? = 2 ] || fail "bad optimizer should exit 2"
"$BIN" train --help | grep -q -- "--resume" || fail "help lists --resume"
"$BIN" train --data /tmp --out /tmp/x.h5 --monitor val_f1 >/dev/null 2>&1; [ $? = 2 ] || fail "bad --monitor should exit 2"

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

# oneDNN, the backend catdog trains with: a failing oneDNN training path fails
# this test (no quiet fallback to the reference backend).  96x96, batch 2: 30
# steps per epoch of some 50 ms each, so a Ctrl-C sent at a step lands inside
# the epoch.
common=(--data "$tmp/d" --img-size 96 --batch 2 --backend dnnl --threads 1 --seed 3)

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

# Ctrl-C in the middle of the first epoch: the output goes through a FIFO that
# this script reads line by line, and SIGINT is sent on the first step line
# (printed every 3 steps when not on a terminal), so the signal follows a step
# event, not a guess.  It stops after the current step, saves the checkpoint
# and exits 130 with no epoch completed.
mkfifo "$tmp/out.fifo"
"$BIN" train "${common[@]}" --out "$tmp/m.h5" --epochs 2 >"$tmp/out.fifo" 2>&1 &
pid=$!
exec 3<"$tmp/out.fifo"
sent=0
while IFS= read -r line <&3; do
  printf '%s\n' "$line" >>"$tmp/log"
  case $line in
    "  step "[0-9]*/30" "*) kill -INT "$pid"; sent=1; break ;;
  esac
done
cat <&3 >>"$tmp/log" # the rest, until the trainer exits
exec 3<&-
wait "$pid"; rc=$?
pid=
[ $sent = 1 ] || { cat "$tmp/log"; fail "training printed no step line"; }
[ $rc = 130 ] || { cat "$tmp/log"; fail "SIGINT should exit 130 (got $rc)"; }
grep -q "^Interrupted after 0 complete epochs" "$tmp/log" || { cat "$tmp/log"; fail "SIGINT did not stop inside epoch 1"; }
grep -q "val_loss" "$tmp/log" && { cat "$tmp/log"; fail "an epoch finished although SIGINT came mid-epoch"; }
[ -s "$tmp/m.last.h5" ] || fail "no resume checkpoint after SIGINT"
grep -q "Resume with" "$tmp/log" || fail "no resume hint: $(cat "$tmp/log")"

# --resume finishes the run and writes the model, history and chart
"$BIN" train "${common[@]}" --out "$tmp/m.h5" --epochs 2 --resume "$tmp/m.last.h5" >"$tmp/log2" 2>&1 \
  || { cat "$tmp/log2"; fail "resume failed"; }
# It resumes inside epoch 1, after the step SIGINT followed (3 or later).
k=$(sed -n 's/^Resuming epoch 1 at step \([0-9]*\) .*/\1/p' "$tmp/log2")
[ -n "$k" ] || { cat "$tmp/log2"; fail "resume should continue epoch 1 mid-way"; }
[ "$k" -ge 4 ] && [ "$k" -le 30 ] || fail "resumed at step $k, expected 4..30 (stopped after a step >= 3 of 30)"
echo "# SIGINT stopped epoch 1 after step $((k - 1)) of 30"
[ -s "$tmp/m.h5" ] || fail "no model after resume"
[ "$(wc -l <"$tmp/m.history.csv")" = 3 ] || fail "history should have a header and 2 epochs"
grep -q "<svg" "$tmp/m.svg" || fail "no SVG chart"

# --log-json, --monitor and the cosine warm-up from the command line: one JSON
# object per epoch, equal to the history CSV's rows; two warm-up epochs give
# the rates 1/2 and 2/2 of Adam's 0.001.
"$BIN" train "${common[@]}" --out "$tmp/j.h5" --epochs 2 --monitor val_accuracy --schedule cosine --warmup 2 \
  --log-json "$tmp/j.jsonl" >"$tmp/log3" 2>&1 || { cat "$tmp/log3"; fail "--log-json run failed"; }
/usr/bin/python3 - "$tmp/j.jsonl" "$tmp/j.history.csv" <<'PY' || fail "--log-json lines do not match the history"
import csv, json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
rows = list(csv.DictReader(open(sys.argv[2])))
assert len(lines) == 2 == len(rows), (len(lines), len(rows))
for j, r in zip(lines, rows):
    assert j["epoch"] == int(r["epoch"]) and j["monitor"] == "val_accuracy" and j["phase"] == "train", j
    for k in ("loss", "accuracy", "val_loss", "val_accuracy", "lr"):
        assert abs(j[k] - float(r[k])) <= 1e-5 * (1 + abs(j[k])), (k, j[k], r[k])
assert abs(lines[0]["lr"] - 0.0005) < 1e-9 and abs(lines[1]["lr"] - 0.001) < 1e-9, [l["lr"] for l in lines]
PY
echo "PASS"
