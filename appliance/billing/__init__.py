"""Billing on the box: relays to the vendor licensing service (which alone talks to Stripe)."""
