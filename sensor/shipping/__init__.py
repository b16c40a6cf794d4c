"""Shipping the sensor's records to the appliance: `Shipper` (spool + delivery), `Spool`, `ApplianceClient`."""

from sensor.shipping.shipper import Shipper, ShippingStats
from sensor.shipping.spool import Spool, SpoolError

__all__ = ["Shipper", "ShippingStats", "Spool", "SpoolError"]
