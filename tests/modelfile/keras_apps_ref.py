"""keras_apps_ref.py - Keras-layout weights for MobileNetV2 / ResNet50 and what
Keras' networks compute with them, from torchvision's modules (no catdog code).

    keras_apps_ref.py ARCH SIZE SEED IN.f32 N WEIGHTS.h5 OUT.f32 [ARCH SIZE ...]

(several cases in one run: torch starts once).  ARCH is mobilenetv2, resnet50
or efficientnetb0 (its inputs raw 0..255 pixels: the model normalizes).  Builds torchvision's network with seeded
random weights (BatchNorm statistics measured on noise, then perturbed, so the
activations stay of order one through 50 BatchNorm layers), writes them to
WEIGHTS.h5 as Keras 2's model.save_weights lays out keras.applications'
MobileNetV2(include_top=False) / ResNet50(include_top=False) (root attribute
layer_names listing every layer, weightless ones included; a group per layer
with attribute weight_names; datasets <layer>/<layer>/<weight>:0; kernels
(kh, kw, in, out), depthwise kernels (kh, kw, C, 1)), then runs the N NHWC
float32 inputs of IN.f32 (SIZE x SIZE x 3) through the network in float64 and
writes the backbone's output (NHWC float32: out_relu / conv5_block3_out) to
OUT.f32.

torchvision's modules compute Keras' networks once three differences are
taken out, each exactly:
  - MobileNetV2: Keras pads a stride-2 convolution as correct_pad does (one
    row and column at the end of an even size, one on each side of an odd
    one; Conv1's 'same' is the same rule), torchvision one on each side: every
    stride-2 convolution gets padding 0 and a pre-hook that pads Keras' way.
    Keras' BatchNormalization epsilon is 1e-3 (torchvision 1e-5).
  - ResNet50: Keras' is ResNet v1, the stride of a stage's first block on its
    first 1x1 convolution; torchvision's v1.5 has it on the 3x3.  The strides
    are moved.  Keras' convolutions have biases, torchvision's do not: each
    Keras bias b is random and the following BatchNormalization's moving_mean
    is torchvision's running_mean + b, which computes the same.  epsilon
    1.001e-5.  torchvision's max pooling pads with -inf where Keras pads zeros
    (pool1_pad): the same after a ReLU.
  - EfficientNetB0: as MobileNetV2, every stride-2 convolution (the stem and
    the 3x3 and 5x5 depthwise ones) pads as correct_pad does; epsilon 1e-3.
    Keras' Rescaling(1/255) and Normalization (random mean and variance
    here) come first, then Keras' per-channel 1 / sqrt(stddev) Rescaling
    (float32 scales, as Keras and catdog hold them).  torchvision's squeeze-and-
    excitation and Keras' are the same computation (mean, 1x1 conv + bias,
    SiLU, 1x1 conv + bias, sigmoid, product); stochastic depth and Keras'
    Dropout are identities at inference.
A mapping mistake (a kernel transposed, a weight under the wrong layer) makes
catdog disagree; it cannot make the two agree by accident.
"""
import sys

import h5py
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision


def keras_pad_hook(module, args):
    """Keras' correct_pad(x, 3) before a 'valid' stride-2 3x3 convolution."""
    x = args[0]
    h, w = x.shape[2], x.shape[3]
    top, left = 1 - (1 - h % 2), 1 - (1 - w % 2)
    return (F.pad(x, (left, 1, top, 1)),)


def calibrate(net, size, eps, residual_bns=()):
    """BatchNorm statistics of the net's own activations on noise, perturbed.
    The BatchNormalizations ending residual branches get a small gamma (as
    "zero-gamma" initialisation does): otherwise 16 random blocks amplify
    float32's rounding into the 1e-4 being checked."""
    bns = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    with torch.no_grad():
        for m in bns:
            m.eps = eps
            m.weight.uniform_(0.5, 1.5)
            m.bias.uniform_(-0.2, 0.2)
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the one batch below
        for m in residual_bns:
            m.weight.uniform_(0.1, 0.3)
        net.train()
        backbone(net, torch.randn(4, 3, size, size))
        for m in bns:
            m.running_mean.add_(torch.empty_like(m.running_mean).uniform_(-0.1, 0.1))
            m.running_var.mul_(torch.empty_like(m.running_var).uniform_(0.8, 1.25))
            # A channel the noise hardly moves (a ReLU nearly always off)
            # would be divided by the root of a tiny variance: float32's
            # rounding amplified, which says nothing about catdog.
            m.running_var.clamp_(min=float(m.running_var.mean()) * 0.2)
    # Measured in float32 (fast); the file holds float32 and the reference
    # computes with exactly those values, in float64.
    net.double().eval()


