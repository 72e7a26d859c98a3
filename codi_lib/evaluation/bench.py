"""The benchmark (version 2): every method at 1, 2, 4 and 8 steps on every task, on the
whole test split, with 95% intervals. Introduced in ``notebooks/06_measuring.ipynb``;
it is our small-scale version of the paper's Sec. 5 / Table 1.

Protocol:
1. Inputs: every test image, its fixed condition, the same noise for every method;
   ``seeds`` noise seeds, metrics averaged over them.
2. Rows per task: the ``controlnet`` teacher with DDIM at 1, 2, 4, 8, 50 and
   DPM-Solver++ at 1, 2, 4, 8; CM-II, PE-CoDi and CoDi at 1, 2, 4, 8 (the CoDi sampler on
   each model's own distillation grid); the ablations at 4 where they exist; and two
   reference rows: the condition itself as the output, and the real-data floor (random
   *train* images, FID/KID only).
3. Intervals: 95% bootstrap over test images; LPIPS/PSNR/SSIM per image averaged over
   seeds; ``paired`` differences (CoDi and PE-CoDi against the teacher's samplers and
   CM-II at equal steps) resample the same image indices for both methods. FID/KID:
   the whole test split is the fixed reference; the generated set is resampled
   (:mod:`codi_lib.fidkid`).
4. Timing: one warm-up call per model and sampler, then wall time of the sampler only;
   NFE counted by wrapping the network; the speed-up over DDIM-50 of the same process.
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
from ..training.scene_data import task_batch
from ..training.paths import students_dir as default_students_dir
from ..training.students import load_conditional
from .bench_report import goals, to_markdown, write_figures
from .fidkid import Reference, cached_inception_features, inception_features, mean_interval
from .metrics import LPIPS_SIZE, CountingDenoiser, get_fid_extractor
from .quality import quality_per_image
from .teacher_quality import floor_images

STEP_COUNTS = (1, 2, 4, 8)
RESAMPLES = 300


@dataclass(frozen=True)
class Method:
    """One benchmark row: which shipped model folder, which sampler, how many steps.
    ``model`` is empty for the reference rows (``sampler`` "condition" or "floor")."""
    label: str
    model: str
    sampler: str    # "ddim", "dpmsolver++", "codi", "condition" or "floor"
    steps: int

    @property
    def key(self) -> str:
        """``model/sampler/steps``, the name used in ``paired``."""
        return f"{self.model or 'reference'}/{self.sampler}/{self.steps}"

    @property
    def reference(self) -> bool:
        return self.sampler in ("condition", "floor")


ABLATIONS = [
    Method("ablation: PE-CoDi without guidance term, 4", "pe-codi-no-guidance", "codi", 4),
    Method("ablation: PE-CoDi without consistency term, 4", "pe-codi-no-consistency", "codi", 4),
    Method("ablation: PE-CoDi, ODE step by frozen teacher, 4", "pe-codi-ode-teacher", "codi", 4),
]


def methods(step_counts=STEP_COUNTS) -> list[Method]:
    """The rows of the table, in order (protocol step 2)."""
    rows = [Method("condition as output", "", "condition", 0),
            Method("real data (train images)", "", "floor", 0),
            Method("ControlNet teacher, DDIM-50", "controlnet", "ddim", 50)]
    for label, model, sampler in (("ControlNet teacher, DDIM", "controlnet", "ddim"),
                                  ("ControlNet teacher, DPM-Solver++", "controlnet", "dpmsolver++"),
                                  ("CM-II (two-stage)", "cm-two-stage", "codi"),
                                  ("PE-CoDi", "pe-codi", "codi"),
                                  ("CoDi", "codi", "codi")):
        rows += [Method(f"{label}-{k}", model, sampler, k) for k in step_counts]
    return rows + ABLATIONS


METHODS = methods()


def paired_specs(step_counts=STEP_COUNTS) -> list[tuple[str, str]]:
    """(a, b) keys of the paired comparisons: CoDi and PE-CoDi at each step count
    against the teacher's DDIM, DPM-Solver++ and CM-II at the same count."""
    out = []
    for k in step_counts:
        for a in ("codi", "pe-codi"):
            for b in ("controlnet/ddim", "controlnet/dpmsolver++", "cm-two-stage/codi"):
                out.append((f"{a}/codi/{k}", f"{b}/{k}"))
    return out


def _generate(model, cond, cfg, method: Method, noise):
    return sample_by_name(model, cond, cfg.schedule, method.sampler, method.steps,
                          n_grid=cfg.loss.n_grid, noise=noise)


