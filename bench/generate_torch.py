"""PyTorch reference for `npm run bench:generate`: the same networks and weights as the ONNX pipeline,
the same sampling loop (DDIM, classifier-free guidance as a doubled batch), timed per part.

Prints one JSON line: {"images_per_s", "parts": {image_encoder, text_encoder, unet, vae_decoder} ms}.
"""
import json
import math
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..'))
from tools.diffusion.tiny_unclip.model import (EMBED_DIM, MAX_TOKENS, ImageEncoder, ImageNormalizer, TextEncoder, UNet,  # noqa: E402
                                               cosine_alphas_cumprod, scaled_linear_alphas_cumprod, timestep_embedding)


def main():
    weights, images, batch, steps, guidance, threads, repeats = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7])
    torch.set_num_threads(threads)
    state = torch.load(weights)
    image_encoder, text_encoder, unet, normalizer = ImageEncoder(32), TextEncoder(state['vocab_size']), UNet(state['width']), ImageNormalizer()
    for module, key in ((image_encoder, 'image_encoder'), (text_encoder, 'text_encoder'), (unet, 'unet'), (normalizer, 'normalizer')):
        module.load_state_dict(state[key])
        module.eval()
    v_prediction = state.get('prediction', 'epsilon') == 'v_prediction'
    alphas = scaled_linear_alphas_cumprod()
    noising = cosine_alphas_cumprod()
    # DDIM "leading" spacing with steps_offset 1, set_alpha_to_one False: the scheduler_config.json we export.
    ratio = 1000 // steps
    timesteps = [i * ratio + 1 for i in reversed(range(steps))]
    parts = {'image_encoder': 0.0, 'text_encoder': 0.0, 'unet': 0.0, 'vae_decoder': 0.0}
    gen = torch.Generator().manual_seed(0)
    pixels = torch.rand(images, 1, 28, 28, generator=gen) * 2 - 1

    def timed(part, fn):
        start = time.perf_counter()
        out = fn()
        parts[part] += (time.perf_counter() - start) * 1000
        return out

    total = 0.0
    for repeat in range(repeats + 1):
        if repeat == 1:
            for k in parts:
                parts[k] = 0.0
        started = time.perf_counter()
        with torch.no_grad():
            for at in range(0, images, batch):
                x = pixels[at:at + batch]
                n = len(x)
                embeds = timed('image_encoder', lambda: image_encoder(x))
                level = torch.zeros(n, dtype=torch.long)
                a = noising[level][:, None]
                noised = normalizer.unscale(a.sqrt() * normalizer.scale(embeds) + (1 - a).sqrt() * torch.randn(embeds.shape, generator=gen))
                cond = torch.cat([noised, timestep_embedding(level, EMBED_DIM)], -1)
                class_labels = torch.cat([torch.zeros_like(cond), cond])
                ids = torch.full((2 * n, MAX_TOKENS), 0, dtype=torch.long)
                context = timed('text_encoder', lambda: text_encoder(ids))
                latents = torch.randn(n, 4, 14, 14, generator=gen)
                for i, t in enumerate(timesteps):
                    out = timed('unet', lambda: unet(torch.cat([latents, latents]), torch.full((2 * n,), float(t)), context, class_labels))
                    uncond, c = out.chunk(2)
                    guided = uncond + guidance * (c - uncond)
                    prev = timesteps[i + 1] if i + 1 < len(timesteps) else -1
                    a_t = alphas[t]
                    a_prev = alphas[prev] if prev >= 0 else alphas[0]
                    if v_prediction:
                        x0 = a_t.sqrt() * latents - (1 - a_t).sqrt() * guided
                        eps = a_t.sqrt() * guided + (1 - a_t).sqrt() * latents
                    else:
                        eps = guided
                        x0 = (latents - (1 - a_t).sqrt() * eps) / a_t.sqrt()
                    latents = a_prev.sqrt() * x0 + (1 - a_prev).sqrt() * eps
                timed('vae_decoder', lambda: F.pixel_shuffle(latents, 2).clamp(-1, 1))
        if repeat > 0:
            total += time.perf_counter() - started
    print(json.dumps({'images_per_s': images * repeats / total, 'seconds': total / repeats, 'parts': {k: v / repeats for k, v in parts.items()}}))


if __name__ == '__main__':
    main()
