"""Proof of concept on your own images: one command from a folder to a report.

    codi poc --images FOLDER --task sr4 [--out runs/poc] [--on-bad skip|stop] [--size 32] [--steps 1000]

1. Reads every image in FOLDER (any size or format) with
   :class:`~codi_lib.data.ImageFolderDataset`: shorter side resized to the model's
   resolution, centre-cropped. Every unusable file (unreadable, truncated, empty, not an
   image, smaller than half the resolution) is named in the console and in the report;
   ``--on-bad stop`` stops before any training with that list.
2. Holds out ~15% of the usable images (at least 2) for evaluation, by a fixed seed.
3. Trains the task's ``controlnet`` teacher (branch on the frozen unconditional teacher,
   ``data/teacher`` by default) and a CoDi student (``codi``; ``--student pe-codi``) with
   the shared training loop. Rerunning the same command resumes unfinished runs and skips
   finished ones (also after raising ``--steps``); the held-out evaluation is cached.
4. Evaluates on the held-out images: teacher DDIM-50 vs student CoDi-4 from the same
   noise, LPIPS / PSNR against the ground truth, FID against the held-out set, latency
   per image, NFE and the speed-up, and writes ``OUT/report.html`` (self-contained,
   images embedded as base64 PNG) and ``OUT/report.json``.

Introduced in ``notebooks/08_your_images.ipynb``. Paper Sec. 5 (the teacher-vs-student
comparison of Table 1, on your data).
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import html
import io
import json
import math
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

DEFAULT_STEPS = 1000


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
    teacher: str = "data/teacher"
    eval_teacher_steps: int = 50
    eval_student_steps: int = 4
    latency_repeats: int = 2
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


# --------------------------------------------------------------------------- data


@dataclass
class FolderScan:
    images: object          # uint8 tensor (N, 3, S, S)
    paths: list             # the usable files, sorted
    bad: list               # (path, reason)
    ignored: list           # files without an image extension


def scan_folder(folder, size: int) -> FolderScan:
    """Load every usable image of ``folder``; collect unusable and ignored files."""
    from .data import IMAGE_EXTENSIONS, ImageFolderDataset
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


# --------------------------------------------------------------------------- training


def _run_config(s: PocSettings, mode: str, steps: int, folder: str):
    from .codi_train import ConditionalConfig
    cfg = ConditionalConfig(mode=mode, task=s.task, teacher=s.teacher)
    t = cfg.train
    t.max_steps, t.batch_size, t.lr, t.ema_decay = steps, s.batch_size, s.lr, s.ema_decay
    t.warmup_steps, t.sample_every, t.seed = 50, 0, s.seed
    t.ckpt_every, t.log_every = 100, 10
    cfg.data = folder
    return cfg


def _checkpoint_state(run_dir) -> dict | None:
    from .checkpoint import latest_checkpoint
    ckpt = latest_checkpoint(run_dir)
    if ckpt is None:
        return None
    st = json.loads((ckpt / "state.json").read_text())
    return {"checkpoint": ckpt.name, "step": st["step"],
            "train_seconds": st["extra"].get("train_seconds", 0.0),
            "hardware": st["extra"].get("hardware")}


def train_or_resume(s: PocSettings, name: str, mode: str, steps: int, train_u8, out: Path,
                    folder: str) -> dict:
    """Train run ``out/name`` to ``steps`` (resuming), or skip it when it is finished.
    Exports its EMA weights (float32) to ``out/models/name``. Returns a record."""
    from .codi_train import export_conditional, train_conditional
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
    log = [json.loads(l) for l in (run / "log.jsonl").read_text().splitlines() if l.strip()]
    tail = [r["loss"] for r in log[-5:]]
    return {"name": name, "mode": mode, "steps": after["step"], "status": status,
            "train_seconds": round(after["train_seconds"], 1), "hardware": after["hardware"],
            "final_loss": round(sum(tail) / max(1, len(tail)), 5) if tail else None,
            "checkpoint": after["checkpoint"], "export": str(dest)}


# --------------------------------------------------------------------------- evaluation


def evaluate(s: PocSettings, out: Path, x_held, runs: dict, held_key: str) -> dict:
    """Teacher DDIM vs student CoDi on the held-out images; cached in ``out/eval``
    (reused while the checkpoints, images and evaluation settings are unchanged)."""
    import torch
    from safetensors.torch import load_file, save_file

    from .codi_train import load_conditional
    from .metrics import LPIPS_SIZE, fid, lpips_distance, psnr
    from .sampling import sample_codi, sample_conditional
    from .schedule import NoiseSchedule
    from .tasks import get_task, test_conditions

    key = hashlib.sha256(json.dumps(
        [held_key, runs["controlnet"]["checkpoint"], runs["student"]["checkpoint"],
         s.eval_teacher_steps, s.eval_student_steps, s.seed, s.task], sort_keys=True).encode()
    ).hexdigest()[:16]
    cache = out / "eval"
    if (cache / "eval.json").is_file() and (cache / "samples.safetensors").is_file():
        saved = json.loads((cache / "eval.json").read_text())
        if saved.get("key") == key:
            _say("[poc] evaluation: unchanged runs and images, reusing the cached results")
            saved["samples"] = load_file(str(cache / "samples.safetensors"))
            saved["cached"] = True
            return saved

    task = get_task(s.task)
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    cond = test_conditions(task, x_held)
    tmodel, tcfg = load_conditional(runs["controlnet"]["export"], device=dev)
    smodel, scfg = load_conditional(runs["student"]["export"], device=dev)
    noise = torch.randn(x_held.shape, generator=torch.Generator().manual_seed(s.seed)).to(dev)
    cond_dev = cond.to(dev)
    schedule = NoiseSchedule(scfg.schedule)
    n = x_held.shape[0]
    tsteps, ssteps = s.eval_teacher_steps, s.eval_student_steps

    def run_teacher():
        return sample_conditional(tmodel, cond_dev, tcfg.schedule, tsteps, "ddim", noise=noise,
                                  return_nfe=True)

    def run_student():
        return sample_codi(smodel, cond_dev, schedule, ssteps, scfg.loss.n_grid, noise=noise,
                           return_nfe=True)

    rows, samples = [], {"condition": task.show(cond).contiguous(), "truth": x_held.contiguous()}
    _say(f"[poc] evaluation on {n} held-out images: teacher DDIM-{tsteps}, student CoDi-{ssteps}")
    for label, key_name, fn in ((f"ControlNet teacher, DDIM-{tsteps}", "teacher", run_teacher),
                                (f"CoDi student ({s.student_mode}), {ssteps} steps", "student",
                                 run_student)):
        times = []
        for rep in range(1 + max(0, s.latency_repeats)):
            t0 = time.perf_counter()
            imgs, nfe = fn()
            imgs = imgs.cpu()  # waits for the device
            times.append(time.perf_counter() - t0)
        samples[key_name] = imgs.contiguous()
        latency = sorted(times)[len(times) // 2] / n
        rows.append({"method": label, "key": key_name, "nfe": nfe, "latency_s": latency,
                     **_quality(imgs, x_held, lpips_distance, psnr, fid, LPIPS_SIZE)})
    if s.task == "sr4":
        rows.append({"method": "bicubic upsampling of the input (no model)", "key": "condition",
                     "nfe": 0, "latency_s": None,
                     **_quality(samples["condition"], x_held, lpips_distance, psnr, fid, LPIPS_SIZE)})
    t_lat = rows[0]["latency_s"]
    for r in rows:
        r["speedup"] = (t_lat / r["latency_s"]) if r["latency_s"] else None
    result = {"key": key, "n_heldout": n, "rows": rows,
              "latency_repeats": s.latency_repeats, "cached": False}
    cache.mkdir(parents=True, exist_ok=True)
    save_file({k: v.float().contiguous() for k, v in samples.items()}, str(cache / "samples.safetensors"))
    (cache / "eval.json").write_text(json.dumps(result, indent=1))
    result["samples"] = samples
    return result


def _quality(pred, truth, lpips_distance, psnr, fid, size) -> dict:
    out = {"lpips": float(lpips_distance(pred, truth, size=size).mean()),
           "psnr": float(psnr(pred, truth).mean())}
    try:
        out["fid"] = fid(truth, pred) if truth.shape[0] >= 2 else None
    except Exception as err:  # FID weights missing or too few images: report, don't fail
        out["fid"], out["fid_error"] = None, str(err)
    return out


# --------------------------------------------------------------------------- report


def _png_b64(img, scale: int = 1) -> str:
    from PIL import Image

    from .data import to_uint8_images
    arr = to_uint8_images(img)[0]
    im = Image.fromarray(arr)
    if scale != 1:
        im = im.resize((im.width * scale, im.height * scale), Image.Resampling.NEAREST)
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _duration(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def _fmt(v, digits=3, unit=""):
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "n/a"
    return f"{v:.{digits}f}{unit}"


CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}
th{background:#f3f3f3}img.px{image-rendering:pixelated;width:96px;height:96px}
.bad{color:#a00}.note{color:#555;font-size:90%}.big{font-size:130%}"""


