"""keras3_fixture.py - writes Keras 3 .keras archives with h5py + zipfile,
following Keras 3's saving_lib layout exactly, plus a photo and the P(dog) a
NumPy forward pass computes for it.  Used by test_keras3_archive.sh.

The model (functional, Keras 3 config form: {"args": [keras tensors]} nodes,
bare ["name", 0, 0] input/output references):
  input 32x32x3 -> nested Sequential "features" [Conv2D 4 3x3 relu, MaxPooling2D 2]
    -> Conv2D "branch_a" 3 1x1 relu  \\
    -> Conv2D "branch_b" 3 3x3 same relu -> Concatenate "concat"
    -> Add "residual" (concat + Conv2D "branch_c" 6 1x1 relu of concat)
    -> nested Functional "head" [GlobalAveragePooling2D, Dense 5 relu, Dense 2 (softmax | linear)]
Weight groups: layers/<snake_case(class)>[_n]/vars/<i> per model, a nested
model's layers under its own group, as Keras 3's _save_container_state names them.

usage: keras3_fixture.py OUTDIR   (writes softmax.keras, logits.keras, photo.png, expected.tsv,
                                     expected_tf.txt)
       keras3_fixture.py --check-layout FILE.keras   (exit 1 unless its weight groups are
                                                       the ones Keras 3 derives from its config)
"""
import json
import os
import re
import sys
import zipfile

import h5py
import numpy as np
from PIL import Image

rng = np.random.default_rng(7)


def snake(name):  # keras.src.utils.naming.to_snake_case
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    name = re.sub("([a-z])([A-Z])", r"\1_\2", name)
    return name.lower()


def tensor(src, shape):
    return {"class_name": "__keras_tensor__",
            "config": {"shape": shape, "dtype": "float32", "keras_history": [src, 0, 0]}}


def node(*srcs, shapes):
    args = [tensor(s, sh) for s, sh in zip(srcs, shapes)]
    return [{"args": [args] if len(args) > 1 else args, "kwargs": {}}]


def layer(cls, name, cfg, inbound=None):
    e = {"module": "keras.layers", "class_name": cls,
         "config": dict(name=name, trainable=True, dtype={"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": None}, **cfg),
         "registered_name": None}
    if inbound is not None:
        e["name"] = name
        e["inbound_nodes"] = inbound
    return e


def conv(name, filters, k, padding, inbound=None):
    return layer("Conv2D", name, {"filters": filters, "kernel_size": [k, k], "strides": [1, 1], "padding": padding,
                                  "data_format": "channels_last", "dilation_rate": [1, 1], "groups": 1, "activation": "relu",
                                  "use_bias": True}, inbound)


def dense(name, units, act, inbound=None):
    return layer("Dense", name, {"units": units, "activation": act, "use_bias": True}, inbound)


def input_layer(name, shape, functional):
    e = {"module": "keras.layers", "class_name": "InputLayer",
         "config": {"batch_shape": [None] + shape, "dtype": "float32", "sparse": False, "name": name}, "registered_name": None}
    if functional:
        e["name"] = name
        e["inbound_nodes"] = []
    return e


W = {  # weights by layer name, Keras order (kernel HWIO / [in, out], bias)
    "feat_conv": [rng.normal(0, 0.3, (3, 3, 3, 4)), rng.normal(0, 0.1, 4)],
    "branch_a": [rng.normal(0, 0.5, (1, 1, 4, 3)), rng.normal(0, 0.1, 3)],
    "branch_b": [rng.normal(0, 0.3, (3, 3, 4, 3)), rng.normal(0, 0.1, 3)],
    "branch_c": [rng.normal(0, 0.5, (1, 1, 6, 6)), rng.normal(0, 0.1, 6)],
    "head_dense": [rng.normal(0, 0.5, (6, 5)), rng.normal(0, 0.1, 5)],
    "head_out": [rng.normal(0, 0.8, (5, 2)), rng.normal(0, 0.1, 2)],
}
W = {k: [np.asarray(a, np.float32) for a in v] for k, v in W.items()}


