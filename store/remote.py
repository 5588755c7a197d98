"""A fleet store on object storage: push a local store's sealed Parquet files to a bucket, read every host's back.

Layout and contract (docs/FORMAT.md, "The fleet layout on object storage"):

    <url>/host=<host id>/date=YYYY-MM-DD/hour=HH/<local file stem>.parquet
    <url>/host=<host id>/date=YYYY-MM-DD/hour=HH/<local file stem>.marker.json    (written last)

- Only published (sealed, compacted) Parquet files are pushed; the WAL never leaves the host.
- The object name is the local file's name, which is unique and never reused (its time range plus a random
  token), so a retried upload after a crash rewrites the same objects: no duplicates.
- The marker is written after its Parquet object, as Thanos writes a block's meta.json last; readers ignore a
  Parquet object without its marker (an upload cut off between the two).
- date/hour are those of the file's LAST frame (UTC), so every row of a file is at or before the end of its
  partition's hour: a `since` window skips whole earlier partitions without reading them.
- A file the compactor made by merging others names them in its marker (`replaces`); readers drop the replaced
  ones, so a merge pushed after its sources counts each frame once. The pusher only lets the store merge files
  that are already pushed (smythtop/maintenance.py), so `replaces` always names what is in the bucket.

Any URL that pyarrow's `FileSystem.from_uri` resolves works (s3://, gs://, abfs://, hdfs://, file://; an S3
endpoint, region or scheme goes in the query string, e.g. `s3://b/p?endpoint_override=127.0.0.1:9000&scheme=http`);
other schemes go through an installed fsspec implementation (`resolve`). Method for reading: list the partitions
(pruned by the window), keep the marked and not replaced files, and read them with a pyarrow dataset scan with
the time filter pushed down to row-group statistics.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import polars as pl
import pyarrow as pa
import pyarrow.fs as pafs
from smythtop.store.catalog import list_parquet, parse_parquet_name, rel, superseded
from smythtop.store.columns import polars_schema
from smythtop.store.compaction import read_sources
from smythtop.store.errors import StoreError
from smythtop.store.layout import open_store
from smythtop.store.locks import read_lock
from smythtop.store.paths import PARQUET_DIR, PARQUET_SUFFIX, read_nofollow
from smythtop.store.pqfiles import read_verified
from smythtop.store.reader import TimeBound, to_ns

MARKER_SUFFIX = ".marker.json"
MARKER_FORMAT = 1  # a marker of a newer format is refused by readers, not guessed at
_HOST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")  # one path segment, safe in any object store
_HOUR_NS = 3600 * 10**9


class RemoteError(StoreError):
    """A storage URL that cannot be resolved or read, or a host id that cannot name a partition."""


def is_url(location: str | os.PathLike[str] | None) -> bool:
    """True for `scheme://...` (a one-letter scheme is a Windows drive, never a URL)."""
    return isinstance(location, str) and len(location.partition("://")[0]) > 1 and "://" in location


def redacted(url: str) -> str:
    """A storage URL without user info or query (pyarrow takes credentials in either): safe to print or log."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.hostname or "", parts.path, "", ""))


def _scrub(exc: BaseException, url: str) -> str:
    """An error's text with the URL (which may carry credentials) redacted, on one line."""
    return " ".join(str(exc).replace(url, redacted(url)).split())


def resolve(url: str) -> tuple[pafs.FileSystem, str]:
    """(filesystem, base path) of a storage URL: pyarrow's own filesystems first, then fsspec's registry."""
    try:
        fs, path = pafs.FileSystem.from_uri(url)
    except (ValueError, OSError) as exc:  # pyarrow: an unrecognized scheme, or a bad S3 option
        scheme = urlsplit(url).scheme
        try:
            import fsspec  # optional: the way to add a backend pyarrow does not have (docs/FORMAT.md)
            from pyarrow.fs import FSSpecHandler, PyFileSystem
        except ImportError:
            raise RemoteError(f"cannot open storage URL {redacted(url)}: {_scrub(exc, url)}") from None
        try:
            spec_fs, path = fsspec.core.url_to_fs(url)
        except (ValueError, ImportError, OSError) as spec_exc:
            raise RemoteError(
                f"cannot open storage URL {redacted(url)} (scheme {scheme!r}): {_scrub(spec_exc, url)}"
            ) from None
        fs = PyFileSystem(FSSpecHandler(spec_fs))
    return fs, path.rstrip("/")


