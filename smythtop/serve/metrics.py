"""Live Prometheus metrics for `smythtop serve --metrics HOST:PORT`: GET /metrics, built with prometheus_client.

What is counted: every execution frame of the store, whoever wrote it (this receiver, or recorders in other
processes writing into the same store). At start the store's history is read once (`store.Tailer.with_history`:
no frame both in the history and in the tail, none in neither); after that each scrape first polls the tailer,
so a scrape sees every frame flushed before it, and no thread runs between scrapes. Frames are folded into
running sums once, so the counters stay monotonic whatever compaction, merges or retention do to the files
(recomputing from the store at each scrape would make them fall when retention deletes old files). Every sum is
weighted by 1/sample_rate, as `smythtop report` weighs it, so a PromQL sum or quantile matches the report.

Families (docs/SERVE.md lists them): component duration histogram, executions and errors by agent_id and
component; LLM call duration histogram, tokens by type, cost in USD and unpriced calls by model and provider
(unpriced calls are counted apart, never as $0); the store's health: executions the recorders could not record
(account frames), quarantined files and bytes, WAL bytes. The duration buckets are the export's
(`smythtop.exporters.DURATION_BUCKETS_S`, 5 ms to 300 s): LLM calls run from a cached answer's ~50 ms to a long
generation's minutes, where Prometheus' default buckets stop at 10 s.

Label cardinality is bounded: each label keeps the first `label_limit` values it sees; later values become
`other`, and `smythtop_metrics_folded_frames_total{label}` counts the frames whose value was folded.
"""

from __future__ import annotations

import os
import socket
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import ThreadingWSGIServer, make_wsgi_app
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from smythtop import store
from smythtop.exporters import DURATION_BUCKETS_S, TOKEN_TYPES, duration_histogram, llm_aggregates, llm_families
from smythtop.store.paths import QUARANTINE_DIR
from smythtop.store.wal import WAL_SUFFIX, writer_dirs

if TYPE_CHECKING:
    import polars as pl

OTHER = "other"
COMPONENT_KEYS = ("agent_id", "component")
LLM_KEYS = ("gen_ai_request_model", "gen_ai_provider_name")  # OTel GenAI names, as the Prometheus export
FOLDED_LABELS = (*COMPONENT_KEYS, *LLM_KEYS)
_HIST = [f"le{i}" for i in range(len(DURATION_BUCKETS_S))] + ["count", "total"]


@dataclass
class _Sums:
    """Running sums of every series, keyed by label values; all weighted by 1/sample_rate."""

    duration: dict[tuple[str, ...], list[float]] = field(default_factory=dict)  # _HIST columns
    errors: dict[tuple[str, ...], float] = field(default_factory=lambda: defaultdict(float))
    llm: dict[tuple[str, ...], list[float]] = field(default_factory=dict)  # _HIST columns
    tokens: dict[tuple[str, ...], list[float]] = field(default_factory=dict)  # TOKEN_TYPES columns
    cost: dict[tuple[str, ...], float] = field(default_factory=lambda: defaultdict(float))
    unpriced: dict[tuple[str, ...], float] = field(default_factory=lambda: defaultdict(float))
    folded: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FOLDED_LABELS, 0))
    unrecorded: float = 0.0


def _add(table: dict[tuple[str, ...], list[float]], key: tuple[str, ...], values: list[float]) -> None:
    old = table.get(key)
    table[key] = values if old is None else [a + b for a, b in zip(old, values, strict=True)]


