"""A 2-D toy with an exact answer: conditional consistency distillation on a Gaussian mixture.

The data are a 2-D mixture of six small isotropic Gaussians, three on each side of the
y-axis; the condition is the side, c = sign(x_1) in {-1, +1} (one channel). For a Gaussian
mixture the posterior mean E[x | z_t, c] is known in closed form, so we have an *exact*
denoiser (:class:`ExactDenoiser`, a v-prediction like every network of the course) and,
by integrating the probability-flow ODE with it, the *exact* ODE endpoints
(:func:`exact_ode_endpoint`). A small MLP student (:class:`ToyStudent`) trained from
scratch with the unchanged CoDi loss (:func:`codi_lib.losses.codi_loss`, (C5)-(C7)) then
lands in one step (C8) on those endpoints, while one DDIM step with the exact denoiser
(the posterior mean) collapses toward the group mean (:func:`endpoint_error`).

Everything here reuses the library: the schedule and conversions of
:mod:`codi_lib.schedule` ((C1)-(C4)), the loss of :mod:`codi_lib.losses`, the EMA of
:mod:`codi_lib.train_loop` (C9) and the sampler of :mod:`codi_lib.sampling` (C8).
The functions return tensors or numpy arrays only (no plotting), so the notebook draws.
Introduced in ``notebooks/03_distillation.ipynb``.
"""
from __future__ import annotations

import copy
import math
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from .losses import CoDiLossConfig, codi_loss
from .sampling import sample_codi
from .schedule import NoiseSchedule, ScheduleConfig, ddim_step, x_eps_to_pred
from .tasks import Task
from .train_loop import ema_update, step_generator

# --------------------------------------------------------------------------- the data

#: Component means: three modes right of the y-axis (group +1), three left (group -1).
#: Modes of one group are >= 0.6 apart; modes of different groups are >= 0.85 apart.
MEANS = torch.tensor([[0.45, 0.55], [0.75, -0.05], [0.35, -0.60],
                      [-0.40, 0.60], [-0.70, 0.05], [-0.50, -0.55]], dtype=torch.float64)
#: Mixture weights (normalised), deliberately unequal so that the ODE regions differ in size.
WEIGHTS = torch.tensor([0.20, 0.15, 0.15, 0.15, 0.20, 0.15], dtype=torch.float64)
#: Isotropic standard deviation of every component (|mean_1| >= 0.35 = 7 std: the side
#: of the y-axis, hence the condition, is the component's group with certainty).
STD = 0.05
#: Group (the condition value) of each component: the sign of its first coordinate.
GROUPS = torch.sign(MEANS[:, 0])


def toy_schedule() -> NoiseSchedule:
    """The schedule of the toy: (C1) with T = 1000, linear betas and v-prediction (the
    course defaults). Introduced in notebooks/03_distillation.ipynb."""
    return NoiseSchedule(ScheduleConfig(prediction_type="v_prediction"))


def toy_samples(n: int, gen: torch.Generator | None = None, group: int | None = None) -> torch.Tensor:
    """``n`` clean samples x of the mixture as a float32 (n, 2) tensor; ``group`` = +1/-1
    draws from that group's sub-mixture only (the exact conditional distribution).
    These are the x of (C1). Introduced in notebooks/03_distillation.ipynb."""
    w = WEIGHTS.clone()
    if group is not None:
        w = w * (GROUPS == float(np.sign(group)))
    k = torch.multinomial(w, n, replacement=True, generator=gen)
    noise = torch.randn(n, 2, generator=gen, dtype=torch.float64)
    return (MEANS[k] + STD * noise).float()


def group_condition(x: torch.Tensor, gen: torch.Generator | None = None) -> torch.Tensor:
    """The toy's ``degrade``: c = sign(x_1) as one channel, shape (n, 1), values +1/-1 (0 is
    mapped to +1). Deterministic; ``gen`` is accepted for the :class:`~codi_lib.tasks.Task`
    interface. It is the condition c of (C4)-(C7). Introduced in notebooks/03_distillation.ipynb."""
    return torch.where(x[:, :1] >= 0, 1.0, -1.0).to(x.dtype)


