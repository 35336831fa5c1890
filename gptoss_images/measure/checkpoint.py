"""A synthetic gpt-oss checkpoint: the real architecture and MXFP4 format, seeded random values.

It runs beside vLLM in the image (torch and safetensors are the stack's). The config
is gpt-oss's own (GptOssForCausalLM, attention sinks, a 128-token sliding window on
alternate layers, yarn rope, the 201,088-token vocabulary, MXFP4 experts); `tiny`
keeps every kind of layer and tensor at a few hundred megabytes (hidden 1,024, two
layers), `full` is the real model's shapes. Experts are the real format: `*_blocks`
uint8 [experts, rows, cols/32, 16] (two FP4 values a byte), `*_scales` uint8
[experts, rows, cols/32] (E8M0 exponents, kept at 2^-10..2^-7 so activations stay
finite), bf16 biases. The same arguments write the same bytes with the same numpy, whatever
the machine: each tensor has its own generator (numpy's PCG64, seeded by the model's seed and
the tensor's name), so shards are written side by side, one process each (full 20b: 13 GB,
full 120b: 61 GB).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
import zlib
from pathlib import Path

import numpy
import torch
from safetensors.torch import save_file

REFERENCE = {
    "architectures": ["GptOssForCausalLM"], "model_type": "gpt_oss", "attention_bias": True,
    "attention_dropout": 0.0, "eos_token_id": 200002, "pad_token_id": 199999, "experts_per_token": 4,
    "num_experts_per_tok": 4, "head_dim": 64, "hidden_act": "silu", "hidden_size": 2880,
    "initial_context_length": 4096, "initializer_range": 0.02, "intermediate_size": 2880,
    "max_position_embeddings": 131072, "num_attention_heads": 64, "num_key_value_heads": 8,
    "num_hidden_layers": 24, "num_local_experts": 32, "output_router_logits": False,
    "rms_norm_eps": 1e-05, "rope_theta": 150000, "router_aux_loss_coef": 0.9, "sliding_window": 128,
    "swiglu_limit": 7.0, "tie_word_embeddings": False, "use_cache": True, "vocab_size": 201088,
    "rope_scaling": {"beta_fast": 32.0, "beta_slow": 1.0, "factor": 32.0, "original_max_position_embeddings": 4096,
                     "rope_type": "yarn", "truncate": False},
    "quantization_config": {"quant_method": "mxfp4", "modules_to_not_convert": [
        "model.layers.*.self_attn", "model.layers.*.mlp.router", "model.embed_tokens", "lm_head"]},
}
"""openai/gpt-oss-20b's config.json (layer_types is derived from the layer count)."""
LIKE = {"20b": {}, "120b": {"num_hidden_layers": 36, "num_local_experts": 128}}
SIZES = {"full": {}, "tiny": {"hidden_size": 1024, "intermediate_size": 1024, "num_hidden_layers": 2}}
GENERATION = {"bos_token_id": 199998, "eos_token_id": [200002, 199999, 200012], "pad_token_id": 199999,
              "do_sample": True}
BLOCK = 32
"""MXFP4: 32 values share one scale; two 4-bit values fill a byte."""
SCALES = (117, 121)
"""E8M0 exponents drawn from [117, 121): 2^-10 to 2^-7 (127 is 1.0)."""
STD = 0.02
WORKERS = 8
"""Shards written at once, at most: a full 120b layer holds 1.7 GB, so eight need ~30 GB of memory."""


def config(like: str = "20b", size: str = "tiny") -> dict:
    """The config.json of a synthetic model shaped like gpt-oss-`like`, at `size`."""
    found = {**REFERENCE, **LIKE[like], **SIZES[size]}
    found["layer_types"] = ["sliding_attention" if i % 2 == 0 else "full_attention"
                            for i in range(found["num_hidden_layers"])]
    return dict(sorted(found.items()))


