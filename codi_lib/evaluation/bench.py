"""The benchmark (version 2): every method at 1, 2, 4 and 8 steps on every task, on the
whole test split, with 95% intervals. Introduced in ``notebooks/06_measuring.ipynb``;
it is our small-scale version of the paper's Sec. 5 / Table 1.

Protocol:
1. Inputs: every test image, its fixed condition, the same noise for every method;
   ``seeds`` noise seeds, LPIPS/PSNR/SSIM averaged over them; FID/KID from the first
   ``fid_seeds`` of them (default 1: Inception features of 3 x the test split would be
   most of the benchmark's CPU time, and the FID/KID interval, which resamples the
   generated images, each drawn from its own noise, already covers a re-draw of the
   noise).
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
4. Timing: one warm-up call per model and sampler, then the wall time of the sampler
   only, on one batch of test conditions (the median of repeated calls); NFE counted by
   wrapping the network; the speed-up over DDIM-50 timed in the same process.

Resumable: with a ``cache_dir`` (the ``codi bench`` default is ``runs/cache``), every
finished row is kept on disk (:mod:`codi_lib.evaluation.result_cache`) under a
fingerprint of its inputs, model files, teacher files and settings; a rerun reads it
and measures only what is missing or changed, then times every row again in its own
process (timing is cheap next to generating and scoring 3 x the test split).
"""
from __future__ import annotations

import json
import os
import platform
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ..method.sampling import sample_by_name
from ..method.tasks import TASKS, test_conditions
from ..training.loop import bf16_is_fast
from ..training.scene_data import task_batch
from ..training.paths import short, students_dir as default_students_dir
from ..training.students import load_conditional
from .bench_report import fid_note, goals, to_markdown, write_figures
from .fidkid import Reference, cached_inception_features, inception_features, mean_interval
from .metrics import LPIPS_SIZE, CountingDenoiser, get_fid_extractor
from .quality import quality_per_image
from .result_cache import TensorCache, digest
from .teacher_quality import floor_images

STEP_COUNTS = (1, 2, 4, 8)
RESAMPLES = 300
#: Part of every cached row's fingerprint: raise it whenever the code that generates or
#: scores a row changes what a row would measure, so rows measured before are not read.
ROW_CODE_VERSION = 1
#: Timing: repeat the timed batch until this many seconds (at most TIMING_REPEATS calls).
TIMING_SECONDS, TIMING_REPEATS = 2.0, 10


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


def _generate(model, cond, cfg, method: Method, noise, bf16: bool = False):
    """One sampler call; under bf16 autocast when ``bf16`` (the network in bfloat16, the
    sampler's arithmetic and the returned images in float32)."""
    with torch.autocast(cond.device.type, dtype=torch.bfloat16, enabled=bf16):
        out = sample_by_name(model, cond, cfg.schedule, method.sampler, method.steps,
                             n_grid=cfg.loss.n_grid, noise=noise)
    return out.float()


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


def _measure_samples(method, fakes, truth, ref, run, resamples, seed, extractor,
                     fid_seeds: int | None = None) -> dict:
    """Metrics of one row from its outputs (one tensor per noise seed): LPIPS/PSNR/SSIM
    on all of them, FID/KID on the first ``fid_seeds`` (default all)."""
    feats = [inception_features(f, extractor=extractor) for f in fakes[:fid_seeds]]
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


def _measured(method, make_fakes, truth, ref, run, resamples, seed, extractor,
              cache: TensorCache, fingerprint: str, fid_seeds: int | None = None) -> tuple[dict, bool]:
    """The row's metrics and whether they came from ``cache``: read there under
    ``fingerprint`` (filling ``run`` with its per-image metrics and features for the paired
    comparisons), else ``make_fakes()`` is generated, measured and stored."""
    name = f"bench-{method.key}"
    hit = cache.load(name, fingerprint)
    if hit is not None:
        tensors, record = hit
        run.features[method.key] = [tensors[f"features_{i}"].double()
                                    for i in range(record["n_seeds"])]
        per = {k[4:]: v for k, v in tensors.items() if k.startswith("per_")}
        if per:
            run.per_image[method.key] = per
        return record["row"], True
    fakes = make_fakes()
    row = _measure_samples(method, fakes, truth, ref, run, resamples, seed, extractor, fid_seeds)
    tensors = {f"features_{i}": f.float() for i, f in enumerate(run.features[method.key])}
    tensors.update({f"per_{k}": v for k, v in run.per_image.get(method.key, {}).items()})
    cache.save(name, fingerprint, tensors, {"row": row, "n_seeds": len(run.features[method.key])})
    return row, False


