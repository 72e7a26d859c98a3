"""Exercise checkers for the notebooks: write a small piece of the maths yourself, then
``check("name", your_function)`` says whether it is right and, if not, *what* is wrong
(shape, sign, swapped terms, off-by-one timestep, which input case fails).

How an exercise works in a notebook (explained in notebooks/00_welcome.ipynb):

1. A cell defines your function with a stub body that returns ``None``.
2. ``check("name", your_function)`` prints "not attempted yet" while the body is the
   stub, so the notebook still runs top to bottom without errors; once you fill it
   in it prints "correct" or a diagnosis. It never raises.
3. Stuck? ``hint("name")`` gives a nudge; ``show_solution("name")`` prints the reference
   solution and the source of the library functions it is built from (via
   ``inspect.getsource``); ``solution("name")`` returns the reference as a function.

Exercises so far: notebook 01 ``forward_noise`` (C1) and ``ddim_step`` (C2)-(C3);
notebook 02 ``v_target`` (the v-prediction regression target); notebook 03
``c_skip_c_out`` (C4); notebook 04 ``sr4_degrade`` (the super-resolution condition);
notebook 03 ``toy_ode_model`` (a prediction); notebook 05 ``ode_step`` (C3),
``consistency_output`` (C4) and ``codi_loss`` (the CoDi loss (C5)-(C7) assembled from its
parts); notebook 06 ``psnr`` and ``count_nfe``. :func:`answer_key` prints notebook 07's answer key.

Language: everything these functions print follows the course's one language setting,
:func:`codi_lib.training.paths.language` (``CODI_LANG``, else Japanese for a kernel in
``notebooks/ja``). The Japanese texts are one catalogue, ``messages_ja.json``, keyed by the
English text; :mod:`.i18n` looks them up (:func:`~.i18n.tr`), and English output is the
code's text unchanged.

Adding an exercise (the hook for notebooks 04-05 and later): write a reference function
that calls the library, write a checker ``checker(fn) -> CheckResult`` (usually a few
:class:`Case` objects and known mistakes passed to :func:`run_cases`), and decorate the
checker with :func:`register`; it is then available to ``check``/``hint``/
``show_solution`` under its name in :data:`EXERCISES`. Then add the Japanese of every new
text (title, hint, signature, case labels, mistakes, messages) to ``messages_ja.json``;
a label or mistake built from values is an :class:`~.i18n.Msg` template.
``tests/test_exercises_ja.py`` fails on a text without a Japanese entry, and on an entry
whose English text the code no longer has.
"""
from . import codi_loss, conditions, diffusion, loss_parts, measuring, predictions  # noqa: F401  (each registers its exercises)
from .machinery import (EXERCISES, Case, CheckResult, Exercise, NotAttempted, check, hint,
                        list_exercises, register, run_cases, show_solution, solution)
from .predictions import TOY_CHOICES, answer_key
