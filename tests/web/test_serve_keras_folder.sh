#!/usr/bin/env bash
# test_serve_keras_folder.sh - `serve` serves every Keras model file in its
# models folder under its file name: the real Keras 3 archives, the Keras 3
# legacy .h5 and the Keras 2 grayscale-logits .h5 of
# ../shared/testdata/keras/real next to binary.h5, each answering
# /api/v1/predict with the P(dog) of expected_p_dog.tsv (1e-4); weights-only
# files and training checkpoints are left alone.  Skips (77) without ../shared.
source "$CATDOG_SOURCE_DIR/tests/web/lib.sh"
REAL="$SHARED/testdata/keras/real"
PHOTOS="$SHARED/data/dogs-vs-cats/train"
[ -f "$REAL/expected_p_dog.tsv" ] && [ -d "$PHOTOS" ] || skip "$REAL or $PHOTOS not found (set CATDOG_SHARED)"
require_tools curl python3

mkdir -p "$WORK/models"
cp "$CATDOG_SOURCE_DIR/models/binary.h5" "$REAL"/*.keras "$REAL"/*.h5 "$WORK/models/"
: >"$WORK/models/junk.weights.h5"   # weights-only: not a model, not served
: >"$WORK/models/binary.last.h5"    # the trainer's checkpoint: not served
start_server --threads 1

req GET /api/v1/models
expect_status 200 "models"
json_check '[m["name"] for m in j["models"]] == ["binary", "Ayush6318_cat_dog_model", "BLANKatGITHUB_base_cat_dog_cnn", "akshaykumar1828_cats_vs_dogs_model", "j_cats_vs_dogs"]' "every model file is served, in name order"
json_check '[m["preprocessing"] for m in j["models"] if m["name"] == "BLANKatGITHUB_base_cat_dog_cnn"] == ["none"]' "the Rescaling model gets raw pixels"
json_check '[m["name"] for m in j["unavailable"]] == ["transfer"]' "only the missing transfer.h5 is off"
ok "five models served from the folder"

# The names the upload form can carry (at most 31 characters) answer as the tsv says.
for name in Ayush6318_cat_dog_model BLANKatGITHUB_base_cat_dog_cnn j_cats_vs_dogs; do
  file=$(ls "$WORK/models" | grep "^$name\.")
  for photo in cat.3.jpg dog.2.jpg; do
    want=$(awk -F'\t' -v f="$file" -v p="$photo" '$1 == f && $3 == p { print $4 }' "$REAL/expected_p_dog.tsv")
    req POST /api/v1/predict -F "inputfile=@$PHOTOS/$photo" -F "model=$name"
    expect_status 200 "$name on $photo"
    json_check "j['model'] == '$name' and abs(j['probabilities']['dog'] - $want) <= 1e-4" "$name on $photo: P(dog) $want"
  done
  ok "$name answers as the independent reader"
done
stop_server
echo "all $N_CHECKS checks passed"
