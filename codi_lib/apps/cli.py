"""The ``codi`` command line: train, export, sample, benchmark, your own images and
latent models, in one parser. Introduced in the README and
``notebooks/02_teacher.ipynb``. No paper equation.

Examples::

    codi train-teacher --out runs/teacher                 # resumes if runs/teacher exists
    codi train-teacher --out runs/tiny --set train.max_steps=20 --set unet.block_out_channels=[32,32]
    codi export-teacher runs/teacher data/teacher
    codi sample --teacher data/teacher --sampler ddim --steps 50 -n 64 --out grid.png
    codi eval-teacher --teacher data/teacher           # FID/KID/floor/sharpness -> quality.json
    codi poc --images my_photos --task sr4              # your images -> runs/poc/report.html
    codi latent build-tiny runs/tiny-sd                 # latent (Stable Diffusion layout) models

The choices (modes, tasks, samplers) come from their one table each
(:data:`codi_lib.training.modes.MODES`, :data:`codi_lib.method.tasks.TASKS`,
:data:`codi_lib.method.sampling.SAMPLERS`) and the defaults of ``train`` and
``latent train`` from :class:`~codi_lib.training.config.ConditionalConfig` and
:class:`~codi_lib.training.config.LatentConfig`.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from ..training.env import ensure_fast_allocator

SET_HELP = "override a config value, e.g. train.max_steps=100 or loss.ode_model=teacher"


def _defaults(cls) -> dict:
    return {f.name: f.default for f in dataclasses.fields(cls)
            if f.default is not dataclasses.MISSING}


def _add_run_flags(p: argparse.ArgumentParser) -> None:
    """``--config``, ``--set``, ``--no-resume`` and ``--no-progress`` of every training command."""
    p.add_argument("--config", help="config JSON (default: the built-in config)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help=SET_HELP)
    p.add_argument("--no-resume", action="store_true", help="ignore existing checkpoints")
    p.add_argument("--no-progress", action="store_true")


def _add_train(sub) -> None:
    from ..method.tasks import TASKS
    from ..training.config import ConditionalConfig
    from ..training.modes import MODE_NAMES
    t = sub.add_parser("train-teacher", help="train (or resume) the unconditional teacher")
    t.add_argument("--out", required=True, help="run folder (checkpoints, log, samples)")
    _add_run_flags(t)
    d = _defaults(ConditionalConfig)
    c = sub.add_parser("train", help="train (or resume) a conditional model: "
                       + ", ".join(MODE_NAMES))
    c.add_argument("--mode", required=True, choices=MODE_NAMES)
    c.add_argument("--task", required=True, choices=sorted(TASKS))
    c.add_argument("--out", required=True, help="run folder")
    c.add_argument("--teacher", default=d["teacher"], help="exported unconditional teacher "
                   "(default: data/teacher, or data/teacher-scenes for the depth task)")
    c.add_argument("--init-from", default=d["init_from"], help="cm-two-stage: exported controlnet model")
    _add_run_flags(c)
    e = sub.add_parser("export-teacher", help="export EMA weights of a run for shipping")
    e.add_argument("run_dir")
    e.add_argument("dest")
    e.add_argument("--half", action="store_true", help="store float16 (a snapshot of a run in progress)")
    x = sub.add_parser("export", help="export a conditional run's EMA weights for shipping")
    x.add_argument("run_dir")
    x.add_argument("dest")
    x.add_argument("--fp32", action="store_true", help="store float32 (default float16)")


def _add_measure(sub) -> None:
    from ..method.sampling import SAMPLERS
    from ..method.tasks import TASKS
    from .poc import add_arguments as add_poc_arguments
    b = sub.add_parser("bench", help="measure every method on every task (JSON + Markdown)")
    b.add_argument("--out", default="runs/bench", help="folder for bench.json and bench.md")
    b.add_argument("--quick", action="store_true",
                   help="16 test images per task, 1 noise seed, 50 resamples (minutes)")
    b.add_argument("-n", "--num-images", type=int, default=None, help="test images per task (default: all)")
    b.add_argument("--tasks", nargs="*", default=None, choices=sorted(TASKS))
    b.add_argument("--students", default=None, help="folder of trained models (default: data/students)")
    b.add_argument("--seeds", type=int, default=3, help="noise seeds averaged (default 3)")
    b.add_argument("--split", default="test", choices=["test", "val"],
                   help="val: the validation split carved from train, for recipe choices")
    b.add_argument("--models", nargs="*", default=None,
                   help="only these model folders (e.g. controlnet cm-two-stage); reference rows stay")
    b.add_argument("--merge", nargs="+", default=None, metavar="RESULT",
                   help="measure nothing: merge bench.json folders of disjoint tasks into --out")
    b.add_argument("--base", default=None, metavar="RESULT",
                   help="with --merge: an earlier merged table (e.g. data/bench) whose tasks "
                        "are kept unless a merged folder measures them again")
    b.add_argument("--resamples", type=int, default=300,
                   help="bootstrap resamples for the 95%% intervals (default 300)")
    b.add_argument("--cache", default="runs/cache",
                   help="folder keeping each finished row, so a stopped run resumes and a "
                        "rerun measures only rows whose inputs, models or settings changed "
                        "(default runs/cache)")
    b.add_argument("--no-cache", action="store_true", help="measure every row again")
    b.add_argument("--fp32", action="store_true",
                   help="sample in float32 (default: bf16 autocast where this machine has fast "
                        "bf16, about 2x faster; metrics are always float32)")
    b.add_argument("--fid-seeds", type=int, default=1,
                   help="noise seeds whose outputs FID/KID score (default 1; LPIPS/PSNR/SSIM "
                        "use all --seeds)")
    q = sub.add_parser("eval-teacher", help="FID/KID/sharpness of a teacher's DDIM samples "
                       "against real images, beside the real-data floor (JSON)")
    src = q.add_mutually_exclusive_group()
    src.add_argument("--teacher", default=None, help="exported teacher folder (default: data/teacher)")
    src.add_argument("--run", default=None, help="a training run folder: its newest EMA checkpoint")
    q.add_argument("-n", "--num-images", type=int, default=None,
                   help="samples and floor images (default: the size of the reference split)")
    q.add_argument("--reference", default="test", choices=["test", "val"],
                   help="real images to compare with (val: recipe choices; test: the shipped number)")
    q.add_argument("--floor-split", default="train", choices=["train", "fit"],
                   help="where the floor's real images come from (fit with --reference val)")
    q.add_argument("--steps", type=int, default=50)
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--grid", default=None, help="also write the first 64 samples as a PNG grid")
    q.add_argument("--out", default=None, help="JSON file (default: <teacher>/quality.json)")
    add_poc_arguments(sub.add_parser("poc", help="proof of concept on your own images: "
                                     "controlnet teacher + CoDi student + report.html"))
    g = sub.add_parser("grid", help="a labelled PNG: a task's test conditions, the shipped "
                       "models' samples (controlnet DDIM-50, codi 1 and 4 steps), ground truth")
    g.add_argument("--task", required=True, choices=sorted(TASKS))
    g.add_argument("--out", required=True, help="PNG file, e.g. data/bench/grid_depth.png")
    g.add_argument("--students", default=None, help="folder of trained models (default: data/students)")
    g.add_argument("-n", "--num-images", type=int, default=12)
    g.add_argument("--start", type=int, default=0, help="first test image")
    g.add_argument("--seed", type=int, default=0)
    s = sub.add_parser("sample", help="sample a PNG grid from a teacher")
    s.add_argument("--teacher", default=None, help="exported teacher folder (default: data/teacher)")
    s.add_argument("--sampler", default="ddim", choices=SAMPLERS)
    s.add_argument("--steps", type=int, default=50)
    s.add_argument("-n", "--num-images", type=int, default=64)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", required=True, help="PNG file to write")


def _add_latent(sub) -> None:
    from ..method.sampling import CONDITIONAL_SAMPLERS
    from ..method.tasks import image_tasks
    from ..training.config import LatentConfig
    from ..training.modes import MODE_NAMES
    lat = sub.add_parser("latent", help="CoDi on latent (Stable Diffusion 1.x/2.x layout) models")
    ls = lat.add_subparsers(dest="latent_cmd", required=True)
    b = ls.add_parser("build-tiny", help="write a tiny random SD-layout model directory")
    b.add_argument("out")
    b.add_argument("--image-size", type=int, default=32)
    b.add_argument("--prediction-type", default="epsilon", choices=["epsilon", "v_prediction"])
    d = _defaults(LatentConfig)
    t = ls.add_parser("train", help="train (or resume) a latent run; works under accelerate launch")
    t.add_argument("--model-dir", required=True, help="SD directory in the diffusers layout")
    t.add_argument("--images", required=True, help="folder of training images (+ optional .txt captions)")
    t.add_argument("--mode", required=True, choices=MODE_NAMES)
    t.add_argument("--task", required=True, choices=image_tasks(),
                   help="a task whose condition comes from the images (not depth)")
    t.add_argument("--out", required=True)
    t.add_argument("--size", type=int, default=d["image_size"], help="image size in pixels (default: the VAE's)")
    t.add_argument("--prompt", default=d["prompt"], help="prompt for images without a caption file")
    t.add_argument("--p-uncond", type=float, default=d["p_uncond"])
    t.add_argument("--init-from", default=d["init_from"], help="cm-two-stage: latent controlnet run folder")
    t.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help=SET_HELP)
    t.add_argument("--no-resume", action="store_true")
    t.add_argument("--no-progress", action="store_true")
    s = ls.add_parser("sample", help="condition, samples and ground truth of a folder as a PNG grid")
    s.add_argument("--model-dir", required=True)
    s.add_argument("--run", required=True, help="latent run folder (EMA weights of the newest checkpoint)")
    s.add_argument("--images", required=True)
    s.add_argument("--out", required=True, help="PNG file")
    s.add_argument("--sampler", default="codi", choices=CONDITIONAL_SAMPLERS)
    s.add_argument("--steps", type=int, default=4)
    s.add_argument("--guidance", type=float, default=1.0, help="CFG weight w (1 = none)")
    s.add_argument("--prompt", default=d["prompt"])
    s.add_argument("-n", "--num-images", type=int, default=8)


def parser() -> argparse.ArgumentParser:
    """The one parser of the ``codi`` command. Its builders import the tables they read
    (and so torch) only when called: :func:`main` first re-executes the process with the
    allocator settings, before any heavy import."""
    p = argparse.ArgumentParser(prog="codi", description="CoDi course command line")
    sub = p.add_subparsers(dest="cmd", required=True)
    _add_train(sub)
    _add_measure(sub)
    _add_latent(sub)
    return p


def _report(res) -> None:
    print(json.dumps({"out": str(res.out_dir), "step": res.step,
                      "train_seconds": round(res.train_seconds, 1)}))


def _train(args) -> None:
    from ..training.config import ConditionalConfig, TeacherConfig, apply_overrides, load_config
    if args.cmd == "train-teacher":
        from ..training.teacher import train_teacher
        cfg = load_config(args.config, TeacherConfig) if args.config else TeacherConfig()
        apply_overrides(cfg, args.set)
        _report(train_teacher(cfg, args.out, resume=not args.no_resume, progress=not args.no_progress))
        return
    from ..training.students import train_conditional
    cfg = (load_config(args.config, ConditionalConfig) if args.config else
           ConditionalConfig(mode=args.mode, task=args.task, teacher=args.teacher,
                             init_from=args.init_from))
    apply_overrides(cfg, args.set)
    _report(train_conditional(cfg, args.out, resume=not args.no_resume, progress=not args.no_progress))


def _sample(args) -> None:
    import torch

    from ..evaluation.timing import Timer
    from ..method.sampling import sample
    from ..training.data import make_grid_image
    from ..training.teacher import load_teacher
    model, cfg = load_teacher(args.teacher)
    with Timer() as t:
        x = sample(model, cfg.schedule, args.num_images, args.steps, args.sampler,
                   seed=args.seed, shape=(cfg.unet.in_channels, cfg.unet.sample_size,
                                          cfg.unet.sample_size), progress=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    make_grid_image(x, nrow=max(1, int(args.num_images ** 0.5))).save(out)
    print(json.dumps({"out": str(out), "images": args.num_images, "sampler": args.sampler,
                      "steps": args.steps, "seconds": round(t.seconds, 2),
                      "threads": torch.get_num_threads()}))


def _eval_teacher(args) -> None:
    from ..evaluation.teacher_quality import teacher_quality
    from ..training.config import atomic_write_text
    from ..training.teacher import load_run_teacher, load_teacher
    if args.run:
        model, cfg, ckpt = load_run_teacher(args.run)
        where, default_out = f"{ckpt} (EMA)", Path(args.run) / "quality.json"
    else:
        model, cfg = load_teacher(args.teacher)
        where = str(args.teacher or "data/teacher")
        default_out = Path(where) / "quality.json"
    res = {"teacher": where, **teacher_quality(model, cfg, args.num_images, args.reference,
                                                args.floor_split, args.steps, args.seed,
                                                progress=True, grid=args.grid)}
    out = Path(args.out) if args.out else default_out
    atomic_write_text(out, json.dumps(res, indent=2) + "\n")
    print(json.dumps(res, indent=2))
    print(f"wrote {out}")


def _latent(args) -> None:
    if args.latent_cmd == "build-tiny":
        from .latent.tiny import build_tiny_sd
        print(build_tiny_sd(args.out, args.image_size, args.prediction_type))
    elif args.latent_cmd == "train":
        from ..training.config import LatentConfig, apply_overrides
        from .latent.train import train_latent
        cfg = LatentConfig(model_dir=args.model_dir, mode=args.mode, task=args.task,
                           image_size=args.size, prompt=args.prompt, p_uncond=args.p_uncond,
                           init_from=args.init_from, data=args.images)
        apply_overrides(cfg, args.set)
        _report(train_latent(cfg, args.out, resume=not args.no_resume, progress=not args.no_progress))
    else:
        from .latent.train import sample_folder
        print(sample_folder(args.model_dir, args.run, args.images, args.out, args.sampler,
                            args.steps, args.guidance, args.prompt, args.num_images))


def main(argv=None) -> int:
    if argv is None:
        ensure_fast_allocator()
    args = parser().parse_args(argv)
    if args.cmd in ("train-teacher", "train"):
        _train(args)
    elif args.cmd == "export":
        from ..training.students import export_conditional
        print(export_conditional(args.run_dir, args.dest, half=not args.fp32))
    elif args.cmd == "export-teacher":
        from ..training.teacher import export_teacher
        print(export_teacher(args.run_dir, args.dest, half=args.half))
    elif args.cmd == "bench":
        from ..evaluation.bench import merge_results, run_benchmark
        n = 16 if args.quick else args.num_images
        res = merge_results(args.merge, args.out, base=args.base) if args.merge else run_benchmark(args.out, args.tasks, n, students_dir=args.students,
                            seeds=1 if args.quick else args.seeds,
                            resamples=50 if args.quick else args.resamples,
                            split=args.split, models=args.models,
                            cache_dir=None if args.no_cache else args.cache,
                            fid_seeds=args.fid_seeds, bf16=False if args.fp32 else None)
        print((Path(args.out) / "bench.md").read_text())
        print(f"wrote {Path(args.out) / 'bench.json'} in {res['seconds']} s")
    elif args.cmd == "eval-teacher":
        _eval_teacher(args)
    elif args.cmd == "poc":
        from .poc import main_from_args
        return main_from_args(args)
    elif args.cmd == "grid":
        from ..evaluation.sample_grid import write_grid
        print("wrote", write_grid(args.task, args.out, args.students, args.num_images,
                                  args.start, seed=args.seed))
    elif args.cmd == "sample":
        _sample(args)
    elif args.cmd == "latent":
        _latent(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
