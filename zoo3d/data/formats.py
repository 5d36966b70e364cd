"""Folder and zip dataset formats: detection, pose parsing into EG3D vectors, and writers.

Three layouts are read (see docs/data.md):

* ``eg3d``: ``dataset.json`` = ``{"labels": [[relpath, [25 floats]], ...]}`` in a folder or zip.
* ``gram``: images plus ``poses/<stem>.mat`` (key ``angle`` = [pitch, yaw, roll]),
  ``poses/<stem>_pose.npy`` (= [pitch, yaw], pi/2-centred) or ``poses/<stem>_extrinsics.npy``
  (GRAF's CARLA cam2world, 4x4 or 3x4), as GRAM/GRAM-HD use.
* ``zoo3d``: images plus ``poses.json`` = ``{"version": 1, "frames": [{"file": relpath,
  "camera": [25 floats]} | {"file", "yaw", "pitch", "radius"?, "fov"?}, ...]}``.

Parsing never raises on bad content: each problem becomes a :class:`Problem` attached to
the file, so ``zoo3d data check`` can list them all and readers can skip bad entries. A pose number is a
number of its kind in every layout (a JSON number; an integer or float array): one written as text, or a
boolean, is a missing pose, never converted.
"""

from __future__ import annotations

import io
import json
import math
import os
import posixpath
import unicodedata
import zipfile
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath

import numpy as np

#: Files that are dataset images, whatever the case of their suffix (a GRAM folder's images, an image poses.json does
#: not list). TIFF is one: a folder of TIFF photos had no image at all, and a float TIFF was not said to be unreadable.
#: So are JPEGs named ``.jfif`` (as Chrome and Edge on Windows save many photos from the web) or ``.jpe``: a folder of
#: them had no image found, and not a word of them.
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".jfif", ".jpe", ".webp", ".bmp", ".tif", ".tiff"}
#: Photo formats a folder may hold that are not dataset images (iPhone's HEIC, AVIF, animated GIF, JPEG XL and 2000,
#: camera raw): ``data check`` notes them, where it had said "no images found" of a folder of iPhone photos.
UNREAD_IMAGE_SUFFIXES = {".heic", ".heif", ".avif", ".gif", ".jxl", ".jp2", ".dng", ".cr2", ".cr3", ".nef", ".arw"}
#: Top-level folders of auxiliary images (masks, depth) that are not dataset images and need no pose.
AUX_FOLDERS = {"mask", "masks", "depth"}


def clean_name(name: str) -> str:
    """A safe index-file name as the dataset's files are listed: ``./images//0001.png`` -> ``images/0001.png``."""
    return posixpath.normpath(name)


def unsafe_name(name: str) -> str | None:
    """Why a file name from dataset.json / poses.json cannot be used (it leaves the dataset folder), or None."""
    if "\\" in name:
        return "file name uses '\\'; dataset file names are relative POSIX paths such as images/0001.png"
    p = PurePosixPath(name)
    if p.is_absolute() or PureWindowsPath(name).drive:
        return "file name is an absolute path; it must be relative to the dataset folder"
    if ".." in p.parts:
        return "file name escapes the dataset folder ('..'); it must stay inside it"
    return None


@dataclass
class Problem:
    file: str
    problem: str

    def as_dict(self) -> dict:
        return {"file": self.file, "problem": self.problem}


@dataclass
class Record:
    """One image of a dataset: its path inside the source and its EG3D camera (25 floats), or None when its
    listing gives no valid pose (the problem says why); a file listed twice has a record per listing.

    ``fit_aspect``: the camera was made from angles (a ``poses.json`` frame with ``yaw``/``pitch``), whose
    intrinsics assume a square image; reading the image fits them to its shape (square pixels, the vertical
    field of view kept, :func:`zoo3d.data.images.square_pixels`)."""

    name: str
    camera: np.ndarray | None
    fit_aspect: bool = False