def model_config(last_act):
    features = {"module": "keras", "class_name": "Sequential",
                "config": {"name": "features", "trainable": True, "layers": [
                    input_layer("features_in", [32, 32, 3], False),
                    conv("feat_conv", 4, 3, "valid"),
                    layer("MaxPooling2D", "feat_pool", {"pool_size": [2, 2], "padding": "valid", "strides": [2, 2], "data_format": "channels_last"})]},
                "registered_name": None, "name": "features",
                "inbound_nodes": node("input_layer", shapes=[[None, 32, 32, 3]])}
    head = {"module": "keras.src.models.functional", "class_name": "Functional",
            "config": {"name": "head", "trainable": True, "layers": [
                input_layer("head_in", [15, 15, 6], True),
                layer("GlobalAveragePooling2D", "head_gap", {"data_format": "channels_last", "keepdims": False},
                      node("head_in", shapes=[[None, 15, 15, 6]])),
                dense("head_dense", 5, "relu", node("head_gap", shapes=[[None, 6]])),
                dense("head_out", 2, last_act, node("head_dense", shapes=[[None, 5]]))],
                "input_layers": ["head_in", 0, 0], "output_layers": ["head_out", 0, 0]},
            "registered_name": "Functional", "name": "head",
            "inbound_nodes": node("residual", shapes=[[None, 15, 15, 6]])}
    outer = {"module": "keras.src.models.functional", "class_name": "Functional",
             "config": {"name": "outer", "trainable": True, "layers": [
                 input_layer("input_layer", [32, 32, 3], True),
                 features,
                 conv("branch_a", 3, 1, "valid", node("features", shapes=[[None, 15, 15, 4]])),
                 conv("branch_b", 3, 3, "same", node("features", shapes=[[None, 15, 15, 4]])),
                 layer("Concatenate", "concat", {"axis": -1}, node("branch_a", "branch_b", shapes=[[None, 15, 15, 3]] * 2)),
                 conv("branch_c", 6, 1, "valid", node("concat", shapes=[[None, 15, 15, 6]])),
                 layer("Add", "residual", {}, node("concat", "branch_c", shapes=[[None, 15, 15, 6]] * 2)),
                 head],
                 "input_layers": ["input_layer", 0, 0], "output_layers": ["head", 0, 0]},
             "registered_name": "Functional"}
    if last_act == "linear":
        outer["compile_config"] = {"optimizer": "adam", "loss": {
            "module": "keras.losses", "class_name": "SparseCategoricalCrossentropy",
            "config": {"name": "sparse_categorical_crossentropy", "reduction": "sum_over_batch_size", "from_logits": True},
            "registered_name": None}, "metrics": ["accuracy"]}
    return outer


def write_weights(h5, entry, prefix):
    """Keras 3 saving_lib: <prefix>/vars, then layers/<snake(class)>[_n] per layer."""
    h5.require_group(prefix + "vars")
    used = {}
    layers = entry["config"]["layers"]
    if entry["class_name"] == "Sequential":  # Sequential.layers leaves the InputLayer out
        layers = [l for l in layers if l["class_name"] != "InputLayer"]
    for l in layers:
        n = snake(l["class_name"])
        if n in used:
            used[n] += 1
            n = "%s_%d" % (n, used[n])
        else:
            used[n] = 0
        path = prefix + "layers/" + n + "/"
        if l["class_name"] in ("Sequential", "Functional"):
            write_weights(h5, l, path)
            continue
        g = h5.require_group(path + "vars")
        for i, a in enumerate(W.get(l["config"]["name"], [])):
            g.create_dataset(str(i), data=a)


