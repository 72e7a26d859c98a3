"""Tasks, the zero-initialised ControlNet branch, the CoDi loss parts and the four modes."""
import pytest
import torch

from codi_lib.training.config import ConditionalConfig
from codi_lib.training.students import export_conditional, load_conditional, train_conditional
from codi_lib.method.conditional import build_conditional
from codi_lib.method.losses import (CoDiLossConfig, codi_loss, consistency_term, draw_grid_steps,
                             guidance_term, ode_step)
from codi_lib.method.sampling import sample_codi, sample_conditional
from codi_lib.method.schedule import NoiseSchedule
from codi_lib.method.tasks import TASKS, get_task, test_conditions
from codi_lib.training.teacher import load_teacher


@pytest.mark.parametrize("name", sorted(TASKS))
def test_tasks_are_fixed_on_the_test_split(name):
    task = get_task(name)
    x = torch.rand(4, 3 + task.extra_channels, 32, 32) * 2 - 1
    x[:, 3:] += 3  # the depth task's extra channel: a positive camera-space depth
    c1, c2 = test_conditions(task, x), test_conditions(task, x)
    assert c1.shape == (4, task.cond_channels, 32, 32) and torch.equal(c1, c2)
    assert c1.min() >= -1 and c1.max() <= 1
    assert task.show(c1).shape == (4, 3, 32, 32)
    with pytest.raises(ValueError, match="known tasks"):
        get_task("deblur")


def test_super_resolution_sees_only_the_8x8_image():
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    c = test_conditions("sr4", x)
    # adding detail with zero mean in every 4x4 block leaves the condition unchanged ...
    checker = (torch.arange(4).view(4, 1) + torch.arange(4).view(1, 4)) % 2 * 0.2 - 0.1
    detail = checker.repeat(8, 8).expand(2, 3, 32, 32)
    assert torch.allclose(test_conditions("sr4", x + detail), c, atol=1e-5)
    # ... while changing one block's mean changes it
    y = x.clone()
    y[:, :, :4, :4] += 0.3
    assert (test_conditions("sr4", y) - c).abs().max() > 0.1


def test_inpainting_condition_carries_the_mask():
    x = torch.rand(8, 3, 32, 32) * 2 - 1
    c = test_conditions("inpaint", x)
    mask = (c[:, 3:] + 1) / 2
    assert set(mask.unique().tolist()) <= {0.0, 1.0}
    assert torch.all(mask.mean((1, 2, 3)) > 0.02)
    assert torch.equal(c[:, :3] * (1 - mask), x * (1 - mask))
    assert torch.all(c[:, :3][mask.expand(-1, 3, -1, -1) == 1] == 0)


def test_paste_known_keeps_the_known_pixels_and_the_generated_hole():
    from codi_lib.method.tasks import paste_known
    x = torch.rand(8, 3, 32, 32) * 2 - 1
    c = test_conditions("inpaint", x)
    mask = (c[:, 3:] + 1) / 2
    out = torch.rand(8, 3, 32, 32) * 2 - 1  # a "model output" that redraws every pixel
    pasted = paste_known(out, c)
    assert torch.equal(pasted * (1 - mask), x * (1 - mask))   # known pixels: the truth
    assert torch.equal(pasted * mask, out * mask)              # hole: the output
    with pytest.raises(ValueError, match="4"):
        paste_known(out, test_conditions("sr4", x))


@pytest.mark.parametrize("name", sorted(TASKS))
def test_zero_init_branch_equals_teacher(tiny_teacher_dir, name):
    teacher, cfg = load_teacher(tiny_teacher_dir)
    task = get_task(name)
    model = build_conditional(teacher.unet, task.cond_channels)
    g = torch.Generator().manual_seed(3)
    z = torch.randn(3, 3, 16, 16, generator=g)
    t = torch.tensor([5, 500, 999])
    for _ in range(2):  # two random conditions, unrelated to z
        cond = torch.randn(3, task.cond_channels, 16, 16, generator=g)
        with torch.no_grad():
            assert torch.equal(model(z, t, cond), teacher(z, t))


