"""The side-by-side widget of notebook 07 (ipywidgets 8): pre-rendered frames in
``Stack``s whose ``selected_index`` is ``jslink``-ed to the controls, so that it works in
a static HTML page; plus the live extras that need a kernel. Introduced in
``notebooks/07_side_by_side.ipynb``; no paper equation.

The static page (``scripts/build_site.py``) stores every widget model in the notebook;
with 3,263 models nbconvert lost comm messages and the page showed no widget, with
1,339 it works. :data:`STATIC_PAGE_MODEL_BUDGET` records that limit and
``tests/test_widgets.py`` checks the lesson-size widget against it
(:func:`widget_models`); shared ``Layout``/``Style`` models keep the count down.
"""
from __future__ import annotations

import html
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ...training.data import IMAGE_EXTENSIONS, ImageFolderDataset
from .frames import CaseFrames, SideBySideFrames, lesson_images, live_case
from .pictures import decode_png, race_html

#: Widget models a static page can hold (3,263 failed, 1,339 works; see the docstring).
STATIC_PAGE_MODEL_BUDGET = 2000


@dataclass
class SideBySideUI:
    """The widget of notebook 07 and its parts: ``widget`` (display this), the
    controls (``task``, ``image``, ``seed`` dropdowns, ``teacher_steps``,
    ``student_steps``, ``curtain`` sliders), ``links`` (every ``jslink``, each from a
    control's ``index`` to a Stack's ``selected_index``), and the live extras
    (``upload``, ``rerun``, ``live_status``, ``live_panels``).
    Introduced in notebooks/07_side_by_side.ipynb; no paper equation."""
    widget: object
    frames: SideBySideFrames
    controls: dict
    links: list
    upload: object = None
    rerun: object = None
    live_status: object = None
    live_panels: list = field(default_factory=list)

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    def current_case(self) -> tuple[str, int, int, int, int]:
        """(task, test image index, seed, teacher steps, student steps) selected now in
        the controls. Notebook 07."""
        f = self.frames
        c = self.controls
        return (f.tasks[c["task"].index].task, f.images[c["image"].index],
                f.seeds[c["seed"].index], f.teacher_steps[c["teacher_steps"].index],
                f.student_steps[c["student_steps"].index])


def _stack_of(children, control, links, css_class=None, layout=None):
    import ipywidgets as W
    kw = {"layout": layout} if layout is not None else {}
    st = W.Stack(children=list(children), selected_index=control.index or 0, **kw)
    if css_class:
        st.add_class(css_class)
    links.append(W.jslink((control, "index"), (st, "selected_index")))
    return st


