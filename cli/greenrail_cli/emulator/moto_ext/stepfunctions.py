"""Step Functions: what moto 5.2.5's interpreter lacks for Greenrail's state machines.

* ``Wait`` states advance the emulator's clock instead of sleeping.
* A ``.waitForTaskToken`` Task waits on the emulator's clock too: while no SendTaskSuccess (or
  failure) came, it advances the clock a minute at a time (what the minute sets off, events and
  the functions they invoke, runs meanwhile), and times out when its ``TimeoutSeconds`` have
  passed on that clock.
* Distributed Map children of ``ExecutionType: EXPRESS`` and an integer
  ``ToleratedFailurePercentage``, both refused by moto's grammar, run as STANDARD and as a decimal.
* ``ItemBatcher`` (absent from moto's ASL grammar): the field is taken out of the definition
  before moto parses it and applied to the Distributed Map's items: batches of
  ``MaxItemsPerBatch`` (or ``MaxItemsPerBatchPath``) items and at most ``MaxInputBytesPerBatch``
  bytes of JSON, each child
  execution's input ``{"Items": [...], "BatchInput": {...}}`` with ``BatchInput`` evaluated
  against the Map state's input (``"key.$": "$.a.b"`` paths).
* ``ItemReader`` with ``ReaderConfig.InputType: MANIFEST`` (a TODO in moto): the object read is an
  S3 Inventory ``manifest.json``; every file it lists is read from its ``destinationBucket``
  (CSV, gzip or not, or Parquet when pyarrow is installed) and each row is one item, its fields
  named by the manifest's ``fileSchema`` (CSV values are strings, as Step Functions gives them).
  A file that cannot be read (gone, not gzip, not Parquet) fails the Map Run with
  ``States.ItemReaderFailed``, as an unreadable ItemReader source does in AWS.
* ``ToleratedFailurePercentage``/``ToleratedFailureCount``: moto records failed child executions
  but never fails the Map Run; here a Map Run whose failures exceed the tolerance fails with
  ``States.ExceedToleratedFailureThreshold``.
* ``ResultWriter`` (moto writes an empty manifest): ``SUCCEEDED_0.json`` and ``FAILED_0.json``
  are written beside ``manifest.json``, each a JSON array of the child executions (``Input``,
  ``Output`` or ``Error``/``Cause``, ``Status``), as Step Functions writes them.
"""

from __future__ import annotations

import copy
import csv
import gzip
import io
import json
import os
import threading
from typing import Any

from moto.stepfunctions.parser.asl.component.state.wait.wait_function import wait_function

from greenrail_cli.emulator.moto_ext import hooks

MANIFEST = "MANIFEST"
_applied = False
_local = threading.local()  # the Map Run's child errors, by job index, while it runs


def _wait_interval(self: Any, env: Any, wait_seconds: int) -> None:
    if hooks.clock is not None:
        hooks.clock.advance(max(0, int(wait_seconds)))


TOKEN_STEP_SECONDS = 60  # how far the clock moves between two looks for a Task token's callback
HANDOFF_SECONDS = 5.0  # at most this long (real time) for what one step queued to run


def _wait_for_task_token(original: Any) -> Any:
    def wait(self: Any, timeout_seconds: int, callback_endpoint: Any) -> Any:
        clock = hooks.clock
        if clock is None:
            return original(self, timeout_seconds, callback_endpoint)
        waited = 0
        while True:
            outcome = _handoff(callback_endpoint)
            if outcome is not None or waited >= int(timeout_seconds):
                return outcome
            step = min(TOKEN_STEP_SECONDS, int(timeout_seconds) - waited)
            clock.advance(step)
            waited += step

    return wait


def _handoff(callback_endpoint: Any) -> Any:
    """The callback, once the emulator's drain (another thread) ran what the clock queued."""
    import time

    runtime = hooks.runtime
    deadline = time.monotonic() + HANDOFF_SECONDS
    while True:
        outcome = callback_endpoint.wait(timeout=0.005)
        busy = runtime is not None and (runtime.pending() or not _idle(runtime))
        if outcome is not None or not busy or time.monotonic() > deadline:
            return outcome


def _idle(runtime: Any) -> bool:
    """No invocation in progress (the runtime runs one at a time, under its lock)."""
    lock = getattr(runtime, "_lock", None)
    if lock is None or not lock.acquire(blocking=False):
        return lock is None
    lock.release()
    return True


