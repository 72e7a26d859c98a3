"""Proof of concept on your own images: one command from a folder to a report.

    codi poc --images FOLDER --task sr4 [--out runs/poc] [--on-bad skip|stop] [--size 32] [--steps 300]

1. Reads every image in FOLDER (any size or format) with
   :class:`~codi_lib.training.data.ImageFolderDataset`: shorter side resized to the model's
   resolution, centre-cropped. Every unusable file (unreadable, truncated, empty, not an
   image, smaller than half the resolution) is named in the console and in the report;
   ``--on-bad stop`` stops before any training with that list.
2. Holds out ~15% of the usable images (at least 2) for evaluation, by a fixed seed.
3. Trains the task's ``controlnet`` teacher (branch on the frozen unconditional teacher)
   and a CoDi student (``codi``; ``--student pe-codi``) with the shared training loop.
   Each run fine-tunes the course's shipped model of its mode
   (``data/students/<task>/<mode>``, on the teacher that model was trained on) instead
   of starting its branch at zero: on a few hundred images and a CPU, starting from a
   model that already follows the condition is what makes the runs beat doing nothing
   within minutes. ``--from-scratch`` starts from zero-initialised branches on
   ``--teacher`` instead. Rerunning the same command resumes unfinished runs and skips
   finished ones (also after raising ``--steps``); the held-out evaluation is cached.
4. Evaluates on the held-out images: teacher DDIM-50 vs student CoDi-4 from the same
   noise, LPIPS / PSNR against the ground truth, FID against the held-out set, latency
   per image, NFE and the speed-up, and writes ``OUT/report.html`` (self-contained,
   images embedded as base64 PNG; the page is :mod:`codi_lib.apps.poc_report`'s template)
   and ``OUT/report.json``. Beside them, the mean of ``--mean-samples`` K student samples
   from different noise (an estimate of the posterior mean, see :func:`mean_of_samples`):
   it shows how much of a PSNR gap to a smooth baseline such as bicubic is the price of
   sampling rather than a model error.

Introduced in ``notebooks/08_your_images.ipynb``. Paper Sec. 5 (the teacher-vs-student
comparison of Table 1, on your data).
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

from ..training.paths import RunDir, resolve, short
from .poc_report import fmt, render_report

DEFAULT_STEPS = 300   # measured: about 10 minutes on 2 idle cores for 121 images, with the evaluation


#: What "doing nothing" is for each task: the condition turned into the output image.
NO_MODEL_LABELS = {"sr4": "bicubic upsampling of the input",
                   "inpaint": "the known pixels, hole filled with their mean colour",
                   "canny": "the edge map itself"}


class PocError(RuntimeError):
    """A problem with the user's folder or settings; the message says what to do."""


@dataclass
class PocSettings:
    """Everything ``codi poc`` needs; the defaults are the command's."""
    images: str
    task: str = "sr4"
    out: str = "runs/poc"
    on_bad: str = "skip"            # "skip" unusable files or "stop" before training
    size: int = 0                   # 0: the teacher's resolution
    teacher_steps: int = DEFAULT_STEPS
    student_steps: int = DEFAULT_STEPS
    student_mode: str = "codi"      # "codi" or "pe-codi"
    batch_size: int = 32
    lr: float = 1e-4
    ema_decay: float = 0.995
    holdout: float = 0.15
    min_holdout: int = 2
    max_holdout: int = 200
    seed: int = 0
    teacher: str = ""               # "" = the shipped model's teacher (or data/teacher)
    warm_start: bool = True         # fine-tune data/students/<task>/<mode> when it exists
    students: str = "data/students"
    eval_teacher_steps: int = 50
    eval_student_steps: int = 4
    latency_repeats: int = 2
    mean_samples: int = 4           # K student samples averaged into a diagnostic row (<2: off)
    progress: bool = True

    def __post_init__(self):
        if self.on_bad not in ("skip", "stop"):
            raise PocError(f"--on-bad must be 'skip' or 'stop', got {self.on_bad!r}")
        if self.student_mode not in ("codi", "pe-codi"):
            raise PocError(f"--student must be 'codi' or 'pe-codi', got {self.student_mode!r}")
        if self.teacher_steps < 1 or self.student_steps < 1:
            raise PocError("--steps must be positive")
        if not 0 < self.holdout < 1:
            raise PocError(f"--holdout must be in (0, 1), got {self.holdout}")


