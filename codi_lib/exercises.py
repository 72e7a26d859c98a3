"""Exercise checkers for the notebooks: write a small piece of the maths yourself, then
``check("name", your_function)`` says whether it is right and, if not, *what* is wrong
(shape, sign, swapped terms, off-by-one timestep, which input case fails).

How an exercise works in a notebook (explained in notebooks/00_welcome.ipynb):

1. A cell defines your function with a stub body that returns ``None``.
2. ``check("name", your_function)`` prints "not attempted yet" while the body is the
   stub, so the notebook still runs top to bottom without errors; once you fill it
   in it prints "correct" or a diagnosis. It never raises.
3. Stuck? ``hint("name")`` gives a nudge; ``show_solution("name")`` prints the reference
   solution and the source of the library functions it is built from (via
   ``inspect.getsource``); ``solution("name")`` returns the reference as a function.

Exercises so far: notebook 01 ``forward_noise`` (C1) and ``ddim_step`` (C2)-(C3);
notebook 02 ``v_target`` (the v-prediction regression target); notebook 03
``c_skip_c_out`` (C4); notebook 04 ``sr4_degrade`` (the super-resolution condition);
notebook 05 ``codi_loss`` (the CoDi loss (C5)-(C7) assembled from its parts).

Adding an exercise (the hook for notebooks 04-05 and later): write a reference function
that calls the library, write a checker ``checker(fn) -> CheckResult`` (usually a few
:class:`Case` objects and known mistakes passed to :func:`run_cases`), and decorate the
checker with :func:`register`; it is then available to ``check``/``hint``/
``show_solution`` under its name in :data:`EXERCISES`.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch
import torch.nn.functional as F

from . import losses as L
from . import schedule as S
from . import tasks as T

# --------------------------------------------------------------------------- machinery


@dataclass
class Exercise:
    """One registered exercise: where it is, what to write, the checker and the reference."""
    name: str
    notebook: str
    title: str
    signature: str
    checker: Callable
    reference: Callable
    library: tuple = ()
    hint: str = ""


#: The registry: exercise name -> :class:`Exercise`. Notebooks 04-05 add theirs here with
#: :func:`register`.
EXERCISES: dict[str, Exercise] = {}


def register(name: str, notebook: str, title: str, signature: str, reference: Callable,
             library: Sequence[Callable] = (), hint: str = ""):
    """Decorator that registers ``checker(fn) -> CheckResult`` as exercise ``name``.
    ``reference`` is the reference solution (built on ``library`` functions, whose source
    :func:`show_solution` prints). For exercise authors (see the module docstring); the
    first exercises are in notebooks/01_diffusion_basics.ipynb."""
    def deco(checker):
        EXERCISES[name] = Exercise(name, notebook, title, signature, checker, reference,
                                   tuple(library), hint)
        return checker
    return deco


class CheckResult:
    """The outcome of :func:`check`: true when correct; ``message`` says why not.
    (In Jupyter it displays nothing itself: :func:`check` already printed the message.)"""

    def __init__(self, name: str, passed: bool, message: str, attempted: bool = True):
        self.name, self.passed, self.message, self.attempted = name, passed, message, attempted

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        return f"CheckResult({self.name!r}, passed={self.passed})"

    def _ipython_display_(self):  # the message was printed by check(); show nothing more
        pass


@dataclass
class Case:
    """One input case of a checker: a label the learner can read, the keyword arguments
    for the learner's function, the expected output and known wrong answers
    (``mistakes``: description -> the output that mistake would give)."""
    label: str
    kwargs: dict
    expected: object
    mistakes: dict = field(default_factory=dict)


class NotAttempted(Exception):
    """The learner's function is still the stub (returned None or raised NotImplementedError)."""


def _as_tensor(v):
    if v is None:
        raise NotAttempted
    if isinstance(v, torch.Tensor):
        return v.detach().float()
    return torch.as_tensor(v, dtype=torch.float32)


def _close(a: torch.Tensor, b: torch.Tensor, rtol=1e-4, atol=1e-5) -> bool:
    return a.shape == b.shape and bool(torch.allclose(a.float(), b.float(), rtol=rtol, atol=atol))


def _shape_hint(got, want) -> str:
    g, w = tuple(got), tuple(want)
    msg = f"the output has shape {g}, expected {w} (the shape of the input)."
    if len(g) > len(w) or (len(g) == len(w) and g != w and len(w) > 1):
        msg += (" A per-image (B,) tensor of alpha_t/sigma_t must be reshaped to (B, 1, 1, 1) "
                "(or (B, 1) for 2-D points) before multiplying: "
                "schedule.alpha_sigma(t, x.dim()) does that for you.")
    return msg


