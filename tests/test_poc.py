"""`codi poc`: your own images (odd sizes and formats, broken files) -> report.html."""
import json
import re

import numpy as np
import pytest
from PIL import Image

from codi_lib.apps.cli import main
from codi_lib.training.data import load_emoji

BROKEN = ["truncated.jpg", "empty.png", "notes.png", "tiny.png"]


@pytest.fixture(autouse=True)
def cheap_fid(monkeypatch):
    """FID through a cheap 64-feature stand-in (the Inception path is covered by
    test_metrics; its 2048-d matrix square root costs ~5 s per call here), no downloads."""
    import codi_lib.evaluation.metrics as M
    from test_metrics import LevelsTo64
    extractor = LevelsTo64()
    monkeypatch.setattr(M, "get_fid_extractor", lambda device="cpu": extractor)
    monkeypatch.setenv(M.OFFLINE_ENV, "1")


def make_folder(root):
    """10 emoji upscaled to odd sizes as JPEG/PNG/WebP (one in a subfolder, one RGBA, one
    grey) plus four broken files and a text file that is not an image."""
    root.mkdir()
    (root / "sub").mkdir()
    emoji = load_emoji("test").images[:10]
    sizes = [(45, 37), (100, 80), (64, 64), (33, 50), (70, 41), (48, 48), (90, 120), (37, 37),
             (256, 200), (50, 33)]
    formats = ["JPEG", "PNG", "WEBP"]
    for i, (img, (w, h)) in enumerate(zip(emoji, sizes)):
        im = Image.fromarray(img).resize((w, h), Image.Resampling.BICUBIC)
        fmt = formats[i % 3]
        if i == 4:
            im = im.convert("RGBA")
            fmt = "PNG"
        if i == 5:
            im = im.convert("L")
        ext = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}[fmt]
        folder = root / "sub" if i == 7 else root
        im.save(folder / f"img{i:02d}_{w}x{h}.{ext}", format=fmt)
    good = (root / "img00_45x37.jpg").read_bytes()
    (root / "truncated.jpg").write_bytes(good[: len(good) // 2])
    (root / "empty.png").write_bytes(b"")
    (root / "notes.png").write_text("this is not a picture\n")
    Image.fromarray(np.zeros((3, 3, 3), np.uint8)).save(root / "tiny.png")
    (root / "readme.txt").write_text("captions would go here\n")
    return root


def _args(folder, out, *extra, steps="2"):
    return ["poc", "--images", str(folder), "--task", "sr4", "--out", str(out), "--steps", steps,
            "--batch-size", "4", "--latency-repeats", "0", "--no-progress", *extra]


def test_poc_trains_evaluates_reports_and_resumes(tmp_path, capsys):
    folder = make_folder(tmp_path / "photos")
    out = tmp_path / "poc"
    assert main(_args(folder, out)) == 0
    console = capsys.readouterr().out
    for name in BROKEN:
        assert f"{name}:" in console  # each unusable file is named in the console
    report = (out / "report.html").read_text()
    for name in BROKEN:
        assert name in report
    assert "too small" in report and "empty file" in report and "not a recognised image" in report
    assert "readme.txt" in report  # ignored, not an image extension
    for metric in ("LPIPS", "PSNR", "FID", "latency", "speed-up"):
        assert metric in report
    pngs = re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", report)
    n_held = json.loads((out / "report.json").read_text())["data"]["heldout"]
    # condition, teacher, student, mean of the student's samples, truth per image
    assert n_held >= 2 and len(pngs) == 5 * n_held
    assert "http" not in report.lower().replace("http-equiv", "")  # self-contained
    data = json.loads((out / "report.json").read_text())
    assert data["data"]["usable"] == 10 and data["data"]["train"] + n_held == 10
    rows = data["evaluation"]["rows"]
    assert rows[0]["nfe"] == 50 and rows[1]["nfe"] == 4 and rows[1]["speedup"] > 1
    for r in rows[:2]:  # each model's paired difference from the no-model baseline
        for m in ("lpips", "psnr"):
            d = r["vs_no_model"][m]
            assert d["ci"][0] <= d["diff"] <= d["ci"][1]
    assert all(np.isfinite(rows[i][k]) for i in (0, 1) for k in ("lpips", "psnr", "fid"))
    mean = next(r for r in rows if r["key"] == "student_mean")  # the posterior-mean diagnostic
    assert mean["nfe"] == 4 * rows[1]["nfe"] and mean["diagnostic"] and "vs_no_model" in mean
    assert "twice the squared error" in report
    assert {r["steps"] for r in data["runs"].values()} == {2}
    # by default each run fine-tunes the course's shipped model of its mode, on its teacher
    for name, run in data["runs"].items():
        assert run["start"] == f"fine-tuned from data/students/sr4/{run['mode']}", name
    assert "fine-tuned from data/students/sr4/controlnet" in report

    # rerunning the same command does not redo the finished runs or the evaluation
    mtimes = {p: p.stat().st_mtime_ns for p in out.glob("*/ckpt-*/model.safetensors")}
    assert main(_args(folder, out)) == 0
    console = capsys.readouterr().out
    assert console.count("already finished") == 2 and "reusing the cached" in console
    assert mtimes == {p: p.stat().st_mtime_ns for p in out.glob("*/ckpt-*/model.safetensors")}
    # more steps continue the runs from their checkpoints
    assert main(_args(folder, out, steps="3,2")) == 0
    console = capsys.readouterr().out
    assert "resumed at step 2" in console and console.count("already finished") == 1
    assert json.loads((out / "report.json").read_text())["runs"]["controlnet"]["steps"] == 3


def test_mean_of_samples_averages_the_noises_of_consecutive_seeds():
    """The diagnostic's first sample is the student's own row (same seed); the mean of k
    samples of a noise-returning sampler is the mean of the k noises."""
    import torch
    from codi_lib.apps.poc import mean_of_samples
    shape = (2, 3, 4, 4)
    got = mean_of_samples(lambda z: z, 3, shape, seed=5)
    noises = [torch.randn(shape, generator=torch.Generator().manual_seed(5 + i)) for i in range(3)]
    assert torch.allclose(got, torch.stack(noises).mean(0), atol=1e-6)
    assert torch.equal(mean_of_samples(lambda z: z, 1, shape, seed=5), noises[0])


def test_mean_paragraph_tells_sampling_from_a_wrong_model():
    from codi_lib.apps.poc_report import _mean_paragraph
    base = {"lpips": 0.35, "psnr": 18.0}
    student = {"lpips": 0.30, "psnr": 17.0,
               "vs_no_model": {"lpips": {"diff": -0.05, "ci": [-0.07, -0.03]},
                               "psnr": {"diff": -1.0, "ci": [-1.5, -0.5]}}}
    mean = {"method": "mean of 4 samples", "lpips": 0.33, "psnr": 19.5,
            "vs_no_model": {"lpips": {"diff": -0.02, "ci": [-0.04, 0.0]},
                            "psnr": {"diff": 1.5, "ci": [1.0, 2.0]}}}
    assert "averaging removes" in _mean_paragraph(student, mean, base)
    mean["vs_no_model"]["psnr"] = {"diff": -0.2, "ci": [-0.6, 0.2]}
    assert "model itself is off" in _mean_paragraph(student, mean, base)


def test_poc_on_bad_stop_names_every_broken_file_and_trains_nothing(tmp_path, capsys):
    folder = make_folder(tmp_path / "photos")
    out = tmp_path / "poc"
    assert main(_args(folder, out, "--on-bad", "stop")) == 2
    err = capsys.readouterr().err
    assert "--on-bad stop" in err
    for name in BROKEN:
        assert name in err
    assert not (out / "controlnet").exists() and not (out / "report.html").exists()


def test_poc_refuses_unusable_setups(tmp_path, capsys):
    folder = tmp_path / "two"
    folder.mkdir()
    for i in range(2):
        Image.fromarray(load_emoji("test").images[i]).save(folder / f"{i}.png")
    assert main(_args(folder, tmp_path / "o")) == 2
    assert "at least 3" in capsys.readouterr().err
    assert main(_args(folder, folder / "runs")) == 2
    assert "inside the image folder" in capsys.readouterr().err
    assert main(_args(tmp_path / "nope", tmp_path / "o")) == 2
    assert "not found" in capsys.readouterr().err


def test_headline_compares_with_the_no_model_baseline_first():
    from codi_lib.apps.poc_report import headline
    rows = [{"method": "teacher", "key": "teacher", "nfe": 50, "latency_s": 0.5, "lpips": 0.30, "psnr": 20.0},
            {"method": "student", "key": "student", "nfe": 4, "latency_s": 0.05, "lpips": 0.45, "psnr": 14.0,
             "speedup": 10.0},
            {"method": "bicubic (no model)", "key": "condition", "nfe": 0, "latency_s": None,
             "lpips": 0.35, "psnr": 18.0}]
    text = headline({"rows": rows})
    first_t, first_s = text.index("teacher is"), text.index("student is")
    assert first_t < first_s < text.index("faster")  # the baseline verdicts come first
    assert "better than doing nothing" in text[first_t:first_s]
    assert "worse than doing nothing" in text[first_s:]
    # with the paired intervals: ahead on the means but within the interval is not "clearly"
    rows[0]["vs_no_model"] = {"lpips": {"diff": -0.05, "ci": [-0.08, -0.02]},
                              "psnr": {"diff": 2.0, "ci": [1.0, 3.0]}}
    rows[1].update(lpips=0.34, psnr=18.2, vs_no_model={"lpips": {"diff": -0.01, "ci": [-0.03, 0.01]},
                                                     "psnr": {"diff": 0.2, "ci": [-0.4, 0.8]}})
    text = headline({"rows": rows})
    first_s = text.index("student is")
    assert "clearly better than doing nothing" in text[:first_s]
    assert "not clearly better than doing nothing" in text[first_s:]
    assert "[-0.080, -0.020]" in text


def test_poc_from_scratch_on_another_teacher_and_a_contradicting_teacher(tmp_path, capsys,
                                                                         tiny_teacher_dir):
    folder = make_folder(tmp_path / "photos")
    # a --teacher other than the one the shipped models were trained on cannot be fine-tuned
    assert main(_args(folder, tmp_path / "a", "--teacher", str(tiny_teacher_dir))) == 2
    assert "--from-scratch" in capsys.readouterr().err
    assert not (tmp_path / "a" / "controlnet").exists()
    # --from-scratch trains zero-initialised branches on it (16 px: the tiny teacher's size)
    out = tmp_path / "b"
    assert main(_args(folder, out, "--teacher", str(tiny_teacher_dir), "--from-scratch")) == 0
    data = json.loads((out / "report.json").read_text())
    assert data["size"] == 16
    assert {r["start"] for r in data["runs"].values()} == {"from scratch (zero branch)"}
    assert {r["teacher"] for r in data["runs"].values()} == {str(tiny_teacher_dir)}
