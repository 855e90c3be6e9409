"""Builders of tiny random-weight checkpoints of the paper's models, saved with ``save_pretrained``.

Each builder writes a directory that looks exactly like a downloaded checkpoint (config, weights,
processor and tokenizer files), so the backends load it through the same ``from_pretrained(...,
local_files_only=True)`` path a user's real weights take. Weights are random (seeded): tests check
shapes, coordinates, bookkeeping and memory, never what the model "sees".

The architectures respect the constraints of transformers' implementations: GroundingDINO needs at
least 2 decoder layers; Sam2Video needs ``memory_encoder_output_channels == 64`` and hidden sizes of
at least 128 (its memory attention and object-pointer split assume it).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

# A word-piece vocabulary big enough for the phrases the tests use; unknown words map to [UNK].
_BERT_WORDS = (  # noqa: SIM905 (a word list reads better as one string)
    "[PAD] [UNK] [CLS] [SEP] [MASK] . , a the an of on in with to left right red blue green "
    "dog cat person man woman car bike horse ball sofa tree bird boat bus sitting standing running "
    "walking raised arm jumping big small ##s ##ing"
).split()


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread() -> Iterator[None]:
    """Import into a test module to run it with one torch thread: tiny models gain nothing from
    intra-op threads, and on a busy shared CPU spinning OpenMP workers make them many times slower.
    The previous setting is restored after the module."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP's reversible byte -> printable unicode mapping (the alphabet of byte-level BPE)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    printable += list(range(ord("®"), ord("ÿ") + 1))
    codes = printable[:]
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            codes.append(256 + extra)
            extra += 1
    return dict(zip(printable, (chr(c) for c in codes), strict=True))


def tiny_clip_tokenizer_files() -> tuple[dict[str, int], list[tuple[str, str]]]:
    """A small byte-level BPE vocabulary in CLIP's layout: every byte (plain and word-final), a few
    merges that build common words, then the start/end tokens."""
    alphabet = list(_bytes_to_unicode().values())
    vocab_list = alphabet + [c + "</w>" for c in alphabet]
    merges: list[tuple[str, str]] = []
    for word in ("sitting", "standing", "person", "dog", "arm", "raised", "with", "a", "photo", "of"):
        parts = [*word[:-1], word[-1] + "</w>"]
        while len(parts) > 1:
            pair = (parts[0], parts[1])
            merged = pair[0] + pair[1]
            if pair not in merges:
                merges.append(pair)
            if merged not in vocab_list:
                vocab_list.append(merged)
            parts = [merged, *parts[2:]]
    vocab_list += ["<|startoftext|>", "<|endoftext|>"]
    return {tok: i for i, tok in enumerate(vocab_list)}, merges


def build_tiny_groundingdino(directory: Path, *, image_short_edge: int = 64, image_long_edge: int = 96) -> Path:
    """A GroundingDINO checkpoint (Swin + BERT, d_model 32, 2+2 layers, 8 queries) with its processor.

    The processor keeps GroundingDINO's preprocessing (resize keeping aspect, ImageNet norm, pad)
    but with a small target size so a test frame is cheap.
    """
    from transformers import (
        BertTokenizer,
        GroundingDinoConfig,
        GroundingDinoForObjectDetection,
        GroundingDinoProcessor,
        SwinConfig,
    )
    from transformers.models.grounding_dino.image_processing_pil_grounding_dino import (
        GroundingDinoImageProcessorPil,
    )

    torch.manual_seed(0)
    swin = SwinConfig(
        window_size=7,
        embed_dim=8,
        depths=[1, 1, 1, 1],
        num_heads=[1, 1, 1, 1],
        image_size=image_long_edge,
        out_indices=[2, 3, 4],
    )
    text = {
        "model_type": "bert",
        "hidden_size": 16,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "intermediate_size": 16,
        "max_position_embeddings": 64,
        "vocab_size": len(_BERT_WORDS),
    }
    config = GroundingDinoConfig(
        backbone_config=swin,
        text_config=text,
        d_model=32,
        encoder_layers=1,
        decoder_layers=2,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=32,
        decoder_ffn_dim=32,
        num_queries=8,
        num_feature_levels=4,
        encoder_n_points=2,
        decoder_n_points=2,
        max_text_len=32,
    )
    model = GroundingDinoForObjectDetection(config).eval()
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    tokenizer = BertTokenizer(vocab={w: i for i, w in enumerate(_BERT_WORDS)})
    image_processor = GroundingDinoImageProcessorPil(
        size={"shortest_edge": image_short_edge, "longest_edge": image_long_edge}
    )
    GroundingDinoProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(directory)
    return directory


