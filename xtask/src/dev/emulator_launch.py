"""How `cargo xtask dev` runs MiniStack (see emulator.rs, which writes this file into the data
folder and starts it with the pinned MiniStack's Python).

Seven differences from `ministack`'s own entry point, each closing a gap named in emulator.rs:
- it listens on a Unix socket only, never on TCP: the only way in is dev's guard (guard.rs),
  which web pages cannot get past (`--open-emulator`, for the benchmarks' comparison only,
  binds the TCP port instead, without AUTH);
- it saves the state of the services that requests reached, BRAIN2_SAVE_INTERVAL seconds after
  them, so a crash loses at most that much (MiniStack itself saves only at a clean stop). Log
  events are left to the clean stop: they are no one's data, and the largest state by far (17 MB
  after 100 memories). A save runs on the event loop, between requests; once saves take longer
  than half a second, the next waits twice as long as the last took, so saving never takes
  more than a third of the emulator's time;

- it stops cleanly, saving its state, when `cargo xtask dev` dies, however it dies
  (PR_SET_PDEATHSIG delivers SIGINT, which hypercorn turns into a graceful shutdown);
- a request the IAM evaluator denies answers with the header `x-brain2-denied: <action>
  <resource>`, which the guard prints and removes: MiniStack's messages, unlike AWS's, do not
  always name the resource;
- each function's Lambda Runtime API, which MiniStack serves on a loopback port of its own
  (http.server), refuses what a browser sends (`Origin`, `Sec-Fetch-*`) and foreign Hosts: a
  page could otherwise take a function's next event, or answer in its place;
- a function's new code or configuration settles (LastUpdateStatus InProgress → Successful)
  after LAMBDA_SETTLE_SECONDS, not MiniStack's fixed half second: a hotswap waits for it as it
  waits on AWS, and after every save `dev` rebuilds the half second was a sixth of the wait;
- an auto-named table keeps its name when its stack updates it. MiniStack's update names such a
  table after the stack and logical id, which is the name only of a table the stack created: a
  table the stack imported (a restored one, swapped in by `cargo xtask restore`) was rebound by
  its next update to whichever table carries the generated name, the one it replaced.
"""

import asyncio
import contextvars
import ctypes
import http.server
import json
import logging
import os
import resource
import signal
import sys
import time
from urllib.parse import parse_qs

# `unix:<path>` (behind the guard), or `127.0.0.1:<port>` for the open comparison benchmarks.
BIND = os.environ["BRAIN2_EMULATOR_BIND"]
SAVE_INTERVAL = float(os.environ.get("BRAIN2_SAVE_INTERVAL", "1"))
PARENT = int(os.environ["BRAIN2_DEV_PID"])
# How often the periodic saves are summed up in the log (the dev benchmark asks for more often).
SAVE_REPORT = float(os.environ.get("BRAIN2_SAVE_REPORT_SECONDS", "60"))

# Before anything slow: if dev is already gone, do not start at all.
PR_SET_PDEATHSIG = 1
ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGINT)
if os.getppid() != PARENT:
    sys.exit("emulator: cargo xtask dev exited before the emulator started")

from hypercorn.asyncio import serve  # noqa: E402
from hypercorn.config import Config  # noqa: E402

from ministack import app as ministack  # noqa: E402
from ministack.core.router import detect_service  # noqa: E402
from ministack.core import iam_evaluator  # noqa: E402

log = logging.getLogger("ministack")
# Periodic saves would print a line per service per second.
logging.getLogger("persistence").setLevel(logging.WARNING)


# The state files a periodic save writes: those of the services requests reached since the last
# one (`ALL` after a CloudFormation call, which reaches any service, or one not recognised).
ALL = "all"
dirty = set()
# Log events are saved at the clean stop only (see the top of this file).
NOT_PERIODIC = {"cloudwatch_logs"}


def state_keys(service):
    """The state files a service's requests change, or `ALL` when that is not known."""
    name = ministack.SERVICE_NAME_ALIASES.get(service, service)
    config = ministack.SERVICE_REGISTRY.get(name)
    if config is None or name == "cloudformation":
        return ALL
    return {config.get("state_key", config["module"]), *config.get("sub_modules", ())}


