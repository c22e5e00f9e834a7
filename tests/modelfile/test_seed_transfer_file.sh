#!/usr/bin/env bash
# tests/modelfile/test_seed_transfer_file.sh - a seed-style transferlearning.h5,
# written here with h5py the way Keras 2.2.4's model.save() lays it out (a
# Sequential, in 2.2's bare-list config form, whose first layer is the VGG16
# functional model at 150x150, then Flatten, Dense 256, Dropout, Dense 1;
# variable-length string attributes as h5py 3 writes Python str; Adam's state
# in optimizer_weights for the head only, since the backbone was frozen),
# loads in `catdog info` with Keras' counts: 16,812,353 total, 2,097,665
# trainable, 14,714,688 non-trainable.  Without optimizer state the config
# alone makes everything trainable, as in Keras.  Fails without h5py/numpy
# (scripts/install-deps.sh installs them).
set -euo pipefail
PY=/usr/bin/python3
if ! [ -x "$PY" ] || ! "$PY" -c 'import h5py, numpy' 2>/dev/null; then
  echo "FAIL: python3-h5py / python3-numpy not installed (run scripts/install-deps.sh)" >&2
  exit 1
fi
BIN=${CATDOG_BIN:-build/catdog}
tmp=$(mktemp -d /tmp/catdog-mf-seed-XXXXXX)
trap 'rm -rf "$tmp"' EXIT

"$PY" - "$tmp" <<'PYEOF'
import json, sys
import h5py, numpy as np

out = sys.argv[1]
rng = np.random.default_rng(1)

def conv(name, filters, inbound):
    return {"name": name, "class_name": "Conv2D", "config": {
        "name": name, "trainable": True, "filters": filters, "kernel_size": [3, 3],
        "strides": [1, 1], "padding": "same", "data_format": "channels_last",
        "dilation_rate": [1, 1], "activation": "relu", "use_bias": True},
        "inbound_nodes": [[[inbound, 0, 0, {}]]]}

layers = [{"name": "input_1", "class_name": "InputLayer", "config": {
    "batch_input_shape": [None, 150, 150, 3], "dtype": "float32", "sparse": False,
    "name": "input_1"}, "inbound_nodes": []}]
weights = []  # (layer, kernel shape, filters)
prev, cin = "input_1", 3
for b, (n, f) in enumerate([(2, 64), (2, 128), (3, 256), (3, 512), (3, 512)], 1):
    for c in range(1, n + 1):
        name = "block%d_conv%d" % (b, c)
        layers.append(conv(name, f, prev))
        weights.append((name, (3, 3, cin, f), f))
        prev, cin = name, f
    pool = "block%d_pool" % b
    layers.append({"name": pool, "class_name": "MaxPooling2D", "config": {
        "name": pool, "trainable": True, "pool_size": [2, 2], "padding": "valid",
        "strides": [2, 2], "data_format": "channels_last"},
        "inbound_nodes": [[[prev, 0, 0, {}]]]})
    prev = pool
vgg = {"class_name": "Model", "config": {"name": "vgg16", "layers": layers,
       "input_layers": [["input_1", 0, 0]], "output_layers": [["block5_pool", 0, 0]]}}
seq = {"class_name": "Sequential", "config": [
    vgg,
    {"class_name": "Flatten", "config": {"name": "flatten_1", "trainable": True,
                                         "data_format": "channels_last"}},
    {"class_name": "Dense", "config": {"name": "dense_1", "trainable": True, "units": 256,
                                       "activation": "relu", "use_bias": True}},
    {"class_name": "Dropout", "config": {"name": "dropout_1", "trainable": True, "rate": 0.5}},
    {"class_name": "Dense", "config": {"name": "dense_2", "trainable": True, "units": 1,
                                       "activation": "sigmoid", "use_bias": True}}]}

def rand(shape, scale=0.05):
    return (rng.standard_normal(shape) * scale).astype(np.float32)

def write(path, with_optimizer):
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = "2.2.4"          # variable-length str (h5py 3)
        f.attrs["backend"] = "tensorflow"
        f.attrs["model_config"] = json.dumps(seq)
        g = f.create_group("model_weights")
        g.attrs["layer_names"] = np.array([b"vgg16", b"flatten_1", b"dense_1", b"dropout_1",
                                          b"dense_2"])
        v = g.create_group("vgg16")
        names = []
        for name, kshape, filt in weights:
            for wn, shape in (("kernel", kshape), ("bias", (filt,))):
                wname = "%s/%s:0" % (name, wn)
                v.create_dataset(wname, data=rand(shape))
                names.append(wname.encode())
        v.attrs["weight_names"] = np.array(names)
        head = {"dense_1": ((8192, 256), 256), "dense_2": ((256, 1), 1)}
        for lname in ("flatten_1", "dropout_1"):
            g.create_group(lname).attrs["weight_names"] = np.array([], dtype=np.float64)
        for lname, (kshape, units) in head.items():
            lg = g.create_group(lname)
            lg.create_dataset(lname + "/kernel:0", data=rand(kshape))
            lg.create_dataset(lname + "/bias:0", data=rand((units,)))
            lg.attrs["weight_names"] = np.array([(lname + "/kernel:0").encode(),
                                                 (lname + "/bias:0").encode()])
        if with_optimizer:
            o = f.create_group("optimizer_weights")
            shapes = [(8192, 256), (256,), (256, 1), (1,)]
            onames = [b"Adam/iterations:0"]
            o.create_dataset("Adam/iterations:0", data=np.int64(1300))
            k = 0
            for group in (shapes, shapes, [(1,)] * 4):   # m, v, vhat (unused without amsgrad)
                for shape in group:
                    n = "training/Adam/Variable%s:0" % ("" if k == 0 else "_%d" % k)
                    o.create_dataset(n, data=np.zeros(shape, np.float32))
                    onames.append(n.encode())
                    k += 1
            o.attrs["weight_names"] = np.array(onames)

write(out + "/transferlearning.h5", True)
write(out + "/no_optimizer.h5", False)
PYEOF

fail() { echo "FAIL: $*"; exit 1; }
info=$("$BIN" info "$tmp/transferlearning.h5") || fail "catdog info failed"
echo "$info"
grep -q '^vgg16 (Model)                (None, 4, 4, 512)         14714688' <<<"$info" || fail "no vgg16 (Model) line"
grep -q '^dense_1 (Dense)              (None, 256)               2097408' <<<"$info" || fail "dense_1 line"
grep -q '^Total params: 16,812,353$' <<<"$info" || fail "total"
grep -q '^Trainable params: 2,097,665$' <<<"$info" || fail "trainable"
grep -q '^Non-trainable params: 14,714,688$' <<<"$info" || fail "non-trainable"
grep -qE '^Preprocessing: caffe( |$)' <<<"$info" || fail "preprocessing"
grep -q '^Architecture: transfer$' <<<"$info" || fail "architecture"

info=$("$BIN" info "$tmp/no_optimizer.h5") || fail "catdog info (no optimizer) failed"
grep -q '^Trainable params: 16,812,353$' <<<"$info" || fail "without optimizer state all is trainable"
echo "PASS"
