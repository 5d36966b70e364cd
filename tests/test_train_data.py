"""The resumable stream of real batches."""

import math
import os
import sys
from types import SimpleNamespace

import pytest
import torch

import zoo3d.train.data as data_module
from zoo3d.cameras import Camera
from zoo3d.config import DataConfig
from zoo3d.data.augment import mirror_flag
from zoo3d.data.formats import Problem
from zoo3d.data.synthetic import SyntheticHeads
from zoo3d.errors import UserError
from zoo3d.train.data import (BatchStream, build_dataset, check_folder_dataset, check_stage_data, resize_images,
                              small_dataset_note)


class Numbers(torch.utils.data.Dataset):
    """Item i is an image filled with i; records the epochs it was told about and the epoch each read was in."""

    def __init__(self, n):
        self.n, self.epochs, self.read_in = n, [], []

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        self.read_in.append(self.epochs[-1] if self.epochs else None)
        return {"image": torch.full((3, 2, 2), float(i)), "index": i}

    def set_epoch(self, epoch):
        self.epochs.append(epoch)


def indices(stream, steps):
    return [stream.next(torch.device("cpu")).extras["index"].tolist() for _ in range(steps)]


def test_each_epoch_is_a_permutation_and_a_resumed_stream_matches():
    data = Numbers(10)
    straight = indices(BatchStream(data, 4, seed=3), 10)  # 40 items = 4 epochs, batches straddle epochs
    flat = [i for b in straight for i in b]
    for e in range(4):
        assert sorted(flat[10 * e:10 * e + 10]) == list(range(10))
    assert flat[:10] != flat[10:20]  # a new order every epoch
    resumed = BatchStream(data, 4, seed=3, cursor=12)
    assert indices(resumed, 7) == straight[3:]
    assert resumed.cursor == 40
    assert data.epochs[-1] == 3  # mirroring is told which epoch it is in
    assert indices(BatchStream(Numbers(10), 4, seed=4), 1) != straight[:1]


class Prefetching(Numbers):
    """Numbers that record what the stream asks them to prefetch."""

    prefetch_items = 8

    def __init__(self, n):
        super().__init__(n)
        self.prefetched: list[list[int]] = []

    def prefetch(self, indices):
        self.prefetched.append(list(indices))


def test_the_stream_prefetches_the_items_of_its_next_batches_and_serves_the_same_batches():
    plain, data = indices(BatchStream(Numbers(10), 4, seed=3), 6), Prefetching(10)
    stream = BatchStream(data, 4, seed=3)
    served = indices(stream, 6)
    assert served == plain
    # 8 items = 2 batches per call, within the batches that begin in one epoch (10 items: batches at items
    # 0, 4 and 8 (straddling), then 12 and 16, then 20)
    epoch0, epoch1, epoch2 = ([[i for i, _ in b] for b in stream._epoch_batches(c)] for c in (0, 12, 20))
    assert data.prefetched == [epoch0[0] + epoch0[1], epoch0[2], epoch1[0] + epoch1[1], epoch2[0] + epoch2[1]]
    assert [i for call in data.prefetched for i in call][:24] == [i for b in served for i in b]

    shares = Prefetching(10)  # process 1 of 2 names only its own share
    assert indices(BatchStream(shares, 4, seed=3, rank=1, world_size=2), 1) == [plain[0][2:]]
    assert shares.prefetched[0] == [i for b in epoch0[:3] for i in b[2:]]  # 8 items: 4 batches' shares of 2

    workers = Prefetching(10)  # worker processes hold their own copies: nothing to prefetch here
    BatchStream(workers, 4, seed=3, num_workers=1).next(torch.device("cpu"))
    assert workers.prefetched == []


# ---------------------------------------------------------------------------------------------- resizing


def _area_resize_loop(x, res):
    """Area resize written out: output pixel i averages the input rows [floor(i H / R), ceil((i + 1) H / R)),
    and the same for columns."""
    B, C, H, W = x.shape
    out = torch.empty(B, C, res, res, dtype=x.dtype)
    for i in range(res):
        r0, r1 = math.floor(i * H / res), math.ceil((i + 1) * H / res)
        for j in range(res):
            c0, c1 = math.floor(j * W / res), math.ceil((j + 1) * W / res)
            out[:, :, i, j] = x[:, :, r0:r1, c0:c1].mean(dim=(-2, -1))
    return out


