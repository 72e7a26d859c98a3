"""Figure helpers for the notebooks (matplotlib), so lessons stay one line per figure.

Images are float tensors (B, 3, H, W) in [-1, 1] (or uint8 (B, H, W, 3)), drawn with
nearest-neighbour interpolation so 32x32 pixels stay visible. Every helper draws and
shows its figure (``show=True``, returning None so Jupyter does not draw it twice) or,
with ``show=False``, returns the matplotlib Figure for you to change or save.
No paper equation: the quantities plotted are computed by the library ((C1)-(C8)).
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np
import torch


def _plt():
    import matplotlib.pyplot as plt
    return plt


def _finish(fig, show: bool):
    if show:
        _plt().show()
        return None
    return fig


def to_numpy_images(images) -> np.ndarray:
    """Float (B, 3, H, W) in [-1, 1], a single (3, H, W) image, or uint8 (B, H, W, 3) ->
    uint8 (B, H, W, 3). One-channel images are repeated to RGB. Introduced in
    notebooks/00_welcome.ipynb."""
    if isinstance(images, np.ndarray) and images.dtype == np.uint8:
        return images[None] if images.ndim == 3 else images
    x = torch.as_tensor(images).detach().to("cpu", torch.float32)
    if x.ndim == 3:
        x = x[None]
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    x = x[:, :3]
    return ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def show_images(images, titles: Sequence[str] | None = None, ncols: int = 8,
                suptitle: str | None = None, size: float = 1.3, show: bool = True):
    """A grid of images with an optional title above each one. Introduced in
    notebooks/01_diffusion_basics.ipynb."""
    plt = _plt()
    imgs = to_numpy_images(images)
    n = len(imgs)
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + 0.3 * bool(suptitle)),
                             squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(imgs[i], interpolation="nearest")
            if titles is not None and i < len(titles):
                ax.set_title(str(titles[i]), fontsize=8)
    if suptitle:
        fig.suptitle(suptitle)
    return _finish(fig, show)


def image_rows(rows: Sequence, row_titles: Sequence[str] | None = None,
               col_titles: Sequence[str] | None = None, suptitle: str | None = None,
               size: float = 1.2, show: bool = True):
    """Several rows of images (each row a batch), one label per row on the left and one
    per column on top: e.g. condition / teacher / student / ground truth, or one image at
    several timesteps. Introduced in notebooks/00_welcome.ipynb."""
    plt = _plt()
    rows = [to_numpy_images(r) for r in rows]
    nrows, ncols = len(rows), max(len(r) for r in rows)
    label_w = 1.6 if row_titles else 0.0
    fig, axes = plt.subplots(nrows, ncols, squeeze=False,
                             figsize=(size * ncols + label_w, size * nrows + 0.3 * bool(suptitle)))
    for i, r in enumerate(rows):
        for j in range(ncols):
            ax = axes[i, j]
            ax.set_xticks([])
            ax.set_yticks([])
            for sp in ax.spines.values():
                sp.set_visible(False)
            ax.grid(False)
            if j < len(r):
                ax.imshow(r[j], interpolation="nearest")
            if j == 0 and row_titles:
                ax.set_ylabel(row_titles[i], rotation=0, ha="right", va="center", fontsize=9)
            if i == 0 and col_titles and j < len(col_titles):
                ax.set_title(str(col_titles[j]), fontsize=9)
    if suptitle:
        fig.suptitle(suptitle)
    return _finish(fig, show)


def show_png(paths: Sequence, titles: Sequence[str] | None = None, size: float = 3.2,
             show: bool = True):
    """PNG files side by side (e.g. the ``samples/step-*.png`` grids a training run
    writes), each with its title (default: the file name). Introduced in
    notebooks/02_teacher.ipynb."""
    from PIL import Image
    plt = _plt()
    paths = [Path(p) for p in paths]
    fig, axes = plt.subplots(1, max(1, len(paths)), figsize=(size * max(1, len(paths)), size),
                             squeeze=False)
    for i, (ax, p) in enumerate(zip(axes.flat, paths)):
        with Image.open(p) as im:
            ax.imshow(np.asarray(im.convert("RGB")), interpolation="nearest")
        ax.set_title(titles[i] if titles else p.stem, fontsize=9)
        ax.axis("off")
    return _finish(fig, show)


def plot_schedule(schedule, ts: Sequence[int] | None = None, show: bool = True):
    """The noise schedule of (C1): alpha_t and sigma_t against t (left, with
    alpha^2 + sigma^2 = 1) and the log signal-to-noise ratio log(alpha_t^2 / sigma_t^2)
    (right); ``ts`` marks some timesteps. Introduced in notebooks/01_diffusion_basics.ipynb."""
    plt = _plt()
    t = np.arange(schedule.T)
    a, s = schedule.alpha.numpy(), schedule.sigma.numpy()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.2))
    ax1.plot(t, a, label=r"$\alpha_t$ (signal)")
    ax1.plot(t, s, label=r"$\sigma_t$ (noise)")
    ax1.set_xlabel("timestep t")
    ax1.set_title(r"$z_t = \alpha_t x + \sigma_t \epsilon$")
    ax1.legend()
    ax2.plot(t, np.log(a ** 2 / s ** 2), color="C2")
    ax2.set_xlabel("timestep t")
    ax2.set_title(r"log SNR = $\log(\alpha_t^2/\sigma_t^2)$")
    for tt in ts or []:
        ax1.axvline(tt, color="gray", lw=0.7, ls=":")
        ax2.axvline(tt, color="gray", lw=0.7, ls=":")
    return _finish(fig, show)


def plot_curves(x, curves: dict, xlabel: str = "", ylabel: str = "", title: str | None = None,
                logy: bool = False, markers: bool = False, show: bool = True):
    """Several named curves over the same x (``curves = {label: y}``). Introduced in
    notebooks/01_diffusion_basics.ipynb."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.2))
    for label, y in curves.items():
        ax.plot(x, np.asarray(y, dtype=float), marker="o" if markers else None, ms=3, label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if logy:
        ax.set_yscale("log")
    if title:
        ax.set_title(title)
    if len(curves) > 1:
        ax.legend()
    return _finish(fig, show)


def plot_consistency_scalings(c_skip_fn, c_out_fn, t_max: int = 1000, zoom: int = 2,
                              show: bool = True):
    """c_skip(t) and c_out(t) of (C4) over all timesteps (left) and near t = 0 (right,
    up to ``zoom``) where the boundary condition f(z, 0) = z lives. Takes the two
    functions (the library's or yours). Introduced in notebooks/03_distillation.ipynb."""
    plt = _plt()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.2))
    t_all = torch.arange(0, t_max, dtype=torch.float32)
    t_zoom = torch.linspace(0, zoom, 201)
    for ax, t in ((ax1, t_all), (ax2, t_zoom)):
        ax.plot(t.numpy(), torch.as_tensor(c_skip_fn(t)).numpy(), label=r"$c_{skip}(t)$")
        ax.plot(t.numpy(), torch.as_tensor(c_out_fn(t)).numpy(), label=r"$c_{out}(t)$")
        ax.set_xlabel("timestep t")
    ax1.set_title("over the whole schedule")
    ax2.set_title(f"zoom on t in [0, {zoom}]: f(z, 0) = z")
    ax1.legend()
    return _finish(fig, show)


