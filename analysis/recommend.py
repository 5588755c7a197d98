"""Recommendations with figures computed from the window and genai-prices, sorted by $/day then by ms.

Per-day figures scale the window's totals by 86400 / the seconds its data covers (`Window.basis_s`, see
analysis/coverage.py), never by the window's empty part; `rank` writes that basis into each recommendation and
scales the confidence of every projected figure by the basis' own confidence. Prices come from genai-prices on the
*mean call* of each (component, model): its mean input, output, cache-read and cache-write tokens. Tiered
prices apply per request, so pricing the mean call (rather than the window's summed tokens, which would land
in the top tier) is the honest approximation.

`confidence` (0-1) is a heuristic: it grows with the number of calls behind the figure (1 - 1/sqrt(n)) and is
scaled down where the evidence is indirect (noted per kind below).
"""

from __future__ import annotations

import dataclasses
import math

import msgspec
import numpy as np
import polars as pl
from msgspec import UNSET
from smythtop.analysis import pricing
from smythtop.analysis.pricing import Usage
from smythtop.analysis.results import Alternative, Recommendation
from smythtop.analysis.series import Series
from smythtop.analysis.thresholds import Thresholds
from smythtop.analysis.window import Window

DAY_S = 86400.0
LOW_CONTEXT_UTILIZATION = 0.25
SHORT_OUTPUT_TOKENS = 250
MIN_SAVING_RATIO = 0.2  # a downgrade must cut the mean call's price by at least 20 %
MAX_ALTERNATIVES = 2  # cheaper models listed after the top one
CACHE_MIN_INPUT_TOKENS = 1024  # below this providers do not cache a prefix
LOW_CACHE_SHARE = 0.2
CACHE_TTL_S = 300  # a written prefix stays cached ~5 min, so expect one write per TTL per component/model
HOT_PER_MIN = 600.0
STABLE_CV = 0.15
SAMPLING_TARGET_ROWS = 400  # frames per bucket that keep a p95 within a few % after sampling
MIN_CALLS = 10
RATE_LIMIT_STATUS = (429, 529)  # Too Many Requests (every provider); Anthropic's "overloaded"
# Error types of refused calls: OpenAI's RateLimitError, Anthropic's rate_limit_error / overloaded_error,
# Google's RESOURCE_EXHAUSTED, and the bare status in an exception's name or message.
RATE_LIMIT_ERROR_TYPES = r"(?i)rate.?limit|too.?many.?requests|overloaded|resource.?exhausted|\b(?:429|529)\b"
# One or two refusals, or under 1 % of a model's calls, are bursts the SDK's retries absorb; from three, and
# 1 % of the calls, the limit shapes the run.
RATE_LIMIT_MIN_CALLS = 3
RATE_LIMIT_MIN_SHARE = 0.01


def _confidence(n: float, factor: float = 1.0) -> float:
    return round(max(0.0, min(0.95, (1 - 1 / math.sqrt(max(n, 1.0))) * factor)), 2)


def _per_day(value: float, window: Window) -> float:
    return value * DAY_S / window.basis_s


def _mean_usage(r: dict) -> Usage | None:
    calls = r["llm_calls"]
    if not calls:
        return None
    return Usage(
        input_tokens=round(r["input_tokens"] / calls),
        output_tokens=round(r["output_tokens"] / calls),
        cache_read_tokens=round(r["cache_read_tokens"] / calls),
        cache_write_tokens=round(r["cache_write_tokens"] / calls),
        reasoning_tokens=round((r.get("reasoning_tokens") or 0) / calls),
    )