def test_resize_leaves_an_image_of_the_right_size_alone_and_area_averages_the_others():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 6, 6, generator=g, dtype=torch.float64)
    assert resize_images(x, 6) is x
    for res in (3, 4, 5, 9):
        assert torch.allclose(resize_images(x, res), _area_resize_loop(x, res), atol=1e-12, rtol=0)
    for shape in ((1, 3, 4, 8), (1, 3, 8, 4)):  # one side already right: still resized to a square
        y = torch.rand(*shape, generator=g, dtype=torch.float64)
        assert torch.allclose(resize_images(y, 4), _area_resize_loop(y, 4), atol=1e-12, rtol=0)


# ---------------------------------------------------------------------------------------------- datasets


def test_build_dataset_hands_the_request_to_the_data_package(monkeypatch):
    import zoo3d.data

    calls = []
    monkeypatch.setattr(zoo3d.data, "build_dataset", lambda *a, **k: calls.append((a, k)) or "dataset", raising=False)
    cfg = DataConfig(spec="anything")
    assert build_dataset(cfg, 32, camera_prior="prior", seed=5) == "dataset"
    build_dataset(cfg, 16)
    assert calls == [((cfg, 32), {"camera_prior": "prior", "seed": 5}), ((cfg, 16), {"camera_prior": None, "seed": 0})]


def test_build_dataset_without_the_data_package_uses_the_registry_and_refuses_folders(monkeypatch, tmp_path):
    import zoo3d.plugins

    monkeypatch.setitem(sys.modules, "zoo3d.data", None)  # `from zoo3d.data import ...` raises ImportError
    calls = []

    class Spec:
        def build(self, *a, **k):
            return calls.append((a, k)) or "dataset"

    asked = []
    monkeypatch.setattr(zoo3d.plugins, "get_dataset_spec", lambda name: asked.append(name) or Spec())
    cfg = DataConfig(spec="synthetic:heads")
    assert build_dataset(cfg, 16, camera_prior="prior", seed=2) == "dataset"
    assert asked == ["synthetic:heads"] and calls == [((cfg, 16), {"query": "", "camera_prior": "prior", "seed": 2})]
    folder = DataConfig(spec=str(tmp_path))
    with pytest.raises(UserError) as err:
        build_dataset(folder, 16)
    assert str(err.value) == f"Cannot read dataset folder '{tmp_path}': the zoo3d.data readers are not installed."
    assert asked == ["synthetic:heads"]


class _Report:
    def __init__(self, problems, **flags):
        self.problems = problems
        self.__dict__.update(flags)


@pytest.fixture
def fake_check(monkeypatch):
    """check_dataset replaced by one that returns ``fake_check.report`` and records its calls."""
    import zoo3d.data.check

    state = SimpleNamespace(report=None, calls=[])

    def check_dataset(path, full=True, crop="center"):
        state.calls.append((path, full, crop))
        return state.report

    monkeypatch.setattr(zoo3d.data.check, "check_dataset", check_dataset)
    return state


def test_checking_a_folder_reads_headers_only_and_lists_its_problems(fake_check, tmp_path):
    fake_check.report = _Report([Problem("a.png", "no pose"), "free text"], usable=True)
    assert check_folder_dataset(DataConfig(spec=str(tmp_path))) == ["a.png: no pose", "free text"]
    assert fake_check.calls == [(tmp_path, False, "center")]
    fake_check.report = _Report([Problem("", "empty name")], ok=True)  # no `usable`: `ok` decides
    assert check_folder_dataset(DataConfig(spec=str(tmp_path))) == ["empty name"]
    fake_check.report = _Report([])  # neither: accepted
    assert check_folder_dataset(DataConfig(spec=str(tmp_path))) == []
    fake_check.report = SimpleNamespace(usable=True)  # no problem list at all
    assert check_folder_dataset(DataConfig(spec=str(tmp_path))) == []



def test_a_folder_given_from_home_is_checked_as_the_folder_it_names(fake_check, tmp_path, monkeypatch):
    """A config file's '~/faces' (no shell expands it) is the folder build_dataset reads, so it is checked."""
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "faces").mkdir()
    fake_check.report = _Report([Problem("a.png", "no pose")], usable=True)
    assert check_folder_dataset(DataConfig(spec="~/faces")) == ["a.png: no pose"]
    assert fake_check.calls == [(tmp_path / "faces", False, "center")]


