"""The training photograph list (examples/photos): well formed, split by the rule, checked.

The list tests need nothing installed. The check of the real files needs the Debian
packages it names; CI machines are fresh and ``./run`` installs no system packages, so
that test skips, naming the packages, when any is missing.
"""

import hashlib
import importlib.util
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "examples" / "photos" / "check_photos.py"


def _load_module():
    spec = importlib.util.spec_from_file_location("check_photos", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


cp = _load_module()
ENTRIES = cp.load_list()


# --- the list itself ------------------------------------------------------------------

def test_list_is_well_formed():
    names = [e["name"] for e in ENTRIES]
    paths = [e["path"] for e in ENTRIES]
    hashes = [e["sha256"] for e in ENTRIES]
    assert len(set(names)) == len(set(paths)) == len(set(hashes)) == len(ENTRIES) >= 30
    assert all(e["licence"].strip() and e["copyright"].strip() for e in ENTRIES)
    assert all(min(cp.parse_size(e["size"])) >= 512 for e in ENTRIES)
    assert not any("skimage" in p or "scikit" in p for p in paths)


def test_splits_are_disjoint_non_empty_and_follow_the_rule():
    by_split = {s: {e["sha256"] for e in ENTRIES if e["split"] == s} for s in cp.SPLITS}
    assert all(by_split.values())
    assert not (by_split["train"] & by_split["val"] or by_split["train"] & by_split["test"]
                or by_split["val"] & by_split["test"])
    assert sum(map(len, by_split.values())) == len(ENTRIES)
    rule = cp.split_rule(ENTRIES)
    assert {e["name"]: e["split"] for e in ENTRIES} == rule
    for split in cp.SPLITS:
        assert any(e["smooth"] for e in ENTRIES if e["split"] == split), split
    assert 0.6 <= len(by_split["train"]) / len(ENTRIES) <= 0.8


def test_split_rule_depends_only_on_the_files():
    """Reordering the list changes nothing; each stratum holds out round(15 %), at least one."""
    shuffled = list(reversed(ENTRIES))
    assert cp.split_rule(shuffled) == cp.split_rule(ENTRIES)
    for smooth in (True, False):
        stratum = [e for e in ENTRIES if e["smooth"] is smooth]
        k = max(1, round(0.15 * len(stratum)))
        assert sum(e["split"] == "test" for e in stratum) == k
        assert sum(e["split"] == "val" for e in stratum) == k


@pytest.mark.parametrize("change, message", [
    (lambda es: es[1].update(sha256=es[0]["sha256"]), "sha256 repeated"),
    (lambda es: es[0].update(split="train" if es[0]["split"] != "train" else "test"),
     "the rule says"),
    (lambda es: es[0].update(licence=""), "missing licence"),
    (lambda es: es[0].update(path="/usr/lib/python3/dist-packages/skimage/data/camera.png"),
     "reserved for evaluation"),
    (lambda es: es[0].update(size="800x400"), "short side"),
    (lambda es: es[0].update(name="mate-Aqua.webp"), "name must be"),
])
def test_malformed_lists_are_refused(change, message):
    entries = [dict(e) for e in ENTRIES]
    change(entries)
    with pytest.raises(cp.ListError, match=message):
        cp.validate(entries)


# --- the check and the links, on files made here ----------------------------------------

def _write_list(tmp_path, n=8):
    """n small PNG 'photographs' (600x520) and a valid list of them, with the rule's splits."""
    from PIL import Image

    rng = np.random.default_rng(0)
    entries = []
    for i in range(n):
        path = tmp_path / "installed" / f"pic{i}.png"
        path.parent.mkdir(exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (520, 600, 3), dtype=np.uint8)).save(path)
        entries.append({"name": f"pkg-pic{i}.png", "path": str(path), "package": f"pkg{i % 2}",
                        "version": "1.0-1", "licence": "CC0-1.0", "copyright": "nobody",
                        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                        "size": "600x520", "smooth": i % 2 == 0, "content": "noise",
                        "split": None})
    rule = cp.split_rule(entries)
    for e in entries:
        e["split"] = rule[e["name"]]
    list_path = tmp_path / "photos.yaml"
    list_path.write_text(yaml.safe_dump({"photos": entries}, sort_keys=False))
    return list_path, entries


def test_check_reports_missing_and_changed_files(tmp_path, capsys):
    list_path, entries = _write_list(tmp_path)
    assert cp.main(["--list", str(list_path)]) == 0
    assert "8 photographs present and unchanged" in capsys.readouterr().out

    Path(entries[0]["path"]).unlink()                               # missing, package pkg0
    Path(entries[3]["path"]).write_bytes(Path(entries[5]["path"]).read_bytes())   # changed
    assert cp.main(["--list", str(list_path)]) == 1
    out = capsys.readouterr().out
    assert f"MISSING  {entries[0]['path']}" in out
    assert f"CHANGED  {entries[3]['path']}" in out
    assert "apt-get install -y --no-install-recommends pkg0\n" in out
    assert "2 of 8 photographs missing or changed" in out


def test_link_makes_folders_that_image_dir_reads(tmp_path, capsys):
    from spikesim.inputs import image_catalogue

    list_path, entries = _write_list(tmp_path)
    out_dir = tmp_path / "linked"
    assert cp.main(["--list", str(list_path), "--link", str(out_dir)]) == 0
    for split in cp.SPLITS:
        listed = {e["name"]: e["sha256"] for e in entries if e["split"] == split}
        catalogue = image_catalogue(out_dir / split, (256, 400))
        assert [c["name"] for c in catalogue] == sorted(listed)       # name order
        assert {c["name"]: c["sha256"] for c in catalogue} == listed
    # again, with a stale link: replaced and removed, nothing else touched
    (out_dir / "train" / "stale.png").symlink_to(entries[0]["path"])
    assert cp.main(["--list", str(list_path), "--link", str(out_dir)]) == 0
    assert not (out_dir / "train" / "stale.png").exists()
    # a folder holding real files is refused
    shutil.copy(entries[0]["path"], out_dir / "val" / "mine.png")
    assert cp.main(["--list", str(list_path), "--link", str(out_dir)]) == 1
    assert "not links" in capsys.readouterr().err


# --- the real collection, where its packages are installed --------------------------------

def test_installed_collection_passes_the_check():
    packages = sorted({e["package"] for e in ENTRIES})
    missing = [p for p in packages
               if not any(Path(e["path"]).exists() for e in ENTRIES if e["package"] == p)]
    if missing:
        pytest.skip(f"photograph packages not installed ({', '.join(missing)}): "
                    f"{cp.install_command(missing)}")
    problems, missing_packages = cp.check_files(ENTRIES)
    assert problems == [] and missing_packages == []