def tiny_sam2_video_config(image_size: int = 128) -> object:
    """A Sam2Video config with the smallest sizes its implementation accepts (see module docstring)."""
    from transformers import Sam2VideoConfig
    from transformers.models.sam2.configuration_sam2 import Sam2HieraDetConfig, Sam2VisionConfig

    backbone = Sam2HieraDetConfig(
        hidden_size=16,
        num_attention_heads=1,
        image_size=[image_size, image_size],
        blocks_per_stage=[1, 1, 2, 1],
        embed_dim_per_stage=[16, 32, 64, 128],
        num_attention_heads_per_stage=[1, 1, 1, 1],
        window_size_per_stage=[4, 4, 4, 4],
        global_attention_blocks=[3],  # not a stage-first block: those pool queries
        window_positional_embedding_background_size=[2, 2],
    )
    stride = image_size // 4
    vision = Sam2VisionConfig(
        backbone_config=backbone,
        backbone_channel_list=[128, 64, 32, 16],
        backbone_feature_sizes=[[stride, stride], [stride // 2, stride // 2], [stride // 4, stride // 4]],
        fpn_hidden_size=128,
    )
    return Sam2VideoConfig(
        vision_config=vision,
        prompt_encoder_config={"hidden_size": 128, "image_size": image_size, "patch_size": 16},
        mask_decoder_config={"hidden_size": 128, "mlp_dim": 128, "num_attention_heads": 2, "iou_head_hidden_dim": 32},
        image_size=image_size,
        memory_attention_hidden_size=128,
        memory_attention_num_layers=1,
        memory_attention_feed_forward_hidden_size=128,
        memory_attention_rope_feat_sizes=[stride // 4, stride // 4],
        memory_encoder_hidden_size=128,
        memory_encoder_output_channels=64,
        mask_downsampler_embed_dim=128,
        memory_fuser_embed_dim=128,
        memory_fuser_intermediate_dim=128,
    )


def build_tiny_sam2_video(directory: Path, *, image_size: int = 128) -> Path:
    """A Sam2Video checkpoint (Hiera 4 stages, hidden 128, input ``image_size`` px), weights only:
    the backend does its own torch preprocessing, so no processor files are needed (as with a real
    checkpoint's, whose image processor would need torchvision)."""
    from transformers import Sam2VideoModel

    torch.manual_seed(0)
    model = Sam2VideoModel(tiny_sam2_video_config(image_size)).eval()
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    return directory


def build_tiny_clip(directory: Path) -> Path:
    """A CLIP checkpoint (ViT 32 px / patch 8, text width 32, projection 16) with processor and a
    small byte-level BPE tokenizer in CLIP's format."""
    from transformers import CLIPConfig, CLIPModel, CLIPProcessor, CLIPTokenizer
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    torch.manual_seed(0)
    vocab, merges = tiny_clip_tokenizer_files()
    config = CLIPConfig(
        text_config={
            "vocab_size": len(vocab),
            "hidden_size": 32,
            "intermediate_size": 37,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "max_position_embeddings": 32,
            "bos_token_id": vocab["<|startoftext|>"],
            "eos_token_id": vocab["<|endoftext|>"],
            "pad_token_id": vocab["<|endoftext|>"],
        },
        vision_config={
            "hidden_size": 32,
            "intermediate_size": 37,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "image_size": 32,
            "patch_size": 8,
        },
        projection_dim=16,
    )
    model = CLIPModel(config).eval()
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    tokenizer = CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=32)
    image_processor = CLIPImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(directory)
    return directory
