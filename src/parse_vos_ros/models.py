"""The paper's model weights: where they come from, how to fetch them, how to check them.

A *profile* (``paper``, ``jetson``) names one checkpoint per learned part. ``download`` fetches them
with huggingface_hub (for users who have internet), ``verify_*`` checks local files without loading
the models (config present and of the right model type, weight files complete: a truncated
safetensors or GGUF file is caught from its own header), and ``require_model`` is what every
transformers backend calls in ``from_config``: it raises ``BackendLoadError`` naming the file and
the command that fixes it, so ``fallback: embedded`` can take over.

This module imports neither torch nor transformers.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import yaml

from parse_vos_ros.atomic import atomic_write_text
from parse_vos_ros.backends import BackendLoadError
from parse_vos_ros.config import Config, config_from_dict, load_config, resolve_profile

Kind = Literal["groundingdino", "sam2", "clip", "gguf"]

# The ``model_type`` values a checkpoint's config.json may carry for each kind.
MODEL_TYPES: dict[str, tuple[str, ...]] = {
    "groundingdino": ("grounding-dino",),
    "sam2": ("sam2_video", "sam2"),  # the facebook/sam2.1-* checkpoints load into Sam2VideoModel
    "clip": ("clip",),
}
# Kinds whose directory must also hold image-processor settings and a tokenizer (the SAM2 backend
# does its own torch preprocessing). Hub checkpoints store the former as preprocessor_config.json,
# transformers >= 5 saves processor_config.json; either is fine.
NEEDS_PROCESSOR = ("groundingdino", "clip")
PROCESSOR_FILES = ("preprocessor_config.json", "processor_config.json")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")
_HUB_PATTERNS = ["*.json", "*.safetensors", "*.txt", "*.model"]
# The dotted config key that points each kind's backend at its checkpoint.
CONFIG_KEYS: dict[Kind, str] = {
    "groundingdino": "grounding.model_path",
    "sam2": "tracking.model_path",
    "clip": "pose.model_path",
    "gguf": "llm.model_path",
}


@dataclass(frozen=True)
class ModelSpec:
    """One checkpoint of a profile.

    Attributes:
        kind: which backend reads it.
        repo_id: Hugging Face Hub repository.
        filename: for single-file checkpoints (GGUF), the file inside the repository.
    """

    kind: Kind
    repo_id: str
    filename: str = ""

    @property
    def local_name(self) -> str:
        """Directory (or file) name under the download directory: the file, else the repository's name."""
        return self.filename or self.repo_id.rsplit("/", 1)[-1]

    @property
    def config_key(self) -> str:
        """The dotted config key that must point at it."""
        return CONFIG_KEYS[self.kind]


PROFILES: dict[str, tuple[ModelSpec, ...]] = {
    # The paper's setting: GroundingDINO-B, SAM2.1-L, CLIP ViT-L/14, Llama-3-8B-Instruct (Q4_K_M).
    "paper": (
        ModelSpec("groundingdino", "IDEA-Research/grounding-dino-base"),
        ModelSpec("sam2", "facebook/sam2.1-hiera-large"),
        ModelSpec("clip", "openai/clip-vit-large-patch14"),
        ModelSpec("gguf", "bartowski/Meta-Llama-3-8B-Instruct-GGUF", "Meta-Llama-3-8B-Instruct-Q4_K_M.gguf"),
    ),
    # Lighter models for an embedded GPU (Jetson Orin class).
    "jetson": (
        ModelSpec("groundingdino", "IDEA-Research/grounding-dino-tiny"),
        ModelSpec("sam2", "facebook/sam2.1-hiera-tiny"),
        ModelSpec("clip", "openai/clip-vit-base-patch32"),
        ModelSpec("gguf", "bartowski/Llama-3.2-3B-Instruct-GGUF", "Llama-3.2-3B-Instruct-Q4_K_M.gguf"),
    ),
}


class HubClient(Protocol):
    """The two huggingface_hub functions ``download`` uses (the module itself satisfies this)."""

    def snapshot_download(self, repo_id: str, *, local_dir: str, allow_patterns: list[str]) -> str: ...

    def hf_hub_download(self, repo_id: str, filename: str, *, local_dir: str) -> str: ...


