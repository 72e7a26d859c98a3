"""Helper of tests/test_multiprocess.py, run under ``accelerate launch`` (2 CPU processes):
trains a tiny pixel teacher with ``train_loop`` and writes, per process, a JSON record
(rank, world size, backend, the checkpoint it resumed from, final step, weight checksum).
Each checkpoint write is recorded with the writing process's rank.

    python tests/multiprocess_train.py OUT_DIR MAX_STEPS
"""
import hashlib
import json
import sys
from pathlib import Path

import torch
from accelerate import Accelerator

import codi_lib.training.loop as tl
from codi_lib.training.checkpoint import latest_checkpoint
from codi_lib.training.config import TeacherConfig
from codi_lib.method.models import build_unet
from codi_lib.method.schedule import NoiseSchedule
from codi_lib.training.teacher import Denoiser, denoising_loss


def tiny_config(max_steps: int) -> TeacherConfig:
    cfg = TeacherConfig()
    u = cfg.unet
    u.block_out_channels, u.layers_per_block, u.sample_size = (32, 32), 1, 16
    u.down_block_types, u.up_block_types = ("DownBlock2D",) * 2, ("UpBlock2D",) * 2
    t = cfg.train
    t.max_steps, t.batch_size, t.warmup_steps, t.bf16 = max_steps, 8, 1, False
    t.sample_every, t.ckpt_every, t.log_every, t.keep_checkpoints = 0, 2, 1, 10
    return cfg


def checksum(module: torch.nn.Module) -> str:
    h = hashlib.sha256()
    for name, v in sorted(module.state_dict().items()):
        h.update(name.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def main(out: Path, max_steps: int) -> None:
    torch.set_num_threads(1)
    acc = Accelerator(mixed_precision="no")
    rank = acc.process_index
    run = out / "run"
    real_save = tl.save_checkpoint

    def recording_save(out_dir, step, *args, **kwargs):
        with open(out / f"ckpt-writes-rank{rank}.txt", "a") as f:
            f.write(f"{step}\n")
        return real_save(out_dir, step, *args, **kwargs)

    tl.save_checkpoint = recording_save
    start = latest_checkpoint(run)
    acc.wait_for_everyone()  # everyone has looked before anyone writes
    cfg = tiny_config(max_steps)
    torch.manual_seed(cfg.train.seed)
    model = Denoiser(build_unet(cfg.unet))
    images = torch.randint(0, 256, (24, 3, 16, 16), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(1))
    res = tl.train_loop(cfg, model, images, denoising_loss(NoiseSchedule(cfg.schedule)), run,
                        progress=False, accelerator=acc)
    record = {"rank": rank, "world": acc.num_processes, "backend": acc.state.backend,
              "distributed_type": str(acc.distributed_type),
              "resumed_from": start.name if start else None, "step": res.step,
              "checksum": checksum(acc.unwrap_model(model))}
    (out / f"result-rank{rank}-steps{max_steps}.json").write_text(json.dumps(record))


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]))
