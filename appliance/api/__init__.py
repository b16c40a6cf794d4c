"""What every domain's controller shares: the box and its store (`box`), errors and their statuses
(`errors`), authentication and roles (`security`), paging, the request's client address and OpenAPI helpers.
The app that wires the controllers together is appliance/server."""
