"""Shared argument helpers. Model options are generated from each family's config dataclass (type, default,
choices from the module's constants, help from the field's comment), so a new architecture option becomes a flag
without a second list; they map 1:1 to ``build_model`` keyword options."""

from __future__ import annotations

import argparse
import ast
import dataclasses
import functools
import inspect
import io
import sys
import textwrap
import tokenize
import typing
from typing import Any

from rgbt_seg_core.cli.settings_options import bool_flag
from rgbt_seg_core.models import list_models, model_family
from rgbt_seg_core.models.cimnet.model import CIMNetConfig
from rgbt_seg_core.models.rsfnet.model import RSFNetConfig

MODEL_CONFIGS: dict[str, type] = {"rsfnet": RSFNetConfig, "cimnet": CIMNetConfig}  # family -> its options
NAMED_BY_MODEL = frozenset({"rgb_encoder", "thermal_encoder", "encoder"})  # the model's name picks its encoders


def _title(family: str) -> str:
    return MODEL_CONFIGS[family].__name__.removesuffix("Config")


@functools.cache
def field_comments(config: type) -> dict[str, str]:
    """The comment after each field of a dataclass (``mir: bool = True  # CIPA's MI regularisation``): the field's
    help, written where the field is, so a new field brings its help along."""
    source = textwrap.dedent(inspect.getsource(config))
    comments = {tok.start[0]: tok.string.lstrip("#").strip()
                for tok in tokenize.generate_tokens(io.StringIO(source).readline) if tok.type == tokenize.COMMENT}
    body = ast.parse(source).body[0]
    assert isinstance(body, ast.ClassDef)
    return {node.target.id: comments[node.end_lineno] for node in body.body
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.end_lineno in comments}


def model_fields(family: str) -> list[dataclasses.Field]:
    """The family's options that a flag can set: every config field but the encoders, which the name fixes."""
    return [f for f in dataclasses.fields(MODEL_CONFIGS[family]) if f.name not in NAMED_BY_MODEL]


def _choices(config: type, name: str) -> tuple[str, ...] | None:
    """The allowed values of a text option, from its module's constant (``fusion`` -> ``FUSIONS``, ``modalities``
    -> ``MODALITIES``), the one the config validates against."""
    module = sys.modules[config.__module__]
    for constant in (name.upper(), name.upper() + "S"):
        value = getattr(module, constant, None)
        if isinstance(value, tuple) and value and all(isinstance(v, str) for v in value):
            return value
    return None


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return " ".join(map(str, value)) if isinstance(value, tuple) else str(value)


def _argument(config: type, f: dataclasses.Field) -> dict[str, Any]:
    """argparse keywords for one config field (type, choices, count); no default, so an option not given is left
    to the config's own default."""
    hint = typing.get_type_hints(config)[f.name]
    kw: dict[str, Any] = {"default": None}
    if typing.get_origin(hint) is tuple:
        args = typing.get_args(hint)
        kw["nargs"] = "+" if args[-1] is Ellipsis else len(args)
        hint, kw["metavar"] = args[0], "N"
    if hint is bool:
        kw["type"], kw["metavar"] = bool_flag, "{true,false}"
    elif hint in (int, float, str):
        kw["type"] = hint
        kw["choices"] = _choices(config, f.name) if hint is str else None
    else:
        raise TypeError(f"{config.__name__}.{f.name}: no command-line form for {hint!r}")
    return kw


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """One flag per architecture option of every family, from its config dataclass (``--gate-mode`` sets
    ``gate_mode``); options both families have are listed once."""
    found: dict[str, tuple[dict[str, Any], list[str], list[str]]] = {}  # name -> keywords, families, help parts
    for family, config in MODEL_CONFIGS.items():
        comments = field_comments(config)
        for f in model_fields(family):
            kw = _argument(config, f)
            if f.name in found and found[f.name][0] != kw:
                raise TypeError(f"model option {f.name} differs between families: cannot share one flag")
            _, families, notes = found.setdefault(f.name, (kw, [], []))
            families.append(family)
            comment = comments.get(f.name)
            notes.append(f"{comment} (default {_shown(f.default)})" if comment else f"default {_shown(f.default)}")
    shared = parser.add_argument_group("model options (see docs/model.md)")
    groups = {fam: parser.add_argument_group(f"{_title(fam)} options (models: {', '.join(list_models(fam))})")
              for fam in MODEL_CONFIGS}
    for name, (kw, families, notes) in found.items():
        group = shared if len(families) > 1 else groups[families[0]]
        text = notes[0] if len(set(notes)) == 1 else "; ".join(f"{_title(fam)}: {n}" for fam, n in zip(families, notes))
        group.add_argument("--" + name.replace("_", "-"), help=text, **kw)


