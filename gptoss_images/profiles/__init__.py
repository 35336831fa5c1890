"""Profiles: the YAML data, its schema, inheritance and validation."""
