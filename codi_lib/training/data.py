"""Data: the shipped 32x32 emoji set, a loader for a folder of your own images, and
helpers to turn model outputs back into pictures.

Images travel through the course as float tensors (3, H, W) in [-1, 1]; they are stored
and cached as uint8. ``load_emoji``/``EmojiDataset`` are introduced in
``notebooks/02_teacher.ipynb``, ``ImageFolderDataset`` in
``notebooks/08_your_images.ipynb``. Data is not an equation: no paper equation here.
"""
from __future__ import annotations

import json
import os
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from .paths import DATA_DIR_ENV, data_dir  # noqa: F401  (the one definition of data/)

EMOJI_FILE = "emoji32.npz"
REBUILD_COMMAND = (
    "python scripts/build_emoji_dataset.py "
    "--font /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf --out data/emoji32.npz"
)
SPLITS = ("train", "test", "all", "fit", "val")
VAL_FRACTION = 0.1  # share of the train split's base emoji held out as "val"
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")


@dataclass(frozen=True)
class EmojiData:
    """Emoji images with their labels, as stored in ``emoji32.npz``.

    ``images`` is (N, 32, 32, 3) uint8; ``names`` are the font's glyph names,
    ``sequences`` the emoji codepoint sequences (hex, ``_``-joined) and ``base`` the
    base-emoji keys that the train/test split groups by. Introduced in
    notebooks/02_teacher.ipynb; no paper equation.
    """

    images: np.ndarray
    names: np.ndarray
    sequences: np.ndarray
    base: np.ndarray
    metadata: dict

    def __len__(self) -> int:
        return len(self.images)


def load_emoji(split: str = "train", path: str | os.PathLike | None = None) -> EmojiData:
    """Load the shipped Noto emoji set (``split``: "train", "test", "all", "fit" or "val").

    "val" is a validation split carved from "train" by base emoji (about 10% of the
    base keys, chosen by a hash of the key, so variants stay together and the choice
    never changes); "fit" is the rest of "train". Recipes are decided on "val", never
    on "test".

    ``path`` defaults to ``data_dir() / "emoji32.npz"``. A missing file raises
    FileNotFoundError and an unreadable one ValueError, both naming the path and the
    command that rebuilds it. Introduced in notebooks/02_teacher.ipynb; no paper equation.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    path = Path(path) if path is not None else data_dir() / EMOJI_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"emoji data set not found at {path}; rebuild it from the repository root "
            f"with: {REBUILD_COMMAND}")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in ("images", "names", "sequences", "base", "split",
                                          "metadata")}
        metadata = json.loads(str(arrays["metadata"]))
        images, split_arr = arrays["images"], arrays["split"]
        n = len(images)
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
            raise ValueError(f"images have dtype {images.dtype} and shape {images.shape}")
        if any(len(arrays[k]) != n for k in ("names", "sequences", "base", "split")):
            raise ValueError("arrays have different lengths")
        if not np.isin(split_arr, ("train", "test")).all():
            raise ValueError("split holds values other than 'train'/'test'")
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
        raise ValueError(
            f"emoji data set at {path} is unreadable or corrupt ({err}); rebuild it "
            f"from the repository root with: {REBUILD_COMMAND}") from err
    if split == "all":
        keep = np.ones(n, bool)
    elif split in ("fit", "val"):
        in_val = np.array([is_val_base(b) for b in arrays["base"]])
        keep = (split_arr == "train") & (in_val if split == "val" else ~in_val)
    else:
        keep = split_arr == split
    return EmojiData(images[keep], arrays["names"][keep], arrays["sequences"][keep],
                     arrays["base"][keep], metadata)


def is_val_base(base_key: str) -> bool:
    """Whether a base emoji of the train split belongs to the "val" split: a stable
    hash of the key, so the choice is the same on every machine and never depends on
    the test split. No paper equation."""
    import hashlib
    h = int.from_bytes(hashlib.sha1(str(base_key).encode()).digest()[:4], "big")
    return h / 2 ** 32 < VAL_FRACTION


def uint8_to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 (..., 3, H, W) -> float32 in [-1, 1]: the one place this conversion is
    written (its inverse is :func:`to_uint8_images`)."""
    return images.float() / 127.5 - 1.0


