"""The scoring API without the web framework: requests, endpoints, OpenAPI, gunicorn."""
