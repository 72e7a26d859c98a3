"""Latent diffusion models laid out like Stable Diffusion 1.5/2.1: CoDi beyond pixels.

A model directory in the diffusers layout (``vae/``, ``unet/``, ``text_encoder/``,
``tokenizer/``, ``scheduler/``, as ``save_pretrained`` writes them) is loaded offline
(``local_files_only=True``) into a :class:`LatentBundle`. The diffusion then runs on the
VAE latent z_0 = scaling_factor * E(x) (C1 with x replaced by z_0), the denoiser is
:class:`LatentDenoiser` (``forward(z, t, cond)``: UNet with text cross-attention plus a
ControlNet branch whose *default* conditioning embedding takes the condition image at
pixel resolution, 8x the latent size), and the text context is set per batch
(:func:`codi_lib.guidance.set_text_context`). Everything else is the pixel course's code,
unchanged: :func:`codi_lib.train_loop.train_loop`, :func:`codi_lib.losses.codi_loss`
and :func:`codi_lib.teacher.denoising_loss` (given ``encode`` and ``text``), the eps/v
conversions of :mod:`codi_lib.schedule` (the prediction type is read from the scheduler
config: eps for SD 1.5, v for SD 2.1-768), and the samplers of :mod:`codi_lib.sampling`
(with ``clip=False``). Classifier-free guidance lives in :mod:`codi_lib.guidance`.

:func:`build_tiny_sd` builds tiny randomly initialised components of that layout in code
(for tests and ``notebooks/08_your_images.ipynb``). Command line (also under
``accelerate launch -m codi_lib.latent ...`` on one or several GPUs)::

    python -m codi_lib.latent build-tiny runs/tiny-sd
    python -m codi_lib.latent train --model-dir MODEL --images FOLDER --mode codi --task sr4 --out runs/sd-codi
    python -m codi_lib.latent sample --model-dir MODEL --run runs/sd-codi --images FOLDER --out grid.png

Needs ``transformers`` (the ``sd`` extra). Paper Sec. 4-5 (latent CoDi on Stable
Diffusion); equations (C1)-(C9) of ``codi_lib/__init__.py`` apply with x -> z_0.
"""
from __future__ import annotations

import argparse
import copy
import hashlib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .conditional import set_trainable
from .config import CONFIG_KINDS, TrainConfig, apply_overrides, load_config
from .guidance import GuidedDenoiser, drop_prompts, set_text_context
from .losses import CoDiLossConfig, codi_loss
from .models import unet_forward
from .schedule import NoiseSchedule, ScheduleConfig, check_prediction_type
from .tasks import get_task, test_conditions
from .teacher import denoising_loss
from .train_loop import LoopResult, train_loop

SD_SUBFOLDERS = ("vae", "unet", "text_encoder", "tokenizer", "scheduler")
MODES = ("controlnet", "pe-codi", "codi", "cm-two-stage")
INSTALL_HINT = "pip install 'transformers>=4.40'  (the codi_lib[sd] extra)"


def _transformers():
    try:
        from transformers import CLIPTextModel, CLIPTokenizer
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(f"latent (Stable Diffusion) models need transformers: {INSTALL_HINT}") from err
    return CLIPTextModel, CLIPTokenizer


# --------------------------------------------------------------------------- schedule


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


# --------------------------------------------------------------------------- text


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
    ``p_uncond`` (CFG training, :func:`codi_lib.guidance.drop_prompts`), encode them and
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


# --------------------------------------------------------------------------- bundle


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


# --------------------------------------------------------------------------- denoiser


