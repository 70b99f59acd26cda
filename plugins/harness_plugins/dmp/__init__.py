"""dmp (see its plugin module)."""