@dataclass
class Listing:
    """What a dataset folder or zip holds: its format, the records and the problems found while parsing poses."""

    format: str
    records: list[Record]
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class Source:
    """Read-only access to the files of a folder or a zip archive by relative POSIX path.

    A zip made of one folder (``zip -r data.zip data``) whose folder holds the pose files is read
    from that folder (:attr:`root`), so ``data/dataset.json`` is the dataset's ``dataset.json``; so is a folder
    holding such a folder (a zip of one folder unzipped into a folder of its name: ``faces/faces/poses.json``).
    Files beside that folder that are neither images nor pose files (a ``README.txt``) do not count
    (:attr:`beside`, :func:`_one_folder_root`).
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._zip: zipfile.ZipFile | None = None
        self._pid = 0
        self._spellings: dict[str, str] | None = None
        self._links: dict[str, zipfile.ZipInfo] = {}  # a zip's symbolic links by name (zip --symlinks)
        self.root, self.beside = "", []
        if self.path.is_file() and (zipfile.is_zipfile(self.path) or self.path.suffix.lower() == ".zip"):
            members = self._readable_members(path)
            self.root, self.beside = _one_folder_root(list(members), _zip_holds_pose_files(members))
            self._names = {n[len(self.root):]: i for n, i in members.items() if n.startswith(self.root)}
            self._links = {n: i for n, i in self._names.items() if _is_link(i)}
        elif self.path.is_dir():
            self.root, self.beside = _one_folder_root(_top_entries(self.path), _folder_holds_pose_files(self.path))
        else:
            raise FileNotFoundError(str(self.path))

    @property
    def folder(self) -> Path:
        """The folder the dataset's files are read from: :attr:`path`, or its one folder that holds the dataset."""
        return self.path / self.root

    def _readable_members(self, path) -> dict[str, zipfile.ZipInfo]:
        """The zip's files by name (folders and Finder litter left out); a UserError, before anything is read, for
        a zip that cannot be opened, one protected by a password and one compressed with a method Python's
        zipfile does not decompress (each was a traceback at the first file read)."""
        from zoo3d.errors import UserError, shell_word, shown_name

        shown, word = shown_name(str(path)), shell_word(str(path))  # a path as said, and as typed
        try:
            infos = self._archive().infolist()
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError) as exc:
            raise UserError(f"Dataset '{shown}' cannot be read as a zip file ({exc}): it is damaged or was cut "
                            f"short; `unzip -t {word}` tests it.") from None
        members = {n: i for i in infos if not (n := _member_name(i)).endswith("/") and not _archive_litter(n)}
        if locked := next((n for n, i in members.items() if i.flag_bits & 0x1), None):
            raise UserError(f"Dataset '{shown}' is a zip protected by a password ('{shown_name(locked)}' is "
                            f"encrypted), which zoo3d cannot read; unzip it (`unzip {word}` asks for the password) and "
                            f"give the folder.")
        for name, info in {i.compress_type: (n, i) for n, i in reversed(members.items())}.values():
            try:  # the first file of each compression method: opening it sets up its decompressor
                self._archive().open(info).close()
            except NotImplementedError:
                method = _ZIP_METHODS.get(info.compress_type, "an unknown method")
                raise UserError(f"Dataset '{shown}' compresses its files with {method} (zip method "
                                f"{info.compress_type}, '{shown_name(name)}'), which Python's zipfile cannot "
                                f"decompress; zip the folder again with `zip -r` (deflate) or `zip -0`.") from None
            except (zipfile.BadZipFile, OSError, EOFError, RuntimeError):  # that file's own fault: said when read
                pass
        return members

    def _archive(self) -> zipfile.ZipFile:
        """This process's handle on the zip. A forked DataLoader worker inherits its parent's file and so
        its file position: the processes' seeks and reads would interleave and read other members' bytes."""
        if self._pid != os.getpid():
            self._zip, self._pid = zipfile.ZipFile(self.path), os.getpid()
        return self._zip

    @property
    def is_zip(self) -> bool:
        return self._zip is not None

    def compressed(self) -> bool:
        return self._zip is not None and any(i.compress_type != zipfile.ZIP_STORED for i in self._names.values())

    def exists(self, name: str) -> bool:
        if unsafe_name(name) is not None:
            return False
        if self._zip is not None:
            if not self._links:
                return self._inside(name) in self._names
            try:
                return self._member(name) is not None
            except (OSError, zipfile.BadZipFile):  # a link out of the zip, a damaged one: reading says why
                return True
        return (self.folder / self._inside(name)).is_file()

    def _inside(self, name: str) -> str:
        """The stored name of the file ``name`` names; FileNotFoundError for a name that would leave the dataset
        folder. Accented letters have two Unicode spellings, one character or a letter and a combining accent (NFC
        and NFD: macOS wrote file names in the second, an editor or a script on Linux writes the first): a name that
        is not stored as written is looked up in the first spelling among the stored ones, so 'café.png' in
        poses.json names the file of either spelling."""
        if unsafe_name(name) is not None:
            raise FileNotFoundError(f"'{name}' is outside the dataset")
        if name.isascii() or (name in self._names if self._zip is not None else (self.folder / name).is_file()):
            return name
        if self._spellings is None:
            self._spellings = {}
            for stored in self.files():
                self._spellings.setdefault(unicodedata.normalize("NFC", stored), stored)
        return self._spellings.get(unicodedata.normalize("NFC", name), name)

    def _member(self, name: str) -> zipfile.ZipInfo | None:
        """The zip member that holds the file ``name``, through the symbolic links a zip made with ``zip --symlinks``
        stores (as ``unzip`` makes them: a link to a file or to a folder, relative to the link's folder); None for no
        such file. A link that leads out of the zip (an absolute path, '..' past its root) or round in a loop is an
        OSError: what it leads to is not in the archive (it had been read as an image holding the link's text)."""
        name = self._inside(name)
        for _ in range(40):  # as many links in a row as Linux follows
            parts = name.split("/")
            link = next(("/".join(parts[:i]) for i in range(1, len(parts) + 1) if "/".join(parts[:i]) in self._links),
                        None)
            if link is None:
                return self._names.get(name)
            target = self._archive().read(self._links[link]).decode("utf-8", "surrogateescape")
            name = posixpath.normpath(posixpath.join(posixpath.dirname(link), target, *parts[link.count("/") + 1:]))
            if target.startswith("/") or name == ".." or name.startswith("../"):
                raise OSError(f"a symbolic link out of the zip, which does not hold its file (zip the folder without "
                              f"--symlinks): '{link}' -> '{target}'")
        raise OSError(f"symbolic links of the zip that lead round in a loop (more than 40 in a row), from '{name}'")

    def links_out(self) -> list[tuple[str, str]]:
        """The zip's symbolic links (``zip --symlinks``) that lead out of it or round in a loop, each with the path it
        names: the files behind them are not in the archive, so a folder of images behind one is no image at all."""
        out = []
        for link, info in sorted(self._links.items()):
            try:
                self._member(link)
            except (OSError, zipfile.BadZipFile):
                out.append((link, self._archive().read(info).decode("utf-8", "surrogateescape")))
        return out

    def read(self, name: str) -> bytes:
        if self._zip is not None:
            info = self._member(name)
            if info is None:
                raise KeyError(f"There is no item named {name!r} in the archive")
            return self._archive().read(info)
        return (self.folder / self._inside(name)).read_bytes()

    def open(self, name: str):
        if self._zip is not None:
            return io.BytesIO(self.read(name))
        return open(self.folder / self._inside(name), "rb")

    def identity(self, name: str) -> tuple | None:
        """What the file ``name`` is, the same for every name that reaches it, or None (no such file): a folder's file
        by (device, inode) (reached in another case on a case-insensitive disk, through a link), a zip's by the member
        that holds it (reached through a link that ``zip --symlinks`` stored, :meth:`_member`)."""
        if self._zip is not None:
            try:
                info = self._member(name)
            except (OSError, zipfile.BadZipFile):  # a link out of the zip, a name outside it (FileNotFoundError)
                return None
            return None if info is None else ("member", info.filename)
        try:
            stat = os.stat(self.folder / self._inside(name))
        except (OSError, ValueError):  # missing, outside the dataset (FileNotFoundError), a NUL in the name
            return None
        return stat.st_dev, stat.st_ino

    def files(self) -> list[str]:
        if self._zip is not None:
            return sorted(self._names)
        return sorted(n for n in _folder_files(self.folder) if not _archive_litter(n))  # unzipped Finder litter

    def __getstate__(self):  # zip handles do not pickle (spawned DataLoader workers): reopen there
        return {"path": self.path}

    def __setstate__(self, state):
        self.__init__(state["path"])


#: archives zoo3d does not read as datasets, by how their names end
_OTHER_ARCHIVES = {".tar": "tar", ".tar.gz": "tar", ".tgz": "tar", ".tar.bz2": "tar", ".tbz2": "tar", ".tar.xz": "tar",
                   ".txz": "tar", ".tar.zst": "tar", ".7z": "7-Zip", ".rar": "RAR"}


def archive_kind(name: str) -> str | None:
    """The kind of archive other than a zip (tar, 7-Zip, RAR) that the file ``name`` is by its suffix, or None."""
    return next((k for end, k in _OTHER_ARCHIVES.items() if name.casefold().endswith(end)), None)


