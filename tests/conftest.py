"""Fixtures every test directory may use: the LLM API stub (tests/llm_stub.py)."""

pytest_plugins = ("llm_stub",)
