"""Notebook support: fast mode, notebook setup, the teacher every lesson needs, the
environment check, a first teacher-vs-student look and small timing helpers.

Fast mode
---------
``CODI_FAST=1`` in the environment turns on :data:`FAST`, the *one* switch the
notebooks use to pick sizes: fewer images, shorter training runs, fewer repeats.
``make test`` sets it so that every notebook finishes in well under a minute on a CPU;
without it the notebooks run at lesson size (a few minutes each on a laptop). Notebooks
pick a size with ``pick(fast_value, normal_value)``; nothing else reads the variable.

Every function here names the notebook that introduces it. No paper equation: this
module is course plumbing (the maths lives in :mod:`codi_lib.schedule`).
"""
from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import shutil
import sys
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

import torch

#: True when ``CODI_FAST=1``: tiny runs, few images, few repeats (``make test`` sets it).
#: The single fast-mode switch of the course. Introduced in notebooks/00_welcome.ipynb.
FAST = os.environ.get("CODI_FAST") == "1"

REPO_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = REPO_DIR / "data"
RUNS_DIR = REPO_DIR / "runs"
TEACHER_DIR = DATA_DIR / "teacher"
STUDENTS_DIR = DATA_DIR / "students"
#: The student folders the later notebooks train and the welcome notebook looks for.
STUDENT_MODES = ("controlnet", "pe-codi", "codi", "cm-two-stage")


def pick(fast, normal):
    """``fast`` in fast mode (:data:`FAST`), ``normal`` otherwise: how notebooks choose
    sizes, e.g. ``n_images = pick(4, 16)``. Introduced in notebooks/00_welcome.ipynb."""
    return fast if FAST else normal


