#!/usr/bin/env bash
# test_keras_real_files.sh - the four real Keras files of
# ../shared/testdata/keras/real (Keras 2.4, Keras 3 legacy .h5, two Keras 3
# .keras archives; grayscale input, linear logits output, BatchNormalization,
# a Rescaling layer) give on the ten photos the P(dog) an independent reader
# computed (expected_p_dog.tsv) within 1e-4, with catdog's own choice of
# preprocessing and output rule (no --preprocess given).  Skips (77) only
# without ../shared.
set -euo pipefail
BIN=${CATDOG_BIN:?CATDOG_BIN must point at the catdog binary}
SRC=${CATDOG_SOURCE_DIR:?CATDOG_SOURCE_DIR must point at the source tree}
SHARED=${CATDOG_SHARED:-$SRC/../shared}
REAL="$SHARED/testdata/keras/real"
PHOTOS="$SHARED/data/dogs-vs-cats/train"
if [ ! -f "$REAL/expected_p_dog.tsv" ] || [ ! -d "$PHOTOS" ]; then
  echo "SKIP: $REAL/expected_p_dog.tsv or $PHOTOS not found (set CATDOG_SHARED)"
  exit 77
fi
T=$(mktemp -d /tmp/catdog_keras_real.XXXXXX)
trap 'rm -rf "$T"' EXIT

failed=0
for file in $(tail -n +2 "$REAL/expected_p_dog.tsv" | cut -f1 | sort -u); do
  photos=$(awk -F'\t' -v f="$file" -v d="$PHOTOS" '$1 == f { printf "%s/%s ", d, $3 }' "$REAL/expected_p_dog.tsv")
  # shellcheck disable=SC2086 # one word per photo
  if ! "$BIN" predict --json --threads 1 --model "$REAL/$file" $photos >"$T/out" 2>"$T/err"; then
    echo "FAIL: $file: predict failed: $(cat "$T/err")" >&2
    failed=1
    continue
  fi
  # Compare line by line: expected rows and JSON lines are in the same photo order.
  awk -F'\t' -v f="$file" '$1 == f { print $3 "\t" $4 }' "$REAL/expected_p_dog.tsv" >"$T/want"
  sed -E 's/.*"file":"[^"]*\/([^"/]+)".*"p_dog":([^,]+),.*/\1\t\2/' "$T/out" >"$T/got"
  if ! paste "$T/want" "$T/got" | awk -F'\t' -v f="$file" '
      { d = $2 - $4; if (d < 0) d = -d
        if ($1 != $3 || d > 1e-4) { printf "FAIL: %s %s: P(dog) %s, expected %s\n", f, $1, $4, $2; bad = 1 } }
      END { if (NR != 5 && NR != 10) { print "FAIL: " f ": " NR " results"; bad = 1 } exit bad }' >&2; then
    failed=1
  else
    echo "ok: $file ($(wc -l <"$T/got") photos within 1e-4)"
  fi
done
exit $failed
