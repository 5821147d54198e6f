"""The one writer: every file a run produces is written here, atomically and exclusively.

How a run reaches the disk (issue 13, item 7):

- **One file** is written to a temporary name beside it (`.<name>.tmp-<pid>`), flushed to
  disk and renamed over its final name (`os.replace`): a reader never sees half a file.
- **The run's files appear together.** `--out` is *the run's folder*: the whole run is
  written into a sibling staging folder (`.<out>.tmp-<pid>-<token>`) and then swapped in
  for `--out` in one step (Linux `renameat2(RENAME_EXCHANGE)`; elsewhere two renames, the
  previous run restored by the next run if a kill fell between them). Until the swap the
  previous complete run stays in place; after it, the new complete run. A killed run
  leaves at most a hidden staging folder beside `--out`, removed by the next run.
- **What is ours is replaced, the rest is kept.** The entries a run writes
  (`RUN_ENTRIES`: `results.json`, `rejected/`, `report.xlsx`, `report.html`,
  `comparison.json`, `baseline/`, `variant/`) are replaced as a whole; any other entry of
  an existing `--out` (e.g. the `whatif/` folder of `parcours whatif`'s default
  `out/whatif`) is carried over into the new folder. An existing non-empty folder that
  holds no run (no `results.json` nor `comparison.json`) is refused: parcours does not
  take over a folder that is not its own.
- **One run at a time per `--out`**: a lock file `<out>.lock` beside the folder (`flock`,
  with the pid written in it) is taken before anything is read; a second run to the same
  `--out` is refused at once, in French. The lock file is removed when the run ends.
- `--out` is checked first (`check_out`): an existing file, a parent that is not a
  folder or not writable are refused before the extracts are read.

Every OS error is told in French (`engine.model.oserror`); never the system's English.
This protects against a killed process and concurrent runs; files are also `fsync`ed
before their rename, so a power cut leaves the previous or the new version of a file.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import secrets
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import orjson
import polars as pl

from engine.load.extracts import READ_ORDER, spreadsheet_safe
from engine.model.errors import ParcoursError
from engine.model.extracts import Extracts
from engine.model.oserror import os_error_fr
from engine.model.results import RunResult
from engine.present.results_json import results_json

if TYPE_CHECKING:
    from engine.compute.whatif import WhatIf

RUN_ENTRIES = frozenset(
    {"results.json", "rejected", "report.xlsx", "report.html", "comparison.json", "baseline", "variant"}
)
RUN_MARKERS = ("results.json", "comparison.json")


class OutputError(ParcoursError):
    """The output folder cannot be used or written (one French sentence)."""


# --------------------------------------------------------------------------- one file


def _tmp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def _fsync(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_path(path: Path | str) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it is synced and renamed to `path`.

    For writers that want a file name (xlsxwriter). On an exception the temporary file is
    removed and `path` is untouched.
    """
    path = Path(path)
    tmp = _tmp_name(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        yield tmp
        _fsync(tmp)
        os.replace(tmp, path)
    except OSError as error:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise OutputError(f"Écriture impossible de « {path} » : {os_error_fr(error)}.") from None
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def write_bytes(data: bytes, path: Path | str) -> Path:
    """Write `data` to `path` atomically (temporary name, then rename)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        with tmp.open("wb") as handle:
            handle.write(data)
    return path


def write_text(text: str, path: Path | str) -> Path:
    """Write UTF-8 `text` to `path` atomically."""
    return write_bytes(text.encode("utf-8"), path)


def write_with(path: Path | str, fill: Callable[[IO[bytes]], None]) -> Path:
    """Write `path` atomically through `fill(handle)` (a binary file open on the temporary name)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        with tmp.open("wb") as handle:
            fill(handle)
    return path


def json_bytes(document: Any) -> bytes:
    """A JSON document as UTF-8, indented by two spaces, French text kept readable, a final newline.

    orjson writes the same text as `json.dumps(..., ensure_ascii=False, indent=2)` about
    twenty times faster (Python's encoder is pure Python once indented), except a float
    below 10⁻⁴ (`0.00001`, not `1e-05`: the same number). A value orjson cannot write
    (an integer beyond 64 bits…) falls back to the standard library.
    """
    try:
        return orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE
                            | orjson.OPT_NON_STR_KEYS)
    except TypeError:
        return (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def write_json(document: dict[str, Any], path: Path) -> Path:
    """Write a JSON document (`json_bytes`) atomically."""
    return write_bytes(json_bytes(document), path)


# --------------------------------------------------------------------------- the output folder


def _describe(out: Path) -> str:
    return f"« {out} »"


def check_out(out: Path | str) -> Path:
    """Check `--out` before any work: refuse a file, a foreign folder, an unwritable parent.

    Returns the path as given. Raises OutputError (French).
    """
    out = Path(out)
    try:
        if out.is_symlink() and not out.exists():
            raise OutputError(f"Dossier de sortie {_describe(out)} : lien symbolique cassé.")
        if out.exists():
            if not out.is_dir():
                raise OutputError(
                    f"Dossier de sortie {_describe(out)} : c'est un fichier, pas un dossier ;"
                    " indiquer un dossier (nouveau ou d'une exécution précédente)."
                )
            entries = os.listdir(out)
            if entries and not any(marker in entries for marker in RUN_MARKERS):
                raise OutputError(
                    f"Dossier de sortie {_describe(out)} : ce dossier existe et ne contient pas"
                    " de résultats de parcours ; choisir un dossier nouveau, vide ou d'une"
                    " exécution précédente (il sera remplacé en entier)."
                )
        parent = out.absolute().parent
        existing = parent
        while not existing.exists():
            existing = existing.parent
        if not existing.is_dir():
            raise OutputError(
                f"Dossier de sortie {_describe(out)} : « {existing} » est un fichier, pas un dossier."
            )
        if not os.access(existing, os.W_OK | os.X_OK):
            raise OutputError(
                f"Dossier de sortie {_describe(out)} : écriture interdite dans « {existing} »"
                " (droits insuffisants)."
            )
    except OSError as error:
        raise OutputError(f"Dossier de sortie {_describe(out)} : {os_error_fr(error)}.") from None
    return out


_HELD: dict[str, int] = {}


def _target(out: Path) -> Path:
    """`out` as one absolute spelling: its parent resolved (links followed), its name kept."""
    absolute = Path(os.path.abspath(out))
    return Path(os.path.realpath(absolute.parent)) / absolute.name


def _lock_path(out: Path) -> Path:
    target = _target(out)
    return target.with_name(target.name + ".lock")


def _key(out: Path) -> str:
    return str(_target(out))


@contextlib.contextmanager
def exclusive_output(out: Path | str) -> Iterator[Path]:
    """Check `--out` and hold its lock for the duration of the block (re-entrant in a process).

    A second process asking for the same `--out` gets OutputError at once. Stale staging
    folders of killed runs are cleaned (and an interrupted swap undone) once the lock is held.
    """
    import fcntl

    out = check_out(out)
    key = _key(out)
    if key in _HELD:
        _HELD[key] += 1
        try:
            yield out
        finally:
            _HELD[key] -= 1
        return
    lock = _lock_path(out)
    try:
        lock.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                holder = ""
                with contextlib.suppress(OSError, ValueError):
                    holder = f" (processus {int(lock.read_text().split()[0])})"
                raise OutputError(
                    f"Dossier de sortie {_describe(out)} : une autre exécution y écrit déjà{holder} ;"
                    f" attendre qu'elle se termine (verrou « {lock.name} »)."
                ) from None
            try:
                same = os.stat(lock).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)  # the lock file was removed by the run that just ended: take the new one
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
    except OSError as error:
        raise OutputError(f"Dossier de sortie {_describe(out)} : verrou impossible ({os_error_fr(error)}).") from None
    _HELD[key] = 1
    try:
        _recover(out)
        yield out
    finally:
        del _HELD[key]
        with contextlib.suppress(OSError):
            os.unlink(lock)
        os.close(fd)


