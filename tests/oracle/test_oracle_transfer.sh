#!/usr/bin/env bash
# tests/oracle/test_oracle_transfer.sh - `catdog export` of the shipped transfer
# model (SqueezeNet 1.1 from ../shared/weights composed with models/transfer.h5's
# fire9 and head) writes one Keras file that the independent reader
# (keras_reader.py) runs to catdog's P(dog) on real photos within $TOL: catdog
# predicting from the exported file, and from the shipped head-only file.
source "$(dirname "$0")/lib.sh"

W="$SHARED/weights/squeezenet_weights_tf_dim_ordering_tf_kernels_notop.h5"
[ -f "$W" ] || fail "$W is missing although $SHARED is present"
"$BIN" export --model "$SRC/models/transfer.h5" --weights "$W" --out "$T/transfer_full.h5" >/dev/null ||
  fail "catdog export failed"
oracle "$T/transfer_full.h5" "$T/transfer_full.h5" || fail "exported transfer file: catdog and the reader disagree"
CATDOG_WEIGHTS_DIR="$SHARED/weights" oracle "$SRC/models/transfer.h5" "$T/transfer_full.h5" ||
  fail "shipped transfer.h5 (composed by catdog) and the exported file (read by the reader) disagree"
echo "PASS"
