"""Compile a folder's bytecode by source hash, then cut it into N layer folders of similar size.

Run in an image's build stage (standard library).

usage: layers.py SOURCE TARGET N

First the bytecode: every module of SOURCE compiled with its source's hash, not its
timestamp (what SOURCE_DATE_EPOCH asks of Python; the interpreter checks the hash at
import), so that a start never compiles again and two builds write the same .pyc.
Then every file of SOURCE moves into TARGET/1 .. TARGET/N, each under its full path, so
that `COPY --from=build TARGET/<i>/ /` N times rebuilds SOURCE as N layers that a
registry push compresses, and a pull decompresses, side by side. A folder larger
than a part's share is split into its children; units go, largest first, to the
lightest part. The same folder always gives the same split (settle.py then gives every
file one time).
"""

import compileall
import py_compile
import shutil
import sys
from pathlib import Path


def size(path: Path) -> int:
    if path.is_symlink() or not path.is_dir():
        return path.lstat().st_size
    return sum(size(child) for child in path.iterdir())


def units(folder: Path, limit: int) -> list[tuple[int, Path]]:
    """The pieces to distribute: files, links and folders no larger than `limit`."""
    found = []
    for child in sorted(folder.iterdir()):
        bytes_ = size(child)
        if child.is_dir() and not child.is_symlink() and bytes_ > limit and any(child.iterdir()):
            found += units(child, limit)
        else:
            found.append((bytes_, child))
    return found


def main(source: str, target: str, count: str) -> None:
    root, out, parts = Path(source), Path(target), int(count)
    compileall.compile_dir(root, quiet=2, force=True, workers=0,
                           invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH)  # a file that fails stays
    total = size(root)
    loads = [0] * parts
    for bytes_, path in sorted(units(root, max(1, total // (parts * 2))), key=lambda u: (-u[0], str(u[1]))):
        part = loads.index(min(loads))
        loads[part] += bytes_
        destination = out / str(part + 1) / path.relative_to("/")
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(path, destination)  # a rename, or a copy where overlayfs cannot rename (an older layer's)
    for part in range(parts):
        (out / str(part + 1) / root.relative_to("/")).mkdir(parents=True, exist_ok=True)
    print("layers:", ", ".join(f"{i + 1}: {load / 1e9:.2f} GB" for i, load in enumerate(loads)))


if __name__ == "__main__":
    main(*sys.argv[1:])
