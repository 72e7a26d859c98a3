"""Frame builders of the side-by-side widget: sample the ``controlnet`` teacher and the
``codi`` student at every step count, batched, timed and NFE-counted, and turn the
results into :class:`Frame` s (PNG + caption) for :func:`codi_lib.course.widgets.build_ui`.
Pure: no browser, no ipywidgets. Introduced in ``notebooks/07_side_by_side.ipynb``; the
student's sampler is (C8).
"""
from __future__ import annotations

import os
import platform
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ...evaluation.metrics import CountingDenoiser
from ...evaluation.quality import quality_per_image
from ...evaluation.timing import Timer
from ...method.sampling import sample_by_name
from ...method.tasks import TASKS, get_task, test_conditions
from ...training.data import load_emoji
from ...training.scene_data import load_scenes, task_batch
from ...training.paths import fast_mode, students_dir
from ...training.students import load_conditional
from .pictures import (CURTAIN_POSITIONS, DEFAULT_SCALE, _fmt_seconds, caption_html, curtain_frames, display_images,
                       png_bytes, race_html)
#: Teacher step counts pre-rendered at lesson size (the slider's values).
TEACHER_STEPS = (1, 2, 3, 4, 6, 8, 12, 16, 25, 50)
#: Teacher step counts pre-rendered in fast mode (``CODI_FAST=1``).
FAST_TEACHER_STEPS = (1, 2, 4, 8, 50)
#: Student step counts (the CoDi sampler, (C8)).
STUDENT_STEPS = tuple(range(1, 9))
#: Tasks shown at lesson size (when their models exist): two emoji tasks and depth.
DEFAULT_TASKS = ("sr4", "inpaint", "depth")
#: Test-split indices for notebook 07: a mushroom, a tiger, a face (lesson size shows the
#: first two, fast mode the first and the last); for depth, the test scenes of those indices.
DEFAULT_IMAGES = (421, 445, 508)
#: Seeds (starting noise) shown at lesson size.
DEFAULT_SEEDS = (0, 1)
TEACHER_NAME, STUDENT_NAME = "controlnet", "codi"


def default_students_dir() -> Path:
    """``$CODI_STUDENTS_DIR`` if set, else ``data/students``
    (:func:`codi_lib.training.paths.students_dir`). Introduced in
    notebooks/07_side_by_side.ipynb; no paper equation."""
    return students_dir()


def default_settings(fast: bool | None = None) -> dict:
    """The sizes notebook 07 renders: at lesson size 3 tasks x 2 test images x 2 seeds
    with teacher steps :data:`TEACHER_STEPS`; in fast mode (``course.FAST``) 1 task x
    2 images x 1 seed with :data:`FAST_TEACHER_STEPS`. The student always gets 1..8
    steps. Returns keyword arguments for :func:`build_frames`.
    Introduced in notebooks/07_side_by_side.ipynb; no paper equation."""
    if fast is None:
        fast = fast_mode()
    if fast:
        return {"tasks": DEFAULT_TASKS[:1], "images": (DEFAULT_IMAGES[0], DEFAULT_IMAGES[2]),
                "seeds": DEFAULT_SEEDS[:1], "teacher_steps": FAST_TEACHER_STEPS,
                "student_steps": STUDENT_STEPS}
    return {"tasks": DEFAULT_TASKS, "images": DEFAULT_IMAGES[:2], "seeds": DEFAULT_SEEDS,
            "teacher_steps": TEACHER_STEPS, "student_steps": STUDENT_STEPS}


def model_dir(task: str, name: str, students_dir=None) -> Path:
    """``<students_dir>/<task>/<name>`` (name ``controlnet`` = the teacher, ``codi`` = the
    student). Introduced in notebooks/07_side_by_side.ipynb; no paper equation."""
    return Path(students_dir or default_students_dir()) / task / name


def available_tasks(tasks=None, students_dir=None) -> tuple[list[str], dict[str, str]]:
    """Which of ``tasks`` (default: every task) have both shipped models, the
    ``controlnet`` teacher and the ``codi`` student. Returns (usable task names, {task:
    what is missing}). Introduced in notebooks/07_side_by_side.ipynb; no paper equation."""
    ok, missing = [], {}
    for task in (tasks or TASKS):
        gone = [n for n in (TEACHER_NAME, STUDENT_NAME)
                if not (model_dir(task, n, students_dir) / "controlnet.safetensors").is_file()]
        if gone:
            missing[task] = ", ".join(str(model_dir(task, n, students_dir)) for n in gone)
        else:
            ok.append(task)
    return ok, missing


