#!/usr/bin/python3
"""bench/bench_torch.py - the PyTorch side of catdog's benchmark (bench/run.sh).

Builds the same networks as catdog's built-in architectures (binary: the seed's
CNN; squeezenet: SqueezeNet 1.1 without top, Keras' layout -- floor pooling,
expand 3x3 with 'same' padding) in PyTorch and times one configuration:

    bench_torch.py MODE ARCH SIZE BATCH THREADS SECONDS

MODE infer runs the forward pass under torch.no_grad() in eval mode; MODE train
runs one Adam step (forward, BCEWithLogitsLoss, backward, step) per batch, as
catdog's bench_engine does.  Prints "torch MODE ARCH SIZE BATCH THREADS
median_ms best_ms runs", the same line format as bench_engine.
Debian's python3-torch (1.13) is meant: run with /usr/bin/python3.
"""
import sys
import time

import torch
import torch.nn as nn


def binary(size):
    layers, c, s = [], 3, size
    for f in (32, 32, 64):
        layers += [nn.Conv2d(c, f, 3), nn.ReLU(), nn.MaxPool2d(2)]
        c, s = f, (s - 2) // 2
    layers += [nn.Flatten(), nn.Linear(c * s * s, 64), nn.ReLU(), nn.Dropout(0.5),
               nn.Linear(64, 1)]  # logits: the sigmoid is in the loss (train) or applied after (infer)
    return nn.Sequential(*layers)


class Fire(nn.Module):
    def __init__(self, cin, squeeze, expand):
        super().__init__()
        self.squeeze = nn.Sequential(nn.Conv2d(cin, squeeze, 1), nn.ReLU())
        self.e1 = nn.Sequential(nn.Conv2d(squeeze, expand, 1), nn.ReLU())
        self.e3 = nn.Sequential(nn.Conv2d(squeeze, expand, 3, padding=1), nn.ReLU())

    def forward(self, x):
        s = self.squeeze(x)
        return torch.cat([self.e1(s), self.e3(s)], 1)


def squeezenet(size):
    sq = [16, 16, 32, 32, 48, 48, 64, 64]
    ex = [64, 64, 128, 128, 192, 192, 256, 256]
    layers, c = [nn.Conv2d(3, 64, 3, stride=2), nn.ReLU(), nn.MaxPool2d(3, 2)], 64
    for i in range(8):
        layers.append(Fire(c, sq[i], ex[i]))
        c = 2 * ex[i]
        if i in (1, 3):
            layers.append(nn.MaxPool2d(3, 2))
    return nn.Sequential(*layers)


def main():
    if len(sys.argv) != 7:
        sys.exit("usage: bench_torch.py infer|train ARCH SIZE BATCH THREADS SECONDS")
    mode, arch = sys.argv[1], sys.argv[2]
    size, batch, threads = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    seconds = float(sys.argv[6])
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    net = {"binary": binary, "squeezenet": squeezenet}[arch](size)
    x = torch.rand(batch, 3, size, size)
    if mode == "train":
        net.train()
        opt = torch.optim.Adam(net.parameters(), lr=1e-3, eps=1e-7)
        loss_fn = nn.BCEWithLogitsLoss()
        labels = (torch.arange(batch) % 2).float().reshape(batch, 1)

        def step():
            opt.zero_grad()
            loss = loss_fn(net(x), labels)
            loss.backward()
            opt.step()
    else:
        net.eval()

        head = torch.sigmoid if arch == "binary" else (lambda t: t)

        def step():
            with torch.no_grad():
                head(net(x))
    times, start, it = [], time.perf_counter(), 0
    while True:
        t0 = time.perf_counter()
        step()
        t = time.perf_counter() - t0
        it += 1
        if it <= 3:
            start = time.perf_counter()
            continue
        times.append(t)
        if len(times) >= 5 and time.perf_counter() - start >= seconds:
            break
    times.sort()
    print("torch %s %s %d %d %d %.3f %.3f %d" % (mode, arch, size, batch, threads,
                                                 times[len(times) // 2] * 1e3, times[0] * 1e3,
                                                 len(times)))


if __name__ == "__main__":
    main()
