"""``agentkit tau2``: run the benchmark, re-grade a results file, replay gold actions.

    agentkit tau2 run --domain airline --agent-model qwen3-max --user-model qwen3-max \\
        --trials 4 --split test --concurrency 8 --out results.json
    agentkit tau2 grade results.json [--llm-free] [--judge-model M] [--write]
    agentkit tau2 replay-gold --domain retail --json
    agentkit tau2 report a.json [b.json ...] --html report.html
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

__all__ = ["register"]


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``tau2`` command group (``run``, ``grade``, ``replay-gold``)."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "tau2", help="tau2-bench: run agents on airline/retail/telecom tasks and grade them",
        description="tau2-bench simulations and grading (follows tau2-bench, MIT, Sierra "
                    "Research).")
    sub = parser.add_subparsers(dest="tau2_command", metavar="SUBCOMMAND")
    _add_run(sub)
    _add_grade(sub)
    _add_report(sub)
    from .replay import add_replay_gold

    add_replay_gold(sub)

    def usage(args: argparse.Namespace) -> int:
        parser.print_help()
        return 2

    parser.set_defaults(func=usage)
    return parser


def _model_flags(p: argparse.ArgumentParser, who: str, required: bool = False,
                 default: str = "") -> None:
    p.add_argument(f"--{who}-model", required=required, default=None,
                   help=f"{who} model name" + (f" (default: {default})" if default else ""))
    p.add_argument(f"--{who}-base-url", default=None,
                   help=f"{who} server URL (default: --base-url)")
    p.add_argument(f"--{who}-api-key", default=None, help=f"{who} API key (default: --api-key)")


def _common_model_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--base-url", default=None, help="OpenAI-compatible base URL for all models")
    p.add_argument("--api-key", default=None, help="API key (default: from the environment)")
    p.add_argument("--profile", default="auto", help="server dialect (dashscope, vllm, ...)")


def _add_run(sub: Any) -> None:
    p = sub.add_parser("run", help="simulate tasks x trials and grade them",
                       description="Run the agent on tau2 tasks against an LLM user simulator, "
                                   "grade each conversation, and write a resumable results "
                                   "file.")
    p.add_argument("--domain", required=True, help="airline, retail, telecom or mock")
    _model_flags(p, "agent", required=True)
    _model_flags(p, "user", default="the agent model")
    _model_flags(p, "judge", default="the user model; only used for NL_ASSERTION tasks")
    _common_model_flags(p)
    p.add_argument("--out", required=True, help="results JSON file (resumed when it exists)")
    p.add_argument("--trials", type=int, default=4, help="trials per task (default 4)")
    p.add_argument("--split", default="base", help="task split (default base; 'all' for every "
                                                   "task)")
    p.add_argument("--task-ids", nargs="+", default=None, metavar="ID")
    p.add_argument("--num-tasks", type=int, default=None, help="only the first N tasks")
    p.add_argument("--concurrency", type=int, default=4, help="simulations at once (default 4)")
    p.add_argument("--seed", type=int, default=300, help="base seed (default 300)")
    p.add_argument("--max-steps", type=int, default=200)
    p.add_argument("--max-errors", type=int, default=10)
    p.add_argument("--timeout", type=float, default=None,
                   help="wall-clock seconds per conversation (ends it with 'timeout')")
    p.add_argument("--max-retries", type=int, default=3,
                   help="whole-simulation retries on infrastructure errors (default 3)")
    p.add_argument("--llm-free", action="store_true",
                   help="grade without an LLM judge: NL_ASSERTION replaced by COMMUNICATE "
                        "(retail graded on DB x COMMUNICATE)")
    _strict_judge_flag(p)
    p.add_argument("--temperature", type=float, default=0.0,
                   help="agent and user temperature (default 0)")
    p.add_argument("--max-tokens", type=int, default=None, help="per model response")
    p.add_argument("--no-agent-thinking", action="store_true", help="agent without reasoning")
    p.add_argument("--agent-mode", choices=("always", "always-instruct", "plan-then-act",
                                            "escalate"), default=None,
                   help="the agent's Thinking/Instruct policy per step (default: thinking on "
                        "every step, or off with --no-agent-thinking)")
    p.add_argument("--no-user-thinking", action="store_true",
                   help="user simulator without reasoning (default: the server's default)")
    p.add_argument("--data-dir", default=None, help="tau2 data directory ($TAU2_DATA_DIR)")
    p.add_argument("--stream", action="store_true",
                   help="print the conversations (thinking included) to stderr as they run")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_run_scale_flags(p)
    p.set_defaults(func=_run)


def _add_run_scale_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--executor", choices=("local", "ray"), default="local",
                   help="where simulations run: this process (default) or a Ray cluster "
                        "(pip install 'agentkit[ray]')")
    p.add_argument("--ray-address", default=None,
                   help="Ray cluster to use (default: $RAY_ADDRESS, else a new local one)")
    p.add_argument("--provider-limit", action="append", default=[], metavar="PROVIDER=N",
                   help="at most N simulations at once against PROVIDER (a model server's "
                        "host:port, or a model name); held cluster-wide with --executor ray")
    p.add_argument("--price", default=None, metavar="IN,OUT",
                   help="USD per million input,output tokens: cost in the progress bar and "
                        "tau2-bench's agent_cost/user_cost")


def _add_grade(sub: Any) -> None:
    p = sub.add_parser("grade", help="re-grade a results file and print the summary",
                       description="Grade every simulation of a results file again (lenient "
                                   "replay) and print pass^k per domain.")
    p.add_argument("results", help="results JSON file from `agentkit tau2 run` or tau2-bench")
    p.add_argument("--llm-free", action="store_true",
                   help="grade without an LLM judge (NL_ASSERTION replaced by COMMUNICATE)")
    _model_flags(p, "judge", default="the run's judge model, else its user model")
    _strict_judge_flag(p)
    _common_model_flags(p)
    p.add_argument("--data-dir", default=None, help="tau2 data directory ($TAU2_DATA_DIR)")
    p.add_argument("--summary-only", action="store_true",
                   help="do not grade again: summarise the rewards stored in the file")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--write", action="store_true", help="store the new grades in the file")
    out.add_argument("--out", default=None, help="write the re-graded results here")
    p.set_defaults(func=_grade)


def _add_report(sub: Any) -> None:
    p = sub.add_parser("report", help="summarise results files; --html writes a report page",
                       description="pass^k per domain for one or more results files "
                                   "(agentkit's or tau2-bench's); --html writes one "
                                   "self-contained page: pass^k plot, per-task table, "
                                   "distributions, every conversation.")
    p.add_argument("results", nargs="+", help="results JSON files")
    p.add_argument("--html", default=None, metavar="FILE", help="write the HTML report here")
    p.set_defaults(func=_report)


def _report(args: argparse.Namespace) -> int:
    from .results import load_results
    from .runner import summary

    try:
        for path in args.results:
            print(f"== {path}")
            print(summary(load_results(path)))
        if args.html:
            from .report import write_report

            print(f"report: {write_report(args.results, args.html)}")
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        return _error("report", exc)
    return 0


# --------------------------------------------------------------------------- helpers


def _strict_judge_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--strict-judge", action="store_true",
                   help="stricter NL-assertion reading than tau2-bench's: an outcome the "
                        "judge leaves out, or whose metExpectation is not true, is unmet")


def _build_model(args: argparse.Namespace, who: str, name: str, thinking: bool | None) -> Any:
    from agentkit.models import OpenAICompatModel

    base_url = getattr(args, f"{who}_base_url", None) or args.base_url
    api_key = getattr(args, f"{who}_api_key", None) or args.api_key
    kwargs: dict[str, Any] = {"profile": args.profile, "thinking": thinking}
    if base_url:
        kwargs["base_url"] = base_url
        if not api_key and not (os.environ.get("DASHSCOPE_API_KEY")
                                or os.environ.get("OPENAI_API_KEY")):
            api_key = "EMPTY"  # local servers (vLLM, Ollama) take any key
    if api_key:
        kwargs["api_key"] = api_key
    return OpenAICompatModel(name, **kwargs)


async def _aclose(*models: Any) -> None:
    """Close the models' HTTP clients inside the loop that opened them."""
    for model in models:
        close = getattr(model, "aclose", None)
        if close is not None:
            await close()


