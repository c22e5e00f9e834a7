"""keras_reader.py - an independent reader of the Keras 2 .h5 files catdog writes.

The oracle of tests/oracle: it shares no code with catdog.  It reads the file
with h5py the way Keras 2.2.4's load_model does (model_config JSON, then the
weights of every layer from model_weights/<layer>/ in the order its
weight_names attribute lists them), builds the network as PyTorch operations
in float64 (so what it computes is the exact value that catdog's float32
arithmetic approximates), and prepares photos with Pillow as the file says
(catdog_preprocess: rescale = x/255, caffe = BGR minus the ImageNet means;
Image.resize(BILINEAR), which catdog claims to reproduce byte for byte, after
EXIF orientation; a JPEG larger than twice the input decoded at libjpeg's
reduced DCT scale through Image.draft(), as catdog's IMAGE_DECODE_HINT does).

Only the Keras layer classes catdog can write are understood; anything else is
an error, never a guess.  Used as a module by oracle_check.py and the C tests
(tests/modelfile/test_keras_roundtrip.c), or from the command line:

    keras_reader.py predict MODEL.h5 PHOTO...   one JSON line per photo: p_dog
    keras_reader.py forward MODEL.h5 IN.f32 N OUT.f32
        runs N NHWC float32 inputs (raw file) and writes the outputs (float32)
"""
import json
import math
import sys

import h5py
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps

DTYPE = torch.float64


def _str(v):
    return v.decode() if isinstance(v, bytes) else str(v)


def _pair(v):
    return (int(v[0]), int(v[1])) if isinstance(v, (list, tuple)) else (int(v), int(v))


class ReaderError(Exception):
    pass


# ---- weights ---------------------------------------------------------------

def _layer_weights(group):
    """The arrays of one model_weights/<layer> group, in weight_names order,
    as (name, array) pairs.  Keras joins long attribute lists as name0, name1."""
    if "weight_names" in group.attrs:
        names = list(group.attrs["weight_names"])
    else:
        names, k = [], 0
        while "weight_names%d" % k in group.attrs:
            names += list(group.attrs["weight_names%d" % k])
            k += 1
    out = []
    for n in names:
        n = _str(n)
        d = group[n]
        if d.dtype != np.float32 and not (d.shape == () and d.dtype == np.int64):
            # (an int64 scalar: Normalization's count, as tf.keras 2 keeps it)
            raise ReaderError("weight %s is %s, not float32" % (n, d.dtype))
        out.append((n, np.asarray(d[()])))
    return out


def _split_weight_name(name):
    """'fire9/squeeze1x1/kernel:0' -> ('fire9/squeeze1x1', 'kernel')."""
    owner, leaf = name.rsplit("/", 1)
    return owner, leaf.split(":")[0]


# ---- the graph -------------------------------------------------------------

WEIGHTED = ("Conv2D", "Convolution2D", "Dense", "DepthwiseConv2D", "PReLU", "SeparableConv2D",
            "Normalization")
# weights Keras never trains (its non_trainable_weights, listed after the trainable ones)
FROZEN_CLASSES = ("Normalization",)


def _kernel_name(cls):
    return "depthwise_kernel" if cls == "DepthwiseConv2D" else "kernel"


def _leaves(lc):
    """The weight names Keras gives a layer of a WEIGHTED class, in order."""
    if lc["class_name"] == "PReLU":
        return ["alpha"]
    if lc["class_name"] == "Normalization":
        return ["mean", "variance", "count"]
    if lc["class_name"] == "SeparableConv2D":
        return ["depthwise_kernel", "pointwise_kernel"] + (
            ["bias"] if lc["config"].get("use_bias", True) else [])
    return [_kernel_name(lc["class_name"])] + (["bias"] if lc["config"].get("use_bias", True) else [])
NETWORKS = ("Sequential", "Model", "Functional")


def _layer_list(cfg):
    """Keras 2.2's Sequential config may be a bare list of layers."""
    c = cfg["config"]
    return c if isinstance(c, list) else c["layers"]


def _is_trainable(layer_cfg, parent_trainable):
    return parent_trainable and layer_cfg["config"].get("trainable", True)


