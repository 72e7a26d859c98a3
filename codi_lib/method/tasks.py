"""Conditional tasks: each turns clean images into the condition the model sees.

A task is one :class:`Task` entry in :data:`TASKS`; adding a task is one new entry.
Most tasks degrade the RGB image itself; ``depth`` reads the exact depth, which its
batches carry as a 4th channel after RGB (``Task.extra_channels``; split off by
:func:`degrade_batch` before the image is noised).
Randomness (inpainting masks) comes from a ``torch.Generator`` so the test split's
conditions are fixed by :func:`test_conditions`' seed and every method sees identical
inputs. Introduced in ``notebooks/04_adding_a_condition.ipynb``. No paper equation: these
are the paper's Sec. 5 tasks (super-resolution, inpainting, structure-to-image).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

TEST_SEED = 20240617  # fixed seed of the test-split conditions


@dataclass(frozen=True)
class Task:
    """One conditional task: ``degrade(x, gen) -> cond``, a way to show ``cond``, and
    ``as_output(cond)``: the condition itself turned into an image, the no-model
    baseline of the benchmark (bicubic upsampling for SR; the known pixels with the
    hole filled by their mean colour for inpainting; the edge map for Canny and the
    depth map for depth). ``dataset`` names the images the task is trained and measured
    on ("emoji", or "scenes" with exact depth: :mod:`codi_lib.training.scene_data`);
    ``extra_channels`` counts the channels its batches carry after RGB for ``degrade``
    alone (depth: 1)."""
    name: str
    title: str
    cond_channels: int
    degrade: Callable[[torch.Tensor, torch.Generator], torch.Tensor]
    show: Callable[[torch.Tensor], torch.Tensor]
    as_output: Callable[[torch.Tensor], torch.Tensor] | None = None  # no-model baseline
    dataset: str = "emoji"
    extra_channels: int = 0


def super_resolution_4x(x: torch.Tensor, gen: torch.Generator | None = None) -> torch.Tensor:
    """4x super-resolution condition: 32 -> 8 (area average) -> 32 (bicubic), in [-1, 1].
    Introduced in notebook 04."""
    h, w = x.shape[-2:]
    low = F.avg_pool2d(x, 4)
    return F.interpolate(low, size=(h, w), mode="bicubic", align_corners=False).clamp(-1, 1)


def box_mask(b: int, h: int, w: int, gen: torch.Generator) -> torch.Tensor:
    """Random rectangles covering roughly 20-50% of the image; 1 = missing."""
    m = torch.zeros(b, 1, h, w)
    for i in range(b):
        bh = int(torch.randint(h * 2 // 5, h * 3 // 4 + 1, (1,), generator=gen))
        bw = int(torch.randint(w * 2 // 5, w * 3 // 4 + 1, (1,), generator=gen))
        y = int(torch.randint(0, h - bh + 1, (1,), generator=gen))
        x = int(torch.randint(0, w - bw + 1, (1,), generator=gen))
        m[i, :, y:y + bh, x:x + bw] = 1
    return m


def free_form_mask(b: int, h: int, w: int, gen: torch.Generator) -> torch.Tensor:
    """Random thick brush strokes (2-4 strokes of 2-5 segments); 1 = missing."""
    yy, xx = torch.meshgrid(torch.arange(h).float(), torch.arange(w).float(), indexing="ij")
    m = torch.zeros(b, 1, h, w)
    for i in range(b):
        for _ in range(int(torch.randint(2, 5, (1,), generator=gen))):
            p = torch.rand(2, generator=gen) * torch.tensor([h, w])
            width = 1.0 + 1.5 * float(torch.rand(1, generator=gen))
            for _ in range(int(torch.randint(2, 6, (1,), generator=gen))):
                ang = float(torch.rand(1, generator=gen)) * 2 * math.pi
                length = (0.15 + 0.3 * float(torch.rand(1, generator=gen))) * h
                q = (p + length * torch.tensor([math.sin(ang), math.cos(ang)])).clamp(0, h - 1)
                d = q - p
                tt = (((yy - p[0]) * d[0] + (xx - p[1]) * d[1]) / d.pow(2).sum().clamp_min(1e-6)).clamp(0, 1)
                dist = ((yy - p[0] - tt * d[0]) ** 2 + (xx - p[1] - tt * d[1]) ** 2).sqrt()
                m[i, 0][dist <= width] = 1
                p = q
    return m


def inpainting(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Inpainting condition: the image with a free-form or box hole (filled with 0, mid
    grey) plus the mask as a 4th channel (+1 = missing, -1 = known). Each image gets
    a box or a free-form mask with probability 1/2. Introduced in notebook 04."""
    b, _, h, w = x.shape
    use_box = torch.rand(b, generator=gen) < 0.5
    mask = torch.where(use_box.view(b, 1, 1, 1), box_mask(b, h, w, gen), free_form_mask(b, h, w, gen))
    mask = mask.to(x.device, x.dtype)
    return torch.cat([x * (1 - mask), mask * 2 - 1], dim=1)


