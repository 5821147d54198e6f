"""Command line (placeholder until the CLI lands)."""
def main() -> None:  # pragma: no cover
    raise SystemExit("parcours: not yet")
