"""The image's entrypoint: profile + the user's inputs -> `vllm serve`. Standard library only."""
