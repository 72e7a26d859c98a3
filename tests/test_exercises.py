"""Every exercise checker accepts its reference, reports the stub as not attempted, and
rejects each mistake in its catalogue with that mistake's message."""
import pytest
import torch

from codi_lib.course import exercises as E
from codi_lib.course.exercises import codi_loss, conditions, diffusion, loss_parts, measuring

#: exercise name -> the function building its cases (each Case lists its known mistakes)
CASES = {"forward_noise": diffusion._forward_cases, "ddim_step": diffusion._ddim_cases,
         "v_target": diffusion._v_cases, "c_skip_c_out": conditions._scalings_cases,
         "sr4_degrade": conditions._sr_cases, "codi_loss": codi_loss._codi_cases,
         "ode_step": loss_parts._ode_cases, "consistency_output": loss_parts._cons_cases,
         "psnr": measuring._psnr_cases, "count_nfe": measuring._nfe_cases}
#: how a case's stored output is returned by a learner's function (default: as it is)
AS_RETURNED = {"c_skip_c_out": lambda v: (v[0], v[1])}  # stored stacked, returned as a pair


def _same(a, b):
    """Equal inputs by value: the checkers build their cases afresh on every call."""
    if type(a) is not type(b):
        return False
    if isinstance(a, torch.Tensor):
        return a.shape == b.shape and torch.equal(a, b)
    if isinstance(a, torch.nn.Module):
        sa, sb = a.state_dict(), b.state_dict()
        return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    if isinstance(a, torch.Generator):
        return torch.equal(a.get_state(), b.get_state())
    if hasattr(a, "prediction_type"):  # a NoiseSchedule
        return a.prediction_type == b.prediction_type and a.T == b.T
    if isinstance(a, measuring._FakeSampler):
        return vars(a) == vars(b)
    if callable(a) and not hasattr(a, "__dataclass_fields__"):
        return True  # stand-in networks given as plain functions
    return a == b


def _oracle(name, cases, target, wrong):
    """A learner's function that is right everywhere except on case ``target``, where it
    returns ``wrong``; inputs of no case (the checkers' extra probes) get the reference."""
    ref, out = E.solution(name), AS_RETURNED.get(name, lambda v: v)

    def fn(**kw):
        for i, c in enumerate(cases):
            if c.kwargs.keys() == kw.keys() and all(_same(c.kwargs[k], v) for k, v in kw.items()):
                return out(wrong if i == target else c.expected)
        return ref(**kw)

    def positional(*args, **kw):  # checkers that call fn(x) positionally
        if args:
            import inspect
            names = list(inspect.signature(ref).parameters)
            kw = {**dict(zip(names, args)), **kw}
        return fn(**kw)

    return positional


def _close(a, b):
    try:
        return bool(torch.allclose(torch.as_tensor(a).float(), torch.as_tensor(b).float(),
                                   rtol=1e-4, atol=1e-5))
    except (RuntimeError, TypeError, ValueError):
        return False


@pytest.mark.parametrize("name", sorted(E.EXERCISES))
def test_reference_passes_and_stub_is_not_attempted(name):
    assert E.EXERCISES[name].checker(E.solution(name)).passed
    stub = E.EXERCISES[name].checker(lambda *a, **k: None)
    assert not stub.passed and not stub.attempted


def _mistakes():
    for name, build in CASES.items():
        cases = build()
        seen = set()
        for c in cases:
            for desc in c.mistakes:
                if desc not in seen:
                    seen.add(desc)
                    yield pytest.param(name, desc, id=f"{name}: {desc[:40]}")


@pytest.mark.parametrize("name,desc", list(_mistakes()))
def test_checker_rejects_each_catalogued_mistake(name, desc):
    cases = CASES[name]()
    # the first case on which this mistake differs from the right answer
    target = next((i for i, c in enumerate(cases) if desc in c.mistakes
                   and not _close(c.mistakes[desc], c.expected)), None)
    if target is None:
        pytest.skip("this mistake gives the right answer on every case")
    wrong = cases[target].mistakes[desc]
    res = E.EXERCISES[name].checker(_oracle(name, cases, target, wrong))
    assert not res.passed, f"{name} accepted the mistake: {desc}"
    # the message names this mistake, or an earlier-listed one giving the same output
    same = [d for d, v in cases[target].mistakes.items() if _close(v, wrong)]
    assert any(d in res.message for d in same), res.message


def test_toy_ode_model_prediction():
    ch = E.EXERCISES["toy_ode_model"].checker
    assert ch(lambda: "B").passed and ch(lambda: "b").passed
    for wrong in ("A", "C", "Z"):
        assert not ch(lambda w=wrong: w).passed


def test_answer_key_is_printed_only_on_request(capsys):
    import codi_lib.course.exercises  # noqa: F401  (importing prints nothing)
    assert capsys.readouterr().out == ""
    E.answer_key("07", question=2)
    assert capsys.readouterr().out.startswith("Q2.")
    with pytest.raises(KeyError):
        E.answer_key("05")


def test_psnr_reference_matches_the_library():
    from codi_lib.evaluation.metrics import psnr
    a = torch.rand(3, 3, 8, 8) * 2 - 1
    b = (a + 0.1 * torch.randn(a.shape)).clamp(-1, 1)
    assert torch.allclose(measuring.reference_psnr(a, b), psnr(a, b), atol=1e-4)


def test_ode_step_and_consistency_output_references_match_the_library():
    from codi_lib.method import losses as L
    for case in loss_parts._ode_cases():
        k = case.kwargs
        assert torch.allclose(L.ode_step(k["ode_fn"], k["z_t"], k["t"], k["s"], k["cond"],
                                         k["schedule"]), case.expected, atol=1e-6)
    for case in loss_parts._cons_cases():
        k = case.kwargs
        with torch.no_grad():
            got = L.consistency_output(k["model_fn"], k["z"], k["t"], k["cond"], k["schedule"])
        assert torch.allclose(got, case.expected, atol=1e-6)


@pytest.mark.parametrize("name,bypass", [
    ("forward_noise", lambda x, eps, t, schedule: schedule.add_noise(x, eps, t)),
    ("v_target", lambda x, eps, t, schedule: schedule.target(x, eps, t))])
def test_the_schedule_method_that_is_the_answer_is_hidden(name, bypass):
    res = E.EXERCISES[name].checker(bypass)
    assert not res.passed and "asks you to write" in res.message


def test_sr4_checker_rejects_calling_the_library():
    """Notebook 04 has the task registry in scope: an answer that runs the library's own
    degradation, under any name, is refused, while the reference (two torch calls) passes."""
    from codi_lib.method.tasks import get_task, super_resolution_4x as alias
    check = E.EXERCISES["sr4_degrade"].checker
    for fn in (lambda x: get_task("sr4").degrade(x, None), lambda x: alias(x)):
        res = check(fn)
        assert not res.passed and res.attempted and "library's own degradation" in res.message
    assert check(E.solution("sr4_degrade")).passed
