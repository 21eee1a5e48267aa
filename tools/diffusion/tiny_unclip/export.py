"""Writes the networks in the standard ONNX diffusion folder layout (the layout real exports use)."""
import json
import os
import struct

import torch

from . import bpe
from .model import EMBED_DIM, MAX_TOKENS, TEXT_DIM, DepthToSpaceDecoder, SpaceToDepthEncoder

OPSET = 14


def _export(module, args, path, input_names, output_names, dynamic_axes):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    module.eval()
    with torch.no_grad():
        torch.onnx.export(module, args, path, input_names=input_names, output_names=output_names,
                          dynamic_axes=dynamic_axes, opset_version=OPSET, do_constant_folding=True)


def write_safetensors(path: str, tensors: dict[str, torch.Tensor]) -> None:
    header, offset, blobs = {}, 0, []
    for name, t in tensors.items():
        data = t.detach().contiguous().float().numpy().tobytes()
        header[name] = {'dtype': 'F32', 'shape': list(t.shape), 'data_offsets': [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    raw = json.dumps(header).encode('utf-8')
    raw += b' ' * ((8 - len(raw) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(raw)) + raw + b''.join(blobs))


def _json(path, value):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        json.dump(value, f, indent=2)
        f.write('\n')


def export_pipeline(out, *, image_encoder, text_encoder, unet, normalizer, vocab, merges,
                    timestep_dtype=torch.float32, model_card=None, prediction_type='epsilon'):
    b = 2
    pixel = torch.zeros(b, 1, 28, 28)
    _export(image_encoder, (pixel,), f'{out}/image_encoder/model.onnx', ['pixel_values'], ['image_embeds'],
            {'pixel_values': {0: 'batch'}, 'image_embeds': {0: 'batch'}})
    ids = torch.zeros(b, MAX_TOKENS, dtype=torch.int64)
    _export(text_encoder, (ids,), f'{out}/text_encoder/model.onnx', ['input_ids'], ['last_hidden_state'],
            {'input_ids': {0: 'batch'}, 'last_hidden_state': {0: 'batch'}})

    class UNetWithTimestepType(torch.nn.Module):
        """Lets fixtures declare an int64 timestep as some real exports do, while the model sees floats."""

        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, sample, timestep, encoder_hidden_states, class_labels):
            return self.inner(sample, timestep.float(), encoder_hidden_states, class_labels)

    _export(UNetWithTimestepType(unet),
            (torch.zeros(b, 4, 14, 14), torch.ones(b, dtype=timestep_dtype), torch.zeros(b, MAX_TOKENS, TEXT_DIM),
             torch.zeros(b, 2 * EMBED_DIM)),
            f'{out}/unet/model.onnx', ['sample', 'timestep', 'encoder_hidden_states', 'class_labels'], ['out_sample'],
            {'sample': {0: 'batch'}, 'timestep': {0: 'batch'}, 'encoder_hidden_states': {0: 'batch'},
             'class_labels': {0: 'batch'}, 'out_sample': {0: 'batch'}})
    _export(SpaceToDepthEncoder(), (torch.zeros(b, 1, 28, 28),), f'{out}/vae_encoder/model.onnx', ['sample'],
            ['latent_sample'], {'sample': {0: 'batch'}, 'latent_sample': {0: 'batch'}})
    _export(DepthToSpaceDecoder(), (torch.zeros(b, 4, 14, 14),), f'{out}/vae_decoder/model.onnx', ['latent_sample'],
            ['sample'], {'latent_sample': {0: 'batch'}, 'sample': {0: 'batch'}})

    os.makedirs(f'{out}/image_normalizer', exist_ok=True)
    write_safetensors(f'{out}/image_normalizer/diffusion_pytorch_model.safetensors',
                      {'mean': normalizer.mean, 'std': normalizer.std})
    _json(f'{out}/image_normalizer/config.json', {'_class_name': 'StableUnCLIPImageNormalizer', 'embedding_dim': EMBED_DIM})
    bpe.write(f'{out}/tokenizer', vocab, merges, MAX_TOKENS)
    # The space-to-depth "VAE" is exact, so latents need no rescaling.
    _json(f'{out}/vae_decoder/config.json', {'_class_name': 'AutoencoderKL', 'scaling_factor': 1.0, 'latent_channels': 4,
                                             'in_channels': 1, 'out_channels': 1, 'sample_size': 28})
    _json(f'{out}/vae_encoder/config.json', {'_class_name': 'AutoencoderKL', 'scaling_factor': 1.0, 'latent_channels': 4,
                                             'in_channels': 1, 'out_channels': 1, 'sample_size': 28})
    _json(f'{out}/scheduler/scheduler_config.json', {
        '_class_name': 'DDIMScheduler', 'num_train_timesteps': 1000, 'beta_start': 0.00085, 'beta_end': 0.012,
        'beta_schedule': 'scaled_linear', 'prediction_type': prediction_type, 'timestep_spacing': 'leading',
        'steps_offset': 1, 'set_alpha_to_one': False, 'clip_sample': False})
    _json(f'{out}/image_noising_scheduler/scheduler_config.json', {
        '_class_name': 'DDPMScheduler', 'num_train_timesteps': 1000, 'beta_schedule': 'squaredcos_cap_v2',
        'prediction_type': 'epsilon', 'clip_sample': False})
    _json(f'{out}/feature_extractor/preprocessor_config.json', {
        'image_processor_type': 'CLIPImageProcessor', 'do_resize': True, 'size': {'shortest_edge': 28},
        'do_center_crop': True, 'crop_size': {'height': 28, 'width': 28}, 'do_normalize': True,
        'image_mean': [0.5], 'image_std': [0.5], 'do_convert_rgb': False})
    _json(f'{out}/model_index.json', {
        '_class_name': 'StableUnCLIPImg2ImgPipeline', '_diffusers_version': '0.30.0',
        'feature_extractor': ['transformers', 'CLIPImageProcessor'],
        'image_encoder': ['transformers', 'CLIPVisionModelWithProjection'],
        'image_normalizer': ['stable_diffusion', 'StableUnCLIPImageNormalizer'],
        'image_noising_scheduler': ['diffusers', 'DDPMScheduler'],
        'scheduler': ['diffusers', 'DDIMScheduler'],
        'text_encoder': ['transformers', 'CLIPTextModel'],
        'tokenizer': ['transformers', 'CLIPTokenizer'],
        'unet': ['diffusers', 'UNet2DConditionModel'],
        'vae': ['diffusers', 'AutoencoderKL'],
    })
    if model_card:
        with open(f'{out}/README.md', 'w') as f:
            f.write(model_card)