#: The toy as a :class:`~codi_lib.tasks.Task`, so ``codi_loss(..., task=TOY_TASK)`` works
#: unchanged ((C6)-(C7)). ``show`` returns the condition itself (the notebook plots it).
TOY_TASK = Task("toy2d", "2-D Gaussian mixture; condition = side of the y-axis", 1,
                group_condition, lambda c: c)


# ------------------------------------------------------------------ exact denoiser

def _group_mask(cond: torch.Tensor | None, n: int) -> torch.Tensor:
    """(n, K) boolean: which components belong to each sample's group (all if no cond)."""
    if cond is None:
        return torch.ones(n, len(MEANS), dtype=torch.bool)
    c = torch.where(cond.reshape(n, -1)[:, :1].detach().cpu() >= 0, 1.0, -1.0).double()
    return c == GROUPS[None, :]


def posterior_mean(z: torch.Tensor, alpha, sigma, cond: torch.Tensor | None = None) -> torch.Tensor:
    """Closed-form E[x | z, c] for z = alpha x + sigma eps (C1), x ~ the mixture of group c.

    Component k: z | k ~ N(alpha mu_k, v I) with v = alpha^2 s^2 + sigma^2, and
    E[x | z, k] = mu_k + (alpha s^2 / v)(z - alpha mu_k). The answer is the average of these
    per-component means with the softmax responsibilities
    r_k proportional to w_k N(z; alpha mu_k, v I) over the components of group c (all six
    when ``cond`` is None: the unconditional mixture). ``alpha``/``sigma`` are floats or
    tensors broadcastable to (n, 1), so continuous times work too (used by the ODE solver).
    Computed in float64; returns z's dtype. Introduced in notebooks/03_distillation.ipynb.
    """
    n = z.shape[0]
    z64 = z.detach().cpu().double().reshape(n, 2)
    a = torch.as_tensor(alpha, dtype=torch.float64).cpu().reshape(-1, 1)
    s = torch.as_tensor(sigma, dtype=torch.float64).cpu().reshape(-1, 1)
    v = a ** 2 * STD ** 2 + s ** 2                                    # (n|1, 1)
    diff = z64[:, None, :] - a[:, :, None] * MEANS[None]              # (n, K, 2)
    logit = torch.log(WEIGHTS)[None] - (diff ** 2).sum(-1) / (2 * v) - torch.log(v)
    logit = logit.masked_fill(~_group_mask(cond, n), -math.inf)
    r = torch.softmax(logit, dim=1)                                   # (n, K)
    x_k = MEANS[None] + (a * STD ** 2 / v)[:, :, None] * diff         # (n, K, 2)
    x = (r[:, :, None] * x_k).sum(1)
    return x.to(z.device, z.dtype).reshape(z.shape)


def exact_x0(z: torch.Tensor, t, c: torch.Tensor | None = None,
             schedule: NoiseSchedule | None = None) -> torch.Tensor:
    """The exact x_hat(z_t, t, c) = E[x | z_t, c] at integer timesteps ``t`` (C1):
    :func:`posterior_mean` with the schedule's (alpha_t, sigma_t); t = -1 returns z.
    Introduced in notebooks/03_distillation.ipynb."""
    schedule = schedule or _default_schedule()
    a, s = schedule.alpha_sigma(torch.as_tensor(t).cpu(), 2)
    return posterior_mean(z, a.double(), s.double(), c)


class ExactDenoiser(nn.Module):
    """The exact conditional denoiser as a drop-in "network": ``forward(z, t, cond)``
    returns the v-prediction v = alpha eps_hat - sigma x_hat ((C2) inverted, via
    :func:`~codi_lib.schedule.x_eps_to_pred`) with x_hat = :func:`exact_x0` and
    eps_hat = (z - alpha x_hat) / sigma. It plugs in wherever a network does:
    :func:`~codi_lib.losses.ode_step` (the frozen ODE model of (C6)), :func:`sample_codi`
    (C8) or the diffusers samplers of :mod:`codi_lib.sampling` (bind ``cond`` with a lambda).
    ``conditional=False`` ignores ``cond`` (the unconditional mixture, like the official
    code's unconditional teacher). Introduced in notebooks/03_distillation.ipynb."""

    def __init__(self, schedule: NoiseSchedule | None = None, conditional: bool = True):
        super().__init__()
        self.schedule = schedule or _default_schedule()
        self.conditional = conditional

    def forward(self, z: torch.Tensor, t, cond: torch.Tensor | None = None) -> torch.Tensor:
        t = torch.as_tensor(t).cpu()
        x = exact_x0(z, t, cond if self.conditional else None, self.schedule)
        a, s = self.schedule.alpha_sigma(t, z.dim(), z.device)
        a, s = a.to(z.dtype), s.to(z.dtype)
        eps = (z - a * x) / s
        return x_eps_to_pred(x, eps, a, s, self.schedule.prediction_type)


