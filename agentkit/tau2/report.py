"""``agentkit tau2 report a.json [b.json ...] --html report.html``: one self-contained page.

- pass^1..k per domain and file, with a plot of pass^k against k (one line per results file
  and domain), rendered server-side by matplotlib as inline SVG (text kept as text);
- per task: the reward of every trial, the failing checks named, each trial linked to its
  conversation;
- token, reasoning-token and wall-time distributions;
- every conversation (user, agent, reasoning, tool calls and results) in a collapsed block.

No network: no CDN, no external fonts or images (a Content-Security-Policy forbids them).
Every text from a results file (model output, tool results, names) is HTML-escaped.
"""

from __future__ import annotations

import html
import io
import json
import statistics
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .results import Results, compute_metrics, load_results
from .simulation import SimMessage, SimulationResult, TerminationReason

__all__ = ["build_report", "failing_checks", "write_report"]


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def failing_checks(sim: SimulationResult) -> list[str]:
    """The checks that failed, by name (empty when the simulation passed)."""
    if sim.termination_reason == TerminationReason.INFRASTRUCTURE_ERROR:
        return [f"infrastructure error: {sim.error or ''}"[:300]]
    info = sim.reward_info or {}
    out: list[str] = []
    if sim.termination_reason.value not in ("user_stop", "agent_stop"):
        out.append(f"terminated: {sim.termination_reason.value}")
    breakdown = info.get("reward_breakdown") or {}
    if breakdown.get("DB") == 0.0:
        out.append("DB: final database differs from the gold one")
    for c in info.get("env_assertions") or []:
        if not c.get("met"):
            out.append(f"ENV_ASSERTION: {c.get('env_assertion', {}).get('func_name')}")
    if breakdown.get("ACTION") == 0.0:
        for c in info.get("action_checks") or []:
            if not c.get("action_match"):
                out.append(f"ACTION: {c.get('action', {}).get('name')}")
    for c in info.get("communicate_checks") or []:
        if not c.get("met") and "COMMUNICATE" in breakdown:
            out.append(f"COMMUNICATE: {c.get('info')!r}")
    for c in info.get("nl_assertions") or []:
        if not c.get("met"):
            out.append(f"NL_ASSERTION: {c.get('nl_assertion')}")
    return out


# --------------------------------------------------------------------------- plots


def _svg(fig: Any) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    text = buf.getvalue()
    return text[text.find("<svg"):]


def _plt() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise RuntimeError("the HTML report needs matplotlib: pip install 'agentkit[report]'") \
            from None
    matplotlib.use("Agg")
    matplotlib.rcParams["svg.fonttype"] = "none"  # text stays text (searchable, light)
    import matplotlib.pyplot as plt

    return plt


def _label(text: str) -> str:
    return text.replace("$", r"\$")  # no mathtext from untrusted names


def _pass_k_plot(series: dict[str, dict[int, float]]) -> str:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for name, values in series.items():
        ks = sorted(values)
        ax.plot(ks, [values[k] for k in ks], marker="o", label=_label(name))
    ax.set_xlabel("k")
    ax.set_ylabel("pass^k")
    ax.set_ylim(0, 1.02)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    out = _svg(fig)
    plt.close(fig)
    return out


def _distribution_plot(dists: dict[str, dict[str, list[float]]]) -> str:
    plt = _plt()
    names = ["tokens", "reasoning tokens", "wall time (s)"]
    fig, axes = plt.subplots(1, 3, figsize=(10, 2.8))
    for ax, metric in zip(axes, names, strict=True):
        for label, d in dists.items():
            if d[metric]:
                ax.hist(d[metric], bins=20, alpha=0.5, label=_label(label))
        ax.set_title(metric, fontsize=9)
        ax.tick_params(labelsize=7)
    axes[0].legend(fontsize=7)
    out = _svg(fig)
    plt.close(fig)
    return out


# --------------------------------------------------------------------------- html parts


def _stats(values: list[float]) -> str:
    if not values:
        return "<td>-</td>" * 4
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
    return "".join(f"<td>{v:,.1f}</td>" for v in (
        ordered[0], statistics.median(ordered), p90, ordered[-1]))


