"""gptoss-images: vLLM container images for gpt-oss, tuned per accelerator."""
