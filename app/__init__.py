"""Contract-first Auth Service: serves, mocks and tests the OpenAPI contract in openapi/."""
