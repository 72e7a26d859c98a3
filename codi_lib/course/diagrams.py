"""Diagrams drawn by code (matplotlib, no randomness: the same picture on every run):
the teacher's UNet as built, one training step of CoDi, the ControlNet branch with its
zero convolutions, and progressive against consistency distillation. Like :mod:`codi_lib.course.plots`, every
function shows its figure (``show=True``) or returns it (``show=False``).
The quantities named are those of the course's equation sheet (C1)-(C9)
(:mod:`codi_lib`); paper: Mei et al., CoDi, Sec. 3-4.
"""
from __future__ import annotations

import numpy as np

from .plots import _finish, _plt

_GRAD, _NOGRAD = "#c0392b", "#7f8c8d"


def _box(ax, xy, text, color="#eef3fb", edge="#34495e", w=1.9, h=0.62, fs=9, ls="-"):
    from matplotlib.patches import FancyBboxPatch
    x, y = xy
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.04",
                                fc=color, ec=edge, lw=1.2, ls=ls))
    ax.text(x, y, text, ha="center", va="center", fontsize=fs)


def _arrow(ax, a, b, color="#34495e", ls="-", text=None, lw=1.3, off=(0, 0.12), rad=0.0):
    ax.annotate("", b, a, arrowprops=dict(arrowstyle="-|>", color=color, lw=lw, ls=ls,
                                          shrinkA=4, shrinkB=4,
                                          connectionstyle=f"arc3,rad={rad}"))
    if text:
        mx, my = (a[0] + b[0]) / 2 + off[0], (a[1] + b[1]) / 2 + off[1]
        ax.text(mx, my, text, ha="center", va="bottom", fontsize=8, color=color)


def _canvas(w, h, figsize):
    plt = _plt()
    fig, ax = plt.subplots(figsize=figsize)
    ax.set_xlim(0, w)
    ax.set_ylim(0, h)
    ax.axis("off")
    return fig, ax


# Long: a diagram is a list of boxes and arrows; splitting it would scatter the layout.
def draw_training_step(show: bool = True):
    """One training step of CoDi: the batch x and its condition c, the grid pair (t, s)
    (C5), z_t (C1), the ODE model's step to z_s without gradient (C3), the EMA target
    f_ema(z_s, s, c) without gradient and the online prediction f_theta(z_t, t, c) with
    gradient (C4), the consistency term (C6), the guidance term (C7) and the EMA update
    (C9). Red arrows: where the gradient of the loss flows (only into the online model).
    Introduced in notebooks/05_consistency_loss.ipynb."""
    fig, ax = _canvas(12, 6.4, (12, 6.4))
    _box(ax, (1.2, 5.6), "batch x\ncondition c = task(x)", w=2.0)
    _box(ax, (1.2, 4.2), "grid pair (C5)\nt = n Δ, s = t - Δ", w=2.0)
    _box(ax, (3.8, 4.9), "z_t = α_t x + σ_t ε\n(C1)", w=2.1)
    _box(ax, (6.6, 5.6), "ODE model, no grad\n(paper: the student itself)", color="#f4f4f4",
         edge=_NOGRAD, w=2.7, ls="--")
    _box(ax, (9.7, 5.6), "z_s = α_s x̂ + σ_s ε̂\none DDIM step (C3)", w=2.5)
    _box(ax, (9.7, 3.9), "EMA model, no grad\nf_ema(z_s, s, c)  (C4)", color="#f4f4f4",
         edge=_NOGRAD, w=2.7, ls="--")
    _box(ax, (6.6, 2.4), "online model θ\nf_θ(z_t, t, c)  (C4)", color="#fdecea", edge=_GRAD, w=2.7)
    _box(ax, (9.7, 1.9), "consistency (C6)\nλ_cons ||f_θ - f_ema||²", w=2.9)
    _box(ax, (3.6, 1.0), "guidance (C7)\nλ_cg ||f_θ - x||²", w=2.6)
    _box(ax, (6.6, 0.55), "loss = sum of the two terms", color="#fff7e0", w=3.2, h=0.5)
    _arrow(ax, (1.2, 4.55), (2.75, 4.85))
    _arrow(ax, (1.9, 5.45), (2.75, 5.05))
    _arrow(ax, (4.85, 5.05), (5.25, 5.5), text="z_t, c")
    _arrow(ax, (7.95, 5.6), (8.45, 5.6))
    _arrow(ax, (9.7, 5.28), (9.7, 4.22))
    _arrow(ax, (9.7, 3.58), (9.7, 2.28), color=_NOGRAD, text="target (fixed)", off=(0.75, 0))
    _arrow(ax, (4.3, 4.57), (6.0, 2.75), text="z_t, c", off=(-0.45, 0))
    _arrow(ax, (7.95, 2.3), (8.25, 2.0))
    _arrow(ax, (5.25, 2.25), (4.4, 1.35))
    _arrow(ax, (1.2, 5.27), (2.9, 1.35), color="#34495e", text="x", off=(-0.55, 0), rad=0.25)
    _arrow(ax, (9.0, 1.55), (8.2, 0.7))
    _arrow(ax, (4.6, 0.75), (5.0, 0.6))
    # gradient flow and EMA update
    _arrow(ax, (6.6, 0.8), (6.6, 2.08), color=_GRAD, ls="--", lw=1.8, text="∇θ", off=(0.25, -0.1))
    _arrow(ax, (7.95, 2.6), (8.9, 3.58), color=_NOGRAD, ls=":", rad=-0.25,
           text="EMA update after the step (C9)", off=(-0.9, 0.15))
    ax.text(0.1, 0.1, "red: the only model that receives gradients; grey dashed: no gradient",
            fontsize=8, color=_GRAD)
    ax.set_title("one training step of CoDi", fontsize=12)
    return _finish(fig, show)