def not_a_dataset(path: str | Path) -> UserError:
    """The refusal of a dataset path that is neither a folder nor a zip, naming the fix where the path says what it
    is: the index file of a dataset (its folder is the dataset), an image, or an archive of another kind."""
    from zoo3d.errors import UserError, shell_word, shown_name

    path = Path(path)
    shown, name = shown_name(str(path)), path.name.casefold()
    if path.is_file() and name in ("dataset.json", "poses.json"):
        return UserError(f"Dataset path '{shown}' is the dataset's index file, not the dataset; give the folder that "
                         f"holds it, '{shown_name(str(path.parent))}'.")
    kind = archive_kind(name)
    if path.is_file() and kind is not None:
        how = f" (`tar xf {shell_word(str(path))}`)" if kind == "tar" else ""
        return UserError(f"Dataset path '{shown}' is a {kind} archive, which zoo3d does not read; unpack it{how} and "
                         f"give the folder, or a zip of it (`zip -0 -r data.zip FOLDER`).")
    if path.is_file() and PurePosixPath(name).suffix in IMAGE_SUFFIXES:
        return UserError(f"Dataset path '{shown}' is an image, not a dataset; give the folder (or zip) that holds the "
                         f"images and their poses.")
    return UserError(f"Dataset path '{shown}' is neither a folder nor a zip file.")


#: zip compression methods by number (APPNOTE 4.4.5), for those Python's zipfile may not decompress
_ZIP_METHODS = {9: "Deflate64", 12: "bzip2", 14: "LZMA", 93: "Zstandard", 95: "xz", 96: "JPEG", 97: "WavPack",
                98: "PPMd"}


def _folder_files(root: Path) -> list[str]:
    """The files under ``root`` as relative POSIX paths, through symbolic links to folders as through folders (an
    ``images`` link to the photos on another disk; ``Path.rglob`` does not follow them, so a GRAM folder whose
    images sat behind one had no image). A folder reached twice is listed once, and a link to the dataset folder or
    a folder above it (``..``, ``/``) is not followed: it would list the whole tree around the dataset."""
    seen, out = set(), []
    above = Path(os.path.realpath(root))
    for folder, subfolders, files in os.walk(root, followlinks=True):
        stat = os.stat(folder)
        around = folder != str(root) and above.is_relative_to(os.path.realpath(folder))
        if (stat.st_dev, stat.st_ino) in seen or around:
            subfolders[:] = []
            continue
        seen.add((stat.st_dev, stat.st_ino))
        # hidden folders last: a folder also reached by a hidden name is listed by its other one, which is read
        subfolders.sort(key=lambda name: (name.startswith("."), name))
        base = Path(folder).relative_to(root)
        out += [(base / f).as_posix() for f in files if os.path.isfile(os.path.join(folder, f))]
    return out


def _member_name(info: zipfile.ZipInfo) -> str:
    """A zip member's name as the tool that made the zip wrote it, read as ``unzip`` reads it, so that it matches
    the name in poses.json and in the folder the zip unpacks to. A name without the zip's UTF-8 flag is read by
    Python as code page 437, but Info-ZIP's ``zip`` on Linux and other Unix tools store UTF-8 without setting the
    flag: such a name ('café.png' read as 'caf├⌐.png') is read as UTF-8 when its bytes are valid UTF-8. A zip
    made on Windows (Windows PowerShell's Compress-Archive) may separate folders with '\\', which Python keeps
    on Linux ('data\\images\\0001.png', one file at the root): it is read as '/'. A name ending in '/' is a
    folder."""
    name = info.filename
    if not info.flag_bits & 0x800:
        try:
            name = name.encode("cp437").decode("utf-8")
        except UnicodeError:  # a real code page 437 name (an old Windows zip): its bytes are not UTF-8
            pass
    if info.create_system == 0:  # made on MS-DOS or Windows, where '\\' separates folders
        name = name.replace("\\", "/")
    return name


def _is_link(info: zipfile.ZipInfo) -> bool:
    """Whether a zip member is a symbolic link (``zip --symlinks``): its Unix mode says so and its data is the path
    it leads to."""
    return info.create_system == 3 and (info.external_attr >> 16) & 0o170000 == 0o120000


def _archive_litter(name: str) -> bool:
    """Files macOS adds beside the data: Finder's ``__MACOSX/`` folder and ``._`` resource forks, in a zip or
    in the folder unzipped from one or copied to a non-Mac disk."""
    return name.startswith("__MACOSX/") or PurePosixPath(name).name.startswith("._")


#: the files that give a dataset its poses, at its top (``poses/`` is a folder)
_POSE_NAMES = ("dataset.json", "poses.json")


def _zip_holds_pose_files(members: dict):
    """Whether the zip's folder ``top`` (``"data/"``) holds ``dataset.json``, ``poses.json`` or ``poses/``."""
    def holds(top: str) -> bool:
        pose_files = {f"{top}{name}" for name in _POSE_NAMES}
        return any(n in pose_files or n.startswith(f"{top}poses/") for n in members)

    return holds


def _folder_holds_pose_files(path: Path):
    """Whether the folder's subfolder ``top`` (``"data/"``) holds ``dataset.json``, ``poses.json`` or ``poses/``."""
    return lambda top: any((path / top / name).exists() for name in (*_POSE_NAMES, "poses"))


def _top_entries(path: Path) -> list[str]:
    """The folder's top entries as a zip names its members: ``name`` for a file, ``name/`` for a folder."""
    try:
        return [e.name + ("/" if e.is_dir() else "") for e in os.scandir(path)]
    except OSError:  # unreadable: listing it says so
        return []


def _one_folder_root(names: list[str], holds_pose_files) -> tuple[str, list[str]]:
    """``("data/", beside)`` where the dataset's top (a zip's members, or a folder's top entries) holds one folder
    ``data/`` that holds the pose files (``holds_pose_files("data/")``), and beside it nothing but files that are
    neither images nor pose files (``beside``: a README, a LICENSE); else ``("", [])`` (the top is the dataset's).
    Hidden files and macOS litter beside the folder (a ``.DS_Store``, ``__MACOSX/``) do not count (:func:`_hidden`)."""
    names = [n for n in names if not _hidden(n.split("/", 1)[0]) and not _archive_litter(n)] or list(names)  # './'
    beside = sorted(n for n in names if "/" not in n and not _is_dataset_image(n)
                    and n.casefold() not in _POSE_NAMES)
    inside = [n for n in names if n not in beside]
    tops = {n.split("/", 1)[0] for n in inside}
    if len(tops) != 1 or not all("/" in n for n in inside):
        return "", []
    top = f"{tops.pop()}/"
    return (top, beside) if holds_pose_files(top) else ("", [])


