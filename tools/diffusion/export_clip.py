"""Exports a CLIP model from transformers into the frozen CLIP folder layout that @genview/views'
`OnnxClipModel` loads (and that runner configs name as `onnx:<folder>`, e.g. for GenView++'s image-text
quality weights). Run it on a machine with internet access:

    python3 -m venv .venv && . .venv/bin/activate
    pip install torch transformers onnx
    python3 tools/diffusion/export_clip.py --model openai/clip-vit-base-patch32 --out ./clip-b32-onnx

then copy the folder to the training machine and name it in the quality scorer:

    quality: { name: alignment-diversity, pairs: image-text, alignment: onnx:./clip-b32-onnx,
               encoder: checkpoint:runs/frozen, direction: runs/fg.safetensors }

Layout written (the parts CLIPVisionModelWithProjection / CLIPTextModelWithProjection give):
    image_encoder/model.onnx   pixel_values [N, 3, S, S] -> image_embeds [N, E]
    text_encoder/model.onnx    input_ids [N, L] (int64) -> text_embeds [N, E]
    tokenizer/                 the CLIP tokenizer's vocab.json, merges.txt and configs
    feature_extractor/         the image processor's preprocessor_config.json (crop size, mean, std)

This recipe has not been run in the project's offline CI (no model hub there); the folder it writes has
the same parts and names as our own tiny CLIP (tools/diffusion/tiny_unclip/export_clip.py), which is tested.
"""
import argparse

import torch

from export_stable_unclip import export


class ImageEmbeds(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, pixel_values):
        return self.model(pixel_values=pixel_values).image_embeds


class TextEmbeds(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids):
        return self.model(input_ids=input_ids).text_embeds


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--model', default='openai/clip-vit-base-patch32')
    parser.add_argument('--out', required=True)
    args = parser.parse_args()

    from transformers import CLIPImageProcessor, CLIPTextModelWithProjection, CLIPTokenizer, CLIPVisionModelWithProjection

    vision = CLIPVisionModelWithProjection.from_pretrained(args.model).eval()
    text = CLIPTextModelWithProjection.from_pretrained(args.model).eval()
    tokenizer = CLIPTokenizer.from_pretrained(args.model)
    processor = CLIPImageProcessor.from_pretrained(args.model)
    size = processor.crop_size['height']
    export(ImageEmbeds(vision), (torch.zeros(2, 3, size, size),), f'{args.out}/image_encoder/model.onnx', ['pixel_values'], ['image_embeds'],
           {'pixel_values': {0: 'batch'}, 'image_embeds': {0: 'batch'}}, fp16=False)
    ids = torch.zeros(2, tokenizer.model_max_length, dtype=torch.int64)
    export(TextEmbeds(text), (ids,), f'{args.out}/text_encoder/model.onnx', ['input_ids'], ['text_embeds'],
           {'input_ids': {0: 'batch'}, 'text_embeds': {0: 'batch'}}, fp16=False)
    tokenizer.save_pretrained(f'{args.out}/tokenizer')
    processor.save_pretrained(f'{args.out}/feature_extractor')
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
