#!/usr/bin/env bash
# test_transfer_new_backbones.sh - `catdog train --arch transfer --backbone
# mobilenetv2|resnet50|efficientnetb0` runs end to end on a handful of shared photos with a
# weights file the user supplies: a random one in Keras' save_weights layout
# (tests/modelfile/keras_apps_ref.py; no pretrained weights exist here).  One
# tiny epoch at 64x64 (a smoke run: it proves the pipeline, not learning); the
# MobileNetV2 run also fine-tunes its last block.  The shipped file records the
# backbone and its preprocessing ('tf' for MobileNetV2, caffe for ResNet50,
# none for EfficientNetB0, which normalizes inside)
# and predicts with the weights found under Keras' file name in
# $CATDOG_WEIGHTS_DIR; exported and stripped of catdog's attributes, it is
# still recognised and gets that preprocessing.  Without --weights and with the file nowhere, the error
# names the file, where it was looked for and --weights.  Skips (77) without
# ../shared; fails without /usr/bin/python3's h5py and torchvision.
set -euo pipefail
BIN=${CATDOG_BIN:?CATDOG_BIN must point at the catdog binary}
SRC=${CATDOG_SOURCE_DIR:?CATDOG_SOURCE_DIR must point at the source tree}
SHARED=${CATDOG_SHARED:-$SRC/../shared}
PHOTOS=$SHARED/data/dogs-vs-cats/train
fail() { echo "FAIL: $*" >&2; exit 1; }
if [ ! -d "$PHOTOS" ]; then
  echo "SKIP: $PHOTOS not found (set CATDOG_SHARED to the shared folder)"
  exit 77
fi
/usr/bin/python3 -c 'import h5py, torchvision' 2>/dev/null ||
  fail "/usr/bin/python3 with h5py and torchvision not found (scripts/install-deps.sh)"
T=$(mktemp -d /tmp/catdog_tl_backbones.XXXXXX)
trap 'rm -rf "$T"' EXIT

