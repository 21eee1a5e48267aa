"""Exports a bench encoder to ONNX with GenView's weights, for bench/inference.mjs.

The encoder is the backbone of bench/train_step_torch.py's model (small CNN or ResNet-18 with the
small-image stem) up to global average pooling, in eval mode. Its weights come from a safetensors file
written by @genview/backbones' saveWeights (HWIO conv weights, torchvision-style names under a prefix);
they are mapped onto the torch modules, every encoder weight must be found, and the graph is written with
the legacy exporter (opset 14) and a dynamic batch axis. Input: "images" [N, C, H, W]; output: "features".

  python3 bench/export_encoder_onnx.py --model resnet18 --weights w.safetensors --prefix encoder --out enc.onnx
"""
import argparse
import json
import os
import re
import struct

import torch
import torch.nn as nn

from train_step_torch import ResNet18, SmallCnn

OPSET = 14


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (size,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + size])
    base = 8 + size
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        if meta["dtype"] != "F32":
            raise SystemExit(f"{path}: {name} is {meta['dtype']}, expected F32")
        lo, hi = meta["data_offsets"]
        t = torch.frombuffer(bytearray(raw[base + lo:base + hi]), dtype=torch.float32)
        out[name] = t.reshape(meta["shape"])
    return out


def torch_name(model, name):
    """GenView backbone variable name -> the state-dict name in train_step_torch.py's models."""
    if model == "small-cnn":
        m = re.fullmatch(r"blocks\.(\d+)\.(conv|bn)\.(.+)", name)
        if not m:
            return None
        i, part, leaf = int(m.group(1)), m.group(2), m.group(3)
        return f"body.{3 * i + (0 if part == 'conv' else 1)}.{leaf}"
    m = re.fullmatch(r"(conv1|bn1)\.(.+)", name)
    if m:
        return f"stem.{0 if m.group(1) == 'conv1' else 1}.{m.group(2)}"
    m = re.fullmatch(r"layer(\d)\.(\d+)\.(.+)", name)
    if not m:
        return None
    block = 2 * (int(m.group(1)) - 1) + int(m.group(2))
    rest = m.group(3)
    for ours, theirs in (("conv1.", "c1."), ("bn1.", "b1."), ("conv2.", "c2."), ("bn2.", "b2."), ("downsample.", "down.")):
        if rest.startswith(ours):
            rest = theirs + rest[len(ours):]
            break
    return f"blocks.{block}.{rest}"


class Encoder(nn.Module):
    def __init__(self, net, model):
        super().__init__()
        self.body = net.body if model == "small-cnn" else nn.Sequential(net.stem, net.blocks)

    def forward(self, x):
        return self.body(x).mean((2, 3))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True, choices=["small-cnn", "resnet18"])
    p.add_argument("--weights", required=True)
    p.add_argument("--prefix", default="encoder")
    p.add_argument("--out", required=True)
    a = p.parse_args()
    net = SmallCnn() if a.model == "small-cnn" else ResNet18()
    state = {}
    for key, value in read_safetensors(a.weights).items():
        if not key.startswith(a.prefix + "."):
            continue
        name = torch_name(a.model, key[len(a.prefix) + 1:])
        if name is None:
            raise SystemExit(f"no torch counterpart for weight {key}")
        state[name] = value.permute(3, 2, 0, 1).contiguous() if value.dim() == 4 else value  # HWIO -> OIHW
    result = net.load_state_dict(state, strict=False)
    missing = [k for k in result.missing_keys if not k.startswith("head.") and not k.endswith("num_batches_tracked")]
    if missing or result.unexpected_keys:
        raise SystemExit(f"weights do not fit the torch {a.model}: missing {missing}, unexpected {result.unexpected_keys}")
    encoder = Encoder(net, a.model).eval()
    shape = (1, 28, 28) if a.model == "small-cnn" else (3, 32, 32)
    x = torch.rand(2, *shape)
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    tmp = a.out + ".tmp"
    with torch.no_grad():
        torch.onnx.export(encoder, (x,), tmp, input_names=["images"], output_names=["features"],
                          dynamic_axes={"images": {0: "batch"}, "features": {0: "batch"}},
                          opset_version=OPSET, do_constant_folding=True)
    os.replace(tmp, a.out)
    print(f"exported {a.model} encoder ({len(state)} tensors, torch {torch.__version__}) to {a.out}")


if __name__ == "__main__":
    main()
