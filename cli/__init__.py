"""Command-line tools: thin click wrappers over the library."""
