"""The exercise machinery: the registry, :func:`check`, :func:`hint`, :func:`show_solution`,
case runners and shared inputs (see :mod:`codi_lib.course.exercises`). Every text shown to
the learner goes through :func:`~codi_lib.course.exercises.i18n.tr` (the course's language).
No paper equation."""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch
from ...method import schedule as S
from .i18n import tr

# --------------------------------------------------------------------------- machinery

@dataclass
class Exercise:
    """One registered exercise: where it is, what to write, the checker and the reference."""
    name: str
    notebook: str
    title: str
    signature: str
    checker: Callable
    reference: Callable
    library: tuple = ()
    hint: str = ""

#: The registry: exercise name -> :class:`Exercise`. Notebooks 04-05 add theirs here with
#: :func:`register`.
EXERCISES: dict[str, Exercise] = {}

def register(name: str, notebook: str, title: str, signature: str, reference: Callable,
             library: Sequence[Callable] = (), hint: str = ""):
    """Decorator that registers ``checker(fn) -> CheckResult`` as exercise ``name``.
    ``reference`` is the reference solution (built on ``library`` functions, whose source
    :func:`show_solution` prints). For exercise authors (see the module docstring); the
    first exercises are in notebooks/01_diffusion_basics.ipynb."""
    def deco(checker):
        EXERCISES[name] = Exercise(name, notebook, title, signature, checker, reference,
                                   tuple(library), hint)
        return checker
    return deco

class CheckResult:
    """The outcome of :func:`check`: true when correct; ``message`` says why not.
    (In Jupyter it displays nothing itself: :func:`check` already printed the message.)"""

    def __init__(self, name: str, passed: bool, message: str, attempted: bool = True):
        self.name, self.passed, self.message, self.attempted = name, passed, message, attempted

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        return f"CheckResult({self.name!r}, passed={self.passed})"

    def _ipython_display_(self):  # the message was printed by check(); show nothing more
        pass

@dataclass
class Case:
    """One input case of a checker: a label the learner can read, the keyword arguments
    for the learner's function, the expected output and known wrong answers
    (``mistakes``: description -> the output that mistake would give)."""
    label: str  # a plain English text or an i18n.Msg (both are looked up in the catalogue)
    kwargs: dict
    expected: object
    mistakes: dict = field(default_factory=dict)

class NotAttempted(Exception):
    """The learner's function is still the stub (returned None or raised NotImplementedError)."""

def _as_tensor(v):
    if v is None:
        raise NotAttempted
    if isinstance(v, torch.Tensor):
        return v.detach().float()
    return torch.as_tensor(v, dtype=torch.float32)

def _close(a: torch.Tensor, b: torch.Tensor, rtol=1e-4, atol=1e-5) -> bool:
    return a.shape == b.shape and bool(torch.allclose(a.float(), b.float(), rtol=rtol, atol=atol))

def _shape_hint(got, want) -> str:
    g, w = tuple(got), tuple(want)
    if len(g) > len(w) or (len(g) == len(w) and g != w and len(w) > 1):
        return tr("the output has shape {got}, expected {want} (the shape of the input). "
                  "A per-image (B,) tensor of alpha_t/sigma_t must be reshaped to (B, 1, 1, 1) "
                  "(or (B, 1) for 2-D points) before multiplying: "
                  "schedule.alpha_sigma(t, x.dim()) does that for you.", got=g, want=w)
    return tr("the output has shape {got}, expected {want} (the shape of the input).", got=g, want=w)

def run_cases(name: str, fn: Callable, cases: Sequence[Case], signature: str,
              compare: Callable = _close, unpack: Callable = _as_tensor) -> CheckResult:
    """Run ``fn(**case.kwargs)`` on every case and build the message: the first failing
    case is named, with the known mistake it matches or the size of the error.
    Checkers of new exercises reuse this; the first ones are in
    notebooks/01_diffusion_basics.ipynb. The messages, case labels and mistake
    descriptions are shown in the course's language (:mod:`.i18n`)."""
    for i, case in enumerate(cases):
        try:
            got = unpack(fn(**{k: _clone(v) for k, v in case.kwargs.items()}))
        except (NotAttempted, NotImplementedError):
            if i == 0:
                return CheckResult(name, False, tr(
                    "... {name}: not attempted yet (the function still returns None). "
                    "Fill in its body, then run this cell again. Stuck? "
                    "hint({name!r}) or show_solution({name!r}).", name=name), attempted=False)
            return CheckResult(name, False, tr(
                "❌ {name}: returned None on case '{label}' (it works on "
                "earlier cases: is a branch missing a return?)", name=name, label=tr(case.label)))
        except Exception as err:  # report any error with the case that triggered it
            extra = ""
            if isinstance(err, RuntimeError) and ("must match the size" in str(err)
                                                  or "broadcast" in str(err)):
                extra = "\n   " + tr(
                    "A shape clash: a per-image (B,) tensor such as schedule.alpha[t] "
                    "must be reshaped to (B, 1, 1, 1) (or (B, 1) for 2-D points) before it "
                    "multiplies x; schedule.alpha_sigma(t, x.dim()) returns it reshaped.")
            return CheckResult(name, False, tr(
                "❌ {name}: raised {error}: {message}\n   on case "
                "'{label}'.{extra}\n   Expected signature: {signature}", name=name,
                error=type(err).__name__, message=err, label=tr(case.label), extra=extra,
                signature=tr(signature)))
        want = _as_tensor(case.expected)
        if compare(got, want):
            continue
        if got.shape != want.shape:
            return CheckResult(name, False, tr("❌ {name}: on case '{label}' {problem}", name=name,
                                               label=tr(case.label),
                                               problem=_shape_hint(got.shape, want.shape)))
        for desc, wrong in case.mistakes.items():
            if compare(got, _as_tensor(wrong)):
                return CheckResult(name, False, tr("❌ {name}: wrong on case '{label}': {mistake}",
                                                   name=name, label=tr(case.label), mistake=tr(desc)))
        err = float((got - want).abs().max())
        return CheckResult(name, False, tr(
            "❌ {name}: wrong values on case '{label}' (largest error "
            "{error:.3g}); it matches none of the usual mistakes. hint({name!r}) "
            "may help.", name=name, label=tr(case.label), error=err))
    labels = "".join(f"\n   - {tr(c.label)}" for c in cases)
    return CheckResult(name, True, tr("✅ {name}: correct on all {n} cases:{labels}", name=name,
                                      n=len(cases), labels=labels))

