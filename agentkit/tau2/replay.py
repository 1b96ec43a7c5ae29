"""Gold-action replay (the fidelity check) and the ``replay-gold`` CLI subcommand.

``replay_gold`` builds a fresh environment, applies the task's initial state and runs the task's
gold actions. Two modes, as in tau2:

- unsynced (the evaluator's gold environment): ``make_tool_call`` per action, no ``sync_tools``;
- synced (what a live conversation does): ``get_response`` per action (syncs after every call),
  then one more ``sync_tools()``. This is the default for domains with a user toolkit
  (telecom, mock).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .registry import get_domain, list_domains

if TYPE_CHECKING:
    from .environment import Environment
    from .tasks import Task

__all__ = [
    "add_replay_gold",
    "apply_initial_state",
    "build_task_env",
    "replay_actions",
    "replay_gold",
    "run_replay_gold",
]


def apply_initial_state(env: Environment, task: Task) -> None:
    """Apply ``task.initial_state`` (data, actions, message history) to ``env``."""
    state = task.initial_state
    if state is None:
        return
    env.set_state(
        state.initialization_data, state.initialization_actions, state.message_history or []
    )


def build_task_env(
    domain: str, task: Task, data_dir: Path | str | None = None, **opts: Any
) -> Environment:
    """A fresh environment of ``domain`` with ``task``'s initial state applied."""
    env = get_domain(domain).build_env(data_dir, **opts)
    apply_initial_state(env, task)
    return env


def replay_actions(env: Environment, task: Task, synced: bool) -> list[dict[str, Any]]:
    """Run the task's gold actions on ``env``; one ``{"name", "error", "output"}`` per action."""
    from .environment import ToolCallRecord, to_json_str

    results: list[dict[str, Any]] = []
    for i, action in enumerate(task.gold_actions):
        if synced:
            call = ToolCallRecord(
                id=action.action_id or f"gold_{i}",
                name=action.name,
                arguments=dict(action.arguments),
                requestor=action.requestor,
            )
            response = env.get_response(call)
            results.append(
                {"name": action.name, "error": response.error, "output": response.content}
            )
            continue
        try:
            result = env.make_tool_call(action.name, requestor=action.requestor, **action.arguments)
            output, error = to_json_str(result), False
        except Exception as exc:  # the evaluator logs and ignores failing gold actions
            output, error = f"Error: {exc}", True
        results.append({"name": action.name, "error": error, "output": output})
    if synced:
        env.sync_tools()
    return results


def replay_gold(
    domain: str,
    task: Task,
    synced: bool | None = None,
    data_dir: Path | str | None = None,
    **env_opts: Any,
) -> dict[str, Any]:
    """The replay-gold record of one task: final hashes and per-action outputs.

    ``synced=None`` picks the live-conversation mode for domains with a user toolkit.
    """
    env = build_task_env(domain, task, data_dir, **env_opts)
    if synced is None:
        synced = env.user_tools is not None
    actions = replay_actions(env, task, synced)
    return {
        "task_id": task.id,
        "final_db_hash": env.get_db_hash(),
        "final_user_db_hash": env.get_user_db_hash(),
        "actions": actions,
    }


def run_replay_gold(args: argparse.Namespace) -> int:
    """Entry point of ``agentkit tau2 replay-gold``."""
    spec = get_domain(args.domain)
    tasks = spec.load_tasks(args.data_dir, split=args.split, task_ids=args.task_ids)
    synced: bool | None = None
    if args.mode == "gold":
        synced = False
    elif args.mode == "synced":
        synced = True
    from .data import resolve_data_dir

    source = ("from --data-dir" if args.data_dir else "from $TAU2_DATA_DIR" if os.environ.get(
        "TAU2_DATA_DIR") else "the development copy next to the repository, as neither "
        "--data-dir nor $TAU2_DATA_DIR was given")
    print(f"tau2 data: {resolve_data_dir(args.data_dir)} ({source})", file=sys.stderr)
    out = sys.stdout
    if not args.json:
        out.write("task\tfinal_db_hash\tfinal_user_db_hash (- = the domain has no user DB)"
                  "\tactions\terrors\n")
    n_actions = n_errors = 0
    for task in tasks:
        record = replay_gold(args.domain, task, synced=synced, data_dir=args.data_dir)
        n_err = sum(1 for a in record["actions"] if a["error"])
        n_actions += len(record["actions"])
        n_errors += n_err
        if args.json:
            out.write(json.dumps(record) + "\n")
        else:
            out.write(
                f"{record['task_id']}\t{record['final_db_hash']}\t"
                f"{record['final_user_db_hash'] or '-'}\t{len(record['actions'])}\t{n_err}\n"
            )
        out.flush()
    if not args.json:
        out.write(f"{len(tasks)} tasks of {args.domain} replayed: {n_actions} gold actions, "
                  f"{n_errors} of them raised errors\n")
    return 0


def _main(args: argparse.Namespace) -> int:
    try:
        return run_replay_gold(args)
    except (ValueError, FileNotFoundError) as exc:
        print(f"agentkit tau2 replay-gold: error: {exc}", file=sys.stderr)
        return 2


def add_replay_gold(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``replay-gold`` subcommand to an argparse subparsers object."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "replay-gold",
        help="replay each task's gold actions on a fresh environment and print the hashes",
        description=(
            "Replay the gold actions of tau2 tasks on fresh environments and print, per task, "
            "the final DB hashes and every action's output (the fidelity check)."
        ),
    )
    parser.add_argument("--domain", required=True, choices=list_domains())
    parser.add_argument("--task-ids", nargs="+", default=None, metavar="ID")
    parser.add_argument("--split", default=None, help="only tasks of this split (e.g. train)")
    parser.add_argument(
        "--data-dir", default=None, help="tau2 data directory (default: $TAU2_DATA_DIR)"
    )
    parser.add_argument(
        "--mode",
        choices=("auto", "gold", "synced"),
        default="auto",
        help="auto: synced for domains with user tools (telecom, mock), else the "
        "evaluator's unsynced gold replay",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.set_defaults(func=_main)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Standalone entry: ``python -m agentkit.tau2.replay --domain airline --json``."""
    parser = argparse.ArgumentParser(prog="agentkit tau2")
    sub = parser.add_subparsers(dest="command", required=True)
    add_replay_gold(sub)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
