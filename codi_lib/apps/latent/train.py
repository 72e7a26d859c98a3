"""Training and sampling latent conditional models: the four modes of
:mod:`codi_lib.training.modes` (the pixel path's table, models and losses) with the one
loop :func:`codi_lib.training.loop.train_loop`, on VAE latents with per-batch text. See
:mod:`codi_lib.apps.latent`. Paper Sec. 4-5; (C8) for the CoDi sampler.
"""
from __future__ import annotations

from pathlib import Path

import torch

from ...method.guidance import GuidedDenoiser
from ...method.sampling import sample_by_name
from ...method.schedule import NoiseSchedule
from ...method.tasks import get_task, test_conditions
from ...training.checkpoint import latest_checkpoint, load_weights
from ...training.config import LatentConfig, load_config
from ...training.data import ImageFolderDataset, make_grid_image, uint8_to_float
from ...training.loop import LoopResult, mixed_precision, train_loop
from ...training.modes import get_mode, mode_loss, models_for_mode
from .bundle import (CaptionTable, LatentBundle, LatentDenoiser, TextConditioning, build_latent_conditional,
                     decode_latents, encode_images, load_sd)


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


def build_latent_for_mode(cfg: LatentConfig, bundle: LatentBundle):
    """(model, ode_model) for ``cfg.mode`` with the right parameters trainable:
    :func:`codi_lib.training.modes.models_for_mode` with the latent models."""
    task = get_task(cfg.task)
    return models_for_mode(
        get_mode(cfg.mode), cfg.loss,
        new_model=lambda: build_latent_conditional(bundle.unet, task.cond_channels),
        load_init=lambda: load_latent_run(cfg.init_from, bundle)[0],
        teacher_ode=lambda: LatentDenoiser(bundle.unet).requires_grad_(False).eval())


def make_latent_loss(cfg: LatentConfig, bundle: LatentBundle, ode_model=None, captions=None):
    """The loss of ``cfg.mode`` on latents (:func:`codi_lib.training.modes.mode_loss`),
    given ``encode`` (VAE) and ``text`` (per-batch prompts with CFG dropout). The ODE
    step of the CoDi loss sees the plain, unguided prediction."""
    text = TextConditioning(bundle.prompt_encoder, captions if captions is not None else cfg.prompt,
                            cfg.p_uncond, cfg.null_prompt)

    def encode(x, gen):
        return encode_images(bundle.vae, x, gen)

    return mode_loss(get_mode(cfg.mode), NoiseSchedule(bundle.schedule), cfg.loss,
                     get_task(cfg.task), ode_model, encode=encode, text=text)


def make_latent_sample_fn(cfg: LatentConfig, bundle: LatentBundle, images_u8, n: int = 4):
    """Writes ``samples/step-XXXXXXX.png`` rows: condition, DDIM-25 (controlnet) or CoDi-1
    and CoDi-4, ground truth, on the first ``n`` training images."""
    task = get_task(cfg.task)
    x = uint8_to_float(images_u8[:n])
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
    :class:`~codi_lib.training.data.ImageFolderDataset`); ``captions``: one per image (default:
    sidecar .txt files, else ``cfg.prompt`` for all)."""
    from accelerate import Accelerator
    acc = accelerator or Accelerator(mixed_precision=mixed_precision(cfg.train.bf16))
    bundle = bundle or load_sd(cfg.model_dir)
    size = _image_size(cfg, bundle)
    if images is None:
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
    ckpt = latest_checkpoint(run_dir)
    if ckpt is None:
        raise FileNotFoundError(f"no checkpoint in {run_dir}; train it with "
                                "`codi latent train ...`")
    cfg = load_config(ckpt / "config.json", LatentConfig)
    model = build_latent_conditional(bundle.unet, get_task(cfg.task).cond_channels)
    load_weights(model, ckpt / ("ema.safetensors" if ema else "model.safetensors"))
    return model.eval().requires_grad_(False), cfg


@torch.no_grad()
def sample_latent(bundle: LatentBundle, model, cond: torch.Tensor, prompt="",
                  sampler: str = "codi", steps: int = 4, guidance_scale: float = 1.0,
                  seed: int = 0, n_grid: int = 50, null_prompt: str = "",
                  return_nfe: bool = False):
    """Images in [-1, 1] from a latent conditional model: the CoDi sampler (C8) or a
    diffusers sampler ("ddim", "ddpm", "dpmsolver++") of :mod:`codi_lib.method.sampling`, run
    unchanged on the latents, with classifier-free guidance of weight ``guidance_scale``
    (:class:`~codi_lib.method.guidance.GuidedDenoiser`; 1 = none), then decoded by the VAE.
    ``cond`` is at pixel resolution; ``prompt`` is one string or one per image."""
    dev = cond.device
    b = cond.shape[0]
    prompts = [prompt] * b if isinstance(prompt, str) else list(prompt)
    enc = bundle.prompt_encoder
    guided = GuidedDenoiser(model, enc(prompts, dev), enc([null_prompt], dev), guidance_scale)
    f = bundle.latent_factor
    noise = torch.randn((b, bundle.latent_channels, cond.shape[-2] // f, cond.shape[-1] // f),
                        generator=torch.Generator().manual_seed(seed)).to(dev)
    z, nfe = sample_by_name(guided, cond, bundle.schedule, sampler, steps, n_grid, seed=seed,
                            noise=noise, return_nfe=True, clip=False)
    x = decode_latents(bundle.vae, z)
    return (x, nfe) if return_nfe else x


def sample_folder(model_dir, run, images, out, sampler: str = "codi", steps: int = 4,
                  guidance: float = 1.0, prompt: str = "", num_images: int = 8) -> str:
    """``codi latent sample``: condition, samples of the run's EMA weights and ground truth
    of the first ``num_images`` images of the folder ``images``, as one PNG grid ``out``."""
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    bundle = load_sd(model_dir, dev)
    model, cfg = load_latent_run(run, bundle)
    model.to(dev)
    ds = ImageFolderDataset(images, size=_image_size(cfg, bundle))
    x = uint8_to_float(ds.images[:num_images])
    task = get_task(cfg.task)
    cond = test_conditions(task, x).to(dev)
    samples = sample_latent(bundle, model, cond, prompt or cfg.prompt, sampler, steps, guidance,
                            n_grid=cfg.loss.n_grid)
    grid = torch.cat([task.show(cond).cpu(), samples.cpu(), x])
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    make_grid_image(grid, nrow=x.shape[0]).save(out)
    return str(out)
