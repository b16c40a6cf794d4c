"""Notifications: alerts reach people where they already are (e-mail, syslog, webhooks incl. Slack and Teams).

`models` (channels, routing, content), `routing` (who gets what, quiet hours), `messages` (what a message
says), `facts` / `formats` (each channel's format), `sending` (transports), `router` (decision traces into the
outbox), `digests` (storms and quiet hours folded into one message), `outbox` (the durable queue, retries,
dead letters), `notifier` (the service: `appliance notify`), `controller` (/api/v1/notifications).
"""
