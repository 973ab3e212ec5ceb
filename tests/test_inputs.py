"""User inputs: image + depth map, image at one depth, disparity, the DPDD layout."""

import imageio.v3 as iio
import numpy as np
import pytest

from spikesim.errors import InputError
from spikesim.inputs import (DPDDDataset, augment_pair, dpdd_pairs, load_depth, load_dpdd_pair,
                             load_image, load_user_scene)


def _png(path, arr):
    iio.imwrite(path, arr, extension=".png")
    return path


def test_srgb_image_is_decoded_to_linear_luminance(tmp_path):
    """sRGB code 128/255 decodes to 0.21586 (IEC 61966-2-1); pure red has Rec. 709
    luminance 0.2126."""
    grey = _png(tmp_path / "g.png", np.full((4, 6), 128, np.uint8))
    np.testing.assert_allclose(load_image(grey), 0.21586, atol=1e-4)
    rgb = np.zeros((4, 6, 3), np.uint8)
    rgb[..., 0] = 255
    np.testing.assert_allclose(load_image(_png(tmp_path / "r.png", rgb)), 0.2126, atol=1e-6)


@pytest.mark.parametrize("dtype, shape", [(np.uint8, (5, 7)), (np.uint8, (5, 7, 3)),
                                           (np.uint8, (5, 7, 4)), (np.uint16, (5, 7, 3))])
def test_table_decode_is_the_formula_exactly(tmp_path, dtype, shape):
    """read_image_linear decodes 8- and 16-bit pixels through a table of every code value;
    the result must be the slow reference's (srgb_decode of read_image, alpha dropped, then
    luminance) bit for bit, over all code values of 8-bit images and random 16-bit ones."""
    from spikesim.images import luminance, read_image, read_image_linear, srgb_decode

    rng = np.random.default_rng(3)
    top = np.iinfo(dtype).max
    pixels = rng.integers(0, top + 1, size=shape, dtype=np.int64).astype(dtype)
    if dtype == np.uint8:                        # every code value present at least once
        flat = pixels.reshape(-1)
        flat[:256] = np.arange(256)[:flat.size]
    path = tmp_path / "p.png"
    if dtype == np.uint16:                       # 16-bit colour: the project's own encoder
        from tests.test_reliability_memory_images import encode_png16

        path.write_bytes(encode_png16(pixels))
    else:
        _png(path, pixels)
    assert read_image(path).dtype == np.float32
    ref = read_image(path)
    ref = ref[..., :3] if ref.ndim == 3 and ref.shape[2] == 4 else ref
    np.testing.assert_array_equal(read_image_linear(path), luminance(srgb_decode(ref)))


def test_depth_npy_png_and_disparity(tmp_path):
    d = np.linspace(0.5, 8.0, 24, dtype=np.float32).reshape(4, 6)
    np.save(tmp_path / "d.npy", d)
    np.testing.assert_array_equal(load_depth(tmp_path / "d.npy"), d)
    mm = np.full((4, 6), 1500, np.uint16)
    _png(tmp_path / "d16.png", mm)
    np.testing.assert_allclose(load_depth(tmp_path / "d16.png"), 1.5)           # millimetres
    np.testing.assert_allclose(load_depth(tmp_path / "d16.png", scale=0.01), 15.0)
    # disparity 10 px, f = 500 px, B = 0.1 m -> Z = f B / d = 5 m
    np.save(tmp_path / "disp.npy", np.full((4, 6), 10.0))
    z = load_depth(tmp_path / "disp.npy", kind="disparity", focal_length_px=500,
                   baseline_m=0.1)
    np.testing.assert_allclose(z, 5.0)


@pytest.mark.parametrize("make, kwargs, param", [
    (lambda p: np.save(p / "x.npy", np.array([[1.0, np.nan]])), {}, "depth"),
    (lambda p: np.save(p / "x.npy", np.array([[1.0, -2.0]])), {}, "depth"),
    (lambda p: np.save(p / "x.npy", np.zeros((2, 2, 3))), {}, "depth"),
    (lambda p: np.save(p / "x.npy", np.ones((2, 2))), {"kind": "disparity"}, "focal_length_px"),
    (lambda p: np.save(p / "x.npy", np.zeros((2, 2))),
     {"kind": "disparity", "focal_length_px": 500, "baseline_m": 0.1}, "disparity"),
    (lambda p: np.save(p / "x.npy", np.ones((2, 2))), {"shape": (3, 2)}, "depth"),
    (lambda p: np.save(p / "x.npy", np.ones((2, 2))), {"kind": "inverse"}, "depth kind"),
])
def test_bad_depth_files_are_refused(tmp_path, make, kwargs, param):
    make(tmp_path)
    with pytest.raises(InputError) as exc:
        load_depth(tmp_path / "x.npy", **kwargs)
    assert exc.value.param == param


