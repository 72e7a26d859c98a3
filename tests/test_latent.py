"""Latent (Stable Diffusion layout) models: loading, the four modes through train_loop,
samplers with classifier-free guidance, the CFG order, and no guidance in the ODE step.
Everything offline on tiny random components built by ``build_tiny_sd``."""
import pytest
import torch

pytest.importorskip("transformers")

from codi_lib.apps.latent.bundle import (CaptionTable, LatentDenoiser, TextConditioning,
                                         build_latent_conditional, encode_images, load_sd,
                                         schedule_from_scheduler_config)
from codi_lib.apps.latent.tiny import build_tiny_sd
from codi_lib.apps.latent.train import load_latent_run, make_latent_loss, sample_latent, train_latent
from codi_lib.method.guidance import (GuidedDenoiser, cfg_concat, cfg_split, combine, drop_prompts,
                                      set_text_context)
from codi_lib.method.losses import CoDiLossConfig
from codi_lib.training.config import LatentConfig

PRED_TYPES = ["epsilon", "v_prediction"]


@pytest.fixture(scope="session", params=PRED_TYPES)
def tiny_sd(request, tmp_path_factory):
    d = build_tiny_sd(tmp_path_factory.mktemp(f"sd-{request.param}"), image_size=32,
                      prediction_type=request.param)
    return load_sd(d)


@pytest.fixture
def images():
    return torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8,
                         generator=torch.Generator().manual_seed(0))


def _cfg(bundle, mode, **kw):
    cfg = LatentConfig(model_dir=bundle.model_dir, mode=mode, task="sr4", prompt="a photo",
                       p_uncond=0.5, **kw)
    t = cfg.train
    t.max_steps, t.batch_size, t.sample_every, t.ckpt_every, t.log_every = 1, 4, 0, 1, 1
    return cfg


def test_layout_and_prediction_type_are_read_from_the_directory(tiny_sd, tmp_path):
    import json
    from pathlib import Path
    d = Path(tiny_sd.model_dir)
    for sub in ["vae", "unet", "text_encoder", "tokenizer", "scheduler"]:
        assert (d / sub).is_dir()
    sched = json.loads((d / "scheduler" / "scheduler_config.json").read_text())
    assert tiny_sd.schedule.prediction_type == sched["prediction_type"]
    assert tiny_sd.schedule.beta_schedule == "scaled_linear"
    assert tiny_sd.latent_factor == 8 and tiny_sd.scaling_factor == pytest.approx(0.18215)
    z = encode_images(tiny_sd.vae, torch.zeros(2, 3, 32, 32), sample=False)
    assert z.shape == (2, 4, 4, 4)
    with pytest.raises(ValueError, match="trained_betas"):
        schedule_from_scheduler_config({"trained_betas": [0.1]})
    with pytest.raises(FileNotFoundError, match="unet"):
        load_sd(tmp_path)


def test_each_mode_trains_through_train_loop_and_samples(tiny_sd, images, tmp_path):
    for mode in ["controlnet", "pe-codi", "codi"]:
        res = train_latent(_cfg(tiny_sd, mode), tmp_path / mode, images=images, bundle=tiny_sd,
                           progress=False)
        assert res.step == 1 and all(torch.isfinite(torch.tensor(r["loss"])) for r in res.history)
    cm = _cfg(tiny_sd, "cm-two-stage", init_from=str(tmp_path / "controlnet"))
    assert train_latent(cm, tmp_path / "cm", images=images, bundle=tiny_sd, progress=False).step == 1
    model, cfg = load_latent_run(tmp_path / "codi", tiny_sd)
    assert cfg.mode == "codi" and isinstance(model, LatentDenoiser)
    cond = torch.rand(2, 3, 32, 32) * 2 - 1
    x, nfe = sample_latent(tiny_sd, model, cond, "a photo", "codi", 4, return_nfe=True)
    assert x.shape == (2, 3, 32, 32) and nfe == 4 and torch.isfinite(x).all()
    x, nfe = sample_latent(tiny_sd, model, cond, "a photo", "ddim", 4, guidance_scale=3.0,
                           return_nfe=True)
    assert x.shape == (2, 3, 32, 32) and nfe == 4 and torch.isfinite(x).all()
    assert x.min() >= -1 and x.max() <= 1


def test_training_resumes_and_per_image_captions(tiny_sd, images, tmp_path):
    cfg = _cfg(tiny_sd, "pe-codi")
    cfg.train.max_steps = 2
    caps = [f"image {i}" for i in range(len(images))]
    assert train_latent(cfg, tmp_path / "r", images=images, captions=caps, bundle=tiny_sd,
                        progress=False, stop_after=1).step == 1
    assert train_latent(cfg, tmp_path / "r", images=images, captions=caps, bundle=tiny_sd,
                        progress=False).step == 2


def test_caption_table_finds_captions_of_flipped_images(images):
    table = CaptionTable(images, [f"c{i}" for i in range(len(images))], default="?")
    x = images.float() / 127.5 - 1
    assert table(x) == [f"c{i}" for i in range(len(images))]
    assert table(x.flip(-1)) == [f"c{i}" for i in range(len(images))]
    assert table(torch.zeros(1, 3, 32, 32) + 0.123) == ["?"]


