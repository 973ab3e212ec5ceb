"""Configuration files load into validated dataclasses; errors name the key path."""

from pathlib import Path

import pytest

from spikesim.config import CameraProfile, Lens, from_mapping, load_yaml_config, to_mapping
from spikesim.errors import ConfigError

CONFIGS = Path(__file__).resolve().parents[1] / "examples" / "configs"
EXPERIMENT_CONFIGS = Path(__file__).resolve().parents[1] / "experiments" / "configs"


def test_shipped_reference_camera_equals_the_defaults():
    """examples/configs/camera_reference.yaml restates physics.md §4b, as the defaults do."""
    assert load_yaml_config(CONFIGS / "camera_reference.yaml", CameraProfile) == CameraProfile()
    cam = CameraProfile()
    assert cam.k == pytest.approx(1 / 1700) and cam.size == (400, 250)   # issue 16's camera
    lens = load_yaml_config(CONFIGS / "lens_25mm_f2.yaml", Lens)
    assert lens == Lens() and lens.aperture == pytest.approx(0.0125)


def test_round_trip_through_plain_mapping():
    cam = CameraProfile(gain_sd=0.06, dead_time=0)
    assert from_mapping(CameraProfile, to_mapping(cam)) == cam


def test_unknown_key_suggests_the_nearest():
    with pytest.raises(ConfigError) as err:
        from_mapping(CameraProfile, {"gain_std": 0.05}, "camera")
    msg = str(err.value)
    assert msg.startswith("camera.gain_std") and "did you mean 'gain_sd'" in msg


@pytest.mark.parametrize("key, value, words", [
    ("f_number", 0, "f_number: got 0.0; expected a number > 0.0"),
    ("f_number", "fast", "f_number: got fast"),
    ("psf", "gausian", "did you mean 'gaussian'"),
    ("focus_distance", 0.01, "beyond the focal length"),
    ("sigma_floor", float("nan"), "finite"),
])
def test_bad_values_name_path_value_and_allowed(key, value, words):
    with pytest.raises(ConfigError) as err:
        from_mapping(Lens, {key: value}, "lens")
    assert f"lens.{key}" in str(err.value) and words in str(err.value)


def test_integer_fields_refuse_fractions_and_sizes_must_pack(tmp_path):
    with pytest.raises(ConfigError, match="camera.dead_time.*integer"):
        from_mapping(CameraProfile, {"dead_time": 1.5}, "camera")
    with pytest.raises(ConfigError, match="multiple of 8"):
        from_mapping(CameraProfile, {"width": 250, "height": 250}, "camera")
    bad = tmp_path / "bad.yaml"
    bad.write_text("k: [1, 2\n")
    with pytest.raises(ConfigError, match="fix the syntax"):
        load_yaml_config(bad, CameraProfile)
    with pytest.raises(ConfigError, match="an existing YAML file"):
        load_yaml_config(tmp_path / "missing.yaml", CameraProfile)


def _loader(name):
    from restore.despike.configs import model_config, train_config
    from spikesim.dataset import load_dataset_config

    if name.startswith("camera"):
        return lambda p: load_yaml_config(p, CameraProfile)
    if name.startswith("lens"):
        return lambda p: load_yaml_config(p, Lens)
    if name.startswith(("testset", "trainset", "smoke", "natural")):
        return load_dataset_config
    if name.startswith(("train_", "ablation_", "tried_")):
        return train_config
    if name.startswith("despike_"):
        return model_config
    if name.startswith("cascade_"):
        from restore.cascades.configs import stage_config

        return stage_config
    raise AssertionError(f"no loader known for a config named {name}")


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml"))
                         + sorted(EXPERIMENT_CONFIGS.glob("*.yaml")),
                         ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_every_shipped_config_validates(path):
    """Every example and experiment config loads through its validating loader (none may rot)."""
    assert _loader(path.name)(path) is not None


@pytest.mark.parametrize("mapping, words", [
    ({"gain_column_sd": 0.3}, "camera.gain_column_sd: got 0.3; expected a number in [0.0, 0.2]"),
    ({"dark_row_sd": -0.1}, "camera.dark_row_sd"),
    ({"shading_scale": 0}, "camera.shading_scale: got 0.0; expected a number in (0.0, 512.0]"),
    ({"maps_sha256": "abc", "maps": "x.npz"}, "camera.maps_sha256: got abc"),
    ({"maps_sha256": "a" * 64}, "a digest only with maps"),
])
def test_structured_keys_are_validated(mapping, words):
    """The fixed pattern's parts (physics.md §4b) are range-checked profile keys."""
    with pytest.raises(ConfigError) as err:
        from_mapping(CameraProfile, mapping, "camera")
    assert words in str(err.value)


def test_white_noise_cameras_stay_expressible():
    """An old white-noise profile (4 % gain, 3 lux dark, 1/800) is the reference with the
    structured parts at 0."""
    old = from_mapping(CameraProfile, {"k": 1 / 800, "gain_column_sd": 0, "gain_row_sd": 0,
                                       "gain_shading_sd": 0, "gain_sd": 0.04, "dark_median": 3.0,
                                       "dark_log_sd": 0.5, "hot_fraction": 0.001,
                                       "hot_low": 80.0, "hot_high": 300.0}, "camera")
    assert old.gain_column_sd == old.gain_row_sd == old.gain_shading_sd == 0
    assert from_mapping(CameraProfile, to_mapping(old)) == old
