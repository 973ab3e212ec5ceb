"""Check the training photograph list (photos.yaml) and link it for ``spikesim generate``.

    python examples/photos/check_photos.py                    # every file present and unchanged?
    python examples/photos/check_photos.py --link data/photos # + DIR/train, DIR/val, DIR/test
                                                              #   and DIR/natural-test

Prints one line for each missing or changed file, then the ``apt-get install`` command
for the packages that are missing, and exits 1; exits 0 when every file is present with
the listed sha256 and size. ``--link DIR`` (only after a clean check) makes one folder of
symbolic links a split, named by each entry's unique ``name`` (the installed file names
repeat across packages), so that ``source: images`` with ``image_dir: DIR/train`` reads
them (spikesim.inputs.image_files: .png/.jpg/.jpeg/.tif/.tiff/.bmp, sorted by name).
It also makes ``DIR/natural-test``, the pictures of the natural test sets
(examples/configs/natural_testset.yaml, natural_lowlight.yaml): links to the **test**
split and to the two REDS ground-truth frames of ``../shared/data/interop``
(``reds_200_part1_key151_gt.png``, ``reds_200_part3_key151_gt.png``; checked by sha256;
``--interop DIR`` elsewhere). Without those frames the folder is not made (the benchmark
would silently be another one) and the script says so.

The split of each photograph is not chosen by hand: :func:`split_rule` derives it from the
list (README.md "How the split is made"), and :func:`validate` checks the file agrees.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from spikesim.atomic import file_sha256  # noqa: E402  (the checkout's toolkit)

LIST_PATH = Path(__file__).with_name("photos.yaml")
SPLITS = ("train", "val", "test")
HELD_OUT_FRACTION = 0.15          # of each stratum, for val and for test (at least one each)
MIN_SHORT_SIDE = 512              # px
REQUIRED = ("name", "path", "package", "version", "licence", "copyright", "sha256", "size",
            "smooth", "content", "split")
LINK_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")   # what image_dir reads
SIZE_RE = re.compile(r"^(\d+)x(\d+)$")
SHA_RE = re.compile(r"^[0-9a-f]{64}$")
NATURAL_TEST = "natural-test"     # DIR/natural-test: the test split + the REDS frames
INTEROP_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "interop"
# The two REDS ground-truth frames of ../shared/data/interop (Spike-Zoo sample data, MIT
# licence, 400x250; ../shared/data/README.md), never used in training or validation.
REDS_FRAMES = {
    "reds_200_part1_key151_gt.png": "864293aa9befd4cb3fc6370fde5436a724ecc2208cd48ed82ca47f00da83e419",
    "reds_200_part3_key151_gt.png": "7b82295b3b66a50e960c3a5fce8acba37528d7b6440905fb7c898b5d1247c1c7",
}


class ListError(ValueError):
    """photos.yaml itself is malformed (not a missing or changed photograph)."""


def load_list(path=LIST_PATH) -> list[dict]:
    """The ``photos:`` entries of the list, validated (:func:`validate`)."""
    with open(path, encoding="utf-8") as fh:
        doc = yaml.safe_load(fh)
    if not isinstance(doc, dict) or not isinstance(doc.get("photos"), list):
        raise ListError(f"{path}: expected a mapping with a 'photos' list")
    validate(doc["photos"], where=str(path))
    return doc["photos"]


def parse_size(size: str) -> tuple[int, int]:
    """``"WxH"`` -> ``(width, height)``."""
    m = SIZE_RE.match(str(size))
    if not m:
        raise ListError(f"size {size!r}: expected WxH, e.g. 2560x1600")
    return int(m.group(1)), int(m.group(2))


def split_rule(entries: list[dict]) -> dict:
    """``{name: split}``: the documented, deterministic split by file.

    The photographs are divided into two strata, ``smooth: true`` (large smooth areas:
    sky, fog, water, fur, feathers, out-of-focus background) and the rest. Within each
    stratum, sorted by sha256, the first ``k`` go to test, the next ``k`` to val and the
    rest to train, with ``k = max(1, round(0.15 n))``. So every split holds smooth content,
    and the split of a file changes only if the list changes.
    """
    out = {}
    for smooth in (True, False):
        stratum = sorted((e for e in entries if bool(e["smooth"]) is smooth),
                         key=lambda e: e["sha256"])
        if not stratum:
            continue
        k = max(1, round(HELD_OUT_FRACTION * len(stratum)))
        for i, entry in enumerate(stratum):
            out[entry["name"]] = "test" if i < k else "val" if i < 2 * k else "train"
    return out


def validate(entries: list[dict], where: str = "photos.yaml") -> None:
    """Raise :class:`ListError` unless the list is well formed.

    Every entry has all :data:`REQUIRED` keys, a non-empty licence and copyright, an
    absolute path, a lowercase sha256, a ``WxH`` size with a short side of at least
    :data:`MIN_SHORT_SIDE`, and a link name with an image suffix that ``image_dir`` reads.
    Names, paths and hashes are unique; the splits are those of :func:`split_rule`, every
    split is non-empty and holds smooth content. No scikit-image data (reserved for
    evaluation) is listed.
    """
    problems = []
    for i, e in enumerate(entries):
        label = f"{where}: entry {i} ({e.get('name', '?') if isinstance(e, dict) else '?'})"
        if not isinstance(e, dict):
            problems.append(f"{label}: not a mapping")
            continue
        missing = [k for k in REQUIRED if k not in e or e[k] in (None, "")]
        if missing:
            problems.append(f"{label}: missing {', '.join(missing)}")
            continue
        if not Path(e["path"]).is_absolute():
            problems.append(f"{label}: path {e['path']} is not absolute")
        if "skimage" in e["path"] or "scikit" in e["path"]:
            problems.append(f"{label}: scikit-image data is reserved for evaluation")
        if not SHA_RE.match(str(e["sha256"])):
            problems.append(f"{label}: sha256 is not 64 lowercase hex digits")
        if e["split"] not in SPLITS:
            problems.append(f"{label}: split {e['split']!r} is not one of {SPLITS}")
        if Path(e["name"]).suffix.lower() not in LINK_SUFFIXES or "/" in e["name"]:
            problems.append(f"{label}: name must be a file name ending in one of {LINK_SUFFIXES}")
        try:
            if min(parse_size(e["size"])) < MIN_SHORT_SIDE:
                problems.append(f"{label}: short side below {MIN_SHORT_SIDE} px")
        except ListError as err:
            problems.append(f"{label}: {err}")
    if problems:
        raise ListError("\n".join(problems))
    for key in ("name", "path", "sha256"):
        values = [e[key] for e in entries]
        repeated = sorted({v for v in values if values.count(v) > 1})
        if repeated:
            problems.append(f"{where}: {key} repeated: {', '.join(map(str, repeated))}")
    rule = split_rule(entries)
    for e in entries:
        if e["split"] != rule[e["name"]]:
            problems.append(f"{where}: {e['name']} is listed as {e['split']}, the rule says "
                            f"{rule[e['name']]} (split_rule)")
    for split in SPLITS:
        members = [e for e in entries if e["split"] == split]
        if not members:
            problems.append(f"{where}: split {split} is empty")
        elif not any(e["smooth"] for e in members):
            problems.append(f"{where}: split {split} has no smooth content")
    if problems:
        raise ListError("\n".join(problems))




def image_size(path: Path) -> tuple[int, int]:
    """``(width, height)`` from the file header (Pillow reads no pixels for this)."""
    from PIL import Image

    with Image.open(path) as im:
        return im.size


def installed_version(package: str) -> str | None:
    """The installed Debian version of ``package``, or None (not installed, or no dpkg)."""
    try:
        done = subprocess.run(["dpkg-query", "-W", "-f=${Status}\t${Version}", package],
                              capture_output=True, text=True)
    except FileNotFoundError:
        return None
    status, _, version = done.stdout.partition("\t")
    return version if done.returncode == 0 and status.endswith(" installed") else None


def check_files(entries: list[dict]) -> tuple[list[str], list[str]]:
    """``(problems, missing_packages)``: one line a missing or changed file."""
    problems, missing_packages = [], []
    for e in entries:
        path = Path(e["path"])
        if not path.is_file():
            problems.append(f"MISSING  {path}  ({e['name']}; package {e['package']} "
                            f"{e['version']})")
            if e["package"] not in missing_packages:
                missing_packages.append(e["package"])
            continue
        digest = file_sha256(path)
        if digest != e["sha256"]:
            have = installed_version(e["package"]) or "unknown"
            problems.append(f"CHANGED  {path}  sha256 {digest[:16]}..., listed "
                            f"{e['sha256'][:16]}... (package {e['package']}: installed "
                            f"{have}, listed {e['version']})")
            continue
        size = "{}x{}".format(*image_size(path))
        if size != e["size"]:
            problems.append(f"CHANGED  {path}  size {size}, listed {e['size']}")
    return problems, missing_packages


def install_command(packages: list[str]) -> str:
    """The apt-get command that installs ``packages`` (with sudo unless run as root)."""
    sudo = "" if hasattr(os, "geteuid") and os.geteuid() == 0 else "sudo "
    return f"{sudo}apt-get install -y --no-install-recommends {' '.join(sorted(packages))}"


def _fill_links(folder: Path, wanted: dict) -> None:
    """Make ``folder`` hold exactly the links ``{name: target}`` (links not wanted are
    removed; a folder holding anything but links is refused)."""
    folder.mkdir(parents=True, exist_ok=True)
    foreign = [p.name for p in folder.iterdir() if not p.is_symlink()]
    if foreign:
        raise ListError(f"{folder} holds files that are not links ({', '.join(sorted(foreign))}); "
                        "choose an empty folder")
    for p in folder.iterdir():
        if p.name not in wanted:
            p.unlink()
    for name, target in wanted.items():
        link = folder / name
        if link.is_symlink():
            link.unlink()
        link.symlink_to(target)


def check_reds_frames(interop_dir) -> list[str]:
    """Problems with the REDS frames in ``interop_dir`` (one line each; empty: all present
    with the listed sha256)."""
    problems = []
    for name, digest in REDS_FRAMES.items():
        path = Path(interop_dir) / name
        if not path.is_file():
            problems.append(f"MISSING  {path}  (REDS frame of the natural test set)")
            continue
        have = file_sha256(path)
        if have != digest:
            problems.append(f"CHANGED  {path}  sha256 {have[:16]}..., listed {digest[:16]}...")
    return problems


def link_natural_test(entries: list[dict], out_dir, interop_dir) -> int:
    """Make ``out_dir/natural-test/`` links to the **test** split and the REDS frames of
    ``interop_dir`` (checked first: :func:`check_reds_frames`). Returns the link count."""
    problems = check_reds_frames(interop_dir)
    if problems:
        raise ListError("\n".join(problems))
    wanted = {e["name"]: Path(e["path"]) for e in entries if e["split"] == "test"}
    wanted.update({name: Path(interop_dir).resolve() / name for name in REDS_FRAMES})
    _fill_links(Path(out_dir) / NATURAL_TEST, wanted)
    return len(wanted)


def link_splits(entries: list[dict], out_dir) -> dict:
    """Make ``out_dir/{train,val,test}/<name>`` symbolic links to the listed files.

    A split folder may already hold links (they are replaced, and links no longer listed
    are removed); anything else in it is refused. Returns ``{split: count}``.
    """
    out_dir = Path(out_dir)
    counts = {}
    for split in SPLITS:
        wanted = {e["name"]: Path(e["path"]) for e in entries if e["split"] == split}
        _fill_links(out_dir / split, wanted)
        counts[split] = len(wanted)
    return counts


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", default=str(LIST_PATH), help="the photograph list (YAML)")
    parser.add_argument("--link", metavar="DIR",
                        help="after a clean check, make DIR/train, DIR/val, DIR/test of links "
                             "(and DIR/natural-test: the test split + the REDS frames)")
    parser.add_argument("--interop", metavar="DIR", default=str(INTEROP_DIR),
                        help="where the REDS frames of the natural test sets are "
                             "(default ../shared/data/interop beside the checkout)")
    args = parser.parse_args(argv)
    try:
        entries = load_list(args.list)
    except (ListError, OSError, yaml.YAMLError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    problems, missing_packages = check_files(entries)
    for line in problems:
        print(line)
    if missing_packages:
        print(f"{len(missing_packages)} package(s) missing; install them with:\n  "
              + install_command(missing_packages))
    counts = {s: sum(e["split"] == s for e in entries) for s in SPLITS}
    summary = ", ".join(f"{s} {n}" for s, n in counts.items())
    if problems:
        print(f"{len(problems)} of {len(entries)} photographs missing or changed ({summary})")
        return 1
    print(f"{len(entries)} photographs present and unchanged ({summary})")
    if args.link:
        try:
            made = link_splits(entries, args.link)
        except (ListError, OSError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        for split, n in made.items():
            print(f"{Path(args.link) / split}: {n} links")
        if not Path(args.interop).is_dir():
            print(f"{Path(args.link) / NATURAL_TEST}: not made, no REDS frames at {args.interop} "
                  "(the natural test sets need them; --interop DIR)")
            return 0
        try:
            n = link_natural_test(entries, args.link, args.interop)
        except (ListError, OSError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        print(f"{Path(args.link) / NATURAL_TEST}: {n} links (test split + {len(REDS_FRAMES)} "
              "REDS frames)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
