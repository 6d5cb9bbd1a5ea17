"""Notebooks policy sweep, every 15 minutes by default (``NotebooksSweepSchedule``).

Input ``{"sweep": true}`` (the schedule's) or ``{}``: every account of the deployment (this one,
and in an Organization deployment each active member account through its role), a few Studio
domains at a time: domains, user profiles, spaces, apps and notebook instances, decided, acted on
(enforce) and announced once per resource state. Any other input is malformed: logged, counted,
nothing swept. See ``greenrail.flows.notebooks``.
"""


from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from greenrail.arn import account_of
from greenrail.aws import account_id
from greenrail.document import load_section
from greenrail.events import validation_problems
from greenrail.flows.notebooks import sweep
from greenrail.observability import Observability
from greenrail.policies.notebooks import POLICY, NotebooksPolicy
from greenrail.state import run_once

observe = Observability("greenrail-notebooks-sweep")


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sweep: Literal[True] = True


@observe.handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        _Input.model_validate(event)
    except ValidationError as exc:
        return observe.malformed("malformed notebooks sweep input: nothing swept", validation_problems(exc))
    own = account_of(getattr(context, "invoked_function_arn", "")) or account_id()
    policy = load_section(POLICY, NotebooksPolicy)  # a bad document raises: retried, then kept in the DLQ
    once = (lambda subject, work: run_once(subject, work, POLICY, context))  # noqa: E731
    report = sweep(policy, datetime.now(UTC), once, own)
    for account in report["accounts"]:
        observe.count("NotebooksEvaluated", account.get("evaluated", 0))
        observe.count("NotebooksActions", account.get("applied", 0))
        if account.get("errors") or account.get("error"):
            observe.count("NotebooksSweepErrors")
    observe.logger.info("notebooks sweep finished", extra={"accounts": len(report["accounts"])})
    return report