def _clone(v):
    return v.clone() if isinstance(v, torch.Tensor) else v

def _get(name: str) -> Exercise:
    if name not in EXERCISES:
        raise KeyError(tr("no exercise {name!r}; known: {known}", name=name, known=sorted(EXERCISES)))
    return EXERCISES[name]

def check(name: str, fn: Callable) -> CheckResult:
    """Check your function for exercise ``name``; prints the verdict (in the course's
    language) and returns a :class:`CheckResult` (true when correct). Never raises on a
    wrong answer. Introduced in notebooks/00_welcome.ipynb (how exercises work)."""
    ex = _get(name)
    res = ex.checker(fn)
    print(res.message)
    return res

def hint(name: str) -> None:
    """Print a hint for exercise ``name`` (in the course's language). Introduced in
    notebooks/00_welcome.ipynb."""
    ex = _get(name)
    print(tr("Hint for {name} ({notebook}): {hint}\nSignature: {signature}", name=name,
             notebook=ex.notebook, hint=tr(ex.hint), signature=tr(ex.signature)))

def solution(name: str) -> Callable:
    """The reference solution of exercise ``name`` as a function (without showing it).
    Introduced in notebooks/00_welcome.ipynb."""
    return _get(name).reference

def show_solution(name: str) -> None:
    """Print the reference solution of exercise ``name`` and the source of the library
    functions it is built from (``inspect.getsource``; the headers are in the course's
    language, the code as it is). Introduced in notebooks/00_welcome.ipynb."""
    ex = _get(name)
    print(tr("# Reference solution of '{name}' ({notebook}): {title}", name=name,
             notebook=ex.notebook, title=tr(ex.title)))
    print(inspect.getsource(ex.reference))
    for f in ex.library:
        mod = getattr(f, "__module__", "")
        qual = getattr(f, "__qualname__", getattr(f, "__name__", str(f)))
        print(tr("# --- library: {function}", function=f"{mod}.{qual}"))
        print(inspect.getsource(f))

def list_exercises(notebook: str | None = None) -> None:
    """Print the registered exercises (of one notebook if ``notebook`` is part of its
    file name, e.g. "01"), titles in the course's language. Introduced in
    notebooks/00_welcome.ipynb."""
    for ex in EXERCISES.values():
        if notebook is None or notebook in ex.notebook:
            print(f"{ex.name:<16} {ex.notebook:<32} {tr(ex.title)}")


# --------------------------------------------------------------------------- inputs

_SCHEDULES: dict = {}


def _schedule(prediction_type: str = "v_prediction") -> S.NoiseSchedule:
    if prediction_type not in _SCHEDULES:
        _SCHEDULES[prediction_type] = S.NoiseSchedule(S.ScheduleConfig(prediction_type=prediction_type))
    return _SCHEDULES[prediction_type]


def _randn(*shape, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def _shift(t: torch.Tensor, d: int, lo: int = 0, hi: int = 999) -> torch.Tensor:
    return (t + d).clamp(lo, hi)




class _Restricted:
    """A schedule for an exercise's cases, with the methods that *are* the exercise's
    answer hidden (e.g. ``add_noise`` for writing the forward noising): everything else,
    ``alpha_sigma`` and ``to_x_eps`` included, is the real schedule's."""

    def __init__(self, inner, hidden: Sequence[str], exercise: str):
        self._inner, self._hidden, self._exercise = inner, tuple(hidden), exercise

    def __getattr__(self, attr):
        if attr in self._hidden:
            raise AttributeError(tr(
                "schedule.{attr} is what exercise {exercise!r} asks you to write: "
                "build it from schedule.alpha_sigma(t, x.dim()) instead",
                attr=attr, exercise=self._exercise))
        return getattr(self._inner, attr)


def _restricted(schedule, hidden: Sequence[str], exercise: str) -> _Restricted:
    return _Restricted(schedule, hidden, exercise)