def check_host_id(host_id: str) -> str:
    if not _HOST_ID.match(host_id):
        raise RemoteError(
            f"host id {host_id!r} must be 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    return host_id


def partition(max_ts: int) -> str:
    """`date=YYYY-MM-DD/hour=HH` of a file's last frame (UTC)."""
    t = datetime.fromtimestamp(max_ts // 10**9, UTC)
    return f"date={t:%Y-%m-%d}/hour={t:%H}"


def object_key(base: str, host_id: str, name: str, max_ts: int) -> str:
    return f"{base}/host={host_id}/{partition(max_ts)}/{name}"


@dataclass(slots=True)
class PushResult:
    uploaded: list[str] = field(default_factory=list)  # object keys of the Parquet files pushed by this call
    already: int = 0  # files found in the bucket already (marker present)
    pending: int = 0  # published files not pushed (an upload failed); the store must not merge them yet


class Pusher:
    """Pushes one store's published Parquet files to `url` under `host=<host_id>`.

    Which files are in the bucket is learned once from the host's markers (so a restarted pusher does not upload
    again what it finished), then kept in memory. Not thread-safe: one pusher per store, one caller."""

    def __init__(self, root: Path, url: str, host_id: str) -> None:
        self.root = root
        self.url = url
        self.host_id = check_host_id(host_id)
        self.fs, self.base = resolve(url)
        self._pushed: set[str] | None = None  # local file names whose marker is in the bucket

    def _listed(self) -> set[str]:
        if self._pushed is None:
            sel = pafs.FileSelector(f"{self.base}/host={self.host_id}", recursive=True, allow_not_found=True)
            self._pushed = {
                Path(info.path).name.removesuffix(MARKER_SUFFIX) + PARQUET_SUFFIX
                for info in self.fs.get_file_info(sel)
                if info.type == pafs.FileType.File and info.path.endswith(MARKER_SUFFIX)
            }
        return self._pushed

    def push(self) -> PushResult:
        """Upload every published file not yet in the bucket, Parquet object first and its marker last.

        Raises on the first failed upload (the caller retries later; what is done stays done)."""
        open_store(self.root, write=False)
        with read_lock(self.root):
            skip = superseded(self.root)
            files = [f for f in list_parquet(self.root) if rel(self.root, f.path) not in skip]
        pushed = self._listed()
        result = PushResult(already=sum(f.name in pushed for f in files))
        todo = [f for f in files if f.name not in pushed]
        result.pending = len(todo)
        for f in todo:
            try:
                data = read_nofollow(f.path)
            except FileNotFoundError:
                result.pending -= 1
                continue  # merged or expired since listing; its successor is pushed instead
            key = object_key(self.base, self.host_id, f.name, f.max_ts)
            _kind, sources = read_sources(f.path)
            marker = {
                "format": MARKER_FORMAT,
                "host": self.host_id,
                "file": f.name,
                "bytes": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
                "min_ts": f.min_ts,
                "max_ts": f.max_ts,
                "replaces": sorted(_replaced_keys(self.base, self.host_id, sources)),
            }
            self.fs.create_dir(key.rpartition("/")[0], recursive=True)
            with self.fs.open_output_stream(key) as out:
                out.write(data)
            with self.fs.open_output_stream(key.removesuffix(PARQUET_SUFFIX) + MARKER_SUFFIX) as out:
                out.write(json.dumps(marker, sort_keys=True).encode())
            pushed.add(f.name)
            result.uploaded.append(key)
            result.pending -= 1
        return result


def _replaced_keys(base: str, host_id: str, sources: list) -> set[str]:
    """Object keys of the Parquet files a merged file replaces (WAL sources were never pushed)."""
    out = set()
    for source in sources:
        if isinstance(source, str) and source.startswith(f"{PARQUET_DIR}/"):
            parsed = parse_parquet_name(Path(source))
            if parsed is not None:
                out.add(_relative(object_key(base, host_id, parsed.name, parsed.max_ts), base))
    return out


def _relative(key: str, base: str) -> str:
    return key[len(base) + 1 :]


@dataclass(frozen=True, slots=True)
class Marker:
    key: str  # the Parquet object's path relative to the URL's base: host=.../date=.../hour=.../name.parquet
    min_ts: int
    max_ts: int
    replaces: tuple[str, ...]


def _hour_start(part: str) -> int | None:
    """ns of the start of `date=YYYY-MM-DD/hour=HH`; None if not such a partition."""
    m = re.fullmatch(r"date=(\d{4}-\d{2}-\d{2})/hour=(\d{2})", part)
    if m is None:
        return None
    try:
        start = datetime.strptime(f"{m[1]} {m[2]}", "%Y-%m-%d %H").replace(tzinfo=UTC)
    except ValueError:
        return None
    return int(start.timestamp()) * 10**9


def _dirs(fs: pafs.FileSystem, path: str, prefix: str) -> list[str]:
    infos = fs.get_file_info(pafs.FileSelector(path, allow_not_found=True))
    names = [Path(i.path).name for i in infos if i.type == pafs.FileType.Directory]
    return [name for name in names if name.startswith(prefix)]


def list_markers(fs: pafs.FileSystem, base: str, lo: int | None = None, hi: int | None = None) -> list[Marker]:
    """The markers of every host, in the partitions that can hold frames with lo <= ts < hi.

    Partition pruning: a partition's hour bounds the last frame of its files, so an hour ending at or before `lo`
    is not listed at all; the markers' min_ts then prunes files that start at or after `hi`."""
    markers = []
    for host in _dirs(fs, base, "host="):
        for date in _dirs(fs, f"{base}/{host}", "date="):
            if lo is not None and (day := _hour_start(f"{date}/hour=23")) is not None and day + _HOUR_NS <= lo:
                continue  # the whole day ended before the window
            for hour in _dirs(fs, f"{base}/{host}/{date}", "hour="):
                start = _hour_start(f"{date}/{hour}")
                if start is None or (lo is not None and start + _HOUR_NS <= lo):
                    continue
                sel = pafs.FileSelector(f"{base}/{host}/{date}/{hour}")
                for info in fs.get_file_info(sel):
                    if info.type != pafs.FileType.File or not info.path.endswith(MARKER_SUFFIX):
                        continue
                    marker = _read_marker(fs, info.path, base)
                    if hi is None or marker.min_ts < hi:
                        markers.append(marker)
    return markers


def _read_marker(fs: pafs.FileSystem, path: str, base: str) -> Marker:
    with fs.open_input_stream(path) as fh:
        raw = fh.read()
    try:
        data = json.loads(raw)
        if data["format"] > MARKER_FORMAT:
            raise RemoteError(f"marker {path} has format {data['format']}; this smythtop reads {MARKER_FORMAT}")
        key = _relative(path.removesuffix(MARKER_SUFFIX) + PARQUET_SUFFIX, base)
        return Marker(key, int(data["min_ts"]), int(data["max_ts"]), tuple(str(r) for r in data["replaces"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise RemoteError(f"unreadable marker {path}: {exc!r}") from None


def fleet_files(markers: list[Marker]) -> list[str]:
    """The keys readers read: every marked file that no other marked file replaces."""
    replaced = {r for m in markers for r in m.replaces}
    return sorted(m.key for m in markers if m.key not in replaced)


def scan_url(url: str, since: TimeBound = None, until: TimeBound = None) -> pl.LazyFrame:
    """Every host's committed frames with since <= ts < until, as `store.scan` gives one store's (no WAL: only
    pushed Parquet files; account frames left out)."""
    lo, hi = to_ns(since), to_ns(until)
    fs, base = resolve(url)
    try:
        keys = fleet_files(list_markers(fs, base, lo, hi))
        if not keys:
            return pl.DataFrame(schema=polars_schema()).lazy()
        tables = []
        for key in keys:  # each file as its own format says (v1, or v2's integer µs durations: `framefile`)
            try:
                with fs.open_input_file(f"{base}/{key}") as fh:
                    tables.append(read_verified(fh, None, lo, hi))
            except pa.ArrowException as exc:  # undecodable: one line naming the object, never a half-read fleet
                if isinstance(exc, OSError):
                    raise  # unreachable or a failed checksum: the one line below
                raise RemoteError(f"cannot read {redacted(url)}/{key}: damaged ({exc})") from None
        table = pa.concat_tables(tables)
    except OSError as exc:
        raise RemoteError(f"cannot read {redacted(url)}: {_scrub(exc, url)}") from None
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame.lazy().filter(pl.col("unrecorded").is_null())
