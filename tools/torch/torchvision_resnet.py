"""torchvision-shaped ResNets in plain PyTorch, for checking GenView's weight import and export.

torchvision may not be installed, so the networks are written here with torchvision's module names
(conv1, bn1, layer1.0.conv1, layer2.0.downsample.0, ..., fc), which makes their state dicts key for key
the same as torchvision.models.resnet18/34/50's. safetensors files are read and written by hand (the
format is an 8-byte header length, a JSON header, one data buffer), as the safetensors package may be
absent too.

  export   random weights (seeded; batch-norm statistics too) to WEIGHTS, a fixed input to INPUT and
           the eval-mode pooled features for it to FEATURES
  features load WEIGHTS (strict: every key but fc and the batch-norm counters), run INPUT, write FEATURES

  python3 tools/torch/torchvision_resnet.py export --depth 18 --seed 0 --weights w.safetensors \
      --input x.safetensors --features f.safetensors
  python3 tools/torch/torchvision_resnet.py features --depth 18 --weights exported.safetensors \
      --input x.safetensors --features f.safetensors

  export --onnx model.onnx also writes the same network with torch.onnx.export (no onnx package
  needed): input "input" [batch, 3, H, W], output "features" ([batch, C] pooled features), or with
  --onnx-output map the last stage's [batch, C, h, w] map, tokens its [batch, h*w, C] tokens, argmax the
  int64 index of the largest feature (a non-float output, for error checks).
"""
import argparse
import json
import struct

import torch
import torch.nn as nn

DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "F64": torch.float64, "I64": torch.int64}
NAMES = {v: k for k, v in DTYPES.items()}


def save_safetensors(path, tensors):
    header, chunks, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().cpu()
        # bfloat16 has no numpy dtype: its bytes go through an int16 view.
        raw = (t.view(torch.int16) if t.dtype in (torch.bfloat16, torch.float16) else t).numpy().tobytes()
        header[name] = {"dtype": NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for raw in chunks:
            f.write(raw)


def load_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    out = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        dtype = DTYPES[entry["dtype"]]
        raw = bytearray(data[8 + n + begin : 8 + n + end])
        if dtype in (torch.bfloat16, torch.float16):
            t = torch.frombuffer(raw, dtype=torch.int16).view(dtype)
        else:
            t = torch.frombuffer(raw, dtype=dtype)
        out[name] = t.reshape(entry["shape"]).clone()
    return out


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or cin != planes:
            self.downsample = nn.Sequential(nn.Conv2d(cin, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


class Bottleneck(nn.Module):
    """ResNet v1.5 (torchvision): the stride sits on the 3x3 convolution."""

    expansion = 4

    def __init__(self, cin, planes, stride):
        super().__init__()
        out = planes * 4
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or cin != out:
            self.downsample = nn.Sequential(nn.Conv2d(cin, out, 1, stride, bias=False), nn.BatchNorm2d(out))

    def forward(self, x):
        h = self.relu(self.bn1(self.conv1(x)))
        h = self.relu(self.bn2(self.conv2(h)))
        h = self.bn3(self.conv3(h))
        return self.relu(h + (x if self.downsample is None else self.downsample(x)))


LAYERS = {18: (BasicBlock, [2, 2, 2, 2]), 34: (BasicBlock, [3, 4, 6, 3]), 50: (Bottleneck, [3, 4, 6, 3])}


class ResNet(nn.Module):
    def __init__(self, depth, num_classes=1000):
        super().__init__()
        block, counts = LAYERS[depth]
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin = 64
        for i, (planes, count) in enumerate(zip([64, 128, 256, 512], counts)):
            blocks = []
            for j in range(count):
                blocks.append(block(cin, planes, 2 if i > 0 and j == 0 else 1))
                cin = planes * block.expansion
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, num_classes)
        self.feature_dim = cin

    def features(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for i in range(1, 5):
            x = getattr(self, f"layer{i}")(x)
        return torch.flatten(self.avgpool(x), 1)


class OnnxHead(nn.Module):
    """The exported network: the pooled features, or what --onnx-output names instead."""

    def __init__(self, model, output):
        super().__init__()
        self.model, self.output = model, output

    def forward(self, x):
        m = self.model
        if self.output == "features":
            return m.features(x)
        if self.output == "argmax":
            return torch.argmax(m.features(x), dim=1)
        x = m.maxpool(m.relu(m.bn1(m.conv1(x))))
        for i in range(1, 5):
            x = getattr(m, f"layer{i}")(x)
        return x if self.output == "map" else torch.flatten(x, 2).transpose(1, 2)


def export_onnx(model, x, path, output):
    head = OnnxHead(model, output).eval()
    torch.onnx.export(
        head, (x,), path, input_names=["input"], output_names=["features"],
        dynamic_axes={"input": {0: "batch"}, "features": {0: "batch"}}, opset_version=13,
    )


def randomize(model, seed):
    """Weights and batch-norm statistics far from their defaults, so a misplaced tensor shows."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * (2.0 / fan_in) ** 0.5)
            elif isinstance(m, nn.BatchNorm2d):
                c = m.num_features
                m.weight.copy_(0.5 + torch.rand(c, generator=g))
                m.bias.copy_(0.2 * torch.randn(c, generator=g))
                m.running_mean.copy_(0.2 * torch.randn(c, generator=g))
                m.running_var.copy_(0.5 + torch.rand(c, generator=g))
                m.num_batches_tracked.fill_(1234)
            elif isinstance(m, nn.Linear):
                m.weight.copy_(0.01 * torch.randn(m.weight.shape, generator=g))
                m.bias.zero_()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["export", "features"])
    parser.add_argument("--depth", type=int, default=18, choices=sorted(LAYERS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--weights", required=True)
    parser.add_argument("--input", required=True)
    parser.add_argument("--features", required=True)
    parser.add_argument("--dtype", default="F32", choices=["F32", "F16", "BF16"], help="export: how the weights are stored")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--onnx", help="export: also write the network as ONNX here")
    parser.add_argument("--onnx-output", default="features", choices=["features", "map", "tokens", "argmax"])
    args = parser.parse_args()
    torch.set_num_threads(1)

    model = ResNet(args.depth).eval()
    if args.command == "export":
        randomize(model, args.seed)
        state = model.state_dict()
        if args.dtype != "F32":
            # Round the float weights, then compute with the rounded values: the reference our loader must match.
            state = {k: (v.to(DTYPES[args.dtype]) if v.is_floating_point() else v) for k, v in state.items()}
            model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
        save_safetensors(args.weights, state)
        g = torch.Generator().manual_seed(args.seed + 1)
        x = torch.rand((args.batch, 3, args.size, args.size), generator=g)
        save_safetensors(args.input, {"images": x})
    else:
        model.fc = nn.Identity()
        # strict: every tensor of the network must be in the file (BatchNorm fills a missing counter).
        model.load_state_dict(load_safetensors(args.weights), strict=True)
        x = load_safetensors(args.input)["images"]
    with torch.no_grad():
        save_safetensors(args.features, {"features": model.features(x)})
    if args.command == "export" and args.onnx:
        export_onnx(model, x, args.onnx, args.onnx_output)


if __name__ == "__main__":
    main()
