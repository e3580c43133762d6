"""HTML report: a run, matrix or merge report as one self-contained page for people.

``asyncparity run --html FILE`` writes :func:`run_page`, ``matrix --html`` and ``merge
--html`` write :func:`matrix_page`. Both read the plain JSON-able reports the other
formats are written from (:func:`asyncparity.report.to_json`,
:func:`asyncparity.matrix.to_report`), plus, for a run, what only the loaded scenarios
know (:func:`scenario_extras`: summary, tags, declared divergences, generated programs).

The page opens from disk with nothing else: inline CSS and one inline script, no
network, no fonts, no images. Every status is written as a symbol and a word, never as
colour alone; every event mark takes the keyboard focus and shows its text on focus as
on hover; a timeline is one tab stop, the arrow keys move along it and between its
lanes. The page is rendered here, in full, so
that its script only filters rows: a page of 150 scenarios opens at once
(benchmarks/html_open.py measures it against a plain page of the same size).

Each target's timeline is drawn as a swimlane on the virtual time axis: a column per
instant at which some target recorded an event (columns keep the order of time, not
its scale, so that a 1 ms step and a 10 s wait are both readable), the events of one
instant stacked in their order. Marked as differing (``≠``): for a target that
mismatched, the events that the compare stage's diff adds against what it expected
(the first one is "the first difference"); for a target that diverged as declared, the
events a diff (difflib) against the first agreeing target does not pair up.

Trace events carry no source position (spec/PROTOCOL.md, "Trace events"), so an event
is linked to the lines of each generated program that name what it is about: for
``start``/``end``/``fail``/``cancel`` the lines that name its operation's binding, for
``open``/``close`` those naming the resource, for ``log`` the lines that call ``log``.
The page says "lines that name", not "the line that did it".
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from html import escape

from .matrix import LEGEND, SYMBOL
from .model import Scenario
from .trace import format_event

STATUSES = ("agree", "diverge", "mismatch", "error", "skipped")
FAILING = ("mismatch", "error")
WORST_LAST = ("agree", "diverge", "skipped", "mismatch", "error")
GLYPH = {
    "start": "▶",
    "end": "■",
    "fail": "✗",
    "cancel": "⊘",
    "log": "✎",
    "open": "⊏",
    "close": "⊐",
    "return": "↩",
    "throw": "↯",
    "unhandled": "⚠",
}
"""The mark of each event kind; its text says the kind too (``▶ start download_data``)."""

_DECLARATION = re.compile(r"(?:const\s+)?(\w+)\s*=\s*world\.(operation|resource)\(\s*\"([^\"]+)\"")
_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,\d+)? @@")


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def scenario_extras(scenario: Scenario, programs: dict[str, str]) -> dict:
    """What a run's HTML page shows beside its JSON report, for one scenario: plain data."""
    return {
        "summary": scenario.summary,
        "tags": list(scenario.tags),
        "diverge": [
            {
                "targets": list(divergence.targets),
                "cause": divergence.cause,
                "reason": divergence.reason,
                "see": list(divergence.see),
                "line": divergence.line,
            }
            for divergence in scenario.diverge
        ],
        "programs": dict(programs),
    }


def call_sites(program: str) -> dict[str, list[int]]:
    """The 1-based lines of a generated program that name each operation and resource
    (keys ``op:NAME``, ``resource:NAME``) and that call ``log`` (key ``log``); the
    declarations themselves are left out."""
    lines = program.splitlines()
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line) + 1)

    def line_of(offset: int) -> int:
        low, high = 0, len(starts) - 1
        while low < high:  # the last start at or before offset
            middle = (low + high + 1) // 2
            if starts[middle] <= offset:
                low = middle
            else:
                high = middle - 1
        return low + 1

    sites: dict[str, list[int]] = {}
    declared: set[int] = set()
    bindings: list[tuple[str, str]] = []
    for match in _DECLARATION.finditer(program):
        kind = "op" if match.group(2) == "operation" else "resource"
        bindings.append((f"{kind}:{match.group(3)}", match.group(1)))
        declared.update(range(line_of(match.start()), line_of(match.end()) + 1))
    for key, binding in bindings:
        # A JavaScript resource is closed through its handle (`connectionHandle.close()`).
        word = re.compile(rf"\b{re.escape(binding)}(?:Handle)?\b")
        sites[key] = [number for number, text in enumerate(lines, 1) if number not in declared and word.search(text)]
    sites["log"] = [number for number, text in enumerate(lines, 1) if re.search(r"(?<![\w.])log\(", text)]
    return sites