def _expected_order(cfg, trainable=True):
    """(owner, leaf) of every weight of a network in the order Keras 2.2.4's
    Network.weights lists them: trainable weights of all layers first, then the
    non-trainable ones (save_weights writes that order and load_weights assigns
    by position, so a file in another order would load wrongly in Keras)."""
    tr, nt = [], []
    for lc in _layer_list(cfg):
        cls = lc["class_name"]
        if cls in NETWORKS:
            t = _is_trainable(lc, trainable)
            sub = _expected_order(lc, t)
            (tr if t else nt).extend(sub)
        elif cls in WEIGHTED:
            ws = [(lc["config"]["name"], leaf) for leaf in _leaves(lc)]
            frozen = cls in FROZEN_CLASSES or not _is_trainable(lc, trainable)
            (nt if frozen else tr).extend(ws)
    return tr + nt


def _act(x, name):
    if name in (None, "linear"):
        return x
    if name == "relu":
        return F.relu(x)
    if name == "sigmoid":
        return torch.sigmoid(x)
    if name == "tanh":
        return torch.tanh(x)
    if name == "softmax":
        return torch.softmax(x, dim=1)
    # The later activations, as PyTorch computes them (catdog's are its own C).
    simple = {
        "relu6": F.relu6, "elu": F.elu, "selu": F.selu, "softplus": F.softplus,
        "softsign": F.softsign, "swish": F.silu, "silu": F.silu, "gelu": F.gelu,
        "hard_silu": F.hardswish, "hard_swish": F.hardswish, "exponential": torch.exp,
        "leaky_relu": lambda t: F.leaky_relu(t, 0.2),
        # Keras 2's hard_sigmoid; the reader reads the Keras 2 files catdog writes
        "hard_sigmoid": lambda t: torch.clamp(0.2 * t + 0.5, 0.0, 1.0),
    }
    if name in simple:
        return simple[name](x)
    raise ReaderError("activation %r is not understood by the reader" % name)


def _keras_relu(x, c):
    """Keras' ReLU layer, piecewise as its documentation states it."""
    mx, slope, th = c.get("max_value"), c.get("negative_slope", 0.0) or 0.0, c.get("threshold", 0.0) or 0.0
    if th == 0.0:
        y = F.leaky_relu(x, slope) if slope else F.relu(x)
    else:
        y = torch.where(x > th, x, slope * (x - th))
    if mx is not None:
        y = torch.where(y >= mx, torch.full_like(y, mx), y)
        if th != 0.0:
            y = torch.where((x > th) & (y < 0), torch.zeros_like(y), y)
    return y


def _channels_last(x):
    """The reader keeps maps NCHW (PyTorch's layout); Keras' view is NHWC."""
    return x.permute(0, 2, 3, 1) if x.dim() == 4 else x


def _from_channels_last(x):
    if x.dim() == 4:
        return x.permute(0, 3, 1, 2)
    if x.dim() == 2:
        return x
    raise ReaderError("a tensor of rank %d is not understood by the reader" % x.dim())


def _same_pads(size, k, s):
    """TensorFlow's 'same' padding along one axis: (before, after)."""
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return total // 2, total - total // 2


