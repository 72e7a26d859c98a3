"""One benchmark: every method on every task on the fixed test split, in one process.

Rows per task: the ``controlnet`` teacher with DDIM at 50 and 4 steps and DPM-Solver++
at 4; ``cm-two-stage`` (CM-II) at 4; ``pe-codi`` and ``codi`` at 1, 2, 4 and 8; and the
ablations on PE-CoDi (no guidance term, no consistency term, ODE step by the frozen
teacher instead of the student) at 4.
Columns: LPIPS (AlexNet), FID (Inception, 32 px upsampled to 299, n test images vs the
same n ground truths), PSNR, SSIM, latency per image and measured network evaluations
(NFE), and the speed-up over the 50-step teacher. Results go to JSON and Markdown.
Introduced in ``notebooks/06_measuring.ipynb``. Paper Sec. 5, Table 1.
"""
from __future__ import annotations

import json
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ..method.sampling import sample_by_name
from ..method.tasks import TASKS, test_conditions
from ..training.data import emoji_batch
from ..training.paths import students_dir as default_students_dir
from ..training.students import load_conditional
from .metrics import LPIPS_SIZE, CountingDenoiser, get_fid_extractor
from .quality import FidReference, quality


@dataclass(frozen=True)
class Method:
    """One benchmark row: which shipped model folder, which sampler, how many steps."""
    label: str
    model: str      # folder name under data/students/<task>/
    sampler: str    # "ddim", "dpmsolver++" or "codi"
    steps: int


METHODS = [
    Method("ControlNet teacher, DDIM-50", "controlnet", "ddim", 50),
    Method("ControlNet teacher, DDIM-4", "controlnet", "ddim", 4),
    Method("ControlNet teacher, DPM-Solver++-4", "controlnet", "dpmsolver++", 4),
    Method("CM-II (two-stage), 4", "cm-two-stage", "codi", 4),
    *[Method(f"PE-CoDi, {k}", "pe-codi", "codi", k) for k in (1, 2, 4, 8)],
    *[Method(f"CoDi, {k}", "codi", "codi", k) for k in (1, 2, 4, 8)],
    Method("ablation: PE-CoDi without guidance term, 4", "pe-codi-no-guidance", "codi", 4),
    Method("ablation: PE-CoDi without consistency term, 4", "pe-codi-no-consistency", "codi", 4),
    Method("ablation: PE-CoDi, ODE step by frozen teacher, 4", "pe-codi-ode-teacher", "codi", 4),
]


def run_benchmark(out_dir, tasks=None, n_images: int | None = None, batch_size: int = 64,
                  students_dir=None, seed: int = 0, progress: bool = True,
                  extractor=None) -> dict:
    """Measure every method of :data:`METHODS` on ``tasks`` (default: all) on the first
    ``n_images`` test images (default: the whole test split). Writes ``bench.json`` and
    ``bench.md`` to ``out_dir`` and returns the results. Notebook 06."""
    students_dir = default_students_dir(students_dir or None)
    tasks = list(tasks or TASKS)
    x_all = emoji_batch("test", n_images or None)
    n = x_all.shape[0]
    noise = torch.randn(x_all.shape, generator=torch.Generator().manual_seed(seed))
    extractor = extractor if extractor is not None else get_fid_extractor()
    rows, t_start = [], time.time()
    for task in tasks:
        cond_all = test_conditions(task, x_all)
        fid_ref = FidReference(x_all, batch_size, extractor)
        loaded: dict = {}
        for m in tqdm(METHODS, desc=f"bench {task}", disable=not progress):
            folder = students_dir / task / m.model
            row = {"task": task, "method": m.label, "model": m.model, "sampler": m.sampler,
                   "steps": m.steps}
            if not (folder / "controlnet.safetensors").is_file():
                rows.append({**row, "missing": f"no trained model in {folder}"})
                continue
            if m.model not in loaded:
                model, cfg = load_conditional(folder)
                rec = json.loads((folder / "record.json").read_text()) if (folder / "record.json").is_file() else {}
                loaded[m.model] = (model, cfg, rec.get("steps"))
            model, cfg, train_steps = loaded[m.model]
            counter = CountingDenoiser(model)
            outs, seconds = [], 0.0
            for i in range(0, n, batch_size):
                c, z = cond_all[i:i + batch_size], noise[i:i + batch_size]
                t0 = time.perf_counter()
                outs.append(sample_by_name(counter, c, cfg.schedule, m.sampler, m.steps, noise=z))
                seconds += time.perf_counter() - t0
            fake = torch.cat(outs)
            q = quality(fake, x_all)
            rows.append({**row, "train_steps": train_steps,
                         "lpips": q["lpips"], "fid": fid_ref(fake), "psnr": q["psnr"], "ssim": q["ssim"],
                         "ms_per_image": 1000 * seconds / n,
                         "nfe": counter.nfe // -(-n // batch_size)})
        base = next((r for r in rows if r["task"] == task and r["model"] == "controlnet"
                     and r["steps"] == 50 and "lpips" in r), None)
        for r in rows:
            if r["task"] == task and "lpips" in r and base:
                r["speedup_vs_ddim50"] = base["ms_per_image"] / r["ms_per_image"]
    result = {"rows": rows, "n_images": n, "batch_size": batch_size, "seed": seed,
              "fid_note": f"FID of {n} samples vs the same {n} test images, 32x32 upsampled "
                          "bilinearly to 299x299; comparable between these methods only",
              "fid_weights": getattr(extractor, "weights_source", type(extractor).__name__),
              "lpips_note": f"LPIPS (AlexNet) on images upsampled bilinearly to {LPIPS_SIZE}x{LPIPS_SIZE}",
              "hardware": f"{platform.machine()}, torch {torch.__version__}, "
                          f"{torch.get_num_threads()} threads",
              "seconds": round(time.time() - t_start, 1)}
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "bench.json").write_text(json.dumps(result, indent=1) + "\n")
    (out_dir / "bench.md").write_text(to_markdown(result))
    return result


def to_markdown(result: dict) -> str:
    """The benchmark as a Markdown table (one per task)."""
    lines = [f"# CoDi benchmark ({result['n_images']} test images per task)", "",
             f"- {result['fid_note']}; weights: {result['fid_weights']}",
             f"- {result['lpips_note']}",
             f"- latency: wall time per image with batches of {result['batch_size']}, "
             f"{result['hardware']}; NFE counted by wrapping the network",
             f"- total benchmark time {result['seconds']} s", ""]
    for task in dict.fromkeys(r["task"] for r in result["rows"]):
        lines += [f"## {TASKS[task].title} (`{task}`)", "",
                  "| method | NFE | LPIPS ↓ | FID ↓ | PSNR ↑ | SSIM ↑ | ms / image | speed-up | train steps |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for r in result["rows"]:
            if r["task"] != task:
                continue
            if "missing" in r:
                lines.append(f"| {r['method']} | – | – | – | – | – | – | – | {r['missing']} |")
                continue
            lines.append(f"| {r['method']} | {r['nfe']} | {r['lpips']:.3f} | {r['fid']:.1f} | "
                         f"{r['psnr']:.2f} | {r['ssim']:.3f} | {r['ms_per_image']:.2f} | "
                         f"{r.get('speedup_vs_ddim50', float('nan')):.1f}x | {r['train_steps']} |")
        lines.append("")
    return "\n".join(lines)
