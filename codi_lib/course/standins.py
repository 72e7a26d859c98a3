"""The models a lesson needs, whether or not they were shipped: the teacher, the
conditional models of :data:`CONDITIONAL_RECIPES` and the commands that train them.

When a shipped model is missing, a lesson trains a tiny *stand-in* so that every cell
still runs, and says so in every caption (:attr:`ConditionalModel.label`). Every function
names the notebook that introduces it. No paper equation.
"""
from __future__ import annotations

import shutil
import warnings
from pathlib import Path

from ..evaluation.bench import METHODS
from ..method.models import count_parameters
from ..method.tasks import get_task
from ..training.config import ConditionalConfig, TeacherConfig, apply_overrides
from ..training.paths import RUNS_DIR, RunDir, read_json, short, teacher_dir
from ..training.paths import students_dir as students_root
from ..training.students import export_conditional, load_conditional, train_conditional
from ..training.teacher import export_teacher, load_teacher, train_teacher
from .setup import pick, pick_device


def stand_in_dir() -> Path:
    """Where the lessons put stand-in models they train because a shipped one is
    missing: ``runs/course-students``. Introduced in notebooks/04_adding_a_condition.ipynb."""
    return RUNS_DIR / "course-students"


def small_teacher_config(max_steps: int = 300, batch_size: int = 16, sample_grids: int = 3):
    """A small teacher (about 0.55 M parameters, two resolution levels, one ResNet block
    per level) that learns coarse emoji colours and shapes in a few hundred CPU steps.
    Its EMA decays fast (0.99) so the EMA weights are usable after a short run; the run
    writes ``sample_grids`` sample grids and as many checkpoints, evenly spaced. Used by
    the live run of notebooks/02_teacher.ipynb and by :func:`load_or_train_teacher`."""
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
    steps (default 300, or 30 in fast mode) with :func:`codi_lib.training.teacher.train_teacher`
    into ``run_dir`` (default ``runs/course-teacher``; a finished run there is reused,
    an interrupted one resumed), exports its EMA weights to ``run_dir/export`` and loads
    them. Prints what it does. Returns (Denoiser in eval mode, TeacherConfig).
    Introduced in notebooks/00_welcome.ipynb.
    """
    device = device or pick_device()
    path = Path(path) if path is not None else teacher_dir()
    if (path / "unet.safetensors").is_file():
        model, cfg = load_teacher(path, device=device)
        rec = read_json(path / "record.json")
        extra = f", trained {rec['steps']} steps" if rec.get("steps") else ""
        print(f"loaded the teacher from {short(path)} ({count_parameters(model):,} parameters{extra})")
        return model, cfg
    run_dir = Path(run_dir) if run_dir is not None else RUNS_DIR / "course-teacher"
    steps = steps or pick(30, 300)
    done = RunDir(run_dir).step
    if done >= steps:
        print(f"no teacher at {short(path)}: reusing the small teacher trained in "
              f"{short(run_dir)} ({done} steps)")
    else:
        resume = f", resuming at step {done}" if done else ""
        print(f"no teacher at {short(path)}: training a small one for {steps} steps into "
              f"{short(run_dir)}{resume} (about a minute; the shipped teacher is much better)")
    cfg = small_teacher_config(steps)
    train_teacher(cfg, run_dir, resume=True, progress=done < steps)
    export = export_teacher(run_dir, run_dir / "export")
    model, cfg = load_teacher(export, device=device)
    print(f"loaded the small teacher from {short(export)} ({count_parameters(model):,} parameters)")
    return model, cfg


def teacher_record(path=None) -> dict:
    """The training record (``record.json``: steps, train_seconds, hardware, final loss,
    parameters) of the teacher in ``path`` (default ``data/teacher``, else the small one
    :func:`load_or_train_teacher` trained); {} when there is none. Introduced in
    notebooks/02_teacher.ipynb."""
    for p in ([Path(path)] if path is not None
              else [teacher_dir(), RUNS_DIR / "course-teacher" / "export"]):
        rec = read_json(p / "record.json")
        if rec:
            return rec
    return {}


def student_dir(task: str = "sr4", mode: str = "codi") -> Path:
    """``data/students/<task>/<mode>``, where notebooks 04-05 export the conditional models.
    Introduced in notebooks/00_welcome.ipynb."""
    return students_root() / task / mode


def has_student(task: str = "sr4", mode: str = "codi") -> bool:
    """Whether an exported conditional model exists at :func:`student_dir`.
    Introduced in notebooks/00_welcome.ipynb."""
    return (student_dir(task, mode) / "controlnet.safetensors").is_file()


def list_students() -> list[str]:
    """``task/mode`` of every exported conditional model under ``data/students``.
    Introduced in notebooks/00_welcome.ipynb."""
    root = students_root()
    if not root.is_dir():
        return []
    return sorted(f"{p.parent.parent.name}/{p.parent.name}"
                  for p in root.glob("*/*/controlnet.safetensors"))


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
    :data:`codi_lib.evaluation.bench.METHODS` and :data:`CONDITIONAL_RECIPES`: today ("pe-codi",
    ["pe-codi-no-guidance", "pe-codi-no-consistency", "pe-codi-ode-teacher"]).
    Introduced in notebooks/05_consistency_loss.ipynb."""
    names = list(dict.fromkeys(m.model for m in METHODS if m.label.startswith("ablation")))
    return CONDITIONAL_RECIPES[names[0]][0], names


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
        return f"ConditionalModel({self.task}/{self.name}, {kind}, {self.steps} steps, {short(self.path)})"


