"""What a dataset plugin serves, checked on a sample of its items before it is used, and on every batch as it is
read (docs/data.md, "Dataset plugins").

A factory that returns no dataset, or a dataset whose items are not what the training stream and the distribution
metrics read (a dict with ``image`` (3, R, R) floats in [-1, 1] and, for posed data, ``camera``, the EG3D 25-vector),
would otherwise fail as a traceback inside a batch, or train in silence on 8-bit values or on images of another size.
zoo3d's own datasets are tested to serve this, so only a plugin's are read here (the first synthetic head alone is a
block render of a second or more). A sample cannot see every item: :func:`batch_problem` names the item of a batch
that the loader could not stack with the others (an image of another size, a camera missing where the others have
one), where the batch had stopped training as a traceback from torch's collation.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from zoo3d.errors import PluginError

#: how far past [-1, 1] an image value may lie (rounding of a resize or a colour conversion)
RANGE_SLACK = 1e-3
#: How many items, spread evenly over a plugin's dataset (its first and last among them), are read before it is used.
SERVED_PROBES = 8
#: what docs/data.md says an item is, for the end of every refusal
ITEM = ("an item is a dict with 'image', (3, R, R) floats in [-1, 1] at the resolution zoo3d asks for, and, for posed "
        "data, 'camera', the EG3D 25-vector (docs/data.md, Dataset plugins)")


def check_cameras(cameras: Any, spec: str) -> None:
    """Refuse in one sentence naming the dataset (and its plugin) what its ``cameras()`` returned where that is no
    :class:`zoo3d.cameras.Camera` (the (N, 25) labels as a tensor, a list of cameras), which the label checks of a new
    run would otherwise meet as an AttributeError."""
    from zoo3d.cameras import Camera

    if not isinstance(cameras, Camera):
        raise PluginError(f"{named(spec)}: its cameras() returned a {type(cameras).__name__}, not a "
                          f"zoo3d.cameras.Camera; return one Camera of every item's camera (Camera.from_eg3d of their "
                          f"(N, 25) labels; docs/data.md, Dataset plugins).")


def spread(n: int, k: int) -> list[int]:
    """At most ``k`` indices spread evenly over ``range(n)``, the first and the last among them (all of them when
    ``n <= k``)."""
    k = min(n, k)
    return sorted({round(i * (n - 1) / max(1, k - 1)) for i in range(k)})


def read_items(dataset: Any, indices: list[int]) -> list:
    """The items at ``indices``, read as a batch of the run reads them (the dataset's ``__getitems__`` where it has
    one)."""
    many = getattr(dataset, "__getitems__", None)
    return list(many(indices)) if callable(many) else [dataset[i] for i in indices]


def named(spec: str) -> str:
    """The dataset ``spec`` names, as a refusal names it: ``Dataset 'discs' from plugin 'zoo3d_discs'``."""
    from zoo3d.data.dataset import parse_spec
    from zoo3d.plugins import get_host

    return get_host().datasets.named(parse_spec(spec)[0])


def check_served(dataset: Any, spec: str, resolution: int, cameras: bool = True) -> None:
    """Refuse in one sentence naming the dataset and its plugin a registered dataset from outside zoo3d that is not
    a dataset (no ``len``/``ds[i]``) or one of whose :data:`SERVED_PROBES` items spread over it (:func:`spread`) is
    not what ``resolution`` asks for, or, with ``cameras`` (a run, which reads them; not the distribution metrics,
    which read the images alone), has a ``camera`` where another has none or a ``cameras()`` that fails
    :func:`_check_every_camera`; nothing for a folder, for zoo3d's own datasets and for an empty dataset (its callers
    refuse that in words of their own)."""
    from zoo3d.data.dataset import parse_spec
    from zoo3d.plugins import PROJECT, get_host

    name, datasets = parse_spec(spec)[0], get_host().datasets
    registered = datasets.owner(name)  # a registered name comes first, as it is built
    if registered is None or registered.source == PROJECT:
        return
    check_dataset(dataset, datasets.named(name, registered), resolution, spec, cameras)


def check_dataset(dataset: Any, who: str, resolution: int, spec: str, cameras: bool = True) -> None:
    """:func:`check_served`'s checks of a plugin's ``dataset`` built from ``spec``, which refusals call ``who``
    (``Dataset 'discs' from plugin 'zoo3d_discs'``): a dataset whose items read, where it has any, are what
    ``resolution`` asks for, and with ``cameras`` stack into one batch with every item's camera finite."""
    if not (hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__")):
        raise PluginError(f"{who}: its factory returned a {type(dataset).__name__}, not a dataset (an object with "
                          f"len() and ds[i]); return the dataset (docs/data.md, Dataset plugins).")
    if len(dataset) == 0:
        return
    picks = spread(len(dataset), SERVED_PROBES)
    items = read_probes(dataset, picks, who)
    for index, item in zip(picks, items):
        if problem := item_problem(item, resolution):
            where = f", at item {index}," if index else ""  # the first item's refusals read as they always have
            raise PluginError(f"{who} serves{where} {problem}; {ITEM}.")
    if not cameras:
        return
    if problem := batch_problem(picks, items):
        raise PluginError(f"{who} {problem}.")
    if callable(getattr(dataset, "cameras", None)):  # every item's camera, made without reading an image
        _check_every_camera(dataset, spec, who, dict(zip(picks, items)))


def _check_every_camera(dataset: Any, spec: str, who: str, items: dict[int, Any]) -> None:
    """Refuse a dataset whose ``cameras()`` is no :class:`zoo3d.cameras.Camera`, holds another count of cameras than
    the dataset items, gives an item a camera of NaN or infinite values, or gives a camera to a read item (``items``,
    by index) that serves none: its cameras are every item's, so a check of them covers the whole dataset."""
    cameras = dataset.cameras()
    check_cameras(cameras, spec)
    if len(cameras) != len(dataset):
        raise PluginError(f"{who}: its cameras() holds {len(cameras)} cameras for its {len(dataset)} items; return "
                          f"every item's camera, in index order (docs/data.md, Dataset plugins).")
    finite = cameras.cam2world.flatten(1).isfinite().all(1) & cameras.intrinsics.flatten(1).isfinite().all(1)
    if not finite.all():
        index = int((~finite).nonzero()[0])
        raise PluginError(f"{who}: its cameras() gives item {index} a camera with NaN or infinite values; every "
                          f"served item needs a finite camera (docs/data.md, Dataset plugins).")
    bare = next((index for index, item in items.items() if item.get("camera") is None), None)
    if bare is not None:
        raise PluginError(f"{who} serves item {bare} without a 'camera' where its cameras() gives it one; serve each "
                          f"item's camera with it, or offer no cameras() for data without poses (docs/data.md, "
                          f"Dataset plugins).")


def batch_problem(indices: list[int], items: list) -> str:
    """Why the items at ``indices`` (as read, each a dict) cannot be stacked into one batch, as the words after a
    dataset's name, naming the item that differs from the first, or "": an ``image`` of another shape, or a ``camera``
    where the first has none (or none where it has one)."""
    for index, item in zip(indices, items):
        if not isinstance(item, Mapping) or "image" not in item:  # item_problem's words need no resolution here
            return f"serves, at item {index}, {item_problem(item, 0)}; {ITEM}"
    first, posed = items[0], items[0].get("camera") is not None
    shape = tuple(torch.as_tensor(first["image"]).shape)
    for index, item in zip(indices[1:], items[1:]):
        if (item.get("camera") is not None) != posed:
            has, lacks = (indices[0], index) if posed else (index, indices[0])
            return (f"serves item {lacks} without a 'camera' where item {has} has one; serve a camera with every "
                    f"item or with none, as a batch is stacked from items of either kind (docs/data.md, Dataset "
                    f"plugins)")
        if (other := tuple(torch.as_tensor(item["image"]).shape)) != shape:
            return (f"serves item {index} with an 'image' of shape {other} where item {indices[0]} has {shape}; "
                    f"serve every image at the resolution zoo3d asks for (docs/data.md, Dataset plugins)")
    return ""


def read_probes(dataset: Any, picks: list[int], who: str) -> list:
    """:func:`read_items` of ``picks``; where reading raises, one sentence naming the dataset (``who``), the item and
    why: an OSError (a file its folder lacks) as the user's, any other exception as the plugin's fault, with the file
    and line it came from."""
    many = getattr(dataset, "__getitems__", None)
    if callable(many):
        return _guarded(lambda: list(many(picks)), who, f"its items {list(picks)}", f"ds.__getitems__({list(picks)})")
    return [_guarded(lambda i=i: dataset[i], who, "its first item" if i == 0 else f"its item {i}", f"ds[{i}]")
            for i in picks]


def _guarded(read, who: str, what: str, call: str) -> Any:
    from zoo3d.errors import UserError
    from zoo3d.specs import describe_exception, option_reason

    try:
        return read()
    except UserError:
        raise
    except OSError as exc:
        raise UserError(f"{who} cannot read {what}: {option_reason(exc)}.") from None
    except Exception as exc:  # noqa: BLE001 - the plugin's own code failed: named in one sentence, not raised raw
        raise PluginError(f"{who} failed to read {what}, {call}: {describe_exception(exc)}.") from None


def item_problem(item: Any, resolution: int) -> str:
    """What is wrong with one served item at ``resolution``, as the words after "serves", or ""."""
    if not isinstance(item, Mapping):
        return f"items of type {type(item).__name__}"
    if "image" not in item:
        return f"items without an 'image' (their keys: {', '.join(map(str, item)) or 'none'})"
    if problem := _unstacked(item["image"], "image"):
        return problem
    image = torch.as_tensor(item["image"])
    if not image.is_floating_point():
        return f"an 'image' of dtype {image.dtype}"
    if tuple(image.shape) != (3, resolution, resolution):
        return f"an 'image' of shape {tuple(image.shape)} where zoo3d asked for (3, {resolution}, {resolution})"
    if image.isnan().any():  # NaN compares false with every bound, so the range check below would pass it
        return f"an 'image' with {int(image.isnan().sum())} NaN values"
    low, high = float(image.min()), float(image.max())
    if low < -1 - RANGE_SLACK or high > 1 + RANGE_SLACK:
        return f"an 'image' with values from {low:g} to {high:g}, outside [-1, 1]"
    camera = item.get("camera")
    if camera is not None:
        if problem := _unstacked(camera, "camera"):
            return problem
        values = torch.as_tensor(camera)
        if values.numel() != 25:
            return f"a 'camera' of {values.numel()} numbers, not 25"
        if values.is_floating_point() and not values.isfinite().all():  # no pose, which no later check reads
            return f"a 'camera' with {int((~values.isfinite()).sum())} NaN or infinite values"
    return ""


def _unstacked(value: Any, key: str) -> str:
    """The words for a served ``key`` value that the training stream's batches do not stack as one tensor, or "" (a
    tensor, a numpy array, which the loader makes one, or a number): numbers in a list (a list of the 25 camera
    numbers collates into 25 tensors, on which the first batch raised an AttributeError) or no numbers at all (a zoo3d
    Camera, text)."""
    typed = f"{'an' if key == 'image' else 'a'} '{key}' of type {type(value).__name__}"
    if isinstance(value, (list, tuple)):
        return f"{typed}, which batches do not stack (give a tensor: torch.tensor({key}))"
    try:
        torch.as_tensor(value)
    except (TypeError, ValueError, RuntimeError):  # no numbers to count
        return typed
    return ""