# ---------------------------------------------------------------- ItemBatcher
def _strip_batchers(states: dict[str, Any], path: tuple[str, ...], found: dict[tuple[str, ...], dict[str, Any]]) -> None:
    for name, state in states.items():
        if not isinstance(state, dict) or state.get("Type") != "Map":
            continue
        if "ItemBatcher" in state:
            found[(*path, name)] = state.pop("ItemBatcher")
        if isinstance(state.get("ToleratedFailurePercentage"), int):  # moto's grammar wants a decimal
            state["ToleratedFailurePercentage"] = float(state["ToleratedFailurePercentage"])
        processor = state.get("ItemProcessor") or state.get("Iterator") or {}
        config = processor.get("ProcessorConfig") or {}
        if config.get("ExecutionType") == "EXPRESS":  # moto's grammar knows STANDARD only: same semantics here
            config["ExecutionType"] = "STANDARD"
        _strip_batchers(processor.get("States", {}), (*path, name), found)


def _attach_batchers(program: Any, found: dict[tuple[str, ...], dict[str, Any]]) -> None:
    def walk(states: Any, path: tuple[str, ...]) -> None:
        for name, state in getattr(states, "states", {}).items():
            component = getattr(state, "iteration_component", None)
            if component is None:
                continue
            if (*path, name) in found:
                component._greenrail_batcher = found[(*path, name)]
            walk(getattr(component, "_states", None), (*path, name))

    walk(getattr(program, "states", None), ())


def _parse(original: Any) -> Any:
    def parse(definition: str) -> Any:
        try:
            document = json.loads(definition)
        except (TypeError, ValueError):
            return original(definition)
        found: dict[tuple[str, ...], dict[str, Any]] = {}
        if not isinstance(document, dict):
            return original(definition)
        _strip_batchers(document.get("States", {}), (), found)
        program, tree = original(json.dumps(document))
        _attach_batchers(program, found)
        return program, tree

    return staticmethod(parse)


def _path_value(document: Any, path: str) -> Any:
    value = document
    for part in [p for p in path.removeprefix("$").split(".") if p]:
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _evaluate(template: Any, document: Any) -> Any:
    if isinstance(template, dict):
        out = {}
        for key, value in template.items():
            if key.endswith(".$") and isinstance(value, str):
                out[key[:-2]] = _path_value(document, value)
            else:
                out[key] = _evaluate(value, document)
        return out
    return template


def batches(items: list[Any], batcher: dict[str, Any], state_input: Any) -> list[dict[str, Any]]:
    """Items grouped as ItemBatcher groups them (by count and by JSON size)."""
    def setting(name: str) -> int:
        value = batcher.get(name)
        if value is None and f"{name}Path" in batcher:
            value = _path_value(state_input, batcher[f"{name}Path"])
        return int(value or 0)

    max_items = setting("MaxItemsPerBatch") or len(items) or 1
    max_bytes = setting("MaxInputBytesPerBatch") or 256 * 1024
    batch_input = _evaluate(batcher.get("BatchInput", {}), state_input) if "BatchInput" in batcher else None
    out: list[dict[str, Any]] = []
    current: list[Any] = []
    size = 0
    for item in items:
        item_size = len(json.dumps(item, separators=(",", ":"))) + 1
        if current and (len(current) >= max_items or size + item_size > max_bytes):
            out.append({"Items": current})
            current, size = [], 0
        current.append(item)
        size += item_size
    if current:
        out.append({"Items": current})
    if batch_input is not None:
        for batch in out:
            batch["BatchInput"] = copy.deepcopy(batch_input)
    return out


# ---------------------------------------------------------------- ItemReader MANIFEST
def inventory_rows(manifest: dict[str, Any], read: Any) -> list[dict[str, Any]]:
    """Every row of every file an S3 Inventory manifest lists; ``read(bucket, key) -> bytes``.
    Raises ValueError for a file that cannot be read or decoded."""
    bucket = str(manifest["destinationBucket"]).split(":::")[-1]
    file_format = str(manifest.get("fileFormat", "CSV")).upper()
    columns = [c.strip() for c in str(manifest.get("fileSchema", "")).split(",") if c.strip()]
    rows: list[dict[str, Any]] = []
    for entry in manifest.get("files", []):
        key = entry["key"]
        try:
            body = read(bucket, key)
        except Exception as exc:
            raise ValueError(f"s3://{bucket}/{key}: {exc}") from exc
        try:
            if file_format == "CSV":
                text = (gzip.decompress(body) if key.endswith(".gz") else body).decode("utf-8")
                for record in csv.reader(io.StringIO(text)):
                    rows.append({name: (record[i] if i < len(record) else "") for i, name in enumerate(columns)})
            elif file_format == "PARQUET":
                import pyarrow.parquet as pq  # the bench extra; Parquet inventories need it

                table = pq.read_table(io.BytesIO(body))
                for record in table.to_pylist():  # timestamps as ISO 8601 strings, as JSON carries them
                    rows.append({name: value.isoformat() if hasattr(value, "isoformat") else value
                                 for name, value in record.items()})
            else:
                raise ValueError(f"inventory format {file_format} is not read by the emulator")
        except ValueError:
            raise
        except Exception as exc:  # gzip.BadGzipFile, pyarrow.ArrowInvalid, UnicodeDecodeError...
            raise ValueError(f"s3://{bucket}/{key}: cannot read a {file_format} inventory file: {exc}") from exc
    return rows


