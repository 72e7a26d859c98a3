"""Lesson measurements: the welcome picture, test batches, sampling a conditional model
by name with its time and network evaluations, quality tables, degraded images, the
shipped benchmark and colour saturation. The numbers come from
:mod:`codi_lib.evaluation.quality`; every function names the notebook that introduces it.
No paper equation of its own ((C8) is the CoDi sampler).
"""
from __future__ import annotations

from pathlib import Path

import torch

from ..evaluation.metrics import CountingDenoiser
from ..evaluation.quality import quality
from ..evaluation.timing import Timer
from ..method.sampling import sample, sample_by_name
from ..method.tasks import get_task, test_conditions
from ..training.scene_data import task_batch
from ..training.paths import bench_dir, read_json, short
from ..training.students import load_conditional
from .benchtext import normalise
from .setup import pick
from .standins import ConditionalModel, has_student, load_or_train_teacher, student_dir


def first_look(n_images: int | None = None, teacher_steps: int = 50, student_steps: int = 4,
               task: str = "sr4", seed: int = 0) -> dict:
    """The welcome picture: a slow many-step teacher next to a fast few-step model.

    If the conditional models of ``task`` exist (``data/students/<task>/controlnet`` and
    ``.../codi``), the rows are: condition, ControlNet teacher with DDIM-``teacher_steps``
    (:func:`~codi_lib.method.sampling.sample_conditional`), CoDi student with
    ``student_steps`` steps (:func:`~codi_lib.method.sampling.sample_codi`), ground truth, on the
    first test emoji with :func:`~codi_lib.method.tasks.test_conditions`. Otherwise (students
    not trained yet) the unconditional teacher with DDIM at ``teacher_steps`` and at
    ``student_steps`` steps from the same noise. Returns ``{"students": bool, "rows":
    [tensors], "row_titles": [str], "seconds": {label: s}, "note": str}``.
    Introduced in notebooks/00_welcome.ipynb.
    """
    n = n_images or pick(2, 6)
    out = {"seconds": {}}
    if has_student(task, "codi") and has_student(task, "controlnet"):
        teacher, tcfg = load_conditional(student_dir(task, "controlnet"))
        student, scfg = load_conditional(student_dir(task, "codi"))
        batch = task_batch(task, "test", n)   # depth: RGB + exact depth
        x, cond = batch[:, :3], test_conditions(task, batch)
        noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(seed))
        lt, lk = f"teacher, DDIM-{teacher_steps}", f"CoDi student, {student_steps} steps"
        with Timer() as tt:
            xt = sample_by_name(teacher, cond, tcfg.schedule, "ddim", teacher_steps, noise=noise)
        with Timer() as ts:
            xs = sample_by_name(student, cond, scfg.schedule, "codi", student_steps, noise=noise)
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


def test_batch(task: str = "sr4", n: int = 8, start: int = 0):
    """``n`` test images of the task's data set (emoji, or scenes for ``depth``) from
    index ``start`` and their fixed conditions for ``task``
    (:func:`codi_lib.method.tasks.test_conditions`): returns (x, cond), x RGB only.
    Introduced in notebooks/04_adding_a_condition.ipynb."""
    batch = task_batch(task, "test", n, start)
    return batch[:, :3], test_conditions(task, batch)


test_batch.__test__ = False  # not a pytest test


def sample_method(cm: ConditionalModel, cond: torch.Tensor, sampler: str, steps: int,
                  noise: torch.Tensor | None = None, seed: int = 0) -> dict:
    """Sample ``cm`` on ``cond`` with ``sampler`` ("ddim", "dpmsolver++" or "codi", the
    CoDi sampler (C8)) at ``steps`` steps, timed and with the network evaluations counted
    (:class:`codi_lib.evaluation.metrics.CountingDenoiser`). Returns {"images", "seconds",
    "ms_per_image", "nfe"}. Introduced in notebooks/04_adding_a_condition.ipynb."""
    counter = CountingDenoiser(cm.model)
    with Timer() as t:
        out = sample_by_name(counter, cond, cm.cfg.schedule, sampler, steps, cm.cfg.loss.n_grid,
                             seed=seed, noise=noise)
    dt = t.seconds
    return {"images": out, "seconds": dt, "ms_per_image": 1000 * dt / cond.shape[0],
            "nfe": counter.nfe}


def quality_rows(results: dict, truth: torch.Tensor, reference: str | None = None,
                 show: bool = True) -> dict:
    """LPIPS (at 64 px, as the benchmark), PSNR and SSIM against the ground truth of every
    ``{label: sample_method(...) result}``; with ``reference`` (a label) also LPIPS to that
    method's images. Adds the numbers to each result and prints a table when ``show``.
    Introduced in notebooks/04_adding_a_condition.ipynb."""
    ref = results[reference]["images"] if reference else None
    for r in results.values():
        img = r["images"]
        r.update(quality(img, truth))
        if ref is not None:
            r["lpips_ref"] = quality(img, ref, ("lpips",))["lpips"]
    if show:
        w = max(len(k) for k in results)
        head = f"  {'':<{w}}  NFE   LPIPS ↓  PSNR ↑   SSIM ↑   ms/image"
        head += f"   LPIPS to {reference}" if reference else ""
        print(head)
        for k, r in results.items():
            nfe = f"{r['nfe']:>3}" if "nfe" in r else "  –"
            ms = f"{r['ms_per_image']:8.1f}" if "ms_per_image" in r else "       –"
            line = (f"  {k:<{w}}  {nfe}   {r['lpips']:.3f}   "
                    f"{r['psnr']:5.2f}   {r['ssim']:.3f}   {ms}")
            if ref is not None:
                line += f"   {r['lpips_ref']:.3f}"
            print(line)
    return results


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


def load_bench(path=None) -> dict | None:
    """The benchmark result ``bench.json`` in ``path`` (default: ``$CODI_BENCH_DIR`` if
    set, else ``data/bench``, written by ``codi bench --out data/bench``), or None when
    there is none. The result gets a ``"path"`` entry saying where it was read.
    Introduced in notebooks/06_measuring.ipynb."""
    p = Path(path) if path else bench_dir()
    p = p / "bench.json" if p.is_dir() or p.suffix != ".json" else p
    data = read_json(p)
    if not data.get("rows"):
        return None
    data["path"] = short(p)
    return normalise(data)


def mean_saturation(images: torch.Tensor) -> float:
    """Mean HSV colour saturation of (N, 3, H, W) images in [-1, 1]: 0 = grey, 1 = pure
    colour; over-saturated samples score above their ground truth. Introduced in
    notebooks/05_consistency_loss.ipynb."""
    u = (images.detach().float().clamp(-1, 1) + 1) / 2
    mx, mn = u.max(1).values, u.min(1).values
    return float(((mx - mn) / mx.clamp_min(1e-3)).mean())
