"""A dataset plugin whose factory returns no dataset, or whose items are not what docs/data.md says (a dict with
'image' (3, R, R) floats in [-1, 1] at the asked resolution, and 'camera' the 25-vector), is refused in one sentence
naming the dataset and its plugin before a run folder exists (train) and before it is scored against (compare),
not a traceback inside the first batch or a run trained on 8-bit values or images of another size; a ValueError
its factory raises for the options given is one sentence naming them, as a model's constructor's is, and so is an
OSError of the factory or of the first item (a file that is not there); any other exception there is the plugin's
fault, named with the line it was raised at."""

from __future__ import annotations

import sys
import textwrap
from types import SimpleNamespace

import pytest
import torch

from conftest import one_line_error, run_in_process
from zoo3d.config import DataConfig
from zoo3d.errors import PluginError, UserError

PLUGIN = '''
import torch
from urllib.parse import parse_qsl

from zoo3d import hookimpl
from zoo3d.cameras import Camera
from zoo3d.errors import UserError
from zoo3d.specs import DatasetSpec

READS = []


class Served:
    def __init__(self, how, resolution):
        self.how, self.resolution = how, resolution
        if how == "many":  # items read in one call (as a batch of the run reads them), which fails
            self.__getitems__ = lambda indices: torch.ones(2).reshape(3)

    def __len__(self):
        return {"empty": 0, "lastbare": 20, "lastdouble": 20, "firstbare": 20, "lastgone": 20}.get(self.how, 4)

    def __getitem__(self, i):
        READS.append(i)
        r, how = self.resolution, self.how
        image = torch.linspace(-1, 1, 3 * r * r).view(3, r, r)
        camera = torch.arange(25.0)
        if how.startswith("last") and i == 19:  # the last item of 20 alone is unlike the others
            how = how[len("last"):]
        if how.startswith("first") and i == 0:  # the first item of 20 alone is unlike the others
            how = how[len("first"):]
        if how == "bare":
            return {"image": image}
        if how == "hwc":
            image = image.permute(1, 2, 0)
        elif how == "bytes":
            image = ((image + 1) * 127.5).to(torch.uint8)
        elif how == "255":
            image = (image + 1) * 127.5
        elif how == "shifted":
            image = image - 1
        elif how == "nan":
            image[0, 0, :2] = float("nan")
        elif how == "numpy":
            image = image.numpy()
        elif how == "double":
            image = torch.nn.functional.interpolate(image[None], size=(2 * r, 2 * r))[0]
        elif how == "pair":
            return image, camera
        elif how == "img":
            return {"img": image, "camera": camera}
        elif how == "matrix":
            camera = camera[:16].view(4, 4)
        elif how == "camera":
            camera = Camera.from_eg3d(camera[None])
        elif how == "listcamera":
            camera = camera.tolist()
        elif how == "listimage":
            image = image.tolist()
        elif how == "numpycamera":
            camera = camera.double().numpy()
        elif how == "nanlabel":
            camera[3] = float("nan")
        elif how == "unposed":
            return {"image": image}
        elif how == "gone":  # an image file its list names, not there
            open("absent.png", "rb")
        elif how == "refuses":  # the plugin's own sentence
            raise UserError("Item 0's image is in a format this plugin reads only with ?decoder=exr.")
        elif how == "broken":  # a fault of the plugin's own code
            camera = camera.reshape(7, -1)
        return {"image": image, "camera": camera}

    def cameras(self):
        labels = torch.eye(4).flatten().repeat(4, 1)
        labels = torch.cat([labels, torch.tensor([[1.0, 0, 0.5, 0, 1, 0.5, 0, 0, 1]]).repeat(4, 1)], dim=1)
        if self.how == "fewcameras":
            labels = labels[:3]
        elif self.how == "nancameras":
            labels[2, 7] = float("inf")
        elif self.how == "nanfocal":
            labels[1, 20] = float("nan")
        return labels if self.how == "labels" else Camera.from_eg3d(labels)


@hookimpl
def zoo3d_register_datasets(register):
    register(DatasetSpec(name="served", factory="dataset_served_plugin:build"))


def build(cfg, resolution, query="", camera_prior=None, seed=0):
    options = dict(parse_qsl(query))
    if int(options.get("count", 4)) < 1:
        raise ValueError("count must be at least 1.")
    how = options.get("how", "good")
    if "list" in options:
        open(options["list"]).read()
    if how == "keys":
        options["path"]  # a KeyError where a missing option wanted its own refusal
    return None if how == "none" else Served(how, resolution)
'''

