"""Frame builders and widget structure of codi_lib.course.widgets (notebook 07), without a browser.

The models are tiny exports (2 training steps on the tiny test teacher), so the pictures
are noise; what is checked is the bookkeeping: shapes, distinct frames, measured NFE in
the captions, curtain end points, and that every Stack is jslink-ed to a control with as
many values as it has children.
"""
import io

import numpy as np
import pytest
import torch
from PIL import Image

from codi_lib.course import widgets as W

TEACHER_STEPS = (1, 2, 4)
STUDENT_STEPS = (1, 2, 3)
CURTAIN = (0, 30, 100)
IMAGES = (0, 5)
SEEDS = (0, 1)


def _export_tiny(teacher_dir, students_dir, task="sr4"):
    from conftest import export_tiny_students
    export_tiny_students(teacher_dir, students_dir, task)


@pytest.fixture(scope="module")
def students_dir(tiny_teacher_dir, tmp_path_factory):
    d = tmp_path_factory.mktemp("widgets") / "students"
    _export_tiny(tiny_teacher_dir, d)
    return d


@pytest.fixture(scope="module")
def frames(students_dir):
    return W.build_frames(tasks=("sr4", "inpaint"), images=IMAGES, seeds=SEEDS,
                          teacher_steps=TEACHER_STEPS, student_steps=STUDENT_STEPS,
                          curtain_positions=CURTAIN, scale=5, students_dir=students_dir)


def _img(png):
    return W.decode_png(png)


def test_missing_task_is_reported_not_faked(frames):
    assert [t.task for t in frames.tasks] == ["sr4"]
    assert "inpaint" in frames.missing and "controlnet" in frames.missing["inpaint"]


def test_no_models_gives_no_frames(tmp_path):
    fr = W.build_frames(tasks=("sr4",), images=(0,), seeds=(0,), teacher_steps=(1,),
                        student_steps=(1,), students_dir=tmp_path)
    assert fr.tasks == [] and "sr4" in fr.missing
    with pytest.raises(ValueError, match="no task"):
        W.build_ui(fr)


def test_frame_shapes_and_counts(frames):
    tf = frames.tasks[0]
    assert len(tf.cases) == len(IMAGES) * len(SEEDS)
    assert [r.steps for r in tf.teacher_runs] == list(TEACHER_STEPS)
    assert [r.steps for r in tf.student_runs] == list(STUDENT_STEPS)
    for case in tf.cases:
        assert len(case.teacher) == len(TEACHER_STEPS) and len(case.student) == len(STUDENT_STEPS)
        assert len(case.curtain) == len(STUDENT_STEPS)
        assert all(len(row) == len(CURTAIN) for row in case.curtain)
        for f in [case.condition, case.ground_truth, *case.teacher, *case.student]:
            assert _img(f.png).shape == (160, 160, 3)
        assert _img(case.curtain[0][1]).shape == (160, 160, 3)
    assert tf.case(1, 0).image == IMAGES[1] and tf.case(1, 1).seed == SEEDS[1]
    assert len(tf.race) == len(TEACHER_STEPS) and all(len(r) == len(STUDENT_STEPS) for r in tf.race)


def test_display_is_nearest_neighbour(frames):
    img = _img(frames.tasks[0].cases[0].teacher[0].png)
    blocks = img.reshape(32, 5, 32, 5, 3)
    assert (blocks == blocks[:, :1, :, :1]).all()  # every 5x5 block is one pixel


def test_ground_truth_is_the_test_image(frames):
    from codi_lib.training.data import load_emoji
    want = W.upscale(load_emoji("test").images[IMAGES[1]])
    np.testing.assert_array_equal(_img(frames.tasks[0].case(1, 0).ground_truth.png), want)


def test_frames_differ_across_steps(frames):
    for case in frames.tasks[0].cases:
        for seq in (case.teacher, case.student):
            pngs = [f.png for f in seq]
            assert len(set(pngs)) == len(pngs), "two step counts gave identical frames"


def test_seeds_give_different_frames(frames):
    tf = frames.tasks[0]
    assert tf.case(0, 0).student[0].png != tf.case(0, 1).student[0].png
    assert tf.case(0, 0).ground_truth.png == tf.case(0, 1).ground_truth.png


