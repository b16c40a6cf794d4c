"""POST /agents/ingest: a sensor's batch, checked against the record contract and stored in the ingest queue
(queue.py), from which the engine takes it. The path of a record: sensor -> here -> queue -> engine."""

from __future__ import annotations

import time

import msgspec
from litestar import Controller, Request, post
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException, PermissionDeniedException, ValidationException
from litestar.params import RawBody

from appliance.agents import repository
from appliance.api.security import requires_agent
from appliance.ingest import queue
from appliance.store.database import Store
from sensor.records import SCHEMA_VERSION, Batch, decode_batch

MSGPACK_TYPES = ("application/msgpack", "application/x-msgpack", "application/vnd.msgpack")


class IngestOut(msgspec.Struct):
    seq: int
    duplicate: bool


class _SchemaOnly(msgspec.Struct):
    schema: int = SCHEMA_VERSION


def unsupported_schema(schema: int) -> ValidationException:
    return ValidationException(f"batch schema {schema} is not supported; this box reads {SCHEMA_VERSION}")


def not_a_batch(error: msgspec.DecodeError) -> ValidationException:
    return ValidationException(f"the body is not a msgpack sensor.records.Batch: {error}")


def checked_batch(body: bytes) -> Batch:
    """The batch, or a 400 naming what is wrong: the record contract's types refuse what no sensor sends (see
    sensor/records.py), so nothing the engine cannot take is ever queued."""
    try:
        batch = decode_batch(body)
    except msgspec.ValidationError as error:
        try:
            schema = msgspec.msgpack.decode(body, type=_SchemaOnly).schema
        except msgspec.DecodeError:
            schema = SCHEMA_VERSION
        if schema != SCHEMA_VERSION:  # a newer sensor's fields are unknown here: say why, not which
            raise unsupported_schema(schema) from error
        raise not_a_batch(error) from error
    except msgspec.DecodeError as error:
        raise not_a_batch(error) from error
    if batch.schema != SCHEMA_VERSION:
        raise unsupported_schema(batch.schema)
    return batch


class IngestController(Controller):
    path = "/agents"
    tags = ["agents"]

    @post(
        "/ingest",
        guards=[requires_agent],
        status_code=200,
        sync_to_thread=True,
        summary="One msgpack sensor.records.Batch; (agent_id, seq) repeats are acknowledged, not stored twice",
    )
    def ingest(self, request: Request, body: RawBody, store: NamedDependency[Store]) -> IngestOut:
        if request.content_type[0] not in MSGPACK_TYPES:
            raise HTTPException(
                status_code=415, detail="send the batch as msgpack with Content-Type: application/msgpack"
            )
        batch = checked_batch(body)
        if batch.agent_id != request.user.name:
            raise PermissionDeniedException(
                f"batch.agent_id {batch.agent_id!r} is not this token's sensor {request.user.name!r}"
            )
        with store.write_transaction() as connection:
            stored = queue.enqueue(connection, batch.agent_id, batch.seq, body)
            if stored:
                store.execute(
                    "UPDATE ingest_batches SET flows = ? WHERE agent_id = ? AND seq = ?",
                    (len(batch.flows), batch.agent_id, batch.seq),
                )
                repository.advance_next_seq(store, batch.agent_id, batch.seq)
                repository.count_capture(store, batch, time.time())
        return IngestOut(seq=batch.seq, duplicate=not stored)