def test_grid_steps_batch_and_per_sample():
    g = torch.Generator().manual_seed(0)
    t, s = draw_grid_steps(64, 50, 1000, per_sample=False, gen=g)
    assert t.unique().numel() == 1 and torch.all(t - s == 20) and 20 <= t[0] <= 980
    t, s = draw_grid_steps(256, 50, 1000, per_sample=True, gen=g)
    assert t.unique().numel() > 10 and t.min() >= 20 and t.max() <= 980


def test_ode_step_with_exact_denoiser_stays_on_the_trajectory():
    schedule = NoiseSchedule()
    x = torch.rand(2, 3, 4, 4) * 2 - 1
    eps = torch.randn(2, 3, 4, 4)
    t, s = torch.tensor([600, 600]), torch.tensor([580, 580])

    def exact(z, tt, cond):  # v of the one-point distribution at x
        a, sg = schedule.alpha_sigma(tt, z.dim())
        return a * ((z - a * x) / sg) - sg * x
    z_s = ode_step(exact, schedule.add_noise(x, eps, t), t, s, None, schedule)
    assert torch.allclose(z_s, schedule.add_noise(x, eps, s), atol=1e-5)


def test_loss_terms():
    f, g, x = torch.ones(2, 3), torch.zeros(2, 3), torch.full((2, 3), 3.0)
    assert consistency_term(f, g).item() == 1.0
    assert guidance_term(f, x).item() == 4.0
    with pytest.raises(ValueError, match="ode_model"):
        CoDiLossConfig(ode_model="ema")


@pytest.mark.parametrize("opts", [dict(), dict(ode_model="teacher", per_sample_n=True, space="eps"),
                                  dict(lambda_cg=0.0), dict(lambda_cons=0.0)])
def test_codi_loss_has_gradients_only_where_trained(tiny_teacher_dir, opts):
    teacher, cfg = load_teacher(tiny_teacher_dir)
    schedule = NoiseSchedule(cfg.schedule)
    model = build_conditional(teacher.unet, 3)
    model.unet.requires_grad_(False)
    ema = build_conditional(teacher.unet, 3).requires_grad_(False)
    lcfg = CoDiLossConfig(**opts)
    loss_fn = codi_loss(schedule, lcfg, get_task("sr4"), teacher)
    x = torch.rand(4, 3, 16, 16) * 2 - 1
    loss, logs = loss_fn(model, ema, x, torch.Generator().manual_seed(0), 0)
    loss.backward()
    assert torch.isfinite(loss) and set(logs) == {"l_cons", "l_cg"}
    assert all(p.grad is None for p in model.unet.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.controlnet.parameters())


@pytest.mark.parametrize("mode", ["controlnet", "pe-codi", "codi"])
def test_each_mode_trains_exports_and_samples(tmp_path, tiny_teacher_dir, mode):
    cfg = ConditionalConfig(mode=mode, task="inpaint", teacher=str(tiny_teacher_dir))
    t = cfg.train
    t.max_steps, t.batch_size, t.sample_every, t.ckpt_every, t.log_every = 2, 4, 0, 2, 1
    imgs = torch.randint(0, 256, (8, 3, 16, 16), dtype=torch.uint8)
    res = train_conditional(cfg, tmp_path / mode, images=imgs, progress=False)
    assert res.step == 2
    dest = export_conditional(tmp_path / mode, tmp_path / f"{mode}-export")
    assert (dest / "unet.safetensors").exists() == (mode == "codi")
    model, _ = load_conditional(dest)
    cond = test_conditions("inpaint", torch.rand(2, 3, 16, 16) * 2 - 1)
    x, nfe = sample_codi(model, cond, NoiseSchedule(cfg.schedule), 4, return_nfe=True)
    assert x.shape == (2, 3, 16, 16) and nfe == 4
    x, nfe = sample_conditional(model, cond, cfg.schedule, 3, "dpmsolver++", return_nfe=True)
    assert nfe == 3 and torch.isfinite(x).all()
    if mode == "controlnet":  # the CM-II baseline starts from this model
        cm = ConditionalConfig(mode="cm-two-stage", task="inpaint", teacher=str(tiny_teacher_dir),
                               init_from=str(dest))
        cm.train.max_steps, cm.train.batch_size, cm.train.sample_every = 1, 4, 0
        assert train_conditional(cm, tmp_path / "cm", images=imgs, progress=False).step == 1