def keras_pad_hook_k(k):
    """Keras' correct_pad(x, k) before a 'valid' stride-2 k x k convolution."""
    def hook(module, args):
        x = args[0]
        h, w = x.shape[2], x.shape[3]
        return (F.pad(x, (k // 2 - (1 - w % 2), k // 2, k // 2 - (1 - h % 2), k // 2)),)
    return hook


def backbone(net, x):
    if isinstance(net, (torchvision.models.MobileNetV2, torchvision.models.EfficientNet)):
        return net.features(x)
    x = net.maxpool(net.relu(net.bn1(net.conv1(x))))
    return net.layer4(net.layer3(net.layer2(net.layer1(x))))


# ---- the networks and their Keras layers ------------------------------------
# Each entry of `layers` is (Keras layer name, [(weight name, numpy array)]), in
# Keras' order of model.layers; weightless layers have [].

def conv_w(conv):
    return conv.weight.detach().numpy().transpose(2, 3, 1, 0)  # (out,in,kh,kw) -> (kh,kw,in,out)


def dw_w(conv):
    return conv.weight.detach().numpy().transpose(2, 3, 0, 1)  # (C,1,kh,kw) -> (kh,kw,C,1)


def bn_w(bn, mean=None):
    if mean is None:
        mean = bn.running_mean.detach().numpy()
    return [("gamma", bn.weight.detach().numpy()), ("beta", bn.bias.detach().numpy()),
            ("moving_mean", mean), ("moving_variance", bn.running_var.detach().numpy())]


def mobilenetv2(size):
    net = torchvision.models.mobilenet_v2()
    strided = [net.features[0][0]] + [
        b.conv[1][0] for b in net.features[2:18] if b.conv[1][0].stride == (2, 2)]
    for conv in strided:
        conv.padding = (0, 0)
        conv.register_forward_pre_hook(keras_pad_hook)
    calibrate(net, size, 1e-3)
    f = net.features
    layers = [("input_1", []), ("Conv1", [("kernel", conv_w(f[0][0]))]),
              ("bn_Conv1", bn_w(f[0][1])), ("Conv1_relu", [])]
    p = "expanded_conv_"
    layers += [(p + "depthwise", [("depthwise_kernel", dw_w(f[1].conv[0][0]))]),
               (p + "depthwise_BN", bn_w(f[1].conv[0][1])), (p + "depthwise_relu", []),
               (p + "project", [("kernel", conv_w(f[1].conv[1]))]),
               (p + "project_BN", bn_w(f[1].conv[2]))]
    for i in range(1, 17):
        b, p = f[i + 1], "block_%d_" % i
        layers += [(p + "expand", [("kernel", conv_w(b.conv[0][0]))]),
                   (p + "expand_BN", bn_w(b.conv[0][1])), (p + "expand_relu", [])]
        if b.conv[1][0].stride == (2, 2):
            layers.append((p + "pad", []))
        layers += [(p + "depthwise", [("depthwise_kernel", dw_w(b.conv[1][0]))]),
                   (p + "depthwise_BN", bn_w(b.conv[1][1])), (p + "depthwise_relu", []),
                   (p + "project", [("kernel", conv_w(b.conv[2]))]),
                   (p + "project_BN", bn_w(b.conv[3]))]
        if b.use_res_connect:
            layers.append((p + "add", []))
    layers += [("Conv_1", [("kernel", conv_w(f[18][0]))]), ("Conv_1_bn", bn_w(f[18][1])),
               ("out_relu", [])]
    return net, layers


def resnet50(size, rng):
    net = torchvision.models.resnet50()
    for stage in (net.layer2, net.layer3, net.layer4):
        stage[0].conv1.stride, stage[0].conv2.stride = (2, 2), (1, 1)
    calibrate(net, size, 1.001e-5,
              [b.bn3 for st in (net.layer1, net.layer2, net.layer3, net.layer4) for b in st])

    def conv_bn(name, conv, bn):
        # BN(conv + b) with moving_mean m + b is torchvision's BN(conv) with m;
        # torchvision's mean is set to the difference of the float32 values
        # the file holds, so the two compute the same in float64.
        bias = rng.uniform(-0.2, 0.2, conv.out_channels).astype(np.float32)
        mean = (bn.running_mean.numpy() + bias).astype(np.float32)
        with torch.no_grad():
            bn.running_mean.copy_(torch.from_numpy(mean.astype(np.float64) - bias))
        return [(name + "_conv", [("kernel", conv_w(conv)), ("bias", bias)]),
                (name + "_bn", bn_w(bn, mean))]

    c1 = conv_bn("conv1", net.conv1, net.bn1)
    layers = [("input_1", []), ("conv1_pad", [])] + c1 + [
        ("conv1_relu", []), ("pool1_pad", []), ("pool1_pool", [])]
    for s, stage in enumerate((net.layer1, net.layer2, net.layer3, net.layer4)):
        for j, b in enumerate(stage):
            n = "conv%d_block%d" % (s + 2, j + 1)
            one, two, three = (conv_bn(n + "_1", b.conv1, b.bn1), conv_bn(n + "_2", b.conv2, b.bn2),
                               conv_bn(n + "_3", b.conv3, b.bn3))
            layers += [one[0], one[1], (n + "_1_relu", []), two[0], two[1], (n + "_2_relu", [])]
            if b.downsample is not None:
                zero = conv_bn(n + "_0", b.downsample[0], b.downsample[1])
                layers += [zero[0], three[0], zero[1], three[1]]
            else:
                layers += three
            layers += [(n + "_add", []), (n + "_out", [])]
    return net, layers


# Keras' rescaling_1 (efficientnet.py): Rescaling([1.0 / math.sqrt(stddev)
# for stddev in IMAGENET_STDDEV_RGB]), per channel, in float32.
EFFNET_SCALE = np.array([1.0 / np.sqrt(s) for s in (0.229, 0.224, 0.225)], dtype=np.float32)


def efficientnetb0(size, rng):
    """torchvision's efficientnet_b0 features are Keras' EfficientNetB0 blocks
    once the stride-2 convolutions pad as correct_pad does (pre-hooks) and
    BatchNormalization's epsilon is Keras' 1e-3; Keras' input layers
    (rescaling 1/255, normalization, rescaling_1) are applied by
    efficientnet_prelude, with the normalization's mean and variance random."""
    net = torchvision.models.efficientnet_b0()
    f = net.features
    blocks = [b for stage in f[1:8] for b in stage]
    stem = f[0][0]
    stem.padding = (0, 0)
    stem.register_forward_pre_hook(keras_pad_hook_k(3))
    for b in blocks:
        dw = b.block[-3][0]
        if dw.stride == (2, 2):
            dw.padding = (0, 0)
            dw.register_forward_pre_hook(keras_pad_hook_k(dw.kernel_size[0]))
    calibrate(net, size, 1e-3, [b.block[-1][1] for b in blocks if b.use_res_connect])
    mean = rng.uniform(0.35, 0.55, 3).astype(np.float32)
    # x / 255 spans [0, 1] (std 0.29): a variance near 0.36 gives the stem
    # inputs of unit spread, the spread calibrate measured the statistics on.
    var = rng.uniform(0.3, 0.45, 3).astype(np.float32)
    net.catdog_norm = (mean, var)
    layers = [("input_1", []), ("rescaling", []),
              ("normalization", [("mean", mean), ("variance", var),
                                 ("count", np.array(1000, dtype=np.int64))]),
              ("rescaling_1", []), ("stem_conv_pad", []),
              ("stem_conv", [("kernel", conv_w(stem))]), ("stem_bn", bn_w(f[0][1])),
              ("stem_activation", [])]
    n = 0
    for s, stage in enumerate(f[1:8]):
        for j, b in enumerate(stage):
            p = "block%d%s_" % (s + 1, chr(ord("a") + j))
            if len(b.block) == 4:
                e = b.block[0]
                layers += [(p + "expand_conv", [("kernel", conv_w(e[0]))]),
                           (p + "expand_bn", bn_w(e[1])), (p + "expand_activation", [])]
            dw, se, pr = b.block[-3], b.block[-2], b.block[-1]
            if dw[0].stride == (2, 2):
                layers.append((p + "dwconv_pad", []))
            layers += [(p + "dwconv", [("depthwise_kernel", dw_w(dw[0]))]),
                       (p + "bn", bn_w(dw[1])), (p + "activation", []),
                       (p + "se_squeeze", []), (p + "se_reshape", []),
                       (p + "se_reduce", [("kernel", conv_w(se.fc1)),
                                          ("bias", se.fc1.bias.detach().numpy())]),
                       (p + "se_expand", [("kernel", conv_w(se.fc2)),
                                          ("bias", se.fc2.bias.detach().numpy())]),
                       (p + "se_excite", []),
                       (p + "project_conv", [("kernel", conv_w(pr[0]))]),
                       (p + "project_bn", bn_w(pr[1]))]
            if b.use_res_connect:
                if n > 0:
                    layers.append((p + "drop", []))
                layers.append((p + "add", []))
            n += 1
    layers += [("top_conv", [("kernel", conv_w(f[8][0]))]), ("top_bn", bn_w(f[8][1])),
               ("top_activation", [])]
    return net, layers


def efficientnet_prelude(net, x):
    """Keras' rescaling, normalization and (per-channel) rescaling_1, in
    float64 from the float32 values catdog holds."""
    mean, var = net.catdog_norm
    m = torch.from_numpy(mean.astype(np.float64)).view(1, 3, 1, 1)
    sd = torch.from_numpy(np.sqrt(var.astype(np.float64))).view(1, 3, 1, 1)
    s = torch.from_numpy(EFFNET_SCALE.astype(np.float64)).view(1, 3, 1, 1)
    return (x * float(np.float32(1.0 / 255.0)) - m) / sd * s


def write_keras_weights(path, layers):
    """Keras 2 save_weights: fixed-length byte-string attributes as Keras
    writes them; an empty weight_names for weightless layers."""
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = np.array([n.encode() for n, _ in layers])
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"2.4.0"
        for name, weights in layers:
            g = f.create_group(name)
            wn = ["%s/%s:0" % (name, w) for w, _ in weights]
            g.attrs["weight_names"] = np.array([w.encode() for w in wn])
            for full, (_, arr) in zip(wn, weights):
                if isinstance(arr, np.ndarray) and arr.dtype == np.int64:
                    g.create_dataset(full, data=arr)  # Normalization's count
                else:
                    g.create_dataset(full, data=np.asarray(arr, dtype=np.float32))


def run(arch, size, seed, in_path, n, w_path, out_path):
    size, seed, n = int(size), int(seed), int(n)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    if arch == "mobilenetv2":
        net, layers = mobilenetv2(size)
    elif arch == "resnet50":
        net, layers = resnet50(size, rng)
    elif arch == "efficientnetb0":
        net, layers = efficientnetb0(size, rng)
    else:
        sys.exit("unknown architecture " + arch)
    write_keras_weights(w_path, layers)
    x = np.fromfile(in_path, dtype=np.float32).reshape(n, size, size, 3)
    with torch.no_grad():
        xt = torch.from_numpy(x.transpose(0, 3, 1, 2)).double()
        if arch == "efficientnetb0":
            xt = efficientnet_prelude(net, xt)
        y = backbone(net, xt)
    y.numpy().transpose(0, 2, 3, 1).astype(np.float32).tofile(out_path)


def main():
    torch.set_num_threads(1)  # two spin-wait on a busy machine: five times the CPU time
    args = sys.argv[1:]
    if not args or len(args) % 7:
        sys.exit(__doc__)
    for k in range(0, len(args), 7):
        run(*args[k:k + 7])


if __name__ == "__main__":
    main()