class LatentDenoiser(torch.nn.Module):
    """``forward(z, t, cond)``: one evaluation of the text-conditioned UNet, with the
    ControlNet branch when there is one (``cond``: the condition image at pixel
    resolution). The text context (B or 1 rows) is set per batch with
    :func:`codi_lib.guidance.set_text_context`; it is not a parameter or buffer."""

    def __init__(self, unet, controlnet=None):
        super().__init__()
        self.unet = unet
        self.controlnet = controlnet
        self.context = None

    def forward(self, z, t, cond=None):
        ctx = self.context
        if ctx is None:
            raise RuntimeError("LatentDenoiser has no text context: call "
                               "codi_lib.guidance.set_text_context(model, ctx) first "
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


# --------------------------------------------------------------------------- config + training


@dataclass
class LatentConfig:
    """Everything that defines one latent run (saved as config.json)."""
    model_dir: str = ""             # Stable Diffusion directory (diffusers layout)
    mode: str = "codi"
    task: str = "sr4"
    image_size: int = 0             # pixels; 0 = the VAE's sample_size
    prompt: str = ""                # one prompt for every image; "" = the null prompt
    null_prompt: str = ""           # what a dropped prompt becomes (CFG training)
    p_uncond: float = 0.1           # probability of dropping the prompt
    guidance_scale: float = 1.0     # CFG weight of the samples written during training
    init_from: str = ""             # cm-two-stage: a trained latent ``controlnet`` run folder
    loss: CoDiLossConfig = field(default_factory=CoDiLossConfig)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        max_steps=20000, batch_size=16, lr=1e-5, warmup_steps=100, ema_decay=0.999,
        sample_every=1000, ckpt_every=500))
    data: str = ""                  # image folder (sidecar .txt captions are used if present)
    kind: str = "latent"

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"mode={self.mode!r}: choose one of {MODES}")
        if self.mode == "cm-two-stage" and not self.init_from:
            raise ValueError("mode 'cm-two-stage' needs init_from: a trained latent controlnet run")


CONFIG_KINDS["latent"] = LatentConfig


def build_latent_for_mode(cfg: LatentConfig, bundle: LatentBundle):
    """(model, ode_model) for ``cfg.mode`` with the right parameters trainable; the same
    choices as :func:`codi_lib.codi_train.build_for_mode`."""
    task = get_task(cfg.task)
    if cfg.mode == "cm-two-stage":
        model, _ = load_latent_run(cfg.init_from, bundle)
        model.requires_grad_(True).train()
        ode_model = copy.deepcopy(model).requires_grad_(False).eval()
    else:
        model = build_latent_conditional(bundle.unet, task.cond_channels)
        set_trainable(model, backbone=(cfg.mode == "codi"))
        ode_model = (LatentDenoiser(bundle.unet).requires_grad_(False).eval()
                     if cfg.loss.ode_model == "teacher" else None)
    return model, ode_model


def make_latent_loss(cfg: LatentConfig, bundle: LatentBundle, ode_model=None, captions=None):
    """The loss of ``cfg.mode`` on latents: :func:`denoising_loss` (controlnet) or
    :func:`codi_loss`, each given ``encode`` (VAE) and ``text`` (per-batch prompts with
    CFG dropout). The ODE step of the CoDi loss sees the plain, unguided prediction."""
    schedule = NoiseSchedule(bundle.schedule)
    task = get_task(cfg.task)
    text = TextConditioning(bundle.prompt_encoder, captions if captions is not None else cfg.prompt,
                            cfg.p_uncond, cfg.null_prompt)

    def encode(x, gen):
        return encode_images(bundle.vae, x, gen)

    if cfg.mode == "controlnet":
        return denoising_loss(schedule, task, encode=encode, text=text)
    lcfg = cfg.loss
    if cfg.mode == "cm-two-stage":
        lcfg = copy.deepcopy(lcfg)
        lcfg.ode_model, lcfg.lambda_cg = "frozen", 0.0
    return codi_loss(schedule, lcfg, task, ode_model, encode=encode, text=text)


def read_captions(paths, default: str = "") -> list[str] | None:
    """Sidecar captions: ``photo.jpg`` -> ``photo.txt`` when it exists. None if no image
    has one (then the config's prompt is used)."""
    caps, found = [], False
    for p in paths:
        side = Path(p).with_suffix(".txt")
        if side.is_file():
            caps.append(side.read_text(errors="replace").strip())
            found = True
        else:
            caps.append(default)
    return caps if found else None


def _image_size(cfg: LatentConfig, bundle: LatentBundle) -> int:
    size = cfg.image_size or int(bundle.vae.config.sample_size)
    if size % bundle.image_multiple:
        raise ValueError(f"image size {size} is not a multiple of {bundle.image_multiple} "
                         "(VAE factor x UNet downsampling)")
    return size


