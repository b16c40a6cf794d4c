"""C2_BEACON inside one long-lived connection: a single flow that lasts the whole session, whose rhythm is
only visible in the bursts within it (a heartbeat every few seconds, plus or minus jitter), never as a
series of connections.

What it reproduces:
- Mythic's websocket C2 profile (its-a-feature/Mythic, C2 profile "websocket"): the agent holds one WSS
  connection and checks in over it every callback interval with jitter.
- Merlin over HTTP/2 (`-proto h2`, Ne0nd0g/merlin): a Go client (ALPN h2) POSTing JWE messages on one
  connection every sleep +- skew, with Merlin's message padding (random up to 4 KB) against size-based
  beacon detection.
- Merlin over HTTP/3 (`-proto http3`, QUIC since v0.6.0): the same check-ins as QUIC 1-RTT packets on UDP 443,
  one QUIC connection for the whole session.
"""

from __future__ import annotations

from appliance.simulate.attacks import record
from appliance.simulate.attacks.c2_fast import TASK_CHANCE, implant, open_tls
from appliance.simulate.benign import heavy_tail
from appliance.simulate.protocols import quic, tls
from appliance.simulate.site import Site

RULE = "C2_BEACON"
MERLIN_PADDING = 4096
# Go's client with ALPN h2 (Merlin's http2 transport).
GO_H2 = tls.ClientProfile("go-h2", tls.GO_CRYPTO_TLS.ciphers, (*tls.GO_CRYPTO_TLS.extensions, tls.EXT_ALPN),
                          tls.GO_CRYPTO_TLS.groups, ("h2",), grease=False, tls13=True)


def inject(site: Site) -> None:
    _websocket(site)
    _http2(site)
    _http3(site)


def _websocket(site: Site) -> None:
    run = implant(site, "attack:c2-channel:websocket", "ws.telemetry-hub.example", "192.0.2.94")
    rng = run.rng
    interval, jitter = rng.choice((10.0, 15.0, 30.0)), 0.2
    conv = open_tls(site, rng, run.resolve(site), run.host, run.server, run.name, tls.CHROME,
                    [(rng.randint(500, 700), rng.randint(180, 260))])  # the WebSocket upgrade
    capture = conv.capture
    while conv.ts < run.end:
        think = interval * (1 + rng.uniform(-jitter, jitter))
        conv.client_sends(tls.application_data(capture, rng.randint(180, 260), rng), think=think)
        task = rng.random() < TASK_CHANCE
        conv.server_sends(tls.application_data(capture, heavy_tail(rng, 3_000, 80_000) if task else
                                               rng.randint(90, 140), rng), processing=0.02)
        if task:
            conv.client_sends(tls.application_data(capture, heavy_tail(rng, 2_000, 300_000), rng),
                              think=rng.uniform(0.5, 3))
    conv.close(by_client=True)
    record(site, RULE, f"mythic-websocket-{interval:.0f}s-one-connection", run.host, run.server, 443, run.start,
           conv.ts)


def _http2(site: Site) -> None:
    run = implant(site, "attack:c2-channel:http2", "api.merlin-edge.example", "192.0.2.95")
    rng = run.rng
    sleep, skew = rng.choice((5.0, 10.0)), 2.0
    conv = open_tls(site, rng, run.resolve(site), run.host, run.server, run.name, GO_H2,
                    [(rng.randint(300, 400), rng.randint(60, 100))])  # SETTINGS, the first check-in
    capture = conv.capture
    while conv.ts < run.end:
        think = sleep + rng.uniform(0, skew)
        conv.client_sends(tls.application_data(capture, 600 + rng.randint(0, MERLIN_PADDING), rng), think=think)
        conv.server_sends(tls.application_data(capture, 300 + rng.randint(0, MERLIN_PADDING), rng), processing=0.02)
    conv.close(by_client=True)
    record(site, RULE, f"merlin-http2-{sleep:.0f}s-one-connection", run.host, run.server, 443, run.start, conv.ts)


def _http3(site: Site) -> None:
    run = implant(site, "attack:c2-channel:http3", "h3.merlin-edge.example", "192.0.2.96")
    rng, host, server = run.rng, run.host, run.server
    sleep, skew = rng.choice((5.0, 10.0, 15.0)), 2.0
    ts = site.office.resolve(site.capture, run.resolve(site), host, server)
    connection = quic.QuicConnection(site.capture, rng, host, server, host.ephemeral_port(rng), ts,
                                     site.rtt(host, server)).handshake(run.name, tls.QUIC_GO)
    while connection.ts < run.end:
        connection.exchange(600 + rng.randint(0, MERLIN_PADDING), 300 + rng.randint(0, MERLIN_PADDING),
                            think=sleep + rng.uniform(0, skew))
    connection.close()
    record(site, RULE, f"merlin-http3-quic-{sleep:.0f}s-one-connection", host, server, quic.PORT, run.start,
           connection.ts)
