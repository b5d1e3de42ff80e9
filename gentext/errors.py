"""The one exception type for errors a user can cause; the CLI prints it in one line.

May import: nothing
"""


class GentextError(Exception):
    """A mistake the user can fix (bad input, bad config, missing run): say what to do."""

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code
