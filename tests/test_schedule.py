"""The diffusion core against diffusers and against its own definitions."""
import pytest
import torch
from diffusers import DDIMScheduler

from codi_lib.method.sampling import make_sampler
from codi_lib.method.schedule import (NoiseSchedule, ScheduleConfig, c_out, c_skip,
                               codi_sampling_timesteps, consistency_fn, ddim_step,
                               distillation_grid, pred_to_x_eps, x_eps_to_pred)


@pytest.mark.parametrize("beta_schedule", ["linear", "scaled_linear"])
def test_alpha_sigma_match_diffusers(beta_schedule):
    cfg = ScheduleConfig(beta_schedule=beta_schedule,
                         **({"beta_start": 0.00085, "beta_end": 0.012} if beta_schedule == "scaled_linear" else {}))
    s = NoiseSchedule(cfg)
    ref = DDIMScheduler(num_train_timesteps=1000, beta_schedule=beta_schedule,
                        beta_start=cfg.beta_start, beta_end=cfg.beta_end).alphas_cumprod
    assert torch.allclose(s.alpha ** 2, ref, atol=1e-6)
    assert torch.allclose(s.alpha ** 2 + s.sigma ** 2, torch.ones(1000), atol=1e-6)
    a, sg = s.alpha_sigma(-1)
    assert a.item() == 1.0 and sg.item() == 0.0
    with pytest.raises(ValueError, match="out of range"):
        s.alpha_sigma(1000)


@pytest.mark.parametrize("pt", ["epsilon", "v_prediction", "sample"])
def test_conversions_round_trip(pt):
    g = torch.Generator().manual_seed(0)
    x, eps = torch.randn(4, 3, 8, 8, generator=g), torch.randn(4, 3, 8, 8, generator=g)
    s = NoiseSchedule(ScheduleConfig(prediction_type=pt))
    t = torch.tensor([1, 200, 600, 999])
    z = s.add_noise(x, eps, t)
    a, sg = s.alpha_sigma(t)
    out = x_eps_to_pred(x, eps, a, sg, pt)
    assert torch.allclose(out, s.target(x, eps, t), atol=1e-6)
    x2, eps2 = pred_to_x_eps(out, z, a, sg, pt)
    assert torch.allclose(x2, x, atol=2e-3 if pt == "epsilon" else 1e-4)
    assert torch.allclose(eps2, eps, atol=1e-3 if pt == "sample" else 1e-4)


def test_bad_prediction_type_is_an_error():
    with pytest.raises(ValueError, match="prediction_type"):
        NoiseSchedule(ScheduleConfig(prediction_type="v"))


@pytest.mark.parametrize("pt", ["epsilon", "v_prediction"])
@pytest.mark.parametrize("steps", [4, 50])
def test_ddim_step_equals_diffusers(pt, steps):
    cfg = ScheduleConfig(prediction_type=pt)
    s = NoiseSchedule(cfg)
    sch = make_sampler("ddim", cfg)
    sch.set_timesteps(steps)
    g = torch.Generator().manual_seed(1)
    ts = sch.timesteps.tolist()
    for i, t in enumerate(ts):
        z = torch.randn(2, 3, 8, 8, generator=g)
        out = torch.randn(2, 3, 8, 8, generator=g)
        ref = sch.step(out, t, z).prev_sample
        x_hat, eps_hat = s.to_x_eps(out, z, t)
        t_next = ts[i + 1] if i + 1 < len(ts) else -1  # set_alpha_to_one: clean end
        a, sg = s.alpha_sigma(t_next)
        ours = ddim_step(x_hat, eps_hat, a, sg)
        assert torch.allclose(ours, ref, atol=1e-5), (t, (ours - ref).abs().max())


def test_boundary_scalings():
    assert c_skip(0).item() == 1.0 and c_out(0).item() == 0.0
    assert abs(c_skip(1).item() - 0.25 / 100.25) < 1e-7
    assert abs(c_out(1).item() - 10 / 100.25 ** 0.5) < 1e-6
    t = torch.arange(0, 1000)
    assert torch.all(c_skip(t)[1:] < c_skip(t)[:-1]) and torch.all(c_out(t)[1:] >= c_out(t)[:-1])
    assert c_skip(999).item() < 1e-6 and abs(c_out(999).item() - 1) < 1e-6
    z, x = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4)
    assert torch.equal(consistency_fn(z, x, torch.tensor([0, 0])), z)


def test_grids():
    assert distillation_grid(1000, 50)[:3] == [0, 20, 40]
    assert codi_sampling_timesteps(1) == [980]
    assert codi_sampling_timesteps(4) == [980, 720, 460, 200]
    assert codi_sampling_timesteps(2) == [980, 480]
    assert codi_sampling_timesteps(8) == [980, 860, 740, 620, 500, 380, 260, 140]
    assert all(len(codi_sampling_timesteps(k)) == k for k in range(1, 50))
    with pytest.raises(ValueError):
        codi_sampling_timesteps(0)