def render_report(data: dict) -> str:
    """The self-contained HTML report (every image a base64 PNG)."""
    e = html.escape
    s = data["settings"]
    ev = data["evaluation"]
    rows = ev["rows"]
    teacher, student = rows[0], rows[1]
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>CoDi proof of concept"
             f"</title><style>{CSS}</style></head><body>",
             f"<h1>CoDi proof of concept: {e(data['task_title'])}</h1>",
             f"<p class='big'>On {ev['n_heldout']} held-out images of <code>{e(s['images'])}</code>"
             f" the CoDi student needs {student['nfe']} network evaluations instead of "
             f"{teacher['nfe']}: <b>{_fmt(student['speedup'], 1)}x faster</b> per image "
             f"({_fmt(student['latency_s'] * 1000, 1)} ms vs {_fmt(teacher['latency_s'] * 1000, 1)} ms), "
             f"LPIPS {_fmt(student['lpips'])} vs the teacher's {_fmt(teacher['lpips'])} (lower is "
             "better).</p>"]
    # settings
    d = data["data"]
    settings_rows = [
        ("image folder", s["images"]), ("task", f"{s['task']} ({data['task_title']})"),
        ("resolution", f"{data['size']}x{data['size']} px (shorter side resized, centre crop)"),
        ("images", f"{d['usable']} usable: {d['train']} for training, {d['heldout']} held out; "
                   f"{len(d['bad'])} unusable, {len(d['ignored'])} other files ignored"),
        ("unconditional teacher", s["teacher"]),
        ("runs", f"controlnet teacher {s['teacher_steps']} steps, {s['student_mode']} student "
                 f"{s['student_steps']} steps; batch {s['batch_size']}, lr {s['lr']}, "
                 f"EMA {s['ema_decay']}, seed {s['seed']}"),
        ("evaluation", f"teacher DDIM-{s['eval_teacher_steps']}, student CoDi-"
                       f"{s['eval_student_steps']}, same noise; latency = median of "
                       f"{1 + max(0, s['latency_repeats'])} run(s) / image"),
        ("hardware", data["hardware"]), ("software", data["software"]),
        ("output folder", s["out"]), ("written", data["written"]),
    ]
    parts.append("<h2>Settings</h2><table>" + "".join(
        f"<tr><th>{e(k)}</th><td>{e(str(v))}</td></tr>" for k, v in settings_rows) + "</table>")
    # training
    parts.append("<h2>Training</h2><table><tr><th>run</th><th>mode</th><th>steps</th>"
                 "<th>training time</th><th>final loss</th><th>this time</th></tr>")
    for r in data["runs"].values():
        parts.append(f"<tr><td>{e(r['name'])}</td><td>{e(r['mode'])}</td><td>{r['steps']}</td>"
                     f"<td>{_duration(r['train_seconds'])}</td><td>{_fmt(r['final_loss'], 4)}</td>"
                     f"<td>{e(r['status'])}</td></tr>")
    total = sum(r["train_seconds"] for r in data["runs"].values())
    parts.append(f"</table><p>Total training time: {_duration(total)} "
                 f"({e(str(next(iter(data['runs'].values()))['hardware']))}).</p>")
    # results
    parts.append("<h2>Results on the held-out images</h2><table><tr><th>method</th><th>NFE</th>"
                 "<th>LPIPS &darr;</th><th>PSNR (dB) &uarr;</th><th>FID &darr;</th>"
                 "<th>latency / image</th><th>speed-up vs teacher</th></tr>")
    for r in rows:
        lat = "n/a" if r["latency_s"] is None else f"{r['latency_s'] * 1000:.1f} ms"
        parts.append(f"<tr><td>{e(r['method'])}</td><td>{r['nfe']}</td><td>{_fmt(r['lpips'])}</td>"
                     f"<td>{_fmt(r['psnr'], 2)}</td><td>{_fmt(r.get('fid'), 1)}</td><td>{lat}</td>"
                     f"<td>{_fmt(r['speedup'], 1, 'x') if r['speedup'] else 'n/a'}</td></tr>")
    parts.append("</table><p class='note'>LPIPS (AlexNet, images upsampled to 64 px) and PSNR "
                 "against the ground truth; FID between the generated and the held-out images "
                 f"(n = {ev['n_heldout']}: with so few images FID is noisy and biased upward, "
                 "compare methods with each other only). Latency on this machine, batch = all "
                 "held-out images." + (" Evaluation reused from the cache (runs unchanged)."
                                       if ev.get("cached") else "") + "</p>")
    # images
    smp = ev["samples"]
    shown = min(ev["n_heldout"], 16)
    parts.append(f"<h2>Teacher vs student ({shown} of {ev['n_heldout']} held-out images)</h2>"
                 "<table><tr><th>file</th><th>condition</th>"
                 f"<th>teacher DDIM-{s['eval_teacher_steps']}</th>"
                 f"<th>student CoDi-{s['eval_student_steps']}</th><th>ground truth</th></tr>")
    for i in range(shown):
        cells = "".join(f"<td><img class='px' alt='{k}' src='data:image/png;base64,"
                        f"{_png_b64(smp[k][i])}'></td>"
                        for k in ("condition", "teacher", "student", "truth"))
        parts.append(f"<tr><td>{e(Path(d['heldout_files'][i]).name)}</td>{cells}</tr>")
    parts.append("</table>")
    # files
    parts.append("<h2>Unusable files</h2>")
    if d["bad"]:
        parts.append(f"<p class='bad'>{len(d['bad'])} file(s) could not be used and were "
                     f"{'skipped' if s['on_bad'] == 'skip' else 'reported'}:</p><table><tr>"
                     "<th>file</th><th>reason</th></tr>" + "".join(
                         f"<tr class='bad'><td>{e(p)}</td><td>{e(r)}</td></tr>" for p, r in d["bad"])
                     + "</table>")
    else:
        parts.append("<p>None: every image file was usable.</p>")
    if d["ignored"]:
        parts.append("<p class='note'>Ignored (not an image extension): " +
                     ", ".join(e(p) for p in d["ignored"]) + "</p>")
    parts.append("<h2>Next steps</h2><p>Rerun the same command to continue (raise "
                 "<code>--steps</code> to train longer; finished runs are skipped). For a "
                 "latent Stable Diffusion model on a GPU see <code>python -m codi_lib.latent "
                 "--help</code> and notebook 08.</p></body></html>")
    return "\n".join(parts)


