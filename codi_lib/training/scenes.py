"""Procedural 3-D scenes with exact depth: the data of the depth-to-image task.

A scene is a ground plane (y = 0) and 1-4 primitives (spheres, boxes, cylinders, cones,
tori) with random colours, sizes and poses, a directional light and a look-at camera.
:func:`render` ray-casts it in numpy at ``supersample`` x the output size (one ray per
sub-pixel, all rays of an image at once), shades each hit with Lambert + Blinn-Phong
specular and a shadow ray towards the light, and area-averages each ``supersample`` x
``supersample`` block: edges come out anti-aliased and the depth of a pixel is the mean
camera-space z (distance along the optical axis, not along the ray) of its sub-pixels.
Rays that miss everything (the sky), and ground hits beyond it, get the fixed far depth
:data:`Z_FAR`. Tori are found by sphere tracing their distance function; the other
primitives by solving their quadrics exactly. Everything is a pure function of the scene
seed (:func:`random_scene`), so ``scripts/build_scenes.py`` rebuilds the arrays of ``data/scenes32.npz``
exactly. Introduced with the depth task in ``notebooks/04_adding_a_condition.ipynb``;
data, no paper equation.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

GENERATOR_VERSION = 1   # bump when a change alters any rendered byte
Z_FAR = 15.0            # camera-space depth of the sky and of ground beyond it
KINDS = ("sphere", "box", "cylinder", "cone", "torus")
EPS = 1e-4


@dataclass
class Primitive:
    """One object in its own frame, placed by ``rotation`` (3x3, local -> world) and
    ``centre``. ``size``: sphere (r,), box (hx, hy, hz) half-extents, cylinder (r, h)
    and cone (r, h) with axis y over y in [-h, h] (cone apex at +h), torus (R, r) around
    the y axis. ``colour`` RGB in [0, 1]; ``specular`` strength and ``shininess`` of
    the Blinn-Phong highlight."""
    kind: str
    centre: np.ndarray
    rotation: np.ndarray
    size: tuple
    colour: np.ndarray
    specular: float = 0.4
    shininess: float = 32.0


@dataclass
class Scene:
    """Camera (position, look-at target, up, vertical field of view in degrees), light
    direction (towards the light), ground and sky colours, and the primitives."""
    eye: np.ndarray
    target: np.ndarray
    light: np.ndarray
    ground: np.ndarray
    sky: np.ndarray                # (2, 3): horizon colour, zenith colour
    primitives: list = field(default_factory=list)
    up: np.ndarray = field(default_factory=lambda: np.array([0.0, 1.0, 0.0]))
    fov: float = 40.0
    checker: float = 0.0           # ground checker contrast (0 = plain)


def _unit(v):
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _quadratic(a, b, c):
    """Both roots (t0 <= t1) of a t^2 + 2 b t + c = 0; NaN where there is none."""
    a = np.where(np.abs(a) < 1e-12, 1e-12, a)
    disc = b * b - a * c
    root = np.sqrt(np.where(disc >= 0, disc, np.nan))
    t0, t1 = (-b - root) / a, (-b + root) / a
    return np.minimum(t0, t1), np.maximum(t0, t1)


def _first(cands):
    """The nearest positive candidate over a list of (t, normal): (t, normal), t = inf
    where none is positive."""
    t = np.full(cands[0][0].shape, np.inf)
    n = np.zeros(t.shape + (3,))
    for tc, nc in cands:
        ok = np.isfinite(tc) & (tc > EPS) & (tc < t)
        t = np.where(ok, tc, t)
        n = np.where(ok[:, None], nc, n)
    return t, n


def _sphere(o, d, size):
    (r,) = size
    t0, t1 = _quadratic((d * d).sum(1), (o * d).sum(1), (o * o).sum(1) - r * r)
    return _first([(t0, o + t0[:, None] * d), (t1, o + t1[:, None] * d)])


def _box(o, d, size):
    h = np.asarray(size)
    with np.errstate(divide="ignore", invalid="ignore"):
        dd = np.where(np.abs(d) < 1e-12, 1e-12, d)
        ta, tb = (-h - o) / dd, (h - o) / dd
    tnear, tfar = np.minimum(ta, tb), np.maximum(ta, tb)
    t0, t1 = tnear.max(1), tfar.min(1)
    hit = t1 >= np.maximum(t0, EPS)
    eye = np.eye(3)
    n0 = eye[tnear.argmax(1)] * -np.sign(dd[np.arange(len(d)), tnear.argmax(1)])[:, None]
    n1 = eye[tfar.argmin(1)] * np.sign(dd[np.arange(len(d)), tfar.argmin(1)])[:, None]
    return _first([(np.where(hit, t0, np.nan), n0), (np.where(hit, t1, np.nan), n1)])


def _caps(o, d, r, ys, normals_y):
    out = []
    with np.errstate(divide="ignore", invalid="ignore"):
        for y, ny in zip(ys, normals_y):
            t = (y - o[:, 1]) / np.where(np.abs(d[:, 1]) < 1e-12, 1e-12, d[:, 1])
            p = o + t[:, None] * d
            ok = p[:, 0] ** 2 + p[:, 2] ** 2 <= r * r
            out.append((np.where(ok, t, np.nan), np.broadcast_to([0.0, ny, 0.0], d.shape)))
    return out


def _cylinder(o, d, size):
    r, h = size
    a = d[:, 0] ** 2 + d[:, 2] ** 2
    b = o[:, 0] * d[:, 0] + o[:, 2] * d[:, 2]
    c = o[:, 0] ** 2 + o[:, 2] ** 2 - r * r
    cands = []
    for t in _quadratic(a, b, c):
        p = o + t[:, None] * d
        cands.append((np.where(np.abs(p[:, 1]) <= h, t, np.nan), p * [1, 0, 1]))
    return _first(cands + _caps(o, d, r, (h, -h), (1.0, -1.0)))


def _cone(o, d, size):
    r, h = size
    k2 = (r / (2 * h)) ** 2
    q, dq = h - o[:, 1], -d[:, 1]          # distance below the apex along the axis
    a = d[:, 0] ** 2 + d[:, 2] ** 2 - k2 * dq * dq
    b = o[:, 0] * d[:, 0] + o[:, 2] * d[:, 2] - k2 * q * dq
    c = o[:, 0] ** 2 + o[:, 2] ** 2 - k2 * q * q
    cands = []
    for t in _quadratic(a, b, c):
        p = o + t[:, None] * d
        n = np.stack([p[:, 0], k2 * (h - p[:, 1]), p[:, 2]], 1)
        cands.append((np.where(np.abs(p[:, 1]) <= h, t, np.nan), n))
    return _first(cands + _caps(o, d, r, (-h,), (-1.0,)))


def _torus(o, d, size, steps: int = 96):
    """Sphere tracing of the torus distance |(sqrt(x^2+z^2) - R, y)| - r, started at its
    bounding sphere; a ray counts as a hit once the distance is below 1e-4 r."""
    big, small = size
    t_in, t_out = _quadratic((d * d).sum(1), (o * d).sum(1), (o * o).sum(1) - (big + small) ** 2)
    t = np.where(np.isfinite(t_in), np.maximum(t_in, 0.0), np.inf)
    active = np.isfinite(t) & (t_out > 0)
    hit = np.zeros(len(d), bool)
    for _ in range(steps):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        p = o[idx] + t[idx, None] * d[idx]
        sd = np.hypot(np.hypot(p[:, 0], p[:, 2]) - big, p[:, 1]) - small
        done = sd < 1e-4 * small
        hit[idx[done]] = True
        t[idx] += np.where(done, 0.0, sd)
        active[idx[done | (t[idx] > t_out[idx])]] = False
    t = np.where(hit, t, np.inf)
    p = o + np.where(np.isfinite(t), t, 0.0)[:, None] * d
    ring = np.hypot(p[:, 0], p[:, 2])[:, None].clip(1e-9)
    n = p - big * p * [1, 0, 1] / ring
    return t, n


_INTERSECT = {"sphere": _sphere, "box": _box, "cylinder": _cylinder, "cone": _cone,
              "torus": _torus}


def intersect(prim: Primitive, origins, dirs):
    """Nearest hit of world rays (N, 3) with ``prim``: (t (N,), unit world normal (N, 3));
    t = inf for a miss. Rays are moved into the primitive's frame (a rotation keeps t)."""
    o = (np.broadcast_to(origins, dirs.shape) - prim.centre) @ prim.rotation
    t, n = _INTERSECT[prim.kind](o, dirs @ prim.rotation, prim.size)
    n = n @ prim.rotation.T
    return t, n / np.linalg.norm(n, axis=1, keepdims=True).clip(1e-12)