def run_cases(name: str, fn: Callable, cases: Sequence[Case], signature: str,
              compare: Callable = _close, unpack: Callable = _as_tensor) -> CheckResult:
    """Run ``fn(**case.kwargs)`` on every case and build the message: the first failing
    case is named, with the known mistake it matches or the size of the error.
    Checkers of new exercises reuse this; the first ones are in
    notebooks/01_diffusion_basics.ipynb."""
    for i, case in enumerate(cases):
        try:
            got = unpack(fn(**{k: _clone(v) for k, v in case.kwargs.items()}))
        except (NotAttempted, NotImplementedError):
            if i == 0:
                return CheckResult(name, False,
                                   f"... {name}: not attempted yet (the function still returns None). "
                                   f"Fill in its body, then run this cell again. Stuck? "
                                   f"hint({name!r}) or show_solution({name!r}).", attempted=False)
            return CheckResult(name, False,
                               f"❌ {name}: returned None on case '{case.label}' (it works on "
                               "earlier cases: is a branch missing a return?)")
        except Exception as err:  # report any error with the case that triggered it
            extra = ""
            if isinstance(err, RuntimeError) and ("must match the size" in str(err)
                                                  or "broadcast" in str(err)):
                extra = ("\n   A shape clash: a per-image (B,) tensor such as schedule.alpha[t] "
                         "must be reshaped to (B, 1, 1, 1) (or (B, 1) for 2-D points) before it "
                         "multiplies x; schedule.alpha_sigma(t, x.dim()) returns it reshaped.")
            return CheckResult(name, False,
                               f"❌ {name}: raised {type(err).__name__}: {err}\n   on case "
                               f"'{case.label}'.{extra}\n   Expected signature: {signature}")
        want = _as_tensor(case.expected)
        if compare(got, want):
            continue
        if got.shape != want.shape:
            return CheckResult(name, False, f"❌ {name}: on case '{case.label}' "
                               + _shape_hint(got.shape, want.shape))
        for desc, wrong in case.mistakes.items():
            if compare(got, _as_tensor(wrong)):
                return CheckResult(name, False,
                                   f"❌ {name}: wrong on case '{case.label}': {desc}")
        err = float((got - want).abs().max())
        return CheckResult(name, False,
                           f"❌ {name}: wrong values on case '{case.label}' (largest error "
                           f"{err:.3g}); it matches none of the usual mistakes. hint({name!r}) "
                           "may help.")
    labels = "".join(f"\n   - {c.label}" for c in cases)
    return CheckResult(name, True, f"✅ {name}: correct on all {len(cases)} cases:{labels}")


def _clone(v):
    return v.clone() if isinstance(v, torch.Tensor) else v


def _get(name: str) -> Exercise:
    if name not in EXERCISES:
        raise KeyError(f"no exercise {name!r}; known: {sorted(EXERCISES)}")
    return EXERCISES[name]


def check(name: str, fn: Callable) -> CheckResult:
    """Check your function for exercise ``name``; prints the verdict and returns a
    :class:`CheckResult` (true when correct). Never raises on a wrong answer.
    Introduced in notebooks/00_welcome.ipynb (how exercises work)."""
    ex = _get(name)
    res = ex.checker(fn)
    print(res.message)
    return res


def hint(name: str) -> None:
    """Print a hint for exercise ``name``. Introduced in notebooks/00_welcome.ipynb."""
    ex = _get(name)
    print(f"Hint for {name} ({ex.notebook}): {ex.hint}\nSignature: {ex.signature}")


def solution(name: str) -> Callable:
    """The reference solution of exercise ``name`` as a function (without showing it).
    Introduced in notebooks/00_welcome.ipynb."""
    return _get(name).reference


def show_solution(name: str) -> None:
    """Print the reference solution of exercise ``name`` and the source of the library
    functions it is built from (``inspect.getsource``). Introduced in
    notebooks/00_welcome.ipynb."""
    ex = _get(name)
    print(f"# Reference solution of '{name}' ({ex.notebook}): {ex.title}")
    print(inspect.getsource(ex.reference))
    for f in ex.library:
        mod = getattr(f, "__module__", "")
        qual = getattr(f, "__qualname__", getattr(f, "__name__", str(f)))
        print(f"# --- library: {mod}.{qual}")
        print(inspect.getsource(f))


