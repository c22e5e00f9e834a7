#!/usr/bin/env bash
# tests/oracle/test_oracle_trained.sh - a model written by `catdog train` (the
# binary CNN at 48x48, one short epoch on 40 real photos, oneDNN backend; a
# failing oneDNN training path is a failure here, not a reason to fall back)
# is read by the independent reader (keras_reader.py) to catdog's P(dog) on
# real photos within $TOL.
source "$(dirname "$0")/lib.sh"

for c in cat dog; do
  mkdir -p "$T/d/train/${c}s" "$T/d/validation/${c}s"
  for i in $(seq 100 119); do ln -s "$SHARED/data/dogs-vs-cats/train/$c.$i.jpg" "$T/d/train/${c}s/"; done
  for i in $(seq 120 123); do ln -s "$SHARED/data/dogs-vs-cats/train/$c.$i.jpg" "$T/d/validation/${c}s/"; done
done
"$BIN" train --arch binary --data "$T/d" --out "$T/trained.h5" --img-size 48 --epochs 1 --batch 8 \
  --seed 5 --threads 1 --backend dnnl >"$T/train.log" 2>&1 ||
  { tail -n 20 "$T/train.log" >&2; fail "catdog train (oneDNN) failed"; }
[ -s "$T/trained.h5" ] || fail "catdog train wrote no model"
oracle "$T/trained.h5" "$T/trained.h5" || fail "trained model: catdog and the reader disagree"
echo "PASS"
