"""/metrics in the Prometheus text format: what the store knows (sensors, queue, engine lag, alerts, outbox,
export, licence, disk) collected at each scrape, and the API's own requests and latency."""
