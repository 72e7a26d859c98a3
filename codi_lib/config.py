"""Config dataclasses and their JSON round-trip.

One config dataclass per run, saved as ``config.json`` beside the weights. Loading names
the file and the offending key on any mismatch. Introduced in ``notebooks/02_teacher.ipynb``.
No paper equation.
"""
from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import typing
from dataclasses import dataclass, field
from pathlib import Path

from .models import UNetConfig
from .schedule import ScheduleConfig


@dataclass
class TrainConfig:
    """Settings of the shared training loop (teacher and conditional modes)."""
    max_steps: int = 8000
    batch_size: int = 64
    lr: float = 2e-4
    weight_decay: float = 0.0
    warmup_steps: int = 200
    grad_clip: float = 1.0
    ema_decay: float = 0.999
    ema_warmup: bool = False  # decay min(mu, (1 + k) / (10 + k)) at step k, as diffusers' EMAModel
    bf16: bool = True
    seed: int = 0
    hflip: bool = True
    log_every: int = 25
    sample_every: int = 1000
    ckpt_every: int = 250
    keep_checkpoints: int = 2
    diverge_factor: float = 50.0  # loss above this times its running mean = divergence


@dataclass
class TeacherConfig:
    """Everything that defines one unconditional teacher run."""
    unet: UNetConfig = field(default_factory=UNetConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    data: str = "emoji"  # "emoji" (train split), "emoji-fit" (train minus val) or a folder
    min_snr_gamma: float = 0.0  # > 0: Min-SNR-gamma loss weighting (Hang et al. 2023)
    kind: str = "teacher"


def to_dict(cfg) -> dict:
    """A dataclass (nested) as plain JSON-able dict."""
    return json.loads(json.dumps(dataclasses.asdict(cfg)))


def from_dict(cls, d: dict, where: str = "config"):
    """Build dataclass ``cls`` from a dict, recursing into nested dataclasses.

    Unknown keys raise ``ValueError`` naming ``where`` and the key."""
    if not isinstance(d, dict):
        raise ValueError(f"{where}: expected an object for {cls.__name__}, got {type(d).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(d) - names
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {sorted(unknown)} for {cls.__name__}; "
                         f"known: {sorted(names)}")
    kw = {}
    for k, v in d.items():
        tp = hints.get(k)
        if dataclasses.is_dataclass(tp):
            kw[k] = from_dict(tp, v, f"{where}.{k}")
        else:
            kw[k] = v
    return cls(**kw)


def atomic_write_text(path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (temp file in the same folder + os.replace)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_config(cfg, path) -> None:
    """Save a config dataclass as JSON, atomically."""
    atomic_write_text(path, json.dumps(to_dict(cfg), indent=2) + "\n")


CONFIG_KINDS: dict = {"teacher": TeacherConfig}


def load_config(path, cls=None):
    """Load a config JSON written by :func:`save_config`; the class is taken from its
    ``kind`` field unless ``cls`` is given. Errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file not found: {path}")
    try:
        d = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from None
    if cls is None:
        kind = d.get("kind", "teacher")
        if kind not in CONFIG_KINDS:
            raise ValueError(f"{path}: unknown config kind {kind!r}; known: {sorted(CONFIG_KINDS)}")
        cls = CONFIG_KINDS[kind]
    return from_dict(cls, d, str(path))


def apply_overrides(cfg, overrides: list[str]):
    """Apply ``section.key=value`` overrides (value parsed as JSON when possible),
    e.g. ``train.max_steps=100``. Errors name the override."""
    for item in overrides or []:
        if "=" not in item:
            raise ValueError(f"--set {item!r}: expected KEY=VALUE, e.g. train.max_steps=100")
        key, raw = item.split("=", 1)
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        obj = cfg
        parts = key.split(".")
        for p in parts[:-1]:
            if not hasattr(obj, p):
                raise ValueError(f"--set {item!r}: no section {p!r}")
            obj = getattr(obj, p)
        if not dataclasses.is_dataclass(obj) or parts[-1] not in {f.name for f in dataclasses.fields(obj)}:
            raise ValueError(f"--set {item!r}: unknown key {key!r}")
        if isinstance(value, list):
            value = tuple(value)
        setattr(obj, parts[-1], value)
    return cfg
