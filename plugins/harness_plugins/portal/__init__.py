"""portal (see its plugin module)."""