def model_options(args: argparse.Namespace, model: str) -> dict[str, Any]:
    """``build_model`` keyword options of ``model`` from :func:`add_model_options`' flags (those given); a flag of
    another family is an error naming it."""
    family = model_family(model)
    own = {f.name for f in model_fields(family)}
    out: dict[str, Any] = {}
    for other in MODEL_CONFIGS:
        for f in model_fields(other):
            value = getattr(args, f.name, None)
            if value is None or f.name in out:
                continue
            if f.name not in own:
                flag = "--" + f.name.replace("_", "-")
                raise ValueError(f"{flag} is an option of {_title(other)} models; {model} is {_title(family)}")
            out[f.name] = tuple(value) if isinstance(value, list) else value
    return out


INFERENCE_FLAGS = ("device", "precision", "backend", "model_file", "openvino_device", "thermal_homography")


def add_inference_options(parser: argparse.ArgumentParser, device_help: str | None = None) -> None:
    """--device, --precision, --backend, --model-file, --openvino-device, --thermal-homography: the engine's
    settings, made from the node's parameters of the same names (the settings schema: its defaults, help and
    choices)."""
    from rgbt_seg_core.cli.settings_options import add_setting_flag
    from rgbt_seg_core.settings import setting

    for name in INFERENCE_FLAGS:
        add_setting_flag(parser, setting(name), help=device_help if name == "device" else None)


def inference_options(args: argparse.Namespace) -> dict[str, Any]:
    """InferenceConfig keyword arguments from :func:`add_inference_options`' flags, checked as the node checks
    its parameters (the rest at the schema's defaults)."""
    from rgbt_seg_core.cli.settings_options import flag_value
    from rgbt_seg_core.settings import Settings, setting

    given = {n: flag_value(setting(n), getattr(args, n)) for n in INFERENCE_FLAGS if getattr(args, n, None) is not None}
    s = Settings.from_values(given, source="command line")
    hom = tuple(s.thermal_homography) if any(s.thermal_homography) else None
    return {"device": s.device, "precision": s.precision, "backend": s.backend, "model_file": s.model_file,
            "openvino_device": s.openvino_device, "thermal_homography": hom}


def add_dataset_options(parser: argparse.ArgumentParser) -> None:
    """--thermal (PST900) and --data-option KEY=VALUE (any loader option), as ``dataset_options`` in training."""
    parser.add_argument("--thermal", choices=("8bit", "raw"), default="8bit", help="pst900: 8-bit or 16-bit thermal")
    parser.add_argument("--data-option", action="append", default=[], metavar="KEY=VALUE",
                        help="a loader option, repeatable; kust4k: rgb_dir, thermal_dir, label_dir (folder names, "
                        "default RGB, TIR, Label), night_pattern, day_pattern (regular expressions on the name)")


def parse_key_values(items: list[str], flag: str) -> dict[str, Any]:
    """KEY=VALUE strings; values are YAML scalars (numbers, true/false) or plain text."""
    import yaml

    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{flag} expects KEY=VALUE, got {item!r}")
        try:
            value = yaml.safe_load(raw) if raw else ""
        except yaml.YAMLError:
            value = raw
        out[key.strip()] = raw if isinstance(value, (dict, list)) or value is None else value
    return out


def dataset_options(args: argparse.Namespace) -> dict[str, Any]:
    """The loader's keyword options from :func:`add_dataset_options`' flags."""
    opts = parse_key_values(args.data_option, "--data-option")
    if args.dataset == "pst900":
        opts.setdefault("thermal", args.thermal)
    return opts
