#!/usr/bin/python3
"""Exports torchvision's resnet18 and mobilenet_v2 (random weights, seeded;
2-class heads) to ONNX at 224x224, opset 13, dynamic batch, for
bench/onnx_bench.sh.  Speed does not depend on the weights.

Usage: /usr/bin/python3 bench/onnx_torchvision.py OUT_DIR
Writes OUT_DIR/resnet18.onnx and OUT_DIR/mobilenet_v2.onnx.
"""
import os
import sys

import torch
import torchvision


def main():
    out = sys.argv[1]
    torch.manual_seed(0)
    nets = {"resnet18": torchvision.models.resnet18(num_classes=2),
            "mobilenet_v2": torchvision.models.mobilenet_v2(num_classes=2)}
    x = torch.rand(1, 3, 224, 224)
    for name, net in nets.items():
        torch.onnx.export(net.eval(), x, os.path.join(out, name + ".onnx"), opset_version=13,
                          input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}})


if __name__ == "__main__":
    main()
