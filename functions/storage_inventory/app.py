"""Storage policy from S3 Inventory: the three Lambda steps of StorageInventoryStateMachine.

``{"prepare": {...}}``: check the manifest and its files, write the checked manifest. ``{"Items",
"BatchInput"}`` (an ItemBatcher batch of rows): decide, look up the candidates' tags, write the
fragment of objects to tag; a malformed batch is logged, counted and fails (``MalformedBatch``:
``finish`` reports it, the others go on). ``{"finish": {...}}``: aggregated decisions, and in
enforce mode the tagging. Anything else is malformed: logged (field names only), counted, nothing
done. See ``greenrail.flows.inventory``.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from greenrail.bus import publish
from greenrail.document import load_section
from greenrail.events import validation_problems
from greenrail.flows import inventory
from greenrail.observability import Observability
from greenrail.policies.storage import POLICY, StoragePolicy
from greenrail.state import BlastRadius, run_once

observe = Observability("greenrail-storage-inventory")
STEPS = {"prepare": inventory.PrepareRequest, "finish": inventory.FinishRequest, "Items": inventory.BatchRequest}


@observe.handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    step = next((name for name in STEPS if isinstance(event, dict) and name in event), "step")
    if step not in STEPS:
        return _refuse(step, [{"field": "(input)", "problem": "expected an object with prepare, finish or Items"}])
    try:
        request: Any = STEPS[step].model_validate(event if step == "Items" else event[step])
    except ValidationError as exc:
        return _refuse(step, validation_problems(exc))
    if step == "prepare":
        return inventory.prepare(request)
    policy = load_section(POLICY, StoragePolicy)
    if step == "Items":
        try:
            result = inventory.decide_batch(request, policy)
        except inventory.MalformedBatch as exc:  # its rows
            return _refuse(step, validation_problems(exc))
        observe.count("InventoryRowsDecided", result["rows"])
        return result
    blast = BlastRadius(POLICY, policy.blast_radius.max_actions_per_hour)
    result = inventory.finish(request, policy, blast,
                              lambda subject, work: run_once(subject, work, POLICY, context), publish)
    observe.logger.info("inventory sweep finished", extra=result)
    return result


def _refuse(step: str, problems: list[dict[str, str]]) -> dict[str, Any]:  # logged and counted; a batch fails
    refused = observe.malformed(f"malformed inventory {step} input: nothing done", problems)
    if step != "Items":
        return refused
    raise inventory.MalformedBatch("; ".join(f"{p['field']}: {p['problem']}" for p in problems))
