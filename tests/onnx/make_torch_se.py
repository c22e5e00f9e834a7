#!/usr/bin/python3
"""Exports two tiny squeeze-and-excitation nets for tests/onnx/test_onnx_se_limit.sh.

Usage: /usr/bin/python3 make_torch_se.py OUT_DIR
Writes se_conv.onnx (torchvision's SqueezeExcitation: GlobalAveragePool, 1x1
Convs, Sigmoid, Mul, as in efficientnet_b0) and se_linear.onnx (the same with
Linear layers on the flattened vector, reshaped to (N, C, 1, 1) before the Mul),
48x48 input, opset 13. Exits 77 when Debian's python3-torch or
python3-torchvision is missing.
"""
import sys

try:
    import torch
    from torch import nn
    from torchvision.ops import SqueezeExcitation
except ImportError:
    print("SKIP: python3-torch / python3-torchvision not installed")
    sys.exit(77)


class LinearSE(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(c, c // 4), nn.Linear(c // 4, c)

    def forward(self, x):
        s = torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)
        s = torch.sigmoid(self.fc2(torch.relu(self.fc1(s))))
        return x * s.view(-1, x.shape[1], 1, 1)


def net(se):
    return nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), se,
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 1), nn.Sigmoid())


def main():
    torch.manual_seed(7)
    for name, se in (("se_conv", SqueezeExcitation(16, 4)), ("se_linear", LinearSE(16))):
        torch.onnx.export(net(se).eval(), torch.randn(1, 3, 48, 48), f"{sys.argv[1]}/{name}.onnx",
                          opset_version=13, input_names=["image"], output_names=["out"],
                          dynamic_axes={"image": {0: "N"}, "out": {0: "N"}})


if __name__ == "__main__":
    main()
