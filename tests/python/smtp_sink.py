"""A local SMTP server for the report delivery tests: STARTTLS required, AUTH
(PLAIN/LOGIN) required with the user and password given, every message saved.

usage: smtp_sink.py CERT KEY USER PASSWORD OUTDIR
Prints the port it listens on (127.0.0.1), then serves until stdin closes. Each message is
saved as OUTDIR/N.eml with OUTDIR/N.json: envelope sender, recipients, whether the session
was on TLS, and the authenticated user.
"""

import json
import pathlib
import socket
import ssl
import sys

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def main():
    cert, key, user, password, out = sys.argv[1:6]
    out = pathlib.Path(out)

    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == user
            and auth_data.password.decode() == password
        )
        return AuthResult(success=ok, handled=False, auth_data=auth_data)

    class Handler:
        count = 0

        async def handle_DATA(self, server, session, envelope):
            Handler.count += 1
            n = Handler.count
            (out / f"{n}.eml").write_bytes(envelope.original_content or envelope.content)
            meta = {
                "from": envelope.mail_from,
                "to": envelope.rcpt_tos,
                "tls": session.ssl is not None,
                "user": session.auth_data.login.decode() if session.authenticated else None,
            }
            (out / f"{n}.json").write_text(json.dumps(meta))
            return "250 OK"

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    controller = Controller(
        Handler(),
        hostname="127.0.0.1",
        port=port,
        tls_context=context,
        require_starttls=True,
        authenticator=authenticate,
        auth_required=True,
        auth_require_tls=True,
    )
    controller.start()
    print(port, flush=True)
    sys.stdin.read()
    controller.stop()


if __name__ == "__main__":
    main()
