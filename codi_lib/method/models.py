"""The teacher network: a diffusers ``UNet2DConditionModel`` built from a config dataclass.

A ``UNet2DConditionModel`` (rather than the plain ``UNet2DModel``) is used so that
``ControlNetModel.from_unet`` and the Stable Diffusion path reuse the same code.
Unconditional pixel models get a constant all-zero ``encoder_hidden_states`` of one token.
Introduced in ``notebooks/02_teacher.ipynb``. No paper equation: this is the denoiser
eps_theta / v_theta of (C1)-(C2) in the equation sheet of codi_lib/__init__.py.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from diffusers import UNet2DConditionModel


@dataclass
class UNetConfig:
    """Architecture of the pixel-space teacher (sizes chosen so a CPU trains it in hours)."""
    sample_size: int = 32
    in_channels: int = 3
    out_channels: int = 3
    block_out_channels: tuple = (32, 64, 128)
    layers_per_block: int = 2
    down_block_types: tuple = ("DownBlock2D", "DownBlock2D", "DownBlock2D")
    up_block_types: tuple = ("UpBlock2D", "UpBlock2D", "UpBlock2D")
    mid_block_type: str = "UNetMidBlock2D"
    cross_attention_dim: int = 32
    norm_num_groups: int = 32

    def __post_init__(self):
        self.block_out_channels = tuple(self.block_out_channels)
        self.down_block_types = tuple(self.down_block_types)
        self.up_block_types = tuple(self.up_block_types)
        if not (len(self.block_out_channels) == len(self.down_block_types)
                == len(self.up_block_types)):
            raise ValueError("block_out_channels, down_block_types and up_block_types "
                             "must have the same length")


def build_unet(cfg: UNetConfig) -> UNet2DConditionModel:
    """Build the teacher ``UNet2DConditionModel`` from ``cfg``. Introduced in notebook 02."""
    kw = asdict(cfg)
    return UNet2DConditionModel(**kw)


def count_parameters(model: torch.nn.Module) -> int:
    """Number of parameters of ``model``. Introduced in notebook 02."""
    return sum(p.numel() for p in model.parameters())


def null_context(unet, batch_size: int, device=None, dtype=None) -> torch.Tensor:
    """The constant all-zero one-token ``encoder_hidden_states`` of an unconditional
    pixel model (the cross-attention input is unused by DownBlock2D/UpBlock2D)."""
    dim = unet.config.cross_attention_dim
    p = next(unet.parameters())
    return torch.zeros(batch_size, 1, dim, device=device or p.device, dtype=dtype or p.dtype)


def unet_forward(unet, z: torch.Tensor, t: torch.Tensor, context=None,
                 down_residuals=None, mid_residual=None) -> torch.Tensor:
    """One network evaluation of the (possibly ControlNet-conditioned) backbone.

    ``t`` is an integer timestep tensor of shape (B,) or a scalar. Returns the raw
    prediction (eps, v or x according to the schedule). Introduced in notebook 02.
    """
    if context is None:
        context = null_context(unet, z.shape[0], z.device, z.dtype)
    t = torch.as_tensor(t, device=z.device)
    if t.dim() == 0:
        t = t.expand(z.shape[0])
    return unet(z, t, encoder_hidden_states=context,
                down_block_additional_residuals=down_residuals,
                mid_block_additional_residual=mid_residual).sample