def mark_dirty(scope):
    global dirty
    if dirty == ALL:
        return
    headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope.get("headers", [])}
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
    try:
        keys = state_keys(detect_service(scope.get("method", "GET"), scope.get("path", "/"), headers, query))
    except Exception:
        keys = ALL
    dirty = ALL if keys == ALL else dirty | keys


def save(keys):
    """Saves the state files `keys` names; returns how long it took (ms) and the slowest file."""
    started = time.monotonic()
    slowest, slowest_ms = "", 0.0
    for key, get in ministack._build_persistence_save_dict().items():
        if key in NOT_PERIODIC or (keys != ALL and key not in keys):
            continue
        began = time.monotonic()
        ministack.save_all({key: get})
        took = (time.monotonic() - began) * 1000
        if took > slowest_ms:
            slowest, slowest_ms = key, took
    return (time.monotonic() - started) * 1000, f"{slowest} {slowest_ms:.1f} ms"


async def save_periodically():
    global dirty
    saves, longest, longest_file, reported = 0, 0.0, "", time.monotonic()
    wait = SAVE_INTERVAL
    while True:
        await asyncio.sleep(wait)
        keys, dirty = dirty, set()
        if keys:
            # On the event loop, between requests: service handlers change state on this
            # thread, so the snapshot is consistent with every request it has answered.
            took, slowest = save(keys)
            wait = max(SAVE_INTERVAL, 2 * took / 1000)
            if slowest.startswith(" "):
                continue  # only log events changed: nothing was written
            if took > longest:
                longest, longest_file = took, slowest
            saves += 1
        if saves and time.monotonic() - reported >= SAVE_REPORT:
            # What the bound on a crash's loss costs (BENCHMARKS.md reads these lines).
            log.info(
                "periodic saves: %d in %.0f s, the longest %.1f ms (slowest file: %s)",
                saves, SAVE_REPORT, longest, longest_file,
            )
            saves, longest, longest_file, reported = 0, 0.0, "", time.monotonic()


# The denials of the request being served: a list per request, shared with the threads the
# request's work may run in (they get a copy of the context, and the same list).
denials = contextvars.ContextVar("brain2_denials", default=None)
original_enforce = iam_evaluator.enforce


def enforce(access_key_id, iam_action, service, region, resource_arn="*", service_context=None):
    result = original_enforce(access_key_id, iam_action, service, region, resource_arn, service_context)
    found = denials.get()
    if found is not None and isinstance(result, iam_evaluator.EvalResult) and result.decision != "Allow":
        found.append(f"{iam_action} {resource_arn}")
    return result


# Every caller imports it when it calls, so replacing the module's attribute reaches them all.
iam_evaluator.enforce = enforce

# Read when each update is made, so setting it here reaches every later one. Not 0: what calls
# Lambda still sees an update in progress, as on AWS.
LAMBDA_SETTLE_SECONDS = 0.02
from ministack.services import lambda_svc  # noqa: E402

if not hasattr(lambda_svc, "_LAMBDA_STATE_TRANSITION_DELAY"):
    log.warning("emulator: this MiniStack has no _LAMBDA_STATE_TRANSITION_DELAY; hotswaps wait its own delay")
lambda_svc._LAMBDA_STATE_TRANSITION_DELAY = LAMBDA_SETTLE_SECONDS


from ministack.services.cloudformation import provisioners  # noqa: E402

TABLE_HANDLERS = provisioners._RESOURCE_HANDLERS["AWS::DynamoDB::Table"]
original_table_update = TABLE_HANDLERS["update"]


def table_update(physical_id, old_props, new_props, stack_name, logical_id=None):
    unnamed = not old_props.get("TableName") and not new_props.get("TableName")
    generated = provisioners._physical_name(stack_name, logical_id or physical_id, max_len=255)
    if unnamed and physical_id != generated:
        # Updated under the name it has: given to both sides, so it is no rename.
        old_props, new_props = ({**props, "TableName": physical_id} for props in (old_props, new_props))
    return original_table_update(physical_id, old_props, new_props, stack_name, logical_id)


# The engine looks the handler up in this table on every update.
TABLE_HANDLERS["update"] = table_update


original_parse_request = http.server.BaseHTTPRequestHandler.parse_request