def _json_number(value) -> float | None:
    """A JSON number as a float, or None for anything else: a number written as text (``"0.5"``), ``true`` or
    ``false``, ``null``, a list. An integer too large for a float is infinite, as ``1e400`` is."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def _json_vector(value, n: int) -> np.ndarray | None:
    """``n`` JSON numbers (a list, nested lists of one shape too) as a flat float64 vector, or None where any item is
    not a JSON number (:func:`_json_number`) or there are not ``n`` of them."""
    arr = _json_numbers(value)
    return arr if arr is not None and arr.size == n else None


#: what a camera of another count of numbers than 25 is, by its count
_PART_CAMERAS = {16: "a 4x4 cam2world without the intrinsics", 12: "a 3x4 cam2world without the intrinsics",
                 9: "3x3 intrinsics without the cam2world"}


def _not_25_numbers(what: str, value) -> str:
    """The missing-pose problem of a camera ``value`` that is not 25 JSON numbers; where it is numbers of another count,
    it says how many (a 4x4 cam2world alone had been told only that it is not 25 numbers)."""
    arr = _json_numbers(value)
    if arr is None and isinstance(value, int) and not isinstance(value, bool):  # StyleGAN's dataset_tool: a class
        return (f"missing pose ({what} is not 25 numbers: it is the one whole number {value}, a class label as a "
                f"class-conditional StyleGAN dataset holds; zoo3d needs each image's camera, the 4x4 OpenCV "
                f"cam2world then the 3x3 intrinsics normalised by the image size)")
    if arr is None:
        return f"missing pose ({what} is not 25 numbers)"
    part = f", {_PART_CAMERAS[arr.size]}" if arr.size in _PART_CAMERAS else ""
    return (f"missing pose ({what} is not 25 numbers: it holds {arr.size}{part}; a camera is the 4x4 OpenCV cam2world "
            f"then the 3x3 intrinsics normalised by the image size)")


def _json_numbers(value) -> np.ndarray | None:
    """The JSON numbers of a list (nested lists of one shape too) as a flat float64 vector, or None where any item is
    not a JSON number (:func:`_json_number`) or ``value`` is no list."""
    def numbers(item):
        if isinstance(item, list):
            return [numbers(x) for x in item]
        number = _json_number(item)
        if number is None:
            raise ValueError("not a number")
        return number

    if not isinstance(value, list):
        return None
    try:
        arr = np.asarray(numbers(value), dtype=np.float64).reshape(-1)
    except ValueError:  # text, true/false or null among them, or lists of different lengths
        return None
    return arr


def _array_vector(value, n: int) -> np.ndarray | None:
    """``n`` numbers from a ``.npy`` or ``.mat`` array as a flat float64 vector, or None where the array does not hold
    integers or floats (text, booleans, complex numbers) or not ``n`` of them."""
    arr = np.asarray(value)
    if arr.dtype.kind not in "iuf":
        return None
    arr = arr.astype(np.float64).reshape(-1)
    return arr if arr.size == n else None


def camera_problem(vec: np.ndarray) -> str | None:
    """Why an EG3D 25-vector cannot be a camera (non-finite, not a rigid pose, bad intrinsics), or None."""
    if not np.all(np.isfinite(vec)):
        return "pose has NaN or infinite values"
    m = vec[:16].reshape(4, 4)
    r = m[:3, :3]
    if not np.allclose(m[3], [0, 0, 0, 1], atol=1e-4):
        return "pose out of range: last row of cam2world is not [0, 0, 0, 1]"
    if not np.allclose(r.T @ r, np.eye(3), atol=2e-3) or np.linalg.det(r) < 0:
        return "pose out of range: cam2world rotation is not orthonormal"
    k = vec[16:].reshape(3, 3)
    if k[0, 0] <= 0 or k[1, 1] <= 0 or not np.allclose(k[2], [0, 0, 1], atol=1e-6):
        return "pose out of range: intrinsics need positive focal lengths and last row [0, 0, 1]"
    if abs(k[0, 1]) > 1e-6:  # zoo3d's cameras have no skew: it would be dropped silently
        return "pose out of range: intrinsics have a skew (k[0][1] != 0), which zoo3d's cameras do not model"
    if not (-1.0 <= k[0, 2] <= 2.0 and -1.0 <= k[1, 2] <= 2.0):
        return "pose out of range: principal point far outside the image (intrinsics must be normalised)"
    if np.linalg.norm(m[:3, 3]) < 1e-6:
        return "pose out of range: camera centre at the origin"
    if m[:3, 2] @ m[:3, 3] >= 0:  # the forward column points away from the subject: an OpenGL/Blender matrix?
        return ("pose out of range: the camera faces away from the origin (cam2world must be OpenCV's, columns "
                "right, down, forward; OpenGL's and Blender's have up and backward)")
    return None


def _angles_to_eg3d(yaw: float, pitch: float, radius: float = 1.0, fov: float = 12.0) -> np.ndarray:
    import torch

    from zoo3d.cameras import Camera

    cam = Camera.from_angles(torch.tensor([yaw], dtype=torch.float64), pitch, radius, fov)
    return cam.to_eg3d()[0].numpy()


# ------------------------------------------------------------------------------------ detection

def detect_format(source: Source) -> str:
    """``eg3d``, ``zoo3d`` or ``gram`` from the marker files, ``images`` for a plain image folder."""
    if source.exists("dataset.json"):
        return "eg3d"
    if source.exists("poses.json"):
        return "zoo3d"
    files = source.files()
    if any(f.startswith("poses/") for f in files):
        return "gram"
    return "images"


#: the file or folder that gives each format its poses, in the order they are looked for
_POSE_FILES = {"eg3d": "dataset.json", "zoo3d": "poses.json", "gram": "poses/"}


def _ignored_pose_files(source: Source, fmt: str) -> list[str]:
    """The pose files beside the one format ``fmt`` reads (a poses.json added to an EG3D folder), which are not
    read."""
    if fmt not in ("eg3d", "zoo3d"):
        return []
    later = list(_POSE_FILES.values())[list(_POSE_FILES).index(fmt) + 1:]
    here = {"poses.json": lambda: source.exists("poses.json"),
            "poses/": lambda: (any(f.startswith("poses/") for f in source.files()) if source.is_zip
                               else (source.folder / "poses").is_dir())}  # a folder's is not walked again
    return [name for name in later if here[name]()]


def _pose_files_in_another_case(source: Source, files: list[str]) -> list[str]:
    """The pose files of the dataset's top folder named in another case than zoo3d looks for ('Poses.json', 'POSES/'
    from a Windows or macOS disk, where they are found), which are not read here: the report had said 'no
    dataset.json, poses.json or poses/ folder' beside them."""
    tops = sorted({f.split("/", 1)[0] + ("/" if "/" in f else "") for f in files})
    out = []
    for top in tops:
        lower = top.casefold()
        if top == lower or lower not in ("dataset.json", "poses.json", "poses/"):
            continue
        if lower.endswith("/"):
            found = (any(f.startswith("poses/") for f in files) if source.is_zip
                     else (source.folder / "poses").is_dir())  # a case-insensitive disk finds 'Poses' so
        else:
            found = source.exists(lower)
        if not found:
            out.append(top)
    return out