def _reader_failed(env: Any, cause: str) -> Exception:
    from moto.stepfunctions.parser.api import HistoryEventType, MapRunFailedEventDetails
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    error_name = StatesErrorName(typ=StatesErrorNameType.StatesItemReaderFailed)
    return FailureEventException(failure_event=FailureEvent(
        env=env, error_name=error_name, event_type=HistoryEventType.TaskFailed,
        event_details=EventDetails(mapRunFailedEventDetails=MapRunFailedEventDetails(  # type: ignore[typeddict-item]
            error=error_name.error_name, cause=cause)),
    ))


def _manifest_transformer() -> Any:
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.item_reader.eval.resource_output_transformer.transformer import (
        ResourceOutputTransformer,
    )

    class ManifestTransformer(ResourceOutputTransformer):
        def _eval_body(self, env: Any) -> None:
            from moto.stepfunctions.parser.asl.utils.boto_client import boto_client_for

            reader_config = env.stack.pop()
            content = env.stack.pop()
            s3 = boto_client_for(region=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"), service="s3")
            try:
                manifest = json.loads(content)
                rows = inventory_rows(manifest, lambda b, k: s3.get_object(Bucket=b, Key=k)["Body"].read())
            except (ValueError, KeyError, TypeError) as exc:
                raise _reader_failed(env, str(exc)) from exc
            env.stack.append(rows[: reader_config.get("MaxItemsValue") or None])

    return ManifestTransformer


def _input_type_init(original: Any) -> Any:
    def init(self: Any, input_type: str) -> None:
        if input_type == MANIFEST:
            self.input_type_value = MANIFEST
            return
        original(self, input_type)

    return init


def _transformer_for(original: Any, manifest_class: Any) -> Any:
    def transformer_for(input_type: Any) -> Any:
        if input_type.input_type_value == MANIFEST:
            return manifest_class()
        return original(input_type)

    return transformer_for


# ---------------------------------------------------------------- the Map Run: batches, tolerance, results
def _map_run(original: Any) -> Any:
    def map_run(self: Any, env: Any, eval_input: Any) -> None:
        items = env.stack.pop()
        state_input = getattr(env, "_greenrail_state_input", None)
        batcher = getattr(self, "_greenrail_batcher", None)
        if batcher is not None:
            items = batches(items, batcher, state_input)
        env.stack.append(items)
        record = eval_input.map_run_record
        record._greenrail_errors = {}
        original(self, env, eval_input)
        outputs = env.stack[-1]
        errors: dict[int, dict[str, Any]] = record._greenrail_errors
        env._greenrail_results = (items, outputs, errors)
        failed = len(errors)
        total = len(items)
        count = eval_input.tolerated_failure_count or 0
        percent = eval_input.tolerated_failure_percentage or 0.0
        if failed and failed > count and (not total or failed * 100.0 / total > percent):
            from moto.stepfunctions.parser.api import HistoryEventType, MapRunFailedEventDetails
            from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
                FailureEvent,
                FailureEventException,
            )
            from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import (
                StatesErrorName,
            )
            from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
                StatesErrorNameType,
            )
            from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

            error_name = StatesErrorName(typ=StatesErrorNameType.StatesExceedToleratedFailureThreshold)
            name = error_name.error_name
            raise FailureEventException(failure_event=FailureEvent(
                env=env, error_name=error_name, event_type=HistoryEventType.MapRunFailed,
                event_details=EventDetails(mapRunFailedEventDetails=MapRunFailedEventDetails(  # type: ignore[typeddict-item]
                    error=name, cause=f"{failed} of {total} child executions failed")),
            ))

    return map_run


def _eval_execution(original: Any) -> Any:
    def eval_execution(self: Any, env: Any) -> None:
        env._greenrail_state_input = copy.deepcopy(env.states.get_input())  # the Map state's input
        original(self, env)

    return eval_execution


def _result_writer_eval(original: Any) -> Any:
    def eval_body(self: Any, env: Any) -> None:
        # moto evaluates ResultWriter's Parameters against the Map's results: AWS, against its input
        env.stack.pop()
        env.stack.append(copy.deepcopy(getattr(env, "_greenrail_state_input", None)))
        original(self, env)

    return eval_body


