"""FID and KID of generated sets against one shared reference set, with bootstrap
intervals. Introduced in ``notebooks/06_measuring.ipynb``; the paper reports FID in
Sec. 5 / Table 1 (Heusel et al.'s definition); KID is Binkowski et al. (2018).

The Inception features of the reference set (for example the whole test split) are
extracted once and kept in a :class:`Reference`; every generated set is then scored
against the same statistics. FID and KID come from ``torchmetrics`` fed with the
precomputed features (a pass-through "feature extractor"), so the numbers are
torchmetrics' own.

Why a hand-written path as well: a 95% interval needs the FID of hundreds of bootstrap
resamples, and torchmetrics takes the square root of a 2048 x 2048 matrix product
for each (seconds on a CPU). :meth:`Reference.fid_bootstrap` uses the identity
tr sqrt(S_r S_f) = sum sqrt(eig(X S_r X^T / (n - 1))), X the centred generated features:
an n x n eigenproblem (n = number of generated images) instead of 2048 x 2048.
``tests/test_fidkid.py`` checks it against torchmetrics.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

KID_SUBSETS = 100


class _Passthrough(nn.Module):
    """A torchmetrics "feature extractor" for features computed beforehand."""

    def __init__(self, num_features: int = 2048):
        super().__init__()
        self.num_features = num_features

    def forward(self, feats):
        return feats


@torch.no_grad()
def inception_features(images: torch.Tensor, batch_size: int = 50, extractor=None) -> torch.Tensor:
    """(N, 2048) float64 FID-Inception features of images (N, 3, H, W) in [-1, 1]
    (rounded to 8 bit and resized to 299 px by the extractor). Notebook 06."""
    from .metrics import get_fid_extractor
    extractor = extractor if extractor is not None else get_fid_extractor("cpu")
    dev = next(extractor.parameters()).device
    out = [extractor(images[i:i + batch_size].to(dev)).double().cpu()
           for i in range(0, images.shape[0], batch_size)]
    return torch.cat(out)


def cached_inception_features(images: torch.Tensor, cache_dir=None, extractor=None) -> torch.Tensor:
    """:func:`inception_features` of a fixed real set (the test or val split), cached on
    disk under ``cache_dir`` (default ``runs/cache`` of the repository) by
    :class:`~codi_lib.evaluation.result_cache.TensorCache`, keyed by the 8-bit image bytes
    and the extractor's weights. Notebook 06."""
    from .metrics import get_fid_extractor
    from .result_cache import TensorCache, digest
    from ..training.paths import RUNS_DIR
    extractor = extractor if extractor is not None else get_fid_extractor("cpu")
    levels = ((images.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    key = digest(levels, str(getattr(extractor, "weights_path", type(extractor).__name__)))
    cache = TensorCache(cache_dir or RUNS_DIR / "cache")
    hit = cache.load("inception", key)
    if hit is not None:
        return hit[0]["features"]
    feats = inception_features(images, extractor=extractor)
    cache.save("inception", key, {"features": feats})
    return feats


def fid_from_features(real: torch.Tensor, fake: torch.Tensor) -> float:
    """FID between two feature sets, computed by torchmetrics. Notebook 06."""
    from torchmetrics.image.fid import FrechetInceptionDistance
    if real.shape[0] < 2 or fake.shape[0] < 2:
        raise ValueError("FID needs at least 2 images in each set")
    m = FrechetInceptionDistance(feature=_Passthrough(real.shape[1]), reset_real_features=True)
    m.update(real.double(), real=True)
    m.update(fake.double(), real=False)
    return float(m.compute())


def kid_subset_size(n_real: int, n_fake: int) -> int:
    """KID's subset size: half the smaller set (so subsets differ), at most 1000."""
    return max(2, min(1000, min(n_real, n_fake) // 2))


def kid_from_features(real: torch.Tensor, fake: torch.Tensor, seed: int = 0,
                      subsets: int = KID_SUBSETS) -> tuple[float, float]:
    """KID (mean, standard deviation over ``subsets`` random subsets) by torchmetrics'
    ``KernelInceptionDistance`` (cubic polynomial kernel, unbiased MMD^2). Notebook 06."""
    import warnings

    from torchmetrics.image.kid import KernelInceptionDistance
    warnings.filterwarnings("ignore", message=".*will save all extracted features.*")
    m = KernelInceptionDistance(feature=_Passthrough(real.shape[1]), subsets=subsets,
                                subset_size=kid_subset_size(len(real), len(fake)))
    m.update(real.float(), real=True)
    m.update(fake.float(), real=False)
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        mean, std = m.compute()
    finally:
        torch.random.set_rng_state(state)
    return float(mean), float(std)


def shifted_interval(estimate: float, resampled, level: float = 0.95) -> list[float]:
    """The percentile bootstrap interval moved so that the resamples' median sits on
    the full-set estimate: [est - (q_50 - q_lo), est + (q_hi - q_50)]. Notebook 06."""
    q = torch.tensor([(1 - level) / 2, 0.5, (1 + level) / 2], dtype=torch.float64)
    vals = torch.as_tensor(resampled, dtype=torch.float64)
    lo, mid, hi = torch.quantile(vals[~vals.isnan()], q).tolist()
    return [estimate - (mid - lo), estimate + (hi - mid)]


def percentile_interval(resampled, level: float = 0.95) -> list[float]:
    """The percentile bootstrap interval [q_lo, q_hi] (for unbiased means). Notebook 06."""
    q = torch.tensor([(1 - level) / 2, (1 + level) / 2], dtype=torch.float64)
    return torch.quantile(torch.as_tensor(resampled, dtype=torch.float64), q).tolist()


def mean_interval(values: torch.Tensor, resamples: int = 1000, seed: int = 0,
                  level: float = 0.95) -> list[float]:
    """The bootstrap interval of the mean of per-image ``values`` (N,): resample the N
    images with replacement ``resamples`` times. Per-image differences between two
    methods on the same images give the paired interval of the difference. Notebook 06."""
    gen = torch.Generator().manual_seed(seed)
    n = values.shape[0]
    idx = torch.randint(0, n, (resamples, n), generator=gen)
    return percentile_interval(values.double()[idx].mean(1), level)


def _poly_kernel(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a @ b.T / a.shape[1] + 1.0) ** 3


@dataclass
class Reference:
    """The Inception statistics of one fixed reference set (e.g. the 608 test images).

    Build with :meth:`from_images` (or from features); score generated sets with
    :meth:`score` (FID, KID and their bootstrap intervals). Notebook 06."""

    features: torch.Tensor  # (M, 2048) float64

    def __post_init__(self):
        f = self.features.double()
        self.mean = f.mean(0)
        self.cov = torch.cov(f.T)
        self.trace = float(self.cov.trace())

    @classmethod
    def from_images(cls, images: torch.Tensor, extractor=None) -> "Reference":
        return cls(inception_features(images, extractor=extractor))

    def __len__(self) -> int:
        return self.features.shape[0]

    def fid(self, fake: torch.Tensor) -> float:
        """FID of generated features ``fake`` (n, 2048) against this reference, by the
        n x n identity of the module docstring: torchmetrics' value (checked in the
        tests) in 0.2 s instead of 30 s on one CPU core."""
        n = fake.shape[0]
        mu = fake.mean(0)
        xc = fake - mu
        gram = xc @ self.cov @ xc.T / (n - 1)
        eig = torch.linalg.eigvalsh(gram).clamp_min(0)
        tr_fake = float((xc * xc).sum() / (n - 1))
        return float((self.mean - mu).square().sum()) + self.trace + tr_fake - 2 * float(eig.sqrt().sum())

    def kid(self, fake: torch.Tensor, seed: int = 0) -> tuple[float, float]:
        """KID (mean, std over subsets) of ``fake`` against this reference."""
        return kid_from_features(self.features, fake, seed=seed)

    def prepare(self, fake: torch.Tensor) -> "_Resampler":
        """Precompute what resampled FIDs/KIDs of ``fake`` need (n x n matrices)."""
        return _Resampler(self, fake.double())

    def bootstrap(self, fake: torch.Tensor, resamples: int = 300, seed: int = 0,
                  level: float = 0.95) -> dict:
        """Bootstrap 95% intervals of FID and KID: resample the generated set with
        replacement, keep the reference fixed (benchmark protocol step 3). FID of a
        resample with repeated images is biased upward by a near-constant amount
        (fewer distinct images), so plain percentiles would not even contain the
        estimate: the interval keeps the resamples' spread and is centred on the
        full-set value (:func:`shifted_interval`). KID's statistic here is the unbiased
        MMD^2 of the whole sets, with pairs of copies of one image left out.
        Returns ``{"fid_ci": [lo, hi], "kid_ci": [lo, hi]}``."""
        r = self.prepare(fake)
        gen = torch.Generator().manual_seed(seed)
        n = fake.shape[0]
        fids, kids = [], []
        for _ in range(resamples):
            idx = torch.randint(0, n, (n,), generator=gen)
            fids.append(r.fid(idx))
            kids.append(r.kid(idx))
        full = torch.arange(n)
        return {"fid_ci": shifted_interval(r.fid(full), fids, level),
                "kid_ci": shifted_interval(r.kid(full), kids, level)}

    def paired_fid_diff(self, fake_a: torch.Tensor, fake_b: torch.Tensor,
                        resamples: int = 300, seed: int = 0, level: float = 0.95) -> dict:
        """FID(a) - FID(b) and its paired bootstrap interval: both sets were made from
        the same conditions and noise, so each resample draws one set of image indices
        and applies it to both. Returns ``{"diff": d, "ci": [lo, hi]}``."""
        if fake_a.shape[0] != fake_b.shape[0]:
            raise ValueError("paired sets must have the same size")
        ra, rb = self.prepare(fake_a), self.prepare(fake_b)
        gen = torch.Generator().manual_seed(seed)
        n = fake_a.shape[0]
        diffs = []
        for _ in range(resamples):
            idx = torch.randint(0, n, (n,), generator=gen)
            diffs.append(ra.fid(idx) - rb.fid(idx))
        full = torch.arange(n)
        d = ra.fid(full) - rb.fid(full)
        return {"diff": d, "ci": shifted_interval(d, diffs, level)}

    def score(self, fake_images: torch.Tensor | None = None, fake_features=None,
              resamples: int = 0, seed: int = 0, extractor=None) -> dict:
        """FID and KID (+ KID's subset std, + bootstrap intervals when ``resamples`` > 0)
        of a generated set given as images in [-1, 1] or as features."""
        feats = fake_features if fake_features is not None else inception_features(
            fake_images, extractor=extractor)
        kid, kid_std = self.kid(feats, seed=seed)
        out = {"fid": self.fid(feats), "kid": kid, "kid_std": kid_std}
        if resamples > 0:
            out.update(self.bootstrap(feats, resamples=resamples, seed=seed))
        return out


class _Resampler:
    """FID and KID of index-resamples of one generated set against a reference, from
    n x n matrices computed once: the raw Gram matrix F F^T (for the trace and the mean
    term), F S_r F^T (for tr sqrt(S_r S_f)), and the kernel sums of KID."""

    def __init__(self, ref: Reference, fake: torch.Tensor):
        self.ref, self.fake = ref, fake
        self.raw = fake @ fake.T
        self.cross = fake @ ref.cov @ fake.T
        self.ref_mean_dot = fake @ ref.mean          # (n,)
        self.ref_mean_sq = float(ref.mean @ ref.mean)
        m = len(ref)
        k_rr = _poly_kernel(ref.features, ref.features)
        self.rr = float(k_rr.sum() - k_rr.diagonal().sum()) / (m * (m - 1))
        self.k_ff = _poly_kernel(fake, fake)
        self.k_rf_col = _poly_kernel(ref.features, fake).mean(0)

    @staticmethod
    def _centre(g: torch.Tensor) -> torch.Tensor:
        return g - g.mean(0, keepdim=True) - g.mean(1, keepdim=True) + g.mean()

    def fid(self, idx: torch.Tensor) -> float:
        n = idx.shape[0]
        raw = self.raw[idx][:, idx]
        mu_sq = float(raw.mean())  # |mean of the resample|^2
        mu_dot = float(self.ref_mean_dot[idx].mean())
        tr_fake = float(self._centre(raw).trace()) / (n - 1)
        eig = torch.linalg.eigvalsh(self._centre(self.cross[idx][:, idx]) / (n - 1))
        mean_term = self.ref_mean_sq - 2 * mu_dot + mu_sq
        return mean_term + self.ref.trace + tr_fake - 2 * float(eig.clamp_min(0).sqrt().sum())

    def kid(self, idx: torch.Tensor) -> float:
        c = torch.bincount(idx, minlength=self.fake.shape[0]).double()
        pairs = float(c.sum() ** 2 - (c * c).sum())
        if pairs == 0:  # every draw was the same image (tiny sets): no pair to compare
            return float("nan")
        ff = float(c @ self.k_ff @ c - (c * c * self.k_ff.diagonal()).sum()) / pairs
        rf = float((c * self.k_rf_col).sum() / c.sum())
        return self.rr + ff - 2 * rf