# 6 + 4 + 4 photos of each class, from the end of the numbering.
next=7999
for part in train:6 validation:4 test:4; do
  for cls in cat dog; do
    mkdir -p "$T/data/${part%%:*}/${cls}s"
    for i in $(seq "$next" -1 $((next - ${part##*:} + 1))); do
      ln -s "$PHOTOS/$cls.$i.jpg" "$T/data/${part%%:*}/${cls}s/"
    done
  done
  next=$((next - ${part##*:}))
done

# Random Keras-layout weights, under the names Keras gives its downloads.
mkdir -p "$T/w" "$T/empty" "$T/home" "$T/cwd"
/usr/bin/python3 -c 'import numpy; numpy.zeros((1, 64, 64, 3), numpy.float32).tofile("'"$T"'/x")'
/usr/bin/python3 "$SRC/tests/modelfile/keras_apps_ref.py" \
  mobilenetv2 64 1 "$T/x" 1 "$T/w/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5" "$T/y1" \
  resnet50 64 2 "$T/x" 1 "$T/w/resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5" "$T/y2" \
  efficientnetb0 64 3 "$T/x" 1 "$T/w/efficientnetb0_notop.h5" "$T/y3"

for bb in mobilenetv2:mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5:tf \
          resnet50:resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5:caffe \
          efficientnetb0:efficientnetb0_notop.h5:none; do
  IFS=: read -r name file pre <<<"$bb"
  # No --weights and the file in none of the places searched.
  set +e
  (cd "$T/cwd" && HOME="$T/home" CATDOG_WEIGHTS_DIR="$T/empty" "$BIN" train --arch transfer \
    --backbone "$name" --data "$T/data" --out "$T/$name.h5" --img-size 64 --epochs 1 -q) \
    >/dev/null 2>"$T/err"; rc=$?
  set -e
  [ $rc = 1 ] || fail "$name without weights: exit $rc, expected 1: $(cat "$T/err")"
  for want in "$name weights file $file not found" "$T/empty" "--weights FILE" "include_top=False"; do
    grep -qF -- "$want" "$T/err" || fail "$name without weights: '$want' not in: $(cat "$T/err")"
  done

  extra=()
  [ "$name" = mobilenetv2 ] && extra=(--fine-tune 1 --fine-tune-epochs 1)
  (cd "$T/cwd" && HOME="$T/home" "$BIN" train --arch transfer --backbone "$name" \
    --weights "$T/w/$file" --data "$T/data" --out "$T/$name.h5" --img-size 64 --epochs 1 \
    --batch 4 --threads 2 -q "${extra[@]}") >"$T/out" 2>&1 ||
    fail "$name: train failed: $(cat "$T/out")"
  [ -s "$T/$name.h5" ] || fail "$name: no model written"
  CATDOG_WEIGHTS_DIR="$T/w" "$BIN" info "$T/$name.h5" >"$T/info" 2>&1 ||
    fail "$name: info failed: $(cat "$T/info")"
  grep -q "^Preprocessing: $pre" "$T/info" || fail "$name: preprocessing not $pre: $(cat "$T/info")"
  grep -q "^Architecture: transfer" "$T/info" || fail "$name: $(cat "$T/info")"
  CATDOG_WEIGHTS_DIR="$T/w" "$BIN" predict --json --model "$T/$name.h5" \
    "$PHOTOS/cat.0.jpg" "$PHOTOS/dog.0.jpg" >"$T/pred" 2>&1 ||
    fail "$name: predict failed: $(cat "$T/pred")"
  [ "$(grep -c '"p_dog"' "$T/pred")" = 2 ] || fail "$name: predict gave: $(cat "$T/pred")"
  # Exported as one Keras file and stripped of catdog's attributes (as a
  # Keras user's own transfer model would come): the backbone is recognised by
  # its layer names and its preprocessing chosen.
  CATDOG_WEIGHTS_DIR="$T/w" "$BIN" export --model "$T/$name.h5" --out "$T/$name.full.h5" ||
    fail "$name: export failed"
  /usr/bin/python3 -c 'import h5py, sys
with h5py.File(sys.argv[1], "a") as f:
    for k in [k for k in f.attrs if k.startswith("catdog_")]:
        del f.attrs[k]' "$T/$name.full.h5"
  "$BIN" info "$T/$name.full.h5" >"$T/info" 2>&1 || fail "$name: info failed: $(cat "$T/info")"
  # EfficientNetB0 rescales and normalizes inside: its own Rescaling layer
  # says raw pixels, before any guess from the backbone's names.
  want="^Preprocessing: $pre (not recorded"
  [ "$pre" = none ] && want="^Preprocessing: none (the model has a Rescaling layer"
  grep -q "$want" "$T/info" ||
    fail "$name: Keras file without catdog's attributes: $(grep Preprocessing "$T/info")"
  echo "$name: trained, reloaded with its backbone, predicted, recognised in a plain Keras file"
done

# Fine-tuning from the activation cache (float32) is fine-tuning from the
# photos for every backbone the cut covers: the same losses in every
# fine-tuning epoch (--log-json's 17 digits: equal here; 1e-6 relative
# allowed).  12 train and 8 validation photos in batches of 4: the frozen
# part runs on full batches only, building the cache or not.
for bb in mobilenetv2:mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5:2 \
          resnet50:resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5:2 \
          efficientnetb0:efficientnetb0_notop.h5:3; do
  IFS=: read -r name file blocks <<<"$bb"
  for mode in photos cache; do
    extra=(--no-fine-tune-cache)
    [ $mode = cache ] && extra=(--fine-tune-cache-precision f32)
    "$BIN" train --arch transfer --backbone "$name" --weights "$T/w/$file" --data "$T/data" \
      --out "$T/ft_$mode.h5" --img-size 64 --epochs 1 --batch 4 --threads 2 --augment flip \
      --feature-cache "$T/cache" --fine-tune "$blocks" --fine-tune-epochs 2 \
      --fine-tune-schedule cosine --log-json "$T/ft_$mode.json" -q "${extra[@]}" \
      >"$T/out" 2>&1 || fail "$name: fine-tuning ($mode) failed: $(cat "$T/out")"
  done
  grep -q "activation cache: 32 front passes" "$T/out" ||
    fail "$name: the cache was not built (12 photos and mirrors, 8 validation): $(cat "$T/out")"
  /usr/bin/python3 -c 'import json, sys
rows = [[json.loads(l) for l in open(p) if "\"fine_tune\"" in l] for p in sys.argv[1:3]]
keys = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr")
a, b = ([[r[k] for k in keys] for r in x] for x in rows)
if len(a) != 2 or len(b) != 2:
    sys.exit("%s: %d and %d fine-tuning epochs" % (sys.argv[3], len(a), len(b)))
for x, y in zip(a, b):
    for u, v in zip(x, y):
        if abs(u - v) > 1e-6 * abs(u):
            sys.exit("%s: from the photos %s, from the cache %s" % (sys.argv[3], a, b))
print("equal" if a == b else "within 1e-6")' \
    "$T/ft_photos.json" "$T/ft_cache.json" "$name" >"$T/cmp" || fail "$name: cached fine-tuning differs"
  echo "$name: fine-tuning its last $blocks blocks from the activation cache = from the photos ($(cat "$T/cmp"))"
done
