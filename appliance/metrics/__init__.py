"""/metrics in the Prometheus text format: what the store knows (sensors, queue, engine lag, alerts, outbox,
export, licence, disk) collected at each scrape, and the API's own requests and latency."""

# prometheus-client's multiprocess mode: where each of Granian's API workers keeps its request counts (set by
# `appliance serve`, which reads it from here so that it starts without the metrics' libraries).
MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