def draw_controlnet(show: bool = True):
    """The conditional model of CoDi: the teacher's UNet (the backbone) and a ControlNet
    branch, a trainable copy of the teacher's encoder that reads the condition c through a
    zero-initialised input convolution and adds its features to the backbone's skip
    connections and middle block through zero-initialised 1x1 convolutions. At
    initialisation every zero convolution outputs 0, so the model is exactly the
    unconditional teacher. Introduced in notebooks/04_adding_a_condition.ipynb."""
    fig, ax = _canvas(11, 6, (11, 6))
    enc, dec = [(1.7, 4.9), (2.9, 3.7), (4.1, 2.5)], [(9.3, 4.9), (8.1, 3.7), (6.9, 2.5)]
    for k, (e, d) in enumerate(zip(enc, dec)):
        _box(ax, e, f"encoder {k + 1}", w=1.5, h=0.5)
        _box(ax, d, f"decoder {k + 1}", w=1.5, h=0.5)
        ax.plot([e[0] + 0.75, d[0] - 0.75], [e[1], d[1]], color="0.6", lw=1, ls="--")
    _box(ax, (5.5, 1.6), "middle", w=1.4, h=0.5)
    for a, b in [(enc[0], enc[1]), (enc[1], enc[2]), (dec[2], dec[1]), (dec[1], dec[0])]:
        _arrow(ax, a, b)
    _arrow(ax, enc[2], (5.5, 1.85))
    _arrow(ax, (5.5, 1.85), dec[2])
    _box(ax, (0.8, 5.7), "z_t, t", w=1.1, h=0.45)
    _arrow(ax, (0.8, 5.47), enc[0])
    _box(ax, (10.2, 5.7), "v̂ (C2)", w=1.1, h=0.45)
    _arrow(ax, dec[0], (10.2, 5.47))
    ax.text(5.5, 5.7, "backbone = the teacher's UNet\n(frozen in PE-CoDi, trained in CoDi)",
            ha="center", fontsize=9)
    # the branch, below
    _box(ax, (0.9, 0.45), "condition c", color="#e8f6ec", w=1.4, h=0.45)
    _box(ax, (2.6, 0.45), "zero conv (in)", color="#fff0c2", edge="#b7950b", w=1.7, h=0.45)
    _box(ax, (4.6, 0.45), "copy of encoder\n+ middle (trained)", color="#e8f6ec", w=2.2, h=0.6)
    _arrow(ax, (1.6, 0.45), (1.75, 0.45))
    _arrow(ax, (3.45, 0.45), (3.5, 0.45))
    for k, d in enumerate([(5.5, 1.6)] + dec[::-1]):
        zx = 6.6 + 1.05 * k
        _box(ax, (zx, 0.45), "zero\n1x1", color="#fff0c2", edge="#b7950b", w=0.8, h=0.55, fs=8)
        _arrow(ax, (zx, 0.73), (d[0], d[1] - 0.27), color="#b7950b", text="+", off=(0.1, 0))
    _arrow(ax, (5.7, 0.45), (6.2, 0.45))
    ax.text(5.5, -0.05, "at initialisation every zero conv outputs 0: the model is exactly the "
            "teacher, and the gradient wakes the branch up", ha="center", fontsize=8, color="#7d6608")
    ax.set_ylim(-0.2, 6.1)
    ax.set_title("the conditional model: teacher backbone + ControlNet branch", fontsize=12)
    return _finish(fig, show)


