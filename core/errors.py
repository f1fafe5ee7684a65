"""User-facing errors."""

import re


class DataError(ValueError):
    """A problem with the user's data or request.

    The message says what is wrong and what to do about it; the UI shows it as is.
    """


_QUOTED_PATH = re.compile(r"([\"'])(?:[A-Za-z]:\\|/|~/)[^\"'\n]*\1")
_PATH = re.compile(r"(?<![\w.:/])(?:[A-Za-z]:\\|/|~/)[^\s'\",;:()]*[^\s'\",;:().]")
_PID = re.compile(r"\b(?:PID|pid|process id|process)\s*[:=#]?\s*\d+", re.IGNORECASE)


def redact(message: str) -> str:
    """A message without server paths or process ids, for users who are not admins."""
    message = _QUOTED_PATH.sub(r"\1<server path>\1", message)
    return _PID.sub("another process", _PATH.sub("<server path>", message))
