"""The model's feature names in words a CSIRT or a data-protection officer reads without the source code.

A report explains a score with the features that moved it most (SHAP). Their names are column names
(`weak_tickets`, `log_iat_mean_ms`); these are what they measure. Every feature of every rule has its words here
(tests/reports/test_report_evidence.py checks it); a model trained elsewhere may bring a name this code does not
know, which is then shown with its underscores turned into spaces.
"""

from __future__ import annotations

FEATURE_WORDS = {
    # every detection
    "incident_duration_s": "how long the activity lasted (seconds)",
    "evidence_flows": "connections behind the detection",
    "single_target": "aimed at a single host",
    "single_port": "aimed at a single port",
    "source_private": "the source is an internal (private) address",
    "dest_private": "the destination is an internal (private) address",
    "duration_s": "duration of the activity (seconds)",
    # one flow, compared with the host's usual traffic (anomalous payload)
    "anomaly_score": "how unusual the traffic is for this host",
    "score_threshold": "the host's usual level of unusualness",
    "anomalous_flows": "unusual connections",
    "host_baseline_flows": "connections the host's usual traffic was learnt from",
    "max_abs_z": "largest deviation from the host's usual traffic",
    "log_duration_s": "connection duration",
    "log_bytes_orig": "bytes sent by the initiating host",
    "log_bytes_resp": "bytes sent back by the other side",
    "log_pkts_orig": "packets sent by the initiating host",
    "log_pkts_resp": "packets sent back by the other side",
    "upload_fraction": "share of the traffic that was upload",
    "log_size_mean": "average packet size",
    "log_iat_mean_ms": "average time between packets",
    "proto_code": "transport protocol (TCP, UDP, ICMP)",
    "port_class": "kind of port (well-known, registered or dynamic)",
    # ARP spoofing
    "claimed_ips": "addresses one device claimed in ARP replies",
    "mac_changes": "times an address changed hardware (MAC) address",
    "is_gateway": "the gateway's address was claimed",
    "replies": "ARP replies sent",
    "intercepted_hosts": "hosts whose traffic was redirected",
    "forwarded_flows": "redirected connections passed on to the real destination",
    # password guessing
    "failed_attempts": "failed logins",
    "connections": "connections",
    "attempts_per_connection": "login attempts per connection",
    "attempts_per_min": "login attempts per minute",
    "successes": "successful logins",
    "outcome_known_fraction": "share of logins whose outcome the box could see",
    "mean_duration_s": "average connection duration (seconds)",
    "mean_payload_orig": "average data sent by the initiating host per connection",
    "mean_payload_resp": "average data sent back per connection",
    "distinct_sources": "distinct source addresses",
    "standard_port": "the service ran on its usual port",
    # command-and-control beaconing
    "score": "regularity of the check-ins",
    "interval_skew_score": "evenness of the time between check-ins",
    "interval_dispersion_score": "consistency of the time between check-ins",
    "size_skew_score": "evenness of the check-in sizes",
    "size_dispersion_score": "consistency of the check-in sizes",
    "interval_cv": "variation of the time between check-ins",
    "median_interval_s": "typical time between check-ins (seconds)",
    "median_bytes": "typical size of a check-in (bytes)",
    "median_response_bytes": "typical size of the answer to a check-in (bytes)",
    "in_one_connection": "the check-ins ran inside one long connection",
    "destination_prevalence": "internal hosts that talk to the same destination",
    # cleartext credentials
    "logins": "logins sent without encryption",
    "distinct_users": "distinct user names",
    "password_seen": "a password was sent in clear text",
    # data exfiltration
    "upload_bytes": "bytes uploaded",
    "download_bytes": "bytes downloaded",
    "upload_ratio": "upload compared with download",
    "flows": "connections",
    "off_hours": "outside office hours",
    "upload_mbit_per_s": "upload speed (Mbit/s)",
    # DNS tunnelling
    "queries": "DNS queries",
    "unique_subdomains": "distinct subdomains queried",
    "suspicious_subdomains": "subdomains that look like encoded data",
    "mean_subdomain_len": "average subdomain length",
    "max_name_len": "longest name queried",
    "mean_entropy": "randomness of the names queried",
    "txt_null_fraction": "share of TXT/NULL queries (record types that carry data)",
    "queries_per_min": "DNS queries per minute",
    # Kerberoasting
    "tgs_requests": "Kerberos service tickets requested",
    "distinct_services": "distinct services",
    "weak_tickets": "Kerberos service tickets with weak (RC4) encryption, which can be cracked offline",
    "aes_offered": "the client offered strong (AES) encryption",
    # lateral movement
    "distinct_peers": "distinct internal hosts contacted",
    "services": "distinct services used",
    "new_service": "a service this host had never used before",
    "new_peer_fraction": "share of hosts contacted for the first time",
    # network sweep
    "distinct_hosts": "distinct hosts probed",
    "attempts": "probes",
    "hosts_per_s": "hosts probed per second",
    "max_hosts_in_burst": "most hosts probed in one burst",
    "icmp": "probed with ping (ICMP)",
    "arp": "probed with ARP",
    "tcp": "probed with TCP connections",
    # new device
    "addresses": "addresses the device used",
    "dhcp_seen": "the device asked for an address (DHCP)",
    "arp_seen": "the device announced itself (ARP)",
    "hours_after_learning": "hours since the box finished learning the network",
    # unauthorised writes to industrial control systems
    "writes": "write commands",
    "distinct_function_codes": "distinct kinds of command",
    "distinct_units": "distinct controllers written to",
    "modbus": "over Modbus",
    "dnp3": "over DNP3",
    "bacnet": "over BACnet",
    # port scan
    "distinct_ports": "distinct ports probed",
    "probes": "probes",
    "ports_per_s": "ports probed per second",
    "rejected_fraction": "share of attempts refused",
    "unanswered_fraction": "share of attempts left unanswered",
    "low_port_fraction": "share of well-known ports (below 1024) probed",
    # rogue DHCP
    "messages": "DHCP messages",
    "offers": "DHCP offers",
    "distinct_clients": "distinct clients",
    "distinct_servers": "distinct DHCP servers",
    "is_starvation": "the address pool was being exhausted",
    # use of AI services
    "lookups": "look-ups of AI services",
    "dns_lookups": "DNS look-ups",
    "tls_connections": "encrypted (TLS) connections",
    "http_requests": "web (HTTP) requests",
    # SYN flood
    "syn_packets": "connection requests (SYN)",
    "half_open_flows": "connections left half open",
    "syn_per_s": "connection requests per second",
    # threat intelligence
    "matches": "contacts with known-malicious infrastructure",
    "ip_match": "matched a known-malicious address",
    "domain_match": "matched a known-malicious domain",
    "ja3_match": "matched a known-malicious TLS client fingerprint (JA3)",
    "host_is_internal": "the host is internal",
}


def feature_in_words(name: str) -> str:
    return FEATURE_WORDS.get(name) or name.replace("_", " ")
