"""Side by side: the 50-step ControlNet teacher and the few-step CoDi student, as
pre-rendered frames behind sliders that keep working in a static HTML page.

Two layers:

* **Frame builders** (pure, no browser, no ipywidgets): :func:`build_frames` samples the
  ``controlnet`` teacher with DDIM at every count of a teacher-steps list and the
  ``codi`` student with the CoDi sampler (C8) at 1..8 steps, batched over all test images
  and seeds of a task, and measures every run: LPIPS and PSNR against the ground truth,
  wall-clock latency and the number of network evaluations (NFE, counted with
  :class:`~codi_lib.metrics.CountingDenoiser`). Pictures are upscaled with nearest
  neighbour (32 -> 160 px) and kept as PNG bytes, together with HTML captions,
  before/after "curtain" frames and a "race" panel of the two runs' wall times.
* **The widget** (:func:`build_ui`): ipywidgets 8 ``Stack``s of ``Image``/``HTML``
  children whose ``selected_index`` is tied to the sliders and dropdowns with
  ``widgets.jslink``. The links run in the browser, so the pre-rendered part works
  without a kernel (static HTML export with the widget state, see
  ``scripts/build_site.py``). With a running kernel it adds live extras: re-running the
  selected case and comparing on an uploaded image.

Every public function names the notebook that introduces it,
``notebooks/07_side_by_side.ipynb``. Paper: Mei et al., "CoDi: Conditional Diffusion
Distillation" (arXiv 2310.01407); the student's sampler is (C8) of the equation sheet in
``codi_lib/__init__.py``; the rest is presentation and measurement (no paper equation).
"""
from __future__ import annotations

import html
import io
import os
import platform
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

#: Teacher step counts pre-rendered at lesson size (the slider's values).
TEACHER_STEPS = (1, 2, 3, 4, 6, 8, 12, 16, 25, 50)
#: Teacher step counts pre-rendered in fast mode (``CODI_FAST=1``).
FAST_TEACHER_STEPS = (1, 2, 4, 8, 50)
#: Student step counts (the CoDi sampler, (C8)).
STUDENT_STEPS = tuple(range(1, 9))
#: Curtain positions in percent: 0 = all teacher, 100 = all student.
CURTAIN_POSITIONS = (0, 25, 50, 75, 100)
#: Tasks shown at lesson size (when their models exist).
DEFAULT_TASKS = ("sr4", "inpaint")
#: Test-split indices for notebook 07: a mushroom, a tiger, a face (lesson size shows the
#: first two, fast mode the first and the last).
DEFAULT_IMAGES = (421, 445, 508)
#: Seeds (starting noise) shown at lesson size.
DEFAULT_SEEDS = (0, 1)
#: Display enlargement: 32 px -> 160 px, nearest neighbour.
DEFAULT_SCALE = 5
#: Environment variable that points the notebook at another ``students`` folder.
STUDENTS_DIR_ENV = "CODI_STUDENTS_DIR"
TEACHER_NAME, STUDENT_NAME = "controlnet", "codi"


# --------------------------------------------------------------------------- settings


def default_students_dir() -> Path:
    """``$CODI_STUDENTS_DIR`` if set, else :data:`codi_lib.bench.STUDENTS_DIR`
    (``data/students``). Introduced in notebooks/07_side_by_side.ipynb; no paper
    equation."""
    env = os.environ.get(STUDENTS_DIR_ENV)
    if env:
        return Path(env)
    from .bench import STUDENTS_DIR
    return Path(STUDENTS_DIR)


def default_settings(fast: bool | None = None) -> dict:
    """The sizes notebook 07 renders: at lesson size 2 tasks x 2 test images x 2 seeds
    with teacher steps :data:`TEACHER_STEPS`; in fast mode (``course.FAST``) 1 task x
    2 images x 1 seed with :data:`FAST_TEACHER_STEPS`. The student always gets 1..8
    steps. Returns keyword arguments for :func:`build_frames`.
    Introduced in notebooks/07_side_by_side.ipynb; no paper equation."""
    if fast is None:
        from .course import FAST
        fast = FAST
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
    from .tasks import TASKS
    ok, missing = [], {}
    for task in (tasks or TASKS):
        gone = [n for n in (TEACHER_NAME, STUDENT_NAME)
                if not (model_dir(task, n, students_dir) / "controlnet.safetensors").is_file()]
        if gone:
            missing[task] = ", ".join(str(model_dir(task, n, students_dir)) for n in gone)
        else:
            ok.append(task)
    return ok, missing


