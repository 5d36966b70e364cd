"""Benchmark suites for ``zoo3d bench``: each module has ``run(device, quick) -> list[dict]``."""


class Incomplete(Exception):
    """Raised by a suite whose work ended with records that are not whole (``zoo``: a metric failed on a model, the
    other cells scored): ``records`` are what it got, and its message the sentence naming what failed. ``zoo3d
    bench`` prints and writes those records as any others, then ends with the sentence and exit status 1."""

    def __init__(self, message: str, records: list[dict]):
        super().__init__(message)
        self.records = records
