"""GET /devices: the device inventory."""

from __future__ import annotations

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import Parameter

from appliance.api.paging import Offset
from appliance.api.security import viewer
from appliance.devices.inventory import DeviceList, list_devices
from appliance.store.database import Store


class DevicesController(Controller):
    path = "/devices"
    tags = ["devices"]

    @get("/", guards=[viewer], sync_to_thread=True,
         summary="Hosts the sensors saw, latest first: first and last seen, role on the site, alerts")
    def devices(
        self,
        store: NamedDependency[Store],
        include_peers: bool = Parameter(default=False, description="also the addresses outside the internal networks"),
        search: str = Parameter(default="", max_length=64, description="the start of an address"),
        limit: int = Parameter(default=50, ge=1, le=200),
        offset: Offset = 0,
    ) -> DeviceList:
        return list_devices(store, include_peers=include_peers, search=search.strip(), limit=limit, offset=offset)
