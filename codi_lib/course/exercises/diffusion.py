"""Exercises of notebooks 01-02: forward noising (C1), the DDIM step (C2)-(C3), the v target; registered in :data:`~codi_lib.course.exercises.EXERCISES`.
Labels and mistakes built from values are :class:`~.i18n.Msg` templates (translatable)."""
from __future__ import annotations

import torch
from ...method import schedule as S

from .i18n import Msg
from .machinery import (Case, CheckResult, EXERCISES, _randn, _restricted, _schedule, _shift, register, run_cases)


# --------------------------------------------------------------------------- 01: forward noising


def reference_forward_noise(x, eps, t, schedule):
    """(C1): z_t = alpha_t x + sigma_t eps, alpha_t and sigma_t looked up at the integer
    timesteps ``t`` (shape (B,)) and reshaped to broadcast over x."""
    alpha_t, sigma_t = schedule.alpha_sigma(t, x.dim(), x.device)
    return alpha_t * x + sigma_t * eps


def _forward_cases():
    sch = _schedule()
    abar = sch.alphas_cumprod.float()
    specs = [
        ("4 images (4, 3, 8, 8), a different t per image [1, 10, 500, 998]",
         (4, 3, 8, 8), torch.tensor([1, 10, 500, 998])),
        ("2 images, both at t = 0 (almost clean)", (2, 3, 8, 8), torch.tensor([0, 0])),
        ("3 images, t = 999 (almost pure noise)", (3, 3, 4, 4), torch.tensor([999, 999, 999])),
        ("5 two-dimensional points (5, 2), t = [1, 100, 250, 700, 998]", (5, 2),
         torch.tensor([1, 100, 250, 700, 998])),
    ]
    cases = []
    for k, (label, shape, t) in enumerate(specs):
        x, eps = _randn(*shape, seed=10 + k), _randn(*shape, seed=20 + k)
        a, s = sch.alpha_sigma(t, x.dim())
        ab = abar[t].view(a.shape)
        mist = {
            "alpha_t and sigma_t are swapped (z_t = sigma_t x + alpha_t eps).": s * x + a * eps,
            "sign error: you subtracted the noise; z_t = alpha_t x + sigma_t eps.": a * x - s * eps,
            "you used abar_t and 1 - abar_t; alpha_t = sqrt(abar_t), sigma_t = sqrt(1 - abar_t).":
                ab * x + (1 - ab) * eps,
            "sigma_t should be sqrt(1 - abar_t), not 1 - abar_t.": a * x + (1 - ab) * eps,
            "you returned x unchanged: add the scaled noise.": x,
            "you returned eps: z_t mixes x and eps.": eps,
            "off-by-one timestep: you used t - 1 (index t of schedule.alpha is timestep t).":
                reference_forward_noise(x, eps, _shift(t, -1), sch),
            "off-by-one timestep: you used t + 1 (index t of schedule.alpha is timestep t).":
                reference_forward_noise(x, eps, _shift(t, 1), sch),
        }
        cases.append(Case(label, {"x": x, "eps": eps, "t": t,
                                  "schedule": _restricted(sch, ("add_noise",), "forward_noise")},
                          reference_forward_noise(x, eps, t, sch), mist))
    return cases


@register("forward_noise", "notebooks/01_diffusion_basics.ipynb",
          "write the forward noising z_t (C1)",
          "forward_noise(x, eps, t, schedule) -> z_t, with x, eps of shape (B, ...) and "
          "t a LongTensor (B,) of integer timesteps",
          reference_forward_noise, (S.NoiseSchedule.alpha_sigma, S.NoiseSchedule.add_noise),
          "z_t = alpha_t * x + sigma_t * eps. `alpha_t, sigma_t = schedule.alpha_sigma(t, x.dim())` "
          "looks both up and reshapes them to (B, 1, 1, 1) (or (B, 1) for points).")
def check_forward_noise(fn) -> CheckResult:
    """Checker of exercise ``forward_noise`` (notebook 01)."""
    return run_cases("forward_noise", fn, _forward_cases(), EXERCISES["forward_noise"].signature)


# --------------------------------------------------------------------------- 01: DDIM step


