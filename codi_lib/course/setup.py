"""Notebook setup: fast mode, threads and plotting defaults, the environment check,
small timing and printing helpers.

Fast mode
---------
``CODI_FAST=1`` in the environment turns on :data:`FAST`, the *one* switch the
notebooks use to pick sizes: fewer images, shorter training runs, fewer repeats.
``make test`` sets it so that every notebook finishes in well under a minute on a CPU;
without it the notebooks run at lesson size (a few minutes each on a laptop). Notebooks
pick a size with ``pick(fast_value, normal_value)``; nothing else reads the variable.

Every function here names the notebook that introduces it. No paper equation: this
module is course plumbing (the maths lives in :mod:`codi_lib.method`).
"""
from __future__ import annotations

import importlib.metadata
import os
import platform
import shutil
import sys
import warnings
from pathlib import Path

import torch

from ..evaluation.timing import format_seconds, median_time
from ..training.data import EMOJI_FILE, data_dir
from ..training.env import ALLOCATOR_ENV, allocator_env_ok
from ..training.paths import RUNS_DIR, fast_mode, read_json, teacher_dir


#: True when ``CODI_FAST=1``: tiny runs, few images, few repeats (``make test`` sets it).
#: The single fast-mode switch of the course. Introduced in notebooks/00_welcome.ipynb.
FAST = fast_mode()


def pick(fast, normal):
    """``fast`` in fast mode (:data:`FAST`), ``normal`` otherwise: how notebooks choose
    sizes, e.g. ``n_images = pick(4, 16)``. Introduced in notebooks/00_welcome.ipynb."""
    return fast if FAST else normal


def _default_threads() -> int:
    omp = os.environ.get("OMP_NUM_THREADS", "")
    if omp.isdigit() and int(omp) > 0:
        return int(omp)
    return max(1, min(os.cpu_count() or 1, 8))


def pick_device() -> str:
    """"cuda" when a CUDA GPU is visible, else "cpu" (everything in the course runs on a
    CPU; Apple's "mps" is not used because some diffusers ops fall back slowly).
    Introduced in notebooks/00_welcome.ipynb."""
    return "cuda" if torch.cuda.is_available() else "cpu"


def setup_notebook(threads: int | None = None, seed: int = 0, quiet: bool = False) -> dict:
    """Call once at the top of every notebook.

    Sets torch's CPU threads (``threads``, default: ``$OMP_NUM_THREADS`` if set, else the
    number of cores up to 8), seeds torch, sets readable matplotlib defaults (pixel-exact
    ``nearest`` interpolation for the 32x32 images), and warns when the glibc allocator
    variables of :mod:`codi_lib.training.env` are missing (they halve CPU step times; ``make course``
    sets them before JupyterLab starts). Returns a dict of environment facts and prints a
    one-line summary unless ``quiet``. Introduced in notebooks/00_welcome.ipynb.
    """
    n = threads or _default_threads()
    torch.set_num_threads(n)
    torch.manual_seed(seed)
    try:
        import matplotlib as mpl
        mpl.rcParams.update({
            "figure.dpi": 100, "savefig.dpi": 100, "image.interpolation": "nearest",
            "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True,
            "grid.alpha": 0.3, "font.size": 10, "axes.titlesize": 10,
            "figure.constrained_layout.use": True,
        })
    except ImportError:  # plotting is optional for the library, required for notebooks
        warnings.warn("matplotlib is not installed: run `make setup` (or pip install matplotlib)")
    alloc_ok = allocator_env_ok()
    if not alloc_ok and sys.platform.startswith("linux"):
        exports = " ".join(f"{k}={v}" for k, v in ALLOCATOR_ENV.items())
        warnings.warn(
            "the glibc allocator settings of codi_lib/env.py are missing, so CPU training "
            "and sampling can be up to 2x slower. Start JupyterLab with `make course`, or "
            f"restart it with: {exports} jupyter lab", stacklevel=2)
    info = {"fast": FAST, "threads": n, "device": pick_device(), "python": platform.python_version(),
            "torch": torch.__version__, "allocator_env": alloc_ok, "cpu_count": os.cpu_count()}
    if not quiet:
        mode = "FAST mode (CODI_FAST=1): small sizes" if FAST else "normal mode (lesson sizes)"
        print(f"{mode}; torch {torch.__version__} on {info['device']} with {n} thread(s)")
    return info


