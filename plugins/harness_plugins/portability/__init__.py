"""portability (see its plugin module)."""
