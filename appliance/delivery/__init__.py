"""Getting bytes to a destination outside the box: e-mail (SMTP), syslog (RFC 5424) and webhooks (HTTPS).

Shared by the notifications (appliance.notifications) and the SIEM export (appliance.siem). Every transport
raises `DeliveryError` and says whether trying again can help (`permanent`), so the outbox knows whether to
back off or to set a message aside in the dead-letter list. Every connection goes through
`destinations.connect`, which applies the box's egress policy first.
"""
