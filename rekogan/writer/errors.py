"""The one error type of the writer package: bad input from a person, with a message for them."""
from __future__ import annotations


class WriterError(ValueError):
    """A sample, a text, a writer code or a file that cannot be used; the message says which and why,
    and what would be right. The app shows it as it is; the command line prints it and exits 2."""
