"""Trains GenView's own small unCLIP-style model on Fashion-MNIST and exports it as an ONNX pipeline.

    /usr/bin/python3 -m tools.diffusion.tiny_unclip.train --out packages/model-tiny-unclip/pipeline --minutes 25
    /usr/bin/python3 -m tools.diffusion.tiny_unclip.train --random --out packages/views/test/fixtures/tiny-random-unclip

The recipe follows Stable unCLIP at a small scale: the image embedding is normalised, noised to a random
level in 0..999 (the "noise_level" augmentation that lets variations be more or less free at sampling
time), unnormalised and concatenated with a sinusoidal embedding of the level. The image encoder is
trained jointly with the UNet (a diffusion autoencoder), from pixels only; captions made from the class
names condition the UNet through cross-attention. Conditions are dropped independently (image 25%,
caption 50%) so classifier-free guidance and the text-only and image-only modes all work.
"""
import argparse
import copy
import json
import math
import os
import random
import time

import numpy as np
import torch
import torch.nn.functional as F

from . import bpe, data
from .clip import CaptionHead, clip_loss
from .export import export_pipeline
from .model import (ImageEncoder, ImageNormalizer, TextEncoder, UNet, cosine_alphas_cumprod, noise_image_embeds,
                    scaled_linear_alphas_cumprod, MAX_TOKENS)

BPE_MERGES = 120
ODD_STRINGS = ['A Photo of a T-Shirt!!', 'a café  sneaker', 'two bags_and 3 coats', '', 'zebra']


def tokenizer_fixture(vocab, merges) -> dict:
    texts = data.all_captions() + ODD_STRINGS
    return {'max_length': MAX_TOKENS, 'cases': [{'text': t, 'ids': bpe.encode(t, vocab, merges, MAX_TOKENS)} for t in texts]}


def build(args, vocab_size):
    torch.manual_seed(args.seed)
    width = 16 if args.random else args.width
    return (ImageEncoder(width=8 if args.random else 32), TextEncoder(vocab_size, layers=1 if args.random else 2),
            UNet(width=width), ImageNormalizer())


def save_weights(path, args, image_encoder, text_encoder, unet, normalizer, caption_head, vocab_size):
    """Written to a temporary file and renamed, so a run stopped mid-save keeps the previous weights."""
    os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
    torch.save({'image_encoder': image_encoder.state_dict(), 'text_encoder': text_encoder.state_dict(),
                'unet': unet.state_dict(), 'normalizer': normalizer.state_dict(),
                'caption_head': caption_head.state_dict(), 'width': args.width, 'vocab_size': vocab_size,
                'prediction': args.prediction}, path + '.tmp')
    os.replace(path + '.tmp', path)


def flip_half(x, gen):
    flip = torch.rand(len(x), generator=gen) < 0.5
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


def align_encoders(args, image_encoder, text_encoder, caption_head, normalizer, x_all, y_all, caption_ids, rng, gen):
    """Stage 1 (as CLIP precedes unCLIP): image and caption encoders learn a shared embedding."""
    params = list(image_encoder.parameters()) + list(text_encoder.parameters()) + list(caption_head.parameters())
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.01)
    deadline, step, losses = time.time() + args.clip_minutes * 60, 0, []
    while time.time() < deadline:
        idx = torch.randint(0, len(x_all), (256,), generator=gen)
        embeds = image_encoder(flip_half(x_all[idx], gen))
        normalizer.track(embeds.detach(), momentum=0.05)
        ids = torch.stack([caption_ids[data.caption_for(int(y), rng)] for y in y_all[idx]])
        loss = clip_loss(embeds, caption_head(text_encoder(ids), ids), y_all[idx], caption_head.log_scale)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        step += 1
        if step % 100 == 0:
            print(f'align step {step} loss {np.mean(losses[-100:]):.4f}', flush=True)
    return step


