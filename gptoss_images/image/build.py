"""Build images with the engine's classic builder, streaming each step: stacks, then profiles.

A stack image is built once per pin and tagged by the hash of what goes into it; a
profile image is built FROM its stack, untagged: tags come only after its smoke test.
"""

from __future__ import annotations

import collections
import hashlib
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import docker

from gptoss_images.errors import Problem, UserError
from gptoss_images.image import context
from gptoss_images.profiles.schema import Profile
from gptoss_images.render import locks, naming, outputs
from gptoss_images.render.families import Family
from gptoss_images.render.stacks import Stack

STEP = re.compile(r"^Step (\d+)/(\d+) : (.*)$")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass(frozen=True)
class BuildInputs:
    """The documented build inputs: base image, package index, CA bundle, cache."""

    base_image: str | None = None
    index_url: str | None = None
    ca_bundle: Path | None = None
    no_cache: bool = False
    stack_registry: str | None = None
    """A repository whose -stack images to pull instead of building a stack (the nightly's matrix)."""

    def buildargs(self) -> dict[str, str]:
        args = {}
        if self.base_image:
            args["BASE_IMAGE"] = self.base_image
        if self.index_url:
            args["PIP_INDEX_URL"] = self.index_url
        return args


@dataclass
class Built:
    profile: str
    image_id: str
    seconds: float
    size: int
    tags: list[str] = field(default_factory=list)


class BuildFailed(UserError):
    pass


class StepPrinter:
    """Prints `[h100] step 7/24 RUN ... (42.0 s)` as each step ends; keeps the last lines."""

    def __init__(self, profile: str, quiet: bool, out: Callable[[str], None] | None = None):
        self.profile, self.quiet = profile, quiet
        self.out = out or (lambda line: print(line, file=sys.stderr, flush=True))
        self.step: tuple[str, str, str] | None = None
        self.started = time.monotonic()
        self.cached = False
        self.tail: collections.deque[str] = collections.deque(maxlen=15)

    def line(self, text: str) -> None:
        text = ANSI.sub("", text)
        match = STEP.match(text)
        if match:
            self.finish()
            self.step, self.started, self.cached = match.groups(), time.monotonic(), False
            self.tail.clear()
        elif text.strip() == "---> Using cache":
            self.cached = True
        elif text.strip() and not text.startswith((" --->", "Removing intermediate")):
            self.tail.append(text.rstrip())

    def finish(self) -> None:
        if self.step and not self.quiet:
            number, total, instruction = self.step
            took = "cached" if self.cached else f"{time.monotonic() - self.started:.1f} s"
            short = instruction if len(instruction) <= 90 else instruction[:87] + "..."
            self.out(f"[{self.profile}] step {number}/{total} {short} ({took})")
        self.step = None

    def where(self) -> str:
        return f"step {self.step[0]}/{self.step[1]} {self.step[2][:120]}" if self.step else "before the first step"


def stack_ref(stack: Stack, inputs: BuildInputs, repo: str) -> str:
    """REPO-stack:<name>-<hash>: the stack's own hash (its declared inputs, Dockerfile and the files it copies),
    joined by a replaced base image or index (what goes into the image then differs). Nothing is read from the
    engine: the id is the same whether or not the base image is here."""
    extra = f"|{inputs.base_image}|{inputs.index_url}"
    digest = hashlib.sha256(f"{stack.digest}{extra}|".encode()).hexdigest() if extra != "|None|None" else stack.digest
    return f"{repo}-stack:{stack.name}-{digest[:12]}"


def remote_stack(registry_repo: str, ref: str) -> str:
    """Where a stack is kept in a registry: REGISTRY_REPO-stack:<name>-<hash>."""
    return f"{registry_repo}-stack:{ref.rsplit(':', 1)[1]}"


def build_stack(client: docker.DockerClient, stack: Stack, inputs: BuildInputs, repo: str, quiet: bool = False,
                docker_dir: Path = outputs.DOCKER_DIR) -> str:
    """The stack's image: the local one, else the registry's (with `stack_registry`), else built and
    tagged (with --no-cache, always built)."""
    stale = locks.stale([stack])
    if stale:  # its Dockerfile would install the old lock under the new pins
        raise UserError([Problem("", line) for line in stale])
    ref = stack_ref(stack, inputs, repo)
    say: Callable[[str], None] = (lambda s: None) if quiet else (
        lambda s: print(f"[stack {stack.name}] {s}", file=sys.stderr, flush=True))
    if not inputs.no_cache:
        try:
            client.images.get(ref)
            say(f"{ref} is built already")
            return ref
        except docker.errors.ImageNotFound:
            pass
        if inputs.stack_registry:
            remote = remote_stack(inputs.stack_registry, ref)
            started = time.monotonic()
            try:
                client.images.pull(remote).tag(*ref.rsplit(":", 1))
                say(f"pulled {remote} ({time.monotonic() - started:.0f} s): not built here")
                return ref
            except docker.errors.APIError as exc:
                say(f"{remote} is not in the registry ({str(exc.explanation or exc)[:80]}): building it")
    built = _build(client, stack.dockerfile, f"stack {stack.name}", inputs, inputs.buildargs(), {}, quiet, docker_dir)
    client.images.get(built.image_id).tag(*ref.rsplit(":", 1))
    # The build stage (a second copy of the stack, with the build's CA) is of no further use once the
    # stack is tagged: the stack is built once per pin. Its layers are dropped (about 9 GB).
    dropped = client.images.prune(filters={"dangling": True, "label": f"io.gptoss.stack-build={stack.name}"})
    if not quiet and dropped.get("SpaceReclaimed"):
        print(f"[stack {stack.name}] dropped its build stage ({dropped['SpaceReclaimed'] / 1e9:.1f} GB)",
              file=sys.stderr, flush=True)
    return ref


