"""What the store holds right now: Parquet file names (time range in the name), their provenance,
and the compaction journal that makes a crash between publish and WAL delete harmless."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from pathlib import Path

from smythtop.store.paths import JOURNAL_DIR, PARQUET_DIR, PARQUET_SUFFIX, TMP_PREFIX, atomic_write_bytes

SOURCES_KEY = b"smythtop.sources"  # Parquet key-value metadata: JSON provenance
KIND_WAL = "w"  # made from WAL segments: rows in source order
KIND_MERGE = "m"  # made by merging Parquet files: rows sorted by ts


@dataclass(frozen=True, slots=True)
class ParquetFile:
    path: Path
    min_ts: int
    max_ts: int
    kind: str

    @property
    def name(self) -> str:
        return self.path.name


def parquet_name(min_ts: int, max_ts: int, kind: str) -> str:
    return f"{min_ts:019d}-{max_ts:019d}-{kind}{secrets.token_hex(6)}{PARQUET_SUFFIX}"


def parse_parquet_name(path: Path) -> ParquetFile | None:
    parts = path.name.removesuffix(PARQUET_SUFFIX).split("-")
    if len(parts) != 3 or not path.name.endswith(PARQUET_SUFFIX) or not parts[2]:
        return None
    try:
        return ParquetFile(path, int(parts[0]), int(parts[1]), parts[2][0])
    except ValueError:
        return None


def list_parquet(root: Path) -> list[ParquetFile]:
    """Published Parquet files, oldest first; temp files are never listed."""
    try:
        entries = list((root / PARQUET_DIR).iterdir())
    except FileNotFoundError:
        return []
    files = [f for p in entries if not p.name.startswith(TMP_PREFIX) and (f := parse_parquet_name(p))]
    return sorted(files, key=lambda f: (f.min_ts, f.max_ts, f.name))


@dataclass(frozen=True, slots=True)
class Journal:
    """An intent: `target` replaces `sources` (store-relative paths). Written before publish."""

    path: Path
    target: str
    sources: tuple[str, ...]


def write_journal(root: Path, target: str, sources: list[str]) -> Journal:
    directory = root / JOURNAL_DIR
    directory.mkdir(mode=0o700, exist_ok=True)
    path = directory / f"{secrets.token_hex(8)}.json"
    atomic_write_bytes(path, json.dumps({"target": target, "sources": sources}).encode())
    return Journal(path, target, tuple(sources))


def list_journals(root: Path) -> list[Journal]:
    try:
        paths = sorted(p for p in (root / JOURNAL_DIR).glob("*.json") if not p.name.startswith(TMP_PREFIX))
    except FileNotFoundError:
        return []
    out = []
    for path in paths:
        try:
            data = json.loads(path.read_bytes())
            out.append(Journal(path, str(data["target"]), tuple(str(s) for s in data["sources"])))
        except (OSError, ValueError, KeyError, TypeError):
            continue  # a journal is published atomically; an unreadable one is from a foreign tool
    return out


def superseded(root: Path) -> set[str]:
    """Store-relative paths already replaced by a published target whose sources a crash left behind."""
    out: set[str] = set()
    for journal in list_journals(root):
        if (root / journal.target).exists():
            out.update(journal.sources)
    return out


def rel(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix()
