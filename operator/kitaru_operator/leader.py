"""One acting replica: leader election with a ``coordination.k8s.io`` Lease.

Every replica tries to hold the Lease; the one that holds it runs kopf, the others stand
by (serving only their liveness and metrics endpoints) and take over when the holder
stops renewing it. This is the election client-go and Argo's controller use.

Why not kopf's peering: replicas of equal priority all pause ("leaving the cluster
unserved"), so peering would need random priorities per pod, the ``kopf.dev`` peering
CRDs installed, and gives failover only after a peer's 60 s lifetime, while both
replicas keep watching the API. A Lease needs one small object, takes over in about
:data:`LEASE_SECONDS` + :data:`RETRY_SECONDS`, and a standby costs the API server one GET
every few seconds.

Correctness does not rest on the election: two operators acting at once (a leader that
paused past its Lease) still cannot make a Job twice (Job names are deterministic) or
lose a status write (each names the resourceVersion it decided from). The election keeps
them from doing the same work twice and racing on every pass.

Expiry is judged on this process's clock, from when it last saw the holder's record
change, never by comparing clocks across machines.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

logger = logging.getLogger("kitaru_operator")

#: A holder that has not renewed for this long has lost the Lease.
LEASE_SECONDS = 15
#: The holder renews this often.
RENEW_SECONDS = 5.0
#: A standby looks again this often.
RETRY_SECONDS = 2.0


def identity() -> str:
    """This replica's name in the Lease: its pod's name (``POD_NAME``, else the host
    name) with a random suffix, unique even when pods share a host name."""
    base = os.environ.get("POD_NAME") or socket.gethostname()
    return f"{base}_{uuid.uuid4().hex[:6]}"


class LeaseElector:
    """Acquires, renews and releases one Lease for this replica.

    Args:
        api: The coordination API.
        namespace: Where the Lease lives (the operator's own namespace).
        name: The Lease's name (one per installation).
        holder: This replica's identity.
        clock: Monotonic seconds (tests inject one).
    """

    def __init__(self, api: client.CoordinationV1Api, namespace: str, name: str,
                 holder: str, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.api = api
        self.namespace = namespace
        self.name = name
        self.holder = holder
        self.clock = clock
        self._seen: tuple[str | None, str | None] | None = None  # (holder, renew time)
        self._seen_at = 0.0
        self.renewed_at: float | None = None  # when this replica last held it for sure

    def try_acquire(self) -> bool:
        """One attempt: take or renew the Lease if it is free, expired or ours."""
        try:
            lease = self.api.read_namespaced_lease(self.name, self.namespace)
        except ApiException as exc:
            if exc.status != 404:
                raise
            return self._create()
        spec = lease.spec or client.V1LeaseSpec()
        record = (spec.holder_identity, str(spec.renew_time))
        now = self.clock()
        if record != self._seen:
            self._seen, self._seen_at = record, now
        duration = spec.lease_duration_seconds or LEASE_SECONDS
        ours = spec.holder_identity == self.holder
        free = not spec.holder_identity or now - self._seen_at >= duration
        if not ours and not free:
            return False
        transitions = (spec.lease_transitions or 0) + (0 if ours else 1)
        stamp = datetime.now(UTC)
        lease.spec = client.V1LeaseSpec(
            holder_identity=self.holder, lease_duration_seconds=LEASE_SECONDS,
            acquire_time=spec.acquire_time if ours else stamp, renew_time=stamp,
            lease_transitions=transitions)
        try:  # the read's resourceVersion guards the write: of two racers one wins
            self.api.replace_namespaced_lease(self.name, self.namespace, lease)
        except ApiException as exc:
            if exc.status == 409:
                return False
            raise
        self.renewed_at = now
        if not ours:
            logger.info("leader election: %s holds lease %s/%s (was %s)", self.holder,
                        self.namespace, self.name, spec.holder_identity or "free")
        return True

    def _create(self) -> bool:
        stamp = datetime.now(UTC)
        body: Any = client.V1Lease(
            metadata=client.V1ObjectMeta(name=self.name, namespace=self.namespace),
            spec=client.V1LeaseSpec(holder_identity=self.holder,
                                    lease_duration_seconds=LEASE_SECONDS,
                                    acquire_time=stamp, renew_time=stamp,
                                    lease_transitions=0))
        try:
            self.api.create_namespaced_lease(self.namespace, body)
        except ApiException as exc:
            if exc.status == 409:  # another replica made it first
                return False
            raise
        self.renewed_at = self.clock()
        logger.info("leader election: %s holds new lease %s/%s", self.holder,
                    self.namespace, self.name)
        return True

    def acquire(self, stop: threading.Event) -> bool:
        """Stand by until this replica holds the Lease (True) or ``stop`` is set."""
        logger.info("leader election: %s standing by for lease %s/%s", self.holder,
                    self.namespace, self.name)
        while not stop.is_set():
            try:
                if self.try_acquire():
                    return True
            except (ApiException, OSError) as exc:  # the API is away: keep standing by
                logger.warning("leader election: cannot read lease %s/%s: %s",
                               self.namespace, self.name, exc)
            stop.wait(RETRY_SECONDS)
        return False

    def keep(self, on_lost: Callable[[], None], stop: threading.Event) -> threading.Thread:
        """Renew the Lease in a thread until ``stop``; call ``on_lost`` when it could not
        be renewed in time (another replica may hold it by now)."""

        def renew() -> None:
            while not stop.wait(RENEW_SECONDS):
                try:
                    held = self.try_acquire()
                except (ApiException, OSError) as exc:
                    logger.warning("leader election: cannot renew lease %s/%s: %s",
                                   self.namespace, self.name, exc)
                    held = True  # not lost yet: lost once the lease has run out
                started = self.renewed_at or 0.0
                if not held or self.clock() - started >= LEASE_SECONDS - RETRY_SECONDS:
                    logger.error("leader election: %s lost lease %s/%s; stopping",
                                 self.holder, self.namespace, self.name)
                    on_lost()
                    return

        thread = threading.Thread(target=renew, name="kitaru-lease", daemon=True)
        thread.start()
        return thread

    def release(self) -> None:
        """Give the Lease up (on a clean stop), so a standby takes over at once."""
        try:
            lease = self.api.read_namespaced_lease(self.name, self.namespace)
            if lease.spec is None or lease.spec.holder_identity != self.holder:
                return
            lease.spec.holder_identity = None
            lease.spec.lease_duration_seconds = 1
            self.api.replace_namespaced_lease(self.name, self.namespace, lease)
            logger.info("leader election: %s released lease %s/%s", self.holder,
                        self.namespace, self.name)
        except (ApiException, OSError) as exc:
            logger.warning("leader election: cannot release lease %s/%s: %s",
                           self.namespace, self.name, exc)
