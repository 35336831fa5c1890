"""Make a stack's build output the same bytes from the same inputs; run in its build stage (standard library).

usage: settle.py SBOM VOCAB_DIR|- LAYERS LOCK

Puts the SBOM, harmony's vocabulary (VOCAB_DIR, or - for none) and the lock the stack was
installed from (as requirements.lock) under LAYERS/meta/opt/gptoss/, the folder the
stack copies to / as one small layer; the
SBOM's creation time becomes SOURCE_DATE_EPOCH and its namespace a hash of what it
lists (syft writes the clock and a random UUID). Then every file, link and folder
under LAYERS gets the time SOURCE_DATE_EPOCH (default 1980-01-01): a layer's bytes then
depend on what was installed, not on when.
"""

import hashlib
import json
import os
import shutil
import sys
import time
from pathlib import Path

EPOCH = 315532800
"""1980-01-01, the earliest time a zip (a wheel) can hold: the default SOURCE_DATE_EPOCH."""
NAMESPACE = "https://github.com/gptoss-images/gptoss-images/sbom/"


def sbom(data: bytes, epoch: int) -> bytes:
    """The SPDX document with its creation time at `epoch` and a namespace derived from its content."""
    document = json.loads(data)
    document.setdefault("creationInfo", {})["created"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
    document["documentNamespace"] = ""
    digest = hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()
    document["documentNamespace"] = f"{NAMESPACE}{digest}"
    return (json.dumps(document, indent=2) + "\n").encode()


def main(sbom_path: str, vocab: str, layers: str, lock: str) -> None:
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH", EPOCH))
    meta = Path(layers, "meta", "opt", "gptoss")
    meta.mkdir(parents=True, exist_ok=True)
    (meta / "sbom.spdx.json").write_bytes(sbom(Path(sbom_path).read_bytes(), epoch))
    shutil.copyfile(lock, meta / "requirements.lock")
    if vocab != "-":
        shutil.copytree(vocab, meta / "tiktoken")
    root = Path(layers)
    for path in sorted(root.rglob("*"), reverse=True) + [root]:
        os.utime(path, (epoch, epoch), follow_symlinks=False)  # a link itself, not its target


if __name__ == "__main__":
    main(*sys.argv[1:])
