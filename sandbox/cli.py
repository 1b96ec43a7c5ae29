"""argparse wiring for ``agentkit sandbox build|doctor`` (the lead's CLI calls `register`)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["main", "register"]


def _build(args: argparse.Namespace) -> int:
    from .image import build_image, default_image, image_exists
    from .result import SandboxError

    tag = args.tag or default_image()
    try:
        if args.if_missing and image_exists(tag):
            print(f"{tag} is present", file=sys.stderr)
        else:
            build_image(tag=tag, offline=True if args.offline else None)
    except SandboxError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(tag)
    return 0


def _doctor(args: argparse.Namespace) -> int:
    from .doctor import doctor

    return doctor(args.image)


def register(subparsers: Any) -> None:
    """Add the ``sandbox`` command (``build [--offline] [--if-missing]``, ``doctor``)."""
    parser = subparsers.add_parser("sandbox", help="Docker sandbox: build the image, diagnose")
    _add_commands(parser)


def _add_commands(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="sandbox_command", required=True)
    build = sub.add_parser("build", help="build the sandbox image (prints its tag)")
    build.add_argument("--offline", action="store_true",
                       help="no Docker Hub: debootstrap a Debian base, wheels from PyPI")
    build.add_argument("--if-missing", action="store_true",
                       help="do nothing when the image already exists")
    build.add_argument("--tag", help="image tag (default: content-addressed agentkit tag)")
    build.set_defaults(func=_build)
    doc = sub.add_parser("doctor", help="check the daemon, the image and a round trip")
    doc.add_argument("--image", help="image to check (default: the agentkit image)")
    doc.set_defaults(func=_doctor)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m agentkit.sandbox")
    _add_commands(parser)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    return int(args.func(args))
