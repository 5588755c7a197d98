"""What the store holds right now: Parquet file names (time range in the name), their provenance,
and the compaction journal that makes a crash between publish and WAL delete harmless."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from smythtop.store.paths import (
    JOURNAL_DIR,
    PARQUET_DIR,
    PARQUET_SUFFIX,
    ROLLUP_DIR,
    TMP_PREFIX,
    WAL_DIR,
    atomic_write_bytes,
    read_nofollow,
)
from smythtop.store.wal import is_segment_name

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


def list_parquet(root: Path, directory: str = PARQUET_DIR) -> list[ParquetFile]:
    """Published Parquet files (frames, or rollups with `directory=ROLLUP_DIR`), oldest first; temp files are
    never listed."""
    try:
        with os.scandir(root / directory) as it:  # a symlink is not a published file: never followed
            entries = [Path(e.path) for e in it if e.is_file(follow_symlinks=False)]
    except FileNotFoundError:
        return []
    files = [f for p in entries if not p.name.startswith(TMP_PREFIX) and (f := parse_parquet_name(p))]
    return sorted(files, key=lambda f: (f.min_ts, f.max_ts, f.name))


@dataclass(frozen=True, slots=True)
class Journal:
    """An intent: `target` replaces `sources` (store-relative paths). Written before publish. `also` names files
    published with the target (a frames file's rollup), renamed before it: with the target missing they are
    rolled back."""

    path: Path
    target: str
    sources: tuple[str, ...]
    also: tuple[str, ...] = ()


def write_journal(root: Path, target: str, sources: list[str], also: list[str] | None = None) -> Journal:
    directory = root / JOURNAL_DIR
    directory.mkdir(mode=0o700, exist_ok=True)
    path = directory / f"{secrets.token_hex(8)}.json"
    intent: dict = {"target": target, "sources": sources}
    if also:
        intent["also"] = also
    atomic_write_bytes(path, json.dumps(intent).encode())
    return Journal(path, target, tuple(sources), tuple(also or ()))


def list_journals(root: Path) -> list[Journal]:
    try:
        paths = sorted(p for p in (root / JOURNAL_DIR).glob("*.json") if not p.name.startswith(TMP_PREFIX))
    except FileNotFoundError:
        return []
    out = []
    for path in paths:
        try:
            data = json.loads(read_nofollow(path))
            journal = Journal(
                path,
                str(data["target"]),
                tuple(str(s) for s in data["sources"]),
                tuple(str(s) for s in data.get("also", ())),
            )
        except (OSError, ValueError, KeyError, TypeError):
            continue  # a journal is published atomically; an unreadable one is from a foreign tool
        if all(in_layout(p) for p in (journal.target, *journal.sources, *journal.also)):
            out.append(journal)  # else not ours: never acted on (`check` reports it)
    return out


def in_layout(relpath: str) -> bool:
    """A path a journal may name: `parquet/<file name>`, `rollups/<file name>` or `wal/<writer>/<segment>`,
    nothing absolute or with `..` (a journal naming `../victim` once made compaction delete the victim's file)."""
    parts = relpath.split("/")
    if len(parts) == 2 and parts[0] in (PARQUET_DIR, ROLLUP_DIR):
        return parse_parquet_name(Path(parts[1])) is not None and not parts[1].startswith(TMP_PREFIX)
    return (
        len(parts) == 3
        and parts[0] == WAL_DIR
        and parts[1] not in ("", ".", "..")
        and not parts[1].startswith(TMP_PREFIX)
        and is_segment_name(parts[2])
    )


def superseded(root: Path) -> set[str]:
    """Store-relative paths already replaced by a published target whose sources a crash left behind."""
    out: set[str] = set()
    for journal in list_journals(root):
        if (root / journal.target).exists():
            out.update(journal.sources)
    return out


def orphaned(root: Path) -> set[str]:
    """Files published with a target that a crash left unpublished (`Journal.also`): never read; recovery
    deletes them, and the sources, still in place, are compacted again."""
    out: set[str] = set()
    for journal in list_journals(root):
        if not (root / journal.target).exists():
            out.update(journal.also)
    return out


def rel(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix()