def test_captions_report_measured_nfe_latency_and_metrics(frames):
    tf = frames.tasks[0]
    for runs in (tf.teacher_runs, tf.student_runs):
        for r in runs:
            assert r.nfe == r.steps  # measured by CountingDenoiser
            assert r.seconds > 0 and r.batch == len(IMAGES) * len(SEEDS)
    for case in tf.cases:
        for f in case.teacher + case.student:
            assert f.nfe == f.steps
            assert f"NFE {f.steps} " in f.caption
            assert "latency" in f.caption and "ms/img" in f.caption
            assert f.ms_per_image > 0
            assert 0 <= f.lpips < 2 and np.isfinite(f.psnr)
            assert f"LPIPS {f.lpips:.3f}" in f.caption and f"PSNR {f.psnr:.1f} dB" in f.caption
        assert case.ground_truth.lpips == 0.0


def test_student_nfe_equals_steps_up_to_8(frames):
    """Every student step count of the slider (1..8) costs exactly that many network
    evaluations (C8), measured by counting calls."""
    m = frames.models["sr4"]
    cond = torch.zeros(1, 3, 32, 32)
    noise = W.seed_noise(0, 1)
    wrong = {k: W.run_student(m, cond, k, noise)[1].nfe for k in W.STUDENT_STEPS}
    wrong = {k: n for k, n in wrong.items() if n != k}
    assert not wrong, f"steps -> NFE {wrong}"


def test_curtain_end_points_and_divider(frames):
    case = frames.tasks[0].cases[0]
    ref = _img(case.teacher[-1].png)  # the reference teacher run (largest step count)
    for k, row in enumerate(case.curtain):
        np.testing.assert_array_equal(_img(row[0]), ref)
        np.testing.assert_array_equal(_img(row[-1]), _img(case.student[k].png))
        mid = _img(row[1])
        cut = round(160 * CURTAIN[1] / 100)
        assert (mid[:, cut] == W.DIVIDER_COLOUR).all()
        np.testing.assert_array_equal(mid[:, : cut - 2], _img(case.student[k].png)[:, : cut - 2])
        np.testing.assert_array_equal(mid[:, cut + 2:], ref[:, cut + 2:])


def test_curtain_image_pure():
    a = np.zeros((10, 20, 3), np.uint8)
    b = np.full((10, 20, 3), 200, np.uint8)
    np.testing.assert_array_equal(W.curtain_image(a, b, 0), a)
    np.testing.assert_array_equal(W.curtain_image(a, b, 100), b)
    half = W.curtain_image(a, b, 50)
    assert (half[:, :8] == 200).all() and (half[:, 12:] == 0).all()
    assert (half[:, 10] == W.DIVIDER_COLOUR).all()
    with pytest.raises(ValueError):
        W.curtain_image(a, b[:, :10], 50)


def test_race_html_reports_times_and_speedup():
    h = W.race_html("teacher DDIM-50", 2.0, "student CoDi-1", 0.05, 6)
    assert "2.00 s" in h and "50 ms" in h and "40.0x faster" in h and "<svg" in h
    assert "<animate" in h


def _walk(widget, seen=None):
    import ipywidgets
    seen = [] if seen is None else seen
    seen.append(widget)
    for child in getattr(widget, "children", ()) or ():
        if isinstance(child, ipywidgets.Widget):
            _walk(child, seen)
    return seen


def test_ui_stacks_are_all_jslinked_to_matching_controls(frames):
    import ipywidgets
    from ipywidgets.widgets.widget_link import Link
    ui = W.build_ui(frames)
    all_w = _walk(ui.widget)
    stacks = [w for w in all_w if isinstance(w, ipywidgets.Stack)]
    assert stacks
    by_target = {}
    for link in ui.links:
        assert isinstance(link, Link) and link._model_name == "LinkModel"  # jslink, both ways
        (src, src_attr), (dst, dst_attr) = link.source, link.target
        assert src_attr == "index" and dst_attr == "selected_index"
        by_target.setdefault(dst.model_id, []).append(src)
    for st in stacks:
        srcs = by_target.get(st.model_id)
        assert srcs and len(srcs) == 1, "every Stack needs exactly one jslink"
        assert len(st.children) == len(srcs[0].options)
        assert st.selected_index == srcs[0].index
    c = ui.controls
    assert c["teacher_steps"].options == tuple((str(s), s) for s in TEACHER_STEPS)
    assert [v for _, v in c["student_steps"].options] == list(STUDENT_STEPS)
    used = {id(s) for srcs in by_target.values() for s in srcs}
    for name in ("task", "image", "seed", "teacher_steps", "student_steps", "curtain"):
        assert id(c[name]) in used, f"{name} controls nothing"
    # the panels that switch with the student slider: images, captions, curtains, races
    linked_to_student = [st for st in stacks if by_target[st.model_id][0] is c["student_steps"]]
    classes = {cls for st in linked_to_student for cls in st._dom_classes}
    assert {"codi-student-stack", "codi-student-caption", "codi-curtain-stack"} <= classes


