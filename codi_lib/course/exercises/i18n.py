"""The language of the exercise checkers: every text they show the learner (verdicts,
case labels, known mistakes, hints, titles, signatures, the answer key, the headers of
:func:`~codi_lib.course.exercises.hint` and
:func:`~codi_lib.course.exercises.show_solution`) goes through :func:`tr`, which returns
it in the course's language, :func:`codi_lib.training.paths.language` (the one setting:
``$CODI_LANG``, else Japanese when the kernel runs in ``notebooks/ja``), read at call time.

The Japanese texts are one catalogue, ``messages_ja.json`` next to this module, keyed by
the English text (like a gettext msgid). A text with values in it is a template with
``{field}`` placeholders, formatted after the lookup; :class:`Msg` keeps such a text as
template and fields until it is shown. In English the keys are printed as they are, so
the English output is exactly the text written in the checkers' code. An English text the
catalogue lacks is shown in English and recorded in :data:`MISSING`
(``tests/test_exercises_ja.py`` fails on it, and on catalogue entries whose English key
is no longer in the code). Introduced in notebooks/00_welcome.ipynb (how exercises work).
No paper equation."""
from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path

from ...training.paths import language

#: the Japanese catalogue: English text -> Japanese text (shipped as package data)
CATALOGUE_FILE = Path(__file__).with_name("messages_ja.json")

#: English texts asked for in Japanese that the catalogue lacks (shown in English)
MISSING: set[str] = set()


@lru_cache(maxsize=1)
def catalogue() -> dict[str, str]:
    """The Japanese catalogue (read once): English text -> Japanese text."""
    return json.loads(CATALOGUE_FILE.read_text(encoding="utf-8"))


class Msg(str):
    """A text with values in it, kept as ``template`` and ``fields`` so that :func:`tr`
    can translate the template and format it afterwards. As a string it *is* the English
    text, so it can be a case label or a key of a case's ``mistakes`` like any other
    string. Fields that are themselves :class:`Msg` are translated too (``Msg("text")``
    with no fields marks a plain text as translatable); other values are inserted as
    they are (numbers, shapes, code names). Used for the checkers' dynamic labels, first
    in notebooks/01_diffusion_basics.ipynb (``ddim_step``)."""

    template: str
    fields: dict

    def __new__(cls, template: str, **fields):
        self = super().__new__(cls, template.format(**fields) if fields else template)
        self.template, self.fields = template, fields
        return self


def tr(text: str, **fields) -> str:
    """``text`` in the course's language: the catalogue's Japanese when
    :func:`~codi_lib.training.paths.language` is ``"ja"``, else the English text itself;
    then formatted with ``fields`` (and those of a :class:`Msg`). Every message of
    :func:`~codi_lib.course.exercises.check` and its companions goes through it (introduced
    in notebooks/00_welcome.ipynb)."""
    if isinstance(text, Msg):
        text, fields = text.template, {**text.fields, **fields}
    if not text:
        return ""
    if language() == "ja":
        found = catalogue().get(text)
        if found is None:
            MISSING.add(text)
        text = text if found is None else found
        fields = {k: tr(v) if isinstance(v, Msg) else v for k, v in fields.items()}
    return text.format(**fields) if fields else str(text)


class Translated(Mapping):
    """A read-only dict of English texts whose values are shown through :func:`tr`
    (:data:`~codi_lib.course.exercises.TOY_CHOICES`, introduced in
    notebooks/03_distillation.ipynb); ``english`` is the plain dict."""

    def __init__(self, items):
        self.english = dict(items)

    def __getitem__(self, key):
        return tr(self.english[key])

    def __iter__(self):
        return iter(self.english)

    def __len__(self):
        return len(self.english)

    def __repr__(self):
        return repr(dict(self.items()))
