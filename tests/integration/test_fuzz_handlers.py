"""Every handler against about 1,300 deterministic mutations of its sample inputs, on moto.

Mutations (seeded ``random.Random``): fields dropped; a value replaced by a null, a number, a
boolean, a list, an object, an empty or a 100 KB string, a non-ASCII string; an object wrapped in
a list; a string edited a character at a time (case, ``_``, a space, a newline, another script's
digit, a lone surrogate...); several of these at once; and the whole input replaced by a list, a
number, a string or a null. Each handler must either return (a malformed input logged without
its values, counted, dropped) or raise one of the errors documented as retryable — never
``TypeError``, ``KeyError``, ``ValidationError``, botocore's ``ParamValidationError``... A
state machine step may instead refuse a malformed input by failing with its documented error
(``REFUSED``: not retried, the next step reports it), logged and counted the same way. And an
input the handler reported malformed changed nothing: object tags and bucket lifecycle, the
training job, Model Cards, findings, watch and rightsizing executions, the endpoint, the Studio
domain, space and app and the notebook instance, the digest table, the Organization sweep's and
the inventory sweep's objects, the state table, no decision on the bus, no notification.
"""

from __future__ import annotations

import copy
import random
import time
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from greenrail.audit import FindingsImportError
from greenrail.aws import THROTTLING_CODES, error_code
from greenrail.bus import PublishError
from greenrail.flows.inventory import MalformedBatch
from greenrail.flows.org_sweep import MalformedSweepInput
from greenrail.notify import NotificationError
from tests.conftest import Context
from tests.integration.handler_world import (
    HANDLERS,
    World,
    shared_world_fixture,  # noqa: F401 - the fixtures
    world_fixture,  # noqa: F401
)

SEED = 20261127
PER_HANDLER = 1_300 // len(HANDLERS)  # about 1,300 in all (each sample's share rounds down: 1,226 for 16)
HUGE = "h" * 100_000
NON_ASCII = "ünïcødé ☃ 𝔘 \u202e ١٢٣"
DEEP: Any = "bottom"
for _ in range(300):  # as deep as Lambda's runtime parses easily (its json.loads stops near 1,000)
    DEEP = {"x": DEEP}
REPLACEMENTS: dict[str, Any] = {
    "null": None, "int": 7, "negative": -1, "float": 1.5, "bool": True, "list": ["x"], "empty list": [],
    "object": {"x": 1}, "empty object": {}, "empty string": "", "huge string": HUGE, "non-ascii": NON_ASCII,
    "lone surrogate": "x\ud800",  # valid JSON ("\\ud800"), not encodable as UTF-8
    "deep object": DEEP, "deep JSON text": "[" * 100_000,
}
WHOLE: dict[str, Any] = {"null": None, "empty list": [], "int": 7, "string": "event", "empty object": {},
                         "bool": True, "huge string": HUGE}
EDIT_CHARACTERS = "aZ09_ .-/:\n\t\x00é٣😀\ud800"
ALLOWED = (PublishError, NotificationError, FindingsImportError)
# Steps that refuse a malformed input by failing (not retried; the state machine's next step reports it)
REFUSED: dict[str, tuple[type[Exception], ...]] = {"org_sweep": (MalformedSweepInput,), "storage_inventory": (MalformedBatch,)}
# How each handler says "malformed", and the metric it counts.
MALFORMED: dict[str, tuple[Callable[[Any], bool], tuple[str, ...]]] = {
    "storage_object": (lambda r: r.get("status") == "malformed", ("MalformedEvent",)),
    "storage_sweep": (lambda r: r.get("status") == "malformed", ("MalformedEvent",)),
    "training_watch_start": (lambda r: r.get("reason") == "malformed or foreign event", ("MalformedTrainingEvent",)),
    "training_evaluate": (lambda r: r.get("status") == "InvalidInput", ("InvalidWatchInput",)),
    "carbon_record": (lambda r: r.get("status") == "ignored", ("MalformedEvents",)),
    "notifier": (lambda r: r.get("status") == "malformed", ("MalformedDecision",)),
    "auditor": (lambda r: r.get("status") == "malformed", ("MalformedDecision",)),
    "retraining": (lambda r: r.get("status") == "malformed", ("MalformedEvent",)),
    "notebooks_sweep": (lambda r: r.get("status") == "malformed", ("MalformedEvent",)),
    "notebooks_event": (lambda r: r.get("status") == "malformed", ("MalformedEvent",)),
    "endpoint_event": (lambda r: r.get("reason") == "malformed or foreign event", ("MalformedEndpointEvent",)),
    "endpoint_rightsizing": (lambda r: r.get("status") == "InvalidInput", ("InvalidRightsizingInput",)),
    "digest": (lambda r: r.get("status") == "malformed", ("MalformedEvent",)),
    "org_sweep": (lambda r: r.get("status") == "malformed", ("MalformedEvent",)),
    "org_sweep_worker": (lambda r: r.get("status") == "malformed", ("MalformedEvent",)),
    "storage_inventory": (lambda r: r.get("status") == "malformed", ("MalformedEvent",)),
    "storage_tag_merge": (lambda r: r.get("status") == "malformed", ("MalformedEvent",)),
}
# An Organization sweep item is three strict fields: hardly a mutation of it stays valid (its samples are)
FEW = {("org_sweep_worker", "valid"): 3}
Path = tuple[str | int, ...]
Op = tuple[str, Path, Any]  # ("drop" | "set" | "wrap" | "edit", where, value or edit seed)


