"""The toy student: a small MLP trained with the unchanged CoDi loss, and the data the
notebook plots (endpoints and their errors against the exact ones). See
:mod:`codi_lib.course.toy`. Introduced in ``notebooks/03_distillation.ipynb``; (C5)-(C8).
"""
from __future__ import annotations

import copy
import math
from typing import NamedTuple

import torch
from torch import nn
from ...method.losses import CoDiLossConfig, codi_loss
from ...method.sampling import sample_codi
from ...method.schedule import NoiseSchedule, x_eps_to_pred
from ...training.loop import ema_update, step_generator
from .problem import (ExactDenoiser, GROUPS, MEANS, TOY_TASK, _default_schedule, exact_ode_endpoint, group_condition, nearest_mode, toy_samples)


# ------------------------------------------------------------------------ the student

def timestep_embedding(t: torch.Tensor, dim: int = 32, T: int = 1000,
                       max_freq: float = 16.0) -> torch.Tensor:
    """Sinusoidal embedding of the integer timestep: sin/cos of 2 pi w_i t / T with w_i
    geometric from 1/2 to ``max_freq``, the usual diffusion-network time input of the
    denoiser in (C2). Introduced in notebooks/03_distillation.ipynb."""
    half = dim // 2
    freqs = torch.exp(torch.linspace(math.log(0.5), math.log(max_freq), half, device=t.device))
    arg = (t.float().reshape(-1, 1) / T) * freqs[None] * (2 * math.pi)
    return torch.cat([torch.sin(arg), torch.cos(arg)], dim=1)


class ToyStudent(nn.Module):
    """A small MLP student: forward(z, t, cond) -> v-prediction (C2), from the
    concatenation [z (2), sinusoidal embedding of t, c (1)] through ``depth`` hidden layers
    of width ``width`` with SiLU. Its consistency output is (C4), f = c_skip z + c_out x_hat.

    ``head="x"`` (default): the MLP's output is read as x_hat and converted to the
    v-prediction with the schedule ((C2) inverted, :func:`~codi_lib.method.schedule.x_eps_to_pred`),
    so the interface is the course's v-prediction while the network learns the easier
    function. Near t = 0 the v target is a sawtooth of slope about 1/sigma_t around each
    mode (v = (alpha z - x)/sigma with x shrunk toward the nearest mode), which a small MLP
    trained from scratch fits less precisely, and an error at the low grid levels is
    inherited by every later level of the consistency chain (with the default training,
    1-step endpoint error about 0.05 with the x head against 0.06 with the v head).
    ``head="v"`` reads the output as v directly (a plain diffusion network).
    Trained from scratch by :func:`train_toy_student`. Introduced in
    notebooks/03_distillation.ipynb."""

    def __init__(self, width: int = 128, depth: int = 3, t_dim: int = 32, head: str = "x",
                 schedule: NoiseSchedule | None = None):
        super().__init__()
        if head not in ("x", "v"):
            raise ValueError(f"head={head!r}: use 'x' or 'v'")
        self.schedule = schedule or _default_schedule()
        self.t_dim, self.T, self.head = t_dim, self.schedule.T, head
        layers, d_in = [], 2 + t_dim + 1
        for _ in range(depth):
            layers += [nn.Linear(d_in, width), nn.SiLU()]
            d_in = width
        layers.append(nn.Linear(d_in, 2))
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, t, cond: torch.Tensor | None = None) -> torch.Tensor:
        t = torch.as_tensor(t, device=z.device)
        if t.dim() == 0:
            t = t.expand(z.shape[0])
        c = cond.reshape(z.shape[0], -1)[:, :1].to(z) if cond is not None else z.new_zeros(z.shape[0], 1)
        h = torch.cat([z, timestep_embedding(t, self.t_dim, self.T).to(z), c], dim=1)
        out = self.net(h)
        if self.head == "v":
            return out
        a, s = self.schedule.alpha_sigma(t.cpu(), 2, z.device)
        a, s = a.to(z.dtype), s.to(z.dtype)
        return x_eps_to_pred(out, (z - a * out) / s, a, s, self.schedule.prediction_type)


