"""Exercises of notebook 05: the CoDi loss (C5)-(C7); registered in :data:`~codi_lib.course.exercises.EXERCISES`.
Messages go through :func:`~.i18n.tr` (the course's language)."""
from __future__ import annotations

import torch
from ...method import losses as L
from ...method import schedule as S
from ...method import tasks as T
from .i18n import Msg, tr
from .machinery import (Case, CheckResult, EXERCISES, _as_tensor, _close, _randn, _schedule, register, run_cases)


# --------------------------------------------------------------------------- 05: the CoDi loss


def reference_codi_loss(model, ema_model, x, cond, gen, schedule, cfg):
    """The conditional consistency loss of notebook 05, part by part, in the library's
    order of random draws: (C5) grid steps, then the noise; (C1) z_t; (C3) one ODE step
    of the online model (no gradient) to z_s; (C4) the EMA target at (z_s, s) under
    no_grad and the online prediction at (z_t, t); (C6) + lambda_cg (C7)."""
    b = x.shape[0]
    t, s = L.draw_grid_steps(b, cfg.n_grid, schedule.T, cfg.per_sample_n, gen)
    eps = torch.randn(x.shape, generator=gen)
    z_t = schedule.add_noise(x, eps, t)
    z_s = L.ode_step(model, z_t, t, s, cond, schedule)
    with torch.no_grad():
        f_target = L.consistency_output(ema_model, z_s, s, cond, schedule)
    f = L.consistency_output(model, z_t, t, cond, schedule)
    l_cons = L.consistency_term(f, f_target)
    l_cg = L.guidance_term(f, x)
    return cfg.lambda_cons * l_cons + cfg.lambda_cg * l_cg


class _TinyCondNet(torch.nn.Module):
    """A small deterministic stand-in for the conditional network: raw output from
    (z, t, cond), so the checker runs in milliseconds."""

    def __init__(self, seed: int, cond_channels: int = 3):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.conv = torch.nn.Conv2d(3 + cond_channels, 3, 3, padding=1)
        with torch.no_grad():
            self.conv.weight.copy_(torch.randn(self.conv.weight.shape, generator=g) * 0.2)
            self.conv.bias.copy_(torch.randn(3, generator=g) * 0.1)
        self.t_scale = torch.nn.Parameter(torch.tensor(0.5))

    def forward(self, z, t, cond):
        t = torch.as_tensor(t, dtype=torch.float32).reshape(-1, 1, 1, 1) / 1000
        return self.conv(torch.cat([z, cond], 1)) * (1 + self.t_scale * t)


def _ema_copy(model, seed: int):
    ema = _TinyCondNet(seed)
    with torch.no_grad():
        for pe, p in zip(ema.parameters(), model.parameters()):
            pe.copy_(p + 0.3 * torch.randn(p.shape, generator=torch.Generator().manual_seed(seed + 7)))
    return ema


def _codi_variant(model, ema, x, cond, seed, schedule, cfg, **w):
    """The loss with one known mistake ``w`` (see :func:`_codi_cases`)."""
    gen = torch.Generator().manual_seed(seed)
    b = x.shape[0]
    if w.get("eps_first"):
        eps = torch.randn(x.shape, generator=gen)
        t, s = L.draw_grid_steps(b, cfg.n_grid, schedule.T, cfg.per_sample_n, gen)
    else:
        t, s = L.draw_grid_steps(b, cfg.n_grid, schedule.T, cfg.per_sample_n, gen)
        eps = torch.randn(x.shape, generator=gen)
    z_t = schedule.add_noise(x, eps, t)
    online, target_net = (ema, model) if w.get("swap") else (model, ema)
    ode_net = ema if w.get("ode_ema") else model
    z_s = L.ode_step(ode_net, z_t, t, s, cond, schedule)

    def f_of(net, z, tt):
        out = net(z, tt, cond).float()
        x_hat, _ = schedule.to_x_eps(out, z, tt)
        if w.get("no_cskip"):
            return S.c_out(tt).reshape(-1, 1, 1, 1) * x_hat
        if w.get("x_hat"):
            return x_hat
        return S.consistency_fn(z, x_hat, tt)

    zt_target, t_target = (z_t, t) if w.get("target_at_zt") else (z_s, s)
    if w.get("target_time_t"):
        t_target = t
    if w.get("no_ode"):
        zt_target = schedule.add_noise(x, eps, s)  # fresh re-noising with the same eps
    with torch.no_grad():
        f_target = f_of(target_net, zt_target, t_target)
    f = f_of(online, z_t, t)
    l_cons = torch.mean((f - f_target) ** 2)
    l_cg = torch.mean((f - (cond if w.get("cg_cond") else x)) ** 2)
    lc, lg = cfg.lambda_cons, cfg.lambda_cg
    if w.get("weights_swapped"):
        lc, lg = lg, lc
    if w.get("no_weight"):
        lg = 1.0
    if w.get("no_cons_weight"):
        lc = 1.0
    if w.get("minus"):
        return lc * l_cons - lg * l_cg
    return lc * l_cons + lg * l_cg


