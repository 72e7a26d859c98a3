"""How good is an unconditional teacher? FID and KID of its DDIM samples against real
images, beside the real-data floor, and a sharpness check that shows speckle and blur.
Introduced in ``notebooks/02_teacher.ipynb``; the paper's teacher is simply "a
pretrained diffusion model" (Sec. 3): this module is how the course checks that its own
small teacher deserves that name.

- FID / KID: N samples against the reference split (the whole test split by default).
- The floor: N random *training* images against the same reference, same protocol. At
  32 px and a few hundred images FID is far from 0 even for real images; a teacher is
  judged by its ratio to this floor, not by the raw number.
- The high-frequency ratio: mean |Laplacian| of the samples over that of the reference
  images. 1.0 is as sharp as real data; scattered noise dots (speckle) push it above 1,
  blur below 1.
"""
from __future__ import annotations

import time

import torch
import torch.nn.functional as F

from ..training.paths import dataset_of
from .fidkid import Reference, cached_inception_features

#: What a teacher should reach: FID at most this multiple of the real-data floor, and a
#: high-frequency ratio in this range (neither speckled nor blurred).
FID_OVER_FLOOR_GOAL = 1.6
HF_RATIO_GOAL = (0.97, 1.05)

LAPLACIAN = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])


def high_frequency_energy(images: torch.Tensor) -> float:
    """Mean |Laplacian| (3x3, per channel, valid pixels only) of images (N, 3, H, W)
    in [-1, 1], measured on [0, 1] intensities after rounding to 8 bit. Notebook 02."""
    x = ((images.float().clamp(-1, 1) + 1) * 127.5).round() / 255.0
    c = x.shape[1]
    k = LAPLACIAN.to(x.dtype).expand(c, 1, 3, 3)
    return float(F.conv2d(x, k, groups=c).abs().mean())


def hf_ratio(samples: torch.Tensor, reference: torch.Tensor) -> float:
    """High-frequency ratio: :func:`high_frequency_energy` of ``samples`` over that of
    ``reference``. Notebook 02."""
    return high_frequency_energy(samples) / high_frequency_energy(reference)


@torch.no_grad()
def teacher_samples(teacher, cfg, n: int, steps: int = 50, sampler: str = "ddim",
                    seed: int = 0, batch_size: int = 128, progress: bool = False) -> torch.Tensor:
    """``n`` samples of an unconditional teacher (batches of ``batch_size``, noise of
    batch i from seed ``seed + i``). Notebook 02."""
    from tqdm.auto import tqdm

    from ..method.sampling import sample
    shape = (cfg.unet.in_channels, cfg.unet.sample_size, cfg.unet.sample_size)
    out = []
    for i in tqdm(range(0, n, batch_size), disable=not progress, desc=f"{sampler}-{steps}"):
        b = min(batch_size, n - i)
        out.append(sample(lambda z, t: teacher(z, t), cfg.schedule, b, steps, sampler,
                          seed=seed + i // batch_size, shape=shape))
    return torch.cat(out)


def reference_images(split: str = "test", dataset: str = "emoji") -> torch.Tensor:
    """The real images (RGB) of a split of ``dataset`` ("emoji", or "scenes": the depth
    task's rendered scenes) as floats in [-1, 1]. Notebook 02."""
    if dataset == "scenes":
        from ..training.scene_data import load_scenes, scene_tensor
        return scene_tensor(load_scenes(split))[:, :3]
    from ..training.data import emoji_batch
    return emoji_batch(split, None)


def floor_images(n: int, split: str = "train", seed: int = 0,
                 dataset: str = "emoji") -> torch.Tensor:
    """``n`` random real images of ``split`` (the floor's stand-in for samples)."""
    pool = reference_images(split, dataset)
    if n > len(pool):
        raise ValueError(f"n={n} exceeds the {len(pool)} images of split {split!r}")
    idx = torch.randperm(len(pool), generator=torch.Generator().manual_seed(seed))[:n]
    return pool[idx]


def teacher_quality(teacher, cfg, n: int | None = None, reference: str = "test",
                    floor_split: str = "train", steps: int = 50, seed: int = 0,
                    progress: bool = False, grid=None) -> dict:
    """Measure a teacher: FID, KID (+ std over subsets) and the high-frequency ratio of
    ``n`` DDIM-``steps`` samples against the ``reference`` split (all of it), and the
    same for ``n`` random ``floor_split`` images (the floor). ``n`` defaults to the
    size of the reference split; ``grid`` (a PNG path) also saves the first 64 samples.
    Returns the dict written to ``quality.json``.
    Notebook 02."""
    t0 = time.perf_counter()
    dataset = dataset_of(cfg.data)   # the scene teacher is measured on the scenes
    real = reference_images(reference, dataset)
    n = n or len(real)
    ref = Reference(cached_inception_features(real))
    samples = teacher_samples(teacher, cfg, n, steps=steps, seed=seed, progress=progress)
    if grid:
        from ..training.data import make_grid_image
        make_grid_image(samples[:64], nrow=8).save(grid)
    floor = floor_images(n, floor_split, seed=seed, dataset=dataset)
    s = ref.score(samples)
    f = ref.score(floor)
    return {
        "n": n, "reference": f"{dataset} {reference} split ({len(real)} images)",
        "floor": f"{n} random {floor_split} images",
        "sampler": f"DDIM-{steps}, seed {seed}",
        "fid": round(s["fid"], 2), "fid_floor": round(f["fid"], 2),
        "fid_over_floor": round(s["fid"] / f["fid"], 3),
        "kid": round(s["kid"], 5), "kid_std": round(s["kid_std"], 5),
        "kid_floor": round(f["kid"], 5), "kid_floor_std": round(f["kid_std"], 5),
        "hf_ratio": round(hf_ratio(samples, real), 3),
        "hf_ratio_floor": round(hf_ratio(floor, real), 3),
        "goals": {"fid_over_floor_max": FID_OVER_FLOOR_GOAL, "hf_ratio_range": list(HF_RATIO_GOAL)},
        "protocol": "FID-Inception (TF 2015) features of 8-bit images resized 32 -> 299 "
                    "bilinear; KID: torchmetrics, 100 subsets of half the smaller set; "
                    "hf_ratio: mean |3x3 Laplacian| of samples / of the reference images",
        "seconds": round(time.perf_counter() - t0, 1),
    }
