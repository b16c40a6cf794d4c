"""Ingest: how a sensor's records reach the engine. sensor -> `controller` (POST /agents/ingest, checked
against the record contract) or `local_sensor` (the box's own capture files) -> `queue` (the durable queue in
the encrypted store) -> the engine (appliance/engine/process.py, reading each batch through intake.py).
Batches the engine could not process are set aside; `set_aside_controller` shows and retries them."""
