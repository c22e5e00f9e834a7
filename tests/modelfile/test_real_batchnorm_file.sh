#!/usr/bin/env bash
# tests/modelfile/test_real_batchnorm_file.sh - a real Keras 3 legacy .h5 file
# with BatchNormalization (../shared/testdata/keras/real, trained by its owner,
# read by an independent reader): catdog's P(dog) for the ten reference photos
# is within 1e-4 of expected_p_dog.tsv with both backends, and its summary
# counts the moving statistics as non-trainable (448 of 110,785).
set -uo pipefail
BIN=${CATDOG_BIN:-build/catdog}
SRC=${CATDOG_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
SHARED=${CATDOG_SHARED:-$SRC/../shared}
REAL=$SHARED/testdata/keras/real
FILE=akshaykumar1828_cats_vs_dogs_model.h5
PHOTOS=$SHARED/data/dogs-vs-cats/train
fail() { echo "FAIL: $*"; exit 1; }
if [ ! -f "$REAL/$FILE" ] || [ ! -f "$PHOTOS/cat.0.jpg" ]; then
    echo "skipped: $REAL/$FILE or the reference photos are absent"
    exit 77
fi

out=$("$BIN" info "$REAL/$FILE") || fail "info: $out"
grep -q '^Total params: 110,785$' <<<"$out" || fail "total: $out"
grep -q '^Non-trainable params: 448$' <<<"$out" || fail "non-trainable: $out"

photos=()
for k in cat dog; do for i in 0 1 2 3 4; do photos+=("$PHOTOS/$k.$i.jpg"); done; done
for backend in dnnl ref; do
    got=$("$BIN" predict --threads 1 --backend "$backend" --preprocess rescale --json \
        --model "$REAL/$FILE" "${photos[@]}") || fail "$backend: predict failed: $got"
    # "file":".../cat.0.jpg" ... "p_dog":P  ->  "cat.0.jpg P"
    sed -E 's/.*"file":"[^"]*\/([^"\/]+)".*"p_dog":([-0-9.e]+).*/\1 \2/' <<<"$got" \
        | awk -v backend="$backend" -v file="$FILE" '
            NR == FNR { if ($1 == file) want[$3] = $4; next }
            { n++; d = $2 - want[$1]; if (d < 0) d = -d
              if (!($1 in want) || d > 1e-4) { print backend ": " $1 " P(dog) " $2 ", expected " want[$1]; bad = 1 }
              if (d > worst) worst = d }
            END { if (n != 10) { print backend ": " n " results, expected 10"; bad = 1 }
                  printf "%s: largest difference %.2g\n", backend, worst; exit bad }' \
            "$REAL/expected_p_dog.tsv" - || fail "$backend differs from the independent reader"
done
echo "ok"