def reference_ddim_step(model_output, z_t, t, s, schedule):
    """(C2) then (C3): convert the network output at (z_t, t) to (x_hat, eps_hat) for the
    schedule's prediction type, then z_s = alpha_s x_hat + sigma_s eps_hat."""
    x_hat, eps_hat = schedule.to_x_eps(model_output, z_t, t)
    alpha_s, sigma_s = schedule.alpha_sigma(s, z_t.dim(), z_t.device)
    return S.ddim_step(x_hat, eps_hat, alpha_s, sigma_s)


def _ddim_cases():
    cases = []
    specs = [
        ("t = 500 -> s = 480", torch.tensor([500, 500]), torch.tensor([480, 480])),
        ("a different t per image [999, 600, 250, 40] -> s = t - 20",
         torch.tensor([999, 600, 250, 40]), torch.tensor([979, 580, 230, 20])),
        ("last step t = 20 -> s = -1 (the clean end: alpha = 1, sigma = 0)",
         torch.tensor([20, 20]), torch.tensor([-1, -1])),
    ]
    k = 0
    for pred, pname in (("epsilon", "eps-prediction"), ("v_prediction", "v-prediction")):
        sch = _schedule(pred)
        for label, t, s in specs:
            k += 1
            shape = (len(t), 3, 4, 4)
            z, out = _randn(*shape, seed=100 + k), _randn(*shape, seed=200 + k)
            a_t, s_t = sch.alpha_sigma(t, 4)
            a_s, s_s = sch.alpha_sigma(s, 4)
            x_hat, eps_hat = sch.to_x_eps(out, z, t)
            other = "epsilon" if pred == "v_prediction" else "v_prediction"
            x_o, e_o = S.pred_to_x_eps(out, z, a_t, s_t, other)
            mist = {
                "you stepped with alpha_t, sigma_t; the step goes to s: use alpha_s, sigma_s.":
                    a_t * x_hat + s_t * eps_hat,
                "you returned x_hat, the clean prediction; the DDIM step returns z_s.": x_hat,
                "you returned eps_hat; the DDIM step returns z_s = alpha_s x_hat + sigma_s eps_hat.": eps_hat,
                Msg("you converted the output as {other} but this schedule is {pred}: read "
                    "schedule.prediction_type (or use schedule.to_x_eps).", other=other, pred=pred):
                    a_s * x_o + s_s * e_o,
                "alpha_s and sigma_s are swapped.": s_s * x_hat + a_s * eps_hat,
            }
            if pred == "v_prediction":
                mist["v-prediction conversion has a sign error: x = alpha z - sigma v, eps = alpha v + sigma z."] = \
                    a_s * (a_t * z + s_t * out) + s_s * (a_t * out - s_t * z)
                mist["v-prediction conversion: x and eps formulas are swapped (x = alpha z - sigma v, eps = alpha v + sigma z)."] = \
                    a_s * (a_t * out + s_t * z) + s_s * (a_t * z - s_t * out)
            if (s >= 0).all():
                for d in (-1, 1):
                    a2, s2 = sch.alpha_sigma(_shift(s, d), 4)
                    mist[Msg("off-by-one timestep: you stepped to s {sign} 1.",
                             sign="+" if d > 0 else "-")] = a2 * x_hat + s2 * eps_hat
            else:
                a_w, s_w = sch.alpha[s].view(-1, 1, 1, 1), sch.sigma[s].view(-1, 1, 1, 1)
                mist[("for s = -1 you indexed schedule.alpha[-1], which is the LAST entry "
                      "(t = 999); use schedule.alpha_sigma(s, z.dim()), which returns alpha = 1, "
                      "sigma = 0 for s = -1.")] = a_w * x_hat + s_w * eps_hat
            cases.append(Case(Msg("{prediction}, {label}", prediction=Msg(pname), label=Msg(label)),
                              {"model_output": out, "z_t": z, "t": t, "s": s, "schedule": sch},
                              reference_ddim_step(out, z, t, s, sch), mist))
    return cases