def test_bench_has_every_row_and_flags_missing_models(tmp_path, tiny_teacher_dir):
    from codi_lib.evaluation.bench import METHODS, run_benchmark
    imgs = torch.randint(0, 256, (8, 3, 16, 16), dtype=torch.uint8)
    for mode in ["controlnet", "codi"]:
        cfg = ConditionalConfig(mode=mode, task="sr4", teacher=str(tiny_teacher_dir))
        cfg.train.max_steps, cfg.train.batch_size, cfg.train.sample_every = 1, 4, 0
        train_conditional(cfg, tmp_path / "runs" / mode, images=imgs, progress=False)
        export_conditional(tmp_path / "runs" / mode, tmp_path / "students" / "sr4" / mode)
    from test_metrics import LevelsTo64  # a cheap 64-feature stand-in: FID's own tests cover Inception
    res = run_benchmark(tmp_path / "bench", ["sr4", "depth"], n_images=4, batch_size=4,
                        seeds=2, resamples=20, students_dir=tmp_path / "students",
                        progress=False, extractor=LevelsTo64())
    rows = [r for r in res["rows"] if r["task"] == "sr4"]
    # depth: measured on its own scenes; no model trained for it here, so only the
    # reference rows have numbers
    depth = [r for r in res["rows"] if r["task"] == "depth"]
    assert [r["method"] for r in depth] == [m.label for m in METHODS]
    assert all("missing" in r for r in depth if r["model"])
    assert "lpips" in next(r for r in depth if r["key"] == "reference/condition/0")
    assert res["data_sets"]["scenes"]["n_reference"] == 512
    assert res["data_sets"]["emoji"]["n_reference"] == 608
    assert [r["method"] for r in rows] == [m.label for m in METHODS]
    measured = {r["key"]: r for r in rows if "lpips" in r and not r.get("reference")}
    assert set(r["model"] for r in measured.values()) == {"controlnet", "codi"}
    assert measured["controlnet/ddim/50"]["nfe"] == 50
    assert measured["controlnet/dpmsolver++/1"]["nfe"] == 1
    assert measured["codi/codi/4"]["nfe"] == 4 and measured["codi/codi/8"]["nfe"] == 8
    for r in measured.values():
        assert r["lpips_ci"][0] <= r["lpips"] <= r["lpips_ci"][1]
        assert r["fid_ci"][0] <= r["fid"] <= r["fid_ci"][1]
        assert r["train_batch"] == 4 and r["train_steps"] == 1
    assert all("missing" in r for r in rows if r["model"] not in ("", "controlnet", "codi"))
    cond = next(r for r in rows if r["key"] == "reference/condition/0")
    floor = next(r for r in rows if r["key"] == "reference/floor/0")
    assert cond["reference"] and "lpips" in cond and floor["reference"] and "lpips" not in floor
    assert res["fid_floor"] == floor["fid"] and res["n_reference"] == 608
    pairs = {(p["a"], p["b"], p["metric"]) for p in res["paired"]}
    assert ("codi/codi/1", "controlnet/ddim/1", "lpips") in pairs
    assert ("codi/codi/4", "controlnet/dpmsolver++/4", "fid") in pairs
    assert not any(p["a"].startswith("pe-codi") for p in res["paired"])  # not trained here
    assert any(g["goal"].startswith("CoDi-4 within 5%") for g in res["goals"])
    assert (tmp_path / "bench" / "quality_vs_nfe_sr4.png").is_file()
    md = (tmp_path / "bench" / "bench.md").read_text()
    assert "CoDi-1" in md and "no trained model" in md and "Paired differences" in md

    # merging per-task runs gives the same table (codi bench --merge)
    import json
    from codi_lib.evaluation.bench import merge_results
    for task, ds in (("sr4", "emoji"), ("depth", "scenes")):
        part = {**res, "rows": [r for r in res["rows"] if r["task"] == task],
                "paired": [q for q in res["paired"] if q["task"] == task],
                "data_sets": {ds: res["data_sets"][ds]},
                "parts": [{"tasks": [task], "hardware": res["hardware"], "seconds": 1.0}]}
        (tmp_path / task).mkdir()
        (tmp_path / task / "bench.json").write_text(json.dumps(part))
    merged = merge_results([tmp_path / "depth", tmp_path / "sr4"], tmp_path / "merged")
    assert merged["rows"] == res["rows"] and merged["paired"] == res["paired"]  # registry order
    assert merged["data_sets"] == res["data_sets"] and merged["seconds"] == 2.0
    assert merged["goals"] == res["goals"]
    assert (tmp_path / "merged" / "quality_vs_nfe_depth.png").is_file()
    with pytest.raises(ValueError, match="task sr4 is in both"):
        merge_results([tmp_path / "sr4", tmp_path / "sr4"], tmp_path / "m2")
    # --base: the merged table keeps its tasks; a task measured again replaces its own
    again = merge_results([tmp_path / "depth"], tmp_path / "merged", base=tmp_path / "merged")
    assert again["rows"] == res["rows"] and again["paired"] == res["paired"]
    assert [p["tasks"] for p in again["parts"]] == [["sr4"], ["depth"]] and again["seconds"] == 2.0
    assert again["data_sets"] == res["data_sets"]
    # runs of one data set each write that set's counts into the FID note: they still
    # merge, and the merged note and header give each data set's counts
    from codi_lib.evaluation.bench_report import fid_note, images_per_task
    for task in ("sr4", "depth"):
        part = json.loads((tmp_path / task / "bench.json").read_text())
        part["fid_note"] = fid_note(part["data_sets"], "test", part["fid_seeds"], part["seeds"])
        (tmp_path / task / "bench.json").write_text(json.dumps(part))
    assert "of 4 outputs per seed against all 512 test" in part["fid_note"]
    sep = merge_results([tmp_path / "sr4", tmp_path / "depth"], tmp_path / "m4")
    assert "(emoji: 4 against 608; scenes: 4 against 512)" in sep["fid_note"]
    assert images_per_task(sep) == "4 test images per task"
    assert images_per_task({"data_sets": {"emoji": {"n_images": 608}, "scenes": {"n_images": 512}}}) \
        == "608 (emoji) and 512 (scenes) test images per task"
    other = json.loads((tmp_path / "depth" / "bench.json").read_text())
    other["seeds"] = 3
    (tmp_path / "depth" / "bench.json").write_text(json.dumps(other))
    with pytest.raises(ValueError, match="seeds=3"):
        merge_results([tmp_path / "sr4", tmp_path / "depth"], tmp_path / "m3")