def _budget(folder: Path, cfg) -> tuple[int | None, int]:
    rec_file = folder / "record.json"
    rec = json.loads(rec_file.read_text()) if rec_file.is_file() else {}
    return rec.get("steps"), rec.get("batch_size", cfg.train.batch_size)


def _per_image(fake: torch.Tensor, truth: torch.Tensor) -> dict[str, torch.Tensor]:
    return {k: v.double() for k, v in quality_per_image(fake, truth).items()}


class _Run:
    """Everything one task's measurements need in memory: outputs' per-image metrics
    and Inception features per row, for the paired comparisons at the end."""

    def __init__(self):
        self.per_image: dict[str, dict[str, torch.Tensor]] = {}
        self.features: dict[str, list[torch.Tensor]] = {}


def _measure_samples(method, fakes, truth, ref, run, resamples, seed, extractor) -> dict:
    """Metrics of one row from its outputs (one tensor per noise seed)."""
    feats = [inception_features(f, extractor=extractor) for f in fakes]
    run.features[method.key] = feats
    scores = [ref.score(fake_features=f, seed=seed) for f in feats]
    fid = sum(s["fid"] for s in scores) / len(scores)
    kid = sum(s["kid"] for s in scores) / len(scores)
    boot = ref.bootstrap(feats[0], resamples=resamples, seed=seed)
    row = {"fid": fid, "kid": kid, "fid_seeds": [s["fid"] for s in scores],
           "fid_ci": [c - scores[0]["fid"] + fid for c in boot["fid_ci"]],
           "kid_ci": [c - scores[0]["kid"] + kid for c in boot["kid_ci"]]}
    if truth is not None:
        per = [_per_image(f, truth) for f in fakes]
        mean = {k: torch.stack([p[k] for p in per]).mean(0) for k in per[0]}
        run.per_image[method.key] = mean
        row["lpips"] = float(mean["lpips"].mean())
        row["lpips_ci"] = mean_interval(mean["lpips"], resamples, seed)
        row["psnr"] = float(mean["psnr"].mean())
        row["ssim"] = float(mean["ssim"].mean())
    return row


