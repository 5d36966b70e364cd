"""``build_dataset``: a DataConfig and a resolution -> a torch Dataset of posed images."""

from __future__ import annotations

from pathlib import Path, PurePath

from torch.utils.data import Dataset

from zoo3d.errors import UserError, shown_name


def parse_spec(spec: str) -> tuple[str, str]:
    """``"synthetic:heads?count=100"`` -> (``"synthetic:heads"``, ``"count=100"``)."""
    name, _, query = spec.partition("?")
    return name.strip(), query


def build_dataset(cfg, resolution: int, camera_prior=None, seed: int = 0) -> Dataset:
    """The dataset named by ``cfg.spec``: a registered dataset (``synthetic:heads``) or a folder/zip path. ``cfg`` is a
    :class:`zoo3d.config.DataConfig`, or the spec alone (text or a ``pathlib.Path``) with its other settings' defaults.

    Items are dicts: ``image`` (3, R, R) float in [-1, 1], ``camera`` (25,) EG3D vector, ``index``
    (int) and ``mirrored`` (bool); synthetic items also ``depth`` (1, R, R) (distance along the
    ray) and ``mask`` (1, R, R). With ``cfg.mirror`` an item is flipped together with its camera
    with probability 1/2, reproducibly per (seed, index, epoch); call ``dataset.set_epoch(e)``.
    """
    if isinstance(cfg, (str, PurePath)):  # build_dataset("/data/ffhq256", 64): cfg.spec was an AttributeError
        from zoo3d.config import DataConfig

        cfg = DataConfig(spec=cfg)
    registered, path = _locate(cfg.spec)
    if registered is not None:
        return registered.build(cfg, resolution, query=parse_spec(cfg.spec)[1], camera_prior=camera_prior, seed=seed)
    from zoo3d.data.folder import FolderDataset

    return FolderDataset(path, resolution, crop=cfg.crop, resize=cfg.resize, mirror=cfg.mirror, seed=seed)


def check_spec(spec: str) -> None:
    """Refuse, in one sentence and without reading a pixel, a spec that :func:`build_dataset` would refuse or
    whose folder holds no usable posed image (the check ``zoo3d compare`` runs before any model is loaded)."""
    usable_images(spec)


def usable_images(spec: str) -> int | None:
    """:func:`check_spec`'s check, then how many usable posed images the folder or zip holds (headers only); None
    for a registered dataset, whose size is not counted here."""
    _, path = locate_given(spec)
    if path is None:
        return None
    from zoo3d.data.check import ensure_usable

    return ensure_usable(path).usable_count


class AmbiguousDataset(UserError):
    """A ``--data`` spec that names both a registered dataset and a folder or zip in the working directory."""


def locate_given(spec: str):
    """:func:`_locate` for a spec a user has just typed (``--data``): one that names both a registered dataset
    (or its alias) and a folder or zip here is refused, since the registered name would win without a word (a
    ``zoo3d data synth --out heads`` folder read back with ``--data heads`` trained on ``synthetic:heads``)."""
    registered, path = _locate(spec)
    query = parse_spec(spec)[1]
    if registered is not None and not query and Path(spec).expanduser().exists():
        raise AmbiguousDataset(f"Dataset '{spec}' names both the registered dataset {registered.name} and the "
                               f"folder or zip '{spec}' here; write {registered.name} for the registered one or "
                               f"./{spec} for the folder.")
    return registered, path


def anchored_spec(spec: str) -> str:
    """The ``data.spec`` a new run stores for ``spec`` (checked as :func:`locate_given` does): a folder or zip
    named by a relative path becomes its absolute path, because ``--resume`` reads the data from the stored config,
    maybe from another working directory; registered datasets and absolute or ``~`` paths stay as written."""
    registered, path = locate_given(spec)
    if registered is None and path is not None and not Path(spec).expanduser().is_absolute():
        return str(path.absolute())
    return spec


def _locate(spec: str):
    """(the registered dataset's spec, None) or (None, the folder or zip) that ``spec`` names."""
    from zoo3d.plugins import get_host

    name, query = parse_spec(spec)
    host = get_host()
    if name in host.datasets:
        return host.datasets.get(name), None
    whole = Path(spec).expanduser()
    if whole.exists():  # a folder or zip whose name holds a '?' is that folder, not a name and options
        return None, whole
    path = Path(name).expanduser()
    if path.exists():
        if query:
            raise UserError(f"Options after '?' are only for registered datasets, not for the path '{name}'.")
        return None, path
    known = ", ".join(s.name for s in host.datasets) or "none"
    raise UserError(f"Dataset '{shown_name(spec)}' is neither a registered dataset ({known}) nor an existing folder "
                    f"or zip.")
