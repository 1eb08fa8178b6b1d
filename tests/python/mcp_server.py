"""The MCP server of tests/it/mcp_tools.rs: FastMCP with two tools, `weather` and `broken`
(which always fails with a tool error).

Run as a script (by drive_mcp.py over stdio), it exports its own spans, under the service
named by LLMWATCH_MCP_SERVICE, over OTLP/HTTP protobuf to LLMWATCH_MCP_ENDPOINT. A span is
exported when it ends, before the response goes out, so the client never waits on it.
"""

import os

from fastmcp import FastMCP
from fastmcp.exceptions import ToolError

mcp = FastMCP("weather-server")


@mcp.tool
def weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


@mcp.tool
def broken(city: str) -> str:
    """A tool whose backend is down."""
    raise ToolError("backend down")


def export_spans(service, endpoint):
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    exporter = OTLPSpanExporter(endpoint=endpoint + "/v1/traces")
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)


if __name__ == "__main__":
    export_spans(os.environ["LLMWATCH_MCP_SERVICE"], os.environ["LLMWATCH_MCP_ENDPOINT"])
    mcp.run(transport="stdio", show_banner=False)
