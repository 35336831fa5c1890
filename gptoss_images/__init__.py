"""gptoss-images: vLLM container images for gpt-oss, tuned per accelerator.

Stages, each importing only those before it: launcher (in the image) -> profiles ->
render -> vllm -> image -> publish -> cli.
"""

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
