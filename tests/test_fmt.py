"""`smythtop.fmt`, the one number formatting of the app and the CLI text: its rules, and that it stays light."""

from __future__ import annotations

import subprocess
import sys

from smythtop import fmt


def test_missing_is_a_dash_and_unpriced_is_said() -> None:
    assert [fmt.ms(None), fmt.pct(None), fmt.count(None), fmt.rate(float("nan"))] == [fmt.DASH] * 4
    assert fmt.usd(None) == "unpriced" and fmt.usd(None, unpriced=fmt.DASH) == fmt.DASH and fmt.usd(0.0) == "$0"


def test_the_shared_rules() -> None:
    assert [fmt.ms(0.5), fmt.ms(12.34), fmt.ms(940.0), fmt.ms(1509.0), fmt.ms(61_000.0)] == [
        "0.50ms", "12.3ms", "940ms", "1.51s", "1m01s"]  # fmt: skip
    assert [fmt.usd(0.004), fmt.usd(0.4888), fmt.usd(11.11), fmt.usd(1234.0)] == ["$0.0040", "$0.49", "$11.11",
                                                                                  "$1,234"]  # fmt: skip
    assert [fmt.count(360), fmt.count(137_900), fmt.count(2.5)] == ["360", "138K", "2.5"]
    assert fmt.pct(0.9487, digits=2) == "94.87%" and fmt.rate(6.6) == "6.6"


def test_importing_it_loads_neither_textual_nor_polars() -> None:
    code = "import sys, smythtop.fmt; print(sorted({m.split('.')[0] for m in sys.modules} & {'textual', 'polars'}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"
