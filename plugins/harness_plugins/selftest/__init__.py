"""selftest (see its plugin module)."""
