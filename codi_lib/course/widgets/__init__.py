"""Side by side: the 50-step ControlNet teacher and the few-step CoDi student, as
pre-rendered frames behind sliders that keep working in a static HTML page.

Two layers:

* **Frame builders** (:mod:`~codi_lib.course.widgets.frames`, pictures and captions in
  :mod:`~codi_lib.course.widgets.pictures`; pure, no browser, no ipywidgets): :func:`build_frames` samples the
  ``controlnet`` teacher with DDIM at every count of a teacher-steps list and the
  ``codi`` student with the CoDi sampler (C8) at 1..8 steps, batched over all test images
  and seeds of a task, and measures every run: LPIPS and PSNR against the ground truth,
  wall-clock latency and the number of network evaluations (NFE, counted with
  :class:`~codi_lib.evaluation.metrics.CountingDenoiser`). Pictures are upscaled with nearest
  neighbour (32 -> 160 px) and kept as PNG bytes, together with HTML captions,
  before/after "curtain" frames and a "race" panel of the two runs' wall times.
* **The widget** (:mod:`~codi_lib.course.widgets.ui`, :func:`build_ui`): ipywidgets 8 ``Stack``s of ``Image``/``HTML``
  children whose ``selected_index`` is tied to the sliders and dropdowns with
  ``widgets.jslink``. The links run in the browser, so the pre-rendered part works
  without a kernel (static HTML export with the widget state, see
  ``scripts/build_site.py``). With a running kernel it adds live extras: re-running the
  selected case and comparing on an uploaded image.

Every public function names the notebook that introduces it,
``notebooks/07_side_by_side.ipynb``. Paper: Mei et al., "CoDi: Conditional Diffusion
Distillation" (arXiv 2310.01407); the student's sampler is (C8) of the equation sheet in
``codi_lib/__init__.py``; the rest is presentation and measurement (no paper equation).
"""
from .frames import (DEFAULT_IMAGES, DEFAULT_SCALE, DEFAULT_SEEDS, DEFAULT_TASKS,
                     FAST_TEACHER_STEPS, STUDENT_NAME, STUDENT_STEPS, TEACHER_NAME, TEACHER_STEPS,
                     CaseFrames, Frame, LoadedModels, RunTiming, SideBySideFrames, TaskFrames,
                     available_tasks, build_frames, default_settings, default_students_dir,
                     lesson_images, live_case, load_task_models, model_dir, print_timings,
                     render_task, run_student, run_teacher, seed_noise, timing_rows)
from .pictures import (CURTAIN_POSITIONS, DIVIDER_COLOUR, caption_html, curtain_frames, curtain_image, decode_png,
                       display_images, png_bytes, race_html, upscale)
from .ui import STATIC_PAGE_MODEL_BUDGET, SideBySideUI, build_ui, image_from_upload, widget_models
