"""The procedural scenes with exact depth: renderer, loader, depth task, real-depth input."""
import math

import numpy as np
import pytest
import torch

from codi_lib.method.tasks import (depth_condition, disparity_to_depth_condition, get_task,
                                   test_conditions)
from codi_lib.training import scenes
from codi_lib.training.scene_data import (load_scenes, scene_tensor, split_of_seeds,
                                          task_batch, training_tensor)


def _head_on(prim, eye_z=5.0, fov=30.0):
    return scenes.Scene(eye=np.array([0.0, 0.0, eye_z]), target=np.zeros(3),
                        light=np.array([0.0, 0.0, 1.0]), ground=np.ones(3) * 0.5,
                        sky=np.ones((2, 3)), primitives=[prim], fov=fov)


def test_same_seed_same_bytes():
    a_img, a_dep = scenes.render_seeds([3, 17])
    b_img, b_dep = scenes.render_seeds([3, 17])
    assert a_img.tobytes() == b_img.tobytes() and a_dep.tobytes() == b_dep.tobytes()
    assert a_img.shape == (2, 32, 32, 3) and a_dep.shape == (2, 32, 32)
    assert not np.array_equal(a_img[0], a_img[1])


def test_sphere_seen_head_on_has_centre_depth_distance_minus_radius():
    # sphere at the origin, camera on the +z axis at distance 5 (the ground is below the
    # eye, y = 0 through the sphere's centre: put the eye above it and look level)
    prim = scenes.Primitive("sphere", np.array([0.0, 3.0, 0.0]), np.eye(3), (1.0,), np.ones(3))
    scene = _head_on(prim)
    scene.eye, scene.target = np.array([0.0, 3.0, 5.0]), np.array([0.0, 3.0, 0.0])
    _, depth = scenes.render(scene, 32, 4)
    centre = depth[15:17, 15:17]
    # each of the 4 centre pixels averages 4x4 sub-pixels within ~2.5 sub-pixel widths of
    # the axis: z = 5 - sqrt(1 - rho^2) ~ 4 + rho^2 / 2, rho < 0.035 -> error < 1e-3
    assert np.allclose(centre, 4.0, atol=2e-3), centre
    # the sphere's silhouette: angular radius asin(1/5); pixels well outside it are sky
    # (z_far) and the ground is out of view at this fov
    assert depth[0, 0] == pytest.approx(scenes.Z_FAR)
    half = math.tan(math.radians(15))
    inside = math.tan(math.asin(1 / 5)) / half * 16   # silhouette radius in pixels
    assert depth[16, int(16 + inside) - 2] < 5.0 and depth[16, min(31, int(16 + inside) + 2)] > 5.0


def test_ground_plane_seen_from_above_is_at_its_distance_everywhere():
    scene = scenes.Scene(eye=np.array([0.0, 2.5, 0.0]), target=np.zeros(3),
                         light=np.array([0.0, 1.0, 0.0]), ground=np.ones(3) * 0.5,
                         sky=np.ones((2, 3)), up=np.array([0.0, 0.0, -1.0]))
    _, depth = scenes.render(scene, 32, 4)
    assert np.allclose(depth, 2.5, atol=1e-5)


def test_every_kind_renders_and_casts_a_shadow():
    for kind, size in [("sphere", (0.6,)), ("box", (0.5, 0.5, 0.5)), ("cylinder", (0.5, 0.5)),
                       ("cone", (0.6, 0.6)), ("torus", (0.6, 0.25))]:
        prim = scenes.Primitive(kind, np.array([0.0, 0.7, 0.0]), np.eye(3), size,
                                np.array([1.0, 0.2, 0.2]))
        scene = scenes.Scene(eye=np.array([0.0, 6.0, 0.01]), target=np.zeros(3),
                             light=np.array([1.0, 1.0, 0.0]) / math.sqrt(2),
                             ground=np.ones(3) * 0.8, sky=np.ones((2, 3)), primitives=[prim],
                             fov=40.0)
        rgb, depth = scenes.render(scene, 32, 4)
        assert depth.min() < 6.0 - 0.7, kind           # the object is in front of the ground
        red = (rgb[..., 0] - rgb[..., 1]) > 0.2
        assert red.sum() > 4, kind
        # light from +x, 45 degrees up: a shadow on the ground beside the object, and
        # the lit ground is the same grey everywhere (a directional light)
        ground = rgb[~red][:, 0]
        assert ground.min() < 0.75 * ground.max(), kind
        assert rgb[0, 0, 0] == pytest.approx(rgb[-1, 0, 0], abs=1e-3)


