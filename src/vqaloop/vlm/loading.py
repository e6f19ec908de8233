"""Load a vision-language model and its processor from a local folder (or the local Hugging Face cache).

``load_vlm(path_or_id, arch)`` checks, before touching any weights, that the folder exists, that its
``config.json`` names the expected architecture, that it holds weight files, and that the requested device
exists; each failure is one ``UserError`` line naming the path. Nothing is ever downloaded: a hub id is looked
up in the local cache only (``local_files_only``). The model comes back in eval mode.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from vqaloop.cli_checks import check_device
from vqaloop.errors import UserError

# arch -> (transformers class name, config model_type)
ARCHES = {
    "qwen2_5_vl": ("Qwen2_5_VLForConditionalGeneration", "qwen2_5_vl"),
    "llava_onevision": ("LlavaOnevisionForConditionalGeneration", "llava_onevision"),
}
DTYPES = ("float32", "bfloat16", "float16")
WEIGHT_SUFFIXES = (".safetensors", ".bin")


def torch_dtype(name: str):
    """The torch dtype for "float32" / "bfloat16" / "float16"."""
    import torch

    if name not in DTYPES:
        raise UserError(f"dtype: {name!r} is not one of {', '.join(DTYPES)}")
    return getattr(torch, name)


def looks_like_hub_id(text: str) -> bool:
    """True for "owner/name" (one slash, no leading '.', '/' or '~'): a Hugging Face id, not a path."""
    parts = text.split("/")
    return len(parts) == 2 and all(parts) and not text.startswith((".", "~")) and "\\" not in text


def config_architecture(config: dict) -> str:
    """The architecture a config.json names: its first ``architectures`` entry, else its ``model_type``."""
    names = config.get("architectures") or []
    return str(names[0]) if names else str(config.get("model_type", "unknown"))


def check_folder(folder: Path, arch: str) -> None:
    """UserError unless ``folder/config.json`` names ``arch`` and the folder holds weight files."""
    class_name, model_type = ARCHES[arch]
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise UserError(f"{folder}: no config.json (not a Hugging Face model folder)")
    try:
        config = json.loads(config_path.read_text())
    except (OSError, ValueError) as exc:
        raise UserError(f"{config_path}: unreadable JSON ({exc})") from None
    names = config.get("architectures") or []
    if class_name not in names and config.get("model_type") != model_type:
        found = config_architecture(config)
        raise UserError(f"{config_path}: architecture {found!r}, expected {class_name} for arch {arch!r}")
    if not any(p.name.endswith(WEIGHT_SUFFIXES) for p in folder.iterdir()):
        raise UserError(f"{folder}: config.json only, no weight files (*.safetensors / *.bin) to load")


def resolve(path_or_id: str | os.PathLike, arch: str) -> tuple[str, bool]:
    """(what to pass to from_pretrained, whether it is a local folder), after the checks above."""
    if arch not in ARCHES:
        raise UserError(f"arch: {arch!r} is not one of {', '.join(ARCHES)}")
    text = str(path_or_id)
    folder = Path(text).expanduser()
    if folder.is_dir():
        check_folder(folder, arch)
        return str(folder), True
    if folder.exists():
        raise UserError(f"{text}: not a folder (a VLM is a Hugging Face model folder)")
    if isinstance(path_or_id, Path) or not looks_like_hub_id(text):
        raise UserError(f"{text}: model folder not found")
    return text, False


def load_vlm(path_or_id: str | os.PathLike, arch: str, *, dtype: str = "float32", device: str = "cpu"):
    """(model, processor) of a Qwen2.5-VL or LLaVA-OneVision folder or cached hub id; model in eval mode."""
    source, local = resolve(path_or_id, arch)
    dtype_ = torch_dtype(dtype)
    device = check_device(device)
    import transformers

    model_class = getattr(transformers, ARCHES[arch][0])
    try:
        processor = transformers.AutoProcessor.from_pretrained(source, local_files_only=True)
        model = model_class.from_pretrained(source, dtype=dtype_, local_files_only=True)
    except OSError as exc:
        where = "folder" if local else "id (not a local folder, and not in the local Hugging Face cache)"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"{source}: cannot load the {arch} model {where}: {first[:200]}") from None
    if not local:  # a cached hub snapshot: same architecture check as for a folder
        name = config_architecture(model.config.to_dict())
        if name not in ARCHES[arch]:
            raise UserError(f"{source}: architecture {name!r}, expected {ARCHES[arch][0]} for arch {arch!r}")
    return model.to(device).eval(), processor


def folder_arch(path: str | os.PathLike) -> str | None:
    """The ``arch`` a local model folder holds according to its config.json, or None if it is none of ours."""
    config_path = Path(path) / "config.json"
    if not config_path.is_file():
        return None
    try:
        config = json.loads(config_path.read_text())
    except (OSError, ValueError):
        return None
    names = set(config.get("architectures") or [])
    for arch, (class_name, model_type) in ARCHES.items():
        if class_name in names or config.get("model_type") == model_type:
            return arch
    return None
