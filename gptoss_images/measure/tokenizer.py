"""Build gpt-oss's tokenizer offline: o200k_base's ranks and harmony's special tokens, for Hugging Face.

The vocabulary is o200k_base.tiktoken (the file the images bake for harmony, SHA-256 checked by
tiktoken). The encoding is tiktoken's own o200k_harmony (its split pattern and its
special tokens at 199998-201087); transformers' TikTokenConverter turns its ranks into a
`tokenizers` BPE, and the special tokens are added in id order, so every id is tiktoken's.
It runs beside vLLM in the image (tiktoken, tokenizers and transformers are the stack's);
the same inputs write the same bytes.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

import tiktoken
import tiktoken_ext.openai_public as openai_public
from tokenizers import AddedToken
from transformers import PreTrainedTokenizerFast
from transformers.convert_slow_tokenizer import TikTokenConverter

SOURCE = "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken"
"""Where tiktoken's o200k_base reads its ranks from: tiktoken looks in its cache under this name's SHA-1."""
ROLES = {"bos_token": "<|startoftext|>", "eos_token": "<|return|>", "pad_token": "<|endoftext|>"}
"""As gpt-oss's tokenizer_config.json names them."""


def harmony(vocab: Path) -> tiktoken.Encoding:
    """tiktoken's o200k_harmony, its ranks read from `vocab` instead of the network."""
    with tempfile.TemporaryDirectory() as cache:
        shutil.copyfile(vocab, Path(cache, hashlib.sha1(SOURCE.encode()).hexdigest()))
        saved = os.environ.get("TIKTOKEN_CACHE_DIR")
        os.environ["TIKTOKEN_CACHE_DIR"] = cache
        try:
            spec = openai_public.o200k_harmony()
        finally:
            if saved is None:
                del os.environ["TIKTOKEN_CACHE_DIR"]
            else:
                os.environ["TIKTOKEN_CACHE_DIR"] = saved
    return tiktoken.Encoding(spec["name"], pat_str=spec["pat_str"], mergeable_ranks=spec["mergeable_ranks"],
                             special_tokens=spec["special_tokens"])


def specials(encoding: tiktoken.Encoding) -> list[str]:
    """The special tokens in id order, one name per id (the first tiktoken gives it)."""
    by_id: dict[int, str] = {}
    for name, token in encoding._special_tokens.items():
        by_id.setdefault(token, name)
    ids = sorted(by_id)
    if ids != list(range(encoding.n_vocab - len(ids), encoding.n_vocab)):
        raise ValueError("tokenizer.py: harmony's special tokens are not the last ids of the vocabulary")
    return [by_id[i] for i in ids]


def write(vocab: Path, folder: Path) -> None:
    """Write tokenizer.json and tokenizer_config.json (and what else this transformers saves) into `folder`."""
    encoding = harmony(vocab)
    converted = TikTokenConverter(vocab_file=str(vocab), pattern=encoding._pat_str,
                                  additional_special_tokens=[]).converted()
    names = specials(encoding)
    converted.add_special_tokens([AddedToken(name, special=True, normalized=False) for name in names])
    first = encoding.n_vocab - len(names)
    wrong = [name for i, name in enumerate(names, first) if converted.token_to_id(name) != i]
    if wrong:
        raise ValueError(f"tokenizer.py: {wrong[0]} did not get tiktoken's id {first + names.index(wrong[0])}")
    PreTrainedTokenizerFast(tokenizer_object=converted, model_max_length=131072, **ROLES).save_pretrained(str(folder))
