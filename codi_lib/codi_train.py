"""Training the conditional models: the four modes of one loop.

- ``controlnet``: the branch trained with the ordinary denoising loss (backbone frozen):
  the multi-step conditional *teacher* every comparison shows.
- ``pe-codi``: the conditional consistency loss, branch only, backbone frozen.
- ``codi``: the same loss, backbone and branch trained.
- ``cm-two-stage``: the paper's CM-II baseline: start from a trained ``controlnet``
  model and distill it with ordinary consistency distillation along its own conditional
  ODE (ODE model = the frozen ``controlnet`` model, no guidance term).
Introduced in ``notebooks/05_consistency_loss.ipynb``. Paper Sec. 4-5.
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from .checkpoint import latest_checkpoint, load_weights, training_record
from .conditional import ControlledDenoiser, build_conditional, set_trainable
from .config import CONFIG_KINDS, TrainConfig, load_config, save_config
from .losses import CoDiLossConfig, codi_loss
from .models import UNetConfig, build_unet, count_parameters
from .schedule import NoiseSchedule, ScheduleConfig
from .tasks import get_task, test_conditions
from .teacher import DATA_DIR, Denoiser, denoising_loss, load_teacher
from .train_loop import LoopResult, images_to_tensor, train_loop

MODES = ("controlnet", "pe-codi", "codi", "cm-two-stage")


@dataclass
class ConditionalConfig:
    """Everything that defines one conditional run (saved as config.json)."""
    mode: str = "codi"
    task: str = "sr4"
    teacher: str = "data/teacher"   # exported unconditional teacher
    init_from: str = ""             # cm-two-stage: exported ``controlnet`` model folder
    embedding_channels: tuple = (16,)
    loss: CoDiLossConfig = field(default_factory=CoDiLossConfig)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        max_steps=2000, batch_size=32, lr=1e-4, warmup_steps=50, ema_decay=0.999,
        sample_every=500))
    unet: UNetConfig = field(default_factory=UNetConfig)          # copied from the teacher
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)  # copied from the teacher
    data: str = "emoji"
    kind: str = "conditional"

    def __post_init__(self):
        self.embedding_channels = tuple(self.embedding_channels)
        if self.mode not in MODES:
            raise ValueError(f"mode={self.mode!r}: choose one of {MODES}")
        if self.mode == "cm-two-stage" and not self.init_from:
            raise ValueError("mode 'cm-two-stage' needs init_from: a trained controlnet model folder")


CONFIG_KINDS["conditional"] = ConditionalConfig


def _resolve(path: str) -> Path:
    p = Path(path)
    if not p.is_absolute() and not p.exists() and (DATA_DIR.parent / p).exists():
        p = DATA_DIR.parent / p
    return p


def build_for_mode(cfg: ConditionalConfig, device="cpu"):
    """Build (model, ode_model) for ``cfg.mode`` with the right parameters trainable.
    Copies the teacher's architecture and schedule into ``cfg``. Notebook 05."""
    teacher, tcfg = load_teacher(_resolve(cfg.teacher))
    cfg.unet, cfg.schedule = copy.deepcopy(tcfg.unet), copy.deepcopy(tcfg.schedule)
    task = get_task(cfg.task)
    if cfg.mode == "cm-two-stage":
        model, _ = load_conditional(_resolve(cfg.init_from))
        model.requires_grad_(True)
        ode_model = copy.deepcopy(model).requires_grad_(False).eval()
    else:
        model = build_conditional(teacher.unet, task.cond_channels, cfg.embedding_channels)
        set_trainable(model, backbone=(cfg.mode == "codi"))
        ode_model = teacher if cfg.loss.ode_model == "teacher" else None
    return model.to(device), (ode_model.to(device) if ode_model is not None else None)


def make_loss(cfg: ConditionalConfig, ode_model):
    """The loss of ``cfg.mode``: denoising (controlnet) or conditional consistency."""
    schedule = NoiseSchedule(cfg.schedule)
    task = get_task(cfg.task)
    if cfg.mode == "controlnet":
        return denoising_loss(schedule, task)
    lcfg = cfg.loss
    if cfg.mode == "cm-two-stage":
        lcfg = copy.deepcopy(lcfg)
        lcfg.ode_model, lcfg.lambda_cg = "frozen", 0.0
    return codi_loss(schedule, lcfg, task, ode_model)