def test_split_is_fixed_by_seed_and_disjoint():
    train, test, val, fit = (load_scenes(s) for s in ("train", "test", "val", "fit"))
    everything = load_scenes("all")
    assert len(train) + len(test) == len(everything) and len(test) == -(-len(everything) // 8)
    assert set(train.seeds).isdisjoint(test.seeds) and np.all(test.seeds % 8 == 0)
    assert set(val.seeds) | set(fit.seeds) == set(train.seeds) and set(val.seeds).isdisjoint(fit.seeds)
    assert list(split_of_seeds([0, 1, 8, 9])) == ["test", "train", "test", "train"]
    assert train.images.dtype == np.uint8 and train.images.shape[1:] == (32, 32, 3)
    assert train.depth.shape == train.images.shape[:3] and train.depth.dtype == np.float32
    assert 0 < test.depth.min() and test.depth.max() <= scenes.Z_FAR + 1e-3
    # the shipped file is the renderer's output (depth stored as float16)
    img, dep = scenes.render_seeds(test.seeds[:2])
    assert np.array_equal(img, test.images[:2])
    assert np.allclose(dep, test.depth[:2], rtol=1e-3)


def test_loader_errors_name_the_path_and_the_rebuild_command(tmp_path):
    with pytest.raises(FileNotFoundError, match="build_scenes.py"):
        load_scenes("train", tmp_path / "nope.npz")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match=r"bad\.npz.*build_scenes\.py"):
        load_scenes("train", bad)
    with pytest.raises(ValueError, match="split"):
        load_scenes("nope")


def test_depth_condition_shape_range_and_near_is_bright():
    task = get_task("depth")
    x = task_batch("depth", "test", 6)
    assert x.shape == (6, 4, 32, 32) and task.dataset == "scenes"
    c = test_conditions(task, x)
    assert c.shape == (6, task.cond_channels, 32, 32) and task.cond_channels == 1
    assert torch.all(c.amin((1, 2, 3)) == -1) and torch.all(c.amax((1, 2, 3)) == 1)
    z = x[:, 3:4]
    near = z == z.amin((2, 3), keepdim=True)
    assert torch.all(c[near] == 1) and torch.all(c[z == z.amax((2, 3), keepdim=True)] == -1)
    assert torch.equal(c, test_conditions(task, x))
    # it reads the depth only: changing the colours leaves it unchanged
    y = x.clone()
    y[:, :3] = -y[:, :3]
    assert torch.equal(test_conditions(task, y), c)
    assert task.show(c).shape == (6, 3, 32, 32) and task.as_output(c).shape == (6, 3, 32, 32)
    with pytest.raises(ValueError, match="channel 4"):
        depth_condition(x[:, :3])


def test_training_tensor_carries_depth_and_the_loss_strips_it():
    from codi_lib.method.tasks import degrade_batch
    t = training_tensor("depth", "val")
    assert t.dtype == torch.float32 and t.shape[1:] == (4, 32, 32)
    cond, img = degrade_batch(get_task("depth"), t[:3], torch.Generator())
    assert img.shape == (3, 3, 32, 32) and cond.shape == (3, 1, 32, 32)
    assert torch.equal(scene_tensor(load_scenes("val"))[:3], t[:3])


def test_disparity_to_depth_condition():
    # a fronto-parallel step: the left half twice the disparity (half the depth) of the
    # right; a band of invalid (inf) pixels is ignored
    d = torch.full((40, 60), 10.0)
    d[:, :30] = 20.0
    d[:, 28:31] = float("inf")
    c = disparity_to_depth_condition(d, 8)
    assert c.shape == (1, 1, 8, 8) and c.min() >= -1 and c.max() == 1
    assert torch.allclose(c[..., :2], torch.tensor(1.0)) and torch.allclose(c[..., -2:], torch.tensor(-1.0))  # near = bright
    assert torch.isfinite(c).all()
    # scale-free: the same map at any disparity scale
    assert torch.allclose(disparity_to_depth_condition(d * 3.7, 8), c, atol=1e-6)


def test_motorcycle_depth_condition():
    from codi_lib.training.scene_data import motorcycle_depth_condition
    c = motorcycle_depth_condition()
    assert c.shape == (1, 1, 32, 32) and torch.isfinite(c).all()
    assert c.min() == -1 and c.max() == 1
    from codi_lib.training.scene_data import motorcycle_photo
    x = motorcycle_photo()
    assert x.shape == (1, 3, 32, 32) and -1 <= x.min() < x.max() <= 1


@pytest.mark.parametrize("mode", ["controlnet", "codi"])
def test_one_training_step_on_scenes_with_depth(tmp_path, tiny_teacher_dir, mode):
    # the loop serves the float (RGB + depth) batch, flipped together; the loss takes the
    # condition from the depth and noises only the RGB
    from codi_lib.training.config import ConditionalConfig
    from codi_lib.training.students import train_conditional
    x = torch.nn.functional.avg_pool2d(training_tensor("depth", "val")[:8], 2)  # tiny teacher: 16 px
    cfg = ConditionalConfig(mode=mode, task="depth", teacher=str(tiny_teacher_dir))
    cfg.train.max_steps, cfg.train.batch_size, cfg.train.sample_every = 1, 4, 0
    assert train_conditional(cfg, tmp_path / mode, images=x, progress=False).step == 1


def test_teacher_data_scenes_and_lesson_images():
    from codi_lib.course.widgets.frames import lesson_images
    from codi_lib.training.config import TeacherConfig
    from codi_lib.training.teacher import load_training_images
    imgs = load_training_images(TeacherConfig(data="scenes-fit"))
    assert imgs.dtype == torch.uint8 and imgs.shape[1:] == (3, 32, 32)
    assert len(imgs) == len(load_scenes("fit"))
    x, cond, names = lesson_images((0, 2), "depth")
    assert x.shape == (2, 3, 32, 32) and cond.shape == (2, 1, 32, 32)
    assert names == ("scene 0", "scene 16")
