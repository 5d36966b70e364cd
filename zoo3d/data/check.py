"""``zoo3d data check``: what a dataset folder or zip holds and every problem in it, by file.

``check_dataset(path, full=False)`` reads only image headers (fast: what training runs at
start-up); ``full=True`` decodes every image, which also finds truncated files. ``crop`` is the
``data.crop`` training will use: with ``none`` a non-square image cannot be served.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image

from zoo3d.data.formats import (IMAGE_SUFFIXES, Problem, Source, archive_kind, case_blind, dataset_above,
                                 duplicate_problems, first_of_each, list_dataset, not_a_dataset)
from zoo3d.data.images import FLOAT_PIXELS, colour_profile, stored_size, too_many_pixels
from zoo3d.errors import UserError, counted, shown_name

_GREY = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L"}
_PALETTE = {"P", "PA"}
_ALPHA = {"RGBA", "LA", "PA", "RGBa", "La"}


@dataclass
class CheckReport:
    """The result of a dataset check. ``ok``: no problems. ``usable``: at least one posed, readable image."""

    path: str
    format: str
    count: int
    resolutions: dict[str, int]
    yaw: dict[str, float | None]
    pitch: dict[str, float | None]
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    usable_count: int = 0
    #: the sizes of the images training serves (``resolutions`` counts every image the folder holds)
    usable_resolutions: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def usable(self) -> bool:
        return self.usable_count > 0

    @property
    def resolution(self) -> list[int] | None:
        """[H, W] of the most common image size."""
        if not self.resolutions:
            return None
        w, h = max(self.resolutions.items(), key=lambda kv: kv[1])[0].split("x")
        return [int(h), int(w)]

    def to_json(self) -> dict:
        return {"count": self.count, "format": self.format, "resolution": self.resolution,
                "resolutions": self.resolutions, "yaw": self.yaw, "pitch": self.pitch,
                "problems": [p.as_dict() for p in self.problems], "notes": self.notes,
                "usable": self.usable_count, "path": self.path}

    def summary(self, max_problems: int = 20) -> str:
        """Plain-text report (the CLI's output and the message training refuses a dataset with)."""
        def stat(s):
            return "n/a" if s["mean"] is None else f"mean {s['mean']:+.3f} rad, std {s['std']:.3f} rad"
        res = ", ".join(f"{k} ({v})" for k, v in sorted(self.resolutions.items(), key=lambda kv: -kv[1])) or "none"
        lines = [f"{shown_name(self.path)}: {self.format} format, {self.count} images ({self.usable_count} usable)",
                 f"  resolutions: {res}", f"  yaw:   {stat(self.yaw)}", f"  pitch: {stat(self.pitch)}"]
        lines += [f"  note: {shown_name(n)}" for n in self.notes]  # a file name in it may hold a '\\r'
        if self.problems:
            lines.append(f"  {len(self.problems)} problem(s):")
            lines += [f"    {shown_name(p.file)}: {p.problem}" for p in self.problems[:max_problems]]
            if len(self.problems) > max_problems:
                lines.append(f"    ... and {len(self.problems) - max_problems} more (zoo3d data check --json lists all)")
        else:
            lines.append("  no problems")
        return "\n".join(lines)


def _stats(values: np.ndarray) -> dict[str, float | None]:
    if values.size == 0:
        return {"mean": None, "std": None}
    return {"mean": float(values.mean()), "std": float(values.std())}


def _angles(cameras: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Yaw and pitch (radians, zoo3d convention) of camera centres about the origin; cameras (N, 25)."""
    centres = cameras[:, :16].reshape(-1, 4, 4)[:, :3, 3]
    radius = np.linalg.norm(centres, axis=1)
    pitch = np.arcsin(np.clip(centres[:, 1] / radius, -1, 1))
    yaw = np.arctan2(-centres[:, 0], centres[:, 2])
    return yaw, pitch


def _near_name(source: Source, files: tuple[dict[str, list[str]], ...], name: str) -> str:
    """Where the dataset holds the missing file ``name`` under a name that differs from it only in case or in white
    space at its ends, in its folder, or by an image's extension (``files``: the dataset's files by :func:`case_blind`
    name, by their own name and by their name without an image's extension, :func:`_files_by_name`), the clause that
    says so, else ''. A dataset made on Windows or macOS, whose disks find 'IMG_0001.PNG' as 'img_0001.png', lists
    names in any case, and names read from the lines of a text file with Windows line endings keep a '\\r': here, and
    in a zip, they name no file, and the check had said only 'missing image file' of a file that is there (and
    'missing pose' of it under its own name, beside a line the '\\r' had garbled); so had it of a name listed without
    its folder ('0001.png' for images/0001.png), and of one listed without its extension ('./train/r_0' for
    train/r_0.png, as NeRF's transforms.json names its images)."""
    if name != name.strip() and source.exists(name.strip()):
        crlf = ", as lines read from a text file with Windows line endings keep a '\\r'" if "\r" in name else ""
        return (f" (the dataset holds {name.strip()!r}, the name without the white space {_ends(name)!r} at its ends; "
                f"strip the names{crlf})")
    by_case, by_own_name, by_bare_name = files
    others = by_case.get(case_blind(name))
    if others:
        return (f" (the dataset holds {' and '.join(repr(n) for n in others)}, a name that differs in case: names are "
                f"case-sensitive here, so list the file as it is named)")
    elsewhere = [n for n in by_own_name.get(PurePosixPath(name).name, []) if n != name]
    if elsewhere:  # listed without its folder ('0001.png' for images/0001.png), or under another folder
        return (f" (the dataset holds {' and '.join(repr(n) for n in elsewhere[:3])}, the same file name in another "
                f"folder: names are paths from the dataset's folder, so list it as {elsewhere[0]!r})")
    suffixed = by_bare_name.get(name)
    if suffixed:
        return f" (the dataset holds {suffixed[0]!r}, the name with its extension: list it as {suffixed[0]!r})"
    return ""


def _files_by_name(source: Source) -> tuple[dict[str, list[str]], dict[str, list[str]], dict[str, list[str]]]:
    """The dataset's files by :func:`case_blind` name, by their own name without their folder, and its images by
    their name without their extension (for :func:`_near_name`)."""
    by_case: dict[str, list[str]] = {}
    by_own_name: dict[str, list[str]] = {}
    by_bare_name: dict[str, list[str]] = {}
    for name in source.files():
        by_case.setdefault(case_blind(name), []).append(name)
        by_own_name.setdefault(PurePosixPath(name).name, []).append(name)
        if PurePosixPath(name).suffix.lower() in IMAGE_SUFFIXES:
            by_bare_name.setdefault(str(PurePosixPath(name).with_suffix("")), []).append(name)
    return by_case, by_own_name, by_bare_name


def _ends(name: str) -> str:
    """The white space at the ends of ``name``."""
    return name[:len(name) - len(name.lstrip())] + name[len(name.rstrip()):]


def _other_sizes_note(sizes: dict[str, tuple[int, int]], counts: Counter) -> str | None:
    """The note on the images whose size differs from the most common one, or None. Training crops and resizes every
    image to its resolution, the camera with it, so they are served like the rest: a note, not a problem (a problem
    makes ``data check`` exit 1, where training refuses or skips something)."""
    if len(counts) < 2:
        return None
    common = counts.most_common(1)[0][0]
    other = [(name, f"{w}x{h}") for name, (w, h) in sizes.items() if f"{w}x{h}" != common]
    return (f"{len(other)} image(s) differ in size from most ({common}): training crops and resizes every image to its "
            f"resolution, the camera with it, so they are used as the rest are (first: {other[0][0]}, {other[0][1]})")


#: The narrowest vertical field of view (degrees) a camera of a dataset is taken to have on purpose: a 400 mm lens on a
#: full-frame camera sees 3.4 degrees; a 'fov' written in radians (0.69, NeRF's camera_angle_x) or a focal length in
#: pixels (fy = 500 for fy/H) reads as less.
NARROW_FOV = 3.0


def _narrow_view_note(posed) -> str | None:
    """The note on the served images whose camera sees a vertical field of view under :data:`NARROW_FOV` degrees, or
    None: such a pose passes every check, and a model conditioned on the cameras would learn a scene seen through a
    telescope."""
    fovs = [(r.name, float(np.degrees(2 * np.arctan(0.5 / abs(r.camera[20]))))) for r in posed if r.camera[20]]
    narrow = [(name, fov) for name, fov in fovs if fov < NARROW_FOV]
    if not narrow:
        return None
    name, fov = narrow[0]
    return (f"{len(narrow)} image(s) have a vertical field of view under {NARROW_FOV:g} degrees (first: {name}, "
            f"{fov:.3g} degrees): a frame's 'fov' is in degrees, not radians, and a camera's focal length is a "
            f"fraction of the image size (fx/W, fy/H), not pixels")


def _archives_inside(source: Source, listing) -> str:
    """Where a folder without images holds a zip or another archive (the dataset downloaded into it, given by its
    folder), the clause that names it and what to give instead, else ''."""
    if listing.records or source.is_zip:
        return ""
    if listing.format == "images" and (above := dataset_above(source)):
        return above
    zips = [n for n in source.files() if n.lower().endswith(".zip")]
    if zips:
        more = f" (and {counted(len(zips) - 1, 'more zip')})" if len(zips) > 1 else ""
        return f"; it holds the zip {zips[0]!r}{more}: give that zip as the dataset"
    other = next((n for n in source.files() if archive_kind(n) is not None), None)
    return f"; it holds {other!r}, a {archive_kind(other)} archive: unpack it and give its folder" if other else ""


def check_dataset(path: str | Path, full: bool = False, crop: str = "center") -> CheckReport:
    """Check a dataset folder or zip (EG3D, GRAM-style or zoo3d format); returns its :class:`CheckReport` (what the
    folder holds and its problems) and never raises on bad content."""
    try:
        source = Source(path)
    except FileNotFoundError:
        raise not_a_dataset(path) from None
    listing = list_dataset(source)
    # a file listed twice is served once: a problem to fix, not an unusable file
    problems = list(listing.problems) + duplicate_problems(listing.records)
    notes = list(listing.notes)
    sizes: dict[str, tuple[int, int]] = {}
    converted, alpha, profiled = [], [], []
    files_by_name = None  # built at the first missing file
    for rec in listing.records:
        if rec.name in sizes:
            continue
        if not source.exists(rec.name):
            if files_by_name is None:
                files_by_name = _files_by_name(source)
            problems.append(Problem(rec.name, "missing image file" + _near_name(source, files_by_name, rec.name)))
            continue
        try:
            with source.open(rec.name) as fp, Image.open(fp) as img:
                size, mode = stored_size(img), img.mode  # a TIFF's too, which Pillow sizes upright
                if full:
                    img.load()
            if mode == "F":  # decode_image refuses them: training would skip each one
                problems.append(Problem(rec.name, f"unreadable image: {FLOAT_PIXELS}"))
                continue
            sizes[rec.name] = size
            if mode in _GREY or mode in _PALETTE:
                converted.append(rec.name)
            if mode in _ALPHA or (mode == "P" and "transparency" in img.info):  # LA is both
                alpha.append(rec.name)
            if (profile := colour_profile(img)) is not None:
                profiled.append((rec.name, profile))
        except Image.DecompressionBombError:  # a 200-megapixel phone photo, which PIL's words call an attack
            with source.open(rec.name) as fp:
                problems.append(Problem(rec.name, f"unreadable image: its {too_many_pixels(fp)}; save a smaller copy "
                                                  f"(training resizes every image to its resolution anyway)"))
        except Exception as exc:  # noqa: BLE001 - every decoding failure is a reported problem
            text = str(exc)
            kind = "truncated image" if "truncated" in text.lower() else "unreadable image"
            problems.append(Problem(rec.name, f"{kind}: {type(exc).__name__}: {text}"[:200]))
    counts = Counter(f"{w}x{h}" for w, h in sizes.values())
    if note := _other_sizes_note(sizes, counts):
        notes.append(note)
    oblong = {name: f"{w}x{h}" for name, (w, h) in sizes.items() if w != h}
    if crop == "none":  # decode_image refuses them, so training skips each one
        problems += [Problem(n, f"not square ({size}): data.crop = none needs square images (data.crop = center "
                                f"takes their centred square)") for n, size in oblong.items()]
    elif oblong:
        notes.append("non-square images are centre-cropped to a square (data.crop = center)")
    if converted:
        notes.append(f"{len(converted)} grey or palette image(s) are converted to RGB (first: {converted[0]})")
    if alpha:
        notes.append(f"{len(alpha)} image(s) with an alpha channel: alpha is dropped (first: {alpha[0]})")
    if profiled:
        from PIL import ImageCms

        first, profile = profiled[0]
        notes.append(f"{len(profiled)} image(s) carry a colour profile other than sRGB: their colours are converted to "
                     f"sRGB, as viewers show them (first: {first}, {ImageCms.getProfileDescription(profile).strip()})")
    # what training serves: each file's first listing, when it has a pose and the image reads
    served = set(sizes) - set(oblong) if crop == "none" else set(sizes)
    posed = [r for r in first_of_each(listing.records) if r.camera is not None and r.name in served]
    cams = np.stack([r.camera for r in posed]) if posed else np.zeros((0, 25))
    yaw, pitch = _angles(cams) if len(cams) else (np.zeros(0), np.zeros(0))
    if note := _narrow_view_note(posed):
        notes.append(note)
    if not posed and not problems:  # nothing to train on is a problem, even when nothing is wrong with a file
        what = "no images found" if not listing.records else "no image with a usable pose"
        problems.append(Problem(str(path), f"{what} ({listing.format} format){_archives_inside(source, listing)}"))
    problems.sort(key=lambda p: p.file)
    return CheckReport(str(path), listing.format, len(listing.records), dict(counts), _stats(yaw), _stats(pitch),
                       problems, notes, usable_count=len(posed),
                       usable_resolutions=dict(Counter(f"{w}x{h}" for w, h in (sizes[r.name] for r in posed))))


def ensure_usable(path: str | Path) -> CheckReport:
    """The start-up check of a folder dataset (headers only), for training and for ``compare --data``: the
    report, or UserError when nothing is usable."""
    report = check_dataset(path, full=False)
    if not report.usable:
        raise UserError(f"Dataset '{shown_name(str(path))}' cannot be used: it holds no usable posed image.\n"
                        f"{report.summary()}")
    return report


__all__ = ["CheckReport", "check_dataset", "ensure_usable", "shown_name"]
