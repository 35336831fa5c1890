# GENERATED FILE: do not edit. Copied from gptoss_images/__init__.py. Regenerate: python build.py render
"""gptoss-images: vLLM container images for gpt-oss, tuned per accelerator."""