def fix_hint(key: str, profile: str = "paper") -> str:
    """The sentence every weight error ends with."""
    return (
        f"fix: run `parse-vos models download --profile {profile} --dir DIR` and use the config it writes, "
        f"or set {key} to a local checkpoint"
    )


# --- verification -------------------------------------------------------------------------------


def verify_safetensors(path: Path) -> str | None:
    """None when ``path`` is a complete safetensors file, else what is wrong.

    The format is an 8-byte little-endian header length, a JSON header giving every tensor's byte
    range, then the data; a download cut short leaves a file shorter than the largest range's end.
    """
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            raw_len = fh.read(8)
            if len(raw_len) < 8:
                return f"{path} is not a safetensors file (only {size} bytes)"
            (header_len,) = struct.unpack("<Q", raw_len)
            if header_len <= 0 or 8 + header_len > size:
                return f"{path} is truncated or not a safetensors file (header length {header_len}, size {size})"
            header = json.loads(fh.read(header_len))
    except (OSError, ValueError) as exc:
        return f"{path} cannot be read as safetensors ({exc})"
    ends = [int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"]
    expected = 8 + header_len + max(ends, default=0)
    if size < expected:
        return f"{path} is truncated: {size} bytes, its header needs {expected}"
    return None


def verify_gguf(path: Path) -> str | None:
    """None when ``path`` is a readable GGUF file whose tensors all lie inside the file."""
    if not path.is_file():
        return f"{path} does not exist"
    try:
        with open(path, "rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        return f"{path} cannot be read ({exc})"
    if magic != b"GGUF":
        return f"{path} is not a GGUF file (magic {magic!r})"
    try:
        from gguf import GGUFReader

        reader = GGUFReader(str(path))
        size = path.stat().st_size
        for tensor in reader.tensors:
            if int(tensor.data_offset) + int(tensor.n_bytes) > size:
                return f"{path} is truncated: tensor '{tensor.name}' ends past the end of the file"
    except ImportError:
        return None  # the magic is all that can be checked without the gguf package
    except (OSError, ValueError, IndexError, KeyError, struct.error) as exc:
        return f"{path} is corrupt or truncated ({type(exc).__name__}: {exc})"
    return None


def _weight_files(directory: Path) -> list[Path] | str:
    index = directory / "model.safetensors.index.json"
    if index.is_file():
        try:
            shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        except (OSError, ValueError, KeyError) as exc:
            return f"{index} is unreadable ({exc})"
        return [directory / s for s in shards]
    single = directory / "model.safetensors"
    if single.is_file():
        return [single]
    return f"no model.safetensors (or sharded index) in {directory}"


def verify_model_dir(path: str | os.PathLike[str], kind: Kind) -> list[str]:
    """Problems with a local checkpoint of ``kind`` (empty when it looks complete)."""
    target = Path(path).expanduser()
    if kind == "gguf":
        problem = verify_gguf(target)
        return [problem] if problem else []
    if not target.is_dir():
        return [f"{target} is not a directory"]
    problems: list[str] = []
    config_file = target / "config.json"
    try:
        model_type = json.loads(config_file.read_text()).get("model_type", "")
        if model_type not in MODEL_TYPES[kind]:
            problems.append(f"{config_file} has model_type '{model_type}', expected one of {list(MODEL_TYPES[kind])}")
    except (OSError, ValueError) as exc:
        problems.append(f"{config_file} is missing or unreadable ({type(exc).__name__})")
    weights = _weight_files(target)
    if isinstance(weights, str):
        problems.append(weights)
    else:
        problems.extend(p for p in (verify_safetensors(w) for w in weights) if p)
    if kind in NEEDS_PROCESSOR:
        for names in (PROCESSOR_FILES, TOKENIZER_FILES):
            if not any((target / n).is_file() for n in names):
                problems.append(f"no {' or '.join(names)} in {target}")
    return problems


def require_model(path: str, kind: Kind, key: str) -> Path:
    """The checkpoint path for a backend's ``from_config``; raises ``BackendLoadError`` with the
    file, the config key and the fix when it is missing or incomplete."""
    if not path:
        raise BackendLoadError(f"config key '{key}' is empty; {fix_hint(key)}")
    problems = verify_model_dir(path, kind)
    if problems:
        raise BackendLoadError(f"{kind} weights for '{key}' are not usable: {'; '.join(problems)}; {fix_hint(key)}")
    return Path(path).expanduser()


# Which backend setting makes a checkpoint necessary.
_NEEDED: dict[str, Callable[[Config], bool]] = {
    "grounding.model_path": lambda c: c.grounding.backend == "groundingdino",
    "tracking.model_path": lambda c: c.tracking.backend == "sam2",
    "pose.model_path": lambda c: c.pose.backend == "clip",
    "llm.model_path": lambda c: c.llm.runtime == "llama_cpp" and "llm" in (c.parser.backend, c.reasoner.backend),
}
_KIND_OF_KEY: dict[str, Kind] = {key: kind for kind, key in CONFIG_KEYS.items()}


def verify_config(config: Config) -> dict[str, list[str]]:
    """For every checkpoint the configured backends need: ``{config_key: problems}``."""
    values = dict(config.flat_items())
    report: dict[str, list[str]] = {}
    for key, needed in _NEEDED.items():
        if not needed(config):
            continue
        path = str(values[key])
        report[key] = verify_model_dir(path, _KIND_OF_KEY[key]) if path else [f"config key '{key}' is empty"]
    return report


# --- vendored models (shipped inside the package) ----------------------------------------------


@dataclass(frozen=True)
class VendoredFile:
    """One file under ``parse_vos_ros/data/models`` (see the PROVENANCE.md beside it).

    Attributes:
        path: relative to the ``data/models`` directory.
        size: bytes.
        sha256: hex digest.
    """

    path: str
    size: int
    sha256: str


VENDORED: tuple[VendoredFile, ...] = (
    VendoredFile("yolox-nano/yolox_nano.onnx", 3_713_911,
                 "d39bee73564e338080378b0ad567fbb40e818b55bbfaf971de82a0267ed16b8a"),
    VendoredFile("coral/mobilenet_v2_1.0_224_quant.tflite", 3_610_798,
                 "7aad0c74c5e3c06e5eb3c827e13304fdd68a83da6087d92ee169c24ff9fd4776"),
    VendoredFile("coral/imagenet_labels.txt", 21_686,
                 "b8aaeb5630c62626a7d124a05c0e14230a7ffdd2136a31d0190a4fb71c1d82f1"),
    VendoredFile("coral/deeplabv3_mnv2_dm05_pascal_quant.tflite", 760_904,
                 "0470d2a782aa54eeeb99d32e7b6b3fb7722905c7c4f5d26bd957ec861366d48b"),
    VendoredFile("coral/deeplabv3_mnv2_pascal_quant.tflite", 2_193_224,
                 "350af47fd346ea6d74b58833a351f583ba860e9806ec5bd292ff8d8f1f249398"),
    VendoredFile("coral/pascal_voc_segmentation_labels.txt", 263,
                 "7337a2b06728385fb3e1106416c67bfddf69628598b1f2f0db6a63cd63fb6b1e"),
)  # fmt: skip
VENDORED_FIX = "fix: reinstall parse_vos_ros (pip install --force-reinstall, or a fresh clone/colcon build)"
_HASH_CHUNK = 1 << 20


def vendored_dir() -> Path:
    """The ``data/models`` directory of the installed package."""
    return Path(__file__).resolve().parent / "data" / "models"


def vendored_path(relative: str) -> Path:
    """The installed path of a vendored file, e.g. ``vendored_path("yolox-nano/yolox_nano.onnx")``."""
    return vendored_dir() / relative


def verify_file(path: Path, size: int, sha256: str) -> str | None:
    """None when ``path`` has ``size`` bytes and SHA-256 ``sha256``, else what is wrong."""
    import hashlib

    if not path.is_file():
        return f"{path} is missing"
    actual = path.stat().st_size
    if actual != size:
        return f"{path} has {actual} bytes, expected {size} (truncated or replaced)"
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_HASH_CHUNK), b""):
            digest.update(chunk)
    if digest.hexdigest() != sha256:
        return f"{path} has SHA-256 {digest.hexdigest()[:16]}..., expected {sha256[:16]}... (corrupt)"
    return None