def canny_edges(x: torch.Tensor, gen: torch.Generator | None = None, sigma: float = 1.0) -> torch.Tensor:
    """Canny-edge condition (scikit-image's ``canny`` on the luminance, sigma = 1), one
    channel in {-1, +1}. Deterministic. Introduced in notebook 04."""
    from skimage.feature import canny
    gray = (0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]).detach().float().cpu().numpy()
    edges = np.stack([canny((g + 1) / 2, sigma=sigma) for g in gray]).astype(np.float32)
    return torch.from_numpy(edges * 2 - 1)[:, None].to(x.device, x.dtype)


def normalise_depth(z: torch.Tensor) -> torch.Tensor:
    """Depth (B, 1, H, W) -> [-1, 1] per image, near = bright: c = 1 - 2 (z - z_min) /
    (z_max - z_min) with each image's own min and max (a constant map gives +1). Only
    the order and relative spacing of depths survive, as in depth ControlNets."""
    lo = z.amin((2, 3), keepdim=True)
    span = z.amax((2, 3), keepdim=True) - lo
    return (1 - 2 * (z - lo) / span.clamp_min(1e-8)).clamp(-1, 1)


def depth_condition(x: torch.Tensor, gen: torch.Generator | None = None) -> torch.Tensor:
    """Depth condition: the exact depth, which a scene batch (B, 4, H, W) carries as
    channel 4 (camera-space z, from :func:`codi_lib.training.scene_data.task_batch`),
    normalised per image by :func:`normalise_depth` to one channel in [-1, 1], near =
    +1. It never looks at the RGB channels. Deterministic. Introduced in notebook 04."""
    if x.shape[1] != 4:
        raise ValueError(
            f"the depth task needs the exact depth as channel 4 of the batch (RGB + depth), "
            f"got {x.shape[1]} channels; scene batches come from "
            "codi_lib.training.scene_data.task_batch('depth')")
    return normalise_depth(x[:, 3:4].float()).to(x.dtype)


def disparity_to_depth_condition(disparity: torch.Tensor, size: int = 32) -> torch.Tensor:
    """A stereo disparity map (H, W) -> the depth condition (1, 1, size, size).

    Exactly: (1) a pixel is valid where the disparity is finite and > 0 (the
    Middlebury maps of ``skimage.data.stereo_motorcycle`` mark unknown pixels with
    inf); (2) relative depth = 1 / disparity (depth = focal x baseline / disparity,
    known only up to that scale, which (5) removes); (3) the centred square of side
    min(H, W) is kept, as for a learner's own images; (4) it is area-averaged to
    ``size`` x ``size`` over the valid pixels only (mean of depth x valid over mean of
    valid, ``adaptive_avg_pool2d``), a cell without any valid pixel taking the largest
    (farthest) cell depth; (5) :func:`normalise_depth`: per image to [-1, 1], near = +1."""
    d = disparity.float()
    valid = torch.isfinite(d) & (d > 0)
    z = torch.where(valid, 1.0 / torch.where(valid, d, torch.ones_like(d)), torch.zeros_like(d))
    h, w = z.shape
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    z, v = (a[None, None, top:top + side, left:left + side].float() for a in (z, valid))
    total = F.adaptive_avg_pool2d(z * v, size)
    share = F.adaptive_avg_pool2d(v, size)
    cells = total / share.clamp_min(1e-12)
    far = cells[share > 0].max() if bool((share > 0).any()) else torch.tensor(1.0)
    return normalise_depth(torch.where(share > 0, cells, far))


