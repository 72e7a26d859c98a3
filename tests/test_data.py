"""The shipped emoji set, the dataset classes, the folder loader and image helpers."""
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from codi_lib.training.data import (EmojiDataset, ImageFolderDataset, load_emoji, make_grid_image,
                           to_uint8_images)

ROOT = Path(__file__).resolve().parent.parent
FONT = Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf")
ARRAY_KEYS = ("images", "names", "sequences", "base", "split", "metadata")


@pytest.fixture(scope="module")
def emoji():
    return load_emoji("all")


def test_shipped_dataset_shape(emoji):
    assert len(emoji) >= 3000
    assert emoji.images.shape[1:] == (32, 32, 3) and emoji.images.dtype == np.uint8
    assert len(emoji.names) == len(emoji.base) == len(emoji.sequences) == len(emoji)
    assert list(emoji.names) == sorted(emoji.names)
    assert 0 < emoji.images.mean() < 255  # neither blank nor black
    assert emoji.metadata["counts"]["images"] == len(emoji)


def test_split_groups_by_base_emoji(emoji):
    train, test = load_emoji("train"), load_emoji("test")
    assert len(train) + len(test) == len(emoji)
    assert not set(train.base) & set(test.base)
    assert 0.10 <= len(test) / len(emoji) <= 0.20
    key = dict(zip(emoji.sequences, emoji.base))
    # skin-tone and gender variants share one key
    assert key["1F44B"] == key["1F44B_1F3FB"] == key["1F44B_1F3FF"]
    assert key["1F3C3"] == key["1F3C3_200D_2640"] == key["1F3C3_1F3FD_200D_2642"]
    assert key["1F9D1"] == key["1F468"] == key["1F469_1F3FB"]


def test_load_emoji_errors(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="build_emoji_dataset.py"):
        load_emoji(path=tmp_path / "missing.npz")
    monkeypatch.setenv("CODI_DATA_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        load_emoji()
    (tmp_path / "emoji32.npz").write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="corrupt.*build_emoji_dataset.py"):
        load_emoji()
    with pytest.raises(ValueError, match="split"):
        load_emoji("validation")


def test_emoji_dataset_values():
    ds = EmojiDataset("test")
    x = ds[0]
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32
    batch = torch.stack([ds[i] for i in range(0, len(ds), 50)])
    assert batch.min() >= -1 and batch.max() <= 1
    assert batch.min() == -1 or batch.max() == 1


def test_emoji_dataset_hflip_follows_generator():
    plain = EmojiDataset("test")
    flipped = EmojiDataset("test", hflip=True, generator=torch.Generator().manual_seed(0))
    replay = torch.Generator().manual_seed(0)
    n_flips = 0
    for i in range(40):
        flip = bool(torch.rand((), generator=replay) < 0.5)
        expected = plain[i].flip(-1) if flip else plain[i]
        assert torch.equal(flipped[i], expected)
        n_flips += flip and not torch.equal(expected, plain[i])
    assert 0 < n_flips < 40


