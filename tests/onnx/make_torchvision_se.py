#!/usr/bin/python3
"""Exports torchvision's squeeze-and-excitation classifiers for tests/onnx/test_onnx_ort.c.

Usage: /usr/bin/python3 make_torchvision_se.py OUT_DIR OPSET PHOTO_DIR
Writes, with random weights from a fixed seed, 2-class heads, at 96x96:
  efficientnet_b0.onnx     torchvision efficientnet_b0: SiLU (Sigmoid * x), SE blocks
                           (GlobalAveragePool -> 1x1 Conv -> SiLU -> 1x1 Conv ->
                           Sigmoid -> Mul with the map), stochastic depth (the
                           identity at inference), residual Adds
  mobilenet_v3_small.onnx  torchvision mobilenet_v3_small: Hardswish (HardSwish,
                           or HardSigmoid * x before opset 14), SE blocks with ReLU
                           and HardSigmoid, Flatten, Gemm, Dropout
  mobilenet_v3_large.onnx  torchvision mobilenet_v3_large, the same at a larger size
  se_linear.onnx           a small net whose SE block uses Linear layers on the
                           flattened pooled vector, reshaped to (N, C, 1, 1)
                           before the Mul (x.view(-1, C, 1, 1)); sigmoid head
Their BatchNorm scales and shifts are random and their statistics measured on
eight photos of PHOTO_DIR (cat.2-5.jpg, dog.2-5.jpg: not the ones the test
compares), prepared as torchvision does (RGB / 255, ImageNet mean and std): with purely random statistics the many
BN layers wash the photo out or blow it up. Unlike mobilenet_v2's
(make_torchvision_models.py) they are not perturbed afterwards: through the SE
scales and residual Adds of these nets the perturbations compound into logits
of thousands.
Exits 77 when Debian's python3-torch or python3-torchvision is missing.
"""
import sys

try:
    import torch
    from torch import nn
    import torchvision
except ImportError:
    print("SKIP: python3-torch / python3-torchvision not installed")
    sys.exit(77)

SIZE = 96


class LinearSE(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(3, c, 3, stride=2, padding=1), nn.ReLU())
        self.fc1, self.fc2 = nn.Linear(c, c // 4), nn.Linear(c // 4, c)
        self.head = nn.Linear(c, 1)

    def forward(self, x):
        x = self.conv(x)
        s = torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)
        s = torch.sigmoid(self.fc2(torch.relu(self.fc1(s))))
        x = x * s.view(-1, x.shape[1], 1, 1)
        x = torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)
        return torch.sigmoid(self.head(x))


def photos(folder):
    from PIL import Image
    import numpy as np
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    xs = []
    for name in ("cat.2", "cat.3", "cat.4", "cat.5", "dog.2", "dog.3", "dog.4", "dog.5"):
        im = Image.open(f"{folder}/{name}.jpg").convert("RGB").resize((SIZE, SIZE), Image.BILINEAR)
        a = (np.asarray(im, dtype=np.float64) / 255.0 - mean) / std
        xs.append(torch.tensor(a.transpose(2, 0, 1), dtype=torch.float32))
    return torch.stack(xs)


def calibrated(net, head, batch, gain):
    """net whose BatchNorm statistics follow its activations on noise, then perturbed."""
    bns = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    with torch.no_grad():
        for m in bns:
            m.weight.uniform_(0.5, 1.5)
            m.bias.uniform_(-0.2, 0.2)
            m.reset_running_stats()
            m.momentum = None          # cumulative average over the one batch below
        net.train()
        net(batch)
        head.weight.mul_(gain)       # P(dog) that varies, not saturated
    return net


def main():
    out, opset = sys.argv[1], int(sys.argv[2])
    batch = photos(sys.argv[3])
    torch.manual_seed(4321)
    tv = torchvision.models
    eff = tv.efficientnet_b0(num_classes=2)
    small = tv.mobilenet_v3_small(num_classes=2)
    large = tv.mobilenet_v3_large(num_classes=2)
    lin = LinearSE(16)
    with torch.no_grad():
        lin.head.weight.mul_(20)
    nets = (("efficientnet_b0", calibrated(eff, eff.classifier[1], batch, 0.003)),
            ("mobilenet_v3_small", calibrated(small, small.classifier[3], batch, 10)),
            ("mobilenet_v3_large", calibrated(large, large.classifier[3], batch, 10)),
            ("se_linear", lin))
    for name, net in nets:
        net.eval()
        x = torch.randn(2, 3, SIZE, SIZE)
        torch.onnx.export(net, x, f"{out}/{name}.onnx", opset_version=opset,
                          training=torch.onnx.TrainingMode.PRESERVE,
                          input_names=["image"], output_names=["out"],
                          dynamic_axes={"image": {0: "N"}, "out": {0: "N"}})


if __name__ == "__main__":
    main()
