"""The eps-space consistency term is the official ``consistency_epsilon``: the noise the
online prediction implies at z_t against the noise the EMA target implies at z_s."""
import torch

from codi_lib.method.losses import consistency_term
from codi_lib.method.schedule import NoiseSchedule


def test_eps_space_compares_implied_noises_at_their_own_points():
    sch = NoiseSchedule()
    g = torch.Generator().manual_seed(0)
    x, eps = torch.randn(4, 3, 8, 8, generator=g), torch.randn(4, 3, 8, 8, generator=g)
    t, s = torch.full((4,), 500), torch.full((4,), 480)
    z_t, z_s = sch.add_noise(x, eps, t), sch.add_noise(x, eps, s)
    # both predictions exact (f = x): the implied noises are both eps, the term is 0
    assert consistency_term(x, x, "eps", z_t, t, sch, z_s, s).item() < 1e-8
    # a target off by d in x changes its implied noise by alpha_s / sigma_s * d
    d = 0.1
    got = consistency_term(x, x + d, "eps", z_t, t, sch, z_s, s).item()
    a_s, s_s = sch.alpha_sigma(s, 4)
    assert abs(got - float((a_s[0] / s_s[0] * d) ** 2)) < 1e-6
    # x space is the plain squared difference
    assert abs(consistency_term(x, x + d, "x").item() - d ** 2) < 1e-7
