"""`smythtop export`: a window's frames as Parquet, CSV, JSON/JSONL, or Prometheus text exposition, or sent as
OpenTelemetry spans to an OTLP/HTTP endpoint (`--format otlp --endpoint URL`, smythtop.otlp_out; CLI only: the
app's export writes files).

The formats and their writers are `smythtop.exporters` (shared with the app's export). A file is written
whole or not at all, readable by its owner only (0600); an existing file is kept unless --force, and a symlink,
FIFO or device is never replaced. CSV text cells that would run as spreadsheet formulas get a leading `'`
unless --csv-raw. `-` writes text formats to stdout.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from smythtop.cli import CliError
from smythtop.cli.window_args import add_window_args, load_frames
from smythtop.exporters import FORMATS, check_target, write_file, write_text

BATCH_ROWS = 8192  # frames turned into dicts at once for an OTLP export (a few MB), sent 512 a request


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="export a window's frames",
        description="Export a window's frames as Parquet (the store's schema), CSV, JSON or JSON Lines, or as"
        " Prometheus text exposition of their aggregates, or send them as OpenTelemetry spans to an OTLP/HTTP"
        " endpoint (--format otlp --endpoint URL). Refuses to overwrite a file without --force.",
    )
    p.add_argument("--format", choices=(*FORMATS, "otlp"), required=True, help="output format")
    p.add_argument("--output", "-o", metavar="PATH", help="file to write, or - for stdout (every format but otlp)")
    p.add_argument(
        "--endpoint",
        metavar="URL",
        help="otlp: the OTLP/HTTP endpoint, e.g. http://127.0.0.1:4318 (/v1/traces is added to a URL without a"
        " path); headers such as an API key come from $OTEL_EXPORTER_OTLP_HEADERS (docs/EXPORT.md)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="otlp: give up on a batch after this long, retries included (default 10, the OTel SDK's)",
    )
    p.add_argument("--force", action="store_true", help="overwrite an existing regular file (never a symlink or FIFO)")
    p.add_argument(
        "--csv-raw",
        action="store_true",
        help="CSV: write text exactly as stored; by default a cell starting with = + - @ tab or CR gets a leading '"
        " so spreadsheets do not run it as a formula (OWASP CSV injection)",
    )
    p.add_argument(
        "--encrypt-key-file",
        metavar="KEY",
        type=Path,
        help="parquet: encrypt every column and the footer (Parquet modular encryption, AES-GCM) with the base64"
        " key in KEY, a file of mode 0600 (docs/EXPORT.md); without the key nothing of the file can be read",
    )
    p.add_argument("--component", metavar="NAME", help="only this component")
    add_window_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.format == "otlp":
        return _send_otlp(args)
    if args.endpoint is not None:
        raise CliError(f"--endpoint needs --format otlp (not {args.format})")
    if args.output is None:
        raise CliError(f"--format {args.format} needs --output PATH (or - for stdout)")
    to_stdout = args.output == "-"
    if to_stdout and args.format == "parquet":
        raise CliError("parquet is binary: give --output FILE")
    if args.encrypt_key_file is not None:
        if args.format != "parquet":
            raise CliError(f"--encrypt-key-file needs --format parquet (not {args.format})")
        from smythtop.encryption import read_key_file

        read_key_file(args.encrypt_key_file.expanduser())  # a bad key file is refused before the window is read
    path = None if to_stdout else Path(args.output).expanduser()
    if path is not None:
        if path.is_dir():
            raise CliError(f"{path} is a directory; give a file name")
        check_target(path, overwrite=args.force, hint="; pass --force to overwrite it")
        if not path.parent.is_dir():
            raise CliError(f"directory {path.parent} does not exist")
    df, _, _ = load_frames(args, component=args.component)
    df = df.sort("ts")
    if path is None:
        write_text(df, args.format, sys.stdout, csv_raw=args.csv_raw)
        sys.stdout.flush()
    else:
        key = args.encrypt_key_file and args.encrypt_key_file.expanduser()
        write_file(df, args.format, path, overwrite=args.force, csv_raw=args.csv_raw, encrypt_key_file=key)
        how = f"{args.format}, encrypted" if key is not None else args.format
        print(f"wrote {df.height} frames to {path} ({how})", file=sys.stderr)
    return 0


def _send_otlp(args: argparse.Namespace) -> int:
    if args.endpoint is None:
        raise CliError("--format otlp needs --endpoint URL (an OTLP/HTTP endpoint, e.g. http://127.0.0.1:4318)")
    if args.output is not None or args.encrypt_key_file is not None:
        raise CliError("--format otlp sends to --endpoint; it takes no --output or --encrypt-key-file")
    if not args.timeout > 0:
        raise CliError(f"--timeout must be a positive number of seconds, not {args.timeout:g}")
    from smythtop.otlp_out import OtlpSender, OtlpSendError, traces_url

    try:
        url = traces_url(args.endpoint)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    df, _, _ = load_frames(args, component=args.component)
    import polars as pl

    df = df.sort("ts").with_columns(pl.col("ts").dt.epoch("ns"))
    sent = 0
    with OtlpSender(url, timeout_s=args.timeout) as sender:
        url = sender.endpoint  # printable: no password
        try:
            for part in df.iter_slices(BATCH_ROWS):
                sent += sender.send(part.to_dicts())
        except OtlpSendError as exc:
            raise CliError(f"OTLP export to {url} stopped after {sent} of {df.height} frames: {exc}") from None
    print(f"sent {sent} frames to {url} (otlp)", file=sys.stderr)
    return 0
