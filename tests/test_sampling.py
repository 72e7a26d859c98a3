"""The samplers behind one function, checked on a denoiser with a known answer."""
import pytest
import torch

from codi_lib.method.sampling import SAMPLERS, sample
from codi_lib.method.schedule import NoiseSchedule, ScheduleConfig


def oracle_denoiser(x0, schedule):
    """Exact denoiser of a one-point data distribution at x0: x_hat = x0."""
    def fn(z, t):
        a, s = schedule.alpha_sigma(t, z.dim())
        eps = (z - a * x0) / s
        return a * eps - s * x0  # v-prediction
    return fn


@pytest.mark.parametrize("sampler,steps", [("ddim", 1), ("ddim", 4), ("ddim", 50),
                                           ("dpmsolver++", 4), ("ddpm", 10)])
def test_samplers_reach_the_data_point(sampler, steps):
    cfg = ScheduleConfig(prediction_type="v_prediction")
    x0 = torch.rand(1, 3, 8, 8) * 1.6 - 0.8
    x, nfe = sample(oracle_denoiser(x0, NoiseSchedule(cfg)), cfg, 2, steps, sampler,
                    shape=(3, 8, 8), return_nfe=True)
    assert nfe == steps
    assert torch.allclose(x, x0.expand(2, -1, -1, -1), atol=1e-3)


def test_unknown_sampler_named():
    with pytest.raises(ValueError, match="euler"):
        sample(lambda z, t: z, ScheduleConfig(), 1, 2, "euler")
    assert set(SAMPLERS) == {"ddpm", "ddim", "dpmsolver++"}
