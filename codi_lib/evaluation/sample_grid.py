"""A labelled picture of what the shipped models make of a task's fixed test conditions:
one row per model and sampler, between the conditions and the ground truth, all from
the same starting noise. ``codi grid --task depth`` writes ``data/bench/grid_depth.png``,
the depth maps beside the samples drawn from them (does a closer object appear where the
map is bright?). The numbers for the same models are the benchmark's; this is the look.
Notebook 06 shows the committed grids. Paper Sec. 5 (its qualitative figures).
"""
from __future__ import annotations

from pathlib import Path

import torch

from ..method.sampling import sample_by_name
from ..method.tasks import TASKS, test_conditions
from ..training.data import to_uint8_images
from ..training.paths import students_dir as default_students_dir
from ..training.scene_data import task_batch
from ..training.students import load_conditional

#: (model, sampler, steps) of each row: the conditional teacher at 50 steps, the CoDi
#: student at 1 and 4.
GRID_ROWS = (("controlnet", "ddim", 50), ("codi", "codi", 1), ("codi", "codi", 4))


def grid_rows(task: str, students_dir=None, n: int = 12, start: int = 0,
              rows=GRID_ROWS, seed: int = 0) -> list[tuple[str, torch.Tensor]]:
    """[(label, images in [-1, 1])]: the conditions as shown (``Task.show``), one row per
    ``rows`` entry whose model ships in ``students_dir/<task>/<model>``, and the ground
    truth, for test images ``start`` .. ``start + n - 1``. A missing model is an error
    naming its folder."""
    root = Path(students_dir or default_students_dir())
    t = TASKS[task]
    batch = task_batch(task, "test", n + start)[start:]
    x, cond = batch[:, :3], test_conditions(task, batch)
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(seed))
    out = [("condition", t.show(cond))]
    for model_name, sampler, steps in rows:
        path = root / task / model_name
        if not (path / "controlnet.safetensors").is_file():
            raise FileNotFoundError(f"no {model_name} model for {task} at {path}: train and "
                                    "export it first (scripts/train_students.sh)")
        model, cfg = load_conditional(path)
        with torch.no_grad():
            imgs = sample_by_name(model, cond, cfg.schedule, sampler, steps, cfg.loss.n_grid,
                                  noise=noise)
        out.append((f"{model_name}\n{sampler}-{steps}", imgs))
    out.append(("ground truth", x))
    return out


def write_grid(task: str, path, students_dir=None, n: int = 12, start: int = 0,
               rows=GRID_ROWS, seed: int = 0) -> Path:
    """Draw :func:`grid_rows` with a label per row and save it as a PNG at ``path``."""
    from matplotlib.figure import Figure  # no pyplot: leaves a notebook's backend alone
    labelled = grid_rows(task, students_dir, n, start, rows, seed)
    fig = Figure(figsize=(0.8 * n + 1.2, 0.85 * len(labelled) + 0.4))
    axes = fig.subplots(len(labelled), n, squeeze=False)
    for i, (label, imgs) in enumerate(labelled):
        u8 = to_uint8_images(imgs)
        for j in range(n):
            ax = axes[i][j]
            ax.imshow(u8[j], interpolation="nearest")
            ax.set_xticks([]), ax.set_yticks([])
        axes[i][0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    fig.suptitle(f"{TASKS[task].title}: test images {start}-{start + n - 1}, same noise per column",
                 fontsize=9)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    return path
