"""Read a file a person named, bounded: a regular file only, at most `limit` bytes.

A FIFO or a device never blocks the reader: it is opened without waiting and refused. The
reason for a refusal is words for one line."""

from __future__ import annotations

import os
import stat

MiB = 1024 * 1024
KINDS = {stat.S_IFIFO: "a named pipe (FIFO)", stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device",
         stat.S_IFSOCK: "a socket", stat.S_IFDIR: "a folder"}


class Unreadable(OSError):
    """Why a named file cannot be read, in words (`reason`)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def read_bytes(path: str | os.PathLike[str], limit: int) -> bytes:
    """The bytes of the regular file at `path`; Unreadable (FileNotFoundError when it does not exist)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise Unreadable(f"cannot read it ({exc.strerror})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = KINDS.get(stat.S_IFMT(info.st_mode), "not a regular file")
            raise Unreadable(f"{kind}, not a regular file")
        if info.st_size > limit:
            raise Unreadable(f"{info.st_size / MiB:.1f} MiB; the limit is {limit / MiB:g} MiB")
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(limit + 1)
    except Unreadable:
        raise
    except OSError as exc:
        raise Unreadable(f"cannot read it ({exc.strerror})") from None
    finally:
        os.close(fd)
    if len(data) > limit:
        raise Unreadable(f"more than {limit / MiB:g} MiB")
    return data


def read_text(path: str | os.PathLike[str], limit: int) -> str:
    """The UTF-8 text of the regular file at `path`; Unreadable names the line of a byte that is not UTF-8."""
    data = read_bytes(path, limit)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise Unreadable(f"line {line}: not valid UTF-8 (byte 0x{data[exc.start]:02x}); save it as UTF-8") from None