def verify_vendored(root: Path | None = None) -> dict[str, str | None]:
    """``{relative path: problem or None}`` for every vendored file (under ``root``, default the package's)."""
    base = vendored_dir() if root is None else root
    return {f.path: verify_file(base / f.path, f.size, f.sha256) for f in VENDORED}


def require_vendored(path: str | os.PathLike[str], key: str) -> Path:
    """The model file for a learned backend's ``from_config``: a vendored file is checked against
    its size and SHA-256, another file must exist; raises ``BackendLoadError`` naming the file,
    the config key and the fix."""
    target = Path(path).expanduser()
    for spec in VENDORED:
        if target.resolve() == vendored_path(spec.path).resolve():
            problem = verify_file(target, spec.size, spec.sha256)
            if problem:
                raise BackendLoadError(f"vendored model for '{key}' is not usable: {problem}; {VENDORED_FIX}")
            return target
    if not target.is_file():
        raise BackendLoadError(f"model file for '{key}' not found: {target}; fix: set {key} to an existing file, "
                               "or to \"\" for the vendored one")
    return target


# --- download -----------------------------------------------------------------------------------


def _default_hub() -> HubClient:
    import huggingface_hub

    return huggingface_hub  # type: ignore[return-value]


def download(
    profile: str,
    directory: str | os.PathLike[str],
    *,
    hub: HubClient | None = None,
    config_out: str | os.PathLike[str] | None = None,
    log: Callable[[str], None] = print,
) -> Path:
    """Fetch every checkpoint of ``profile`` into ``directory``, verify them, and write a ready
    config (the profile's YAML with absolute model paths) to ``config_out`` (default
    ``DIRECTORY/<profile>.yaml``). Returns the config path; raises ``BackendLoadError`` listing
    every checkpoint that fails verification."""
    if profile not in PROFILES:
        raise ValueError(f"unknown model profile '{profile}' (known: {', '.join(PROFILES)})")
    client = hub if hub is not None else _default_hub()
    root = Path(directory).expanduser().resolve()
    root.mkdir(parents=True, exist_ok=True)
    paths: dict[str, str] = {}
    problems: list[str] = []
    for spec in PROFILES[profile]:
        target = root / spec.local_name
        log(f"fetching {spec.repo_id} -> {target}")
        if spec.kind == "gguf":
            got = Path(client.hf_hub_download(spec.repo_id, spec.filename, local_dir=str(root)))
            if got.resolve() != target:
                got.replace(target)
        else:
            client.snapshot_download(spec.repo_id, local_dir=str(target), allow_patterns=_HUB_PATTERNS)
        problems += [f"{spec.config_key}: {p}" for p in verify_model_dir(target, spec.kind)]
        paths[spec.config_key] = str(target)
    if problems:
        raise BackendLoadError("downloaded weights failed verification: " + "; ".join(problems))
    out = Path(config_out) if config_out is not None else root / f"{profile}.yaml"
    write_config(profile, paths, out)
    log(f"all {len(paths)} checkpoints verified; config written to {out}")
    return out


def write_config(profile: str, model_paths: dict[str, str], out: str | os.PathLike[str]) -> Config:
    """The profile's YAML with ``model_paths`` (dotted key -> path) set, validated, written to ``out``."""
    base = resolve_profile(profile)
    data: dict[str, Any] = yaml.safe_load(base.read_text(encoding="utf-8")) or {}
    for dotted, value in model_paths.items():
        section, key = dotted.split(".")
        data.setdefault(section, {})[key] = value
    config = config_from_dict(data)
    header = f"# Written by `parse-vos models download --profile {profile}` from {base.name}.\n"
    atomic_write_text(out, header + yaml.safe_dump(data, sort_keys=False))
    return config


def verify_profile_file(config_path: str) -> tuple[Config, dict[str, list[str]]]:
    """Load a config (name or path) and verify the checkpoints it needs."""
    config = load_config(config_path)
    return config, verify_config(config)
