"""Notebook support: everything a lesson calls as ``course.<name>``.

``from codi_lib import course`` gives the lessons one short name for their toolbox;
the code lives in the modules below (this file only gathers their public names):

* :mod:`~codi_lib.course.setup`: fast mode (:data:`FAST`, :func:`pick`), notebook setup,
  the environment check, timing printouts;
* :mod:`~codi_lib.course.standins`: the teacher and conditional models a lesson needs,
  shipped or trained on the spot as labelled stand-ins (:data:`CONDITIONAL_RECIPES`);
* :mod:`~codi_lib.course.lesson`: the welcome picture, test batches, sampling by name,
  quality tables, degraded images, the shipped benchmark;
* :mod:`~codi_lib.course.benchtext`: benchmark values, tables and headline sentences
  rendered from the table at run time (:func:`bench_table`, :func:`bench_sentence`,
  :func:`headline`, :func:`deployment_summary`);
* :mod:`~codi_lib.course.exercises`, :mod:`~codi_lib.course.plots`,
  :mod:`~codi_lib.course.toy`, :mod:`~codi_lib.course.widgets`,
  :mod:`~codi_lib.course.diagrams`: imported by name
  (``from codi_lib.course import plots``).

Measurements, timing, data and run folders are the library's own, re-exported here
under the names the lessons use: :func:`quality`, :func:`fid_against`, :class:`Timer`,
:func:`format_seconds`, :func:`emoji_batch`, :class:`RunDir`, :data:`RUNS_DIR`.
No paper equation.
"""
from ..evaluation.quality import fid_against, quality
from ..evaluation.timing import Timer, format_seconds
from ..training.data import emoji_batch
from ..training.paths import RUNS_DIR, RunDir
from .benchtext import (bench_markdown, bench_sentence, bench_table, bench_value, compare,
                        deployment_summary, headline)
from .lesson import (degrade, first_look, load_bench, mean_saturation, quality_rows,
                     sample_method, test_batch)
from .setup import (FAST, default_arg, environment_report, pick, pick_device, print_timings,
                    scratch_run_dir, setup_notebook, time_call)
from .standins import (CONDITIONAL_RECIPES, ConditionalModel, ablation_models,
                       bench_students_dir, has_student, list_students, load_or_train_conditional,
                       load_or_train_teacher, small_teacher_config, stand_in_dir, student_dir,
                       teacher_record, train_commands)

__all__ = [
    "CONDITIONAL_RECIPES", "ConditionalModel", "FAST", "RUNS_DIR", "RunDir", "Timer",
    "ablation_models", "bench_markdown", "bench_sentence", "bench_students_dir", "bench_table", "bench_value",
    "compare", "deployment_summary", "headline", "default_arg", "degrade", "emoji_batch",
    "environment_report", "fid_against", "first_look", "format_seconds", "has_student",
    "list_students", "load_bench", "load_or_train_conditional", "load_or_train_teacher",
    "mean_saturation", "pick", "pick_device", "print_timings", "quality", "quality_rows",
    "sample_method", "scratch_run_dir", "setup_notebook", "small_teacher_config",
    "stand_in_dir", "student_dir", "teacher_record", "test_batch", "time_call",
    "train_commands",
]
