"""Diffusion core: the noise schedule, prediction conversions, the DDIM step and the
consistency boundary scalings.

Everything that converts between eps, v and x predictions lives here and only here
(see the equation sheet in ``codi_lib/__init__.py``). Introduced in ``notebooks/01_diffusion_basics.ipynb``
(schedule, conversions, DDIM) and ``notebooks/03_distillation.ipynb`` (c_skip/c_out).

Paper: Mei et al., "CoDi: Conditional Diffusion Distillation" (arXiv 2310.01407).
Docstrings cite the course's equation sheet (see ``codi_lib/__init__.py``), which
follows the paper's Sec. 3-4 and the equation sheet: (C1) forward process, (C2)
prediction conversions, (C3) DDIM step, (C4) consistency parameterisation.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from diffusers import DDPMScheduler

PREDICTION_TYPES = ("epsilon", "v_prediction", "sample")


def check_prediction_type(prediction_type: str) -> str:
    """Validate a prediction-type string (diffusers' spelling) and return it.

    A mismatched string silently broke the official code; here it is an error.
    """
    if prediction_type not in PREDICTION_TYPES:
        raise ValueError(
            f"prediction_type={prediction_type!r} is not one of {PREDICTION_TYPES}")
    return prediction_type


@dataclass(frozen=True)
class ScheduleConfig:
    """The discrete DDPM schedule of (C1) (T training steps; paper Sec. 3)."""
    num_train_timesteps: int = 1000
    beta_schedule: str = "linear"  # "linear" (pixel space) or "scaled_linear" (SD)
    beta_start: float = 0.0001
    beta_end: float = 0.02
    prediction_type: str = "v_prediction"


class NoiseSchedule:
    """alpha_t = sqrt(abar_t), sigma_t = sqrt(1 - abar_t) for integer t in [0, T).

    The betas come from diffusers' ``DDPMScheduler`` so that our numbers and the
    diffusers samplers agree exactly. Implements (C1), the forward process.
    Introduced in notebook 01.
    """

    def __init__(self, config: ScheduleConfig | None = None):
        self.config = config or ScheduleConfig()
        check_prediction_type(self.config.prediction_type)
        self.scheduler = make_diffusers_scheduler(DDPMScheduler, self.config)
        abar = self.scheduler.alphas_cumprod.to(torch.float64)
        self.alphas_cumprod = abar
        self.alpha = abar.sqrt().float()
        self.sigma = (1.0 - abar).sqrt().float()
        self.T = self.config.num_train_timesteps
        self.prediction_type = self.config.prediction_type

    def alpha_sigma(self, t: torch.Tensor | int, ndim: int = 4, device=None):
        """Return (alpha_t, sigma_t) broadcastable to a tensor with ``ndim`` dims.

        ``t`` may be an int, a 0-d or a 1-d tensor of integer timesteps; t = -1 stands
        for the clean end (alpha = 1, sigma = 0), as used by the last DDIM step.
        """
        t = torch.as_tensor(t, dtype=torch.long)
        if t.dim() == 0:
            t = t[None]
        if (t >= self.T).any() or (t < -1).any():
            raise ValueError(f"timestep out of range [-1, {self.T - 1}]: {t.tolist()}")
        a_ext = torch.cat([torch.ones(1), self.alpha])
        s_ext = torch.cat([torch.zeros(1), self.sigma])
        a = a_ext[t + 1]
        s = s_ext[t + 1]
        shape = (-1,) + (1,) * (ndim - 1)
        dev = device if device is not None else "cpu"
        return a.view(shape).to(dev), s.view(shape).to(dev)

    def add_noise(self, x: torch.Tensor, eps: torch.Tensor, t) -> torch.Tensor:
        """(C1): z_t = alpha_t x + sigma_t eps. Introduced in notebook 01."""
        a, s = self.alpha_sigma(t, x.dim(), x.device)
        return a.to(x.dtype) * x + s.to(x.dtype) * eps

    def target(self, x: torch.Tensor, eps: torch.Tensor, t) -> torch.Tensor:
        """The regression target of the ordinary denoising loss for this schedule's
        prediction type: eps, v = alpha eps - sigma x, or x. Introduced in notebook 01."""
        if self.prediction_type == "epsilon":
            return eps
        if self.prediction_type == "sample":
            return x
        a, s = self.alpha_sigma(t, x.dim(), x.device)
        return a * eps - s * x

    def to_x_eps(self, model_output: torch.Tensor, z: torch.Tensor, t):
        """Convert a network output at (z_t, t) to (x_hat, eps_hat).

        eps-pred: x = (z - sigma eps) / alpha; v-pred: x = alpha z - sigma v,
        eps = alpha v + sigma z; x-pred: eps = (z - alpha x) / sigma ((C2)).
        Introduced in notebook 01.
        """
        a, s = self.alpha_sigma(t, z.dim(), z.device)
        return pred_to_x_eps(model_output, z, a, s, self.prediction_type)


def pred_to_x_eps(out, z, alpha, sigma, prediction_type: str):
    """(C2): convert a model output to (x_hat, eps_hat) given alpha_t, sigma_t tensors.

    The single place where eps/v/x conversions live ((C2)).
    Introduced in notebook 01.
    """
    check_prediction_type(prediction_type)
    if prediction_type == "epsilon":
        eps = out
        x = (z - sigma * eps) / alpha
    elif prediction_type == "v_prediction":
        x = alpha * z - sigma * out
        eps = alpha * out + sigma * z
    else:
        x = out
        eps = (z - alpha * x) / sigma.clamp_min(1e-8)
    return x, eps


def x_eps_to_pred(x, eps, alpha, sigma, prediction_type: str):
    """(C2) inverted: the inverse of :func:`pred_to_x_eps`: express (x, eps) as eps, v = alpha eps - sigma x,
    or x. Introduced in notebook 01."""
    check_prediction_type(prediction_type)
    if prediction_type == "epsilon":
        return eps
    if prediction_type == "v_prediction":
        return alpha * eps - sigma * x
    return x


def ddim_step(x_hat, eps_hat, alpha_next, sigma_next):
    """(C3), the deterministic DDIM step (eta = 0): z_s = alpha_s x_hat + sigma_s eps_hat.

    Given the predictions at the current point, this is the exact update of the
    probability-flow ODE under the DDIM discretisation. Introduced in notebook 01;
    it is also the "one ODE step" of the conditional consistency loss (notebook 05).
    """
    return alpha_next * x_hat + sigma_next * eps_hat


SIGMA_DATA = 0.5
KAPPA = 10.0


def c_skip(t, sigma_data: float = SIGMA_DATA, kappa: float = KAPPA):
    """(C4) boundary scaling: c_skip(t) = sigma_data^2 / ((kappa t)^2 + sigma_data^2).

    ``t`` is the integer timestep (C4), so c_skip(0) = 1 and f(z, 0) = z.
    Introduced in notebook 03.
    """
    t = torch.as_tensor(t, dtype=torch.float64)  # float64, then rounded: stays monotone
    return (sigma_data ** 2 / ((kappa * t) ** 2 + sigma_data ** 2)).float()


def c_out(t, sigma_data: float = SIGMA_DATA, kappa: float = KAPPA):
    """(C4) boundary scaling: c_out(t) = kappa t / sqrt((kappa t)^2 + sigma_data^2).

    c_out(0) = 0, so the consistency function is the identity at t = 0.
    Introduced in notebook 03.
    """
    t = torch.as_tensor(t, dtype=torch.float64)  # float64, then rounded: stays monotone
    return (kappa * t / torch.sqrt((kappa * t) ** 2 + sigma_data ** 2)).float()


def consistency_fn(z, x_hat, t):
    """(C4): f(z_t, t) = c_skip(t) z_t + c_out(t) x_hat(z_t, t). Introduced in notebook 03."""
    t = torch.as_tensor(t)
    shape = (-1,) + (1,) * (z.dim() - 1)
    cs = c_skip(t).reshape(shape).to(z.device, z.dtype) if t.dim() else c_skip(t).to(z.device, z.dtype)
    co = c_out(t).reshape(shape).to(z.device, z.dtype) if t.dim() else c_out(t).to(z.device, z.dtype)
    return cs * z + co * x_hat


def distillation_grid(num_train_timesteps: int = 1000, n_grid: int = 50):
    """(C5) the N-point distillation grid (paper Sec. 4): t_n = n * Delta, Delta = T / N.

    Returns the integer timesteps [0, Delta, ..., (N-1) Delta]. Introduced in notebook 05.
    """
    if num_train_timesteps % n_grid:
        raise ValueError(f"T={num_train_timesteps} is not divisible by N={n_grid}")
    delta = num_train_timesteps // n_grid
    return [n * delta for n in range(n_grid)]


def codi_sampling_timesteps(num_steps: int, num_train_timesteps: int = 1000,
                            n_grid: int = 50):
    """(C8) timesteps of the K-step CoDi sampler (paper Sec. 4): the grid
    {(N-1)Delta, ..., Delta} taken every ceil(N/K)-th point.

    N = 50: K = 1 -> [980]; K = 4 -> [980, 720, 460, 200]. Where that stride leaves fewer
    than K points (K = 8: every 7th point gives 7), the stride (N - 1) // K is used so the
    sampler makes exactly K network evaluations (K = 8 -> [980, 860, ..., 140]).

    The official pipeline agrees for K = 1, 2 and 4. For K = 8 it keeps the stride
    ceil(N/K) = 7 on a grid that includes t = 0, giving [980, 840, ..., 140, 0]: its
    eighth evaluation is at t = 0, where c_skip = 1 and c_out = 0, so that step returns
    its input and the official 8-step sampler makes 7 informative evaluations on a
    stride-7 grid; ours makes 8 on a stride-6 grid. The benchmark's 8-step rows are
    ours, not the official grid. Introduced in notebook 05.
    """
    if num_steps < 1:
        raise ValueError(f"num_steps must be >= 1, got {num_steps}")
    delta = num_train_timesteps // n_grid
    desc = [n * delta for n in range(n_grid - 1, 0, -1)]
    if num_steps > len(desc):
        raise ValueError(f"num_steps={num_steps} exceeds the {len(desc)} grid points")
    stride = math.ceil(n_grid / num_steps)
    if len(desc[::stride]) < num_steps:  # e.g. K = 8: ceil(50/8) = 7 leaves only 7 points
        stride = len(desc) // num_steps
    return desc[::stride][:num_steps]


def make_diffusers_scheduler(cls, config: ScheduleConfig, **kwargs):
    """Build a diffusers scheduler class (DDPM, DDIM, DPM-Solver++) on our schedule."""
    return cls(num_train_timesteps=config.num_train_timesteps,
               beta_schedule=config.beta_schedule, beta_start=config.beta_start,
               beta_end=config.beta_end, prediction_type=config.prediction_type,
               **kwargs)
