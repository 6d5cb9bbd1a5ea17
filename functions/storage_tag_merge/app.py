"""Storage policy: the S3 Batch Operations ``LambdaInvoke`` tasks of the inventory sweep's merge jobs.

Batch Operations invokes this function for each object of a merge job's manifest (invocation
schema 2.0, ``userArguments``: ``tagKey``, ``storageClass``): the object's tags are read now and
Greenrail's tag is added to them, every tag kept. The answer is Batch Operations' response
(``results``: one ``Succeeded``, ``TemporaryFailure`` or ``PermanentFailure`` per task). Anything
that is not a Batch Operations invocation is malformed: logged (field names only), counted,
nothing done. See ``greenrail.flows.tag_merge``.
"""

from __future__ import annotations

from typing import Any

from greenrail.document import load_section
from greenrail.flows import tag_merge
from greenrail.observability import Observability
from greenrail.policies.storage import POLICY, StoragePolicy

observe = Observability("greenrail-storage-tag-merge")


@observe.handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        invocation = tag_merge.parse(event)
    except tag_merge.MalformedJobEvent as exc:
        return observe.malformed("malformed Batch Operations invocation: nothing done", exc.problems)
    response = tag_merge.answer(invocation, lambda: load_section(POLICY, StoragePolicy))
    for code, count in tag_merge.counts(response).items():
        observe.count(f"TagMerge{code}", count)
    return response
