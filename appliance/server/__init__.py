"""The API server: the composition root above the domains. `app.create_app` wires every domain's controller
(the route list), the shared dependencies and the middleware (rate limits, strict JSON bodies, TLS and HSTS);
`granian_main` is the process `appliance serve` starts; `system` answers health and unsealing. What the
domains share (the box, errors, security) is in appliance/api."""
