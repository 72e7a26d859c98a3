"""The conditional models of the pixel course ("students", and the ``controlnet``
teacher): build, train, export and load them in any of the four modes of
:mod:`codi_lib.training.modes`, with the one loop of :mod:`codi_lib.training.loop`.
Introduced in ``notebooks/05_consistency_loss.ipynb``. Paper Sec. 4-5.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path

import torch
from safetensors.torch import load_file

from ..method.conditional import build_conditional
from ..method.sampling import sample_by_name
from ..method.schedule import NoiseSchedule
from ..method.tasks import get_task, test_conditions
from .checkpoint import latest_checkpoint, load_weights, save_tensors, training_record
from .config import ConditionalConfig, load_config, save_config
from .data import make_grid_image
from .loop import LoopResult, train_loop
from .modes import get_mode, mode_loss, models_for_mode
from .paths import resolve
from .scene_data import task_batch, training_tensor
from .teacher import load_teacher


def build_for_mode(cfg: ConditionalConfig, device="cpu"):
    """Build (model, ode_model) for ``cfg.mode`` with the right parameters trainable.
    Copies the teacher's architecture and schedule into ``cfg``. Notebook 05."""
    teacher, tcfg = load_teacher(resolve(cfg.teacher))
    cfg.unet, cfg.schedule = copy.deepcopy(tcfg.unet), copy.deepcopy(tcfg.schedule)
    task = get_task(cfg.task)
    model, ode_model = models_for_mode(
        get_mode(cfg.mode), cfg.loss,
        new_model=lambda: build_conditional(teacher.unet, task.cond_channels, cfg.embedding_channels),
        load_init=lambda: load_conditional(resolve(cfg.init_from))[0],
        teacher_ode=lambda: teacher)
    if cfg.warm_start:
        warm_start(model, cfg)
    return model.to(device), (ode_model.to(device) if ode_model is not None else None)


def warm_start(model, cfg: ConditionalConfig) -> None:
    """Copy the weights of the exported model ``cfg.warm_start`` into ``model``: the
    branch, and the backbone when that model trained it. This is fine-tuning a shipped
    model on new images (``codi poc``, notebook 08) instead of starting the branch at zero.
    The exported model must have this run's mode, task and teacher: a branch only fits the
    backbone it was trained on. A checkpoint of the run, when there is one, overrides
    these weights (resuming)."""
    src = resolve(cfg.warm_start)
    if not (src / "controlnet.safetensors").is_file():
        raise FileNotFoundError(f"warm_start={cfg.warm_start}: no exported model there "
                                "(controlnet.safetensors missing)")
    wcfg = load_config(src / "config.json", ConditionalConfig)
    if (wcfg.mode, wcfg.task) != (cfg.mode, cfg.task):
        raise ValueError(f"warm_start={cfg.warm_start} is a {wcfg.mode} model of task "
                         f"{wcfg.task}; this run is {cfg.mode} on {cfg.task}")
    if resolve(wcfg.teacher).resolve() != resolve(cfg.teacher).resolve():
        raise ValueError(f"warm_start={cfg.warm_start} was trained on the teacher "
                         f"{wcfg.teacher}, this run uses {cfg.teacher}: set teacher={wcfg.teacher}")
    load_weights(model.controlnet, src / "controlnet.safetensors")
    if (src / "unet.safetensors").is_file():
        load_weights(model.unet, src / "unet.safetensors")


def make_loss(cfg: ConditionalConfig, ode_model):
    """The loss of ``cfg.mode``: denoising (controlnet) or conditional consistency."""
    return mode_loss(get_mode(cfg.mode), NoiseSchedule(cfg.schedule), cfg.loss,
                     get_task(cfg.task), ode_model)


def make_cond_sample_fn(cfg: ConditionalConfig, n: int = 8):
    """Writes ``samples/step-XXXXXXX.png`` rows: condition, 1-step, 4-step (CoDi modes)
    or DDIM-25 (controlnet), ground truth: on fixed test images."""
    task = get_task(cfg.task)
    batch = task_batch(task, "test", n)   # depth: RGB + exact depth
    x, cond = batch[:, :3], test_conditions(task, batch)

    def sample_fn(ema_model, step, out_dir):
        dev = next(ema_model.parameters()).device
        c = cond.to(dev)
        if cfg.mode == "controlnet":
            rows = [sample_by_name(ema_model, c, cfg.schedule, "ddim", 25)]
        else:
            rows = [sample_by_name(ema_model, c, cfg.schedule, "codi", k, cfg.loss.n_grid)
                    for k in (1, 4)]
        grid = torch.cat([task.show(c).cpu(), *[r.cpu() for r in rows], x])
        p = Path(out_dir) / "samples"
        p.mkdir(parents=True, exist_ok=True)
        make_grid_image(grid, nrow=n).save(p / f"step-{step:07d}.png")

    return sample_fn


def train_conditional(cfg: ConditionalConfig, out_dir, resume=True, progress=True,
                      stop_after=None, images=None) -> LoopResult:
    """Train (or resume) one conditional run. Notebook 05."""
    torch.manual_seed(cfg.train.seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"  # where accelerate will train
    model, ode_model = build_for_mode(cfg, device)
    split = {"emoji": "train", "emoji-fit": "fit", "scenes": "train",
             "scenes-fit": "fit"}.get(cfg.data)
    if images is None and split is None:
        raise ValueError(f"data={cfg.data!r}: conditional runs train on 'emoji' or 'scenes' "
                         "(the train split of the task's data set) or 'emoji-fit' / "
                         "'scenes-fit' (train minus the validation split)")
    imgs = images if images is not None else training_tensor(cfg.task, split)
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
    parts = ["controlnet"] + (["unet"] if get_mode(cfg.mode).trains_backbone else [])
    for name in parts:
        save_tensors({k[len(name) + 1:]: v.to(dt) for k, v in ema.items()
                      if k.startswith(name + ".")}, dest / f"{name}.safetensors")
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
    teacher, _ = load_teacher(resolve(cfg.teacher))
    model = build_conditional(teacher.unet, get_task(cfg.task).cond_channels, cfg.embedding_channels)
    load_weights(model.controlnet, path / "controlnet.safetensors")
    if (path / "unet.safetensors").is_file():
        load_weights(model.unet, path / "unet.safetensors")
    return model.eval().requires_grad_(False).to(device), cfg
