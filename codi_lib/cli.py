"""The ``codi`` command line: train, export and sample. Introduced in the README and
``notebooks/02_teacher.ipynb``. No paper equation.

Examples::

    codi train-teacher --out runs/teacher                 # resumes if runs/teacher exists
    codi train-teacher --out runs/tiny --set train.max_steps=20 --set unet.block_out_channels=[32,32]
    codi export-teacher runs/teacher data/teacher
    codi sample --teacher data/teacher --sampler ddim --steps 50 -n 64 --out grid.png
    codi poc --images my_photos --task sr4              # your images -> runs/poc/report.html
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="codi", description="CoDi course command line")
    sub = p.add_subparsers(dest="cmd", required=True)

    t = sub.add_parser("train-teacher", help="train (or resume) the unconditional teacher")
    t.add_argument("--out", required=True, help="run folder (checkpoints, log, samples)")
    t.add_argument("--config", help="TeacherConfig JSON (default: the built-in config)")
    t.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. train.max_steps=100")
    t.add_argument("--no-resume", action="store_true", help="ignore existing checkpoints")
    t.add_argument("--no-progress", action="store_true")

    e = sub.add_parser("export-teacher", help="export EMA weights of a run for shipping")
    e.add_argument("run_dir")
    e.add_argument("dest")

    c = sub.add_parser("train", help="train (or resume) a conditional model: controlnet, "
                       "pe-codi, codi or cm-two-stage")
    c.add_argument("--mode", required=True, choices=["controlnet", "pe-codi", "codi", "cm-two-stage"])
    c.add_argument("--task", required=True, help="sr4, inpaint or canny")
    c.add_argument("--out", required=True, help="run folder")
    c.add_argument("--teacher", default="data/teacher", help="exported unconditional teacher")
    c.add_argument("--init-from", default="", help="cm-two-stage: exported controlnet model")
    c.add_argument("--config", help="ConditionalConfig JSON")
    c.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override, e.g. train.max_steps=500 or loss.ode_model=teacher")
    c.add_argument("--no-resume", action="store_true")
    c.add_argument("--no-progress", action="store_true")

    x = sub.add_parser("export", help="export a conditional run's EMA weights for shipping")
    x.add_argument("run_dir")
    x.add_argument("dest")
    x.add_argument("--fp32", action="store_true", help="store float32 (default float16)")

    b = sub.add_parser("bench", help="measure every method on every task (JSON + Markdown)")
    b.add_argument("--out", default="runs/bench", help="folder for bench.json and bench.md")
    b.add_argument("--quick", action="store_true", help="16 test images per task, 1 seed, 50 resamples (minutes)")
    b.add_argument("-n", "--num-images", type=int, default=None, help="test images per task (default: all)")
    b.add_argument("--tasks", nargs="*", default=None)
    b.add_argument("--students", default=None, help="folder of trained models (default: data/students)")
    b.add_argument("--seeds", type=int, default=3, help="noise seeds averaged (default 3)")
    b.add_argument("--resamples", type=int, default=300, help="bootstrap resamples for the 95%% intervals")

    from .poc import add_arguments as add_poc_arguments
    add_poc_arguments(sub.add_parser("poc", help="proof of concept on your own images: "
                                     "controlnet teacher + CoDi student + report.html"))

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

    s = sub.add_parser("sample", help="sample a PNG grid from a teacher")
    s.add_argument("--teacher", default=None, help="exported teacher folder (default: data/teacher)")
    s.add_argument("--sampler", default="ddim", choices=["ddpm", "ddim", "dpmsolver++"])
    s.add_argument("--steps", type=int, default=50)
    s.add_argument("-n", "--num-images", type=int, default=64)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", required=True, help="PNG file to write")
    return p


def _report(res) -> None:
    print(json.dumps({"out": str(res.out_dir), "step": res.step,
                      "train_seconds": round(res.train_seconds, 1)}))


def _eval_teacher(args) -> int:
    from .teacher import load_run_teacher, load_teacher
    from .teacher_quality import teacher_quality
    if args.run:
        model, cfg, ckpt = load_run_teacher(args.run)
        where = f"{ckpt} (EMA)"
        default_out = Path(args.run) / "quality.json"
    else:
        model, cfg = load_teacher(args.teacher)
        where = str(args.teacher or "data/teacher")
        default_out = Path(where) / "quality.json"
    res = {"teacher": where, **teacher_quality(model, cfg, args.num_images, args.reference,
                                                args.floor_split, args.steps, args.seed,
                                                progress=True, grid=args.grid)}
    out = Path(args.out) if args.out else default_out
    from .config import atomic_write_text
    atomic_write_text(out, json.dumps(res, indent=2) + "\n")
    print(json.dumps(res, indent=2))
    print(f"wrote {out}")
    return 0


def main(argv=None) -> int:
    from .env import ensure_fast_allocator
    if argv is None:
        ensure_fast_allocator()
    args = _parser().parse_args(argv)
    if args.cmd == "train-teacher":
        from .config import TeacherConfig, apply_overrides, load_config
        from .teacher import train_teacher
        cfg = load_config(args.config, TeacherConfig) if args.config else TeacherConfig()
        apply_overrides(cfg, args.set)
        _report(train_teacher(cfg, args.out, resume=not args.no_resume,
                              progress=not args.no_progress))
    elif args.cmd == "train":
        from .codi_train import ConditionalConfig, train_conditional
        from .config import apply_overrides, load_config
        cfg = (load_config(args.config, ConditionalConfig) if args.config else
               ConditionalConfig(mode=args.mode, task=args.task, teacher=args.teacher,
                                 init_from=args.init_from))
        apply_overrides(cfg, args.set)
        _report(train_conditional(cfg, args.out, resume=not args.no_resume,
                                  progress=not args.no_progress))
    elif args.cmd == "export":
        from .codi_train import export_conditional
        print(export_conditional(args.run_dir, args.dest, half=not args.fp32))
    elif args.cmd == "bench":
        from .bench import run_benchmark
        n = 16 if args.quick else args.num_images
        seeds = 1 if args.quick else args.seeds
        res = run_benchmark(args.out, args.tasks, n, students_dir=args.students, seeds=seeds,
                            resamples=50 if args.quick else args.resamples)
        print((Path(args.out) / "bench.md").read_text())
        print(f"wrote {Path(args.out) / 'bench.json'} in {res['seconds']} s")
    elif args.cmd == "poc":
        from .poc import main_from_args
        return main_from_args(args)
    elif args.cmd == "export-teacher":
        from .teacher import export_teacher
        print(export_teacher(args.run_dir, args.dest))
    elif args.cmd == "eval-teacher":
        return _eval_teacher(args)
    elif args.cmd == "sample":
        import time

        import torch
        from .data import make_grid_image
        from .sampling import sample
        from .teacher import load_teacher
        model, cfg = load_teacher(args.teacher)
        t0 = time.perf_counter()
        x = sample(model, cfg.schedule, args.num_images, args.steps, args.sampler,
                   seed=args.seed, shape=(cfg.unet.in_channels, cfg.unet.sample_size,
                                          cfg.unet.sample_size), progress=True)
        dt = time.perf_counter() - t0
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        make_grid_image(x, nrow=max(1, int(args.num_images ** 0.5))).save(out)
        print(json.dumps({"out": str(out), "images": args.num_images, "sampler": args.sampler,
                          "steps": args.steps, "seconds": round(dt, 2),
                          "threads": torch.get_num_threads()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
