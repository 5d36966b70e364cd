"""Writing files so that a failure leaves nothing half-written, and says in one sentence what failed.

Every file zoo3d writes (checkpoints, ``latest``, ``config.yaml``, images, animations, meshes,
JSON reports, dataset labels) goes through :func:`atomic_path`: the content is written to a
hidden temporary file next to the target (``.<name>.tmp-<pid>``), fsynced, then renamed over
the target. A target that is a symbolic link to an existing regular file is written through, as
``cp`` and Pillow's ``save`` do: the temporary file is made beside the file the link leads to and
renamed onto it, so the link stays and leads to the new content (:func:`write_target`). The new file
takes the permission bits of the file it replaces (one the user made group-writable or executable stays so),
as ``cp`` onto an existing file keeps them. A hard link is not written through: the rename gives the name a
new file, and the file's other names keep the earlier content, as a snapshot made with ``cp -al`` or
``rsync --link-dest`` needs. A full disk, a read-only folder or a crash therefore leaves either the old file
or the new one, never a cut-off one; the temporary file is removed on failure, and temporary files left by a
process that was killed (its pid is gone) are removed by the next write of the same target or by
:func:`clean_stale_temps`. A file built in a staging folder (:func:`staging_folder`) is moved onto its output
by :func:`place`, which does the same.
"""

from __future__ import annotations

import errno
import json
import math
import os
import re
import shutil
import stat
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from zoo3d.errors import UserError, shown_name

_TEMP = re.compile(r"^\.(?P<name>.+)\.tmp-(?P<pid>\d+)$")

#: what the user is told of a write that found no room left (ENOSPC)
DISK_FULL = "the disk is full"
#: errno values that mean "the storage refused the write", with what the user is told.
_STORAGE_ERRORS = {
    errno.ENOSPC: DISK_FULL,
    errno.EDQUOT: "the disk quota is exceeded",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EFBIG: "the file is too large for the file system",
}


class WriteError(UserError):
    """A file could not be written (disk full, read-only folder, no permission, ...); ``reason`` says why, ``path`` is
    the file that failed where it is known (:func:`write_error`)."""

    def __init__(self, message: str, reason: str = "", path: str | Path | None = None):
        super().__init__(message)
        self.reason = reason or message
        self.path = None if path is None else Path(path)


def storage_reason(exc: OSError) -> str:
    """A short lower-case reason for an OSError, e.g. 'the disk is full'."""
    return _STORAGE_ERRORS.get(exc.errno, (exc.strerror or type(exc).__name__).lower())


#: what lets a write that failed for a reason of :data:`_STORAGE_ERRORS` go through next time
_REMEDIES = {_STORAGE_ERRORS[errno.ENOSPC]: "free some space", _STORAGE_ERRORS[errno.EDQUOT]: "free some space",
             _STORAGE_ERRORS[errno.EROFS]: "make the folder writable",
             _STORAGE_ERRORS[errno.EACCES]: "make the folder writable",
             # a FAT32 drive's 4 GiB a file, or a job's file-size limit (ulimit -f, a scheduler's)
             _STORAGE_ERRORS[errno.EFBIG]: "raise the file-size limit (`ulimit -f`) or move to a file system that "
                                           "takes larger files"}


def storage_remedy(reason: str) -> str:
    """What to do about a write that failed for ``reason`` (:func:`storage_reason`'s words), as a clause: 'free some
    space' for a full disk, 'make the folder writable' for a refused one, a larger file-size limit for a file too
    large, else 'fix that'."""
    return _REMEDIES.get(reason, "fix that")


