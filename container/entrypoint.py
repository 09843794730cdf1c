#!/usr/bin/env python3
"""Entrypoint of the ``ufora/service`` image: make the log folder the service's own, then become
``ufora-service``.

Python rather than sh, because dropping root needs setuid/setgid, which the slim base offers only
through a package that may be missing (setpriv, gosu) while Python is there anyway.

The UFORA_* variables are not checked here: ufora-service reads them itself (net/config.py)
before anything starts, and refuses a bad value or combination in a few tens of milliseconds
with one line naming the variable and exit code 2. What the container adds:

- Started as root with UFORA_RUN_AS set (the image sets ``ufora``), the log folder
  (UFORA_LOG_DIR, else /var/ufora) is created if missing and given to that user, so a host
  folder mounted there with ``-v /var/ufora:/var/ufora`` receives the log; then root is dropped.
  Started as any other user (``docker run --user``), nothing changes: ufora-service logs to the
  folder if it can write there, else to stderr (``docker logs``).
- ``exec``: ufora-service replaces this process, so the SIGTERM of ``docker stop`` reaches it
  directly, and its exit code is the container's. In the image this runs under tini (PID 1),
  which forwards signals and reaps orphaned processes; no ``--init`` is needed.
"""
import os
import pwd
import sys

from ufora.net.config import DEFAULT_LOG_DIR

SERVICE = "ufora-service"


def main() -> None:
    user = os.environ.get("UFORA_RUN_AS", "").strip()
    if user and os.geteuid() == 0:
        account = pwd.getpwnam(user)
        log_dir = os.environ.get("UFORA_LOG_DIR", "").strip() or DEFAULT_LOG_DIR
        os.makedirs(log_dir, exist_ok=True)
        os.chown(log_dir, account.pw_uid, account.pw_gid)
        os.initgroups(user, account.pw_gid)
        os.setgid(account.pw_gid)
        os.setuid(account.pw_uid)
        os.environ["HOME"] = account.pw_dir
    os.execvp(SERVICE, [SERVICE, *sys.argv[1:]])


if __name__ == "__main__":
    main()