_CODI_MISTAKES = {
    "wrong sign: the guidance term is added, L = lambda_cons L_cons + lambda_cg L_cg (C7).":
        {"minus": True},
    "c_skip is missing: f = c_skip(t) z_t + c_out(t) x_hat (C4); "
    "losses.consistency_output builds it.": {"no_cskip": True},
    "you used x_hat directly; the consistency function is f = c_skip z_t + c_out x_hat (C4).":
        {"x_hat": True},
    "the guidance weight is not applied: multiply the guidance term by cfg.lambda_cg.":
        {"no_weight": True},
    "the consistency weight is not applied: multiply the consistency term by cfg.lambda_cons.":
        {"no_cons_weight": True},
    "the two weights are swapped: lambda_cons multiplies the consistency term, lambda_cg the "
    "guidance term.": {"weights_swapped": True},
    "the EMA and online models are swapped: the prediction f(z_t, t) comes from `model` (with "
    "gradient), the target f(z_s, s) from `ema_model` (under torch.no_grad).": {"swap": True},
    "the ODE step used the EMA model; with cfg.ode_model == 'student' the step (C3) is taken "
    "by the online `model` itself (ode_step runs it without gradient).": {"ode_ema": True},
    "the target is evaluated at (z_t, t); it must be at the ODE step's result, (z_s, s).":
        {"target_at_zt": True},
    "the target is evaluated at z_s but with timestep t; use (z_s, s).": {"target_time_t": True},
    "z_s must come from one ODE step of the model (losses.ode_step), not from re-noising x to "
    "level s: consistency is about points of the same ODE trajectory.": {"no_ode": True},
    "the guidance term pulls toward the condition; it pulls toward the ground truth x (C7).":
        {"cg_cond": True},
    "random numbers drawn in another order: draw (t, s) with draw_grid_steps first, then eps "
    "with torch.randn(x.shape, generator=gen), as codi_loss does, so that the same generator "
    "gives the same training example.": {"eps_first": True},
}


def _codi_cases():
    sch = _schedule("v_prediction")
    # (label, lambda_cg, lambda_cons, batch, generator seed); the seeds fix the grid index n
    specs = [("lambda_cg = 0.5, lambda_cons = 1", 0.5, 1.0, 4, 721),              # n = 25
             ("lambda_cg = 0, n = 1: t = 20, s = 0, where the target must be z_s exactly "
              "(c_skip(0) = 1)", 0.0, 1.0, 3, 657),
             ("lambda_cg = 0, n = 44: t = 880, s = 860", 0.0, 1.0, 3, 630),
             ("lambda_cg = 2, lambda_cons = 0.25", 2.0, 0.25, 2, 633)]                 # n = 5
    cases = []
    for k, (label, lcg, lcons, b, seed) in enumerate(specs):
        model = _TinyCondNet(600 + k)
        ema = _ema_copy(model, 610 + k)
        x = _randn(b, 3, 8, 8, seed=620 + k).clamp(-1, 1)
        cond = T.super_resolution_4x(x)  # sr4 draws nothing from the generator
        cfg = L.CoDiLossConfig(lambda_cg=lcg, lambda_cons=lcons)
        loss_fn = L.codi_loss(sch, cfg, _FixedCondTask(cond))
        with torch.no_grad():
            expected, _ = loss_fn(model, ema, x, torch.Generator().manual_seed(seed), 0)
        mist = {}
        for desc, w in _CODI_MISTAKES.items():
            with torch.no_grad():
                mist[desc] = _codi_variant(model, ema, x, cond, seed, sch, cfg, **w)
        cases.append(Case(Msg("{label}, batch of {b}", label=Msg(label), b=b),
                          {"model": model, "ema_model": ema, "x": x, "cond": cond,
                           "gen": torch.Generator().manual_seed(seed), "schedule": sch, "cfg": cfg},
                          expected.detach(), mist))
    return cases