def list_exercises(notebook: str | None = None) -> None:
    """Print the registered exercises (of one notebook if ``notebook`` is part of its
    file name, e.g. "01"). Introduced in notebooks/00_welcome.ipynb."""
    for ex in EXERCISES.values():
        if notebook is None or notebook in ex.notebook:
            print(f"{ex.name:<16} {ex.notebook:<32} {ex.title}")


# --------------------------------------------------------------------------- inputs

_SCHEDULES: dict = {}


def _schedule(prediction_type: str = "v_prediction") -> S.NoiseSchedule:
    if prediction_type not in _SCHEDULES:
        _SCHEDULES[prediction_type] = S.NoiseSchedule(S.ScheduleConfig(prediction_type=prediction_type))
    return _SCHEDULES[prediction_type]


def _randn(*shape, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def _shift(t: torch.Tensor, d: int, lo: int = 0, hi: int = 999) -> torch.Tensor:
    return (t + d).clamp(lo, hi)


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
        cases.append(Case(label, {"x": x, "eps": eps, "t": t, "schedule": sch},
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
                (f"you converted the output as {other} but this schedule is {pred}: read "
                 "schedule.prediction_type (or use schedule.to_x_eps)."): a_s * x_o + s_s * e_o,
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
                    mist[f"off-by-one timestep: you stepped to s {'+' if d > 0 else '-'} 1."] = \
                        a2 * x_hat + s2 * eps_hat
            else:
                a_w, s_w = sch.alpha[s].view(-1, 1, 1, 1), sch.sigma[s].view(-1, 1, 1, 1)
                mist[("for s = -1 you indexed schedule.alpha[-1], which is the LAST entry "
                      "(t = 999); use schedule.alpha_sigma(s, z.dim()), which returns alpha = 1, "
                      "sigma = 0 for s = -1.")] = a_w * x_hat + s_w * eps_hat
            cases.append(Case(f"{pname}, {label}",
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
        cases.append(Case(label, {"x": x, "eps": eps, "t": t, "schedule": sch},
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


# --------------------------------------------------------------------------- 03: c_skip / c_out


def reference_c_skip_c_out(t):
    """(C4): c_skip(t) = sd^2 / ((k t)^2 + sd^2), c_out(t) = k t / sqrt((k t)^2 + sd^2),
    with sd = sigma_data = 0.5 and k = 10, on integer-valued timesteps t."""
    return S.c_skip(t), S.c_out(t)


def _pair(v):
    if v is None:
        raise NotAttempted
    if not isinstance(v, (tuple, list)) or len(v) != 2:
        raise TypeError(f"expected a pair (c_skip, c_out), got {type(v).__name__}"
                        + (f" of length {len(v)}" if isinstance(v, (tuple, list)) else ""))
    if v[0] is None or v[1] is None:
        raise NotAttempted
    return torch.stack([_as_tensor(v[0]).reshape(-1), _as_tensor(v[1]).reshape(-1)])


def _pair_expected(t, sd=S.SIGMA_DATA, k=S.KAPPA):
    return torch.stack([S.c_skip(t, sd, k).reshape(-1), S.c_out(t, sd, k).reshape(-1)])


def _mistakes_scalings(t):
    sd, k = S.SIGMA_DATA, S.KAPPA
    tt = torch.as_tensor(t, dtype=torch.float32)
    ref = _pair_expected(tt)
    return {
        "c_skip and c_out are swapped: c_skip(0) = 1 and c_out(0) = 0.": ref.flip(0),
        "kappa is missing: use k t with k = 10 (schedule.KAPPA), not t.": _pair_expected(tt, sd, 1.0),
        "t should not be divided by T: the scalings use the integer timestep, k t with k = 10.":
            _pair_expected(tt / 1000, sd, k),
        "sigma_data = 0.5 (codi_lib.schedule.SIGMA_DATA), not 1.": _pair_expected(tt, 1.0, k),
        "c_out needs a square root in the denominator: k t / sqrt((k t)^2 + sd^2).":
            torch.stack([ref[0], (k * tt / ((k * tt) ** 2 + sd ** 2)).reshape(-1)]),
        "sigma_data must be squared in c_skip: sd^2 / ((k t)^2 + sd^2).":
            torch.stack([(sd / ((k * tt) ** 2 + sd)).reshape(-1), ref[1]]),
    }


def _scalings_cases():
    t_vals = torch.tensor([0.0, 0.05, 0.5, 1.0, 2.0, 20.0, 500.0, 999.0])
    t0 = torch.tensor([0.0])
    return [
        Case("the boundary t = 0: c_skip(0) = 1, c_out(0) = 0 so that f(z, 0) = z",
             {"t": t0}, _pair_expected(t0), _mistakes_scalings(t0)),
        Case("values at t = 0, 0.05, 0.5, 1, 2, 20, 500, 999",
             {"t": t_vals}, _pair_expected(t_vals), _mistakes_scalings(t_vals)),
    ]


def _monotone_message(fn) -> str | None:
    t = torch.arange(0, 1000, dtype=torch.float32)
    try:
        cs, co = _pair(fn(t.clone())).unbind(0)
    except Exception:
        return None  # run_cases reports errors with the case
    if cs.shape[0] != 1000:
        return None
    if (cs[1:] - cs[:-1] > 1e-7).any():
        i = int(torch.nonzero(cs[1:] - cs[:-1] > 1e-7)[0])
        return f"c_skip must decrease with t, but it increases from t = {i} to t = {i + 1}."
    if (co[1:] - co[:-1] < -1e-7).any():
        i = int(torch.nonzero(co[1:] - co[:-1] < -1e-7)[0])
        return f"c_out must increase with t, but it decreases from t = {i} to t = {i + 1}."
    return None


@register("c_skip_c_out", "notebooks/03_distillation.ipynb",
          "write c_skip(t) and c_out(t) of the consistency function (C4)",
          "c_skip_c_out(t) -> (c_skip, c_out), t a float tensor of timesteps (0 .. 999)",
          reference_c_skip_c_out, (S.c_skip, S.c_out, S.consistency_fn),
          "c_skip = sd**2 / ((k*t)**2 + sd**2) and c_out = k*t / torch.sqrt((k*t)**2 + sd**2) "
          "with sd = 0.5 and k = 10. At t = 0 they must give exactly 1 and 0.")
def check_c_skip_c_out(fn) -> CheckResult:
    """Checker of exercise ``c_skip_c_out`` (notebook 03): the t = 0 boundary, the values,
    and that c_skip decreases and c_out increases over t = 0..999."""
    sig = EXERCISES["c_skip_c_out"].signature
    cases = _scalings_cases()
    res = run_cases("c_skip_c_out", fn, cases[:1], sig, unpack=_pair,
                    compare=lambda a, b: _close(a, b, atol=1e-6))
    if not res:
        return res
    mono = _monotone_message(fn)
    if mono:
        return CheckResult("c_skip_c_out", False, f"❌ c_skip_c_out: {mono}")
    res = run_cases("c_skip_c_out", fn, cases, sig, unpack=_pair)
    if res:
        res.message = ("✅ c_skip_c_out: correct: the t = 0 boundary, c_skip decreasing and c_out "
                       "increasing over t = 0..999, and the values at 8 timesteps.")
    return res


# --------------------------------------------------------------------------- 04: SR degradation


def reference_sr4_degrade(x):
    """The 4x super-resolution condition of notebook 04: average each 4x4 block (32 -> 8
    pixels), bring it back to the input size with bicubic interpolation, and clamp to
    [-1, 1] (bicubic overshoots at sharp edges)."""
    return T.super_resolution_4x(x)


def _sr_wrong(x, pool="avg", mode="bicubic", clamp=True, factor=4, align=False):
    h, w = x.shape[-2:]
    if pool == "avg":
        low = F.avg_pool2d(x, factor)
    elif pool == "max":
        low = F.max_pool2d(x, factor)
    else:  # "slice": keep one pixel of every block
        low = x[..., ::factor, ::factor]
    kw = {} if mode == "nearest" else {"align_corners": align}
    up = F.interpolate(low, size=(h, w), mode=mode, **kw)
    return up.clamp(-1, 1) if clamp else up


def _sr_cases():
    from .course import emoji_batch
    sharp = torch.where(_randn(2, 3, 32, 32, seed=503) > 0, 1.0, -1.0)  # hard edges: overshoot
    specs = [
        ("4 test emoji (4, 3, 32, 32)", emoji_batch("test", 4, 100)),
        ("2 random black/white pixel images (sharp edges make bicubic overshoot)", sharp),
        ("3 random images of size 16x16 (do not hard-code 32)", _randn(3, 3, 16, 16, seed=504).clamp(-1, 1)),
        ("1 image of size 32x48 (not square)", _randn(1, 3, 32, 48, seed=505).clamp(-1, 1)),
    ]
    cases = []
    for label, x in specs:
        mist = {
            "you upsampled with 'nearest' (blocky); the condition uses bicubic interpolation.":
                _sr_wrong(x, mode="nearest"),
            "you upsampled with 'bilinear'; the condition uses bicubic interpolation.":
                _sr_wrong(x, mode="bilinear"),
            "the result is not clamped: bicubic overshoots past [-1, 1] at sharp edges; "
            "add .clamp(-1, 1).": _sr_wrong(x, clamp=False),
            "you used max pooling; the low-resolution image averages each 4x4 block (avg_pool2d).":
                _sr_wrong(x, pool="max"),
            "you kept one pixel per 4x4 block (x[..., ::4, ::4]); average the block instead "
            "(avg_pool2d), like a camera sensor.": _sr_wrong(x, pool="slice"),
            "factor 2 instead of 4: the condition keeps one value per 4x4 block.":
                _sr_wrong(x, factor=2),
            "align_corners=True shifts the image by a fraction of a pixel; use align_corners=False.":
                _sr_wrong(x, align=True),
        }
        cases.append(Case(label, {"x": x}, reference_sr4_degrade(x), mist))
    return cases


def _sr_shape_first(fn):
    """Shape mistakes get a direct message: the 8x8 low-resolution image returned, or a
    fixed output size."""
    for size in ((32, 32), (16, 16)):
        x = _randn(1, 3, *size, seed=506).clamp(-1, 1)
        try:
            out = fn(x.clone())
        except Exception:
            return None  # run_cases reports errors with the case
        if not isinstance(out, torch.Tensor):
            return None
        got = tuple(out.shape[-2:])
        if got == (size[0] // 4, size[1] // 4):
            return (f"you returned the {got[0]}x{got[1]} low-resolution image; the condition is "
                    "brought back to the input size with bicubic interpolation, so that it lines "
                    "up pixel by pixel with the image the model generates.")
        if tuple(out.shape) != tuple(x.shape):
            return (f"for an input of shape {tuple(x.shape)} the output has shape "
                    f"{tuple(out.shape)}; it must have the input's shape: interpolate to "
                    "size=x.shape[-2:] rather than a fixed size.")
    return None


@register("sr4_degrade", "notebooks/04_adding_a_condition.ipynb",
          "write the 4x super-resolution degradation",
          "sr4_degrade(x) -> cond, x of shape (B, 3, H, W) in [-1, 1] with H, W multiples of 4; "
          "cond has the same shape",
          reference_sr4_degrade, (T.super_resolution_4x,),
          "Two calls from torch.nn.functional: F.avg_pool2d(x, 4) gives the (B, 3, H/4, W/4) "
          "low-resolution image; F.interpolate(low, size=x.shape[-2:], mode='bicubic', "
          "align_corners=False) brings it back; finish with .clamp(-1, 1).")
def check_sr4_degrade(fn) -> CheckResult:
    """Checker of exercise ``sr4_degrade`` (notebook 04): real and synthetic images,
    sizes other than 32x32, and the usual interpolation mistakes."""
    msg = _sr_shape_first(fn)
    if msg:
        return CheckResult("sr4_degrade", False, f"❌ sr4_degrade: {msg}")
    res = run_cases("sr4_degrade", fn, _sr_cases(), EXERCISES["sr4_degrade"].signature)
    if res:
        res.message = ("✅ sr4_degrade: correct on emoji, on sharp-edged images (clamped), on "
                       "16x16 and on 32x48 images: it matches codi_lib.tasks.super_resolution_4x.")
    return res


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
        cases.append(Case(f"{label}, batch of {b}",
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
        raise TypeError(f"expected a scalar loss, got a tensor of shape {tuple(t.shape)}: "
                        "average the squared differences with torch.mean")
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
        return ("the loss carries no gradient: the online prediction f(z_t, t) must be "
                "computed with gradient (only the ODE step and the EMA target go under "
                "torch.no_grad).")
    loss.backward()
    if any(p.grad is not None and p.grad.abs().sum() > 0 for p in ema.parameters()):
        return ("gradient reaches the EMA model: compute the target f_ema(z_s, s) under "
                "torch.no_grad(); the EMA copy is only updated by (C9), never by the optimiser.")
    if all(p.grad is None or p.grad.abs().sum() == 0 for p in model.parameters()):
        return "no gradient reaches the online model: the prediction f(z_t, t) needs it."
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
        return CheckResult("codi_loss", False, f"❌ codi_loss: the values are right, but {msg}")
    res.message = ("✅ codi_loss: equal to losses.codi_loss on the same generator state in "
                   "4 cases (lambda_cg = 0.5, 0 and 2; grid points n = 1, 5, 25, 44), and the "
                   "gradient reaches the online model only.")
    return res
