"""Every command the launcher can emit: profile x model x scenario x TP x tools."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

from gptoss_images.launcher import plan as planner
from gptoss_images.profiles import catalog
from gptoss_images.profiles.schema import Profile

TOOLS = [{}, {"function-calling": True}, {"tool-server": "demo"},
         {"function-calling": True, "tool-server": "127.0.0.1:8001,127.0.0.1:8002"},
         {"structured-output": True}]


def plans(profile: Profile) -> Iterator[tuple[str, planner.Plan]]:
    data = catalog.to_dict(profile)
    environ: dict[str, str] = {}
    for model, spec in profile.models.items():
        for scenario, tp, tools in itertools.product(profile.serve.scenarios, [None, *spec.tp], TOOLS):
            values = {"model": model, "scenario": scenario, **tools}
            if tp is not None:
                values["tensor-parallel-size"] = tp
            key = f"{profile.name} {model} {scenario} tp={tp or 'auto'} {sorted(tools)}"
            yield key, planner.build(data, values, [], environ)


def commands(selected: list[Profile]) -> list[dict]:
    """The checker's input: each plan's argv and config file text."""
    return [{"id": key, "argv": plan.argv}
            for profile in selected for key, plan in plans(profile)]