def model_downgrades(llm: pl.DataFrame, window: Window) -> list[Recommendation]:
    """An expensive model at low context utilisation or with short outputs -> cheaper models of the same
    provider from genai-prices' catalogue (`pricing.cheaper_models`): priced on the real mean call, their
    context window holding the observed p99 input, the same family and newer generations first. The top one
    is named; up to MAX_ALTERNATIVES more are listed with their savings."""
    out = []
    for r in llm.iter_rows(named=True):
        usage = _mean_usage(r)
        if usage is None or r["rows"] < MIN_CALLS or r["model"] is None:
            continue
        util = r["mean_context_utilization"]
        low_util = util is not None and util < LOW_CONTEXT_UTILIZATION
        short = usage.output_tokens < SHORT_OUTPUT_TOKENS
        if not (low_util or short):
            continue
        current = pricing.price(r["model"], r["provider"], usage)
        p99_input = round(r["input_tokens_p99"] or usage.input_tokens)
        found = pricing.cheaper_models(r["model"], r["provider"], usage, p99_input, MIN_SAVING_RATIO)
        if not current or not found:
            continue
        top, more = found[0], found[1 : 1 + MAX_ALTERNATIVES]
        per_day = {c.ref.model: round(_per_day((current - c.cost) * r["llm_calls"], window), 4) for c in found}
        signals = []
        if low_util:
            signals.append(f"mean context utilisation {util:.0%}")
        if short:
            signals.append(f"mean output {usage.output_tokens} tokens")
        also = "; ".join(f"{c.ref.model} ${c.cost:.6f} ({1 - c.cost / current:.0%} less)" for c in more)
        out.append(
            Recommendation(
                kind="model_downgrade",
                component=r["component"],
                title=f"Try {top.ref.model} instead of {r['model']} for {r['component']}",
                rationale=(
                    f"{r['model']} runs {r['llm_calls']:,.0f} calls with {' and '.join(signals)}. On the mean call"
                    f" ({usage.input_tokens} in / {usage.output_tokens} out / {usage.cache_read_tokens} cached tokens)"
                    f" genai-prices gives ${current:.6f} for {r['model']} and ${top.cost:.6f} for {top.ref.model}"
                    f" ({top.ref.provider}), saving {1 - top.cost / current:.0%} per call"
                    + (f"; also cheaper: {also}" if also else "")
                    + f". Chosen from genai-prices' {top.ref.provider} models whose context window holds the p99"
                    f" input of {p99_input:,} tokens: the same family first, then newer generations."
                    " Check quality before switching."
                ),
                est_savings_usd_per_day=per_day[top.ref.model],
                est_latency_gain_ms=None,
                confidence=_confidence(r["rows"], 0.8 if low_util and short else 0.6),
                model=r["model"],
                suggested_model=top.ref.model,
                provider=top.ref.provider,
                alternatives=[
                    Alternative(
                        model=c.ref.model,
                        provider=c.ref.provider,
                        est_savings_usd_per_day=per_day[c.ref.model],
                        saving_share=round(1 - c.cost / current, 4),
                    )
                    for c in more
                ],
            )
        )
    return out


