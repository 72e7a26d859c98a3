"""FID/KID against a shared reference (codi_lib.fidkid) and the teacher's sharpness check."""
import torch

from codi_lib.evaluation.fidkid import Reference, fid_from_features, kid_from_features, shifted_interval
from codi_lib.evaluation.teacher_quality import hf_ratio, high_frequency_energy


def _feats(n, shift=0.0, scale=1.0, seed=0, dim=64):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, dim, generator=g, dtype=torch.float64) * scale + shift


def test_fast_fid_equals_torchmetrics():
    real, fake = _feats(120, seed=1), _feats(90, 0.3, 1.2, seed=2)
    ref = Reference(real)
    assert abs(ref.fid(fake) - fid_from_features(real, fake)) < 1e-6 * max(1.0, ref.fid(fake))


def test_resampler_full_index_matches_direct_values():
    real, fake = _feats(100, seed=3), _feats(80, 0.2, seed=4)
    ref = Reference(real)
    r = ref.prepare(fake)
    full = torch.arange(80)
    assert abs(r.fid(full) - ref.fid(fake)) < 1e-6 * ref.fid(fake)
    # a resample with repeats equals the FID of the repeated set itself
    idx = torch.tensor([0, 0, 1, 5, 7, 7, 7, 9] * 10)
    assert abs(r.fid(idx) - ref.fid(fake[idx])) < 1e-6 * ref.fid(fake[idx])
    # KID of the full set: unbiased MMD^2 close to torchmetrics' subset mean
    kid, std = kid_from_features(real, fake)
    assert abs(r.kid(full) - kid) < 3 * std + 1e-4


def test_fid_and_kid_separate_shifted_sets_and_intervals_cover_the_estimate():
    real = _feats(200, seed=5)
    same, far = _feats(200, seed=6), _feats(200, 0.5, seed=7)
    ref = Reference(real)
    s_same, s_far = ref.score(fake_features=same, resamples=60), ref.score(fake_features=far, resamples=60)
    assert s_far["fid"] > s_same["fid"] and s_far["kid"] > s_same["kid"]
    assert abs(s_same["kid"]) < 3 * s_same["kid_std"] + 1e-3  # same distribution: KID ~ 0
    for s in (s_same, s_far):
        assert s["fid_ci"][0] <= s["fid"] <= s["fid_ci"][1]
        assert s["kid_ci"][0] <= s["kid"] <= s["kid_ci"][1]
    assert s_same["fid_ci"][1] < s_far["fid_ci"][0]


def test_paired_fid_difference_sign_and_interval():
    real = _feats(150, seed=8)
    good, bad = _feats(150, 0.05, seed=9), _feats(150, 0.6, seed=10)
    p = Reference(real).paired_fid_diff(good, bad, resamples=80)
    assert p["diff"] < 0 and p["ci"][1] < 0


def test_shifted_interval_is_centred_on_estimate():
    lo, hi = shifted_interval(10.0, [19.0, 20.0, 21.0] * 50)
    assert lo < 10.0 < hi and abs((10.0 - lo) - (hi - 10.0)) < 1e-9


def test_hf_ratio_sees_speckle_and_blur():
    g = torch.Generator().manual_seed(0)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, 32), torch.linspace(-1, 1, 32), indexing="ij")
    smooth = torch.stack([yy, xx, yy * xx]).expand(8, 3, 32, 32).clone() * 0.8
    speckled = smooth.clone()
    dots = torch.rand(8, 1, 32, 32, generator=g) < 0.03
    speckled[dots.expand(-1, 3, -1, -1)] = 1.0
    blurred = torch.nn.functional.avg_pool2d(speckled, 3, 1, 1)
    assert abs(hf_ratio(smooth, smooth) - 1.0) < 1e-9
    assert hf_ratio(speckled, smooth) > 1.5
    assert hf_ratio(blurred, speckled) < 0.9
    assert high_frequency_energy(torch.zeros(2, 3, 8, 8)) == 0.0
