"""Model factory, config round-trip, checkpoints, exact resume, NaN detection, CLI."""
import json

import pytest
import torch
from safetensors.torch import load_file

from codi_lib.training.checkpoint import latest_checkpoint, list_checkpoints
from codi_lib.training.config import TeacherConfig, apply_overrides, load_config, save_config
from codi_lib.method.models import UNetConfig, build_unet, count_parameters
from codi_lib.training.teacher import export_teacher, load_teacher, train_teacher
from codi_lib.training.loop import TrainingDiverged, batch_indices


def test_default_teacher_is_a_unet2dcondition_of_the_measured_size():
    from diffusers import ControlNetModel, UNet2DConditionModel
    unet = build_unet(UNetConfig())
    assert isinstance(unet, UNet2DConditionModel)
    assert 2.5e6 < count_parameters(unet) < 4e6
    # the conditional path of later lessons builds on exactly this class
    cn = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=(16,))
    assert cn.config.block_out_channels == unet.config.block_out_channels


def test_config_round_trip(tmp_path, tiny_cfg):
    save_config(tiny_cfg, tmp_path / "c.json")
    back = load_config(tmp_path / "c.json")
    assert back == tiny_cfg and isinstance(back.unet.block_out_channels, tuple)
    d = json.loads((tmp_path / "c.json").read_text())
    d["train"]["max_stepz"] = 3
    (tmp_path / "bad.json").write_text(json.dumps(d))
    with pytest.raises(ValueError, match=r"bad\.json.*max_stepz"):
        load_config(tmp_path / "bad.json")
    with pytest.raises(FileNotFoundError, match="nope.json"):
        load_config(tmp_path / "nope.json")


def test_overrides():
    cfg = apply_overrides(TeacherConfig(), ["train.max_steps=12", "unet.block_out_channels=[32,32]"])
    assert cfg.train.max_steps == 12 and cfg.unet.block_out_channels == (32, 32)
    with pytest.raises(ValueError, match="train.nope"):
        apply_overrides(TeacherConfig(), ["train.nope=1"])


def test_batches_cover_each_epoch_once():
    seen = torch.cat([batch_indices(10, 5, s, seed=3) for s in range(2)])
    assert sorted(seen.tolist()) == list(range(10))


def test_exact_resume_matches_uninterrupted_run(tmp_path, tiny_cfg, tiny_images):
    full = train_teacher(tiny_cfg, tmp_path / "a", images=tiny_images, progress=False)
    assert full.step == 6
    part = train_teacher(tiny_cfg, tmp_path / "b", images=tiny_images, progress=False, stop_after=4)
    assert part.step == 4 and latest_checkpoint(tmp_path / "b").name == "ckpt-0000004"
    resumed = train_teacher(tiny_cfg, tmp_path / "b", images=tiny_images, progress=False)
    assert resumed.step == 6
    for name in ["model", "ema", "optimizer"]:
        a = load_file(str(tmp_path / "a" / "ckpt-0000006" / f"{name}.safetensors"))
        b = load_file(str(tmp_path / "b" / "ckpt-0000006" / f"{name}.safetensors"))
        assert a.keys() == b.keys()
        for k in a:
            assert torch.equal(a[k], b[k]), (name, k)
    # old checkpoints are pruned; the log has one line per step
    assert len(list_checkpoints(tmp_path / "b")) == 2
    log = (tmp_path / "b" / "log.jsonl").read_text().splitlines()
    assert [json.loads(l)["step"] for l in log] == [1, 2, 3, 4, 5, 6]


def test_resume_refuses_a_different_config(tmp_path, tiny_cfg, tiny_images):
    train_teacher(tiny_cfg, tmp_path / "a", images=tiny_images, progress=False, stop_after=3)
    tiny_cfg.train.lr = 1e-3
    with pytest.raises(ValueError, match="train.lr"):
        train_teacher(tiny_cfg, tmp_path / "a", images=tiny_images, progress=False)


def test_nan_is_detected_and_last_checkpoint_kept(tmp_path, tiny_cfg, tiny_images):
    from codi_lib.method.models import build_unet
    from codi_lib.method.schedule import NoiseSchedule
    from codi_lib.training.teacher import Denoiser, denoising_loss
    from codi_lib.training.loop import train_loop
    base = denoising_loss(NoiseSchedule(tiny_cfg.schedule))

    def poisoned(model, ema, x, gen, step):  # the loss turns NaN at step 4
        loss, logs = base(model, ema, x, gen, step)
        return (loss * float("nan") if step >= 4 else loss), logs

    model = Denoiser(build_unet(tiny_cfg.unet))
    with pytest.raises(TrainingDiverged, match="diverged at step 4"):
        train_loop(tiny_cfg, model, tiny_images, poisoned, tmp_path / "a", progress=False)
    ckpt = latest_checkpoint(tmp_path / "a")
    assert ckpt.name == "ckpt-0000003"
    sd = load_file(str(ckpt / "model.safetensors"))
    assert all(torch.isfinite(v).all() for v in sd.values())