def _site_key(event: dict) -> str | None:
    if "op" in event:
        return f"op:{event['op']}"
    if "resource" in event:
        return f"resource:{event['resource']}"
    if event.get("event") == "log":
        return "log"
    return None


def diff_positions(diff: Sequence[str]) -> tuple[int | None, set[int]]:
    """From a unified diff of expected against actual lines: the index (0-based, in the
    actual lines) of the first difference, and the indices of the actual lines it adds."""
    added: set[int] = set()
    first: int | None = None
    position = None
    for line in diff:
        hunk = _HUNK.match(line)
        if hunk:
            position = max(int(hunk.group(1)) - 1, 0)
            continue
        if position is None or not line:
            continue
        if line[0] == " ":
            position += 1
        elif line[0] == "-":
            first = position if first is None else first
        elif line[0] == "+":
            first = position if first is None else first
            added.add(position)
            position += 1
    return first, added


def aligned_differences(reference: Sequence[str], lines: Sequence[str]) -> tuple[int | None, set[int]]:
    """The indices of ``lines`` that a diff against ``reference`` does not pair up, and the first
    index where the two part (``None`` when they do not)."""
    matcher = difflib.SequenceMatcher(a=list(reference), b=list(lines), autojunk=False)
    differing: set[int] = set()
    first: int | None = None
    for tag, _i1, _i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        first = j1 if first is None else first
        differing.update(range(j1, j2))
    return first, differing


