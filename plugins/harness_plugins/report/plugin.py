"""Placeholder: this family's hooks are being written; it registers nothing yet."""

__version__ = "0.1.0"
