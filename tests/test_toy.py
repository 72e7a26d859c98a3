"""The 2-D toy of notebook 03: exact denoiser, exact ODE endpoints, and a CoDi student that
lands on them in one step."""
import math

import pytest
import torch

from codi_lib.method.losses import CoDiLossConfig, codi_loss
from codi_lib.method.sampling import sample
from codi_lib.course.toy import (GROUPS, MEANS, STD, TOY_TASK, WEIGHTS, ExactDenoiser, ToyStudent,
                          endpoint_error, endpoint_noise, exact_ode_endpoint,
                          exact_ode_endpoint_ivp, exact_x0, group_condition, nearest_mode,
                          toy_samples, toy_schedule, train_toy_student)


@pytest.fixture(scope="module")
def schedule():
    return toy_schedule()


@pytest.fixture(scope="module")
def endpoints():
    c, z = endpoint_noise(600, seed=7)
    return c, z, exact_ode_endpoint(z, c)


def group_mean(g):
    w = WEIGHTS * (GROUPS == g)
    return (w / w.sum()) @ MEANS


def test_data_and_condition():
    x = toy_samples(4000, torch.Generator().manual_seed(0))
    c = group_condition(x)
    assert x.shape == (4000, 2) and c.shape == (4000, 1)
    assert set(c.unique().tolist()) == {-1.0, 1.0}
    idx, dist = nearest_mode(x)
    assert (GROUPS[idx] == c[:, 0].double()).all()          # groups split by the y-axis
    assert dist.mean() < 2 * STD
    freq = torch.bincount(idx, minlength=len(MEANS)).double() / len(x)
    assert torch.allclose(freq, WEIGHTS, atol=0.03)
    xg = toy_samples(500, torch.Generator().manual_seed(1), group=-1)
    assert (xg[:, 0] < 0).all()
    assert TOY_TASK.cond_channels == 1 and torch.equal(TOY_TASK.degrade(x, None), c)


def test_exact_denoiser_matches_brute_force(schedule):
    g = torch.Generator().manual_seed(0)
    # Monte-Carlo posterior mean: weight data samples of group c by N(z; alpha x, sigma^2 I)
    for t, grp in [(150, 1), (300, -1), (600, 1)]:
        a, s = (v.item() for v in schedule.alpha_sigma(t, 1))
        xs = toy_samples(200_000, g, group=grp).double()
        x0 = toy_samples(5, g, group=grp).double()
        z = a * x0 + s * torch.randn(5, 2, generator=g, dtype=torch.float64)
        logw = -((z[:, None] - a * xs[None]) ** 2).sum(-1) / (2 * s * s)
        w = torch.softmax(logw, dim=1)
        mc = w @ xs
        ex = exact_x0(z, t, torch.full((5, 1), float(grp)), schedule)
        assert torch.allclose(ex, mc, atol=0.02), (t, ex, mc)
    # small t (noise below the mode width): exact_x0 recovers x with exactly the Gaussian
    # MMSE error 2 s^2 sigma^2 / (alpha^2 s^2 + sigma^2), well below the noise's
    x = toy_samples(4000, g)
    eps = torch.randn(4000, 2, generator=g)
    for t in (3, 20):
        a, s = (v.item() for v in schedule.alpha_sigma(t, 1))
        z = schedule.add_noise(x, eps, t)
        mse = ((exact_x0(z, t, group_condition(x), schedule) - x) ** 2).sum(1).mean().item()
        theory = 2 * STD ** 2 * s ** 2 / (a ** 2 * STD ** 2 + s ** 2)
        assert abs(mse / theory - 1) < 0.1, (t, mse, theory)
        assert mse < 0.9 * ((z / a - x) ** 2).sum(1).mean().item()
    # t = 999: z carries (almost) no information, the answer is the group's mixture mean
    z = torch.randn(200, 2, generator=g)
    c = torch.where(torch.rand(200, 1, generator=g) < 0.5, 1.0, -1.0)
    ex = exact_x0(z, 999, c, schedule).double()
    ref = torch.stack([group_mean(float(ci)) for ci in c[:, 0]])
    assert torch.allclose(ex, ref, atol=0.01)
    # the unconditional denoiser (cond=None) gives the overall mixture mean
    ex_u = exact_x0(z, 999, None, schedule).double()
    assert torch.allclose(ex_u, (WEIGHTS @ MEANS).expand(200, 2), atol=0.01)