def _generate_all(method, model, cfg, cond, noises, batch_size, bf16=False) -> list[torch.Tensor]:
    """The row's outputs for every test condition, one tensor per noise seed."""
    return [torch.cat([_generate(model, cond[i:i + batch_size], cfg, method, noise[i:i + batch_size],
                                 bf16)
                       for i in range(0, cond.shape[0], batch_size)]) for noise in noises]


def _time_row(method, model, cfg, cond, noise, batch_size, bf16=False) -> dict:
    """Protocol step 4: one warm-up call, then the sampler alone on the first
    ``batch_size`` conditions, repeated until TIMING_SECONDS (median per image); NFE per
    call counted by wrapping the network."""
    counter = CountingDenoiser(model)
    c, z = cond[:batch_size], noise[:batch_size]
    _generate(counter, c[:8], cfg, method, z[:8], bf16)  # warm-up
    counter.reset()
    times = []
    while not times or (sum(times) < TIMING_SECONDS and len(times) < TIMING_REPEATS):
        t0 = time.perf_counter()
        _generate(counter, c, cfg, method, z, bf16)
        times.append(time.perf_counter() - t0)
    return {"ms_per_image": 1000 * statistics.median(times) / c.shape[0],
            "nfe": counter.nfe // len(times)}


def _model_files(folder: Path, cfg) -> list[Path]:
    """The files a model row's outputs depend on: its weights and config, and its
    teacher's weights (the frozen backbone of controlnet and PE-CoDi)."""
    from ..training.paths import resolve
    teacher = resolve(cfg.teacher) if getattr(cfg, "teacher", "") else None
    files = sorted(folder.glob("*.safetensors")) + [folder / "config.json"]
    if teacher is not None and teacher.is_dir():
        files += sorted(teacher.glob("*.safetensors"))
    return [f for f in files if f.is_file()]


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
                    extractor, split: str = "test", cache: TensorCache | None = None,
                    fid_seeds: int = 1) -> dict:
    """What every task on ``task``'s data set shares: the test batch (``batch``, with the
    depth channel for scenes) and its RGB ``x`` (evenly spaced subset of ``n_images``),
    the FID/KID reference (the whole test split), the noises, the real-data floor
    (random *train* images of the same data set), and ``key``: the fingerprint of all
    that and of the settings, part of every cached row's fingerprint."""
    cache = cache or TensorCache()
    full = task_batch(task, split, None)
    n_all = full.shape[0]
    pick = torch.linspace(0, n_all - 1, n_images).round().long() if n_images else torch.arange(n_all)
    batch = full[pick]
    x = batch[:, :3]
    ref = Reference(cached_inception_features(full[:, :3], extractor=extractor))
    noises = [torch.randn(x.shape, generator=torch.Generator().manual_seed(seed + s))
              for s in range(seeds)]
    floor_x = floor_images(len(x), "train" if split == "test" else "fit", seed, TASKS[task].dataset)
    key = digest(ROW_CODE_VERSION, full, pick, floor_x,
                 str(getattr(extractor, "weights_path", type(extractor).__name__)),
                 {"split": split, "seeds": seeds, "seed": seed, "resamples": resamples,
                  "fid_seeds": fid_seeds})
    floor, _ = _measured(Method("floor", "", "floor", 0), lambda: [floor_x], None, ref, _Run(),
                         resamples, seed, extractor, cache, key)
    return {"batch": batch, "x": x, "ref": ref, "noises": noises, "floor": floor, "n_all": n_all,
            "key": key}


