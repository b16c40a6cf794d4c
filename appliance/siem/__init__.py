"""SIEM export: the box's findings as NDJSON in two established schemas, Suricata EVE JSON and ECS.

`events` reads the export stream (alerts from the decision-trace chain; flows and protocol events, if chosen,
from the ingested batches) from a cursor; `eve` and `ecs` shape each record; the pull API
(`GET /api/v1/export/events?after=...`) and the syslog destinations (`stream`, run by the notifier) both
serve that one stream. The licence feature `siem_export` gates both; detection never depends on it.
"""
