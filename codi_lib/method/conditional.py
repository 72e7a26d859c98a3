"""The conditional model: the teacher backbone plus a zero-initialised ControlNet branch.

``ControlNetModel.from_unet`` copies the teacher's encoder (conv_in, time embedding,
down blocks, mid block), adds a conditioning embedding for the condition image, and
feeds the backbone's skip connections through 1x1 convolutions initialised to zero, so
at initialisation the conditional model's output equals the teacher's exactly.
At pixel resolution the conditioning embedding must not downsample, hence
``conditioning_embedding_out_channels=(16,)`` (one conv, no strided blocks).
Introduced in ``notebooks/04_adding_a_condition.ipynb``. Paper Sec. 4 (Fig. 3).
"""
from __future__ import annotations

import copy

import torch
from diffusers import ControlNetModel

from .models import null_context, unet_forward


class ControlledDenoiser(torch.nn.Module):
    """``forward(z, t, cond)``: one network evaluation of backbone + ControlNet branch,
    returning the raw prediction (eps/v/x per schedule). Introduced in notebook 04."""

    def __init__(self, unet, controlnet: ControlNetModel):
        super().__init__()
        self.unet = unet
        self.controlnet = controlnet

    def forward(self, z, t, cond):
        if cond is None:
            raise ValueError("ControlledDenoiser needs a condition tensor")
        t = torch.as_tensor(t, device=z.device)
        if t.dim() == 0:
            t = t.expand(z.shape[0])
        ctx = null_context(self.unet, z.shape[0], z.device, z.dtype)
        down, mid = self.controlnet(z, t, encoder_hidden_states=ctx,
                                    controlnet_cond=cond.to(z.dtype), return_dict=False)
        return unet_forward(self.unet, z, t, ctx, down_residuals=down, mid_residual=mid)


def build_controlnet(unet, cond_channels: int, embedding_channels=(16,)) -> ControlNetModel:
    """The ControlNet branch for ``unet`` at pixel resolution (no downsampling in the
    conditioning embedding). Introduced in notebook 04."""
    return ControlNetModel.from_unet(unet, conditioning_channels=cond_channels,
                                     conditioning_embedding_out_channels=tuple(embedding_channels))


def build_conditional(teacher_unet, cond_channels: int, embedding_channels=(16,)) -> ControlledDenoiser:
    """Teacher copy + fresh zero-initialised branch. At initialisation its output equals
    the teacher's for any condition (tested). Introduced in notebook 04."""
    unet = copy.deepcopy(teacher_unet)
    return ControlledDenoiser(unet, build_controlnet(unet, cond_channels, embedding_channels))


def set_trainable(model: ControlledDenoiser, backbone: bool, branch: bool = True) -> ControlledDenoiser:
    """Choose what trains: PE-CoDi and the ControlNet teacher train the branch only
    (backbone frozen, shareable across tasks); full CoDi trains both. Notebook 05."""
    model.unet.requires_grad_(backbone)
    model.controlnet.requires_grad_(branch)
    return model
