"""The core: the rules the image and the build side share, in the standard library only.

What vLLM accepts (the record reader and parser), the planner (profile + inputs -> the
exact `vllm serve` command), the launcher's knobs, the runtime contract, the profile
JSON's shape, the fit of profiles to machines and each GPU vendor's facts. The image's
entrypoint (`launcher/`) is a thin layer on top; the build side's stages read the same
rules from here, so a rule is written once.
"""
