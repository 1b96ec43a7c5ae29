"""Model Context Protocol: MCP servers' tools in agents, and agentkit's tools served over MCP.

    from agentkit.mcp import MCPServer
    files = MCPServer.stdio("npx", ["-y", "@modelcontextprotocol/server-filesystem", "/data"])
    agent = Agent(model, tools=[files, MCPServer.http("http://127.0.0.1:8000/mcp", prefix="w_")])

Needs the extra `agentkit[mcp]` (the official `mcp` SDK, 2.x). `agentkit mcp serve` serves
the built-in code/file/web tools to any MCP client.
"""

from __future__ import annotations

from .client import MCPConnectionError, MCPServer, MCPToolError, MCPToolResult

__all__ = ["MCPConnectionError", "MCPServer", "MCPToolError", "MCPToolResult"]
