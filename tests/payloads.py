"""A hostile pickle for the refusal tests: unpickling it runs code (it creates a file)."""


class Payload:
    """Unpickling this creates the file `sentinel` (stands in for arbitrary code execution)."""

    def __init__(self, sentinel):
        self.sentinel = str(sentinel)

    def __reduce__(self):
        return (open, (self.sentinel, "w"))
