#!/usr/bin/env bash
# tests/oracle/test_oracle_binary.sh - the shipped models/binary.h5, read by the
# independent reader (keras_reader.py: h5py + PyTorch, photos prepared with
# Pillow), gives catdog's P(dog) on real photos within $TOL (a large one
# decoded at reduced scale among them); and the reader can
# see a fault: the same file with one conv kernel transposed (a writer that
# swapped the kernel's H and W axes) must disagree with catdog's predictions
# from the intact file.
source "$(dirname "$0")/lib.sh"

# Plus a 3000x2000 JPEG made here from a real photo: catdog decodes it at 1/4
# DCT scale (IMAGE_DECODE_HINT), the reader through Pillow's draft().  (Decoded
# at full scale instead, its P(dog) moves by 6.6e-5: the check can tell.)
"$PY" "$ORACLE/large_photo.py" "$SHARED/data/dogs-vs-cats/train/dog.1.jpg" "$T/large.jpg" 3000 2000 ||
  fail "cannot make the large photo"
PHOTOS+=("$T/large.jpg")

oracle "$SRC/models/binary.h5" "$SRC/models/binary.h5" || fail "binary.h5: catdog and the reader disagree"

# The mutation, in a scratch copy: conv2d_2's 3x3x32x32 kernel with its two
# spatial axes swapped (same shape, same sum, same parameter count).
cp "$SRC/models/binary.h5" "$T/mutated.h5"
"$PY" - "$T/mutated.h5" <<'PY'
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "r+") as f:
    d = f["model_weights/conv2d_2/conv2d_2/kernel:0"]
    k = d[()]
    t = np.ascontiguousarray(k.transpose(1, 0, 2, 3))
    assert t.shape == k.shape and not np.array_equal(t, k)
    d[...] = t
PY
oracle "$SRC/models/binary.h5" "$T/mutated.h5" --disagree ||
  fail "the reader did not catch a transposed conv kernel"
echo "PASS"
