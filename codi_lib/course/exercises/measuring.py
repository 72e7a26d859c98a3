"""Exercises of notebook 06: PSNR by hand and counting network evaluations (NFE).
Registered in :data:`~codi_lib.course.exercises.EXERCISES`; the references agree with
:func:`codi_lib.evaluation.metrics.psnr` and :class:`codi_lib.evaluation.metrics.CountingDenoiser`.
Messages go through :func:`~.i18n.tr` (the course's language). No paper equation."""
from __future__ import annotations

import torch
from .i18n import tr
from .machinery import Case, CheckResult, EXERCISES, _randn, register, run_cases


def reference_psnr(a, b):
    """Per-image PSNR in dB of (N, C, H, W) images in [-1, 1]: map both to [0, 1], take the
    mean squared error per image, then 10 log10(1 / MSE)."""
    ua, ub = (a + 1) / 2, (b + 1) / 2
    mse = ((ua - ub) ** 2).mean(dim=(1, 2, 3))
    return 10 * torch.log10(1.0 / mse)


def _psnr_cases():
    specs = [("3 images (3, 3, 8, 8), noise of different strength per image", (3, 3, 8, 8),
              [0.05, 0.2, 0.5]),
             ("2 images (2, 3, 16, 12), not square", (2, 3, 16, 12), [0.1, 0.3])]
    cases = []
    for k, (label, shape, noise) in enumerate(specs):
        a = _randn(*shape, seed=800 + k).clamp(-1, 1)
        n = torch.tensor(noise).reshape(-1, 1, 1, 1)
        b = (a + n * _randn(*shape, seed=810 + k)).clamp(-1, 1)
        mse01 = (((a + 1) / 2 - (b + 1) / 2) ** 2).mean(dim=(1, 2, 3))
        mse11 = ((a - b) ** 2).mean(dim=(1, 2, 3))
        mist = {
            "you did not map the images to [0, 1]: on [-1, 1] the MSE is 4x larger and PSNR "
            "6.02 dB lower (or use a peak of 2: 10 log10(2^2 / MSE)).": 10 * torch.log10(1 / mse11),
            "20 log10 of 1/MSE: PSNR is 10 log10(1/MSE) (or 20 log10(1/RMSE)).":
                20 * torch.log10(1 / mse01),
            "the natural log: PSNR uses log10.": 10 * torch.log(1 / mse01),
            "the sign is flipped: 10 log10(1/MSE) = -10 log10(MSE).": 10 * torch.log10(mse01),
            "you took the root of the MSE inside 10 log10: use the MSE itself.":
                10 * torch.log10(1 / mse01.sqrt()),
        }
        cases.append(Case(label, {"a": a, "b": b}, reference_psnr(a, b), mist))
    return cases


@register("psnr", "notebooks/06_measuring.ipynb", "compute PSNR by hand",
          "my_psnr(a, b) -> per-image PSNR (N,) in dB for images (N, C, H, W) in [-1, 1]",
          reference_psnr, (),
          "Map to [0, 1] with (x + 1) / 2; mse = ((ua - ub) ** 2).mean(dim=(1, 2, 3)); "
          "return 10 * torch.log10(1 / mse).")
def check_psnr(fn) -> CheckResult:
    """Checker of ``psnr`` (notebook 06)."""
    return run_cases("psnr", fn, _psnr_cases(), EXERCISES["psnr"].signature)


def reference_count_nfe(sampler, model):
    """Wrap ``model`` in a counter, run ``sampler(counted_model)`` once and return how many
    times the network was called (one call = one evaluation, whatever the batch)."""
    calls = 0

    def counted(*args, **kwargs):
        nonlocal calls
        calls += 1
        return model(*args, **kwargs)

    sampler(counted)
    return calls


class _FakeSampler:
    """A sampler that calls ``model(z, t)`` ``calls`` times on a batch of ``batch`` images
    (its name says how many steps it was *asked* for)."""

    def __init__(self, calls: int, batch: int, asked: int):
        self.calls, self.batch, self.asked = calls, batch, asked

    def __call__(self, model):
        z = torch.zeros(self.batch, 2)
        for k in range(self.calls):
            z = model(z, torch.full((self.batch,), 999 - k))
        return z

    def __repr__(self):
        return tr("a sampler asked for {asked} steps", asked=self.asked)


def _nfe_cases():
    specs = [("a 4-step sampler on a batch of 3", 4, 3, 4),
             ("'8 steps' whose grid gives only 7 evaluations, batch of 5", 7, 5, 8),
             ("a 1-step sampler on a batch of 2", 1, 2, 1)]
    cases = []
    for label, calls, batch, asked in specs:
        model = lambda z, t: z + 1  # noqa: E731  (a stand-in network)
        mist = {"you counted images (calls x batch size): NFE counts network calls.": calls * batch,
                "one call too many: run the sampler once and count, do not add a warm-up call.":
                    calls + 1}
        if asked != calls:
            mist["you returned the steps asked for: count the calls that actually happen."] = asked
        cases.append(Case(label, {"sampler": _FakeSampler(calls, batch, asked), "model": model},
                          calls, mist))
    return cases


@register("count_nfe", "notebooks/06_measuring.ipynb", "count the network evaluations of a sampler",
          "my_count_nfe(sampler, model) -> int: run sampler(wrapped_model) once and return how "
          "often the wrapped model was called",
          reference_count_nfe, (),
          "Define a function counted(*args, **kwargs) that adds 1 to a counter (nonlocal, or a "
          "list) and returns model(*args, **kwargs); call sampler(counted); return the counter.")
def check_count_nfe(fn) -> CheckResult:
    """Checker of ``count_nfe`` (notebook 06)."""
    return run_cases("count_nfe", fn, _nfe_cases(), EXERCISES["count_nfe"].signature,
                     compare=lambda a, b: a.shape == b.shape and bool((a - b).abs().max() < 0.5))
