"""The conditional consistency loss of CoDi, part by part.

Each part is a named function so that notebook 05 can build the loss up step by step:
:func:`draw_grid_steps` (C5), :func:`ode_step` (C3 along the ODE model), :func:`consistency_output`
(C4), :func:`consistency_term` (C6), :func:`guidance_term` (C7), and :func:`codi_loss`, which
assembles them for the training loop. Options (paper Sec. 4 and the official code): which model takes
the ODE step, one n per batch or per sample, x- or eps-space consistency, lambda_cg and
the consistency weight (for the ablations), and N. Paper Sec. 4.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .schedule import NoiseSchedule, consistency_fn
from .tasks import degrade_batch


@dataclass
class CoDiLossConfig:
    """Options of the conditional consistency loss ((C5)-(C7))."""
    n_grid: int = 50            # N: distillation grid points, Delta = T / N
    # "student" (paper), "teacher" (what the official code's step amounts to, see ode_step),
    # "frozen" (CM-II)
    ode_model: str = "student"
    per_sample_n: bool = False  # False: one n per batch (paper); True: per sample (code)
    space: str = "x"            # consistency in "x" space (code default) or "eps" space
    lambda_cg: float = 1.0      # conditional guidance weight (0 disables it)
    lambda_cons: float = 1.0    # consistency weight (0 = "no consistency" ablation)

    def __post_init__(self):
        if self.ode_model not in ("student", "teacher", "frozen"):
            raise ValueError(f"loss.ode_model={self.ode_model!r}: use 'student', 'teacher' or 'frozen'")
        if self.space not in ("x", "eps"):
            raise ValueError(f"loss.space={self.space!r}: use 'x' or 'eps'")
        if self.n_grid < 2:
            raise ValueError(f"loss.n_grid must be >= 2, got {self.n_grid}")


def draw_grid_steps(batch: int, n_grid: int, T: int, per_sample: bool, gen: torch.Generator):
    """(C5): draw n in {1..N-1} (shared by the batch or per sample) and return
    (t, s) = (n Delta, (n - 1) Delta) as integer tensors of shape (batch,).
    Introduced in notebook 05."""
    if T % n_grid:
        raise ValueError(f"T={T} is not divisible by N={n_grid}")
    delta = T // n_grid
    n = torch.randint(1, n_grid, (batch if per_sample else 1,), generator=gen)
    n = n.expand(batch) if not per_sample else n
    return n * delta, (n - 1) * delta


@torch.no_grad()
def ode_step(ode_fn, z_t, t, s, cond, schedule: NoiseSchedule):
    """One deterministic DDIM step (C3) of the ODE model from t to s, without gradient:
    z_s = alpha_s x_hat + sigma_s eps_hat with (x_hat, eps_hat) = ODE model at (z_t, t, c).
    ``ode_fn(z, t, cond)`` is the student itself (paper), the frozen unconditional teacher
    (it ignores ``cond``) or a frozen conditional model (CM-II).

    The official code: its flag defaults (``--onestepode control
    --onestepode_control_params target``) select the conditional model with the *EMA*
    branch, but its jitted step reads the branch parameters captured at initialisation,
    whose zero convolutions output nothing. In effect its ODE step is the frozen
    unconditional teacher with the condition ignored, which ``"teacher"`` reproduces.
    Introduced in notebook 05."""
    out = ode_fn(z_t, t, cond).float()
    x_hat, eps_hat = schedule.to_x_eps(out, z_t, t)
    a_s, s_s = schedule.alpha_sigma(s, z_t.dim(), z_t.device)
    return a_s * x_hat + s_s * eps_hat


def consistency_output(model_fn, z, t, cond, schedule: NoiseSchedule):
    """(C4): f(z_t, t, c) = c_skip(t) z_t + c_out(t) x_hat(z_t, t, c). Used for the online
    prediction (with gradient) and the EMA target (call under ``torch.no_grad``).
    Introduced in notebook 03 (unconditional) and notebook 05 (conditional)."""
    out = model_fn(z, t, cond).float()
    x_hat, _ = schedule.to_x_eps(out, z, t)
    return consistency_fn(z, x_hat, t)


def consistency_term(f, f_target, space: str = "x", z_t=None, t=None, schedule=None,
                     z_s=None, s=None):
    """(C6): the consistency term. In x space (the official code's default)
    mean((f - f_target)^2). In eps space, as the official ``consistency_epsilon``
    option: the noise implied by the online prediction at z_t,
    eps = (z_t - alpha_t f) / sigma_t, against the noise implied by the EMA target at
    z_s, eps' = (z_s - alpha_s f_target) / sigma_s: mean((eps - eps')^2). Notebook 05."""
    if space == "x":
        return torch.mean((f - f_target) ** 2)
    a_t, s_t = schedule.alpha_sigma(t, z_t.dim(), z_t.device)
    a_s, s_s = schedule.alpha_sigma(s, z_s.dim(), z_s.device)
    eps_online = (z_t - a_t * f) / s_t
    eps_target = (z_s - a_s * f_target) / s_s
    return torch.mean((eps_online - eps_target) ** 2)


def guidance_term(f, x):
    """(C7): the conditional guidance toward the ground truth, mean((f - x)^2).
    Without it the paper reports over-saturated results. Notebook 05."""
    return torch.mean((f - x.float()) ** 2)


def codi_loss(schedule: NoiseSchedule, cfg: CoDiLossConfig, task, ode_model=None,
              encode=None, text=None):
    """The conditional consistency loss L = lambda_cons (C6) + lambda_cg (C7) as a
    ``loss_fn`` for :func:`codi_lib.training.loop.train_loop`.

    ``ode_model``: the frozen model for ``cfg.ode_model`` in ("teacher", "frozen");
    ignored for "student", where the online model itself (no gradient) takes the step.
    Latent/text models (:mod:`codi_lib.apps.latent`): ``encode(x, gen)`` maps the pixel batch to
    the diffusion space (scaled VAE latent; the condition stays in pixels) and
    ``text(x, gen, models)`` sets the batch's prompt context on the online, EMA and ODE
    models: the ODE step never uses guidance (see :mod:`codi_lib.method.guidance`).
    Introduced in notebook 05."""
    if cfg.ode_model != "student" and ode_model is None:
        raise ValueError(f"loss.ode_model={cfg.ode_model!r} needs a frozen ode_model")

    def loss_fn(model, ema_model, x, gen, step):
        b = x.shape[0]
        cond, x = degrade_batch(task, x, gen)  # depth: channel 4 of x is the condition's
        cond = cond.to(x.device)
        if text is not None:
            text(x, gen, (model, ema_model, ode_model))
        if encode is not None:
            x = encode(x, gen)
        t, s = draw_grid_steps(b, cfg.n_grid, schedule.T, cfg.per_sample_n, gen)
        t, s = t.to(x.device), s.to(x.device)
        eps = torch.randn(x.shape, generator=gen).to(x.device)
        z_t = schedule.add_noise(x, eps, t)
        ode_fn = model if cfg.ode_model == "student" else ode_model
        z_s = ode_step(ode_fn, z_t, t, s, cond, schedule)
        with torch.no_grad():
            f_target = consistency_output(ema_model, z_s, s, cond, schedule)
        f = consistency_output(model, z_t, t, cond, schedule)
        l_cons = consistency_term(f, f_target, cfg.space, z_t, t, schedule, z_s, s)
        l_cg = guidance_term(f, x)
        loss = cfg.lambda_cons * l_cons + cfg.lambda_cg * l_cg
        return loss, {"l_cons": l_cons.detach(), "l_cg": l_cg.detach()}

    return loss_fn
