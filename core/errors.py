"""User-facing errors."""

import re


class DataError(ValueError):
    """A problem with the user's data or request.

    The message says what is wrong and what to do about it; the UI shows it as is.
    """


_PATH = re.compile(r"(?<![\w.])(?:[A-Za-z]:\\|/|~/)[^\s'\",;:()]*[^\s'\",;:().]")
_PID = re.compile(r"\b(?:PID|pid|process id|process)\s*[:=#]?\s*\d+", re.IGNORECASE)


def redact(message: str) -> str:
    """A message without server paths or process ids, for users who are not admins."""
    return _PID.sub("another process", _PATH.sub("<server path>", message))
