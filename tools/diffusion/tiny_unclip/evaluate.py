"""The view-quality check of the shipped model, in PyTorch, for iterating on training quickly.

    /usr/bin/python3 -m tools.diffusion.tiny_unclip.evaluate tools/diffusion/tiny_unclip/weights/tiny-unclip.pt

Same protocol as packages/model-tiny-unclip/test/views-are-real.test.ts (which checks the exported
ONNX pipeline and is the authority): a small CNN trained on 20k labelled training images, each
mirrored half the time and shifted by up to 2 pixels (the generator trains on mirrored images, so a
view may face the other way than its source), labels image variations of test images made at several
embedding noise levels (DDIM, 20 steps, guidance 3); we print how often the source's class is kept,
the same for a logistic regression on raw pixels, and the mean pixel distance between two views of
one source.
"""
import sys

import numpy as np
import torch
import torch.nn.functional as F

from . import data
from .model import (EMBED_DIM, MAX_TOKENS, ImageEncoder, ImageNormalizer, TextEncoder, UNet, cosine_alphas_cumprod,
                    scaled_linear_alphas_cumprod, timestep_embedding)


def load(path):
    state = torch.load(path)
    parts = ImageEncoder(32), TextEncoder(state['vocab_size']), UNet(state['width']), ImageNormalizer()
    for module, key in zip(parts, ('image_encoder', 'text_encoder', 'unet', 'normalizer')):
        module.load_state_dict(state[key])
        module.eval()
    return (*parts, state.get('prediction', 'epsilon'))


@torch.no_grad()
def variations(parts, pixels, level, seed, steps=20, guidance=3.0):
    image_encoder, text_encoder, unet, normalizer, prediction = parts
    gen = torch.Generator().manual_seed(seed)
    n = len(pixels)
    levels = torch.full((n,), level, dtype=torch.long)
    a = cosine_alphas_cumprod()[levels][:, None]
    noised = normalizer.unscale(a.sqrt() * normalizer.scale(image_encoder(pixels)) + (1 - a).sqrt() * torch.randn(n, EMBED_DIM, generator=gen))
    cond = torch.cat([noised, timestep_embedding(levels, EMBED_DIM)], -1)
    class_labels = torch.cat([torch.zeros_like(cond), cond])
    # The empty caption is BOS followed by EOS padding; the ids of both are the last two of the vocabulary.
    vocab = text_encoder.token.num_embeddings
    ids = torch.full((2 * n, MAX_TOKENS), vocab - 1, dtype=torch.long)
    ids[:, 0] = vocab - 2
    context = text_encoder(ids)
    alphas = scaled_linear_alphas_cumprod()
    ratio = 1000 // steps
    timesteps = [i * ratio + 1 for i in reversed(range(steps))]
    latents = torch.randn(n, 4, 14, 14, generator=gen)
    for i, t in enumerate(timesteps):
        out = unet(torch.cat([latents, latents]), torch.full((2 * n,), float(t)), context, class_labels)
        uncond, c = out.chunk(2)
        guided = uncond + guidance * (c - uncond)
        a_t = alphas[t]
        a_prev = alphas[timesteps[i + 1]] if i + 1 < len(timesteps) else alphas[0]
        if prediction == 'v_prediction':
            x0 = a_t.sqrt() * latents - (1 - a_t).sqrt() * guided
            eps = a_t.sqrt() * guided + (1 - a_t).sqrt() * latents
        else:
            eps = guided
            x0 = (latents - (1 - a_t).sqrt() * eps) / a_t.sqrt()
        latents = a_prev.sqrt() * x0 + (1 - a_prev).sqrt() * eps
    return F.pixel_shuffle(latents, 2).clamp(-1, 1)


def pixel_classifier(count=20000, epochs=10, seed=0):
    images, labels = data.load('train')
    x = torch.from_numpy(images[:count].reshape(count, -1).astype(np.float32) / 127.5 - 1)
    y = torch.from_numpy(labels[:count].astype(np.int64))
    torch.manual_seed(seed)
    model = torch.nn.Linear(784, 10)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4)
    for _ in range(epochs):
        for idx in torch.randperm(count).split(256):
            opt.zero_grad()
            F.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
    return lambda pixels: model(pixels.reshape(len(pixels), -1)).argmax(1)


def shifted_mirrored(batch, gen, pad=2):
    """Each image mirrored with probability 1/2 and shifted by up to `pad` pixels, background-filled."""
    padded = F.pad(batch, (pad, pad, pad, pad), value=-1.0)
    dx = torch.randint(0, 2 * pad + 1, (len(batch),), generator=gen)
    dy = torch.randint(0, 2 * pad + 1, (len(batch),), generator=gen)
    out = torch.stack([padded[i, :, dy[i]:dy[i] + 28, dx[i]:dx[i] + 28] for i in range(len(batch))])
    flip = torch.rand(len(batch), 1, 1, 1, generator=gen) < 0.5
    return torch.where(flip, out.flip(3), out)


def cnn_classifier(count=20000, epochs=3, seed=0):
    images, labels = data.load('train')
    x = torch.from_numpy(images[:count].astype(np.float32) / 127.5 - 1)[:, None]
    y = torch.from_numpy(labels[:count].astype(np.int64))
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 32, 3, stride=2, padding=1), torch.nn.ReLU(),
        torch.nn.Conv2d(32, 64, 3, stride=2, padding=1), torch.nn.ReLU(),
        torch.nn.Flatten(), torch.nn.Linear(64 * 49, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(epochs):
        for idx in torch.randperm(count, generator=gen).split(128):
            opt.zero_grad()
            F.cross_entropy(model(shifted_mirrored(x[idx], gen)), y[idx]).backward()
            opt.step()
    model.eval()
    return lambda pixels: model(pixels).argmax(1)


def main():
    torch.set_num_threads(2)
    parts = load(sys.argv[1])
    sources = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    images, labels = data.load('test')
    x = torch.from_numpy(images[:sources].astype(np.float32) / 127.5 - 1)[:, None]
    y = torch.from_numpy(labels[:sources].astype(np.int64))
    cnn, linear = cnn_classifier(), pixel_classifier()
    with torch.no_grad():
        print(f'real sources: class {100 * (cnn(x) == y).float().mean():.1f} % (raw-pixel linear {100 * (linear(x) == y).float().mean():.1f} %)')
        for level in (0, 300, 600, 999):
            a, b = variations(parts, x, level, seed=1), variations(parts, x, level, seed=2)
            kept, kept_linear = (100 * (c(a) == y).float().mean() for c in (cnn, linear))
            distance = (a - b).reshape(sources, -1).norm(dim=1).mean()
            print(f'noise level {level}: class kept {kept:.1f} % (linear {kept_linear:.1f} %), view-to-view distance {distance:.2f}', flush=True)


if __name__ == '__main__':
    main()
