"""gptoss-images: vLLM container images for gpt-oss, tuned per accelerator.

The core (the rules the image and the build side share, standard library only) at the
ground; the image's entrypoint and measurements on it (launcher, measure); then the build
side's stages, each importing only those before it: profiles -> render -> image -> publish
-> cli; beside them the maintenance loop that follows vLLM's releases (vllm: records,
carried settings, pins), which writes what the first stages read.
"""

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