def camera_rays(scene: Scene, size: int):
    """One ray per pixel centre of a ``size`` x ``size`` pinhole image (row 0 at the top):
    (unit directions (size*size, 3), forward axis (3,)). Camera-space z of a point at
    ray parameter t is t * (direction . forward)."""
    fwd = _unit(scene.target - scene.eye)
    right = _unit(np.cross(fwd, scene.up))
    up = np.cross(right, fwd)
    half = math.tan(math.radians(scene.fov) / 2)
    c = ((np.arange(size) + 0.5) / size * 2 - 1) * half
    u, v = np.meshgrid(c, -c)               # u: right, v: up
    d = fwd + u.reshape(-1, 1) * right + v.reshape(-1, 1) * up
    return _unit(d), fwd


def _shadowed(scene: Scene, points, normals):
    """Whether the light is blocked by a primitive (the ground casts no shadow)."""
    o = points + 1e-3 * normals
    dirs = np.broadcast_to(scene.light, points.shape)
    blocked = np.zeros(len(points), bool)
    for prim in scene.primitives:
        blocked |= np.isfinite(intersect(prim, o, dirs)[0])
    return blocked


def _shade(scene, dirs, albedo, normals, spec, shininess, lit):
    """Ambient + Lambert + Blinn-Phong, the light scaled by ``lit`` (0 in shadow)."""
    n = np.where(((normals * dirs).sum(1) > 0)[:, None], -normals, normals)  # face the eye
    lam = (n @ scene.light).clip(0)
    half = _unit(scene.light - dirs)
    highlight = ((n * half).sum(1).clip(0) ** shininess) * (lam > 0)
    ambient = 0.25
    rgb = albedo * (ambient + (1 - ambient) * (lit * lam)[:, None])
    return rgb + (spec * lit * highlight)[:, None]


