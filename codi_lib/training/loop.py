"""The one training loop every mode shares (teacher, ControlNet, CoDi, CM-II).

Built on accelerate (CPU, one GPU or several processes without code change), with
optional bf16 autocast, an EMA copy of the model, a tqdm progress bar, periodic sample
grids, atomic safetensors checkpoints, exact resume and NaN/divergence detection.
All randomness of step k (batch order, flips, noise, timesteps) comes from generators
seeded by (seed, k, process), so a resumed run is bit-identical to an uninterrupted one.
Introduced in ``notebooks/02_teacher.ipynb``.
"""
from __future__ import annotations

import copy
import json
import math
import platform
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from accelerate import Accelerator
from diffusers.optimization import get_scheduler
from tqdm.auto import tqdm

from .checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from .config import TrainConfig, from_dict, save_config, to_dict
from .data import uint8_to_float
from .paths import RunDir


class TrainingDiverged(RuntimeError):
    """Raised when the loss or gradient becomes NaN/inf or explodes."""


def step_generator(seed: int, step: int, rank: int = 0, stream: int = 0) -> torch.Generator:
    """A CPU generator that depends only on (seed, step, rank, stream)."""
    state = np.random.SeedSequence([seed, step, rank, stream]).generate_state(2)
    return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))


def batch_indices(n_items: int, batch_size: int, step: int, seed: int) -> torch.Tensor:
    """Indices of the global batch of ``step``: consecutive slices of per-epoch
    permutations, so every image is seen once per epoch."""
    start = step * batch_size
    out = []
    while len(out) < batch_size:
        epoch, offset = divmod(start, n_items)
        perm = torch.randperm(n_items, generator=step_generator(seed, epoch, stream=1))
        take = perm[offset: offset + batch_size - len(out)]
        out.extend(take.tolist())
        start += len(take)
    return torch.tensor(out, dtype=torch.long)


def images_to_tensor(images) -> torch.Tensor:
    """uint8 (N, H, W, C) numpy/tensor -> uint8 tensor (N, C, H, W)."""
    t = torch.as_tensor(np.asarray(images))
    if t.dtype != torch.uint8 or t.dim() != 4:
        raise ValueError(f"expected uint8 images (N, H, W, C), got {t.dtype} {tuple(t.shape)}")
    return t.permute(0, 3, 1, 2).contiguous()


def get_batch(images_u8: torch.Tensor, idx: torch.Tensor, hflip: bool,
              gen: torch.Generator) -> torch.Tensor:
    """Float batch in [-1, 1] from uint8 images, with random horizontal flips. A float
    tensor is taken as it is (the scenes: RGB in [-1, 1] plus the exact depth as channel
    4, flipped together with the image)."""
    x = images_u8[idx].float() if images_u8.is_floating_point() else uint8_to_float(images_u8[idx])
    if hflip:
        flip = torch.rand(len(idx), generator=gen) < 0.5
        x[flip] = x[flip].flip(-1)
    return x


