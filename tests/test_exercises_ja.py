"""The exercise checkers speak the course's language: with ``CODI_LANG=ja`` (what a kernel
in notebooks/ja gets) every message of every checker, on its reference, its stub, each
catalogued mistake and the other ways an answer can go wrong, and the output of
``hint``, ``show_solution``, ``list_exercises`` and ``answer_key``, is Japanese, taken from
the one catalogue ``codi_lib/course/exercises/messages_ja.json`` (keyed by the English
text). A text the catalogue lacks fails here (it would be shown in English), and so does
an entry whose English key no longer occurs in the checkers' code (stale), so the
catalogue cannot rot. English stays the text written in the code (``tests/test_exercises.py``
asserts it). No paper equation: this is course tooling."""
from __future__ import annotations

import ast
import contextlib
import io
import re
import string
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from codi_lib.course import exercises as E
from codi_lib.course.exercises import conditions, measuring, predictions
from test_exercises import AS_RETURNED, CASES, _close, _oracle, _same

EXERCISES_DIR = Path(E.__file__).parent
JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")


# ----------------------------------------------------------------------------- scenarios
# Everything a learner can be shown, as (id, thunk returning the shown text). The thunks
# use only the public functions and the checkers, so they read the same in both languages.

def _printed(fn, *args, **kwargs) -> str:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        fn(*args, **kwargs)
    return buf.getvalue()


def _raised(fn, *args, **kwargs) -> str:
    try:
        fn(*args, **kwargs)
    except Exception as err:  # the error the learner sees
        return str(err)
    raise AssertionError("expected an error")


def _message(name, fn) -> str:
    return E.EXERCISES[name].checker(fn).message


def _on_case(name, target, make):
    """Right on every case but ``target``, where it returns ``make(expected)`` (or
    raises what ``make`` raises); inputs of no case get the reference."""
    def build():
        cases = CASES[name]()
        ref, out = E.solution(name), AS_RETURNED.get(name, lambda v: v)

        def fn(*args, **kw):
            if args:
                import inspect
                kw = {**dict(zip(inspect.signature(ref).parameters, args)), **kw}
            for i, c in enumerate(cases):
                if c.kwargs.keys() == kw.keys() and all(_same(c.kwargs[k], v) for k, v in kw.items()):
                    return make(c.expected) if i == target else out(c.expected)
            return ref(**kw)
        return _message(name, fn)
    return build


def _raise(err):
    def make(_expected):
        raise err
    return make


def _mistake_scenarios():
    for name, build in CASES.items():
        cases, seen = build(), set()
        for i, c in enumerate(cases):
            for desc, wrong in c.mistakes.items():
                if desc in seen or _close(wrong, c.expected):
                    continue
                seen.add(desc)
                yield (f"{name} mistake: {desc}",
                       lambda n=name, t=i, d=desc: _message(n, _oracle(n, CASES[n](), t,
                                                                        CASES[n]()[t].mistakes[d])))


def _error_scenarios():
    clash = RuntimeError("The size of tensor a (4) must match the size of tensor b (3) at "
                         "non-singleton dimension 1")
    for name in CASES:
        yield f"{name} raises", _on_case(name, 0, _raise(ValueError("x < 0")))
        yield f"{name} shape clash", _on_case(name, 0, _raise(clash))
        yield f"{name} None on a later case", _on_case(name, 1, lambda e: None)
    for name in ("forward_noise", "ddim_step", "v_target", "ode_step", "consistency_output", "psnr"):
        yield f"{name} wrong values", _on_case(name, 0, lambda e: e + 0.37)
        yield f"{name} extra dimension", _on_case(name, 0, lambda e: e.unsqueeze(0))
        yield f"{name} flat output", _on_case(name, 0, lambda e: torch.zeros(7))
    yield "count_nfe wrong values", _on_case("count_nfe", 0, lambda e: e + 5)
    yield "count_nfe list", _on_case("count_nfe", 0, lambda e: [e, e])
    yield "c_skip_c_out wrong values", _on_case("c_skip_c_out", 1, lambda e: (e[0] + 0.37, e[1]))
    yield "c_skip_c_out wrong shape", _on_case("c_skip_c_out", 0,
                                               lambda e: (torch.zeros(3), torch.zeros(3)))
    yield "codi_loss wrong values", _on_case("codi_loss", 0, lambda e: e + 0.37)


