"""Exercises of notebook 05 on two parts of the CoDi loss: ``ode_step`` (one DDIM step (C3)
of the ODE model, without gradient) and ``consistency_output`` (C4). Registered in
:data:`~codi_lib.course.exercises.EXERCISES`; the references call the library
(:mod:`codi_lib.method.losses`). Messages go through :func:`~.i18n.tr` (the course's
language)."""
from __future__ import annotations

import torch
from ...method import losses as L
from ...method import schedule as S
from .i18n import tr
from .machinery import Case, CheckResult, EXERCISES, _randn, _schedule, register, run_cases


def reference_ode_step(ode_fn, z_t, t, s, cond, schedule):
    """(C3) along the ODE model, without gradient: (x_hat, eps_hat) from the model's output
    at (z_t, t, c), then z_s = alpha_s x_hat + sigma_s eps_hat."""
    with torch.no_grad():
        x_hat, eps_hat = schedule.to_x_eps(ode_fn(z_t, t, cond).float(), z_t, t)
        alpha_s, sigma_s = schedule.alpha_sigma(s, z_t.dim(), z_t.device)
        return alpha_s * x_hat + sigma_s * eps_hat


def reference_consistency_output(model_fn, z, t, cond, schedule):
    """(C4): f = c_skip(t) z + c_out(t) x_hat, x_hat converted from the model's output."""
    x_hat, _ = schedule.to_x_eps(model_fn(z, t, cond).float(), z, t)
    return S.consistency_fn(z, x_hat, t)


class _LinearNet(torch.nn.Module):
    """A tiny deterministic network: raw output = a z + b cond + c t/1000, with a
    parameter so that gradients can be checked."""

    def __init__(self, seed: int):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.w = torch.nn.Parameter(torch.rand(3, generator=g) * 0.5 + 0.2)

    def forward(self, z, t, cond):
        t = torch.as_tensor(t, dtype=torch.float32).reshape(-1, *([1] * (z.dim() - 1)))
        return self.w[0] * z + self.w[1] * cond + self.w[2] * t / 1000


_SPECS = [("v-prediction, t = 500 -> s = 480, batch of 2", "v_prediction", [500, 500], [480, 480]),
          ("eps-prediction, per-image t = [20, 880, 300] -> s = t - 20", "epsilon",
           [20, 880, 300], [0, 860, 280]),
          ("v-prediction, n = 1: t = 20 -> s = 0", "v_prediction", [20, 20], [0, 0])]


def _inputs(k, kind, t, s):
    sch = _schedule(kind)
    b = len(t)
    z, cond = _randn(b, 3, 4, 4, seed=700 + k), _randn(b, 3, 4, 4, seed=710 + k)
    return sch, _LinearNet(720 + k), z, cond, torch.tensor(t), torch.tensor(s)


def _ode_cases():
    cases = []
    for k, (label, kind, t, s) in enumerate(_SPECS):
        sch, net, z, cond, tt, ss = _inputs(k, kind, t, s)
        with torch.no_grad():
            out = net(z, tt, cond)
            x_hat, eps_hat = sch.to_x_eps(out, z, tt)
            a_s, s_s = sch.alpha_sigma(ss, z.dim())
            a_t, s_t = sch.alpha_sigma(tt, z.dim())
            mist = {
                "you re-noised with alpha_t, sigma_t: the step goes to level s, use "
                "schedule.alpha_sigma(s, ...).": a_t * x_hat + s_t * eps_hat,
                "x_hat and eps_hat are swapped: z_s = alpha_s x_hat + sigma_s eps_hat.":
                    a_s * eps_hat + s_s * x_hat,
                "you used the raw network output as x_hat: convert it first with "
                "schedule.to_x_eps(out, z_t, t).": a_s * out + s_s * eps_hat,
                "you returned x_hat: the ODE step ends at the noisy point z_s, not at the clean guess.":
                    x_hat,
            }
            expected = a_s * x_hat + s_s * eps_hat
        cases.append(Case(label, {"ode_fn": net, "z_t": z, "t": tt, "s": ss, "cond": cond,
                                  "schedule": sch}, expected, mist))
    return cases


