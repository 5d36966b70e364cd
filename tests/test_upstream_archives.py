"""A release still packed (NGC's download of EG3D's snapshots is a zip of .pkl files; a mirror may gzip a
.pth) is named as the archive it is, with what to unpack, where it read as a truncated checkpoint."""

from __future__ import annotations

import gzip
import tarfile
import zipfile

import pytest

from conftest import FIXTURES
from zoo3d.errors import UserError
from zoo3d.upstream import load_release

RELEASES = FIXTURES / "releases"


def _refusal(path) -> str:
    with pytest.raises(UserError) as info:
        load_release(path)
    return str(info.value)


def test_a_zip_of_release_files_names_them_and_says_to_unzip(tmp_path):
    path = tmp_path / "eg3d_1.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for name in ("ffhq512-64.pkl", "ffhq512-128.pkl", "afhqcats512-128.pkl", "shapenetcars128-64.pkl"):
            archive.write(RELEASES / "eg3d_snapshot.pkl", f"eg3d_v1/{name}")
        archive.writestr("eg3d_v1/README.md", "EG3D")
    assert _refusal(path) == (
        f"{path} is a zip archive of 5 files, not a checkpoint; unpack it (unzip) and import the release file inside "
        f"(eg3d_v1/ffhq512-64.pkl, eg3d_v1/ffhq512-128.pkl, eg3d_v1/afhqcats512-128.pkl, ...).")


def test_a_zip_without_a_release_in_it_says_to_unpack_it(tmp_path):
    path = tmp_path / "FFHQ_512.zip"  # a dataset given as the release
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("dataset.json", "{}")
    assert _refusal(path) == (f"{path} is a zip archive of 1 file, not a checkpoint; unpack it (unzip) and import "
                              f"the release file it holds.")


def test_a_tar_of_a_release_says_to_untar(tmp_path):
    path = tmp_path / "gram.tar"
    with tarfile.open(path, "w") as archive:
        archive.add(RELEASES / "gram_ema.pth", "FFHQ_default/ema.pth")
    assert _refusal(path) == (f"{path} is a tar archive of 1 file, not a checkpoint; unpack it (tar -xf) and import "
                              f"the release file inside (FFHQ_default/ema.pth).")


def test_an_archive_made_from_a_folder_counts_its_files_not_its_folder_entries(tmp_path):
    """``zip -r`` and ``tar -cf`` of a folder store an entry for each folder as well: the count is of files."""
    folder = tmp_path / "FFHQ_default"
    folder.mkdir()
    (folder / "ema.pth").write_bytes((RELEASES / "gram_ema.pth").read_bytes())
    with zipfile.ZipFile(tmp_path / "gram.zip", "w") as archive:
        archive.write(folder, "FFHQ_default/")
        archive.write(folder / "ema.pth", "FFHQ_default/ema.pth")
    with tarfile.open(tmp_path / "gram.tar", "w") as archive:
        archive.add(folder, "FFHQ_default")
    for name, kind, tool in (("gram.zip", "zip", "unzip"), ("gram.tar", "tar", "tar -xf")):
        path = tmp_path / name
        assert _refusal(path) == (f"{path} is a {kind} archive of 1 file, not a checkpoint; unpack it ({tool}) and "
                                  f"import the release file inside (FFHQ_default/ema.pth).")


def test_a_gzipped_release_says_to_decompress(tmp_path):
    path = tmp_path / "ema.pth.gz"
    path.write_bytes(gzip.compress((RELEASES / "gram_ema.pth").read_bytes()))
    assert _refusal(path) == (f"{path} is gzip-compressed, not a checkpoint; decompress it (gunzip; tar -xzf for a "
                              f".tar.gz) and import the file it holds.")


def test_torchs_own_zip_format_is_still_read():
    assert "representation.sample_network.network.0.weight" in load_release(RELEASES / "gram_generator.pth")
