"""Drives FastMCP's client against tests/python/mcp_server.py, as an agent would, with
FastMCP's own OpenTelemetry spans (and those of the `mcp` SDK below it) exported over
OTLP/HTTP protobuf to llmwatch (tests/it/mcp_tools.rs).

Usage: drive_mcp.py CLIENT_SERVICE SERVER_SERVICE HTTP_ENDPOINT BULK_TOOLS

Under CLIENT_SERVICE, in one trace: an invoke_workflow span around an invoke_agent span,
around
  - an execute_tool span of `weather` (the agent framework's) around the client's call of
    `weather` on the server, which runs in its own process (stdio) under SERVER_SERVICE;
  - the client's call of `broken` there (a tool error);
  - tools/list (not a tool call);
then, in a second trace, a call of `weather` on the same server run in this process
(client, transport and server spans all under CLIENT_SERVICE), and BULK_TOOLS execute_tool
spans of as many distinct tools. Prints a JSON summary of what it did.
"""

import asyncio
import json
import os
import sys

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

client_service, server_service, endpoint, bulk = sys.argv[1:5]
provider = TracerProvider(resource=Resource.create({"service.name": client_service}))
provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint + "/v1/traces")))
trace.set_tracer_provider(provider)

from fastmcp import Client  # noqa: E402 (after the provider, as FastMCP's docs do)
from fastmcp.client.transports import PythonStdioTransport  # noqa: E402

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
import mcp_server  # noqa: E402

tracer = trace.get_tracer("llmwatch-test-agent")


def op(operation, key, value):
    attributes = {"gen_ai.operation.name": operation, key: value}
    return tracer.start_as_current_span(f"{operation} {value}", attributes=attributes)


async def over_stdio(done):
    transport = PythonStdioTransport(
        os.path.join(here, "mcp_server.py"),
        python_cmd=sys.executable,
        env={
            **os.environ,
            "LLMWATCH_MCP_SERVICE": server_service,
            "LLMWATCH_MCP_ENDPOINT": endpoint,
        },
    )
    async with Client(transport) as client:
        with op("invoke_workflow", "gen_ai.workflow.name", "triage"):
            with op("invoke_agent", "gen_ai.agent.name", "planner"):
                with op("execute_tool", "gen_ai.tool.name", "weather"):
                    await client.call_tool("weather", {"city": "Paris"})
                done.append("weather")
                try:
                    await client.call_tool("broken", {"city": "Paris"})
                except Exception as e:  # the tool error, raised by the client
                    done.append(f"broken: {type(e).__name__}")
                await client.list_tools()


async def in_process(done):
    async with Client(mcp_server.mcp) as client:
        with tracer.start_as_current_span("POST /api/chat"):
            await client.call_tool("weather", {"city": "Oslo"})
    done.append("weather in process")


async def main():
    done = []
    await over_stdio(done)
    await in_process(done)
    with tracer.start_as_current_span("bulk"):
        for n in range(int(bulk)):
            with op("execute_tool", "gen_ai.tool.name", f"bulk-{n}"):
                pass
    done.append(f"{bulk} bulk tools")
    return done


done = asyncio.run(main())
provider.shutdown()
print(json.dumps(done))