def scratch_run_dir(name: str) -> Path:
    """A fresh, empty ``runs/<name>`` folder for a throw-away training run in a lesson
    (deleted first if it exists). Introduced in notebooks/02_teacher.ipynb."""
    d = RUNS_DIR / name
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    return d


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def environment_report(show: bool = True) -> dict:
    """Check the course environment and say how to fix what is missing.

    Reports the versions of python, torch, diffusers, accelerate and ipywidgets, the
    device, fast mode, the allocator variables, whether the data set, the teacher
    (``data/teacher``), the depth task's teacher (``data/teacher-scenes``) and the students (``data/students/<task>/<mode>``) exist, and
    :func:`codi_lib.evaluation.metric_weights.metric_weights_status` (LPIPS and FID weights) with the
    command that installs what is missing. Prints a checklist when ``show``; returns
    everything as a dict (``ok`` is False when something the course needs now is
    missing). Introduced in notebooks/00_welcome.ipynb.
    """
    versions = {"python": platform.python_version()}
    for dist in ("torch", "diffusers", "accelerate", "ipywidgets", "matplotlib"):
        versions[dist] = _version(dist)
    dev = pick_device()
    dev_desc = (f"cuda ({torch.cuda.get_device_name(0)})" if dev == "cuda"
                else f"cpu ({os.cpu_count()} cores, torch uses {torch.get_num_threads()} threads)")
    teacher_ok = (teacher_dir() / "unet.safetensors").is_file()
    rec = read_json(teacher_dir() / "record.json") if teacher_ok else {}
    scenes_rec = read_json(teacher_dir("scenes") / "record.json")
    from .standins import list_students
    students = list_students()
    try:
        from ..evaluation.metric_weights import metric_weights_status
        metrics = metric_weights_status()
    except Exception as err:  # an import problem must not hide the rest of the report
        metrics = {"metrics": {"ok": False, "source": None, "path": None,
                               "fix": f"codi_lib.evaluation.metrics failed to import: {err}; run `make setup`"}}
    data_ok = (data_dir() / EMOJI_FILE).is_file()
    rep = {"versions": versions, "device": dev, "device_description": dev_desc, "fast": FAST,
           "allocator_env": allocator_env_ok(), "emoji_data": data_ok,
           "teacher": teacher_ok, "teacher_record": rec, "students": students,
           "scene_teacher": (teacher_dir("scenes") / "unet.safetensors").is_file(),
           "scene_teacher_record": scenes_rec,
           "metric_weights": metrics}
    missing_pkgs = [k for k, v in versions.items() if v is None]
    rep["ok"] = data_ok and not missing_pkgs
    if show:
        _print_report(rep, missing_pkgs)
    return rep


def _print_report(rep: dict, missing_pkgs: list) -> None:
    def line(ok, text, fix=None):
        print(f"  [{'ok' if ok else '--'}] {text}")
        if fix and not ok:
            print(f"       fix: {fix}")

    v = rep["versions"]
    print("Software")
    print("  " + ", ".join(f"{k} {v[k] or 'MISSING'}" for k in v))
    if missing_pkgs:
        print(f"       fix: run `make setup` (missing: {', '.join(missing_pkgs)})")
    print("Machine")
    print(f"  device: {rep['device_description']}; fast mode: {rep['fast']}")
    line(rep["allocator_env"], "glibc allocator variables set (faster CPU steps)",
         "start JupyterLab with `make course` (it exports them; see codi_lib/env.py)")
    print("Data and checkpoints")
    line(rep["emoji_data"], "data/emoji32.npz (the emoji data set)",
         "python scripts/build_emoji_dataset.py (see README)")
    rec = rep["teacher_record"]
    detail = (f" ({rec.get('steps')} steps, {rec.get('parameters', 0):,} parameters)"
              if rec else "")
    line(rep["teacher"], f"data/teacher (shipped teacher){detail}",
         "optional: lessons then train a small teacher; the full one is "
         "`codi train-teacher --out runs/teacher` + `codi export-teacher runs/teacher data/teacher`")
    srec = rep.get("scene_teacher_record") or {}
    line(rep.get("scene_teacher"), "data/teacher-scenes (the depth task's teacher)"
         + (f" ({srec.get('steps')} steps)" if srec else ""),
         "needed only by the depth task's models: "
         "`bash scripts/train_teachers.sh scenes 7500` trains and exports it")
    if rep["students"]:
        line(True, "data/students: " + ", ".join(rep["students"]))
    else:
        line(False, "data/students (conditional students)",
             "not needed yet: notebooks 04-05 train them (`codi train --mode codi --task sr4 ...`)")
    print("Metric weights (needed from notebook 06 on)")
    for name, st in rep["metric_weights"].items():
        line(st["ok"], f"{name}: {st['source'] or 'not found'}", st.get("fix"))
    print("Everything the first lessons need is here." if rep["ok"]
          else "Something the lessons need is missing: see the fixes above.")


def default_arg(fn, name: str):
    """The default value of parameter ``name`` of ``fn``, so a notebook can say "the
    library's default, or less in fast mode": ``pick(300, default_arg(f, "steps"))``.
    Introduced in notebooks/03_distillation.ipynb."""
    import inspect
    p = inspect.signature(fn).parameters[name]
    if p.default is inspect.Parameter.empty:
        raise ValueError(f"{fn.__name__}() has no default for {name!r}")
    return p.default


def time_call(fn, *args, repeats: int = 1, warmup: int = 0, **kwargs):
    """Run ``fn(*args, **kwargs)`` ``warmup`` times untimed, then ``repeats`` times;
    return (last result, median seconds) (:func:`codi_lib.evaluation.timing.median_time`).
    Introduced in notebooks/02_teacher.ipynb."""
    return median_time(lambda: fn(*args, **kwargs), repeats, warmup)


def print_timings(seconds: dict, reference: str | None = None) -> None:
    """Print ``{label: seconds}`` as an aligned table, with the speed-up relative to
    ``reference`` (default: the slowest entry). Introduced in notebooks/00_welcome.ipynb."""
    if not seconds:
        return
    ref = seconds[reference] if reference else max(seconds.values())
    w = max(len(k) for k in seconds)
    print(f"  {'':<{w}}  {'wall time':>10}   speed-up")
    for k, s in seconds.items():
        print(f"  {k:<{w}}  {format_seconds(s):>10}   {ref / max(s, 1e-12):6.1f}x")
