"""Generated datasets: defocused spike captures with their targets (``spikesim generate``).

A dataset is a directory (:mod:`.directory`: ``manifest.yaml``, ``config.yaml``,
``samples/000000/`` ..., ``images.yaml`` for photographs) that :func:`generate_dataset`
fills from a :class:`DatasetConfig`.

Modules, one job each:

- :mod:`.config`: :class:`DatasetConfig` and its validation;
- :mod:`.bins`: blur bins and focus sides (how a sample is classed);
- :mod:`.draws`: per-sample draws (seed streams, camera, optics geometry, strata);
- :mod:`.sources`: what a sample shows (procedural, images, dpdd, mixed) and the registry
  ``SOURCES`` (a new source: one module and one registry line);
- :mod:`.layouts`: depth layouts for photographs; :mod:`.shares`: stated proportions
  over sample indices;
- :mod:`.sample`: one sample computed, written, read back;
- :mod:`.directory`: the directory's life cycle and manifest;
- :mod:`.runners`: this process, local worker processes, Dask;
- :mod:`.generate`: a run, from config to complete directory.

Reproducibility
---------------
Everything sample ``i`` holds is a pure function of ``(config, i)`` (and, for the
``images`` and ``dpdd`` sources, of the pictures read): its random numbers
come from ``numpy.random.SeedSequence(config.seed, spawn_key=(i, purpose))``, one
independent stream per purpose (parameters, scene, sensor noise, camera). The same
config therefore gives the same bytes with one worker, several worker processes, or a
Dask cluster, and whether or not the run was interrupted and resumed.

Sampling (one sample)
---------------------
1. A scene kind (``scene_kinds`` / ``scene_weights``) and a procedural scene with a
   depth map (:func:`spikesim.scenes.make_scene`).
2. A focus side, front / on / back of the focal plane, with ``side_weights``. Front
   and back samples draw a target median blur ``sigma`` from ``sigma_range``
   (log-uniform by default); on-focus samples a median signed CoC within
   ``±on_focus_coc`` px. With ``stratified: true`` (test sets) sample ``i`` instead
   takes side ``("front", "on", "back")[i % 3]`` and, for front/back, cycles over the
   blur bins of ``sigma_range`` (:func:`stratum`): exact proportions.
3. A lens (focal length, f-number, log-uniform), a CoC spread across the scene
   (``coc_spread``, px) and a median scene depth (log-uniform within ``depth_range``).
   The scene's depth map is remapped affinely in inverse depth (order, occlusions and
   planarity are preserved) so that its median and spread are the drawn ones, and the
   focus distance is solved in closed form so that the median signed CoC is the target.
4. The draw is kept when the realised focus side and blur bin (median sigma in
   [0, 1), [1, 2), [2, 4), [4, inf) px) are the target's; otherwise step 3 is redrawn
   (at most ``settings.DATASET_MAX_TRIES`` times; then the closest draw is kept and
   ``target.met: false`` says so in ``sample.yaml`` and the manifest).
5. Exposure: the illuminance is set so that the 99th percentile of the defocused
   irradiance gives the charge per step ``lambda_p99`` (drawn from its range) on an
   ideal pixel: ``illuminance = lambda_p99 / (k * p99(defocused value))``.
6. A camera: the fixed one (``camera_mode: fixed``: ``camera`` + ``fpn_seed`` for every
   sample) or one drawn per sample from ``camera_ranges`` (physics.md §4b), with its own
   ``fpn_seed``; its fixed pattern is saved as ground truth (``camera.npz``).

Sizes: ``width`` x ``height`` pixels (the crop), ``steps`` readout steps (>= 192, the
network's longest window), key step ``key_step`` (default the middle). The scene is
static over the steps.

Conventions: "front" means the scene (its median) is nearer than the focus distance
(negative signed CoC), "back" farther; "on" means a median sigma below 1 px.

``source: images`` uses photographs instead of procedural scenes (step 1): sample ``i``
is picture ``i % n`` of the ``n`` images in ``image_dir`` (sorted by name; hidden files
skipped; sRGB-decoded to linear luminance; each at least ``width`` x ``height``), a random
``height`` x ``width`` crop with random flips (and transpose, for square crops), given a
smooth random depth map (:func:`random_depth`: a tilted plane plus 1/f^3.5 noise in
inverse depth, independent of the picture); steps 2-6 are the procedural ones. Every
picture is checked before anything is written and listed with its sha256 in
``images.yaml``; a resumed dataset must find the same pictures. ``image_dir`` is read
where the samples are computed (relative to the working directory; a Dask cluster's
workers need it too). It is how natural images are put through the toolkit's own
defocus and sensor (``experiments/configs/natural_reds.yaml``: the REDS frames of
``../shared/data/interop``).

The keys ``crop_scale`` (crops at random scales, resampled in linear light) and
``depth_layouts`` (random depth, a plane, a slanted plane, near objects over a far plane:
:mod:`.layouts`) opt ``source: images`` into the natural-photograph recipe. ``source:
mixed`` (:mod:`.sources.mixed`) makes procedural scenes, photographs with that recipe and
DPDD pairs in the proportions of ``mix``, sample ``i``'s part a pure function of ``(mix,
seed, i)`` (:mod:`.shares`); ``examples/configs/natural_testset.yaml`` and
``natural_lowlight.yaml`` are the natural benchmarks.

``source: dpdd`` takes pair ``i % len(pairs)`` of a DPDD split instead: its real
defocused ``source`` image is the irradiance (no synthetic blur) and ``target`` the
label, cropped to ``height`` x ``width`` with random flips/transpose; depth, sigma and
CoC are unknown (NaN maps; ``focus_side``/``blur_bin`` ``unknown``, sigma stats null).
"""

from .bins import (BLUR_BIN_LABELS, FOCUS_SIDES, UNKNOWN, blur_bin, blur_bin_edges,
                   blur_bin_label, focus_side)
from .config import CameraRanges, DatasetConfig, config_mapping, load_dataset_config
from .directory import (CONFIG, IMAGES, MANIFEST, PARTIAL, SAMPLES, iter_samples,
                        manifest_summary, read_manifest, sample_name)
from .draws import (Geometry, random_depth, sample_camera, sample_geometry, sample_seed_sequence,
                    sigma_strata, stratum)
from .generate import generate_dataset
from .sample import (SAMPLE_FILES, Sample, SampleMaker, build_sample, compute_sample, load_sample,
                     manifest_entry)
from .sources import SOURCES, Content, Source, register_source

__all__ = [
    "BLUR_BIN_LABELS", "FOCUS_SIDES", "UNKNOWN", "blur_bin", "blur_bin_edges", "blur_bin_label",
    "focus_side",
    "CameraRanges", "DatasetConfig", "config_mapping", "load_dataset_config",
    "CONFIG", "IMAGES", "MANIFEST", "PARTIAL", "SAMPLES", "iter_samples", "manifest_summary",
    "read_manifest", "sample_name",
    "Geometry", "random_depth", "sample_camera", "sample_geometry", "sample_seed_sequence",
    "sigma_strata", "stratum",
    "generate_dataset",
    "SAMPLE_FILES", "Sample", "SampleMaker", "build_sample", "compute_sample", "load_sample",
    "manifest_entry",
    "SOURCES", "Content", "Source", "register_source",
]