def parse_steps(text: str | None) -> tuple[int, int]:
    """``--steps N`` (both runs) or ``--steps T,S`` (controlnet teacher, student)."""
    if text is None:
        return DEFAULT_STEPS, DEFAULT_STEPS
    parts = [p.strip() for p in str(text).split(",")]
    try:
        vals = [int(p) for p in parts]
    except ValueError:
        raise PocError(f"--steps {text!r}: use N or TEACHER,STUDENT, e.g. 1000 or 1000,500") from None
    if len(vals) == 1:
        vals = vals * 2
    if len(vals) != 2 or min(vals) < 1:
        raise PocError(f"--steps {text!r}: use N or TEACHER,STUDENT with positive integers")
    return vals[0], vals[1]


def _say(msg: str) -> None:
    print(msg, flush=True)


@dataclass
class FolderScan:
    images: object          # uint8 tensor (N, 3, S, S)
    paths: list             # the usable files, sorted
    bad: list               # (path, reason)
    ignored: list           # files without an image extension


def scan_folder(folder, size: int) -> FolderScan:
    """Load every usable image of ``folder``; collect unusable and ignored files."""
    from ..training.data import IMAGE_EXTENSIONS, ImageFolderDataset
    folder = Path(folder)
    if not folder.is_dir():
        raise PocError(f"image folder not found: {folder}")
    ignored = sorted(str(p) for p in folder.rglob("*")
                     if p.is_file() and p.suffix.lower() not in IMAGE_EXTENSIONS)
    min_size = max(8, size // 2)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = ImageFolderDataset(folder, size=size, min_size=min_size, on_bad="warn")
    except ValueError as err:
        raise PocError(str(err)) from None
    return FolderScan(ds.images, [str(p) for p in ds.paths], list(ds.bad_files), ignored)


def split_holdout(n: int, s: PocSettings) -> list[int]:
    """Indices of the held-out images: round(holdout * n), at least ``min_holdout``, at
    most ``max_holdout``, chosen by a fixed seed; at least one image must remain."""
    import torch
    k = min(max(s.min_holdout, round(s.holdout * n)), s.max_holdout)
    if n - k < 1:
        raise PocError(f"only {n} usable image(s): the proof of concept needs at least "
                       f"{s.min_holdout + 1} ({s.min_holdout} held out for evaluation, the "
                       "rest for training)")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(s.seed))
    return sorted(perm[:k].tolist())