def emoji_batch(split: str = "test", n: int | None = 8, start: int = 0) -> torch.Tensor:
    """``n`` emoji of ``split`` from index ``start`` (``n=None``: all of them) as a float
    (n, 3, 32, 32) tensor in [-1, 1]: the "x" of (C1). Introduced in
    notebooks/00_welcome.ipynb; no paper equation."""
    imgs = load_emoji(split).images
    imgs = imgs[start:] if n is None else imgs[start:start + n]
    return uint8_to_float(torch.from_numpy(imgs).permute(0, 3, 1, 2))


class _CachedImages(torch.utils.data.Dataset):
    """uint8 images cached as a (N, 3, H, W) tensor, served as float in [-1, 1]."""

    def __init__(self, images_hwc: np.ndarray, hflip: bool,
                 generator: torch.Generator | None):
        self.images = torch.from_numpy(np.ascontiguousarray(images_hwc)).permute(0, 3, 1, 2)
        self.hflip = hflip
        self.generator = generator

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> torch.Tensor:
        x = uint8_to_float(self.images[index])
        if self.hflip and torch.rand((), generator=self.generator) < 0.5:
            x = x.flip(-1)
        return x


class EmojiDataset(_CachedImages):
    """The emoji set as a torch Dataset of float32 tensors (3, 32, 32) in [-1, 1].

    ``hflip=True`` flips each image horizontally with probability 0.5, drawing from
    ``generator`` (default: torch's global RNG, which a DataLoader seeds per worker).
    ``images`` holds the uint8 cache as a (N, 3, 32, 32) tensor; ``names``,
    ``sequences`` and ``base`` give the labels of each item.
    Introduced in notebooks/02_teacher.ipynb; no paper equation.
    """

    def __init__(self, split: str = "train", hflip: bool = False,
                 path: str | os.PathLike | None = None,
                 generator: torch.Generator | None = None):
        data = load_emoji(split, path)
        super().__init__(data.images, hflip, generator)
        self.names, self.sequences, self.base = data.names, data.sequences, data.base


def _to_rgb(img: Image.Image) -> Image.Image:
    """Any PIL mode -> RGB: 16/32-bit integer and float images are rescaled, images
    with transparency are composited onto white."""
    if img.mode.startswith("I") or img.mode == "F":
        a = np.asarray(img, dtype=np.float64)
        if img.mode == "F" and a.max(initial=0) <= 1:
            a = a * 255  # float images in [0, 1]
        elif img.mode != "F":
            a = a / 257  # 16-bit range 0..65535 -> 0..255
        img = Image.fromarray(np.clip(np.round(a), 0, 255).astype(np.uint8), "L")
    if "A" in img.getbands() or "transparency" in img.info:
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return img.convert("RGB")


def _load_square(path: Path, size: int, min_size: int) -> np.ndarray:
    """Decode one file fully and return it as (size, size, 3) uint8; raises on any
    problem with a message that becomes the file's reason."""
    if path.stat().st_size == 0:
        raise ValueError("empty file (0 bytes)")
    with Image.open(path) as img:
        img.load()
        img = ImageOps.exif_transpose(img)
    w, h = img.size
    if min(w, h) < min_size:
        raise ValueError(f"too small ({w}x{h} px, min_size={min_size})")
    img = _to_rgb(img)
    side = min(w, h)  # centre square, then resize: same as shorter side -> size + crop
    box = ((w - side) / 2, (h - side) / 2, (w + side) / 2, (h + side) / 2)
    img = img.resize((size, size), Image.Resampling.LANCZOS, box=box, reducing_gap=3.0)
    return np.asarray(img, dtype=np.uint8)


def _describe(bad: list[tuple[str, str]]) -> str:
    return "\n".join(f"  {path}: {reason}" for path, reason in bad)