class StoreMetrics(Collector):
    """A prometheus_client collector over one store: `collect()` polls the tail, then yields the running sums."""

    def __init__(self, root: Path, *, label_limit: int) -> None:
        import polars as pl

        self.root = root
        self.label_limit = label_limit
        self.sums = _Sums()
        self._kept: dict[str, set[str]] = {label: set() for label in FOLDED_LABELS}
        self._lock = threading.Lock()  # scrapes may overlap (one thread per connection)
        history, self._tailer = store.Tailer.with_history(root)
        self.add(history.collect())
        accounts = store.unrecorded(root).select(pl.col("unrecorded").sum()).collect().item()
        self.sums.unrecorded += float(accounts or 0.0)

    def poll(self) -> None:
        """Fold the frames (and account frames) committed since the last poll into the sums."""
        with self._lock:
            frames = self._tailer.poll()
            if frames is not None:
                self.add(frames)
            accounts = self._tailer.take_accounts()
            if accounts is not None:
                self.sums.unrecorded += float(accounts["unrecorded"].sum() or 0.0)

    def _fold(self, df: pl.DataFrame) -> pl.DataFrame:
        """Replace the values past each label's limit by `other`, counting the frames folded."""
        import polars as pl

        mapping: dict[str, dict[str, str]] = {}
        for label in FOLDED_LABELS:
            kept, folded = self._kept[label], {}
            for value in df.get_column(label).unique(maintain_order=True).to_list():
                if value in kept:
                    continue
                if len(kept) < self.label_limit:
                    kept.add(value)
                else:
                    folded[value] = OTHER
            if folded:
                mapping[label] = folded
                self.sums.folded[label] += df.get_column(label).is_in(list(folded)).sum()
        return df.with_columns(pl.col(label).replace(m) for label, m in mapping.items()) if mapping else df

    def add(self, frames: pl.DataFrame) -> None:
        import polars as pl

        if frames.height == 0:
            return
        df = frames.select(
            *COMPONENT_KEYS,
            "success",
            "cost_usd",
            *TOKEN_TYPES,
            w=1.0 / pl.col("sample_rate").fill_null(1.0),
            seconds=pl.col("total_ms") / 1000.0,
            llm=pl.col("model").is_not_null(),
            gen_ai_request_model=pl.col("model").fill_null(""),
            gen_ai_provider_name=pl.col("provider").fill_null(""),
        )
        df = self._fold(df)
        s = self.sums
        by_component = df.group_by(COMPONENT_KEYS).agg(
            *duration_histogram(), errors=pl.col("w").filter(~pl.col("success")).sum()
        )
        for r in by_component.iter_rows(named=True):
            key = (r["agent_id"], r["component"])
            _add(s.duration, key, [r[c] for c in _HIST])
            s.errors[key] += r["errors"]
        by_model = df.filter("llm").group_by(LLM_KEYS).agg(*llm_aggregates())
        for r in by_model.iter_rows(named=True):
            key = (r["gen_ai_request_model"], r["gen_ai_provider_name"])
            _add(s.llm, key, [r[c] for c in _HIST])
            _add(s.tokens, key, [r[c] for c in TOKEN_TYPES])
            s.cost[key] += r["cost"]
            s.unpriced[key] += r["unpriced"]

    def collect(self) -> Iterator[Metric]:
        self.poll()
        with self._lock:
            yield from self._families()
        yield from self._health()

    def _families(self) -> Iterator[Metric]:
        s = self.sums
        duration = HistogramMetricFamily(
            "smythtop_component_duration_seconds",
            "Duration of component executions, weighted by 1/sample_rate.",
            labels=COMPONENT_KEYS,
        )
        execs = CounterMetricFamily(
            "smythtop_component_executions", "Component executions (weighted).", labels=COMPONENT_KEYS
        )
        errors = CounterMetricFamily(
            "smythtop_component_errors", "Failed executions (weighted).", labels=COMPONENT_KEYS
        )
        for key, h in sorted(s.duration.items()):
            duration.add_metric(list(key), _buckets(h), sum_value=h[-1])
            execs.add_metric(list(key), h[-2])
            errors.add_metric(list(key), s.errors[key])
        yield from (duration, execs, errors)

        tokens, cost, unpriced, op = llm_families(list(LLM_KEYS))
        for key, h in sorted(s.llm.items()):
            op.add_metric(list(key), _buckets(h), sum_value=h[-1])
            for kind, n in zip(TOKEN_TYPES.values(), s.tokens[key], strict=True):
                tokens.add_metric([*key, kind], n)
            cost.add_metric(list(key), s.cost[key])
            unpriced.add_metric(list(key), s.unpriced[key])
        yield from (op, tokens, cost, unpriced)

        folded = CounterMetricFamily(
            "smythtop_metrics_folded_frames",
            "Frames whose label value was folded into 'other' ([serve] metrics_label_limit values per label).",
            labels=["label"],
        )
        for label, n in s.folded.items():
            folded.add_metric([label], n)
        yield folded
        yield CounterMetricFamily(
            "smythtop_store_unrecorded_executions",
            "Executions the recorders counted but could not record (account frames; docs/FORMAT.md).",
            value=s.unrecorded,
        )

    def _health(self) -> Iterator[Metric]:
        """The store's files, from directory listings only (`store.check` reads every file: far too slow here)."""
        files = _files(self.root / QUARANTINE_DIR)
        yield GaugeMetricFamily("smythtop_store_quarantined_files", "Damaged files moved aside.", value=len(files))
        yield GaugeMetricFamily("smythtop_store_quarantined_bytes", "Bytes of the quarantined files.", value=sum(files))
        wal = [size for d in writer_dirs(self.root) for size in _files(d, WAL_SUFFIX)]
        yield GaugeMetricFamily("smythtop_store_wal_bytes", "Bytes of WAL segments not yet compacted.", value=sum(wal))


def _buckets(h: list[float]) -> list[tuple[str, float]]:
    return [*((repr(float(le)), h[i]) for i, le in enumerate(DURATION_BUCKETS_S)), ("+Inf", h[-2])]


def _files(directory: Path, suffix: str = "") -> list[int]:
    """Sizes of the regular files in `directory` (not followed through symlinks); none if it does not exist."""
    try:
        with os.scandir(directory) as entries:
            return [
                e.stat(follow_symlinks=False).st_size
                for e in entries
                if e.is_file(follow_symlinks=False) and e.name.endswith(suffix)
            ]
    except FileNotFoundError:
        return []


METRICS_PATH = "/metrics"


def _only_metrics(app: Callable[..., Any]) -> Callable[..., Any]:
    """prometheus_client's WSGI app answers any path (and a method other than GET with its own 405): here only
    /metrics is served, anything else is 404."""

    def route(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("PATH_INFO") != METRICS_PATH:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [f"no such path; metrics are at {METRICS_PATH}\n".encode()]
        return app(environ, start_response)

    return route


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # no line per scrape on stderr
        pass


class MetricsServer:
    """GET /metrics on its own port: prometheus_client's WSGI app (gzip and OpenMetrics by the Accept header) in
    its threaded WSGI server, as `prometheus_client.start_http_server` runs it, but with a thread we can stop."""

    def __init__(self, root: Path, host: str, port: int, *, label_limit: int) -> None:
        self.collector = StoreMetrics(root, label_limit=label_limit)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self.collector)

        class _Server(ThreadingWSGIServer):
            address_family = socket.AF_INET6 if ":" in host else socket.AF_INET

        self.server = make_server(host, port, _only_metrics(make_wsgi_app(self.registry)), _Server, _Quiet)
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.server.server_address[:2]
        return str(host), int(port)

    def start(self) -> MetricsServer:
        self._thread = threading.Thread(
            target=self.server.serve_forever, args=(0.1,), name="smythtop-metrics", daemon=True
        )
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        if self._thread is not None:
            self.server.shutdown()
            self._thread.join(timeout)
        self.server.server_close()
