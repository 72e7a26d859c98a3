"""Checkpoints: safetensors weights + JSON, written atomically, resumable exactly.

A checkpoint is a folder ``ckpt-0000500/`` holding ``model.safetensors`` (the trained
module), ``ema.safetensors`` (the EMA module), ``optimizer.safetensors`` (optimizer
tensors), ``state.json`` (step, optimizer param groups, LR scheduler, EMA bookkeeping)
and ``config.json``. It is written under a temporary name and renamed only when
complete, then ``latest`` is updated with ``os.replace``: an interrupted write never
damages the previous checkpoint. Nothing is pickled. Introduced in
``notebooks/02_teacher.ipynb``. No paper equation.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from .config import atomic_write_text, save_config
from .paths import RunDir, latest_checkpoint, list_checkpoints  # noqa: F401  (run-folder layout)


def state_dict_contiguous(module: torch.nn.Module) -> dict:
    """A module's state dict as contiguous CPU tensors (safetensors needs that)."""
    return {k: v.detach().to("cpu").contiguous() for k, v in module.state_dict().items()}


def save_tensors(tensors: dict, path) -> None:
    """Save a dict of tensors as safetensors, atomically (temp file + rename)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp))
    tmp.replace(path)


def save_weights(module: torch.nn.Module, path) -> None:
    """Save a module's weights as safetensors, atomically."""
    save_tensors(state_dict_contiguous(module), path)


def load_weights(module: torch.nn.Module, path, strict: bool = True) -> torch.nn.Module:
    """Load safetensors weights into ``module`` (float16 files are cast to the module's
    dtype by ``load_state_dict``); errors name the file. The one loader of weights."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path}")
    try:
        sd = load_file(str(path))
    except Exception as e:  # safetensors raises its own error types
        raise ValueError(f"{path}: not a readable safetensors file ({e})") from None
    missing, unexpected = module.load_state_dict(sd, strict=False)
    if strict and (missing or unexpected):
        raise ValueError(f"{path}: weights do not match the model: missing {missing[:5]}"
                         f"{'...' if len(missing) > 5 else ''}, unexpected {unexpected[:5]}")
    return module


def _optimizer_to_flat(opt_sd: dict):
    tensors, meta = {}, {}
    for pid, st in opt_sd["state"].items():
        for k, v in st.items():
            if torch.is_tensor(v):
                tensors[f"{pid}.{k}"] = v.detach().cpu().contiguous()
            else:
                meta[f"{pid}.{k}"] = v
    return tensors, {"param_groups": opt_sd["param_groups"], "scalars": meta}


def _optimizer_from_flat(tensors: dict, meta: dict) -> dict:
    state: dict = {}
    for key, v in tensors.items():
        pid, k = key.split(".", 1)
        state.setdefault(int(pid), {})[k] = v
    for key, v in meta.get("scalars", {}).items():
        pid, k = key.split(".", 1)
        state.setdefault(int(pid), {})[k] = v
    return {"state": state, "param_groups": meta["param_groups"]}


def save_checkpoint(out_dir, step: int, model, ema_model, optimizer, lr_scheduler,
                    config, extra: dict | None = None, keep: int = 2) -> Path:
    """Write ``out_dir/ckpt-<step>`` atomically and point ``out_dir/latest`` at it.

    Keeps the newest ``keep`` checkpoints. Returns the checkpoint folder."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    final = out_dir / f"ckpt-{step:07d}"
    tmp = out_dir / f".ckpt-{step:07d}.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    save_file(state_dict_contiguous(model), str(tmp / "model.safetensors"))
    if ema_model is not None:
        save_file(state_dict_contiguous(ema_model), str(tmp / "ema.safetensors"))
    opt_tensors, opt_meta = _optimizer_to_flat(optimizer.state_dict())
    save_file(opt_tensors, str(tmp / "optimizer.safetensors"))
    state = {"step": step, "optimizer": opt_meta,
             "lr_scheduler": lr_scheduler.state_dict() if lr_scheduler is not None else None,
             "extra": extra or {}}
    (tmp / "state.json").write_text(json.dumps(state, indent=1))
    save_config(config, tmp / "config.json")
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)
    atomic_write_text(out_dir / "latest", final.name + "\n")
    for old in list_checkpoints(out_dir)[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return final


def load_checkpoint(ckpt_dir, model, ema_model, optimizer, lr_scheduler) -> dict:
    """Restore everything :func:`save_checkpoint` wrote; returns the state dict
    (``step``, ``extra``)."""
    ckpt_dir = Path(ckpt_dir)
    state = json.loads((ckpt_dir / "state.json").read_text())
    load_weights(model, ckpt_dir / "model.safetensors")
    if ema_model is not None:
        load_weights(ema_model, ckpt_dir / "ema.safetensors")
    opt_sd = _optimizer_from_flat(load_file(str(ckpt_dir / "optimizer.safetensors")),
                                  state["optimizer"])
    optimizer.load_state_dict(opt_sd)
    if lr_scheduler is not None and state.get("lr_scheduler"):
        lr_scheduler.load_state_dict(state["lr_scheduler"])
    return state


def training_record(run_dir, ckpt_dir) -> dict:
    """Steps, training seconds, hardware and the mean of the last 20 logged losses of a
    run at checkpoint ``ckpt_dir``: the common part of every shipped ``record.json``."""
    run = RunDir(run_dir)
    state = run.state(ckpt_dir)
    return {"steps": state["step"], "train_seconds": round(state["extra"].get("train_seconds", 0), 1),
            "hardware": state["extra"].get("hardware"),
            "final_loss_mean_last_logs": round(run.mean_loss(20) or 0.0, 5)}