class ImageFolderDataset(_CachedImages):
    """Your own images as a torch Dataset of float32 tensors (3, size, size) in [-1, 1].

    The folder is scanned recursively for png/jpg/jpeg/bmp/gif/webp/tif/tiff files;
    each is decoded once, up front (EXIF orientation applied, any mode converted to RGB,
    transparency composited onto white), resized so its shorter side is ``size`` and
    centre-cropped, then cached as uint8, so nothing can fail mid-epoch. Files that are
    unreadable, truncated, empty, not images or smaller than ``min_size`` pixels are
    listed in ``bad_files`` as (path, reason): ``on_bad="warn"`` skips them with one
    warning naming them all, ``on_bad="error"`` raises ValueError naming them all. A
    folder without any usable image raises ValueError. ``images`` is the uint8 cache,
    a (N, 3, size, size) tensor, ``paths`` the files it came from; ``hflip`` and
    ``generator`` work as in EmojiDataset. Introduced in notebooks/08_your_images.ipynb; no paper equation.
    """

    def __init__(self, root: str | os.PathLike, size: int = 32, hflip: bool = False,
                 min_size: int = 8, on_bad: str = "warn",
                 generator: torch.Generator | None = None):
        if on_bad not in ("warn", "error"):
            raise ValueError(f"on_bad must be 'warn' or 'error', got {on_bad!r}")
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"image folder not found: {self.root}")
        files = sorted(p for p in self.root.rglob("*")
                       if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
        self.paths: list[Path] = []
        self.bad_files: list[tuple[str, str]] = []
        images = []
        for path in files:
            try:
                images.append(_load_square(path, size, min_size))
                self.paths.append(path)
            except Exception as err:  # any decoding failure makes the file unusable
                reason = ("not a recognised image file"
                          if isinstance(err, UnidentifiedImageError)
                          else str(err) or type(err).__name__)
                self.bad_files.append((str(path), reason))
        if not images:
            found = f"; unusable files:\n{_describe(self.bad_files)}" if files else ""
            raise ValueError(f"no usable image in folder {self.root} (extensions: "
                             f"{', '.join(IMAGE_EXTENSIONS)}){found}")
        if self.bad_files:
            message = (f"{len(self.bad_files)} unusable file(s) in {self.root}:\n"
                       f"{_describe(self.bad_files)}")
            if on_bad == "error":
                raise ValueError(message)
            warnings.warn(f"skipping {message}", stacklevel=2)
        super().__init__(np.stack(images), hflip, generator)


def to_uint8_images(images: torch.Tensor) -> np.ndarray:
    """Float images (B, 3, H, W) (or one (3, H, W)) in [-1, 1] -> uint8 (B, H, W, 3)
    numpy, clamping out-of-range values. Introduced in notebooks/02_teacher.ipynb;
    no paper equation."""
    x = images.detach().to("cpu", torch.float32)
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"expected (B, 3, H, W) images, got shape {tuple(images.shape)}")
    x = ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return x.permute(0, 2, 3, 1).numpy()


def make_grid_image(images: torch.Tensor | np.ndarray, nrow: int = 8, padding: int = 2,
                    scale: int = 1) -> Image.Image:
    """Tile images into one RGB PIL image with ``nrow`` images per row.

    ``images`` is a float tensor (B, 3, H, W) in [-1, 1] or uint8 (B, H, W, 3);
    ``padding`` white pixels separate the tiles and ``scale`` enlarges the result
    (nearest neighbour, to see 32x32 pixels). Introduced in notebooks/02_teacher.ipynb;
    no paper equation.
    """
    if isinstance(images, torch.Tensor) and images.dtype != torch.uint8:
        images = to_uint8_images(images)
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise ValueError(f"expected uint8 (B, H, W, 3) images, got {images.dtype} "
                         f"{images.shape}")
    b, h, w, _ = images.shape
    ncol = max(1, min(nrow, b))
    rows = -(-b // ncol)
    grid = np.full((rows * (h + padding) + padding, ncol * (w + padding) + padding, 3),
                   255, np.uint8)
    for i, img in enumerate(images):
        top, left = padding + (i // ncol) * (h + padding), padding + (i % ncol) * (w + padding)
        grid[top:top + h, left:left + w] = img
    out = Image.fromarray(grid)
    if scale != 1:
        out = out.resize((out.width * scale, out.height * scale), Image.Resampling.NEAREST)
    return out