def test_ui_current_case_follows_controls(frames):
    ui = W.build_ui(frames)
    ui.controls["image"].index = 1
    ui.controls["student_steps"].index = 2
    task, img, seed, ts, ks = ui.current_case()
    assert (task, img, seed, ts, ks) == ("sr4", IMAGES[1], SEEDS[0], TEACHER_STEPS[-1], 3)


def _png_file_bytes(size=(48, 30), mode="RGBA"):
    buf = io.BytesIO()
    Image.new(mode, size, (10, 200, 30, 128)[: len(mode)]).save(buf, "PNG")
    return buf.getvalue()


def test_image_from_upload_matches_image_folder_dataset(tmp_path):
    from codi_lib.training.data import ImageFolderDataset
    data = _png_file_bytes()
    x = W.image_from_upload(data, "mine.png")
    assert x.shape == (1, 3, 32, 32) and x.min() >= -1 and x.max() <= 1
    (tmp_path / "a.png").write_bytes(data)
    torch.testing.assert_close(x[0], ImageFolderDataset(tmp_path)[0])


@pytest.mark.parametrize("content,name,match", [
    (b"definitely not an image", "notes.png", "could not be read"),
    (b"", "empty.png", "empty"),
    (b"abc", "notes.txt", "not an image file name"),
])
def test_image_from_upload_errors_are_clear(content, name, match):
    with pytest.raises(ValueError, match=match):
        W.image_from_upload(content, name)


def test_live_callbacks_report_into_the_ui(frames):
    ui = W.build_ui(frames)
    ui._on_upload({"new": ({"name": "bad.png", "content": memoryview(b"nope")},)})
    assert "could not use" in ui.live_status.value and "bad.png" in ui.live_status.value
    ui._on_upload({"new": ({"name": "mine.png", "content": memoryview(_png_file_bytes())},)})
    assert "Your image" in ui.live_status.value, ui.live_status.value
    assert all(im.value for im, _ in ui.live_panels)
    assert "NFE 1 " in ui.live_panels[2][1].value  # student at the selected 1 step
    ui.controls["teacher_steps"].index = 0
    ui._on_rerun()
    assert "Live re-run" in ui.live_status.value, ui.live_status.value
    assert "NFE 1 " in ui.live_panels[1][1].value


def test_default_settings_sizes():
    fast, normal = W.default_settings(True), W.default_settings(False)
    assert len(fast["tasks"]) == 1 and len(fast["images"]) == 2 and len(fast["seeds"]) == 1
    assert len(normal["images"]) == 2 and len(normal["seeds"]) == 2
    assert normal["teacher_steps"][-1] == 50 and fast["teacher_steps"][-1] == 50
    assert tuple(normal["student_steps"]) == tuple(range(1, 9))


def test_public_docstrings_name_notebook_07_and_equation():
    import inspect

    from codi_lib.course.widgets import frames, pictures, ui
    mods = {m.__name__ for m in (frames, pictures, ui)}
    for name, obj in vars(W).items():
        if name.startswith("_") or getattr(obj, "__module__", None) not in mods:
            continue
        if not (inspect.isfunction(obj) or inspect.isclass(obj)):
            continue
        doc = " ".join((inspect.getdoc(obj) or "").split())
        assert "notebooks/07_side_by_side.ipynb" in doc, name
        assert "no paper equation" in doc or "(C" in doc, name


def test_widget_fits_the_static_page_model_budget(frames):
    """The static page holds at most STATIC_PAGE_MODEL_BUDGET widget models (3,263
    failed, 1,339 worked); the counter sees every model the widget creates."""
    ui = W.build_ui(frames, live=False)
    n = W.widget_models(ui.widget)
    assert len(ui.links) < n <= W.STATIC_PAGE_MODEL_BUDGET
