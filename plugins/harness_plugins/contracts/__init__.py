"""contracts (see its plugin module)."""