@dataclass
class Frame:
    """One pre-rendered picture (PNG bytes) and what was measured for it.

    ``ms_per_image`` is the measured wall time of the batched run divided by its batch
    size; ``nfe`` the measured network evaluations of that run. Introduced in
    notebooks/07_side_by_side.ipynb; no paper equation."""
    png: bytes
    label: str
    caption: str
    steps: int | None = None
    nfe: int | None = None
    ms_per_image: float | None = None
    lpips: float | None = None
    psnr: float | None = None


@dataclass
class RunTiming:
    """One batched sampling run: steps, measured NFE, wall seconds, batch size.
    Introduced in notebooks/07_side_by_side.ipynb; no paper equation."""
    model: str
    steps: int
    nfe: int
    seconds: float
    batch: int

    @property
    def ms_per_image(self) -> float:
        """Wall time per image in ms (run seconds / batch size). Notebook 07."""
        return 1000 * self.seconds / self.batch


@dataclass
class CaseFrames:
    """All frames of one (task, test image, seed): condition, ground truth, the teacher
    at every teacher step count, the student at every student step count, and the
    curtain frames ``curtain[k][p]`` (student step index k against the reference
    teacher run, the largest teacher step count, at curtain position index p).
    Introduced in notebooks/07_side_by_side.ipynb; no paper equation."""
    task: str
    image: int
    seed: int
    condition: Frame
    ground_truth: Frame
    teacher: list[Frame]
    student: list[Frame]
    curtain: list[list[bytes]]


@dataclass
class TaskFrames:
    """The frames of one task: runs (timings shared by every case, since each run
    samples all images and seeds in one batch), cases in image-major order and the race
    panels ``race[teacher index][student index]`` (HTML).
    Introduced in notebooks/07_side_by_side.ipynb; no paper equation."""
    task: str
    title: str
    teacher_runs: list[RunTiming]
    student_runs: list[RunTiming]
    cases: list[CaseFrames]
    race: list[list[str]]
    n_seeds: int

    def case(self, image_pos: int, seed_pos: int) -> CaseFrames:
        """The case of the ``image_pos``-th image and ``seed_pos``-th seed. Notebook 07."""
        return self.cases[image_pos * self.n_seeds + seed_pos]


@dataclass
class SideBySideFrames:
    """Everything :func:`build_ui` shows. ``missing`` maps tasks that were asked for
    but lack a model to what is missing; ``models`` holds the loaded models for the
    live extras (not part of comparisons). Introduced in
    notebooks/07_side_by_side.ipynb; no paper equation."""
    tasks: list[TaskFrames]
    images: tuple
    image_names: tuple
    seeds: tuple
    teacher_steps: tuple
    student_steps: tuple
    curtain_positions: tuple
    scale: int
    missing: dict
    seconds: float
    hardware: str
    models: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def reference_steps(self) -> int:
        """The teacher step count the curtain compares against (the largest). Notebook 07."""
        return self.teacher_steps[-1]


@dataclass
class LoadedModels:
    """The two conditional models of a task and their configs (for live sampling).
    Introduced in notebooks/07_side_by_side.ipynb; no paper equation."""
    task: str
    teacher: torch.nn.Module
    teacher_cfg: object
    student: torch.nn.Module
    student_cfg: object


def load_task_models(task: str, students_dir=None, device="cpu") -> LoadedModels:
    """Load ``<students_dir>/<task>/controlnet`` and ``.../codi`` with
    :func:`codi_lib.training.students.load_conditional`. Introduced in
    notebooks/07_side_by_side.ipynb; no paper equation."""
    teacher, tcfg = load_conditional(model_dir(task, TEACHER_NAME, students_dir), device=device)
    student, scfg = load_conditional(model_dir(task, STUDENT_NAME, students_dir), device=device)
    return LoadedModels(task, teacher, tcfg, student, scfg)


def seed_noise(seed: int, n: int, shape=(3, 32, 32)) -> torch.Tensor:
    """The starting noise of ``seed``: the same (3, H, W) noise for each of ``n``
    images, so a case (image, seed) starts from identical noise whether it is sampled
    alone or in a batch, for the teacher and for the student. Introduced in
    notebooks/07_side_by_side.ipynb; no paper equation."""
    z = torch.randn((1, *shape), generator=torch.Generator().manual_seed(seed))
    return z.expand(n, *shape).clone()


