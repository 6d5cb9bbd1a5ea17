"""Where decisions are carried out and announced: one module per kind of trigger.

* ``flows.event``: one AWS event (an S3 object created, a training job ended);
* ``flows.watch``: the training watch (start one per job, then one turn at a time);
* ``flows.sweep``: the scheduled backfill, per account;
* ``flows.scan``: ``greenrail scan``, every registered policy on demand.

Each runs: adapters (load) -> policy ``decide`` (pure) -> policy ``apply`` -> the bus. Handlers
parse and call one of these; policies never publish.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from greenrail.decision import Decision
from greenrail.validation import BucketName, ObjectKey, Utf8Text

Once = Callable[[dict[str, Any], Callable[[], Any]], Any]
Publish = Callable[[list[Decision]], Any]


# ---------------------------------------------------------------- what Step Functions passes a Map's last step
class StepError(BaseModel):
    """A Catch's ``ResultPath``: the error of the step that failed."""

    model_config = ConfigDict(extra="ignore", defer_build=True)

    Error: Utf8Text = Field(default="States.TaskFailed", max_length=256)
    Cause: Utf8Text = ""


class ResultLocation(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)

    Bucket: BucketName
    Key: ObjectKey


class MapOutput(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)

    ResultWriterDetails: ResultLocation | None = None


class _HeldBack(Exception):
    """A decision held back by the blast radius: it must not be remembered as done."""

    def __init__(self, decision: Decision):
        super().__init__(decision.reason)
        self.decision = decision


def settle(decision: Decision, subject: dict[str, Any], act: Callable[[Decision], Decision],
           once: Once, publish: Publish, remember_errors: bool = True) -> Decision:
    """Apply ``decision`` and announce it, each exactly once per ``subject`` (a resource and its state).

    ``once(subject, work)`` runs ``work`` once per subject (Powertools idempotency on the state
    table). Acting and announcing are two steps with two subjects, so that a failed PutEvents
    after the action is retried without acting again and without losing the announcement; a
    decision held back by the blast radius is not remembered, so the next event or sweep tries
    again (and takes a slot again only then). With ``remember_errors`` False, an action that
    failed (``error``) is not remembered either: the same subject is tried again.
    """
    def work() -> dict[str, Any]:
        done = act(decision)
        if done.held_back or (done.error and not remember_errors):
            raise _HeldBack(done)
        return done.model_dump(mode="json")

    try:
        outcome = Decision.model_validate(once(subject, work))
    except _HeldBack as held_back:
        outcome = held_back.decision
    if outcome.action != "none":
        def announce() -> dict[str, Any]:
            publish([outcome])
            return {"published": True}

        once({**subject, "announce": outcome.action, "applied": outcome.applied}, announce)
    return outcome
