"""A per-thread switch that a `with` block turns on: how export paths reroute tracing.

`pure_tensorflow()` (no compiled op) and `portable_math()` (ONNX-mappable
forms) are both such switches: the graph being traced in this thread takes
the other path, other threads (a training loop, a data pipeline) do not.
"""

import contextlib
import threading


class ThreadSwitch:
    """Off unless a `turned_on()` block is open in the current thread; blocks nest."""

    def __init__(self):
        self._local = threading.local()

    @property
    def on(self):
        return getattr(self._local, "on", False)

    @contextlib.contextmanager
    def turned_on(self):
        previous = self.on
        self._local.on = True
        try:
            yield
        finally:
            self._local.on = previous