def _special_scenarios():
    cs = lambda t: conditions.reference_c_skip_c_out(t)  # noqa: E731
    yield "c_skip_c_out not a pair", lambda: _message("c_skip_c_out", lambda t: cs(t)[0])
    yield "c_skip_c_out three values", lambda: _message("c_skip_c_out", lambda t: [*cs(t), t])
    yield "c_skip_c_out c_skip increases", lambda: _message(
        "c_skip_c_out", lambda t: cs(t) if t.numel() == 1 else (t / 1000, cs(t)[1]))
    yield "c_skip_c_out c_out decreases", lambda: _message(
        "c_skip_c_out", lambda t: cs(t) if t.numel() == 1 else (cs(t)[0], -t))
    yield "sr4_degrade low resolution", lambda: _message("sr4_degrade", lambda x: F.avg_pool2d(x, 4))
    yield "sr4_degrade fixed size", lambda: _message(
        "sr4_degrade", lambda x: F.interpolate(x, size=(32, 32), mode="bicubic"))
    for bypass in ("forward_noise", "v_target"):
        method = "add_noise" if bypass == "forward_noise" else "target"
        yield f"{bypass} uses the hidden method", lambda b=bypass, m=method: _message(
            b, lambda x, eps, t, schedule: getattr(schedule, m)(x, eps, t))
    ref_loss = E.solution("codi_loss")
    yield "codi_loss not a scalar", lambda: _message(
        "codi_loss", lambda **kw: ref_loss(**kw).expand(3))
    yield "codi_loss no gradient", lambda: _message(
        "codi_loss", lambda **kw: ref_loss(**kw).detach())
    yield "codi_loss gradient into the EMA", lambda: _message(
        "codi_loss", lambda **kw: ref_loss(**kw)
        + 1e-12 * sum(p.sum() for p in kw["ema_model"].parameters()))
    yield "codi_loss no gradient into the model", lambda: _message(
        "codi_loss", lambda **kw: ref_loss(**kw).detach()
        + 0 * sum(p.sum() for p in kw["ema_model"].parameters()))

    def ode_with_grad(ode_fn, z_t, t, s, cond, schedule):
        x_hat, eps_hat = schedule.to_x_eps(ode_fn(z_t, t, cond).float(), z_t, t)
        a_s, s_s = schedule.alpha_sigma(s, z_t.dim())
        return a_s * x_hat + s_s * eps_hat
    yield "ode_step with gradient", lambda: _message("ode_step", ode_with_grad)
    for answer in ("A", "C", "Z", NotImplementedError):
        def fn(a=answer):
            if a is NotImplementedError:
                raise a
            return a
        yield f"toy_ode_model {answer}", lambda f=fn: _message("toy_ode_model", f)
    yield "toy choices", lambda: "".join(f"{k}: {v}\n" for k, v in E.TOY_CHOICES.items())
    yield "toy choices repr", lambda: repr(E.TOY_CHOICES)
    yield "sampler repr", lambda: repr(measuring._nfe_cases()[0].kwargs["sampler"])
    yield "answer key", lambda: _printed(E.answer_key)
    yield "answer key Q2", lambda: _printed(E.answer_key, "07", question=2)
    yield "answer key of another notebook", lambda: _raised(E.answer_key, "05")
    yield "unknown exercise", lambda: _raised(E.check, "forward_nose", lambda: None)
    yield "list_exercises", lambda: _printed(E.list_exercises)
    yield "list_exercises 05", lambda: _printed(E.list_exercises, "05")


