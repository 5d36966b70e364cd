"""``zoo3d bench zoo``: the zoo's own table. Every model trained for the same budget, then compared on one protocol.

Each step is the command a user would type, run in a fresh process:

1. ``zoo3d train MODEL --preset P --data D --out OUT/runs/MODEL --quiet`` for every model, stopped by
   SIGINT when its wall-clock budget is spent (the engine finishes the step, saves a checkpoint and
   exits; see docs/training.md) or at ``--steps`` when a step cap is set;
2. ``zoo3d sample`` for a sample row (seeds 0-7, psi 1, frontal) and a yaw sweep (seeds 0-3, five yaws);
3. ``zoo3d compare --models CONTROLS,MODELS --ckpt ...`` on the metrics, one protocol (the controls: the
   models declaring ``bench:zoo-control``, the consistent and inconsistent oracles);
4. ``OUT/zoo.md``: the table (mean ± std over instances), steps and training time reached by each
   model, whether it is strictly 3D-consistent, and the images. A comparison in which a metric failed on a model
   (``zoo3d compare`` exits 1 after writing its reports) is kept: its cells read ``failed``, and once the table
   and the records are written the suite raises :class:`zoo3d.benchmarks.Incomplete` naming the failure.

Configured through the environment (``zoo3d bench`` passes only ``--device`` and ``--quick``):

``ZOO3D_ZOO_MODELS``      models to train (default: every model declaring the role ``bench:zoo``); the ``MODEL``
                          of ``ZOO3D_ZOO_PRESETS`` and ``ZOO3D_ZOO_SET`` must be one of them (names match as
                          ``zoo3d compare --ckpt`` matches them: case-insensitively, ``-`` equal to ``_``)
``ZOO3D_ZOO_MINUTES``     training budget per model in minutes of wall time (default 30; 0 = no budget)
``ZOO3D_ZOO_STEPS``       step cap per model (default none)
``ZOO3D_ZOO_PRESETS``     ``MODEL=PRESET,...`` (default ``tiny`` for every model; on a GPU name the paper presets)
``ZOO3D_ZOO_DATA``        training and reference data (default ``synthetic:heads``)
``ZOO3D_ZOO_SET``         ``;``-separated ``--set`` overrides for every model's training, or for one model's with
                          ``MODEL:`` in front (``train.micro_batch=4`` fits the paper batches on one GPU)
``ZOO3D_ZOO_METRICS``     default ``neus,epi,depth,swd,diversity,detail,speed``
``ZOO3D_ZOO_PROTOCOL``    ``small`` (default) or ``paper``; ``ZOO3D_ZOO_INSTANCES`` (at least 1) overrides its
                          instance count
``ZOO3D_ZOO_COMPARE_SET`` ``;``-separated ``zoo3d compare --set`` items: protocol keys (``epi_frames=120``) or a
                          metric plugin's settings (``METRIC.KEY=VALUE``)
``ZOO3D_ZOO_OUT``         output folder (default ``runs/zoo-<time>``); must not hold a previous table
``ZOO3D_ZOO_RESUME``      ``1``: continue the run in ``ZOO3D_ZOO_OUT``. A model whose training finished there
                          (its record ``runs/MODEL.json``) is not trained again; the samples, the comparison and
                          the table are redone, so a failed comparison or a new metric costs no training; a record
                          made under another preset, data, budget, step cap or ``ZOO3D_ZOO_SET`` is refused, and
                          so is a resume without ``ZOO3D_ZOO_OUT`` or with one that is no folder
``ZOO3D_ZOO_JOBS``        processes at once (default 1): trainings side by side, and the comparison split into
                          that many ``zoo3d compare`` runs whose results are merged; each process gets
                          ``cores // jobs`` threads (``OMP_NUM_THREADS``) unless that variable is set

``--quick`` (a smoke run of the harness, not a record): 2 steps per model, 1 instance, NeuS 20 iterations.

Ctrl-C or SIGTERM stops the children too (SIGTERM, then :data:`CHILD_STOP_S` to save and exit; a second Ctrl-C
kills them at once) and starts no more; the run ends with a line on how to continue it (``ZOO3D_ZOO_RESUME``).

Everything the comparison would refuse after hours of training is refused before the first: the models, the
metrics, the protocol and its ``--set`` items, ``ZOO3D_ZOO_DATA``, and the Inception file of fid/kid.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from zoo3d.errors import UserError, shell_word

DEFAULT_METRICS = ("neus", "epi", "depth", "swd", "diversity", "detail", "speed")
ROLE, CONTROL_ROLE = "bench:zoo", "bench:zoo-control"
SWEEP_YAWS = (-0.5, -0.25, 0.0, 0.25, 0.5)
#: How long a stopped run may take to finish its step and write its checkpoint; then it is killed.
STOP_GRACE_S = 900
#: How long a ``bench zoo`` stopped by Ctrl-C or SIGTERM waits for its children to save and exit after its SIGTERM;
#: then they are killed.
CHILD_STOP_S = 60
#: ``zoo3d bench`` without suite names skips this one (hours by default); name it to run it.
RUN_BY_DEFAULT = False


#: every model's preset unless ZOO3D_ZOO_PRESETS names another
DEFAULT_PRESET = "tiny"


@dataclass
class ZooSettings:
    """What one ``zoo3d bench zoo`` run does (see the module docstring for the environment variables)."""

    models: list[str]
    out: Path
    minutes: float = 30.0
    steps: int | None = None
    presets: dict[str, str] = field(default_factory=dict)
    data: str = "synthetic:heads"
    metrics: list[str] = field(default_factory=lambda: list(DEFAULT_METRICS))
    protocol: str = "small"
    instances: int | None = None
    neus_iterations: int | None = None
    compare_sets: list[str] = field(default_factory=list)  # ``zoo3d compare --set`` items
    jobs: int = 1
    resume: bool = False
    overrides: list[tuple[str | None, str]] = field(default_factory=list)  # (model or None for all, key=value)

    def preset(self, model: str) -> str:
        return self.presets.get(model, DEFAULT_PRESET)

    def set_items(self, model: str) -> list[str]:
        """The ``key=value`` overrides of ``model``'s training, in the order given (a later one wins)."""
        return [item for who, item in self.overrides if who in (None, model)]

    def sets(self, model: str) -> list[str]:
        """The ``--set`` arguments of ``model``'s training."""
        return [arg for item in self.set_items(model) for arg in ("--set", item)]


