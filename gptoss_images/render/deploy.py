"""Render deploy/<profile>/: a Kustomize base, overlays per model and scenario, autoscaling, compose.

Everything the manifests say of the server comes from where the server takes it: the
TP (so the GPU request) from the launcher's own rule, the port, user, cache folder,
probe timings and /dev/shm from the image's runtime contract, the queue metric from the
record of what the profile's vLLM release exports.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from gptoss_images.core import fit, runtime, vendors, vllm_api
from gptoss_images.core.plan import tensor_parallel
from gptoss_images.errors import UserError
from gptoss_images.profiles import catalog
from gptoss_images.profiles.schema import Profile
from gptoss_images.render import naming
from gptoss_images.render.jinja import env
from gptoss_images.render.tree import Files

QUEUE_METRIC = runtime.QUEUE_METRIC
HPA_METRIC = "vllm_num_requests_waiting"
"""The queue metric as prometheus-adapter serves it (a name without the colon)."""
QUEUE_TARGET = 4
"""Waiting requests per replica, on average, above which the autoscaler adds one."""
CACHE_HEADROOM, CACHE_EXTRA_GIB = 1.25, 10
"""The cache volume holds the weights, a quarter more, and 10 GiB of compiled graphs."""
CONTAINER_SECURITY = {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                      "capabilities": {"drop": ["ALL"]}}
@dataclass(frozen=True)
class Variant:
    """One model in one scenario: an overlay."""

    model: str
    scenario: str
    description: str
    tp: int
    cache_gib: int

    @property
    def name(self) -> str:
        return f"{self.model.rsplit('-', 1)[-1]}-{self.scenario}"

    @property
    def settings(self) -> dict[str, str]:
        """The launcher's variables that pin this variant (what the ConfigMap holds)."""
        return {"GPTOSS_MODEL": self.model, "GPTOSS_SCENARIO": self.scenario,
                "GPTOSS_TENSOR_PARALLEL_SIZE": str(self.tp), "GPTOSS_SERVED_MODEL_NAME": self.model}


def variants(profile: Profile) -> list[Variant]:
    """Every model of the profile in every scenario, the default model's default scenario first."""
    data = catalog.to_dict(profile)
    models = sorted(profile.models, key=lambda m: m != profile.default_model)
    return [Variant(model, scenario, spec.description, tensor_parallel(data, model, scenario),
                    cache_gib(profile.models[model].weights_gib))
            for model in models for scenario, spec in profile.serve.scenarios.items()]


def cache_gib(weights_gib: float) -> int:
    return math.ceil((weights_gib * CACHE_HEADROOM + CACHE_EXTRA_GIB) / 10) * 10


def resource_name(profile: str) -> str:
    """The base name of every resource of a profile (an overlay adds -<model size>-<scenario>)."""
    return naming.title(profile)


def image(profile: str) -> str:
    """The image the manifests run, as `build.py build` tags it (`build.py deploy --registry` renames it)."""
    return f"{naming.DEFAULT_REPO}:{naming.title(profile)}"


def files(profile: Profile) -> Files:
    """deploy/<profile>/'s files, by path relative to it."""
    metrics = vllm_api.metric_names(profile.stack.vllm)
    if metrics is None or QUEUE_METRIC not in metrics:
        raise UserError(f"vllm-api/{profile.stack.vllm}/metrics.txt: vLLM {profile.stack.vllm} "
                        + ("has no record of its metrics" if metrics is None else f"exports no {QUEUE_METRIC}")
                        + f"; the autoscaling of {profile.name} needs it")
    all_variants = variants(profile)
    name = resource_name(profile.name)
    vendor = vendors.of(profile.gpu.vendor)
    values = dict(p=profile, name=name, image=image(profile.name), default=all_variants[0],
                  labels={"app.kubernetes.io/name": "gptoss", "app.kubernetes.io/instance": name},
                  gpu_resource=vendor.resource, pod_security=vendor.pod_security, vendor=vendor,
                  container_security=CONTAINER_SECURITY, metric=QUEUE_METRIC, hpa_metric=HPA_METRIC,
                  queue_target=QUEUE_TARGET,
                  self_test_labels={"app.kubernetes.io/name": "gptoss-self-test", "app.kubernetes.io/instance": name})
    out = {f"base/{name}.yaml": _render(f"{name}.yaml.j2", values)
           for name in ("kustomization", "deployment", "service", "cache", "pdb")}
    out |= {f"overlays/{v.name}/kustomization.yaml": _render("overlay.yaml.j2", values | {"v": v})
            for v in all_variants}
    out |= {"autoscaling/kustomization.yaml": _render("autoscaling.yaml.j2", values),
            "autoscaling/hpa.yaml": _render("hpa.yaml.j2", values),
            "autoscaling/prometheus-adapter-values.yaml": _render("prometheus-adapter-values.yaml.j2", values),
            "self-test/kustomization.yaml": _render("self-test-component.yaml.j2", values),
            "self-test/job.yaml": _render("self-test.yaml.j2", values),
            "compose.yaml": _render("compose.yaml.j2", values)}
    return out


def _render(template: str, values: dict) -> bytes:
    return env.get_template(f"deploy/{template}").render(**values).encode()


def pod_layout(profile: Profile, variant: Variant, gpus: int | None) -> fit.Layout | None:
    """The plan of one pod on `gpus` of the profile's GPUs (None: the overlay's, TP GPUs a pod)."""
    if gpus is None:
        return None
    same = [vendors.Gpu(profile.gpu.vendor, profile.gpu.model, profile.gpu.arch, profile.gpu.memory_gib * 1024)]
    layout = fit.plan(catalog.to_dict(profile), variant.scenario, same * gpus, variant.model)
    if layout.status == "incompatible":
        raise UserError(f"--gpus-per-pod {gpus}: {variant.model} does not fit {gpus} {profile.gpu.model}: {layout.why}")
    return layout


def user_kustomization(profile: Profile, variant: Variant, overlay: str, registry: str | None, tag: str | None,
                       replicas: int, namespace: str | None, autoscaling: str | None,
                       self_test: str | None = None, layout: fit.Layout | None = None) -> bytes:
    """A kustomization of one's own over a rendered overlay: the registry's image, replicas,
    namespace and, with `autoscaling` and `self_test` (the Components' paths), the autoscaler and
    the self-test Job on the variant's TP GPUs. `overlay` and the Components' paths are relative to
    the file."""
    return env.get_template("deploy/user.yaml.j2").render(
        p=profile, v=variant, overlay=overlay, registry=registry, tag=tag, replicas=replicas, namespace=namespace,
        components=[c for c in (autoscaling, self_test) if c], self_test=self_test, image=image(profile.name),
        deployment=f"{resource_name(profile.name)}-{variant.name}", name=resource_name(profile.name),
        gpu_resource=vendors.of(profile.gpu.vendor).resource, layout=layout,
        settings=f"{resource_name(profile.name)}-settings-{variant.name}").encode()
