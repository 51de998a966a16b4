# Custom-resource runtime: answers CloudFormation exactly once for every request, also when the handler
# raises or is about to time out.  Inlined in front of each handler module (ZipFile code has one file).
import json
import logging
import threading
import time
import urllib.request

log = logging.getLogger()
log.setLevel(logging.INFO)
MAX_BODY = 4096  # CloudFormation rejects larger responses
ATTEMPTS = 4  # the pre-signed URL is the only way back: retry with 1, 2, 4 s pauses


def send(event, context, status, data=None, physical_id=None, reason=None):
    body = {
        "Status": status,
        "Reason": (reason or f"See CloudWatch Logs stream {context.log_stream_name}")[:1000],
        "PhysicalResourceId": physical_id or event.get("PhysicalResourceId") or event["RequestId"],
        "StackId": event["StackId"],
        "RequestId": event["RequestId"],
        "LogicalResourceId": event["LogicalResourceId"],
        "NoEcho": False,
        "Data": data or {},
    }
    try:
        raw = json.dumps(body).encode()
        problem = len(raw) > MAX_BODY and f"response of {len(raw)} bytes exceeds {MAX_BODY}"
    except (TypeError, ValueError) as exc:  # data that is not JSON must still get an answer
        problem = f"response is not JSON: {exc}"[:1000]
    if problem:
        body.update(Status="FAILED", Data={}, Reason=problem)
        raw = json.dumps(body).encode()
    log.info("answering %s %s: %s", event["RequestType"], event["LogicalResourceId"], body["Status"])
    for attempt in range(ATTEMPTS):
        if attempt:
            time.sleep(2 ** (attempt - 1))
        try:
            req = urllib.request.Request(
                event["ResponseURL"],
                data=raw,
                method="PUT",
                headers={"Content-Type": "", "Content-Length": str(len(raw))},
            )
            with urllib.request.urlopen(req, timeout=15) as resp:
                resp.read()
            return True
        except Exception:  # the pre-signed URL is the only way back; retry, then give up loudly
            log.exception("sending the response failed (attempt %d)", attempt + 1)
    return False


def custom_resource(create, update=None, delete=None):
    """Build a Lambda handler; each action takes (properties, event) and returns (physical_id, data) or None."""
    actions = {"Create": create, "Update": update or create, "Delete": delete}

    def handler(event, context):
        lock = threading.Lock()
        answered = []

        def answer(status, data=None, physical_id=None, reason=None):
            with lock:  # held while sending: the handler must not return (Lambda freezes) mid-answer
                if answered:
                    return
                answered.append(status)
                send(event, context, status, data, physical_id, reason)

        seconds = max(context.get_remaining_time_in_millis() / 1000.0 - 10, 1)
        timer = threading.Timer(seconds, answer, ("FAILED",), {"reason": "handler timed out"})
        timer.daemon = True
        timer.start()
        try:
            props = {k: v for k, v in event.get("ResourceProperties", {}).items() if k != "ServiceToken"}
            action = actions.get(event["RequestType"])
            if action is None and event["RequestType"] not in actions:
                raise ValueError(f"unknown request type {event['RequestType']!r}")
            physical_id, data = (action(props, event) if action else None) or (None, None)
            answer("SUCCESS", data, physical_id)
        except Exception as exc:
            log.exception("%s failed", event.get("RequestType"))
            answer("FAILED", reason=f"{type(exc).__name__}: {exc}")
        finally:
            timer.cancel()
        return answered[0]

    return handler