def render(scene: Scene, size: int = 32, supersample: int = 4):
    """Ray-cast ``scene`` at ``size * supersample`` pixels and area-average to ``size``.

    Returns (rgb float32 (size, size, 3) in [0, 1], depth float32 (size, size)): the
    colour is the mean of the sub-pixels' shaded colours (gamma 1/2.2 applied per
    sub-pixel), the depth the mean of their camera-space z, with :data:`Z_FAR` for sky
    sub-pixels and z clipped to :data:`Z_FAR`."""
    hi = size * supersample
    dirs, fwd = camera_rays(scene, hi)
    t = np.full(len(dirs), np.inf)
    normals = np.zeros_like(dirs)
    owner = np.full(len(dirs), -1)              # -1 ground, k: primitive k
    with np.errstate(divide="ignore", invalid="ignore"):
        tg = np.where(dirs[:, 1] < -1e-9, -scene.eye[1] / dirs[:, 1], np.inf)
    t, normals[:] = np.where(tg > 0, tg, np.inf), [0.0, 1.0, 0.0]
    for k, prim in enumerate(scene.primitives):
        tk, nk = intersect(prim, scene.eye, dirs)
        closer = tk < t
        t, owner = np.where(closer, tk, t), np.where(closer, k, owner)
        normals[closer] = nk[closer]
    z = t * (dirs @ fwd)
    hit = np.isfinite(t) & (z < Z_FAR)
    sky = scene.sky[0] + (scene.sky[1] - scene.sky[0]) * dirs[:, 1:2].clip(0, 1) ** 0.5
    rgb = sky.copy()
    idx = np.flatnonzero(hit)
    p = scene.eye + t[idx, None] * dirs[idx]
    ok = owner[idx]
    table = [scene.ground] + [pr.colour for pr in scene.primitives]
    albedo = np.stack(table)[ok + 1]
    if scene.checker:
        cell = (np.floor(p[:, 0] / 0.5) + np.floor(p[:, 2] / 0.5)) % 2
        albedo = albedo * np.where(ok < 0, 1 - scene.checker * cell, 1.0)[:, None]
    spec = np.array([0.1] + [pr.specular for pr in scene.primitives])[ok + 1]
    shine = np.array([8.0] + [pr.shininess for pr in scene.primitives])[ok + 1]
    lit = 1.0 - _shadowed(scene, p, normals[idx])
    rgb[idx] = _shade(scene, dirs[idx], albedo, normals[idx], spec, shine, lit)
    rgb = rgb.clip(0, 1) ** (1 / 2.2)
    depth = np.where(hit, z, Z_FAR)
    s = supersample
    rgb = rgb.reshape(size, s, size, s, 3).mean((1, 3))
    depth = depth.reshape(size, s, size, s).mean((1, 3))
    return rgb.astype(np.float32), depth.astype(np.float32)