def _run_model_row(method, model, cfg, cond, noises, batch_size):
    counter = CountingDenoiser(model)
    _generate(counter, cond[:batch_size], cfg, method, noises[0][:batch_size])  # warm-up
    counter.reset()
    fakes, seconds = [], 0.0
    for noise in noises:
        outs = []
        for i in range(0, cond.shape[0], batch_size):
            t0 = time.perf_counter()
            outs.append(_generate(counter, cond[i:i + batch_size], cfg, method,
                                  noise[i:i + batch_size]))
            seconds += time.perf_counter() - t0
        fakes.append(torch.cat(outs))
    n_batches = len(noises) * -(-cond.shape[0] // batch_size)
    return fakes, {"ms_per_image": 1000 * seconds / (cond.shape[0] * len(noises)),
                   "nfe": counter.nfe // n_batches}


def _paired(task: str, run: _Run, ref: Reference, specs, resamples: int, seed: int) -> list:
    out = []
    for a, b in specs:
        if a not in run.per_image or b not in run.per_image:
            continue
        d = run.per_image[a]["lpips"] - run.per_image[b]["lpips"]
        out.append({"task": task, "a": a, "b": b, "metric": "lpips", "diff": float(d.mean()),
                    "ci": mean_interval(d, resamples, seed)})
        fa, fb = run.features[a], run.features[b]
        diffs = [ref.fid(x) - ref.fid(y) for x, y in zip(fa, fb)]
        p = ref.paired_fid_diff(fa[0], fb[0], resamples=resamples, seed=seed)
        mean_diff = sum(diffs) / len(diffs)
        out.append({"task": task, "a": a, "b": b, "metric": "fid", "diff": mean_diff,
                    "ci": [c - p["diff"] + mean_diff for c in p["ci"]]})
    return out


def _dataset_inputs(task: str, n_images, seeds: int, seed: int, resamples: int,
                    extractor, split: str = "test") -> dict:
    """What every task on ``task``'s data set shares: the test batch (``batch``, with the
    depth channel for scenes) and its RGB ``x`` (evenly spaced subset of ``n_images``),
    the FID/KID reference (the whole test split), the noises and the real-data floor
    (random *train* images of the same data set)."""
    full = task_batch(task, split, None)
    n_all = full.shape[0]
    pick = torch.linspace(0, n_all - 1, n_images).round().long() if n_images else torch.arange(n_all)
    batch = full[pick]
    x = batch[:, :3]
    ref = Reference(cached_inception_features(full[:, :3], extractor=extractor))
    noises = [torch.randn(x.shape, generator=torch.Generator().manual_seed(seed + s))
              for s in range(seeds)]
    floor_x = floor_images(len(x), "train" if split == "test" else "fit", seed, TASKS[task].dataset)
    floor = _measure_samples(Method("floor", "", "floor", 0), [floor_x], None, ref, _Run(),
                             resamples, seed, extractor)
    return {"batch": batch, "x": x, "ref": ref, "noises": noises, "floor": floor, "n_all": n_all}


def run_benchmark(out_dir, tasks=None, n_images: int | None = None, batch_size: int = 64,
                  students_dir=None, seed: int = 0, seeds: int = 3, resamples: int = RESAMPLES,
                  step_counts=STEP_COUNTS, progress: bool = True, extractor=None,
                  split: str = "test", models=None) -> dict:
    """Measure every row of :func:`methods` on ``tasks`` (default: all). ``n_images``
    takes an evenly spaced subset of the test split (default: all of it; never a
    prefix, which is one unusual part of the alphabet); the FID/KID reference is always
    the whole test split. Each task is measured on its own data set (emoji; the scenes for
    ``depth``), with that set's reference and floor; the top-level floor and sizes are
    those of the first task's set. ``split="val"`` measures on the validation split
    carved from train instead (inputs and reference; floor from the rest of train), for
    recipe choices such as CM-II's learning rate; ``models`` keeps only the rows of those
    model folders (the reference rows always stay). Writes ``bench.json``, ``bench.md``
    and one ``quality_vs_nfe_<task>.png`` per task to ``out_dir``. Notebook 06."""
    if split not in ("test", "val"):
        raise ValueError(f"split={split!r}: the benchmark measures on 'test' or 'val'")
    students_dir = default_students_dir(students_dir or None)
    tasks = list(tasks or TASKS)
    t_start = time.time()
    extractor = extractor if extractor is not None else get_fid_extractor()
    shared = {}   # per data set (emoji, scenes): inputs, FID reference, noise, floor
    rows, paired = [], []
    for task in tasks:
        ds = TASKS[task].dataset
        if ds not in shared:
            shared[ds] = _dataset_inputs(task, n_images, seeds, seed, resamples, extractor, split)
        batch, x, ref, noises, floor = (shared[ds][k] for k in ("batch", "x", "ref", "noises", "floor"))
        cond = test_conditions(task, batch)
        run, loaded = _Run(), {}
        rows_here = [m for m in methods(step_counts) if m.reference or not models or m.model in models]
        for m in tqdm(rows_here, desc=f"bench {task}", disable=not progress):
            row = {"task": task, "method": m.label, "model": m.model, "sampler": m.sampler,
                   "steps": m.steps, "key": m.key}
            if m.sampler == "floor":
                rows.append({**row, **floor, "reference": True, "nfe": 0})
                continue
            if m.sampler == "condition":
                out = TASKS[task].as_output(cond).clamp(-1, 1)
                rows.append({**row, **_measure_samples(m, [out], x, ref, run, resamples, seed,
                                                       extractor), "reference": True, "nfe": 0})
                continue
            folder = students_dir / task / m.model
            if not (folder / "controlnet.safetensors").is_file():
                rows.append({**row, "missing": f"no trained model in {folder}"})
                continue
            if m.model not in loaded:
                model, cfg = load_conditional(folder)
                loaded[m.model] = (model, cfg, *_budget(folder, cfg))
            model, cfg, train_steps, train_batch = loaded[m.model]
            fakes, timing = _run_model_row(m, model, cfg, cond, noises, batch_size)
            rows.append({**row, **_measure_samples(m, fakes, x, ref, run, resamples, seed, extractor),
                         **timing, "train_steps": train_steps, "train_batch": train_batch})
        base = next((r for r in rows if r["task"] == task and r["key"] == "controlnet/ddim/50"
                     and "ms_per_image" in r), None)
        for r in rows:
            if r["task"] == task and "ms_per_image" in r and base:
                r["speedup_vs_ddim50"] = base["ms_per_image"] / r["ms_per_image"]
        paired += _paired(task, run, ref, paired_specs(step_counts), resamples, seed)
    first = shared[TASKS[tasks[0]].dataset]
    n, n_all, floor = len(first["x"]), first["n_all"], first["floor"]
    result = {"rows": rows, "paired": paired, "split": split, "n_images": n, "n_reference": n_all,
              "seeds": seeds, "resamples": resamples, "batch_size": batch_size,
              "fid_floor": floor["fid"], "kid_floor": floor["kid"],
              "fid_floor_ci": floor["fid_ci"], "kid_floor_ci": floor["kid_ci"],
              "fid_note": f"FID/KID of {n} outputs per seed against all {n_all} {split} images "
                          "(Inception TF-2015 features, 8-bit images resized 32 -> 299 "
                          "bilinear), mean over seeds; comparable between these methods only",
              "ci_note": "95% bootstrap intervals over test images "
                         f"({resamples} resamples); FID/KID: generated set resampled "
                         "against the fixed reference, centred on the estimate",
              "fid_weights": getattr(extractor, "weights_source", type(extractor).__name__),
              "lpips_note": f"LPIPS (AlexNet) on images upsampled bilinearly to {LPIPS_SIZE}x{LPIPS_SIZE}",
              "hardware": f"{platform.machine()}, torch {torch.__version__}, "
                          f"{torch.get_num_threads()} threads",
              "seconds": round(time.time() - t_start, 1),
              "data_sets": {ds: {"n_images": len(v["x"]), "n_reference": v["n_all"],
                                 "fid_floor": v["floor"]["fid"], "kid_floor": v["floor"]["kid"]}
                            for ds, v in shared.items()}}
    result["parts"] = [{"tasks": tasks, "hardware": result["hardware"], "seconds": result["seconds"]}]
    return write_result(result, out_dir)


def write_result(result: dict, out_dir) -> dict:
    """Add the goals, then write ``bench.json``, ``bench.md`` and the figures."""
    result["goals"] = goals(result)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "bench.json").write_text(json.dumps(result, indent=1) + "\n")
    (out_dir / "bench.md").write_text(to_markdown(result))
    write_figures(result, out_dir)
    return result


#: Settings that must agree between benchmark runs merged into one table.
MERGE_KEYS = ("split", "seeds", "resamples", "batch_size", "fid_weights", "fid_note", "ci_note",
              "lpips_note")


def merge_results(paths, out_dir) -> dict:
    """One table from benchmark runs of disjoint tasks (``codi bench --tasks ...`` run
    as each task's models are final, or one task rerun after retraining), measured with
    the same settings (:data:`MERGE_KEYS`; a data set shared by two runs must have the
    same size and floor). Rows, paired differences and data sets are concatenated in the
    order of the task registry; every speed-up stays the one measured in its own process
    (each part's hardware and time are kept in ``parts``). Writes like
    :func:`run_benchmark`. Notebook 06."""
    parts = []
    for p in paths:
        f = Path(p) / "bench.json" if Path(p).is_dir() else Path(p)
        if not f.is_file():
            raise FileNotFoundError(f"no benchmark result at {f}")
        parts.append((f, json.loads(f.read_text())))
    if not parts:
        raise ValueError("merge: no benchmark results given")
    seen = {}
    for f, r in parts:
        for key in MERGE_KEYS:
            if r.get(key) != parts[0][1].get(key):
                raise ValueError(f"merge: {f} has {key}={r.get(key)!r}, {parts[0][0]} has "
                                 f"{parts[0][1].get(key)!r}; rerun one with the other's settings")
        for task in dict.fromkeys(row["task"] for row in r["rows"]):
            if task in seen:
                raise ValueError(f"merge: task {task} is in both {seen[task]} and {f}")
            seen[task] = f
    order = {t: i for i, t in enumerate(TASKS)}
    parts.sort(key=lambda fr: min(order[row["task"]] for row in fr[1]["rows"]))
    data_sets = {}
    for f, r in parts:
        for ds, v in r.get("data_sets", {}).items():
            if ds in data_sets and data_sets[ds] != v:
                raise ValueError(f"merge: data set {ds} differs in {f} ({v} vs {data_sets[ds]})")
            data_sets[ds] = v
    first = parts[0][1]
    result = {k: first[k] for k in first if k not in ("rows", "paired", "goals", "parts")}
    result["rows"] = [row for _, r in parts for row in r["rows"]]
    result["paired"] = [q for _, r in parts for q in r["paired"]]
    result["data_sets"] = data_sets
    result["parts"] = [part for _, r in parts for part in r.get("parts", [
        {"tasks": list(dict.fromkeys(row["task"] for row in r["rows"])),
         "hardware": r["hardware"], "seconds": r["seconds"]}])]
    result["seconds"] = round(sum(part["seconds"] for part in result["parts"]), 1)
    hw = list(dict.fromkeys(part["hardware"] for part in result["parts"]))
    result["hardware"] = hw[0] if len(hw) == 1 else "; ".join(hw)
    return write_result(result, out_dir)