class Network:
    """One Sequential or functional model (possibly nested) as a callable on
    NCHW (or N x features) float64 tensors."""

    def __init__(self, cfg, weights, trainable=True):
        self.cls = cfg["class_name"]
        self.name = cfg["config"]["name"] if isinstance(cfg["config"], dict) else ""
        self.layers = []  # (name, class, config, inbound names, sub network, weights)
        self.used = set()  # names of the weighted layers, nested ones included
        layers = _layer_list(cfg)
        if self.cls == "Sequential":
            prev = None
            if "batch_input_shape" in layers[0]["config"]:
                prev = "__input__"
                self.input_shape = layers[0]["config"]["batch_input_shape"][1:]
            for lc in layers:
                self._add(lc, [prev] if prev else [], weights, trainable)
                prev = lc["config"]["name"]
            if not hasattr(self, "input_shape"):  # a nested model comes first
                if self.layers[0][4] is None:
                    raise ReaderError("Sequential without an input shape")
                self.input_shape = self.layers[0][4].input_shape
            self.inputs = ["__input__"]
            self.outputs = [prev]
        elif self.cls in ("Model", "Functional"):
            for lc in layers:
                nodes = lc.get("inbound_nodes", [])
                if len(nodes) > 1:
                    raise ReaderError("layer %s is called more than once" % lc["name"])
                inb = [n[0] for n in nodes[0]] if nodes else []
                self._add(lc, inb, weights, trainable)
            c = cfg["config"]
            self.inputs = [i[0] for i in c["input_layers"]]
            self.outputs = [o[0] for o in c["output_layers"]]
            first = next(l for l in layers if l["class_name"] == "InputLayer")
            self.input_shape = first["config"]["batch_input_shape"][1:]
        else:
            raise ReaderError("model class %r is not understood" % self.cls)
        if len(self.inputs) != 1 or len(self.outputs) != 1:
            raise ReaderError("only single-input, single-output networks are understood")

    def _add(self, lc, inbound, weights, trainable):
        cls = lc["class_name"]
        c = lc["config"]
        name = c["name"] if isinstance(c, dict) and "name" in c else lc["name"]
        sub = w = None
        if cls in NETWORKS:
            sub = Network(lc, weights, _is_trainable(lc, trainable))
            self.used |= sub.used
        elif cls in WEIGHTED:
            w = weights.get(name)
            if w is None or _leaves(lc)[0] not in w:
                raise ReaderError("no weights for layer %s" % name)
            self.used.add(name)
        self.layers.append((name, cls, c, inbound, sub, w))

    def __call__(self, x):
        vals = {"__input__": x}
        for (name, cls, c, inbound, sub, w) in self.layers:
            if cls == "InputLayer":
                vals[name] = x
                continue
            ins = [vals[i] for i in inbound] or [x]
            vals[name] = self._apply(cls, c, ins, sub, w)
        return vals[self.outputs[0]]

    @staticmethod
    def _apply(cls, c, ins, sub, w):
        x = ins[0]
        if sub is not None:
            return sub(x)
        if cls == "DepthwiseConv2D":
            # (kh, kw, C, multiplier) -> PyTorch's (C * multiplier, 1, kh, kw), groups C
            dk = w["depthwise_kernel"]
            kh, kw, C, mult = dk.shape
            k = torch.from_numpy(dk.reshape(kh, kw, 1, C * mult)).to(DTYPE).permute(3, 2, 0, 1)
            dh, dw = _pair(c.get("dilation_rate", 1))
            sh, sw = _pair(c.get("strides", 1))
            if (kh, kw) != _pair(c["kernel_size"]) or C != x.shape[1] or mult != c.get("depth_multiplier", 1):
                raise ReaderError("depthwise kernel shape %s does not match the config" % (dk.shape,))
            if c.get("padding", "valid") == "same":
                pt, pb = _same_pads(x.shape[2], (kh - 1) * dh + 1, sh)
                pl, pr = _same_pads(x.shape[3], (kw - 1) * dw + 1, sw)
                x = F.pad(x, (pl, pr, pt, pb))
            b = torch.from_numpy(w["bias"]).to(DTYPE) if "bias" in w else None
            y = F.conv2d(x, k, b, stride=(sh, sw), dilation=(dh, dw), groups=C)
            return _act(y, c.get("activation"))
        if cls == "SeparableConv2D":
            # Keras: a depthwise convolution (C groups of depth_multiplier filters,
            # the layer's strides, padding and dilation), then a 1x1 convolution
            # (pointwise_kernel (1, 1, C * multiplier, filters)), bias, activation
            dk, pk = w["depthwise_kernel"], w["pointwise_kernel"]
            kh, kw, C, mult = dk.shape
            if (kh, kw) != _pair(c["kernel_size"]) or C != x.shape[1] or pk.shape != (1, 1, C * mult, c["filters"]):
                raise ReaderError("separable kernels %s, %s do not match the config" % (dk.shape, pk.shape))
            k = torch.from_numpy(dk.reshape(kh, kw, 1, C * mult)).to(DTYPE).permute(3, 2, 0, 1)
            dh, dw = _pair(c.get("dilation_rate", 1))
            sh, sw = _pair(c.get("strides", 1))
            if c.get("padding", "valid") == "same":
                pt, pb = _same_pads(x.shape[2], (kh - 1) * dh + 1, sh)
                pl, pr = _same_pads(x.shape[3], (kw - 1) * dw + 1, sw)
                x = F.pad(x, (pl, pr, pt, pb))
            t = F.conv2d(x, k, None, stride=(sh, sw), dilation=(dh, dw), groups=C)
            p = torch.from_numpy(pk).to(DTYPE).permute(3, 2, 0, 1)
            b = torch.from_numpy(w["bias"]).to(DTYPE) if "bias" in w else None
            return _act(F.conv2d(t, p, b), c.get("activation"))
        if cls == "Normalization":
            # Keras 2 and 3: (x - mean) / max(sqrt(variance), epsilon), epsilon 1e-7
            if c.get("axis", -1) not in (-1, [-1], 3, [3]) or c.get("invert", False):
                raise ReaderError("Normalization %r is not understood" % c)
            shape = (1, -1, 1, 1) if x.dim() == 4 else (1, -1)
            mean = torch.from_numpy(w["mean"]).to(DTYPE).reshape(shape)
            var = torch.from_numpy(w["variance"]).to(DTYPE).reshape(shape)
            return (x - mean) / torch.clamp(torch.sqrt(var), min=1e-7)
        if cls == "Resizing":
            # tf.image.resize, antialias off: half-pixel centres; its nearest
            # is floor((i + 0.5) * in / out), PyTorch's "nearest-exact"
            if c.get("crop_to_aspect_ratio", False) or c.get("pad_to_aspect_ratio", False):
                raise ReaderError("Resizing with aspect-ratio cropping is not understood")
            mode = {"bilinear": "bilinear", "nearest": "nearest-exact"}[c.get("interpolation", "bilinear")]
            size = (int(c["height"]), int(c["width"]))
            if mode == "bilinear":
                return F.interpolate(x, size=size, mode=mode, align_corners=False, antialias=False)
            return F.interpolate(x, size=size, mode=mode)
        if cls == "CenterCrop":
            h, wd = int(c["height"]), int(c["width"])
            top, left = (x.shape[2] - h) // 2, (x.shape[3] - wd) // 2
            if top < 0 or left < 0:
                raise ReaderError("CenterCrop larger than its input is not understood")
            return x[:, :, top:top + h, left:left + wd]
        if cls in ("Conv2D", "Convolution2D"):
            if c.get("data_format", "channels_last") != "channels_last":
                raise ReaderError("channels_first is not understood")
            dh, dw = _pair(c.get("dilation_rate", 1))
            groups = int(c.get("groups", 1))
            # HWIO (I = in / groups) -> PyTorch's grouped OIHW, (O, in / groups, kh, kw)
            k = torch.from_numpy(w["kernel"]).to(DTYPE).permute(3, 2, 0, 1)
            kh, kw = _pair(c["kernel_size"])
            sh, sw = _pair(c.get("strides", 1))
            if (tuple(k.shape[2:]) != (kh, kw) or k.shape[0] != c["filters"]
                    or k.shape[1] * groups != x.shape[1]):
                raise ReaderError("kernel shape %s does not match the config" % (tuple(w["kernel"].shape),))
            if c.get("padding", "valid") == "same":
                # a dilated kernel spans (k - 1) * d + 1 pixels
                pt, pb = _same_pads(x.shape[2], (kh - 1) * dh + 1, sh)
                pl, pr = _same_pads(x.shape[3], (kw - 1) * dw + 1, sw)
                x = F.pad(x, (pl, pr, pt, pb))
            b = torch.from_numpy(w["bias"]).to(DTYPE) if "bias" in w else None
            y = F.conv2d(x, k, b, stride=(sh, sw), dilation=(dh, dw), groups=groups)
            return _act(y, c.get("activation"))
        if cls in ("MaxPooling2D", "AveragePooling2D"):
            ph, pw = _pair(c.get("pool_size", 2))
            st = c.get("strides") or (ph, pw)
            sh, sw = _pair(st)
            mx = cls == "MaxPooling2D"
            if c.get("padding", "valid") == "same":
                pt, pb = _same_pads(x.shape[2], ph, sh)
                pl, pr = _same_pads(x.shape[3], pw, sw)
                if mx:
                    return F.max_pool2d(F.pad(x, (pl, pr, pt, pb), value=-math.inf), (ph, pw), (sh, sw))
                # TensorFlow averages over the real pixels only.
                s = F.avg_pool2d(F.pad(x, (pl, pr, pt, pb)), (ph, pw), (sh, sw)) * (ph * pw)
                ones = torch.ones_like(x[:, :1])
                n = F.avg_pool2d(F.pad(ones, (pl, pr, pt, pb)), (ph, pw), (sh, sw)) * (ph * pw)
                return s / n
            return (F.max_pool2d if mx else F.avg_pool2d)(x, (ph, pw), (sh, sw))
        if cls == "GlobalAveragePooling2D":
            return x.mean(dim=(2, 3), keepdim=bool(c.get("keepdims", False)))
        if cls == "GlobalMaxPooling2D":
            return x.amax(dim=(2, 3), keepdim=bool(c.get("keepdims", False)))
        if cls == "Reshape":
            # Keras reshapes the channels_last tensor row-major; target_shape
            # leaves the batch out and may hold one -1.
            t = [int(d) for d in c["target_shape"]]
            y = _channels_last(x).reshape([x.shape[0]] + t)
            return _from_channels_last(y)
        if cls == "Multiply":
            # Keras 2's _Merge: inputs of lower rank get axes inserted at 1
            # (channels_last) until the ranks agree, then the product
            # broadcasts as NumPy does.
            cl = [_channels_last(t) for t in ins]
            rank = max(t.dim() for t in cl)
            y = None
            for t in cl:
                while t.dim() < rank:
                    t = t.unsqueeze(1)
                y = t if y is None else y * t
            return _from_channels_last(y)
        if cls == "Flatten":
            # Keras flattens channels_last tensors: H, W, C order.
            return x.permute(0, 2, 3, 1).reshape(x.shape[0], -1) if x.dim() == 4 else x
        if cls == "Dense":
            k = torch.from_numpy(w["kernel"]).to(DTYPE)
            if k.shape != (x.shape[1], c["units"]):
                raise ReaderError("Dense kernel %s does not fit input %d / units %d"
                                  % (tuple(k.shape), x.shape[1], c["units"]))
            y = x @ k
            if "bias" in w:
                y = y + torch.from_numpy(w["bias"]).to(DTYPE)
            return _act(y, c.get("activation"))
        if cls == "Activation":
            return _act(x, c["activation"])
        if cls == "ReLU":
            return _keras_relu(x, c)
        if cls == "LeakyReLU":
            return F.leaky_relu(x, c.get("alpha", c.get("negative_slope", 0.3)))
        if cls == "PReLU":
            a = torch.from_numpy(w["alpha"]).to(DTYPE)
            if a.dim() == 3:
                a = a.permute(2, 0, 1)  # (H, W, C) -> (C, H, W), broadcast over NCHW
            return torch.where(x > 0, x, a * x)
        if cls == "ELU":
            return F.elu(x, c.get("alpha", 1.0))
        if cls == "Softmax":
            return torch.softmax(x, dim=1)
        if cls == "Dropout":
            return x  # inference
        if cls == "Concatenate":
            if c.get("axis", -1) not in (-1, 3):
                raise ReaderError("Concatenate axis %r is not understood" % c.get("axis"))
            return torch.cat(ins, dim=1)  # channels: dim 1 in NCHW and in N x features
        raise ReaderError("layer class %r is not understood by the reader" % cls)