def is_storage_error(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in _STORAGE_ERRORS


def write_error(path: str | Path, exc: OSError | WriteError, what: str = "") -> WriteError:
    """The one-sentence error for a failed write of ``path`` (``what``: e.g. 'checkpoint'); ``exc`` is the
    storage's error, or the error of a file written on the way to ``path`` (its reason is kept)."""
    label = f"{what} " if what else ""
    reason = exc.reason if isinstance(exc, WriteError) else storage_reason(exc)
    return WriteError(f"Cannot write {label}'{shown_name(str(path))}': {reason}; nothing was half-written.", reason,
                      path)


#: the longest file name most file systems take, in bytes (ext4, XFS, Btrfs, APFS, NTFS in UTF-16 units)
NAME_MAX = 255
_PID_WIDTH = 10  # room kept for any pid, so a target's temporary stem does not depend on the pid


def _temp_stem(name: str) -> str:
    """``name`` as it appears in its temporary file's name: whole, or, where ``.<name>.tmp-<pid>`` would pass
    :data:`NAME_MAX` (a target named near the limit, which the file system itself takes), cut to fit, with a
    digest of the whole name so two long names that share their start keep apart."""
    room = NAME_MAX - len(".") - len(".tmp-") - _PID_WIDTH
    if len(name.encode()) <= room:
        return name
    import hashlib

    digest = hashlib.sha256(name.encode()).hexdigest()[:12]
    cut = name.encode()[:room - len(digest) - 1].decode(errors="ignore")
    return f"{cut}~{digest}"


def temp_path(path: str | Path) -> Path:
    """The hidden temporary name this process uses while writing ``path``."""
    path = Path(path)
    return path.with_name(f".{_temp_stem(path.name)}.tmp-{os.getpid()}")


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:
        return True
    return True


def clean_stale_temps(folder: str | Path, name: str | None = None) -> list[Path]:
    """Remove ``.<name>.tmp-<pid>`` files (and folders) in ``folder`` whose process is gone.

    With ``name``, only the temporary files of that target. Returns what was removed.
    """
    folder = Path(folder)
    removed: list[Path] = []
    try:
        entries = list(folder.iterdir())
    except OSError:
        return removed
    for entry in entries:
        m = _TEMP.match(entry.name)
        if m is None or (name is not None and m.group("name") != _temp_stem(name)) or _pid_alive(int(m.group("pid"))):
            continue
        try:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            removed.append(entry)
        except OSError:
            pass
    return removed


def _remove(path: Path) -> None:
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
    except OSError:
        pass


def _fsync(path: Path) -> None:
    if path.is_dir():
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_parent(path: str | Path, what: str = "") -> None:
    """``mkdir -p`` of ``path``'s folder, with a one-sentence error when the storage refuses."""
    parent = Path(path).parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise WriteError(f"Cannot write {what + ' ' if what else ''}'{shown_name(str(path))}': "
                         f"'{shown_name(str(parent))}' is a file, not a folder.") \
            from None
    except OSError as exc:
        raise write_error(path, exc, what) from None


def dangling_link(path: str | Path) -> tuple[Path, str] | None:
    """The symbolic link, ``path`` itself or a folder on its way, that leads nowhere (its target, or a folder on the
    target's way, is missing: a disk not mounted, a folder removed), with the target it names; None if there is none."""
    path = Path(path)
    for p in (path, *path.parents):
        if p.is_symlink() and not p.exists():
            return p, os.readlink(p)
    return None


def refuse_dangling_link(path: str | Path, what: str = "") -> None:
    """Refuse an output through a symbolic link that leads nowhere: writing would replace the link by a file (or fail
    on it as on a file after all the work), not write where it points."""
    found = dangling_link(path)
    if found is None:
        return
    link, target = found
    label = f"{what} " if what else ""
    where = "it is" if link == Path(path) else f"'{shown_name(str(link))}' is"
    raise UserError(f"Cannot write {label}'{shown_name(str(path))}': {where} a symbolic link to "
                    f"'{shown_name(target)}', which does not exist; "
                    f"remove the link, or give the path where the output should go.")


def check_can_create(path: str | Path, what: str = "", folder: bool = False) -> None:
    """Refuse, before any work, an output that cannot be made: a symbolic link on its way leads nowhere, a folder on
    its way is a file, or the nearest existing folder is not writable. ``folder``: ``path`` is itself a folder to
    make (or to write into)."""
    refuse_dangling_link(path, what)
    target = Path(path).absolute()
    nearest = target if folder else target.parent
    while not nearest.exists():  # what mkdir -p would make; a path through a file does not exist either
        nearest = nearest.parent
    label = f"{what} " if what else ""
    if not nearest.is_dir():
        raise WriteError(f"Cannot write {label}'{shown_name(str(path))}': '{shown_name(str(nearest))}' is a file, not "
                         f"a folder.")
    if not os.access(nearest, os.W_OK | os.X_OK):
        if _on_read_only_file_system(nearest):  # access() refuses it too: no permission bits would help
            raise WriteError(f"Cannot write {label}'{shown_name(str(path))}': '{shown_name(str(nearest))}' is on a "
                             f"read-only file system.", _STORAGE_ERRORS[errno.EROFS])
        raise WriteError(f"Cannot write {label}'{shown_name(str(path))}': permission denied in "
                         f"'{shown_name(str(nearest))}'.", "permission denied")


def _on_read_only_file_system(folder: Path) -> bool:
    """Whether ``folder`` lies on a file system mounted read-only (a snapshot, an ``ro`` mount, a read-only bind
    mount in a container)."""
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):  # no statvfs (Windows): said as the permission it is there
        return False


def write_target(path: str | Path) -> Path:
    """The file a write of ``path`` replaces: ``path`` itself, or, where it is a symbolic link (through any chain of
    links) to a regular file that exists, that file. Renaming a new file over the link itself would replace the link
    by a plain file and leave the file it leads to with its old content. A link to a folder or to a device
    (``/dev/null``) is not followed: a rename cannot write into either, and must never replace a device."""
    path = Path(path)
    if path.is_symlink() and path.is_file():
        return Path(os.path.realpath(path))
    return path