def locations(document: Any, path: Path = ()) -> Iterator[Path]:
    """Every field and list element of a JSON document, depth first."""
    children = document.items() if isinstance(document, dict) else enumerate(document) if isinstance(document, list) else ()
    for key, value in children:
        yield (*path, key)
        yield from locations(value, (*path, key))


def get(document: Any, path: Path) -> Any:
    for key in path:
        document = document[key]
    return document


def edited(text: str, rng: random.Random) -> str:
    """``text`` with one to three characters changed, inserted or removed, or its case flipped."""
    for _ in range(rng.randint(1, 3)):
        where = rng.randrange(len(text) + 1)
        kind = rng.choice(("replace", "insert", "delete", "upper", "newline", "truncate"))
        if kind == "upper":
            text = text.upper()
        elif kind == "newline":
            text += "\n"
        elif kind == "truncate":
            text = text[:where]
        elif kind == "delete":
            text = text[:where] + text[where + 1:]
        else:
            text = text[:where] + rng.choice(EDIT_CHARACTERS) + text[where + (kind == "replace"):]
    return text


def apply(document: Any, ops: list[Op]) -> Any:
    document = copy.deepcopy(document)
    for kind, path, value in ops:
        if not path:
            document = value
            continue
        try:
            parent: Any = get(document, path[:-1])
            current = parent[path[-1]]
        except (KeyError, IndexError, TypeError):
            continue  # an earlier operation removed or replaced it
        if not isinstance(parent, dict | list):
            continue  # replaced by a string, which can be indexed but not changed
        key: Any = path[-1]
        if kind == "drop":
            del parent[key]
        elif kind == "set":
            parent[key] = value
        elif kind == "wrap":
            parent[key] = [current]
        elif kind == "edit" and isinstance(current, str):
            parent[key] = edited(current, random.Random(value))
    return document


def mutations(sample: Any, rng: random.Random, budget: int) -> list[tuple[str, Any]]:
    """About ``budget`` mutations of ``sample``: every location touched before any is touched twice."""
    by_location: dict[Path, list[tuple[str, list[Op]]]] = {}
    for path in locations(sample):
        current = get(sample, path)
        options: list[tuple[str, list[Op]]] = [(f"drop {path}", [("drop", path, None)])]
        options += [(f"{name} at {path}", [("set", path, value)]) for name, value in REPLACEMENTS.items()
                    if value != current or type(value) is not type(current)]
        if isinstance(current, dict):
            options.append((f"list for the object at {path}", [("wrap", path, None)]))
        if isinstance(current, str):
            options += [(f"edit {n} of {path}", [("edit", path, rng.randrange(2**32))]) for n in range(6)]
        rng.shuffle(options)
        by_location[path] = options
    chosen: list[tuple[str, list[Op]]] = [(f"whole input: {name}", [("set", (), value)]) for name, value in WHOLE.items()]
    chosen.append(("whole input: in a list", [("set", (), [sample])]))
    singles = budget * 3 // 4
    while len(chosen) < singles and any(by_location.values()):
        for path in rng.sample(sorted(by_location, key=str), len(by_location)):
            if by_location[path] and len(chosen) < singles:
                chosen.append(by_location[path].pop())
    pool = [option for options in by_location.values() for option in options] or chosen[len(WHOLE) + 1:]
    while len(chosen) < budget and pool:
        several = rng.sample(pool, min(len(pool), rng.randint(2, 4)))
        chosen.append((" + ".join(label for label, _ in several), [op for _, ops in several for op in ops]))
    return [(label, apply(sample, ops)) for label, ops in chosen]


