"""The REST API under /api/v1 (the seed's paths), a Litestar app served by Granian."""