def _error(command: str, exc: BaseException) -> int:
    print(f"agentkit tau2 {command}: error: {exc}", file=sys.stderr)
    return 2


def _stream_printer() -> Any:
    from agentkit.events import TextDelta, ThinkingDelta, ToolCallReady

    from .orchestrator import MessageRecorded, ParticipantEvent

    def on_event(task_id: str, trial: int, event: Any) -> None:
        tag = f"[{task_id}#{trial}]"
        if isinstance(event, ParticipantEvent):
            inner = event.event
            if isinstance(inner, ThinkingDelta):
                sys.stderr.write(inner.text)
            elif isinstance(inner, TextDelta):
                sys.stderr.write(inner.text)
            elif isinstance(inner, ToolCallReady):
                sys.stderr.write(f"\n{tag} {event.side} calls {inner.name}({inner.arguments})\n")
        elif isinstance(event, MessageRecorded) and event.message.role != "tool":
            text = (event.message.content or "").strip()
            if text:
                sys.stderr.write(f"\n{tag} {event.side} (step {event.step}): {text}\n")
        sys.stderr.flush()

    return on_event


def _provider_limits(args: argparse.Namespace) -> dict[str, int]:
    limits: dict[str, int] = {}
    for item in args.provider_limit:
        name, sep, value = item.rpartition("=")
        if not sep or not name or not value.isdigit() or int(value) < 1:
            raise ValueError(f"--provider-limit wants PROVIDER=N with N >= 1, got {item!r}")
        limits[name] = int(value)
    return limits