def test_exact_denoiser_is_a_v_prediction(schedule):
    g = torch.Generator().manual_seed(3)
    z = torch.randn(64, 2, generator=g)
    t = torch.randint(0, 1000, (64,), generator=g)
    c = torch.where(torch.rand(64, 1, generator=g) < 0.5, 1.0, -1.0)
    v = ExactDenoiser(schedule)(z, t, c)
    x_hat, _ = schedule.to_x_eps(v, z, t)
    assert torch.allclose(x_hat, exact_x0(z, t, c, schedule), atol=1e-5)
    # it drives diffusers' DDIM too: 50 steps from pure noise land on the right modes
    c = group_condition(toy_samples(300, g))
    m = ExactDenoiser(schedule)
    out = sample(lambda zz, tt: m(zz, tt, c), schedule.config, 300, 50, "ddim", shape=(2,),
                 noise=torch.randn(300, 2, generator=g))
    assert nearest_mode(out, c)[1].mean() < 0.1


def test_ode_endpoints_converged_and_on_modes(endpoints):
    c, z, e = endpoints
    half = exact_ode_endpoint(z, c, stride=2)                 # half the steps
    assert (half - e).norm(dim=1).mean() < 1e-3
    ivp = exact_ode_endpoint_ivp(z, c)                         # adaptive RK45 on the continuous ODE
    assert (ivp - e).norm(dim=1).mean() < 1e-3
    ddim = exact_ode_endpoint(z, c, method="ddim")             # first-order DDIM, 980 steps
    assert (ddim - e).norm(dim=1).mean() < 5e-3
    idx, dist = nearest_mode(e)
    assert (GROUPS[idx] == c[:, 0].double()).all()             # the right group's modes
    assert dist.mean() < 2 * STD and dist.max() < 0.3
    # the ODE transports N(0, I) to the data: mode frequencies follow the group's weights
    for grp in (1.0, -1.0):
        sel = idx[c[:, 0] == grp]
        w = WEIGHTS * (GROUPS == grp)
        freq = torch.bincount(sel, minlength=len(MEANS)).double() / len(sel)
        assert torch.allclose(freq, w / w.sum(), atol=0.1)


def test_codi_loss_runs_on_the_toy_task(schedule):
    g = torch.Generator().manual_seed(0)
    x = toy_samples(32, g)
    student = ToyStudent(width=32, depth=2)
    ema = ToyStudent(width=32, depth=2)
    for cfg in (CoDiLossConfig(ode_model="teacher"), CoDiLossConfig(ode_model="student")):
        fn = codi_loss(schedule, cfg, TOY_TASK, ExactDenoiser(schedule))
        loss, logs = fn(student, ema, x, g, 0)
        assert torch.isfinite(loss) and set(logs) == {"l_cons", "l_cg"}
    run = train_toy_student(CoDiLossConfig(ode_model="student", lambda_cg=1.0), steps=5,
                            batch=16, width=16, log_every=1)
    assert len(run.history) == 5 and all(math.isfinite(h["loss"]) for h in run.history)


def test_one_step_student_lands_on_exact_ode_endpoints():
    """THE key test: CoDi distillation with the exact denoiser as the frozen ODE model gives
    a 1-step sampler whose outputs are the ODE endpoints of the same noise."""
    run = train_toy_student(seed=0)
    res = endpoint_error(run.ema_student, n=1000, seed=1234)
    assert res["student"] < 0.1, res
    assert res["student"] < 0.3 * res["ddim1"], res
    assert res["ddim1"] > 0.3, res               # the posterior mean sits between the modes
    assert res["student_mode_dist"] < 0.1, res   # student outputs are on the data modes
    assert run.history[-1]["loss_smooth"] < run.history[0]["loss_smooth"]
