"""Fixed-pattern noise of one simulated camera (physics.md §4, §4b).

A camera is a :class:`~spikesim.config.CameraProfile` plus an ``fpn_seed``: the maps
are drawn from the profile's distributions with generators seeded by ``fpn_seed`` and
a purpose of :mod:`spikesim.rng` only, so ``render``, ``uniform`` and ``generate`` given
the same pair use the same maps, whatever the thread or worker count.

Maps are upright ``(H, W)`` (rows top-down). Each of gain and dark offset is a sum of
named components (:data:`STRUCTURE_COMPONENTS` plus the pixel part):

- ``gain`` relative gain ``g`` (photo-response non-uniformity)
  ``g = g_pixel + c[x] + r[y] + s(x, y)``: the pixel part ``g_pixel`` normal with mean 1
  and s.d. ``gain_sd`` (non-positive draws are redrawn, i.e. a normal truncated at 0);
  the column part ``c`` one normal value per column, s.d. ``gain_column_sd``; the row
  part ``r`` one per row, s.d. ``gain_row_sd``; the smooth shading ``s``, white noise
  smoothed by a Gaussian of s.d. ``shading_scale`` px and scaled to s.d.
  ``gain_shading_sd`` over the frame. With structure the sum is clipped below at
  ``settings.GAIN_FLOOR`` = 0.05 (5 s.d. below 1 for a total s.d. of 0.19: unreachable
  with the reference camera's 5.6 %). Then divided by its
  median over good pixels, so that the median over good pixels is exactly 1; 0 on dead
  pixels;
- ``dark`` dark-current-equivalent illuminance ``L_d`` in lux,
  ``dark_median * exp(z_pixel + c[x] + r[y] + s(x, y))`` with the log-s.d. ``dark_log_sd``
  (pixel), ``dark_column_sd``, ``dark_row_sd``, ``dark_shading_sd`` (lognormal with median
  ``dark_median`` when only the pixel part is set); hot pixels instead draw ``L_d``
  uniformly in ``[hot_low, hot_high]`` (the dark offset's tail);
- ``hot``, ``dead`` bool masks of exactly ``round(fraction * H * W)`` pixels each,
  disjoint.

Generators: the pixel parts, the hot and dead pixels and the hot levels come from
``default_rng(SeedSequence([fpn_seed, rng.FPN_MAPS]))`` in a fixed order; each structured
component from its own ``default_rng(SeedSequence([fpn_seed, rng.FPN_STRUCTURE, i]))``
(``i`` its index in :data:`STRUCTURE_COMPONENTS`), so a white-noise camera (structured
parts 0) draws exactly the maps it drew before structure existed, and one component's
size never changes another's draw.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import rng, settings
from .atomic import save_npz
from .config import CameraProfile, to_mapping
from .errors import InputError

TRUTH_KEYS = ("gain", "dark", "hot", "dead", "k", "dead_time", "theta_sd")
# name -> (profile key of its s.d., kind); kind "column" is one value per column, "row" one
# per row, "shading" a smooth (H, W) field. The order is part of the seed contract.
STRUCTURE_COMPONENTS = {
    "gain_column": ("gain_column_sd", "column"),
    "gain_row": ("gain_row_sd", "row"),
    "gain_shading": ("gain_shading_sd", "shading"),
    "dark_column": ("dark_column_sd", "column"),
    "dark_row": ("dark_row_sd", "row"),
    "dark_shading": ("dark_shading_sd", "shading"),
}


@dataclass(frozen=True)
class FixedPattern:
    """The fixed-pattern maps of one camera, upright ``(H, W)``.

    Attributes
    ----------
    gain : (H, W) float32, relative gain, median 1 over good pixels, 0 on dead pixels
    dark : (H, W) float32, dark-equivalent illuminance ``L_d`` in lux (>= 0)
    hot : (H, W) bool, hot pixels (``L_d`` in ``[hot_low, hot_high]``)
    dead : (H, W) bool, dead pixels (``gain == 0``)
    """

    gain: np.ndarray
    dark: np.ndarray
    hot: np.ndarray
    dead: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        """``(H, W)``."""
        return tuple(self.gain.shape)

    @property
    def good(self) -> np.ndarray:
        """(H, W) bool: neither hot nor dead."""
        return ~(self.hot | self.dead)


def _generator(fpn_seed: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(fpn_seed), rng.FPN_MAPS]))


def check_fpn_seed(fpn_seed, param: str = "fpn_seed") -> int:
    """Return ``fpn_seed`` as an int after checking it is an integer >= 0."""
    if isinstance(fpn_seed, bool) or not isinstance(fpn_seed, (int, np.integer)) or fpn_seed < 0:
        raise InputError(param, fpn_seed, "an integer >= 0", "pass e.g. --fpn-seed 0")
    return int(fpn_seed)


def _check_profile(profile) -> None:
    if not isinstance(profile, CameraProfile):
        raise InputError("profile", type(profile).__name__, "a CameraProfile",
                         "load it with spikesim.config.load_yaml_config(path, CameraProfile)")


def smooth_field(gen: np.random.Generator, height: int, width: int,
                 scale: float) -> np.ndarray:
    """(H, W) float64 smooth random field of s.d. 1 over the frame: white noise smoothed by
    a Gaussian of s.d. ``scale`` px (reflecting borders), divided by its own s.d."""
    from scipy import ndimage

    field = ndimage.gaussian_filter(gen.standard_normal((height, width)), float(scale),
                                    mode="reflect", truncate=settings.SHADING_TRUNCATE)
    field -= field.mean()
    sd = float(field.std())
    return field / sd if sd > 0 else field


def structure_components(profile: CameraProfile, fpn_seed: int) -> dict:
    """The structured components of the camera ``(profile, fpn_seed)``.

    Returns ``{name: (H, W) float64}`` for the names of :data:`STRUCTURE_COMPONENTS` whose
    s.d. is not 0 (gain parts are relative, dark parts are in log units). Each is drawn
    from its own generator (module docstring), so it depends on its own size only.
    """
    fpn_seed = check_fpn_seed(fpn_seed)
    _check_profile(profile)
    h, w = profile.height, profile.width
    out = {}
    for index, (name, (key, kind)) in enumerate(STRUCTURE_COMPONENTS.items()):
        sd = float(getattr(profile, key))
        if sd == 0.0:
            continue
        gen = np.random.default_rng(np.random.SeedSequence(
            [fpn_seed, rng.FPN_STRUCTURE, index]))
        if kind == "column":
            part = np.broadcast_to(gen.standard_normal(w)[None, :], (h, w))
        elif kind == "row":
            part = np.broadcast_to(gen.standard_normal(h)[:, None], (h, w))
        else:
            part = smooth_field(gen, h, w, profile.shading_scale)
        out[name] = sd * np.asarray(part, dtype=np.float64)
    return out


def _summed(parts: dict, prefix: str):
    names = [n for n in parts if n.startswith(prefix)]
    if not names:
        return None
    total = parts[names[0]].copy()
    for n in names[1:]:
        total += parts[n]
    return total.ravel()


def draw_fixed_pattern(profile: CameraProfile, fpn_seed: int) -> FixedPattern:
    """Draw the fixed-pattern maps of the camera ``(profile, fpn_seed)``.

    Deterministic: the same profile and seed give the same maps, on any machine
    (numpy's PCG64 stream and its normal/uniform/permutation algorithms, scipy's
    Gaussian filter), whatever the thread or worker count.
    """
    fpn_seed = check_fpn_seed(fpn_seed)
    _check_profile(profile)
    h, w = profile.height, profile.width
    n = h * w
    gen = _generator(fpn_seed)
    gain = gen.normal(1.0, profile.gain_sd, n)
    bad = gain <= 0.0
    while bad.any():                       # truncated normal: redraw non-positive gains
        gain[bad] = gen.normal(1.0, profile.gain_sd, int(bad.sum()))
        bad = gain <= 0.0
    parts = structure_components(profile, fpn_seed)
    dark_structure = _summed(parts, "dark_")
    if dark_structure is None:
        dark = profile.dark_median * np.exp(profile.dark_log_sd * gen.standard_normal(n))
    else:
        dark = profile.dark_median * np.exp(profile.dark_log_sd * gen.standard_normal(n)
                                            + dark_structure)
    n_hot = int(round(profile.hot_fraction * n))
    n_dead = int(round(profile.dead_fraction * n))
    order = gen.permutation(n)
    hot = np.zeros(n, dtype=bool)
    dead = np.zeros(n, dtype=bool)
    hot[order[:n_hot]] = True
    dead[order[n_hot:n_hot + n_dead]] = True
    dark[hot] = gen.uniform(profile.hot_low, profile.hot_high, n_hot)
    gain_structure = _summed(parts, "gain_")
    if gain_structure is not None:
        gain = np.maximum(gain + gain_structure, settings.GAIN_FLOOR)
    good = ~(hot | dead)
    if good.any():
        gain = gain / np.median(gain[good])
    gain[dead] = 0.0
    return FixedPattern(gain=gain.reshape(h, w).astype(np.float32),
                        dark=dark.reshape(h, w).astype(np.float32),
                        hot=hot.reshape(h, w), dead=dead.reshape(h, w))


def save_truth(path, fpn: FixedPattern, profile: CameraProfile, overwrite: bool = False,
               fpn_seed: int | None = None):
    """Write the camera's true maps as ``.npz`` (formats.md ``truth.npz``), atomically.

    Keys: ``gain``, ``dark`` (lux), ``hot``, ``dead`` (bool), scalars ``k``
    (thresholds per lux per step), ``dead_time`` (steps), ``theta_sd`` (thresholds);
    plus ``profile`` (the camera profile as a YAML string) and, when given,
    ``fpn_seed``. Loads with ``numpy.load(allow_pickle=False)``.
    """
    return save_npz(path, overwrite=overwrite, what="truth",
                    **truth_arrays(fpn, profile, fpn_seed))


def truth_arrays(fpn: FixedPattern, profile: CameraProfile,
                 fpn_seed: int | None = None) -> dict:
    """The arrays of a ``truth.npz`` (see :func:`save_truth`), as it loads back."""
    import yaml

    arrays = {"gain": fpn.gain.astype(np.float32), "dark": fpn.dark.astype(np.float32),
              "hot": fpn.hot.astype(bool), "dead": fpn.dead.astype(bool),
              "k": np.array(profile.k, np.float64),
              "dead_time": np.array(profile.dead_time, np.int64),
              "theta_sd": np.array(profile.theta_sd, np.float64),
              "profile": np.array(yaml.safe_dump(to_mapping(profile), sort_keys=False))}
    if fpn_seed is not None:
        arrays["fpn_seed"] = np.array(fpn_seed, np.int64)
    return arrays


def load_truth(path) -> tuple[FixedPattern, dict]:
    """Read a ``truth.npz``: ``(FixedPattern, {"k", "dead_time", "theta_sd", ...})``.

    The dict holds the scalars (``k`` float, ``dead_time`` int, ``theta_sd`` float,
    and ``fpn_seed`` int when recorded).
    """
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in TRUTH_KEYS if k not in data.files]
            if missing:
                raise InputError("truth", str(path), "an .npz with keys " + ", ".join(TRUTH_KEYS),
                                 f"missing {', '.join(missing)}; write it with save_truth")
            fpn = FixedPattern(gain=data["gain"].astype(np.float32),
                               dark=data["dark"].astype(np.float32),
                               hot=data["hot"].astype(bool), dead=data["dead"].astype(bool))
            scalars = {"k": float(data["k"]), "dead_time": int(data["dead_time"]),
                       "theta_sd": float(data["theta_sd"])}
            if "fpn_seed" in data.files:
                scalars["fpn_seed"] = int(data["fpn_seed"])
    except (OSError, ValueError) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError("truth", str(path), "a readable .npz truth file",
                         f"check the path ({exc})") from None
    return fpn, scalars
