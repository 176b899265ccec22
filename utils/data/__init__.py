"""The data contract and ingestion: schema, reading files, the demo data."""
