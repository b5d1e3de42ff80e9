"""Ctrl-C during training: the first asks the loop to checkpoint and stop after the step it is
in, so an interrupted run resumes exactly; a second stops at once."""

from __future__ import annotations

import signal


class InterruptFlag:
    """The first Ctrl-C asks the loop to checkpoint and stop after this step; a second one
    stops at once."""

    def __init__(self):
        self.raised = False
        self._previous = None

    def _handle(self, signum, frame):
        if self.raised:
            raise KeyboardInterrupt
        self.raised = True

    def __enter__(self):
        try:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        except ValueError:  # not the main thread: leave Ctrl-C alone
            self._previous = None
        return self

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
