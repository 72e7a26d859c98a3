"""Exercises of notebooks 03-04: c_skip/c_out (C4) and the super-resolution condition; registered in :data:`~codi_lib.course.exercises.EXERCISES`.
Messages go through :func:`~.i18n.tr` (the course's language)."""
from __future__ import annotations

import sys

import torch
import torch.nn.functional as F
from ...method import schedule as S
from ...method import tasks as T
from .i18n import tr
from .machinery import (Case, CheckResult, EXERCISES, NotAttempted, _as_tensor, _close, _randn, register, run_cases)


# --------------------------------------------------------------------------- 03: c_skip / c_out


def reference_c_skip_c_out(t):
    """(C4): c_skip(t) = sd^2 / ((k t)^2 + sd^2), c_out(t) = k t / sqrt((k t)^2 + sd^2),
    with sd = sigma_data = 0.5 and k = 10, on integer-valued timesteps t."""
    return S.c_skip(t), S.c_out(t)


def _pair(v):
    if v is None:
        raise NotAttempted
    if isinstance(v, (tuple, list)) and len(v) != 2:
        raise TypeError(tr("expected a pair (c_skip, c_out), got {type} of length {n}",
                           type=type(v).__name__, n=len(v)))
    if not isinstance(v, (tuple, list)):
        raise TypeError(tr("expected a pair (c_skip, c_out), got {type}", type=type(v).__name__))
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
        "sigma_data = 0.5 (codi_lib.method.schedule.SIGMA_DATA), not 1.": _pair_expected(tt, 1.0, k),
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
        return tr("c_skip must decrease with t, but it increases from t = {i} to t = {j}.", i=i, j=i + 1)
    if (co[1:] - co[:-1] < -1e-7).any():
        i = int(torch.nonzero(co[1:] - co[:-1] < -1e-7)[0])
        return tr("c_out must increase with t, but it decreases from t = {i} to t = {j}.", i=i, j=i + 1)
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
        res.message = tr("✅ c_skip_c_out: correct: the t = 0 boundary, c_skip decreasing and c_out "
                         "increasing over t = 0..999, and the values at 8 timesteps.")
    return res


# --------------------------------------------------------------------------- 04: SR degradation


def reference_sr4_degrade(x):
    """The 4x super-resolution condition of notebook 04: average each 4x4 block (32 -> 8
    pixels), bring it back to the input size with bicubic interpolation, and clamp to
    [-1, 1] (bicubic overshoots at sharp edges). The library's
    ``super_resolution_4x`` is the same two calls."""
    low = F.avg_pool2d(x, 4)
    return F.interpolate(low, size=x.shape[-2:], mode="bicubic", align_corners=False).clamp(-1, 1)


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
    from ...training.data import emoji_batch
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
            return tr("you returned the {h}x{w} low-resolution image; the condition is "
                      "brought back to the input size with bicubic interpolation, so that it lines "
                      "up pixel by pixel with the image the model generates.", h=got[0], w=got[1])
        if tuple(out.shape) != tuple(x.shape):
            return tr("for an input of shape {shape} the output has shape "
                      "{got}; it must have the input's shape: interpolate to "
                      "size=x.shape[-2:] rather than a fixed size.",
                      shape=tuple(x.shape), got=tuple(out.shape))
    return None


class _CalledLibrary(BaseException):
    """The learner's ``sr4_degrade`` ran the library's degradation (a BaseException, so
    that the case runner's error report does not swallow it)."""


def _refusing_library(fn):
    """``fn`` wrapped so that it raises :class:`_CalledLibrary` when it ran the library's
    ``super_resolution_4x`` (under any name: ``get_task("sr4").degrade`` included),
    detected by its code object with :func:`sys.setprofile` during the call."""
    code = T.super_resolution_4x.__code__

    def guarded(*args, **kwargs):
        called = False

        def profile(frame, event, arg):
            nonlocal called
            if event == "call" and frame.f_code is code:
                called = True

        previous = sys.getprofile()
        sys.setprofile(profile)
        try:
            out = fn(*args, **kwargs)
        finally:
            sys.setprofile(previous)
        if called:
            raise _CalledLibrary
        return out

    return guarded


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
    sizes other than 32x32, and the usual interpolation mistakes. The notebook has the
    task registry in scope, so an answer that runs the library's own degradation is
    caught (:func:`_refusing_library`) and told to write the two calls itself."""
    fn = _refusing_library(fn)
    try:
        msg = _sr_shape_first(fn)
        if msg:
            return CheckResult("sr4_degrade", False, f"❌ sr4_degrade: {msg}")
        res = run_cases("sr4_degrade", fn, _sr_cases(), EXERCISES["sr4_degrade"].signature)
    except _CalledLibrary:
        return CheckResult("sr4_degrade", False, tr(
            "❌ sr4_degrade: your function calls the library's own degradation "
            "(get_task('sr4').degrade or super_resolution_4x): that is the answer, not an "
            "attempt. Write it with torch.nn.functional (hint('sr4_degrade'))."))
    if res:
        res.message = tr("✅ sr4_degrade: correct on emoji, on sharp-edged images (clamped), on "
                         "16x16 and on 32x48 images: it matches codi_lib.method.tasks.super_resolution_4x.")
    return res


