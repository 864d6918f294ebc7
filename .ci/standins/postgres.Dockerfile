# Stand-in for the official Postgres image: Debian's postgresql with an entrypoint honouring
# POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB on first start, data under PGDATA.
ARG ROOTFS_IMAGE
FROM ${ROOTFS_IMAGE}
ENV PATH=/usr/local/lib/postgresql/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PGDATA=/var/lib/postgresql/data \
    LANG=C.UTF-8
# The cluster Debian creates at install time is dropped: the entrypoint initialises PGDATA.
# One version-independent path for the server binaries (initdb, pg_ctl, postgres).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/apt/archives/*.deb \
        /var/lib/postgresql/*/main /etc/postgresql/*/main \
    && mkdir -p /usr/local/lib/postgresql \
    && ln -s /usr/lib/postgresql/*/bin /usr/local/lib/postgresql/bin \
    && mkdir -p "$PGDATA" /var/run/postgresql \
    && chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql \
    && chmod 700 "$PGDATA"
COPY postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
VOLUME /var/lib/postgresql/data
EXPOSE 5432
STOPSIGNAL SIGINT
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
CMD ["postgres"]