def _message(m: SimMessage) -> str:
    parts = [f'<div class="msg {_e(m.role)}"><div class="role">{_e(m.role)}'
             + (f" ({_e(m.requestor)})" if m.role == "tool" else "")
             + ("  error" if m.role == "tool" and m.error else "") + "</div>"]
    if m.reasoning:
        parts.append(f"<details class=reasoning><summary>reasoning</summary>"
                     f"<pre>{_e(m.reasoning)}</pre></details>")
    if m.content:
        parts.append(f"<pre>{_e(m.content)}</pre>")
    for c in m.tool_calls or []:
        args = json.dumps(c.arguments, ensure_ascii=False, indent=1)
        parts.append(f'<div class=call>calls <b>{_e(c.name)}</b><pre>{_e(args)}</pre></div>')
    parts.append("</div>")
    return "".join(parts)


def _conversation(anchor: str, label: str, sim: SimulationResult) -> str:
    fails = failing_checks(sim)
    head = (f"{_e(label)} · task {_e(sim.task_id)} · trial {sim.trial} · reward "
            f"{'-' if sim.reward is None else f'{sim.reward:g}'} · "
            f"{_e(sim.termination_reason.value)}")
    body = "".join(_message(m) for m in sim.messages) or "<p>(no conversation)</p>"
    failed = "".join(f"<li>{_e(f)}</li>" for f in fails)
    return (f'<details class=conv id="{anchor}"><summary>{head}</summary>'
            + (f"<ul class=fails>{failed}</ul>" if failed else "") + body + "</details>")


def _sim_tokens(s: SimulationResult) -> tuple[float, float]:
    u = s.agent_usage + s.user_usage
    return float(u.input_tokens + u.output_tokens), float(u.reasoning_tokens)


