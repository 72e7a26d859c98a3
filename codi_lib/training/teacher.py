"""The unconditional teacher: denoiser module, ordinary denoising loss, training entry,
and loading the shipped checkpoint. Introduced in ``notebooks/02_teacher.ipynb``.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from .checkpoint import latest_checkpoint, load_weights, save_weights, training_record
from .config import TeacherConfig, load_config, save_config
from ..method.models import build_unet, count_parameters, unet_forward
from ..method.schedule import NoiseSchedule
from ..method.tasks import degrade_batch
from .loop import LoopResult, train_loop
from .paths import teacher_dir


class Denoiser(torch.nn.Module):
    """Wraps the UNet so that ``forward(z, t)`` is one network evaluation.

    Introduced in notebook 02."""

    def __init__(self, unet):
        super().__init__()
        self.unet = unet

    def forward(self, z, t, cond=None):
        return unet_forward(self.unet, z, t)


def min_snr_weight(schedule: NoiseSchedule, t: torch.Tensor, gamma: float) -> torch.Tensor:
    """Min-SNR-gamma weights (Hang et al. 2023) of the per-sample loss in this schedule's
    prediction space: min(SNR, gamma) times the x-space error, SNR = alpha^2 / sigma^2.
    For v the x error is sigma^2 times the v error, so the weight is
    min(SNR, gamma) / (SNR + 1); for eps it is min(SNR, gamma) / SNR; for x it is
    min(SNR, gamma). Introduced in notebook 02; no equation of the CoDi paper."""
    a, s = schedule.alpha_sigma(t, 1)
    snr = (a ** 2 / s.clamp_min(1e-8) ** 2).clamp_max(1e8)
    clipped = snr.clamp_max(gamma)
    if schedule.prediction_type == "v_prediction":
        return clipped / (snr + 1)
    if schedule.prediction_type == "epsilon":
        return clipped / snr
    return clipped


def denoising_loss(schedule: NoiseSchedule, task=None, encode=None, text=None,
                   min_snr_gamma: float = 0.0):
    """The ordinary diffusion objective ||net(z_t, t[, c]) - target||^2 with z_t from (C1)
    and target eps, v or x per the schedule (Ho et al. 2020; the paper's Sec. 3 teacher
    objective). With a ``task`` the network also gets the condition c = task(x): this is
    the ``controlnet`` mode. Returns a ``loss_fn`` for :func:`train_loop`. ``encode`` and
    ``text`` are as in :func:`codi_lib.method.losses.codi_loss` (latent/text models).
    ``min_snr_gamma`` > 0 weights each sample by :func:`min_snr_weight`.
    Introduced in notebook 01."""

    def loss_fn(model, ema_model, x, gen, step):
        b = x.shape[0]
        cond = None
        if task is not None:  # depth: x carries the exact depth as channel 4, for cond only
            cond, x = degrade_batch(task, x, gen)
            cond = cond.to(x.device)
        if text is not None:
            text(x, gen, (model,))
        if encode is not None:
            x = encode(x, gen)
        t = torch.randint(0, schedule.T, (b,), generator=gen).to(x.device)
        eps = torch.randn(x.shape, generator=gen).to(x.device)
        z = schedule.add_noise(x, eps, t)
        out = model(z, t, cond)
        target = schedule.target(x, eps, t)
        err = (out.float() - target) ** 2
        if min_snr_gamma > 0:
            w = min_snr_weight(schedule, t, min_snr_gamma).to(err.device)
            return torch.mean(err.mean(dim=tuple(range(1, err.dim()))) * w), {}
        return torch.mean(err), {}

    return loss_fn


def make_sample_fn(cfg: TeacherConfig, n: int = 16, steps: int = 25):
    """Writes ``samples/step-XXXXXXX.png`` (DDIM, EMA weights) during training."""
    def sample_fn(ema_model, step, out_dir):
        from .data import make_grid_image
        from ..method.sampling import sample
        dev = next(ema_model.parameters()).device
        x = sample(lambda z, t: ema_model(z, t), cfg.schedule, n, steps, "ddim", seed=0,
                   shape=(cfg.unet.in_channels, cfg.unet.sample_size, cfg.unet.sample_size),
                   device=dev)
        p = Path(out_dir) / "samples"
        p.mkdir(parents=True, exist_ok=True)
        make_grid_image(x.float().cpu(), nrow=int(n ** 0.5)).save(p / f"step-{step:07d}.png")

    return sample_fn


def load_training_images(cfg: TeacherConfig):
    """uint8 tensor (N, C, H, W) of the training images named by ``cfg.data``: "emoji" /
    "emoji-fit", "scenes" / "scenes-fit" (the rendered scenes' RGB, without their depth:
    the teacher is unconditional) or a folder."""
    from .data import ImageFolderDataset, load_emoji
    from .loop import images_to_tensor
    if cfg.data in ("emoji", "emoji-fit"):
        return images_to_tensor(load_emoji("train" if cfg.data == "emoji" else "fit").images)
    if cfg.data in ("scenes", "scenes-fit"):
        from .scene_data import load_scenes
        return images_to_tensor(load_scenes("train" if cfg.data == "scenes" else "fit").images)
    return ImageFolderDataset(cfg.data, size=cfg.unet.sample_size).images


def train_teacher(cfg: TeacherConfig, out_dir, resume: bool = True, progress: bool = True,
                  stop_after: int | None = None, images=None) -> LoopResult:
    """Train (or resume) the unconditional teacher of ``cfg`` into ``out_dir``.
    ``cfg.init_from`` (an exported teacher folder) starts a new run from its weights
    instead of from random ones, with a fresh optimiser: how a run continues on a machine
    that has only the exported snapshot. Introduced in notebook 02."""
    torch.manual_seed(cfg.train.seed)
    model = Denoiser(build_unet(cfg.unet))
    if cfg.init_from:  # a checkpoint of this run, when there is one, overrides these weights
        load_weights(model.unet, Path(cfg.init_from) / "unet.safetensors")
        _keep_init_record(cfg.init_from, out_dir)
    schedule = NoiseSchedule(cfg.schedule)
    imgs = images if images is not None else load_training_images(cfg)
    return train_loop(cfg, model, imgs, denoising_loss(schedule, min_snr_gamma=cfg.min_snr_gamma), out_dir,
                      sample_fn=make_sample_fn(cfg), resume=resume, progress=progress,
                      stop_after=stop_after)


def _keep_init_record(init_from, out_dir) -> None:
    """Copy the warm start's record.json into the run folder once (before the export can
    overwrite it, when the run is exported back over the folder it started from), so the
    exported record counts the steps and seconds of both parts."""
    src, kept = Path(init_from) / "record.json", Path(out_dir) / "init_record.json"
    if src.is_file() and not kept.exists():
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        kept.write_text(src.read_text())


def export_teacher(run_dir, dest, note: dict | None = None, half: bool = False) -> Path:
    """Copy the EMA weights and config of the newest checkpoint in ``run_dir`` to
    ``dest`` (``unet.safetensors`` + ``config.json`` + ``record.json``); ``half`` stores
    float16 (for snapshots of a run in progress; loading upcasts)."""
    run_dir, dest = Path(run_dir), Path(dest)
    model, cfg, ckpt = load_run_teacher(run_dir)
    dest.mkdir(parents=True, exist_ok=True)
    save_weights(model.unet.half() if half else model.unet, dest / "unet.safetensors")
    save_config(cfg, dest / "config.json")
    record = {**training_record(run_dir, ckpt), "parameters": count_parameters(model.unet),
              "weights": "EMA, float16" if half else "EMA", **(note or {})}
    init = run_dir / "init_record.json"
    if init.is_file():  # a warm-started run: the steps and seconds include the start's
        before = json.loads(init.read_text())
        record["warm_start"] = {"from": cfg.init_from, "steps": before.get("steps", 0),
                                "train_seconds": before.get("train_seconds", 0)}
        record["steps"] += before.get("steps", 0)
        record["train_seconds"] = round(record["train_seconds"] + before.get("train_seconds", 0), 1)
    (dest / "record.json").write_text(json.dumps(record, indent=2) + "\n")
    return dest


def load_run_teacher(run_dir):
    """The EMA teacher of the newest checkpoint of a training run: (Denoiser in eval
    mode, TeacherConfig, checkpoint folder). Notebook 02."""
    run_dir = Path(run_dir)
    ckpt = latest_checkpoint(run_dir)
    if ckpt is None:
        raise FileNotFoundError(f"no checkpoint in {run_dir}")
    cfg = load_config(ckpt / "config.json", TeacherConfig)
    model = Denoiser(build_unet(cfg.unet))
    load_weights(model, ckpt / "ema.safetensors")
    return model.eval().requires_grad_(False), cfg, ckpt


def load_teacher(path=None, device="cpu"):
    """Load a teacher exported by :func:`export_teacher` (default: the shipped one in
    ``data/teacher``). Returns (Denoiser in eval mode, TeacherConfig). No pickle.
    Introduced in notebook 02."""
    path = Path(path) if path is not None else teacher_dir()
    if not (path / "unet.safetensors").is_file():
        raise FileNotFoundError(
            f"no teacher weights at {path / 'unet.safetensors'}; train one with "
            "`codi train-teacher --out runs/teacher` and export it with "
            "`codi export-teacher runs/teacher data/teacher`")
    cfg = load_config(path / "config.json", TeacherConfig)
    unet = build_unet(cfg.unet)
    load_weights(unet, path / "unet.safetensors")
    return Denoiser(unet).eval().requires_grad_(False).to(device), cfg