CSS = """
:root{--fg:#1b1b1b;--bg:#fff;--muted:#595959;--line:#c8c8c8;--bad:#a40000;--badbg:#fde8e8;--div:#5a3d9a;--divbg:#efe9fb;--ok:#1e6b1e;--okbg:#e8f5e8;--focus:#0b57d0}
*{box-sizing:border-box}
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:var(--fg);background:var(--bg);margin:0 auto;padding:1rem 1.5rem;max-width:110rem}
code,pre,.mono{font-family:ui-monospace,"SFMono-Regular",Menlo,Consolas,monospace;font-size:13px}
h1{font-size:1.4rem;margin:.2rem 0}h2{font-size:1.15rem;margin:0 0 .3rem}h3{font-size:1rem;margin:.8rem 0 .3rem}
a{color:var(--focus)}
:focus-visible{outline:3px solid var(--focus);outline-offset:2px}
.counts{margin:.3rem 0 .6rem}
.filters{display:flex;flex-wrap:wrap;gap:.4rem;align-items:center;margin:.5rem 0}
.filters button{font:inherit;padding:.2rem .6rem;border:1px solid var(--muted);border-radius:4px;background:#f4f4f4;cursor:pointer}
.filters button[aria-pressed=false]{text-decoration:line-through;opacity:.6;background:#fff}
table.summary{border-collapse:collapse;width:100%}
table.summary th,table.summary td{border-bottom:1px solid var(--line);padding:.25rem .5rem;text-align:left;vertical-align:top}
.st-agree{color:var(--ok)}.st-diverge{color:var(--div)}.st-mismatch,.st-error{color:var(--bad)}.st-skipped{color:var(--muted)}
/* Sections off screen are laid out only when scrolled to: a page of 150 opens at once. */
.scenario{border:1px solid var(--line);border-radius:6px;padding:.7rem 1rem;margin:1rem 0;content-visibility:auto;contain-intrinsic-size:auto 40rem}
.scenario>header p{margin:.2rem 0}
.declared{background:var(--divbg);border-left:4px solid var(--div);padding:.4rem .7rem;margin:.5rem 0}
.message{margin:.3rem 0}
.lanes{overflow-x:auto;padding-bottom:4rem}
.grid{display:grid;gap:2px 4px;align-items:start}
.tick{font-size:12px;color:var(--muted);border-bottom:1px solid var(--line);white-space:nowrap}
.lane-name{font-weight:600;white-space:nowrap;padding-right:.4rem}
.instant{display:flex;flex-direction:column;gap:2px;min-height:1.6rem;border-left:1px dotted var(--line);padding-left:2px}
.ev{position:relative;display:block;border:1px solid var(--muted);border-radius:3px;background:#f7f7f7;padding:0 .3rem;white-space:nowrap;font-size:12px;cursor:default;max-width:14rem;overflow:visible}
.ev .label{display:block;overflow:hidden;text-overflow:ellipsis;max-width:13rem}
.ev.differs{border:2px dashed var(--bad);background:var(--badbg)}
.ev.first{border:3px solid var(--bad);font-weight:700}
.ev.declared-diff{border:2px dashed var(--div);background:var(--divbg)}
.ev.declared-diff.first{border:3px solid var(--div)}
.ev .tip{position:absolute;z-index:5;left:0;top:100%;background:#fff;color:var(--fg);border:1px solid var(--fg);border-radius:4px;padding:.3rem .5rem;white-space:pre-wrap;min-width:18rem;max-width:34rem;box-shadow:0 2px 6px rgba(0,0,0,.25);font-weight:400}
/* Hidden from sight, not from screen readers, until hovered or focused. */
.ev:not(:hover):not(:focus-within) .tip{clip-path:inset(50%);width:1px;height:1px;min-width:0;overflow:hidden;padding:0;border:0;white-space:nowrap}
.lane-note{font-size:12px;color:var(--muted)}
.programs{display:grid;grid-template-columns:repeat(auto-fit,minmax(20rem,1fr));gap:.6rem}
.program h3{margin:.2rem 0}
.program pre{margin:0;overflow-x:auto;border:1px solid var(--line);padding:.3rem 0;background:#fafafa;max-height:32rem}
.program pre{counter-reset:ln}
.program .ln{display:block;padding-right:.5rem}
.program .ln::before{counter-increment:ln;content:counter(ln);display:inline-block;width:3.2em;text-align:right;padding-right:.6em;color:var(--muted)}
.program .ln:target,.program .ln.lit{background:#fff3b0;outline:1px solid #b08d00}
table.grid-matrix{border-collapse:collapse}
table.grid-matrix th,table.grid-matrix td{border:1px solid var(--line);padding:.15rem .45rem;text-align:center}
table.grid-matrix th[scope=row]{text-align:left;font-weight:400}
table.grid-matrix td a{display:block;text-decoration:none;font-size:1.05rem}
.cell-details li{margin:.3rem 0}
[hidden]{display:none!important}
"""

