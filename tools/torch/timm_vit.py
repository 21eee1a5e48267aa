"""A timm-shaped ViT (vit_tiny/small_patch16_224's module names) in plain PyTorch, for checking that
GenView's vit-tiny/vit-small load timm weights: patch_embed.proj, cls_token, pos_embed, blocks.N.norm1,
attn.qkv, attn.proj, norm2, mlp.fc1, mlp.fc2, norm, head. Pre-norm blocks, exact GELU, LayerNorm eps
1e-6, class-token features after the final norm (timm's forward_features()[:, 0]).

  python3 tools/torch/timm_vit.py export --variant tiny --image-size 32 --patch-size 8 --depth 2 \
      --weights v.safetensors --input x.safetensors --features f.safetensors
"""
import argparse
import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torchvision_resnet import load_safetensors, save_safetensors  # noqa: E402

VARIANTS = {"tiny": (192, 3), "small": (384, 6)}


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        n, t, d = x.shape
        q, k, v = self.qkv(x).reshape(n, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        attn = ((q @ k.transpose(-2, -1)) * (d // self.heads) ** -0.5).softmax(-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(n, t, d))


class Mlp(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.fc1 = nn.Linear(dim, 4 * dim)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(4 * dim, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    def __init__(self, patch, dim):
        super().__init__()
        self.proj = nn.Conv2d(3, dim, patch, patch)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)


class VisionTransformer(nn.Module):
    def __init__(self, variant, image_size, patch_size, depth, num_classes=1000):
        super().__init__()
        dim, heads = VARIANTS[variant]
        self.patch_embed = PatchEmbed(patch_size, dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, (image_size // patch_size) ** 2 + 1, dim))
        self.blocks = nn.Sequential(*[Block(dim, heads) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, num_classes)

    def features(self, x):
        x = self.patch_embed(x)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], 1) + self.pos_embed
        return self.norm(self.blocks(x))[:, 0]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["export", "features"])
    parser.add_argument("--variant", default="tiny", choices=sorted(VARIANTS))
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--patch-size", type=int, default=16)
    parser.add_argument("--depth", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--weights", required=True)
    parser.add_argument("--input", required=True)
    parser.add_argument("--features", required=True)
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = VisionTransformer(args.variant, args.image_size, args.patch_size, args.depth).eval()
    if args.command == "export":
        g = torch.Generator().manual_seed(args.seed)
        with torch.no_grad():
            for name, p in model.named_parameters():
                # Norm scales around 1, everything else small and random, so a misplaced tensor shows.
                base = 1.0 if name.endswith("weight") and "norm" in name else 0.0
                p.copy_(base + 0.05 * torch.randn(p.shape, generator=g))
        save_safetensors(args.weights, model.state_dict())
        x = torch.rand((2, 3, args.image_size, args.image_size), generator=torch.Generator().manual_seed(args.seed + 1))
        save_safetensors(args.input, {"images": x})
    else:
        model.head = nn.Identity()
        model.load_state_dict(load_safetensors(args.weights), strict=True)
        x = load_safetensors(args.input)["images"]
    with torch.no_grad():
        save_safetensors(args.features, {"features": model.features(x)})


if __name__ == "__main__":
    main()
