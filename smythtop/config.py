"""smythtop's one config file: its schema (msgspec Structs), where it is found, and how bad input is reported.

One TOML file serves every front-end: the recorder reads `[global]`, `[components]`, `[llm]`, `[alerts]` and
`[advanced]`; the analysis judges against `[alerts]` and `[llm.cost_thresholds]`, lists `[analysis]`'s
number of rows and prices unpriced frames with `[prices]` (converted to its own `Thresholds` by
`smythtop.thresholds`); the app reads `[app]` and `[keys]`; `smythtop serve` reads `[serve]`.
docs/CONFIG.md lists every key and who reads it.

Discovery: an explicitly named file (`--config FILE`, `Collector(config=path)`), else `$SMYTHTOP_CONFIG`, else
`$XDG_CONFIG_HOME/smythtop/config.toml` (default `~/.config/smythtop/config.toml`). A named file, by argument or
by the variable, must exist; the default one may be absent (then every key has its default).

msgspec validates types and ranges; its messages are reworded into one line naming the key path and the file.
Unknown sections and keys are errors, so a typo never silently keeps a default. Older key names are accepted
as aliases (`ALIASES`); giving both spellings of one key is an error. The recorder imports this module, so it
stays light: msgspec, tomllib and the standard library only.
"""

from __future__ import annotations

import os
import re
import string
import tomllib
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from smythtop.errors import ConfigError
from smythtop.keymap import BY_ID

ENV_CONFIG = "SMYTHTOP_CONFIG"

Rate = Annotated[float, Meta(ge=0.0, le=1.0)]
Share = Annotated[float, Meta(gt=0.0, le=1.0)]
Positive = Annotated[float, Meta(gt=0.0)]
CALL_NAME_FIELDS = frozenset({"operation", "model", "provider", "api"})  # capture.call_name's placeholders


# Message content and credentials: a tag under one of these keys would copy a prompt or a secret into the store.
DENIED_TAG_KEYS: tuple[str, ...] = (
    "prompt", "prompts", "system_prompt", "completion", "completions", "message", "messages", "content",
    "input", "output", "text", "response", "api_key", "authorization", "password", "passwd", "secret",
    "client_secret", "token", "access_token", "refresh_token", "id_token", "cookie", "credentials", "private_key",
)  # fmt: skip


