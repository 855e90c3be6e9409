"""A tiny random-weight Llama GGUF around a real tokenizer, for tests and benchmarks.

It is a real llama.cpp model file (llama architecture, real Llama 3 vocabulary, merges and chat
template), so everything around the weights runs for real: loading, tokenisation, chat
templating, grammar-constrained sampling and the OpenAI-compatible server. Its answers are
noise; it is never a substitute for a trained model, only for the machinery that runs one.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

# Meta's Llama 3 Instruct chat template (the format Llama-3-8B-Instruct GGUF files carry).
LLAMA3_CHAT_TEMPLATE = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + "
    "message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}"
    "{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)
LLAMA3_EOT_ID = 128009  # <|eot_id|>: end of an assistant turn
_TOKENIZER_KEYS = (
    "tokenizer.ggml.model",
    "tokenizer.ggml.pre",
    "tokenizer.ggml.tokens",
    "tokenizer.ggml.token_type",
    "tokenizer.ggml.merges",
    "tokenizer.ggml.bos_token_id",
)


def build_tiny_llama_gguf(
    vocab_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    *,
    n_embd: int = 32,
    n_layer: int = 2,
    n_head: int = 4,
    n_ff: int = 64,
    n_ctx: int = 2048,
    seed: int = 0,
) -> Path:
    """Write a random-weight llama GGUF that uses the tokenizer of ``vocab_path``.

    The embedding (``n_vocab x n_embd``, tied with the output layer) is stored as Q8_0, so with
    the 128k Llama 3 vocabulary and ``n_embd=32`` the file is about 12 MB, most of it the vocabulary.

    Returns:
        ``out_path`` as a Path.
    """
    import gguf

    reader = gguf.GGUFReader(str(vocab_path))
    fields = {key: reader.fields[key].contents() for key in _TOKENIZER_KEYS}
    n_vocab = len(fields["tokenizer.ggml.tokens"])
    head_dim = n_embd // n_head
    out = Path(out_path)
    tmp = out.with_suffix(".tmp")
    writer = gguf.GGUFWriter(str(tmp), "llama")
    writer.add_name("parse-vos tiny random llama (test model, no trained weights)")
    writer.add_context_length(n_ctx)
    writer.add_embedding_length(n_embd)
    writer.add_block_count(n_layer)
    writer.add_feed_forward_length(n_ff)
    writer.add_head_count(n_head)
    writer.add_head_count_kv(n_head)
    writer.add_rope_dimension_count(head_dim)
    writer.add_rope_freq_base(500000.0)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_vocab_size(n_vocab)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_Q8_0)
    writer.add_tokenizer_model(fields["tokenizer.ggml.model"])
    writer.add_tokenizer_pre(fields["tokenizer.ggml.pre"])
    writer.add_token_list(fields["tokenizer.ggml.tokens"])
    writer.add_token_types(fields["tokenizer.ggml.token_type"])
    writer.add_token_merges(fields["tokenizer.ggml.merges"])
    writer.add_bos_token_id(int(fields["tokenizer.ggml.bos_token_id"]))
    writer.add_eos_token_id(LLAMA3_EOT_ID)
    writer.add_chat_template(LLAMA3_CHAT_TEMPLATE)

    rng = np.random.default_rng(seed)

    def dense(rows: int, cols: int) -> np.ndarray:
        return (rng.standard_normal((rows, cols)) / np.sqrt(cols)).astype(np.float32)

    embedding = rng.standard_normal((n_vocab, n_embd)).astype(np.float32)
    writer.add_tensor(
        "token_embd.weight",
        gguf.quants.quantize(embedding, gguf.GGMLQuantizationType.Q8_0),
        raw_dtype=gguf.GGMLQuantizationType.Q8_0,
    )
    writer.add_tensor("output_norm.weight", np.ones(n_embd, dtype=np.float32))
    for layer in range(n_layer):
        prefix = f"blk.{layer}."
        writer.add_tensor(prefix + "attn_norm.weight", np.ones(n_embd, dtype=np.float32))
        for name in ("attn_q", "attn_k", "attn_v", "attn_output"):
            writer.add_tensor(prefix + name + ".weight", dense(n_embd, n_embd))
        writer.add_tensor(prefix + "ffn_norm.weight", np.ones(n_embd, dtype=np.float32))
        writer.add_tensor(prefix + "ffn_gate.weight", dense(n_ff, n_embd))
        writer.add_tensor(prefix + "ffn_up.weight", dense(n_ff, n_embd))
        writer.add_tensor(prefix + "ffn_down.weight", dense(n_embd, n_ff))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    os.replace(tmp, out)  # atomic: a half-written model file never appears under the final name
    return out
