"""The vendor's licensing service: mints and revokes licenses, answers box heartbeats, relays billing to
Stripe and turns Stripe events into renewed licenses. Runs in the vendor cloud, never on a box; it is the
only component that holds a Stripe key or the license signing key."""