def draw_distillation_families(show: bool = True):
    """Progressive distillation against consistency distillation. Left: each round a
    student learns to do two teacher DDIM steps in one, halving the step count, one
    training round per halving (Salimans & Ho, 2022). Right: a consistency function maps
    every point of an ODE trajectory to the trajectory's clean end, trained on
    neighbouring pairs (C5)-(C6) in one run (Song et al., 2023; CoDi).
    Introduced in notebooks/03_distillation.ipynb."""
    plt = _plt()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 4.4))
    rounds = [8, 4, 2, 1]
    for r, n in enumerate(rounds):
        y = len(rounds) - 1 - r
        xs = np.linspace(0, 8, n + 1)
        a1.plot([0, 8], [y, y], color="0.85", lw=6, solid_capstyle="round")
        for x0, x1 in zip(xs[:-1], xs[1:]):
            a1.annotate("", (x1, y), (x0, y), arrowprops=dict(arrowstyle="-|>", color="C0", lw=1.4,
                                                             connectionstyle="arc3,rad=-0.35"))
        a1.text(-0.4, y, f"{n} step{'s' if n > 1 else ''}", ha="right", va="center", fontsize=9)
        if r:
            a1.text(8.4, y + 0.5, f"round {r}: 2 steps -> 1", fontsize=8, color="C0", va="center")
    a1.text(0, -0.75, "noise (t = T)", fontsize=8)
    a1.text(8, -0.75, "image", fontsize=8, ha="right")
    a1.set_xlim(-2, 11)
    a1.set_ylim(-1, len(rounds))
    a1.axis("off")
    a1.set_title("progressive distillation: one training round per halving", fontsize=11)
    s = np.linspace(0, 1, 200)
    for k, off in enumerate([-0.9, 0.0, 0.9]):
        x, y = 8 * s, off * (1.6 - 0.8 * s) + 0.4 * np.sin(3 * s + k) * (1 - s)
        a2.plot(x, y, color="0.6", lw=1.2)
        a2.scatter(x[-1], y[-1], marker="*", s=90, color="C2", zorder=4)
        for j in (30, 90, 150):
            a2.scatter(x[j], y[j], s=14, color="C0", zorder=3)
            a2.annotate("", (x[-1], y[-1]), (x[j], y[j]),
                        arrowprops=dict(arrowstyle="-|>", color="C1", lw=0.8, alpha=0.8,
                                        connectionstyle="arc3,rad=0.25"))
    a2.text(0, -2.6, "noise (t = T)", fontsize=8)
    a2.text(8, -2.6, "clean end (t = 0)", fontsize=8, ha="right")
    a2.text(4, 2.3, "f(z_t, t) = f(z_s, s) = the trajectory's end (C4)-(C6)", ha="center",
            fontsize=9, color="C1")
    a2.set_xlim(-0.5, 8.8)
    a2.set_ylim(-2.8, 2.7)
    a2.axis("off")
    a2.set_title("consistency distillation: every point -> its end, one run", fontsize=11)
    return _finish(fig, show)


def unet_levels(unet) -> dict:
    """The architecture of a diffusers ``UNet2DConditionModel`` (or a module holding one
    as ``.unet``), read from the built modules rather than the config, so a diagram of
    it cannot disagree with the network: per encoder and decoder level the resolution,
    channels, number of ResNet blocks and of attention layers, plus the middle block and
    the number of skip connections. Introduced in notebooks/02_teacher.ipynb."""
    unet = getattr(unet, "unet", unet)
    res, levels = unet.config.sample_size, []
    skips = 1  # conv_in's output is the first skip
    for b in unet.down_blocks:
        n_att = len(getattr(b, "attentions", None) or [])
        down = b.downsamplers is not None
        levels.append({"res": res, "channels": b.resnets[-1].out_channels,
                       "resnets": len(b.resnets), "attention": n_att, "downsample": down})
        skips += len(b.resnets) + (1 if down else 0)
        res //= 2 if down else 1
    mid = unet.mid_block
    up = [{"res": None, "channels": b.resnets[-1].out_channels, "resnets": len(b.resnets),
           "attention": len(getattr(b, "attentions", None) or []),
           "upsample": b.upsamplers is not None} for b in unet.up_blocks]
    r = res
    for u in up:
        u["res"] = r
        r *= 2 if u["upsample"] else 1
    return {"in_channels": unet.config.in_channels, "out_channels": unet.config.out_channels,
            "down": levels, "up": up, "skips": skips,
            "mid": {"res": res, "resnets": len(mid.resnets),
                    "attention": len(getattr(mid, "attentions", None) or []),
                    "channels": mid.resnets[-1].out_channels},
            "time_embedding": unet.time_embedding.linear_2.out_features}


