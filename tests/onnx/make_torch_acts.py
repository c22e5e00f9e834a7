"""make_torch_acts.py OUT_DIR - a small CNN with PyTorch's activations, exported
by torch.onnx.export (opset 17) for tests/onnx/test_onnx_activations.c, with a
random NCHW input and PyTorch's own output (float32 raw files):
  OUT_DIR/acts.onnx, OUT_DIR/in.f32 (2x3x7x6), OUT_DIR/out.f32 (2x1)
PyTorch writes LeakyReLU, ELU, SELU, Softplus, Hardsigmoid
(HardSigmoid alpha 1/6), Hardswish, ReLU6 (Clip 0..6), SiLU (x * Sigmoid(x)),
and Sigmoid as itself; PReLU as PRelu.  (Softsign is left out: PyTorch
writes it as x / (1 + Abs(x)), which catdog does not read.)"""
import os
import sys

import torch
import torch.nn as nn

out = sys.argv[1]
torch.manual_seed(3)
acts = [nn.LeakyReLU(0.1), nn.ELU(0.5), nn.SELU(), nn.Hardsigmoid(), nn.Hardswish(),
        nn.Softplus(), nn.ReLU6(), nn.SiLU(), nn.PReLU(4)]
layers = [nn.Conv2d(3, 4, 3, padding=1)]
for a in acts:
    layers += [a, nn.Conv2d(4, 4, 1)]
layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 1), nn.Sigmoid()]
net = nn.Sequential(*layers).eval()
with torch.no_grad():
    # values past the kinks (hard_sigmoid's at +-3), and a signal that survives
    # the twelve convolutions to reach the output
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            m.weight.mul_(2.5)
        if isinstance(m, nn.PReLU):
            m.weight.uniform_(-0.5, 0.5)
x = torch.rand(2, 3, 7, 6) * 2 - 1
torch.onnx.export(net, x, os.path.join(out, "acts.onnx"), opset_version=17,
                  input_names=["input"], output_names=["p"],
                  dynamic_axes={"input": {0: "N"}, "p": {0: "N"}})
with torch.no_grad():
    y = net(x)
x.numpy().astype("<f4").tofile(os.path.join(out, "in.f32"))
y.numpy().astype("<f4").tofile(os.path.join(out, "out.f32"))
