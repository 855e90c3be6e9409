"""Product files never reach into the development-only ``../shared`` folder.

``../shared`` (DAVIS data, tokenizer copies) exists on development machines only; a user's clone
has nothing beside it. Everything the product needs ships in the repository or is put in the
project cache by ``scripts/setup.sh``. Tests and development scripts may use ``../shared``.
"""

from __future__ import annotations

import re
from pathlib import Path

from conftest import REPO

PRODUCT_DIRS = ("src", "launch", "config")
TEXT_SUFFIXES = {".py", ".yaml", ".yml", ".xml", ".md", ".txt", ".json", ".cfg", ".toml", ".sh", ""}
# Ways product code has reached the folder: a relative path, the dev-only variable, its subfolders,
# or a path climbed up from the package to the repository's parent.
FORBIDDEN = re.compile(r"\.\./shared\b|PARSE_VOS_SHARED|\bshared/(?:models|data)\b|parents\[\d\]\.parent\b|"
                       r"\.\./\.\./data/")


def product_files() -> list[Path]:
    files = []
    for top in PRODUCT_DIRS:
        files += [p for p in (REPO / top).rglob("*") if p.is_file() and p.suffix in TEXT_SUFFIXES
                  and "__pycache__" not in p.parts]
    return files


def offending_lines(paths: list[Path]) -> list[str]:
    """``path:line: text`` for every line of ``paths`` that refers to the shared folder."""
    found = []
    for path in paths:
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if FORBIDDEN.search(line):
                shown = path.relative_to(REPO) if path.is_relative_to(REPO) else path
                found.append(f"{shown}:{number}: {line.strip()}")
    return found


def test_no_product_file_mentions_the_shared_folder() -> None:
    files = product_files()
    assert len(files) > 50, "the scan found too few product files to mean anything"
    assert offending_lines(files) == []


def test_the_scan_finds_each_way_of_reaching_the_folder(tmp_path: Path) -> None:
    samples = ['VOCAB = Path("../shared/models/x.gguf")', 'os.environ["PARSE_VOS_SHARED"]',
               'root / "shared/data/davis2016"', 'Path(__file__).resolve().parents[3].parent / "s"',
               "frames in `../../data/davis2016`"]
    bad = tmp_path / "bad.py"
    bad.write_text("\n".join([*samples, "shared-memory segments are fine", "SharedMemory()"]) + "\n")
    assert len(offending_lines([bad])) == len(samples)
