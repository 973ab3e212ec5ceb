"""A dataset made with one user's camera: the camera of a calibration file for every sample
(``spikesim generate --camera-maps CAL.npz``; physics.md §4b)."""

from __future__ import annotations

import dataclasses

from ..camera_maps import profile_from_calibration
from ..config import to_mapping
from .config import DatasetConfig, load_dataset_config


def with_camera_maps(config: DatasetConfig, path) -> DatasetConfig:
    """``config`` with ``camera_mode: fixed`` and, as its camera, the camera of the
    calibration file ``path`` (:func:`spikesim.camera_maps.profile_from_calibration` on the
    config's camera: threshold noise, readout rate and pitch are the config's).

    The maps must be of the dataset's size (``width`` x ``height``): a real camera is not
    cropped. ``sample.yaml`` and the manifest record the file (``camera.maps``, its
    ``maps_sha256``); every sample's ``camera.npz`` holds the maps it used.
    """
    base = dataclasses.replace(config.camera, width=config.width, height=config.height)
    profile = profile_from_calibration(path, base, "dataset")
    return load_dataset_config(config, camera_mode="fixed", camera=to_mapping(profile))