def _price(text: str | None) -> tuple[float, float] | None:
    if text is None:
        return None
    try:
        p_in, p_out = (float(x) for x in text.split(","))
    except ValueError:
        raise ValueError(f"--price wants IN,OUT (USD per million tokens), got {text!r}") \
            from None
    return p_in, p_out


def _run_needs_judge(args: argparse.Namespace) -> bool:
    from .registry import get_domain
    from .runner import needs_judge

    split = None if args.split == "all" else args.split
    tasks = get_domain(args.domain).load_tasks(args.data_dir, split=split,
                                               task_ids=args.task_ids)
    if args.num_tasks is not None:
        tasks = tasks[: args.num_tasks]
    return needs_judge(tasks, args.llm_free)


def _run(args: argparse.Namespace) -> int:
    import anyio

    from agentkit.errors import UserError

    from .runner import RunConfig, run_benchmark, summary

    settings: dict[str, Any] = {"temperature": args.temperature}
    if args.max_tokens is not None:
        settings["max_tokens"] = args.max_tokens
    try:
        agent_model = _build_model(args, "agent", args.agent_model,
                                   not args.no_agent_thinking)
        user_model = _build_model(args, "user", args.user_model or args.agent_model,
                                  False if args.no_user_thinking else None)
        judge_name = args.judge_model or args.user_model or args.agent_model
        judge_model = None
        if _run_needs_judge(args):
            judge_model = _build_model(args, "judge", judge_name, False)
        config = RunConfig(
            domain=args.domain, agent_model=agent_model, user_model=user_model,
            judge_model=judge_model, trials=args.trials,
            split=None if args.split == "all" else args.split, task_ids=args.task_ids,
            num_tasks=args.num_tasks, concurrency=args.concurrency, seed=args.seed,
            max_steps=args.max_steps, max_errors=args.max_errors,
            max_retries=args.max_retries, timeout=args.timeout, llm_free=args.llm_free,
            strict_judge=args.strict_judge,
            data_dir=args.data_dir,
            agent_settings=dict(settings), user_settings=dict(settings),
            agent_mode=args.agent_mode,
            progress=not args.no_progress, provider_limits=_provider_limits(args),
            price_per_mtok=_price(args.price))
        executor = None
        if args.executor == "ray":
            from .ray_executor import RayExecutor

            executor = RayExecutor(args.ray_address)
        on_event = _stream_printer() if args.stream else None

        async def main() -> Any:
            try:
                return await run_benchmark(config, args.out, on_event=on_event,
                                           executor=executor)
            finally:
                await _aclose(agent_model, user_model, judge_model)

        results = anyio.run(main)
    except (ValueError, FileNotFoundError, UserError) as exc:
        return _error("run", exc)
    print(summary(results))
    print(f"results: {args.out}")
    return 0


def _grade(args: argparse.Namespace) -> int:
    import anyio

    from agentkit.errors import UserError

    from .results import load_results, save_results
    from .runner import needs_judge, regrade, summary

    try:
        results = load_results(args.results)
        if not args.summary_only:
            judge_model = None
            judge_name = args.judge_model or results.info.get("judge_model") \
                or results.info.get("user_model")
            graded = [t for t in results.tasks
                      if any(s.task_id == t.id for s in results.simulations)]
            if needs_judge(graded, args.llm_free) and judge_name:
                judge_model = _build_model(args, "judge", judge_name, False)

            async def main() -> Any:
                try:
                    return await regrade(results, judge_model=judge_model,
                                         llm_free=args.llm_free, data_dir=args.data_dir,
                                         strict_judge=args.strict_judge)
                finally:
                    await _aclose(judge_model)

            results = anyio.run(main)
    except (ValueError, FileNotFoundError, UserError) as exc:
        return _error("grade", exc)
    print(summary(results))
    target = args.results if args.write else args.out
    if target and not args.summary_only:
        save_results(results, target)
        print(f"re-graded results: {target}")
    return 0
