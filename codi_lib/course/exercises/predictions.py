"""Prediction exercises (predict, then run the experiment) and answer keys hidden until
asked: notebook 03 ``toy_ode_model`` (which model takes the ODE step of (C3) and what the
guidance term (C7) then does) and the answer key of notebook 07's reflection questions
(:func:`answer_key`). Registered in :data:`~codi_lib.course.exercises.EXERCISES`; the choices,
verdicts and answers are shown in the course's language (:func:`~.i18n.tr`)."""
from __future__ import annotations

from .i18n import Translated, tr
from .machinery import CheckResult, register

#: The choices of exercise ``toy_ode_model`` (notebook 03), read like a dict; the texts are
#: shown in the course's language (``TOY_CHOICES.english`` is the English dict).
TOY_CHOICES = Translated({
    "A": "it lands on the exact ODE endpoints, like the classic configuration",
    "B": "it lands near the posterior mean E[x | z_980, c]: between the modes of its group, "
         "like 1-step DDIM",
    "C": "it lands on the modes, but on the wrong side (it ignores the condition)",
})

_TOY_WHY = {
    "A": "the classic run lands on the endpoints because the exact teacher defines the ODE its "
         "z_s follows. In the paper's configuration the student, trained from scratch, takes "
         "the ODE step itself: there is no teacher left to define the trajectory, and with "
         "lambda_cg = 1 the guidance term E||f - x||^2 pulls every grid level toward its "
         "minimiser, the posterior mean.",
    "C": "the guidance term compares f with the x that produced c, so the condition is "
         "learned; what is lost is the trajectory, not the condition.",
}


def reference_toy_ode_model():
    """The answer: "B". The guidance term (C7) is minimised by f = E[x | z_t, c]; with
    the student's own ODE step nothing else defines the target trajectory, so a student
    trained from scratch settles there, a point between the modes (blur)."""
    return "B"


@register("toy_ode_model", "notebooks/03_distillation.ipynb",
          "predict where the paper's configuration lands on the toy",
          "predict_paper_toy() -> 'A', 'B' or 'C' (see TOY_CHOICES)",
          reference_toy_ode_model, (),
          "Which quantity minimises E||f(z_t, t, c) - x||^2 over f? And when the student takes "
          "the ODE step itself, what still tells it where the ODE goes?")
def check_toy_ode_model(fn) -> CheckResult:
    """Checker of ``toy_ode_model``: accepts "B"; for "A" and "C" it says why not."""
    try:
        got = fn()
    except NotImplementedError:
        got = None
    if got is None:
        return CheckResult("toy_ode_model", False,
                           tr("... toy_ode_model: not attempted yet (the function still returns "
                              "None). Return 'A', 'B' or 'C', then run the cell again."),
                           attempted=False)
    got = str(got).strip().upper()
    if got == "B":
        return CheckResult("toy_ode_model", True,
                           tr("✅ toy_ode_model: B. Now run the next cells and see it happen."))
    if got in _TOY_WHY:
        return CheckResult("toy_ode_model", False, tr("❌ toy_ode_model: not {answer}: {why}",
                                                      answer=got, why=tr(_TOY_WHY[got])))
    return CheckResult("toy_ode_model", False,
                       tr("❌ toy_ode_model: {answer!r} is not one of {choices}.", answer=got,
                          choices=sorted(TOY_CHOICES)))


# --------------------------------------------------------------------------- 07: answer key

ANSWERS_07 = {
    1: "It depends on the image and on the current models: read it off the LPIPS captions. "
       "The speed-up is (teacher NFE at equal LPIPS) / (student NFE). If the teacher's DDIM "
       "already matches the 1-step student at a few steps, the speed-up is only that small "
       "ratio: the benchmark of notebook 06 says where the current models stand, with "
       "intervals, so check there before quoting a number.",
    2: "1-2 step DDIM outputs (close to) the posterior mean E[x | z_t, c]: an average of all "
       "images compatible with the input, hence blur (notebook 03's toy shows it exactly). A "
       "distilled student is trained toward the trajectory's end, not the average, so it can "
       "be sharper; a student trained briefly, or with a strong guidance term (C7), drifts "
       "back toward the average and also looks soft. Judge by the picture and LPIPS, not by "
       "the promise.",
    3: "Where the condition determines the answer (the known pixels, the coarse colours of "
       "the low-resolution input) the two agree; they differ where the condition leaves "
       "freedom: inside the inpainted hole and in the fine detail super-resolution lost. "
       "More student steps (C8) usually sharpen those parts.",
    4: "Both are deterministic given the noise, and both should change with the seed where "
       "the condition leaves freedom, and stay put where it does not. A model that gives "
       "the same answer for every seed has collapsed to an average; small differences are "
       "expected, since the condition fixes most of a 32x32 image.",
    5: "Latency is roughly a fixed overhead plus NFE times one evaluation. With a small "
       "network on a CPU the fixed per-call costs (Python, memory allocation) and whatever "
       "else runs on the machine weigh a lot, so the measured speed-up is smaller than the "
       "NFE ratio; with bigger networks or batches it approaches it.",
}


def answer_key(notebook: str = "07", question: int | None = None) -> None:
    """Print the answer key of the reflection questions of ``notebook`` (only "07" has one),
    or only the answer to ``question``, in the course's language. Nothing is shown until
    you call it. Introduced in notebooks/07_side_by_side.ipynb."""
    if "07" not in str(notebook):
        raise KeyError(tr("no answer key for notebook {notebook!r}; only '07' has one",
                          notebook=notebook))
    for k, text in ANSWERS_07.items():
        if question is None or k == question:
            print(tr("Q{k}. {answer}\n", k=k, answer=tr(text)))