def _task_teacher(task: str) -> Path:
    """The shipped teacher a task's models build on (data/teacher-scenes for depth)."""
    return teacher_dir(get_task(task).dataset)


def _stand_in_ready(task: str, name: str) -> bool:
    """A stand-in for ``task/name`` exists and was made with the current teacher."""
    dest = stand_in_dir() / task / name
    return ((dest / "controlnet.safetensors").is_file()
            and read_json(dest / "record.json").get("teacher_steps")
            == read_json(_task_teacher(task) / "record.json").get("steps"))


def _stand_in(task: str, name: str, steps: int, students_dir) -> Path:
    """Train and export a tiny stand-in for ``task/name`` (batch 8, ``steps`` steps, no
    sample grids) into :data:`stand_in_dir()`, reusing one that is already there and was
    made with the current teacher."""
    dest = stand_in_dir() / task / name
    if _stand_in_ready(task, name):
        return dest
    teacher_stamp = read_json(_task_teacher(task) / "record.json").get("steps")
    mode, sets = CONDITIONAL_RECIPES[name]
    init = ""
    if mode == "cm-two-stage":  # CM-II starts from a trained controlnet model
        init = str(load_or_train_conditional(task, "controlnet", students_dir, steps, quiet=True).path)
    cfg = ConditionalConfig(mode=mode, task=task, teacher=str(_task_teacher(task)), init_from=init)
    apply_overrides(cfg, [*sets, f"train.max_steps={steps}", "train.batch_size=8",
                          "train.warmup_steps=1", "train.sample_every=0", "train.log_every=1"])
    run = stand_in_dir() / "_runs" / f"{task}-{name}"
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
    :func:`codi_lib.training.paths.students_dir`), or, when it is missing, say so with the commands that train it
    (:func:`train_commands`) and train a tiny *stand-in* for ``steps`` steps (default 3,
    batch 8) into ``runs/course-students/<task>/<name>`` so that every cell still runs;
    a stand-in already there is reused if it was made with the current teacher. A stand-in learns almost nothing: its pictures show
    that the code runs, not what the method achieves, and every caption made from
    :attr:`ConditionalModel.label` says so. Introduced in
    notebooks/04_adding_a_condition.ipynb."""
    path = students_root(students_dir) / task / name
    stand_in = not (path / "controlnet.safetensors").is_file()
    if stand_in:
        steps = steps or 3
        have = _stand_in_ready(task, name)
        if not quiet:
            print(f"missing: {short(path)} (the shipped {name} model for {task}). Train it with\n"
                  + "".join(f"    {line}\n" for line in train_commands(task, name).splitlines())
                  + "  (or `bash scripts/train_students.sh` for every shipped model).\n"
                  + (f"  Reusing the stand-in in {short(stand_in_dir() / task / name)}."
                     if have else
                     f"  Training a {steps}-step stand-in now into "
                     f"{short(stand_in_dir() / task / name)} so the lesson runs; "
                     "its results mean nothing."))
        path = _stand_in(task, name, steps, students_dir)
    model, cfg = load_conditional(path)
    rec = read_json(path / "record.json")
    out = ConditionalModel(name, task, model, cfg, path, rec, stand_in)
    if not quiet and not stand_in:
        print(f"loaded {task}/{name} from {short(path)} ({rec.get('steps', '?')} training steps)")
    return out


def bench_students_dir(task: str = "sr4", students_dir=None, stand_ins: bool = True,
                       steps: int | None = None) -> Path:
    """A folder laid out like ``data/students`` with every model the benchmark rows of
    ``task`` use (:data:`codi_lib.evaluation.bench.METHODS`), for a quick benchmark in a lesson:
    shipped models are copied in; missing ones get a tiny stand-in
    (:func:`load_or_train_conditional`) when ``stand_ins``, and stay missing otherwise
    (the benchmark then reports them as missing). Prints which is which. Introduced in
    notebooks/06_measuring.ipynb."""
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
    print(f"models for the quick benchmark of {task} in {short(dest)}:")
    print(f"  shipped:   {', '.join(shipped) or 'none'}")
    if made:
        print(f"  stand-ins: {', '.join(made)} (trained a few steps here: their numbers mean nothing)")
    if missing:
        print(f"  missing:   {', '.join(missing)} (their rows will say so)")
    return dest
