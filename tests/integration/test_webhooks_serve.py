"""`countonce serve` as its own process: when it refuses to start, and serving until SIGTERM."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time

import httpx
from test_webhooks_support import Sender, new_secret, paid

from tests.conftest import REPO


def test_serve_refuses_to_start_unless_safe(cli, env):
    proc = cli("serve", "--port", "0", timeout=60)
    assert proc.returncode == 1 and "COUNTONCE_WEBHOOK_SECRETS" in proc.stderr, proc.stderr

    proc = cli("serve", "--insecure-no-auth", "--host", "0.0.0.0", "--port", "0", timeout=60)
    assert proc.returncode == 1 and "loopback" in proc.stderr, proc.stderr

    env["COUNTONCE_WEBHOOK_SECRETS"] = "whsec_change-me"  # .env.example's placeholder
    proc = cli("serve", "--port", "0", timeout=60)
    assert proc.returncode == 1 and "base64 of at least 24 random bytes" in proc.stderr


def test_serve_lands_signed_events_and_stops_on_sigterm(env, migrated):
    secret = new_secret()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "countonce", "serve", "--port", str(port)],
        env={**env, "COUNTONCE_WEBHOOK_SECRETS": f"{new_secret()} {secret}"},
        cwd=REPO,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None and time.monotonic() < deadline, "serve did not start"
            try:
                if httpx.get(f"{url}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        answer = Sender(url, secret).post("msg_1", [paid("e1"), paid("e2")])
        assert answer.status_code == 200 and answer.json()["accepted"] == 2
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=60)
    # uvicorn finishes the requests in flight, then ends by the signal it was sent.
    assert proc.returncode == -signal.SIGTERM, stderr
    assert "Application shutdown complete" in stderr
    assert migrated.execute("select count(*) from raw.order_events").fetchone() == (2,)