WHAT = "an item is a dict with 'image', (3, R, R) floats in [-1, 1] at the resolution zoo3d asks for"


@pytest.fixture
def served(tmp_path, monkeypatch):
    (tmp_path / "dataset_served_plugin.py").write_text(textwrap.dedent(PLUGIN))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("ZOO3D_PLUGINS", "dataset_served_plugin")
    import dataset_served_plugin

    yield dataset_served_plugin
    sys.modules.pop("dataset_served_plugin", None)  # the next test's module is its own file's


def check(spec: str, resolution: int = 8) -> None:
    from zoo3d.train.data import check_stage_data

    config = SimpleNamespace(data=DataConfig(spec=spec), camera=None, train=SimpleNamespace(seed=0))
    check_stage_data(config, [SimpleNamespace(resolution=resolution)])


def refusal(how: str) -> str:
    """The sentence :func:`check` refuses ``served?how=HOW`` with (a PluginError)."""
    with pytest.raises(PluginError) as refused:
        check(f"served?how={how}")
    return str(refused.value)


@pytest.mark.parametrize("how, problem", [
    ("hwc", "serves an 'image' of shape (8, 8, 3) where zoo3d asked for (3, 8, 8)"),
    ("double", "serves an 'image' of shape (3, 16, 16) where zoo3d asked for (3, 8, 8)"),
    ("bytes", "serves an 'image' of dtype torch.uint8"),
    ("255", "serves an 'image' with values from 0 to 255, outside [-1, 1]"),
    ("shifted", "serves an 'image' with values from -2 to 0, outside [-1, 1]"),
    ("nan", "serves an 'image' with 2 NaN values"),
    ("img", "serves items without an 'image' (their keys: img, camera)"),
    ("pair", "serves items of type tuple"),
    ("matrix", "serves a 'camera' of 16 numbers, not 25"),
    ("camera", "serves a 'camera' of type Camera"),
    ("listcamera", "serves a 'camera' of type list, which batches do not stack (give a tensor: torch.tensor(camera))"),
    ("listimage", "serves an 'image' of type list, which batches do not stack (give a tensor: torch.tensor(image))"),
])
def test_a_served_item_zoo3d_cannot_read_is_one_sentence_naming_the_dataset_and_plugin(served, how, problem):
    assert refusal(how) == (f"Dataset 'served' from plugin 'dataset_served_plugin' {problem}; {WHAT}, and, for posed "
                            f"data, 'camera', the EG3D 25-vector (docs/data.md, Dataset plugins).")


@pytest.mark.parametrize("how, problem", [
    ("nanlabel", " serves a 'camera' with 1 NaN or infinite values; " + WHAT),
    ("labels", ": its cameras() returned a Tensor, not a zoo3d.cameras.Camera"),
    ("fewcameras", ": its cameras() holds 3 cameras for its 4 items; return every item's camera, in index order"),
    ("nancameras", ": its cameras() gives item 2 a camera with NaN or infinite values; every served item needs a "
                   "finite camera"),
    ("nanfocal", ": its cameras() gives item 1 a camera with NaN or infinite values"),
    ("unposed", " serves item 0 without a 'camera' where its cameras() gives it one; serve each item's camera with "
                "it, or offer no cameras() for data without poses"),
])
def test_cameras_that_cannot_train_are_refused_before_the_run_for_every_item_cameras_gives(served, how, problem):
    assert refusal(how).startswith(f"Dataset 'served' from plugin 'dataset_served_plugin'{problem}")


@pytest.mark.parametrize("how", ["lastbare", "unposed", "fewcameras", "nancameras"])
def test_the_distribution_metrics_read_images_whatever_the_cameras(served, how):
    from zoo3d.eval.distribution import real_images

    images = real_images(f"served?how={how}", 20, 8)  # their cameras are refused for a run, which reads them
    assert len(images) == len(served.build(DataConfig(spec="served"), 8, query=f"how={how}"))
    assert torch.equal(images[0], torch.linspace(-1, 1, 3 * 8 * 8).view(3, 8, 8))


def test_a_factory_that_returns_no_dataset_is_named(served):
    with pytest.raises(PluginError, match=r"^Dataset 'served' from plugin 'dataset_served_plugin': its factory returned a "
                                          r"NoneType, not a dataset \(an object with len\(\) and ds\[i\]\); return the "
                                          r"dataset \(docs/data.md, Dataset plugins\)\.$"):
        check("served?how=none")


