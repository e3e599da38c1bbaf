"""Chat channels: thin adapters between a messenger and the core conversation."""
