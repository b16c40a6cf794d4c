"""The box's link to the vendor licensing service: settings, the heartbeat, and its background runner.

Off by default: nothing leaves a box until an admin switches the link on (PUT /settings/cloud), and an
air-gapped site simply never does (it loads license files by hand). When on, one API worker (the one holding
an flock in the runtime directory) sends `sovereignty.CloudHeartbeat` every `interval_seconds`; see
`background`. What is sent is shown to the admin by GET /settings/cloud.
"""
