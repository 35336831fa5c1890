"""Which profiles have a GPU runner online: the nightly sends GPU jobs only there and holds the rest at once.

A job for a self-hosted runner label that no runner carries waits in GitHub's queue for up
to a day, and the publish job and the next night wait with it. The runners of the
repository are asked first (GitHub's REST API, a token that may read them); a profile
without an online runner labelled `self-hosted, gpu, <profile>` gets a GPU result of
"not run" with the reason, so that promote holds its image and the summary says why.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from gptoss_images.errors import UserError

LABELS = ("self-hosted", "gpu")
"""Every GPU runner's labels, besides the profile's own name."""


def online(api_url: str, repository: str, token: str, timeout: float = 30) -> list[set[str]]:
    """The label sets of the repository's self-hosted runners that are online."""
    found: list[set[str]] = []
    page = 1
    while True:
        url = f"{api_url.rstrip('/')}/repos/{repository}/actions/runners?per_page=100&page={page}"
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}",
                                                       "Accept": "application/vnd.github+json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                data = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            hint = ": give a token that may read the repository's runners (RUNNERS_TOKEN)" if exc.code in (
                401, 403, 404) else ""
            raise UserError(f"{url}: HTTP {exc.code}{hint}") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise UserError(f"{url}: no answer ({getattr(exc, 'reason', exc)})") from None
        runners = data.get("runners") or []
        found += [{label["name"] for label in r.get("labels") or []} for r in runners if r.get("status") == "online"]
        if len(runners) < 100:
            return found
        page += 1


def split(profiles: list[str], runners: list[set[str]]) -> tuple[list[str], list[str]]:
    """The profiles an online runner serves, and those none does."""
    served = [p for p in profiles if any({*LABELS, p} <= labels for labels in runners)]
    return served, [p for p in profiles if p not in served]


def missing_reason(profile: str) -> str:
    return (f"no online self-hosted runner labelled {', '.join(LABELS)}, {profile}: the GPU check did not run "
            "and the image is held")