def make_latent_sample_fn(cfg: LatentConfig, bundle: LatentBundle, images_u8, n: int = 4):
    """Writes ``samples/step-XXXXXXX.png`` rows: condition, DDIM-25 (controlnet) or CoDi-1
    and CoDi-4, ground truth, on the first ``n`` training images."""
    from .data import make_grid_image
    task = get_task(cfg.task)
    x = images_u8[:n].float() / 127.5 - 1
    cond = test_conditions(task, x)

    def sample_fn(ema_model, step, out_dir):
        dev = next(ema_model.parameters()).device
        c = cond.to(dev)
        if cfg.mode == "controlnet":
            rows = [sample_latent(bundle, ema_model, c, cfg.prompt, "ddim", 25, cfg.guidance_scale)]
        else:
            rows = [sample_latent(bundle, ema_model, c, cfg.prompt, "codi", k, cfg.guidance_scale,
                                  n_grid=cfg.loss.n_grid) for k in (1, 4)]
        grid = torch.cat([task.show(c).cpu(), *[r.cpu() for r in rows], x])
        p = Path(out_dir) / "samples"
        p.mkdir(parents=True, exist_ok=True)
        make_grid_image(grid, nrow=x.shape[0]).save(p / f"step-{step:07d}.png")

    return sample_fn


def train_latent(cfg: LatentConfig, out_dir, images=None, captions=None,
                 bundle: LatentBundle | None = None, resume: bool = True, progress: bool = True,
                 stop_after: int | None = None, accelerator=None) -> LoopResult:
    """Train (or resume) one latent run with :func:`train_loop`. ``images``: uint8
    (N, 3, H, W) at pixel resolution (default: ``cfg.data`` loaded with
    :class:`~codi_lib.data.ImageFolderDataset`); ``captions``: one per image (default:
    sidecar .txt files, else ``cfg.prompt`` for all)."""
    from accelerate import Accelerator
    acc = accelerator or Accelerator(mixed_precision="bf16" if cfg.train.bf16 else "no")
    bundle = bundle or load_sd(cfg.model_dir)
    size = _image_size(cfg, bundle)
    if images is None:
        from .data import ImageFolderDataset
        if not cfg.data:
            raise ValueError("no training images: set data (an image folder) or pass images")
        ds = ImageFolderDataset(cfg.data, size=size)
        images = ds.images
        if captions is None:
            captions = read_captions(ds.paths, cfg.prompt)
    if tuple(images.shape[-2:]) != (size, size):
        raise ValueError(f"images are {tuple(images.shape[-2:])}, the run expects {size}x{size}")
    table = CaptionTable(images, captions, cfg.prompt) if captions is not None else None
    torch.manual_seed(cfg.train.seed)
    model, ode_model = build_latent_for_mode(cfg, bundle)
    bundle.vae.to(acc.device)
    bundle.text_encoder.to(acc.device)
    if ode_model is not None:
        ode_model.to(acc.device)
    loss_fn = make_latent_loss(cfg, bundle, ode_model, table)
    sample_fn = make_latent_sample_fn(cfg, bundle, images) if cfg.train.sample_every > 0 else None
    return train_loop(cfg, model, images, loss_fn, out_dir, sample_fn=sample_fn, resume=resume,
                      progress=progress, accelerator=acc, stop_after=stop_after)


def load_latent_run(run_dir, bundle: LatentBundle, ema: bool = True):
    """The EMA (or online) weights of a latent run's newest checkpoint as a
    :class:`LatentDenoiser` in eval mode, and its :class:`LatentConfig`."""
    from .checkpoint import latest_checkpoint, load_weights
    ckpt = latest_checkpoint(run_dir)
    if ckpt is None:
        raise FileNotFoundError(f"no checkpoint in {run_dir}; train it with "
                                "`python -m codi_lib.latent train ...`")
    cfg = load_config(ckpt / "config.json", LatentConfig)
    model = build_latent_conditional(bundle.unet, get_task(cfg.task).cond_channels)
    load_weights(model, ckpt / ("ema.safetensors" if ema else "model.safetensors"))
    return model.eval().requires_grad_(False), cfg


# --------------------------------------------------------------------------- sampling