#: pose files of other tools at a dataset's top: what each is, and what of it becomes a poses.json camera
_NERF = ("NeRF's camera file", "its transform_matrix is OpenGL's cam2world: negate the second and third columns")
_NEUS = ("NeuS's camera file",
         "its world_mat_i @ scale_mat_i is a projection: split it into intrinsics and OpenCV's cam2world")
_FOREIGN_POSE_FILES = {"transforms.json": _NERF, "transforms_train.json": _NERF, "cameras_sphere.npz": _NEUS,
                       "cameras.npz": _NEUS}


def _foreign_pose_file(files: list[str]) -> str | None:
    """The note on another tool's pose file at the top of a folder of images without poses, or None: it had been
    passed over without a word, beside each image's 'missing pose'."""
    name = next((n for n in files if n in _FOREIGN_POSE_FILES), None)
    if name is None:
        return None
    what, how = _FOREIGN_POSE_FILES[name]
    return (f"{name} ({what}) is not read: write each image's camera to poses.json ({how}; docs/data.md, 'Camera "
            f"convention')")


def list_dataset(source: Source) -> Listing:
    """Records and pose problems of a dataset, whatever its format."""
    fmt = detect_format(source)
    listing = {"eg3d": _list_eg3d, "zoo3d": _list_zoo3d, "gram": _list_gram, "images": _list_images}[fmt](source)
    files = source.files()
    if hidden := _hidden_images_note(files, listing):
        listing.notes.append(hidden)
    if unread := _unread_images_note(files, listing):
        listing.notes.append(unread)
    if fmt == "images" and (foreign := _foreign_pose_file(files)):
        listing.notes.append(foreign)
    if ignored := _ignored_pose_files(source, fmt):
        listing.notes.append(f"{' and '.join(ignored)} {'is' if len(ignored) == 1 else 'are'} not read: the poses "
                             f"come from {_POSE_FILES[fmt]}, the first of dataset.json, poses.json and poses/ here")
    if other_case := _pose_files_in_another_case(source, files):
        one = len(other_case) == 1
        listing.notes.append(f"{' and '.join(other_case)} {'is' if one else 'are'} not read: pose files are found by "
                             f"their names in lower case (dataset.json, poses.json, poses/), and names are "
                             f"case-sensitive here; rename {'it' if one else 'them'}")
    if source.root:
        kind = "zip" if source.is_zip else "folder"
        beside = f" ({', '.join(source.beside)} beside it {'is' if len(source.beside) == 1 else 'are'} not read)" \
            if source.beside else ""
        listing.notes.append(f"the {kind} holds the dataset in its folder '{source.root}': it is read from there"
                             f"{beside}")
    if source.is_zip and (out := source.links_out()):
        link, target = out[0]
        more = f" and {len(out) - 1} more" if len(out) > 1 else ""
        listing.notes.append(f"{len(out)} symbolic link(s) of the zip lead out of it or round in a loop, and the files "
                             f"behind them are not in it ('{link}' -> '{target}'{more}): zip the folder without "
                             f"--symlinks")
    if source.is_zip and source.compressed():
        listing.notes.append("zip members are compressed: reading is slower than with an uncompressed zip (zip -0)")
    return listing


def _json(source: Source, name: str, listing: Listing):
    """The JSON document ``name`` holds (UTF-8, or UTF-16 or UTF-32 as JSON allows), or None with its problem."""
    try:
        return json.loads(source.read(name))
    except UnicodeDecodeError as exc:  # Windows-1252 text (an editor's 'ANSI'): the codec's words said nothing of it
        byte = exc.object[exc.start]
        listing.problems.append(Problem(name, f"unreadable JSON: it is not UTF-8 text (byte 0x{byte:02x} at position "
                                              f"{exc.start}, as another encoding such as Windows-1252 writes an "
                                              f"accented letter); save it as UTF-8"))
        return None
    except (ValueError, OSError, zipfile.BadZipFile, zlib.error) as exc:  # a damaged zip member too
        listing.problems.append(Problem(name, f"unreadable JSON: {exc}"))
        return None


def _list_eg3d(source: Source) -> Listing:
    listing = Listing("eg3d", [])
    data = _json(source, "dataset.json", listing)
    labels = data.get("labels") if isinstance(data, dict) else None
    if data is not None and not isinstance(data, dict):
        listing.problems.append(Problem("dataset.json", "must hold an object with a 'labels' list"))
    if labels is None:  # unconditional EG3D data: every image, no poses
        listing.records = [Record(n, None) for n in _image_files(source)]
        for r in listing.records:
            listing.problems.append(Problem(r.name, "missing pose (dataset.json has no labels)"))
        return listing
    if isinstance(labels, dict):  # {file: label}: EG3D's loader reads its labels as dict(labels), which takes this too
        labels = [list(entry) for entry in labels.items()]
    if not isinstance(labels, list):
        listing.problems.append(Problem("dataset.json", "'labels' must be a list of [file, 25 numbers]"))
        return listing
    for i, entry in enumerate(labels):
        if not (isinstance(entry, (list, tuple)) and len(entry) == 2 and isinstance(entry[0], str)):
            listing.problems.append(Problem(f"dataset.json#{i}", "label entry must be [file, 25 numbers]"))
            continue
        if (why := unsafe_name(entry[0])) is not None:
            listing.problems.append(Problem(entry[0], f"{why} (dataset.json#{i})"))
            continue
        name = clean_name(entry[0])
        vec = _json_vector(entry[1], 25)
        why = _not_25_numbers("label", entry[1]) if vec is None else camera_problem(vec)
        listing.records.append(Record(name, vec if why is None else None))
        if why is not None:
            listing.problems.append(Problem(name, why))
    _unlisted_images(source, listing, "dataset.json")
    return listing