SCRIPT = """
(function(){
  var rows=[].slice.call(document.querySelectorAll('tr[data-status]'));
  var buttons=[].slice.call(document.querySelectorAll('button[data-filter]'));
  var tag=document.getElementById('tag-filter');
  var shown=document.getElementById('shown');
  function apply(){
    var on={};buttons.forEach(function(b){on[b.dataset.filter]=b.getAttribute('aria-pressed')==='true';});
    var want=tag?tag.value:'';var count=0;
    rows.forEach(function(row){
      var visible=on[row.dataset.status]!==false&&(!want||(' '+row.dataset.tags+' ').indexOf(' '+want+' ')>=0);
      row.hidden=!visible;if(visible){count++;}
      var section=document.getElementById(row.dataset.section);if(section){section.hidden=!visible;}
    });
    if(shown){shown.textContent=count+' of '+rows.length+' shown';}
  }
  buttons.forEach(function(b){b.addEventListener('click',function(){
    b.setAttribute('aria-pressed',b.getAttribute('aria-pressed')==='true'?'false':'true');apply();});});
  var only=document.getElementById('only-failing');
  if(only){only.addEventListener('click',function(){
    buttons.forEach(function(b){b.setAttribute('aria-pressed',String(b.dataset.failing==='true'));});apply();});}
  var all=document.getElementById('show-all');
  if(all){all.addEventListener('click',function(){
    buttons.forEach(function(b){b.setAttribute('aria-pressed','true');});if(tag){tag.value='';}apply();});}
  if(tag){tag.addEventListener('change',apply);}
  document.addEventListener('keydown',function(event){
    var mark=event.target;if(!mark.classList||!mark.classList.contains('ev')){return;}
    var laneOf=mark.closest('.lane-events');
    var lane=[].slice.call(laneOf.querySelectorAll('.ev'));
    var lanes=[].slice.call(laneOf.parentNode.querySelectorAll('.lane-events'));
    var at=lane.indexOf(mark),row=lanes.indexOf(laneOf),next=null;
    if(event.key==='ArrowRight'){next=lane[at+1];}
    else if(event.key==='ArrowLeft'){next=lane[at-1];}
    else if(event.key==='Home'){next=lane[0];}
    else if(event.key==='End'){next=lane[lane.length-1];}
    else if(event.key==='ArrowDown'||event.key==='ArrowUp'){
      var other=lanes[row+(event.key==='ArrowDown'?1:-1)];
      if(other){var marks=other.querySelectorAll('.ev');next=marks[Math.min(at,marks.length-1)];}}
    else{return;}
    event.preventDefault();
    // One tab stop a lane (a roving tabindex): Tab goes past a timeline, the arrows go along it.
    if(next){mark.tabIndex=-1;next.tabIndex=0;next.focus();}
  });
  document.addEventListener('click',function(event){
    var link=event.target.closest&&event.target.closest('.tip[data-lines] a');if(!link){return;}
    [].slice.call(document.querySelectorAll('.ln.lit')).forEach(function(l){l.classList.remove('lit');});
    link.closest('.tip').dataset.lines.split(' ').forEach(function(id){var l=document.getElementById(id);
      if(l){l.classList.add('lit');var d=l.closest('details');if(d){d.open=true;}}});
  });
  apply();
})();
"""


def _page(title: str, body: list[str]) -> str:
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            # Nothing is fetched: the page is read from disk, perhaps offline.
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
            "script-src 'unsafe-inline'; img-src data:\">",
            f"<title>{_e(title)}</title>",
            f"<style>{CSS}</style>",
            "</head>",
            "<body>",
            *body,
            f"<script>{SCRIPT}</script>",
            "</body>",
            "</html>",
            "",
        ]
    )


def _status(status: str) -> str:
    return f'<span class="st-{_e(status)}">{_e(SYMBOL.get(status, "?"))} {_e(status)}</span>'


def _filters(statuses: dict[str, int], tags: Sequence[str]) -> list[str]:
    parts = ['<div class="filters" role="group" aria-label="filter scenarios">', "<span>Show:</span>"]
    for status in STATUSES:
        if statuses.get(status):
            parts.append(
                f'<button type="button" data-filter="{status}" data-failing="{str(status in FAILING).lower()}" '
                f'aria-pressed="true">{_e(SYMBOL[status])} {status} ({statuses[status]})</button>'
            )
    parts.append('<button type="button" id="only-failing">only failures</button>')
    parts.append('<button type="button" id="show-all">show all</button>')
    if tags:
        options = "".join(f'<option value="{_e(tag)}">{_e(tag)}</option>' for tag in tags)
        parts.append(f'<label>tag <select id="tag-filter"><option value="">any</option>{options}</select></label>')
    parts.append('<span id="shown" aria-live="polite"></span>')
    parts.append("</div>")
    return parts


