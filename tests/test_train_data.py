"""The resumable stream of real batches."""

import torch

from zoo3d.train.data import BatchStream


class Numbers(torch.utils.data.Dataset):
    """Item i is an image filled with i; records the epochs it was told about."""

    def __init__(self, n):
        self.n, self.epochs = n, []

    def __len__(self):
        return self.n

    def __getitem__(self, i):
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