def _is_dataset_image(name: str) -> bool:
    """Whether the file ``name`` is an image of the dataset: an image file outside the auxiliary folders (masks,
    depth), which share their photos' stems and need no pose, and not hidden (:func:`_hidden`)."""
    path = PurePosixPath(name)
    return path.suffix.lower() in IMAGE_SUFFIXES and path.parts[0] not in AUX_FOLDERS and not _hidden(name)


def _hidden(name: str) -> bool:
    """Whether the file ``name`` is hidden: its name or a folder on its way starts with '.' (``.thumb.png``,
    ``.ipynb_checkpoints/``, ``.git/``), which ``ls``, file browsers and GRAM's own loader (a glob) pass over. A
    folder's hidden images were each reported as an image without a pose; a file the index file lists is read."""
    return any(part.startswith(".") for part in PurePosixPath(name).parts)


def _unlisted(files: list[str], listing: Listing, suffixes, hidden: bool) -> list[str]:
    """The files among ``files`` with one of ``suffixes``, hidden or not as ``hidden`` says (:func:`_hidden`), outside
    the auxiliary folders, that no record of ``listing`` names."""
    listed = {r.name for r in listing.records}
    return [n for n in files if PurePosixPath(n).suffix.lower() in suffixes and _hidden(n) == hidden
            and PurePosixPath(n).parts[0] not in AUX_FOLDERS and n not in listed]


def _hidden_images_note(files: list[str], listing: Listing) -> str | None:
    """The note on the hidden image files among ``files`` that are not read (those an index file does not list), or
    None."""
    hidden = _unlisted(files, listing, IMAGE_SUFFIXES, hidden=True)
    if not hidden:
        return None
    why = f": {_POSE_FILES[listing.format]} does not list them" if listing.format in ("eg3d", "zoo3d") else ""
    return (f"{len(hidden)} hidden image file(s) (a name or folder starting with '.') are not read{why} "
            f"(first: {hidden[0]})")


def _unread_images_note(files: list[str], listing: Listing) -> str | None:
    """The note on the photos among ``files`` of a format zoo3d does not take as dataset images
    (:data:`UNREAD_IMAGE_SUFFIXES`) that no index file lists, by suffix, or None."""
    unread = _unlisted(files, listing, UNREAD_IMAGE_SUFFIXES, hidden=False)
    if not unread:
        return None
    return (f"{len(unread)} file(s) in a format that is not a dataset image are not read ({unread_kinds(unread)}): "
            f"save them as PNG or JPEG")


def unread_kinds(names: list[str]) -> str:
    """How many of ``names`` (photos of :data:`UNREAD_IMAGE_SUFFIXES`, in the order shown) have each suffix, and the
    first: ``.gif (1), .heic (2); first: IMG_1.heic``."""
    kinds = Counter(PurePosixPath(n).suffix.lower() for n in names)
    return f"{', '.join(f'{k} ({v})' for k, v in sorted(kinds.items()))}; first: {names[0]}"


def _image_files(source: Source) -> list[str]:
    """The folder's dataset images."""
    return [n for n in source.files() if _is_dataset_image(n)]


def case_blind(name: str) -> str:
    """``name`` as names that differ only in case, in white space at their ends or in the Unicode spelling of an
    accent compare: names listed in a dataset made on Windows or macOS (case-insensitive disks) or read from the
    lines of a text file with Windows line endings ('\\r' at the end) may differ from the files' names so."""
    return unicodedata.normalize("NFC", name.strip()).casefold()


def _unlisted_images(source: Source, listing: Listing, index_file: str, referenced: set[str] = frozenset()) -> None:
    """Images in the folder that the index file does not list: each is a record without a pose (whose problem names
    the listed name that differs from the image's only in case or in white space at its ends, where one does)."""
    listed = {r.name for r in listing.records} | {p.file for p in listing.problems} | set(referenced)
    listed = {unicodedata.normalize("NFC", n) for n in listed}  # either spelling of an accent (Source._inside)
    unlisted = [n for n in _image_files(source) if unicodedata.normalize("NFC", n) not in listed]
    if unlisted:  # a name that reaches a listed file another way is listed: in another case on macOS and Windows, by
        same = {key for n in listed if (key := source.identity(n)) is not None}  # a link (in a zip too)
        unlisted = [n for n in unlisted if source.identity(n) not in same]
    near: dict[str, str] = {}
    elsewhere: dict[str, str] = {}  # listed names by the file's own name, without its folder
    listed_names = {r.name for r in listing.records}
    for name in sorted(listed_names):
        near.setdefault(case_blind(name), name)
        elsewhere.setdefault(PurePosixPath(name).name, name)
    for name in unlisted:
        listing.records.append(Record(name, None))
        also = near.get(case_blind(name))
        other = elsewhere.get(PurePosixPath(name).name)
        bare = str(PurePosixPath(name).with_suffix(""))
        if also:
            also = f", which lists {also!r}, a name that differs in case or in white space at its ends"
        elif other and not source.exists(other):  # the same name in another folder, naming no file there
            also = f", which lists {other!r}, the same file name in another folder"
        elif bare in listed_names and not source.exists(bare):  # NeRF's file_path: './train/r_0'
            also = f", which lists {bare!r}, the name without its extension"
        else:
            also = ""
        listing.problems.append(Problem(name, f"missing pose (the image is not listed in {index_file}{also})"))


def _frame_camera(frame: dict) -> tuple[np.ndarray | None, str | None]:
    if "camera" in frame:
        vec = _json_vector(frame["camera"], 25)
        if vec is None:
            return None, _not_25_numbers("'camera'", frame["camera"])
        return vec, camera_problem(vec)
    if "yaw" in frame and "pitch" in frame:
        values = {}
        for key, default in (("yaw", None), ("pitch", None), ("radius", 1.0), ("fov", 12.0)):
            if key not in frame:  # radius or fov left out (yaw and pitch are there)
                values[key] = default
                continue
            number = _json_number(frame[key])
            if number is None:
                return None, f"missing pose ('{key}' is not a number)"
            values[key] = number
        if not all(math.isfinite(v) for v in values.values()):
            return None, "pose has NaN or infinite values"
        if (why := _angle_problem(values["yaw"], values["pitch"])) is not None:
            return None, why
        if not values["radius"] > 0:
            return None, (f"pose out of range: 'radius' is {values['radius']:g}; it is the camera's distance from the "
                          f"origin, above 0")
        if not 0 < values["fov"] < 180:
            return None, (f"pose out of range: 'fov' is {values['fov']:g}, outside (0, 180); it is the image's full "
                          f"vertical field of view in degrees")
        return _angles_to_eg3d(**values), None
    if "transform_matrix" in frame:  # a frame of NeRF's transforms.json, its file named as poses.json names it
        return None, ("missing pose (frame has neither 'camera' nor 'yaw'/'pitch'; its 'transform_matrix' is NeRF's "
                      "OpenGL cam2world: negate its second and third columns and give it as 'camera' with the "
                      "normalised intrinsics, 25 numbers)")
    return None, "missing pose (frame has neither 'camera' nor 'yaw'/'pitch')"


