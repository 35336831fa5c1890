"""Every command the launcher can emit: profile x model x scenario x TP x tools x options, and DP."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

from gptoss_images.core import plan as planner
from gptoss_images.core import vllm_api
from gptoss_images.profiles import catalog
from gptoss_images.profiles.schema import Profile

TOOLS = [{}, {"function-calling": True}, {"tool-server": "demo"},
         {"function-calling": True, "tool-server": "127.0.0.1:8001,127.0.0.1:8002"},
         {"structured-output": True}]


def plans(profile: Profile, records: Path = vllm_api.RECORDS) -> Iterator[tuple[str, planner.Plan]]:
    """Each command of `profile`, read with the record of its vLLM under `records`."""
    data = catalog.to_dict(profile)
    api = vllm_api.load(profile.stack.vllm, records)
    if api is None:
        raise FileNotFoundError(f"no record of vLLM {profile.stack.vllm} under {records}")
    behaviour = vllm_api.behaviour(profile.stack.vllm, records)
    options = [[(name, choice) for choice in option.choices] for name, option in profile.options.items()]
    for model, spec in profile.models.items():
        for scenario, tp, tools, chosen in itertools.product(profile.serve.scenarios, [None, *spec.tp], TOOLS,
                                                             itertools.product(*options)):
            if not all(planner.serves(data["options"][name]["choices"][choice], model) for name, choice in chosen):
                continue  # a choice for other models only (EAGLE3's draft is 120b's)
            values = {"model": model, "scenario": scenario, **tools, **dict(chosen)}
            if tp is not None:
                values["tensor-parallel-size"] = tp
            key = f"{profile.name} {model} {scenario} tp={tp or 'auto'} {sorted(tools)} {dict(chosen)}"
            yield key, planner.build(data, values, [], {}, api, behaviour)
            if not tools and tp is not None:  # the machine's plan adds data parallelism: one server, DP replicas
                yield f"{key} dp=2", planner.build(data, {**values, "data-parallel-size": 2}, [], {}, api, behaviour)


def commands(selected: list[Profile], records: Path = vllm_api.RECORDS) -> list[dict]:
    """The real parser's input: each plan's id and argv."""
    return [{"id": key, "argv": plan.argv} for profile in selected for key, plan in plans(profile, records)]
