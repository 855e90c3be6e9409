"""`parse-vos models`: check the vendored models, fetch the paper's weights (needs internet), verify local ones.

parse-vos models verify                                         # the vendored models (sizes, SHA-256)
parse-vos models download --profile paper --dir models/paper   # then --config models/paper/paper.yaml
parse-vos models verify --config paper                          # also a config's checkpoints (name or YAML path)
parse-vos models list
"""

from __future__ import annotations

import argparse
import sys

HELP = "Verify the vendored models; download and verify the paper's model weights."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``download``, ``verify`` and ``list`` actions."""
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    download = actions.add_parser("download", help="fetch a profile's checkpoints from the Hugging Face Hub")
    download.add_argument("--profile", default="paper", help="model profile: paper or jetson (default paper)")
    download.add_argument("--dir", required=True, help="directory to put the checkpoints in")
    download.add_argument(
        "--write-config", default=None, help="where to write the ready config (default DIR/PROFILE.yaml)"
    )
    verify = actions.add_parser(
        "verify", help="check the vendored model files (sizes, SHA-256) and the checkpoints a config needs"
    )
    verify.add_argument("--config", default=None, help="also check this profile's checkpoints (name or YAML path)")
    verify.add_argument(
        "--models-dir", default=None, help="check the vendored files under this directory (default: the package's)"
    )
    actions.add_parser("list", help="show which checkpoints each profile uses")


def run(args: argparse.Namespace) -> int:
    from parse_vos_ros import models
    from parse_vos_ros.backends import BackendLoadError
    from parse_vos_ros.config import ConfigError

    if args.action == "list":
        for name, specs in models.PROFILES.items():
            print(f"{name}:")
            for spec in specs:
                what = f"{spec.repo_id}/{spec.filename}" if spec.filename else spec.repo_id
                print(f"  {spec.config_key:22s} {what}")
        return 0
    if args.action == "download":
        try:
            out = models.download(args.profile, args.dir, config_out=args.write_config)
        except (BackendLoadError, ValueError, OSError, ConfigError) as exc:
            print(f"parse-vos models download: {exc}", file=sys.stderr)
            return 1
        print(f"use it with: parse-vos segment INPUT --command TEXT --config {out}")
        return 0
    from pathlib import Path

    vendored = models.verify_vendored(Path(args.models_dir) if args.models_dir else None)
    bad_vendored = 0
    for path, problem in vendored.items():
        if problem:
            bad_vendored += 1
            print(f"FAIL vendored {path}: {problem}")
        else:
            print(f"ok   vendored {path}")
    if bad_vendored:
        print(models.VENDORED_FIX, file=sys.stderr)
    if args.config is None:
        return 1 if bad_vendored else 0
    try:
        _, report = models.verify_profile_file(args.config)
    except ConfigError as exc:
        print(f"parse-vos models verify: {exc}", file=sys.stderr)
        return 2
    if not report:
        print("this config uses no downloaded checkpoints (vendored and weight-free backends only)")
        return 1 if bad_vendored else 0
    failed = 0
    for key, problems in report.items():
        if problems:
            failed += 1
            print(f"FAIL {key}: " + "; ".join(problems))
        else:
            print(f"ok   {key}")
    if failed:
        profile = args.config if args.config in models.PROFILES else "paper"
        print(models.fix_hint("the failing keys", profile), file=sys.stderr)
    return 1 if failed or bad_vendored else 0
