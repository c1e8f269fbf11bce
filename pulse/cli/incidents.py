"""`pulse incidents ...`: work a tenant's incidents through the REST API of `pulse serve`, as the tenant whose
API key is in $PULSE_API_KEY (never on the command line, where shell history and `ps` would show it)."""

from __future__ import annotations

import argparse
import getpass
import json
import os
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from pulse.incidents.actions import LABELS

console = Console()


def register(sub: argparse._SubParsersAction) -> None:
    """Add `pulse incidents` and its actions to the `pulse` parser."""
    p = sub.add_parser("incidents", help="list, acknowledge, assign, note, resolve, reopen, label, silence incidents")
    actions = p.add_subparsers(dest="action", required=True)

    def command(name: str, help: str, *ids: str) -> argparse.ArgumentParser:
        c = actions.add_parser(name, help=help)
        for id_name in ids:
            c.add_argument(id_name)
        c.add_argument("--api", default=os.environ.get("PULSE_API_URL", "http://127.0.0.1:8000"),
                       help="the API's base URL (default $PULSE_API_URL or http://127.0.0.1:8000)")  # fmt: skip
        c.add_argument("--by", default=os.environ.get("PULSE_USER") or getpass.getuser(),
                       help="who acts (default $PULSE_USER, else the login name)")  # fmt: skip
        c.add_argument("--json", action="store_true", help="print the API's JSON answer")
        c.set_defaults(func=run)
        return c

    command("list", "the tenant's incidents, newest first").add_argument(
        "--status", choices=("open", "updated", "resolved")
    )
    command("show", "one incident with its work state and history", "incident_id")
    command("ack", "acknowledge: someone is on it", "incident_id")
    command("assign", "assign to someone", "incident_id", "assignee")
    command("note", "add a note", "incident_id", "text")
    command("resolve", "resolve by hand (no more update notices)", "incident_id")
    command("reopen", "undo a resolve by hand", "incident_id")
    command("label", "true_problem, false_alarm or expected", "incident_id").add_argument("label", choices=LABELS)
    s = command("silence", "mute one incident (until resolved, or --for) or every incident --match selects")
    s.add_argument("incident_id", nargs="?")
    s.add_argument("--for", dest="duration", help="how long, e.g. 30m, 2h, 1d (needed with --match)")
    s.add_argument("--match", action="append", default=[], help="FIELD=VALUE or FIELD!=VALUE; repeatable")
    s.add_argument("--starts-at", help="RFC 3339 start of a --match silence (default now)")
    s.add_argument("--comment", default="")
    command("silences", "the tenant's silences")
    command("unsilence", "end a silence now", "silence_id")
    command("stats", "precision per rule and detector, from labels")


def run(args: argparse.Namespace) -> int:
    key = os.environ.get("PULSE_API_KEY")
    if not key:
        raise RuntimeError("set PULSE_API_KEY to the tenant's API key (pk_...) first")
    method, path, body = request_for(args)
    with httpx.Client(base_url=args.api, headers={"authorization": f"Bearer {key}"}, timeout=30) as client:
        try:
            response = client.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise RuntimeError(
                f"cannot reach the API at {args.api}: {exc} (is `pulse serve --clickhouse` running?)"
            ) from None
    if response.status_code >= 400:
        raise RuntimeError(f"{method} {path}: HTTP {response.status_code}: {_detail(response)}")
    answer = response.json()
    if args.json:
        print(json.dumps(answer, indent=2))
    else:
        show(args.action, answer)
    return 0