def conv2d(x, k, b, pad):
    kh = k.shape[0]
    if pad == "same" and kh > 1:
        x = np.pad(x, ((kh // 2, kh // 2), (kh // 2, kh // 2), (0, 0)))
    H, Wd = x.shape[0] - kh + 1, x.shape[1] - kh + 1
    y = np.zeros((H, Wd, k.shape[3]), np.float64)
    for i in range(kh):
        for j in range(kh):
            y += np.einsum("hwc,co->hwo", x[i:i + H, j:j + Wd, :], k[i, j])
    return np.maximum(y + b, 0)


def forward(img, last_act, tf_mode=False):
    x = img.astype(np.float64) / 127.5 - 1.0 if tf_mode else img.astype(np.float64) / 255.0
    x = conv2d(x, *W["feat_conv"], "valid")                 # 30x30x4
    x = x.reshape(15, 2, 15, 2, 4).max(axis=(1, 3))         # 15x15x4
    x = np.concatenate([conv2d(x, *W["branch_a"], "valid"), conv2d(x, *W["branch_b"], "same")], axis=-1)
    x = x + conv2d(x, *W["branch_c"], "valid")               # residual Add
    x = x.mean(axis=(0, 1))
    x = np.maximum(x @ W["head_dense"][0] + W["head_dense"][1], 0)
    z = x @ W["head_out"][0] + W["head_out"][1]
    return float(np.exp(z[1]) / np.exp(z).sum())  # softmax, or softmax of the logits


def expected_layout(entry, prefix, out):
    """The vars groups (and their dataset count) Keras 3 derives from a config."""
    out[prefix + "vars"] = 0
    used = {}
    layers = entry["config"]["layers"]
    if entry["class_name"] == "Sequential":
        layers = [l for l in layers if l["class_name"] != "InputLayer"]
    for l in layers:
        cls = "Functional" if l["class_name"] == "Model" else l["class_name"]
        n = snake(cls)
        if n in used:
            used[n] += 1
            n = "%s_%d" % (n, used[n])
        else:
            used[n] = 0
        path = prefix + "layers/" + n + "/"
        if cls in ("Sequential", "Functional"):
            expected_layout(l, path, out)
        else:
            out[path + "vars"] = None  # filled from the file: weights counted below
    return out


def check_layout(path):
    """Exit 1 unless the archive's model.weights.h5 has exactly the groups its
    own config.json implies, each vars group holding datasets 0..n-1."""
    import io
    z = zipfile.ZipFile(path)
    cfg = json.loads(z.read("config.json"))
    want = expected_layout(cfg, "", {})
    h5 = h5py.File(io.BytesIO(z.read("model.weights.h5")), "r")
    got = {}
    # The optimizer's state (Keras writes it after training) is not the model's.
    h5.visititems(lambda n, o: got.__setitem__(n, sorted(o.keys(), key=int))
                  if n.endswith("vars") and not n.startswith("optimizer") else None)
    bad = sorted(set(want) ^ set(got))
    for g, names in got.items():
        if names != [str(i) for i in range(len(names))]:
            bad.append("%s holds %s" % (g, names))
    if bad:
        print("layout differs from Keras 3's for its config:", bad)
        sys.exit(1)
    print("layout ok: %d vars groups" % len(got))
    sys.exit(0)


if sys.argv[1] == "--check-layout":
    check_layout(sys.argv[2])

out = sys.argv[1]
img = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
Image.fromarray(img, "RGB").save(os.path.join(out, "photo.png"))
with open(os.path.join(out, "expected.tsv"), "w") as f:
    for act, fname in (("softmax", "softmax.keras"), ("linear", "logits.keras")):
        cfg = model_config(act)
        wpath = os.path.join(out, fname + ".weights.h5")
        with h5py.File(wpath, "w") as h5:
            write_weights(h5, cfg, "")
        with zipfile.ZipFile(os.path.join(out, fname), "w") as z:
            z.writestr("metadata.json", json.dumps({"keras_version": "3.5.0", "date_saved": "2026-12-02@00:00:00"}))
            z.writestr("config.json", json.dumps(cfg))
            z.write(wpath, "model.weights.h5")
        os.remove(wpath)
        f.write("%s\t%.9f\n" % (fname, forward(img, act)))
with open(os.path.join(out, "expected_tf.txt"), "w") as f:  # --preprocess tf: x / 127.5 - 1
    f.write("%.9f\n" % forward(img, "softmax", tf_mode=True))
