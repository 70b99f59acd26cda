"""Built-in reporters; each module is a plugin registered through the entry-point group."""
