"""MCP (placeholder)."""