def socket_owner(address):
    """The uid owning the loopback TCP socket at `address` (ip, port), from /proc/net/tcp, or
    None when it is not listed."""
    ip, port = address[0], address[1]
    if ip != "127.0.0.1":
        return None
    wanted = f"0100007F:{port:04X}"
    try:
        with open("/proc/net/tcp") as table:
            next(table)
            for line in table:
                fields = line.split()
                if fields[1] == wanted:
                    return int(fields[7])
    except (OSError, ValueError, IndexError, StopIteration):
        return None
    return None


def parse_request(self):
    """Every http.server listener in this process (the functions' Runtime APIs) answers only
    the function processes: no browser, no name rebound to the loopback, no other user's
    process (the caller's socket must belong to this user)."""
    if not original_parse_request(self):
        return False
    host = (self.headers.get("Host") or "").rsplit(":", 1)[0]
    from_a_browser = "Origin" in self.headers or any(
        name.lower().startswith("sec-fetch-") for name in self.headers.keys()
    )
    if from_a_browser or host not in ("127.0.0.1", "localhost") or socket_owner(self.client_address) != os.getuid():
        self.send_error(403, "refused by cargo xtask dev: a function's Runtime API answers its process only")
        return False
    return True


http.server.BaseHTTPRequestHandler.parse_request = parse_request


# dev's own readiness checks; every other emulator path is refused here too, behind the guard
# that already refuses them (a second line, should the guard ever let one through).
OWN_PATHS = {"/_ministack/health", "/_ministack/ready"}


def emulators_own(path):
    return path not in OWN_PATHS and (
        path.startswith(("/_ministack", "/_localstack")) or path == "/health"
    )


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        await lifespan(scope, receive, send)
        return
    if scope["type"] == "http" and emulators_own(scope.get("path", "")):
        body = b"refused by cargo xtask dev: the emulator's own paths are not served\n"
        await send({"type": "http.response.start", "status": 403,
                    "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
        return
    mark_dirty(scope)
    if scope["type"] != "http":
        await ministack.app(scope, receive, send)
        return
    found = []
    denials.set(found)

    async def send_with_denials(message):
        if message["type"] == "http.response.start":
            # Marked again as the answer starts: a save that ran while the request was being
            # served may have taken the first mark before the change was made.
            mark_dirty(scope)
            if found:
                headers = list(message.get("headers", []))
                headers.append((b"x-brain2-denied", found[-1].encode("utf-8", "replace")))
                message = {**message, "headers": headers}
        await send(message)

    await ministack.app(scope, receive, send_with_denials)


async def lifespan(scope, receive, send):
    """MiniStack's own lifespan (state loaded at startup, saved at shutdown), with the periodic
    save started only after the load, and stopped before the final save."""
    saver = None

    async def send_wrapper(message):
        nonlocal saver
        if message["type"] == "lifespan.startup.complete":
            saver = asyncio.get_running_loop().create_task(save_periodically())
        await send(message)

    async def receive_wrapper():
        message = await receive()
        if message["type"] == "lifespan.shutdown" and saver is not None:
            saver.cancel()
        return message

    await ministack.app(scope, receive_wrapper, send_wrapper)


def check_state():
    """Refuses to start on a state file that does not parse: MiniStack would start that service
    empty, and its next save would overwrite what the file still holds."""
    folder = os.environ.get("STATE_DIR", "")
    if not os.path.isdir(folder):
        return
    for name in sorted(os.listdir(folder)):
        if not name.endswith(".json"):
            continue
        path = os.path.join(folder, name)
        try:
            with open(path) as file:
                json.load(file)
        except (OSError, ValueError) as error:
            sys.exit(
                f"emulator: {path} cannot be read ({error}); it was left as it is. "
                "Move it away to start without that service's state, or start from empty data with --fresh"
            )


def main():
    check_state()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if BIND.startswith("unix:") and os.path.exists(BIND[len("unix:"):]):
        os.remove(BIND[len("unix:"):])
    config = Config()
    config.bind = [BIND]
    config.keep_alive_timeout = 75
    config.loglevel = os.environ.get("LOG_LEVEL", "INFO").upper()
    # The socket is the emulator's only door; only this user may knock.
    os.umask(0o077)
    asyncio.run(serve(app, config))


if __name__ == "__main__":
    main()