def _list(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _number(env: dict[str, str], var: str, default: str, kind: type = int, least: float | None = None):
    """``var`` read as ``kind`` (empty is unset: ``default``, None where that is empty too); a bad value is
    refused here, before hours of training."""
    text = env.get(var, "").strip() or default
    if not text:
        return None
    try:
        value = kind(text)
    except ValueError:
        raise UserError(f"{var} must be {'a whole number' if kind is int else 'a number'}, not '{text}'.") from None
    if least is not None and value < least:
        raise UserError(f"{var} must be at least {least}, not {value}.")
    return value


def _run_model(name: str, models: list[str], var: str, item: str) -> str:
    """The model of this run that ``var``'s ``item`` names, as the run spells it; names match as ``zoo3d
    compare --ckpt`` matches them. Refused otherwise: a typo would silently apply nothing for hours."""
    from zoo3d.errors import closest
    from zoo3d.specs import normalize_name

    spelled = {normalize_name(m): m for m in models}
    if normalize_name(name) in spelled:
        return spelled[normalize_name(name)]
    hint = closest(normalize_name(name), spelled)
    did = f" Did you mean '{spelled[hint[0]]}'?" if hint else ""
    raise UserError(f"{var} entry '{item}' names model '{name}', which is not a model of this run "
                    f"({', '.join(models) or 'none'}; see ZOO3D_ZOO_MODELS).{did}")


def settings_from_env(quick: bool, env: dict[str, str] | None = None) -> ZooSettings:
    """Read the ``ZOO3D_ZOO_*`` variables; ``quick`` changes only the defaults."""
    from zoo3d.plugins import get_model_spec

    env = dict(os.environ if env is None else env)
    models = _list(env["ZOO3D_ZOO_MODELS"]) if env.get("ZOO3D_ZOO_MODELS") else default_models()
    specs = {}
    for name in models:  # an unknown name is refused now, not when its turn to train comes hours later
        try:
            specs[name] = get_model_spec(name)
        except UserError as exc:
            raise UserError(f"ZOO3D_ZOO_MODELS: {exc}") from None
    presets = {}
    for item in _list(env.get("ZOO3D_ZOO_PRESETS", "")):
        name, sep, preset = (t.strip() for t in item.partition("="))
        if not sep or not name or not preset:
            raise UserError(f"ZOO3D_ZOO_PRESETS entry '{item}' must look like MODEL=PRESET.")
        model = _run_model(name, models, "ZOO3D_ZOO_PRESETS", item)
        if model in presets:  # which one was meant cannot be told
            raise UserError(f"ZOO3D_ZOO_PRESETS names model '{model}' twice ({presets[model]} and {preset}).")
        presets[model] = preset
    for model in models:  # a preset the model lacks would fail only when its turn to train comes
        known = specs[model].presets()
        wanted = presets.get(model, DEFAULT_PRESET)
        if known and wanted not in known:
            raise UserError(f"ZOO3D_ZOO_PRESETS: model '{model}' has no preset '{wanted}'; its presets are "
                            f"{', '.join(known)}.")
    overrides: list[tuple[str | None, str]] = []
    for item in filter(None, (t.strip() for t in env.get("ZOO3D_ZOO_SET", "").split(";"))):
        head, colon, rest = item.partition(":")
        who, override = (head.strip(), rest.strip()) if colon and "=" not in head else (None, item)
        if "=" not in override:
            raise UserError(f"ZOO3D_ZOO_SET entry '{item}' must look like key=value or MODEL:key=value.")
        overrides.append((None if who is None else _run_model(who, models, "ZOO3D_ZOO_SET", item), override))
    minutes = _number(env, "ZOO3D_ZOO_MINUTES", "0" if quick else "30", float, least=0)
    if not math.isfinite(minutes):  # nan would never time out
        raise UserError(f"ZOO3D_ZOO_MINUTES must be a finite number, not '{env.get('ZOO3D_ZOO_MINUTES')}'.")
    steps_cap = _number(env, "ZOO3D_ZOO_STEPS", "2" if quick else "", least=1)
    instances = _number(env, "ZOO3D_ZOO_INSTANCES", "1" if quick else "", least=1)  # unset: the protocol's
    jobs = _number(env, "ZOO3D_ZOO_JOBS", "1", least=1)
    resume = _number(env, "ZOO3D_ZOO_RESUME", "0") != 0
    if minutes == 0 and steps_cap is None:
        raise UserError("ZOO3D_ZOO_MINUTES is 0 and ZOO3D_ZOO_STEPS is unset: the training would never stop.")
    if resume and not env.get("ZOO3D_ZOO_OUT"):  # the default folder is new each time: nothing there to continue
        raise UserError("ZOO3D_ZOO_RESUME=1 continues the run in ZOO3D_ZOO_OUT, which is unset (the default, "
                        "runs/zoo-<time>, is a new folder each time); set ZOO3D_ZOO_OUT to the run's folder.")
    out = Path(env.get("ZOO3D_ZOO_OUT") or Path("runs") / time.strftime("zoo-%Y%m%d-%H%M%S"))
    if resume and not out.is_dir():  # a mistyped folder: every model would be trained again, in a new one
        from zoo3d.errors import shown_name

        raise UserError(f"ZOO3D_ZOO_RESUME=1 continues the run in ZOO3D_ZOO_OUT '{shown_name(str(out))}', which "
                        f"{'is not a folder' if out.exists() else 'does not exist'}; set ZOO3D_ZOO_OUT to the "
                        f"run's folder, or leave ZOO3D_ZOO_RESUME unset to start a new run there.")
    s = ZooSettings(models=models, out=out,
                    minutes=minutes, steps=steps_cap, presets=presets,
                    data=env.get("ZOO3D_ZOO_DATA", "synthetic:heads"),
                    metrics=_list(env.get("ZOO3D_ZOO_METRICS", ",".join(DEFAULT_METRICS))),
                    protocol=env.get("ZOO3D_ZOO_PROTOCOL", "small"), instances=instances,
                    neus_iterations=20 if quick else None,
                    compare_sets=[t.strip() for t in env.get("ZOO3D_ZOO_COMPARE_SET", "").split(";") if t.strip()],
                    jobs=jobs, resume=resume, overrides=overrides)
    check_comparison(s, env)
    return s


def _protocol_sets(s: ZooSettings) -> list[str]:
    """The comparison's ``--set`` items, ``--neus-iterations`` first as ``zoo3d compare`` reads it; ``--quick``'s
    NeuS iterations give way to a ``ZOO3D_ZOO_COMPARE_SET`` item that sets them (a key is given once)."""
    from zoo3d.cli.compare import _sets_neus_iterations

    quick = bool(s.neus_iterations) and not any(_sets_neus_iterations(item) for item in s.compare_sets)
    return [f"neus.iterations={s.neus_iterations}"] * quick + s.compare_sets


def check_comparison(s: ZooSettings, env: dict[str, str]) -> None:
    """What ``zoo3d compare`` would refuse after the trainings, refused before them: an unknown metric or
    protocol, a bad ``--set`` item, and each metric's pre-flight (``--data``; the Inception file of fid/kid,
    read from ``ZOO3D_INCEPTION`` as the comparison will)."""
    from zoo3d.eval.harness import load_metrics, preflight
    from zoo3d.config import refuse_key_set_twice
    from zoo3d.eval.protocol import PROTOCOLS, build_protocol

    if not s.metrics:
        raise UserError("ZOO3D_ZOO_METRICS names no metric.")
    with _named("ZOO3D_ZOO_METRICS"):
        metrics = load_metrics(s.metrics)
    # build_protocol's other inputs are checked already (instances) or fixed (the quick NeuS budget)
    source = "ZOO3D_ZOO_PROTOCOL" if s.protocol not in PROTOCOLS else "ZOO3D_ZOO_COMPARE_SET (compare's --set items)"
    with _named(source):
        refuse_key_set_twice(s.compare_sets)  # as the comparison's command line would, after the trainings
        protocol = build_protocol(s.protocol, instances=s.instances, sets=_protocol_sets(s), metrics=metrics)
    with _named("the comparison's pre-flight (ZOO3D_ZOO_METRICS, ZOO3D_ZOO_DATA, ZOO3D_INCEPTION)"):
        preflight(metrics, protocol, {"data": s.data, "inception": env.get("ZOO3D_INCEPTION") or None})


@contextmanager
def _named(source: str):
    """Prefix a refusal with the variable it comes from: the command's own messages name ``zoo3d compare``'s
    options (``--set``), which a ``zoo3d bench zoo`` user never typed."""
    try:
        yield
    except UserError as exc:
        raise type(exc)(f"{source}: {exc}") from None


def default_models() -> list[str]:
    """Every registered model that declares the role ``bench:zoo``, by name."""
    from zoo3d.plugins import models_with_role

    return [spec.name for spec in models_with_role(ROLE)]


def controls() -> list[str]:
    """The models declaring ``bench:zoo-control`` (scenes of known consistency: the oracles), by name."""
    from zoo3d.plugins import models_with_role

    return [spec.name for spec in models_with_role(CONTROL_ROLE)]


def _say(message: str) -> None:
    """One progress line on stderr, written in one call: trainings side by side report from threads."""
    sys.stderr.write(f"zoo: {message}\n")
    sys.stderr.flush()


def _zoo3d(*args: str) -> list[str]:
    return [sys.executable, "-m", "zoo3d", *args]


def usable_cores() -> int:
    """The cores this process may run on (its affinity mask where the system has one, as under taskset or a
    container's cpuset), not every core of the machine."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def child_env(jobs: int, env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of every child process: with ``jobs`` side by side, each gets its share of the cores.

    Two processes that each spread over every core hand threads back and forth and both run
    slower than one thread each; a user's own ``OMP_NUM_THREADS`` is kept.
    """
    env = dict(os.environ if env is None else env)
    if jobs > 1 and not env.get("OMP_NUM_THREADS"):  # an empty value is unset to OpenMP
        env["OMP_NUM_THREADS"] = str(max(1, usable_cores() // jobs))
    return env


class Stopped(Exception):
    """Raised in a worker thread of a run that was stopped (Ctrl-C, SIGTERM): it starts no more children."""


class Children:
    """The child processes a run started and has not seen end. A run stopped by Ctrl-C or SIGTERM stops them
    (:meth:`stop`) and starts no more: otherwise it would wait for each, up to its whole budget, or leave it
    running unseen."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._live: set[subprocess.Popen] = set()
        self.stopping = False

    def start(self, cmd: list[str], **kwargs) -> subprocess.Popen:
        with self._lock:  # a stop's snapshot of the live children sees this one, or this one is not started
            if self.stopping:
                raise Stopped
            proc = subprocess.Popen(cmd, **kwargs)
            self._live.add(proc)
            return proc

    def ended(self, proc: subprocess.Popen) -> None:
        """``proc`` ended and was waited for; raises :class:`Stopped` where the run is stopping, since what
        ``proc`` made was cut off."""
        with self._lock:
            self._live.discard(proc)
        if self.stopping:
            raise Stopped

    def stop(self, grace_s: float) -> None:
        """SIGTERM to every live child (``zoo3d train`` saves a checkpoint and exits 143; the others remove their
        temporary files), then up to ``grace_s`` seconds for all of them together; SIGKILL to the rest. A second
        Ctrl-C meanwhile kills the rest at once and is raised (it ended the wait before their SIGKILL, and they ran
        on after the run had exited)."""
        with self._lock:
            self.stopping = True
            live = list(self._live)
        try:
            for proc in live:
                if proc.poll() is None:
                    try:
                        proc.send_signal(signal.SIGTERM)
                    except ProcessLookupError:  # it ended meanwhile
                        pass
            deadline = time.monotonic() + grace_s
            for proc in live:
                try:
                    proc.wait(timeout=max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    pass
        finally:
            for proc in live:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()


#: the children of the run under way (a fresh set for each :func:`run`)
_children = Children()


@contextmanager
def _stopping_children(pool: ThreadPoolExecutor | None = None):
    """Where Ctrl-C or SIGTERM (any exception that is not an ``Exception``) interrupts the main thread: stop the
    children, then let ``pool``'s threads end (they start nothing more) and drop its queued work, and re-raise."""
    try:
        yield
    except BaseException as exc:
        if not isinstance(exc, Exception):
            _children.stop(CHILD_STOP_S)
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
        raise


class ChildFailed(UserError):
    """A child command that exited with another status than 0: the sentence names it, its status and the last line
    of its stderr; ``returncode`` is that status."""

    def __init__(self, message: str, returncode: int):
        super().__init__(message)
        self.returncode = returncode


def _run(cmd: list[str], what: str, env: dict[str, str] | None = None) -> None:
    proc = _children.start(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    _, err = proc.communicate()  # interrupted in the main thread, proc stays live for the stop to end it
    _children.ended(proc)
    if proc.returncode != 0:
        tail = (err.strip().splitlines() or ["no output"])[-1]
        raise ChildFailed(f"{what} failed (exit {proc.returncode}): {tail}", proc.returncode)


def training_record_path(run_dir: Path) -> Path:
    """Where :func:`train_for_budget` keeps what a training reached: ``runs/MODEL.json`` beside ``runs/MODEL``."""
    return run_dir.parent / f"{run_dir.name}.json"


def training_settings(model: str, s: ZooSettings) -> dict:
    """What ``model``'s training depends on besides its preset and data, kept in its record (``settings``) so
    that a resume can refuse a training made under other settings than the table's header states."""
    return {"minutes": s.minutes, "steps": s.steps, "set": s.set_items(model)}


def train_for_budget(model: str, run_dir: Path, s: ZooSettings, device: str) -> dict:
    """Train ``model`` until its budget or step cap; returns how far it got and how it ended, and writes
    that record to :func:`training_record_path` once the checkpoint is in place.

    A training still running :data:`STOP_GRACE_S` after the budget's SIGINT is killed and refused: its last
    checkpoint is not the budget's, so it gets no record (the log says so), and a resume will not reuse it.
    """
    cmd = _zoo3d("train", model, "--preset", s.preset(model), "--data", s.data, "--out", str(run_dir),
                 "--device", device, "--quiet", *s.sets(model))
    if s.steps is not None:
        cmd += ["--steps", str(s.steps)]
    log_path = run_dir.parent / f"{model}.log"
    log = open(log_path, "w")
    t0 = time.monotonic()
    env = child_env(s.jobs)
    try:
        proc = _children.start(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    except BaseException:
        log.close()
        raise
    ended = "finished"
    try:
        proc.wait(timeout=s.minutes * 60 if s.minutes > 0 else None)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)
        ended = "budget"
        try:
            proc.wait(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            ended = "killed"
    finally:
        log.close()
    _children.ended(proc)  # a stopped run's training was cut off: no record
    seconds = time.monotonic() - t0
    if ended == "killed":
        with open(log_path, "a") as tail:  # append: the child's output ends where it was killed
            tail.write(f"zoo: killed {seconds:.0f} s after the start: still running {STOP_GRACE_S:g} s after the "
                       f"budget's SIGINT\n")
        raise UserError(f"zoo3d train {model} did not stop within {STOP_GRACE_S:g} s of its budget's SIGINT and was "
                        f"killed; {run_dir} has no record (remove it to train {model} again); see {log_path}.")
    if proc.returncode == 128 + int(signal.SIGINT) and ended != "budget":
        # a SIGINT the suite did not send (a terminal's, another process's, while this one ignores it): a training
        # cut off at an unknown step, not one that reached its budget or its cap
        raise UserError(f"zoo3d train {model} was stopped by a SIGINT the suite did not send (exit 130); {run_dir} "
                        f"has no record (remove it to train {model} again); see {log.name}.")
    if proc.returncode not in (0, 128 + int(signal.SIGINT)):
        raise UserError(f"zoo3d train {model} failed (exit {proc.returncode}); see {log.name}.")
    from zoo3d.fileio import write_text_atomic
    from zoo3d.runs import run_checkpoint
    from zoo3d.train.checkpoint import read_metadata

    meta = read_metadata(run_checkpoint(run_dir))
    record = {"model": model, "preset": s.preset(model), "data": s.data, "ended": ended,
              "train_s": round(seconds, 1), "step": int(meta.get("zoo3d.step", 0)),
              "stage": meta.get("zoo3d.stage", ""), "device": device,
              "threads": env.get("OMP_NUM_THREADS") or str(usable_cores()),
              "settings": training_settings(model, s)}
    write_text_atomic(training_record_path(run_dir), json.dumps(record, indent=1) + "\n", "training record")
    return record


def finished_training(model: str, run_dir: Path, s: ZooSettings, device: str | None = None) -> dict | None:
    """With ``s.resume``, the record of ``model``'s finished training in ``run_dir``, or None to train it.

    Raises UserError where reusing would mislead: a record made with another preset, data, ``device`` or
    :func:`training_settings`, or a run folder without a record (a training that was cut off, whose budget
    cannot be told). A record from before ``settings`` was kept is reused with a note: such records exist.
    """
    from zoo3d.runs import holds_run

    path = training_record_path(run_dir)
    if s.resume and path.is_file():
        record = json.loads(path.read_text())
        made, wanted = (record.get("preset"), record.get("data", s.data)), (s.preset(model), s.data)
        if made != wanted:
            raise UserError(f"{path} was trained with preset {made[0]} on {made[1]}, not {wanted[0]} on "
                            f"{wanted[1]}; use another ZOO3D_ZOO_OUT or remove {run_dir} and {path.name}.")
        if device is not None and record.get("device", device) != device:  # the header states one device
            raise UserError(f"{path} was trained with --device {record['device']}, not {device}; use another "
                            f"ZOO3D_ZOO_OUT or remove {run_dir} and {path.name}.")
        differ = _settings_differ(record.get("settings"), training_settings(model, s))
        if differ:
            raise UserError(f"{path} was trained under other settings: {'; '.join(differ)}; set them back, use "
                            f"another ZOO3D_ZOO_OUT, or remove {run_dir} and {path.name}.")
        if not holds_run(run_dir):
            raise UserError(f"{path} records a training of {model}, but {run_dir} holds no run; remove {path.name} "
                            f"to train {model} again.")
        if differ is None:
            _say(f"note: {path} predates the record of budget, step cap and ZOO3D_ZOO_SET; {model}'s training is "
                 f"reused without checking them, and the table's budget may not be the one it had")
        return record
    if path.is_file():
        raise UserError(f"{run_dir} holds a finished training of {model}; set ZOO3D_ZOO_RESUME=1 to compare it "
                        f"without training again, or use another ZOO3D_ZOO_OUT.")
    if holds_run(run_dir):
        raise UserError(f"{run_dir} holds a training without a record of how it ended (it was cut off); "
                        f"remove it to train {model} again.")
    return None


def _settings_differ(made: dict | None, wanted: dict) -> list[str] | None:
    """How a record's :func:`training_settings` differ from this run's, one phrase each; None without them."""
    if made is None:
        return None
    show = {"minutes": lambda m: f"{m:g} min" if m and m > 0 else "no budget",
            "steps": lambda n: "no cap" if n is None else str(n),
            "set": lambda items: "'" + "; ".join(items) + "'" if items else "none"}
    var = {"minutes": "ZOO3D_ZOO_MINUTES", "steps": "ZOO3D_ZOO_STEPS", "set": "ZOO3D_ZOO_SET"}
    return [f"{var[k]} {show[k](made.get(k))} there, {show[k](wanted[k])} now"
            for k in wanted if show[k](made.get(k)) != show[k](wanted[k])]


def draw_samples(model: str, run_dir: Path, images: Path, device: str, jobs: int = 1) -> dict[str, str]:
    """A sample row (seeds 0-7, psi 1, frontal) and a yaw sweep (seeds 0-3 as columns, one row per yaw)."""
    env = child_env(jobs)
    row, sweep = images / f"{model}_samples.png", images / f"{model}_yaw_sweep.png"
    _run(_zoo3d("sample", str(run_dir), "--seeds", "0-7", "--psi", "1", "--yaw", "0", "--device", device,
                "--out", str(row)), f"zoo3d sample {model}", env)
    yaws = [a for y in SWEEP_YAWS for a in ("--yaw", str(y))]
    _run(_zoo3d("sample", str(run_dir), "--seeds", "0-3", "--psi", "1", *yaws, "--device", device, "--out",
                str(sweep)), f"zoo3d sample {model} (yaw sweep)", env)
    return {"samples": row.name, "yaw_sweep": sweep.name}


def split_models(names: list[str], parts: int) -> list[list[str]]:
    """``names`` dealt round-robin into at most ``parts`` non-empty groups (every model costs about the same)."""
    groups = [names[i::parts] for i in range(max(1, parts))]
    return [g for g in groups if g]


def _compare_cmd(names: list[str], runs: dict[str, Path], s: ZooSettings, device: str, stem: str) -> list[str]:
    cmd = _zoo3d("compare", "--models", ",".join(names), "--metric", ",".join(s.metrics),
                 "--protocol", s.protocol, "--data", s.data, "--device", device,
                 "--json", str(s.out / f"{stem}.json"), "--markdown", str(s.out / f"{stem}.md"))
    for name in names:
        if name in runs:
            cmd += ["--ckpt", f"{name}={runs[name]}"]
    if s.instances:
        cmd += ["--instances", str(s.instances)]
    for item in _protocol_sets(s):
        cmd += ["--set", item]
    return cmd


def _compare(cmd: list[str], what: str, json_path: Path, jobs: int) -> None:
    """Run one ``zoo3d compare``. Its exit status 1 with ``json_path`` written anew is a comparison in which a metric
    failed on a model and every other cell was scored: the result is kept (its cells say ``failed``, and the run
    ends naming them, :func:`failures`); any other failure stops the run as ever."""
    before = _stamp(json_path)
    try:
        _run(cmd, what, child_env(jobs))
    except ChildFailed as exc:
        if exc.returncode != 1 or _stamp(json_path) in (None, before):  # no results of this run to keep
            raise


def _stamp(path: Path) -> tuple[int, int] | None:
    """(inode, modification time in ns) of ``path``, None where it is missing: a report written anew (atomically,
    so under a new inode) differs from the one an earlier invocation left there."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_mtime_ns


def compare_all(runs: dict[str, Path], s: ZooSettings, device: str) -> dict:
    """``zoo3d compare`` over the controls and the trained models; returns its JSON result.

    With ``s.jobs > 1`` the models are split into that many ``zoo3d compare`` processes run side by
    side (``compare-part<i>.json/.md``); every metric seeds each instance itself, so a model's numbers
    do not depend on which models share its process, and the parts merge into one result.
    """
    names = [*controls(), *runs]
    groups = split_models(names, s.jobs)
    if len(groups) == 1:
        _compare(_compare_cmd(names, runs, s, device, "compare"), "zoo3d compare", s.out / "compare.json", s.jobs)
        return json.loads((s.out / "compare.json").read_text())
    stems = [f"compare-part{i}" for i in range(len(groups))]

    def compare_part(group: list[str], stem: str) -> None:
        _compare(_compare_cmd(group, runs, s, device, stem), f"zoo3d compare ({stem})", s.out / f"{stem}.json",
                 s.jobs)

    with ThreadPoolExecutor(len(groups)) as pool, _stopping_children(pool):
        list(pool.map(compare_part, groups, stems))  # list(): re-raise a part's failure here
    from zoo3d.eval.harness import merge_results, write_json, write_markdown

    result = merge_results([json.loads((s.out / f"{stem}.json").read_text()) for stem in stems], order=names)
    write_json(result, s.out / "compare.json")
    write_markdown(result, s.out / "compare.md", command="merged from " + ", ".join(f"{st}.md" for st in stems))
    return result


def _cell(entry: dict | None) -> str:
    from zoo3d.eval.harness import format_value

    return "-" if entry is None else format_value(entry).replace(" (n=", " (")


#: the metric key the table's rows are sorted by (highest first); rows without it come last
HEADLINE = "neus_detail_gain"


def _headline_order(row: dict) -> tuple:
    mean = (row.get(HEADLINE) or {}).get("mean")
    return (mean is None, -(mean if mean is not None else 0.0))


def _budget(s: ZooSettings) -> str:
    from zoo3d.errors import counted

    parts = ([f"{s.minutes:g} min"] if s.minutes > 0 else []) + ([counted(s.steps, "step")] if s.steps else [])
    return " or ".join(parts)


def zoo_table(result: dict, trained: dict[str, dict], images: dict[str, dict[str, str]], s: ZooSettings,
              wall_s: float, device: str, command: str, reused: list[str] | None = None, quick: bool = False) -> str:
    """The Markdown of ``zoo.md``: one row per model, one column per metric key, then the images.
    ``reused``: the models whose training an earlier invocation did (``ZOO3D_ZOO_RESUME``); ``quick``: a
    ``--quick`` run, which the header calls a smoke run (its table is no record to quote)."""
    models = result["models"]
    keys = list(dict.fromkeys(k for r in models.values() for k in r if not k.endswith("_seconds")))
    from zoo3d.eval.harness import direction_arrow

    arrow = {k: direction_arrow(result, k) for k in keys}
    lines = ["# The zoo on one protocol", "", "```", command, "```", "",
             f"Device `{device}`, data `{s.data}`, protocol `{s.protocol}`, training budget {_budget(s)} per "
             f"model; whole run {wall_s / 60:.1f} min" + (
                 f" (without the trainings of {', '.join(reused)}, done by an earlier invocation in this folder; "
                 f"their minutes are in the table)." if reused else ".") + (
                 " `--quick`: a smoke run of the harness, not a record." if quick else ""), "",
             "| model | 3D-consistent | preset | steps | train min | " + " | ".join(k + arrow[k] for k in keys) + " |",
             "|---" * (5 + len(keys)) + "|"]
    for name, row in sorted(models.items(), key=lambda item: _headline_order(item[1])):
        t = trained.get(name, {})
        strict = "yes" if result["provenance"][name]["strictly_3d_consistent"] else "no (2D upsampler)"
        cells = [name, strict, t.get("preset", "-"), str(t.get("step", "-")),
                 f"{t['train_s'] / 60:.1f}" if t else "-"]
        lines.append("| " + " | ".join(cells + [_cell(row.get(k)) for k in keys]) + " |")
    order = (f"Rows sorted by `{HEADLINE}` (highest first)." if HEADLINE in keys else
             f"Rows in the order they were compared, the calibration models first (`{HEADLINE}`, which orders "
             "them, was not among the metrics).")
    lines += ["", f"{order} Mean ± sample standard deviation (n − 1) over "
              "the instances of `neus`, `epi` and `depth` (count in brackets); `swd`, `diversity`, `detail`, `fid` "
              "and `kid` are one value over the protocol's image set (1), and `speed` is over its timed repeats. "
              "Rows without a preset are the calibration models, scenes of known consistency (docs/metrics.md)."]
    from zoo3d.eval.harness import failures

    failed = failures(result)
    if failed:  # the cells read "failed"; why, beside the table (the comparison's reports say it too)
        lines += ["", "Failed in the comparison (the other cells were scored): " + "; ".join(failed) + "."]

    def ran_on(t: dict) -> str:  # threads: the training's OMP_NUM_THREADS as text, '?' in a record without it
        threads = str(t.get("threads", "?"))
        return f"{t.get('device', '?')}, {threads} thread{'' if threads == '1' else 's'}"

    ran = {n: ran_on(t) for n, t in trained.items()}
    if len(set(ran.values())) > 1:  # a resume may mix trainings made with different ZOO3D_ZOO_JOBS
        lines += ["", "Trainings ran on: " + "; ".join(f"{n} {r}" for n, r in ran.items()) + "."]
    lines += [""]
    for name, files in images.items():
        lines += [f"## {name}", "", f"Samples (seeds 0-7, ψ = 1): ![{name} samples](images/{files['samples']})", "",
                  f"Yaw sweep ({', '.join(f'{y:g}' for y in SWEEP_YAWS)} rad, one row each; seeds 0-3): "
                  f"![{name} yaw sweep](images/{files['yaw_sweep']})", ""]
    if result.get("notes"):
        lines += ["## Notes", ""] + [f"- {n}" for n in result["notes"]] + [""]
    return "\n".join(lines)


def run(device: str, quick: bool) -> list[dict]:
    global _children
    s = settings_from_env(quick)
    previous, _children = _children, Children()
    try:
        return _run_suite(s, device, quick)
    except BaseException as exc:
        if not isinstance(exc, Exception):  # Ctrl-C or SIGTERM: stop the children, say how to go on
            try:
                _children.stop(CHILD_STOP_S)
            finally:  # a second Ctrl-C while they are stopped: the line still comes
                _say(resume_hint(s))
        raise
    finally:
        _children = previous


def resume_hint(s: ZooSettings) -> str:
    """The line a stopped run ends with: how to continue it, and which cut-off trainings are in the way (a resume
    refuses a run folder without a record)."""
    from zoo3d.runs import holds_run

    runs = s.out / "runs"
    cut = [shell_word(str(runs / m)) for m in s.models
           if not training_record_path(runs / m).is_file() and holds_run(runs / m)]
    first = f"; first remove the trainings it cut off: {', '.join(cut)}" if cut else ""
    return (f"stopped; to continue, run it again with ZOO3D_ZOO_OUT={shell_word(str(s.out))} ZOO3D_ZOO_RESUME=1 "
            f"(the trainings that finished are not redone){first}")


def _run_suite(s: ZooSettings, device: str, quick: bool) -> list[dict]:
    if (s.out / "zoo.md").exists() and not s.resume:
        raise UserError(f"{s.out} already holds a zoo table; set ZOO3D_ZOO_OUT to a new folder, or "
                        f"ZOO3D_ZOO_RESUME=1 to redo its comparison without training again.")
    images = s.out / "images"
    images.mkdir(parents=True, exist_ok=True)
    (s.out / "runs").mkdir(exist_ok=True)
    t0 = time.monotonic()
    trained: dict[str, dict] = {}
    runs: dict[str, Path] = {}
    pictures: dict[str, dict[str, str]] = {}
    reused: list[str] = []

    def train_and_draw(model: str) -> tuple[dict, bool, dict[str, str]]:
        """(the training's record, whether an earlier invocation did it, the images)."""
        run_dir = s.out / "runs" / model
        record = finished_training(model, run_dir, s, device)
        earlier = record is not None
        if earlier:
            _say(f"{model} trained before ({record['step']} steps), not again")
        else:
            _say(f"training {model} ({s.preset(model)})")
            record = train_for_budget(model, run_dir, s, device)
        return record, earlier, draw_samples(model, run_dir, images, device, s.jobs)

    with ThreadPoolExecutor(min(s.jobs, len(s.models)) or 1) as pool, _stopping_children(pool):
        for model, (got, earlier, drawn) in zip(s.models, pool.map(train_and_draw, s.models)):
            trained[model], runs[model], pictures[model] = got, s.out / "runs" / model, drawn
            if earlier:
                reused.append(model)
    _say("comparing")
    result = compare_all(runs, s, device)
    wall = time.monotonic() - t0
    from zoo3d.fileio import write_text_atomic

    env = " ".join(f"{k}={shell_word(v)}" for k, v in sorted(os.environ.items()) if k.startswith("ZOO3D_ZOO_"))
    command = (env + " " if env else "") + "zoo3d bench zoo" + (" --quick" if quick else "") + f" --device {device}"
    table = zoo_table(result, trained, pictures, s, wall, device, command, reused=reused, quick=quick)
    write_text_atomic(s.out / "zoo.md", table, "zoo table")
    records = []
    for name, row in result["models"].items():
        rec = {"model": name, **{k: v for k, v in trained.get(name, {}).items() if k != "model"},
               "reused": name in reused,
               "strictly_3d_consistent": bool(result["provenance"][name]["strictly_3d_consistent"])}
        for key, entry in row.items():
            if entry.get("mean") is not None:
                rec[key] = entry["mean"]
                rec[key + "_std"] = entry["std"]
                rec[key + "_n"] = entry.get("n")
                if entry.get("comparable") is False:
                    rec[key + "_comparable"] = False
        failed_keys = [key for key, entry in row.items() if entry.get("failed")]
        if failed_keys:
            rec["failed"] = ", ".join(failed_keys)
        records.append(rec)
    _say(f"wrote {s.out / 'zoo.md'} ({wall / 60:.1f} min)")
    from zoo3d.benchmarks import Incomplete
    from zoo3d.eval.harness import failures

    failed = failures(result)
    if failed:
        from zoo3d.errors import counted

        more = f" (and {counted(len(failed) - 1, 'other failure')})" if len(failed) > 1 else ""
        raise Incomplete(f"zoo3d compare failed on {failed[0]}{more}; the other cells, the samples and the trainings "
                         f"are in {s.out / 'zoo.md'}, and ZOO3D_ZOO_OUT={shell_word(str(s.out))} ZOO3D_ZOO_RESUME=1 "
                         f"redoes the comparison without training again.", records)
    return records