def _angle_problem(yaw: float, pitch: float) -> str | None:
    """Why a ``poses.json`` frame's yaw or pitch (radians) is out of range, naming the value, or None. A value that is
    in range as degrees says what it is in radians: a file written in degrees (``"yaw": 30``) had been told only that
    |yaw| must be <= pi, and its frames below pi, read as radians, pass, so every frame is to be converted."""
    for key, value, limit, fits, degrees_fit in (
            ("yaw", yaw, "[-pi, pi]", abs(yaw) <= math.pi, abs(yaw) <= 180),
            ("pitch", pitch, "(-pi/2, pi/2)", abs(pitch) < math.pi / 2, abs(pitch) < 90)):
        if not fits:
            hint = _in_radians([value]) if degrees_fit else ""
            return f"pose out of range: '{key}' is {value:g}, outside {limit}; yaw and pitch are radians{hint}"
    return None


def _in_radians(values) -> str:
    """`` (30 degrees is 0.5236)``, or of several values `` ([10, 30, 0] degrees is [0.1745, 0.5236, 0])``: what angles
    written in degrees are in radians, for a pose file's problem."""
    degrees = [f"{v:g}" for v in values]
    radians = [f"{math.radians(v):.4g}" for v in values]
    if len(values) == 1:
        return f" ({degrees[0]} degrees is {radians[0]})"
    return f" ([{', '.join(degrees)}] degrees is [{', '.join(radians)}])"


def _file_under_another_key(frame) -> str:
    """Where a ``poses.json`` frame without ``file`` names a file under another key (NeRF's ``file_path``, copied
    from its ``transforms.json``), the clause that names the key and says to write ``file``, else ''."""
    if not isinstance(frame, dict) or "file" in frame:
        return ""
    named = [(k, v) for k, v in frame.items() if isinstance(v, str) and v]
    if not named:
        return ""
    key, value = named[0]
    return f" (it has {key!r}, {value!r}: name the frame's image with the key 'file')"


def _list_zoo3d(source: Source) -> Listing:
    listing = Listing("zoo3d", [])
    data = _json(source, "poses.json", listing)
    if data is None:
        return listing
    frames = data.get("frames") if isinstance(data, dict) else None
    if not isinstance(frames, list):
        listing.problems.append(Problem("poses.json", "must hold an object with a 'frames' list"))
        return listing
    referenced = set()
    for i, frame in enumerate(frames):
        if not isinstance(frame, dict) or not isinstance(frame.get("file"), str) or not frame["file"]:
            listing.problems.append(Problem(f"poses.json#{i}", "frame must be an object with a 'file' string"
                                            + _file_under_another_key(frame)))
            continue
        if (why := unsafe_name(frame["file"])) is not None:
            listing.problems.append(Problem(frame["file"], f"{why} (poses.json#{i})"))
            continue
        referenced |= {clean_name(v) for k, v in frame.items() if k != "file" and isinstance(v, str)}  # depth, ...
        name = clean_name(frame["file"])
        vec, why = _frame_camera(frame)
        listing.records.append(Record(name, vec if why is None else None, fit_aspect="camera" not in frame))
        if why is not None:
            listing.problems.append(Problem(name, why))
    _unlisted_images(source, listing, "poses.json", referenced)
    return listing


def _gram_pose(source: Source, name: str) -> tuple[np.ndarray | None, str | None]:
    """EG3D vector from a GRAM pose file at radius 1: ``.mat`` angle or ``_pose.npy`` at fov 12 (FFHQ, cats),
    ``_extrinsics.npy`` at fov 30 (CARLA)."""
    import torch

    from zoo3d.cameras import Camera

    try:
        if name.endswith(".mat"):
            from scipy.io import loadmat

            mat = loadmat(source.open(name))
            if "angle" not in mat:
                return None, "missing pose ('angle' not in the .mat file)"
            angle = _array_vector(mat["angle"], 3)
            if angle is None:
                return None, "missing pose ('angle' must hold 3 numbers)"
            if not np.all(np.isfinite(angle)):
                return None, "pose has NaN or infinite values"
            if np.any(np.abs(angle) > math.pi):  # in degrees, as many head-pose estimators give them?
                hint = _in_radians(angle.tolist()) if np.all(np.abs(angle) <= 180) else ""
                return None, f"pose out of range: angle components must be within [-pi, pi]: they are radians{hint}"
            cam = Camera.from_gram_mat_angle(torch.tensor(angle, dtype=torch.float64), dtype=torch.float64)
        elif name.endswith("_extrinsics.npy"):
            m = np.asarray(np.load(source.open(name), allow_pickle=False))
            if m.shape not in ((4, 4), (3, 4)):
                return None, ("missing pose (the _extrinsics.npy file must hold a 4x4 or 3x4 cam2world matrix, "
                              f"got shape {m.shape})")
            if m.dtype.kind not in "iuf":
                what = {"U": "text", "S": "text", "b": "true/false values", "c": "complex numbers"}.get(m.dtype.kind,
                                                                                                   str(m.dtype))
                return None, f"missing pose (the _extrinsics.npy file must hold numbers, not {what})"
            m = m.astype(np.float64)
            if not np.all(np.isfinite(m)):
                return None, "pose has NaN or infinite values"
            dist = np.linalg.norm(m[:3, 3])  # GRAF's world is z-up: a centre on the z axis has no yaw
            if dist == 0 or np.hypot(m[0, 3], m[1, 3]) <= 1e-6 * dist:
                return None, "pose out of range: camera centre on the vertical (z) axis through the origin"
            cam = Camera.from_gram_carla_extrinsics(torch.tensor(m), dtype=torch.float64)
        else:
            pose = _array_vector(np.load(source.open(name), allow_pickle=False), 2)
            if pose is None:
                return None, "missing pose (the _pose.npy file must hold 2 numbers)"
            if not np.all(np.isfinite(pose)):
                return None, "pose has NaN or infinite values"
            if not (0 < pose[0] + 0.14 < math.pi) or abs(pose[1] - math.pi / 2) > math.pi:
                return None, "pose out of range: [pitch, yaw] must be pi/2-centred radians"
            cam = Camera.from_gram_pose_npy(torch.tensor(pose, dtype=torch.float64), dtype=torch.float64)
    except Exception as exc:  # a corrupt pose file is a problem to report, not a crash
        return None, f"unreadable pose file: {type(exc).__name__}"
    return cam.to_eg3d()[0].numpy(), None


