"""The frozen parts of a latent (Stable Diffusion 1.x/2.x layout) model: loading the
model directory offline, prompts to text context, the VAE's encode/decode and the
:class:`LatentDenoiser` (text-conditioned UNet plus a ControlNet branch). See
:mod:`codi_lib.apps.latent`. Paper Sec. 4-5; (C1)-(C9) apply with x -> z_0.
"""
from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import torch

from ...method.guidance import drop_prompts, set_text_context
from ...method.models import unet_forward
from ...method.schedule import ScheduleConfig, check_prediction_type

SD_SUBFOLDERS = ("vae", "unet", "text_encoder", "tokenizer", "scheduler")
INSTALL_HINT = "pip install 'transformers>=4.40'  (the codi_lib[sd] extra)"


def _transformers():
    try:
        from transformers import CLIPTextModel, CLIPTokenizer
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(f"latent (Stable Diffusion) models need transformers: {INSTALL_HINT}") from err
    return CLIPTextModel, CLIPTokenizer


def schedule_from_scheduler_config(sched: dict) -> ScheduleConfig:
    """Our :class:`ScheduleConfig` from a diffusers ``scheduler_config.json`` (any of
    DDPM/DDIM/PNDM/Euler...): betas and the prediction type (default "epsilon")."""
    if sched.get("trained_betas") is not None:
        raise ValueError("scheduler_config.json uses trained_betas, which is not supported")
    if sched.get("rescale_betas_zero_snr"):
        raise ValueError("zero-terminal-SNR schedules (rescale_betas_zero_snr) are not supported")
    return ScheduleConfig(
        num_train_timesteps=int(sched.get("num_train_timesteps", 1000)),
        beta_schedule=sched.get("beta_schedule", "scaled_linear"),
        beta_start=float(sched.get("beta_start", 0.00085)),
        beta_end=float(sched.get("beta_end", 0.012)),
        prediction_type=check_prediction_type(sched.get("prediction_type", "epsilon")))


class PromptEncoder:
    """Prompts -> CLIP text context (B, L, D) (the last hidden state, as Stable Diffusion
    uses it), padded to the tokenizer's ``model_max_length``. The text encoder is frozen;
    embeddings are cached per prompt string (at most ``cache_size``)."""

    def __init__(self, tokenizer, text_encoder, cache_size: int = 1024):
        self.tokenizer, self.text_encoder = tokenizer, text_encoder.requires_grad_(False).eval()
        self.cache: dict[str, torch.Tensor] = {}
        self.cache_size = cache_size

    @torch.no_grad()
    def __call__(self, prompts, device=None) -> torch.Tensor:
        prompts = [prompts] if isinstance(prompts, str) else list(prompts)
        dev = torch.device(device) if device is not None else next(self.text_encoder.parameters()).device
        if next(self.text_encoder.parameters()).device != dev:
            self.text_encoder.to(dev)
            self.cache.clear()
        missing = [p for p in dict.fromkeys(prompts) if p not in self.cache]
        if missing:
            if len(self.cache) + len(missing) > self.cache_size:
                self.cache.clear()
            ids = self.tokenizer(missing, padding="max_length", truncation=True,
                                 max_length=self.tokenizer.model_max_length,
                                 return_tensors="pt").input_ids.to(dev)
            with torch.autocast(dev.type, enabled=False):
                out = self.text_encoder(ids)[0].float()
            self.cache.update(zip(missing, out))
        return torch.stack([self.cache[p] for p in prompts])