def test_cfg_halves_are_split_in_the_order_they_were_concatenated():
    u, c = torch.randn(3, 5), torch.randn(3, 5)
    su, sc = cfg_split(cfg_concat(u, c))
    assert torch.equal(su, u) and torch.equal(sc, c)
    assert torch.allclose(combine(u, c, 1.0), c) and torch.equal(combine(u, c, 0.0), u)
    with pytest.raises(ValueError):
        cfg_split(torch.zeros(3, 2))

    class Spy(torch.nn.Module):  # output = mean of each row's text context
        context = None

        def forward(self, z, t, cond):
            self.seen = (z.shape[0], self.context.clone())
            return z * 0 + self.context.mean(dim=(1, 2)).view(-1, 1, 1, 1)

    spy, ctx, null = Spy(), torch.full((2, 3, 4), 5.0), torch.full((1, 3, 4), 1.0)
    out = GuidedDenoiser(spy, ctx, null, w=3.0)(torch.zeros(2, 4, 2, 2), torch.tensor([10, 10]), None)
    assert spy.seen[0] == 4 and torch.equal(spy.seen[1][:2], null.expand(2, -1, -1))
    assert torch.allclose(out, torch.full_like(out, 1.0 + 3.0 * (5.0 - 1.0)))


def test_guidance_weight_one_equals_the_conditional_prediction(tiny_sd):
    model = build_latent_conditional(tiny_sd.unet, 3).eval()
    with torch.no_grad():  # a non-zero branch so the condition matters
        for p in model.controlnet.parameters():
            p.add_(0.01 * torch.randn_like(p))
    enc = tiny_sd.prompt_encoder
    ctx, null = enc(["a red photo", "the cat"]), enc([""])
    g = torch.Generator().manual_seed(0)
    z, cond = torch.randn(2, 4, 4, 4, generator=g), torch.randn(2, 3, 32, 32, generator=g)
    t = torch.tensor([300, 700])
    with torch.no_grad():
        set_text_context(model, ctx)
        out_c = model(z, t, cond)
        set_text_context(model, null)
        out_u = model(z, t, cond)
        w1 = GuidedDenoiser(model, ctx, null, 1.0, always_batch=True)(z, t, cond)
        w0 = GuidedDenoiser(model, ctx, null, 0.0)(z, t, cond)
        w1_fast = GuidedDenoiser(model, ctx, null, 1.0)(z, t, cond)
    assert not torch.allclose(out_c, out_u, atol=1e-4)
    assert torch.allclose(w1, out_c, atol=1e-5) and torch.allclose(w0, out_u, atol=1e-5)
    assert torch.equal(w1_fast, out_c)


@pytest.mark.parametrize("ode_model", ["student", "teacher"])
def test_the_ode_step_sees_no_guidance(tiny_sd, images, ode_model):
    """Every network call of the CoDi loss (ODE step, EMA target, online prediction) has
    batch B and the very text context of the batch: no [uncond, cond] doubling."""
    cfg = _cfg(tiny_sd, "codi", loss=CoDiLossConfig(ode_model=ode_model))
    model = build_latent_conditional(tiny_sd.unet, 3)
    ema = build_latent_conditional(tiny_sd.unet, 3).requires_grad_(False)
    teacher = LatentDenoiser(tiny_sd.unet) if ode_model == "teacher" else None
    calls = []
    for name, m in (("model", model), ("ema", ema), ("teacher", teacher)):
        if m is not None:
            m.register_forward_hook(lambda mod, args, out, name=name: calls.append(
                (name, args[0].shape[0], mod.context)))
    loss_fn = make_latent_loss(cfg, tiny_sd, teacher)
    x = images[:4].float() / 127.5 - 1
    loss, _ = loss_fn(model, ema, x, torch.Generator().manual_seed(0), 0)
    loss.backward()
    assert [c[0] for c in calls] == [("teacher" if ode_model == "teacher" else "model"), "ema", "model"]
    assert all(b == 4 for _, b, _ in calls)
    assert all(ctx is calls[0][2] for _, _, ctx in calls)
    assert calls[0][2].shape[0] == 4


def test_prompt_dropout_and_null_prompt(tiny_sd):
    g = torch.Generator().manual_seed(0)
    assert drop_prompts(["a", "b"], 0.0, "", g) == ["a", "b"]
    assert drop_prompts(["a", "b"], 1.0, "", g) == ["", ""]
    dropped = drop_prompts(["p"] * 400, 0.25, "", g)
    assert 60 < dropped.count("") < 140
    enc = tiny_sd.prompt_encoder
    x = torch.zeros(3, 3, 32, 32)
    null_only = TextConditioning(enc, prompts="")(x, g)
    assert torch.equal(null_only, enc([""] * 3))
    always_null = TextConditioning(enc, prompts="a photo", p_uncond=1.0)(x, g)
    assert torch.equal(always_null, null_only)
    model = LatentDenoiser(tiny_sd.unet)
    with pytest.raises(RuntimeError, match="text context"):
        model(torch.zeros(1, 4, 4, 4), 10)