def _level_text(name, lv):
    att = f" + {lv['attention']} attention" if lv["attention"] else ", no attention"
    return f"{name}: {lv['resnets']} ResNet{att}\n{lv['channels']} ch at {lv['res']}x{lv['res']} px"


def draw_unet(unet, show: bool = True):
    """The denoiser's UNet as built (:func:`unet_levels`): encoder levels that halve the
    resolution, the middle block, decoder levels that double it back, the skip
    connections from each encoder output to the decoder of the same resolution, and the
    timestep embedding added into every ResNet block. Introduced in
    notebooks/02_teacher.ipynb (paper Sec. 3: the teacher is any pretrained diffusion
    UNet; the course's is small enough for a CPU)."""
    a = unet_levels(unet)
    n = len(a["down"])
    top = 1.8 + 1.3 * (n - 1)
    fig, ax = _canvas(12, top + 1.35, (12, 1.3 + 1.1 * n))
    enc = [(2.6, top - 1.3 * k) for k in range(n)]
    dec = [(9.4, top - 1.3 * k) for k in range(n)]
    for k, lv in enumerate(a["down"]):
        _box(ax, enc[k], _level_text(f"encoder {k + 1}", lv), w=3.0, h=0.8, fs=8)
        if k + 1 < n:
            _arrow(ax, (enc[k][0], enc[k][1] - 0.4), (enc[k + 1][0], enc[k + 1][1] + 0.4),
                   text="downsample /2" if lv["downsample"] else None, off=(0.75, -0.1))
    for k, lv in enumerate(a["up"]):  # up_blocks run from the lowest resolution up
        d = dec[n - 1 - k]
        _box(ax, d, _level_text(f"decoder {n - k}", lv), w=3.0, h=0.8, fs=8)
        if k + 1 < n:
            nxt = dec[n - 2 - k]
            _arrow(ax, (d[0], d[1] + 0.4), (nxt[0], nxt[1] - 0.4),
                   text="upsample x2" if lv["upsample"] else None, off=(-0.7, -0.1))
    for e, d in zip(enc, dec):
        ax.plot([e[0] + 1.5, d[0] - 1.5], [e[1], d[1]], color="0.6", lw=1, ls="--")
    ax.text(6, (enc[0][1] + enc[-1][1]) / 2 if n > 1 else enc[0][1] - 0.6,
            f"skip connections (dashed; {a['skips']} in all):\nthe decoder concatenates the "
            "encoder's\nfeatures of the same resolution", ha="center", va="center",
            fontsize=8, color="0.4", bbox=dict(fc="white", ec="none"))
    m = a["mid"]
    mid = (6, enc[-1][1] - 1.15)
    _box(ax, mid, _level_text("middle", m), w=3.0, h=0.8, fs=8)
    _arrow(ax, (enc[-1][0], enc[-1][1] - 0.4), (mid[0] - 1.5, mid[1]))
    _arrow(ax, (mid[0] + 1.5, mid[1]), (dec[-1][0], dec[-1][1] - 0.4))
    _box(ax, (0.75, top + 0.95), f"z_t ({a['in_channels']} ch)", w=1.3, h=0.45)
    _arrow(ax, (1.2, top + 0.75), (enc[0][0] - 0.6, enc[0][1] + 0.4), text="conv in", off=(0.45, 0.02))
    _box(ax, (11.25, top + 0.95), f"v̂ ({a['out_channels']} ch)", w=1.3, h=0.45)
    _arrow(ax, (dec[0][0] + 0.6, dec[0][1] + 0.4), (10.8, top + 0.75), text="conv out", off=(-0.45, 0.02))
    _box(ax, (6, top + 0.95), f"t -> sinusoidal embedding -> MLP ({a['time_embedding']})\n"
         "added into every ResNet block", color="#fdf2e9", edge="#ba4a00", w=4.6, h=0.6, fs=8)
    ax.set_title("the teacher's UNet, as built (v-prediction, (C2))", fontsize=12)
    return _finish(fig, show)
