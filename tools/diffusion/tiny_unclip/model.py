"""The networks of GenView's own small unCLIP-style pipeline (28x28 grey images).

The parts mirror Stable unCLIP so the same loader runs both: an image encoder whose embedding is
normalised, noised to a `noise_level` and fed to the UNet as `class_labels` together with a
sinusoidal embedding of that level; a text encoder for captions (cross-attention); a UNet predicting
epsilon on latents; and a VAE pair. The "VAE" here is an exact 2x space-to-depth rearrangement:
28x28x1 pixels <-> 14x14x4 latents. It is lossless, so the UNet still works on a 4-channel latent
as in Stable Diffusion without our having to train an autoencoder as well.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

EMBED_DIM = 64
TEXT_DIM = 64
MAX_TOKENS = 16
LATENT_CHANNELS = 4


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """diffusers' get_timestep_embedding with flip_sin_to_cos=True, downscale_freq_shift=0."""
    half = dim // 2
    exponent = -math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half
    args = t.float()[:, None] * torch.exp(exponent)[None, :]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class ImageEncoder(nn.Module):
    """pixel_values [B,1,28,28] (normalised with mean 0.5, std 0.5) -> image_embeds [B,EMBED_DIM]."""

    def __init__(self, width: int = 32):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1), nn.SiLU(),
            nn.Conv2d(width, 2 * width, 4, stride=2, padding=1), nn.SiLU(),
            nn.Conv2d(2 * width, 4 * width, 4, stride=2, padding=1), nn.SiLU(),
            nn.Conv2d(4 * width, 4 * width, 3, padding=1), nn.SiLU(),
        )
        self.proj = nn.Linear(4 * width, EMBED_DIM)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.proj(self.net(pixel_values).mean(dim=(2, 3)))


