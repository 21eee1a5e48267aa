"""PyTorch twin of `genview train` for bench/e2e.mjs: the same recipe, data, augmentations and batch,
written the way a PyTorch user would (torchvision transforms per image in a DataLoader).

Recipes (bench/e2e.mjs passes the matching genview config):
  demo       examples/configs/simclr-fashion-mnist.yaml: small CNN + MLP projector (512, BN), NT-Xent 0.2,
             LARS (eta 0.02, wd 1e-6, biases and BN excluded) lr 0.6, cosine with 5 % warm-up,
             crop 0.2-1 + flip + brightness/contrast 0.4 (p 0.8) + blur 3x3 (p 0.5)
  reference  the same without the blur, Adam 1e-3 at a constant rate

It trains for --steps steps, or, with --seconds, for as many steps as fit in that wall time (the
schedule is still laid out over --steps), then reports source images/s and kNN@20 (T 0.07, cosine,
on the backbone's pooled features: the evaluator of @genview/eval).
"""
import argparse
import gzip
import json
import math
import os
import resource
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms as T

from torch_models import SmallCnn, projector


def read_idx(path):
    with gzip.open(path, 'rb') if path.endswith('.gz') else open(path, 'rb') as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], 'big') for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def load_split(data_dir, split):
    stem = 'train' if split == 'train' else 't10k'
    def find(kind):
        for name in (f'{stem}-{kind}-ubyte.gz', f'{stem}-{kind}-ubyte'):
            if os.path.exists(os.path.join(data_dir, name)):
                return os.path.join(data_dir, name)
        raise FileNotFoundError(f'{stem}-{kind}-ubyte[.gz] not in {data_dir}')
    images = read_idx(find('images-idx3'))
    labels = read_idx(find('labels-idx1'))
    return torch.from_numpy(images.copy()).float().div_(255).unsqueeze(1), torch.from_numpy(labels.astype(np.int64))


class TwoViews(Dataset):
    def __init__(self, images, transform):
        self.images, self.transform = images, transform

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        x = self.images[i]
        return self.transform(x), self.transform(x)


def augmentation(recipe):
    steps = [
        T.RandomResizedCrop(28, scale=(0.2, 1.0), antialias=False),
        T.RandomHorizontalFlip(),
        T.RandomApply([T.ColorJitter(0.4, 0.4, 0, 0)], p=0.8),
    ]
    if recipe == 'demo':
        steps.append(T.RandomApply([T.GaussianBlur(3, sigma=(0.1, 2.0))], p=0.5))
    return T.Compose(steps)


def nt_xent(z1, z2, temperature):
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    n = z1.shape[0]
    logits = z @ z.t() / temperature
    logits.fill_diagonal_(float('-inf'))
    targets = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
    return F.cross_entropy(logits, targets)


class Lars(torch.optim.Optimizer):
    """solo-learn's LARS: trust ratio eta*|w|/(|g| + wd*|w| + eps); excluded groups are plain momentum SGD."""

    def __init__(self, groups, lr, momentum=0.9, weight_decay=1e-6, eta=0.02, eps=1e-8):
        super().__init__(groups, dict(lr=lr, momentum=momentum, weight_decay=weight_decay, eta=eta, eps=eps, exclude=False))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            for p in group['params']:
                if p.grad is None:
                    continue
                d = p.grad
                if not group['exclude']:
                    wn, gn = torch.norm(p), torch.norm(d)
                    wd = group['weight_decay']
                    trust = group['eta'] * wn / (gn + wd * wn + group['eps'])
                    adapt = (wn > 0) & (gn > 0)
                    d = torch.where(adapt, (d + wd * p) * trust, d)
                state = self.state[p]
                buf = state.get('buf')
                if buf is None:
                    buf = state['buf'] = torch.clone(d).detach()
                else:
                    buf.mul_(group['momentum']).add_(d)
                p.add_(buf, alpha=-group['lr'])


