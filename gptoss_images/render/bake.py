"""docker/docker-bake.hcl: every profile as a BuildKit target, a group per family and one for all.

The same context, Dockerfiles, build arguments and labels as the Python builder; the
labels that change per build come from variables (`REVISION=... DATE=... docker buildx
bake cuda`).
"""

from __future__ import annotations

import json

from gptoss_images.profiles.schema import Profile
from gptoss_images.render import naming, stacks
from gptoss_images.render.stacks import Stack

HEADER = """\
# GENERATED FILE: do not edit. Generated from profiles/ by gptoss_images/render/bake.py.
# Regenerate: python build.py render
#
# The BuildKit path (docker buildx bake), from the repository root:
#   docker buildx bake -f docker/docker-bake.hcl h100          one profile
#   docker buildx bake -f docker/docker-bake.hcl cuda          a family; `all` for every profile
#   REPO=ghcr.io/acme/gptoss-images REVISION=$(git rev-parse HEAD) DATE=$(date -u +%Y%m%d) \\
#     CREATED=$(date -u +%Y-%m-%dT%H:%M:%SZ) docker buildx bake -f docker/docker-bake.hcl all
# Without buildx, build.py (the engine API) or plain `docker build` build the same Dockerfiles.
"""


def _value(value: object) -> str:
    return json.dumps(value)


def _block(kind: str, name: str | None, body: dict[str, object]) -> str:
    lines = [f'{kind} "{name}" {{' if name else f"{kind} {{"]
    for key, value in body.items():
        if isinstance(value, dict):
            lines.append(f"  {key} = {{")
            lines += [f"    {_value(k)} = {_value(v)}" for k, v in value.items()]
            lines.append("  }")
        else:
            lines.append(f"  {key} = {_value(value)}")
    return "\n".join(lines + ["}"])


def render(profiles: list[Profile], all_stacks: list[Stack]) -> bytes:
    blocks = [_block("variable", name, {"default": default}) for name, default in
              [("REPO", naming.DEFAULT_REPO), ("PIP_INDEX_URL", "https://pypi.org/simple"),
               ("REVISION", ""), ("DATE", ""), ("CREATED", "")]]
    for s in all_stacks:
        blocks.append(_block("target", f"stack-{s.name}", {
            "context": ".", "dockerfile": s.dockerfile,
            "args": {"BASE_IMAGE": s.spec.base_image, "PIP_INDEX_URL": "${PIP_INDEX_URL}"},
            "tags": [s.image]}))
    for p in profiles:
        labels = naming.build_labels(p.name, p.stack.vllm, "${DATE}", "${REVISION}", "${CREATED}")
        stack = stacks.of(p.name, all_stacks)
        body: dict[str, object] = {"context": ".", "dockerfile": f"docker/{p.name}/Dockerfile"}
        if stack:  # the stack target builds the parent image in the same bake
            body["contexts"] = {stack.image: f"target:stack-{stack.name}"}
        else:
            body["args"] = {"BASE_IMAGE": p.base_image, "PIP_INDEX_URL": "${PIP_INDEX_URL}"}
        blocks.append(_block("target", p.name, {**body, "labels": labels,
                                                 "tags": [f"${{REPO}}:{naming.title(p.name)}"]}))
    families = sorted({p.family for p in profiles})
    for family in families:
        blocks.append(_block("group", family, {"targets": [p.name for p in profiles if p.family == family]}))
    blocks.append(_block("group", "all", {"targets": families}))
    blocks.append(_block("group", "default", {"targets": ["all"]}))
    return (HEADER + "\n" + "\n\n".join(blocks) + "\n").encode()
