"""Code shared by several built-in families (French identifiers, …)."""
