"""A fake OpenAI-compatible server on 127.0.0.1 for the GenAI end-to-end tests.

Usage: fake_openai.py [--log PATH]

Answers, under any path prefix (`/<run>/v1/...`: the prefix names the run in the log):
- `/v1/chat/completions`: JSON, or SSE ending with a usage chunk when
  `stream_options.include_usage` is set (and without usage otherwise). When the request
  offers `tools` and its last message is not a tool result, the answer is a call of the
  first tool (finish reason `tool_calls`), else a text answer (`stop`).
- `/v1/responses`: the Responses API, JSON or SSE (`stream: true`), usage included.
- `/v1/embeddings`.
- model `fail-429`: a 429 rate-limit error; model `fail-500`: a 500 server error.
- header `x-fake-usage: none`: the answer carries no usage at all (as some
  OpenAI-compatible servers do), whatever the request asked for.

Every chat or response reports input 52 (32 of them cached), output 47 (10 of them
reasoning); every embedding reports 8 input tokens. The answering model is the requested
one with `-2024-08-06` appended, as OpenAI's dated snapshots are. Response ids carry a
random per-process prefix, so two runs never repeat an id.

With `--log PATH`, every served call is appended to PATH as one JSON line:
`{run, kind, model, response_model, status, id, stream, usage, finish_reason}`, where
`usage` is `{input, cached, output, reasoning}` as served (null when none was sent).

Prints the port, then serves until stdin closes or the process is killed.
"""

import json
import secrets
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PREFIX = secrets.token_hex(4)
USAGE = {"input": 52, "cached": 32, "output": 47, "reasoning": 10}
EMBEDDING_USAGE = {"input": 8, "cached": 0, "output": 0, "reasoning": 0}
CHAT_USAGE = {
    "prompt_tokens": 52,
    "completion_tokens": 47,
    "total_tokens": 99,
    "prompt_tokens_details": {"cached_tokens": 32},
    "completion_tokens_details": {"reasoning_tokens": 10},
}
RESPONSES_USAGE = {
    "input_tokens": 52,
    "input_tokens_details": {"cached_tokens": 32},
    "output_tokens": 47,
    "output_tokens_details": {"reasoning_tokens": 10},
    "total_tokens": 99,
}
ERRORS = {
    "fail-429": (429, {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}),
    "fail-500": (500, {"message": "The server had an error processing your request", "type": "server_error", "code": "internal_error"}),
}

LOG_LOCK = threading.Lock()
LOG_PATH = None
COUNTER = [0]


def next_id():
    with LOG_LOCK:
        COUNTER[0] += 1
        return f"{PREFIX}-{COUNTER[0]}"


def log(entry):
    if LOG_PATH is None:
        return
    with LOG_LOCK, open(LOG_PATH, "a", encoding="utf-8") as f:
        f.write(json.dumps(entry) + "\n")


def sse(handler, events, named=False):
    handler.send_response(200)
    handler.send_header("content-type", "text/event-stream")
    handler.send_header("connection", "close")
    handler.end_headers()
    for e in events:
        head = f"event: {e['type']}\n" if named else ""
        handler.wfile.write(f"{head}data: {json.dumps(e)}\n\n".encode())
        handler.wfile.flush()
        time.sleep(0.002)
    if not named:
        handler.wfile.write(b"data: [DONE]\n\n")
        handler.wfile.flush()
    handler.close_connection = True


def wants_tool_call(request):
    messages = request.get("messages") or []
    return bool(request.get("tools")) and not (messages and messages[-1].get("role") == "tool")


