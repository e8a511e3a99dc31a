"""censorcheck: measure Internet censorship and record blocking verdicts with their evidence."""

__version__ = "0.1.0"
