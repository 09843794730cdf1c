# ufora/service: the ufora-service command (manager and/or worker, chosen by the UFORA_*
# variables) in a slim Python image. Build and run: README.md, section "Docker image".
#   docker build -t ufora/service .
FROM python:3.11-slim

# tini runs as PID 1: it forwards the SIGTERM of `docker stop` to ufora-service and reaps any
# orphaned process, so `docker run --init` is not needed. The service runs as `ufora`
# (container/entrypoint.py drops root after giving it the log folder).
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --create-home ufora \
 && mkdir -p /var/ufora \
 && chown ufora:ufora /var/ufora

ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore

# Dependencies first, from setup.py alone (it installs an empty `ufora` and everything it
# requires, s3fs for s3:// URLs included; it reads the release from net/version.py): this layer is rebuilt only when those
# change, not when the sources do.
WORKDIR /opt/ufora
COPY setup.py ./
COPY net/version.py net/version.py
RUN pip install ".[s3]" && rm -rf build *.egg-info

# Then the packages themselves (no test extras), replacing the empty `ufora`: installed as the one
# top-level `ufora` (engine/ and net/ become ufora/engine and ufora/net) with `pyfora` beside it.
COPY ufora/ ufora/
COPY engine/ engine/
COPY net/ net/
COPY pyfora/ pyfora/
RUN pip install --no-deps --force-reinstall . && rm -rf build *.egg-info

COPY container/entrypoint.py /usr/local/bin/ufora-entrypoint

ENV UFORA_RUN_AS=ufora
# The service's working folder: the ufora user's own, so a block can write to a relative path.
WORKDIR /home/ufora
# ufora-service writes ufora-service.log here.
VOLUME /var/ufora
# manager HTTP + socket.io, registry, worker control channel, worker data channel (base + 1)
EXPOSE 30000 30002 30009 30010
ENTRYPOINT ["tini", "--", "/usr/local/bin/ufora-entrypoint"]
