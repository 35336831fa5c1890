"""Render the Dockerfiles: each profile's docker/<profile>/ (Dockerfile, profile.json) and each stack's.

Everything else an image needs (the launcher, the entry script, the build's CA folder)
is copied from the repository root, the build context of every Dockerfile.
"""

from __future__ import annotations

import json

from gptoss_images.core import vendors
from gptoss_images.profiles import catalog
from gptoss_images.profiles.schema import Profile
from gptoss_images.render import naming, stacks
from gptoss_images.render.families import Family
from gptoss_images.render.jinja import env as _env
from gptoss_images.render.stacks import Stack
from gptoss_images.render.tree import Files

BUILD = "DOCKER_BUILDKIT=0 docker build -f {dockerfile} -t {tag} ."


def stack_files(stack: Stack) -> Files:
    """docker/stacks/<name>/Dockerfile."""
    return {"Dockerfile": _stack(stack, [BUILD.format(dockerfile=stack.dockerfile, tag=stack.image)]).encode()}


def files(profile: Profile, all_stacks: list[Stack]) -> Files:
    """The profile's generated files, by path relative to docker/<profile>/."""
    stack = stacks.of(profile.name, all_stacks)
    tag = naming.title(profile.name)
    builds = [BUILD.format(dockerfile=stack.dockerfile, tag=stack.image)] if stack else []
    builds += [BUILD.format(dockerfile=f"docker/{profile.name}/Dockerfile", tag=tag),
               vendors.run_line(profile.gpu.vendor, tag)]
    labels = naming.static_labels(profile, catalog.content_hash(profile))
    dockerfile = _env.get_template(f"{profile.family}.Dockerfile.j2").render(
        p=profile, labels=labels, stack=stack, builds=builds, what=f"gpt-oss on {profile.description}, "
                                                                   f"vLLM {profile.stack.vllm} ({profile.line} line).")
    return {"Dockerfile": dockerfile.encode(),
            "profile.json": profile_json(profile, f"python build.py render {profile.name}")}


def profile_json(profile: Profile, regenerate: str) -> bytes:
    """The resolved profile the launcher reads (/opt/gptoss/profile.json), marked as generated."""
    generated = f"GENERATED FILE: do not edit. From {', '.join(profile.chain)}. Regenerate: {regenerate}"
    return (json.dumps({"_generated": generated, **catalog.to_dict(profile)}, indent=2) + "\n").encode()


def family_files(family: Family) -> Files:
    """docker/family/<name>/Dockerfile."""
    tag = naming.title(family.name)
    builds = [BUILD.format(dockerfile=family.stack.dockerfile, tag=family.stack.image)] if family.stack else []
    builds += [BUILD.format(dockerfile=family.dockerfile, tag=tag), vendors.run_line(family.first.gpu.vendor, tag)]
    labels = naming.family_labels(family.name, [p.name for p in family.members], family.first.stack.vllm)
    what = (f"gpt-oss on {family.first.family} GPUs, vLLM {family.first.stack.vllm} ({family.first.line} line): "
            f"one image for {', '.join(p.name for p in family.members)}; it picks the profile these GPUs fit.")
    text = _env.get_template("family.Dockerfile.j2").render(
        chain=[p.chain[0] for p in family.members], what=what, builds=builds, stack=family.stack,
        base_image=family.first.base_image, vllm=family.first.stack.vllm, members=family.members, labels=labels)
    return {"Dockerfile": text.encode()}


def _stack(stack: Stack, builds: list[str]) -> str:
    s = stack.spec
    what = (f"The {s.family} {s.line} stack: {s.base_image}, vLLM {s.stack.vllm}"
            f"{' with ' + ', '.join(s.stack.packages) if s.stack.packages else ''}; "
            f"the parent of {', '.join(stack.profiles)}.")
    return _env.get_template("stack.Dockerfile.j2").render(
        s=s, name=stack.name, parts=stacks.PARTS, chain=s.chain[1:], what=what, builds=builds)
