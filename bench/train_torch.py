#!/usr/bin/env python3
"""bench/train_torch.py - the peer of `catdog train --benchmark`: the same binary
CNN (3 x [Conv 3x3 (32, 32, 64) relu + MaxPool 2], Dense 64 relu, Dropout 0.5,
Dense 1), the same training step (forward, BCE from logits, backward, Adam with
Keras' defaults) on random 150x150 inputs, in PyTorch on the CPU.

Prints one line: "torch train benchmark: ... N images/s".
"""
import argparse
import time

import torch
from torch import nn


def binary_cnn(img):
    side = img
    for _ in range(3):
        side = (side - 2) // 2
    return nn.Sequential(
        nn.Conv2d(3, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * side * side, 64), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(64, 1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--img-size", type=int, default=150)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--threads", type=int, default=0)
    a = ap.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    net = binary_cnn(a.img_size)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-7)
    loss_fn = nn.BCEWithLogitsLoss()
    x = torch.rand(a.batch, 3, a.img_size, a.img_size)
    y = (torch.arange(a.batch) % 2).float().unsqueeze(1)
    net.train()

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(net(x), y)
        loss.backward()
        opt.step()

    for _ in range(2):
        step()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        step()
    dt = time.perf_counter() - t0
    print("torch train benchmark: torch %s, batch %d, %dx%d, Adam, threads %d: %d steps, %.1f ms/step, %.1f images/s"
          % (torch.__version__, a.batch, a.img_size, a.img_size, torch.get_num_threads(), a.steps,
             dt / a.steps * 1e3, a.batch * a.steps / dt))


if __name__ == "__main__":
    main()