def prompt_caching(llm: pl.DataFrame, window: Window) -> list[Recommendation]:
    """Large inputs with a low cache-read share: the 5th percentile of input tokens is taken as the prefix
    every call repeats (nearly every call is at least that long, so the saving is conservative). Priced with
    genai-prices' cache-read price, minus one cache write (where the provider charges for it) per CACHE_TTL_S."""
    out = []
    for r in llm.iter_rows(named=True):
        usage = _mean_usage(r)
        if usage is None or r["rows"] < MIN_CALLS or r["model"] is None:
            continue
        share = usage.cache_read_tokens / usage.input_tokens if usage.input_tokens else 0.0
        prefix = int(r["input_tokens_p5"] or 0)
        if usage.input_tokens < CACHE_MIN_INPUT_TOKENS or share >= LOW_CACHE_SHARE or prefix < CACHE_MIN_INPUT_TOKENS:
            continue
        read_price, write_price = pricing.cache_prices(r["model"], r["provider"])
        if read_price is None:
            continue
        cached = max(usage.cache_read_tokens, min(prefix, usage.input_tokens))
        with_cache = dataclasses.replace(usage, cache_read_tokens=cached)
        now, then = (
            pricing.price(r["model"], r["provider"], usage),
            pricing.price(r["model"], r["provider"], with_cache),
        )
        if now is None or then is None or then >= now:
            continue
        write_cost = 0.0
        if write_price is not None:
            plain = pricing.price(r["model"], r["provider"], Usage(prefix, 0))
            written = pricing.price(r["model"], r["provider"], Usage(prefix, 0, 0, prefix))
            write_cost = max((written or 0.0) - (plain or 0.0), 0.0)
        writes_per_day = DAY_S / CACHE_TTL_S
        saving = _per_day((now - then) * r["llm_calls"], window) - writes_per_day * write_cost
        if saving <= 0:
            continue
        out.append(
            Recommendation(
                kind="prompt_caching",
                component=r["component"],
                title=f"Cache the {prefix:,}-token prompt prefix of {r['component']} ({r['model']})",
                rationale=(
                    f"95% of calls send at least {prefix:,} input tokens (mean {usage.input_tokens:,}) but only"
                    f" {share:.0%} are cache reads. Caching the repeated prefix at genai-prices' cache-read price of"
                    f" ${read_price}/MTok cuts the mean call from ${now:.6f} to ${then:.6f}"
                    + (
                        f", less one cache write (${write_cost:.6f}) every {CACHE_TTL_S // 60} min."
                        if write_cost
                        else "."
                    )
                ),
                est_savings_usd_per_day=round(saving, 4),
                est_latency_gain_ms=None,
                confidence=_confidence(r["rows"], 0.7),
                model=r["model"],
            )
        )
    return out


def rate_limited() -> pl.Expr:
    """A failed call the provider refused for its rate limit or overload: HTTP 429 or 529 where the frame has
    the status, else an error type that names it (older frames, and spans that carry only `error.type`)."""
    status = pl.col("http_status")
    named = pl.col("error_type").str.contains(RATE_LIMIT_ERROR_TYPES).fill_null(False)
    return ~pl.col("success") & pl.when(status.is_not_null()).then(status.is_in(RATE_LIMIT_STATUS)).otherwise(named)