def request_for(args: argparse.Namespace) -> tuple[str, str, dict[str, Any] | None]:
    """The API call an action makes: method, path, JSON body.

    >>> request_for(argparse.Namespace(action="assign", incident_id="inc_1", assignee="bo", by="ana"))
    ('POST', '/v1/incidents/inc_1/assign', {'by': 'ana', 'assignee': 'bo'})
    """
    by = {"by": args.by} if hasattr(args, "by") else {}
    match args.action:
        case "list":
            return "GET", "/v1/incidents" + (f"?status={args.status}" if args.status else ""), None
        case "show":
            return "GET", f"/v1/incidents/{args.incident_id}/history", None
        case "ack":
            return "POST", f"/v1/incidents/{args.incident_id}/acknowledge", by
        case "assign":
            return "POST", f"/v1/incidents/{args.incident_id}/assign", by | {"assignee": args.assignee}
        case "note":
            return "POST", f"/v1/incidents/{args.incident_id}/note", by | {"text": args.text}
        case "resolve" | "reopen":
            return "POST", f"/v1/incidents/{args.incident_id}/{args.action}", by
        case "label":
            return "POST", f"/v1/incidents/{args.incident_id}/label", by | {"label": args.label}
        case "silence":
            return _silence(args, by)
        case "silences":
            return "GET", "/v1/silences", None
        case "unsilence":
            return "DELETE", f"/v1/silences/{args.silence_id}", None
        case "stats":
            return "GET", "/v1/incidents/stats", None
    raise ValueError(f"unknown action {args.action}")


def _silence(args: argparse.Namespace, by: dict[str, str]) -> tuple[str, str, dict[str, Any]]:
    if args.incident_id and args.match:
        raise ValueError("give an incident id or --match, not both")
    if args.incident_id:
        body = by | {"comment": args.comment} | ({"duration": args.duration} if args.duration else {})
        return "POST", f"/v1/incidents/{args.incident_id}/silence", body
    if not args.match or not args.duration:
        raise ValueError("silence an incident (pulse incidents silence INC_ID) or give --match and --for")
    body = by | {"matchers": args.match, "duration": args.duration, "comment": args.comment}
    return "POST", "/v1/silences", body | ({"starts_at": args.starts_at} if args.starts_at else {})


def show(action: str, answer: dict[str, Any]) -> None:
    if action == "list":
        _table(["incident", "status", "severity", "cause", "opened", "alerts"],
               [[i["incident_id"], i["status"], i["severity"], i["cause"], i["opened_at"], i["alert_count"]]
                for i in answer["incidents"]])  # fmt: skip
    elif action in ("silences",):
        _table(["silence", "matchers", "starts", "ends", "active", "by"],
               [[s["silence_id"], " ".join(s["matchers"]), s["starts_at"], s["ends_at"] or "until resolved",
                 "yes" if s["active"] else "no", s["created_by"]] for s in answer["silences"]])  # fmt: skip
    elif action == "stats":
        _table(["kind", "rule or detector", "incidents", "labelled", "true", "false alarm", "expected", "precision"],
               [[c["kind"], c["cause"], c["incidents"], c["labelled"], c["true_problem"], c["false_alarm"],
                 c["expected"], "-" if c["precision"] is None else f"{c['precision']:.0%}"]
                for c in answer["causes"]])  # fmt: skip
        console.print(f"{answer['alerts_held_back']} alerts held back by labels (per day: pulse usage)", markup=False)
    elif "history" in answer:
        work = answer["work"]
        console.print(f"{answer['incident_id']}: " + ", ".join(f"{k} {v}" for k, v in work.items() if v), markup=False)
        _table(["when", "action", "who", "value", "via"],
               [[h["at"], h["action"], h["actor"], h["value"], h["via"]] for h in answer["history"]])  # fmt: skip
    else:
        until = "until resolved" if answer["until_resolved"] else f"until {answer['ends_at']}"
        console.print(f"{answer['silence_id']}: {' '.join(answer['matchers'])} {until}", markup=False)


def _table(columns: list[str], rows: list[list[Any]]) -> None:
    table = Table(*columns)
    for row in rows:
        table.add_row(*(str(v) for v in row))
    console.print(table)


def _detail(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail")
    except ValueError:
        return response.text[:500]
    if isinstance(detail, list):  # FastAPI's validation errors
        return "; ".join(f"{'.'.join(map(str, d.get('loc', [])[1:]))}: {d.get('msg')}" for d in detail)
    return str(detail)