def run_benchmark(out_dir, tasks=None, n_images: int | None = None, batch_size: int = 64,
                  students_dir=None, seed: int = 0, seeds: int = 3, resamples: int = RESAMPLES,
                  step_counts=STEP_COUNTS, progress: bool = True, extractor=None,
                  split: str = "test", models=None, cache_dir=None, fid_seeds: int = 1,
                  bf16: bool | None = None) -> dict:
    """Measure every row of :func:`methods` on ``tasks`` (default: all). ``n_images``
    takes an evenly spaced subset of the test split (default: all of it; never a
    prefix, which is one unusual part of the alphabet); the FID/KID reference is always
    the whole test split. Each task is measured on its own data set (emoji; the scenes for
    ``depth``), with that set's reference and floor; the top-level floor and sizes are
    those of the first task's set. ``split="val"`` measures on the validation split
    carved from train instead (inputs and reference; floor from the rest of train), for
    recipe choices such as CM-II's learning rate; ``models`` keeps only the rows of those
    model folders (the reference rows always stay). ``cache_dir`` keeps each finished row
    on disk and reads it back on a rerun with the same inputs, models and settings (see
    the module docstring); None measures everything. ``bf16`` samples under bf16 autocast
    (default: where :func:`~codi_lib.training.loop.bf16_is_fast`; about 2x faster on a
    CPU with AVX-512/AMX, and on 64 sr4 test images LPIPS moved by under 2e-4 against
    float32, far inside its interval); metrics and features are always float32. Writes ``bench.json``,
    ``bench.md`` and one ``quality_vs_nfe_<task>.png`` per task to ``out_dir``.
    Notebook 06."""
    if split not in ("test", "val"):
        raise ValueError(f"split={split!r}: the benchmark measures on 'test' or 'val'")
    students_dir = default_students_dir(students_dir or None)
    tasks = list(tasks or TASKS)
    bf16 = bf16_is_fast() if bf16 is None else bf16
    t_start = time.time()
    extractor = extractor if extractor is not None else get_fid_extractor()
    shared = {}   # per data set (emoji, scenes): inputs, FID reference, noise, floor
    rows, paired, from_cache = [], [], 0
    cache = TensorCache(cache_dir)
    for task in tasks:
        ds = TASKS[task].dataset
        if ds not in shared:
            shared[ds] = _dataset_inputs(task, n_images, seeds, seed, resamples, extractor, split,
                                         cache, fid_seeds)
        batch, x, ref, noises, floor, key = (shared[ds][k] for k in
                                             ("batch", "x", "ref", "noises", "floor", "key"))
        cond = test_conditions(task, batch)
        task_key = digest(key, task, batch_size, cond, *(["bf16"] if bf16 else []))
        run, loaded = _Run(), {}
        rows_here = [m for m in methods(step_counts) if m.reference or not models or m.model in models]
        for m in tqdm(rows_here, desc=f"bench {task}", disable=not progress):
            row = {"task": task, "method": m.label, "model": m.model, "sampler": m.sampler,
                   "steps": m.steps, "key": m.key}
            if m.sampler == "floor":
                rows.append({**row, **floor, "reference": True, "nfe": 0})
                continue
            if m.sampler == "condition":
                measured, hit = _measured(m, lambda: [TASKS[task].as_output(cond).clamp(-1, 1)],
                                          x, ref, run, resamples, seed, extractor, cache, task_key,
                                          fid_seeds)
                from_cache += hit
                rows.append({**row, **measured, "reference": True, "nfe": 0})
                continue
            folder = students_dir / task / m.model
            if not (folder / "controlnet.safetensors").is_file():
                rows.append({**row, "missing": f"no trained model in {short(folder)}"})
                continue
            if m.model not in loaded:
                model, cfg = load_conditional(folder)
                loaded[m.model] = (model, cfg, *_budget(folder, cfg))
            model, cfg, train_steps, train_batch = loaded[m.model]
            measured, hit = _measured(
                m, lambda: _generate_all(m, model, cfg, cond, noises, batch_size, bf16), x, ref, run,
                resamples, seed, extractor, cache,
                digest(task_key, m.key, cfg.loss.n_grid, *_model_files(folder, cfg)), fid_seeds)
            from_cache += hit
            rows.append({**row, **measured, **_time_row(m, model, cfg, cond, noises[0], batch_size, bf16),
                         "train_steps": train_steps, "train_batch": train_batch})
        base = next((r for r in rows if r["task"] == task and r["key"] == "controlnet/ddim/50"
                     and "ms_per_image" in r), None)
        for r in rows:
            if r["task"] == task and "ms_per_image" in r and base:
                r["speedup_vs_ddim50"] = base["ms_per_image"] / r["ms_per_image"]
        paired += _paired(task, run, ref, paired_specs(step_counts), resamples, seed)
    first = shared[TASKS[tasks[0]].dataset]
    n, n_all, floor = len(first["x"]), first["n_all"], first["floor"]
    result = {"rows": rows, "paired": paired, "split": split, "n_images": n, "n_reference": n_all,
              "seeds": seeds, "fid_seeds": min(fid_seeds, seeds), "resamples": resamples,
              "batch_size": batch_size,
              "fid_floor": floor["fid"], "kid_floor": floor["kid"],
              "fid_floor_ci": floor["fid_ci"], "kid_floor_ci": floor["kid_ci"],
              "fid_note": fid_note({ds: {"n_images": len(v["x"]), "n_reference": v["n_all"]}
                                    for ds, v in shared.items()}, split, min(fid_seeds, seeds), seeds),
              "ci_note": "95% bootstrap intervals over test images "
                         f"({resamples} resamples); FID/KID: generated set resampled "
                         "against the fixed reference, centred on the estimate",
              "fid_weights": getattr(extractor, "weights_source", type(extractor).__name__),
              "lpips_note": f"LPIPS (AlexNet) on images upsampled bilinearly to {LPIPS_SIZE}x{LPIPS_SIZE}",
              "hardware": f"{platform.machine()}, torch {torch.__version__}, "
                          f"{torch.get_num_threads()} threads, "
                          f"{'bf16 autocast' if bf16 else 'float32'} sampling",
              "seconds": round(time.time() - t_start, 1),
              "timing_note": f"ms per image: median of repeated sampler calls on the first "
                             f"{min(batch_size, n)} conditions after one warm-up call; load average "
                             f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores at the end",
              "rows_from_cache": from_cache,
              "data_sets": {ds: {"n_images": len(v["x"]), "n_reference": v["n_all"],
                                 "fid_floor": v["floor"]["fid"], "kid_floor": v["floor"]["kid"]}
                            for ds, v in shared.items()}}
    result["parts"] = [{k: result[k] for k in ("hardware", "seconds", "timing_note", "rows_from_cache")}]
    result["parts"][0]["tasks"] = tasks
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


