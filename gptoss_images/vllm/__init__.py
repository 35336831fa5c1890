"""vLLM's releases: installing them, asking their own parser and envs.py, recording what they accept, pins."""