def _line_id(section: str, target: str, number: int) -> str:
    """``p3-python-26``: line 26 of the python program of the fourth scenario (short: a
    page holds thousands)."""
    return f"p{section.split('-')[1]}-{target}-{number}"


def _anchor(*parts: str) -> str:
    return "-".join(re.sub(r"[^A-Za-z0-9_.-]", "_", part) for part in parts)


def run_page(report: dict, extras: dict[str, dict] | None = None, title: str = "asyncparity run") -> str:
    """The page of a run: the summary table (filterable by status and tag, with the
    counts), then per scenario its verdicts, the declared divergences, the targets'
    timelines and the generated programs. ``report`` is :func:`asyncparity.report.to_json`'s;
    ``extras`` maps a scenario id to :func:`scenario_extras`."""
    extras = extras or {}
    scenarios = report.get("scenarios", [])
    counts: dict[str, int] = {}
    for scenario in scenarios:
        counts[scenario["status"]] = counts.get(scenario["status"], 0) + 1
    tags = sorted({tag for extra in extras.values() for tag in extra.get("tags", [])})
    targets = list(dict.fromkeys(item["target"] for scenario in scenarios for item in scenario["targets"]))
    summary = report.get("summary", {})
    body = [f"<header><h1>{_e(title)}</h1>"]
    line = f"{summary.get('passed', 0)} passed, {summary.get('failed', 0)} failed"
    if summary.get("skipped"):
        line += f", {summary['skipped']} skipped"
    if report.get("interrupted"):
        line += f"; interrupted: {report.get('not_run', 0)} scenario(s) not run"
    body.append(f'<p class="counts"><strong>{_e(line)}</strong> · {len(scenarios)} scenario(s) · {_e(LEGEND)}</p>')
    for item in report.get("passed_over", []):
        body.append(f"<p>{_e('SKIP')} <code>{_e(item['path'])}</code>: {_e(item['reason'])}</p>")
    body.append("</header>")
    body += _filters(counts, tags)
    body.append('<table class="summary"><caption class="lane-note">scenarios by target</caption><thead><tr>')
    body.append('<th scope="col">status</th><th scope="col">scenario</th>')
    body += [f'<th scope="col">{_e(target)}</th>' for target in targets]
    body.append('<th scope="col">first difference</th></tr></thead><tbody>')
    for index, scenario in enumerate(scenarios):
        sid = scenario["id"] or scenario["path"]
        section = _anchor("s", str(index), sid)
        extra = extras.get(scenario["id"] or "", {})
        by_target = {item["target"]: item for item in scenario["targets"]}
        failing = next((item for item in scenario["targets"] if item["status"] in FAILING), None)
        first = _e(failing["message"]) if failing else ""
        if failing and failing["diff"] and failing.get("outcome"):
            # To the event itself, on its timeline.
            first = f'<a href="#{_anchor(section, "first", failing["target"])}">{first}</a>'
        if not first and scenario["diagnostics"]:
            first = _e(scenario["diagnostics"][0].get("message", ""))
        body.append(
            f'<tr data-status="{_e(scenario["status"])}" data-tags="{_e(" ".join(extra.get("tags", [])))}" '
            f'data-section="{section}"><td>{_status(scenario["status"])}</td>'
            f'<td><a href="#{section}">{_e(sid)}</a></td>'
            + "".join(f"<td>{_status(by_target[t]['status']) if t in by_target else ''}</td>" for t in targets)
            + f"<td>{first}</td></tr>"
        )
    body.append("</tbody></table>")
    for index, scenario in enumerate(scenarios):
        body += _scenario_section(
            scenario, extras.get(scenario["id"] or "", {}), _anchor("s", str(index), scenario["id"] or scenario["path"])
        )
    return _page(title, body)


