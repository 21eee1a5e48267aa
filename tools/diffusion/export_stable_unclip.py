"""Exports a Stable unCLIP (SD 2.1 unCLIP) pipeline from diffusers into the ONNX folder layout that
@genview/views' `onnx-diffusion` generator loads. Run it on a machine with internet access:

    python3 -m venv .venv && . .venv/bin/activate
    pip install torch diffusers transformers onnx accelerate safetensors
    python3 tools/diffusion/export_stable_unclip.py --model stabilityai/stable-diffusion-2-1-unclip-small --out ./sd21-unclip-onnx

then copy the folder to the training machine and point the generator at it:

    genview generate --set generate.generator.path=./sd21-unclip-onnx --set generate.generator.steps=20 \
        --set generate.generator.guidanceScale=10

This recipe has not been run in the project's offline CI (no model hub there); the folder it writes has
the same parts and input names as our own tiny pipeline (tools/diffusion/tiny_unclip), which is tested.
"""
import argparse
import json
import os

import onnx
import torch


def export(module, args, path, input_names, output_names, dynamic_axes, fp16):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + '.tmp'
    with torch.no_grad():
        torch.onnx.export(module, args, tmp, input_names=input_names, output_names=output_names,
                          dynamic_axes=dynamic_axes, opset_version=17, do_constant_folding=True)
    model = onnx.load(tmp, load_external_data=True)
    # The UNet is over 2 GB in fp32: ONNX keeps such weights beside the graph, in model.onnx_data.
    onnx.save_model(model, path, save_as_external_data=True, all_tensors_to_one_file=True,
                    location='model.onnx_data', size_threshold=1024)
    for leftover in os.listdir(os.path.dirname(path)):
        full = os.path.join(os.path.dirname(path), leftover)
        if full != path and not leftover.startswith('model.onnx_data') and leftover != 'config.json':
            os.remove(full)


class ImageEmbeds(torch.nn.Module):
    def __init__(self, encoder):
        super().__init__()
        self.encoder = encoder

    def forward(self, pixel_values):
        return self.encoder(pixel_values).image_embeds


class TextStates(torch.nn.Module):
    def __init__(self, encoder):
        super().__init__()
        self.encoder = encoder

    def forward(self, input_ids):
        return self.encoder(input_ids).last_hidden_state


class UNet(torch.nn.Module):
    def __init__(self, unet):
        super().__init__()
        self.unet = unet

    def forward(self, sample, timestep, encoder_hidden_states, class_labels):
        return self.unet(sample, timestep, encoder_hidden_states, class_labels=class_labels).sample


class VaeEncoder(torch.nn.Module):
    def __init__(self, vae):
        super().__init__()
        self.vae = vae

    def forward(self, sample):
        # The mode, not a sample: generated views must be a function of the seed the pipeline draws.
        return self.vae.encode(sample).latent_dist.mode()


class VaeDecoder(torch.nn.Module):
    def __init__(self, vae):
        super().__init__()
        self.vae = vae

    def forward(self, latent_sample):
        return self.vae.decode(latent_sample).sample


def main():
    from diffusers import StableUnCLIPImg2ImgPipeline
    from safetensors.torch import save_file

    parser = argparse.ArgumentParser()
    parser.add_argument('--model', default='stabilityai/stable-diffusion-2-1-unclip-small')
    parser.add_argument('--out', required=True)
    parser.add_argument('--fp16', action='store_true', help='export in float16 (needs a CUDA machine to trace)')
    args = parser.parse_args()
    dtype = torch.float16 if args.fp16 else torch.float32
    device = 'cuda' if args.fp16 else 'cpu'
    pipe = StableUnCLIPImg2ImgPipeline.from_pretrained(args.model, torch_dtype=dtype).to(device)
    out = args.out
    size = pipe.feature_extractor.crop_size['height']
    latent = pipe.unet.config.sample_size
    tokens = pipe.tokenizer.model_max_length
    b = 2
    batch = {0: 'batch'}

    export(ImageEmbeds(pipe.image_encoder).eval(), (torch.zeros(b, 3, size, size, dtype=dtype, device=device),),
           f'{out}/image_encoder/model.onnx', ['pixel_values'], ['image_embeds'],
           {'pixel_values': batch, 'image_embeds': batch}, args.fp16)
    export(TextStates(pipe.text_encoder).eval(), (torch.zeros(b, tokens, dtype=torch.int64, device=device),),
           f'{out}/text_encoder/model.onnx', ['input_ids'], ['last_hidden_state'],
           {'input_ids': batch, 'last_hidden_state': batch}, args.fp16)
    embed_dim = pipe.image_encoder.config.projection_dim
    export(UNet(pipe.unet).eval(),
           (torch.zeros(b, 4, latent, latent, dtype=dtype, device=device), torch.ones(b, dtype=torch.float32, device=device),
            torch.zeros(b, tokens, pipe.text_encoder.config.hidden_size, dtype=dtype, device=device),
            torch.zeros(b, 2 * embed_dim, dtype=dtype, device=device)),
           f'{out}/unet/model.onnx', ['sample', 'timestep', 'encoder_hidden_states', 'class_labels'], ['out_sample'],
           {'sample': batch, 'timestep': batch, 'encoder_hidden_states': batch, 'class_labels': batch, 'out_sample': batch},
           args.fp16)
    pixels = latent * 2 ** (len(pipe.vae.config.block_out_channels) - 1)
    export(VaeEncoder(pipe.vae).eval(), (torch.zeros(b, 3, pixels, pixels, dtype=dtype, device=device),),
           f'{out}/vae_encoder/model.onnx', ['sample'], ['latent_sample'], {'sample': batch, 'latent_sample': batch}, args.fp16)
    export(VaeDecoder(pipe.vae).eval(), (torch.zeros(b, 4, latent, latent, dtype=dtype, device=device),),
           f'{out}/vae_decoder/model.onnx', ['latent_sample'], ['sample'], {'latent_sample': batch, 'sample': batch}, args.fp16)

    pipe.scheduler.save_pretrained(f'{out}/scheduler')
    pipe.image_noising_scheduler.save_pretrained(f'{out}/image_noising_scheduler')
    pipe.tokenizer.save_pretrained(f'{out}/tokenizer')
    pipe.feature_extractor.save_pretrained(f'{out}/feature_extractor')
    os.makedirs(f'{out}/image_normalizer', exist_ok=True)
    save_file({'mean': pipe.image_normalizer.mean.float().cpu().contiguous(), 'std': pipe.image_normalizer.std.float().cpu().contiguous()},
              f'{out}/image_normalizer/diffusion_pytorch_model.safetensors')
    for part in ('vae_encoder', 'vae_decoder'):
        with open(f'{out}/{part}/config.json', 'w') as f:
            json.dump({**dict(pipe.vae.config), 'sample_size': pixels}, f, indent=2, default=str)
    with open(f'{out}/model_index.json', 'w') as f:
        json.dump({'_class_name': 'StableUnCLIPImg2ImgPipeline', 'source_model': args.model}, f, indent=2)
    print(f'wrote {out}')


if __name__ == '__main__':
    main()
