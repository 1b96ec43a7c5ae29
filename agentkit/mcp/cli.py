"""argparse wiring for `agentkit mcp serve` (imports the SDK only when it runs)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["register"]


def _serve(args: argparse.Namespace) -> int:
    import logging

    import anyio

    try:
        from .serve import serve, served_tools
    except ImportError as exc:  # pragma: no cover - the extra is missing
        print(f"error: {exc}; install agentkit[mcp]", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)  # stdout is the protocol
    names = [n.strip() for n in args.tools.split(",") if n.strip()]
    try:
        tools = served_tools(names, root=args.root, write=args.write)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.transport == "http":
        print(f"serving {', '.join(t.name for t in tools)} on "
              f"http://{args.host}:{args.port}/mcp", file=sys.stderr)
    anyio.run(lambda: serve(tools, transport=args.transport, host=args.host, port=args.port))
    return 0


def register(subparsers: Any) -> None:
    """Add `mcp serve`."""
    parser = subparsers.add_parser("mcp", help="Model Context Protocol: serve agentkit's tools")
    sub = parser.add_subparsers(dest="mcp_command", required=True)
    serve = sub.add_parser(
        "serve", help="serve the built-in tools to MCP clients (Claude Desktop, Cursor, ...)")
    serve.add_argument("--tools", default="code,files",
                       help="comma-separated: code (Docker sandbox), files, web (default: "
                            "code,files)")
    serve.add_argument("--root", default=".", help="the directory file tools are confined to")
    serve.add_argument("--write", action="store_true",
                       help="allow file writes and edits (default: read-only)")
    serve.add_argument("--transport", choices=("stdio", "http"), default="stdio")
    serve.add_argument("--host", default="127.0.0.1", help="HTTP address (default: 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="HTTP port (default: 8000)")
    serve.set_defaults(func=_serve)
