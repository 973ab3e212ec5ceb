"""Scenes that change over time: focus sweep, video frames, camera translation."""

import numpy as np
import pytest

from spikesim.config import Lens
from spikesim.errors import InputError
from spikesim.optics import sensor_distance
from spikesim.timevary import camera_translation, focus_sweep, parallax_shift_px

PITCH = 20e-6


def _dots(h=40, w=80):
    img = np.zeros((h, w), np.float32)
    img[10, 20] = img[30, 60] = 1.0
    return img


def _centroid_x(frame, rows):
    band = frame[rows]
    xs = np.arange(band.shape[1])
    return float((band.sum(0) * xs).sum() / band.sum())


def test_parallax_is_the_pinhole_closed_form():
    lens = Lens(focal_length=0.025, f_number=2.0, focus_distance=1.5)
    d = parallax_shift_px(np.array([1.0, 2.0]), lens, PITCH, 0.01)
    vf = 0.025 * 1.5 / (1.5 - 0.025)
    np.testing.assert_allclose(d, [-vf * 0.01 / (1.0 * PITCH), -vf * 0.01 / (2.0 * PITCH)])
    assert sensor_distance(lens) == pytest.approx(vf)


def test_translation_moves_near_points_more_than_far_ones():
    """A dot at 1 m and a dot at 3 m, camera moving 1 mm to the right over 5 key frames:
    each dot's image moves left by v_f t / (s p) (12.7 px and 4.2 px), measured by its
    centroid in the last frame (focused at each dot's plane would blur it; the centroid is
    blur-invariant)."""
    lens = Lens(focal_length=0.025, f_number=8.0, focus_distance=1.5)
    img = _dots()
    depth = np.full(img.shape, 3.0)
    depth[:20] = 1.0                       # the upper dot is near
    frames = camera_translation(img, depth, lens, PITCH, 300.0, (0.001, 0.0), frames=5)
    assert frames.shape == (5, 40, 80)
    expected = parallax_shift_px(np.array([1.0, 3.0]), lens, PITCH, 0.001)
    near = _centroid_x(frames[-1], slice(0, 20)) - _centroid_x(frames[0], slice(0, 20))
    far = _centroid_x(frames[-1], slice(20, 40)) - _centroid_x(frames[0], slice(20, 40))
    assert near == pytest.approx(expected[0], abs=0.3)
    assert far == pytest.approx(expected[1], abs=0.3)
    assert abs(near) > 2.5 * abs(far)
    # total light is conserved while both dots stay in view
    np.testing.assert_allclose(frames.sum(axis=(1, 2)), frames[0].sum(), rtol=1e-3)


def test_focus_sweep_changes_which_plane_is_sharp():
    lens = Lens(focal_length=0.025, f_number=2.0, focus_distance=1.5)
    img = _dots()
    depth = np.full(img.shape, 3.0)
    depth[:20] = 1.0
    frames = focus_sweep(img, depth, lens, PITCH, 300.0, [1.0, 3.0])
    peak_near = frames[:, :20].max(axis=(1, 2))
    peak_far = frames[:, 20:].max(axis=(1, 2))
    assert peak_near[0] > 3 * peak_near[1] and peak_far[1] > 3 * peak_far[0]


def test_bad_motion_inputs():
    lens = Lens()
    with pytest.raises(InputError, match="offset_m"):
        camera_translation(_dots(), np.full((40, 80), 2.0), lens, PITCH, 300.0, "far")
    with pytest.raises(InputError, match="frames"):
        camera_translation(_dots(), np.full((40, 80), 2.0), lens, PITCH, 300.0, (0, 0), 1)
    with pytest.raises(InputError, match="focus_distances"):
        focus_sweep(_dots(), np.full((40, 80), 2.0), lens, PITCH, 300.0, [0.01])


def test_render_cli_with_motion_writes_a_changing_stream(tmp_path):
    """`spikesim render --translate-m`: the spikes of the first and last quarter of the
    capture differ (the scene moved); a static render of the same scene does not."""
    from click.testing import CliRunner

    from cli.spikesim_cli import main
    from spikesim.stream import SpikeStream

    cam = tmp_path / "cam.yaml"
    cam.write_text("width: 64\nheight: 48\ntheta_sd: 0.0\n")
    quarters = {}
    for name, extra in (("moving", ["--translate-m", "0.1,0"]), ("static", [])):
        out = tmp_path / name
        res = CliRunner().invoke(main, ["render", "scene:dead_leaves", "--camera", str(cam),
                                        "--steps", "400", "-o", str(out)] + extra)
        assert res.exit_code == 0, res.output
        s = SpikeStream.read_dat(out / "capture.dat")
        quarters[name] = np.abs(s.rate(0, 100) - s.rate(300, 400)).mean()
    assert quarters["moving"] > 3 * quarters["static"]
    res = CliRunner().invoke(main, ["render", "scene:dead_leaves", "--camera", str(cam),
                                    "--translate-m", "0.02", "-o", str(tmp_path / "bad")])
    assert res.exit_code == 2 and "--translate-m" in res.output