def worker_cpu_seconds(loader):
    """User and system seconds of the DataLoader's live worker processes (os.times counts only reaped children)."""
    user = system = 0.0
    iterator = getattr(loader, '_iterator', None)
    for w in getattr(iterator, '_workers', []) or []:
        try:
            with open(f'/proc/{w.pid}/stat') as f:
                fields = f.read().rsplit(')', 1)[1].split()
            user += int(fields[11]) / os.sysconf('SC_CLK_TCK')
            system += int(fields[12]) / os.sysconf('SC_CLK_TCK')
        except OSError:
            pass
    return user, system


def cosine_lr(step, total, base, warmup):
    if step < warmup:
        return base * step / max(1, warmup - 1)
    if step >= total:
        return 0.0
    return 0.5 * base * (1 + math.cos(math.pi * (step - warmup) / (total - warmup)))


@torch.no_grad()
def features(encoder, images, batch=1024):
    encoder.eval()
    out = torch.cat([encoder(images[i:i + batch]) for i in range(0, len(images), batch)])
    encoder.train()
    return F.normalize(out, dim=1)


@torch.no_grad()
def knn(train_f, train_y, test_f, test_y, k=20, temperature=0.07, classes=10):
    correct = 0
    for i in range(0, len(test_f), 1000):
        sims = test_f[i:i + 1000] @ train_f.t()
        top, idx = sims.topk(k, dim=1)
        votes = torch.zeros(len(top), classes).scatter_add_(1, train_y[idx], (top / temperature).exp())
        correct += (votes.argmax(1) == test_y[i:i + 1000]).sum().item()
    return correct / len(test_f)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--recipe', choices=['demo', 'reference'], required=True)
    ap.add_argument('--data-dir', required=True)
    ap.add_argument('--steps', type=int, required=True)
    ap.add_argument('--seconds', type=float, default=0)
    ap.add_argument('--batch', type=int, default=256)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--workers', type=int, default=1)
    ap.add_argument('--knn', action='store_true')
    ap.add_argument('--seed', type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    started = time.perf_counter()
    train_x, train_y = load_split(args.data_dir, 'train')
    loader = DataLoader(TwoViews(train_x, augmentation(args.recipe)), batch_size=args.batch, shuffle=True, drop_last=True,
                        num_workers=args.workers, persistent_workers=args.workers > 0)
    encoder = SmallCnn()
    head = projector(SmallCnn.feature_dim)
    params = list(encoder.parameters()) + list(head.parameters())
    if args.recipe == 'demo':
        decay = [p for p in params if p.ndim > 1]
        plain = [p for p in params if p.ndim <= 1]
        opt = Lars([{'params': decay}, {'params': plain, 'exclude': True, 'weight_decay': 0}], lr=0.6 * args.batch / 256)
    else:
        opt = torch.optim.Adam(params, lr=1e-3)
    warmup = round(0.05 * args.steps)

    step, t_train, cpu0 = 0, None, os.times()
    last_loss = float('nan')
    while True:
        for v1, v2 in loader:
            if t_train is None:
                t_train = time.perf_counter()  # the first batch's wait is start-up (workers), not training
            if args.recipe == 'demo':
                for g in opt.param_groups:
                    g['lr'] = cosine_lr(step, args.steps, 0.6 * args.batch / 256, warmup)
            loss = nt_xent(head(encoder(v1)), head(encoder(v2)), 0.2)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            last_loss = loss.item()
            step += 1
            elapsed = time.perf_counter() - t_train
            if (args.seconds > 0 and elapsed >= args.seconds) or (args.seconds <= 0 and step >= args.steps):
                break
        else:
            continue
        break
    train_seconds = time.perf_counter() - t_train
    cpu = os.times()
    worker_user, worker_system = worker_cpu_seconds(loader)
    result = {
        'recipe': args.recipe,
        'steps': step,
        'trainSeconds': train_seconds,
        'imagesPerSecond': step * args.batch / train_seconds,
        'userSeconds': cpu.user - cpu0.user + worker_user,
        'systemSeconds': cpu.system - cpu0.system + worker_system,
        'loss': last_loss,
        'peakRssMb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    if args.knn:
        test_x, test_y = load_split(args.data_dir, 'test')
        result['knn20'] = knn(features(encoder, train_x), train_y, features(encoder, test_x), test_y)
    result['wallSeconds'] = time.perf_counter() - started
    print('RESULT ' + json.dumps(result), flush=True)


if __name__ == '__main__':
    main()