_SCHEDULE: NoiseSchedule | None = None


def _default_schedule() -> NoiseSchedule:
    global _SCHEDULE
    if _SCHEDULE is None:
        _SCHEDULE = toy_schedule()
    return _SCHEDULE


# --------------------------------------------------------------- exact ODE endpoints

@torch.no_grad()
def ode_trajectory(z_T: torch.Tensor, c: torch.Tensor | None, t_start: int = 980, t_end: int = 0,
                   stride: int = 1, method: str = "heun",
                   schedule: NoiseSchedule | None = None) -> torch.Tensor:
    """The probability-flow ODE path with the exact denoiser from z at ``t_start`` to
    ``t_end`` over the integer timesteps t_start, t_start - stride, ..., t_end.
    Returns the float64 states, shape (n_points, n, 2), first = z_T, last = the endpoint.

    ``method="ddim"``: the DDIM step (C3), z_s = alpha_s x_hat + sigma_s eps_hat, which is
    the exact Euler scheme of the ODE dy/drho = eps_hat(z) in y = z/alpha, rho = sigma/alpha
    (first order: 980 unit steps still leave about 1e-3 of error, mostly near t = 0 where
    rho changes by 40 % per step). ``method="heun"`` (default): the second-order
    (trapezoidal) version, one DDIM step (C3) with the average of eps_hat at both ends
    (eps_hat at s taken at the plain DDIM prediction), converged to about 1e-5 with stride 1.
    Introduced in notebooks/03_distillation.ipynb."""
    schedule = schedule or _default_schedule()
    if method not in ("ddim", "heun"):
        raise ValueError(f"method={method!r}: use 'ddim' or 'heun'")
    if not 0 <= t_end < t_start < schedule.T or (t_start - t_end) % stride:
        raise ValueError(f"need 0 <= t_end < t_start < T with stride {stride} dividing "
                         f"t_start - t_end (got {t_start}, {t_end})")
    ts = list(range(t_start, t_end - 1, -stride))
    a_all, s_all = (v.double()[:, None] for v in schedule.alpha_sigma(torch.tensor(ts), 1))

    def x_eps(z, i):
        x = posterior_mean(z, a_all[i], s_all[i], c)
        return x, (z - a_all[i] * x) / s_all[i]

    z = z_T.detach().cpu().double().reshape(-1, 2)
    path = [z]
    x, eps = x_eps(z, 0)
    for i in range(len(ts) - 1):
        z_pred = ddim_step(x, eps, a_all[i + 1], s_all[i + 1])
        x_n, eps_n = x_eps(z_pred, i + 1)
        if method == "heun":
            eps_bar = 0.5 * (eps + eps_n)
            x_bar = (z - s_all[i] * eps_bar) / a_all[i]
            z = ddim_step(x_bar, eps_bar, a_all[i + 1], s_all[i + 1])
            x, eps = x_eps(z, i + 1)
        else:
            z, x, eps = z_pred, x_n, eps_n
        path.append(z)
    return torch.stack(path)


def exact_ode_endpoint(z_T: torch.Tensor, c: torch.Tensor | None, t_start: int = 980,
                       t_end: int = 0, stride: int = 1, method: str = "heun",
                       schedule: NoiseSchedule | None = None) -> torch.Tensor:
    """The exact ODE endpoint: the end of :func:`ode_trajectory` (steps (C3) with the exact
    denoiser on every integer timestep from ``t_start`` to ``t_end``, second order by
    default), as a float32 (n, 2) tensor.

    The default ends at t = 0, the boundary of the consistency function (C4): f(z, 0) = z,
    so this is exactly what a perfect CoDi student's f(z_T, t_start, c) should output
    (z_0 differs from the clean x_hat(z_0, 0) by about sigma_0 = 0.01). It is the exact
    consistency function f*(z_t, t, c) for t = ``t_start``. Note that the CoDi student is
    trained toward the DDIM-on-the-N-grid version (``stride=20, method="ddim"``), which
    differs from the exact endpoints by about 0.02 on average: the floor of the student's
    endpoint error. Introduced in notebooks/03_distillation.ipynb."""
    return ode_trajectory(z_T, c, t_start, t_end, stride, method, schedule)[-1].float()


