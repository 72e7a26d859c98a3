"""Every folder and every ``CODI_*`` environment variable of the course, and the one
reader of a run folder.

Folders (each honours its variable at call time, so a notebook or test may set it late):

======================  ==========================  =====================================
folder                  function                    moved by
======================  ==========================  =====================================
``data/``               :func:`data_dir`            ``CODI_DATA_DIR``
``data/teacher``        :func:`teacher_dir`         ``CODI_DATA_DIR``
``data/teacher-scenes`` :func:`teacher_dir` (scenes) ``CODI_DATA_DIR``
``data/students``       :func:`students_dir`        ``CODI_STUDENTS_DIR`` (else ``CODI_DATA_DIR``)
``data/bench``          :func:`bench_dir`           ``CODI_BENCH_DIR`` (else ``CODI_DATA_DIR``)
``runs/``               :data:`RUNS_DIR`            (never moves)
======================  ==========================  =====================================

Switches: ``CODI_LANG=ja|en`` (the language of the course's messages, :func:`language`;
default: the notebook's folder), ``CODI_FAST=1`` (small notebook sizes, :data:`codi_lib.course.FAST`),
``CODI_METRICS_OFFLINE=1`` (never download metric weights), ``CODI_NO_REEXEC=1`` (the
command line does not re-exec itself with the allocator settings of
:mod:`codi_lib.training.env`).

A *run folder* is what one training run writes (:func:`codi_lib.training.loop.train_loop`):
``config.json``, ``log.jsonl`` (one JSON record per logged step), ``samples/step-*.png``,
``ckpt-XXXXXXX/`` checkpoints (each with ``state.json``) and a ``latest`` pointer.
:class:`RunDir` is the only code that reads them. Introduced in
``notebooks/02_teacher.ipynb``. No paper equation.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

#: The repository root (the folder holding ``codi_lib/``, ``data/`` and ``notebooks/``).
REPO_DIR = Path(__file__).resolve().parents[2]
#: Where training runs of the lessons and of the command line go.
RUNS_DIR = REPO_DIR / "runs"

FAST_ENV = "CODI_FAST"
DATA_DIR_ENV = "CODI_DATA_DIR"
STUDENTS_DIR_ENV = "CODI_STUDENTS_DIR"
BENCH_DIR_ENV = "CODI_BENCH_DIR"
METRICS_OFFLINE_ENV = "CODI_METRICS_OFFLINE"
NO_REEXEC_ENV = "CODI_NO_REEXEC"
LANG_ENV = "CODI_LANG"
#: the languages of the course (notebooks/ja is built by scripts/build_ja.py)
LANGUAGES = ("en", "ja")


def _env_path(name: str) -> Path | None:
    value = os.environ.get(name)
    return Path(value) if value else None


def fast_mode() -> bool:
    """True when ``CODI_FAST=1`` (the course's one fast-mode switch)."""
    return os.environ.get(FAST_ENV) == "1"


def language() -> str:
    """The language the course speaks to the learner, ``"en"`` or ``"ja"``: the one
    setting for messages printed by the library (for example the exercise checkers').
    ``$CODI_LANG`` if it is one of :data:`LANGUAGES`, else ``"ja"`` when the current
    folder is ``notebooks/ja`` (JupyterLab and nbval start a notebook's kernel in the
    notebook's folder, so the Japanese notebooks get Japanese messages with the same
    code cells), else ``"en"``. Read at call time. Introduced in notebooks/00_welcome.ipynb."""
    value = os.environ.get(LANG_ENV, "").strip().lower()
    if value in LANGUAGES:
        return value
    cwd = Path.cwd()
    if cwd.name in LANGUAGES and cwd.parent.name == "notebooks":
        return cwd.name
    return "en"


def data_dir() -> Path:
    """``$CODI_DATA_DIR`` if set, else the repository's ``data/`` (the emoji set, the
    shipped teacher, students and benchmark)."""
    return _env_path(DATA_DIR_ENV) or REPO_DIR / "data"


#: The shipped unconditional teacher of each data set, as a config path (``data/...``,
#: found by :func:`resolve` from any working directory).
TEACHERS = {"emoji": "data/teacher", "scenes": "data/teacher-scenes"}


def teacher_dir(dataset: str = "emoji") -> Path:
    """The shipped unconditional teacher of ``dataset``: ``data/teacher`` (emoji) or
    ``data/teacher-scenes`` (the rendered scenes of the depth task)."""
    if dataset not in TEACHERS:
        raise ValueError(f"dataset={dataset!r}: no shipped teacher; known: {sorted(TEACHERS)}")
    return data_dir() / Path(TEACHERS[dataset]).name


def dataset_of(data: str) -> str:
    """The data set a config's ``data`` field draws from: "scenes" for "scenes" /
    "scenes-fit", "emoji" for "emoji" / "emoji-fit" (and for an image folder)."""
    return "scenes" if data in ("scenes", "scenes-fit") else "emoji"


def students_dir(override=None) -> Path:
    """The folder of conditional models ``<task>/<name>``: ``override`` if given, else
    ``$CODI_STUDENTS_DIR`` if set, else ``data/students``."""
    if override is not None:
        return Path(override)
    return _env_path(STUDENTS_DIR_ENV) or data_dir() / "students"


def bench_dir() -> Path:
    """The shipped benchmark (``codi bench --out data/bench``): ``$CODI_BENCH_DIR`` if
    set, else ``data/bench``."""
    return _env_path(BENCH_DIR_ENV) or data_dir() / "bench"


def resolve(path) -> Path:
    """A path from a config or the command line: as given when it exists (or is
    absolute), else ``data/...`` inside :func:`data_dir`, else relative to the repository
    (so ``teacher="data/teacher"`` works from any working directory)."""
    p = Path(path)
    if p.is_absolute() or p.exists():
        return p
    if p.parts and p.parts[0] == "data" and (data_dir().joinpath(*p.parts[1:])).exists():
        return data_dir().joinpath(*p.parts[1:])
    return REPO_DIR / p if (REPO_DIR / p).exists() else p


def short(path) -> str:
    """``path`` relative to the repository when it is inside it (for messages)."""
    path = Path(path).resolve()
    try:
        return str(path.relative_to(REPO_DIR))
    except ValueError:
        return str(path)


def read_json(path) -> dict:
    """The JSON object in ``path``, or {} when it is missing or unreadable."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}


# --------------------------------------------------------------------------- run folders

CKPT_RE = re.compile(r"^ckpt-(\d{7})$")


def list_checkpoints(out_dir) -> list[Path]:
    """Complete checkpoint folders in ``out_dir``, oldest first."""
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        return []
    found = [p for p in out_dir.iterdir() if p.is_dir() and CKPT_RE.match(p.name)
             and (p / "state.json").is_file()]
    return sorted(found, key=lambda p: p.name)


def latest_checkpoint(out_dir) -> Path | None:
    """The checkpoint named by ``out_dir/latest``, else the newest complete one."""
    out_dir = Path(out_dir)
    ptr = out_dir / "latest"
    if ptr.is_file():
        cand = out_dir / ptr.read_text().strip()
        if (cand / "state.json").is_file():
            return cand
    ckpts = list_checkpoints(out_dir)
    return ckpts[-1] if ckpts else None


class RunDir:
    """Read a run folder: ``log()``, ``latest()``, ``state()``, ``step``, ``samples()``.
    Introduced in notebooks/02_teacher.ipynb."""

    def __init__(self, path):
        self.path = Path(path)

    @property
    def log_file(self) -> Path:
        return self.path / "log.jsonl"

    def log(self, max_step: int | None = None) -> list[dict]:
        """The records of ``log.jsonl`` (step, loss, grad_norm, lr, time, ...), skipping
        lines that are not JSON (a write cut off by a crash); with ``max_step`` only
        those up to that step."""
        if not self.log_file.is_file():
            return []
        out = []
        for line in self.log_file.read_text().splitlines():
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if max_step is None or rec.get("step", 0) <= max_step:
                out.append(rec)
        return out

    def mean_loss(self, last: int) -> float | None:
        """Mean ``loss`` of the last ``last`` log records (None without records)."""
        tail = [r["loss"] for r in self.log()[-last:]]
        return sum(tail) / len(tail) if tail else None

    def latest(self) -> Path | None:
        """The newest complete checkpoint folder (see :func:`latest_checkpoint`)."""
        return latest_checkpoint(self.path)

    def state(self, ckpt=None) -> dict:
        """``state.json`` of ``ckpt`` (default: the latest checkpoint); {} when none."""
        ckpt = ckpt if ckpt is not None else self.latest()
        return read_json(Path(ckpt) / "state.json") if ckpt is not None else {}

    @property
    def step(self) -> int:
        """Steps done: the latest checkpoint's step, 0 when there is none."""
        return self.state().get("step", 0)

    def samples(self) -> list[Path]:
        """The sample grids the run wrote (``samples/step-XXXXXXX.png``), oldest first."""
        return sorted((self.path / "samples").glob("step-*.png"))