@pytest.mark.parametrize("query", ["", "?how=numpy", "?how=numpycamera"])
def test_a_dataset_as_the_docs_describe_it_passes_reading_its_items(served, query):
    check(f"served{query}")  # a numpy image or camera is read as the loader's collation reads it
    assert served.READS == [0, 1, 2, 3]


@pytest.mark.parametrize("how, problem", [
    ("lastdouble", "serves, at item 19, an 'image' of shape (3, 16, 16) where zoo3d asked for (3, 8, 8); " + WHAT),
    ("lastbare", "serves item 19 without a 'camera' where item 0 has one; serve a camera with every item or with "
                 "none, as a batch is stacked from items of either kind"),
    ("firstbare", "serves item 0 without a 'camera' where item 3 has one; serve a camera with every item or with "
                  "none"),
])
def test_an_item_past_the_first_unlike_it_is_refused_naming_it_reading_a_stated_sample(served, how, problem):
    assert refusal(how).startswith(f"Dataset 'served' from plugin 'dataset_served_plugin' {problem}")
    assert served.READS == [0, 3, 5, 8, 11, 14, 16, 19]  # 8 items spread evenly, the first and the last among them


@pytest.mark.parametrize("workers", [0, 1])
@pytest.mark.parametrize("how, problem", [
    ("lastdouble", "serves item 19 with an 'image' of shape (3, 16, 16) where item 18 has (3, 8, 8); serve every "
                   "image at the resolution zoo3d asks for"),
    ("lastbare", "serves item 19 without a 'camera' where item 18 has one"),
])
def test_a_batch_that_cannot_be_stacked_names_its_item_in_one_sentence(served, how, problem, workers):
    from zoo3d.train.data import BatchStream

    dataset = served.build(DataConfig(spec="served"), 8, query=f"how={how}")
    stream = BatchStream(dataset, 20, seed=0, num_workers=workers, spec=f"served?how={how}")
    with pytest.raises(PluginError) as refused:  # a batch of every item, in the order the stream shuffles them
        stream.next(torch.device("cpu"))
    first = stream._epoch_order(0).tolist()[0]  # the item the others are compared with
    assert first != 19 and str(refused.value).startswith(
        f"Dataset 'served' from plugin 'dataset_served_plugin' {problem}".replace("item 18", f"item {first}"))


def test_a_numpy_camera_that_passes_is_batched_as_the_25_numbers(served):
    from zoo3d.train.data import BatchStream

    batch = BatchStream(served.build(DataConfig(spec="served"), 8, query="how=numpycamera"), 2, seed=0).next(
        torch.device("cpu"))
    assert batch.cameras.to_eg3d().tolist() == [list(range(25))] * 2


def test_an_empty_dataset_is_refused_as_empty_not_read(served):
    with pytest.raises(UserError, match=r"^Dataset 'served\?how=empty' is empty\.$"):
        check("served?how=empty")
    assert served.READS == []


def test_folders_and_zoo3ds_own_datasets_are_not_read_here(tmp_path):
    from zoo3d.data.served import check_served

    for spec in ("synthetic:heads?count=4", "heads", str(tmp_path)):  # tested to serve what they should elsewhere
        assert check_served(None, spec, 8) is None


def test_train_refuses_it_before_the_run_folder_exists(served, in_tmp, capsys):
    code, _, err = run_in_process(capsys, "train", "gram", "--preset", "tiny", "--steps", "1",
                                  "--data", "served?how=hwc", "--out", in_tmp / "run")
    assert code == 2 and "serves an 'image' of shape (32, 32, 3)" in one_line_error(err)
    assert not (in_tmp / "run").exists()


def test_the_distribution_metrics_refuse_it_before_scoring(served):
    from zoo3d.eval.distribution import real_images

    with pytest.raises(PluginError, match="^Dataset 'served' from plugin 'dataset_served_plugin' serves an 'image' with "
                                          "values from 0 to 255"):
        real_images("served?how=255", 2, 8)
    assert real_images("served", 2, 8).shape == (2, 3, 8, 8)


@pytest.mark.parametrize("query, error", [
    ("count=ten", "invalid literal for int() with base 10: 'ten'"),
    ("count=0", "count must be at least 1"),
])
def test_a_value_error_of_the_factory_names_the_dataset_its_plugin_and_the_options(served, in_tmp, capsys, query,
                                                                                   error):
    code, _, err = run_in_process(capsys, "train", "gram", "--preset", "tiny", "--steps", "1",
                                  "--data", f"served?{query}", "--out", in_tmp / "run")
    assert code == 2 and one_line_error(err) == (f"Error: Dataset 'served' from plugin 'dataset_served_plugin' cannot "
                                                 f"be built at 32 px with the options '{query}': {error}.")
    assert not (in_tmp / "run").exists()


