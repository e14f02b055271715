"""Steward's HTTP API: a LangGraph Server-compatible subset plus governance endpoints."""
