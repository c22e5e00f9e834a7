"""keras_prep_fixture.py - a model with Keras' preprocessing layers and a
SeparableConv2D, written with h5py (+ zipfile) the way Keras saves it, and the
P(dog) a NumPy forward pass computes for a photo.  Used by
test_keras_prep_layers.sh.

The model (raw 0-255 pixels in, as a Normalization layer means):
  input 40x36x3 -> Normalization (adapted: mean, variance, count)
    -> Rescaling (per-channel lists: EfficientNet's 1 / sqrt(stddev) scales, offsets)
    -> Resizing 30x27 bilinear -> SeparableConv2D 4 filters, 3x3, depth_multiplier 2,
       strides 2, same, relu -> CenterCrop 11x9 -> Resizing 6x5 nearest
    -> GlobalAveragePooling2D -> Dense 1 sigmoid
Files: prep.keras (Keras 3 archive: config.json, metadata.json, model.weights.h5 with
groups by class + counter, count an int32 scalar as Keras 3's "int" variable) and
prep.h5 (Keras 2 HDF5: model_config, model_weights/<layer>/<layer>/<weight>:0, count an
int64 scalar as tf.keras 2's).

The NumPy pass follows the Keras documentation's definitions, not catdog's code:
  Normalization: (x - mean) / max(sqrt(variance), epsilon), epsilon = 1e-7;
  Rescaling: x * scale[c] + offset[c], the lists' values as float32;
  Resizing: tf.image.resize without antialiasing (half-pixel centres: bilinear reads
    s = (i + 0.5) * in / out - 0.5 between floor(s) and ceil(s) clamped to the image;
    nearest reads min(floor((i + 0.5) * in / out), in - 1));
  SeparableConv2D: a depthwise convolution (channel c's filters c * multiplier + m)
    then a 1x1 convolution, bias, activation; TensorFlow's 'same' padding;
  CenterCrop: rows from (in_h - h) // 2, columns from (in_w - w) // 2.

usage: keras_prep_fixture.py OUTDIR   (writes prep.keras, prep.h5, photo.png, expected.txt)
"""
import json
import math
import os
import sys
import zipfile

import h5py
import numpy as np
from PIL import Image

rng = np.random.default_rng(11)
H, Wd = 40, 36
MEAN = np.asarray([120.0, 110.0, 100.0], np.float32) + rng.normal(0, 5, 3).astype(np.float32)
VAR = np.asarray([3000.0, 2500.0, 0.0], np.float32)  # channel 2: sqrt(0) < epsilon
DK = rng.normal(0, 0.4, (3, 3, 3, 2)).astype(np.float32)
PK = rng.normal(0, 0.4, (1, 1, 6, 4)).astype(np.float32)
PB = rng.normal(0, 0.1, 4).astype(np.float32)
DENSE_K = rng.normal(0, 0.8, (4, 1)).astype(np.float32)
DENSE_B = np.asarray([0.05], np.float32)
RESC_SCALE = [1.0 / math.sqrt(s) for s in (0.229, 0.224, 0.225)]  # Keras' EfficientNet
RESC_OFFSET = [0.25, -0.5, 0.0]


def norm_cfg(name):
    return {"name": name, "axis": -1, "mean": None, "variance": None, "invert": False}


def layer_cfgs():
    """(class, config) of every layer after the input, Keras' keys."""
    return [
        ("Normalization", norm_cfg("norm")),
        ("Rescaling", {"name": "rescaling_1", "scale": RESC_SCALE, "offset": RESC_OFFSET}),
        ("Resizing", {"name": "resize", "height": 30, "width": 27, "interpolation": "bilinear",
                      "crop_to_aspect_ratio": False}),
        ("SeparableConv2D", {"name": "sep", "filters": 4, "kernel_size": [3, 3], "strides": [2, 2],
                             "padding": "same", "data_format": "channels_last", "dilation_rate": [1, 1],
                             "depth_multiplier": 2, "activation": "relu", "use_bias": True}),
        ("CenterCrop", {"name": "crop", "height": 11, "width": 9}),
        ("Resizing", {"name": "near", "height": 6, "width": 5, "interpolation": "nearest",
                      "crop_to_aspect_ratio": False}),
        ("GlobalAveragePooling2D", {"name": "gap", "data_format": "channels_last"}),
        ("Dense", {"name": "out", "units": 1, "activation": "sigmoid", "use_bias": True}),
    ]


WEIGHTS = {  # Keras' order per layer
    "norm": [("mean", MEAN), ("variance", VAR), ("count", None)],
    "sep": [("depthwise_kernel", DK), ("pointwise_kernel", PK), ("bias", PB)],
    "out": [("kernel", DENSE_K), ("bias", DENSE_B)],
}


def snake(cls):
    import re
    cls = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", cls)
    return re.sub("([a-z])([A-Z])", r"\1_\2", cls).lower()