def _cons_cases():
    cases = []
    for k, (label, kind, t, _s) in enumerate(_SPECS + [("v-prediction, t = 0: f must be z", "v_prediction",
                                                         [0, 0], [0, 0])]):
        sch, net, z, cond, tt, _ = _inputs(k, kind, t, t)
        with torch.no_grad():
            out = net(z, tt, cond)
            x_hat, _e = sch.to_x_eps(out, z, tt)
            cs = S.c_skip(tt).reshape(-1, 1, 1, 1)
            co = S.c_out(tt).reshape(-1, 1, 1, 1)
            mist = {
                "c_skip and c_out are swapped: f = c_skip z + c_out x_hat.": co * z + cs * x_hat,
                "the c_skip z term is missing: f = c_skip(t) z + c_out(t) x_hat.": co * x_hat,
                "you returned x_hat: wrap it in the consistency function (C4).": x_hat,
                "you used the raw network output instead of x_hat: convert it with "
                "schedule.to_x_eps(out, z, t) first.": cs * z + co * out,
            }
            expected = cs * z + co * x_hat
        cases.append(Case(label, {"model_fn": net, "z": z, "t": tt, "cond": cond, "schedule": sch},
                          expected, mist))
    return cases


def _ode_gradient_message(fn) -> str | None:
    sch, net, z, cond, tt, ss = _inputs(0, *_SPECS[0][1:])
    try:
        out = fn(ode_fn=net, z_t=z, t=tt, s=ss, cond=cond, schedule=sch)
    except Exception:
        return None
    if isinstance(out, torch.Tensor) and out.requires_grad:
        return tr("z_s carries a gradient: the ODE step is a fixed input to the loss, compute "
                  "it under torch.no_grad() (or decorate the function with @torch.no_grad()).")
    return None


@register("ode_step", "notebooks/05_consistency_loss.ipynb",
          "write the one-step ODE of the CoDi loss (C3), without gradient",
          "my_ode_step(ode_fn, z_t, t, s, cond, schedule) -> z_s; ode_fn(z, t, cond) returns "
          "the raw network output, t and s are LongTensors (B,)",
          reference_ode_step, (L.ode_step,),
          "Under torch.no_grad(): x_hat, eps_hat = schedule.to_x_eps(ode_fn(z_t, t, cond), z_t, t); "
          "alpha_s, sigma_s = schedule.alpha_sigma(s, z_t.dim()); return alpha_s * x_hat + "
          "sigma_s * eps_hat.")
def check_ode_step(fn) -> CheckResult:
    """Checker of ``ode_step`` (notebook 05): v- and eps-prediction, per-image t, s = 0;
    then that z_s carries no gradient."""
    res = run_cases("ode_step", fn, _ode_cases(), EXERCISES["ode_step"].signature)
    msg = _ode_gradient_message(fn) if res else None
    if msg:
        return CheckResult("ode_step", False, tr("❌ {name}: the values are right, but {problem}",
                                                 name="ode_step", problem=msg))
    return res


@register("consistency_output", "notebooks/05_consistency_loss.ipynb",
          "write the consistency output f = c_skip z + c_out x_hat (C4)",
          "my_consistency_output(model_fn, z, t, cond, schedule) -> f of the shape of z",
          reference_consistency_output, (L.consistency_output, S.consistency_fn),
          "x_hat, _ = schedule.to_x_eps(model_fn(z, t, cond), z, t); then c_skip(t) z + c_out(t) "
          "x_hat, with c_skip, c_out from notebook 03 reshaped to (B, 1, 1, 1) "
          "(codi_lib.method.schedule.consistency_fn(z, x_hat, t) does exactly that).")
def check_consistency_output(fn) -> CheckResult:
    """Checker of ``consistency_output`` (notebook 05): v- and eps-prediction, per-image t,
    and t = 0 where f must equal z."""
    return run_cases("consistency_output", fn, _cons_cases(),
                     EXERCISES["consistency_output"].signature)