def _scenario_section(scenario: dict, extra: dict, section: str) -> list[str]:
    sid = scenario["id"] or scenario["path"]
    parts = [f'<section class="scenario" id="{section}" aria-labelledby="{section}-h">', "<header>"]
    parts.append(f'<h2 id="{section}-h">{_status(scenario["status"])} {_e(sid)}</h2>')
    if extra.get("summary"):
        parts.append(f"<p>{_e(extra['summary'])}</p>")
    parts.append(
        f"<p><code>{_e(scenario['path'])}:{_e(scenario['line'])}</code> · rerun: <code>{_e(scenario['rerun'])}</code></p>"
    )
    if extra.get("tags"):
        parts.append(f"<p>tags: {_e(', '.join(extra['tags']))}</p>")
    parts.append("</header>")
    for diagnostic in scenario.get("diagnostics", []):
        where = f"{diagnostic.get('path', '')}:{diagnostic.get('line', '')}:{diagnostic.get('column', '')}"
        parts.append(f'<p class="message">✗ <code>{_e(where)}</code>: {_e(diagnostic.get("message", diagnostic))}</p>')
    for divergence in extra.get("diverge", []):
        parts.append(f'<aside class="declared" aria-label="declared divergence of {_e(", ".join(divergence["targets"]))}">')
        parts.append(
            f"<p>◇ <strong>declared divergence</strong> of {_e(', '.join(divergence['targets']))} "
            f"(cause: {_e(divergence['cause'])}; line {_e(divergence['line'])}): {_e(divergence['reason'])}</p>"
        )
        if divergence.get("see"):
            links = ", ".join(f'<a href="{_e(url)}">{_e(url)}</a>' for url in divergence["see"] if _is_web(url))
            plain = ", ".join(_e(url) for url in divergence["see"] if not _is_web(url))
            parts.append(f"<p>sources: {', '.join(x for x in (links, plain) if x)}</p>")
        parts.append("</aside>")
    for item in scenario["targets"]:
        # A divergence's message repeats its declared reason, which the aside above shows.
        if item["message"] and not (item["status"] == "diverge" and extra.get("diverge")):
            parts.append(
                f'<p class="message">{_status(item["status"])} <strong>{_e(item["target"])}</strong>: {_e(item["message"])}</p>'
            )
        if item["diff"]:
            parts.append(
                f"<details><summary>diff of {_e(item['target'])}</summary><pre>{_e(chr(10).join(item['diff']))}</pre></details>"
            )
    parts += _lanes(scenario, extra, section)
    parts += _programs(extra.get("programs", {}), section, scenario["status"] != "agree")
    parts.append("</section>")
    return parts


def _is_web(url: str) -> bool:
    return url.startswith(("https://", "http://"))


