#!/usr/bin/python3
"""Exports small PyTorch CNNs (one with a BatchNorm2d, randomized statistics) with torch.onnx.export for tests/onnx/test_onnx_ort.c.

Usage: /usr/bin/python3 make_torch_models.py OUT_DIR OPSET
Writes OUT_DIR/torch_sigmoid.onnx (sigmoid head, torch.flatten -> Flatten) and
OUT_DIR/torch_logits.onnx (2-class logits head after global average pooling,
x.view(x.size(0), -1) -> the Shape/Gather/Concat/Reshape chain catdog folds).
Random weights from a fixed seed, scaled so the outputs are not all 0.5.
Exits 77 when Debian's python3-torch is missing (the test then skips).
"""
import sys

try:
    import torch
    from torch import nn
except ImportError:
    print("SKIP: python3-torch not installed (apt-get install python3-torch)")
    sys.exit(77)


class SigmoidCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
            nn.MaxPool2d(2), nn.Conv2d(16, 16, 3), nn.ReLU())
        self.head = nn.Sequential(nn.Linear(16 * 14 * 14, 32), nn.ReLU(), nn.Dropout(0.5),
                                  nn.Linear(32, 1), nn.Sigmoid())

    def forward(self, x):
        return self.head(torch.flatten(self.features(x), 1))


class LogitsCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
            nn.Conv2d(16, 32, 1), nn.ReLU())
        self.fc = nn.Linear(32, 2)

    def forward(self, x):
        x = nn.functional.adaptive_avg_pool2d(self.features(x), 1)
        return self.fc(x.view(x.size(0), -1))


def main():
    out, opset = sys.argv[1], int(sys.argv[2])
    torch.manual_seed(1234)
    sig, logits = SigmoidCNN(), LogitsCNN()
    with torch.no_grad():   # default init gives P(dog) near 0.5 for every photo
        sig.head[3].weight.mul_(40)
        bn = sig.features[4]   # statistics that matter, not the identity's 0 and 1
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-0.2, 0.2)
        logits.fc.weight.mul_(40)
    for name, net in (("torch_sigmoid", sig), ("torch_logits", logits)):
        net.eval()
        x = torch.randn(2, 3, 64, 64)
        # PRESERVE keeps the BatchNormalization node (EVAL would fold it into the
        # Conv itself), so catdog's own folding is what gets tested.
        torch.onnx.export(net, x, f"{out}/{name}.onnx", opset_version=opset,
                          training=torch.onnx.TrainingMode.PRESERVE,
                          input_names=["image"], output_names=["out"],
                          dynamic_axes={"image": {0: "N"}, "out": {0: "N"}})


if __name__ == "__main__":
    main()
