"""Publishing: registry pushes, the release pipeline, results, the GPU check, promotion."""