def build(client: docker.DockerClient, target: Profile | Family, inputs: BuildInputs, labels: dict[str, str],
          quiet: bool = False, docker_dir: Path = outputs.DOCKER_DIR, repo: str = naming.DEFAULT_REPO,
          stack: Stack | None = None) -> Built:
    """Build a profile's docker/<profile>/Dockerfile or a vendor image's (FROM its stack, built first if
    need be); the untagged image."""
    started = time.monotonic()
    first = target.first if isinstance(target, Family) else target
    args = {"BASE_IMAGE": inputs.base_image or first.base_image}
    if stack is not None:
        args["STACK_IMAGE"] = build_stack(client, stack, inputs, repo, quiet, docker_dir)
    else:
        args.update(inputs.buildargs())
    dockerfile = target.dockerfile if isinstance(target, Family) else f"docker/{target.name}/Dockerfile"
    built = _build(client, dockerfile, target.name, inputs, args, labels, quiet, docker_dir)
    built.seconds = time.monotonic() - started
    return built


def _run_steps(dockerfile: Path) -> set[str]:
    """The commands of the Dockerfile's RUN instructions, as the classic builder hands them to `/bin/sh -c`."""
    text = re.sub(r"\\\n", "", dockerfile.read_text())
    return {line.strip()[4:].strip() for line in text.splitlines() if line.strip().startswith("RUN ")}


def _clean_up(client: docker.DockerClient, containers: set[str], images: set[str], steps: set[str],
              quiet: bool) -> None:
    """Remove what an interrupted build made: its step's container (one that runs a RUN of this Dockerfile)
    and its untagged intermediate images; never a container or image that was there before it began, nor a
    tagged one."""
    time.sleep(2)  # the engine stops the step's container once it sees the client gone
    for container in client.containers.list(all=True):
        command = " ".join((container.attrs.get("Config") or {}).get("Cmd") or [])
        if container.id not in containers and any(step in command for step in steps):
            try:
                container.remove(force=True)
            except docker.errors.APIError:
                pass
    for image in sorted(client.images.list(all=True), key=lambda i: i.attrs.get("Created", ""), reverse=True):
        if image.id not in images and not image.tags:
            try:
                client.images.remove(image.id, noprune=True)
            except docker.errors.APIError:  # the parent of another: removed after it, or kept
                pass
    if not quiet:
        print("interrupted: the build's container and intermediate images removed", file=sys.stderr, flush=True)


def _build(client: docker.DockerClient, dockerfile: str, name: str, inputs: BuildInputs, buildargs: dict[str, str],
           labels: dict[str, str], quiet: bool, docker_dir: Path) -> Built:
    stream = context.tar(dockerfile, docker_dir, inputs.ca_bundle)
    printer = StepPrinter(name, quiet)
    started = time.monotonic()
    image_id = None
    containers = {c.id for c in client.containers.list(all=True)}
    images = {i.id for i in client.images.list(all=True)}
    steps = _run_steps(docker_dir / Path(dockerfile).relative_to("docker"))
    try:
        for chunk in client.api.build(fileobj=stream, custom_context=True, dockerfile=dockerfile, rm=True,
                                      forcerm=True, decode=True, buildargs=buildargs, labels=labels,
                                      nocache=inputs.no_cache, pull=False):
            for text in chunk.get("stream", "").splitlines():
                printer.line(text)
            if "aux" in chunk and "ID" in chunk["aux"]:
                image_id = chunk["aux"]["ID"]
            if "error" in chunk:
                tail = "\n".join(f"    {t}" for t in printer.tail)
                raise BuildFailed(f"[{name}] build failed at {printer.where()}: {chunk['error'].strip()}",
                                  f"  last output:\n{tail}")
    except docker.errors.APIError as exc:
        raise BuildFailed(f"[{name}] build failed: {exc.explanation or exc}") from None
    except BaseException:  # interrupted (Ctrl-C, SIGTERM): leave nothing of this build behind
        _clean_up(client, containers, images, steps, quiet)
        raise
    printer.finish()
    if image_id is None:
        raise BuildFailed(f"[{name}] build ended without an image")
    image = client.images.get(image_id)
    return Built(name, image.id, time.monotonic() - started, image.attrs["Size"])
