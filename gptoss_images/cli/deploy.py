"""build.py deploy: a kustomization of one's own over a rendered overlay, ready for `kubectl apply -k`."""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path

from gptoss_images.cli import args as cli_args
from gptoss_images.cli.images import Add
from gptoss_images.core import vendors
from gptoss_images.errors import UserError
from gptoss_images.profiles import catalog
from gptoss_images.render import deploy, outputs, tree

NAMESPACE = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\Z")


def cmd_deploy(args: argparse.Namespace) -> int:
    profile = catalog.get(args.profile, args.profiles_dir)
    variants = {(v.model, v.scenario): v for v in deploy.variants(profile)}
    model = next((m for m in profile.models if args.model in (m, m.split("/", 1)[1], m.rsplit("-", 1)[1])), None)
    if model is None:
        raise UserError(f"--model {args.model!r}: not a model of {profile.name}; allowed: "
                        + ", ".join(m.split("/", 1)[1] for m in profile.models))
    if args.scenario not in profile.serve.scenarios:
        raise UserError(f"--scenario {args.scenario!r}: unknown; allowed: {', '.join(profile.serve.scenarios)}")
    variant = variants[(model, args.scenario)]
    root = args.docker_dir.parent / outputs.DEPLOY / profile.name
    if not (root / "overlays" / variant.name / "kustomization.yaml").is_file():
        raise UserError(f"{tree.display(root)}: not rendered; run `python build.py render` first")
    out = args.out
    layout = deploy.pod_layout(profile, variant, args.gpus_per_pod)
    text = deploy.user_kustomization(
        profile, variant, _relative(root / "overlays" / variant.name, out), args.registry, args.tag, args.replicas,
        args.namespace, _relative(root / "autoscaling", out) if args.autoscale else None,
        _relative(root / "self-test", out) if args.self_test else None, layout)
    _may_write(out / "kustomization.yaml", args.docker_dir.parent, args.force)
    tree.write_file(out / "kustomization.yaml", text)
    per_pod = layout.used if layout else variant.tp
    gpus = f"{per_pod} {vendors.of(profile.gpu.vendor).resource}"
    shape = f"TP {layout.tp} x DP {layout.dp}" if layout else f"TP {variant.tp}"
    print(f"wrote {tree.display(out / 'kustomization.yaml')}: {model}, scenario {variant.scenario}, "
          f"{args.replicas} replica(s) x {shape} ({gpus} each), {variant.cache_gib} GiB cache volume"
          + (", autoscaling on vllm:num_requests_waiting" if args.autoscale else "")
          + (f", a self-test Job on {gpus}" if args.self_test else ""))
    name = f"{deploy.resource_name(profile.name)}-{variant.name}"
    ns = f" -n {args.namespace}" if args.namespace else ""
    test = (f"\n  kubectl{ns} wait --for=condition=complete job/{deploy.resource_name(profile.name)}-self-test "
            f"--timeout 30m && kubectl{ns} logs job/{deploy.resource_name(profile.name)}-self-test"
            if args.self_test else "")
    print(f"next:\n  kubectl apply -k {tree.display(out)}{test}\n  kubectl{ns} rollout status deployment/{name} "
          f"--timeout 60m\n  kubectl{ns} port-forward service/{name} 8000:8000")
    return 0


def _relative(path: Path, start: Path) -> str:
    return os.path.relpath(path.resolve(), start.resolve())


def _out(text: str) -> Path:
    if not text.strip():
        raise UserError("--out '': give a folder, e.g. --out my-gptoss")
    return Path(text)


def _may_write(path: Path, repo: Path, force: bool) -> None:
    """Refuse to write into the generated trees, or over an existing kustomization (once written it is the
    user's to edit) without --force."""
    where = path.resolve()
    for generated in (repo / outputs.DEPLOY, repo / "docker"):
        if where.is_relative_to(generated.resolve()):
            raise UserError(f"--out {tree.display(path.parent)}: inside {generated.name}/, which `python build.py "
                            "render` writes; choose a folder of your own")
    if path.exists() and not force:
        raise UserError(f"{tree.display(path)}: exists (a kustomization is yours to edit once written); choose "
                        "another --out, or give --force to replace it")


def _gpus(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 64:
        raise UserError(f"--gpus-per-pod {text!r}: a whole number from 1 to 64")
    return int(text)


def _replicas(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 1000:
        raise UserError(f"--replicas {text!r}: a whole number from 1 to 1000")
    return int(text)


def _namespace(text: str) -> str:
    if not NAMESPACE.match(text):
        raise UserError(f"--namespace {text!r}: a Kubernetes namespace: 1 to 63 of a-z 0-9 -, "
                        "alphanumeric at both ends")
    return text


def _tag(text: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", text):
        raise UserError(f"--tag {text!r}: an image tag (A-Z a-z 0-9 _ . -, at most 128)")
    return text


def add_commands(add: Add) -> None:
    p = add("deploy", cmd_deploy, "write a kustomization over a rendered overlay: registry, replicas, namespace, "
                                  "autoscaling; then `kubectl apply -k DIR`",
            "python build.py deploy h100 --model 120b --registry ghcr.io/acme/gptoss-images --out my-gptoss",
            "python build.py deploy h200 --model 20b --scenario max-throughput --replicas 4 --autoscale "
            "--namespace llm --out gptoss-20b",
            "python build.py deploy mi300x --tag gptoss-mi300x-vllm0.33.0-20261126 --out mi300x")
    p.add_argument("profile", metavar="PROFILE", help="the accelerator and line, e.g. h100 or h100-cu128")
    p.add_argument("--model", default="120b", metavar="MODEL", help="20b or 120b (or the full id; default 120b)")
    p.add_argument("--scenario", default="default", metavar="NAME",
                   help="default, max-throughput, min-latency or balanced (default: default)")
    p.add_argument("--gpus-per-pod", type=_gpus, metavar="N",
                   help="GPUs per pod (default: the scenario's TP): the pod serves them all, as TP x DP replicas "
                        "of one server (the machine's plan for N of the profile's GPUs)")
    p.add_argument("--replicas", type=_replicas, default=1, metavar="N",
                   help="vLLM servers, each on TP GPUs (data-parallel scale-out; default 1)")
    p.add_argument("--registry", type=cli_args.repository, metavar="REPO",
                   help="the repository the image was pushed to (default: the local build's gptoss-images)")
    p.add_argument("--tag", type=_tag, metavar="TAG",
                   help="an immutable tag to pin (default: the floating gptoss-PROFILE)")
    p.add_argument("--namespace", type=_namespace, metavar="NS", help="the namespace (default: kubectl's)")
    p.add_argument("--autoscale", action="store_true",
                   help="add the autoscaler on vLLM's queue (needs Prometheus and prometheus-adapter)")
    p.add_argument("--self-test", action="store_true",
                   help="add a Job that runs the image's --self-test (no weights) on one node of the pool")
    p.add_argument("--out", type=_out, required=True, metavar="DIR", help="the folder to write kustomization.yaml to")
    p.add_argument("--force", action="store_true",
                   help="replace an existing kustomization.yaml in --out (yours to edit once written)")
