"""Tags and labels are pure functions of the release."""

import pytest

from gptoss_images import tags
from gptoss_images.errors import UserError

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
    labels = tags.labels(RELEASE, title="gptoss-h100", description="d", created="2026-11-25T00:00:00Z",
                         profile_hash="abc", base_image="nvidia/cuda:12.8.1-devel-ubuntu24.04")
    assert labels["org.opencontainers.image.revision"] == RELEASE.revision
    assert labels["org.opencontainers.image.version"] == "h100-vllm0.10.2-20261125"
    assert labels["io.gptoss.profile-hash"] == "abc"
    assert {"org.opencontainers.image.source", "org.opencontainers.image.created",
            "org.opencontainers.image.title", "org.opencontainers.image.description",
            "io.gptoss.profile", "io.gptoss.vllm-version", "io.gptoss.base-image"} <= set(labels)


def test_split_reference():
    assert tags.split("localhost:5000/a/b:gptoss-h100") == ("localhost:5000/a/b", "gptoss-h100")
    assert tags.split("localhost:5000/a") == ("localhost:5000/a", "latest")
