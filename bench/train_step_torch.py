"""PyTorch CPU reference for bench/train-step.mjs: the networks of bench/models.mjs (@genview/backbones'
small-cnn and resnet-18 with the mlp-projector: 512 hidden with batch norm, 128 out), the same loss,
optimiser and batch."""
import argparse
import json
import resource
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def projector(cin):
    return nn.Sequential(nn.Linear(cin, 512, bias=False), nn.BatchNorm1d(512), nn.ReLU(), nn.Linear(512, 128))


def conv_bn(cin, cout, stride):
    return [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout, eps=1e-5), nn.ReLU()]


class SmallCnn(nn.Module):
    def __init__(self):
        super().__init__()
        layers, cin = [], 1
        for c, s in zip([32, 64, 128, 256], [1, 2, 2, 2]):
            layers += conv_bn(cin, c, s)
            cin = c
        self.body = nn.Sequential(*layers)
        self.head = projector(256)

    def forward(self, x):
        return self.head(self.body(x).mean((2, 3)))


class Block(nn.Module):
    def __init__(self, cin, c, stride):
        super().__init__()
        self.c1 = nn.Conv2d(cin, c, 3, stride, 1, bias=False)
        self.b1 = nn.BatchNorm2d(c)
        self.c2 = nn.Conv2d(c, c, 3, 1, 1, bias=False)
        self.b2 = nn.BatchNorm2d(c)
        self.down = None
        if stride != 1 or cin != c:
            self.down = nn.Sequential(nn.Conv2d(cin, c, 1, stride, 0, bias=False), nn.BatchNorm2d(c))

    def forward(self, x):
        y = F.relu(self.b1(self.c1(x)))
        z = self.b2(self.c2(y))
        return F.relu(z + (self.down(x) if self.down is not None else x))


class ResNet18(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(*conv_bn(3, 64, 1))
        blocks, cin = [], 64
        for c, s in [(64, 1), (128, 2), (256, 2), (512, 2)]:
            blocks += [Block(cin, c, s), Block(c, c, 1)]
            cin = c
        self.blocks = nn.Sequential(*blocks)
        self.head = projector(512)

    def forward(self, x):
        return self.head(self.blocks(self.stem(x)).mean((2, 3)))


def nt_xent(z, pairs, t=0.5):
    z = F.normalize(z, dim=1)
    logits = z @ z.t() / t
    n = 2 * pairs
    logits = logits - torch.eye(n) * 1e9
    target = torch.cat([torch.arange(pairs, n), torch.arange(0, pairs)])
    return F.cross_entropy(logits, target)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="small-cnn")
    p.add_argument("--pairs", type=int, default=256)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = SmallCnn() if a.model == "small-cnn" else ResNet18()
    shape = (1, 28, 28) if a.model == "small-cnn" else (3, 32, 32)
    n = 2 * a.pairs
    x = torch.rand(n, *shape)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step():
        opt.zero_grad()
        loss = nt_xent(model(x), a.pairs)
        loss.backward()
        opt.step()
        return loss.item()

    t0 = time.perf_counter()
    for _ in range(a.warmup):
        step()
    warm = time.perf_counter() - t0
    c1 = time.process_time()
    t1 = time.perf_counter()
    loss = 0.0
    for _ in range(a.steps):
        loss = step()
    ms = (time.perf_counter() - t1) * 1000 / a.steps
    cpu_ms = (time.process_time() - c1) * 1000 / a.steps
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT " + json.dumps({
        "model": a.model, "rung": "pytorch", "backend": "torch " + torch.__version__, "images": n,
        "steps": a.steps, "msPerStep": ms, "cpuMsPerStep": cpu_ms, "imgPerSec": n * 1000 / ms, "warmupMs": warm * 1000,
        "loss": loss, "tensorLeak": 0, "peakRssMb": rss,
    }))


if __name__ == "__main__":
    main()
