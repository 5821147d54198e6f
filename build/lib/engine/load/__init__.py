"""Reading: the one YAML loader, the rules tree, variants, the extracts and their validation."""