def shapes(cfg: dict) -> dict[str, list[tuple[str, tuple[int, ...], torch.dtype]]]:
    """Every tensor by shard: name, shape and dtype, as gpt-oss's checkpoints name them."""
    hidden, inter, experts = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_local_experts"]
    q, kv = cfg["num_attention_heads"] * cfg["head_dim"], cfg["num_key_value_heads"] * cfg["head_dim"]
    bf16, u8 = torch.bfloat16, torch.uint8
    shards = {"embeddings": [("model.embed_tokens.weight", (cfg["vocab_size"], hidden), bf16),
                             ("model.norm.weight", (hidden,), bf16),
                             ("lm_head.weight", (cfg["vocab_size"], hidden), bf16)]}
    for i in range(cfg["num_hidden_layers"]):
        layer = f"model.layers.{i}"
        tensors = [(f"{layer}.input_layernorm.weight", (hidden,), bf16),
                   (f"{layer}.post_attention_layernorm.weight", (hidden,), bf16),
                   (f"{layer}.self_attn.sinks", (cfg["num_attention_heads"],), bf16)]
        for proj, rows, cols in (("q", q, hidden), ("k", kv, hidden), ("v", kv, hidden), ("o", hidden, q)):
            tensors += [(f"{layer}.self_attn.{proj}_proj.weight", (rows, cols), bf16),
                        (f"{layer}.self_attn.{proj}_proj.bias", (rows,), bf16)]
        tensors += [(f"{layer}.mlp.router.weight", (experts, hidden), bf16),
                    (f"{layer}.mlp.router.bias", (experts,), bf16)]
        for proj, rows, cols in (("gate_up_proj", 2 * inter, hidden), ("down_proj", hidden, inter)):
            tensors += [(f"{layer}.mlp.experts.{proj}_blocks", (experts, rows, cols // BLOCK, BLOCK // 2), u8),
                        (f"{layer}.mlp.experts.{proj}_scales", (experts, rows, cols // BLOCK), u8),
                        (f"{layer}.mlp.experts.{proj}_bias", (experts, rows), bf16)]
        shards[f"layer-{i}"] = tensors
    return shards


def tensor(name: str, shape: tuple[int, ...], dtype: torch.dtype, seed: int) -> torch.Tensor:
    """One tensor's values, from a generator seeded by the model's seed and the tensor's name."""
    gen = numpy.random.Generator(numpy.random.PCG64([seed, zlib.crc32(name.encode())]))
    if name.endswith("_scales"):
        return torch.from_numpy(gen.integers(*SCALES, shape, dtype=numpy.uint8))
    if name.endswith("_blocks"):
        return torch.from_numpy(gen.integers(0, 256, shape, dtype=numpy.uint8))
    if name.endswith(("norm.weight", ".sinks")):
        return torch.ones(shape, dtype=dtype)
    return (torch.from_numpy(gen.standard_normal(shape, dtype=numpy.float32)) * STD).to(dtype)


def write(folder: Path, like: str = "20b", size: str = "tiny", seed: int = 0) -> int:
    """Write config, generation config, shards and their index into `folder`; the bytes of weights."""
    cfg = config(like, size)
    shards = shapes(cfg)
    jobs = [(folder / f"model-{number:05d}-of-{len(shards):05d}.safetensors", tensors, seed)
            for number, tensors in enumerate(shards.values(), 1)]
    workers = max(1, min(WORKERS, os.cpu_count() or 1, len(jobs)))
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        written = pool.starmap(_shard, jobs, chunksize=1)
    weight_map, total = {}, 0
    for (path, tensors, _), size_ in zip(jobs, written):
        weight_map.update({name: path.name for name, _, _ in tensors})
        total += size_
    index = {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}
    files = {"config.json": cfg, "generation_config.json": GENERATION, "model.safetensors.index.json": index}
    for filename, data in files.items():
        (folder / filename).write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return total


def _shard(path: Path, tensors: list[tuple[str, tuple[int, ...], torch.dtype]], seed: int) -> int:
    """Write one shard; its bytes of weights."""
    values = {name: tensor(name, shape, dtype, seed) for name, shape, dtype in tensors}
    save_file(values, str(path), metadata={"format": "pt"})
    print(f"synthetic: {path.name} ({len(values)} tensors)", file=sys.stderr, flush=True)
    return sum(v.numel() * v.element_size() for v in values.values())