def test_images_smaller_than_the_training_resolution_are_a_problem_shown_at_start(fake_check, tmp_path):
    """A 32-pixel folder trained a 64-pixel GRAM-HD on upsampled images without a word."""
    fake_check.report = SimpleNamespace(usable=True, problems=[], resolutions={"32x32": 8, "64x48": 2, "64x64": 5})
    assert check_folder_dataset(DataConfig(spec=str(tmp_path)), 64) == [
        "10 images are smaller than the 64x64 the model trains at (32x32 (8), 64x48 (2)); they are upsampled, so "
        "the model learns their blur"]
    assert check_folder_dataset(DataConfig(spec=str(tmp_path)), 32) == []  # large enough
    assert check_folder_dataset(DataConfig(spec=str(tmp_path))) == []  # no resolution given: nothing to compare


def test_a_registered_dataset_or_a_missing_checker_is_not_checked(fake_check, monkeypatch, tmp_path):
    assert check_folder_dataset(DataConfig(spec="synthetic:heads")) == []
    assert fake_check.calls == []
    monkeypatch.setitem(sys.modules, "zoo3d.data.check", None)
    assert check_folder_dataset(DataConfig(spec=str(tmp_path))) == []
    assert fake_check.calls == []


@pytest.mark.parametrize("problems, tail", [
    ([], ""),
    ([Problem("a.png", "no pose")], ": a.png: no pose"),
    ([Problem("a.png", "no pose"), Problem("b.png", "cut off")], ": a.png: no pose (and 1 more problems)"),
    ([Problem("a.png", "no pose")] * 3, ": a.png: no pose (and 2 more problems)"),
])
def test_a_folder_without_a_usable_image_is_refused_with_its_first_problem(fake_check, tmp_path, problems, tail):
    for flags in ({"usable": False}, {"usable": False, "ok": True}, {"ok": False}):
        fake_check.report = _Report(problems, **flags)
        with pytest.raises(UserError) as err:
            check_folder_dataset(DataConfig(spec=str(tmp_path)))
        assert str(err.value) == (f"Dataset '{tmp_path}' has no usable posed image{tail}; run `zoo3d data check "
                                  f"{tmp_path}` for the full report.")


class _Sized:
    def __init__(self, n):
        self.n, self.checked = n, 0

    def __len__(self):
        return self.n

    def check_readable(self):
        self.checked += 1


def test_stage_data_is_built_once_per_resolution_and_the_first_is_decoded(monkeypatch):
    built = []

    def fake_build(data, res, camera_prior=None, seed=0):
        built.append((data, res, camera_prior, seed, _Sized(3)))
        return built[-1][-1]

    monkeypatch.setattr(data_module, "build_dataset", fake_build)
    config = SimpleNamespace(data=DataConfig(spec="x"), camera="prior", train=SimpleNamespace(seed=7))
    stages = [SimpleNamespace(resolution=r) for r in (64, None, 32.0, 64, 128)]
    check_stage_data(config, stages)
    assert [b[:4] for b in built] == [(config.data, r, "prior", 7) for r in (32, 64, 128)]
    assert [b[4].checked for b in built] == [1, 0, 0]


def test_an_empty_stage_dataset_is_refused(monkeypatch):
    sizes = iter([4, 0])
    monkeypatch.setattr(data_module, "build_dataset", lambda *a, **k: _Sized(next(sizes)))
    config = SimpleNamespace(data=DataConfig(spec="x"), camera=None, train=SimpleNamespace(seed=0))
    with pytest.raises(UserError) as err:
        check_stage_data(config, [SimpleNamespace(resolution=r) for r in (16, 32)])
    assert str(err.value) == "Dataset 'x' is empty."


# ---------------------------------------------------------------------------------------------- the stream


def test_an_empty_dataset_or_an_unshareable_batch_is_refused():
    with pytest.raises(UserError) as err:
        BatchStream(Numbers(0), 4, seed=0)
    assert str(err.value) == "The training dataset is empty."
    with pytest.raises(ValueError) as err:
        BatchStream(Numbers(10), 6, seed=0, world_size=4)
    assert str(err.value) == "A batch of 6 cannot be shared by 4 processes."
    BatchStream(Numbers(10), 6, seed=0, world_size=3)


def test_epoch_orders_are_reproducible_permutations_of_seed_and_epoch():
    orders = {(s, e): BatchStream(Numbers(50), 4, seed=s)._epoch_order(e).tolist()
              for s in (0, 1, 2) for e in (0, 1, 2)}
    assert all(sorted(o) == list(range(50)) for o in orders.values())
    assert len({tuple(o) for o in orders.values()}) == len(orders)  # a new order for every (seed, epoch)
    assert BatchStream(Numbers(50), 8, seed=1, cursor=17)._epoch_order(2).tolist() == orders[1, 2]


