"""The 2-D toy problem and its exact answer: the Gaussian-mixture data, the exact
denoiser (closed-form posterior mean) and the exact probability-flow ODE endpoints.
See :mod:`codi_lib.course.toy`. Introduced in ``notebooks/03_distillation.ipynb``; (C1)-(C3).
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from ...method.losses import codi_loss
from ...method.sampling import sample_codi
from ...method.schedule import NoiseSchedule, ScheduleConfig, ddim_step, x_eps_to_pred
from ...method.tasks import Task


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
    mapped to +1). Deterministic; ``gen`` is accepted for the :class:`~codi_lib.method.tasks.Task`
    interface. It is the condition c of (C4)-(C7). Introduced in notebooks/03_distillation.ipynb."""
    return torch.where(x[:, :1] >= 0, 1.0, -1.0).to(x.dtype)


#: The toy as a :class:`~codi_lib.method.tasks.Task`, so ``codi_loss(..., task=TOY_TASK)`` works
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
    :func:`~codi_lib.method.schedule.x_eps_to_pred`) with x_hat = :func:`exact_x0` and
    eps_hat = (z - alpha x_hat) / sigma. It plugs in wherever a network does:
    :func:`~codi_lib.method.losses.ode_step` (the frozen ODE model of (C6)), :func:`sample_codi`
    (C8) or the diffusers samplers of :mod:`codi_lib.method.sampling` (bind ``cond`` with a lambda).
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