def rate_limits(frames: pl.LazyFrame, llm: pl.DataFrame, dims: pl.DataFrame, window: Window) -> list[Recommendation]:
    """LLM calls refused for rate limits or overload, per model and provider, with the time the refused calls
    took (each frame's total time covers the SDK's own retries and backoff before it gave up; a wait between
    frames is in no frame, so the figure is a lower bound). `frames` are the
    window's frames with their weight `w`; `llm` the LLM rows per component (for each model's call count);
    `dims` the window's (agent_id, component, model, provider) combinations.

    A refused call often carries no model (the usage that names it never came back): it is then counted for the
    model its agent's component used, when every LLM call of that agent's component in the window used one model
    and provider."""
    single = (
        dims.filter(pl.col("model").is_not_null())
        .group_by("agent_id", "component")
        .agg(pl.col("model").first().alias("_model"), pl.col("provider").first().alias("_provider"), n=pl.len())
        .filter(pl.col("n") == 1)
        .drop("n")
    )
    refused = (
        frames.filter(rate_limited())
        .join(single.lazy(), on=["agent_id", "component"], how="left", nulls_equal=True)
        .with_columns(
            model=pl.coalesce("model", "_model"),
            provider=pl.when(pl.col("model").is_null()).then(pl.col("_provider")).otherwise(pl.col("provider")),
        )
        .filter(pl.col("model").is_not_null())
        .group_by("model", "provider", "component")
        .agg(
            calls=pl.col("w").sum(),
            rows=pl.len(),
            lost_ms=(pl.col("total_ms").fill_null(0.0) * pl.col("w")).sum(),
            cost=(pl.col("cost_usd").fill_null(0.0) * pl.col("w")).sum(),
            by_status=pl.col("http_status").is_not_null().sum(),
        )
        .collect()
    )
    totals = llm.group_by("model", "provider").agg(pl.col("llm_calls").sum())
    out = []
    for (model, provider), part in refused.partition_by("model", "provider", as_dict=True).items():
        n = float(part["calls"].sum())
        if n < RATE_LIMIT_MIN_CALLS:
            continue
        part = part.sort("calls", "component", descending=[True, False])
        match = totals.filter((pl.col("model") == model) & pl.col("provider").eq_missing(provider))
        calls = max(float(match["llm_calls"].sum()), n)
        if n / calls < RATE_LIMIT_MIN_SHARE:
            continue
        lost_ms = float(part["lost_ms"].sum())
        rows, by_status = int(part["rows"].sum()), int(part["by_status"].sum())
        where = ", ".join(f"{c} {k:,.0f}" for c, k in part.select("component", "calls").head(3).iter_rows())
        source = "HTTP status" if by_status == rows else ("error type" if not by_status else "HTTP status/error type")
        label = f"{model} ({provider})" if provider else model
        out.append(
            Recommendation(
                kind="rate_limits",
                component=part["component"][0],
                title=f"{label} refused {n:,.0f} calls for rate limits or overload",
                rationale=(
                    f"{n / calls:.1%} of {calls:,.0f} calls to {label} were refused (429 or overloaded, by"
                    f" {source}): {where}. They took {lost_ms / 1000:,.1f} s in the window"
                    f" ({lost_ms / n:,.0f} ms each, with any retries inside the call) and returned nothing. Honour"
                    " Retry-After with jittered exponential backoff, cap concurrency below the limit, spread"
                    " bursts, ask for a higher limit, or route overloads to a fallback model."
                ),
                est_savings_usd_per_day=round(_per_day(float(part["cost"].sum()), window), 4),
                est_latency_gain_ms=round(lost_ms / calls, 3),
                confidence=_confidence(rows, 0.9 if by_status == rows else 0.6),
                model=model,
                provider=provider if provider is not None else UNSET,
                rate_limited_calls=round(n, 3),
            )
        )
    return out


def retry_policy(components: pl.DataFrame, window: Window) -> list[Recommendation]:
    """Time and money spent on failed attempts and retries (an upper bound of what a better policy saves).

    Only for components that retried (`retry_count` > 0): with no retries there is no policy to tighten (their
    failures are `error_rate` bottlenecks). Failures count where they happened (`own_failed_ms`): a parent that
    failed because its child did is not wasting attempts of its own."""
    out = []
    for r in components.iter_rows(named=True):
        waste_ms = (r["own_failed_ms"] or 0.0) + (r["retried_ms"] or 0.0)
        if not r["retry_count_sum"] or not r["total_ms_sum"] or waste_ms / r["total_ms_sum"] < 0.05:
            continue
        if r["rows"] < MIN_CALLS:
            continue
        cost = r["failed_cost_usd"] or 0.0
        out.append(
            Recommendation(
                kind="retry_policy",
                component=r["component"],
                title=f"Tighten the retry policy of {r['component']}",
                rationale=(
                    f"{waste_ms / r['total_ms_sum']:.0%} of {r['component']}'s time went to"
                    f" {r['own_errors']:,.0f} failed attempts and {r['retry_count_sum'] or 0:,.0f} retries"
                    f" (${cost:.4f} in the window). Retry only transient errors, with capped exponential backoff;"
                    " the figures are what that waste costs now."
                ),
                est_savings_usd_per_day=round(_per_day(cost, window), 4),
                est_latency_gain_ms=round(waste_ms / r["executions"], 3),
                confidence=_confidence(r["rows"], 0.6),
            )
        )
    return out