def _eval_job(original: Any) -> Any:
    def eval_job(self: Any, env: Any, job: Any) -> None:
        from moto.stepfunctions.parser.asl.eval.program_state import ProgramError

        try:
            original(self, env, job)
        finally:
            errors = getattr(self._map_run_record, "_greenrail_errors", None)
            state = env.program_state()
            if errors is not None and job.job_output is None:
                detail = dict(state.error or {}) if isinstance(state, ProgramError) else {}
                errors[job.job_index] = {"Error": detail.get("error", "States.TaskFailed"),
                                         "Cause": detail.get("cause", "")}

    return eval_job


def _put_results(original: Any) -> Any:
    def put_object(env: Any, resource_runtime_part: Any, state_credentials: Any) -> None:
        from moto.stepfunctions.parser.asl.utils.boto_client import boto_client_for

        parameters = dict(env.stack[-1])
        original(env, resource_runtime_part, state_credentials)
        details = env.stack[-1]
        items, outputs, errors = getattr(env, "_greenrail_results", None) or ([], [], {})
        errors = dict(errors)
        map_run_arn = details["MapRunArn"]
        succeeded, failed = [], []
        for index, item in enumerate(items):
            entry: dict[str, Any] = {"MapRunArn": map_run_arn, "Input": json.dumps(item)}
            if index in errors:
                failed.append({**entry, "Status": "FAILED", **errors[index]})
            else:
                output = outputs[index] if index < len(outputs) else None
                succeeded.append({**entry, "Status": "SUCCEEDED", "Output": json.dumps(output)})
        s3 = boto_client_for(region=resource_runtime_part.region, service="s3", state_credentials=state_credentials)
        manifest_key = details["ResultWriterDetails"]["Key"]
        prefix = manifest_key.rsplit("/", 1)[0]
        files: dict[str, list[dict[str, Any]]] = {"FAILED": [], "PENDING": [], "SUCCEEDED": []}
        for status, entries in (("SUCCEEDED", succeeded), ("FAILED", failed)):
            if not entries:
                continue
            body = json.dumps(entries).encode()
            key = f"{prefix}/{status}_0.json"
            s3.put_object(Bucket=parameters["Bucket"], Key=key, Body=body)
            files[status].append({"Key": key, "Size": len(body)})
        manifest = {"DestinationBucket": parameters["Bucket"], "MapRunArn": map_run_arn, "ResultFiles": files}
        s3.put_object(Bucket=parameters["Bucket"], Key=manifest_key, Body=json.dumps(manifest, indent=2).encode())

    return staticmethod(put_object)


def apply() -> None:
    global _applied
    wait_function.WaitFunction._wait_interval = _wait_interval  # type: ignore[method-assign]
    if _applied:
        return
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_callback import (
        StateTaskServiceCallback,
    )

    StateTaskServiceCallback._wait_for_task_token_timeout = _wait_for_task_token(  # type: ignore[method-assign]
        StateTaskServiceCallback._wait_for_task_token_timeout)
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.item_reader import item_reader_decl
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.item_reader.reader_config import (
        input_type,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration import (
        distributed_iteration_component as distributed,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor import (
        distributed_item_processor_worker as worker,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.result_writer.resource_eval import (
        resource_eval_s3 as writer,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.result_writer.result_writer_decl import (
        ResultWriter,
    )
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    ResultWriter._eval_body = _result_writer_eval(ResultWriter._eval_body)  # type: ignore[method-assign]
    AmazonStateLanguageParser.parse = _parse(AmazonStateLanguageParser.parse)  # type: ignore[method-assign]
    input_type.InputType.__init__ = _input_type_init(input_type.InputType.__init__)  # type: ignore[method-assign]
    item_reader_decl.resource_output_transformer_for = _transformer_for(  # type: ignore[assignment]
        item_reader_decl.resource_output_transformer_for, _manifest_transformer())
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.state_map import StateMap

    StateMap._eval_execution = _eval_execution(StateMap._eval_execution)  # type: ignore[method-assign]
    component = distributed.DistributedIterationComponent
    component._map_run = _map_run(component._map_run)  # type: ignore[method-assign]
    job_worker = worker.DistributedItemProcessorWorker
    job_worker._eval_job = _eval_job(job_worker._eval_job)  # type: ignore[method-assign]
    writer.ResourceEvalS3._handle_put_object = _put_results(  # type: ignore[method-assign]
        writer.ResourceEvalS3.__dict__["_handle_put_object"].__func__)
    _applied = True