class Attention(nn.Module):
    def __init__(self, dim: int, context_dim: int, heads: int = 4):
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(dim, dim, bias=False)
        self.k = nn.Linear(context_dim, dim, bias=False)
        self.v = nn.Linear(context_dim, dim, bias=False)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, context: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        b, n, d = x.shape
        h = self.heads
        q = self.q(x).reshape(b, n, h, d // h).transpose(1, 2)
        k = self.k(context).reshape(b, context.shape[1], h, d // h).transpose(1, 2)
        v = self.v(context).reshape(b, context.shape[1], h, d // h).transpose(1, 2)
        scores = q @ k.transpose(-1, -2) / math.sqrt(d // h)
        if mask is not None:
            scores = scores + mask
        out = scores.softmax(dim=-1) @ v
        return self.out(out.transpose(1, 2).reshape(b, n, d))


class TextEncoder(nn.Module):
    """input_ids [B,MAX_TOKENS] -> last_hidden_state [B,MAX_TOKENS,TEXT_DIM]; causal, pre-LN, as CLIP's."""

    def __init__(self, vocab_size: int, layers: int = 2):
        super().__init__()
        self.token = nn.Embedding(vocab_size, TEXT_DIM)
        self.position = nn.Parameter(torch.randn(MAX_TOKENS, TEXT_DIM) * 0.01)
        self.blocks = nn.ModuleList()
        for _ in range(layers):
            self.blocks.append(nn.ModuleDict({
                'ln1': nn.LayerNorm(TEXT_DIM), 'attn': Attention(TEXT_DIM, TEXT_DIM),
                'ln2': nn.LayerNorm(TEXT_DIM),
                'mlp': nn.Sequential(nn.Linear(TEXT_DIM, 4 * TEXT_DIM), nn.GELU(), nn.Linear(4 * TEXT_DIM, TEXT_DIM)),
            }))
        self.final = nn.LayerNorm(TEXT_DIM)
        causal = torch.full((MAX_TOKENS, MAX_TOKENS), float('-inf')).triu(1)
        self.register_buffer('causal', causal, persistent=False)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        x = self.token(input_ids) + self.position[None]
        for block in self.blocks:
            y = block['ln1'](x)
            x = x + block['attn'](y, y, self.causal)
            x = x + block['mlp'](block['ln2'](x))
        return self.final(x)


class ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int, emb_dim: int):
        super().__init__()
        self.norm1 = nn.GroupNorm(8, cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.emb = nn.Linear(emb_dim, cout)
        self.norm2 = nn.GroupNorm(8, cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.emb(emb)[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return h + self.skip(x)


class CrossAttentionBlock(nn.Module):
    """Self-attention over the 7x7 map, then cross-attention to the caption tokens."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm = nn.GroupNorm(8, channels)
        self.ln1 = nn.LayerNorm(channels)
        self.self_attn = Attention(channels, channels)
        self.ln2 = nn.LayerNorm(channels)
        self.cross = Attention(channels, TEXT_DIM)

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        b, c, hgt, wid = x.shape
        h = self.norm(x).reshape(b, c, hgt * wid).transpose(1, 2)
        y = self.ln1(h)
        h = h + self.self_attn(y, y)
        h = h + self.cross(self.ln2(h), context)
        return x + h.transpose(1, 2).reshape(b, c, hgt, wid)


class UNet(nn.Module):
    """sample [B,4,14,14], timestep [B], encoder_hidden_states [B,T,TEXT_DIM], class_labels [B,2*EMBED_DIM]."""

    def __init__(self, width: int = 48):
        super().__init__()
        c, c2, emb = width, 2 * width, 4 * width
        self.width = width
        self.time_mlp = nn.Sequential(nn.Linear(c, emb), nn.SiLU(), nn.Linear(emb, emb))
        # unCLIP's class_embed_type="projection": the conditioning vector is projected and added to the time embedding.
        self.class_mlp = nn.Sequential(nn.Linear(2 * EMBED_DIM, emb), nn.SiLU(), nn.Linear(emb, emb))
        self.conv_in = nn.Conv2d(LATENT_CHANNELS, c, 3, padding=1)
        self.down1 = ResBlock(c, c, emb)
        self.downsample = nn.Conv2d(c, c, 3, stride=2, padding=1)
        self.down2 = ResBlock(c, c2, emb)
        self.down2_attn = CrossAttentionBlock(c2)
        self.mid1 = ResBlock(c2, c2, emb)
        self.mid_attn = CrossAttentionBlock(c2)
        self.mid2 = ResBlock(c2, c2, emb)
        self.up2 = ResBlock(2 * c2, c2, emb)
        self.up2_attn = CrossAttentionBlock(c2)
        self.upsample = nn.Conv2d(c2, c2, 3, padding=1)
        self.up1 = ResBlock(c2 + c, c, emb)
        self.up1b = ResBlock(2 * c, c, emb)
        self.norm_out = nn.GroupNorm(8, c)
        self.conv_out = nn.Conv2d(c, LATENT_CHANNELS, 3, padding=1)

    def forward(self, sample, timestep, encoder_hidden_states, class_labels):
        emb = self.time_mlp(timestep_embedding(timestep, self.width)) + self.class_mlp(class_labels)
        h0 = self.conv_in(sample)
        h1 = self.down1(h0, emb)
        h = self.downsample(h1)
        h2 = self.down2_attn(self.down2(h, emb), encoder_hidden_states)
        h = self.mid1(h2, emb)
        h = self.mid_attn(h, encoder_hidden_states)
        h = self.mid2(h, emb)
        h = self.up2_attn(self.up2(torch.cat([h, h2], 1), emb), encoder_hidden_states)
        h = self.upsample(F.interpolate(h, scale_factor=2.0, mode='nearest'))
        h = self.up1(torch.cat([h, h1], 1), emb)
        h = self.up1b(torch.cat([h, h0], 1), emb)
        return self.conv_out(F.silu(self.norm_out(h)))


class SpaceToDepthEncoder(nn.Module):
    """vae_encoder: sample [B,1,28,28] in [-1,1] -> latent_sample [B,4,14,14]."""

    def forward(self, sample: torch.Tensor) -> torch.Tensor:
        return F.pixel_unshuffle(sample, 2)


class DepthToSpaceDecoder(nn.Module):
    """vae_decoder: latent_sample [B,4,14,14] -> sample [B,1,28,28] in [-1,1]."""

    def forward(self, latent_sample: torch.Tensor) -> torch.Tensor:
        return F.pixel_shuffle(latent_sample, 2)


class ImageNormalizer(nn.Module):
    """StableUnCLIPImageNormalizer: per-dimension mean/std, here tracked as running statistics."""

    def __init__(self):
        super().__init__()
        self.register_buffer('mean', torch.zeros(1, EMBED_DIM))
        self.register_buffer('std', torch.ones(1, EMBED_DIM))

    @torch.no_grad()
    def track(self, embeds: torch.Tensor, momentum: float = 0.01) -> None:
        self.mean.lerp_(embeds.mean(0, keepdim=True), momentum)
        self.std.lerp_(embeds.std(0, keepdim=True).clamp_min(1e-4), momentum)

    def scale(self, x):
        return (x - self.mean) / self.std

    def unscale(self, x):
        return x * self.std + self.mean


def cosine_alphas_cumprod(steps: int = 1000) -> torch.Tensor:
    """squaredcos_cap_v2 (the image-noising scheduler of Stable unCLIP)."""
    def f(t):
        return math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2
    betas = [min(1 - f((i + 1) / steps) / f(i / steps), 0.999) for i in range(steps)]
    return torch.cumprod(1 - torch.tensor(betas, dtype=torch.float64), 0).float()


def scaled_linear_alphas_cumprod(steps: int = 1000, start: float = 0.00085, end: float = 0.012) -> torch.Tensor:
    betas = torch.linspace(start ** 0.5, end ** 0.5, steps, dtype=torch.float64) ** 2
    return torch.cumprod(1 - betas, 0).float()


def noise_image_embeds(embeds, noise_level, normalizer, noise_cumprod, generator=None):
    """unCLIP's noise_image_embeddings: normalise, noise to noise_level, unnormalise, append its embedding."""
    scaled = normalizer.scale(embeds)
    noise = torch.randn(scaled.shape, generator=generator)
    a = noise_cumprod[noise_level][:, None]
    noised = a.sqrt() * scaled + (1 - a).sqrt() * noise
    return torch.cat([normalizer.unscale(noised), timestep_embedding(noise_level, EMBED_DIM)], dim=-1)