def _lanes(scenario: dict, extra: dict, section: str) -> list[str]:
    lanes = [item for item in scenario["targets"] if item.get("outcome") and isinstance(item["outcome"].get("trace"), list)]
    if not lanes:
        return []
    lines = {item["target"]: [format_event(event) for event in item["outcome"]["trace"]] for item in lanes}
    reference = next((item["target"] for item in lanes if item["status"] == "agree"), None)
    marks: dict[str, tuple[int | None, set[int], str]] = {}
    for item in lanes:
        target = item["target"]
        if item["status"] == "mismatch" and item["diff"]:
            first, differing = diff_positions(item["diff"])
            marks[target] = (first, differing, "differs")
        elif item["status"] == "diverge" and reference is not None:
            first, differing = aligned_differences(lines[reference], lines[target])
            marks[target] = (first, differing, "declared-diff")
    instants = sorted({event["t"] for item in lanes for event in item["outcome"]["trace"] if isinstance(event.get("t"), int)})
    column = {t: index + 2 for index, t in enumerate(instants)}
    programs = extra.get("programs", {})
    sites = {target: call_sites(text) for target, text in programs.items()}
    parts = ['<h3>Timelines</h3><div class="lanes">']
    parts.append(
        f'<div class="grid" role="group" aria-label="timelines of {_e(scenario["id"])}" '
        f'style="grid-template-columns:9rem repeat({len(instants)},minmax(6.5rem,max-content))">'
    )
    parts.append('<div class="tick">virtual ms</div>' + "".join(f'<div class="tick">{t} ms</div>' for t in instants))
    for row, item in enumerate(lanes, 2):
        target = item["target"]
        first, differing, kind = marks.get(target, (None, set(), ""))
        events = item["outcome"]["trace"]
        note = ""
        if first is not None:
            declared = " (declared)" if kind == "declared-diff" else ""
            note = f"first difference{declared}: event {first + 1}"
            if first >= len(events):
                note = f"ended early: the first difference{declared} is a missing event {first + 1}"
        # A first difference past the last event (the trace ended early) has no mark: the
        # summary's link lands on the lane's name instead.
        ended = f' id="{_anchor(section, "first", target)}"' if first is not None and first >= len(events) else ""
        parts.append(
            f'<div class="lane-name"{ended} style="grid-row:{row}">{_e(target)}<br>{_status(item["status"])}'
            + (f'<br><span class="lane-note">{_e(note)}</span>' if note else "")
            + "</div>"
        )
        parts.append(f'<div class="lane-events" style="display:contents" data-target="{_e(target)}">')
        cells: dict[int, list[str]] = {}
        for index, event in enumerate(events):
            cells.setdefault(event.get("t", 0), []).append(
                _event_mark(event, lines[target][index], index, index in differing, index == first, kind, target, section, sites)
            )
        for t in instants:
            parts.append(f'<div class="instant" style="grid-row:{row};grid-column:{column[t]}">{"".join(cells.get(t, []))}</div>')
        parts.append("</div>")
    parts.append("</div></div>")
    return parts


def _event_mark(
    event: dict,
    line: str,
    index: int,
    differs: bool,
    first: bool,
    kind: str,
    target: str,
    section: str,
    sites: dict[str, dict[str, list[int]]],
) -> str:
    name = event.get("event", "?")
    subject = event.get("op") or event.get("resource") or ""
    mark_id = f' id="{_anchor(section, "first", target)}"' if first else ""
    label = f"{GLYPH.get(name, '•')} {name} {subject}".rstrip()
    what = ""
    classes = ["ev"]
    if differs or first:
        classes.append(kind)
        what = "declared divergence" if kind == "declared-diff" else "differs"
        label = f"≠ {label}"
    if first:
        classes.append("first")
        what = "first difference" + (" (declared)" if kind == "declared-diff" else "")
    text = f"{target}, event {index + 1}: {line}" + (f"\n≠ {what}" if what else "")
    key = _site_key(event)
    links = []
    ids = []
    if key is not None:
        for program_target, program_sites in sites.items():
            numbers = program_sites.get(key, [])
            if numbers:
                ids += [_line_id(section, program_target, n) for n in numbers]
                anchors = ", ".join(f'<a href="#{_line_id(section, program_target, n)}">{n}</a>' for n in numbers)
                links.append(f"{_e(program_target)} line{'s' if len(numbers) > 1 else ''} {anchors}")
    sites_text = ""
    if links:
        what_names = "log" if key == "log" else _e(subject)
        sites_text = f"\nprogram lines that name {what_names}: " + "; ".join(links)
    return (
        f'<div class="{" ".join(classes)}"{mark_id} tabindex="{0 if index == 0 else -1}" data-index="{index}">'
        f'<span class="label">{_e(label)}</span><span class="tip" role="tooltip" data-lines="{" ".join(ids)}">{_e(text)}{sites_text}</span></div>'
    )


def _programs(programs: dict[str, str], section: str, open_: bool) -> list[str]:
    if not programs:
        return []
    # Open where something differs; a link to a line opens its <details> (the script).
    parts = [f"<details{' open' if open_ else ''}><summary>Generated programs</summary>", '<div class="programs">']
    for target, text in programs.items():
        # One string: a newline between the block-level lines would show as an empty line.
        numbered = "".join(
            f'<span class="ln" id="{_line_id(section, target, number)}">{_e(line)}</span>'
            for number, line in enumerate(text.splitlines(), 1)
        )
        parts.append(f'<div class="program"><h3>{_e(target)}</h3><pre>{numbered}</pre></div>')
    parts.append("</div></details>")
    return parts