def run_teacher(models: LoadedModels, cond: torch.Tensor, steps: int, noise: torch.Tensor):
    """The ControlNet teacher with DDIM-``steps`` ((C3) along the trailing grid, via
    :func:`codi_lib.method.sampling.sample_conditional`), timed and with its NFE counted.
    Returns (images, RunTiming). Introduced in notebooks/07_side_by_side.ipynb; the
    DDIM step is (C3)."""
    counter = CountingDenoiser(models.teacher)
    with Timer() as t:
        out = sample_by_name(counter, cond, models.teacher_cfg.schedule, "ddim", steps, noise=noise)
    dt = t.seconds
    return out, RunTiming(TEACHER_NAME, steps, counter.nfe, dt, cond.shape[0])


def run_student(models: LoadedModels, cond: torch.Tensor, steps: int, noise: torch.Tensor):
    """The CoDi student with the K-step CoDi sampler, (C8)
    (:func:`codi_lib.method.sampling.sample_codi`), timed and with its NFE counted.
    Returns (images, RunTiming). Introduced in notebooks/07_side_by_side.ipynb; (C8)."""
    counter = CountingDenoiser(models.student)
    n_grid = getattr(getattr(models.student_cfg, "loss", None), "n_grid", 50)
    with Timer() as t:
        out = sample_by_name(counter, cond, models.student_cfg.schedule, "codi", steps, n_grid,
                             noise=noise)
    dt = t.seconds
    return out, RunTiming(STUDENT_NAME, steps, counter.nfe, dt, cond.shape[0])


def _metrics(pred: torch.Tensor, target: torch.Tensor):
    q = quality_per_image(pred, target, ("lpips", "psnr"))
    return q["lpips"].tolist(), q["psnr"].tolist()


def render_task(models: LoadedModels, x: torch.Tensor, cond: torch.Tensor,
                image_ids=None, seeds=DEFAULT_SEEDS, teacher_steps=TEACHER_STEPS,
                student_steps=STUDENT_STEPS, curtain_positions=CURTAIN_POSITIONS,
                scale: int = DEFAULT_SCALE, progress: bool = False) -> TaskFrames:
    """All frames of one task for test images ``x`` (N, 3, H, W) with conditions
    ``cond`` and every seed in ``seeds``.

    Work is shared: each sampling run takes all N x len(seeds) cases in one batch
    (image-major: case = image * len(seeds) + seed), so there is one teacher run per
    teacher step count and one student run per student step count; each is timed
    (after one untimed warm-up call per model) and its NFE counted. Per frame: LPIPS
    (AlexNet at ``LPIPS_SIZE``) and PSNR against the ground truth. Teacher runs use
    DDIM (C3); student runs the CoDi sampler (C8). Introduced in
    notebooks/07_side_by_side.ipynb; (C8) for the student.

    Why one long function: the batch layout (case = image * len(seeds) + seed) is used by
    the sampling, the metrics and the frames alike; kept in one place it cannot drift.
    """
    task = get_task(models.task)
    n_img, n_seed = x.shape[0], len(seeds)
    image_ids = list(image_ids) if image_ids is not None else list(range(n_img))
    teacher_steps, student_steps = tuple(teacher_steps), tuple(student_steps)
    if not teacher_steps or not student_steps:
        raise ValueError("teacher_steps and student_steps must not be empty")
    xb = x.repeat_interleave(n_seed, 0)
    cb = cond.repeat_interleave(n_seed, 0)
    noise = torch.cat([seed_noise(s, 1, tuple(x.shape[1:])) for s in seeds]).repeat(n_img, 1, 1, 1)
    batch = xb.shape[0]
    # warm-up: first calls pay one-off costs (allocations, lazy init) that are not latency
    run_teacher(models, cb[:1], 1, noise[:1])
    run_student(models, cb[:1], 1, noise[:1])

    def runs(fn, steps_list, kind):
        outs, timings = [], []
        for s in steps_list:
            out, timing = fn(models, cb, s, noise)
            outs.append(out)
            timings.append(timing)
            if progress:
                print(f"  {models.task}: {kind} {s:>2} step(s): {_fmt_seconds(timing.seconds)} "
                      f"for {batch} image(s), NFE {timing.nfe}", flush=True)
        return outs, timings

    t_outs, t_runs = runs(run_teacher, teacher_steps, "teacher DDIM")
    s_outs, s_runs = runs(run_student, student_steps, "student CoDi")
    t_metrics = [_metrics(o, xb) for o in t_outs]
    s_metrics = [_metrics(o, xb) for o in s_outs]
    shown_cond = task.show(cb)
    c_lp, c_ps = _metrics(shown_cond, xb)
    cond_u8, gt_u8 = display_images(shown_cond, scale), display_images(xb, scale)
    t_u8 = [display_images(o, scale) for o in t_outs]
    s_u8 = [display_images(o, scale) for o in s_outs]
    ref = len(teacher_steps) - 1
    cases = []
    for b in range(batch):
        i, si = divmod(b, n_seed)
        teacher = [Frame(png_bytes(t_u8[j][b]), f"teacher DDIM-{s}",
                         caption_html(f"teacher · DDIM-{s}", r.nfe, r.ms_per_image,
                                      t_metrics[j][0][b], t_metrics[j][1][b]),
                         s, r.nfe, r.ms_per_image, t_metrics[j][0][b], t_metrics[j][1][b])
                   for j, (s, r) in enumerate(zip(teacher_steps, t_runs))]
        student = [Frame(png_bytes(s_u8[j][b]), f"CoDi {k} step(s)",
                         caption_html(f"student · CoDi, {k} step{'s' if k > 1 else ''}",
                                      r.nfe, r.ms_per_image, s_metrics[j][0][b], s_metrics[j][1][b],
                                      note=_nfe_note(k, r.nfe)),
                         k, r.nfe, r.ms_per_image, s_metrics[j][0][b], s_metrics[j][1][b])
                   for j, (k, r) in enumerate(zip(student_steps, s_runs))]
        condition = Frame(png_bytes(cond_u8[b]), "condition",
                          caption_html(f"condition · {task.name}", None, None, c_lp[b], c_ps[b],
                                       note="what both models see"),
                          lpips=c_lp[b], psnr=c_ps[b])
        truth = Frame(png_bytes(gt_u8[b]), "ground truth",
                      caption_html("ground truth", None, None, 0.0, float("inf"),
                                   note=f"test image #{image_ids[i]}"),
                      lpips=0.0, psnr=float("inf"))
        curtain = [curtain_frames(t_u8[ref][b], s_u8[j][b], curtain_positions)
                   for j in range(len(student_steps))]
        cases.append(CaseFrames(models.task, image_ids[i], seeds[si], condition, truth,
                                teacher, student, curtain))
    slowest = max(r.seconds for r in t_runs + s_runs)
    race = [[race_html(f"teacher DDIM-{tr.steps} (NFE {tr.nfe})", tr.seconds,
                       f"student CoDi-{sr.steps} (NFE {sr.nfe})", sr.seconds, batch, slowest)
             for sr in s_runs] for tr in t_runs]
    return TaskFrames(models.task, task.title, t_runs, s_runs, cases, race, n_seed)


