"""The build context as a tar stream: the repository root as .dockerignore allows it, like the CLI.

It carries the same files, directories and modes as `docker build -f docker/<profile>/Dockerfile .`
sends, so both ways of building share their layer cache. Two things may differ: the
generated files come from another docker/ folder when one is given, and a CA bundle
travels as build-certs/extra-ca.pem in the stream only (the checkout is never written to).
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

from docker.utils.build import exclude_paths

from gptoss_images import REPO
from gptoss_images.core import files
from gptoss_images.errors import UserError

CA_PATH = "build-certs/extra-ca.pem"


def tar(dockerfile: str, docker_dir: Path, ca_bundle: Path | None, root: Path = REPO) -> io.BytesIO:
    """The context for `dockerfile` (relative to the root, e.g. docker/h100/Dockerfile)."""
    own = docker_dir / Path(dockerfile).relative_to("docker")
    if not own.is_file():
        raise UserError(f"{own}: missing; run `python build.py render`")
    ca = read_ca(ca_bundle) if ca_bundle else None
    patterns = [line.strip() for line in (root / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    entries = {rel: root / rel for rel in exclude_paths(str(root), list(patterns), dockerfile=dockerfile)}
    if docker_dir.resolve() != (root / "docker").resolve():  # generated files rendered elsewhere
        entries = {rel: path for rel, path in entries.items() if not rel.startswith("docker/")}
        entries.update({f"docker/{rel}": docker_dir / rel for rel in exclude_paths(
            str(docker_dir), [], dockerfile=own.relative_to(docker_dir).as_posix())})
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for rel in sorted(entries):
            if ca is not None and rel == CA_PATH:
                continue
            path = entries[rel]
            info = archive.gettarinfo(str(path), rel)
            info.uid, info.gid, info.uname, info.gname = 0, 0, "", ""
            if info.isreg():
                with path.open("rb") as handle:
                    archive.addfile(info, handle)
            else:
                archive.addfile(info)
        if ca is not None:
            info = tarfile.TarInfo(CA_PATH)
            info.size, info.mode = len(ca), 0o644
            archive.addfile(info, io.BytesIO(ca))
    buffer.seek(0)
    return buffer


def read_ca(path: Path) -> bytes:
    """A CA bundle's bytes, or one clear error."""
    try:
        data = files.read_bytes(path, 16 * files.MiB)
    except FileNotFoundError:
        raise UserError(f"--ca-bundle {path}: no such file") from None
    except files.Unreadable as exc:
        raise UserError(f"--ca-bundle {path}: {exc.reason}") from None
    if b"-----BEGIN CERTIFICATE-----" not in data:
        raise UserError(f"--ca-bundle {path}: not a PEM bundle (no BEGIN CERTIFICATE line)")
    return data
