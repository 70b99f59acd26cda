"""report (see its plugin module)."""