class _Section(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """Every section: unknown keys are errors, and a loaded config cannot change under its readers."""


class GlobalConfig(_Section):
    """[global]: what the recorder records, and where."""

    enabled: bool = True  # false: the Collector records nothing (also $SMYTHTOP_DISABLED=1)
    sampling_rate: Rate = 1.0  # share of ordinary executions kept; errors and slow ones are always kept
    buffer_size: Annotated[int, Meta(ge=1)] = 10_000  # frames held in memory between flushes
    flush_interval_s: Positive = 1.0  # seconds between flushes: smythtop shows data within about this long
    # Per component, the kept-by-chance frames are capped near this many per second (0 = no cap).
    max_frames_per_second: Annotated[float, Meta(ge=0.0)] = 1000.0
    track_memory: bool = False  # RSS delta/peak from /proc/self/statm, about 2 us per execution
    propagate_threads: bool = True  # carry the trace into Thread and ThreadPoolExecutor
    agent_id: str | None = None  # default: $SMYTHTOP_AGENT_ID, else "<program>-<pid>"
    agent_name: str | None = None  # default: the program name
    store: str | None = None  # default: $SMYTHTOP_STORE, $SRE_PERFORMANCE_DIR, ~/.local/share/smythtop/store
    # Tag keys (and unknown frame fields) dropped before they reach the store, counted: they name message content
    # or credentials. Matched whole and case-insensitively, ignoring "_" and "-" (so "API-Key" is "api_key").
    denied_tag_keys: tuple[str, ...] = DENIED_TAG_KEYS
    allowed_tag_keys: tuple[str, ...] = ()  # exceptions to denied_tag_keys, matched the same way
    # Frames dated more than this far ahead of the recorder's clock are rejected, counted: one far-future
    # frame would otherwise stretch its Parquet file's time range past any retention cut-off.
    max_clock_skew_s: Positive = 3600.0
    # Distinct component names with their own state (sampling, p95); later new names are recorded as "other".
    max_components: Annotated[int, Meta(ge=1)] = 10_000
    flush_on_signal: bool = True  # on SIGTERM/SIGHUP: flush, then the handler that was there before


class ComponentsConfig(_Section):
    """[components]: which components the recorder tracks, and at what rate."""

    whitelist: tuple[str, ...] = ()  # fnmatch patterns; empty = every component
    blacklist: tuple[str, ...] = ()
    custom_sampling_rates: dict[str, Rate] = {}  # pattern -> sampling rate; the first match wins


class CostThresholds(_Section):
    """[llm.cost_thresholds]: one LLM call's cost (the recorder's `cost` event) and the burn rate (the analysis)."""

    call_warning_usd: Positive = 0.10  # USD per call: a warning `cost` event
    call_critical_usd: Positive = 1.00  # USD per call: a critical `cost` event
    burn_warning_usd_per_hour: Positive = 1.0  # LLM spend per hour that makes the report's cost_status "warning"
    burn_critical_usd_per_hour: Positive = 5.0  # ... "critical"

    def __post_init__(self) -> None:
        if self.call_critical_usd < self.call_warning_usd:
            raise ValueError("call_critical_usd must be >= call_warning_usd")
        if self.burn_critical_usd_per_hour < self.burn_warning_usd_per_hour:
            raise ValueError("burn_critical_usd_per_hour must be >= burn_warning_usd_per_hour")


class LlmConfig(_Section):
    """[llm]: what the recorder keeps of LLM usage, and the cost limits."""

    track_tokens: bool = True  # false drops token counts and context fields (after pricing)
    track_costs: bool = True  # false: no pricing, cost_usd stays null
    track_quality: bool = True  # false drops the quality field
    cost_thresholds: CostThresholds = CostThresholds()


class CaptureConfig(_Section):
    """[capture]: zero-code capture (smythtop.otel's span processor, smythtop.instrument())."""

    # Instrumentation scopes whose spans are not recorded: a name, or a prefix ending in "*" ("opentelemetry.
    # instrumentation.sqlite3", "opentelemetry.instrumentation.*"). Empty: every span becomes a frame.
    exclude_scopes: tuple[str, ...] = ()
    # smythtop.instrument(): the component name of an SDK call's frame; placeholders {operation} {model}
    # {provider} {api}. The default is the OTel GenAI span name ("chat gpt-4.1").
    call_name: str = "{operation} {model}"

    def __post_init__(self) -> None:
        try:
            fields = {name for _, name, _, _ in string.Formatter().parse(self.call_name) if name is not None}
        except ValueError as exc:
            raise ValueError(f"call_name is not a format string: {exc}") from None
        unknown = fields - CALL_NAME_FIELDS
        if unknown or not fields:
            raise ValueError(
                f"call_name may use only {{{'}, {'.join(sorted(CALL_NAME_FIELDS))}}}, got {self.call_name!r}"
            )


class ServeConfig(_Section):
    """[serve]: the OTLP/HTTP receiver and the store maintenance of `smythtop serve` (docs/SERVE.md)."""

    # host:port to listen on; loopback by default: another address must be named (here or with --otlp).
    otlp: str = "127.0.0.1:4318"
    # Largest request body, before and after gzip (4 MiB, as gRPC's default message size limit).
    max_body_bytes: Annotated[int, Meta(ge=1024, le=1 << 30)] = 4 << 20
    # Spans in one request; the SDK exporters send 512 a batch, the Collector 8192. Over it: 413 before mapping.
    max_spans_per_request: Annotated[int, Meta(ge=1)] = 100_000
    # Agent id of spans whose resource has no service.instance.id and no service.name.
    default_agent_id: Annotated[str, Meta(min_length=1, max_length=256)] = "otlp"
    # Seconds between maintenance passes (compaction, small-file merges, retention by advanced.retention_days).
    maintenance_every_s: Positive = 60.0
    # host:port of the Prometheus scrape endpoint (GET /metrics); empty: none (or name one with --metrics).
    metrics: str = ""
    # Distinct values kept per metric label (agent_id, component, model, provider); later ones are folded into
    # "other" and counted, so a runaway label cannot grow Prometheus' series without bound.
    metrics_label_limit: Annotated[int, Meta(ge=1, le=100_000)] = 200
    # OTLP/HTTP endpoint that every stored frame is also sent to as a span (`--forward-otlp` wins); "" for none.
    forward_otlp: Annotated[str, Meta(max_length=2048)] = ""
    # Storage URL each maintenance pass pushes the new Parquet files to (`--push` wins); none: no push.
    push: str | None = None
    # This host's partition in the bucket (host=<id>); none: the machine's host name (socket.gethostname()).
    host_id: Annotated[str, Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")] | None = None


class AlertsConfig(_Section):
    """[alerts]: the limits the recorder's events and the analysis' grade both judge against."""

    latency_p95_ms: Positive = 2000.0  # p95 SLO of every component not named below; one execution over it: "slow"
    latency_p95_ms_by_component: dict[str, Positive] = {}  # component -> its own p95 SLO in ms
    # p95 SLO of an LLM call (a frame with a model) not named above: time to first token plus the streamed answer
    llm_latency_p95_ms: Positive = 15000.0
    request_latency_p95_ms: Positive = 30000.0  # end-to-end p95 SLO of a request (a root span and its tree)
    error_rate: Share = 0.05  # error budget: share of failed executions
    memory_pressure: Share = 0.85  # process RSS / memory limit at or above which an execution is under pressure
    cost_per_call_usd: Positive = 0.05  # mean USD per priced call of a component

    def latency_for(self, component: str, llm: bool = False) -> float:
        """The component's own SLO, else the LLM-call or the general one (`llm`: the execution has a model)."""
        return self.latency_p95_ms_by_component.get(component, self.llm_latency_p95_ms if llm else self.latency_p95_ms)


class AnalysisConfig(_Section):
    """[analysis]: how much of a window a report lists."""

    # Rows per per-name list of a report and of the app (components, agent x component, models, LLM calls by
    # agent and provider); the rest fold into one "(other)" row. Several screens of names, and the per-name
    # detectors (~4 ms a name) stay under a second: docs/ANALYSIS.md, "Bounded cardinality".
    max_rows: Annotated[int, Meta(ge=1)] = 200


Price = Annotated[float, Meta(ge=0.0)]


class ModelPrice(_Section):
    """[prices."model"]: USD per million tokens of a model genai-prices does not know (a fine-tune, a self-hosted
    model). The analysis prices the model's frames stored without a cost with it when it reads them, so adding
    or changing a price re-prices history without rewriting the store. A price left out is charged like the
    tokens it covers: cache reads and writes at `input_mtok`, 1-hour cache writes at `cache_write_mtok`,
    reasoning at `output_mtok`."""

    input_mtok: Price  # uncached input tokens
    output_mtok: Price  # output tokens (reasoning included unless reasoning_mtok is given)
    cache_read_mtok: Price | None = None
    cache_write_mtok: Price | None = None
    cache_write_1h_mtok: Price | None = None  # the 1-hour part of cache writes (Anthropic-style TTL)
    reasoning_mtok: Price | None = None


class AdvancedConfig(_Section):
    """[advanced]: store maintenance."""

    # Raw frames are kept this long (`store.apply_retention(days=...)`; applied after compaction by `smythtop
    # serve`'s maintenance and the demo fleet, `smythtop store retention --days` by hand). A week of raw frames
    # serves every drill-down into spans.
    retention_days: Positive = 7.0
    # Rollups (per-minute aggregates, store/rollups.py) are kept this long (`apply_retention(rollup_days=...)`,
    # `--rollup-days`): long windows answer from them after the raw frames are gone. About 1 KB per active
    # (minute, agent, component, model) a day of steady traffic, so 90 days stay small.
    rollup_retention_days: Positive = 90.0
    compression: bool = True  # seed compatibility: the store always writes zstd Parquet


class AppSection(_Section):
    """[app]: the live dashboard."""

    refresh_s: Annotated[float, Meta(ge=0.1, le=60.0)] = 0.5  # seconds between refreshes while frames flow
    # Store maintenance by the app (smythtop/maintenance.py, under the store's single-compactor lock): "compact"
    # turns sealed WAL segments into Parquet and merges small files; "full" also applies retention
    # (advanced.retention_days, rollup_retention_days), as `smythtop serve` does; "off" for a read-only store or
    # one another process maintains. Retention is not the default: an app opened on an old store would delete it.
    maintenance: Literal["compact", "full", "off"] = "compact"
    # Seconds between the app's looks at the WAL; a pass runs only when there is work (docs/APP.md).
    maintenance_every_s: Positive = 60.0


class Config(_Section):
    """The whole file. `keys` maps a key binding id of the app to a key or a list of keys; the app checks the ids
    (this module must not import the app)."""

    global_: GlobalConfig = msgspec.field(default_factory=GlobalConfig, name="global")
    components: ComponentsConfig = ComponentsConfig()
    llm: LlmConfig = LlmConfig()
    alerts: AlertsConfig = AlertsConfig()
    analysis: AnalysisConfig = AnalysisConfig()
    advanced: AdvancedConfig = AdvancedConfig()
    app: AppSection = AppSection()
    capture: CaptureConfig = CaptureConfig()
    serve: ServeConfig = ServeConfig()
    keys: dict[str, str | list[str]] = {}
    prices: dict[str, ModelPrice] = {}  # model name (as frames record it) -> its price

    @classmethod
    def load(cls, source: Config | Mapping[str, Any] | str | os.PathLike[str] | None = None) -> Config:
        """A Config, a dict, an explicitly named TOML file, or None (then the discovery rule: `config_path`)."""
        if isinstance(source, Config):
            return source
        if isinstance(source, Mapping):
            return cls.from_dict(source)
        path = config_path(source)
        return cls.from_toml(path) if path is not None else cls()

    @classmethod
    def from_toml(cls, path: str | os.PathLike[str]) -> Config:
        path = Path(path).expanduser()
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file {path} does not exist") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read config file {path}: {getattr(exc, 'strerror', None) or exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
        return cls.from_dict(data, path)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None, path: str | os.PathLike[str] | None = None) -> Config:
        """Validate `{"global": {...}, "alerts": {...}, ...}`; `path` only names the file in errors."""
        where = f"in {path}" if path is not None else "in the config given"
        renamed: dict[str, str] = {}
        canonical = _resolve_aliases(dict(data or {}), where, renamed)
        try:
            config = msgspec.convert(canonical, cls)
        except msgspec.ValidationError as exc:
            raise ConfigError(_reword(str(exc), canonical, where, renamed)) from None
        _check_keys(config.keys, where)
        return config


def _check_keys(keys: Mapping[str, str | list[str]], where: str) -> None:
    """`[keys]`: every id must be one of the app's binding ids, and every value name at least one key. Checked
    here, so a file the app would refuse is refused by every reader (the catalogue is plain data)."""
    for binding_id, value in keys.items():
        if binding_id not in BY_ID:
            raise ConfigError(
                f"unknown config key keys.{binding_id} {where}: not a key binding id (`smythtop top --keys` lists them)"
            )
        if not key_names(value):
            raise ConfigError(f'config key keys.{binding_id} {where} must be a key name like "h" or "ctrl+h"')


def key_names(value: str | list[str]) -> list[str]:
    """A `[keys]` value ("h", "h,ctrl+h" or ["h", "ctrl+h"]) as a list of key names."""
    return [k.strip() for k in (value if isinstance(value, list) else value.split(",")) if k.strip()]


def user_config_path() -> Path:
    """`$XDG_CONFIG_HOME/smythtop/config.toml`, default `~/.config/smythtop/config.toml`."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "smythtop" / "config.toml"


def config_path(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """The file to read: `explicit`, else $SMYTHTOP_CONFIG, else the user config file if it exists (else None).
    A file named by argument or variable must exist: a typo there must not silently mean the defaults."""
    if explicit is not None:
        named, how = Path(explicit).expanduser(), "config file"
    elif os.environ.get(ENV_CONFIG):
        named, how = Path(os.environ[ENV_CONFIG]).expanduser(), f"${ENV_CONFIG}"
    else:
        try:
            default = user_config_path()
            return default if default.is_file() else None
        except (RuntimeError, OSError):  # no home directory (an unnamed uid in a container), or one we cannot read
            return None
    if not named.is_file():
        raise ConfigError(f"{how} {named} does not exist" if not named.exists() else f"{how} {named} is not a file")
    return named


# ---- aliases: names accepted before units were in the key names ----------------------------------------------

# (section path, old name) -> new name
ALIASES: dict[tuple[tuple[str, ...], str], str] = {
    (("global",), "flush_interval"): "flush_interval_s",
    (("alerts",), "cost_per_operation"): "cost_per_call_usd",
    # The old pair meant USD per call to the recorder (and the seed) but USD per hour to the analysis;
    # it keeps the recorder's, documented meaning.
    (("llm", "cost_thresholds"), "warning"): "call_warning_usd",
    (("llm", "cost_thresholds"), "critical"): "call_critical_usd",
}


def _resolve_aliases(data: dict[str, Any], where: str, renamed: dict[str, str]) -> dict[str, Any]:
    """A copy of `data` with every alias renamed to its key (noted in `renamed`, new -> old dotted name, so errors
    name the key as written); both spellings in one table is an error."""
    for (section, old), new in ALIASES.items():
        parent: Any = data
        for name in section:
            parent = parent.get(name) if isinstance(parent, dict) else None
        if not isinstance(parent, dict) or old not in parent:
            continue
        dotted = ".".join(section)
        if new in parent:
            raise ConfigError(
                f"config keys {dotted}.{old} and {dotted}.{new} {where} are two spellings of one key; keep {new}"
            )
        table = data
        for name in section:  # copy the tables on the way down: the caller's dict is never changed
            table[name] = dict(table[name])
            table = table[name]
        table[new] = table.pop(old)
        renamed[f"{dotted}.{new}"] = f"{dotted}.{old}"
    return data


# ---- msgspec's validation errors, reworded into one line naming the key and the file ------------------------

_ERROR = re.compile(r"^(?P<what>.*?)(?: - at `\$(?P<at>[^`]*)`)?$", re.DOTALL)
_UNKNOWN = re.compile(r"^Object contains unknown field `(?P<key>.*)`$")
_SEGMENT = re.compile(r"\.([^.\[]+)|\[(\d+|\.\.\.)\]")
_WORDS = {
    "float": "a number",
    "int": "a whole number",
    "bool": "true or false",
    "str": "a string",
    "array": "a list",
    "object": "a table",
    "null": "nothing",
}


def _reword(message: str, data: dict[str, Any], where: str, renamed: dict[str, str]) -> str:
    match = _ERROR.match(message)
    what, at = (match["what"], match["at"] or "") if match else (message, "")
    path = _concrete_path(at, data)
    unknown = _UNKNOWN.match(what)
    if unknown:
        key = ".".join([*path, unknown["key"]])
        return f"unknown config key {key} {where} (known: {', '.join(_known(path))})"
    key = renamed.get(".".join(path), ".".join(path)) or "(top level)"
    if not what.startswith("Expected "):  # a check of several keys (__post_init__) at the table's path
        return f"config table {key} {where}: {what}"
    what = re.sub(r", got `[^`]*`$", "", what).replace("Expected ", "must be ", 1)
    what = re.sub(r"`([^`]*)`", lambda m: " or ".join(_WORDS.get(t, t) for t in m[1].split(" | ")), what)
    value = _value_at(path, data)
    return f"config key {key} {where} {what}" + ("" if value is _MISSING else f", got {value!r}")


def _concrete_path(at: str, data: Any) -> list[str]:
    """`$.a.b[...]` (msgspec does not name the dict key) -> ["a", "b", "<the key whose value fails>"]."""
    path: list[str] = []
    node = data
    for name, index in _SEGMENT.findall(at):
        if name:
            path.append(name)
        elif index == "...":
            path.append(_failing_key(path, node))
        else:
            path[-1] += f"[{index}]"
            node = node[int(index)] if isinstance(node, list) and int(index) < len(node) else None
            continue
        node = node.get(path[-1]) if isinstance(node, dict) else None
    return path


def _failing_key(path: list[str], table: Any) -> str:
    """The first key of a table of values (e.g. custom_sampling_rates) whose value alone fails validation."""
    if not isinstance(table, dict):
        return "..."
    for key, value in table.items():
        trial = _nest(path, {key: value})
        try:
            msgspec.convert(trial, Config)
        except msgspec.ValidationError:
            return str(key)
    return "..."


def _nest(path: list[str], leaf: Any) -> Any:
    for name in reversed(path):
        leaf = {name: leaf}
    return leaf


_MISSING = object()


def _value_at(path: list[str], data: Any) -> Any:
    node = data
    for name in path:
        key, _, index = name.partition("[")
        if not isinstance(node, dict) or key not in node:
            return _MISSING
        node = node[key]
        if index:
            i = int(index.rstrip("]"))
            if not isinstance(node, list) or i >= len(node):
                return _MISSING
            node = node[i]
    return node


def _known(path: list[str]) -> list[str]:
    """The keys of the section at `path` (the file's names, e.g. `global`, not `global_`)."""
    kind: Any = Config
    for name in path:
        if typing.get_origin(kind) is dict:  # a table of tables ([prices."model"]): any key, one value type
            kind = typing.get_args(kind)[1]
        else:
            kind = {f.encode_name: f.type for f in msgspec.structs.fields(kind)}.get(name)
        if typing.get_origin(kind) is not dict and not (isinstance(kind, type) and issubclass(kind, msgspec.Struct)):
            return []
    if not (isinstance(kind, type) and issubclass(kind, msgspec.Struct)):
        return []
    return [f.encode_name for f in msgspec.structs.fields(kind)]