def test_png_depth_zero_and_8bit_are_refused(tmp_path):
    z = np.full((4, 6), 1000, np.uint16)
    z[1, 2] = 0                                                   # "no data"
    with pytest.raises(InputError, match="<= 0"):
        load_depth(_png(tmp_path / "z.png", z))
    with pytest.raises(InputError, match="8-bit"):
        load_depth(_png(tmp_path / "e.png", np.full((4, 6), 9, np.uint8)))


def test_user_scene_size_mismatch_and_single_depth(tmp_path):
    img = _png(tmp_path / "i.png", np.full((4, 6), 200, np.uint8))
    np.save(tmp_path / "d.npy", np.ones((5, 6)))
    with pytest.raises(InputError) as exc:
        load_user_scene(img, depth=tmp_path / "d.npy")
    assert exc.value.param == "depth" and "(4, 6)" in str(exc.value)
    s = load_user_scene(img, depth_m=2.5)
    assert s.kind == "user" and s.depth.shape == (4, 6) and (s.depth == 2.5).all()
    for bad in (-1.0, float("nan"), 0.0):
        with pytest.raises(InputError) as exc:
            load_user_scene(img, depth_m=bad)
        assert exc.value.param == "depth_m"
    with pytest.raises(InputError):
        load_user_scene(img)


def _dpdd(root, names, bits=16, h=12, w=12):
    """A tiny DPDD layout: each pixel's value encodes its position, target = source."""
    for split in ("train",):
        for sub in ("source", "target"):
            (root / f"{split}_c" / sub).mkdir(parents=True, exist_ok=True)
    for k, name in enumerate(names):
        pos = (np.arange(h * w).reshape(h, w) + 1 + k * h * w).astype(np.float64)
        if bits == 16:
            arr = (pos * 300).astype(np.uint16)
        else:
            arr = (pos % 250 + 1).astype(np.uint8)
        for sub in ("source", "target"):
            _png(root / "train_c" / sub / name, arr)
    return root


def test_dpdd_pairs_and_loading(tmp_path):
    root = _dpdd(tmp_path, ["b.png", "a.png"])
    pairs = dpdd_pairs(root, "train")
    assert [p[0].name for p in pairs] == ["a.png", "b.png"]
    assert all(p[0].parent.name == "source" and p[1].parent.name == "target" for p in pairs)
    s, t = load_dpdd_pair(*pairs[0])
    raw = iio.imread(pairs[0][0]).astype(np.float64) / 65535.0
    # 16-bit sRGB is decoded like 8-bit: linear = ((v + 0.055) / 1.055) ** 2.4 above 0.04045
    expected = np.where(raw <= 0.04045, raw / 12.92, ((raw + 0.055) / 1.055) ** 2.4)
    np.testing.assert_allclose(s, expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(s, t)


def test_dpdd_augmentation_is_one_transform_of_a_crop_for_both(tmp_path):
    root = _dpdd(tmp_path, ["a.png"], bits=16, h=16, w=16)
    s0, _ = load_dpdd_pair(*dpdd_pairs(root, "train")[0])
    seen = set()
    for seed in range(40):
        s, t = augment_pair(s0, s0.copy(), (8, 8), np.random.default_rng(seed))
        np.testing.assert_array_equal(s, t)                 # one transform for the pair
        assert s.shape == (8, 8)
        # undo: the values are unique, so find the crop they came from
        ys, xs = np.nonzero(np.isin(s0, s))
        crop = s0[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
        assert crop.shape == (8, 8)
        variants = {}
        for tr in range(2):
            c = crop.T if tr else crop
            for fv in range(2):
                for fh in range(2):
                    v = c[::-1 if fv else 1, ::-1 if fh else 1]
                    variants[(tr, fv, fh)] = v
        match = [k for k, v in variants.items() if np.array_equal(v, s)]
        assert len(match) == 1
        seen.add(match[0])
    assert len(seen) >= 6                                    # flips and transposes happen


def test_dpdd_dataset_is_reproducible(tmp_path):
    root = _dpdd(tmp_path, ["a.png", "b.png"], bits=8)
    a = DPDDDataset(root, "train", crop=(6, 6), seed=1)
    b = DPDDDataset(root, "train", crop=(6, 6), seed=1)
    assert len(a) == 2
    np.testing.assert_array_equal(a[1][0], b[1][0])
    c = DPDDDataset(root, "train", crop=(6, 6), seed=2)
    assert any(not np.array_equal(a[i][0], c[i][0]) for i in range(2))


def test_dpdd_errors(tmp_path):
    root = _dpdd(tmp_path, ["a.png"])
    (root / "train_c" / "target" / "a.png").rename(root / "train_c" / "target" / "z.png")
    with pytest.raises(InputError, match="unmatched"):
        dpdd_pairs(root, "train")
    with pytest.raises(InputError) as exc:
        dpdd_pairs(root, "val")
    assert exc.value.param == "dpdd root"
    with pytest.raises(InputError) as exc:
        dpdd_pairs(root, "training")
    assert exc.value.param == "split"
