"""A build context as a tar stream: docker/<profile>/ plus the build's CA bundle."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

from gptoss_images.errors import UserError

CA_PATH = "build-certs/extra-ca.pem"


def tar(context_dir: Path, ca_bundle: Path | None) -> io.BytesIO:
    """The context, with `ca_bundle` as build-certs/extra-ca.pem if given.

    The committed folder is never written to: the CA travels in the stream only.
    """
    if not (context_dir / "Dockerfile").is_file():
        raise UserError(f"{context_dir}/Dockerfile: missing; run `python build.py render`")
    ca = _read_ca(ca_bundle) if ca_bundle else None
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for path in sorted(context_dir.rglob("*")):
            rel = path.relative_to(context_dir).as_posix()
            if path.is_file() and not (ca is not None and rel == CA_PATH):
                info = archive.gettarinfo(str(path), rel)
                info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
                with path.open("rb") as handle:
                    archive.addfile(info, handle)
        if ca is not None:
            info = tarfile.TarInfo(CA_PATH)
            info.size, info.mode = len(ca), 0o644
            archive.addfile(info, io.BytesIO(ca))
    buffer.seek(0)
    return buffer


def _read_ca(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UserError(f"--ca-bundle {path}: cannot read it ({exc.strerror})") from None
    if b"-----BEGIN CERTIFICATE-----" not in data:
        raise UserError(f"--ca-bundle {path}: not a PEM bundle (no BEGIN CERTIFICATE line)")
    return data
