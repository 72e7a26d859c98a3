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

from ..method.losses import CoDiLossConfig
from ..method.models import UNetConfig
from ..method.schedule import ScheduleConfig
from ..method.tasks import get_task
from .modes import get_mode
from .paths import TEACHERS


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
    diverge_factor: float = 50.0  # loss above this times its running mean ...
    diverge_patience: int = 3     # ... for this many steps in a row = divergence


@dataclass
class TeacherConfig:
    """Everything that defines one unconditional teacher run."""
    unet: UNetConfig = field(default_factory=UNetConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    data: str = "emoji"  # "emoji" (train split), "emoji-fit" (train minus val), "scenes", "scenes-fit" or a folder
    min_snr_gamma: float = 0.0  # > 0: Min-SNR-gamma loss weighting (Hang et al. 2023)
    init_from: str = ""  # an exported teacher folder to start from (a warm start, new optimiser)
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


@dataclass
class ConditionalConfig:
    """Everything that defines one conditional run (saved as config.json); ``mode`` is one
    of :data:`codi_lib.training.modes.MODES`. Introduced in notebooks/05_consistency_loss.ipynb."""
    mode: str = "codi"
    task: str = "sr4"
    teacher: str = ""               # exported unconditional teacher; "" = the task's data set's
    init_from: str = ""             # cm-two-stage: exported ``controlnet`` model folder
    warm_start: str = ""            # an exported model of this mode, task and teacher to
    #                                 start from (fine-tuning, new optimiser; codi poc)
    embedding_channels: tuple = (16,)
    loss: CoDiLossConfig = field(default_factory=CoDiLossConfig)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        max_steps=2000, batch_size=32, lr=1e-4, warmup_steps=50, ema_decay=0.999,
        sample_every=500))
    unet: UNetConfig = field(default_factory=UNetConfig)          # copied from the teacher
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)  # copied from the teacher
    data: str = "emoji"  # the task's data set: "emoji" = its train split, "emoji-fit" = train
    #                      minus the val split (the names hold for the depth task's scenes too)
    kind: str = "conditional"

    def __post_init__(self):
        self.embedding_channels = tuple(self.embedding_channels)
        if not self.teacher:   # data/teacher, or data/teacher-scenes for the depth task
            self.teacher = TEACHERS[get_task(self.task).dataset]
        _check_mode(self.mode, self.init_from, "a trained controlnet model folder")
        if self.warm_start and get_mode(self.mode).from_controlnet:
            raise ValueError(f"mode {self.mode!r} starts from init_from; warm_start is for "
                             "the other modes")


@dataclass
class LatentConfig:
    """Everything that defines one latent (Stable Diffusion layout) run, saved as
    config.json; see :mod:`codi_lib.apps.latent`. Introduced in notebooks/08_your_images.ipynb."""
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
        _check_mode(self.mode, self.init_from, "a trained latent controlnet run")


def _check_mode(mode: str, init_from: str, what: str) -> None:
    if get_mode(mode).from_controlnet and not init_from:
        raise ValueError(f"mode {mode!r} needs init_from: {what}")


#: Every kind of config.json, by its ``kind`` field: the one registry.
CONFIG_KINDS: dict = {"teacher": TeacherConfig, "conditional": ConditionalConfig,
                      "latent": LatentConfig}


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