@torch.no_grad()
def ema_update(ema_model: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    """(C9), the paper's EMA update theta_ema <- mu theta_ema + (1 - mu) theta (paper Sec. 4;
    mu = ``decay``) over trainable parameters; buffers are copied.

    The EMA copy is a whole module because CoDi evaluates it as the consistency target.
    Introduced in notebook 02 (teacher EMA) and notebook 05 (target network)."""
    ema_p = dict(ema_model.named_parameters())
    for name, p in model.named_parameters():
        if p.requires_grad:
            ema_p[name].lerp_(p.detach().to(ema_p[name].dtype), 1.0 - decay)
    ema_b = dict(ema_model.named_buffers())
    for name, b in model.named_buffers():
        ema_b[name].copy_(b)


def _config_diff(a: dict, b: dict, prefix="") -> list[str]:
    diffs = []
    for k in sorted(set(a) | set(b)):
        va, vb = a.get(k), b.get(k)
        if isinstance(va, dict) and isinstance(vb, dict):
            diffs += _config_diff(va, vb, f"{prefix}{k}.")
        elif va != vb:
            diffs.append(f"{prefix}{k}: {va!r} -> {vb!r}")
    return diffs


RESUMABLE_CHANGES = ("train.max_steps", "train.sample_every", "train.log_every",
                     "train.ckpt_every", "train.keep_checkpoints")


@dataclass
class LoopResult:
    out_dir: Path
    step: int
    history: list
    train_seconds: float


def train_loop(config, model: torch.nn.Module, images_u8: torch.Tensor,
               loss_fn: Callable, out_dir, sample_fn: Callable | None = None,
               resume: bool = True, progress: bool = True,
               accelerator: Accelerator | None = None,
               stop_after: int | None = None) -> LoopResult:
    """Train ``model`` (a module whose forward is the denoiser) on ``images_u8``.

    ``loss_fn(model, ema_model, x, gen, step) -> (loss, logs)`` defines the mode: the
    ordinary denoising loss ((C1) objective) or the conditional consistency loss
    ((C6)-(C7)). Only parameters with ``requires_grad`` are optimised. ``stop_after``
    stops the process after that many steps *of this call* (used to test resume).
    Introduced in notebook 02.

    Why one long function: the order of one step (seeded generators, forward, backward,
    clipping, divergence check, optimizer, EMA, log, checkpoint, samples) is what makes a
    resumed run bit-identical to an uninterrupted one; it reads top to bottom here.
    """
    tc: TrainConfig = config.train
    out_dir = Path(out_dir)
    acc = accelerator or Accelerator(mixed_precision=mixed_precision(tc.bf16))
    torch.manual_seed(tc.seed)
    ema_model = copy.deepcopy(model).requires_grad_(False).eval()
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameters")
    opt = torch.optim.AdamW(params, lr=tc.lr, weight_decay=tc.weight_decay)
    sched = get_scheduler("constant_with_warmup", opt, num_warmup_steps=tc.warmup_steps)

    start_step, train_seconds, history = 0, 0.0, []
    ckpt = latest_checkpoint(out_dir) if resume else None
    if ckpt is not None:
        saved = json.loads((ckpt / "config.json").read_text())
        try:  # fill keys added to the config classes since the run started with defaults
            saved = to_dict(from_dict(type(config), saved, str(ckpt / "config.json")))
        except (ValueError, TypeError):
            pass
        diffs = [d for d in _config_diff(saved, to_dict(config))
                 if not d.startswith(RESUMABLE_CHANGES)]
        if diffs:
            raise ValueError(f"{ckpt}: cannot resume, the config differs: {diffs}. "
                             "Use another output folder or resume=False (--no-resume).")
        state = load_checkpoint(ckpt, model, ema_model, opt, sched)
        start_step = state["step"]
        train_seconds = state["extra"].get("train_seconds", 0.0)
        history = RunDir(out_dir).log(start_step)
    model, opt = acc.prepare(model, opt)
    ema_model.to(acc.device)
    if acc.is_main_process:
        out_dir.mkdir(parents=True, exist_ok=True)
        save_config(config, out_dir / "config.json")
        _write_log(out_dir / "log.jsonl", history)

    n = len(images_u8)
    per_proc = tc.batch_size // acc.num_processes
    if per_proc * acc.num_processes != tc.batch_size:
        raise ValueError(f"batch_size {tc.batch_size} is not divisible by "
                         f"{acc.num_processes} processes")
    running, spikes = None, 0
    bar = tqdm(total=tc.max_steps, initial=start_step, disable=not (progress and acc.is_main_process),
               desc=f"train {getattr(config, 'kind', '')}", dynamic_ncols=True)
    step = start_step
    t_last = time.time()
    steps_this_call = 0
    while step < tc.max_steps:
        idx = batch_indices(n, tc.batch_size, step, tc.seed)
        idx = idx[acc.process_index * per_proc:(acc.process_index + 1) * per_proc]
        gen = step_generator(tc.seed, step, acc.process_index)
        x = get_batch(images_u8, idx, tc.hflip, gen).to(acc.device)
        model.train()
        with acc.autocast():
            loss, logs = loss_fn(model, ema_model, x, gen, step)
        acc.backward(loss)
        gnorm = acc.clip_grad_norm_(params, tc.grad_clip) if tc.grad_clip else torch.tensor(0.0)
        loss_v = float(acc.reduce(loss.detach().float(), "mean"))
        gnorm_v = float(gnorm)
        if not (math.isfinite(loss_v) and math.isfinite(gnorm_v)):
            raise TrainingDiverged(
                f"training diverged at step {step}: loss={loss_v}, grad_norm={gnorm_v}. "
                f"Nothing was saved from this step; the last good checkpoint in {out_dir} "
                "is intact. Lower train.lr or check the data.")
        # one batch far above the running mean is the heavy tail of a small loss (the
        # consistency loss alone, lambda_cg = 0, has spikes of 60x); a run of them is not
        high = running is not None and step - start_step > 50 and loss_v > tc.diverge_factor * running
        spikes = spikes + 1 if high else 0
        if spikes >= max(1, tc.diverge_patience):
            raise TrainingDiverged(
                f"training diverged at step {step}: the loss stayed above "
                f"{tc.diverge_factor}x its running mean for {spikes} steps (now {loss_v:.4g}, "
                f"mean {running:.4g}). The last good checkpoint in {out_dir} is intact.")
        if not high:  # a spike does not move the mean it is judged against
            running = loss_v if running is None else 0.98 * running + 0.02 * loss_v
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        decay = min(tc.ema_decay, (1 + step) / (10 + step)) if tc.ema_warmup else tc.ema_decay
        ema_update(ema_model, acc.unwrap_model(model), decay)
        step += 1
        steps_this_call += 1
        now = time.time()
        train_seconds += now - t_last
        t_last = now
        bar.update(1)
        if step % tc.log_every == 0 or step == tc.max_steps:
            rec = {"step": step, "loss": round(loss_v, 6), "grad_norm": round(gnorm_v, 4),
                   "lr": sched.get_last_lr()[0], "time": round(train_seconds, 2)}
            rec.update({k: round(float(v), 6) for k, v in (logs or {}).items()})
            history.append(rec)
            bar.set_postfix(loss=f"{running:.4f}")
            if acc.is_main_process:
                with open(out_dir / "log.jsonl", "a") as f:
                    f.write(json.dumps(rec) + "\n")
        done = step == tc.max_steps or (stop_after is not None and steps_this_call >= stop_after)
        if step % tc.ckpt_every == 0 or done:
            acc.wait_for_everyone()
            if acc.is_main_process:
                save_checkpoint(out_dir, step, acc.unwrap_model(model), ema_model, opt, sched,
                                config, {"train_seconds": train_seconds,
                                         "hardware": hardware_string(acc)},
                                keep=tc.keep_checkpoints)
            t_last = time.time()
        if sample_fn is not None and tc.sample_every > 0 and acc.is_main_process and (
                step % tc.sample_every == 0 or step == tc.max_steps):
            sample_fn(ema_model, step, out_dir)
            t_last = time.time()
        if done:
            break
    bar.close()
    return LoopResult(out_dir, step, history, train_seconds)


def bf16_is_fast() -> bool:
    """Whether bf16 autocast speeds training up here: on a GPU that supports it, or on a
    CPU whose oneDNN has native bf16 kernels (AVX-512 or AMX). On an AVX2-only CPU
    torch emulates bf16 and a step is about 16x *slower* than in float32 (measured on a
    2-core AMD EPYC: 66 s vs 4.2 s for a teacher step at batch 64). Notebook 02."""
    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a torch without oneDNN: no fast bf16 either
        return False


def mixed_precision(bf16: bool) -> str:
    """Accelerate's ``mixed_precision`` for a run asking for bf16 (``train.bf16``):
    "bf16" where :func:`bf16_is_fast`, else "no" (float32) with a warning, since the
    request is about speed and emulated bf16 would cost it. Notebook 02."""
    if not bf16:
        return "no"
    if bf16_is_fast():
        return "bf16"
    warnings.warn("train.bf16: this machine has no fast bf16 (no AVX-512/AMX or GPU); "
                  "training in float32, which is faster here", stacklevel=2)
    return "no"


def hardware_string(acc: Accelerator | None = None) -> str:
    """A short description of where training runs (for training records)."""
    import os
    dev = "cpu"
    if torch.cuda.is_available():
        dev = torch.cuda.get_device_name(0)
    procs = acc.num_processes if acc is not None else 1
    precision = {"no": "float32"}.get(str(acc.mixed_precision), str(acc.mixed_precision)) \
        if acc is not None else "float32"
    return (f"{platform.machine()} {os.cpu_count()} cores, device {dev}, "
            f"{procs} process(es), {precision}, torch {torch.__version__}")


def _write_log(path: Path, history: list) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in history))