def scenarios():
    """(id, thunk) of everything a learner can be shown by the exercises."""
    out = []
    for name in sorted(E.EXERCISES):
        out += [(f"{name} reference", lambda n=name: _message(n, E.solution(n))),
                (f"{name} stub", lambda n=name: _message(n, lambda *a, **k: None)),
                (f"{name} hint", lambda n=name: _printed(E.hint, n)),
                (f"{name} show_solution", lambda n=name: _printed(E.show_solution, n))]
    out += list(_mistake_scenarios()) + list(_error_scenarios()) + list(_special_scenarios())
    return out


SCENARIOS = dict(scenarios())


# ----------------------------------------------------------------------------- helpers

#: catalogue entries whose Japanese is only numbers, formulas and punctuation
FORMULAS_ONLY = {"t = 500 -> s = 480", "lambda_cg = 0.5, lambda_cons = 1",
                 "lambda_cg = 2, lambda_cons = 0.25", "lambda_cg = 0, n = 44: t = 880, s = 860",
                 "{prediction}, {label}"}


@pytest.fixture
def ja(monkeypatch):
    """The course speaks Japanese (what a kernel in notebooks/ja gets); yields the
    language module with an empty record of missing entries."""
    from codi_lib.course.exercises import i18n
    monkeypatch.setenv("CODI_LANG", "ja")
    i18n.MISSING.clear()
    yield i18n
    i18n.MISSING.clear()


def _english_sentences(catalogue):
    """English keys of several words that read differently in Japanese: none of them may
    be left in a Japanese message."""
    return [k for k, v in catalogue.items() if k != v and len(re.findall(r"[A-Za-z]{2,}", k)) >= 4]