def _show_rgb(c):
    return c[:, :3].clamp(-1, 1)


def _show_gray(c):
    return c[:, :1].expand(-1, 3, -1, -1)


def _inpaint_as_output(c):
    """Known pixels kept, the hole filled with each image's mean known colour."""
    img, known = c[:, :3], (1 - c[:, 3:4]) / 2
    mean = (img * known).sum((2, 3), keepdim=True) / known.sum((2, 3), keepdim=True).clamp_min(1)
    return paste_known(mean.expand_as(img), c)


def paste_known(output: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
    """An inpainting output with the condition's known pixels put back, so that only the
    hole is generated: what inpainting applications show, while the models themselves
    redraw every pixel (the benchmark scores the outputs as sampled). ``cond`` is an
    inpainting condition (RGB with the hole zeroed, plus the mask channel, +1 = missing).
    Introduced in notebooks/06_measuring.ipynb."""
    if cond.shape[1] != 4:
        raise ValueError(f"paste_known: cond has {cond.shape[1]} channels; an inpainting "
                         "condition has 4 (RGB with the hole zeroed, and the mask)")
    mask = (cond[:, 3:4] + 1) / 2
    return output * mask + cond[:, :3] * (1 - mask)


def _show_inpaint(c):
    img, mask = c[:, :3], (c[:, 3:4] + 1) / 2
    return img * (1 - mask) + mask * torch.tensor([0.6, -0.6, 0.6]).view(1, 3, 1, 1).to(c)


TASKS: dict[str, Task] = {
    "sr4": Task("sr4", "4x super-resolution", 3, super_resolution_4x, _show_rgb, _show_rgb),
    "inpaint": Task("inpaint", "inpainting (free-form and box masks)", 4, inpainting,
                    _show_inpaint, _inpaint_as_output),
    "canny": Task("canny", "Canny edges to image", 1, canny_edges, _show_gray, _show_gray),
    "depth": Task("depth", "depth to image (procedural scenes)", 1, depth_condition,
                  _show_gray, _show_gray, dataset="scenes", extra_channels=1),
}


def image_tasks() -> list[str]:
    """Names of the tasks whose condition comes from an RGB image alone: the ones that
    can train on a folder of your own pictures (not ``depth``, which needs exact depth)."""
    return sorted(n for n, t in TASKS.items() if not t.extra_channels)


def get_task(name: str) -> Task:
    """Look a task up by name; an unknown name is an error that lists the known ones."""
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; known tasks: {sorted(TASKS)}")
    return TASKS[name]


def degrade_batch(task: Task, x: torch.Tensor, gen: torch.Generator):
    """(cond, image) of a training batch: the condition ``task.degrade(x, gen)`` and the
    image the model learns, ``x`` without the task's extra channels (the depth task's
    batches carry the exact depth after RGB; its condition reads it, the model never
    generates it). Any object with a ``degrade`` method serves as ``task``; without
    ``extra_channels`` it has none."""
    cond = task.degrade(x, gen)
    extra = getattr(task, "extra_channels", 0)
    return cond, (x[:, :x.shape[1] - extra] if extra else x)


def test_conditions(task: Task | str, x: torch.Tensor, seed: int = TEST_SEED) -> torch.Tensor:
    """The fixed conditions of a test set: every method is measured on these exact
    inputs. ``x`` is the task's batch (for depth: RGB + exact depth, from
    :func:`codi_lib.training.scene_data.task_batch`). Introduced in notebook 04."""
    task = get_task(task) if isinstance(task, str) else task
    return task.degrade(x, torch.Generator().manual_seed(seed))


test_conditions.__test__ = False  # not a pytest test