def _nfe_note(steps: int, nfe: int) -> str:
    if nfe == steps:
        return ""
    return f"asked for {steps} steps, the sampler's grid gave {nfe} evaluations"


def lesson_images(images=DEFAULT_IMAGES, task: str = "sr4"):
    """The ground truths (N, 3, 32, 32) of test-split indices ``images`` and their fixed
    conditions for ``task``: :func:`codi_lib.method.tasks.test_conditions` on the test split up
    to the largest index, so they are exactly the conditions of the benchmark
    (notebook 06). The images are the task's own data set (emoji; rendered scenes, named
    by seed, for ``depth``). Returns (x, cond, names). Introduced in
    notebooks/07_side_by_side.ipynb; no paper equation."""
    if get_task(task).dataset == "scenes":
        names = [f"scene {s}" for s in load_scenes("test").seeds]
    else:
        names = [str(n) for n in load_emoji("test").names]
    idx = list(images)
    if not idx or min(idx) < 0 or max(idx) >= len(names):
        raise ValueError(f"test image indices must be in [0, {len(names)}), got {idx}")
    head = task_batch(task, "test", max(idx) + 1)    # depth: RGB + exact depth
    cond = test_conditions(task, head)
    return head[idx, :3], cond[idx], tuple(names[i] for i in idx)


def build_frames(tasks=DEFAULT_TASKS, images=DEFAULT_IMAGES, seeds=DEFAULT_SEEDS,
                 teacher_steps=TEACHER_STEPS, student_steps=STUDENT_STEPS,
                 curtain_positions=CURTAIN_POSITIONS, scale: int = DEFAULT_SCALE,
                 students_dir=None, progress: bool = False, device="cpu") -> SideBySideFrames:
    """Pre-render every frame notebook 07 shows.

    For each task of ``tasks`` whose ``controlnet`` teacher and ``codi`` student exist
    under ``students_dir`` (default :func:`default_students_dir`), load both, take the
    test images ``images`` with their fixed conditions (:func:`lesson_images`) and call
    :func:`render_task` (one batched, timed, NFE-counted run per step count). Tasks
    without both models are skipped and listed in ``missing``; nothing is ever faked.
    If no task has both, the result has no tasks (the notebook says so).
    Introduced in notebooks/07_side_by_side.ipynb; the student's sampler is (C8).
    """
    images, seeds = tuple(images), tuple(seeds)
    out, models, names = [], {}, ()
    with Timer() as timer:
        ok, missing = available_tasks(tasks, students_dir)
        for task in ok:
            m = load_task_models(task, students_dir, device)
            x, cond, names = lesson_images(images, task)
            out.append(render_task(m, x.to(device), cond.to(device), images, seeds, teacher_steps,
                                   student_steps, curtain_positions, scale, progress))
            models[task] = m
    hardware = (f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__} "
                f"with {torch.get_num_threads()} thread(s)")
    return SideBySideFrames(out, images, tuple(names), seeds, tuple(teacher_steps),
                            tuple(student_steps), tuple(curtain_positions), scale, missing,
                            timer.seconds, hardware, models)


