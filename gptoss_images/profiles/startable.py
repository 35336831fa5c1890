"""What validate passes, the image can start: the launcher plans every model and scenario of each profile.

The launcher the image runs is given the profile as profile.json will hold it, on a machine
with no GPU in sight (the profile's own plan), with each model and scenario and each
option's choices, and no user setting; whatever it refuses is a problem of the profile, found
in milliseconds before anything is rendered or built.
"""

from __future__ import annotations

import argparse
from typing import Any

from gptoss_images.core import vllm_api
from gptoss_images.core.inputs import BadInput
from gptoss_images.errors import Problem
from gptoss_images.launcher import checks, main

NO_GPU = checks.Machine(gpus=lambda vendor: ([], ""), shm_bytes=lambda: None)


def problems(profile: dict[str, Any], api: vllm_api.Api) -> list[Problem]:
    """The launcher's refusals of this profile, each with the key that causes it."""
    own = {flag for action in main.make_parser(profile | {"options": {}})._actions for flag in action.option_strings}
    clashing = [name for name in profile["options"] if f"--{name}" in own]
    if clashing:
        return [Problem(f"options.{name}", f"--{name} is the launcher's own option; name the hardware option "
                                           "otherwise") for name in clashing]
    found = [Problem(f"options.{name}.default", f"{option['default']!r} is for {', '.join(chosen['models'])} only, so "
                     f"every start of {model} would be refused; make the default a choice every model takes")
             for name, option in profile["options"].items()
             for chosen in [option["choices"][option["default"]]]
             for model in profile["models"] if chosen.get("models") and model not in chosen["models"]]
    if found:
        return found
    parser = main.make_parser(profile)
    for model in profile["models"]:
        for scenario in profile["serve"]["scenarios"]:
            argv = ["--dry-run", "--model", model, "--scenario", scenario]
            try:
                main.resolve_profile(profile, api, argv, {}, NO_GPU, parser=parser)
            except (BadInput, vllm_api.Rejected, argparse.ArgumentError) as exc:
                found.append(Problem(f"models.{model}", f"the launcher refuses {' '.join(argv[1:])}: {exc}"))
    return found
