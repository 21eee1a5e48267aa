"""Exports the tiny unCLIP's aligned image and caption encoders as a frozen CLIP folder.

    /usr/bin/python3 -m tools.diffusion.tiny_unclip.export_clip tools/diffusion/tiny_unclip/weights/tiny-unclip.pt \
        --out packages/model-tiny-unclip/clip
    /usr/bin/python3 -m tools.diffusion.tiny_unclip.export_clip --random --out packages/views/test/fixtures/tiny-random-clip

The layout is the one `@genview/views` reads for frozen CLIP-style scorers (the same parts a Hugging Face
CLIPVisionModelWithProjection / CLIPTextModelWithProjection export gives):
    image_encoder/model.onnx   pixel_values [N, C, H, W] -> image_embeds [N, E], patch_tokens [N, T, E]
    text_encoder/model.onnx    input_ids [N, L] (int64)   -> text_embeds [N, E]
    tokenizer/                 vocab.json + merges.txt (CLIP byte-level BPE)
    feature_extractor/preprocessor_config.json   input size, mean and std
The caption tower here is the diffusion model's text encoder followed by the caption head it was aligned
with (pooled at the first end-of-text token, projected to the image embedding width), so the two
embeddings share one space. patch_tokens is the image tower's last feature map (7x7 for 28x28 inputs), each
position put through the same projection as the pooled embedding: tokens in the joint space whose mean over
the grid is image_embeds exactly (the projection is linear), the frozen patch tokens GenView's foreground
masks and quality weights read.
"""
import argparse
import json
import os

import torch

from . import bpe, data
from .clip import CaptionHead
from .export import _export, _json
from .model import MAX_TOKENS, ImageEncoder, TextEncoder
from .train import BPE_MERGES

CARD = """# genview tiny CLIP (Fashion-MNIST, 28x28 grey)

The image encoder and caption encoder of the tiny unCLIP in ../pipeline, exported as a frozen CLIP-style
model for scoring (GenView++'s image-text alignment): both map into one 64-d space, aligned contrastively on
captions written from the class names ("a photo of a sneaker"; same-class captions count as matches). It has
therefore seen the labels through its captions. The image tower also outputs `patch_tokens` [N, 49, 64]: its 7x7
feature map through the same projection, whose mean is `image_embeds` (GenView's frozen patch tokens, `onnx:tiny-clip`).
Made by `tools/diffusion/tiny_unclip/export_clip.py`.
"""


class ImageTower(torch.nn.Module):
    def __init__(self, image_encoder):
        super().__init__()
        self.image_encoder = image_encoder

    def forward(self, pixel_values):
        grid = self.image_encoder.net(pixel_values)
        embeds = self.image_encoder.proj(grid.mean(dim=(2, 3)))
        tokens = self.image_encoder.proj(grid.flatten(2).transpose(1, 2))
        return embeds, tokens


class CaptionTower(torch.nn.Module):
    def __init__(self, text_encoder, head):
        super().__init__()
        self.text_encoder, self.head = text_encoder, head

    def forward(self, input_ids):
        # CaptionHead's pooling, written with gather: its arange(batch) indexing would trace to a fixed batch.
        hidden = self.text_encoder(input_ids)
        first_eos = (input_ids == self.head.eos_id).int().argmax(dim=1)
        pooled = torch.gather(hidden, 1, first_eos[:, None, None].expand(-1, 1, hidden.shape[-1])).squeeze(1)
        return self.head.proj(pooled)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('weights', nargs='?', help='weights saved by train.py --weights')
    parser.add_argument('--out', required=True)
    parser.add_argument('--random', action='store_true', help='tiny random-weight model for unit tests')
    args = parser.parse_args()
    if not args.random and not args.weights:
        parser.error('give the weights file, or --random')

    vocab, merges = bpe.train(data.all_captions(), BPE_MERGES)
    torch.manual_seed(0)
    image_encoder = ImageEncoder(width=8 if args.random else 32)
    text_encoder = TextEncoder(len(vocab), layers=1 if args.random else 2)
    head = CaptionHead(vocab[bpe.EOS])
    if not args.random:
        state = torch.load(args.weights)
        for module, key in ((image_encoder, 'image_encoder'), (text_encoder, 'text_encoder'), (head, 'caption_head')):
            module.load_state_dict(state[key])

    b = 2
    _export(ImageTower(image_encoder), (torch.zeros(b, 1, 28, 28),), f'{args.out}/image_encoder/model.onnx', ['pixel_values'],
            ['image_embeds', 'patch_tokens'], {'pixel_values': {0: 'batch'}, 'image_embeds': {0: 'batch'}, 'patch_tokens': {0: 'batch'}})
    _export(CaptionTower(text_encoder, head), (torch.zeros(b, MAX_TOKENS, dtype=torch.int64),), f'{args.out}/text_encoder/model.onnx',
            ['input_ids'], ['text_embeds'], {'input_ids': {0: 'batch'}, 'text_embeds': {0: 'batch'}})
    bpe.write(f'{args.out}/tokenizer', vocab, merges, MAX_TOKENS)
    _json(f'{args.out}/feature_extractor/preprocessor_config.json',
          {'image_processor_type': 'CLIPImageProcessor', 'crop_size': {'height': 28, 'width': 28}, 'image_mean': [0.5], 'image_std': [0.5]})
    if not args.random:
        with open(os.path.join(args.out, 'README.md'), 'w') as f:
            f.write(CARD)
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