# --------------------------------------------------------------------------- setup


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
    variables of :mod:`codi_lib.env` are missing (they halve CPU step times; ``make course``
    sets them before JupyterLab starts). Returns a dict of environment facts and prints a
    one-line summary unless ``quiet``. Introduced in notebooks/00_welcome.ipynb.
    """
    from .env import ALLOCATOR_ENV, allocator_env_ok
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


# --------------------------------------------------------------------------- data


def emoji_batch(split: str = "test", n: int = 8, start: int = 0) -> torch.Tensor:
    """``n`` emoji of ``split`` from index ``start`` as a float (n, 3, 32, 32) tensor in
    [-1, 1]: the "x" of (C1). Introduced in notebooks/00_welcome.ipynb."""
    from .data import load_emoji
    imgs = load_emoji(split).images[start:start + n]
    return torch.from_numpy(imgs).permute(0, 3, 1, 2).float() / 127.5 - 1.0


# --------------------------------------------------------------------------- the teacher


def small_teacher_config(max_steps: int = 300, batch_size: int = 16, sample_grids: int = 3):
    """A small teacher (about 0.55 M parameters, two resolution levels, one ResNet block
    per level) that learns coarse emoji colours and shapes in a few hundred CPU steps.
    Its EMA decays fast (0.99) so the EMA weights are usable after a short run; the run
    writes ``sample_grids`` sample grids and as many checkpoints, evenly spaced. Used by
    the live run of notebooks/02_teacher.ipynb and by :func:`load_or_train_teacher`."""
    from .config import TeacherConfig
    cfg = TeacherConfig()
    u = cfg.unet
    u.block_out_channels = (32, 64)
    u.down_block_types = ("DownBlock2D", "DownBlock2D")
    u.up_block_types = ("UpBlock2D", "UpBlock2D")
    u.layers_per_block = 1
    t = cfg.train
    t.max_steps, t.batch_size, t.warmup_steps, t.ema_decay = max_steps, batch_size, 20, 0.99
    t.log_every = max(1, min(10, max_steps // 10))
    every = max(1, -(-max_steps // max(1, sample_grids)))   # ceil: the last grid at max_steps
    t.sample_every = t.ckpt_every = every
    return cfg


def load_or_train_teacher(path=None, run_dir=None, steps: int | None = None, device=None):
    """The teacher of the lessons: the shipped one in ``data/teacher`` when it is there,
    otherwise a small one trained now.

    Without a shipped checkpoint it trains :func:`small_teacher_config` for ``steps``
    steps (default 300, or 30 in fast mode) with :func:`codi_lib.teacher.train_teacher`
    into ``run_dir`` (default ``runs/course-teacher``; a finished run there is reused,
    an interrupted one resumed), exports its EMA weights to ``run_dir/export`` and loads
    them. Prints what it does. Returns (Denoiser in eval mode, TeacherConfig).
    Introduced in notebooks/00_welcome.ipynb.
    """
    from .teacher import export_teacher, load_teacher, train_teacher
    device = device or pick_device()
    path = Path(path) if path is not None else TEACHER_DIR
    if (path / "unet.safetensors").is_file():
        model, cfg = load_teacher(path, device=device)
        rec = _read_json(path / "record.json")
        extra = f", trained {rec['steps']} steps" if rec.get("steps") else ""
        print(f"loaded the teacher from {_short(path)} ({_count(model):,} parameters{extra})")
        return model, cfg
    from .checkpoint import latest_checkpoint
    run_dir = Path(run_dir) if run_dir is not None else RUNS_DIR / "course-teacher"
    steps = steps or pick(30, 300)
    ckpt = latest_checkpoint(run_dir) if run_dir.is_dir() else None
    done = _read_json(ckpt / "state.json").get("step", 0) if ckpt is not None else 0
    if done >= steps:
        print(f"no teacher at {_short(path)}: reusing the small teacher trained in "
              f"{_short(run_dir)} ({done} steps)")
    else:
        resume = f", resuming at step {done}" if done else ""
        print(f"no teacher at {_short(path)}: training a small one for {steps} steps into "
              f"{_short(run_dir)}{resume} (about a minute; the shipped teacher is much better)")
    cfg = small_teacher_config(steps)
    train_teacher(cfg, run_dir, resume=True, progress=done < steps)
    export = export_teacher(run_dir, run_dir / "export")
    model, cfg = load_teacher(export, device=device)
    print(f"loaded the small teacher from {_short(export)} ({_count(model):,} parameters)")
    return model, cfg


def teacher_record(path=None) -> dict:
    """The training record (``record.json``: steps, train_seconds, hardware, final loss,
    parameters) of the teacher in ``path`` (default ``data/teacher``, else the small one
    :func:`load_or_train_teacher` trained); {} when there is none. Introduced in
    notebooks/02_teacher.ipynb."""
    for p in ([Path(path)] if path is not None
              else [TEACHER_DIR, RUNS_DIR / "course-teacher" / "export"]):
        rec = _read_json(p / "record.json")
        if rec:
            return rec
    return {}


def _count(model) -> int:
    return sum(p.numel() for p in model.parameters())


def _short(path) -> str:
    path = Path(path).resolve()
    try:
        return str(path.relative_to(REPO_DIR))
    except ValueError:
        return str(path)


def _read_json(path) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}


def scratch_run_dir(name: str) -> Path:
    """A fresh, empty ``runs/<name>`` folder for a throw-away training run in a lesson
    (deleted first if it exists). Introduced in notebooks/02_teacher.ipynb."""
    d = RUNS_DIR / name
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    return d


def read_log(run_dir) -> list[dict]:
    """The records of ``run_dir/log.jsonl`` (one dict per logged step: step, loss,
    grad_norm, lr, time). Introduced in notebooks/02_teacher.ipynb."""
    p = Path(run_dir) / "log.jsonl"
    if not p.is_file():
        return []
    out = []
    for line in p.read_text().splitlines():
        if line.strip():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return out


def sample_pngs(run_dir) -> list[Path]:
    """The sample grids a training run wrote (``samples/step-XXXXXXX.png``), oldest
    first. Introduced in notebooks/02_teacher.ipynb."""
    return sorted((Path(run_dir) / "samples").glob("step-*.png"))


# --------------------------------------------------------------------------- students


def student_dir(task: str = "sr4", mode: str = "codi") -> Path:
    """``data/students/<task>/<mode>``, where notebooks 04-05 export the conditional models.
    Introduced in notebooks/00_welcome.ipynb."""
    return STUDENTS_DIR / task / mode


def has_student(task: str = "sr4", mode: str = "codi") -> bool:
    """Whether an exported conditional model exists at :func:`student_dir`.
    Introduced in notebooks/00_welcome.ipynb."""
    return (student_dir(task, mode) / "controlnet.safetensors").is_file()


def list_students() -> list[str]:
    """``task/mode`` of every exported conditional model under ``data/students``.
    Introduced in notebooks/00_welcome.ipynb."""
    if not STUDENTS_DIR.is_dir():
        return []
    return sorted(f"{p.parent.parent.name}/{p.parent.name}"
                  for p in STUDENTS_DIR.glob("*/*/controlnet.safetensors"))


def first_look(n_images: int | None = None, teacher_steps: int = 50, student_steps: int = 4,
               task: str = "sr4", seed: int = 0) -> dict:
    """The welcome picture: a slow many-step teacher next to a fast few-step model.

    If the conditional models of ``task`` exist (``data/students/<task>/controlnet`` and
    ``.../codi``), the rows are: condition, ControlNet teacher with DDIM-``teacher_steps``
    (:func:`~codi_lib.sampling.sample_conditional`), CoDi student with
    ``student_steps`` steps (:func:`~codi_lib.sampling.sample_codi`), ground truth, on the
    first test emoji with :func:`~codi_lib.tasks.test_conditions`. Otherwise (students
    not trained yet) the unconditional teacher with DDIM at ``teacher_steps`` and at
    ``student_steps`` steps from the same noise. Returns ``{"students": bool, "rows":
    [tensors], "row_titles": [str], "seconds": {label: s}, "note": str}``.
    Introduced in notebooks/00_welcome.ipynb.
    """
    from .sampling import sample, sample_codi, sample_conditional
    from .schedule import NoiseSchedule
    n = n_images or pick(2, 6)
    out = {"seconds": {}}
    if has_student(task, "codi") and has_student(task, "controlnet"):
        from .codi_train import load_conditional
        from .tasks import get_task, test_conditions
        teacher, tcfg = load_conditional(student_dir(task, "controlnet"))
        student, scfg = load_conditional(student_dir(task, "codi"))
        x = emoji_batch("test", n)
        cond = test_conditions(task, x)
        noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(seed))
        lt, lk = f"teacher, DDIM-{teacher_steps}", f"CoDi student, {student_steps} steps"
        with Timer() as tt:
            xt = sample_conditional(teacher, cond, tcfg.schedule, teacher_steps, noise=noise)
        with Timer() as ts:
            xs = sample_codi(student, cond, NoiseSchedule(scfg.schedule), student_steps, noise=noise)
        task_obj = get_task(task)
        out.update(students=True, rows=[task_obj.show(cond), xt, xs, x],
                   row_titles=[f"condition ({task_obj.title})", lt, lk, "ground truth"])
        out["seconds"] = {lt: tt.seconds, lk: ts.seconds}
        out["note"] = (f"{n} test emoji, same noise for both; the student is "
                       f"{tt.seconds / max(ts.seconds, 1e-9):.0f}x faster here.")
        return out
    teacher, cfg = load_or_train_teacher()
    shape = (cfg.unet.in_channels, cfg.unet.sample_size, cfg.unet.sample_size)
    noise = torch.randn((n, *shape), generator=torch.Generator().manual_seed(seed))
    rows, titles = [], []
    for steps in (teacher_steps, student_steps):
        label = f"teacher, DDIM-{steps}"
        with Timer() as t:
            rows.append(sample(teacher, cfg.schedule, n, steps, "ddim", noise=noise))
        out["seconds"][label] = t.seconds
        titles.append(label)
    out.update(students=False, rows=rows, row_titles=titles,
               note=(f"No trained students yet (data/students/{task}/codi and "
                     f".../controlnet): this is the unconditional teacher at {teacher_steps} "
                     f"and {student_steps} DDIM steps from the same noise. Notebooks 04-05 "
                     "train the conditional students; rerun this cell after that."))
    return out


# --------------------------------------------------------------------------- environment


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def environment_report(show: bool = True) -> dict:
    """Check the course environment and say how to fix what is missing.

    Reports the versions of python, torch, diffusers, accelerate and ipywidgets, the
    device, fast mode, the allocator variables, whether the data set, the teacher
    (``data/teacher``) and the students (``data/students/<task>/<mode>``) exist, and
    :func:`codi_lib.metrics.metric_weights_status` (LPIPS and FID weights) with the
    command that installs what is missing. Prints a checklist when ``show``; returns
    everything as a dict (``ok`` is False when something the course needs now is
    missing). Introduced in notebooks/00_welcome.ipynb.
    """
    from .env import allocator_env_ok
    versions = {"python": platform.python_version()}
    for dist in ("torch", "diffusers", "accelerate", "ipywidgets", "matplotlib"):
        versions[dist] = _version(dist)
    dev = pick_device()
    dev_desc = (f"cuda ({torch.cuda.get_device_name(0)})" if dev == "cuda"
                else f"cpu ({os.cpu_count()} cores, torch uses {torch.get_num_threads()} threads)")
    teacher_ok = (TEACHER_DIR / "unet.safetensors").is_file()
    rec = _read_json(TEACHER_DIR / "record.json") if teacher_ok else {}
    students = list_students()
    try:
        from .metrics import metric_weights_status
        metrics = metric_weights_status()
    except Exception as err:  # an import problem must not hide the rest of the report
        metrics = {"metrics": {"ok": False, "source": None, "path": None,
                               "fix": f"codi_lib.metrics failed to import: {err}; run `make setup`"}}
    data_ok = (DATA_DIR / "emoji32.npz").is_file()
    rep = {"versions": versions, "device": dev, "device_description": dev_desc, "fast": FAST,
           "allocator_env": allocator_env_ok(), "emoji_data": data_ok,
           "teacher": teacher_ok, "teacher_record": rec, "students": students,
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


# --------------------------------------------------------------------------- timing


class Timer:
    """Wall-clock timer as a context manager: ``with Timer("DDIM-50") as t: ...`` then
    ``t.seconds``; prints ``label: 1.23 s`` on exit when a label is given and
    ``show`` is true. Introduced in notebooks/00_welcome.ipynb."""

    def __init__(self, label: str | None = None, show: bool = True):
        self.label, self.show, self.seconds = label, show, float("nan")

    def __enter__(self):
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self._t0
        if self.label and self.show and exc[0] is None:
            print(f"{self.label}: {format_seconds(self.seconds)}")
        return False


@contextmanager
def timer(label: str | None = None, show: bool = True):
    """Functional spelling of :class:`Timer`: ``with timer("x") as t: ...``.
    Introduced in notebooks/00_welcome.ipynb."""
    t = Timer(label, show)
    with t:
        yield t


def time_call(fn, *args, repeats: int = 1, warmup: int = 0, **kwargs):
    """Run ``fn(*args, **kwargs)`` ``warmup`` times untimed, then ``repeats`` times;
    return (last result, median seconds). Introduced in notebooks/02_teacher.ipynb."""
    for _ in range(warmup):
        fn(*args, **kwargs)
    times, out = [], None
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        out = fn(*args, **kwargs)
        times.append(time.perf_counter() - t0)
    times.sort()
    return out, times[len(times) // 2]


def format_seconds(s: float) -> str:
    """``0.0123`` -> ``"12.3 ms"``, ``3.2`` -> ``"3.20 s"``, ``125`` -> ``"2 min 5 s"``.
    Introduced in notebooks/00_welcome.ipynb."""
    if s != s:  # NaN
        return "n/a"
    if s < 1:
        return f"{s * 1000:.1f} ms"
    if s < 60:
        return f"{s:.2f} s"
    m, r = divmod(round(s), 60)
    return f"{m} min {r} s"


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


# --------------------------------------------------------------------------- conditional models


#: How every conditional model folder ``data/students/<task>/<name>`` is trained: name ->
#: (``codi train --mode``, extra ``--set`` overrides). The shipped settings (steps, learning
#: rates) are in ``scripts/train_students.sh``; the shipped ablations are the ``pe-codi-*``
#: ones (branch only, small), the ``codi-*`` ones are the same ablations of full CoDi.
#: Introduced in notebooks/04_adding_a_condition.ipynb.
CONDITIONAL_RECIPES = {
    "controlnet": ("controlnet", ()),
    "pe-codi": ("pe-codi", ()),
    "codi": ("codi", ()),
    "cm-two-stage": ("cm-two-stage", ()),
    "pe-codi-no-guidance": ("pe-codi", ("loss.lambda_cg=0",)),
    "pe-codi-no-consistency": ("pe-codi", ("loss.lambda_cons=0",)),
    "pe-codi-ode-teacher": ("pe-codi", ("loss.ode_model=teacher",)),
    "codi-no-guidance": ("codi", ("loss.lambda_cg=0",)),
    "codi-no-consistency": ("codi", ("loss.lambda_cons=0",)),
    "codi-ode-teacher": ("codi", ("loss.ode_model=teacher",)),
}


def ablation_models() -> tuple[str, list[str]]:
    """(the model the benchmark's ablations modify, [the ablation model names]), read from
    :data:`codi_lib.bench.METHODS` and :data:`CONDITIONAL_RECIPES`: today ("pe-codi",
    ["pe-codi-no-guidance", "pe-codi-no-consistency", "pe-codi-ode-teacher"]).
    Introduced in notebooks/05_consistency_loss.ipynb."""
    from .bench import METHODS
    names = list(dict.fromkeys(m.model for m in METHODS if m.label.startswith("ablation")))
    return CONDITIONAL_RECIPES[names[0]][0], names
#: Where the lessons put stand-in models they train because a shipped one is missing.
STAND_IN_DIR = RUNS_DIR / "course-students"


def students_root(students_dir=None) -> Path:
    """The folder of conditional models: ``students_dir`` if given, else
    ``$CODI_STUDENTS_DIR`` if set (as in notebook 07), else ``data/students``.
    Introduced in notebooks/04_adding_a_condition.ipynb."""
    if students_dir is not None:
        return Path(students_dir)
    env = os.environ.get("CODI_STUDENTS_DIR")
    return Path(env) if env else STUDENTS_DIR


def train_commands(task: str = "sr4", name: str = "codi") -> str:
    """The two shell commands that train and export ``data/students/<task>/<name>``
    (default settings; ``bash scripts/train_students.sh`` trains every shipped model with
    the shipped settings). Introduced in notebooks/04_adding_a_condition.ipynb."""
    if name not in CONDITIONAL_RECIPES:
        raise ValueError(f"unknown model {name!r}; known: {sorted(CONDITIONAL_RECIPES)}")
    mode, sets = CONDITIONAL_RECIPES[name]
    run = f"runs/students/{task}-{name}"
    init = f" --init-from data/students/{task}/controlnet" if mode == "cm-two-stage" else ""
    extra = "".join(f" --set {s}" for s in sets)
    return (f"codi train --mode {mode} --task {task} --out {run}{init}{extra}\n"
            f"codi export {run} data/students/{task}/{name}")


class ConditionalModel:
    """A conditional model ready for sampling, with where it came from: ``model``
    (ControlledDenoiser, eval mode), ``cfg`` (ConditionalConfig), ``path``, ``record``
    (its record.json), ``stand_in`` (True when the lesson trained it because the shipped
    model is missing) and ``label`` (a caption that says so). Introduced in
    notebooks/04_adding_a_condition.ipynb."""

    def __init__(self, name, task, model, cfg, path, record, stand_in):
        self.name, self.task, self.model, self.cfg = name, task, model, cfg
        self.path, self.record, self.stand_in = Path(path), record, stand_in

    @property
    def steps(self):
        return self.record.get("steps")

    @property
    def label(self) -> str:
        return f"{self.name} (stand-in, {self.steps} steps)" if self.stand_in else self.name

    def __repr__(self) -> str:
        kind = "stand-in" if self.stand_in else "shipped"
        return f"ConditionalModel({self.task}/{self.name}, {kind}, {self.steps} steps, {_short(self.path)})"


def _stand_in_ready(task: str, name: str) -> bool:
    """A stand-in for ``task/name`` exists and was made with the current teacher."""
    dest = STAND_IN_DIR / task / name
    return ((dest / "controlnet.safetensors").is_file()
            and _read_json(dest / "record.json").get("teacher_steps")
            == _read_json(TEACHER_DIR / "record.json").get("steps"))


def _stand_in(task: str, name: str, steps: int, students_dir) -> Path:
    """Train and export a tiny stand-in for ``task/name`` (batch 8, ``steps`` steps, no
    sample grids) into :data:`STAND_IN_DIR`, reusing one that is already there and was
    made with the current teacher."""
    from .codi_train import ConditionalConfig, export_conditional, train_conditional
    dest = STAND_IN_DIR / task / name
    if _stand_in_ready(task, name):
        return dest
    teacher_stamp = _read_json(TEACHER_DIR / "record.json").get("steps")
    mode, sets = CONDITIONAL_RECIPES[name]
    init = ""
    if mode == "cm-two-stage":  # CM-II starts from a trained controlnet model
        init = str(load_or_train_conditional(task, "controlnet", students_dir, steps, quiet=True).path)
    cfg = ConditionalConfig(mode=mode, task=task, teacher=str(TEACHER_DIR), init_from=init)
    from .config import apply_overrides
    apply_overrides(cfg, [*sets, f"train.max_steps={steps}", "train.batch_size=8",
                          "train.warmup_steps=1", "train.sample_every=0", "train.log_every=1"])
    run = STAND_IN_DIR / "_runs" / f"{task}-{name}"
    if run.exists():
        shutil.rmtree(run)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train_conditional(cfg, run, resume=False, progress=False)
    export_conditional(run, dest, note={"stand_in": True, "teacher_steps": teacher_stamp})
    return dest


def load_or_train_conditional(task: str = "sr4", name: str = "codi", students_dir=None,
                              steps: int | None = None, quiet: bool = False) -> ConditionalModel:
    """Load the conditional model ``<students_dir>/<task>/<name>`` (default folder:
    :func:`students_root`), or, when it is missing, say so with the commands that train it
    (:func:`train_commands`) and train a tiny *stand-in* for ``steps`` steps (default 3,
    batch 8) into ``runs/course-students/<task>/<name>`` so that every cell still runs;
    a stand-in already there is reused if it was made with the current teacher. A stand-in learns almost nothing: its pictures show
    that the code runs, not what the method achieves, and every caption made from
    :attr:`ConditionalModel.label` says so. Introduced in
    notebooks/04_adding_a_condition.ipynb."""
    from .codi_train import load_conditional
    path = students_root(students_dir) / task / name
    stand_in = not (path / "controlnet.safetensors").is_file()
    if stand_in:
        steps = steps or 3
        have = _stand_in_ready(task, name)
        if not quiet:
            print(f"missing: {_short(path)} (the shipped {name} model for {task}). Train it with\n"
                  + "".join(f"    {line}\n" for line in train_commands(task, name).splitlines())
                  + "  (or `bash scripts/train_students.sh` for every shipped model).\n"
                  + (f"  Reusing the stand-in in {_short(STAND_IN_DIR / task / name)}."
                     if have else
                     f"  Training a {steps}-step stand-in now into "
                     f"{_short(STAND_IN_DIR / task / name)} so the lesson runs; "
                     "its results mean nothing."))
        path = _stand_in(task, name, steps, students_dir)
    model, cfg = load_conditional(path)
    rec = _read_json(path / "record.json")
    out = ConditionalModel(name, task, model, cfg, path, rec, stand_in)
    if not quiet and not stand_in:
        print(f"loaded {task}/{name} from {_short(path)} ({rec.get('steps', '?')} training steps)")
    return out


def test_batch(task: str = "sr4", n: int = 8, start: int = 0):
    """``n`` test emoji from index ``start`` and their fixed conditions for ``task``
    (:func:`codi_lib.tasks.test_conditions`): returns (x, cond). Introduced in
    notebooks/04_adding_a_condition.ipynb."""
    from .tasks import test_conditions
    x = emoji_batch("test", n, start)
    return x, test_conditions(task, x)


test_batch.__test__ = False  # not a pytest test


def sample_method(cm: ConditionalModel, cond: torch.Tensor, sampler: str, steps: int,
                  noise: torch.Tensor | None = None, seed: int = 0) -> dict:
    """Sample ``cm`` on ``cond`` with ``sampler`` ("ddim", "dpmsolver++" or "codi", the
    CoDi sampler (C8)) at ``steps`` steps, timed and with the network evaluations counted
    (:class:`codi_lib.metrics.CountingDenoiser`). Returns {"images", "seconds",
    "ms_per_image", "nfe"}. Introduced in notebooks/04_adding_a_condition.ipynb."""
    from .metrics import CountingDenoiser
    from .sampling import sample_codi, sample_conditional
    from .schedule import NoiseSchedule
    counter = CountingDenoiser(cm.model)
    t0 = time.perf_counter()
    if sampler == "codi":
        out = sample_codi(counter, cond, NoiseSchedule(cm.cfg.schedule), steps,
                          cm.cfg.loss.n_grid, seed=seed, noise=noise)
    else:
        out = sample_conditional(counter, cond, cm.cfg.schedule, steps, sampler, seed=seed,
                                 noise=noise)
    dt = time.perf_counter() - t0
    return {"images": out, "seconds": dt, "ms_per_image": 1000 * dt / cond.shape[0],
            "nfe": counter.nfe}


def quality_rows(results: dict, truth: torch.Tensor, reference: str | None = None,
                 show: bool = True) -> dict:
    """LPIPS (at 64 px, as the benchmark), PSNR and SSIM against the ground truth of every
    ``{label: sample_method(...) result}``; with ``reference`` (a label) also LPIPS to that
    method's images. Adds the numbers to each result and prints a table when ``show``.
    Introduced in notebooks/04_adding_a_condition.ipynb."""
    from .metrics import LPIPS_SIZE, lpips_distance, psnr, ssim
    ref = results[reference]["images"] if reference else None
    for r in results.values():
        img = r["images"]
        r["lpips"] = float(lpips_distance(img, truth, size=LPIPS_SIZE).mean())
        r["psnr"] = float(psnr(img, truth).mean())
        r["ssim"] = float(ssim(img, truth).mean())
        if ref is not None:
            r["lpips_ref"] = float(lpips_distance(img, ref, size=LPIPS_SIZE).mean())
    if show:
        w = max(len(k) for k in results)
        head = f"  {'':<{w}}  NFE   LPIPS ↓  PSNR ↑   SSIM ↑   ms/image"
        head += f"   LPIPS to {reference}" if reference else ""
        print(head)
        for k, r in results.items():
            line = (f"  {k:<{w}}  {r.get('nfe', float('nan')):>3}   {r['lpips']:.3f}   "
                    f"{r['psnr']:5.2f}   {r['ssim']:.3f}   {r.get('ms_per_image', float('nan')):8.1f}")
            if ref is not None:
                line += f"   {r['lpips_ref']:.3f}"
            print(line)
    return results


# --------------------------------------------------------------------------- measuring (06)

#: Where ``codi bench --out data/bench`` writes the shipped benchmark.
BENCH_DIR = DATA_DIR / "bench"


def degrade(x: torch.Tensor, kind: str, level: float, seed: int = 0) -> torch.Tensor:
    """``x`` ((N, 3, H, W) in [-1, 1]) made worse on purpose, to see how metrics respond:
    ``"blur"`` (Gaussian, sigma = ``level`` pixels), ``"noise"`` (Gaussian noise of
    standard deviation ``level`` on the [-1, 1] scale, clamped) or ``"shift"`` (moved
    right by ``level`` whole pixels, the left edge repeated). Level 0 returns ``x``.
    Introduced in notebooks/06_measuring.ipynb."""
    import math as _math

    import torch.nn.functional as F
    if level == 0:
        return x.clone()
    if kind == "blur":
        r = max(1, _math.ceil(3 * level))
        k = torch.exp(-torch.arange(-r, r + 1, dtype=torch.float32) ** 2 / (2 * level ** 2))
        k = (k / k.sum()).to(x)
        c = x.shape[1]
        xp = F.pad(x, (r, r, r, r), mode="replicate")
        xp = F.conv2d(xp, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
        return F.conv2d(xp, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)
    if kind == "noise":
        n = torch.randn(x.shape, generator=torch.Generator().manual_seed(seed)).to(x)
        return (x + level * n).clamp(-1, 1)
    if kind == "shift":
        d = int(level)
        return F.pad(x, (d, 0, 0, 0), mode="replicate")[..., :, :x.shape[-1]]
    raise ValueError(f"unknown degradation {kind!r}: use 'blur', 'noise' or 'shift'")


def image_quality(pred: torch.Tensor, truth: torch.Tensor) -> dict:
    """Mean LPIPS (at 64 px, as the benchmark), PSNR and SSIM of ``pred`` against
    ``truth``. Introduced in notebooks/06_measuring.ipynb."""
    from .metrics import LPIPS_SIZE, lpips_distance, psnr, ssim
    return {"lpips": float(lpips_distance(pred, truth, size=LPIPS_SIZE).mean()),
            "psnr": float(psnr(pred, truth).mean()), "ssim": float(ssim(pred, truth).mean())}


def fid_of_sets(real: torch.Tensor, fakes: dict, batch_size: int = 50) -> dict:
    """FID of every set in ``fakes`` ({label: (N, 3, H, W)}) against the same ``real``
    set, with the real Inception statistics computed once (as the benchmark does):
    {label: FID}. Introduced in notebooks/06_measuring.ipynb."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    from .metrics import get_fid_extractor
    metric = FrechetInceptionDistance(feature=get_fid_extractor(), reset_real_features=False)
    for i in range(0, real.shape[0], batch_size):
        metric.update(real[i:i + batch_size], real=True)
    out = {}
    for label, fake in fakes.items():
        metric.reset()
        for i in range(0, fake.shape[0], batch_size):
            metric.update(fake[i:i + batch_size], real=False)
        out[label] = float(metric.compute())
    return out


def load_bench(path=None) -> dict | None:
    """The benchmark result ``bench.json`` in ``path`` (default: ``$CODI_BENCH_DIR`` if
    set, else ``data/bench``, written by ``codi bench --out data/bench``), or None when
    there is none. The result gets a ``"path"`` entry saying where it was read.
    Introduced in notebooks/06_measuring.ipynb."""
    p = Path(path or os.environ.get("CODI_BENCH_DIR") or BENCH_DIR)
    p = p / "bench.json" if p.is_dir() or p.suffix != ".json" else p
    data = _read_json(p)
    if not data.get("rows"):
        return None
    data["path"] = _short(p)
    return data


def bench_students_dir(task: str = "sr4", students_dir=None, stand_ins: bool = True,
                       steps: int | None = None) -> Path:
    """A folder laid out like ``data/students`` with every model the benchmark rows of
    ``task`` use (:data:`codi_lib.bench.METHODS`), for a quick benchmark in a lesson:
    shipped models are copied in; missing ones get a tiny stand-in
    (:func:`load_or_train_conditional`) when ``stand_ins``, and stay missing otherwise
    (the benchmark then reports them as missing). Prints which is which. Introduced in
    notebooks/06_measuring.ipynb."""
    from .bench import METHODS
    dest = RUNS_DIR / "course-bench" / "students"
    if dest.exists():
        shutil.rmtree(dest)
    names = list(dict.fromkeys(m.model for m in METHODS if m.model))
    shipped, made, missing = [], [], []
    for name in names:
        src = students_root(students_dir) / task / name
        if (src / "controlnet.safetensors").is_file():
            shipped.append(name)
        elif stand_ins:
            src = load_or_train_conditional(task, name, students_dir, steps, quiet=True).path
            made.append(name)
        else:
            missing.append(name)
            continue
        shutil.copytree(src, dest / task / name)
    print(f"models for the quick benchmark of {task} in {_short(dest)}:")
    print(f"  shipped:   {', '.join(shipped) or 'none'}")
    if made:
        print(f"  stand-ins: {', '.join(made)} (trained a few steps here: their numbers mean nothing)")
    if missing:
        print(f"  missing:   {', '.join(missing)} (their rows will say so)")
    return dest


def mean_saturation(images: torch.Tensor) -> float:
    """Mean HSV colour saturation of (N, 3, H, W) images in [-1, 1]: 0 = grey, 1 = pure
    colour; over-saturated samples score above their ground truth. Introduced in
    notebooks/05_consistency_loss.ipynb."""
    u = (images.detach().float().clamp(-1, 1) + 1) / 2
    mx, mn = u.max(1).values, u.min(1).values
    return float(((mx - mn) / mx.clamp_min(1e-3)).mean())
