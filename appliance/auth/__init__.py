"""Local users, passwords, TOTP and the bearer tokens the API accepts."""
