"""Figures of the 2-D toy (matplotlib), drawn from the arrays of
:mod:`codi_lib.course.toy`. Introduced in ``notebooks/03_distillation.ipynb``; no paper equation.
"""
from __future__ import annotations

import numpy as np
from ..plots import _finish, _plt


# --------------------------------------------------------------------------- 2-D toy

_GROUP_COLORS = {1.0: "C0", -1.0: "C3"}


def _toy_axes(ax, lim: float = 1.2):
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.axvline(0, color="gray", lw=0.6)


def plot_toy_data(data: np.ndarray, means: np.ndarray | None = None, noise: np.ndarray | None = None,
                  show: bool = True):
    """The 2-D toy: data samples coloured by their condition c = side of the y-axis (left)
    and, if given, the noise z at t = 980 the samplers start from (right). Introduced in
    notebooks/03_distillation.ipynb."""
    plt = _plt()
    ncols = 2 if noise is not None else 1
    fig, axes = plt.subplots(1, ncols, figsize=(4.2 * ncols, 4), squeeze=False)
    ax = axes[0, 0]
    data = np.asarray(data)
    col = np.where(data[:, 0] >= 0, "C0", "C3")
    ax.scatter(data[:, 0], data[:, 1], s=3, c=col, alpha=0.5)
    if means is not None:
        ax.scatter(means[:, 0], means[:, 1], marker="x", c="k", s=30, label="mode centres")
        ax.legend(loc="lower left", fontsize=8)
    _toy_axes(ax)
    ax.set_title("data x (blue: c = +1, red: c = -1)")
    if noise is not None:
        ax = axes[0, 1]
        ax.scatter(noise[:, 0], noise[:, 1], s=3, c="gray", alpha=0.5)
        ax.set_aspect("equal")
        ax.set_title("noise z at t = 980")
    return _finish(fig, show)


def plot_toy_trajectories(paths, cond=None, means: np.ndarray | None = None, max_paths: int = 60,
                          title: str = "probability-flow ODE paths", show: bool = True):
    """ODE paths of the toy (``paths``: (n_points, n, 2), e.g. from
    :func:`codi_lib.course.toy.ode_trajectory`), each from its start (dot) to its end (star),
    coloured by condition. Introduced in notebooks/03_distillation.ipynb."""
    plt = _plt()
    p = np.asarray(paths)
    c = np.ones(p.shape[1]) if cond is None else np.asarray(cond).reshape(-1)
    fig, ax = plt.subplots(figsize=(4.6, 4.4))
    for i in range(min(max_paths, p.shape[1])):
        color = _GROUP_COLORS.get(float(np.sign(c[i]) or 1.0), "C0")
        ax.plot(p[:, i, 0], p[:, i, 1], color=color, lw=0.6, alpha=0.6)
        ax.scatter(p[0, i, 0], p[0, i, 1], s=6, color="gray")
        ax.scatter(p[-1, i, 0], p[-1, i, 1], s=25, marker="*", color=color)
    if means is not None:
        ax.scatter(means[:, 0], means[:, 1], marker="x", c="k", s=30)
    ax.set_aspect("equal")
    lim = max(1.2, float(np.abs(p[0, :max_paths]).max()) * 1.05)
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.axvline(0, color="gray", lw=0.6)
    ax.set_title(title)
    return _finish(fig, show)


