"""The box's local web UI: static HTML/CSS/JS modules served by the API's own Litestar app."""
