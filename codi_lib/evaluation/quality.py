"""The one quality API of the course: how close generated images are to the ground
truth, and FID against one shared reference set.

* :func:`quality` (means) and :func:`quality_per_image` (one number per image): LPIPS
  (AlexNet, both images upsampled to :data:`~codi_lib.evaluation.metrics.LPIPS_SIZE` =
  64 px, where it still responds on 32 px emoji), PSNR and SSIM. The benchmark, the
  lessons, the side-by-side widget and ``codi poc`` all measure through these.
* :class:`FidReference`: the real set's Inception statistics computed once, then FID of
  any number of generated sets against it (as the benchmark does for its rows).

Introduced in ``notebooks/06_measuring.ipynb``. The paper reports LPIPS and FID
(Sec. 5, Table 1); PSNR and SSIM have no paper equation.
"""
from __future__ import annotations

import torch

from . import metrics
from .metrics import LPIPS_SIZE, lpips_distance, psnr, ssim

QUALITY_METRICS = ("lpips", "psnr", "ssim")


def quality_per_image(pred: torch.Tensor, truth: torch.Tensor,
                      which=QUALITY_METRICS) -> dict[str, torch.Tensor]:
    """{metric: (N,) tensor} of ``pred`` against ``truth`` ((N, 3, H, W) in [-1, 1]) for
    the metrics in ``which`` (LPIPS at 64 px, PSNR, SSIM). Notebook 06."""
    fns = {"lpips": lambda: lpips_distance(pred, truth, size=LPIPS_SIZE),
           "psnr": lambda: psnr(pred, truth), "ssim": lambda: ssim(pred, truth)}
    unknown = set(which) - set(fns)
    if unknown:
        raise ValueError(f"unknown metric(s) {sorted(unknown)}; known: {QUALITY_METRICS}")
    return {k: fns[k]() for k in which}


def quality(pred: torch.Tensor, truth: torch.Tensor, which=QUALITY_METRICS) -> dict[str, float]:
    """Mean LPIPS (at 64 px), PSNR and SSIM of ``pred`` against ``truth``. Notebook 06."""
    return {k: float(v.mean()) for k, v in quality_per_image(pred, truth, which).items()}


class FidReference:
    """FID against one real set whose Inception statistics are computed once:
    ``ref = FidReference(real); ref(fake_a); ref(fake_b)``. A thin front of
    :class:`codi_lib.evaluation.fidkid.Reference` (the one FID/KID implementation of the
    course; the benchmark uses it directly for KID and intervals). Notebook 06."""

    def __init__(self, real: torch.Tensor, batch_size: int = 50, extractor=None):
        from .fidkid import Reference, inception_features
        if real.shape[0] < 2:
            raise ValueError("FID needs at least 2 images in each set")
        self.extractor = extractor if extractor is not None else metrics.get_fid_extractor()
        self.batch_size = batch_size
        self._features = lambda x: inception_features(x, batch_size, self.extractor)
        self.reference = Reference(self._features(real))

    def __call__(self, fake: torch.Tensor) -> float:
        if fake.shape[0] < 2:
            raise ValueError("FID needs at least 2 images in each set")
        return self.reference.fid(self._features(fake))


def fid_against(real: torch.Tensor, fakes: dict, batch_size: int = 50) -> dict[str, float]:
    """{label: FID} of every set in ``fakes`` ({label: (N, 3, H, W)}) against the same
    ``real`` set (statistics computed once). Notebook 06."""
    ref = FidReference(real, batch_size)
    return {label: ref(fake) for label, fake in fakes.items()}