def retryable(exc: BaseException) -> bool:
    if isinstance(exc, ALLOWED):
        return True
    return isinstance(exc, ClientError) and error_code(exc) in THROTTLING_CODES


def all_mutations(world: World) -> list[tuple[str, str, Any]]:
    rng = random.Random(SEED)
    found = []
    for handler, samples in world.inputs().items():
        for sample in samples:
            found += [(handler, label, event) for label, event in mutations(sample, rng, PER_HANDLER // len(samples))]
    return found


def test_the_mutations_are_deterministic_and_about_1300(world: World) -> None:
    first, second = all_mutations(world), all_mutations(world)
    assert [(h, label) for h, label, _ in first] == [(h, label) for h, label, _ in second]
    assert 1_200 <= len(first) <= 1_400
    assert {h for h, _, _ in first} == set(HANDLERS)


def test_every_handler_survives_every_mutation_and_a_malformed_input_changes_nothing(
        world: World, capsys: pytest.CaptureFixture[str]) -> None:
    started = time.monotonic()
    failures: list[str] = []
    counts = {"malformed": 0, "valid": 0, "retryable": 0}
    seen: dict[tuple[str, str], int] = {}
    for handler, samples in world.inputs().items():  # each sample itself is accepted (the world lets it act)
        for number, sample in enumerate(samples):
            accepted = world.handlers[handler].handler(copy.deepcopy(sample), Context())
            assert isinstance(accepted, dict) and not MALFORMED[handler][0](accepted), (handler, number, accepted)
            if handler == "storage_tag_merge":  # the sample's task is done, not merely answered
                assert [r["resultCode"] for r in accepted["results"]] == ["Succeeded"], accepted
            seen[handler, "valid"] = seen.get((handler, "valid"), 0) + 1
            world.reset()
    capsys.readouterr()
    baseline = world.snapshot()
    for handler, label, event in all_mutations(world):
        is_malformed, metrics = MALFORMED[handler]
        capsys.readouterr()
        try:
            result: Any = world.handlers[handler].handler(event, Context())
        except Exception as exc:  # noqa: BLE001 - what is raised is the finding
            refused = isinstance(exc, REFUSED.get(handler, ()))
            if not refused and not retryable(exc):
                failures.append(f"{handler}, {label}: raised {''.join(traceback.format_exception_only(exc)).strip()[:300]}"
                                f"\n{''.join(traceback.format_tb(exc.__traceback__)[-3:])}")
            counts["retryable"] += retryable(exc)
            result = {"refused": str(exc)} if refused else exc  # its message is the next step's Cause: no values
        out = capsys.readouterr().out + (result.get("refused", "") if isinstance(result, dict) else "")
        after = world.snapshot()
        sent = {"a decision on the bus": world.received(world.decisions),
                "a notification": world.received(world.notifications)}
        changes = [f"changed {name}" for name in baseline if baseline[name] != after[name]]
        changes += [what for what, count in sent.items() if count]
        if isinstance(result, dict) and (is_malformed(result) or "refused" in result):
            counts["malformed"] += 1
            seen[handler, "malformed"] = seen.get((handler, "malformed"), 0) + 1
            problems = changes + [f"no {' or '.join(metrics)} metric"] * (not any(f'"{m}"' in out for m in metrics))
            problems += [f"logged a value ({marker[:10]}...)" for marker in (HUGE, NON_ASCII) if marker in out]
            if problems:
                failures.append(f"{handler}, {label}: malformed, but {', '.join(problems)}")
        elif not isinstance(result, BaseException):
            counts["valid"] += 1
            seen[handler, "valid"] = seen.get((handler, "valid"), 0) + 1
        if changes:  # a valid input acted (or a malformed one, already a failure): start again from the same state
            world.reset()
            baseline = world.snapshot()
    elapsed = time.monotonic() - started
    print(f"{sum(counts.values())} mutations in {elapsed:.1f} s: {counts}; {seen}")  # noqa: T201 - shown with -s
    assert not failures, f"{len(failures)} failures:\n" + "\n".join(failures[:40])
    # each handler saw both: inputs it refused, and inputs that were still valid (and acted), its samples included
    assert all(seen.get((handler, kind), 0) >= FEW.get((handler, kind), 5)
               for handler in HANDLERS for kind in ("malformed", "valid")), seen