def _siblings(out: Path, kind: str) -> list[Path]:
    parent = _target(out).parent
    prefix = f".{out.name}.{kind}-"
    try:
        return [parent / name for name in os.listdir(parent) if name.startswith(prefix)]
    except OSError:
        return []


def _recover(out: Path) -> None:
    """Undo what a killed run left: restore an interrupted swap, remove staging folders."""
    out = _target(out)
    olds = _siblings(out, "old")
    if not out.exists() and olds:
        with contextlib.suppress(OSError):
            os.rename(max(olds, key=lambda p: p.stat().st_mtime), out)
    for stale in _siblings(out, "tmp") + _siblings(out, "old"):
        shutil.rmtree(stale, ignore_errors=True)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux renameat2 RENAME_EXCHANGE); False when unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def staged_output(out: Path | str) -> Iterator[Path]:
    """Yield a staging folder beside `out`; on success it replaces `out` in one step.

    Entries of the previous `out` that a run does not write (not in `RUN_ENTRIES`) are
    carried over first. On an exception the staging folder is removed and `out` is
    untouched. Takes the lock on `out` (re-entrant when the caller holds it already).
    """
    with exclusive_output(out) as out:
        target = _target(out)
        stage = target.with_name(f".{target.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
        try:
            os.mkdir(stage)
        except OSError as error:
            raise OutputError(
                f"Dossier de sortie {_describe(out)} : création impossible ({os_error_fr(error)})."
            ) from None
        try:
            yield stage
            _swap_in(stage, target)
        except OSError as error:
            shutil.rmtree(stage, ignore_errors=True)
            raise OutputError(
                f"Dossier de sortie {_describe(out)} : écriture impossible ({os_error_fr(error)})."
            ) from None
        except BaseException:
            shutil.rmtree(stage, ignore_errors=True)
            raise


def _swap_in(stage: Path, target: Path) -> None:
    if target.exists():
        for name in os.listdir(target):
            if name not in RUN_ENTRIES and not (stage / name).exists():
                os.rename(target / name, stage / name)
    for name in os.listdir(stage):
        if (stage / name).is_file():
            _fsync(stage / name)
    _fsync_dir(stage)
    if not target.exists():
        os.rename(stage, target)
    elif _exchange(stage, target):
        shutil.rmtree(stage, ignore_errors=True)  # `stage` now holds the previous run
    else:
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.rename(target, old)
        os.rename(stage, target)
        shutil.rmtree(old, ignore_errors=True)
    _fsync_dir(target.parent)


def _under(paths: list[Path], stage: Path, out: Path) -> list[Path]:
    """The paths written under `stage`, as they are named once `stage` became `out`."""
    return [out / path.relative_to(stage) for path in paths]


# --------------------------------------------------------------------------- a run


def _write_run_files(run: RunResult, folder: Path, *, reports: bool) -> list[Path]:
    from engine.present.page import write_html
    from engine.present.workbook import params_table, write_workbook

    folder.mkdir(parents=True, exist_ok=True)
    results = results_json(run)
    written = [write_json(results, folder / "results.json")]
    written.extend(write_rejected(run.extracts, folder))
    if reports:
        params = params_table(run.book, run.as_of)
        written.append(write_workbook(results, folder / "report.xlsx", params=params, rejected=run.extracts.rejected))
        written.append(write_html(results, folder / "report.html", params=params))
    return written


def write_run(run: RunResult, out_dir: Path, *, reports: bool = True) -> list[Path]:
    """Write `results.json`, `rejected/`, `report.xlsx` and `report.html` as the folder `out_dir`.

    Staged and swapped in whole (module docstring); returns the paths written.
    """
    out_dir = Path(out_dir)
    with staged_output(out_dir) as stage:
        written = _write_run_files(run, stage, reports=reports)
    return _under(written, stage, out_dir)


def write_rejected(extracts: Extracts, out_dir: Path) -> list[Path]:
    """Write `out_dir/rejected/<table>.csv` (UTF-8, `,`) for each table with problems.

    Columns as `Extracts.rejected`. A stale file of a previous run for a table without
    problems is removed. Returns the paths written. Each file is written atomically.
    """
    folder = Path(out_dir) / "rejected"
    written: list[Path] = []
    for name in READ_ORDER:
        path = folder / f"{name}.csv"
        part = extracts.rejected.filter(pl.col("table") == name)
        if part.height == 0:
            if path.is_file():
                path.unlink()
            continue
        written.append(write_with(path, spreadsheet_safe(part).write_csv))
    return written


def write_whatif(result: WhatIf, out_dir: Path, *, reports: bool = True) -> list[Path]:
    """Write `baseline/`, `variant/` (each a full run folder) and `comparison.json` as `out_dir`.

    With `reports`, also `report.xlsx` and `report.html` side by side in `out_dir`: the
    comparison first, then the variant's full report, then the baseline's (outputs.md). Staged
    and swapped in whole, like `write_run`.
    """
    out_dir = Path(out_dir)
    with staged_output(out_dir) as stage:
        written = _write_run_files(result.baseline, stage / "baseline", reports=reports)
        written += _write_run_files(result.variant, stage / "variant", reports=reports)
        written.append(write_json(result.comparison, stage / "comparison.json"))
        if reports:
            from engine.present.page import write_html
            from engine.present.workbook import params_table, write_workbook

            base, varied = results_json(result.baseline), results_json(result.variant)
            params = params_table(result.variant.book, result.variant.as_of)
            written.append(
                write_workbook(
                    base,
                    stage / "report.xlsx",
                    params=params,
                    rejected=result.baseline.extracts.rejected,
                    comparison=result.comparison,
                    variant=varied,
                    baseline_params=params_table(result.baseline.book, result.baseline.as_of),
                )
            )
            written.append(
                write_html(
                    base,
                    stage / "report.html",
                    params=params,
                    comparison=result.comparison,
                    variant=varied,
                )
            )
    return _under(written, stage, out_dir)