class ToyRun(NamedTuple):
    """What :func:`train_toy_student` returns: the online student, its EMA copy (C9) (the
    consistency target of (C6)) and the loss history (one dict per logged step).
    Introduced in notebooks/03_distillation.ipynb."""
    student: ToyStudent
    ema_student: ToyStudent
    history: list


def default_toy_loss() -> CoDiLossConfig:
    """The toy's loss options: (C6) with the exact denoiser as the frozen ODE model
    (``ode_model="teacher"``), lambda_cg = 0 in (C7), one grid step n (C5) per sample.
    See :func:`train_toy_student` for why. Introduced in notebooks/03_distillation.ipynb."""
    return CoDiLossConfig(ode_model="teacher", lambda_cg=0.0, per_sample_n=True)


def paper_toy_loss() -> CoDiLossConfig:
    """The paper's loss options on the toy: the online student takes the ODE step
    (``ode_model="student"``, paper Sec. 4) and lambda_cg = 1 in (C7); one grid level per
    sample as in :func:`default_toy_loss`. A student trained from scratch this way has no
    teacher at all: the guidance term pulls it to the posterior mean E[x | z_t, c], and its
    own ODE steps keep it there. Introduced in notebooks/03_distillation.ipynb."""
    return CoDiLossConfig(ode_model="student", lambda_cg=1.0, per_sample_n=True)


#: The two configurations notebook 03 lets the learner switch between: ``"classic"``
#: (classic consistency distillation: frozen exact teacher for the ODE step, lambda_cg = 0,
#: :func:`default_toy_loss`) and ``"paper"`` (:func:`paper_toy_loss`).
TOY_CONFIGS = {"classic": default_toy_loss, "paper": paper_toy_loss}


def toy_loss(config: str = "classic") -> CoDiLossConfig:
    """The loss options of configuration ``config`` in :data:`TOY_CONFIGS` ("classic" or
    "paper"). Introduced in notebooks/03_distillation.ipynb."""
    if config not in TOY_CONFIGS:
        raise ValueError(f"config={config!r}: use one of {sorted(TOY_CONFIGS)}")
    return TOY_CONFIGS[config]()