def test_warm_start_copies_an_exported_model_and_refuses_a_mismatch(tmp_path, tiny_teacher_dir):
    """warm_start (codi poc's fine-tuning) starts a run from an exported model of the same
    mode, task and teacher: branch (and trained backbone) equal to the export."""
    from conftest import export_tiny_students
    from codi_lib.training.config import ConditionalConfig
    from codi_lib.training.students import build_for_mode, load_conditional
    export_tiny_students(tiny_teacher_dir, tmp_path / "students", modes=("controlnet", "codi"))
    for mode in ("controlnet", "codi"):
        src = tmp_path / "students" / "sr4" / mode
        ref, _ = load_conditional(src)
        cfg = ConditionalConfig(mode=mode, task="sr4", teacher=str(tiny_teacher_dir),
                                warm_start=str(src))
        model, _ = build_for_mode(cfg)
        for (name, a), b in zip(model.state_dict().items(), ref.state_dict().values()):
            assert torch.equal(a, b), name
        fresh, _ = build_for_mode(ConditionalConfig(mode=mode, task="sr4", teacher=str(tiny_teacher_dir)))
        assert any(not torch.equal(a, b) for a, b in zip(fresh.controlnet.state_dict().values(),
                                                         ref.controlnet.state_dict().values()))
    src = tmp_path / "students" / "sr4" / "controlnet"
    with pytest.raises(ValueError, match="controlnet model of task sr4; this run is codi"):
        build_for_mode(ConditionalConfig(mode="codi", task="sr4", teacher=str(tiny_teacher_dir),
                                         warm_start=str(src)))
    with pytest.raises(ValueError, match="was trained on the teacher"):
        build_for_mode(ConditionalConfig(mode="controlnet", task="sr4", teacher="data/teacher",
                                         warm_start=str(src)))
    with pytest.raises(FileNotFoundError, match="no exported model"):
        build_for_mode(ConditionalConfig(mode="controlnet", task="sr4", teacher=str(tiny_teacher_dir),
                                         warm_start=str(tmp_path)))