#: Settings that must agree between benchmark runs merged into one table. The FID note is
#: not among them: it is written from these settings and each data set's counts
#: (:func:`~codi_lib.evaluation.bench_report.fid_note`), and the merge writes it again.
MERGE_KEYS = ("split", "seeds", "fid_seeds", "resamples", "batch_size", "fid_weights", "ci_note",
              "lpips_note")


def _read_result(p) -> tuple[Path, dict]:
    f = Path(p) / "bench.json" if Path(p).is_dir() else Path(p)
    if not f.is_file():
        raise FileNotFoundError(f"no benchmark result at {f}")
    return f, json.loads(f.read_text())


def _without_tasks(r: dict, tasks) -> dict:
    """A benchmark result less the rows, paired differences and timing parts of ``tasks``."""
    drop = set(tasks)
    out = {**r, "rows": [row for row in r["rows"] if row["task"] not in drop],
           "paired": [q for q in r["paired"] if q["task"] not in drop]}
    if "parts" in r:
        out["parts"] = [{**part, "tasks": [t for t in part["tasks"] if t not in drop]}
                        for part in r["parts"] if set(part["tasks"]) - drop]
    return out


def merge_results(paths, out_dir, base=None) -> dict:
    """One table from benchmark runs of disjoint tasks (``codi bench --tasks ...`` run
    as each task's models are final, or one task rerun after retraining), measured with
    the same settings (:data:`MERGE_KEYS`; a data set shared by two runs must have the
    same size and floor). Rows, paired differences and data sets are concatenated in the
    order of the task registry; every speed-up stays the one measured in its own process
    (each part's hardware and time are kept in ``parts``). ``base`` (``--base``): an
    earlier merged table whose tasks are kept unless one of ``paths`` measures them again,
    so a new task or a rerun task joins the shipped table without its old parts. Writes
    like :func:`run_benchmark`. Notebook 06."""
    parts = [_read_result(p) for p in paths]
    if not parts:
        raise ValueError("merge: no benchmark results given")
    if base is not None:
        fb, rb = _read_result(base)
        rb = _without_tasks(rb, {row["task"] for _, r in parts for row in r["rows"]})
        if rb["rows"]:
            parts.insert(0, (fb, {**rb, "data_sets": {}}))  # its data sets: see below
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
    if base is not None:  # the base's data sets, where no new part measured them
        data_sets = {**rb.get("data_sets", {}), **data_sets}
    first = parts[0][1]
    result = {k: first[k] for k in first if k not in ("rows", "paired", "goals", "parts")}
    result["rows"] = [row for _, r in parts for row in r["rows"]]
    result["paired"] = [q for _, r in parts for q in r["paired"]]
    result["data_sets"] = data_sets
    if all("n_images" in v and "n_reference" in v for v in data_sets.values()) and data_sets:
        result["fid_note"] = fid_note(data_sets, result["split"], result["fid_seeds"], result["seeds"])
    result["parts"] = [part for _, r in parts for part in r.get("parts", [
        {"tasks": list(dict.fromkeys(row["task"] for row in r["rows"])),
         "hardware": r["hardware"], "seconds": r["seconds"]}])]
    result["seconds"] = round(sum(part["seconds"] for part in result["parts"]), 1)
    hw = list(dict.fromkeys(part["hardware"] for part in result["parts"]))
    result["hardware"] = hw[0] if len(hw) == 1 else "; ".join(hw)
    notes = [f"{', '.join(part['tasks'])}: {part['timing_note']}" for part in result["parts"]
             if "timing_note" in part]
    if notes:
        result["timing_note"] = "; ".join(notes)
    result["rows_from_cache"] = sum(part.get("rows_from_cache", 0) for part in result["parts"])
    return write_result(result, out_dir)