# Long by one screen: the toy loop is written out so notebook 03 can show every line.
def train_toy_student(loss_cfg: CoDiLossConfig | None = None, steps: int = 3000, batch: int = 256,
                      lr: float = 2e-2, seed: int = 0, ode_model: nn.Module | None = None,
                      ema_decay: float = 0.9, width: int = 128, depth: int = 3, head: str = "x",
                      schedule: NoiseSchedule | None = None, log_every: int = 50) -> ToyRun:
    """Distil the toy with the unchanged CoDi loss: (C5) grid steps, (C3) one ODE step of
    the ODE model, (C4) consistency outputs, (C6) consistency term, (C7) guidance term,
    (C9) EMA target, all through :func:`codi_lib.method.losses.codi_loss` with ``TOY_TASK``.

    The loop: AdamW (no weight decay) with ``lr`` decayed by a cosine to 0, gradient
    clipping at 1.0, the EMA of :func:`~codi_lib.training.loop.ema_update` after every step,
    and per-step generators :func:`~codi_lib.training.loop.step_generator` (seed, step), so a
    run is reproducible. ``ode_model`` defaults to :class:`ExactDenoiser`.

    The default loss is :func:`default_toy_loss`: ``ode_model="teacher"`` makes the frozen
    ODE model the exact conditional denoiser (the official code's choice of a frozen
    teacher), so the ODE, hence its endpoints, are well defined and the student must match
    them. ``per_sample_n=True`` (the official code) draws a grid level per sample, so every
    step trains all 49 levels of the consistency chain; with one n per batch (the paper)
    3000 steps are far from enough (1-step error about 0.3) and lr = 2e-2 is unstable.
    ``ode_model="student"`` (the paper) lets the online student take the ODE step; a student
    trained from scratch has then no teacher at all, needs ``lambda_cg > 0`` and ends at
    the posterior mean below. The EMA (C9) is the consistency target: with decay 0.8-0.95
    the result hardly changes, with 0.98 the lagging target makes training diverge.

    Why lambda_cg = 0 here (the teaching point): the guidance term (C7),
    E||f(z_t, t, c) - x||^2, is minimised by the posterior mean f = E[x | z_t, c], not by
    the ODE endpoint. At t = 980 (alpha = 0.007) z_t says almost nothing about x, so
    E[x | z_t, c] is close to the mean of group c, a point *between* its modes. With
    lambda_cg > 0 every grid level is pulled toward this blur, and the pull compounds over
    the 49 levels of the chain: measured 1-step endpoint errors are about 0.05 for
    lambda_cg = 0, 0.16 for 0.01 and 0.43-0.45 for 0.1 and 1, where the student is no
    better than the posterior mean (0.45). In the paper the student starts from the
    teacher and lambda_cg is a regulariser against over-saturation; here the exact teacher
    makes it unnecessary. Introduced in notebooks/03_distillation.ipynb."""
    loss_cfg = loss_cfg or default_toy_loss()
    schedule = schedule or _default_schedule()
    if loss_cfg.ode_model != "student" and ode_model is None:
        ode_model = ExactDenoiser(schedule)
    torch.manual_seed(seed)
    student = ToyStudent(width, depth, head=head, schedule=schedule)
    ema = copy.deepcopy(student).requires_grad_(False).eval()
    opt = torch.optim.AdamW(student.parameters(), lr=lr, weight_decay=0.0, foreach=True)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda k: 0.5 * (1 + math.cos(math.pi * min(k, steps) / steps)))
    loss_fn = codi_loss(schedule, loss_cfg, TOY_TASK, ode_model)
    history, running = [], None
    for step in range(steps):
        gen = step_generator(seed, step)
        x = toy_samples(batch, gen)
        loss, logs = loss_fn(student, ema, x, gen, step)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)
        opt.step()
        sched.step()
        ema_update(ema, student, ema_decay)
        lv = float(loss.detach())
        running = lv if running is None else 0.95 * running + 0.05 * lv
        if (step + 1) % log_every == 0 or step + 1 == steps:
            history.append({"step": step + 1, "loss": lv, "loss_smooth": running,
                            **{k: float(v) for k, v in logs.items()}})
    return ToyRun(student.eval(), ema, history)


# ------------------------------------------------------------- evaluation / plotting data

def endpoint_noise(n: int, seed: int):
    """Fixed evaluation inputs: conditions c (n, 1) from data samples, and noise z (n, 2)
    taken as z at t = 980 (the start of the 1-step sampler (C8)). Introduced in
    notebooks/03_distillation.ipynb."""
    gen = torch.Generator().manual_seed(seed)
    c = group_condition(toy_samples(n, gen))
    z = torch.randn(n, 2, generator=gen)
    return c, z


@torch.no_grad()
def endpoint_data(student: nn.Module | None, n: int = 1000, seed: int = 1234, steps: int = 1,
                  n_grid: int = 50, schedule: NoiseSchedule | None = None) -> dict:
    """Everything the notebook plots, as numpy arrays: ``noise`` z (at t = 980), ``cond``
    c, ``exact`` ODE endpoints (:func:`exact_ode_endpoint`), ``student`` = the K-step CoDi
    sampler (C8) with the student (``steps`` = K, from t = 980 on the N = ``n_grid`` grid),
    ``ddim1`` = the same sampler with :class:`ExactDenoiser` (for K = 1 one DDIM step (C3)
    with the exact denoiser = the posterior mean at t = 980), ``grid`` = DDIM (C3) with the
    exact denoiser through all 49 steps of the N-grid (what the consistency loss (C6)
    actually distils), ``data`` samples, ``means`` and ``groups`` of the components. The
    same noise feeds all of them. ``student`` may be None.
    Introduced in notebooks/03_distillation.ipynb."""
    schedule = schedule or _default_schedule()
    c, z = endpoint_noise(n, seed)
    out = {"noise": z.numpy(), "cond": c.numpy(),
           "exact": exact_ode_endpoint(z, c, schedule=schedule).numpy(),
           "grid": exact_ode_endpoint(z, c, stride=schedule.T // n_grid, method="ddim",
                                      schedule=schedule).numpy(),
           "ddim1": sample_codi(ExactDenoiser(schedule), c, schedule, steps, n_grid,
                                noise=z).numpy(),
           "data": toy_samples(n, torch.Generator().manual_seed(seed + 1)).numpy(),
           "means": MEANS.float().numpy(), "groups": GROUPS.float().numpy()}
    if student is not None:
        out["student"] = sample_codi(student.eval(), c, schedule, steps, n_grid, noise=z).numpy()
    return out