class _FixedCondTask:
    """A task whose condition is given (and draws nothing from the generator)."""

    def __init__(self, cond):
        self.cond = cond

    def degrade(self, x, gen):
        return self.cond


def _loss_value(v):
    if isinstance(v, (tuple, list)) and v:  # (loss, logs) like the library's loss_fn
        v = v[0]
    t = _as_tensor(v)
    if t.numel() != 1:
        raise TypeError(tr("expected a scalar loss, got a tensor of shape {shape}: "
                           "average the squared differences with torch.mean", shape=tuple(t.shape)))
    return t.reshape(())


def _codi_gradient_message(fn) -> str | None:
    """Gradients must reach the online model only: the target and the ODE step are
    computed without gradient."""
    sch = _schedule("v_prediction")
    model = _TinyCondNet(640)
    ema = _ema_copy(model, 641).requires_grad_(True)  # so a missing no_grad shows up
    x = _randn(3, 3, 8, 8, seed=642).clamp(-1, 1)
    try:
        loss = fn(model=model, ema_model=ema, x=x, cond=T.super_resolution_4x(x),
                  gen=torch.Generator().manual_seed(643), schedule=sch, cfg=L.CoDiLossConfig())
        loss = loss[0] if isinstance(loss, (tuple, list)) else loss
    except Exception:
        return None
    if not isinstance(loss, torch.Tensor) or loss.grad_fn is None:
        return tr("the loss carries no gradient: the online prediction f(z_t, t) must be "
                  "computed with gradient (only the ODE step and the EMA target go under "
                  "torch.no_grad).")
    loss.backward()
    if any(p.grad is not None and p.grad.abs().sum() > 0 for p in ema.parameters()):
        return tr("gradient reaches the EMA model: compute the target f_ema(z_s, s) under "
                  "torch.no_grad(); the EMA copy is only updated by (C9), never by the optimiser.")
    if all(p.grad is None or p.grad.abs().sum() == 0 for p in model.parameters()):
        return tr("no gradient reaches the online model: the prediction f(z_t, t) needs it.")
    return None


@register("codi_loss", "notebooks/05_consistency_loss.ipynb",
          "assemble the CoDi loss from its parts",
          "my_codi_loss(model, ema_model, x, cond, gen, schedule, cfg) -> scalar loss; models "
          "are called as model(z, t, cond); cfg is a losses.CoDiLossConfig (ode_model "
          "'student', x space); gen a torch.Generator",
          reference_codi_loss,
          (L.draw_grid_steps, L.ode_step, L.consistency_output, L.consistency_term,
           L.guidance_term),
          "Six lines, in this order: t, s = draw_grid_steps(len(x), cfg.n_grid, schedule.T, "
          "cfg.per_sample_n, gen); eps = torch.randn(x.shape, generator=gen); z_t = "
          "schedule.add_noise(x, eps, t); z_s = ode_step(model, z_t, t, s, cond, schedule); "
          "f_target = consistency_output(ema_model, z_s, s, cond, schedule) under torch.no_grad(); "
          "f = consistency_output(model, z_t, t, cond, schedule). Then "
          "cfg.lambda_cons * consistency_term(f, f_target) + cfg.lambda_cg * guidance_term(f, x).")
def check_codi_loss(fn) -> CheckResult:
    """Checker of exercise ``codi_loss`` (notebook 05): the learner's loss against
    ``losses.codi_loss`` on the same generator state, in four cases (three weightings), with the
    usual mistakes named (n = 1 tests the boundary s = 0); then where the gradient
    flows."""
    res = run_cases("codi_loss", fn, _codi_cases(), EXERCISES["codi_loss"].signature,
                    unpack=_loss_value,
                    compare=lambda a, b: _close(a, b, rtol=1e-5, atol=1e-8))
    if not res:
        return res
    msg = _codi_gradient_message(fn)
    if msg:
        return CheckResult("codi_loss", False, tr("❌ {name}: the values are right, but {problem}",
                                                  name="codi_loss", problem=msg))
    res.message = tr("✅ codi_loss: equal to losses.codi_loss on the same generator state in "
                     "4 cases (lambda_cg = 0.5, 0 and 2; grid points n = 1, 5, 25, 44), and the "
                     "gradient reaches the online model only.")
    return res
