"""Zero-code capture: frames from LLM SDK calls (`instrument()`), with no code in the agent.

`import smythtop.capture` loads the recorder only; the SDKs are imported by `instrument()`, and only the ones
installed. See smythtop/capture/sdks.py for the method.
"""

from smythtop.capture.sdks import Instrumentation, instrument

__all__ = ["Instrumentation", "instrument"]
