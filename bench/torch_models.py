"""The PyTorch twins of @genview/backbones' small-cnn and resnet-18 (CIFAR stem) and its mlp-projector
(512 hidden with batch norm, 128 out), shared by bench/train_step_torch.py and bench/e2e_torch.py.
Each backbone returns pooled features; `with_projector` adds the SimCLR head."""
import torch.nn as nn
import torch.nn.functional as F


def projector(cin):
    return nn.Sequential(nn.Linear(cin, 512, bias=False), nn.BatchNorm1d(512), nn.ReLU(inplace=True), nn.Linear(512, 128))


def conv_bn(cin, cout, stride):
    return [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout, eps=1e-5), nn.ReLU(inplace=True)]


class SmallCnn(nn.Module):
    """Four conv3x3-BN-ReLU blocks (32-64-128-256, strides 1, 2, 2, 2), global average pool."""

    feature_dim = 256

    def __init__(self):
        super().__init__()
        layers, cin = [], 1
        for c, s in zip([32, 64, 128, 256], [1, 2, 2, 2]):
            layers += conv_bn(cin, c, s)
            cin = c
        self.body = nn.Sequential(*layers)

    def forward(self, x):
        return self.body(x).mean((2, 3))


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
    """ResNet-18 with the small-image stem (3x3 conv, stride 1, no max-pool), global average pool."""

    feature_dim = 512

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(*conv_bn(3, 64, 1))
        blocks, cin = [], 64
        for c, s in [(64, 1), (128, 2), (256, 2), (512, 2)]:
            blocks += [Block(cin, c, s), Block(c, c, 1)]
            cin = c
        self.blocks = nn.Sequential(*blocks)

    def forward(self, x):
        return self.blocks(self.stem(x)).mean((2, 3))


def with_projector(backbone):
    return nn.Sequential(backbone, projector(backbone.feature_dim))