def train(args, image_encoder, text_encoder, unet, normalizer, caption_head, vocab, merges):
    torch.set_num_threads(args.threads)
    images, labels = data.load('train')
    x_all = torch.from_numpy(images.astype(np.float32) / 127.5 - 1.0)[:, None]
    y_all = torch.from_numpy(labels.astype(np.int64))
    captions = data.all_captions()
    caption_ids = {c: torch.tensor(bpe.encode(c, vocab, merges, MAX_TOKENS)) for c in captions + ['']}
    rng = random.Random(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    if args.clip_minutes > 0:
        print(f'aligned encoders in {align_encoders(args, image_encoder, text_encoder, caption_head, normalizer, x_all, y_all, caption_ids, rng, gen)} steps', flush=True)
    latent_cumprod = scaled_linear_alphas_cumprod()
    noise_cumprod = cosine_alphas_cumprod()
    frozen = args.freeze_encoders
    if frozen:
        # Only the UNet learns: the image embedding space (and what depends on it: the exported frozen CLIP,
        # the generative prior's features) stays exactly as it was.
        for module in (image_encoder, text_encoder, caption_head):
            module.requires_grad_(False)
        params = list(unet.parameters())
    else:
        params = list(image_encoder.parameters()) + list(text_encoder.parameters()) + list(unet.parameters()) + list(caption_head.parameters())
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.01)
    ema = [copy.deepcopy(m).eval() for m in (image_encoder, text_encoder, unet)]
    deadline = time.time() + args.minutes * 60
    step, total_steps, losses, started = 0, None, [], time.time()
    last_save = started
    while True:
        order = torch.randperm(len(x_all), generator=gen)
        for start in range(0, len(order) - args.batch + 1, args.batch):
            idx = order[start:start + args.batch]
            x = flip_half(x_all[idx], gen)
            embeds = image_encoder(x)
            if not frozen:
                normalizer.track(embeds.detach())
            noise_level = torch.randint(0, 1000, (len(idx),), generator=gen)
            class_labels = noise_image_embeds(embeds, noise_level, normalizer, noise_cumprod, gen)
            keep_image = (torch.rand(len(idx), generator=gen) > 0.25).float()[:, None]
            class_labels = class_labels * keep_image
            full = [data.caption_for(int(y), rng) for y in y_all[idx]]
            texts = [t if rng.random() < 0.5 else '' for t in full]
            context = text_encoder(torch.stack([caption_ids[t] for t in texts]))
            # Keeps the image embedding aligned with the captions while the diffusion loss adds instance detail.
            full_ids = torch.stack([caption_ids[t] for t in full])
            aligned = torch.zeros(()) if frozen else clip_loss(embeds, caption_head(text_encoder(full_ids), full_ids), y_all[idx], caption_head.log_scale)
            latents = F.pixel_unshuffle(x, 2)
            t = torch.randint(0, 1000, (len(idx),), generator=gen)
            eps = torch.randn(latents.shape, generator=gen)
            a = latent_cumprod[t][:, None, None, None]
            noisy = a.sqrt() * latents + (1 - a).sqrt() * eps
            # v-prediction (as Stable unCLIP 2.1): cleaner samples in few steps than epsilon, whose errors the
            # sampler amplifies by 1/sqrt(alpha_bar) at the high-noise steps that set an image's layout.
            target = a.sqrt() * eps - (1 - a).sqrt() * latents if args.prediction == 'v_prediction' else eps
            denoise = F.mse_loss(unet(noisy, t.float(), context, class_labels), target)
            loss = denoise + args.clip_weight * aligned
            if total_steps is not None:
                warm = min(1.0, step / 200)
                progress = min(1.0, step / total_steps)
                for g in opt.param_groups:
                    g['lr'] = args.lr * warm * 0.5 * (1 + math.cos(math.pi * progress))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            decay = min(0.999, (1 + step) / (10 + step))
            with torch.no_grad():
                for target, source in zip(ema, (image_encoder, text_encoder, unet)):
                    for pt, ps in zip(target.parameters(), source.parameters()):
                        pt.lerp_(ps, 1 - decay)
            losses.append(denoise.item())
            step += 1
            if args.weights and time.time() - last_save > args.save_every * 60:
                save_weights(args.weights, args, *ema, normalizer, caption_head, len(vocab))
                last_save = time.time()
            if step == 30:
                per_step = (time.time() - started) / step
                total_steps = int(args.minutes * 60 / per_step)
                print(f'{per_step * 1000:.0f} ms/step; planning {total_steps} steps ({total_steps * args.batch / len(x_all):.1f} epochs)', flush=True)
            if step % 100 == 0:
                print(f'step {step} loss {np.mean(losses[-100:]):.4f} align {aligned.item():.3f} elapsed {time.time() - started:.0f}s', flush=True)
            if (total_steps is not None and step >= total_steps) or time.time() > deadline:
                return ema, step, float(np.mean(losses[-200:]))


