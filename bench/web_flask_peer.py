#!/usr/bin/python3
"""web_flask_peer.py - the seed's way of serving, for bench/web_bench.sh.

A Flask app (Debian python3-flask) with the same network as catdog's binary CNN
in PyTorch (Debian python3-torch), weights read from the same Keras .h5 file
(h5py).  Like the seed, an upload is saved to a folder, opened with PIL, resized
to the model's input, scaled by 1/255 and classified.

  --mode per-request   builds the network and loads the .h5 on every request,
                       as the seed did (load_model inside the view);
  --mode startup       loads it once when the app starts.

POST /api/v1/predict (multipart field inputfile) answers
{"label": ..., "p_dog": ..., "confidence": ...} (the names of catdog's API).  Serves with Flask's threaded server.
"""
import argparse
import os
import uuid

import h5py
import numpy as np
import torch
from flask import Flask, jsonify, request
from PIL import Image


def build_binary(size):
    """The seed's CNN: 3 x [conv 3x3 relu + maxpool 2], flatten, dense 64, dropout, dense 1 sigmoid."""
    s = size
    for _ in range(3):
        s = (s - 2) // 2
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 32, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(32, 32, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(32, 64, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        # Keras flattens channels-last: NCHW -> NHWC before flattening.
        Permute(), torch.nn.Flatten(),
        torch.nn.Linear(s * s * 64, 64), torch.nn.ReLU(), torch.nn.Dropout(0.5),
        torch.nn.Linear(64, 1), torch.nn.Sigmoid())


class Permute(torch.nn.Module):
    def forward(self, x):
        return x.permute(0, 2, 3, 1)


def load_model(path, size):
    """Builds the network and copies the Keras weights into it (layers in file order)."""
    net = build_binary(size)
    with h5py.File(path, "r") as f:
        g = f["model_weights"] if "model_weights" in f else f
        tensors = []
        for lname in g.attrs["layer_names"]:
            lname = lname.decode() if isinstance(lname, bytes) else lname
            layer = g[lname]
            for wname in layer.attrs.get("weight_names", []):
                wname = wname.decode() if isinstance(wname, bytes) else wname
                tensors.append(np.array(layer[wname]))
    params = [m for m in net if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    if len(tensors) != 2 * len(params):
        raise SystemExit(f"{path}: expected {2 * len(params)} weight arrays, found {len(tensors)}")
    with torch.no_grad():
        for i, m in enumerate(params):
            k, b = tensors[2 * i], tensors[2 * i + 1]
            if isinstance(m, torch.nn.Conv2d):
                m.weight.copy_(torch.from_numpy(k.transpose(3, 2, 0, 1).copy()))
            else:
                m.weight.copy_(torch.from_numpy(k.T.copy()))
            m.bias.copy_(torch.from_numpy(b))
    net.eval()
    return net


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--mode", choices=["per-request", "startup"], required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--upload-dir", required=True)
    ap.add_argument("--size", type=int, default=150)
    args = ap.parse_args()
    os.makedirs(args.upload_dir, exist_ok=True)
    app = Flask(__name__)
    loaded = load_model(args.model, args.size) if args.mode == "startup" else None

    @app.route("/api/v1/predict", methods=["POST"])
    def predict():
        f = request.files.get("inputfile")
        if f is None:
            return jsonify(error="no file"), 400
        path = os.path.join(args.upload_dir, uuid.uuid4().hex + ".jpg")
        f.save(path)
        net = loaded if loaded is not None else load_model(args.model, args.size)
        img = Image.open(path).convert("RGB").resize((args.size, args.size), Image.BILINEAR)
        x = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).permute(2, 0, 1).unsqueeze(0)
        with torch.no_grad():
            p = float(net(x)[0, 0])
        label = "dog" if p >= 0.5 else "cat"
        return jsonify(label=label, p_dog=p, confidence=p if p >= 0.5 else 1 - p)

    @app.route("/healthz")
    def healthz():
        return jsonify(status="ok")

    app.run(host="127.0.0.1", port=args.port, threaded=True)


if __name__ == "__main__":
    main()
