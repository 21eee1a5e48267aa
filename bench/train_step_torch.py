"""PyTorch CPU reference for bench/train-step.mjs: the networks of bench/models.mjs (@genview/backbones'
small-cnn and resnet-18 with the mlp-projector: 512 hidden with batch norm, 128 out), the same loss,
optimiser and batch."""
import argparse
import json
import resource
import time

import torch
import torch.nn.functional as F

from torch_models import ResNet18, SmallCnn, with_projector


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
    model = with_projector(SmallCnn() if a.model == "small-cnn" else ResNet18())
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
