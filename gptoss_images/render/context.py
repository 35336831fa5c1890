"""Render a profile's own files, docker/<profile>/Dockerfile and profile.json, deterministically.

Everything else an image needs (the launcher, the entry script, the build's CA folder)
is copied from the repository root, the build context of every Dockerfile.
"""

from __future__ import annotations

import json

import jinja2

from gptoss_images import REPO
from gptoss_images.profiles import catalog
from gptoss_images.profiles.schema import Profile
from gptoss_images.render import naming
from gptoss_images.render.tree import Files

TEMPLATES = REPO / "templates"

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters["env_block"] = lambda env: " \\\n    ".join(
    f"{name}={json.dumps(var.value).replace('$', chr(92) + '$')}" for name, var in env.items())
_env.filters["label_block"] = lambda labels: " \\\n      ".join(
    f"{name}={json.dumps(value)}" for name, value in labels.items())


def files(profile: Profile) -> Files:
    """The profile's generated files, by path relative to docker/<profile>/."""
    labels = naming.static_labels(profile, catalog.content_hash(profile))
    dockerfile = _env.get_template(f"{profile.family}.Dockerfile.j2").render(p=profile, labels=labels)
    generated = (f"GENERATED FILE: do not edit. From {', '.join(profile.chain)}. "
                 f"Regenerate: python build.py render {profile.name}")
    profile_json = json.dumps({"_generated": generated, **catalog.to_dict(profile)}, indent=2) + "\n"
    return {"Dockerfile": dockerfile.encode(), "profile.json": profile_json.encode()}
