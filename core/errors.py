"""User-facing errors."""


class DataError(ValueError):
    """A problem with the user's data or request.

    The message says what is wrong and what to do about it; the UI shows it as is.
    """