def _list_gram(source: Source) -> Listing:
    listing = Listing("gram", [])
    files = source.files()
    poses = {f for f in files if f.startswith("poses/")}
    # a mask or depth image shares its photo's stem: it is neither a second image nor a duplicate
    images = [f for f in files if not f.startswith("poses/") and _is_dataset_image(f)]
    seen: dict[str, str] = {}
    poses_by_case: dict[str, str] | None = None  # the pose files by case-blind name, made at the first missing pose
    spellings: dict[str, str] | None = None  # the pose files by their NFC spelling, made at the first accented stem
    for name in images:
        stem = PurePosixPath(name).stem
        if stem in seen:
            listing.problems.append(Problem(name, f"duplicate name: '{seen[stem]}' has the same stem and pose file"))
            continue
        seen[stem] = name
        candidates = [f"poses/{stem}.mat", f"poses/{stem}_pose.npy", f"poses/{stem}_extrinsics.npy"]
        pose_file = next((c for c in candidates if c in poses), None)
        if pose_file is None and not stem.isascii():  # its pose file in the other spelling of an accent (macOS's)
            if spellings is None:
                spellings = {unicodedata.normalize("NFC", f): f for f in sorted(poses, reverse=True)}
            pose_file = next((spellings[k] for c in candidates
                              if (k := unicodedata.normalize("NFC", c)) in spellings), None)
        if pose_file is None:
            if poses_by_case is None:
                poses_by_case = {case_blind(f): f for f in sorted(poses, reverse=True)}  # the first in order wins
            other = next((poses_by_case[k] for c in candidates if (k := case_blind(c)) in poses_by_case), None)
            other = (f"; {other!r} is there, a name that differs in case: names are case-sensitive here, so rename "
                     f"it" if other else "")
            listing.records.append(Record(name, None))
            listing.problems.append(Problem(name, f"missing pose (no poses/{stem}.mat, poses/{stem}_pose.npy or "
                                                  f"poses/{stem}_extrinsics.npy{other})"))
            continue
        vec, why = _gram_pose(source, pose_file)
        listing.records.append(Record(name, vec))
        if why is not None:
            listing.problems.append(Problem(pose_file, why))
    if seen and (note := _unused_poses_note(poses, set(seen))):  # without images, 'no images found' says it
        listing.notes.append(note)
    return listing


#: the endings of a GRAM pose file after its image's stem
_GRAM_POSE_ENDINGS = (".mat", "_pose.npy", "_extrinsics.npy")


def _unused_poses_note(poses: set[str], stems: set[str]) -> str | None:
    """The note on the pose files of ``poses/`` that belong to no image of the dataset (``stems``), or None: left over
    from removed images, or named otherwise than the images (``poses/img_0001.mat`` for ``0001.png``), where each
    image's missing pose had been the only word."""
    stems = {unicodedata.normalize("NFC", stem) for stem in stems}  # a stem finds its pose file in either spelling
    unused = [f for f in sorted(poses) for end in _GRAM_POSE_ENDINGS
              if f.endswith(end) and unicodedata.normalize("NFC", f[len("poses/"):-len(end)]) not in stems]
    if not unused:
        return None
    return (f"{len(unused)} pose file(s) in poses/ belong to no image and are not read (first: {unused[0]}): an "
            f"image's pose is poses/<its stem>.mat, _pose.npy or _extrinsics.npy")


def dataset_above(source: Source) -> str:
    """Where a folder without pose files sits in a folder that holds them (``--data faces/images`` for the dataset
    ``faces``, or its ``poses/`` folder), the clause that names that folder as the dataset, else ''. Each image had
    been told only that there is no dataset.json, poses.json or poses/ folder, beside the one that holds them all."""
    if source.is_zip:
        return ""
    parent = Path(os.path.abspath(source.path)).parent
    held = next((name for name in ("dataset.json", "poses.json") if (parent / name).is_file()),
                "poses/" if (parent / "poses").is_dir() else None)
    return f"; the folder above holds {held}: give that folder, {str(parent)!r}, as the dataset" if held else ""


def _list_images(source: Source) -> Listing:
    listing = Listing("images", [])
    listing.records = [Record(n, None) for n in _image_files(source)]
    where = " at the zip's root or in its only folder" if source.is_zip else dataset_above(source)
    for r in listing.records:  # training needs a camera for every image
        listing.problems.append(Problem(r.name, f"missing pose (no dataset.json, poses.json or poses/ folder{where})"))
    return listing


def first_of_each(records: list[Record]) -> list[Record]:
    """The records in order, a file listed more than once only at its first listing (and pose)."""
    seen: set[str] = set()
    return [r for r in records if not (r.name in seen or seen.add(r.name))]


def duplicate_problems(records: list[Record]) -> list[Problem]:
    """A problem for every record whose file name was already listed."""
    seen, out = set(), []
    for r in records:
        if r.name in seen:
            out.append(Problem(r.name, "duplicate name: the file is listed more than once"))
        seen.add(r.name)
    return out


# ------------------------------------------------------------------------------------ writers

def write_zoo3d_poses(folder: str | Path, files: list[str], cameras: np.ndarray, extra: list[dict] | None = None,
                      resolution: int | None = None) -> Path:
    """Write ``poses.json`` for images already in ``folder``; cameras (N, 25) EG3D vectors."""
    frames = []
    for i, (f, cam) in enumerate(zip(files, np.asarray(cameras, dtype=np.float64))):
        frame = {"file": f, "camera": [float(v) for v in cam]}
        if extra is not None:
            frame.update(extra[i])
        frames.append(frame)
    doc = {"version": 1, "camera": "opencv_cam2world_4x4+normalized_intrinsics_3x3 (EG3D 25-vector)",
           "resolution": resolution, "frames": frames}
    from zoo3d.fileio import write_text_atomic

    return write_text_atomic(Path(folder) / "poses.json", json.dumps(doc, indent=1), "poses")


def write_eg3d_labels(folder: str | Path, files: list[str], cameras: np.ndarray) -> Path:
    """Write EG3D ``dataset.json`` for images already in ``folder``; cameras (N, 25)."""
    labels = [[f, [float(v) for v in cam]] for f, cam in zip(files, np.asarray(cameras, dtype=np.float64))]
    from zoo3d.fileio import write_text_atomic

    return write_text_atomic(Path(folder) / "dataset.json", json.dumps({"labels": labels}), "labels")
