"""The shells people touch: the `quytrinh` command and the web app."""

__version__ = "0.1.0"