def code_strings(paths) -> set[str]:
    """Every string constant of the checkers' code, adjacent literals joined as Python
    reads them (so a catalogue key is the text exactly as the code writes it)."""
    found = set()
    for path in paths:
        for node in ast.walk(ast.parse(Path(path).read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                found.add(node.value)
    return found


def stale_keys(catalogue, paths) -> list[str]:
    """Catalogue entries whose English key occurs nowhere in ``paths`` any more (the
    English text was changed or removed, so the Japanese is never shown)."""
    strings = code_strings(paths)
    return sorted(k for k in catalogue if k not in strings)


def translated_literals(paths) -> set[str]:
    """The literal first arguments of every ``tr(...)`` and ``Msg(...)`` call in ``paths``."""
    found = set()
    for path in paths:
        for node in ast.walk(ast.parse(Path(path).read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("tr", "Msg")
                    and node.args and isinstance(node.args[0], ast.Constant)):
                found.add(node.args[0].value)
    return found


def _code_files():
    return sorted(EXERCISES_DIR.glob("*.py"))


# ----------------------------------------------------------------------------- tests

@pytest.mark.parametrize("sid", list(SCENARIOS))
def test_every_message_is_japanese(ja, sid):
    """Each thing a learner can be shown is Japanese and uses only catalogue texts."""
    text = SCENARIOS[sid]()
    assert JAPANESE.search(text), text
    assert not ja.MISSING, f"no Japanese entry for: {sorted(ja.MISSING)}"
    if "show_solution" not in sid:  # below its headers, show_solution prints source code
        left = [k for k in _english_sentences(ja.catalogue()) if k in text]
        assert not left, f"English left in the Japanese message: {left}\n{text}"


@pytest.mark.parametrize("name", sorted(E.EXERCISES))
def test_show_solution_headers_are_japanese(ja, name):
    lines = _printed(E.show_solution, name).splitlines()
    assert lines[0].startswith("# 「") and JAPANESE.search(lines[0]), lines[0]
    heads = [line for line in lines if line.startswith("# --- ")]
    assert len(heads) == len(E.EXERCISES[name].library)
    assert all(JAPANESE.search(h) for h in heads), heads


def test_every_label_mistake_and_exercise_text_has_an_entry(ja):
    """Case labels, mistake descriptions, titles, hints, signatures, the prediction's
    choices and explanations and the answer key: each one has a Japanese entry."""
    texts = []
    for name, build in CASES.items():
        for case in build():
            texts += [case.label, *case.mistakes]
    for ex in E.EXERCISES.values():
        texts += [ex.title, ex.hint, ex.signature]
    texts += [*E.TOY_CHOICES.english.values(), *predictions._TOY_WHY.values(),
              *predictions.ANSWERS_07.values()]
    shown = {t: ja.tr(t) for t in texts}
    assert not ja.MISSING, f"no Japanese entry for: {sorted(ja.MISSING)}"
    english = [t for t, j in shown.items() if not JAPANESE.search(j) and t not in FORMULAS_ONLY]
    assert not english, f"shown in English: {english}"


def test_every_text_the_code_translates_has_an_entry():
    """Static: each literal passed to tr() or Msg() in the checkers' code has an entry,
    error paths the scenarios above do not reach included."""
    from codi_lib.course.exercises.i18n import catalogue
    missing = sorted(translated_literals(_code_files()) - set(catalogue()))
    assert not missing, f"no Japanese entry for: {missing}"


def test_only_formulas_stay_untranslated():
    from codi_lib.course.exercises.i18n import catalogue
    assert {k for k, v in catalogue().items() if not JAPANESE.search(v)} == FORMULAS_ONLY


def test_the_catalogue_has_no_stale_entries():
    from codi_lib.course.exercises.i18n import catalogue
    stale = stale_keys(catalogue(), _code_files())
    assert not stale, ("catalogue entries whose English text is no longer in the code "
                       f"(update or delete them in messages_ja.json): {stale}")


def test_a_stale_entry_is_reported(tmp_path):
    code = tmp_path / "module.py"
    code.write_text('tr("kept " "text")\nlabel = Msg("{n} images", n=3)\n', encoding="utf-8")
    cat = {"kept text": "残した文", "{n} images": "画像 {n} 枚", "removed text": "消えた文"}
    assert stale_keys(cat, [code]) == ["removed text"]
    assert translated_literals([code]) == {"kept text", "{n} images"}


def test_placeholders_are_the_same_in_both_languages():
    from codi_lib.course.exercises.i18n import catalogue

    def fields(text):
        return sorted((f, c or "", s) for _, f, s, c in string.Formatter().parse(text) if f is not None)
    bad = [k for k, v in catalogue().items() if fields(k) != fields(v)]
    assert not bad, bad


def test_the_translations_use_the_glossary_vocabulary():
    from codi_lib.course.exercises.i18n import catalogue
    from test_i18n import VARIANTS
    found = [(wrong, right, k) for k, v in catalogue().items()
             for wrong, right in VARIANTS.items() if wrong in v]
    assert not found, found


def test_english_is_the_text_of_the_code_and_the_folder_decides(monkeypatch):
    """English output is the code's text itself; without CODI_LANG the notebook's folder
    decides (a kernel in notebooks/ja speaks Japanese)."""
    from codi_lib.course.exercises.i18n import Msg, tr
    stub = lambda *a, **k: None  # noqa: E731
    monkeypatch.setenv("CODI_LANG", "en")
    assert _message("forward_noise", stub) == (
        "... forward_noise: not attempted yet (the function still returns None). Fill in its "
        "body, then run this cell again. Stuck? hint('forward_noise') or "
        "show_solution('forward_noise').")
    assert dict(E.TOY_CHOICES) == E.TOY_CHOICES.english
    label = Msg("{label}, batch of {b}", label=Msg("lambda_cg = 0, n = 44: t = 880, s = 860"), b=3)
    assert label == "lambda_cg = 0, n = 44: t = 880, s = 860, batch of 3" == tr(label)
    assert type(tr(label)) is str
    monkeypatch.delenv("CODI_LANG")
    monkeypatch.chdir(EXERCISES_DIR.parents[2] / "notebooks" / "ja")
    assert tr(label) == "lambda_cg = 0、n = 44：t = 880、s = 860、バッチサイズ 3"
    assert _message("forward_noise", stub).startswith("... forward_noise: まだ取り組んでいません")


def test_the_catalogue_is_shipped_with_the_package():
    text = (EXERCISES_DIR.parents[2] / "pyproject.toml").read_text(encoding="utf-8")
    assert '"codi_lib.course.exercises" = ["messages_ja.json"]' in text
