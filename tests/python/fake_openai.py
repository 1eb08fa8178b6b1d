"""A fake OpenAI-compatible server on 127.0.0.1 for the GenAI end-to-end tests.

Answers chat completions (JSON, or SSE with a final usage chunk when
stream_options.include_usage is set), embeddings, and a 429 for model `fail-429`.
Every chat reports prompt 52 (32 of them cached), completion 47 (10 of them reasoning);
every embedding reports 8 prompt tokens. The answering model is the requested one with
`-2024-08-06` appended, as OpenAI's dated snapshots are. Prints the port, then serves
until stdin closes or the process is killed.
"""

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CHAT_USAGE = {
    "prompt_tokens": 52,
    "completion_tokens": 47,
    "total_tokens": 99,
    "prompt_tokens_details": {"cached_tokens": 32},
    "completion_tokens_details": {"reasoning_tokens": 10},
}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    calls = 0

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
        Handler.calls += 1
        n = Handler.calls
        if model == "fail-429":
            self.reply(429, {"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}})
            return
        answered = f"{model}-2024-08-06"
        if self.path.endswith("/embeddings"):
            self.reply(200, {
                "object": "list",
                "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2, 0.3]}],
                "model": answered,
                "usage": {"prompt_tokens": 8, "total_tokens": 8},
            })
            return
        if not self.path.endswith("/chat/completions"):
            self.reply(404, {"error": {"message": "not found"}})
            return
        common = {"id": f"chatcmpl-{n}", "created": 1764000000, "model": answered,
                  "system_fingerprint": "fp_llmwatch", "service_tier": "default"}
        if not request.get("stream"):
            self.reply(200, {**common, "object": "chat.completion", "choices": [{
                "index": 0, "finish_reason": "stop", "logprobs": None,
                "message": {"role": "assistant", "content": "Hello! How can I help?"}}],
                "usage": CHAT_USAGE})
            return
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("connection", "close")
        self.end_headers()
        chunk = {**common, "object": "chat.completion.chunk"}
        events = [
            {**chunk, "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hello"}, "finish_reason": None}]},
            {**chunk, "choices": [{"index": 0, "delta": {"content": " there"}, "finish_reason": None}]},
            {**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        ]
        if (request.get("stream_options") or {}).get("include_usage"):
            events.append({**chunk, "choices": [], "usage": CHAT_USAGE})
        for e in events:
            self.wfile.write(f"data: {json.dumps(e)}\n\n".encode())
            self.wfile.flush()
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()
        self.close_connection = True


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(server.server_address[1], flush=True)
    # Serve until the test closes stdin (or kills the process).
    sys.stdin.read()
    server.shutdown()


if __name__ == "__main__":
    main()
