"""Cold-start initialisation time of Lambda function binaries, for scripts/release_metrics.sh.

Plays the Lambda Runtime API just far enough: a loopback server that records when the function
first asks for an event (GET /2018-06-01/runtime/invocation/next). The time from just before
the process is spawned to that request is the function's own initialisation (environment,
SDK config and clients, stack file), what Lambda bills as Init Duration minus the sandbox's
own start. The request is held unanswered and the process is then stopped; each run is a new
process (a cold start), and the median of several is reported.

    python3 coldstart.py [--runs 7] [--wrapper "qemu-aarch64-static -L /usr/aarch64-linux-gnu"] NAME=BINARY...

The function's environment (STACK_FILE, REMEDIATOR_MODE, credentials...) is inherited;
AWS_LAMBDA_RUNTIME_API is set per run. Prints one line per function:
`NAME median_ms min_ms max_ms`. Exits non-zero if a function never asked for an event.
"""
import argparse
import os
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

NEXT_PATH = b"/2018-06-01/runtime/invocation/next"


class RuntimeApi:
    """A one-shot Runtime API: records the monotonic time of the first /next request."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.first_next = None
        self.other = []  # anything else the function sent (an init error, say)
        self.ready = threading.Event()
        self.connections = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections.append(conn)
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn):
        buffer = b""
        while b"\r\n" not in buffer:
            try:
                chunk = conn.recv(4096)
            except OSError:
                return
            if not chunk:
                return
            buffer += chunk
        now = time.perf_counter_ns()
        request_line = buffer.split(b"\r\n", 1)[0]
        parts = request_line.split(b" ")
        if len(parts) >= 2 and parts[0] == b"GET" and parts[1].endswith(NEXT_PATH):
            if self.first_next is None:
                self.first_next = now
            self.ready.set()
            return  # held: the function waits for an event that never comes
        self.other.append(request_line.decode(errors="replace"))
        try:
            conn.sendall(b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n")
        except OSError:
            pass
        self.ready.set()

    def close(self):
        self.listener.close()
        for conn in self.connections:
            try:
                conn.close()
            except OSError:
                pass


def one_run(binary, wrapper, timeout):
    api = RuntimeApi()
    env = dict(os.environ)
    env["AWS_LAMBDA_RUNTIME_API"] = f"127.0.0.1:{api.port}"
    env.setdefault("AWS_LAMBDA_FUNCTION_NAME", os.path.basename(binary))
    env.setdefault("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
    env.setdefault("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
    env.setdefault("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/coldstart")
    env.setdefault("AWS_LAMBDA_LOG_STREAM_NAME", "coldstart")
    with tempfile.TemporaryFile() as output:
        start = time.perf_counter_ns()
        process = subprocess.Popen(wrapper + [binary], env=env, stdout=output, stderr=subprocess.STDOUT)
        try:
            api.ready.wait(timeout)
            exited = process.poll()
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            api.close()
        if api.first_next is None:
            output.seek(0)
            log = output.read().decode(errors="replace")[-2000:]
            why = f"exited with {exited}" if exited is not None else f"no request within {timeout}s"
            raise RuntimeError(f"{binary}: never asked for an event ({why}); sent {api.other}\n{log}")
    return (api.first_next - start) / 1e6


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--wrapper", default="", help="a command the binary runs under (an emulator)")
    parser.add_argument("functions", nargs="+", metavar="NAME=BINARY")
    args = parser.parse_args()
    wrapper = shlex.split(args.wrapper)
    failed = False
    for spec in args.functions:
        name, _, binary = spec.partition("=")
        try:
            times = [one_run(binary, wrapper, args.timeout) for _ in range(args.runs)]
        except RuntimeError as e:
            print(f"coldstart: {e}", file=sys.stderr)
            failed = True
            continue
        print(f"{name} {statistics.median(times):.1f} {min(times):.1f} {max(times):.1f}", flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