@pytest.mark.parametrize("n, batch, cursor", [(10, 4, 0), (10, 4, 7), (7, 3, 5), (5, 8, 2), (6, 6, 6)])
def test_batches_are_consecutive_slices_of_the_concatenated_epoch_orders(n, batch, cursor):
    data = Numbers(n)
    stream = BatchStream(data, batch, seed=11, cursor=cursor)
    steps = 9
    flat = [i for e in range((cursor + steps * batch) // n + 1) for i in stream._epoch_order(e).tolist()]
    expected = [flat[cursor + k * batch:cursor + (k + 1) * batch] for k in range(steps)]
    assert indices(stream, steps) == expected
    assert stream.cursor == cursor + steps * batch
    # every item is read in its own epoch, a batch that runs into the next epochs too
    assert data.read_in == [c // n for c in range(cursor, cursor + steps * batch)]


@pytest.mark.parametrize("world", [2, 4])
def test_processes_share_each_global_batch_in_rank_order(world):
    whole = indices(BatchStream(Numbers(10), 4, seed=3), 8)
    shares = [indices(BatchStream(Numbers(10), 4, seed=3, rank=r, world_size=world), 8) for r in range(world)]
    for k in range(8):
        assert [i for r in range(world) for i in shares[r][k]] == whole[k]
        assert all(len(shares[r][k]) == 4 // world for r in range(world))
    # resumed with another number of processes, the same global order continues
    resumed = [indices(BatchStream(Numbers(10), 4, seed=3, cursor=12, rank=r, world_size=2), 5) for r in range(2)]
    assert [resumed[0][k] + resumed[1][k] for k in range(5)] == whole[3:]


class Posed(torch.utils.data.Dataset):
    """Integer images of size 2 x 3 filled with i, an EG3D camera vector per item and a label."""

    def __init__(self, n):
        self.n = n
        self.cameras = Camera.from_angles(torch.linspace(-0.3, 0.3, n, dtype=torch.float64), 0.1, 2.7, 12.0)

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        vec = torch.cat([self.cameras.cam2world[i].reshape(16), self.cameras.intrinsics[i].reshape(9)])
        return {"image": torch.full((3, 2, 3), i), "camera": vec, "index": i, "label": f"item{i}"}


def test_a_batch_holds_float_images_their_cameras_and_the_other_fields():
    data = Posed(6)
    batch = BatchStream(data, 3, seed=1).next(torch.device("cpu"))
    idx = batch.extras["index"]
    assert batch.images.dtype == torch.float32
    assert torch.equal(batch.images, idx.float()[:, None, None, None].expand(3, 3, 2, 3))
    assert sorted(batch.extras) == ["index", "label"] and batch.extras["label"] == [f"item{i}" for i in idx.tolist()]
    assert batch.cameras.resolution == (2, 3)
    assert torch.equal(batch.cameras.cam2world, data.cameras.cam2world[idx].float())
    assert torch.equal(batch.cameras.intrinsics, data.cameras.intrinsics[idx].float())
    assert BatchStream(Numbers(4), 2, seed=0).next(torch.device("cpu")).cameras is None


class Seeds(torch.utils.data.Dataset):
    """Item i records the process that loaded it and that process's torch seed (as text: it may not fit an int64)."""

    def __len__(self):
        return 4

    def __getitem__(self, i):
        return {"image": torch.zeros(3, 1, 1), "pid": os.getpid(), "seed": str(torch.initial_seed())}


def test_items_load_in_this_process_unless_workers_are_asked_for_whose_seeds_follow_the_stream_seed():
    here = BatchStream(Seeds(), 2, seed=0).next(torch.device("cpu")).extras
    assert here["pid"].tolist() == [os.getpid()] * 2
    seeds = []
    for seed, process_seed in ((5, 0), (5, 1), (6, 0)):
        torch.manual_seed(process_seed)  # the workers' seeds do not come from the process RNG
        batch = BatchStream(Seeds(), 2, seed=seed, num_workers=1).next(torch.device("cpu")).extras
        assert os.getpid() not in batch["pid"].tolist()
        seeds.append(batch["seed"][0])
    assert seeds[0] == seeds[1] != seeds[2]
    # each process of a multi-process run seeds its workers apart (a random augmentation must not repeat)
    ranks = [BatchStream(Seeds(), 2, seed=5, num_workers=1, rank=r, world_size=2).next(torch.device("cpu")).extras
             for r in (0, 1)]
    assert ranks[0]["seed"][0] == seeds[0] != ranks[1]["seed"][0]


# ---------------------------------------------------------------------------------------------- worker processes


class Remembering(torch.utils.data.Dataset):
    """Item i says which process read it and whether that process's copy of the dataset had read it before."""

    def __init__(self, n):
        self.n, self.seen = n, set()

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        item = {"image": torch.zeros(3, 1, 1), "pid": os.getpid(), "seen_before": i in self.seen}
        self.seen.add(i)
        return item


def test_worker_processes_and_what_their_datasets_keep_live_across_epochs():
    stream = BatchStream(Remembering(8), 4, seed=1, num_workers=2)
    batches = [stream.next(torch.device("cpu")).extras for _ in range(8)]  # 4 epochs
    pids = {int(p) for b in batches for p in b["pid"]}
    assert len(pids) == 2 and os.getpid() not in pids
    assert not any(bool(s) for b in batches[:2] for s in b["seen_before"])  # the first epoch reads every item anew
    assert any(bool(s) for b in batches[2:] for s in b["seen_before"])


class CountingHeads(SyntheticHeads):
    """Synthetic heads whose items carry how many heads this copy of the dataset has rendered so far."""

    rendered = 0

    def render(self, indices):
        self.rendered += len(indices)
        return super().render(indices)

    def __getitems__(self, indices):
        return [{**item, "rendered": self.rendered, "pid": os.getpid()} for item in super().__getitems__(indices)]


def test_synthetic_heads_read_by_workers_render_each_head_once_per_worker_not_once_per_epoch():
    stream = BatchStream(CountingHeads(16, count=16), 4, seed=2, num_workers=2)
    last = {}
    for _ in range(3 * 16 // 4):  # 3 epochs; each epoch's workers rendered their heads anew when loaders were not kept
        extras = stream.next(torch.device("cpu")).extras
        for pid, rendered in zip(extras["pid"].tolist(), extras["rendered"].tolist()):
            last[pid] = max(last.get(pid, 0), rendered)
    assert sum(last.values()) <= 2 * 16


def test_mirroring_read_by_workers_follows_the_epochs_as_it_does_in_this_process():
    def items(num_workers):
        stream = BatchStream(SyntheticHeads(16, count=8, mirror=True, mirror_seed=5), 4, seed=3,
                             num_workers=num_workers)
        batches = [stream.next(torch.device("cpu")) for _ in range(4 * 8 // 4)]  # 4 epochs
        return torch.cat([b.images for b in batches]), torch.cat([b.extras["mirrored"] for b in batches])

    (images, mirrored), (worker_images, worker_mirrored) = items(0), items(2)
    assert 0 < int(mirrored.sum()) < len(mirrored)
    assert torch.equal(worker_mirrored, mirrored)
    assert torch.equal(worker_images, images)


@pytest.mark.parametrize("num_workers", [0, 1])
def test_a_dataset_smaller_than_the_batch_mirrors_each_copy_of_an_image_by_its_own_epoch(num_workers):
    data = SyntheticHeads(16, count=2, mirror=True, mirror_seed=0)
    stream = BatchStream(data, 8, seed=1, num_workers=num_workers)  # each batch: 4 epochs of the 2 heads
    for step in range(2):
        batch = stream.next(torch.device("cpu")).extras
        epochs = [c // 2 for c in range(8 * step, 8 * step + 8)]
        assert batch["mirrored"].tolist() == [mirror_flag(0, i, e) for i, e in zip(batch["index"].tolist(), epochs)]
        for head in (0, 1):  # its 4 copies are not all mirrored alike, as they were when read in one epoch
            assert len({m for i, m in zip(batch["index"].tolist(), batch["mirrored"].tolist()) if i == head}) == 2


def test_the_note_of_a_dataset_smaller_than_the_batch_names_the_mirror_flags_with_mirroring_on():
    data = DataConfig(spec="synthetic:heads", mirror=True)
    assert small_dataset_note(1, data, 4, "gram") == (
        "dataset 'synthetic:heads' holds 1 image, fewer than the batch of 4 of stage 'gram', so every batch holds each "
        "image about 4 times, from consecutive epochs (each in its own order, with its own mirror flags).")
    assert small_dataset_note(4, data, 4, "gram") is None  # a dataset that fills the batch says nothing
