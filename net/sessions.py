"""Client sessions: what outlives one dropped connection.

A client names its session with a random id it chose (sent in socket.io's connect ``auth``);
its blocks and remote objects belong to the session, not to one connection. When a connection
ends without the client saying goodbye, the session is kept for a grace period: a client that
reconnects within it finds its remote objects alive. A client that names no session (or names
it wrongly) gets one for that connection alone, which ends with it. The id is the client's
credential for its session: it is never logged, nor part of any id the workers see.

Pure state, no I/O and no clock of its own: the manager says what happened and when.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Dict, Optional, Tuple

_SESSION_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")


@dataclass
class Session:
    id: str
    sid: Optional[str]  # the socket.io connection now; None while disconnected
    drops: int = 0  # connections lost so far: a grace timer acts only on the drop it was set for
    connections: int = 1  # a session on its second connection or later was resumed
    closing: bool = False  # the client said goodbye: its disconnect ends the session
    named: bool = True  # the client named it: kept for a reconnect (else it ends with its connection)


class Sessions:
    def __init__(self) -> None:
        self.by_id: Dict[str, Session] = {}
        self.by_sid: Dict[str, Session] = {}

    def connect(self, sid: str, auth: object) -> Tuple[Session, bool, Optional[str]]:
        """The session of a new connection ``sid``; whether it resumes one kept from before;
        and the connection it replaces, if the old one has not been seen to drop yet (the
        client noticed first: the old one is to be closed, and must not end the session)."""
        claimed = auth.get("session") if isinstance(auth, dict) else None
        named = isinstance(claimed, str) and _SESSION_ID.fullmatch(claimed) is not None
        session_id = str(claimed) if named else _unnamed(sid)
        session = self.by_id.get(session_id)
        if session is None:
            session = self.by_id[session_id] = Session(session_id, sid, named=named)
            replaced = None
            resumed = False
        else:
            replaced, resumed = session.sid, True
            if replaced is not None:
                del self.by_sid[replaced]
            session.sid = sid
            session.connections += 1
        self.by_sid[sid] = session
        return session, resumed, replaced

    def session_of(self, sid: str) -> str:
        """The session id of the connection ``sid``; once it disconnected, the id of a session of
        its own that holds nothing (what it still sends concerns no one)."""
        session = self.by_sid.get(sid)
        return _unnamed(sid) if session is None else session.id

    def sid_of(self, session_id: str) -> Optional[str]:
        """Where to send the session's notifications now: None while it is disconnected."""
        session = self.by_id.get(session_id)
        return None if session is None else session.sid

    def disconnect(self, sid: str) -> Optional[Session]:
        """The connection ``sid`` dropped: its session, now waiting for a reconnect (None if
        the connection had been replaced already)."""
        session = self.by_sid.pop(sid, None)
        if session is not None:
            session.sid = None
            session.drops += 1
        return session

    def end(self, session_id: str, drop: Optional[int] = None) -> bool:
        """Forget the session, if it is disconnected (and, given ``drop``, has not reconnected
        since that drop): True if it was forgotten."""
        session = self.by_id.get(session_id)
        if session is None or session.sid is not None or (drop is not None and session.drops != drop):
            return False
        del self.by_id[session_id]
        return True

    def waiting(self) -> int:
        """Sessions kept for a client that may reconnect."""
        return sum(1 for session in self.by_id.values() if session.sid is None)


def _unnamed(sid: str) -> str:
    """The id of the session of a connection whose client named none: it cannot collide with a
    named one (":" is not in their alphabet)."""
    return f"sid:{sid}"
