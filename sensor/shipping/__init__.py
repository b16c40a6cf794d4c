"""Shipping the sensor's records to the appliance: `shipper.Shipper` (spool + delivery), `spool.Spool`,
`client.ApplianceClient`. Nothing is imported here: the command line's options (`commands`) must load
without the HTTP client."""
