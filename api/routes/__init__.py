"""HTTP routes, one module per area; `api.app.ROUTERS` lists them in registration order."""