# --------------------------------------------------------------------------- main entry


def run_poc(s: PocSettings) -> dict:
    """The whole proof of concept; returns the report data (also in ``report.json``)."""
    import torch

    from .codi_train import _resolve
    from .tasks import get_task
    from .teacher import load_teacher
    from .train_loop import hardware_string

    try:
        task = get_task(s.task)
    except ValueError as err:
        raise PocError(str(err)) from None
    folder, out = Path(s.images).resolve(), Path(s.out).resolve()
    if out == folder or folder in out.parents:
        raise PocError(f"--out {s.out} is inside the image folder {s.images}: its sample images "
                       "would be read as training data. Choose an output folder outside it.")
    teacher_path = _resolve(s.teacher)
    _, tcfg = load_teacher(teacher_path)
    size = s.size or tcfg.unet.sample_size
    if size != tcfg.unet.sample_size:
        warnings.warn(f"the teacher was trained at {tcfg.unet.sample_size} px; training at {size} px "
                      "works (the UNet is convolutional) but starts further from its prior")
    if size % 2 ** (len(tcfg.unet.block_out_channels) - 1):
        raise PocError(f"--size {size} must be a multiple of {2 ** (len(tcfg.unet.block_out_channels) - 1)}")

    _say(f"[poc] reading {folder} at {size}x{size} px ...")
    scan = scan_folder(folder, size)
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
    n = len(scan.paths)
    held = split_holdout(n, s)
    train_idx = [i for i in range(n) if i not in set(held)]
    _say(f"[poc] {n} usable images: {len(train_idx)} for training, {len(held)} held out")

    train_u8, held_u8 = scan.images[train_idx], scan.images[held]
    fp = {"train": _fingerprint([scan.paths[i] for i in train_idx], train_u8),
          "heldout": _fingerprint([scan.paths[i] for i in held], held_u8),
          "size": size, "task": s.task, "seed": s.seed,
          "train": [s.batch_size, s.lr, s.ema_decay, str(teacher_path)]}
    out.mkdir(parents=True, exist_ok=True)
    state_file = out / "poc.json"
    if state_file.is_file():
        old = json.loads(state_file.read_text()).get("fingerprint")
        if old and old != fp:
            raise PocError(f"{out} holds runs of different data or settings (the images in "
                           f"{folder}, --size, --task, --seed, --batch-size or --teacher changed "
                           "since they started). "
                           "Use another --out, or delete it to start over.")
    state_file.write_text(json.dumps({"fingerprint": fp, "settings": asdict(s)}, indent=1))

    runs = {"controlnet": train_or_resume(s, "controlnet", "controlnet", s.teacher_steps,
                                          train_u8, out, str(folder)),
            "student": train_or_resume(s, s.student_mode, s.student_mode, s.student_steps,
                                       train_u8, out, str(folder))}
    x_held = held_u8.float() / 127.5 - 1
    ev = evaluate(s, out, x_held, runs, fp["heldout"])

    import diffusers
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
    _say(f"[poc] teacher DDIM-{t['nfe']}: LPIPS {_fmt(t['lpips'])}, {_fmt(t['latency_s'] * 1000, 1)} ms/image;"
         f" student CoDi-{st['nfe']}: LPIPS {_fmt(st['lpips'])}, {_fmt(st['latency_s'] * 1000, 1)} ms/image;"
         f" speed-up {_fmt(st['speedup'], 1)}x")
    _say(f"[poc] report: {report}")
    data["report"] = str(report)
    return data


