"""Analytics for managers: alert totals, trends, response times, noisy rules and risky devices."""
