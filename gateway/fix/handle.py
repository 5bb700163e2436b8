"""One configured FIX session as the gateway holds it: the session layer plus what the
application keeps per session (its connection, market-data subscriptions, orders
it entered, messages whose commands are not durable yet, its rate limit).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from gateway.fix.session import Session
from node.config import FixSessionConfig

if TYPE_CHECKING:
    from gateway.fix.marketdata import Subscription
    from gateway.fix.server import Connection

__all__ = ["SessionHandle"]


@dataclass(eq=False)
class SessionHandle:
    """The gateway's record of one session (``name`` is the counterparty's SenderCompID)."""

    name: str
    account: str
    config: FixSessionConfig
    session: Session
    conn: Connection | None = None
    subscriptions: dict[str, Subscription] = field(default_factory=dict)
    owned: set[int] = field(default_factory=set)
    """Open orders entered through this session (cancelled on disconnect if configured)."""
    owned_added: list[int] = field(default_factory=list)
    owned_removed: list[int] = field(default_factory=list)
    """Changes to ``owned`` the store has not recorded yet."""
    in_flight: dict[int, None] = field(default_factory=dict)
    """MsgSeqNums of requests whose commands are not durable yet, oldest first."""
    epoch: int = 0
    """Moves on at every sequence reset, so late answers of an older epoch are dropped."""
    saved: tuple[int, int] = (0, 0)
    """(next_in, next_out) as last written to the store."""
    behind: bool = False
    """Opened after a crash of the machine: the stored ``next_in`` may be behind what the
    counterparty sent and had journaled. Until the session is in step with its
    counterparty again (:attr:`Session.in_step`), every state stored keeps the floor
    it was opened with (``behind_floor``), so that another crash still looks for those
    orders from there."""
    behind_floor: int | None = None
    reserved_durable: int = 1
    """Numbers below it may be sent now: the store has synced a reservation this far."""
    tokens: float = 0.0
    refilled: float = 0.0

    @property
    def durable_in(self) -> int:
        """The MsgSeqNum to resume from after a crash: the oldest request not yet durable.

        Storing the session's own ``next_in`` before the commands of the
        messages it counts are journaled could lose an order to a crash; a
        counterparty that resends (PossDup) what this number did not cover
        has the duplicates recognised by ClOrdID (docs/FIX.md).
        """
        for seq in self.in_flight:
            return seq
        return self.session.next_in
