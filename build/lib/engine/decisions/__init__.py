"""The decision layer: durable_rules behind one backend module."""
