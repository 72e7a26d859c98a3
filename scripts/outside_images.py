"""Write a folder of "outside" photographs for trying ``codi poc`` on images the course
never trained on: random square crops (at several scales) of the photographs that ship
inside scikit-image (astronaut, cat, coffee, rocket, motorcycle, Hubble field, retina,
microscopy, and greyscale camera, coins, moon, grass, gravel, brick), saved as JPEG, PNG
and WebP of odd sizes. Offline and deterministic.

    python scripts/outside_images.py runs/outside --n 121
    codi poc --images runs/outside --task sr4 --out runs/poc-outside
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data

SOURCES = ("astronaut", "chelsea", "coffee", "rocket", "stereo_motorcycle", "hubble_deep_field",
           "retina", "immunohistochemistry", "camera", "coins", "moon", "grass", "gravel", "brick")


def _photo(name: str) -> Image.Image:
    img = getattr(data, name)()
    if isinstance(img, tuple):
        img = img[0]
    return Image.fromarray(np.asarray(img)).convert("RGB")


def write_folder(out: Path, n: int, seed: int = 0) -> list[Path]:
    rng = np.random.default_rng(seed)
    photos = [_photo(s) for s in SOURCES]
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for i in range(n):
        k = i % len(photos)
        im = photos[k]
        side = int(min(im.size) * rng.uniform(0.15, 0.6))
        x = int(rng.integers(0, im.width - side + 1))
        y = int(rng.integers(0, im.height - side + 1))
        crop = im.crop((x, y, x + side, y + side))
        w = int(rng.integers(48, 160))
        h = int(w * rng.uniform(0.8, 1.25))
        crop = crop.resize((w, h), Image.Resampling.LANCZOS)
        fmt, ext = [("JPEG", "jpg"), ("PNG", "png"), ("WEBP", "webp")][i % 3]
        path = out / f"{SOURCES[k]}_{i:03d}.{ext}"
        crop.save(path, format=fmt)
        written.append(path)
    return written


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--n", type=int, default=121)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    print(len(write_folder(a.out, a.n, a.seed)), "images in", a.out)