def plot_loss(history, keys: Sequence[str] = ("loss",), smooth: int = 1, logy: bool = True,
              title: str | None = None, show: bool = True):
    """Loss curves from a training log (a list of dicts with ``step`` and the ``keys``,
    e.g. :func:`codi_lib.course.read_log` or a run's ``history``); ``smooth`` > 1 adds a
    moving average. Introduced in notebooks/02_teacher.ipynb."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.2))
    steps = np.array([r["step"] for r in history])
    for i, k in enumerate(keys):
        y = np.array([r.get(k, np.nan) for r in history], dtype=float)
        ax.plot(steps, y, color=f"C{i}", alpha=0.35 if smooth > 1 else 1.0, label=k)
        if smooth > 1 and len(y) >= smooth:
            ys = np.convolve(y, np.ones(smooth) / smooth, mode="valid")
            ax.plot(steps[smooth - 1:], ys, color=f"C{i}", label=f"{k} (mean of {smooth})")
    ax.set_xlabel("training step")
    ax.set_ylabel("loss")
    if logy:
        ax.set_yscale("log")
    ax.set_title(title or "training loss")
    ax.legend()
    return _finish(fig, show)


def plot_timings(seconds: dict, title: str = "wall time", unit: str = "s", show: bool = True):
    """Horizontal bars of ``{label: seconds}`` with the value written on each bar.
    Introduced in notebooks/01_diffusion_basics.ipynb."""
    plt = _plt()
    labels, vals = list(seconds), np.array(list(seconds.values()), dtype=float)
    fig, ax = plt.subplots(figsize=(6, 0.45 * len(labels) + 0.9))
    ax.barh(labels, vals, color="C0")
    ax.invert_yaxis()
    for i, v in enumerate(vals):
        ax.text(v, i, f" {v:.2f} {unit}", va="center", fontsize=8)
    ax.set_xlabel(unit)
    ax.set_xlim(0, vals.max() * 1.25 if len(vals) else 1)
    ax.set_title(title)
    ax.grid(False)
    return _finish(fig, show)


# --------------------------------------------------------------------------- 04-06: conditions, loss, metrics


def error_map(a, b, gain: float = 4.0) -> torch.Tensor:
    """|a - b| averaged over colour channels, times ``gain``, as a one-channel image for
    :func:`image_rows` (black = equal, white = an error of 2/gain or more). Introduced in
    notebooks/05_consistency_loss.ipynb."""
    d = (torch.as_tensor(a).detach().float() - torch.as_tensor(b).detach().float()).abs()
    d = d[:, :3].mean(1, keepdim=True)
    return (d * gain).clamp(0, 2) - 1


def plot_distillation_grid(T: int = 1000, n_grid: int = 50, t: int | None = None,
                           s: int | None = None, sampler_steps: Sequence[int] = (1, 2, 4),
                           show: bool = True):
    """The distillation grid of (C5), t_n = n T/N, with one training pair (t, s) marked
    (the ODE step goes from t to s), and below it the timesteps the K-step CoDi sampler
    (C8) visits for each K in ``sampler_steps``. Introduced in
    notebooks/05_consistency_loss.ipynb."""
    from ..method.schedule import codi_sampling_timesteps, distillation_grid
    plt = _plt()
    grid = distillation_grid(T, n_grid)
    rows = 1 + len(sampler_steps)
    fig, ax = plt.subplots(figsize=(9, 0.45 * rows + 1.1))
    ax.scatter(grid, [rows - 1] * len(grid), s=10, color="0.6", label=f"grid, N = {n_grid}")
    if t is not None and s is not None:
        ax.annotate("", xy=(s, rows - 1), xytext=(t, rows - 1),
                    arrowprops=dict(arrowstyle="->", color="C3", lw=1.5))
        ax.scatter([t], [rows - 1], s=40, color="C3", zorder=3, label=f"t = {t}")
        ax.scatter([s], [rows - 1], s=40, color="C0", zorder=3, label=f"s = {s}")
    labels = ["training pairs (C5)"]
    for i, k in enumerate(sampler_steps):
        ts = codi_sampling_timesteps(k, T, n_grid)
        y = rows - 2 - i
        ax.plot(ts, [y] * len(ts), "o-", color="C2", ms=5)
        labels.append(f"CoDi sampler, {k} step{'s' if k > 1 else ''} (C8)")
    ax.set_yticks(range(rows - 1, -1, -1))
    ax.set_yticklabels(labels)
    ax.set_xlim(T + 10, -15)
    ax.set_ylim(-0.6, rows - 0.4)
    ax.set_xlabel("timestep (noise on the left, clean on the right)")
    ax.legend(loc="lower left", fontsize=8, ncol=3)
    ax.grid(False)
    return _finish(fig, show)


def plot_grouped_bars(groups: dict, title: str = "", ylabel: str = "", logy: bool = False,
                      show: bool = True):
    """Grouped vertical bars: ``groups = {group: {bar label: value}}`` (e.g. the loss parts
    of two models), the value written above each bar. Introduced in
    notebooks/05_consistency_loss.ipynb."""
    plt = _plt()
    names = list(groups)
    bars = list(dict.fromkeys(k for g in groups.values() for k in g))
    width = 0.8 / max(1, len(bars))
    fig, ax = plt.subplots(figsize=(max(5, 1.6 * len(names) * max(1, len(bars)) / 2), 3.2))
    for j, b in enumerate(bars):
        xs = np.arange(len(names)) + (j - (len(bars) - 1) / 2) * width
        ys = [float(groups[g].get(b, np.nan)) for g in names]
        ax.bar(xs, ys, width, label=b, color=f"C{j}")
        for x_, y_ in zip(xs, ys):
            if np.isfinite(y_):
                ax.text(x_, y_, f"{y_:.3g}", ha="center", va="bottom", fontsize=7)
    ax.set_xticks(np.arange(len(names)))
    ax.set_xticklabels(names)
    ax.set_ylabel(ylabel)
    if logy:
        ax.set_yscale("log")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return _finish(fig, show)


def plot_metric_response(levels: dict, values: dict, units: dict | None = None,
                         metrics: Sequence[str] = ("lpips", "psnr", "ssim"), show: bool = True):
    """How metrics respond to progressively stronger degradations: one column per kind of
    degradation (``levels = {kind: [level, ...]}``), one row per metric (``values =
    {kind: {metric: [value per level]}}``); ``units`` names each kind's x axis. Arrows in
    the row titles say which way is better. Introduced in notebooks/06_measuring.ipynb."""
    plt = _plt()
    better = {"lpips": "lower is better", "fid": "lower is better", "psnr": "higher is better",
              "ssim": "higher is better"}
    kinds = list(levels)
    fig, axes = plt.subplots(len(metrics), len(kinds), figsize=(3.1 * len(kinds), 2.1 * len(metrics)),
                             squeeze=False, sharex="col")
    for j, k in enumerate(kinds):
        for i, m in enumerate(metrics):
            ax = axes[i, j]
            ys = np.asarray(values[k][m], dtype=float)
            ax.plot(levels[k][:len(ys)], ys, "o-", color=f"C{j}", ms=4)
            if i == 0:
                ax.set_title(k)
            if j == 0:
                ax.set_ylabel(f"{m.upper()}\n({better.get(m, '')})", fontsize=8)
            if i == len(metrics) - 1:
                ax.set_xlabel((units or {}).get(k, "level"))
    return _finish(fig, show)


def _bench_rows(result: dict, task: str):
    return [r for r in result["rows"] if r["task"] == task and "lpips" in r]


_FAMILY_STYLE = {"controlnet/ddim": ("ControlNet teacher, DDIM", "C0", "o"),
                 "controlnet/dpmsolver++": ("ControlNet teacher, DPM-Solver++", "C9", "D"),
                 "cm-two-stage/codi": ("CM-II (two-stage)", "C4", "s"),
                 "pe-codi/codi": ("PE-CoDi", "C1", "o"),
                 "codi/codi": ("CoDi", "C3", "o")}


def plot_quality_vs_nfe(result: dict, task: str, show: bool = True):
    """Benchmark quality (LPIPS, FID) against NFE for one task, with 95% bands where the
    table has intervals: drawn by the one implementation,
    :func:`codi_lib.evaluation.bench_report.plot_quality_vs_nfe` (tables of the older
    format are given their row keys first). Introduced in notebooks/06_measuring.ipynb."""
    from ..evaluation.bench_report import plot_quality_vs_nfe as draw
    from .benchtext import normalise
    _plt()
    return _finish(draw(normalise(result), task), show)


def plot_speedup(result: dict, task: str, show: bool = True):
    """Wall-clock speed-up of every benchmark row over the 50-step ControlNet teacher
    (``speedup_vs_ddim50``), as horizontal bars with the value and the NFE written on each.
    Introduced in notebooks/06_measuring.ipynb."""
    plt = _plt()
    rows = [r for r in _bench_rows(result, task) if "speedup_vs_ddim50" in r]
    fig, ax = plt.subplots(figsize=(7, 0.32 * len(rows) + 1.0))
    if not rows:
        ax.text(0.5, 0.5, "no speed-up: the 50-step teacher row is missing", ha="center")
        ax.axis("off")
        return _finish(fig, show)
    labels = [r["method"] for r in rows]
    vals = np.array([r["speedup_vs_ddim50"] for r in rows], dtype=float)
    colors = [_FAMILY_STYLE.get(f"{r['model']}/{r['sampler']}", ("", "C7", ""))[1] for r in rows]
    ax.barh(labels, vals, color=colors)
    ax.invert_yaxis()
    for i, (v, r) in enumerate(zip(vals, rows)):
        ax.text(v, i, f" {v:.1f}x (NFE {r['nfe']}, {r['ms_per_image']:.1f} ms)", va="center", fontsize=7)
    ax.axvline(1, color="0.3", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlim(vals.min() * 0.7, vals.max() * 8)
    ax.set_xlabel("speed-up over the 50-step teacher (wall clock, log scale)")
    ax.set_title(f"speed-up, task {task}")
    ax.grid(False)
    return _finish(fig, show)


def plot_latency_vs_nfe(runs: dict, show: bool = True):
    """Measured wall time per image against measured NFE, one labelled point per run
    (``runs = {label: {"nfe": ..., "ms_per_image": ...}}``), with the straight line
    through the origin at the median cost per evaluation. Introduced in
    notebooks/06_measuring.ipynb."""
    plt = _plt()
    labels = list(runs)
    nfe = np.array([runs[k]["nfe"] for k in labels], dtype=float)
    ms = np.array([runs[k]["ms_per_image"] for k in labels], dtype=float)
    per = float(np.median(ms / nfe))
    fig, ax = plt.subplots(figsize=(6, 3.4))
    xs = np.linspace(0, nfe.max() * 1.05, 50)
    ax.plot(xs, per * xs, color="0.6", lw=1, ls="--", label=f"{per:.1f} ms per evaluation per image")
    ax.scatter(nfe, ms, color="C3", zorder=3)
    seen: dict = {}
    for k, a, b in zip(labels, nfe, ms):  # labels of equal NFE stacked, not overlapping
        i = seen[a] = seen.get(a, -1) + 1
        right = a > 0.6 * nfe.max()
        ax.annotate(k, (a, b), textcoords="offset points", xytext=(-8 if right else 8, 8 + 11 * i),
                    ha="right" if right else "left", fontsize=8,
                    arrowprops=dict(arrowstyle="-", color="0.7", lw=0.5) if i else None)
    ax.set_xlabel("network evaluations (NFE, counted)")
    ax.set_ylabel("wall time per image (ms)")
    ax.set_title("latency grows with the number of network evaluations")
    ax.legend(fontsize=8)
    return _finish(fig, show)