def plot_toy_endpoints(d: dict, errors: dict | None = None, max_lines: int = 150,
                       show: bool = True):
    """Where one step lands on the toy, from the same noise: the exact ODE endpoints
    (:func:`codi_lib.course.toy.exact_ode_endpoint`), the 1-step DDIM baseline (the posterior
    mean at t = 980) and, when present, the 1-step student; thin lines join each
    student output to its exact endpoint. ``d`` is :func:`codi_lib.course.toy.endpoint_data`;
    ``errors`` (:func:`codi_lib.course.toy.endpoint_error`) go in the panel titles.
    Introduced in notebooks/03_distillation.ipynb."""
    plt = _plt()
    panels = [("exact", "exact ODE endpoints"), ("ddim1", "1-step DDIM (exact denoiser)")]
    if "student" in d:
        panels.append(("student", "1-step CoDi student"))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4.2), squeeze=False)
    c = np.asarray(d["cond"]).reshape(-1)
    col = np.where(c >= 0, "C0", "C3")
    exact = np.asarray(d["exact"])
    for ax, (key, title) in zip(axes.flat, panels):
        pts = np.asarray(d[key])
        if key != "exact":
            for i in range(min(max_lines, len(pts))):
                ax.plot([pts[i, 0], exact[i, 0]], [pts[i, 1], exact[i, 1]], color="0.75", lw=0.5)
        ax.scatter(pts[:, 0], pts[:, 1], s=4, c=col, alpha=0.6)
        ax.scatter(d["means"][:, 0], d["means"][:, 1], marker="x", c="k", s=30)
        _toy_axes(ax)
        if errors is not None and key in errors:
            title += f"\nmean distance to exact: {errors[key]:.3f}"
        ax.set_title(title)
    return _finish(fig, show)




def plot_toy_configs(d: dict, students: dict, errors: dict | None = None, show: bool = True):
    """One step from the same noise for each trained configuration, beside the exact ODE
    endpoints and the posterior mean at t = 980 (1-step DDIM with the exact denoiser).
    ``d`` is :func:`codi_lib.course.toy.endpoint_data` without a student; ``students`` maps
    a title to that student's 1-step outputs (n, 2); ``errors`` maps the same titles to
    the mean distance to the exact endpoints. Introduced in notebooks/03_distillation.ipynb."""
    plt = _plt()
    panels = [("exact ODE endpoints", d["exact"]), ("posterior mean at t = 980", d["ddim1"]),
              *students.items()]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 3.8), squeeze=False)
    col = np.where(np.asarray(d["cond"]).reshape(-1) >= 0, "C0", "C3")
    for ax, (title, pts) in zip(axes.flat, panels):
        pts = np.asarray(pts)
        ax.scatter(pts[:, 0], pts[:, 1], s=4, c=col, alpha=0.6)
        ax.scatter(d["means"][:, 0], d["means"][:, 1], marker="x", c="k", s=30)
        _toy_axes(ax)
        if errors and title in errors:
            title += f"\nmean distance to exact: {errors[title]:.3f}"
        ax.set_title(title, fontsize=10)
    return _finish(fig, show)


def plot_sampler_path(path: dict, cond, means: np.ndarray | None = None, max_points: int = 12,
                      show: bool = True):
    """The K-step CoDi sampler (C8) on the toy: for a few noise points, each jump z_t -> f
    (solid, the student's guess of the endpoint) and each deterministic re-noising
    f -> z_next with the predicted noise (dotted). ``path`` is
    :func:`codi_lib.course.toy.sampler_path`. Introduced in notebooks/03_distillation.ipynb."""
    plt = _plt()
    z, f, ts = np.asarray(path["z"]), np.asarray(path["f"]), path["ts"]
    c = np.asarray(cond).reshape(-1)
    fig, ax = plt.subplots(figsize=(5.2, 5.2))
    for i in range(min(max_points, z.shape[1])):
        color = "C0" if c[i] >= 0 else "C3"
        for k in range(len(ts)):
            ax.annotate("", f[k, i], z[k, i], arrowprops=dict(arrowstyle="->", color=color, lw=0.9))
            ax.scatter(*z[k, i], s=10, color="0.5", zorder=3)
            if k + 1 < len(ts):
                ax.plot([f[k, i, 0], z[k + 1, i, 0]], [f[k, i, 1], z[k + 1, i, 1]], ":",
                        color=color, lw=0.9)
        ax.scatter(*f[-1, i], marker="*", s=60, color=color, zorder=4)
    if means is not None:
        ax.scatter(means[:, 0], means[:, 1], marker="x", c="k", s=30)
    lim = max(1.2, float(np.abs(z[:, :max_points]).max()) * 1.05)
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.axvline(0, color="gray", lw=0.6)
    ax.set_title(f"CoDi sampler, K = {len(ts)} (t = {', '.join(map(str, ts))}):\n"
                 "solid: jump to f; dotted: re-noise with the predicted noise", fontsize=10)
    return _finish(fig, show)