_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 6px}
th{background:#f3f3f3}td.pass{background:#d9f2d9}td.fail{background:#f8d7d7}
td.infra{background:#eee}.fails{color:#900;margin:0;padding-left:1.2em;font-size:12px}
.msg{border-left:3px solid #ccc;margin:4px 0;padding:2px 8px}.msg.user{border-color:#58a}
.msg.assistant{border-color:#5a5}.msg.tool{border-color:#aa5;background:#fafaf0}
.role{font-size:11px;color:#666}pre{white-space:pre-wrap;margin:2px 0;font-size:12px}
details.conv{border:1px solid #ddd;margin:4px 0;padding:4px}details.conv[open]{background:#fcfcfc}
.reasoning pre{color:#777}svg{max-width:100%;height:auto}
"""

_JS = """
function openHash(){var id=decodeURIComponent(location.hash.slice(1));if(!id)return;
var el=document.getElementById(id);if(el&&el.tagName==='DETAILS'){el.open=true;
el.scrollIntoView();}}
window.addEventListener('hashchange',openHash);window.addEventListener('load',openHash);
"""


def build_report(files: Sequence[tuple[str, Results]]) -> str:
    """The HTML page for ``(label, results)`` pairs."""
    series: dict[str, dict[int, float]] = {}
    metric_rows = []
    max_k = 0
    for label, results in files:
        for metrics in compute_metrics(results):
            series[f"{label} · {metrics.domain}"] = metrics.pass_hat_ks
            max_k = max([max_k, *metrics.pass_hat_ks])
            metric_rows.append((label, metrics))
    head = "".join(f"<th>pass^{k}</th>" for k in range(1, max_k + 1))
    table = [f"<table id=passk><tr><th>file</th><th>domain</th><th>tasks</th><th>sims</th>"
             f"<th>infra errors</th><th>avg reward</th>{head}</tr>"]
    for label, r in metric_rows:
        cells = "".join(f"<td>{r.pass_hat_ks[k]:.4f}</td>" if k in r.pass_hat_ks
                        else "<td>-</td>" for k in range(1, max_k + 1))
        avg = "-" if r.avg_reward is None else f"{r.avg_reward:.4f}"
        table.append(f"<tr><td>{_e(label)}</td><td>{_e(r.domain)}</td><td>{r.tasks}</td>"
                     f"<td>{r.simulations}</td><td>{r.infra_errors}</td><td>{avg}</td>"
                     f"{cells}</tr>")
    table.append("</table>")
    plot = _pass_k_plot(series) if any(series.values()) else "<p>(nothing graded)</p>"

    tasks_html, convs, dists = [], [], {}
    for fi, (label, results) in enumerate(files):
        by_task: dict[tuple[str, str], list[tuple[int, SimulationResult]]] = defaultdict(list)
        for si, sim in enumerate(results.simulations):
            by_task[(sim.domain, sim.task_id)].append((si, sim))
            convs.append(_conversation(f"conv-{fi}-{si}", label, sim))
        trials = max((s.trial for s in results.simulations), default=0) + 1
        rows = [f"<h3>{_e(label)}</h3><table class=tasks><tr><th>domain</th><th>task</th>"
                + "".join(f"<th>trial {t}</th>" for t in range(trials))
                + "<th>failing checks</th></tr>"]
        for (domain, task_id), sims in sorted(by_task.items()):
            trial_html: dict[int, str] = {}
            fails: list[str] = []
            for si, sim in sims:
                if sim.termination_reason == TerminationReason.INFRASTRUCTURE_ERROR:
                    cls, text = "infra", "infra"
                else:
                    ok = sim.reward is not None and abs(sim.reward - 1.0) <= 1e-6
                    cls = "pass" if ok else "fail"
                    text = "-" if sim.reward is None else f"{sim.reward:g}"
                link = f'<a href="#conv-{fi}-{si}">{text}</a>'
                if cls != "infra" or sim.trial not in trial_html:  # a graded record wins
                    trial_html[sim.trial] = f"<td class={cls}>{link}</td>"
                fails += [f"trial {sim.trial}: {f}" for f in failing_checks(sim)]
            trial_cells = "".join(trial_html.get(t, "<td></td>") for t in range(trials))
            failed = "".join(f"<li>{_e(f)}</li>" for f in fails)
            rows.append(f"<tr><td>{_e(domain)}</td><td>{_e(task_id)}</td>{trial_cells}"
                        f"<td><ul class=fails>{failed}</ul></td></tr>")
        rows.append("</table>")
        tasks_html.append("".join(rows))
        graded = [s for s in results.simulations
                  if s.termination_reason != TerminationReason.INFRASTRUCTURE_ERROR]
        toks = [_sim_tokens(s) for s in graded]
        dists[label] = {"tokens": [t[0] for t in toks],
                        "reasoning tokens": [t[1] for t in toks],
                        "wall time (s)": [float(s.duration) for s in graded]}
    dist_rows = ["<table id=dists><tr><th>file</th><th>metric</th><th>min</th>"
                 "<th>median</th><th>p90</th><th>max</th></tr>"]
    for label, d in dists.items():
        for metric, values in d.items():
            dist_rows.append(f"<tr><td>{_e(label)}</td><td>{_e(metric)}</td>"
                             f"{_stats(values)}</tr>")
    dist_rows.append("</table>")
    dist_plot = _distribution_plot(dists) if any(
        v for d in dists.values() for v in d.values()) else ""
    csp = ("default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
           "img-src data:")
    return (
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">'
        "<title>tau2 report</title>"
        f"<style>{_CSS}</style><script>{_JS}</script></head><body>"
        "<h1>tau2 report</h1><p>" + " · ".join(_e(label) for label, _ in files) + "</p>"
        "<h2>pass^k</h2>" + "".join(table) + f'<div id="passk-plot">{plot}</div>'
        "<h2>Tasks</h2>" + "".join(tasks_html)
        + "<h2>Distributions (graded simulations)</h2>" + "".join(dist_rows)
        + f'<div id="dist-plot">{dist_plot}</div>'
        "<h2>Conversations</h2>" + "".join(convs) + "</body></html>")


def write_report(paths: Sequence[str | Path], out: str | Path) -> Path:
    """Read the results files and write the report page to ``out``."""
    files = []
    names = [Path(p).name for p in paths]
    for p, name in zip(paths, names, strict=True):
        label = name if names.count(name) == 1 else str(p)
        files.append((label, load_results(p)))
    target = Path(out)
    target.write_text(build_report(files), encoding="utf-8")
    return target
