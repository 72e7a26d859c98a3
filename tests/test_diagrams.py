"""The course's diagrams (codi_lib.course.diagrams) draw without error and say what the
code does: the UNet picture is read from the built network, so its numbers must match
the modules' own structure."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from codi_lib.course import diagrams  # noqa: E402
from codi_lib.method.models import UNetConfig, build_unet  # noqa: E402


def _texts(fig) -> str:
    return "\n".join(t.get_text() for ax in fig.axes for t in ax.texts + [ax.title])


def test_unet_levels_match_the_built_network():
    a = diagrams.unet_levels(build_unet(UNetConfig()))
    cfg = UNetConfig()
    assert [lv["channels"] for lv in a["down"]] == list(cfg.block_out_channels)
    assert [lv["res"] for lv in a["down"]] == [32, 16, 8]
    assert [lv["res"] for lv in a["up"]] == [8, 16, 32]
    assert all(lv["resnets"] == cfg.layers_per_block for lv in a["down"])
    # every decoder ResNet consumes exactly one skip connection
    assert a["skips"] == sum(lv["resnets"] for lv in a["up"])
    assert a["mid"]["res"] == 8 and a["mid"]["attention"] == 0


def test_unet_levels_see_attention_and_other_sizes():
    cfg = UNetConfig(block_out_channels=(32, 32), down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                     up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), sample_size=16)
    a = diagrams.unet_levels(build_unet(cfg))
    assert [lv["attention"] for lv in a["down"]] == [0, 2]
    assert [lv["res"] for lv in a["down"]] == [16, 8] and a["up"][0]["attention"] == 3
    assert "2 attention" in _texts(diagrams.draw_unet(build_unet(cfg), show=False))


@pytest.mark.parametrize("draw, words", [
    (lambda: diagrams.draw_unet(build_unet(UNetConfig()), show=False),
     ["encoder 1", "decoder 3", "middle", "skip connections", "9 in all", "32x32 px"]),
    (lambda: diagrams.draw_controlnet(show=False), ["zero conv", "condition c"]),
    (lambda: diagrams.draw_training_step(show=False), []),
    (lambda: diagrams.draw_distillation_families(show=False), ["progressive", "consistency"]),
])
def test_each_diagram_draws_and_names_its_parts(draw, words):
    fig = draw()
    text = _texts(fig)
    assert fig.axes and text
    for w in words:
        assert w in text, (w, text)
