"""Rendering: profiles into the generated files under docker/."""
