"""GET /egress: every destination data leaves this box for, with exactly what each one receives."""

from __future__ import annotations

import time

from litestar import Controller, get
from litestar.di import NamedDependency

from appliance.api.security import viewer
from appliance.egress.destinations import EgressView, egress
from appliance.store.database import Store


class EgressController(Controller):
    path = "/egress"
    tags = ["settings"]

    @get("/", guards=[viewer], sync_to_thread=True,
         summary="What leaves the box: each destination, what it receives, and an example of exactly what is sent")
    def show(self, store: NamedDependency[Store]) -> EgressView:
        return egress(store, time.time())
