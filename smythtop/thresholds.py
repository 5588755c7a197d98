"""The one conversion from the config file to the analysis' `Thresholds`, shared by the CLI and the app.

It lives above both the config schema (which the recorder imports, so it must not reach the analysis) and the
analysis (which takes its typed `Thresholds` and knows nothing of files), so every front-end that judges a
store judges it against the same limits: `[alerts]` and `[llm.cost_thresholds]` burn rates (docs/CONFIG.md),
and prices unpriced frames with the same `[prices]`.
"""

from __future__ import annotations

import msgspec

from smythtop.analysis.thresholds import CustomPrice, Thresholds
from smythtop.config import Config


def thresholds_from_config(config: Config) -> Thresholds:
    alerts, costs = config.alerts, config.llm.cost_thresholds
    return Thresholds(
        latency_p95_ms=alerts.latency_p95_ms,
        latency_p95_ms_by_component=dict(alerts.latency_p95_ms_by_component),
        error_rate=alerts.error_rate,
        memory_pressure=alerts.memory_pressure,
        cost_per_operation=alerts.cost_per_call_usd,
        cost_warning_per_hour=costs.burn_warning_usd_per_hour,
        cost_critical_per_hour=costs.burn_critical_usd_per_hour,
        max_rows=config.analysis.max_rows,
        llm_latency_p95_ms=alerts.llm_latency_p95_ms,
        request_latency_p95_ms=alerts.request_latency_p95_ms,
        prices={model: CustomPrice(**msgspec.structs.asdict(p)) for model, p in config.prices.items()},
    )