class CaptionTable:
    """Per-image captions for :func:`train_loop`, which hands the loss only the pixel batch:
    a caption is found again from the image itself (a hash of its uint8 pixels that a
    horizontal flip does not change). Unknown images get ``default``."""

    def __init__(self, images_u8: torch.Tensor, captions, default: str = ""):
        if len(images_u8) != len(captions):
            raise ValueError(f"{len(images_u8)} images but {len(captions)} captions")
        self.default = default
        self.table = {self.key(img): str(c) for img, c in zip(images_u8, captions)}

    @staticmethod
    def key(img_u8: torch.Tensor) -> str:
        a = img_u8.contiguous().numpy().tobytes()
        b = img_u8.flip(-1).contiguous().numpy().tobytes()
        return hashlib.sha1(min(a, b)).hexdigest()

    def __call__(self, x: torch.Tensor) -> list[str]:
        u8 = ((x.detach().float().cpu() + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
        return [self.table.get(self.key(img), self.default) for img in u8]


class TextConditioning:
    """The ``text`` hook of the losses: for each batch, pick the prompts (one string for
    all, or a :class:`CaptionTable`), replace each by ``null_prompt`` with probability
    ``p_uncond`` (CFG training, :func:`codi_lib.method.guidance.drop_prompts`), encode them and
    set the same context on every model given (online, EMA, ODE model). No guidance here."""

    def __init__(self, encoder: PromptEncoder, prompts="", p_uncond: float = 0.0,
                 null_prompt: str = ""):
        if not 0.0 <= p_uncond <= 1.0:
            raise ValueError(f"p_uncond must be in [0, 1], got {p_uncond}")
        self.encoder, self.prompts = encoder, prompts
        self.p_uncond, self.null_prompt = p_uncond, null_prompt

    def prompts_for(self, x) -> list[str]:
        if isinstance(self.prompts, str):
            return [self.prompts] * x.shape[0]
        return self.prompts(x)

    def __call__(self, x, gen, models=()):
        prompts = drop_prompts(self.prompts_for(x), self.p_uncond, self.null_prompt, gen)
        ctx = self.encoder(prompts, x.device)
        for m in models:
            set_text_context(m, ctx)
        return ctx


@dataclass
class LatentBundle:
    """The frozen parts of a latent text-to-image model and its schedule."""
    vae: torch.nn.Module
    unet: torch.nn.Module
    text_encoder: torch.nn.Module
    tokenizer: object
    schedule: ScheduleConfig
    model_dir: str = ""

    def __post_init__(self):
        for m in (self.vae, self.unet, self.text_encoder):
            m.requires_grad_(False).eval()
        if getattr(self.unet.config, "addition_embed_type", None):
            raise ValueError("SDXL-style UNets (addition_embed_type) are not supported; use an "
                             "SD 1.x/2.x model directory")
        self.prompt_encoder = PromptEncoder(self.tokenizer, self.text_encoder)

    @property
    def scaling_factor(self) -> float:
        return float(self.vae.config.scaling_factor)

    @property
    def latent_factor(self) -> int:
        """Pixels per latent pixel (8 for Stable Diffusion)."""
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    @property
    def latent_channels(self) -> int:
        return int(self.unet.config.in_channels)

    @property
    def image_multiple(self) -> int:
        """Image sides must be a multiple of this (VAE factor x UNet downsampling)."""
        return self.latent_factor * 2 ** (len(self.unet.config.block_out_channels) - 1)

    def to(self, device):
        for m in (self.vae, self.unet, self.text_encoder):
            m.to(device)
        self.prompt_encoder.cache.clear()
        return self


def load_sd(model_dir, device="cpu") -> LatentBundle:
    """Load a Stable Diffusion 1.x/2.x model directory in the diffusers layout, offline.
    The prediction type (eps or v) and betas come from ``scheduler/scheduler_config.json``."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    CLIPTextModel, CLIPTokenizer = _transformers()
    d = Path(model_dir)
    missing = [s for s in SD_SUBFOLDERS if not (d / s).is_dir()]
    if missing:
        raise FileNotFoundError(f"{d} is not a model directory in the diffusers layout: missing "
                                f"subfolder(s) {missing} (expected {list(SD_SUBFOLDERS)})")
    kw = dict(local_files_only=True)
    vae = AutoencoderKL.from_pretrained(str(d), subfolder="vae", **kw)
    unet = UNet2DConditionModel.from_pretrained(str(d), subfolder="unet", **kw)
    text_encoder = CLIPTextModel.from_pretrained(str(d), subfolder="text_encoder", **kw)
    tokenizer = CLIPTokenizer.from_pretrained(str(d), subfolder="tokenizer", **kw)
    sched = json.loads((d / "scheduler" / "scheduler_config.json").read_text())
    bundle = LatentBundle(vae, unet, text_encoder, tokenizer,
                          schedule_from_scheduler_config(sched), str(d))
    return bundle.to(device)


@torch.no_grad()
def encode_images(vae, x: torch.Tensor, gen: torch.Generator | None = None,
                  sample: bool = True) -> torch.Tensor:
    """Pixels in [-1, 1] -> the scaled latent z_0 = scaling_factor (E(x) - shift): a draw
    from the VAE posterior (``sample``) or its mean. The VAE runs in float32."""
    if next(vae.parameters()).device != x.device:
        vae.to(x.device)
    with torch.autocast(x.device.type, enabled=False):
        dist = vae.encode(x.float()).latent_dist
        z = dist.sample(generator=gen) if sample else dist.mode()
    shift = getattr(vae.config, "shift_factor", None) or 0.0
    return (z - shift) * vae.config.scaling_factor


@torch.no_grad()
def decode_latents(vae, z: torch.Tensor) -> torch.Tensor:
    """Scaled latents -> pixels in [-1, 1] (float32 VAE decoder)."""
    if next(vae.parameters()).device != z.device:
        vae.to(z.device)
    shift = getattr(vae.config, "shift_factor", None) or 0.0
    with torch.autocast(z.device.type, enabled=False):
        x = vae.decode(z.float() / vae.config.scaling_factor + shift).sample
    return x.clamp(-1, 1)


class LatentDenoiser(torch.nn.Module):
    """``forward(z, t, cond)``: one evaluation of the text-conditioned UNet, with the
    ControlNet branch when there is one (``cond``: the condition image at pixel
    resolution). The text context (B or 1 rows) is set per batch with
    :func:`codi_lib.method.guidance.set_text_context`; it is not a parameter or buffer."""

    def __init__(self, unet, controlnet=None):
        super().__init__()
        self.unet = unet
        self.controlnet = controlnet
        self.context = None

    def forward(self, z, t, cond=None):
        ctx = self.context
        if ctx is None:
            raise RuntimeError("LatentDenoiser has no text context: call "
                               "codi_lib.method.guidance.set_text_context(model, ctx) first "
                               "(the null prompt's embedding for no text)")
        if ctx.shape[0] != z.shape[0]:
            if ctx.shape[0] != 1:
                raise ValueError(f"text context has batch {ctx.shape[0]}, latents {z.shape[0]}")
            ctx = ctx.expand(z.shape[0], -1, -1)
        ctx = ctx.to(z.device)
        t = torch.as_tensor(t, device=z.device)
        if t.dim() == 0:
            t = t.expand(z.shape[0])
        down = mid = None
        if self.controlnet is not None:
            if cond is None:
                raise ValueError("this LatentDenoiser has a ControlNet branch and needs a condition")
            down, mid = self.controlnet(z, t, encoder_hidden_states=ctx,
                                        controlnet_cond=cond.to(z.dtype), return_dict=False)
        return unet_forward(self.unet, z, t, ctx, down_residuals=down, mid_residual=mid)


def build_latent_controlnet(unet, cond_channels: int):
    """``ControlNetModel.from_unet`` with its DEFAULT conditioning embedding
    (16, 32, 96, 256): three stride-2 convolutions take the pixel-resolution condition
    to the latent size. Its output convolutions start at zero (notebook 04)."""
    from diffusers import ControlNetModel
    return ControlNetModel.from_unet(unet, conditioning_channels=cond_channels)


def build_latent_conditional(unet, cond_channels: int) -> LatentDenoiser:
    """Teacher UNet copy + fresh zero-initialised ControlNet branch."""
    unet = copy.deepcopy(unet)
    return LatentDenoiser(unet, build_latent_controlnet(unet, cond_channels))
