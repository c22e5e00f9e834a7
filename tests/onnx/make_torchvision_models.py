#!/usr/bin/python3
"""Exports torchvision-style classifiers with torch.onnx.export for tests/onnx/test_onnx_ort.c.

Usage: /usr/bin/python3 make_torchvision_models.py OUT_DIR OPSET
Writes, with random weights from a fixed seed and BatchNorm statistics
randomized so that they matter:
  resnet18.onnx      torchvision resnet18, 2-class head, 224x224 (residual Adds,
                     7x7/2 conv with pads 3 and 3x3/2 max pool with pads 1: pads
                     that are not TensorFlow's SAME)
  squeezenet.onnx    torchvision squeezenet1_1, 2 classes, 224x224 (ceil_mode pools)
  mobilenet_v2.onnx  torchvision mobilenet_v2, 2 classes, 128x128 (depthwise 3x3
                     convs, Clip(0, 6) as ReLU6, inverted-residual Adds); its
                     BatchNorm statistics are measured on noise first, because with
                     purely random ones the 52 BN layers wash the photo out and
                     every photo gets the same P(dog)
  sepnet.onnx        a depthwise-separable net, 96x96: in-graph normalization
                     (Sub and Mul by per-channel constants), depthwise 3x3/2 convs
                     with pads 1, a grouped conv, a dilated conv, a residual Add, a
                     per-channel scale after a ReLU (kept as a layer), a max pool
                     with pads and ceil_mode, a sigmoid head
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


class SepNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("mean", torch.tensor([0.4, 0.5, 0.6]).view(1, 3, 1, 1))
        self.register_buffer("inv_std", torch.tensor([4.0, 4.4, 4.2]).view(1, 3, 1, 1))
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, stride=2, padding=1, bias=False),
                                  nn.BatchNorm2d(16), nn.ReLU())
        # depthwise 3x3 stride 2 with pads 1 (symmetric), then pointwise
        self.dw1 = nn.Sequential(nn.Conv2d(16, 16, 3, stride=2, padding=1, groups=16, bias=False),
                                 nn.BatchNorm2d(16), nn.ReLU(),
                                 nn.Conv2d(16, 32, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU())
        # residual block: grouped conv, dilated depthwise conv
        self.res = nn.Sequential(nn.Conv2d(32, 32, 3, padding=1, groups=4),
                                 nn.BatchNorm2d(32), nn.ReLU(),
                                 nn.Conv2d(32, 32, 3, padding=2, dilation=2, groups=32),
                                 nn.BatchNorm2d(32))
        self.register_buffer("gain", torch.linspace(0.5, 1.5, 32).view(1, 32, 1, 1))
        self.pool = nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True)
        self.dw2 = nn.Sequential(nn.Conv2d(32, 32, 5, stride=2, padding=2, groups=32),
                                 nn.ReLU(), nn.Conv2d(32, 48, 1), nn.ReLU())
        self.fc = nn.Linear(48, 1)

    def forward(self, x):
        x = (x - self.mean) * self.inv_std
        x = self.dw1(self.stem(x))
        x = torch.relu(x + self.res(x)) * self.gain
        x = self.dw2(self.pool(x))
        x = torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)
        return torch.sigmoid(self.fc(x))


def randomize_bn(net):
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.uniform_(0.5, 1.5)
            m.bias.uniform_(-0.2, 0.2)


def calibrated_mobilenet_v2():
    """mobilenet_v2 whose BatchNorm statistics follow its activations, then perturbed."""
    net = torchvision.models.mobilenet_v2(num_classes=2)
    bns = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    with torch.no_grad():
        for m in bns:
            m.weight.uniform_(0.5, 1.5)
            m.bias.uniform_(-0.2, 0.2)
            m.reset_running_stats()
            m.momentum = None          # cumulative average over the one batch below
        net.train()
        net(torch.randn(4, 3, 128, 128))
        for m in bns:
            m.running_mean.add_(torch.empty_like(m.running_mean).uniform_(-0.1, 0.1))
            m.running_var.mul_(torch.empty_like(m.running_var).uniform_(0.8, 1.25))
        net.classifier[1].weight.mul_(0.25)   # P(dog) that varies, not saturated
    return net


def main():
    out, opset = sys.argv[1], int(sys.argv[2])
    torch.manual_seed(1234)
    nets = []
    r18 = torchvision.models.resnet18(num_classes=2)
    sq = torchvision.models.squeezenet1_1(num_classes=2)
    sep = SepNet()
    with torch.no_grad():
        for net in (r18, sq, sep):
            randomize_bn(net)
        r18.fc.weight.mul_(2)        # P(dog) that varies with the photo, not saturated
        sq.classifier[1].weight.mul_(5)
        sep.fc.weight.mul_(30)
    mnv2 = calibrated_mobilenet_v2()
    nets = (("resnet18", r18, 224), ("squeezenet", sq, 224), ("sepnet", sep, 96),
            ("mobilenet_v2", mnv2, 128))
    for name, net, size in nets:
        net.eval()
        x = torch.randn(2, 3, size, size)
        # PRESERVE keeps BatchNormalization nodes, so catdog's folding is tested.
        torch.onnx.export(net, x, f"{out}/{name}.onnx", opset_version=opset,
                          training=torch.onnx.TrainingMode.PRESERVE,
                          input_names=["image"], output_names=["out"],
                          dynamic_axes={"image": {0: "N"}, "out": {0: "N"}})


if __name__ == "__main__":
    main()
