"""What an image is called and how it is labelled: the one place for both.

Static labels are rendered into each Dockerfile; the three that change with every
build (revision, version, created) are given at build time by the builder and by
the bake file's variables.
"""

from __future__ import annotations

from gptoss_images.profiles.schema import Profile

SOURCE = "https://github.com/gptoss-images/gptoss-images"
DEFAULT_REPO = "gptoss-images"


def title(profile: str) -> str:
    """The image's name within a repository, e.g. gptoss-h100: the floating tag."""
    return f"gptoss-{profile}"


def version(profile: str, vllm: str, date: str) -> str:
    return f"{profile}-vllm{vllm}-{date}"


def static_labels(profile: Profile, profile_hash: str) -> dict[str, str]:
    """Labels fixed by the profile; `${BASE_IMAGE}` is the build argument."""
    return {
        "org.opencontainers.image.source": SOURCE,
        "org.opencontainers.image.title": title(profile.name),
        "org.opencontainers.image.description": f"gpt-oss with vLLM on {profile.description}",
        "io.gptoss.profile": profile.name,
        "io.gptoss.profile-hash": profile_hash,
        "io.gptoss.vllm-version": profile.stack.vllm,
        "io.gptoss.base-image": "${BASE_IMAGE}",
    }


def family_labels(name: str, profiles: list[str], vllm: str) -> dict[str, str]:
    """Labels of a vendor image: the profiles it holds instead of one."""
    return {
        "org.opencontainers.image.source": SOURCE,
        "org.opencontainers.image.title": title(name),
        "org.opencontainers.image.description": f"gpt-oss with vLLM on {', '.join(profiles)}: the profile is "
                                                "picked at start from the GPUs found",
        "io.gptoss.profile": name,
        "io.gptoss.profiles": ",".join(profiles),
        "io.gptoss.vllm-version": vllm,
        "io.gptoss.base-image": "${BASE_IMAGE}",
    }


def build_labels(profile: str, vllm: str, date: str, revision: str, created: str) -> dict[str, str]:
    """Labels of one build: the commit, the release version, the time."""
    return {
        "org.opencontainers.image.revision": revision,
        "org.opencontainers.image.version": version(profile, vllm, date),
        "org.opencontainers.image.created": created,
    }
