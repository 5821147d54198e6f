"""Developer tools (benchmark)."""
