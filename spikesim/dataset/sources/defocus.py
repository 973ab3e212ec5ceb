"""The synthetic-blur path of the scene sources: a sharp image with a depth map, the
drawn optics (:func:`~spikesim.dataset.draws.sample_geometry`) and the renderer.

Steps 2-4 of :mod:`spikesim.dataset` ("Sampling") for any source that supplies a sharp
image and a depth map (procedural scenes, photographs with a random depth).
"""

from __future__ import annotations

import numpy as np

from ...config import to_mapping
from ..draws import sample_geometry, stratum
from .base import Content, rounded


def defocused_content(config, index: int, rng, image, depth, head: dict) -> Content:
    """Content of a sharp ``image`` (H, W, linear [0, 1]) with the scene's own ``depth``
    (H, W, metres): geometry drawn from ``rng`` (the sample's parameter stream; stratified
    by :func:`~spikesim.dataset.draws.stratum` when ``config.stratified``), then the
    defocus. ``head``: the source's first sample.yaml entries (``scene_kind`` ...)."""
    from ...render import render_defocus

    geo = sample_geometry(config, depth, rng, stratum(config, index) if config.stratified else None)
    image = np.asarray(image, dtype=np.float32)
    defoc = render_defocus(image, geo.depth, geo.lens, config.camera.pixel_pitch)
    params = {
        **head,
        "lens": to_mapping(geo.lens),
        "render_layers": int(defoc.layers),
        "target": {"side": geo.target_side,
                   "sigma": None if geo.target_sigma is None else rounded(geo.target_sigma),
                   "coc": rounded(geo.target_coc), "coc_spread": rounded(geo.coc_spread),
                   "met": bool(geo.met), "tries": int(geo.tries)},
    }
    return Content(image, np.asarray(defoc.irradiance, np.float32), geo.depth.astype(np.float32),
                   np.asarray(defoc.sigma, np.float32), np.asarray(defoc.coc, np.float32), params)
