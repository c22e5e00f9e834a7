"""bench/transfer_torch.py - the PyTorch side of bench/transfer_bench.sh.

Extracts SqueezeNet 1.1 features (no top, Keras layout) from the same image
files catdog reads: PIL decode, bilinear resize to SIZE, Caffe preprocessing
(BGR minus the ImageNet means), the network with the pretrained weights read
from the Keras .h5 file (h5py; HWIO kernels turned into OIHW), then global
average and global max pooling, as catdog's feature cache holds them.  Timed
end to end (decode included, as in catdog) after one warm-up batch.

usage: transfer_torch.py LIST SIZE BATCH THREADS WEIGHTS.h5 OUT.f32
prints: torch N SECONDS IMAGES_PER_S
"""
import sys
import time

import h5py
import numpy as np
import torch
import torch.nn as nn
from PIL import Image

MEAN_BGR = np.array([103.939, 116.779, 123.68], dtype=np.float32)


def conv(f, name, cin, cout, k, stride=1, padding=0):
    c = nn.Conv2d(cin, cout, k, stride=stride, padding=padding)
    g = f[name]
    names = [n.decode() if isinstance(n, bytes) else n for n in g.attrs["weight_names"]]
    kernel, bias = g[names[0]][()], g[names[1]][()]
    c.weight.data = torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)))
    c.bias.data = torch.from_numpy(bias)
    return c


class Fire(nn.Module):
    def __init__(self, f, i, cin, squeeze, expand):
        super().__init__()
        p = "fire%d/" % i
        self.s = conv(f, p + "squeeze1x1", cin, squeeze, 1)
        self.e1 = conv(f, p + "expand1x1", squeeze, expand, 1)
        self.e3 = conv(f, p + "expand3x3", squeeze, expand, 3, padding=1)

    def forward(self, x):
        s = torch.relu(self.s(x))
        return torch.cat([torch.relu(self.e1(s)), torch.relu(self.e3(s))], 1)


def squeezenet(f):
    sq = [16, 16, 32, 32, 48, 48, 64, 64]
    ex = [64, 64, 128, 128, 192, 192, 256, 256]
    layers = [conv(f, "conv1", 3, 64, 3, stride=2), nn.ReLU(), nn.MaxPool2d(3, 2)]
    c = 64
    for i in range(8):
        layers.append(Fire(f, i + 2, c, sq[i], ex[i]))
        c = 2 * ex[i]
        if i in (1, 3):
            layers.append(nn.MaxPool2d(3, 2))
    return nn.Sequential(*layers)


def load(path, size):
    img = Image.open(path).convert("RGB").resize((size, size), Image.BILINEAR)
    x = np.asarray(img, dtype=np.float32)[:, :, ::-1] - MEAN_BGR
    return x.transpose(2, 0, 1)


def main():
    if len(sys.argv) != 7:
        sys.exit(__doc__)
    paths = [l.strip() for l in open(sys.argv[1]) if l.strip()]
    size, batch, threads = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    torch.set_num_threads(threads)
    with h5py.File(sys.argv[5], "r") as f:
        net = squeezenet(f).eval()
    out = []

    def run(chunk):
        x = torch.from_numpy(np.stack([load(p, size) for p in chunk]))
        y = net(x)
        return torch.cat([y.mean(dim=(2, 3)), y.amax(dim=(2, 3))], 1).numpy()

    with torch.no_grad():
        run(paths[:batch])  # warm-up
        t0 = time.perf_counter()
        for i in range(0, len(paths), batch):
            out.append(run(paths[i:i + batch]))
        dt = time.perf_counter() - t0
    np.concatenate(out).astype(np.float32).tofile(sys.argv[6])
    print("torch %d %.3f %.1f" % (len(paths), dt, len(paths) / dt))


if __name__ == "__main__":
    main()
