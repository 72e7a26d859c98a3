"""Render the procedural scene set with exact depth into ``data/scenes32.npz``.

    python scripts/build_scenes.py                 # 4096 scenes, 2 processes
    python scripts/build_scenes.py -n 512 --out /tmp/scenes.npz

Scene ``seed`` is rendered by :func:`codi_lib.training.scenes.random_scene` and
:func:`~codi_lib.training.scenes.render` (a pure function of the seed, so the file is
the same on every run); seeds 0..n-1, test split = seed % 8 == 0. See
``data/LICENSE-scenes.md`` for what the arrays hold.
"""
from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from codi_lib.training import scenes
from codi_lib.training.scene_data import split_of_seeds


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("-n", type=int, default=4096, help="number of scenes (seeds 0..n-1)")
    p.add_argument("--out", default="data/scenes32.npz")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--supersample", type=int, default=4)
    args = p.parse_args(argv)
    seeds = np.arange(args.n)
    chunks = np.array_split(seeds, max(1, args.workers * 8))
    start = time.time()
    with ProcessPoolExecutor(args.workers) as pool:
        parts = list(pool.map(scenes.render_seeds, chunks, [args.size] * len(chunks),
                              [args.supersample] * len(chunks)))
    images = np.concatenate([a for a, _ in parts])
    depth = np.concatenate([d for _, d in parts])
    seconds = time.time() - start
    metadata = {"generator": "scripts/build_scenes.py (codi_lib.training.scenes)",
                "generator_version": scenes.GENERATOR_VERSION, "n": args.n,
                "size": args.size, "supersample": args.supersample, "z_far": scenes.Z_FAR,
                "depth": "camera-space z (distance along the optical axis), mean of the "
                         "sub-pixels; sky and anything beyond z_far = z_far",
                "split": "test if seed % 8 == 0 else train (val: seed % 8 == 1)",
                "kinds": list(scenes.KINDS), "license": "CC0-1.0"}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, images=images, depth=depth.astype(np.float16), seeds=seeds,
                        split=split_of_seeds(seeds), metadata=json.dumps(metadata))
    print(f"{len(images)} scenes rendered in {seconds:.1f} s with {args.workers} process(es) "
          f"-> {out} ({out.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