def _fingerprint(paths, images) -> str:
    h = hashlib.sha256()
    for p, img in zip(paths, images):
        h.update(Path(p).name.encode())
        h.update(img.contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def warm_source(s: PocSettings, mode: str) -> Path | None:
    """The shipped model a run of ``mode`` fine-tunes (``<students>/<task>/<mode>``), or
    None with ``--from-scratch`` or when the course ships no such model."""
    if not s.warm_start:
        return None
    p = resolve(f"{s.students}/{s.task}/{mode}")
    return p if (p / "controlnet.safetensors").is_file() else None


def run_teacher(s: PocSettings, mode: str) -> str:
    """The unconditional teacher of the run of ``mode``: the one its warm-start model was
    trained on (a branch only fits its own backbone), else ``--teacher``, else the task's."""
    from ..method.tasks import get_task
    from ..training.config import ConditionalConfig, load_config
    from ..training.paths import TEACHERS
    warm = warm_source(s, mode)
    if warm is None:
        return s.teacher or TEACHERS[get_task(s.task).dataset]
    theirs = load_config(warm / "config.json", ConditionalConfig).teacher
    if s.teacher and resolve(s.teacher).resolve() != resolve(theirs).resolve():
        raise PocError(f"--teacher {s.teacher}: the shipped {mode} model this run fine-tunes "
                       f"({warm}) was trained on {theirs}. Leave out --teacher, or add "
                       "--from-scratch to train new branches on your teacher.")
    return theirs


def _run_config(s: PocSettings, mode: str, steps: int, folder: str):
    from ..training.config import ConditionalConfig
    warm = warm_source(s, mode)
    cfg = ConditionalConfig(mode=mode, task=s.task, teacher=run_teacher(s, mode),
                            warm_start=str(warm) if warm else "")
    t = cfg.train
    t.max_steps, t.batch_size, t.lr, t.ema_decay = steps, s.batch_size, s.lr, s.ema_decay
    t.warmup_steps, t.sample_every, t.seed = 50, 0, s.seed
    t.ckpt_every, t.log_every = 100, 10
    cfg.data = folder
    return cfg


def _checkpoint_state(run_dir) -> dict | None:
    run = RunDir(run_dir)
    ckpt = run.latest()
    if ckpt is None:
        return None
    st = run.state(ckpt)
    return {"checkpoint": ckpt.name, "step": st["step"],
            "train_seconds": st["extra"].get("train_seconds", 0.0),
            "hardware": st["extra"].get("hardware")}


def train_or_resume(s: PocSettings, name: str, mode: str, steps: int, train_u8, out: Path,
                    folder: str) -> dict:
    """Train run ``out/name`` to ``steps`` (resuming), or skip it when it is finished.
    Exports its EMA weights (float32) to ``out/models/name``. Returns a record."""
    from ..training.students import export_conditional, train_conditional
    run = out / name
    before = _checkpoint_state(run)
    if before is not None and before["step"] >= steps:
        status = f"already finished ({before['step']} steps), not retrained"
        _say(f"[poc] {name}: {status}")
    else:
        status = (f"resumed at step {before['step']}" if before else "trained from the start")
        _say(f"[poc] {name} ({mode}): training to {steps} steps ({status}) ...")
        cfg = _run_config(s, mode, steps, folder)
        train_conditional(cfg, run, images=train_u8, progress=s.progress)
    after = _checkpoint_state(run)
    dest = export_conditional(run, out / "models" / name, half=False)
    final_loss = RunDir(run).mean_loss(5)
    warm = warm_source(s, mode)
    return {"name": name, "mode": mode, "steps": after["step"], "status": status,
            "start": f"fine-tuned from {short(warm)}" if warm else "from scratch (zero branch)",
            "teacher": run_teacher(s, mode),
            "train_seconds": round(after["train_seconds"], 1), "hardware": after["hardware"],
            "final_loss": round(final_loss, 5) if final_loss is not None else None,
            "checkpoint": after["checkpoint"], "export": str(dest)}


def _eval_key(s: PocSettings, runs: dict, held_key: str) -> str:
    return hashlib.sha256(json.dumps(
        [held_key, runs["controlnet"]["checkpoint"], runs["student"]["checkpoint"],
         s.eval_teacher_steps, s.eval_student_steps, s.seed, s.task, s.mean_samples],
        sort_keys=True).encode()
    ).hexdigest()[:16]


def _cached_evaluation(cache: Path, key: str) -> dict | None:
    from safetensors.torch import load_file
    if not ((cache / "eval.json").is_file() and (cache / "samples.safetensors").is_file()):
        return None
    saved = json.loads((cache / "eval.json").read_text())
    if saved.get("key") != key:
        return None
    _say("[poc] evaluation: unchanged runs and images, reusing the cached results")
    saved["samples"] = load_file(str(cache / "samples.safetensors"))
    saved["cached"] = True
    return saved


def _quality(pred, truth, fid_ref) -> tuple[dict, dict]:
    """(means, per-image values): LPIPS and PSNR against ``truth`` and FID against its
    reference statistics; a missing FID (too few images, no weights) is reported, not
    raised."""
    from ..evaluation.quality import quality_per_image
    per = quality_per_image(pred, truth, ("lpips", "psnr"))
    out = {k: float(v.mean()) for k, v in per.items()}
    if isinstance(fid_ref, str) or fid_ref is None:
        out["fid"] = None
        if fid_ref:
            out["fid_error"] = fid_ref
        return out, per
    try:
        out["fid"] = fid_ref(pred)
    except Exception as err:  # FID weights missing or too few images: report, don't fail
        out["fid"], out["fid_error"] = None, str(err)
    return out, per


def versus_no_model(per: dict, base: dict, seed: int = 0) -> dict:
    """Each metric's paired difference model - no-model baseline over the held-out
    images, with its 95% bootstrap interval: {"lpips": {"diff", "ci"}, "psnr": ...}.
    "Clearly ahead" in the report means the interval excludes zero on the good side."""
    from ..evaluation.fidkid import mean_interval
    out = {}
    for m in ("lpips", "psnr"):
        d = (per[m] - base[m]).double()
        out[m] = {"diff": float(d.mean()), "ci": mean_interval(d, 1000, seed)}
    return out


def mean_of_samples(sample, k: int, shape, seed: int, first=None):
    """The mean of ``k`` samples ``sample(noise)`` from the noises of seeds ``seed``,
    ``seed + 1``, ... (the first is the noise of the student's own row, whose sample can be
    passed as ``first`` instead of being drawn again): an estimate of the posterior mean
    E[x | condition].

    Why it is in the report (the perception-distortion trade-off, Blau and Michaeli, CVPR
    2018): a sample x~ drawn from the exact posterior, independently of the true x, has
    E|x~ - x|^2 = 2 E|E[x|c] - x|^2, twice the error of the posterior mean, so about 3 dB
    less PSNR than the best smooth estimate; the mean of k such samples has (1 + 1/k)
    times it. A sharp sample can therefore lose to a blurry baseline on PSNR while being
    the better picture. If the mean of the student's samples beats the baseline where the
    single sample does not, the gap is the price of sampling; if the mean loses too, the
    model itself is off on these images. Introduced in notebooks/08_your_images.ipynb."""
    import torch
    total = None
    for i in range(k):
        if i == 0 and first is not None:
            x = first.double()
        else:
            x = sample(torch.randn(shape, generator=torch.Generator().manual_seed(seed + i))).double()
        total = x if total is None else total + x
    return (total / k).float()


def _fid_reference(truth):
    """A :class:`~codi_lib.evaluation.quality.FidReference` of the held-out images, None
    with fewer than 2 images, or the error message when FID cannot be set up."""
    from ..evaluation.quality import FidReference
    if truth.shape[0] < 2:
        return None
    try:
        return FidReference(truth)
    except Exception as err:  # FID weights missing: report, don't fail
        return str(err)


def evaluate(s: PocSettings, out: Path, x_held, runs: dict, held_key: str) -> dict:
    """Teacher DDIM vs student CoDi on the held-out images; cached in ``out/eval``
    (reused while the checkpoints, images and evaluation settings are unchanged)."""
    import torch
    from safetensors.torch import save_file

    from ..evaluation.timing import median_time
    from ..method.sampling import sample_by_name
    from ..method.tasks import get_task, test_conditions
    from ..training.students import load_conditional

    key, cache = _eval_key(s, runs, held_key), out / "eval"
    saved = _cached_evaluation(cache, key)
    if saved is not None:
        return saved
    task = get_task(s.task)
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    cond = test_conditions(task, x_held)
    noise = torch.randn(x_held.shape, generator=torch.Generator().manual_seed(s.seed)).to(dev)
    n = x_held.shape[0]
    tsteps, ssteps = s.eval_teacher_steps, s.eval_student_steps
    methods = ((f"ControlNet teacher, DDIM-{tsteps}", "teacher", "controlnet", "ddim", tsteps),
               (f"CoDi student ({s.student_mode}), {ssteps} steps", "student", "student", "codi", ssteps))
    rows, per, samples = [], {}, {"condition": task.show(cond).contiguous(), "truth": x_held.contiguous()}
    fid_ref = _fid_reference(x_held)
    _say(f"[poc] evaluation on {n} held-out images: teacher DDIM-{tsteps}, student CoDi-{ssteps}")
    for label, key_name, run, sampler, steps in methods:
        model, cfg = load_conditional(runs[run]["export"], device=dev)

        def draw(z, model=model, cfg=cfg, sampler=sampler, steps=steps):
            imgs, nfe = sample_by_name(model, cond.to(dev), cfg.schedule, sampler, steps,
                                       cfg.loss.n_grid, noise=z.to(dev), return_nfe=True)
            return imgs.cpu(), nfe  # .cpu() waits for the device

        (imgs, nfe), seconds = median_time(lambda: draw(noise), repeats=1 + max(0, s.latency_repeats))
        samples[key_name] = imgs.contiguous()
        means, per[key_name] = _quality(imgs, x_held, fid_ref)
        rows.append({"method": label, "key": key_name, "nfe": nfe, "latency_s": seconds / n,
                     **means})
        if key_name == "student" and s.mean_samples > 1:
            mean = mean_of_samples(lambda z: draw(z)[0], s.mean_samples, x_held.shape, s.seed,
                                   first=imgs)
            samples["student_mean"] = mean.contiguous()
            means, per["student_mean"] = _quality(mean, x_held, fid_ref)
            rows.append({"method": f"mean of {s.mean_samples} CoDi-{ssteps} samples "
                                   "(diagnostic)",
                         "key": "student_mean", "nfe": s.mean_samples * nfe, "latency_s": None,
                         "diagnostic": True, **means})
    if task.as_output is not None:
        means, base = _quality(task.as_output(cond).clamp(-1, 1), x_held, fid_ref)
        rows.append({"method": f"{NO_MODEL_LABELS.get(s.task, 'the condition itself')} (no model)",
                     "key": "condition", "nfe": 0, "latency_s": None, **means})
        for r in rows[:-1]:
            r["vs_no_model"] = versus_no_model(per[r["key"]], base, s.seed)
    for r in rows:
        r["speedup"] = (rows[0]["latency_s"] / r["latency_s"]) if r["latency_s"] else None
    result = {"key": key, "n_heldout": n, "rows": rows,
              "latency_repeats": s.latency_repeats, "cached": False}
    cache.mkdir(parents=True, exist_ok=True)
    save_file({k: v.float().contiguous() for k, v in samples.items()}, str(cache / "samples.safetensors"))
    (cache / "eval.json").write_text(json.dumps(result, indent=1))
    result["samples"] = samples
    return result


def _check_settings(s: PocSettings):
    """(task, folder, out, teacher path, size) after checking the settings against the
    teacher; problems are :class:`PocError`."""
    from ..method.tasks import get_task
    from ..training.teacher import load_teacher
    try:
        task = get_task(s.task)
    except ValueError as err:
        raise PocError(str(err)) from None
    folder, out = Path(s.images).resolve(), Path(s.out).resolve()
    if out == folder or folder in out.parents:
        raise PocError(f"--out {s.out} is inside the image folder {s.images}: its sample images "
                       "would be read as training data. Choose an output folder outside it.")
    teacher_path = resolve(run_teacher(s, "controlnet"))
    run_teacher(s, s.student_mode)   # a --teacher that contradicts a warm start fails here
    _, tcfg = load_teacher(teacher_path)
    size = s.size or tcfg.unet.sample_size
    if size != tcfg.unet.sample_size:
        warnings.warn(f"the teacher was trained at {tcfg.unet.sample_size} px; training at {size} px "
                      "works (the UNet is convolutional) but starts further from its prior")
    if size % 2 ** (len(tcfg.unet.block_out_channels) - 1):
        raise PocError(f"--size {size} must be a multiple of {2 ** (len(tcfg.unet.block_out_channels) - 1)}")
    return task, folder, out, teacher_path, size


def _report_scan(scan: FolderScan, s: PocSettings, folder: Path) -> None:
    if scan.bad:
        _say(f"[poc] {len(scan.bad)} unusable file(s):")
        for p, r in scan.bad:
            _say(f"  UNUSABLE {p}: {r}")
    if scan.ignored:
        _say(f"[poc] {len(scan.ignored)} file(s) without an image extension ignored: "
             + ", ".join(Path(p).name for p in scan.ignored[:10]) + (" ..." if len(scan.ignored) > 10 else ""))
    if scan.bad and s.on_bad == "stop":
        raise PocError(f"--on-bad stop: {len(scan.bad)} unusable file(s) in {folder}, nothing "
                       "was trained. Fix or remove them, or rerun with --on-bad skip:\n" +
                       "\n".join(f"  {p}: {r}" for p, r in scan.bad))


def _claim_out(out: Path, folder: Path, fp: dict, s: PocSettings) -> None:
    """Refuse an output folder that holds runs of other data or settings; record ours."""
    out.mkdir(parents=True, exist_ok=True)
    state_file = out / "poc.json"
    if state_file.is_file():
        old = json.loads(state_file.read_text()).get("fingerprint")
        if old and old != fp:
            raise PocError(f"{out} holds runs of different data or settings (the images in "
                           f"{folder}, --size, --task, --seed, --batch-size or --teacher changed "
                           "since they started, or --from-scratch was added or dropped). "
                           "Use another --out, or delete it to start over.")
    state_file.write_text(json.dumps({"fingerprint": fp, "settings": asdict(s)}, indent=1))


def run_poc(s: PocSettings) -> dict:
    """The whole proof of concept; returns the report data (also in ``report.json``)."""
    import diffusers
    import torch

    from ..training.data import uint8_to_float
    from ..training.loop import hardware_string

    task, folder, out, teacher_path, size = _check_settings(s)
    _say(f"[poc] reading {folder} at {size}x{size} px ...")
    scan = scan_folder(folder, size)
    _report_scan(scan, s, folder)
    n = len(scan.paths)
    held = split_holdout(n, s)
    train_idx = [i for i in range(n) if i not in set(held)]
    _say(f"[poc] {n} usable images: {len(train_idx)} for training, {len(held)} held out")
    train_u8, held_u8 = scan.images[train_idx], scan.images[held]
    fp = {"train": _fingerprint([scan.paths[i] for i in train_idx], train_u8),
          "heldout": _fingerprint([scan.paths[i] for i in held], held_u8),
          "size": size, "task": s.task, "seed": s.seed,
          "train": [s.batch_size, s.lr, s.ema_decay, str(teacher_path)],
          "start": [str(warm_source(s, m)) for m in ("controlnet", s.student_mode)]}
    _claim_out(out, folder, fp, s)
    runs = {"controlnet": train_or_resume(s, "controlnet", "controlnet", s.teacher_steps,
                                          train_u8, out, str(folder)),
            "student": train_or_resume(s, s.student_mode, s.student_mode, s.student_steps,
                                       train_u8, out, str(folder))}
    ev = evaluate(s, out, uint8_to_float(held_u8), runs, fp["heldout"])
    data = {
        "settings": {**asdict(s), "teacher": str(teacher_path)}, "size": size,
        "task_title": task.title,
        "data": {"usable": n, "train": len(train_idx), "heldout": len(held),
                 "heldout_files": [scan.paths[i] for i in held], "bad": scan.bad,
                 "ignored": scan.ignored},
        "runs": runs, "evaluation": ev, "hardware": hardware_string(),
        "software": f"torch {torch.__version__}, diffusers {diffusers.__version__}",
        "written": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    report = out / "report.html"
    report.write_text(render_report(data))
    public = {k: v for k, v in data.items() if k != "evaluation"}
    public["evaluation"] = {k: v for k, v in ev.items() if k != "samples"}
    (out / "report.json").write_text(json.dumps(public, indent=1, default=str))
    t, st = ev["rows"][0], ev["rows"][1]
    _say(f"[poc] teacher DDIM-{t['nfe']}: LPIPS {fmt(t['lpips'])}, {fmt(t['latency_s'] * 1000, 1)} ms/image;"
         f" student CoDi-{st['nfe']}: LPIPS {fmt(st['lpips'])}, {fmt(st['latency_s'] * 1000, 1)} ms/image;"
         f" speed-up {fmt(st['speedup'], 1)}x")
    _say(f"[poc] report: {report}")
    data["report"] = str(report)
    return data


def add_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The ``codi poc`` options (used by :mod:`codi_lib.apps.cli`); every default is the
    one of :class:`PocSettings`."""
    from ..method.tasks import image_tasks
    d = {f.name: f.default for f in dataclasses.fields(PocSettings)}
    p.add_argument("--images", required=True, help="folder of your images (any sizes and formats)")
    p.add_argument("--task", required=True, choices=image_tasks(),
                   help="a task whose condition comes from your images (not depth)")
    p.add_argument("--out", default=d["out"], help="output folder (runs, report.html)")
    p.add_argument("--on-bad", default=d["on_bad"], choices=["skip", "stop"],
                   help="unusable files: skip them (listed in the report) or stop before training")
    p.add_argument("--size", type=int, default=d["size"], help="resolution in px (default: the teacher's, 32)")
    p.add_argument("--steps", default=None,
                   help=f"training steps: N for both runs or TEACHER,STUDENT (default {DEFAULT_STEPS})")
    p.add_argument("--batch-size", type=int, default=d["batch_size"])
    p.add_argument("--student", default=d["student_mode"], choices=["codi", "pe-codi"])
    p.add_argument("--teacher", default=d["teacher"],
                   help="exported unconditional teacher (default: the shipped models' own)")
    p.add_argument("--from-scratch", action="store_true",
                   help="train new zero-initialised branches instead of fine-tuning the "
                        "course's shipped models (slower to beat doing nothing)")
    p.add_argument("--holdout", type=float, default=d["holdout"], help="fraction held out (at least 2 images)")
    p.add_argument("--seed", type=int, default=d["seed"])
    p.add_argument("--latency-repeats", type=int, default=d["latency_repeats"], help="extra timed sampling runs")
    p.add_argument("--mean-samples", type=int, default=d["mean_samples"],
                   help="student samples averaged into the posterior-mean diagnostic row (0: off)")
    p.add_argument("--no-progress", action="store_true")
    return p


def main_from_args(args) -> int:
    """Run ``codi poc`` from parsed arguments; problems with the data exit with status 2."""
    import sys
    try:
        t_steps, s_steps = parse_steps(args.steps)
        s = PocSettings(images=args.images, task=args.task, out=args.out, on_bad=args.on_bad,
                        size=args.size, teacher_steps=t_steps, student_steps=s_steps,
                        student_mode=args.student, batch_size=args.batch_size,
                        teacher=args.teacher, warm_start=not args.from_scratch, holdout=args.holdout, seed=args.seed,
                        latency_repeats=args.latency_repeats, mean_samples=args.mean_samples,
                        progress=not args.no_progress)
        run_poc(s)
    except PocError as err:
        print(f"codi poc: {err}", file=sys.stderr)
        return 2
    return 0