@torch.no_grad()
def sample_latent(bundle: LatentBundle, model, cond: torch.Tensor, prompt="",
                  sampler: str = "codi", steps: int = 4, guidance_scale: float = 1.0,
                  seed: int = 0, n_grid: int = 50, null_prompt: str = "",
                  return_nfe: bool = False):
    """Images in [-1, 1] from a latent conditional model: the CoDi sampler (C8) or a
    diffusers sampler ("ddim", "ddpm", "dpmsolver++") of :mod:`codi_lib.sampling`, run
    unchanged on the latents, with classifier-free guidance of weight ``guidance_scale``
    (:class:`~codi_lib.guidance.GuidedDenoiser`; 1 = none), then decoded by the VAE.
    ``cond`` is at pixel resolution; ``prompt`` is one string or one per image."""
    from .sampling import sample_codi, sample_conditional
    dev = cond.device
    b = cond.shape[0]
    prompts = [prompt] * b if isinstance(prompt, str) else list(prompt)
    enc = bundle.prompt_encoder
    guided = GuidedDenoiser(model, enc(prompts, dev), enc([null_prompt], dev), guidance_scale)
    f = bundle.latent_factor
    noise = torch.randn((b, bundle.latent_channels, cond.shape[-2] // f, cond.shape[-1] // f),
                        generator=torch.Generator().manual_seed(seed)).to(dev)
    if sampler == "codi":
        z, nfe = sample_codi(guided, cond, NoiseSchedule(bundle.schedule), steps, n_grid,
                             noise=noise, return_nfe=True, clip=False)
    else:
        z, nfe = sample_conditional(guided, cond, bundle.schedule, steps, sampler, seed=seed,
                                    noise=noise, return_nfe=True, clip=False)
    x = decode_latents(bundle.vae, z)
    return (x, nfe) if return_nfe else x


# --------------------------------------------------------------------------- tiny model


_TOKEN_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789.,!?'-"
_MERGES = [("t", "h"), ("th", "e</w>"), ("o", "f</w>"), ("a", "n"), ("i", "n"), ("o", "n</w>")]


def write_tiny_tokenizer_files(folder) -> Path:
    """A tiny CLIP BPE vocabulary written by hand: the special tokens, each character
    alone and word-final (``c</w>``), and a few merges (``the</w>``, ``of</w>``...)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tokens = ["<|startoftext|>", "<|endoftext|>"]
    for c in _TOKEN_CHARS:
        tokens += [c, c + "</w>"]
    for a, b in _MERGES:
        tokens.append(a + b)
    vocab = {tok: i for i, tok in enumerate(dict.fromkeys(tokens))}
    (folder / "vocab.json").write_text(json.dumps(vocab, indent=0, ensure_ascii=False) + "\n")
    merges = "#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in _MERGES)
    (folder / "merges.txt").write_text(merges)
    return folder


def build_tiny_sd(out_dir, image_size: int = 32, prediction_type: str = "epsilon",
                  seed: int = 0) -> Path:
    """Build tiny random components in the Stable Diffusion layout and save them to
    ``out_dir`` with ``save_pretrained`` (vae/, unet/, text_encoder/, tokenizer/,
    scheduler/, model_index.json): a 4-level VAE (latents 8x smaller, 4 channels,
    SD's scaling factor 0.18215), a 2-level UNet with CrossAttnDownBlock2D, a 2-layer CLIP
    text model with a hand-written vocabulary (77 tokens), and SD's scaled-linear
    schedule with ``prediction_type`` ("epsilon" like SD 1.5, "v_prediction" like SD 2.1).
    For tests and notebook 08; the weights are random."""
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig
    CLIPTextModel, CLIPTokenizer = _transformers()
    check_prediction_type(prediction_type)
    if image_size % 16:
        raise ValueError("image_size must be a multiple of 16 (VAE factor 8 x 2 UNet levels)")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    tok_dir = write_tiny_tokenizer_files(out / "tokenizer")
    tokenizer = CLIPTokenizer.from_pretrained(str(tok_dir), model_max_length=77,
                                              local_files_only=True)
    vocab = json.loads((tok_dir / "vocab.json").read_text())
    text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, max_position_embeddings=77, projection_dim=32,
        bos_token_id=vocab["<|startoftext|>"], eos_token_id=vocab["<|endoftext|>"],
        pad_token_id=vocab["<|endoftext|>"]))
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4, block_out_channels=(8, 16, 16, 16),
        layers_per_block=1, latent_channels=4, norm_num_groups=8, sample_size=image_size,
        scaling_factor=0.18215)
    unet = UNet2DConditionModel(
        sample_size=image_size // 8, in_channels=4, out_channels=4, layers_per_block=1,
        block_out_channels=(32, 64), down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=32,
        attention_head_dim=8, norm_num_groups=8)
    scheduler = DDIMScheduler(num_train_timesteps=1000, beta_schedule="scaled_linear",
                              beta_start=0.00085, beta_end=0.012, clip_sample=False,
                              set_alpha_to_one=False, steps_offset=1,
                              prediction_type=prediction_type)
    try:
        from diffusers import StableDiffusionPipeline
        pipe = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
                                       unet=unet, scheduler=scheduler, safety_checker=None,
                                       feature_extractor=None, requires_safety_checker=False)
        pipe.save_pretrained(str(out))
    except ImportError:  # pragma: no cover - pipelines unavailable: save the parts
        for name, part in (("vae", vae), ("unet", unet), ("text_encoder", text_encoder),
                           ("tokenizer", tokenizer), ("scheduler", scheduler)):
            part.save_pretrained(str(out / name))
    return out


# --------------------------------------------------------------------------- command line


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m codi_lib.latent",
                                description="CoDi on latent (Stable Diffusion 1.x/2.x) models")
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build-tiny", help="write a tiny random SD-layout model directory")
    b.add_argument("out")
    b.add_argument("--image-size", type=int, default=32)
    b.add_argument("--prediction-type", default="epsilon", choices=["epsilon", "v_prediction"])
    t = sub.add_parser("train", help="train (or resume) a latent run; works under accelerate launch")
    t.add_argument("--model-dir", required=True, help="SD directory in the diffusers layout")
    t.add_argument("--images", required=True, help="folder of training images (+ optional .txt captions)")
    t.add_argument("--mode", required=True, choices=list(MODES))
    t.add_argument("--task", required=True, help="sr4, inpaint or canny")
    t.add_argument("--out", required=True)
    t.add_argument("--size", type=int, default=0, help="image size in pixels (default: the VAE's)")
    t.add_argument("--prompt", default="", help="prompt for images without a caption file")
    t.add_argument("--p-uncond", type=float, default=0.1)
    t.add_argument("--init-from", default="", help="cm-two-stage: latent controlnet run folder")
    t.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    t.add_argument("--no-resume", action="store_true")
    t.add_argument("--no-progress", action="store_true")
    s = sub.add_parser("sample", help="condition, samples and ground truth of a folder as a PNG grid")
    s.add_argument("--model-dir", required=True)
    s.add_argument("--run", required=True, help="latent run folder (EMA weights of the newest checkpoint)")
    s.add_argument("--images", required=True)
    s.add_argument("--out", required=True, help="PNG file")
    s.add_argument("--sampler", default="codi", choices=["codi", "ddim", "ddpm", "dpmsolver++"])
    s.add_argument("--steps", type=int, default=4)
    s.add_argument("--guidance", type=float, default=1.0, help="CFG weight w (1 = none)")
    s.add_argument("--prompt", default="")
    s.add_argument("-n", "--num-images", type=int, default=8)
    return p


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    if args.cmd == "build-tiny":
        print(build_tiny_sd(args.out, args.image_size, args.prediction_type))
    elif args.cmd == "train":
        cfg = LatentConfig(model_dir=args.model_dir, mode=args.mode, task=args.task,
                           image_size=args.size, prompt=args.prompt, p_uncond=args.p_uncond,
                           init_from=args.init_from, data=args.images)
        apply_overrides(cfg, args.set)
        res = train_latent(cfg, args.out, resume=not args.no_resume, progress=not args.no_progress)
        print(json.dumps({"out": str(res.out_dir), "step": res.step,
                          "train_seconds": round(res.train_seconds, 1)}))
    elif args.cmd == "sample":
        from .data import ImageFolderDataset, make_grid_image
        dev = "cuda" if torch.cuda.is_available() else "cpu"
        bundle = load_sd(args.model_dir, dev)
        model, cfg = load_latent_run(args.run, bundle)
        model.to(dev)
        ds = ImageFolderDataset(args.images, size=_image_size(cfg, bundle))
        x = ds.images[:args.num_images].float() / 127.5 - 1
        task = get_task(cfg.task)
        cond = test_conditions(task, x).to(dev)
        out = sample_latent(bundle, model, cond, args.prompt or cfg.prompt, args.sampler,
                            args.steps, args.guidance, n_grid=cfg.loss.n_grid)
        grid = torch.cat([task.show(cond).cpu(), out.cpu(), x])
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        make_grid_image(grid, nrow=x.shape[0]).save(args.out)
        print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
