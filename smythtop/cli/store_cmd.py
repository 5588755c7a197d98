"""`smythtop store check|compact|stats|retention`: look after the store from the shell."""

from __future__ import annotations

import argparse
import json
import math
import re
from datetime import UTC, datetime
from pathlib import Path

from smythtop import store
from smythtop.cli import CliError
from smythtop.safe_text import visible

# Timestamps are int64 ns (docs/FORMAT.md): they span about 106,751 days, so a longer retention keeps everything
# and would overflow the cutoff's arithmetic.
MAX_RETENTION_DAYS = (2**63 - 1) // (86_400 * 10**9)
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """'500M', '2GiB', '1048576' -> bytes (binary units)."""
    m = _SIZE.match(text)
    if not m:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (try 500M or 2G)")
    return int(float(m.group(1)) * 1024 ** " kmgt".index(m.group(2).lower() or " "))


def _iso(ns: int | None) -> str:
    return "-" if ns is None else datetime.fromtimestamp(ns / 1e9, UTC).isoformat(timespec="seconds")


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def _root(args: argparse.Namespace) -> Path:
    root = Path(args.store) if args.store else store.default_root()
    if not root.is_dir():
        raise CliError(f"no store at {root} (record some frames, run `smythtop demo`, or pass --store DIR)")
    return root


def _check(args: argparse.Namespace) -> int:
    report = store.check(_root(args))
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
        return 0 if report.ok else 1
    print(f"store       {report.root}")
    print(f"writers     {report.writers_alive} alive, {report.writers_dead} dead")
    print(f"wal         {report.wal_segments} segments, {report.wal_frames} frames, {_human(report.wal_bytes)}")
    print(f"parquet     {report.parquet_files} files, {report.parquet_frames} frames, {_human(report.parquet_bytes)}")
    print(f"damaged     {report.damaged_regions} regions, {report.damaged_bytes} bytes (quarantined at next compact)")
    print(f"quarantine  {report.quarantined_files} files, {report.quarantined_bytes} bytes")
    for bad in report.unreadable_parquet:
        print(f"unreadable  {visible(bad)}")
    for name in report.unknown_files:
        print(f"unknown     {visible(name)} (not written by smythtop: never read, never deleted)")
    if report.pending_journals:
        print(f"journals    {report.pending_journals} interrupted compactions (finished at next compact)")
    print(f"status      {'ok' if report.ok else 'DAMAGED'}")
    return 0 if report.ok else 1


def _stats(args: argparse.Namespace) -> int:
    report = store.check(_root(args))
    on_disk = report.wal_bytes + report.parquet_bytes
    stats = {
        "store": report.root,
        "frames": report.frames,
        "frames_in_parquet": report.parquet_frames,
        "frames_in_wal": report.wal_frames,
        "bytes_on_disk": on_disk,
        "parquet_bytes_per_frame": round(report.parquet_bytes / report.parquet_frames, 2)
        if report.parquet_frames
        else None,
        "oldest": _iso(report.oldest_ts),
        "newest": _iso(report.newest_ts),
        "writers_alive": report.writers_alive,
        "quarantined_bytes": report.quarantined_bytes,
        "damaged_bytes": report.damaged_bytes,
    }
    if args.json:
        print(json.dumps(stats, indent=2))
        return 0
    width = max(map(len, stats))
    for key, value in stats.items():
        shown = _human(value) if "bytes" in key and "per" not in key and isinstance(value, int) else value
        print(f"{key:<{width}}  {'-' if shown is None else shown}")
    return 0


def _compact(args: argparse.Namespace) -> int:
    result = store.compact(_root(args))
    if result.busy:
        raise CliError("another compactor is running on this store; try again shortly")
    out = {
        "segments_compacted": result.segments_compacted,
        "frames_written": result.frames_written,
        "files_written": len(result.files_written),
        "files_merged": result.files_merged,
        "quarantined_regions": result.quarantined_regions,
        "quarantined_bytes": result.quarantined_bytes,
        "journals_recovered": result.journals_recovered,
        "temp_files_removed": result.temp_files_removed,
    }
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(" ".join(f"{k}={v}" for k, v in out.items()))
    return 0


def _retention(args: argparse.Namespace) -> int:
    if not (math.isfinite(args.days) and 0 < args.days <= MAX_RETENTION_DAYS):
        raise CliError(f"--days must be a number of days above 0 and at most {MAX_RETENTION_DAYS:,}, not {args.days}")
    rollup_days = args.rollup_days
    if rollup_days is not None and not (math.isfinite(rollup_days) and 0 < rollup_days <= MAX_RETENTION_DAYS):
        raise CliError(f"--rollup-days must be a number of days above 0 and at most {MAX_RETENTION_DAYS:,}")
    result = store.apply_retention(_root(args), days=args.days, max_bytes=args.max_bytes, rollup_days=rollup_days)
    if args.json:
        print(json.dumps(result.__dict__, indent=2))
        return 0
    for name in result.removed:
        print(f"removed {visible(name)}")
    print(
        f"removed {len(result.removed)} files ({_human(result.removed_bytes)}); "
        f"kept {result.kept_files} files ({_human(result.kept_bytes)})"
    )
    return 0


def _push(args: argparse.Namespace) -> int:
    from smythtop.cli.serve_cmd import push_target
    from smythtop.store.remote import redacted

    pusher = push_target(_root(args), args.url, args.host_id)
    assert pusher is not None
    try:
        result = pusher.push()
    except OSError as exc:
        raise CliError(f"push to {redacted(args.url)} failed (run it again: what was done stays done): {exc}") from None
    out = {"uploaded": len(result.uploaded), "already_pushed": result.already, "host_id": pusher.host_id}
    print(json.dumps(out, indent=2) if args.json else " ".join(f"{k}={v}" for k, v in out.items()))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("store", help="inspect and maintain the store")
    cmds = parser.add_subparsers(dest="store_command", metavar="ACTION", required=True)
    actions = {
        "check": (_check, "read every segment and file; report damage (exit 1 if damaged)"),
        "stats": (_stats, "frames, size on disk, bytes per frame, time range"),
        "compact": (_compact, "compact sealed WAL segments to Parquet and merge small files"),
        "retention": (_retention, "delete Parquet files older than --days (and over --max-bytes)"),
        "push": (_push, "upload the Parquet files not yet in a bucket (s3://bucket/prefix; docs/FORMAT.md section 12)"),
    }
    for name, (func, help_text) in actions.items():
        p = cmds.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--store", metavar="DIR", help="store directory (default: $SMYTHTOP_STORE or the user data dir)")
        p.add_argument("--json", action="store_true", help="machine-readable output")
        if name == "retention":
            p.add_argument("--days", type=float, required=True, help="keep files with frames newer than this")
            p.add_argument("--max-bytes", type=parse_size, help="also cap total Parquet size, e.g. 2G")
            p.add_argument("--rollup-days", type=float, help="also drop rollup minutes older than this")
        if name == "push":
            p.add_argument("url", metavar="URL", help="storage URL, e.g. s3://bucket/prefix")
            p.add_argument("--host-id", metavar="ID", help="this store's partition, host=ID (default: the host name)")
        p.set_defaults(func=func)
