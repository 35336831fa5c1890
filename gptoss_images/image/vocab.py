"""Write openai-harmony's o200k_base.tiktoken from the quicktok-v1 wheel, SHA-256 checked.

usage: make_vocab.py WHEEL OUT_DIR SHA256

The wheel's quicktok/data/o200k.vocab holds a little-endian u32 count, then per
token a u16 length, the token's bytes and a u32 rank; sorted by rank and written
as "base64(bytes) rank" lines it is the official file, byte for byte.
"""

import base64
import hashlib
import struct
import sys
import zipfile
from pathlib import Path


def main(wheel: str, out_dir: str, sha256: str) -> None:
    data = zipfile.ZipFile(wheel).read("quicktok/data/o200k.vocab")
    (count,), pos, tokens = struct.unpack_from("<I", data), 4, []
    for _ in range(count):
        (length,) = struct.unpack_from("<H", data, pos)
        token = data[pos + 2:pos + 2 + length]
        (rank,) = struct.unpack_from("<I", data, pos + 2 + length)
        tokens.append((rank, token))
        pos += 6 + length
    text = b"".join(base64.b64encode(t) + b" %d\n" % r for r, t in sorted(tokens))
    digest = hashlib.sha256(text).hexdigest()
    if digest != sha256:
        sys.exit(f"make_vocab.py: o200k_base.tiktoken has SHA-256 {digest}, expected {sha256}")
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    Path(out_dir, "o200k_base.tiktoken").write_bytes(text)


if __name__ == "__main__":
    main(*sys.argv[1:])
