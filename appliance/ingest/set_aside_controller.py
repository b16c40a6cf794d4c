"""/agents/ingest/failed: the batches the engine set aside (it could not process them and went on), for admins
to see and, once an upgrade fixed what failed, to queue again."""

from __future__ import annotations

import msgspec
from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, Parameter

from appliance.api.paging import Offset
from appliance.api.security import admin
from appliance.audit.requests import record_request
from appliance.ingest import queue
from appliance.ingest.queue import SetAsideBatch
from appliance.store.database import Store


class SetAsideBatches(msgspec.Struct):
    batches: list[SetAsideBatch]  # newest first
    total: int


class RetriedBatch(msgspec.Struct):
    batch: SetAsideBatch  # as it was set aside
    status: str = "pending"  # queued again: the engine takes it with the next pending batches


class SetAsideBatchesController(Controller):
    path = "/agents/ingest/failed"
    tags = ["agents"]
    guards = [admin]

    @get("/", sync_to_thread=True, summary="Batches the engine set aside, newest first")
    def list_set_aside(
        self,
        store: NamedDependency[Store],
        limit: int = Parameter(default=30, ge=1, le=100),
        offset: Offset = 0,
    ) -> SetAsideBatches:
        batches, total = queue.set_aside(store, limit, offset)
        return SetAsideBatches(batches=batches, total=total)

    @post("/{batch_id:int}/retry", status_code=200, sync_to_thread=True, summary="Queue a set-aside batch again")
    def retry(self, batch_id: FromPath[int], request: Request, store: NamedDependency[Store]) -> RetriedBatch:
        batch = queue.retry(store, batch_id)
        if batch is None:
            raise NotFoundException(f"no set-aside batch {batch_id}")
        details = {"batch_id": batch_id, "error": batch.error}
        record_request(store, request, action="ingest.batch_retried", target=f"{batch.agent_id}#{batch.seq}",
                       details=details)
        return RetriedBatch(batch=batch)