def _rotation(rng, kind):
    """A pose: yaw about y for everything, plus a random tilt for tori and a lying
    (90 degree) pose for some cylinders."""
    def rot(axis, a):
        c, s = math.cos(a), math.sin(a)
        i, j = [(1, 2), (2, 0), (0, 1)][axis]
        m = np.eye(3)
        m[i, i], m[i, j], m[j, i], m[j, j] = c, -s, s, c
        return m
    r = rot(1, rng.uniform(0, 2 * math.pi))
    if kind == "torus":
        r = r @ rot(0, rng.uniform(0, math.pi / 2))
    if kind == "cylinder" and rng.random() < 0.3:
        r = r @ rot(0, math.pi / 2)
    return r


def _random_primitive(rng, kind, xz):
    s = rng.uniform(0.4, 0.9)
    rot = _rotation(rng, kind)
    if kind == "sphere":
        size = (s,)
    elif kind == "box":
        size = tuple(s * rng.uniform(0.6, 1.2, 3))
    elif kind == "torus":
        size = (s, s * rng.uniform(0.25, 0.45))
    else:
        size = (s * rng.uniform(0.7, 1.1), s * rng.uniform(0.6, 1.3))
    # lift the object so its lowest point touches the ground
    probe = {"sphere": lambda: size[0],
             "box": lambda: np.abs(rot[1] * np.asarray(size)).sum(),
             "torus": lambda: size[0] * math.hypot(rot[1, 0], rot[1, 2]) + size[1],
             }.get(kind, lambda: abs(rot[1, 1]) * size[1] + math.hypot(rot[1, 0], rot[1, 2]) * size[0])
    centre = np.array([xz[0], probe(), xz[1]])
    hsv = (rng.random(), rng.uniform(0.45, 0.9), rng.uniform(0.55, 1.0))
    return Primitive(kind, centre, rot, size, _hsv_to_rgb(*hsv),
                     rng.uniform(0.1, 0.6), float(rng.choice([8.0, 16.0, 32.0, 64.0])))


def _hsv_to_rgb(h, s, v):
    k = (np.array([5.0, 3.0, 1.0]) + h * 6) % 6
    return v - v * s * np.clip(np.minimum(k, 4 - k), 0, 1)


def random_scene(seed: int) -> Scene:
    """The scene of ``seed`` (a pure function of it): 1-4 primitives of random kinds on
    non-overlapping footprints in [-2, 2]^2, a camera at distance 4.5-7 from a target near
    the origin, elevation 8-35 degrees, any azimuth, and a light 25-70 degrees high."""
    rng = np.random.default_rng([GENERATOR_VERSION, int(seed)])
    prims, spots = [], []
    for _ in range(int(rng.integers(1, 5))):
        for _ in range(20):   # a free spot, else skip the object
            xz = rng.uniform(-2, 2, 2)
            if all(np.hypot(*(xz - q)) > 1.7 for q in spots):
                spots.append(xz)
                prims.append(_random_primitive(rng, KINDS[int(rng.integers(len(KINDS)))], xz))
                break
    el, az = math.radians(rng.uniform(8, 35)), rng.uniform(0, 2 * math.pi)
    dist = rng.uniform(4.5, 7)
    target = np.array([rng.uniform(-0.5, 0.5), rng.uniform(0.3, 0.8), rng.uniform(-0.5, 0.5)])
    eye = target + dist * np.array([math.cos(el) * math.sin(az), math.sin(el),
                                    math.cos(el) * math.cos(az)])
    lel, laz = math.radians(rng.uniform(25, 70)), rng.uniform(0, 2 * math.pi)
    light = np.array([math.cos(lel) * math.sin(laz), math.sin(lel), math.cos(lel) * math.cos(laz)])
    ground = _hsv_to_rgb(rng.random(), rng.uniform(0.05, 0.35), rng.uniform(0.5, 0.85))
    sky = np.stack([_hsv_to_rgb(0.55 + rng.uniform(-0.05, 0.05), 0.15, 0.95),
                    _hsv_to_rgb(0.6 + rng.uniform(-0.05, 0.05), rng.uniform(0.35, 0.6), 0.9)])
    return Scene(eye, target, light, ground, sky, prims, fov=float(rng.uniform(35, 50)),
                 checker=float(rng.choice([0.0, 0.15])))


def render_seeds(seeds, size: int = 32, supersample: int = 4):
    """Render the scenes of ``seeds``: (images uint8 (N, size, size, 3), depth float32
    (N, size, size))."""
    out = [render(random_scene(s), size, supersample) for s in seeds]
    rgb = np.stack([o[0] for o in out]) if out else np.zeros((0, size, size, 3))
    depth = np.stack([o[1] for o in out]) if out else np.zeros((0, size, size), np.float32)
    return (rgb * 255).round().astype(np.uint8), depth.astype(np.float32)
