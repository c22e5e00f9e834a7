#!/usr/bin/env bash
# tests/train/test_train_recipe_cli.sh - the training-recipe options of
# `catdog train` end to end, on a tiny split of real photos (8 + 4 + 4 a class,
# 48 px): bad values are usage errors (exit 2) and refused combinations fail
# before training (exit 1) with a message naming the option; --label-smoothing
# and --mixup say so at the start and in every --log-json line; --augment's
# crop and colour jitter change what is trained on; the same seed with
# --mixup --cutmix gives the same run; --ema resumed from its checkpoint
# continues exactly as the uninterrupted run, and its checkpoint refuses a
# resume without --ema; --final trains on train/ + validation/ with no
# validation (null val_* in the JSON), prints its one test/ line, and the
# stored model loads in `catdog evaluate` and `catdog predict` with the same
# test figures.  A few seconds.  Skips (77) when ../shared is absent.
set -u
BIN=${CATDOG_BIN:?CATDOG_BIN not set}
SRC=${CATDOG_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
SHARED=${CATDOG_SHARED:-$SRC/../shared}
PY=/usr/bin/python3
fail() { echo "FAIL: $*" >&2; exit 1; }

# usage errors need no data: exit 2, naming the option
usage_error() {
  local out rc
  out=$("$BIN" train --data /tmp --out /tmp/x.h5 "$@" 2>&1); rc=$?
  [ $rc = 2 ] || fail "$* should be a usage error (exit 2), got $rc: $out"
  grep -q -- "$1" <<<"$out" || fail "the message should name $1: $out"
}
usage_error --mixup 0
usage_error --mixup abc
usage_error --cutmix -1
usage_error --label-smoothing 1
usage_error --ema 1
usage_error --augment hue=0.7
"$BIN" train --help | grep -q -- "--cutmix ALPHA" || fail "help lists --cutmix"

if [ ! -f "$SHARED/README.md" ]; then
  echo "SKIP: ../shared not found (set CATDOG_SHARED to the shared folder)"
  exit 77
fi
tmp=$(mktemp -d /tmp/catdog-train-recipe.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
for c in cat dog; do
  mkdir -p "$tmp/d/train/${c}s" "$tmp/d/validation/${c}s" "$tmp/d/test/${c}s"
  for i in $(seq 0 7); do ln -s "$SHARED/data/dogs-vs-cats/train/$c.$i.jpg" "$tmp/d/train/${c}s/"; done
  for i in $(seq 8 11); do ln -s "$SHARED/data/dogs-vs-cats/train/$c.$i.jpg" "$tmp/d/validation/${c}s/"; done
  for i in $(seq 12 15); do ln -s "$SHARED/data/dogs-vs-cats/train/$c.$i.jpg" "$tmp/d/test/${c}s/"; done
done
common=(--data "$tmp/d" --img-size 48 --batch 4 --threads 1 --backend dnnl --seed 5 -q)
run() { # run NAME ARGS...: trains into $tmp/NAME.h5, log in $tmp/NAME.log, JSON lines in $tmp/NAME.json
  local name=$1; shift
  "$BIN" train "${common[@]}" --out "$tmp/$name.h5" --log-json "$tmp/$name.json" "$@" >"$tmp/$name.log" 2>&1
}

# refused combinations: exit 1 before any epoch, the message naming the cause
refused() { # refused PATTERN ARGS...
  local pat=$1 rc; shift
  "$BIN" train "${common[@]}" --out "$tmp/refused.h5" "$@" >"$tmp/refused.log" 2>&1; rc=$?
  [ $rc = 1 ] || { cat "$tmp/refused.log"; fail "$* should be refused (exit 1), got $rc"; }
  grep -q -- "$pat" "$tmp/refused.log" || { cat "$tmp/refused.log"; fail "$*: the message should say '$pat'"; }
  grep -q "^Epoch" "$tmp/refused.log" && fail "$*: no epoch should start"
  return 0
}
refused "--final trains without validation" --final --schedule plateau
refused "--final trains without validation" --final --early-stopping 2
refused "--final trains without validation" --final --monitor val_accuracy
refused "--mixup/--cutmix are not available with --arch transfer" --arch transfer --mixup 0.2
refused "--final is not available with --arch transfer" --arch transfer --final

# --label-smoothing, --mixup and the crop/colour augmentation together: both
# said at the start, both in every JSON line, which has the fields tools read
run ls --epochs 2 --label-smoothing 0.1 --mixup 0.2 --augment flip,crop=0.6,contrast=0.2,saturation=0.2,hue=0.05 \
  || { cat "$tmp/ls.log"; fail "--label-smoothing --mixup --augment"; }
grep -q "label-smoothed targets (0.1)" "$tmp/ls.log" || { cat "$tmp/ls.log"; fail "no label-smoothing line"; }
grep -q "mixed in pairs (mixup)" "$tmp/ls.log" || { cat "$tmp/ls.log"; fail "no mixup line"; }
$PY - "$tmp/ls.json" <<'PY' || fail "--log-json lines of the smoothed, mixed run"
import json, math, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert [r["epoch"] for r in rows] == [1, 2], rows
for r in rows:
    for k in ("phase", "loss", "accuracy", "val_loss", "val_accuracy", "val_auc", "val_seconds", "lr", "next_lr",
              "seconds", "improved", "monitor", "label_smoothing", "mixup", "cutmix"):
        assert k in r, k
    assert abs(r["label_smoothing"] - 0.1) < 1e-7 and abs(r["mixup"] - 0.2) < 1e-7 and r["cutmix"] == 0, r
    assert math.isfinite(r["loss"]) and 0 <= r["accuracy"] <= 1 and math.isfinite(r["val_loss"]), r
PY

# --augment crop and colour change the photos trained on: another training loss
run plain --epochs 1 || { cat "$tmp/plain.log"; fail "plain run"; }
run aug --epochs 1 --augment crop=0.6,contrast=0.3,saturation=0.3,hue=0.1 || { cat "$tmp/aug.log"; fail "--augment run"; }
$PY - "$tmp/plain.json" "$tmp/aug.json" <<'PY' || fail "--augment crop/colour left the training loss unchanged"
import json, sys
a, b = (json.loads(open(p).readline()) for p in sys.argv[1:])
assert a["loss"] != b["loss"], (a["loss"], b["loss"])
PY

# the same seed with --mixup --cutmix: the same run, epoch by epoch
run mixa --epochs 2 --mixup 0.4 --cutmix 1.0 || { cat "$tmp/mixa.log"; fail "--mixup --cutmix"; }
run mixb --epochs 2 --mixup 0.4 --cutmix 1.0 || { cat "$tmp/mixb.log"; fail "--mixup --cutmix again"; }
grep -q "mixed in pairs (mixup or cutmix)" "$tmp/mixa.log" || { cat "$tmp/mixa.log"; fail "no mix line"; }
$PY - "$tmp/mixa.json" "$tmp/mixb.json" "$tmp/plain.json" <<'PY' || fail "--mixup --cutmix runs with one seed differ"
import json, sys
a, b, p = ([json.loads(l) for l in open(f)] for f in sys.argv[1:])
strip = lambda r: {k: v for k, v in r.items() if "seconds" not in k}
assert [strip(r) for r in a] == [strip(r) for r in b], (a, b)
assert a[0]["loss"] != p[0]["loss"]  # and mixing changed what was trained on
PY

# --ema: 1 epoch, then --resume to 2, equals 2 epochs in one go (the average
# and the trained weights beside it); resuming without --ema is refused
run ema --epochs 2 --ema 0.9 || { cat "$tmp/ema.log"; fail "--ema"; }
run emr --epochs 1 --ema 0.9 || { cat "$tmp/emr.log"; fail "--ema 1 epoch"; }
"$BIN" train "${common[@]}" --out "$tmp/emr.h5" --epochs 2 --resume "$tmp/emr.last.h5" >"$tmp/noema.log" 2>&1 \
  && fail "a --ema checkpoint resumed without --ema should be refused"
grep -q -- "resume it with --ema" "$tmp/noema.log" || { cat "$tmp/noema.log"; fail "the refusal should ask for --ema"; }
run emr --epochs 2 --ema 0.9 --resume "$tmp/emr.last.h5" || { cat "$tmp/emr.log"; fail "--ema --resume"; }
grep -q "Resuming after epoch 1" "$tmp/emr.log" || { cat "$tmp/emr.log"; fail "no resume line"; }
$PY - "$tmp/ema" "$tmp/emr" <<'PY' || fail "--ema resumed differs from the uninterrupted run"
import json, sys
import h5py, numpy as np
def groups(path):
    out = {}
    with h5py.File(path, "r") as f:
        for g in ("model_weights", "catdog_trained_weights"):
            f[g].visititems(lambda n, o: out.__setitem__(g + "/" + n, o[()]) if isinstance(o, h5py.Dataset) else None)
    return out
a, b = groups(sys.argv[1] + ".last.h5"), groups(sys.argv[2] + ".last.h5")
assert a.keys() == b.keys() and any(k.startswith("catdog_trained_weights/") for k in a), sorted(a)
for k in a:
    assert np.array_equal(a[k], b[k]), k
# the average is not the trained weights (the groups name layers differently: compare their sums)
total = lambda g: sum(float(np.abs(v.astype(float)).sum()) for k, v in a.items() if k.startswith(g))
assert total("model_weights/") != total("catdog_trained_weights/")
ra, rb = ([json.loads(l) for l in open(s + ".json")] for s in sys.argv[1:])
assert [r["epoch"] for r in rb] == [1, 2], rb  # the resumed run appended its epoch
assert abs(ra[1]["val_loss"] - rb[1]["val_loss"]) < 1e-6, (ra[1], rb[1])
PY

# --final: train/ + validation/ (24 photos: 6 steps), no validation, the last
# epoch kept; one test/ line, reproduced by `catdog evaluate` on the stored file
run final --epochs 2 --final --cutmix 1.0 || { cat "$tmp/final.log"; fail "--final"; }
grep -q "^Found 24 training, 0 validation and 8 test images; 6 steps per epoch" "$tmp/final.log" \
  || { cat "$tmp/final.log"; fail "--final should train on train/ + validation/"; }
grep -q "^Final model: epoch 2 of train/ + validation/" "$tmp/final.log" || { cat "$tmp/final.log"; fail "no final line"; }
[ "$(grep -c '^Test: 8 images' "$tmp/final.log")" = 1 ] || { cat "$tmp/final.log"; fail "one test/ evaluation line"; }
$PY - "$tmp/final.json" <<'PY' || fail "--final's JSON lines"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert [r["epoch"] for r in rows] == [1, 2] and all(r["improved"] for r in rows), rows
assert all(r["val_loss"] is None and r["val_accuracy"] is None for r in rows), rows
PY
"$BIN" evaluate --model "$tmp/final.h5" --data "$tmp/d/test" --threads 1 >"$tmp/eval.log" 2>&1 \
  || { cat "$tmp/eval.log"; fail "catdog evaluate on the --final model"; }
$PY - "$tmp/final.log" "$tmp/eval.log" <<'PY' || fail "evaluate does not reproduce --final's test line"
import re, sys
t = open(sys.argv[1]).read()
e = open(sys.argv[2]).read()
m = re.search(r"^Test: 8 images - loss: ([0-9.]+) - accuracy: ([0-9.]+) - AUC: ([0-9.]+)", t, re.M)
assert m, t
acc = re.search(r"^accuracy:\s+([0-9.]+)", e, re.M).group(1)
auc = re.search(r"^roc auc:\s+([0-9.]+)", e, re.M).group(1)
ll = re.search(r"^log loss:\s+([0-9.]+)", e, re.M).group(1)
assert (m.group(2), m.group(3)) == (acc, auc), (m.groups(), acc, auc)
assert abs(float(m.group(1)) - float(ll)) <= 2e-4, (m.group(1), ll)
PY
out=$("$BIN" predict --model "$tmp/final.h5" --threads 1 "$tmp/d/test/dogs/dog.12.jpg" 2>&1) \
  || fail "predict with the --final model: $out"
grep -Eq "dog\.12\.jpg: (cat|dog) \(p_dog=0\.[0-9]+" <<<"$out" || fail "predict output: $out"
echo "PASS"
