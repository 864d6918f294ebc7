"""Storage: one interface per store (base), in-memory and real adapters."""