def timing_rows(frames: SideBySideFrames) -> list[dict]:
    """One dict per measured run (task, model, steps, NFE, seconds, ms per image,
    mean LPIPS, mean PSNR over the cases): the table the notebook prints.
    Introduced in notebooks/07_side_by_side.ipynb; no paper equation."""
    rows = []
    for tf in frames.tasks:
        for kind, runs in (("teacher", tf.teacher_runs), ("student", tf.student_runs)):
            for j, r in enumerate(runs):
                fr = [getattr(c, kind)[j] for c in tf.cases]
                rows.append({"task": tf.task, "model": kind, "steps": r.steps, "nfe": r.nfe,
                             "seconds": r.seconds, "ms_per_image": r.ms_per_image,
                             "lpips": float(np.mean([f.lpips for f in fr])),
                             "psnr": float(np.mean([f.psnr for f in fr]))})
    return rows


def print_timings(frames: SideBySideFrames) -> None:
    """Print :func:`timing_rows` as an aligned table. Introduced in
    notebooks/07_side_by_side.ipynb; no paper equation."""
    print(f"{'task':<8} {'model':<8} {'steps':>5} {'NFE':>4} {'ms/img':>8} {'LPIPS':>6} {'PSNR':>6}")
    for r in timing_rows(frames):
        print(f"{r['task']:<8} {r['model']:<8} {r['steps']:>5} {r['nfe']:>4} "
              f"{r['ms_per_image']:>8.1f} {r['lpips']:>6.3f} {r['psnr']:>6.2f}")


def live_case(models: LoadedModels, x: torch.Tensor, teacher_steps: int, student_steps: int,
              seed: int = 0, cond: torch.Tensor | None = None, scale: int = DEFAULT_SCALE) -> dict:
    """Sample one image now: condition (from ``models.task``, or ``cond``), teacher with
    DDIM-``teacher_steps``, student with the CoDi sampler at ``student_steps`` (C8),
    both timed and NFE-counted, with LPIPS/PSNR against ``x``. Returns {"condition",
    "teacher", "student", "ground_truth": Frame, "teacher_run", "student_run":
    RunTiming, "teacher_images", "student_images": tensors}. Introduced in
    notebooks/07_side_by_side.ipynb; (C8) for the student."""
    task = get_task(models.task)
    if cond is None:
        cond = test_conditions(task, x)
    noise = seed_noise(seed, x.shape[0], tuple(x.shape[1:]))
    t_out, t_run = run_teacher(models, cond, teacher_steps, noise)
    s_out, s_run = run_student(models, cond, student_steps, noise)
    (t_lp, t_ps), (s_lp, s_ps) = _metrics(t_out, x), _metrics(s_out, x)
    c_lp, c_ps = _metrics(task.show(cond), x)

    def frame(img, label, cap, **kw):
        return Frame(png_bytes(display_images(img, scale)[0]), label, cap, **kw)

    return {
        "condition": frame(task.show(cond), "condition",
                           caption_html(f"condition · {task.name}", None, None, c_lp[0], c_ps[0])),
        "teacher": frame(t_out, f"teacher DDIM-{teacher_steps}",
                         caption_html(f"teacher · DDIM-{teacher_steps} (live)", t_run.nfe,
                                      t_run.ms_per_image, t_lp[0], t_ps[0])),
        "student": frame(s_out, f"CoDi {student_steps}",
                         caption_html(f"student · CoDi, {student_steps} step(s) (live)", s_run.nfe,
                                      s_run.ms_per_image, s_lp[0], s_ps[0])),
        "ground_truth": frame(x, "ground truth", caption_html("ground truth", None, None, 0.0,
                                                             float("inf"))),
        "teacher_run": t_run, "student_run": s_run,
        "teacher_images": t_out, "student_images": s_out,
    }
