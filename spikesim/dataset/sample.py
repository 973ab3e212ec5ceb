"""One sample: computing it (content, exposure, camera), writing its files, reading it back.

Sample ``i`` is a pure function of ``(config, i)`` (and of the pictures its source reads):
the source's content (:mod:`.sources`), then the exposure and the camera drawn from the
sample's parameter stream, then the sensor. :class:`SampleMaker` makes the samples of one
config and keeps what they share; :func:`compute_sample` (in memory) and
:func:`build_sample` (files) make one; :func:`load_sample` reads one back as a
:class:`Sample`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from .. import settings
from ..camera import Camera
from ..config import CameraProfile, to_mapping
from ..errors import InputError
from ..inspect import shifted_window
from ..rng import SAMPLE_PARAMS, SAMPLE_SENSOR
from .bins import UNKNOWN, blur_bin, blur_bin_label, focus_side
from .draws import sample_camera, sample_seed_sequence, seed_int
from .sources import SOURCES, Content
from .sources.base import rounded

SAMPLE_FILES = ("spikes.dat", "spikes.dat.yaml", "sharp.png", "sharp_srgb.png", "defocused.png",
                "defocused_srgb.png", "maps.npz", "camera.npz", "sample.yaml", "preview.png")

_ENTRY_KEYS = ("id", "scene_kind", "focus_side", "blur_bin", "sigma_min", "sigma_median",
               "sigma_max", "coc_median", "depth_min", "depth_max", "illuminance", "lambda_p99",
               "fpn_seed", "sensor_seed")


@dataclass
class Sample:
    """One generated sample, read back.

    stream : SpikeStream ``(T, H, W)`` (memory-mapped ``spikes.dat``)
    sharp : (H, W) float32, linear scene value in [0, 1] (the target, from the 16-bit PNG)
    defocused : (H, W) float32, defocused value = irradiance / illuminance (16-bit PNG)
    depth, sigma, coc, irradiance : (H, W) float32 maps: metres, px, signed px, lux
    camera : dict of the camera's true maps (``gain, dark, hot, dead, k, dead_time, theta_sd``)
    params : the full ``sample.yaml``
    """

    path: Optional[Path]         # None for a sample made in memory (compute_sample)
    params: dict
    stream: object
    sharp: np.ndarray
    defocused: np.ndarray
    depth: np.ndarray
    sigma: np.ndarray
    coc: np.ndarray
    irradiance: np.ndarray
    camera: dict

    @property
    def id(self) -> int:
        return int(self.params["id"])

    @property
    def key_step(self) -> int:
        return int(self.params["key_step"])

    @property
    def illuminance(self) -> float:
        """Lux of a scene value of 1."""
        return float(self.params["illuminance"])

    @property
    def target_lambda(self) -> np.ndarray:
        """The network's target: ``k * illuminance * sharp``, charge per step of an ideal,
        FPN-free, in-focus pixel, (H, W) float32."""
        k = float(self.params["camera"]["k"])
        return (np.float32(k * self.illuminance) * self.sharp).astype(np.float32)


@dataclass
class _Made:
    """Everything one sample is written from."""

    content: Content
    irradiance: np.ndarray
    stream: object
    camera: Camera
    lam_target: float
    params: dict


class SampleMaker:
    """Makes the samples of one config, keeping what they share between them.

    config : a :class:`~spikesim.dataset.config.DatasetConfig`
    list_inputs : list the source's inputs (``Source.inputs``, e.g. its pictures) now, so a
        missing input fails here; ``False`` lists them on first use, where the samples
        are computed (a Dask worker reads its own ``image_dir``).
    inputs : the source's inputs already listed, to share between makers of configs that
        differ only in their camera (e.g. one :class:`~.sources.images.Pictures` whose
        decoded pictures every camera's maker reuses); ``None``: listed as above.

    The fixed camera (``camera_mode: fixed``) is made once, so its maps are drawn once.
    A maker is what a worker holds for a run; results do not depend on what it keeps.
    """

    def __init__(self, config, list_inputs: bool = True, inputs=None):
        self.config = config
        self._inputs, self._listed = inputs, inputs is not None
        self._fixed_camera = None
        if list_inputs:
            self._list_inputs()
        if config.camera_mode == "fixed" and config.camera.maps:
            # a camera read from a calibration file: read now, so a bad file fails before
            # anything is written and the workers get its maps with the maker
            _ = self._camera(*sample_camera(config, None, 0)).fpn

    def _list_inputs(self):
        if not self._listed:
            self._inputs = SOURCES[self.config.source].inputs(self.config)
            self._listed = True
        return self._inputs

    def _camera(self, profile: CameraProfile, fpn_seed: int) -> Camera:
        if self.config.camera_mode != "fixed":
            return Camera(profile, fpn_seed)
        if self._fixed_camera is None:
            self._fixed_camera = Camera(profile, fpn_seed)
        return self._fixed_camera

    def compute(self, index: int) -> _Made:
        """Sample ``index``'s content, exposure, camera and spikes, with its ``sample.yaml``."""
        config = self.config
        rng = np.random.default_rng(sample_seed_sequence(config.seed, index, SAMPLE_PARAMS))
        content = SOURCES[config.source].content(config, index, rng, self._list_inputs())
        lam_target = float(rng.uniform(*config.lambda_p99))
        profile, fpn_seed = sample_camera(config, rng, index)
        sensor_seed = seed_int(config.seed, index, SAMPLE_SENSOR)
        value = content.value
        p99 = float(np.percentile(value, settings.EXPOSURE_PERCENTILE))
        if not p99 > 0:
            raise InputError("scene", f"sample {index} ({content.params['scene_kind']})",
                             "a scene with light in it",
                             "the defocused scene is black at its 99th percentile")
        illuminance = lam_target / (profile.k * p99)
        irradiance = (value * np.float32(illuminance)).astype(np.float32)
        camera = self._camera(profile, fpn_seed)
        stream = camera.capture(irradiance, config.steps, sensor_seed)
        params = _sample_params(config, index, content, profile, fpn_seed, sensor_seed,
                                illuminance, lam_target, p99, stream)
        return _Made(content, irradiance, stream, camera, lam_target, params)

    def sample(self, index: int) -> "Sample":
        """Sample ``index`` made in memory (see :func:`compute_sample`)."""
        import yaml

        from ..images import as_png16

        made = self.compute(index)
        params = yaml.safe_load(yaml.safe_dump(made.params, sort_keys=False))
        return Sample(None, params, made.stream, as_png16(made.content.sharp),
                      as_png16(made.content.value), depth=made.content.depth,
                      sigma=made.content.sigma, coc=made.content.coc, irradiance=made.irradiance,
                      camera=made.camera.truth_arrays())

    def build(self, index: int, out) -> dict:
        """Sample ``index``'s files written into the existing directory ``out``; returns its
        manifest record (:func:`manifest_entry`)."""
        made = self.compute(index)
        write_sample(made, self.config, Path(out))
        return manifest_entry(made.params)


def compute_sample(config, index: int) -> Sample:
    """Sample ``index`` made in memory: equal, array for array, to what :func:`load_sample`
    reads back from :func:`build_sample`'s files (the images quantised as their 16-bit
    PNGs, ``params`` as its YAML), with ``path`` ``None`` and the stream in memory.

    Lists the source's inputs on each call; a caller making many samples of one config
    keeps a :class:`SampleMaker` instead.
    """
    return SampleMaker(config).sample(index)


def build_sample(config, index: int, out) -> dict:
    """Compute sample ``index`` and write its files into the existing directory ``out``.

    Returns the manifest summary of the sample (plain data). Deterministic: depends only
    on ``(config, index)``.
    """
    return SampleMaker(config).build(index, out)


def _stat(x, fn):
    x = np.asarray(x)
    return None if np.isnan(x).all() else rounded(fn(x))


def _sample_params(config, index: int, content: Content, profile: CameraProfile, fpn_seed: int,
                   sensor_seed: int, illuminance: float, lam_target: float, p99: float,
                   stream) -> dict:
    """The ``sample.yaml`` of a computed sample (plain data, in the file's key order)."""
    s_med = _stat(content.sigma, np.median)
    c_med = _stat(content.coc, np.median)
    known = s_med is not None
    extra = dict(content.params)
    return {
        "id": int(index),
        "source": config.source,
        "scene_kind": extra.pop("scene_kind"),
        "width": config.width, "height": config.height,
        "steps": config.steps, "key_step": config.key, "readout_hz": profile.readout_hz,
        **{k: extra.pop(k) for k in ("lens",)},
        "pixel_pitch": profile.pixel_pitch,
        "illuminance": float(illuminance),
        "lambda_p99": float(lam_target),
        "exposure_p99_value": rounded(p99),
        "depth_min": _stat(content.depth, np.min), "depth_median": _stat(content.depth, np.median),
        "depth_max": _stat(content.depth, np.max),
        "sigma_min": _stat(content.sigma, np.min), "sigma_median": s_med,
        "sigma_max": _stat(content.sigma, np.max),
        "coc_median": c_med,
        "focus_side": focus_side(float(np.median(content.sigma)), float(np.median(content.coc)))
        if known else UNKNOWN,
        "blur_bin": blur_bin_label(blur_bin(float(np.median(content.sigma)))) if known else UNKNOWN,
        **extra,
        "camera_mode": config.camera_mode,
        "fpn_seed": int(fpn_seed),
        "sensor_seed": int(sensor_seed),
        "camera": to_mapping(profile),
        "spikes": {"total": int(stream.counts().sum())},
    }


def write_sample(made: _Made, config, out: Path) -> None:
    """Write a computed sample's files (formats.md's sample directory) into ``out``."""
    from .. import images
    from ..atomic import save_npz, write_yaml

    content, stream, profile = made.content, made.stream, made.camera.profile
    stream.write_dat(out / "spikes.dat", overwrite=True,
                     provenance={"dataset": config.name, "sample": int(made.params["id"])})
    images.write_png16(out / "sharp.png", content.sharp)
    images.write_png_srgb(out / "sharp_srgb.png", content.sharp)
    images.write_png16(out / "defocused.png", content.value)
    images.write_png_srgb(out / "defocused_srgb.png", content.value)
    # float32 maps barely compress (about 10 %); stored plainly, they load and save faster
    save_npz(out / "maps.npz", compressed=False, depth=content.depth, sigma=content.sigma,
             coc=content.coc, irradiance=made.irradiance)
    made.camera.save_truth(out / "camera.npz", overwrite=True)
    w0, w1 = shifted_window(config.steps, config.key, settings.DATASET_PREVIEW_WINDOW)
    rate = stream.counts(w0, w1).astype(np.float32) / float(w1 - w0)
    rate_p99 = 1.0 / (profile.dead_time + 1.0 / min(made.lam_target, 1.0))
    images.write_png_srgb(out / "preview.png", rate / np.float32(rate_p99))
    write_yaml(out / "sample.yaml", made.params)


def manifest_entry(params: dict) -> dict:
    """The compact per-sample record the manifest lists (the full one is ``sample.yaml``)."""
    entry = {k: params[k] for k in _ENTRY_KEYS}
    lens = params["lens"] or {}
    entry.update(focal_length=lens.get("focal_length"), f_number=lens.get("f_number"),
                 focus_distance=lens.get("focus_distance"), camera_k=params["camera"]["k"],
                 dead_time=params["camera"]["dead_time"], target_met=params["target"]["met"])
    return entry


def load_sample(sample_dir) -> Sample:
    """Read one sample directory (``DIR/samples/000000``) back; see :class:`Sample`."""
    import yaml

    from ..images import read_image
    from ..stream import SpikeStream

    d = Path(sample_dir)
    missing = [n for n in SAMPLE_FILES if not (d / n).is_file()]
    if missing:
        raise InputError("sample", str(d), "a sample directory written by `spikesim generate`",
                         f"missing {', '.join(missing)}; check the path")
    params = yaml.safe_load((d / "sample.yaml").read_text(encoding="utf-8"))
    size = (int(params["width"]), int(params["height"]))
    stream = SpikeStream.read_dat(d / "spikes.dat", size=size, strict=True)
    with np.load(d / "maps.npz", allow_pickle=False) as z:
        maps = {k: z[k] for k in ("depth", "sigma", "coc", "irradiance")}
    with np.load(d / "camera.npz", allow_pickle=False) as z:
        camera = {k: z[k] for k in z.files}
    return Sample(d, params, stream, read_image(d / "sharp.png"), read_image(d / "defocused.png"),
                  camera=camera, **maps)
