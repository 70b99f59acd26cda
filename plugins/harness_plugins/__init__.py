"""Built-in check families of the harness, each a plugin in the ``harness`` entry-point group."""