def test_a_file_the_options_name_or_an_item_reads_that_is_not_there_is_one_sentence_naming_it(served, in_tmp,
                                                                                                 capsys):
    code, _, err = run_in_process(capsys, "train", "gram", "--preset", "tiny", "--steps", "1",
                                  "--data", "served?list=cams.txt", "--out", in_tmp / "run")
    assert code == 2 and one_line_error(err) == ("Error: Dataset 'served' from plugin 'dataset_served_plugin' cannot "
                                                 "be built at 32 px with the options 'list=cams.txt': No such file or "
                                                 "directory: 'cams.txt'.")
    assert not (in_tmp / "run").exists()
    with pytest.raises(UserError) as refused:
        check("served?how=gone")
    assert str(refused.value) == ("Dataset 'served' from plugin 'dataset_served_plugin' cannot read its first item: No "
                                  "such file or directory: 'absent.png'.")
    with pytest.raises(UserError) as refused:
        check("served?how=lastgone")
    assert str(refused.value) == ("Dataset 'served' from plugin 'dataset_served_plugin' cannot read its item 19: No "
                                  "such file or directory: 'absent.png'.")


@pytest.mark.parametrize("query, what", [
    ("how=keys", r"failed to build at 8 px with the options 'how=keys': KeyError: 'path' \(.*dataset_served_plugin.py:\d+\); "
                 r"a factory refuses options it cannot take with zoo3d.errors.UserError in one sentence \(docs/data.md, "
                 r"Dataset plugins\)"),
    ("how=broken", r"failed to read its first item, ds\[0\]: RuntimeError: shape '\[7, -1\]' is invalid for input of "
                   r"size 25 \(.*dataset_served_plugin.py:\d+\)"),
    ("how=many", r"failed to read its items \[0, 1, 2, 3\], ds.__getitems__\(\[0, 1, 2, 3\]\): RuntimeError: shape "
                 r"'\[3\]' is invalid for input of size 2 \(.*dataset_served_plugin.py:\d+\)"),
])
def test_a_fault_of_the_factory_or_of_its_first_item_is_one_sentence_naming_the_plugin_and_the_line(served, query,
                                                                                                    what):
    with pytest.raises(PluginError, match=rf"^Dataset 'served' from plugin 'dataset_served_plugin' {what}\.$"):
        check(f"served?{query}")


def test_a_refusal_the_plugin_words_itself_while_reading_an_item_is_shown_as_it_wrote_it(served):
    with pytest.raises(UserError) as refused:
        check("served?how=refuses")
    assert str(refused.value) == "Item 0's image is in a format this plugin reads only with ?decoder=exr."


def test_cameras_that_are_no_camera_name_the_dataset_before_a_run_checks_its_labels(served):
    from zoo3d.train.data import run_data_cameras

    def config(spec):
        return SimpleNamespace(data=DataConfig(spec=spec), camera=None, train=SimpleNamespace(seed=0))

    with pytest.raises(PluginError) as refused:
        run_data_cameras(config("served?how=labels"), 8)
    assert str(refused.value) == (
        "Dataset 'served' from plugin 'dataset_served_plugin': its cameras() returned a Tensor, not a "
        "zoo3d.cameras.Camera; return one Camera of every item's camera (Camera.from_eg3d of their (N, 25) labels; "
        "docs/data.md, Dataset plugins).")
    cameras = run_data_cameras(config("served"), 8)
    assert len(cameras) == 4 and torch.equal(cameras.origins, torch.zeros(4, 3))


@pytest.mark.parametrize("how, problem", [
    ("lastdouble", "serves item 19 with an 'image' of shape (3, 16, 16) where item {} has (3, 8, 8)"),
    ("lastbare", "serves item 19 without a 'camera' where item {} has one"),
])
def test_a_batch_unlike_the_first_batch_names_an_item_of_each(served, how, problem):
    from zoo3d.train.data import BatchStream

    dataset = served.build(DataConfig(spec="served"), 8, query=f"how={how}")
    stream = BatchStream(dataset, 1, seed=0, spec=f"served?how={how}")  # one item a batch: each stacks alone
    order = stream._epoch_order(0).tolist()
    for _ in range(order.index(19)):
        stream.next(torch.device("cpu"))
    with pytest.raises(PluginError) as refused:
        stream.next(torch.device("cpu"))
    assert str(refused.value).startswith(
        f"Dataset 'served' from plugin 'dataset_served_plugin' {problem.format(order[0])}")
