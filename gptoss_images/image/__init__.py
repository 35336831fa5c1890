"""Images: build context, the engine, build, smoke test, tags."""