def matrix_page(report: dict, title: str = "asyncparity matrix") -> str:
    """The page of a matrix (or merged shards): the grid of scenario by runtime, each cell
    a link to its details (its targets' messages and the command that reruns it)."""
    cells = [cell["name"] for cell in report.get("cells", [])]
    scenarios = report.get("scenarios", [])

    def row_status(scenario: dict) -> str:
        statuses = [str(scenario["cells"][name].get("status")) for name in cells if name in scenario["cells"]]
        # A status this kit does not write (a report edited by hand) ranks worst.
        return max(
            statuses, key=lambda status: WORST_LAST.index(status) if status in WORST_LAST else len(WORST_LAST), default="agree"
        )

    counts: dict[str, int] = {}
    for scenario in scenarios:
        counts[row_status(scenario)] = counts.get(row_status(scenario), 0) + 1
    body = [f"<header><h1>{_e(title)}</h1>"]
    body.append(f'<p class="counts">{len(scenarios)} scenario(s) on {len(cells)} runtime pair(s) · {_e(LEGEND)}</p></header>')
    body += _filters(counts, [])
    body.append(
        '<table class="grid-matrix"><caption class="lane-note">scenario by runtime: each cell links to its details</caption>'
    )
    body.append(
        '<thead><tr><th scope="col">scenario</th>'
        + "".join(f'<th scope="col">{_e(name)}</th>' for name in cells)
        + "</tr></thead><tbody>"
    )
    for index, scenario in enumerate(scenarios):
        section = _anchor("m", str(index), scenario["id"])
        cells_html = []
        for position, name in enumerate(cells):
            status = scenario["cells"].get(name, {}).get("status", "skipped")
            cells_html.append(
                f'<td class="st-{_e(status)}"><a href="#{section}-c{position}" aria-label="{_e(scenario["id"])} on {_e(name)}: {_e(status)}" '
                f'title="{_e(name)}: {_e(status)}">{_e(SYMBOL.get(status, "?"))}</a></td>'
            )
        body.append(
            f'<tr data-status="{_e(row_status(scenario))}" data-tags="" data-section="{section}">'
            f'<th scope="row"><a href="#{section}">{_e(scenario["id"])}</a></th>{"".join(cells_html)}</tr>'
        )
    body.append("</tbody></table>")
    for index, scenario in enumerate(scenarios):
        section = _anchor("m", str(index), scenario["id"])
        body.append(f'<section class="scenario" id="{section}"><h2>{_status(row_status(scenario))} {_e(scenario["id"])}</h2>')
        body.append(f'<p><code>{_e(scenario["path"])}:{_e(scenario["line"])}</code></p><ul class="cell-details">')
        for position, name in enumerate(cells):
            cell = scenario["cells"].get(name, {"status": "skipped"})
            body.append(f'<li id="{section}-c{position}"><strong>{_e(name)}</strong>: {_status(cell["status"])}')
            targets = cell.get("targets", {})
            if targets:
                body.append(
                    "<ul>" + "".join(f"<li>{_e(t)}: {_e(item.get('message', ''))}</li>" for t, item in targets.items()) + "</ul>"
                )
            if cell.get("rerun"):
                body.append(f"<div>rerun: <code>{_e(cell['rerun'])}</code></div>")
            body.append("</li>")
        body.append("</ul></section>")
    for broken in report.get("broken", []):
        body.append(f'<section class="scenario"><h2>✗ {_e(broken["path"])} did not load</h2><ul>')
        body += [f"<li>{_e(diagnostic)}</li>" for diagnostic in broken.get("diagnostics", [])]
        body.append("</ul></section>")
    return _page(title, body)
