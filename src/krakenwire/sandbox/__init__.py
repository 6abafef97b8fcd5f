"""The sandbox: a local Kraken-compatible exchange (REST, WS v1, WS v2) for tests and demos."""