def endpoint_error(student: nn.Module | None, n: int = 1000, seed: int = 1234, steps: int = 1,
                   n_grid: int = 50, schedule: NoiseSchedule | None = None) -> dict:
    """Mean Euclidean distance to the exact ODE endpoints from the *same* noise, for the
    student's K-step CoDi sampler (C8) (``"student"``, K = ``steps``, default 1 step from
    t = 980) and for the baseline of the same sampler with the exact denoiser
    (``"ddim1"``: one DDIM step (C3) = the posterior mean, which collapses toward the group
    mean). Also ``"grid"``: the error of DDIM with the exact denoiser on the whole N-grid,
    the student's training target, hence the floor of its error (about 0.02), and
    ``"student_mode_dist"``/``"exact_mode_dist"``: mean distance to the nearest mode of the
    right group. Introduced in notebooks/03_distillation.ipynb."""
    d = endpoint_data(student, n, seed, steps, n_grid, schedule)
    exact = torch.from_numpy(d["exact"])
    c = torch.from_numpy(d["cond"])
    res = {"ddim1": float((torch.from_numpy(d["ddim1"]) - exact).norm(dim=1).mean()),
           "grid": float((torch.from_numpy(d["grid"]) - exact).norm(dim=1).mean()),
           "exact_mode_dist": float(nearest_mode(exact, c)[1].mean())}
    if student is not None:
        s = torch.from_numpy(d["student"])
        res["student"] = float((s - exact).norm(dim=1).mean())
        res["student_mode_dist"] = float(nearest_mode(s, c)[1].mean())
    return res


@torch.no_grad()
def sampler_path(model: nn.Module, z: torch.Tensor, cond: torch.Tensor, steps: int = 4,
                 n_grid: int = 50, schedule: NoiseSchedule | None = None) -> dict:
    """The path of the K-step CoDi sampler (C8) on the toy, step by step: ``ts`` the K grid
    timesteps, ``z`` (K, n, 2) the input at each of them (z[0] is the noise) and ``f``
    (K, n, 2) the consistency output (C4) there; z[k+1] = alpha f[k] + sigma eps_hat[k]
    re-noises f[k] with the *predicted* noise eps_hat[k] = (z[k] - alpha_t f[k]) / sigma_t.
    The same computation as :func:`codi_lib.method.sampling.sample_codi` (whose output is
    f[-1], before clipping), kept step by step for the figure. Introduced in
    notebooks/03_distillation.ipynb."""
    from ...method.sampling import codi_sampling_timesteps
    from ...method.schedule import consistency_fn
    schedule = schedule or _default_schedule()
    ts = codi_sampling_timesteps(steps, schedule.T, n_grid)
    zs, fs, zk = [], [], z.clone()
    for i, t in enumerate(ts):
        tt = torch.full((zk.shape[0],), t, dtype=torch.long)
        x_hat, _ = schedule.to_x_eps(model(zk, tt, cond).float(), zk, tt)
        f = consistency_fn(zk, x_hat, tt)
        zs.append(zk.clone())
        fs.append(f)
        if i + 1 < len(ts):
            a, sg = schedule.alpha_sigma(t, zk.dim())
            a_n, s_n = schedule.alpha_sigma(ts[i + 1], zk.dim())
            zk = a_n * f + s_n * (zk - a * f) / sg
    return {"ts": list(ts), "z": torch.stack(zs).numpy(), "f": torch.stack(fs).numpy()}
