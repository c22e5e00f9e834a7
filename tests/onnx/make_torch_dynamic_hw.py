#!/usr/bin/python3
"""Exports one small PyTorch CNN twice for tests/onnx/test_onnx_dynamic_hw.sh:
OUT_DIR/dyn.onnx with dynamic_axes on N, H and W (the input's H and W are
symbolic), OUT_DIR/fixed64.onnx with a fixed 64x64 input; and writes four
96x80 PNG test images (seeded noise with a gradient) to OUT_DIR/img/.

Usage: /usr/bin/python3 make_torch_dynamic_hw.py OUT_DIR
The net ends in adaptive average pooling, so it runs at any input size.
"""
import os
import sys

import numpy as np
import torch
from PIL import Image
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU())
        self.fc = nn.Linear(16, 1)

    def forward(self, x):
        x = nn.functional.adaptive_avg_pool2d(self.features(x), 1)
        return torch.sigmoid(self.fc(torch.flatten(x, 1)))


def main():
    out = sys.argv[1]
    torch.manual_seed(7)
    net = Net().eval()
    with torch.no_grad():
        bn = net.features[1]
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
        net.fc.weight.mul_(8)
    x = torch.rand(1, 3, 64, 64)
    torch.onnx.export(net, x, os.path.join(out, "dyn.onnx"), opset_version=13,
                      input_names=["input"], output_names=["p"],
                      dynamic_axes={"input": {0: "N", 2: "H", 3: "W"}, "p": {0: "N"}})
    torch.onnx.export(net, x, os.path.join(out, "fixed64.onnx"), opset_version=13,
                      input_names=["input"], output_names=["p"],
                      dynamic_axes={"input": {0: "N"}, "p": {0: "N"}})
    os.makedirs(os.path.join(out, "img"), exist_ok=True)
    rng = np.random.default_rng(3)
    for i in range(4):
        g = np.linspace(0, 255 * (i + 1) / 4, 96)[:, None, None]
        a = np.clip(g + rng.normal(0, 40 + 20 * i, (96, 80, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(a).save(os.path.join(out, "img", "p%d.png" % i))


if __name__ == "__main__":
    main()
