"""Tiny randomly initialised components in the Stable Diffusion layout, built in code
(for tests and ``notebooks/08_your_images.ipynb``): ``codi latent build-tiny OUT``.
No paper equation.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from ...method.schedule import check_prediction_type
from .bundle import _transformers


_TOKEN_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789.,!?'-"


_MERGES = [("t", "h"), ("th", "e</w>"), ("o", "f</w>"), ("a", "n"), ("i", "n"), ("o", "n</w>")]


def write_tiny_tokenizer_files(folder) -> Path:
    """A tiny CLIP BPE vocabulary written by hand: the special tokens, each character
    alone and word-final (``c</w>``), and a few merges (``the</w>``, ``of</w>``...)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tokens = ["<|startoftext|>", "<|endoftext|>"]
    for c in _TOKEN_CHARS:
        tokens += [c, c + "</w>"]
    for a, b in _MERGES:
        tokens.append(a + b)
    vocab = {tok: i for i, tok in enumerate(dict.fromkeys(tokens))}
    (folder / "vocab.json").write_text(json.dumps(vocab, indent=0, ensure_ascii=False) + "\n")
    merges = "#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in _MERGES)
    (folder / "merges.txt").write_text(merges)
    return folder


def build_tiny_sd(out_dir, image_size: int = 32, prediction_type: str = "epsilon",
                  seed: int = 0) -> Path:
    """Build tiny random components in the Stable Diffusion layout and save them to
    ``out_dir`` with ``save_pretrained`` (vae/, unet/, text_encoder/, tokenizer/,
    scheduler/, model_index.json): a 4-level VAE (latents 8x smaller, 4 channels,
    SD's scaling factor 0.18215), a 2-level UNet with CrossAttnDownBlock2D, a 2-layer CLIP
    text model with a hand-written vocabulary (77 tokens), and SD's scaled-linear
    schedule with ``prediction_type`` ("epsilon" like SD 1.5, "v_prediction" like SD 2.1).
    For tests and notebook 08; the weights are random."""
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig
    CLIPTextModel, CLIPTokenizer = _transformers()
    check_prediction_type(prediction_type)
    if image_size % 16:
        raise ValueError("image_size must be a multiple of 16 (VAE factor 8 x 2 UNet levels)")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    tok_dir = write_tiny_tokenizer_files(out / "tokenizer")
    tokenizer = CLIPTokenizer.from_pretrained(str(tok_dir), model_max_length=77,
                                              local_files_only=True)
    vocab = json.loads((tok_dir / "vocab.json").read_text())
    text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, max_position_embeddings=77, projection_dim=32,
        bos_token_id=vocab["<|startoftext|>"], eos_token_id=vocab["<|endoftext|>"],
        pad_token_id=vocab["<|endoftext|>"]))
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4, block_out_channels=(8, 16, 16, 16),
        layers_per_block=1, latent_channels=4, norm_num_groups=8, sample_size=image_size,
        scaling_factor=0.18215)
    unet = UNet2DConditionModel(
        sample_size=image_size // 8, in_channels=4, out_channels=4, layers_per_block=1,
        block_out_channels=(32, 64), down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=32,
        attention_head_dim=8, norm_num_groups=8)
    scheduler = DDIMScheduler(num_train_timesteps=1000, beta_schedule="scaled_linear",
                              beta_start=0.00085, beta_end=0.012, clip_sample=False,
                              set_alpha_to_one=False, steps_offset=1,
                              prediction_type=prediction_type)
    try:
        from diffusers import StableDiffusionPipeline
        pipe = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
                                       unet=unet, scheduler=scheduler, safety_checker=None,
                                       feature_extractor=None, requires_safety_checker=False)
        pipe.save_pretrained(str(out))
    except ImportError:  # pragma: no cover - pipelines unavailable: save the parts
        for name, part in (("vae", vae), ("unet", unet), ("text_encoder", text_encoder),
                           ("tokenizer", tokenizer), ("scheduler", scheduler)):
            part.save_pretrained(str(out / name))
    return out
