"""The shipped scene set with exact depth (``data/scenes32.npz``), and the batches every
task trains and is measured on.

Scenes are rendered by :mod:`codi_lib.training.scenes`. A task names its data set
(:attr:`codi_lib.method.tasks.Task.dataset`): "emoji" tasks get RGB batches, the "scenes"
task ``depth`` gets RGB plus the exact camera-space depth as a 4th channel, which only its
condition reads (see :func:`codi_lib.method.tasks.depth_condition`). Introduced with the
depth task in ``notebooks/04_adding_a_condition.ipynb``; data, no paper equation.
"""
from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..method.tasks import Task, get_task
from .data import emoji_batch, load_emoji, uint8_to_float
from .paths import data_dir

SCENES_FILE = "scenes32.npz"
SCENES_REBUILD_COMMAND = "python scripts/build_scenes.py --out data/scenes32.npz"
SCENE_SPLITS = ("train", "test", "all", "fit", "val")


def split_of_seeds(seeds) -> np.ndarray:
    """The fixed split of scene seeds: "test" where seed % 8 == 0, else "train"."""
    return np.where(np.asarray(seeds) % 8 == 0, "test", "train")


@dataclass(frozen=True)
class SceneData:
    """Scenes as stored: ``images`` (N, 32, 32, 3) uint8, ``depth`` (N, 32, 32) float32
    camera-space z (sky: ``metadata["z_far"]``), ``seeds`` (N,) and the file's metadata."""
    images: np.ndarray
    depth: np.ndarray
    seeds: np.ndarray
    metadata: dict

    def __len__(self) -> int:
        return len(self.images)


def _read_scenes(path: Path) -> dict:
    if not path.is_file():
        raise FileNotFoundError(
            f"scene data set not found at {path}; rebuild it from the repository root "
            f"with: {SCENES_REBUILD_COMMAND}")
    try:
        with np.load(path, allow_pickle=False) as npz:
            a = {k: npz[k] for k in ("images", "depth", "seeds", "split", "metadata")}
        a["metadata"] = json.loads(str(a["metadata"]))
        n = len(a["images"])
        if a["images"].dtype != np.uint8 or a["images"].ndim != 4 or a["images"].shape[-1] != 3:
            raise ValueError(f"images have dtype {a['images'].dtype} and shape {a['images'].shape}")
        if a["depth"].shape != a["images"].shape[:3]:
            raise ValueError(f"depth has shape {a['depth'].shape}, images {a['images'].shape}")
        if len(a["seeds"]) != n or len(a["split"]) != n:
            raise ValueError("arrays have different lengths")
        if not np.array_equal(a["split"], split_of_seeds(a["seeds"])):
            raise ValueError("split does not follow the seeds (test = seed % 8 == 0)")
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
        raise ValueError(
            f"scene data set at {path} is unreadable or corrupt ({err}); rebuild it "
            f"from the repository root with: {SCENES_REBUILD_COMMAND}") from err
    return a


def load_scenes(split: str = "train", path: str | os.PathLike | None = None) -> SceneData:
    """Load the shipped scenes of ``split`` ("train", "test", "all", "fit" or "val").

    The split is fixed by the scene seed: test = seed % 8 == 0; "val" = seed % 8 == 1
    (carved from train, for recipe decisions), "fit" = train minus val. ``path``
    defaults to ``data_dir() / "scenes32.npz"``; a missing file raises
    FileNotFoundError and an unreadable one ValueError, both naming the path and the
    rebuild command. No paper equation."""
    if split not in SCENE_SPLITS:
        raise ValueError(f"split must be one of {SCENE_SPLITS}, got {split!r}")
    a = _read_scenes(Path(path) if path is not None else data_dir() / SCENES_FILE)
    seeds = a["seeds"]
    keep = {"all": np.ones(len(seeds), bool), "test": seeds % 8 == 0,
            "train": seeds % 8 != 0, "val": seeds % 8 == 1,
            "fit": (seeds % 8 != 0) & (seeds % 8 != 1)}[split]
    return SceneData(a["images"][keep], a["depth"][keep].astype(np.float32), seeds[keep],
                     a["metadata"])


def scene_tensor(data: SceneData) -> torch.Tensor:
    """float32 (N, 4, H, W): RGB in [-1, 1] and the exact depth (camera-space z) as
    channel 4, the batch layout of the depth task."""
    rgb = uint8_to_float(torch.from_numpy(data.images).permute(0, 3, 1, 2))
    return torch.cat([rgb, torch.from_numpy(data.depth)[:, None]], 1)


def task_batch(task: Task | str, split: str = "test", n: int | None = 8,
               start: int = 0) -> torch.Tensor:
    """``n`` items of ``split`` from ``start`` (``n=None``: all) of the task's data set as
    the float batch its ``degrade`` reads: (n, 3, 32, 32) for emoji tasks, (n, 4, 32, 32)
    (RGB + depth) for scene tasks. The ground truth is always ``batch[:, :3]``."""
    task = get_task(task) if isinstance(task, str) else task
    if task.dataset == "emoji":
        return emoji_batch(split, n, start)
    x = scene_tensor(load_scenes(split))
    return x[start:] if n is None else x[start:start + n]


def training_tensor(task: Task | str, split: str = "train") -> torch.Tensor:
    """What :func:`codi_lib.training.loop.train_loop` trains a conditional model of
    ``task`` on: the uint8 (N, 3, H, W) emoji, or the float (N, 4, H, W) scenes of
    :func:`scene_tensor` (the loop flips the depth with the image)."""
    task = get_task(task) if isinstance(task, str) else task
    if task.dataset == "emoji":
        return torch.from_numpy(load_emoji(split).images).permute(0, 3, 1, 2).contiguous()
    return scene_tensor(load_scenes(split))


def motorcycle_depth_condition(size: int = 32) -> torch.Tensor:
    """The depth condition (1, 1, size, size) of the one real scene with measured depth
    that ships offline, ``skimage.data.stereo_motorcycle()`` (Middlebury 2014), from
    its disparity by :func:`codi_lib.method.tasks.disparity_to_depth_condition` (centre
    square, area-averaged, near = bright). The matching photo is the left image,
    ``skimage.data.stereo_motorcycle()[0]``, cropped the same way. An out-of-domain
    demonstration input: a real indoor scene, not a rendered one."""
    import skimage.data
    from ..method.tasks import disparity_to_depth_condition
    _, _, disparity = skimage.data.stereo_motorcycle()
    return disparity_to_depth_condition(torch.from_numpy(np.asarray(disparity, np.float32)), size)


def motorcycle_photo(size: int = 32) -> torch.Tensor:
    """The photo (1, 3, size, size) in [-1, 1] that :func:`motorcycle_depth_condition`
    belongs to: the left image of ``skimage.data.stereo_motorcycle()``, the same centre
    square, area-averaged (``adaptive_avg_pool2d``) to ``size``. Introduced in
    ``notebooks/08_your_images.ipynb``."""
    import skimage.data
    left, _, _ = skimage.data.stereo_motorcycle()
    img = torch.from_numpy(np.asarray(left, np.float32)).permute(2, 0, 1)[None] / 127.5 - 1
    h, w = img.shape[-2:]
    side = min(h, w)
    top, lft = (h - side) // 2, (w - side) // 2
    sq = img[..., top:top + side, lft:lft + side]
    return torch.nn.functional.adaptive_avg_pool2d(sq, size).clamp(-1, 1)
