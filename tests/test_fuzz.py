"""Fuzz the reader: seeded corruptions of copies of sample_data, run through the CLI.

A small generator (seeded, so every run tries the same cases) breaks one file of a trimmed
copy of `sample_data/` in one way: truncation, inserted bytes, swapped separators, a header
given twice, another encoding, other line ends, a stray quote, a formula, a long field, a
path that is not a file… For each case `parcours evaluate` (and `check` for some) must end
with exit status 0 or 1, never a stack trace; on failure a French message; on success
`rows = kept + rejected` for every table read.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from engine.cli import app

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data"
AS_OF = "2025-06-30"
SEED = 20251201
CASES = 36
KEEP_LINES = 300  # lines kept of each sample file: enough for every table, quick to evaluate
ENGLISH = ("Traceback", "Error:", "Errno", "No such file", "Permission denied", "codec can't", "Exception")
runner = CliRunner()


@pytest.fixture(scope="module")
def trimmed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("sample")
    for path in sorted(SAMPLE.glob("*.csv")):
        lines = path.read_bytes().splitlines(keepends=True)
        (folder / path.name).write_bytes(b"".join(lines[:KEEP_LINES]))
    return folder


# --------------------------------------------------------------------------- corruptions

Corruption = Callable[[random.Random, Path], str]


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def truncate(rng: random.Random, path: Path) -> str:
    data = path.read_bytes()
    cut = rng.randrange(0, len(data))
    path.write_bytes(data[:cut])
    return f"tronqué à {cut} octets"


def insert_bytes(rng: random.Random, path: Path) -> str:
    data = path.read_bytes()
    at = rng.randrange(0, len(data))
    junk = bytes(rng.choice(b'\x00\xff\xe9\xc3"\r\n;,\t\\=') for _ in range(rng.randint(1, 6)))
    path.write_bytes(data[:at] + junk + data[at:])
    return f"{junk!r} inséré à {at}"


def swap_separators(rng: random.Random, path: Path) -> str:
    lines = _lines(path)
    if rng.random() < 0.5:
        path.write_bytes(b"".join(lines).replace(b",", b";"))
        return "tout en ;"
    n = rng.randrange(0, len(lines))
    lines[n] = lines[n].replace(b",", b";")
    path.write_bytes(b"".join(lines))
    return f"ligne {n + 1} en ;"


def duplicate_header(rng: random.Random, path: Path) -> str:
    lines = _lines(path)
    if rng.random() < 0.5:
        n = rng.randrange(1, len(lines) + 1)
        lines.insert(n, lines[0])
        path.write_bytes(b"".join(lines))
        return f"en-tête répété ligne {n + 1}"
    names = lines[0].rstrip(b"\r\n").split(b",")
    names.append(rng.choice(names))
    path.write_bytes(b",".join(names) + b"\n" + b"".join(lines[1:]))
    return "colonne répétée dans l'en-tête"


def reencode(rng: random.Random, path: Path) -> str:
    text = path.read_text(encoding="utf-8")
    codec = rng.choice(["utf-16", "utf-16-le", "utf-32", "utf-8-sig", "cp1252", "latin-1", "mac-roman"])
    try:
        path.write_bytes(text.encode(codec))
    except UnicodeEncodeError:
        path.write_bytes(text.encode(codec, errors="replace"))
    return f"réencodé en {codec}"


def line_ends(rng: random.Random, path: Path) -> str:
    data = path.read_bytes()
    end = rng.choice([b"\r", b"\r\n", b"\n\n"])
    path.write_bytes(data.replace(b"\n", end))
    return f"fins de ligne {end!r}"


def mixed_encoding(rng: random.Random, path: Path) -> str:
    lines = _lines(path)
    n = rng.randrange(1, len(lines))
    lines[n] = lines[n].rstrip(b"\r\n") + "é".encode(rng.choice(["cp1252", "utf-8"])) + b"\n"
    lines[0] = lines[0].rstrip(b"\r\n") + "ü".encode() + b"\n"
    path.write_bytes(b"".join(lines))
    return f"é ajouté ligne {n + 1}"


def ragged(rng: random.Random, path: Path) -> str:
    lines = _lines(path)
    n = rng.randrange(1, len(lines))
    body = lines[n].rstrip(b"\r\n")
    lines[n] = (body + b",en,trop" if rng.random() < 0.5 else body.rsplit(b",", 2)[0]) + b"\n"
    path.write_bytes(b"".join(lines))
    return f"ligne {n + 1} de longueur différente"


def stray_quote(rng: random.Random, path: Path) -> str:
    lines = _lines(path)
    n = rng.randrange(1, len(lines))
    at = rng.randrange(0, max(1, len(lines[n]) - 1))
    lines[n] = lines[n][:at] + b'"' + lines[n][at:]
    path.write_bytes(b"".join(lines))
    return f"guillemet ligne {n + 1}"


def bad_value(rng: random.Random, path: Path) -> str:
    lines = _lines(path)
    n = rng.randrange(1, len(lines))
    cells = lines[n].rstrip(b"\r\n").split(b",")
    k = rng.randrange(0, len(cells))
    cells[k] = rng.choice(
        [b"=1+1", b"-1", b"@SUM(A1)", b'"a""b"', b"x\\y", b"\x01", "\u200b".encode(), b"1.005", b"53700.004",
         b"9" * 400, b"x" * 140_000, b"", b"  ", b"31/02/2025", b"NaN", b"inf", b"1e400"]
    )
    lines[n] = b",".join(cells) + b"\n"
    path.write_bytes(b"".join(lines))
    return f"valeur ligne {n + 1}, champ {k + 1}"


def not_a_file(rng: random.Random, path: Path) -> str:
    path.unlink()
    kind = rng.choice(["dossier", "lien cassé", "boucle", "vide"])
    if kind == "dossier":
        path.mkdir()
    elif kind == "lien cassé":
        os.symlink(path.parent / "absent.csv", path)
    elif kind == "boucle":
        os.symlink(path, path)
    else:
        path.write_bytes(b"")
    return kind


CORRUPTIONS: list[Corruption] = [
    truncate, insert_bytes, swap_separators, duplicate_header, reencode, line_ends,
    mixed_encoding, ragged, stray_quote, bad_value, bad_value, not_a_file,
]


def _cases() -> list[tuple[int, str, str]]:
    rng = random.Random(SEED)
    files = sorted(p.name for p in SAMPLE.glob("*.csv"))
    # every corruption in turn (each about CASES / 12 times), on a file drawn at random
    return [(i, rng.choice(files), CORRUPTIONS[i % len(CORRUPTIONS)].__name__) for i in range(CASES)]


# --------------------------------------------------------------------------- the test


def _check_output(result, what: str) -> None:
    assert result.exception is None or isinstance(result.exception, SystemExit), (what, result.exception)
    assert result.exit_code in (0, 1), (what, result.exit_code, result.output)
    for word in ENGLISH:
        assert word not in result.output, (what, word, result.output)


@pytest.mark.parametrize(("index", "file", "corruption"), _cases(), ids=lambda v: str(v))
def test_a_corrupted_extract_is_read_or_refused_in_french(trimmed, tmp_path, index, file, corruption):
    data = tmp_path / "data"
    shutil.copytree(trimmed, data)
    rng = random.Random(SEED + index)
    what = f"{file}: " + globals()[corruption](rng, data / file)
    out = tmp_path / "out"
    result = runner.invoke(app, ["evaluate", str(data), "--as-of", AS_OF, "--out", str(out)])
    _check_output(result, what)
    if result.exit_code == 1:
        assert "Erreur" in result.output, (what, result.output)
        assert not (out / "results.json").exists()
    else:
        results = json.loads((out / "results.json").read_text(encoding="utf-8"))
        for name, c in results["inputs"].items():
            assert c["rows"] == c["kept"] + c["rejected"], (what, name, c)
    if index % 3 == 0:
        check = runner.invoke(app, ["check", str(data), "--format", "json"])
        _check_output(check, what)
        assert (check.exit_code == 1 and "Erreur" in check.output) == (result.exit_code == 1), (what, check.output)
