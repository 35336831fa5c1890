"""Tags and labels are pure functions of the release."""

import pytest

from gptoss_images.errors import UserError
from gptoss_images.image import tags
from gptoss_images.profiles import catalog
from gptoss_images.render import naming

RELEASE = tags.Release("h100", "0.10.2", "20261125", "0123456789abcdef0123456789abcdef01234567")


def test_floating_and_immutable_tags():
    assert tags.floating("localhost:5000/gptoss", "h100") == "localhost:5000/gptoss:gptoss-h100"
    assert tags.immutable("ghcr.io/acme/gptoss-images", RELEASE) == \
        "ghcr.io/acme/gptoss-images:gptoss-h100-vllm0.10.2-20261125-0123456789ab"
    assert tags.all_tags("gptoss", RELEASE)[-1] == "gptoss:gptoss-h100"  # floating moves last


@pytest.mark.parametrize("repo", ["Gptoss", "localhost:5000/", "a//b", "-x", "host:port/x", "x:y:z", ""])
def test_invalid_repositories_are_one_clear_error(repo):
    with pytest.raises(UserError, match="not a valid image repository"):
        tags.floating(repo, "h100")


def test_labels_carry_oci_and_profile_facts():
    labels = naming.build_labels("h100", "0.10.2", "20261125", RELEASE.revision, "2026-11-25T00:00:00Z")
    assert labels == {"org.opencontainers.image.revision": RELEASE.revision,
                      "org.opencontainers.image.version": "h100-vllm0.10.2-20261125",
                      "org.opencontainers.image.created": "2026-11-25T00:00:00Z"}
    static = naming.static_labels(catalog.load()["h100"], "abc")
    assert static["io.gptoss.profile-hash"] == "abc" and static["io.gptoss.base-image"] == "${BASE_IMAGE}"
    assert {"org.opencontainers.image.source", "org.opencontainers.image.title", "org.opencontainers.image.description",
            "io.gptoss.profile", "io.gptoss.vllm-version"} <= set(static)


def test_split_reference():
    assert tags.split("localhost:5000/a/b:gptoss-h100") == ("localhost:5000/a/b", "gptoss-h100")
    assert tags.split("localhost:5000/a") == ("localhost:5000/a", "latest")


def test_a_stacks_tag_is_what_the_dockerfile_header_says_whatever_the_engine_holds():
    """Read from the declared inputs alone: the tag the header prints, with or without the base image here (the
    engine is never asked); a replaced base image or index gives another."""
    from gptoss_images import REPO
    from gptoss_images.image.build import BuildInputs, stack_ref
    from gptoss_images.render import stacks

    stack = stacks.of("h100", stacks.with_digests(stacks.group(catalog.load())))
    ref = stack_ref(stack, BuildInputs(), "gptoss-images")
    assert f"-t {ref} ." in (REPO / "docker/h100/Dockerfile").read_text()
    mirrored = stack_ref(stack, BuildInputs(base_image="mirror.local/nvidia/cuda:13.0.2-base-ubuntu24.04"),
                         "gptoss-images")
    assert mirrored != ref and mirrored.startswith("gptoss-images-stack:cuda-current-")