def _write_images(folder: Path) -> tuple[list[Path], list[Path]]:
    """A folder of good and bad files; returns (good, bad) paths."""
    rng = np.random.default_rng(0)
    noise = lambda h, w: rng.integers(0, 256, (h, w, 3), dtype=np.uint8)  # noqa: E731
    good = {
        "odd.jpg": Image.fromarray(noise(37, 50)),
        "alpha.png": Image.fromarray(np.zeros((40, 40, 4), np.uint8), "RGBA"),
        "palette.gif": Image.fromarray(noise(30, 30)).convert("P"),
        "gray.png": Image.fromarray(noise(20, 24)[..., 0], "L"),
        "deep16.png": Image.fromarray(np.full((20, 30), 32768, np.uint16)),
        "sub/cmyk.jpg": Image.fromarray(noise(33, 33)).convert("CMYK"),
    }
    for name, img in good.items():
        (folder / name).parent.mkdir(exist_ok=True)
        img.save(folder / name)
    assert Image.open(folder / "deep16.png").mode.startswith("I")
    full = folder / "full.jpg"
    Image.fromarray(noise(64, 64)).save(full, quality=95)
    data = full.read_bytes()
    full.unlink()
    (folder / "truncated.jpg").write_bytes(data[: len(data) // 2])
    (folder / "empty.png").write_bytes(b"")
    (folder / "text.jpg").write_text("this is not an image\n")
    Image.fromarray(noise(4, 4)).save(folder / "tiny.png")
    (folder / "notes.txt").write_text("ignored: not an image extension")
    bad = ["truncated.jpg", "empty.png", "text.jpg", "tiny.png"]
    return [folder / n for n in good], [folder / n for n in bad]


def test_folder_loader_warns_and_keeps_good_images(tmp_path):
    good, bad = _write_images(tmp_path)
    with pytest.warns(UserWarning) as record:
        ds = ImageFolderDataset(tmp_path, size=32)
    assert len(record) == 1
    message = str(record[0].message)
    assert all(str(p) in message for p in bad)
    assert sorted(p for p, _ in ds.bad_files) == sorted(map(str, bad))
    assert sorted(ds.paths) == sorted(good)
    assert len(ds) == len(good)
    for i in range(len(ds)):
        x = ds[i]
        assert x.shape == (3, 32, 32) and x.dtype == torch.float32
        assert x.min() >= -1 and x.max() <= 1
    by_name = {p.name: ds[i] for i, p in enumerate(ds.paths)}
    assert torch.all(by_name["alpha.png"] == 1)  # transparent -> white
    assert torch.allclose(by_name["deep16.png"], torch.tensor(0.0), atol=0.02)  # mid grey
    reasons = dict(ds.bad_files)
    assert "0 bytes" in reasons[str(tmp_path / "empty.png")]
    assert "too small" in reasons[str(tmp_path / "tiny.png")]


def test_folder_loader_error_mode_names_every_bad_file(tmp_path):
    _, bad = _write_images(tmp_path)
    with pytest.raises(ValueError) as err:
        ImageFolderDataset(tmp_path, on_bad="error")
    assert all(str(p) in str(err.value) for p in bad)


def test_folder_loader_empty_or_unusable_folder(tmp_path):
    with pytest.raises(ValueError, match="no usable image.*" + tmp_path.name):
        ImageFolderDataset(tmp_path)
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(ValueError, match="empty.png"):
        ImageFolderDataset(tmp_path)
    with pytest.raises(FileNotFoundError):
        ImageFolderDataset(tmp_path / "nope")


def test_folder_loader_exif_orientation(tmp_path):
    arr = np.zeros((20, 40, 3), np.uint8)
    arr[:, 20:] = 255  # left half black, right half white
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    Image.fromarray(arr).save(tmp_path / "rotated.jpg", exif=exif, quality=95)
    x = ImageFolderDataset(tmp_path, size=16)[0]
    assert x[:, :4].mean() < -0.9 and x[:, -4:].mean() > 0.9  # left half is now on top


def test_folder_loader_hflip(tmp_path):
    noise = np.random.default_rng(0).integers(0, 256, (24, 24, 3), dtype=np.uint8)
    Image.fromarray(noise).save(tmp_path / "noise.png")
    x = ImageFolderDataset(tmp_path, size=16)[0]
    ds = ImageFolderDataset(tmp_path, size=16, hflip=True,
                            generator=torch.Generator().manual_seed(0))
    draws = [ds[0] for _ in range(20)]
    assert all(torch.equal(d, x) or torch.equal(d, x.flip(-1)) for d in draws)
    assert {torch.equal(d, x) for d in draws} == {True, False}


def test_uint8_round_trip_and_grid():
    u8 = np.random.default_rng(0).integers(0, 256, (5, 8, 6, 3), dtype=np.uint8)
    x = torch.from_numpy(u8).permute(0, 3, 1, 2).float() / 127.5 - 1
    assert np.array_equal(to_uint8_images(x), u8)
    assert to_uint8_images(torch.full((1, 3, 2, 2), 3.0)).min() == 255
    grid = make_grid_image(x, nrow=3, padding=2)
    assert grid.mode == "RGB" and grid.size == (3 * 6 + 4 * 2, 2 * 8 + 3 * 2)
    assert np.array_equal(np.asarray(grid)[2:10, 2:8], u8[0])
    assert make_grid_image(u8, nrow=3, scale=2).size == (2 * grid.width, 2 * grid.height)


def test_rebuild_reproduces_shipped_dataset(tmp_path):
    if not FONT.is_file():
        pytest.skip(f"font {FONT} not installed (apt-get install fonts-noto-color-emoji)")
    pytest.importorskip("fontTools")
    spec = importlib.util.spec_from_file_location(
        "build_emoji_dataset", ROOT / "scripts" / "build_emoji_dataset.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    out = tmp_path / "emoji32.npz"
    script.main(["--font", str(FONT), "--out", str(out)])
    with np.load(out) as new, np.load(ROOT / "data" / "emoji32.npz") as shipped:
        for key in ARRAY_KEYS[:-1]:
            assert np.array_equal(new[key], shipped[key]), key
        meta_new, meta_old = (json.loads(str(m["metadata"])) for m in (new, shipped))
    meta_new.pop("pillow_version"), meta_old.pop("pillow_version")
    assert meta_new == meta_old