MODEL_CARD = """# genview tiny unCLIP (Fashion-MNIST, 28x28 grey)

GenView's own small image-embedding-conditioned diffusion model, in the standard ONNX diffusion folder
layout (model_index.json, scheduler/, image_noising_scheduler/, image_normalizer/, feature_extractor/,
image_encoder/, text_encoder/, tokenizer/, unet/, vae_encoder/, vae_decoder/).

- Trained by `tools/diffusion/tiny_unclip/train.py` on the Fashion-MNIST training set ({steps} steps of
  batch {batch}, {minutes} minutes on 2 CPU threads, final loss {loss:.4f}, seed {seed}); EMA weights.
- As CLIP precedes Stable unCLIP, the image encoder (a small CNN, 64-d embedding) is first aligned
  contrastively with the caption encoder; the captions are written from the class names ("a photo of
  a sneaker"), so same-class captions count as matches. That alignment loss stays on, at half weight,
  while the diffusion model trains. The model has therefore seen the labels through its captions.
- Conditioning as Stable unCLIP: the image embedding is normalised, noised to `noise_level` (0..999,
  cosine schedule), unnormalised, concatenated with a sinusoidal embedding of the level, and fed as
  `class_labels`. Captions condition through cross-attention. Image and caption are dropped
  independently (25 %, 50 %) for classifier-free guidance and the text-only mode.
- The UNet predicts {prediction} (as Stable unCLIP 2.1 does, `prediction_type` in scheduler_config.json).
- The VAE is an exact 2x space-to-depth rearrangement (28x28x1 <-> 14x14x4), scaling factor 1.
"""


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--out', required=True)
    parser.add_argument('--random', action='store_true', help='tiny random-weight pipeline for unit tests')
    parser.add_argument('--width', type=int, default=48)
    parser.add_argument('--batch', type=int, default=128)
    parser.add_argument('--lr', type=float, default=1e-3)
    parser.add_argument('--minutes', type=float, default=25)
    parser.add_argument('--clip-minutes', type=float, default=3, help='stage 1: align image and caption encoders first')
    parser.add_argument('--clip-weight', type=float, default=0.5, help='weight of the alignment loss during diffusion training')
    parser.add_argument('--prediction', choices=['v_prediction', 'epsilon'], default='v_prediction')
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--weights', help='also save the PyTorch weights here (for the generation benchmark); saved every --save-every minutes while training')
    parser.add_argument('--save-every', type=float, default=5)
    parser.add_argument('--freeze-encoders', action='store_true', help='with --init: train the UNet only, keeping the image and caption encoders (and the embedding normaliser) as they are')
    parser.add_argument('--init', help='continue from weights saved by --weights (same width and vocabulary)')
    parser.add_argument('--export-only', action='store_true', help='export --init as a pipeline without training')
    parser.add_argument('--card', help='JSON with steps, minutes, loss for the model card when exporting with --export-only')
    args = parser.parse_args()

    vocab, merges = bpe.train(data.all_captions(), BPE_MERGES)
    image_encoder, text_encoder, unet, normalizer = build(args, len(vocab))
    caption_head = CaptionHead(vocab[bpe.EOS])
    card = None
    if args.init:
        state = torch.load(args.init)
        for module, key in ((image_encoder, 'image_encoder'), (text_encoder, 'text_encoder'), (unet, 'unet'), (normalizer, 'normalizer'), (caption_head, 'caption_head')):
            if key in state:
                module.load_state_dict(state[key])
    if args.random:
        with torch.no_grad():
            normalizer.mean.normal_(0, 0.1)
            normalizer.std.uniform_(0.5, 1.5)
    elif args.export_only:
        if args.card:
            with open(args.card) as f:
                card = MODEL_CARD.format(batch=args.batch, seed=args.seed, prediction=args.prediction, **json.load(f))
    else:
        (image_encoder, text_encoder, unet), steps, loss = train(args, image_encoder, text_encoder, unet, normalizer, caption_head, vocab, merges)
        card = MODEL_CARD.format(steps=steps, batch=args.batch, minutes=args.minutes, loss=loss, seed=args.seed, prediction=args.prediction)
        if args.weights:
            save_weights(args.weights, args, image_encoder, text_encoder, unet, normalizer, caption_head, len(vocab))
    export_pipeline(args.out, image_encoder=image_encoder, text_encoder=text_encoder, unet=unet, normalizer=normalizer,
                    vocab=vocab, merges=merges, timestep_dtype=torch.int64 if args.random else torch.float32,
                    model_card=card, prediction_type=args.prediction)
    with open(os.path.join(args.out, 'tokenizer', 'fixture.json'), 'w') as f:
        json.dump(tokenizer_fixture(vocab, merges), f, ensure_ascii=False)
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
