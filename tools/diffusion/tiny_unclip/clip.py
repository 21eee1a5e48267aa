"""CLIP-style alignment of the image encoder with the caption encoder.

Stable unCLIP conditions on a CLIP image embedding that was trained, before and apart from the
diffusion model, to match captions; that is what makes a variation at noise level 0 keep the subject.
Our captions are written from the class names, so two images of one class have interchangeable
captions: the contrastive target counts every same-class caption in the batch as a match (soft
targets), instead of pretending the duplicates are negatives.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from .model import EMBED_DIM, TEXT_DIM


class CaptionHead(nn.Module):
    """Pools the caption at its first end-of-text token (as CLIP does) and projects it to the image embedding width."""

    def __init__(self, eos_id: int):
        super().__init__()
        self.eos_id = eos_id
        self.proj = nn.Linear(TEXT_DIM, EMBED_DIM, bias=False)
        self.log_scale = nn.Parameter(torch.tensor(2.659))  # log(1/0.07), CLIP's initial temperature

    def forward(self, hidden: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        first_eos = (ids == self.eos_id).int().argmax(dim=1)
        return self.proj(hidden[torch.arange(len(ids)), first_eos])


def clip_loss(image_embeds: torch.Tensor, caption_embeds: torch.Tensor, labels: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
    img = F.normalize(image_embeds, dim=-1)
    txt = F.normalize(caption_embeds, dim=-1)
    logits = log_scale.clamp(max=4.6052).exp() * img @ txt.t()
    same = (labels[:, None] == labels[None, :]).float()
    targets = same / same.sum(dim=1, keepdim=True)
    return 0.5 * (torch.sum(-targets * logits.log_softmax(1), 1).mean() + torch.sum(-targets * logits.t().log_softmax(1), 1).mean())
