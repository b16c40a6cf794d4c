"""Notes on alerts and incidents: a history of who wrote what, when."""