def make_cond_sample_fn(cfg: ConditionalConfig, n: int = 8):
    """Writes ``samples/step-XXXXXXX.png`` rows: condition, 1-step, 4-step (CoDi modes)
    or DDIM-25 (controlnet), ground truth: on fixed test images."""
    from .data import load_emoji, make_grid_image
    from .sampling import sample_codi, sample_conditional
    task = get_task(cfg.task)
    x = torch.from_numpy(load_emoji("test").images[:n]).permute(0, 3, 1, 2).float() / 127.5 - 1
    cond = test_conditions(task, x)
    schedule = NoiseSchedule(cfg.schedule)

    def sample_fn(ema_model, step, out_dir):
        dev = next(ema_model.parameters()).device
        c = cond.to(dev)
        if cfg.mode == "controlnet":
            rows = [sample_conditional(ema_model, c, cfg.schedule, 25)]
        else:
            rows = [sample_codi(ema_model, c, schedule, k, cfg.loss.n_grid) for k in (1, 4)]
        grid = torch.cat([task.show(c).cpu(), *[r.cpu() for r in rows], x])
        p = Path(out_dir) / "samples"
        p.mkdir(parents=True, exist_ok=True)
        make_grid_image(grid, nrow=n).save(p / f"step-{step:07d}.png")

    return sample_fn


def train_conditional(cfg: ConditionalConfig, out_dir, resume=True, progress=True,
                      stop_after=None, images=None) -> LoopResult:
    """Train (or resume) one conditional run. Notebook 05."""
    from .data import load_emoji
    torch.manual_seed(cfg.train.seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"  # where accelerate will train
    model, ode_model = build_for_mode(cfg, device)
    imgs = images if images is not None else images_to_tensor(load_emoji("train").images)
    return train_loop(cfg, model, imgs, make_loss(cfg, ode_model), out_dir,
                      sample_fn=make_cond_sample_fn(cfg), resume=resume, progress=progress,
                      stop_after=stop_after)


def export_conditional(run_dir, dest, half: bool = True, note: dict | None = None) -> Path:
    """Export the EMA weights of a run: ``controlnet.safetensors`` always, and
    ``unet.safetensors`` only when the backbone was trained (else the teacher's is used).
    ``half`` stores float16 (halves the shipped size; loading upcasts to float32)."""
    run_dir, dest = Path(run_dir), Path(dest)
    ckpt = latest_checkpoint(run_dir)
    if ckpt is None:
        raise FileNotFoundError(f"no checkpoint in {run_dir}")
    cfg = load_config(ckpt / "config.json", ConditionalConfig)
    ema = load_file(str(ckpt / "ema.safetensors"))
    dt = torch.float16 if half else torch.float32
    dest.mkdir(parents=True, exist_ok=True)
    parts = {"controlnet": {k[len("controlnet."):]: v.to(dt) for k, v in ema.items() if k.startswith("controlnet.")}}
    if cfg.mode in ("codi", "cm-two-stage"):
        parts["unet"] = {k[len("unet."):]: v.to(dt) for k, v in ema.items() if k.startswith("unet.")}
    for name, sd in parts.items():
        tmp = dest / f".{name}.safetensors.tmp"
        save_file({k: v.contiguous() for k, v in sd.items()}, str(tmp))
        tmp.replace(dest / f"{name}.safetensors")
    if "unet" not in parts and (dest / "unet.safetensors").exists():
        (dest / "unet.safetensors").unlink()
    save_config(cfg, dest / "config.json")
    record = {**training_record(run_dir, ckpt), "weights": f"EMA, {dt}", **(note or {})}
    (dest / "record.json").write_text(json.dumps(record, indent=2) + "\n")
    return dest


def load_conditional(path, device="cpu"):
    """Load an exported conditional model (no pickle). Returns (ControlledDenoiser in eval
    mode, ConditionalConfig). A frozen-backbone export reuses its teacher's UNet.
    Introduced in notebook 04."""
    path = Path(path)
    if not (path / "controlnet.safetensors").is_file():
        raise FileNotFoundError(f"no conditional model at {path} (controlnet.safetensors missing); "
                                "train one with `codi train --mode ... --task ...` and export it")
    cfg = load_config(path / "config.json", ConditionalConfig)
    teacher, _ = load_teacher(_resolve(cfg.teacher))
    model = build_conditional(teacher.unet, get_task(cfg.task).cond_channels, cfg.embedding_channels)
    _load_into(model.controlnet, path / "controlnet.safetensors")
    if (path / "unet.safetensors").is_file():
        _load_into(model.unet, path / "unet.safetensors")
    return model.eval().requires_grad_(False).to(device), cfg


def _load_into(module, file):
    sd = {k: v.float() for k, v in load_file(str(file)).items()}
    missing, unexpected = module.load_state_dict(sd, strict=False)
    if missing or unexpected:
        raise ValueError(f"{file}: weights do not match the model (missing {missing[:3]}, "
                         f"unexpected {unexpected[:3]})")