def tool_name(tool):
    return (tool.get("function") or {}).get("name") or tool.get("name") or "tool"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        length = int(self.headers.get("content-length", "0"))
        request = json.loads(self.rfile.read(length) or b"{}")
        model = request.get("model", "")
        prefix, _, endpoint = self.path.partition("/v1/")
        run = prefix.strip("/")
        kind = {"chat/completions": "chat", "responses": "responses", "embeddings": "embeddings"}.get(endpoint)
        stream = bool(request.get("stream"))
        entry = {"run": run, "kind": kind, "model": model, "response_model": None, "status": 200,
                 "id": None, "stream": stream, "usage": None, "finish_reason": None}
        if kind is None:
            entry["status"] = 404
            log(entry)
            self.reply(404, {"error": {"message": "not found"}})
            return
        if model in ERRORS:
            status, error = ERRORS[model]
            entry["status"] = status
            log(entry)
            self.reply(status, {"error": {**error, "param": None}})
            return
        entry["response_model"] = f"{model}-2024-08-06"
        entry["id"] = next_id()
        getattr(self, f"serve_{kind}")(request, entry)

    def serve_embeddings(self, request, entry):
        entry["usage"] = EMBEDDING_USAGE
        log(entry)
        inputs = request.get("input")
        n = len(inputs) if isinstance(inputs, list) else 1
        self.reply(200, {
            "object": "list",
            "data": [{"object": "embedding", "index": i, "embedding": [0.1, 0.2, 0.3]} for i in range(n)],
            "model": entry["response_model"],
            "usage": {"prompt_tokens": 8, "total_tokens": 8},
        })

    def serve_chat(self, request, entry):
        with_usage = self.headers.get("x-fake-usage") != "none" and (
            not entry["stream"] or (request.get("stream_options") or {}).get("include_usage"))
        tool = wants_tool_call(request)
        entry["finish_reason"] = "tool_calls" if tool else "stop"
        entry["usage"] = USAGE if with_usage else None
        log(entry)
        common = {"id": f"chatcmpl-{entry['id']}", "created": 1764000000, "model": entry["response_model"],
                  "system_fingerprint": "fp_llmwatch", "service_tier": "default"}
        call = {"id": f"call_{entry['id']}", "type": "function",
                "function": {"name": tool_name(request["tools"][0]) if tool else "", "arguments": '{"city":"Paris"}'}}
        if not entry["stream"]:
            message = {"role": "assistant", "content": None, "tool_calls": [call]} if tool else \
                {"role": "assistant", "content": "Hello! How can I help?"}
            body = {**common, "object": "chat.completion", "choices": [{
                "index": 0, "finish_reason": entry["finish_reason"], "logprobs": None, "message": message}]}
            if with_usage:
                body["usage"] = CHAT_USAGE
            self.reply(200, body)
            return
        chunk = {**common, "object": "chat.completion.chunk"}
        if tool:
            deltas = [{"role": "assistant", "content": None, "tool_calls": [{"index": 0, **call}]}]
        else:
            deltas = [{"role": "assistant", "content": "Hello"}, {"content": " there"}]
        events = [{**chunk, "choices": [{"index": 0, "delta": d, "finish_reason": None}]} for d in deltas]
        events.append({**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": entry["finish_reason"]}]})
        if with_usage:
            events.append({**chunk, "choices": [], "usage": CHAT_USAGE})
        sse(self, events)

    def serve_responses(self, request, entry):
        with_usage = self.headers.get("x-fake-usage") != "none"
        entry["finish_reason"] = "completed"
        entry["usage"] = USAGE if with_usage else None
        log(entry)
        rid, mid = f"resp_{entry['id']}", f"msg_{entry['id']}"
        text = "Hello there"
        part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
        item = {"type": "message", "id": mid, "status": "completed", "role": "assistant", "content": [part]}
        response = {"id": rid, "object": "response", "created_at": 1764000000, "status": "completed",
                    "error": None, "incomplete_details": None, "model": entry["response_model"],
                    "output": [item], "parallel_tool_calls": True, "tool_choice": "auto", "tools": [],
                    "temperature": 1.0, "top_p": 1.0, "service_tier": "default",
                    "usage": RESPONSES_USAGE if with_usage else None, "user": request.get("user"),
                    "metadata": {}}
        if not entry["stream"]:
            self.reply(200, response)
            return
        started = {**response, "status": "in_progress", "output": [], "usage": None}
        events = [
            {"type": "response.created", "response": started},
            {"type": "response.in_progress", "response": started},
            {"type": "response.output_item.added", "output_index": 0,
             "item": {**item, "status": "in_progress", "content": []}},
            {"type": "response.content_part.added", "item_id": mid, "output_index": 0, "content_index": 0,
             "part": {**part, "text": ""}},
            {"type": "response.output_text.delta", "item_id": mid, "output_index": 0, "content_index": 0,
             "delta": "Hello", "logprobs": []},
            {"type": "response.output_text.delta", "item_id": mid, "output_index": 0, "content_index": 0,
             "delta": " there", "logprobs": []},
            {"type": "response.output_text.done", "item_id": mid, "output_index": 0, "content_index": 0,
             "text": text, "logprobs": []},
            {"type": "response.content_part.done", "item_id": mid, "output_index": 0, "content_index": 0,
             "part": part},
            {"type": "response.output_item.done", "output_index": 0, "item": item},
            {"type": "response.completed", "response": response},
        ]
        for n, e in enumerate(events):
            e["sequence_number"] = n
        sse(self, events, named=True)


def main():
    global LOG_PATH
    args = sys.argv[1:]
    if args[:1] == ["--log"]:
        LOG_PATH = args[1]
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(server.server_address[1], flush=True)
    # Serve until the test closes stdin (or kills the process).
    sys.stdin.read()
    server.shutdown()


if __name__ == "__main__":
    main()