def exact_ode_endpoint_ivp(z_T: torch.Tensor, c: torch.Tensor | None, t_start: int = 980,
                           t_end: int = 0, rtol: float = 1e-8, atol: float = 1e-9,
                           schedule: NoiseSchedule | None = None) -> torch.Tensor:
    """The same endpoint by an adaptive solver (scipy ``solve_ivp``, RK45) on the
    continuous-time probability-flow ODE, independent of the DDIM discretisation (C3):
    with y = z/alpha, rho = sigma/alpha and u = log rho, dy/du = rho eps_hat(z, alpha, sigma),
    alpha = 1/sqrt(1 + rho^2), sigma = rho alpha, eps_hat from :func:`posterior_mean` (C2).
    Used to check :func:`exact_ode_endpoint`. Introduced in notebooks/03_distillation.ipynb."""
    from scipy.integrate import solve_ivp
    schedule = schedule or _default_schedule()
    n = z_T.shape[0]

    def rho_of(t):
        a, s = schedule.alpha_sigma(t, 1)
        return float(a.double()), float(s.double()) / float(a.double())

    a0, rho0 = rho_of(t_start)
    _, rho1 = rho_of(t_end)
    y0 = (z_T.detach().cpu().double() / a0).reshape(-1).numpy()

    def rhs(u, y):
        rho = math.exp(u)
        a = 1.0 / math.sqrt(1.0 + rho * rho)
        s = rho * a
        z = torch.from_numpy(a * y).reshape(n, 2)
        x = posterior_mean(z, a, s, c)
        eps = (z - a * x) / s
        return (rho * eps).reshape(-1).numpy()

    sol = solve_ivp(rhs, (math.log(rho0), math.log(rho1)), y0, method="RK45",
                    rtol=rtol, atol=atol)
    if not sol.success:
        raise RuntimeError(f"solve_ivp failed: {sol.message}")
    a1 = 1.0 / math.sqrt(1.0 + rho1 ** 2)
    return torch.from_numpy(a1 * sol.y[:, -1]).reshape(n, 2).float()


def nearest_mode(x: torch.Tensor, c: torch.Tensor | None = None):
    """For each point, (index, distance) of the nearest component mean (of its group c if
    given). Used to check that endpoints lie on the data modes (the support of the x of
    (C1)). Introduced in notebooks/03_distillation.ipynb."""
    d = torch.cdist(x.detach().cpu().double(), MEANS)
    d = d.masked_fill(~_group_mask(c, x.shape[0]), math.inf)
    dist, idx = d.min(1)
    return idx, dist.float()


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
    v-prediction with the schedule ((C2) inverted, :func:`~codi_lib.schedule.x_eps_to_pred`),
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


def train_toy_student(loss_cfg: CoDiLossConfig | None = None, steps: int = 3000, batch: int = 256,
                      lr: float = 2e-2, seed: int = 0, ode_model: nn.Module | None = None,
                      ema_decay: float = 0.9, width: int = 128, depth: int = 3, head: str = "x",
                      schedule: NoiseSchedule | None = None, log_every: int = 50) -> ToyRun:
    """Distil the toy with the unchanged CoDi loss: (C5) grid steps, (C3) one ODE step of
    the ODE model, (C4) consistency outputs, (C6) consistency term, (C7) guidance term,
    (C9) EMA target, all through :func:`codi_lib.losses.codi_loss` with ``TOY_TASK``.

    The loop: AdamW (no weight decay) with ``lr`` decayed by a cosine to 0, gradient
    clipping at 1.0, the EMA of :func:`~codi_lib.train_loop.ema_update` after every step,
    and per-step generators :func:`~codi_lib.train_loop.step_generator` (seed, step), so a
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