def add_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The ``codi poc`` options (used by :mod:`codi_lib.cli`)."""
    p.add_argument("--images", required=True, help="folder of your images (any sizes and formats)")
    p.add_argument("--task", required=True, help="sr4, inpaint or canny")
    p.add_argument("--out", default="runs/poc", help="output folder (runs, report.html)")
    p.add_argument("--on-bad", default="skip", choices=["skip", "stop"],
                   help="unusable files: skip them (listed in the report) or stop before training")
    p.add_argument("--size", type=int, default=0, help="resolution in px (default: the teacher's, 32)")
    p.add_argument("--steps", default=None,
                   help=f"training steps: N for both runs or TEACHER,STUDENT (default {DEFAULT_STEPS})")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--student", default="codi", choices=["codi", "pe-codi"])
    p.add_argument("--teacher", default="data/teacher", help="exported unconditional teacher")
    p.add_argument("--holdout", type=float, default=0.15, help="fraction held out (at least 2 images)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--latency-repeats", type=int, default=2, help="extra timed sampling runs")
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
                        teacher=args.teacher, holdout=args.holdout, seed=args.seed,
                        latency_repeats=args.latency_repeats, progress=not args.no_progress)
        run_poc(s)
    except PocError as err:
        print(f"codi poc: {err}", file=sys.stderr)
        return 2
    return 0