class KerasFile:
    """A whole-model Keras .h5 file: the network, its input size and preprocessing."""

    def __init__(self, path):
        with h5py.File(path, "r") as f:
            if "model_config" not in f.attrs:
                raise ReaderError("%s has no model_config (not a whole-model file)" % path)
            self.cfg = json.loads(_str(f.attrs["model_config"]))
            self.preprocess = _str(f.attrs.get("catdog_preprocess", "none"))
            g = f["model_weights"]
            names = g.attrs["layer_names"] if "layer_names" in g.attrs else []
            per_layer = {}
            for ln in names:
                ln = _str(ln)
                per_layer[ln] = _layer_weights(g[ln])
        # Every top-level layer's group, in the order Keras would assign it.
        weights = {}
        top = {lc["config"]["name"] if "name" in lc["config"] else lc["name"]: lc
               for lc in _layer_list(self.cfg)}
        for ln, arrays in per_layer.items():
            if ln not in top:
                raise ReaderError("weights for %s, which is not a layer of the model" % ln)
            lc = top[ln]
            if lc["class_name"] in NETWORKS:
                want = _expected_order(lc, _is_trainable(lc, True))
            elif lc["class_name"] in WEIGHTED:
                want = [(ln, leaf) for leaf in _leaves(lc)]
            else:
                want = []
            got = [_split_weight_name(n) for n, _ in arrays]
            if got != want:
                raise ReaderError("layer %s: weights %s, Keras expects %s" % (ln, got, want))
            for (owner, leaf), (_, arr) in zip(got, arrays):
                weights.setdefault(owner, {})[leaf] = arr
        self.net = Network(self.cfg, weights)
        if self.net.used != set(weights):
            raise ReaderError("weights without a layer: %s" % sorted(set(weights) - self.net.used))
        shape = self.net.input_shape
        self.height, self.width, self.channels = int(shape[0]), int(shape[1]), int(shape[2])

    def forward_nhwc(self, x):
        """x: N x H x W x C float array -> the outputs as a float64 array, NHWC
        when they are feature maps (catdog's and Keras' layout)."""
        t = torch.from_numpy(np.ascontiguousarray(x)).to(DTYPE).permute(0, 3, 1, 2)
        with torch.no_grad():
            y = self.net(t)
        if y.dim() == 4:
            y = y.permute(0, 2, 3, 1)
        return np.ascontiguousarray(y.numpy())

    def photo_input(self, path):
        return photo_input(path, self.width, self.height, self.preprocess)

    def p_dog(self, path):
        y = self.forward_nhwc(self.photo_input(path)[None])
        return float(y[0, 0])