def _keep_mode(new: Path, target: Path) -> None:
    """Give the file ``new`` the permission bits of ``target``, the regular file it is about to replace, where one
    exists (a link to a device or a pipe, which the new file replaces, lends it none)."""
    try:
        status = os.lstat(target)
    except OSError:  # nothing to replace: the new file keeps the mode the umask gave it
        return
    if stat.S_ISREG(status.st_mode):
        os.chmod(new, stat.S_IMODE(status.st_mode) & 0o777)


@contextmanager
def atomic_path(path: str | Path, what: str = "", clean: bool = True) -> Iterator[Path]:
    """Yield a temporary path to write ``path``'s content to; it replaces ``path`` when the block succeeds.

    On any failure the temporary file is removed and a storage failure becomes a
    :class:`WriteError` naming ``path`` (other exceptions pass through unchanged). ``clean``
    first removes the target's temporary files left by killed processes (one folder listing;
    a caller writing many files into one folder cleans it once instead). A ``path`` that is a
    symbolic link to an existing file is written through: its file is replaced, the link stays.
    """
    path = Path(path)
    make_parent(path, what)
    target = write_target(path)
    if clean:
        clean_stale_temps(target.parent, target.name)
    tmp = temp_path(target)
    try:
        yield tmp
        _fsync(tmp)
        _keep_mode(tmp, target)  # after the fsync, which reads the file: a mode without read access is kept too
        os.replace(tmp, target)
    except OSError as exc:
        _remove(tmp)
        if is_storage_error(exc):
            raise write_error(path, exc, what) from None
        raise
    except BaseException:
        _remove(tmp)
        raise


@contextmanager
def staging_folder(path: str | Path, what: str = "") -> Iterator[Path]:
    """Yield a hidden folder beside ``path`` to build its content in; the block moves what it made into place
    (``os.replace``), and whatever is left of the folder is removed afterwards, so a failed write leaves no
    partial output. A failure of the storage becomes a :class:`WriteError` naming ``path``, also where a file
    written into the folder failed first: the hidden folder's name would tell a user nothing."""
    path = Path(path)
    make_parent(path, what)
    clean_stale_temps(path.parent, path.name)
    staging = temp_path(path)
    try:
        staging.mkdir()
        yield staging
    except (OSError, WriteError) as exc:
        raise write_error(path, exc, what) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def place(written: str | Path, path: str | Path) -> Path:
    """Move the file ``written`` (made in a :func:`staging_folder`) onto the output ``path`` as :func:`atomic_path`
    writes one: through a symbolic link to an existing file (:func:`write_target`; copied beside that file first
    where it is on another file system), with the permission bits of the file it replaces. Returns the file written.
    A plain rename had replaced such a link by a plain file and left the file it leads to with the old content."""
    written, target = Path(written), write_target(path)
    _keep_mode(written, target)
    try:
        os.replace(written, target)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        with atomic_path(target, clean=False) as tmp:  # another file system: a copy written as any output is
            shutil.copyfile(written, tmp)
        written.unlink()
    return target


def write_bytes_atomic(path: str | Path, data: bytes, what: str = "") -> Path:
    with atomic_path(path, what) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
    return Path(path)


def write_text_atomic(path: str | Path, text: str, what: str = "") -> Path:
    return write_bytes_atomic(path, text.encode("utf-8"), what)


def _finite_or_null(value):
    """``value`` with every float that is not finite replaced by None, through dicts, lists and tuples."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite_or_null(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_or_null(v) for v in value]
    return value


def json_text(value, indent: int | None = 2) -> str:
    """``value`` as standard JSON for a file users parse: a number that is not finite (a NaN score, an infinite
    PSNR) is written as null, not as the ``NaN`` / ``Infinity`` that strict parsers (JavaScript's, jq) refuse."""
    return json.dumps(_finite_or_null(value), indent=indent, allow_nan=False)


def append_line(path: str | Path, line: str, what: str = "") -> None:
    """Append one line; on a storage failure the file is cut back to its previous length."""
    path = Path(path)
    data = memoryview(line.encode("utf-8") + b"\n")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            start = os.lseek(fd, 0, os.SEEK_END)
            try:
                while data:
                    data = data[os.write(fd, data):]
            except OSError:
                try:
                    os.ftruncate(fd, start)
                except OSError:
                    pass
                raise
        finally:
            os.close(fd)
    except OSError as exc:
        if is_storage_error(exc):
            raise write_error(path, exc, what) from None
        raise


__all__ = ["WriteError", "append_line", "atomic_path", "clean_stale_temps", "is_storage_error", "make_parent",
           "place", "staging_folder",
           "storage_reason", "temp_path", "write_bytes_atomic", "write_error", "write_target", "write_text_atomic"]