@register("ddim_step", "notebooks/01_diffusion_basics.ipynb",
          "write the DDIM step (C2)-(C3) for eps- and v-prediction",
          "ddim_step(model_output, z_t, t, s, schedule) -> z_s, with t, s LongTensors (B,) "
          "(s = -1 is the clean end) and schedule.prediction_type 'epsilon' or 'v_prediction'",
          reference_ddim_step,
          (S.NoiseSchedule.to_x_eps, S.pred_to_x_eps, S.NoiseSchedule.alpha_sigma, S.ddim_step),
          "Two moves. (1) Recover x_hat and eps_hat from the output (C2): eps-pred: "
          "eps = out, x = (z - sigma_t eps)/alpha_t; v-pred: x = alpha_t z - sigma_t v, "
          "eps = alpha_t v + sigma_t z. (2) Re-noise to s (C3): "
          "z_s = alpha_s x_hat + sigma_s eps_hat. schedule.alpha_sigma(s, z_t.dim()) handles s = -1.")
def check_ddim_step(fn) -> CheckResult:
    """Checker of exercise ``ddim_step`` (notebook 01): eps- and v-prediction, per-image
    timesteps and the last step to s = -1."""
    return run_cases("ddim_step", fn, _ddim_cases(), EXERCISES["ddim_step"].signature)


# --------------------------------------------------------------------------- 02: v target


def reference_v_target(x, eps, t, schedule):
    """The v-prediction regression target v = alpha_t eps - sigma_t x (the network
    output that (C2) converts back with x = alpha z - sigma v)."""
    alpha_t, sigma_t = schedule.alpha_sigma(t, x.dim(), x.device)
    return S.x_eps_to_pred(x, eps, alpha_t, sigma_t, "v_prediction")


def _v_cases():
    sch = _schedule("v_prediction")
    abar = sch.alphas_cumprod.float()
    specs = [
        ("4 images, a different t per image [1, 200, 600, 998]", (4, 3, 8, 8),
         torch.tensor([1, 200, 600, 998])),
        ("3 images at t = 500 (alpha ~ sigma)", (3, 3, 4, 4), torch.tensor([500, 500, 500])),
        ("6 two-dimensional points (6, 2)", (6, 2), torch.tensor([1, 50, 300, 450, 800, 990])),
        ("2 images at the ends of the schedule, t = [0, 999]", (2, 3, 4, 4), torch.tensor([0, 999])),
    ]
    cases = []
    for k, (label, shape, t) in enumerate(specs):
        x, eps = _randn(*shape, seed=300 + k), _randn(*shape, seed=400 + k)
        a, s = sch.alpha_sigma(t, x.dim())
        ab = abar[t].view(a.shape)
        mist = {
            "sign flipped: v = alpha_t eps - sigma_t x (you returned -v).": s * x - a * eps,
            "that is the eps-prediction target; v-prediction regresses v = alpha_t eps - sigma_t x.": eps,
            "that is the x-prediction target; v-prediction regresses v = alpha_t eps - sigma_t x.": x,
            "x and eps are swapped: v = alpha_t eps - sigma_t x.": a * x - s * eps,
            "alpha_t and sigma_t are swapped: v = alpha_t eps - sigma_t x.": s * eps - a * x,
            "you returned z_t (the network input), not the target.": a * x + s * eps,
            "use alpha_t = sqrt(abar_t) and sigma_t = sqrt(1 - abar_t), not abar_t and 1 - abar_t.":
                ab * eps - (1 - ab) * x,
            "off-by-one timestep: you used t - 1.": reference_v_target(x, eps, _shift(t, -1), sch),
            "off-by-one timestep: you used t + 1.": reference_v_target(x, eps, _shift(t, 1), sch),
        }
        cases.append(Case(label, {"x": x, "eps": eps, "t": t,
                                  "schedule": _restricted(sch, ("target",), "v_target")},
                          reference_v_target(x, eps, t, sch), mist))
    return cases


@register("v_target", "notebooks/02_teacher.ipynb",
          "write the denoising-loss target for v-prediction",
          "v_target(x, eps, t, schedule) -> v, same shape as x; t a LongTensor (B,)",
          reference_v_target,
          (S.NoiseSchedule.target, S.x_eps_to_pred, S.NoiseSchedule.alpha_sigma),
          "v = alpha_t * eps - sigma_t * x with alpha_t, sigma_t = schedule.alpha_sigma(t, x.dim()). "
          "Check: from z = alpha x + sigma eps, alpha z - sigma v gives back x.")
def check_v_target(fn) -> CheckResult:
    """Checker of exercise ``v_target`` (notebook 02)."""
    return run_cases("v_target", fn, _v_cases(), EXERCISES["v_target"].signature)