# --------------------------------------------------------------------------- pictures


def upscale(images_u8: np.ndarray, scale: int = DEFAULT_SCALE) -> np.ndarray:
    """Nearest-neighbour enlargement of uint8 images (..., H, W, 3) by ``scale``: every
    pixel becomes a ``scale`` x ``scale`` block. Introduced in
    notebooks/07_side_by_side.ipynb; no paper equation."""
    if scale < 1:
        raise ValueError(f"scale must be >= 1, got {scale}")
    return np.repeat(np.repeat(images_u8, scale, axis=-3), scale, axis=-2)


def png_bytes(image_u8: np.ndarray) -> bytes:
    """One uint8 (H, W, 3) image encoded as PNG bytes. Introduced in
    notebooks/07_side_by_side.ipynb; no paper equation."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image_u8), "RGB").save(buf, "PNG", compress_level=9)
    return buf.getvalue()


def decode_png(data: bytes) -> np.ndarray:
    """PNG bytes -> uint8 (H, W, 3) array (the inverse of :func:`png_bytes`).
    Introduced in notebooks/07_side_by_side.ipynb; no paper equation."""
    with Image.open(io.BytesIO(data)) as img:
        return np.asarray(img.convert("RGB"))


def display_images(images: torch.Tensor, scale: int = DEFAULT_SCALE) -> np.ndarray:
    """Float images (B, 3, H, W) in [-1, 1] -> enlarged uint8 (B, H*scale, W*scale, 3),
    with :func:`codi_lib.data.to_uint8_images`. Introduced in
    notebooks/07_side_by_side.ipynb; no paper equation."""
    from .data import to_uint8_images
    return upscale(to_uint8_images(images), scale)


DIVIDER_COLOUR = (255, 214, 0)


def curtain_image(teacher_u8: np.ndarray, student_u8: np.ndarray, position: float,
                  divider: int = 2) -> np.ndarray:
    """Before/after split of two equal-size uint8 (H, W, 3) images: the left
    ``position`` percent of the columns come from the student, the rest from the
    teacher, with a ``divider``-pixel yellow line (black-edged) at the cut. At 0 the
    result equals the teacher image exactly and at 100 the student image (no line).
    Introduced in notebooks/07_side_by_side.ipynb; no paper equation."""
    if teacher_u8.shape != student_u8.shape:
        raise ValueError(f"images differ in shape: {teacher_u8.shape} vs {student_u8.shape}")
    if not 0 <= position <= 100:
        raise ValueError(f"position must be in [0, 100], got {position}")
    w = teacher_u8.shape[1]
    cut = int(round(w * position / 100))
    out = teacher_u8.copy()
    out[:, :cut] = student_u8[:, :cut]
    if 0 < cut < w and divider > 0:
        lo, hi = max(0, cut - divider // 2), min(w, cut + (divider + 1) // 2)
        out[:, lo:hi] = DIVIDER_COLOUR
        for edge in (lo - 1, hi):
            if 0 <= edge < w:
                out[:, edge] = 0
    return out


def curtain_frames(teacher_u8: np.ndarray, student_u8: np.ndarray,
                   positions=CURTAIN_POSITIONS) -> list[bytes]:
    """PNG bytes of :func:`curtain_image` at every position in ``positions`` (percent).
    Introduced in notebooks/07_side_by_side.ipynb; no paper equation."""
    return [png_bytes(curtain_image(teacher_u8, student_u8, p)) for p in positions]


# --------------------------------------------------------------------------- captions


def _fmt_ms(ms: float | None) -> str:
    if ms is None or ms != ms:
        return "–"
    return f"{ms:.0f} ms" if ms >= 10 else f"{ms:.1f} ms"


def _fmt_seconds(s: float) -> str:
    return f"{s * 1000:.0f} ms" if s < 1 else f"{s:.2f} s"


def caption_html(title: str, nfe: int | None = None, ms_per_image: float | None = None,
                 lpips: float | None = None, psnr: float | None = None,
                 note: str = "") -> str:
    """The caption under one panel, as HTML: ``title``, then ``NFE n · latency x ms/img``
    and ``LPIPS a · PSNR b dB`` (measured against the ground truth; "–" where a number
    does not apply). Introduced in notebooks/07_side_by_side.ipynb; no paper equation."""
    nfe_s = "–" if nfe is None else str(nfe)
    lp = "–" if lpips is None else f"{lpips:.3f}"
    ps = "–" if psnr is None else ("∞" if psnr == float("inf") else f"{psnr:.1f} dB")
    extra = f"<br><span style='color:#666'>{html.escape(note)}</span>" if note else ""
    return ("<div class='codi-caption' style='font-size:12px;line-height:1.35'>"
            f"<b>{html.escape(title)}</b><br>NFE {nfe_s} · latency {_fmt_ms(ms_per_image)}/img"
            f"<br>LPIPS {lp} · PSNR {ps}{extra}</div>")


TEACHER_COLOUR, STUDENT_COLOUR = "#d62728", "#1f77b4"


def race_html(teacher_label: str, teacher_seconds: float, student_label: str,
              student_seconds: float, n_images: int, slowest_seconds: float | None = None,
              replay_seconds: float = 3.0) -> str:
    """The "race" panel: two SVG bars, as long as the two runs' measured wall times
    (scaled to the slowest run, ``slowest_seconds``), that grow in proportion to real
    time (the slowest run takes ``replay_seconds`` to finish, restarting whenever the
    panel is shown again), with the times and the speed-up in words.
    Introduced in notebooks/07_side_by_side.ipynb; no paper equation."""
    slowest = max(slowest_seconds or 0.0, teacher_seconds, student_seconds, 1e-9)
    width, bar_h, label_w = 360, 18, 0
    factor = replay_seconds / slowest
    speedup = teacher_seconds / max(student_seconds, 1e-12)
    rows = []
    for i, (label, sec, colour) in enumerate(((teacher_label, teacher_seconds, TEACHER_COLOUR),
                                              (student_label, student_seconds, STUDENT_COLOUR))):
        y = 4 + i * (bar_h + 22)
        w = max(1.0, width * sec / slowest)
        dur = max(0.05, sec * factor)
        rows.append(
            f"<text x='0' y='{y + 11}' font-size='12' fill='#222'>{html.escape(label)}: "
            f"{_fmt_seconds(sec)}</text>"
            f"<rect x='{label_w}' y='{y + 15}' width='{width}' height='{bar_h - 6}' fill='#eee'/>"
            f"<rect x='{label_w}' y='{y + 15}' width='{w:.1f}' height='{bar_h - 6}' fill='{colour}'>"
            f"<animate attributeName='width' from='0' to='{w:.1f}' dur='{dur:.2f}s' "
            f"fill='freeze'/></rect>")
    svg_h = 4 + 2 * (bar_h + 22)
    if speedup >= 1:
        verdict = f"the student is <b>{speedup:.1f}x faster</b>"
    else:
        verdict = f"the student is <b>{1 / speedup:.1f}x slower</b>"
    return ("<div class='codi-race' style='font-size:12px'>"
            f"<svg width='{width + 10}' height='{svg_h}' xmlns='http://www.w3.org/2000/svg'>"
            + "".join(rows) + "</svg>"
            f"<div>Wall time for the same {n_images} image(s), same noise: {verdict}. "
            f"The bars grow in proportion to the measured times (the slowest run fills in "
            f"{replay_seconds:g} s).</div></div>")


# --------------------------------------------------------------------------- frames


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
    :func:`codi_lib.codi_train.load_conditional`. Introduced in
    notebooks/07_side_by_side.ipynb; no paper equation."""
    from .codi_train import load_conditional
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
    :func:`codi_lib.sampling.sample_conditional`), timed and with its NFE counted.
    Returns (images, RunTiming). Introduced in notebooks/07_side_by_side.ipynb; the
    DDIM step is (C3)."""
    from .metrics import CountingDenoiser
    from .sampling import sample_conditional
    counter = CountingDenoiser(models.teacher)
    t0 = time.perf_counter()
    out = sample_conditional(counter, cond, models.teacher_cfg.schedule, steps, "ddim",
                             noise=noise)
    dt = time.perf_counter() - t0
    return out, RunTiming(TEACHER_NAME, steps, counter.nfe, dt, cond.shape[0])


def run_student(models: LoadedModels, cond: torch.Tensor, steps: int, noise: torch.Tensor):
    """The CoDi student with the K-step CoDi sampler, (C8)
    (:func:`codi_lib.sampling.sample_codi`), timed and with its NFE counted.
    Returns (images, RunTiming). Introduced in notebooks/07_side_by_side.ipynb; (C8)."""
    from .metrics import CountingDenoiser
    from .sampling import sample_codi
    from .schedule import NoiseSchedule
    counter = CountingDenoiser(models.student)
    n_grid = getattr(getattr(models.student_cfg, "loss", None), "n_grid", 50)
    schedule = NoiseSchedule(models.student_cfg.schedule)  # set-up, not sampling time
    t0 = time.perf_counter()
    out = sample_codi(counter, cond, schedule, steps, n_grid=n_grid, noise=noise)
    dt = time.perf_counter() - t0
    return out, RunTiming(STUDENT_NAME, steps, counter.nfe, dt, cond.shape[0])


def _metrics(pred: torch.Tensor, target: torch.Tensor):
    from .metrics import LPIPS_SIZE, lpips_distance, psnr
    return (lpips_distance(pred, target, size=LPIPS_SIZE).tolist(),
            psnr(pred, target).tolist())


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
    """
    from .tasks import get_task
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
    conditions for ``task``: :func:`codi_lib.tasks.test_conditions` on the test split up
    to the largest index, so they are exactly the conditions of the benchmark
    (notebook 06). Returns (x, cond, names). Introduced in
    notebooks/07_side_by_side.ipynb; no paper equation."""
    from .data import load_emoji
    from .tasks import test_conditions
    data = load_emoji("test")
    idx = list(images)
    if not idx or min(idx) < 0 or max(idx) >= len(data):
        raise ValueError(f"test image indices must be in [0, {len(data)}), got {idx}")
    head = torch.from_numpy(data.images[:max(idx) + 1]).permute(0, 3, 1, 2).float() / 127.5 - 1
    cond = test_conditions(task, head)
    return head[idx], cond[idx], tuple(str(data.names[i]) for i in idx)


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
    t0 = time.perf_counter()
    ok, missing = available_tasks(tasks, students_dir)
    images, seeds = tuple(images), tuple(seeds)
    out, models, names = [], {}, ()
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
                            time.perf_counter() - t0, hardware, models)


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


# --------------------------------------------------------------------------- live helpers


def image_from_upload(content: bytes, name: str = "upload.png", size: int = 32) -> torch.Tensor:
    """Decode an uploaded file into a float (1, 3, size, size) image in [-1, 1] with the
    exact code of :class:`codi_lib.data.ImageFolderDataset` (EXIF orientation, any mode
    to RGB, transparency onto white, centre square, Lanczos resize). An unreadable
    file raises ValueError with the reason. Introduced in
    notebooks/07_side_by_side.ipynb; no paper equation."""
    from .data import IMAGE_EXTENSIONS, ImageFolderDataset
    suffix = Path(name).suffix.lower()
    if suffix not in IMAGE_EXTENSIONS:
        raise ValueError(f"{name!r}: not an image file name (use one of "
                         f"{', '.join(IMAGE_EXTENSIONS)})")
    if not content:
        raise ValueError(f"{name!r}: the file is empty")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"upload{suffix}"
        path.write_bytes(bytes(content))
        try:
            ds = ImageFolderDataset(tmp, size=size, on_bad="error")
        except ValueError as err:  # the last line is "<path>: <reason>"
            reason = str(err).strip().splitlines()[-1].split(": ", 1)[-1].strip()
            raise ValueError(f"{name!r} could not be read as an image: {reason}") from None
        return ds[0][None]


def live_case(models: LoadedModels, x: torch.Tensor, teacher_steps: int, student_steps: int,
              seed: int = 0, cond: torch.Tensor | None = None, scale: int = DEFAULT_SCALE) -> dict:
    """Sample one image now: condition (from ``models.task``, or ``cond``), teacher with
    DDIM-``teacher_steps``, student with the CoDi sampler at ``student_steps`` (C8),
    both timed and NFE-counted, with LPIPS/PSNR against ``x``. Returns {"condition",
    "teacher", "student", "ground_truth": Frame, "teacher_run", "student_run":
    RunTiming, "teacher_images", "student_images": tensors}. Introduced in
    notebooks/07_side_by_side.ipynb; (C8) for the student."""
    from .tasks import get_task, test_conditions
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


# --------------------------------------------------------------------------- the widget


@dataclass
class SideBySideUI:
    """The widget of notebook 07 and its parts: ``widget`` (display this), the
    controls (``task``, ``image``, ``seed`` dropdowns, ``teacher_steps``,
    ``student_steps``, ``curtain`` sliders), ``links`` (every ``jslink``, each from a
    control's ``index`` to a Stack's ``selected_index``), and the live extras
    (``upload``, ``rerun``, ``live_status``, ``live_panels``).
    Introduced in notebooks/07_side_by_side.ipynb; no paper equation."""
    widget: object
    frames: SideBySideFrames
    controls: dict
    links: list
    upload: object = None
    rerun: object = None
    live_status: object = None
    live_panels: list = field(default_factory=list)

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    def current_case(self) -> tuple[str, int, int, int, int]:
        """(task, test image index, seed, teacher steps, student steps) selected now in
        the controls. Notebook 07."""
        f = self.frames
        c = self.controls
        return (f.tasks[c["task"].index].task, f.images[c["image"].index],
                f.seeds[c["seed"].index], f.teacher_steps[c["teacher_steps"].index],
                f.student_steps[c["student_steps"].index])


def _stack_of(children, control, links, css_class=None, layout=None):
    import ipywidgets as W
    kw = {"layout": layout} if layout is not None else {}
    st = W.Stack(children=list(children), selected_index=control.index or 0, **kw)
    if css_class:
        st.add_class(css_class)
    links.append(W.jslink((control, "index"), (st, "selected_index")))
    return st


def build_ui(frames: SideBySideFrames, live: bool = True) -> SideBySideUI:
    """The side-by-side widget (ipywidgets 8) built from pre-rendered ``frames``.

    Layout: dropdowns for task, test image and seed; sliders for teacher steps (over
    the pre-rendered counts), student steps (1..8) and the before/after curtain; four
    panels (condition, teacher, student, ground truth), each with a caption (LPIPS,
    PSNR, latency, NFE) that switches with its slider; the curtain (student at the
    chosen steps against the reference teacher run); the race panel. Every switch is a
    ``Stack`` whose ``selected_index`` is ``jslink``-ed to the control's ``index``
    (nested Stacks: task > image > seed > panels), so it works in a static HTML export
    without a kernel. With ``live`` (and models in ``frames.models``) a live section
    adds a "re-run live" button and a ``FileUpload`` for your own image; these need a
    running kernel. Introduced in notebooks/07_side_by_side.ipynb; no paper equation.
    """
    import ipywidgets as W
    if not frames.tasks:
        raise ValueError("no task has both models; nothing to show (see frames.missing)")
    px = 32 * frames.scale
    img_layout = W.Layout(width=f"{px}px", height=f"{px}px")  # shared by every Image
    panel_layout = W.Layout(width=f"{px + 24}px", margin="0 6px 0 0")
    links: list = []
    # one Layout/Style model shared by every Stack and caption: a lesson-size widget has
    # thousands of parts, and each default Layout/Style would be one more widget model
    from ipywidgets.widgets.widget_string import HTMLStyle  # not exported at top level
    stack_layout, cap_layout, cap_style = W.Layout(), W.Layout(), HTMLStyle()

    def _stack(children, control, _links, css_class=None):
        return _stack_of(children, control, _links, css_class, stack_layout)

    def image(png, css=None):
        im = W.Image(value=png, format="png", layout=img_layout)
        if css:
            im.add_class(css)
        return im

    def caption(text):
        return W.HTML(value=text, layout=cap_layout, style=cap_style)

    def panel(title, picture, cap, css):
        box = W.VBox([W.HTML(f"<b>{html.escape(title)}</b>"), picture, cap], layout=panel_layout)
        box.add_class(css)
        return box

    dd_layout = W.Layout(width="300px")
    task_dd = W.Dropdown(options=[(f"{t.title} ({t.task})", i) for i, t in enumerate(frames.tasks)],
                         value=0, description="task", layout=dd_layout)
    image_dd = W.Dropdown(options=[(f"#{i} ({n})", j) for j, (i, n) in
                                   enumerate(zip(frames.images, frames.image_names))],
                          value=0, description="test image", layout=dd_layout)
    seed_dd = W.Dropdown(options=[(f"seed {s}", j) for j, s in enumerate(frames.seeds)],
                         value=0, description="seed", layout=W.Layout(width="200px"))
    style = {"description_width": "110px"}
    slider_layout = W.Layout(width="420px")
    t_sl = W.SelectionSlider(options=[(str(s), s) for s in frames.teacher_steps],
                             value=frames.teacher_steps[-1], description="teacher steps",
                             continuous_update=True, style=style, layout=slider_layout)
    s_sl = W.SelectionSlider(options=[(str(k), k) for k in frames.student_steps],
                             value=frames.student_steps[0], description="student steps",
                             continuous_update=True, style=style, layout=slider_layout)
    c_sl = W.SelectionSlider(options=[(f"{p}%", p) for p in frames.curtain_positions],
                             value=frames.curtain_positions[len(frames.curtain_positions) // 2],
                             description="curtain", continuous_update=True, style=style,
                             layout=slider_layout)
    for w, css in ((task_dd, "codi-task"), (image_dd, "codi-image"), (seed_dd, "codi-seed"),
                   (t_sl, "codi-teacher-slider"), (s_sl, "codi-student-slider"),
                   (c_sl, "codi-curtain-slider")):
        w.add_class(css)

    def case_view(case: CaseFrames):
        cond = panel("condition", image(case.condition.png), caption(case.condition.caption),
                     "codi-condition")
        teacher = panel("teacher · DDIM",
                        _stack([image(f.png) for f in case.teacher], t_sl, links, "codi-teacher-stack"),
                        _stack([caption(f.caption) for f in case.teacher], t_sl, links,
                                  "codi-teacher-caption"), "codi-teacher")
        student = panel("student · CoDi",
                        _stack([image(f.png) for f in case.student], s_sl, links, "codi-student-stack"),
                        _stack([caption(f.caption) for f in case.student], s_sl, links,
                                  "codi-student-caption"), "codi-student")
        truth = panel("ground truth", image(case.ground_truth.png),
                      caption(case.ground_truth.caption), "codi-truth")
        curtain = _stack([_stack([image(png) for png in row], c_sl, links)
                             for row in case.curtain], s_sl, links, "codi-curtain-stack")
        curtain_box = panel("curtain", curtain, curtain_caption, "codi-curtain")
        return W.HBox([cond, teacher, student, truth, curtain_box])

    curtain_caption = W.HTML(
        "<div style='font-size:12px;line-height:1.35'>left of the yellow line: the student "
        "(student-steps slider); right of it: the teacher at "
        f"DDIM-{frames.reference_steps}</div>")
    task_views = []
    for tf in frames.tasks:
        per_image = []
        for ii in range(len(frames.images)):
            per_image.append(_stack([case_view(tf.case(ii, si)) for si in range(len(frames.seeds))],
                                       seed_dd, links, "codi-seed-stack"))
        cases = _stack(per_image, image_dd, links, "codi-image-stack")
        race = _stack([_stack([caption(h) for h in row], s_sl, links) for row in tf.race],
                         t_sl, links, "codi-race-stack")
        task_views.append(W.VBox([cases, W.HTML("<b>race</b>: wall time of the two runs "
                                                "behind the selected frames"), race]))
    root = _stack(task_views, task_dd, links, "codi-task-stack")

    notes = [f"Pre-rendered in {frames.seconds:.0f} s on {html.escape(frames.hardware)}: "
             f"{len(frames.tasks)} task(s) x {len(frames.images)} image(s) x "
             f"{len(frames.seeds)} seed(s); every number was measured on these frames."]
    for task, what in frames.missing.items():
        notes.append(f"Task <code>{html.escape(task)}</code> is not shown: missing "
                     f"{html.escape(what)}.")
    header = W.HTML("<br>".join(notes))
    controls = W.VBox([W.HBox([task_dd, image_dd, seed_dd]), t_sl, s_sl, c_sl])
    ui = SideBySideUI(None, frames, {"task": task_dd, "image": image_dd, "seed": seed_dd,
                                     "teacher_steps": t_sl, "student_steps": s_sl,
                                     "curtain": c_sl}, links)
    parts = [header, controls, root]
    if live:
        parts.append(_live_section(ui))
    ui.widget = W.VBox(parts)
    ui.widget.add_class("codi-side-by-side")
    return ui


def _live_section(ui: SideBySideUI):
    import ipywidgets as W
    f = ui.frames
    px = 32 * f.scale
    img_layout = W.Layout(width=f"{px}px", height=f"{px}px")
    status = W.HTML("<i>Live extras need a running kernel (JupyterLab); in a static page "
                    "only the pre-rendered part above works.</i>")
    status.add_class("codi-live-status")
    panels = []
    for title in ("condition", "teacher (live)", "student (live)", "your image / ground truth"):
        im = W.Image(format="png", layout=img_layout)
        cap = W.HTML()
        panels.append((im, cap, W.VBox([W.HTML(f"<b>{title}</b>"), im, cap],
                                       layout=W.Layout(width=f"{px + 24}px", margin="0 6px 0 0"))))
    rerun = W.Button(description="re-run live", icon="play",
                     tooltip="sample the selected case again now and time it")
    upload = W.FileUpload(accept="image/*", multiple=False, description="your image")
    rerun.add_class("codi-rerun")
    upload.add_class("codi-upload")
    ui.upload, ui.rerun, ui.live_status = upload, rerun, status
    ui.live_panels = [(im, cap) for im, cap, _ in panels]

    panel_row = W.HBox([p for *_, p in panels], layout=W.Layout(display="none"))

    def show(result: dict, head: str):
        panel_row.layout.display = ""
        for (im, cap), key in zip(ui.live_panels, ("condition", "teacher", "student", "ground_truth")):
            im.value, cap.value = result[key].png, result[key].caption
        tr, sr = result["teacher_run"], result["student_run"]
        status.value = (f"{head}<br>" + race_html(
            f"teacher DDIM-{tr.steps} (NFE {tr.nfe})", tr.seconds,
            f"student CoDi-{sr.steps} (NFE {sr.nfe})", sr.seconds, 1))

    def models_for(task):
        m = f.models.get(task)
        if m is None:
            raise RuntimeError(f"the models of {task!r} are not loaded in this kernel; "
                               "run the notebook's frame-building cell first")
        return m

    def on_rerun(_=None):
        try:
            task, img, seed, ts, ks = ui.current_case()
            status.value = f"sampling {task}, test image #{img}, seed {seed} live..."
            x, cond, _ = lesson_images((img,), task)
            res = live_case(models_for(task), x, ts, ks, seed, cond=cond, scale=f.scale)
            pre = f.tasks[ui.controls["task"].index].case(
                ui.controls["image"].index, ui.controls["seed"].index)
            same_t = _max_diff(res["teacher"].png, pre.teacher[ui.controls["teacher_steps"].index].png)
            same_s = _max_diff(res["student"].png, pre.student[ui.controls["student_steps"].index].png)
            show(res, f"Live re-run of {task}, test image #{img}, seed {seed}. Largest pixel "
                      f"difference to the pre-rendered frames: teacher {same_t}/255, "
                      f"student {same_s}/255 (batching changes float rounding only).")
        except Exception as err:  # shown in the UI, never a silent failure
            status.value = f"<span style='color:#b00'>re-run failed: {html.escape(str(err))}</span>"

    def on_upload(change):
        files = change["new"]
        if not files:
            return
        item = files[0]
        name = item.get("name", "upload")
        try:
            task, _, seed, ts, ks = ui.current_case()
            status.value = f"reading {html.escape(name)} and sampling {task} live..."
            x = image_from_upload(bytes(item["content"]), name)
            res = live_case(models_for(task), x, ts, ks, seed, scale=f.scale)
            show(res, f"Your image {html.escape(name)} ({task}: condition made from it, "
                      f"teacher DDIM-{ts}, student CoDi-{ks}, seed {seed}).")
        except Exception as err:
            status.value = (f"<span style='color:#b00'>could not use {html.escape(name)}: "
                            f"{html.escape(str(err))}</span>")

    ui._on_rerun, ui._on_upload = on_rerun, on_upload  # for tests and the notebook
    rerun.on_click(on_rerun)
    upload.observe(on_upload, names="value")
    return W.VBox([W.HTML("<h4 style='margin:8px 0 4px'>Live (needs a running kernel)</h4>"
                          "Re-run the selected case now, or upload your own picture: it is "
                          "centre-cropped to 32x32, turned into the selected task's condition "
                          "and sampled by both models with the selected steps and seed."),
                   W.HBox([rerun, upload]), status, panel_row])


def _max_diff(png_a: bytes, png_b: bytes) -> int:
    a, b = decode_png(png_a).astype(int), decode_png(png_b).astype(int)
    return int(np.abs(a - b).max()) if a.shape == b.shape else 255