def test_one_loss_spike_is_tolerated_and_a_sustained_blow_up_is_not(tmp_path, tiny_cfg, tiny_images):
    from codi_lib.method.models import build_unet
    from codi_lib.method.schedule import NoiseSchedule
    from codi_lib.training.teacher import Denoiser, denoising_loss
    from codi_lib.training.loop import train_loop
    base = denoising_loss(NoiseSchedule(tiny_cfg.schedule))
    tiny_cfg.train.max_steps = 70
    tiny_cfg.train.ckpt_every = 10

    def spiky(from_step, to_step):
        def loss_fn(model, ema, x, gen, step):
            loss, logs = base(model, ema, x, gen, step)
            return (loss * 1000.0 if from_step <= step < to_step else loss), logs
        return loss_fn

    model = Denoiser(build_unet(tiny_cfg.unet))
    result = train_loop(tiny_cfg, model, tiny_images, spiky(60, 61), tmp_path / "one", progress=False)
    assert result.step == 70  # one spike: the heavy tail of a loss, not a divergence
    model = Denoiser(build_unet(tiny_cfg.unet))
    with pytest.raises(TrainingDiverged, match="diverged at step 62.*3 steps"):
        train_loop(tiny_cfg, model, tiny_images, spiky(60, 70), tmp_path / "many", progress=False)
    assert latest_checkpoint(tmp_path / "many").name == "ckpt-0000060"


def test_export_and_load_without_pickle(tmp_path, tiny_cfg, tiny_images):
    train_teacher(tiny_cfg, tmp_path / "run", images=tiny_images, progress=False)
    dest = export_teacher(tmp_path / "run", tmp_path / "teacher")
    assert sorted(p.name for p in dest.iterdir()) == ["config.json", "record.json", "unet.safetensors"]
    model, cfg = load_teacher(dest)
    ema = load_file(str(tmp_path / "run" / "ckpt-0000006" / "ema.safetensors"))
    assert torch.equal(model.unet.conv_in.weight, ema["unet.conv_in.weight"])
    assert json.loads((dest / "record.json").read_text())["steps"] == 6
    with pytest.raises(FileNotFoundError, match="codi train-teacher"):
        load_teacher(tmp_path / "missing")


def test_cli_train_export_sample(tmp_path, tiny_cfg, monkeypatch):
    from PIL import Image

    from codi_lib.apps.cli import main
    monkeypatch.setattr("codi_lib.training.teacher.load_training_images",
                        lambda cfg: torch.randint(0, 256, (16, 3, 16, 16), dtype=torch.uint8))
    save_config(tiny_cfg, tmp_path / "tiny.json")
    assert main(["train-teacher", "--config", str(tmp_path / "tiny.json"), "--out",
                 str(tmp_path / "run"), "--set", "train.max_steps=2", "--no-progress"]) == 0
    assert main(["export-teacher", str(tmp_path / "run"), str(tmp_path / "t")]) == 0
    assert main(["sample", "--teacher", str(tmp_path / "t"), "--steps", "3", "-n", "4",
                 "--out", str(tmp_path / "g.png")]) == 0
    im = Image.open(tmp_path / "g.png")
    assert im.size[0] >= 2 * 16 and im.mode == "RGB"


def test_half_snapshot_warm_starts_a_new_run(tmp_path, tiny_cfg, tiny_images):
    import copy
    train_teacher(tiny_cfg, tmp_path / "run", images=tiny_images, progress=False)
    snap = export_teacher(tmp_path / "run", tmp_path / "snap", half=True)
    assert all(v.dtype == torch.float16 for v in load_file(str(snap / "unet.safetensors")).values())
    assert json.loads((snap / "record.json").read_text())["weights"] == "EMA, float16"
    cfg = copy.deepcopy(tiny_cfg)
    cfg.init_from = str(snap)
    cfg.train.max_steps, cfg.train.lr = 1, 0.0  # lr 0: the weights stay where they started
    train_teacher(cfg, tmp_path / "warm", images=tiny_images, progress=False)
    warm, _ = load_teacher(export_teacher(tmp_path / "warm", tmp_path / "warm-out"))
    start, _ = load_teacher(snap)
    for a, b in zip(warm.unet.parameters(), start.unet.parameters()):
        assert torch.allclose(a, b, atol=1e-6)


def test_warm_start_exported_over_its_start_counts_both_parts_once(tmp_path, tiny_cfg, tiny_images):
    """How the scene teacher continues: start from the exported folder, export back over it."""
    import copy
    train_teacher(tiny_cfg, tmp_path / "run", images=tiny_images, progress=False)
    shipped = export_teacher(tmp_path / "run", tmp_path / "shipped")
    first = json.loads((shipped / "record.json").read_text())
    cfg = copy.deepcopy(tiny_cfg)
    cfg.init_from, cfg.train.max_steps = str(shipped), 2
    train_teacher(cfg, tmp_path / "more", images=tiny_images, progress=False)
    for _ in range(2):  # exporting twice must not count the start twice
        export_teacher(tmp_path / "more", shipped)
        rec = json.loads((shipped / "record.json").read_text())
        assert rec["steps"] == first["steps"] + 2 == 8
        assert rec["warm_start"] == {"from": str(shipped), "steps": first["steps"],
                                     "train_seconds": first["train_seconds"]}
        assert rec["train_seconds"] >= first["train_seconds"]
    # resuming the continued run keeps the start's record, not the overwritten one
    cfg.train.max_steps = 3
    train_teacher(cfg, tmp_path / "more", images=tiny_images, progress=False)
    rec = json.loads(export_teacher(tmp_path / "more", shipped).joinpath("record.json").read_text())
    assert rec["steps"] == 9 and rec["warm_start"]["steps"] == first["steps"]


def test_bf16_is_used_only_where_it_is_fast(monkeypatch):
    from codi_lib.training import loop
    assert loop.mixed_precision(False) == "no"
    monkeypatch.setattr(loop, "bf16_is_fast", lambda: True)
    assert loop.mixed_precision(True) == "bf16"
    monkeypatch.setattr(loop, "bf16_is_fast", lambda: False)
    with pytest.warns(UserWarning, match="train.bf16.*float32"):
        assert loop.mixed_precision(True) == "no"
