"""Datasets read from disk: EG3D, GRAM-style and zoo3d folders (or zips), one item per posed image."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from zoo3d.cameras import EG3D_LABEL_DIM, Camera
from zoo3d.data.augment import mirror_flag, mirror_item
from zoo3d.data.formats import Source, first_of_each, list_dataset, not_a_dataset
from zoo3d.data.images import crop_box, crop_camera, decode_image, served_size, square_pixels
from zoo3d.data.served import spread
from zoo3d.errors import UserError, shell_word, shown_name

log = logging.getLogger(__name__)


class UnreadableDataError(UserError):
    """The dataset's images cannot be decoded (all of those tried)."""

    def __init__(self, *args, message: str | None = None):
        if message is not None:  # re-raised by a DataLoader worker with its traceback: keep our sentence
            args = (message.strip().splitlines()[-1].split(": ", 1)[-1],)
        super().__init__(*args)


class FolderDataset(Dataset):
    """Posed images from a folder or zip; items are ``{"image", "camera", "index", "mirrored"}``.

    Only records with a valid pose whose file exists when the dataset is built are served (a
    missing file kept would have its neighbour served twice each epoch). A file that cannot be
    decoded when an item is read is logged, counted in :attr:`skipped`, and replaced by the next
    readable item, so a file that goes bad mid-run never stops training.
    """

    def __init__(self, path: str | Path, resolution: int, crop: str = "center", resize: str = "lanczos",
                 mirror: bool = False, seed: int = 0):
        try:
            self.source = Source(path)
        except FileNotFoundError:
            raise not_a_dataset(path) from None
        listing = list_dataset(self.source)
        self.format = listing.format
        # a file listed twice is served once, with its first pose: a bad pose in a later listing does not
        # drop it (``zoo3d data check`` counts it so too)
        posed = [r for r in first_of_each(listing.records) if r.camera is not None]
        self.records = [r for r in posed if self.source.exists(r.name)]  # ``data check`` counts them so too
        if not self.records:
            what = (f"none of its {len(posed)} image(s) with a valid pose exists (first: "
                    f"'{shown_name(posed[0].name)}')" if posed else "it has no image with a valid pose")
            raise UserError(f"Dataset '{shown_name(str(path))}' ({listing.format} format) cannot be used: {what}; "
                            f"run `zoo3d data check {shell_word(str(path))}` for the list of problems.")
        self.resolution, self.crop, self.resize = int(resolution), crop, resize
        self.mirror, self.seed, self.epoch = bool(mirror), int(seed), 0
        self.skipped: dict[str, str] = {}

    def _unreadable_message(self, what: str) -> str:
        first, why = next(iter(self.skipped.items()), ("?", "?"))
        command = f"zoo3d data check {shell_word(str(self.source.path))}"
        return (f"{what} (first: '{shown_name(first)}', {why}); run `{command}`, "
                f"which decodes every image, for the list.")

    def check_readable(self, probes: int = 8) -> None:
        """Decode up to ``probes`` images spread over the dataset; UserError when none of them decodes."""
        picks = spread(len(self.records), probes)
        for i in picks:
            try:
                self._load(i)
                return
            except Exception as exc:  # noqa: BLE001 - any decoding failure counts
                self.skipped.setdefault(self.records[i].name, f"{type(exc).__name__}: {exc}")
        message = self._unreadable_message(f"Dataset '{shown_name(str(self.source.path))}' cannot be used: none of "
                                           f"the {len(picks)} images tried could be decoded")
        self.skipped.clear()
        raise UnreadableDataError(message)

    def __len__(self) -> int:
        return len(self.records)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def cameras(self) -> Camera:
        """Every served image's camera, in index order, as its item carries it unmirrored (``Camera.from_eg3d(
        ds[i]["camera"])``), from the pose records and each image's header (its size sets the crop's intrinsics;
        :func:`zoo3d.data.images.served_size`), no square image decoded (1,000 square PNGs in about 0.3 s on a loaded
        2-core CPU, the dataset's listing included; a non-square PNG is decoded for its EXIF orientation, which may
        follow its pixels: 1,000 of 256x192 in about 0.9 s); an image whose header cannot be read, which training
        skips, is left out."""
        labels = []
        for rec in self.records:
            try:
                with self.source.open(rec.name) as fp:
                    width, height = served_size(fp)
                labels.append(self._camera(rec, (width, height), crop_box(width, height, self.crop)))
            except Exception:  # noqa: BLE001 - as __getitem__: a file it cannot read is not served
                continue
        vectors = torch.from_numpy(np.stack(labels)) if labels else torch.zeros(0, EG3D_LABEL_DIM)
        return Camera.from_eg3d(vectors.to(torch.get_default_dtype()))

    @staticmethod
    def _camera(rec, size: tuple[int, int], box: tuple[int, int, int, int]) -> np.ndarray:
        """The EG3D vector of record ``rec``'s image of (width, height) ``size`` cropped to ``box``."""
        camera = square_pixels(rec.camera, *size) if rec.fit_aspect else rec.camera
        return crop_camera(camera, *size, box)

    def _load(self, index: int) -> dict:
        rec = self.records[index]
        with self.source.open(rec.name) as fp:
            image, size, box = decode_image(fp, self.resolution, self.crop, self.resize)
        camera = self._camera(rec, size, box)
        return {"image": image, "camera": torch.from_numpy(camera).to(torch.get_default_dtype()), "index": index}

    def __getitem__(self, index: int) -> dict:
        index = int(index)
        n = len(self.records)
        for attempt in range(min(n, 16)):
            i = (index + attempt) % n
            try:
                item = self._load(i)
                break
            except Exception as exc:  # noqa: BLE001 - any decoding failure: skip the file, never crash
                name = self.records[i].name
                if name not in self.skipped:
                    self.skipped[name] = f"{type(exc).__name__}: {exc}"
                    log.warning("skipping unreadable image %s (%s); %d skipped so far", name, exc, len(self.skipped))
        else:
            raise UnreadableDataError(self._unreadable_message(
                f"Stopped: {min(n, 16)} images in a row of dataset '{shown_name(str(self.source.path))}' could not be "
                f"decoded"))
        item["mirrored"] = False
        if self.mirror and mirror_flag(self.seed, index, self.epoch):
            item = mirror_item(item)
            item["mirrored"] = True
        return item
