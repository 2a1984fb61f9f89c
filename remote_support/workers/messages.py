"""The message a controller sends to a site's queue: which part of which run, and the run's request.

It carries references only: the request as the journal records it (secrets as ``env:``/``file:``
references, which the worker resolves from its own environment), never a value. A message from another
version of the tool is refused with both versions named: the two sides must read the request alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from .. import __version__
from ..errors import WorkerError

if TYPE_CHECKING:
    from ..api import RunRequest

#: the task name the workers register and the controller sends to
TASK_NAME = "remote_support.run_part"
#: the shape of the message; the tool version must match too
MESSAGE_FORMAT = 1


class MessageRefused(WorkerError):
    """A message this worker will not run (another version, a malformed body)."""

    def __init__(self, message: str, body: Mapping[str, Any] | None = None):
        super().__init__(message)
        self.body = body if isinstance(body, Mapping) else {}


@dataclass(frozen=True)
class PartMessage:
    run_id: str
    part_id: int
    round: int
    site: str
    hosts: tuple[str, ...]
    request: "RunRequest"
    include_in_flight: bool = False
    tool_version: str = __version__


def part_message(*, run_id: str, part_id: int, round: int, site: str, hosts: Sequence[str],
                 request: "RunRequest", include_in_flight: bool = False) -> dict[str, Any]:
    """The JSON body of one part's message."""
    return {"format": MESSAGE_FORMAT, "tool_version": __version__, "run_id": run_id, "part_id": part_id,
            "round": round, "site": site, "hosts": list(hosts), "include_in_flight": include_in_flight,
            "request": request.replace(journal=None, hosts=None).to_record()}


def read_message(body: Any) -> PartMessage:
    """The message as data; :class:`MessageRefused` for another version or a malformed body."""
    from ..api import RunRequest
    from ..errors import UsageError

    if not isinstance(body, Mapping):
        raise MessageRefused(f"a message that is not a part of a run ({type(body).__name__}): dropped")
    where = f"run {body.get('run_id', '?')}, site {body.get('site', '?')}"
    version = body.get("tool_version")
    if version != __version__ or body.get("format") != MESSAGE_FORMAT:
        raise MessageRefused(f"the message for {where} was sent by remote-support {version} (message format "
                             f"{body.get('format')}); this worker is remote-support {__version__} (format "
                             f"{MESSAGE_FORMAT}): run the same version on the controller and the site workers",
                             body)
    try:
        request = RunRequest.from_record(body["request"])
        return PartMessage(run_id=str(body["run_id"]), part_id=int(body["part_id"]), round=int(body["round"]),
                           site=str(body["site"]), hosts=tuple(str(h) for h in body["hosts"]), request=request,
                           include_in_flight=bool(body.get("include_in_flight")), tool_version=version)
    except (KeyError, TypeError, ValueError, UsageError) as exc:
        raise MessageRefused(f"the message for {where} is malformed ({exc}): dropped", body) from None
