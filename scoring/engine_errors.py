"""What an engine raises that is not the scan's fault (no torch here: the web imports it)."""

from __future__ import annotations


class EngineUnavailable(RuntimeError):
    """The model could not be reached (a serving engine down or restarting): the analysis goes
    back to the queue without counting an attempt (abvlmq_web/scans/analysis.py)."""