def build_ui(frames: SideBySideFrames, live: bool = True) -> SideBySideUI:
    """The side-by-side widget (ipywidgets 8) built from pre-rendered ``frames``.

    Layout: dropdowns for task, test image and seed; sliders for teacher steps (over
    the pre-rendered counts), student steps (1..8) and the before/after curtain; four
    panels (condition, teacher, student, ground truth), each with a caption (LPIPS,
    PSNR, latency, NFE) that switches with its slider; the curtain (student at the
    chosen steps against the reference teacher run); the race panel. Every switch is a
    ``Stack`` whose ``selected_index`` is ``jslink``-ed to the control's ``index``
    (nested Stacks: task > image > seed > panels), so it works in a static HTML export
    without a kernel. With ``live`` (and models in ``frames.models``) a live section
    adds a "re-run live" button and a ``FileUpload`` for your own image; these need a
    running kernel. Introduced in notebooks/07_side_by_side.ipynb; no paper equation.

    Why one long function: the nested builders share one Layout/Style model per kind and
    one list of links; shared models keep the page within
    :data:`STATIC_PAGE_MODEL_BUDGET`, and the nesting mirrors the nested Stacks.
    """
    import ipywidgets as W
    if not frames.tasks:
        raise ValueError("no task has both models; nothing to show (see frames.missing)")
    px = 32 * frames.scale
    img_layout = W.Layout(width=f"{px}px", height=f"{px}px")  # shared by every Image
    panel_layout = W.Layout(width=f"{px + 24}px", margin="0 6px 0 0")
    links: list = []
    # one Layout/Style model shared by every Stack and caption: a lesson-size widget has
    # thousands of parts, and each default Layout/Style would be one more widget model
    from ipywidgets.widgets.widget_string import HTMLStyle  # not exported at top level
    stack_layout, cap_layout, cap_style = W.Layout(), W.Layout(), HTMLStyle()

    def _stack(children, control, _links, css_class=None):
        return _stack_of(children, control, _links, css_class, stack_layout)

    def image(png, css=None):
        im = W.Image(value=png, format="png", layout=img_layout)
        if css:
            im.add_class(css)
        return im

    def caption(text):
        return W.HTML(value=text, layout=cap_layout, style=cap_style)

    def panel(title, picture, cap, css):
        box = W.VBox([W.HTML(f"<b>{html.escape(title)}</b>"), picture, cap], layout=panel_layout)
        box.add_class(css)
        return box

    dd_layout = W.Layout(width="300px")
    task_dd = W.Dropdown(options=[(f"{t.title} ({t.task})", i) for i, t in enumerate(frames.tasks)],
                         value=0, description="task", layout=dd_layout)
    image_dd = W.Dropdown(options=[(f"#{i} ({n})", j) for j, (i, n) in
                                   enumerate(zip(frames.images, frames.image_names))],
                          value=0, description="test image", layout=dd_layout)
    seed_dd = W.Dropdown(options=[(f"seed {s}", j) for j, s in enumerate(frames.seeds)],
                         value=0, description="seed", layout=W.Layout(width="200px"))
    style = {"description_width": "110px"}
    slider_layout = W.Layout(width="420px")
    t_sl = W.SelectionSlider(options=[(str(s), s) for s in frames.teacher_steps],
                             value=frames.teacher_steps[-1], description="teacher steps",
                             continuous_update=True, style=style, layout=slider_layout)
    s_sl = W.SelectionSlider(options=[(str(k), k) for k in frames.student_steps],
                             value=frames.student_steps[0], description="student steps",
                             continuous_update=True, style=style, layout=slider_layout)
    c_sl = W.SelectionSlider(options=[(f"{p}%", p) for p in frames.curtain_positions],
                             value=frames.curtain_positions[len(frames.curtain_positions) // 2],
                             description="curtain", continuous_update=True, style=style,
                             layout=slider_layout)
    for w, css in ((task_dd, "codi-task"), (image_dd, "codi-image"), (seed_dd, "codi-seed"),
                   (t_sl, "codi-teacher-slider"), (s_sl, "codi-student-slider"),
                   (c_sl, "codi-curtain-slider")):
        w.add_class(css)

    def case_view(case: CaseFrames):
        cond = panel("condition", image(case.condition.png), caption(case.condition.caption),
                     "codi-condition")
        teacher = panel("teacher · DDIM",
                        _stack([image(f.png) for f in case.teacher], t_sl, links, "codi-teacher-stack"),
                        _stack([caption(f.caption) for f in case.teacher], t_sl, links,
                                  "codi-teacher-caption"), "codi-teacher")
        student = panel("student · CoDi",
                        _stack([image(f.png) for f in case.student], s_sl, links, "codi-student-stack"),
                        _stack([caption(f.caption) for f in case.student], s_sl, links,
                                  "codi-student-caption"), "codi-student")
        truth = panel("ground truth", image(case.ground_truth.png),
                      caption(case.ground_truth.caption), "codi-truth")
        curtain = _stack([_stack([image(png) for png in row], c_sl, links)
                             for row in case.curtain], s_sl, links, "codi-curtain-stack")
        curtain_box = panel("curtain", curtain, curtain_caption, "codi-curtain")
        return W.HBox([cond, teacher, student, truth, curtain_box])

    curtain_caption = W.HTML(
        "<div style='font-size:12px;line-height:1.35'>left of the yellow line: the student "
        "(student-steps slider); right of it: the teacher at "
        f"DDIM-{frames.reference_steps}</div>")
    task_views = []
    for tf in frames.tasks:
        per_image = []
        for ii in range(len(frames.images)):
            per_image.append(_stack([case_view(tf.case(ii, si)) for si in range(len(frames.seeds))],
                                       seed_dd, links, "codi-seed-stack"))
        cases = _stack(per_image, image_dd, links, "codi-image-stack")
        race = _stack([_stack([caption(h) for h in row], s_sl, links) for row in tf.race],
                         t_sl, links, "codi-race-stack")
        task_views.append(W.VBox([cases, W.HTML("<b>race</b>: wall time of the two runs "
                                                "behind the selected frames"), race]))
    root = _stack(task_views, task_dd, links, "codi-task-stack")

    notes = [f"Pre-rendered in {frames.seconds:.0f} s on {html.escape(frames.hardware)}: "
             f"{len(frames.tasks)} task(s) x {len(frames.images)} image(s) x "
             f"{len(frames.seeds)} seed(s); every number was measured on these frames."]
    for task, what in frames.missing.items():
        notes.append(f"Task <code>{html.escape(task)}</code> is not shown: missing "
                     f"{html.escape(what)}.")
    header = W.HTML("<br>".join(notes))
    controls = W.VBox([W.HBox([task_dd, image_dd, seed_dd]), t_sl, s_sl, c_sl])
    ui = SideBySideUI(None, frames, {"task": task_dd, "image": image_dd, "seed": seed_dd,
                                     "teacher_steps": t_sl, "student_steps": s_sl,
                                     "curtain": c_sl}, links)
    parts = [header, controls, root]
    if live:
        parts.append(_live_section(ui))
    ui.widget = W.VBox(parts)
    ui.widget.add_class("codi-side-by-side")
    return ui


def _live_section(ui: SideBySideUI):
    # One function because the two callbacks close over the same panels and status line.
    import ipywidgets as W
    f = ui.frames
    px = 32 * f.scale
    img_layout = W.Layout(width=f"{px}px", height=f"{px}px")
    status = W.HTML("<i>Live extras need a running kernel (JupyterLab); in a static page "
                    "only the pre-rendered part above works.</i>")
    status.add_class("codi-live-status")
    panels = []
    for title in ("condition", "teacher (live)", "student (live)", "your image / ground truth"):
        im = W.Image(format="png", layout=img_layout)
        cap = W.HTML()
        panels.append((im, cap, W.VBox([W.HTML(f"<b>{title}</b>"), im, cap],
                                       layout=W.Layout(width=f"{px + 24}px", margin="0 6px 0 0"))))
    rerun = W.Button(description="re-run live", icon="play",
                     tooltip="sample the selected case again now and time it")
    upload = W.FileUpload(accept="image/*", multiple=False, description="your image")
    rerun.add_class("codi-rerun")
    upload.add_class("codi-upload")
    ui.upload, ui.rerun, ui.live_status = upload, rerun, status
    ui.live_panels = [(im, cap) for im, cap, _ in panels]

    panel_row = W.HBox([p for *_, p in panels], layout=W.Layout(display="none"))

    def show(result: dict, head: str):
        panel_row.layout.display = ""
        for (im, cap), key in zip(ui.live_panels, ("condition", "teacher", "student", "ground_truth")):
            im.value, cap.value = result[key].png, result[key].caption
        tr, sr = result["teacher_run"], result["student_run"]
        status.value = (f"{head}<br>" + race_html(
            f"teacher DDIM-{tr.steps} (NFE {tr.nfe})", tr.seconds,
            f"student CoDi-{sr.steps} (NFE {sr.nfe})", sr.seconds, 1))

    def models_for(task):
        m = f.models.get(task)
        if m is None:
            raise RuntimeError(f"the models of {task!r} are not loaded in this kernel; "
                               "run the notebook's frame-building cell first")
        return m

    def on_rerun(_=None):
        try:
            task, img, seed, ts, ks = ui.current_case()
            status.value = f"sampling {task}, test image #{img}, seed {seed} live..."
            x, cond, _ = lesson_images((img,), task)
            res = live_case(models_for(task), x, ts, ks, seed, cond=cond, scale=f.scale)
            pre = f.tasks[ui.controls["task"].index].case(
                ui.controls["image"].index, ui.controls["seed"].index)
            same_t = _max_diff(res["teacher"].png, pre.teacher[ui.controls["teacher_steps"].index].png)
            same_s = _max_diff(res["student"].png, pre.student[ui.controls["student_steps"].index].png)
            show(res, f"Live re-run of {task}, test image #{img}, seed {seed}. Largest pixel "
                      f"difference to the pre-rendered frames: teacher {same_t}/255, "
                      f"student {same_s}/255 (batching changes float rounding only).")
        except Exception as err:  # shown in the UI, never a silent failure
            status.value = f"<span style='color:#b00'>re-run failed: {html.escape(str(err))}</span>"

    def on_upload(change):
        files = change["new"]
        if not files:
            return
        item = files[0]
        name = item.get("name", "upload")
        try:
            task, _, seed, ts, ks = ui.current_case()
            status.value = f"reading {html.escape(name)} and sampling {task} live..."
            x = image_from_upload(bytes(item["content"]), name)
            res = live_case(models_for(task), x, ts, ks, seed, scale=f.scale)
            show(res, f"Your image {html.escape(name)} ({task}: condition made from it, "
                      f"teacher DDIM-{ts}, student CoDi-{ks}, seed {seed}).")
        except Exception as err:
            status.value = (f"<span style='color:#b00'>could not use {html.escape(name)}: "
                            f"{html.escape(str(err))}</span>")

    ui._on_rerun, ui._on_upload = on_rerun, on_upload  # for tests and the notebook
    rerun.on_click(on_rerun)
    upload.observe(on_upload, names="value")
    return W.VBox([W.HTML("<h4 style='margin:8px 0 4px'>Live (needs a running kernel)</h4>"
                          "Re-run the selected case now, or upload your own picture: it is "
                          "centre-cropped to 32x32, turned into the selected task's condition "
                          "and sampled by both models with the selected steps and seed."),
                   W.HBox([rerun, upload]), status, panel_row])


def _max_diff(png_a: bytes, png_b: bytes) -> int:
    a, b = decode_png(png_a).astype(int), decode_png(png_b).astype(int)
    return int(np.abs(a - b).max()) if a.shape == b.shape else 255


def image_from_upload(content: bytes, name: str = "upload.png", size: int = 32) -> torch.Tensor:
    """Decode an uploaded file into a float (1, 3, size, size) image in [-1, 1] with the
    exact code of :class:`codi_lib.training.data.ImageFolderDataset` (EXIF orientation, any mode
    to RGB, transparency onto white, centre square, Lanczos resize). An unreadable
    file raises ValueError with the reason. Introduced in
    notebooks/07_side_by_side.ipynb; no paper equation."""
    suffix = Path(name).suffix.lower()
    if suffix not in IMAGE_EXTENSIONS:
        raise ValueError(f"{name!r}: not an image file name (use one of "
                         f"{', '.join(IMAGE_EXTENSIONS)})")
    if not content:
        raise ValueError(f"{name!r}: the file is empty")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"upload{suffix}"
        path.write_bytes(bytes(content))
        try:
            ds = ImageFolderDataset(tmp, size=size, on_bad="error")
        except ValueError as err:  # the last line is "<path>: <reason>"
            reason = str(err).strip().splitlines()[-1].split(": ", 1)[-1].strip()
            raise ValueError(f"{name!r} could not be read as an image: {reason}") from None
        return ds[0][None]


def widget_models(widget) -> int:
    """How many widget models displaying ``widget`` creates (itself, its children, their
    ``Layout``/``Style`` models and links), counted once each; compare with
    :data:`STATIC_PAGE_MODEL_BUDGET`. Introduced in notebooks/07_side_by_side.ipynb; no
    paper equation."""
    import ipywidgets as W
    seen, todo = set(), [widget]
    while todo:
        w = todo.pop()
        if not isinstance(w, W.Widget) or w.model_id in seen:
            continue
        seen.add(w.model_id)
        for name in w.keys:
            value = getattr(w, name, None)
            todo.extend(value if isinstance(value, (list, tuple)) else [value])
    return len(seen)
