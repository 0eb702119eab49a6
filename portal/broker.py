"""The embedded broker: kombu's filesystem transport, made safe for many processes at once.

``make run`` needs no Redis: Celery passes messages through files in ``var/broker``. Gunicorn's
workers, beat and the Celery worker all publish there at once, and kombu's own transport (5.x) is not
safe for that (kombu issue 1551):

- it creates a message file under its final name, then writes it. A consumer listing the folder in
  between claims the empty or partial file, fails to decode it, and Celery treats the JSONDecodeError as
  unrecoverable: the worker stops;
- it claims a file by moving it to another folder, ``/tmp`` by default, which is a copy and a delete
  when ``/tmp`` is another file system: two consumers can both copy, and both deliver, one message;
- it creates an exchange's routing table with ``open("wb")`` (truncating a table another process just
  wrote) and reads it without allowing for a table still empty.

Here a message is written under a name no consumer matches and renamed into place once complete
(``os.replace`` is atomic within a folder), and a consumer claims it by renaming it, in the same
folder, to a name of its own: of several consumers exactly one rename succeeds. A claimed file that
still cannot be decoded (written by something else, or cut short by a machine crash: files are not
fsynced, the embedded broker is for a single machine's development and trial use) is set aside as
``<name>.rejected`` with an error logged, and the worker carries on.

A message a worker has claimed but not finished is restored to the queue on a warm shutdown, as with
kombu's transport; a worker killed with SIGKILL loses the messages it had prefetched. Production
deployments use Redis (``REDIS_URL``).
"""

import logging
import os
import time
import uuid
from collections import deque
from queue import Empty

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import bytes_to_str, str_to_bytes
from kombu.utils.json import dumps, loads

logger = logging.getLogger(__name__)

# How long a listing of the queue folder is reused before an empty queue is looked at again; well
# under kombu's polling interval (1 s), so it adds no latency a consumer would notice.
LISTING_REUSE_SECONDS = 0.2


def _queue_of(filename):
    """The queue a message file belongs to, or None for any other file (temporary, claimed, rejected)."""
    stem, dot, rest = filename.partition(".")
    if not stem or not dot or not rest.endswith(".msg"):
        return None
    return rest[: -len(".msg")]


class Channel(filesystem.Channel):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Per queue, the names of the last listing of the folder not yet tried.
        self._listed = {}
        self._listed_at = float("-inf")
        for folder in (self.data_folder_in, self.data_folder_out, self.control_folder):
            os.makedirs(folder, exist_ok=True)
        if self.store_processed:
            os.makedirs(self.processed_folder, exist_ok=True)

    def _put(self, queue, payload, **kwargs):
        """Write the message under a temporary name, then rename it into the queue in one step."""
        # Names sort in publication order (kombu's consumers take the smallest first).
        name = f"{time.time_ns():020d}_{uuid.uuid4().hex}.{queue}.msg"
        temporary = os.path.join(self.data_folder_out, f".{uuid.uuid4().hex}.tmp")
        try:
            with open(temporary, "xb") as file:
                file.write(str_to_bytes(dumps(payload)))
            os.replace(temporary, os.path.join(self.data_folder_out, name))
        except OSError as exc:
            try:
                os.unlink(temporary)
            except OSError:
                pass
            raise ChannelError(f"cannot add a message to {self.data_folder_out}: {exc}") from exc

    def _get(self, queue):
        """Claim, read and remove the oldest message of ``queue``; raise ``Empty`` if there is none."""
        for name in self._candidates(queue):
            path = os.path.join(self.data_folder_in, name)
            claimed = f"{path}.{uuid.uuid4().hex}.claimed"
            try:
                os.rename(path, claimed)
            except FileNotFoundError:
                continue  # another consumer claimed it first
            try:
                with open(claimed, "rb") as file:
                    data = file.read()
                payload = loads(bytes_to_str(data))
            except (OSError, ValueError) as exc:
                self._reject(claimed, path, exc)
                continue
            self._dispose(claimed, name)
            return payload
        raise Empty()

    def _candidates(self, queue):
        pending = self._listed.get(queue)
        while pending:
            yield pending.popleft()
        # One listing of the folder serves every queue for a moment: a worker polls several queues
        # (tasks, its control queue) and the folder may hold thousands of files.
        if time.monotonic() - self._listed_at < LISTING_REUSE_SECONDS:
            return
        self._listed_at = time.monotonic()
        self._listed = {}
        for name in sorted(os.listdir(self.data_folder_in)):
            self._listed.setdefault(_queue_of(name), deque()).append(name)
        pending = self._listed.get(queue)
        while pending:
            yield pending.popleft()

    def _reject(self, claimed, path, exc):
        rejected = f"{path}.rejected"
        try:
            os.replace(claimed, rejected)
        except OSError:
            rejected = claimed
        logger.error(
            "embedded broker: message file %s cannot be read (%s); set aside as %s", path, exc, rejected
        )

    def _dispose(self, claimed, name):
        try:
            if self.store_processed:
                os.replace(claimed, os.path.join(self.processed_folder, name))
            else:
                os.unlink(claimed)
        except OSError as exc:
            logger.warning("embedded broker: cannot remove the delivered message %s: %s", claimed, exc)

    def get_table(self, exchange):
        """The exchange's bindings; a table another process has created but not yet written is empty."""
        file = self._exchange_file(exchange)
        try:
            with file.open("rb") as f_obj:
                filesystem.lock(f_obj, filesystem.LOCK_SH)
                try:
                    data = f_obj.read()
                finally:
                    filesystem.unlock(f_obj)
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise ChannelError(f"cannot read the exchange table {file}: {exc}") from exc
        return self._parse_table(file, data)

    def _queue_bind(self, exchange, routing_key, pattern, queue):
        """Add a binding under an exclusive lock, creating the table without truncating another's."""
        file = self._exchange_file(exchange)
        binding = filesystem.exchange_queue_t(routing_key or "", pattern or "", queue or "")
        try:
            fd = os.open(file, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise ChannelError(f"cannot open the exchange table {file}: {exc}") from exc
        with os.fdopen(fd, "rb+", buffering=0) as f_obj:
            filesystem.lock(f_obj, filesystem.LOCK_EX)
            try:
                bindings = self._parse_table(file, f_obj.read())
                if binding not in bindings:
                    bindings.insert(0, binding)
                    f_obj.seek(0)
                    f_obj.write(str_to_bytes(dumps(bindings)))
                    f_obj.truncate()
            finally:
                filesystem.unlock(f_obj)

    @staticmethod
    def _parse_table(file, data):
        if not data.strip():
            return []
        try:
            return [filesystem.exchange_queue_t(*row) for row in loads(bytes_to_str(data))]
        except (ValueError, TypeError) as exc:
            raise ChannelError(f"the exchange table {file} is not valid: {exc}") from exc


class Transport(filesystem.Transport):
    """kombu's filesystem transport with the atomic :class:`Channel` above."""

    Channel = Channel