def parallelize(candidates: list[dict], per_parent: int = 2) -> list[Recommendation]:
    """From spans.parallel_candidates: the sibling runs worth most under each parent component."""
    out = []
    taken: dict[str, int] = {}
    for c in candidates:
        parent = c["parent_component"]
        if taken.get(parent, 0) >= per_parent:
            continue
        taken[parent] = taken.get(parent, 0) + 1
        single = len(c["members"]) == 1
        what = f"the {c['run_length']:g} {c['members'][0]} calls" if single else ", ".join(c["members"])
        others = c["patterns"] - 1
        out.append(Recommendation(
            kind="parallelize",
            component=parent,
            title=f"Run {what} concurrently inside {parent}",
            rationale=(
                f"In {c['parents']:,.0f} executions of {parent} (mean {c['mean_parent_ms']:,.0f} ms) {what} ran one"
                f" after another; evidence they are independent: {c['why']}. Running them concurrently saves the"
                " sum of their times minus the slowest"
                + (f" ({others} other sibling set{'s' if others > 1 else ''} under {parent} could too)." if others
                   else ".")
            ),
            est_savings_usd_per_day=0.0,
            est_latency_gain_ms=round(c["mean_gain_ms"], 3),
            confidence=_confidence(c["rows"], 0.8 if "either order" in c["why"] else 0.5),
        ))  # fmt: skip
    return out


def sampling(
    components: pl.DataFrame, series: dict[str, Series], window: Window, thresholds: Thresholds
) -> list[Recommendation]:
    """Hot, stable components recorded at full rate: sampling keeps the signal and cuts recording overhead."""
    out = []
    for r in components.iter_rows(named=True):
        per_min = r["executions"] / window.basis_minutes
        s = series.get(r["component"])
        if s is None or per_min < HOT_PER_MIN or r["rows"] < r["executions"] * 0.9:
            continue  # not hot, or already sampled
        p95 = s.values["latency_p95_ms"]
        p95 = p95[~np.isnan(p95)]
        if p95.size < 6 or r["error_rate"] > thresholds.error_rate / 5:
            continue
        cv = float(np.std(p95) / np.mean(p95)) if np.mean(p95) else math.inf
        if cv > STABLE_CV:
            continue
        rows_per_bucket = float(np.median(s.rows[s.rows > 0]))
        rate = min(1.0, SAMPLING_TARGET_ROWS / rows_per_bucket)
        rate = float(f"{rate:.1g}")
        if rate >= 0.5:
            continue
        saved = _per_day(r["rows"] * (1 - rate), window)
        out.append(
            Recommendation(
                kind="sampling",
                component=r["component"],
                title=f"Sample {r['component']} at {rate:g}",
                rationale=(
                    f"{per_min:,.0f} executions/min with a stable p95 (CV {cv:.0%} across buckets) and error rate"
                    f" {r['error_rate']:.2%}. At {rate:g} each {window.bucket_s:g} s bucket still keeps about"
                    f" {rows_per_bucket * rate:,.0f} frames (errors and slow outliers are always kept), and"
                    f" {saved:,.0f} fewer frames/day are recorded and stored."
                ),
                est_savings_usd_per_day=0.0,
                est_latency_gain_ms=None,
                confidence=_confidence(r["rows"], 0.9),
                suggested_sample_rate=rate,
                est_frames_saved_per_day=round(saved),
            )
        )
    return out


def rank(recs: list[Recommendation], window: Window) -> list[Recommendation]:
    """By estimated $/day, then by ms, both descending; each with the window's basis, and the confidence of a
    projected figure ($/day or frames/day) times the basis' confidence (a short or bursty basis projects badly)."""
    basis = window.coverage
    out = []
    for r in recs:
        projected = bool(r.est_savings_usd_per_day) or bool(r.est_frames_saved_per_day)
        confidence = round(r.confidence * basis.confidence, 2) if projected else r.confidence
        out.append(msgspec.structs.replace(r, basis_s=basis.seconds, basis_note=basis.note, confidence=confidence))
    return sorted(
        out,
        key=lambda r: (-(r.est_savings_usd_per_day or 0.0), -(r.est_latency_gain_ms or 0.0), r.component),
    )