# ---- photos ----------------------------------------------------------------

def _catdog_dct_scale(full_w, full_h, want_w, want_h):
    """catdog's choice (src/image/image_jpeg.c): the smallest n in 1..8 whose
    n/8 scale still covers want_w x want_h; libjpeg rounds sizes up."""
    for n in range(1, 9):
        if -(-full_w * n // 8) >= want_w and -(-full_h * n // 8) >= want_h:
            return n
    return 8


def decode_rgb(path, hint_w=0, hint_h=0):
    """The photo as an RGB Pillow image, decoded as catdog decodes it with the
    given hint (display orientation): reduced DCT scale through draft() when
    the photo is large enough, then EXIF orientation."""
    im = Image.open(path)
    if im.format == "JPEG" and (hint_w or hint_h):
        w, h = im.size
        orient = im.getexif().get(0x0112, 1)
        if orient in (5, 6, 7, 8):  # the hint is in display orientation
            hint_w, hint_h = hint_h, hint_w
        n = _catdog_dct_scale(w, h, hint_w, hint_h)
        if n != 8:
            if 8 % n != 0:
                raise ReaderError("%s: catdog decodes at %d/8, which Pillow's draft() cannot" % (path, n))
            sc = 8 // n
            im.draft("RGB", (w // sc, h // sc))
            if im.size != (-(-w // sc), -(-h // sc)):
                raise ReaderError("%s: draft gave %s, not 1/%d scale" % (path, im.size, sc))
    im = ImageOps.exif_transpose(im)
    if im.mode != "RGB":
        im = im.convert("RGB")
    return im


def photo_pixels(path, width, height):
    """The resized RGB8 pixels catdog feeds a model of that input size."""
    im = decode_rgb(path, 2 * width, 2 * height)
    if im.size != (width, height):
        im = im.resize((width, height), Image.BILINEAR)
    return np.asarray(im, dtype=np.uint8)


def preprocess(pixels, mode):
    """HWC uint8 -> HWC float32, as Keras' preprocessing computes it in float32."""
    x = pixels.astype(np.float32)
    if mode == "rescale":
        return x * np.float32(1.0 / 255.0)
    if mode == "caffe":
        x = x[..., ::-1]
        return x - np.array([103.939, 116.779, 123.68], dtype=np.float32)
    if mode == "none":
        return x
    raise ReaderError("preprocessing %r is not understood" % mode)


def photo_input(path, width, height, mode):
    return preprocess(photo_pixels(path, width, height), mode)


# ---- command line ----------------------------------------------------------

def main(argv):
    torch.set_num_threads(1)
    if len(argv) >= 3 and argv[1] == "predict":
        kf = KerasFile(argv[2])
        for p in argv[3:]:
            print(json.dumps({"file": p, "p_dog": kf.p_dog(p)}))
        return 0
    if len(argv) == 6 and argv[1] == "forward":
        kf = KerasFile(argv[2])
        n = int(argv[4])
        x = np.fromfile(argv[3], dtype=np.float32)
        x = x.reshape(n, kf.height, kf.width, kf.channels)
        kf.forward_nhwc(x).astype(np.float32).tofile(argv[5])
        return 0
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
