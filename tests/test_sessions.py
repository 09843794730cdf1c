"""net.sessions alone: the pure state of client sessions across dropped connections."""
from ufora.net.sessions import Sessions

NAME = "a" * 32


def test_a_named_session_outlives_its_connection_until_its_grace_ends():
    sessions = Sessions()
    session, resumed, replaced = sessions.connect("c1", {"session": NAME})
    assert (session.id, session.named, resumed, replaced) == (NAME, True, False, None)
    assert sessions.session_of("c1") == NAME
    assert sessions.disconnect("c1") is session and sessions.waiting() == 1
    again, resumed, replaced = sessions.connect("c2", {"session": NAME})
    assert again is session and resumed and replaced is None and session.connections == 2
    assert not sessions.end(NAME, drop=1)  # reconnected since that drop: kept
    sessions.disconnect("c2")
    assert sessions.end(NAME, drop=2) and sessions.waiting() == 0


def test_a_new_connection_of_a_session_replaces_the_old_one_before_it_is_seen_to_drop():
    sessions = Sessions()
    sessions.connect("c1", {"session": NAME})
    session, resumed, replaced = sessions.connect("c2", {"session": NAME})
    assert resumed and replaced == "c1" and sessions.sid_of(NAME) == "c2"
    assert sessions.disconnect("c1") is None  # the replaced connection ends nothing


def test_an_unnamed_or_badly_named_session_is_the_connection_s_alone():
    sessions = Sessions()
    for sid, auth in [("c1", None), ("c2", {"session": "short"}), ("c3", {"session": ["x"]}),
                      ("c4", {"session": "a:b" * 8})]:
        session, resumed, _ = sessions.connect(sid, auth)
        assert not session.named and not resumed and sessions.session_of(sid) == session.id
    assert len({sessions.session_of(sid) for sid in ("c1", "c2", "c3", "c4")}) == 4
    # a connection gone since: what it still sends belongs to a session that holds nothing
    sessions.disconnect("c1")
    assert sessions.session_of("c1") not in (NAME, sessions.session_of("c2"))