def test_bench_resumes_from_its_row_cache_and_remeasures_changed_models(tmp_path, tiny_teacher_dir,
                                                                        monkeypatch):
    """codi bench keeps each finished row: a rerun reads every row back (nothing is
    generated again) and gives the same numbers and pairs; a changed model file
    re-measures that model's rows only; timing is always measured in the rerun."""
    from conftest import export_tiny_students
    from test_metrics import LevelsTo64
    from codi_lib.evaluation import bench
    export_tiny_students(tiny_teacher_dir, tmp_path / "students", modes=("controlnet", "codi"))
    kw = dict(tasks=["sr4"], n_images=4, batch_size=4, seeds=2, resamples=20,
              students_dir=tmp_path / "students", progress=False, extractor=LevelsTo64(),
              cache_dir=tmp_path / "cache", bf16=False)
    first = bench.run_benchmark(tmp_path / "b1", **kw)
    assert first["rows_from_cache"] == 0
    measured = [r for r in first["rows"] if "lpips" in r or "fid" in r]
    assert len(list((tmp_path / "cache").glob("bench-*.safetensors"))) == len(measured)

    def no_generation(*a, **k):
        raise AssertionError("a cached row was generated again")
    real_generate_all = bench._generate_all
    monkeypatch.setattr(bench, "_generate_all", no_generation)
    second = bench.run_benchmark(tmp_path / "b2", **kw)
    assert second["rows_from_cache"] == len(measured) - 1  # the floor is not counted
    strip = lambda rows: [{k: v for k, v in r.items() if k not in ("ms_per_image", "speedup_vs_ddim50")}
                          for r in rows]
    assert strip(second["rows"]) == strip(first["rows"])
    assert second["paired"] == first["paired"]
    assert all(r["ms_per_image"] > 0 for r in second["rows"] if r.get("model") and "lpips" in r)

    # a changed codi model: its 4 rows are measured again, the controlnet rows are read
    calls = []
    monkeypatch.setattr(bench, "_generate_all", lambda *a: calls.append(a[0].key) or real_generate_all(*a))
    cfg = tmp_path / "students" / "sr4" / "codi" / "config.json"
    cfg.write_text(cfg.read_text() + "\n")
    third = bench.run_benchmark(tmp_path / "b3", **kw)
    assert sorted(calls) == sorted(f"codi/codi/{k}" for k in bench.STEP_COUNTS)
    assert third["rows_from_cache"] == len(measured) - 1 - len(bench.STEP_COUNTS)

    # FID/KID score the first fid_seeds seeds (default 1), LPIPS all of them
    assert first["fid_seeds"] == 1 and first["seeds"] == 2
    assert all(len(r["fid_seeds"]) == 1 for r in first["rows"] if "lpips" in r)

    # without a cache folder nothing is kept or read
    calls.clear()
    fourth = bench.run_benchmark(tmp_path / "b4", **{**kw, "cache_dir": None, "fid_seeds": 2})
    assert len(calls) == sum(1 for r in first["rows"] if r.get("model") and "lpips" in r)
    assert all(len(r["fid_seeds"]) == 2 for r in fourth["rows"] if r.get("model") and "lpips" in r)
    assert strip(fourth["rows"])[0]["lpips"] == strip(first["rows"])[0]["lpips"]

    # bf16 sampling is part of a row's fingerprint: a bf16 run measures every row again
    # (nothing measured in float32 is reused) and says so in its hardware line
    calls.clear()
    fifth = bench.run_benchmark(tmp_path / "b5", **{**kw, "bf16": True})
    assert fifth["rows_from_cache"] == 0
    assert "bf16 autocast sampling" in fifth["hardware"]
    assert "float32 sampling" in first["hardware"]
    lp = {r["key"]: r["lpips"] for r in fifth["rows"] if r.get("model") and "lpips" in r}
    assert set(lp) == {r["key"] for r in first["rows"] if r.get("model") and "lpips" in r}