def write_keras3(path):
    layers = [{"module": "keras.layers", "class_name": "InputLayer",
               "config": {"batch_shape": [None, H, Wd, 3], "dtype": "float32", "name": "input"}}]
    for cls, c in layer_cfgs():
        layers.append({"module": "keras.layers", "class_name": cls, "config": dict(c, trainable=True),
                       "registered_name": None})
    cfg = {"module": "keras", "class_name": "Sequential", "registered_name": None,
           "config": {"name": "prep", "trainable": True, "layers": layers}}
    wpath = path + ".weights.h5"
    with h5py.File(wpath, "w") as h5:
        h5.require_group("vars")
        used = {}
        for cls, c in layer_cfgs():
            n = snake(cls)
            used[n] = used.get(n, -1) + 1
            if used[n]:
                n = "%s_%d" % (n, used[n])
            g = h5.require_group("layers/%s/vars" % n)
            for i, (leaf, a) in enumerate(WEIGHTS.get(c["name"], [])):
                if leaf == "count":  # Keras 3: an "int" scalar variable
                    g.create_dataset(str(i), data=np.int32(1234))
                else:
                    g.create_dataset(str(i), data=a)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("metadata.json", json.dumps({"keras_version": "3.5.0", "date_saved": "2026-12-02@00:00:00"}))
        z.writestr("config.json", json.dumps(cfg))
        z.write(wpath, "model.weights.h5")
    os.remove(wpath)


def write_keras2(path):
    layers = []
    for k, (cls, c) in enumerate(layer_cfgs()):
        c = dict(c, trainable=True, dtype="float32")
        if k == 0:
            c["batch_input_shape"] = [None, H, Wd, 3]
        layers.append({"class_name": cls, "config": c})
    cfg = {"class_name": "Sequential", "config": {"name": "prep", "layers": layers}}
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = "2.15.0"
        f.attrs["backend"] = "tensorflow"
        f.attrs["model_config"] = json.dumps(cfg)
        g = f.create_group("model_weights")
        names = [c["name"] for _, c in layer_cfgs()]
        g.attrs["layer_names"] = np.asarray([n.encode() for n in names])
        for n in names:
            lg = g.create_group(n)
            ws = WEIGHTS.get(n, [])
            lg.attrs["weight_names"] = np.asarray(["%s/%s:0" % (n, leaf) for leaf, _ in ws], dtype="S")
            for leaf, a in ws:
                if leaf == "count":  # tf.keras 2: an int64 scalar
                    lg.create_dataset("%s/%s:0" % (n, leaf), data=np.int64(1234))
                else:
                    lg.create_dataset("%s/%s:0" % (n, leaf), data=a)


# ---- the NumPy forward pass (float64) --------------------------------------

def resize(x, oh, ow, nearest):
    ih, iw = x.shape[:2]

    def taps(n_in, n_out):
        scale = np.float32(n_in) / np.float32(n_out)
        out = []
        for i in range(n_out):
            if nearest:
                k = min(int(math.floor((i + 0.5) * scale)), n_in - 1)
                out.append((k, k, 0.0))
            else:
                s = (i + 0.5) * scale - 0.5
                lo, hi = max(int(math.floor(s)), 0), min(int(math.ceil(s)), n_in - 1)
                out.append((lo, hi, s - math.floor(s)))
        return out

    ty, tx = taps(ih, oh), taps(iw, ow)
    y = np.zeros((oh, ow, x.shape[2]))
    for i, (y0, y1, wy) in enumerate(ty):
        for j, (x0, x1, wx) in enumerate(tx):
            top = x[y0, x0] * (1 - wx) + x[y0, x1] * wx
            bot = x[y1, x0] * (1 - wx) + x[y1, x1] * wx
            y[i, j] = top * (1 - wy) + bot * wy
    return y


def same_pads(n, k, s):
    out = -(-n // s)
    total = max((out - 1) * s + k - n, 0)
    return total // 2, total - total // 2, out


def separable(x):
    kh, kw, C, mult = DK.shape
    pt, pb, oh = same_pads(x.shape[0], kh, 2)
    pl, pr, ow = same_pads(x.shape[1], kw, 2)
    xp = np.pad(x, ((pt, pb), (pl, pr), (0, 0)))
    t = np.zeros((oh, ow, C * mult))
    for i in range(oh):
        for j in range(ow):
            win = xp[2 * i:2 * i + kh, 2 * j:2 * j + kw, :]  # kh, kw, C
            for c in range(C):
                for m in range(mult):
                    t[i, j, c * mult + m] = np.sum(win[:, :, c] * DK[:, :, c, m])
    y = t @ PK[0, 0].astype(np.float64) + PB
    return np.maximum(y, 0)


def forward(img):
    x = img.astype(np.float64)
    x = (x - MEAN) / np.maximum(np.sqrt(VAR.astype(np.float64)), 1e-7)
    x = (x * np.asarray(RESC_SCALE, np.float32).astype(np.float64)
         + np.asarray(RESC_OFFSET, np.float32).astype(np.float64))
    x = resize(x, 30, 27, False)
    x = separable(x)                                   # 15x14x4
    top, left = (x.shape[0] - 11) // 2, (x.shape[1] - 9) // 2
    x = x[top:top + 11, left:left + 9]
    x = resize(x, 6, 5, True)
    z = x.mean(axis=(0, 1)) @ DENSE_K[:, 0] + DENSE_B[0]
    return 1.0 / (1.0 + math.exp(-z))


out = sys.argv[1]
img = rng.integers(0, 256, (H, Wd, 3), dtype=np.uint8)
# channel 2 equal to its mean everywhere: with variance 0 it stays 0 (not 0/0)
img[:, :, 2] = np.uint8(round(float(MEAN[2])))
MEAN[2] = np.float32(img[0, 0, 2])
Image.fromarray(img, "RGB").save(os.path.join(out, "photo.png"))
write_keras3(os.path.join(out, "prep.keras"))
write_keras2(os.path.join(out, "prep.h5"))
with open(os.path.join(out, "expected.txt"), "w") as f:
    f.write("%.9f\n" % forward(img))
