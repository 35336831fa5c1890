"""docker/docker-bake.json: every profile as a BuildKit target, a group per family and one for all.

The same context, Dockerfiles, build arguments and labels as the Python builder; the
labels that change per build come from variables (`REVISION=... DATE=... docker buildx
bake -f docker/docker-bake.json cuda`). JSON, which buildx reads as it reads HCL, made
by the json module: no hand-written emitter. It says it is generated in a "//" key, HCL's
JSON form of a comment.
"""

from __future__ import annotations

import json

from gptoss_images.profiles.schema import Profile
from gptoss_images.render import naming, stacks
from gptoss_images.render.stacks import Stack

GENERATED = ("GENERATED FILE: do not edit. Generated from profiles/ by gptoss_images/render/bake.py. "
             "Regenerate: python build.py render")


def render(profiles: list[Profile], all_stacks: list[Stack]) -> bytes:
    variables = {"REPO": naming.DEFAULT_REPO, "PIP_INDEX_URL": "https://pypi.org/simple",
                 "REVISION": "", "DATE": "", "CREATED": ""}
    targets: dict[str, dict[str, object]] = {}
    for s in all_stacks:
        targets[f"stack-{s.name}"] = {"context": ".", "dockerfile": s.dockerfile,
                                      "args": {"BASE_IMAGE": s.spec.base_image, "PIP_INDEX_URL": "${PIP_INDEX_URL}"},
                                      "tags": [s.image]}
    for p in profiles:
        stack = stacks.of(p.name, all_stacks)
        body: dict[str, object] = {"context": ".", "dockerfile": f"docker/{p.name}/Dockerfile"}
        if stack:  # the stack target builds the parent image in the same bake
            body["contexts"] = {stack.image: f"target:stack-{stack.name}"}
        else:
            body["args"] = {"BASE_IMAGE": p.base_image, "PIP_INDEX_URL": "${PIP_INDEX_URL}"}
        body["labels"] = naming.build_labels(p.name, p.stack.vllm, "${DATE}", "${REVISION}", "${CREATED}")
        body["tags"] = [f"${{REPO}}:{naming.title(p.name)}"]
        targets[p.name] = body
    families = sorted({p.family for p in profiles})
    groups = {family: {"targets": [p.name for p in profiles if p.family == family]} for family in families}
    groups |= {"all": {"targets": families}, "default": {"targets": ["all"]}}
    document = {"//": GENERATED, "variable": {name: {"default": value} for name, value in variables.items()},
                "target": targets, "group": groups}
    return (json.dumps(document, indent=2) + "\n").encode()
