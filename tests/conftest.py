import os

import pytest
import torch

os.environ.setdefault("CODI_NO_REEXEC", "1")
torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture(autouse=True)
def _deterministic_torch():
    """Every test starts from the same global RNG state, so a failure reproduces."""
    torch.manual_seed(0)


def tiny_teacher_config():
    """A teacher config small enough for unit tests (a few ms per step)."""
    from codi_lib.training.config import TeacherConfig
    cfg = TeacherConfig()
    cfg.unet.block_out_channels = (32, 32)
    cfg.unet.down_block_types = ("DownBlock2D", "DownBlock2D")
    cfg.unet.up_block_types = ("UpBlock2D", "UpBlock2D")
    cfg.unet.layers_per_block = 1
    cfg.unet.sample_size = 16
    t = cfg.train
    t.max_steps, t.batch_size, t.warmup_steps = 6, 8, 2
    t.sample_every, t.ckpt_every, t.log_every = 0, 3, 1
    return cfg


@pytest.fixture
def tiny_cfg():
    return tiny_teacher_config()


@pytest.fixture
def tiny_images():
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (24, 3, 16, 16), dtype=torch.uint8, generator=g)


@pytest.fixture(scope="session")
def tiny_teacher_dir(tmp_path_factory):
    """An exported tiny teacher (2 training steps on random images)."""
    from codi_lib.training.teacher import export_teacher, train_teacher
    root = tmp_path_factory.mktemp("teacher")
    cfg = tiny_teacher_config()
    cfg.train.max_steps = 2
    g = torch.Generator().manual_seed(1)
    imgs = torch.randint(0, 256, (16, 3, 16, 16), dtype=torch.uint8, generator=g)
    train_teacher(cfg, root / "run", images=imgs, progress=False)
    return export_teacher(root / "run", root / "teacher")


def export_tiny_students(teacher_dir, students_dir, task="sr4", modes=("controlnet", "codi")):
    """Export ``modes`` after 2 training steps each on the tiny test teacher into
    ``students_dir/<task>/<mode>`` (the layout of data/students)."""
    from codi_lib.training.config import ConditionalConfig
    from codi_lib.training.students import export_conditional, train_conditional
    imgs = torch.randint(0, 256, (16, 3, 16, 16), dtype=torch.uint8,
                         generator=torch.Generator().manual_seed(3))
    for mode in modes:
        cfg = ConditionalConfig(mode=mode, task=task, teacher=str(teacher_dir))
        t = cfg.train
        t.max_steps, t.batch_size, t.warmup_steps = 2, 4, 1
        t.sample_every, t.ckpt_every, t.log_every = 0, 2, 1
        run = students_dir.parent / f"run-{task}-{mode}"
        train_conditional(cfg, run, resume=False, progress=False, images=imgs)
        export_conditional(run, students_dir / task / mode)
