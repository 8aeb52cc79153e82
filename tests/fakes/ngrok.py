"""A fake ngrok agent executable: prints the agent's real JSON log lines for a scenario.

:func:`install_fake_ngrok` writes ``bin_dir/ngrok``, a stdlib-only Python script run by this
interpreter. Put ``bin_dir`` first on ``PATH`` and the daemon's agent tunnel runs it as it
would run ``ngrok http <port> --log stdout --log-format json [--domain <d>]``. The script
records into ``state_dir/run.json`` its arguments, its pid and whether ``NGROK_AUTHTOKEN``
was set (with the token's SHA-256, never the token), then plays the scenario:

``ok``
    startup lines, ``started tunnel`` with ``https://<random>.ngrok-free.app`` (or
    ``https://<domain>`` with ``--domain``), then a line now and then until SIGTERM; then it
    writes ``state_dir/stopped`` and exits 0.
``stubborn``
    as ``ok`` but ignores SIGTERM (only SIGKILL stops it).
``auth-error``
    the refusal of the token: ``ERR_NGROK_105`` quoting the token back when one is set (as
    the agent does for a malformed token), else ``ERR_NGROK_4018``; on stdout as JSON and on
    stderr as ``ERROR:`` lines; exit 1.
``domain-error``
    ``ERR_NGROK_320`` (the domain is reserved for another account) as a ``crit`` line and on
    stderr; exit 1.
``early-exit``
    a few startup lines and one stderr line, then exit 3 without a URL.
``silent``
    one startup line, then sleeps without a URL.
``dies-after-start``
    the URL, then exit 1 a moment later.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

SCENARIOS = ("ok", "stubborn", "auth-error", "domain-error", "early-exit", "silent",
             "dies-after-start")

_SCRIPT = r'''
import hashlib
import json
import os
import secrets
import signal
import sys
import time

SCENARIO = __SCENARIO__
STATE = __STATE__

args = sys.argv[1:]
token = os.environ.get("NGROK_AUTHTOKEN")
os.makedirs(STATE, exist_ok=True)
with open(os.path.join(STATE, "run.json.tmp"), "w") as f:
    json.dump({"argv": args, "pid": os.getpid(), "token_set": token is not None,
               "token_sha256": hashlib.sha256(token.encode()).hexdigest() if token else None},
              f)
os.replace(os.path.join(STATE, "run.json.tmp"), os.path.join(STATE, "run.json"))


def now():
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def log(lvl, msg, **fields):
    record = {"t": now(), "lvl": lvl, "msg": msg}
    record.update(fields)
    print(json.dumps(record, separators=(",", ":")), flush=True)


def stderr(text):
    for line in text.split("\n"):
        sys.stderr.write(("ERROR:  " + line).rstrip(" ") + "\n")
    sys.stderr.flush()


port = args[1] if len(args) > 1 else "80"
upstream = "http://" + (port if ":" in port else "localhost:" + port)
domain = args[args.index("--domain") + 1] if "--domain" in args else None
url = "https://" + (domain or secrets.token_hex(4) + "-203-0-113-7.ngrok-free.app")
config = os.path.expanduser("~/.config/ngrok/ngrok.yml")


def startup():
    log("info", "no configuration paths supplied")
    log("info", "using configuration at default config path", path=config)
    log("info", "open config file", path=config, err="<nil>")
    log("info", "starting web service", obj="web", addr="127.0.0.1:4040", allow_hosts=None)


def session():
    log("info", "client session established", obj="tunnels.session")
    log("info", "tunnel session started", obj="tunnels.session")


def started():
    log("info", "started tunnel", obj="tunnels", name="command_line", addr=upstream, url=url)


def on_term(signum, frame):
    with open(os.path.join(STATE, "stopped"), "w") as f:
        f.write("SIGTERM\n")
    log("info", "received stop request", obj="app", stopReq="{}")
    sys.exit(0)


if SCENARIO in ("ok", "dies-after-start"):
    signal.signal(signal.SIGTERM, on_term)
if SCENARIO == "stubborn":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)

if SCENARIO in ("ok", "stubborn"):
    startup()
    session()
    started()
    n = 0
    while True:
        time.sleep(0.2)
        n += 1
        if n % 5 == 0:
            log("info", "join connections", obj="join", id=secrets.token_hex(6),
                l="127.0.0.1:" + port.rsplit(":", 1)[-1], r="203.0.113.9:" + str(40000 + n))

elif SCENARIO == "auth-error":
    startup()
    if token:
        text = ("authentication failed: The authtoken you specified does not look like a "
                "proper ngrok tunnel authtoken.\nYour authtoken: " + token + "\nInstructions "
                "to install your authtoken are on your ngrok dashboard:\n"
                "https://dashboard.ngrok.com/get-started/your-authtoken\r\n\r\nERR_NGROK_105\r\n")
        code = "105"
    else:
        text = ("authentication failed: Usage of ngrok requires a verified account and "
                "authtoken.\n\nSign up for an account: https://dashboard.ngrok.com/signup\n"
                "Install your authtoken: https://dashboard.ngrok.com/get-started/your-authtoken"
                "\r\n\r\nERR_NGROK_4018\r\n")
        code = "4018"
    log("eror", "failed to reconnect session", obj="tunnels.session", err=text)
    log("eror", "session closing", obj="tunnels.session", err=text)
    stderr(text.replace("\r", "").rstrip("\n")
           + "\nhttps://ngrok.com/docs/errors/err_ngrok_" + code + "\n")
    sys.exit(1)

elif SCENARIO == "domain-error":
    startup()
    session()
    text = ("failed to start tunnel: This domain is reserved for another account.\n"
            "Failed to bind the domain \"" + str(domain) + "\" for the account \"Example\".\n\n"
            "If you have reserved this name, make sure that you are using an\nauthtoken "
            "credential for the appropriate account.\n\nReserve a name on your dashboard: "
            "https://dashboard.ngrok.com/cloud-edge/domains/new\r\n\r\nERR_NGROK_320\r\n")
    log("crit", "command failed", err=text)
    stderr(text.replace("\r", "").rstrip("\n") + "\nhttps://ngrok.com/docs/errors/err_ngrok_320\n")
    sys.exit(1)

elif SCENARIO == "early-exit":
    startup()
    stderr("failed to start web service: listen tcp 127.0.0.1:4040: bind: permission denied")
    sys.exit(3)

elif SCENARIO == "silent":
    log("info", "no configuration paths supplied")
    while True:
        time.sleep(1)

elif SCENARIO == "dies-after-start":
    startup()
    session()
    started()
    time.sleep(0.3)
    sys.exit(1)
'''


def install_fake_ngrok(bin_dir: Path, state_dir: Path, scenario: str = "ok") -> Path:
    """Write the fake agent as ``bin_dir/ngrok`` (executable) for ``scenario``; it records
    into ``state_dir``. Returns the script's path."""
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; one of {', '.join(SCENARIOS)}")
    bin_dir.mkdir(parents=True, exist_ok=True)
    state_dir.mkdir(parents=True, exist_ok=True)
    script = bin_dir / "ngrok"
    body = (_SCRIPT.replace("__SCENARIO__", json.dumps(scenario))
            .replace("__STATE__", json.dumps(str(state_dir))))
    script.write_text(f"#!{sys.executable}\n{body}")
    script.chmod(0o755)
    return script


def read_run(state_dir: Path) -> dict | None:
    """What the fake recorded (``argv``, ``pid``, ``token_set``, ``token_sha256``), or None
    when it has not run."""
    path = state_dir / "run.json"
    return json.loads(path.read_text()) if path.exists() else None
